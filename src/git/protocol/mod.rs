//! The parts of git's wire protocol that pushmirror reads or writes itself rather than leaving
//! to git: a ref update as receive-pack's command list and the post-receive hook state it
//! (`<old> <new> <ref>`, here), and the pkt-line framing of a push's command list and of the
//! report that refuses it ([`pktline`]). Pure parsing over bytes and readers: no process, no HTTP.

pub mod pktline;

/// One ref update as git reports it: `<old> <new> <ref>`. An all-zero id means "none" (a
/// created ref has a zero `old`, a deleted one a zero `new`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub name: String,
}

impl RefUpdate {
    /// Parses one `<old> <new> <ref>` line (a trailing newline is allowed). Ids are checked for
    /// shape (hex of SHA-1 or SHA-256 length), not existence.
    pub fn parse(line: &str) -> Option<RefUpdate> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let mut parts = line.splitn(3, ' ');
        let old = parts.next()?;
        let new = parts.next()?;
        let name = parts.next()?;
        let is_id =
            |s: &str| matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_id(old) || !is_id(new) || name.is_empty() || name.contains(['\0', ' ', '\n']) {
            return None;
        }
        Some(RefUpdate {
            old: old.to_owned(),
            new: new.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Whether this update deletes its ref.
    pub fn is_delete(&self) -> bool {
        self.new.bytes().all(|b| b == b'0')
    }

    /// Whether this update creates its ref.
    pub fn is_create(&self) -> bool {
        self.old.bytes().all(|b| b == b'0')
    }

    /// The branch name, when the ref is a branch.
    pub fn branch(&self) -> Option<&str> {
        self.name.strip_prefix("refs/heads/")
    }

    /// Whether the ref is one mirrors carry (a branch or a tag).
    pub fn is_mirrored(&self) -> bool {
        self.name.starts_with("refs/heads/") || self.name.starts_with("refs/tags/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_update_lines() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let u = RefUpdate::parse(&format!("{z} {a} refs/heads/main\n")).unwrap();
        assert_eq!(u.branch(), Some("main"));
        assert!(!u.is_delete());
        let d = RefUpdate::parse(&format!("{a} {z} refs/tags/v1")).unwrap();
        assert!(d.is_delete());
        assert_eq!(d.branch(), None);
        for bad in [
            String::new(),
            format!("{a} {a}"),
            format!("{a} xyz refs/heads/x"),
            format!("{a} {a} "),
            format!("{a} {a} refs/heads/a b"),
        ] {
            assert_eq!(RefUpdate::parse(&bad), None, "{bad}");
        }
    }
}
