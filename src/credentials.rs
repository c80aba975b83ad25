//! A mirror's credentials (URL user and password, SSH private key) and their sealed form. Plain
//! text exists only inside [`secrecy`] types and only between [`MirrorCredentials::open`] and the
//! end of one push or fetch; the store only ever sees [`MirrorCredentials::seal`]'s bytes.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::model::entities::SshKeyType;
use crate::secret::{Cipher, SecretError};

/// Associated data binding sealed blobs to this purpose.
const PURPOSE: &str = "pushmirror/remote-mirror-credentials/v1";

/// The secrets of one mirror.
#[derive(Default)]
pub struct MirrorCredentials {
    pub user: Option<SecretString>,
    pub password: Option<SecretString>,
    /// OpenSSH-format private key, when the mirror authenticates with a key pair.
    pub ssh_private_key: Option<SecretString>,
}

#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<std::borrow::Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<std::borrow::Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssh_private_key: Option<std::borrow::Cow<'a, str>>,
}

impl MirrorCredentials {
    /// The user name and password as texts to scrub from what a remote says: those of at least
    /// four characters other than `git` (shorter ones, or the usual ssh user, would mangle
    /// ordinary words without hiding anything).
    pub fn to_scrub(&self) -> Vec<SecretString> {
        [&self.password, &self.user]
            .into_iter()
            .flatten()
            .filter(|s| s.expose_secret().len() >= 4 && s.expose_secret() != "git")
            .cloned()
            .collect()
    }

    /// `base64(user:password)`, HTTP Basic's credential, when the mirror has a user or password.
    pub fn basic(&self) -> Option<SecretString> {
        use base64::Engine as _;
        if self.user.is_none() && self.password.is_none() {
            return None;
        }
        let pair = format!(
            "{}:{}",
            self.user.as_ref().map_or("", |s| s.expose_secret()),
            self.password.as_ref().map_or("", |s| s.expose_secret())
        );
        Some(SecretString::from(
            base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()),
        ))
    }

    /// Whether there is nothing to keep.
    pub fn is_empty(&self) -> bool {
        self.user.is_none() && self.password.is_none() && self.ssh_private_key.is_none()
    }

    /// Seals the credentials, or `None` when there are none.
    pub fn seal(&self, cipher: &Cipher) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        let wire = Wire {
            user: self.user.as_ref().map(|s| s.expose_secret().into()),
            password: self.password.as_ref().map(|s| s.expose_secret().into()),
            ssh_private_key: self
                .ssh_private_key
                .as_ref()
                .map(|s| s.expose_secret().into()),
        };
        let plain = secrecy::SecretBox::new(Box::new(
            serde_json::to_vec(&wire).expect("serialising strings cannot fail"),
        ));
        Some(cipher.seal(PURPOSE, plain.expose_secret()))
    }

    /// Opens sealed credentials (`None` opens to empty credentials).
    pub fn open(cipher: &Cipher, sealed: Option<&[u8]>) -> Result<MirrorCredentials, SecretError> {
        let Some(sealed) = sealed else {
            return Ok(MirrorCredentials::default());
        };
        let plain = cipher.unseal(PURPOSE, sealed)?;
        let wire: Wire<'_> =
            serde_json::from_slice(plain.expose_secret()).map_err(|_| SecretError::Unseal)?;
        let secret =
            |v: Option<std::borrow::Cow<'_, str>>| v.map(|s| SecretString::from(s.into_owned()));
        Ok(MirrorCredentials {
            user: secret(wire.user),
            password: secret(wire.password),
            ssh_private_key: secret(wire.ssh_private_key),
        })
    }
}

/// Size of generated RSA keys: GitLab's (`SSH_PRIVATE_KEY_OPTS`), and what old servers that
/// cannot do Ed25519 accept.
pub const RSA_KEY_BITS: usize = 4096;

/// Generates a key pair for a mirror: (OpenSSH private key, public key line `<type> AAAA…
/// <comment>`). RSA takes a second or more of CPU: call it off the async threads.
pub fn generate_ssh_key(comment: &str, key_type: SshKeyType) -> (SecretString, String) {
    let mut rng = rand::rngs::OsRng;
    let mut key = match key_type {
        SshKeyType::Ed25519 => ssh_key::PrivateKey::random(&mut rng, ssh_key::Algorithm::Ed25519),
        SshKeyType::Rsa => rsa_keypair().map(ssh_key::PrivateKey::from),
    }
    .expect("key generation from the OS RNG cannot fail");
    key.set_comment(comment);
    let private = key
        .to_openssh(ssh_key::LineEnding::LF)
        .expect("encoding an unencrypted key cannot fail");
    let public = key
        .public_key()
        .to_openssh()
        .expect("encoding a public key cannot fail");
    (SecretString::from(private.to_string()), public)
}

/// An RSA key pair of [`RSA_KEY_BITS`], generated by AWS-LC: its prime search is several times
/// faster than the pure-Rust `rsa` crate's (BENCHMARKS.md, "SSH key generation"), which blocked
/// a mirror's creation for up to 30 s on a loaded machine. The key moves from AWS-LC to
/// `ssh-key` as PKCS#8 DER in memory only; every copy is zeroed when dropped.
fn rsa_keypair() -> Result<ssh_key::private::RsaKeypair, ssh_key::Error> {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
    use rsa::pkcs8::DecodePrivateKey;
    const _: () = assert!(
        RSA_KEY_BITS == 4096,
        "KeySize below must match RSA_KEY_BITS"
    );
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa4096)
        .map_err(|_| ssh_key::Error::Crypto)?;
    let der: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| ssh_key::Error::Crypto)?;
    let key =
        rsa::RsaPrivateKey::from_pkcs8_der(der.as_ref()).map_err(|_| ssh_key::Error::Crypto)?;
    ssh_key::private::RsaKeypair::try_from(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_without_plain_text() {
        let cipher = Cipher::from_key(&secrecy::SecretBox::new(Box::new([3u8; 32])));
        let creds = MirrorCredentials {
            user: Some("alice".into()),
            password: Some("s3cr3t-pa55".into()),
            ssh_private_key: None,
        };
        let sealed = creds.seal(&cipher).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("s3cr3t"));
        let opened = MirrorCredentials::open(&cipher, Some(&sealed)).unwrap();
        assert_eq!(opened.password.unwrap().expose_secret(), "s3cr3t-pa55");
        assert_eq!(opened.user.unwrap().expose_secret(), "alice");
        assert!(MirrorCredentials::default().seal(&cipher).is_none());
        assert!(MirrorCredentials::open(&cipher, None).unwrap().is_empty());
    }

    #[test]
    fn generated_keys_are_openssh_ed25519_or_rsa_4096() {
        let (private, public) = generate_ssh_key("git@example", SshKeyType::Ed25519);
        assert!(private
            .expose_secret()
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assert!(public.starts_with("ssh-ed25519 AAAA"), "{public}");
        assert!(public.ends_with("git@example"));
        let (private, public) = generate_ssh_key("git@example", SshKeyType::Rsa);
        assert!(ssh_key::PrivateKey::from_openssh(private.expose_secret()).is_ok());
        assert!(public.starts_with("ssh-rsa AAAA"), "{public}");
        let fps = crate::model::host_keys::fingerprints(&format!("h {public}"));
        assert_eq!((fps[0].key_type, fps[0].bits), ("rsa", 4096));
    }
}
