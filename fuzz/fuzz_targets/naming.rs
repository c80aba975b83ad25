//! The names people give things: project and group names and paths, the path derived from a
//! name, branch names and protected-branch names (`model::naming`).
//!
//! Input: a name. Properties: a derived path holds only path characters, never starts or ends
//! with `-`, and derives to itself; a valid path derives to itself lower-cased (less a trailing
//! `-`); a valid name's derived path holds only path characters; a valid branch name is no
//! wildcard, so as a protected-branch pattern it matches itself only; a protected-branch name is
//! its input trimmed, at most 255 bytes, and accepted again as it is; a valid group path or name
//! holds no `/` (it is one segment of a full path), a group path starts with no `-` and ends in
//! no `.`, and a reserved group path is reserved at the top level too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushmirror::model::naming::{
    path_from_name, protected_branch_name, reserved_group_path, valid_branch_name,
    valid_group_name, valid_group_path, valid_name, valid_path,
};
use pushmirror::model::refmatch::BranchPattern;

fn path_chars(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
}

fuzz_target!(|data: &[u8]| {
    let Ok(name) = std::str::from_utf8(data) else {
        return;
    };
    let path = path_from_name(name);
    assert!(path_chars(&path), "{name:?} → {path:?}");
    assert!(!path.starts_with('-') && !path.ends_with('-'), "{path:?}");
    assert_eq!(path_from_name(&path), path);

    if valid_path(name) {
        assert!(name.len() <= 255);
        assert_eq!(path, name.to_ascii_lowercase().trim_end_matches('-'));
    }
    if valid_name(name) {
        assert!(name.len() <= 255);
    }
    if valid_branch_name(name) {
        assert!(!name.contains('*'));
        let pattern = BranchPattern::new(name);
        assert!(pattern.matches(name));
        assert!(!pattern.matches(&format!("{name}x")) && !pattern.matches(&format!("x{name}")));
    }
    if valid_group_path(name) {
        assert!(name.len() <= 255 && !name.contains('/'), "{name:?}");
        assert!(!name.starts_with('-') && !name.ends_with('.'), "{name:?}");
        assert!(path_chars(&name.to_ascii_lowercase()), "{name:?}");
    }
    if valid_group_name(name) {
        assert!(name.len() <= 255 && !name.contains('/'), "{name:?}");
    }
    if reserved_group_path(name, false) {
        assert!(reserved_group_path(name, true), "{name:?}");
    }
    if let Some(trimmed) = protected_branch_name(name) {
        assert_eq!(trimmed, name.trim());
        assert!(!trimmed.is_empty() && trimmed.len() <= 255);
        assert_eq!(protected_branch_name(trimmed), Some(trimmed));
    }
});
