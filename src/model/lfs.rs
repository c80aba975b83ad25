//! Git LFS in the domain's words: an object id ([`Oid`], the SHA-256 of the content), a pointer
//! file as git stores it ([`Pointer`]), and where a git remote's LFS endpoint is
//! ([`endpoint_for`]), all as the git-lfs client defines them
//! (<https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md>). Pure: no I/O.

use std::fmt;

/// The largest blob that can be a pointer file: git-lfs reads only blobs below this size as
/// pointer candidates (its `blobSizeCutoff`), so anything larger is content, never a pointer.
pub const MAX_POINTER_SIZE: u64 = 1024;

/// The version line of every pointer git-lfs writes.
const SPEC_V1: &str = "https://git-lfs.github.com/spec/v1";
/// The pre-release name of the same specification, which git-lfs still reads.
const SPEC_HAWSER: &str = "https://hawser.github.com/spec/v1";

/// An LFS object id: the SHA-256 of the object's content as 64 lowercase hex characters, the
/// only form the batch API and pointer files use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Oid(String);

impl Oid {
    /// Reads an oid; `None` unless it is exactly 64 lowercase hex characters.
    pub fn parse(text: &str) -> Option<Oid> {
        (text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Oid(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The object's place in a content-addressed layout: `oid[0:2]/oid[2:4]/oid`, so no
    /// directory holds more than 65,536 entries before the objects themselves.
    pub fn fanout_path(&self) -> String {
        format!("{}/{}/{}", &self.0[0..2], &self.0[2..4], self.0)
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pointer file: what git stores in place of a large file's content.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pointer {
    pub oid: Oid,
    /// The content's size in bytes.
    pub size: u64,
}

impl Pointer {
    /// Reads a blob as a pointer file; `None` when it is not one. A pointer is at most
    /// [`MAX_POINTER_SIZE`] bytes of `key value` lines ending in a newline: `version` first (the
    /// v1 specification), then the other keys in sorted order, among them `oid sha256:<oid>` and
    /// `size <bytes>` (extension keys are allowed and ignored).
    pub fn parse(blob: &[u8]) -> Option<Pointer> {
        if blob.len() as u64 >= MAX_POINTER_SIZE || !blob.ends_with(b"\n") {
            return None;
        }
        let text = std::str::from_utf8(blob).ok()?;
        let mut lines = text[..text.len() - 1].split('\n');
        let version = lines.next()?.strip_prefix("version ")?;
        if version != SPEC_V1 && version != SPEC_HAWSER {
            return None;
        }
        let (mut oid, mut size, mut previous) = (None, None, "");
        for line in lines {
            let (key, value) = line.split_once(' ')?;
            if key.is_empty() || key <= previous || value.is_empty() {
                return None;
            }
            previous = key;
            match key {
                "oid" => oid = Some(Oid::parse(value.strip_prefix("sha256:")?)?),
                "size" => size = Some(parse_size(value)?),
                _ => {}
            }
        }
        Some(Pointer {
            oid: oid?,
            size: size?,
        })
    }

    /// The pointer file's text, as git-lfs writes it.
    pub fn encode(&self) -> String {
        format!(
            "version {SPEC_V1}\noid sha256:{}\nsize {}\n",
            self.oid, self.size
        )
    }
}

/// A size as pointers and the batch API write it: decimal digits, no sign.
fn parse_size(text: &str) -> Option<u64> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// The LFS endpoint git-lfs derives from an HTTP(S) git remote URL: `<url>/info/lfs` when the
/// URL's path ends in `.git`, `<url>.git/info/lfs` otherwise (a trailing `/` dropped first).
/// The URL must carry no query or fragment; an SSH remote's endpoint comes from
/// `git-lfs-authenticate` instead, or from [`https_endpoint_for_ssh`].
pub fn endpoint_for(url: &str) -> String {
    let base = url.trim_end_matches('/');
    if base.ends_with(".git") {
        format!("{base}/info/lfs")
    } else {
        format!("{base}.git/info/lfs")
    }
}

/// The HTTPS endpoint git-lfs falls back to for an SSH remote (`ssh://[user@]host[:port]/path`):
/// `https://host/path.git/info/lfs`, the port dropped (it was the SSH port).
pub fn https_endpoint_for_ssh(host: &str, path: &str) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    endpoint_for(&format!("https://{host}/{}", path.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OID: &str = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

    #[test]
    fn oids_are_64_lowercase_hex() {
        assert!(Oid::parse(OID).is_some());
        for bad in [
            "",
            &OID[1..],
            &format!("{OID}0"),
            &OID.to_uppercase(),
            &OID.replace('4', "g"),
        ] {
            assert_eq!(Oid::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Oid::parse(OID).unwrap().fanout_path(),
            format!("4d/7a/{OID}")
        );
    }

    #[test]
    fn pointers_read_as_git_lfs_writes_them() {
        let text = format!("version {SPEC_V1}\noid sha256:{OID}\nsize 12345\n");
        let pointer = Pointer::parse(text.as_bytes()).unwrap();
        assert_eq!(pointer.oid.as_str(), OID);
        assert_eq!(pointer.size, 12345);
        assert_eq!(pointer.encode(), text);
        let hawser = format!("version {SPEC_HAWSER}\noid sha256:{OID}\nsize 0\n");
        assert_eq!(Pointer::parse(hawser.as_bytes()).unwrap().size, 0);
        let extension =
            format!("version {SPEC_V1}\next-0-foo sha256:{OID}\noid sha256:{OID}\nsize 1\n");
        assert!(Pointer::parse(extension.as_bytes()).is_some());
    }

    #[test]
    fn anything_else_is_content() {
        for text in [
            String::new(),
            "hello\n".to_owned(),
            format!("version {SPEC_V1}\noid sha256:{OID}\nsize 1"),
            format!("version {SPEC_V1}\nsize 1\noid sha256:{OID}\n"),
            format!("version {SPEC_V1}\noid sha256:{OID}\n"),
            format!("version {SPEC_V1}\noid md5:{OID}\nsize 1\n"),
            format!("version {SPEC_V1}\noid sha256:{OID}\nsize -1\n"),
            format!("version {SPEC_V1}\noid sha256:{OID}\nsize 1\nsize 2\n"),
            format!("version https://example.com/v2\noid sha256:{OID}\nsize 1\n"),
            format!("oid sha256:{OID}\nversion {SPEC_V1}\nsize 1\n"),
            format!(
                "version {SPEC_V1}\noid sha256:{OID}\nsize 1\n{}\n",
                "x".repeat(1024)
            ),
        ] {
            assert_eq!(Pointer::parse(text.as_bytes()), None, "{text:?}");
        }
        assert_eq!(Pointer::parse(&[0xff, b'\n']), None);
    }

    #[test]
    fn endpoints_derive_as_the_git_lfs_client_does() {
        for (url, endpoint) in [
            ("https://h/g/p.git", "https://h/g/p.git/info/lfs"),
            ("https://h/g/p", "https://h/g/p.git/info/lfs"),
            ("https://h/g/p/", "https://h/g/p.git/info/lfs"),
            ("http://h:8080/p.git/", "http://h:8080/p.git/info/lfs"),
        ] {
            assert_eq!(endpoint_for(url), endpoint, "{url}");
        }
        assert_eq!(
            https_endpoint_for_ssh("h", "/g/p.git"),
            "https://h/g/p.git/info/lfs"
        );
        assert_eq!(
            https_endpoint_for_ssh("::1", "g/p"),
            "https://[::1]/g/p.git/info/lfs"
        );
    }
}
