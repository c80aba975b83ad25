//! Encryption of mirror credentials at rest, and the instance key it uses.
//!
//! Credentials are sealed with AES-256-GCM under a 32-byte key that lives in the data dir
//! (`secret.key`, created with mode 0600 on first start) or in the file named by
//! `PUSHMIRROR_SECRET_KEY_FILE`. Each sealed value is `version(1) || nonce(12) || ciphertext+tag`,
//! with the purpose string bound as associated data so a blob cannot be moved to another use.
//! Plain text only ever exists inside [`secrecy`] types, which redact themselves in `Debug`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};

/// Format version byte of a sealed blob; bump when the layout changes.
const SEALED_VERSION: u8 = 1;
/// AES-GCM's standard 96-bit nonce, random per seal (2^32 seals per key keep collisions negligible).
const NONCE_LEN: usize = 12;
/// AES-256 key length.
const KEY_LEN: usize = 32;

/// Errors of the key file and of sealing/unsealing.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create secret key file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("secret key file {path} must hold exactly 32 bytes (raw) or 64 hex characters")]
    BadKey { path: PathBuf },
    #[error(
        "secret key file {path} is readable by other users (mode {mode:o}); run: chmod 600 {path}"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("a stored credential cannot be decrypted (wrong secret key, or corrupted data)")]
    Unseal,
}

/// The instance cipher: seals and unseals credentials.
pub struct Cipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher([REDACTED])")
    }
}

impl Cipher {
    /// Builds a cipher from raw key bytes.
    pub fn from_key(key: &SecretBox<[u8; KEY_LEN]>) -> Cipher {
        Cipher {
            aead: Aes256Gcm::new(key.expose_secret().into()),
        }
    }

    /// Loads the key from `path`, creating it (mode 0600, random) when `create` and it is missing.
    pub fn load_or_create(path: &Path, create: bool) -> Result<Cipher, SecretError> {
        if create && !path.exists() {
            let mut key = [0u8; KEY_LEN];
            rand::rngs::OsRng.fill_bytes(&mut key);
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .and_then(|mut f| {
                    f.write_all(hex::encode(key).as_bytes())?;
                    f.sync_all()
                });
            match written {
                Ok(()) => {}
                // Another process (a concurrent `token create`) won the race: use its key.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(source) => {
                    return Err(SecretError::Create {
                        path: path.to_owned(),
                        source,
                    })
                }
            }
        }
        let read_err = |source| SecretError::Read {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretError::Permissions {
                path: path.to_owned(),
                mode,
            });
        }
        let raw = std::fs::read(path).map_err(read_err)?;
        let key = parse_key(&raw).ok_or_else(|| SecretError::BadKey {
            path: path.to_owned(),
        })?;
        Ok(Cipher::from_key(&key))
    }

    /// Seals `plain` for `purpose` (bound as associated data).
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .aead
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: purpose.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a blob sealed by [`Cipher::seal`] for the same `purpose`.
    pub fn unseal(&self, purpose: &str, sealed: &[u8]) -> Result<SecretBox<Vec<u8>>, SecretError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != SEALED_VERSION {
            return Err(SecretError::Unseal);
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        self.aead
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: purpose.as_bytes(),
                },
            )
            .map(|v| SecretBox::new(Box::new(v)))
            .map_err(|_| SecretError::Unseal)
    }
}

fn parse_key(raw: &[u8]) -> Option<SecretBox<[u8; KEY_LEN]>> {
    let mut key = Box::new([0u8; KEY_LEN]);
    let trimmed = std::str::from_utf8(raw).ok().map(str::trim);
    match trimmed {
        Some(hexed) if hexed.len() == 2 * KEY_LEN => {
            hex::decode_to_slice(hexed, key.as_mut()).ok()?;
        }
        _ if raw.len() == KEY_LEN => key.copy_from_slice(raw),
        _ => return None,
    }
    Some(SecretBox::new(key))
}

/// Prefix of pushmirror personal access tokens, so secret scanners can recognise a leaked one.
pub const TOKEN_PREFIX: &str = "pmpat-";
/// Random characters in a token: 32 alphanumerics carry about 190 bits.
const TOKEN_RANDOM_LEN: usize = 32;

/// Mints a new personal access token: the token (shown once) and the hash to store.
pub fn mint_token() -> (secrecy::SecretString, String) {
    use rand::distributions::{Alphanumeric, DistString};
    let token = format!(
        "{TOKEN_PREFIX}{}",
        Alphanumeric.sample_string(&mut rand::rngs::OsRng, TOKEN_RANDOM_LEN)
    );
    let hash = hash_token(&token);
    (secrecy::SecretString::from(token), hash)
}

/// The stored form of a token. Tokens are long random strings, so a plain SHA-256 is as strong
/// as a slow hash here and keeps the per-request lookup cheap.
pub fn hash_token(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> Cipher {
        Cipher::from_key(&SecretBox::new(Box::new([7u8; KEY_LEN])))
    }

    #[test]
    fn seal_round_trips_and_binds_purpose() {
        let c = cipher();
        let sealed = c.seal("mirror-credentials", b"hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        let opened = c.unseal("mirror-credentials", &sealed).unwrap();
        assert_eq!(opened.expose_secret().as_slice(), b"hunter2");
        assert!(c.unseal("other-purpose", &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(c.unseal("mirror-credentials", &tampered).is_err());
        assert!(c.unseal("mirror-credentials", &[1, 2]).is_err());
        // Two seals of the same text differ (random nonce).
        assert_ne!(sealed, c.seal("mirror-credentials", b"hunter2"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = mint_token();
        let (b, hb) = mint_token();
        assert!(a.expose_secret().starts_with(TOKEN_PREFIX));
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(ha, hb);
        assert_eq!(hash_token(a.expose_secret()), ha);
        assert!(!ha.contains(a.expose_secret()));
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let a = Cipher::load_or_create(&path, true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = Cipher::load_or_create(&path, false).unwrap();
        let sealed = a.seal("p", b"x");
        assert_eq!(
            b.unseal("p", &sealed).unwrap().expose_secret().as_slice(),
            b"x"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Cipher::load_or_create(&path, false),
            Err(SecretError::Permissions { .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            Cipher::load_or_create(&path, false),
            Err(SecretError::BadKey { .. })
        ));
    }
}
