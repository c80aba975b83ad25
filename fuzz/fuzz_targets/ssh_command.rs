//! The command an SSH client asks the server to run (`model::ssh_command`).
//!
//! Input: the exec request's bytes. Properties: parsing never panics; an accepted path has two
//! to `MAX_SEGMENTS` non-empty segments of letters, digits, `_`, `-` and `.`, none `.`, none
//! containing `..`, none starting with `-`, no `.git` suffix; it is a substring of the input
//! (nothing is decoded); and the command git would send for it parses back to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushmirror::model::ssh_command::{parse, project_path, SshCommand, MAX_SEGMENTS};

fuzz_target!(|data: &[u8]| {
    let Ok(command) = parse(data) else {
        return;
    };
    let Some(path) = command.path() else {
        assert_eq!(command, SshCommand::Welcome);
        assert!(data.iter().all(|b| *b == b' '), "{data:?}");
        return;
    };
    let input = std::str::from_utf8(data).expect("accepted input is UTF-8");
    assert!(input.contains(path), "{input:?} → {path:?}");
    assert!(!path.ends_with(".git"), "{path:?}");
    let segments: Vec<&str> = path.split('/').collect();
    assert!((2..=MAX_SEGMENTS).contains(&segments.len()), "{path:?}");
    for s in segments {
        assert!(!s.is_empty() && s != "." && !s.contains("..") && !s.starts_with('-'), "{path:?}");
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')),
            "{path:?}"
        );
    }
    assert_eq!(project_path(&format!("'/{path}.git'")).as_deref(), Ok(path));
    let again = match &command {
        SshCommand::Git { verb, .. } => format!("{} '/{path}.git'", verb.as_str()),
        SshCommand::LfsAuthenticate { operation, .. } => {
            format!("git-lfs-authenticate '/{path}.git' {}", operation.as_str())
        }
        SshCommand::Welcome => unreachable!(),
    };
    assert_eq!(parse(again.as_bytes()), Ok(command));
});
