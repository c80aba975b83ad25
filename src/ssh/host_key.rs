//! The built-in SSH server's host key: one Ed25519 key in `<data-dir>/ssh_host_ed25519_key`
//! (OpenSSH's private key format, mode 0600), made at first start and kept, so clients that
//! pinned it keep trusting the server across restarts. `pushmirror ssh host-key` prints its
//! public line and fingerprint for an operator to publish.
//!
//! Ed25519 only: every OpenSSH client since 6.5 (2014) accepts it, it is fast to sign with, and
//! one key keeps the fingerprint people compare unambiguous.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use rand::RngCore as _;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{HashAlg, LineEnding, PrivateKey};

/// The host key's file name in the data directory (OpenSSH's name for it).
pub const HOST_KEY_FILE: &str = "ssh_host_ed25519_key";

/// Why the host key cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error("cannot read the SSH host key {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("cannot write the SSH host key {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("the SSH host key {0} is not an OpenSSH Ed25519 private key")]
    Invalid(PathBuf),
}

/// Loads the key at `path`, or makes one there when there is none.
pub fn load_or_create(path: &Path) -> Result<PrivateKey, HostKeyError> {
    match std::fs::read(path) {
        Ok(pem) => {
            let key =
                PrivateKey::from_openssh(&pem).map_err(|_| HostKeyError::Invalid(path.into()))?;
            if key.algorithm() != russh::keys::Algorithm::Ed25519 || key.is_encrypted() {
                return Err(HostKeyError::Invalid(path.into()));
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(e) => Err(HostKeyError::Read(path.into(), e)),
    }
}

fn create(path: &Path) -> Result<PrivateKey, HostKeyError> {
    let write = |e| HostKeyError::Write(path.into(), e);
    let mut seed = Seed([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut seed.0);
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed.0));
    key.set_comment("pushmirror");
    let pem = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| write(std::io::Error::other(e.to_string())))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    // Written under a temporary name and renamed, so a crash never leaves half a key; created
    // 0600 from the start, never readable by others even for a moment.
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(write)?;
    file.write_all(pem.as_bytes()).map_err(write)?;
    file.sync_all().map_err(write)?;
    std::fs::rename(&tmp, path).map_err(write)?;
    tracing::info!(path = %path.display(), fingerprint = %fingerprint(&key), "created the SSH host key");
    Ok(key)
}

/// A seed that is wiped when dropped.
struct Seed([u8; 32]);

impl Drop for Seed {
    fn drop(&mut self) {
        self.0 = [0; 32];
    }
}

/// The public key as an OpenSSH line (`ssh-ed25519 AAAA… pushmirror`).
pub fn public_line(key: &PrivateKey) -> String {
    key.public_key()
        .to_openssh()
        .unwrap_or_else(|_| String::new())
}

/// The key's `SHA256:…` fingerprint, as `ssh` shows it.
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn made_once_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d").join(HOST_KEY_FILE);
        let first = load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"),
            "{text}"
        );
        let again = load_or_create(&path).unwrap();
        assert_eq!(public_line(&first), public_line(&again));
        assert!(public_line(&first).starts_with("ssh-ed25519 AAAA"));
        assert!(fingerprint(&first).starts_with("SHA256:"));
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(
            load_or_create(&path),
            Err(HostKeyError::Invalid(_))
        ));
    }
}
