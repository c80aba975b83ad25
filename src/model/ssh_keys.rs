//! SSH public keys as people add them (GitLab's user keys and deploy keys): reading an OpenSSH
//! public key line, GitLab's minimum-strength rules (RSA at least 2048 bits, DSA refused, ECDSA,
//! Ed25519 and FIDO `sk-` keys accepted), its fingerprints (MD5 `aa:bb:…` and `SHA256:…`, both of
//! the key's wire encoding, exactly as `ssh-keygen -l` prints them), and the rules on whom a key
//! lets in: a key past its `expires_at` lets no one in. Pure: no I/O, no clock.

use base64::Engine as _;
use md5::{Digest as _, Md5};
use sha2::Sha256;
use ssh_key::public::KeyData;
use ssh_key::Algorithm;

use super::entities::Millis;

/// The longest key line accepted: an RSA 16384-bit key is about 2.8 KB in base64; 8 KiB leaves
/// room for a long comment and refuses nothing real.
pub const MAX_KEY_LINE: usize = 8 * 1024;
/// The longest title, GitLab's.
pub const MAX_TITLE: usize = 255;
/// The smallest RSA modulus accepted, in bits (GitLab's default restriction).
pub const MIN_RSA_BITS: usize = 2048;

/// A public key that parsed and meets the strength rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The normalised OpenSSH line: `<algorithm> <base64>` and the comment, if any.
    pub line: String,
    /// The key's wire encoding (what the SSH protocol carries and fingerprints hash).
    pub blob: Vec<u8>,
    /// The comment after the key, if any (GitLab's default title).
    pub comment: Option<String>,
    /// `aa:bb:…`, the MD5 of the wire encoding.
    pub fingerprint_md5: String,
    /// `SHA256:…` (unpadded base64), the SHA-256 of the wire encoding.
    pub fingerprint_sha256: String,
}

/// Why a key line was refused, as GitLab words it under `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyProblem {
    /// Not an OpenSSH public key line.
    Invalid,
    /// A type GitLab refuses (DSA).
    ForbiddenType,
    /// An RSA key below [`MIN_RSA_BITS`].
    TooShort,
}

impl KeyProblem {
    /// GitLab's message for the `key` field.
    pub fn message(self) -> &'static str {
        match self {
            KeyProblem::Invalid => "is invalid",
            KeyProblem::ForbiddenType => {
                "type is forbidden. Must be RSA, ECDSA, ED25519, ECDSA_SK, or ED25519_SK"
            }
            KeyProblem::TooShort => "must be at least 2048 bits",
        }
    }
}

impl PublicKey {
    /// Reads one OpenSSH public key line (`ssh-ed25519 AAAA… comment`), surrounding whitespace
    /// ignored, and checks its strength.
    pub fn parse(line: &str) -> Result<PublicKey, KeyProblem> {
        let line = line.trim();
        if line.is_empty() || line.len() > MAX_KEY_LINE || line.contains(['\n', '\r', '\0']) {
            return Err(KeyProblem::Invalid);
        }
        let key = ssh_key::PublicKey::from_openssh(line).map_err(|_| KeyProblem::Invalid)?;
        check_strength(key.key_data())?;
        let blob = key.to_bytes().map_err(|_| KeyProblem::Invalid)?;
        let comment = Some(key.comment().trim().to_owned()).filter(|c| !c.is_empty());
        let encoded = base64::engine::general_purpose::STANDARD.encode(&blob);
        let algorithm = key.algorithm();
        let line = match &comment {
            Some(c) => format!("{} {encoded} {c}", algorithm.as_str()),
            None => format!("{} {encoded}", algorithm.as_str()),
        };
        Ok(PublicKey {
            fingerprint_md5: fingerprint_md5(&blob),
            fingerprint_sha256: fingerprint_sha256(&blob),
            line,
            blob,
            comment,
        })
    }
}

/// The wire encoding's algorithm name and the strength rules.
fn check_strength(key: &KeyData) -> Result<(), KeyProblem> {
    match key.algorithm() {
        Algorithm::Dsa => Err(KeyProblem::ForbiddenType),
        Algorithm::Rsa { .. } => {
            let modulus = key
                .rsa()
                .and_then(|k| k.n.as_positive_bytes())
                .ok_or(KeyProblem::Invalid)?;
            let first = modulus.first().ok_or(KeyProblem::Invalid)?;
            let bits = modulus.len() * 8 - first.leading_zeros() as usize;
            if bits < MIN_RSA_BITS {
                Err(KeyProblem::TooShort)
            } else {
                Ok(())
            }
        }
        Algorithm::Ecdsa { .. }
        | Algorithm::Ed25519
        | Algorithm::SkEcdsaSha2NistP256
        | Algorithm::SkEd25519 => Ok(()),
        _ => Err(KeyProblem::ForbiddenType),
    }
}

/// `SHA256:<unpadded base64>` of a key's wire encoding, as `ssh-keygen -l` prints it.
pub fn fingerprint_sha256(blob: &[u8]) -> String {
    let digest = Sha256::digest(blob);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

/// `aa:bb:…` (MD5) of a key's wire encoding, GitLab's `fingerprint`.
pub fn fingerprint_md5(blob: &[u8]) -> String {
    let digest = Md5::digest(blob);
    digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What a key may be used for (GitLab's `usage_type`); pushmirror signs nothing, so only keys
/// usable for authentication let anyone in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsageType {
    Auth,
    Signing,
    #[default]
    AuthAndSigning,
}

impl UsageType {
    pub const ALL: [UsageType; 3] = [
        UsageType::Auth,
        UsageType::Signing,
        UsageType::AuthAndSigning,
    ];

    /// GitLab's wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageType::Auth => "auth",
            UsageType::Signing => "signing",
            UsageType::AuthAndSigning => "auth_and_signing",
        }
    }

    pub fn parse(s: &str) -> Option<UsageType> {
        Self::ALL.into_iter().find(|u| u.as_str() == s)
    }

    /// Whether a key of this usage may authenticate a git session.
    pub fn authenticates(self) -> bool {
        self != UsageType::Signing
    }
}

/// Whose key it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A user's own key: it acts as the user.
    User,
    /// A deploy key: it acts only in the projects it is enabled in.
    Deploy,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::User => "user",
            KeyKind::Deploy => "deploy",
        }
    }

    pub fn parse(s: &str) -> Option<KeyKind> {
        match s {
            "user" => Some(KeyKind::User),
            "deploy" => Some(KeyKind::Deploy),
            _ => None,
        }
    }
}

/// A stored SSH key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKey {
    pub id: i64,
    pub kind: KeyKind,
    /// The user whose key it is (a user key), or who added it (a deploy key; `None` once that
    /// user is gone).
    pub user_id: Option<i64>,
    pub title: String,
    /// The normalised OpenSSH line.
    pub key: String,
    pub fingerprint_md5: String,
    pub fingerprint_sha256: String,
    pub usage_type: UsageType,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
}

impl SshKey {
    /// Whether the key has expired at `now`.
    pub fn expired(&self, now: Millis) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Whether the key may authenticate a session at `now`.
    pub fn lets_in(&self, now: Millis) -> bool {
        !self.expired(now) && self.usage_type.authenticates()
    }
}

/// A deploy key as enabled in one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployKeyLink {
    pub key: SshKey,
    pub project_id: i64,
    pub can_push: bool,
}

/// How often a key's `last_used_at` is written at most: every session would otherwise write a
/// row (100 clones, 100 writes); GitLab throttles the same column to once a day, an hour is
/// fine enough for "last used" on the keys page.
pub const LAST_USED_EVERY_MS: Millis = 3_600_000;

/// Whether a use at `now` should be written, given the recorded last use.
pub fn should_record_use(last_used_at: Option<Millis>, now: Millis) -> bool {
    last_used_at.is_none_or(|at| now - at >= LAST_USED_EVERY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by ssh-keygen; the fingerprints are those `ssh-keygen -l -E sha256|md5` printed.
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFIHeQqaq/R/GwNosBU++VFEvyQdGIGka/EevR1mtp87 me@host";
    const RSA_2048: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCw5YbXqZaWRqwwWgVeTIA8p2mMh6D04KZwv6s23tmHk2HEgV6ZznXAlzZcxze622uhMMsyplY5GQNrJdlRvxx9ByPlz/kCCtBL6TC5QpDsnlgTcDnqSvBIyfE/HqXrH9kV0rXATdXJjlBqyFxuqItdRohseNxbCj0o+G5ehJ/voCiWn7CfZm7b/58eu7gWyWLn2kcJz5msJKh2yXRQ9uDghYYPbOmAMFyH3afPaUsstQ/bhV3DsVQZ5v/hlYReJHa44K0yKlxwSdqNiYe5FgF+J8ibHcKqXSCcM7YQjGyRTFTtxqONOvv2OYijzOdcpCcfgev7yYBScSwGB3bJzFPB r2";
    const RSA_1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDJdPCPxic9w6JYHsyGbTQnZddVrvu1sdd7NC8XdaSN5NZMjXBsPc9QSNQq04Ef8B1eoPTBP0k9qXTNUQqi/BLnMTo7dxfrrIvytt4VUCBHI+vlpSHDWqPTCeLFdHKmw5GJbEmi6gGOjdnoGMEc6GshCxxFcYzOZFdmn3mz3L048w== r1";
    const DSA: &str = "ssh-dss AAAAB3NzaC1kc3MAAACBANDnVp+AUcLpMed2glpHgRcVkU9uXiVVLu7/GJinnX/7IbN0e0lViMbwML/wyxbFHm0se/zYPnGi+BhfOmngtCE+0lxT1oCkek+aTBuWkzFDd2bp0zvjKoYnDGgfJ5Hnbpb3hJ3o+TxPmzqTK1xgjRnizzvJoI1ViLPIrGJEeSmzAAAAFQDtDjbVZDISsVAcYto9fKiiStQ8rwAAAIBHIs0IO4bXYJe+HLcbio6aRYMsBZrt/1EV6QnB0c/RPAALUrhGVwE2bWQ4ezCwIy3qdZUIUAbXJ4xdcR/N1xuREUNXgrJw6Xd2eZh11S06guyy/tudVBz4L5ME5Y/gJO9/1mUK8PXj6alhMDUOc1RsMTZDrxRV5dj7JLyievjncgAAAIEApOIFSdFtVWmN/Eh1dq6M7FeQYaIJnc5jpeySKDjt95xbc70ADFpIyu+Xoksu1Oo77V9ATt2i4p3YDktk8S2OUPHFMpay3caIrcoKuz0l5HVWkRBkkMKM56PtIr151bAmTJVJBGprtZBeKaUw5QYBjpaeBiR9CUd33goDX3SPvgI= root@vm";
    const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGMtzSwqa7eoAV0UT7/ddE1+MryMUwjOKXUbGneH8BiY/jtQSMiAG1x/KIEJffUxkGnfDphkuf3AxqocV12DjP4= ec";
    /// An `sk-ssh-ed25519@openssh.com` key (a FIDO key's public half; made by hand).
    const SK_ED25519: &str = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fAAAABHNzaDo= sk";

    #[test]
    fn parses_and_fingerprints_keys_as_ssh_keygen_does() {
        let key = PublicKey::parse(&format!("  {ED25519}\n")).unwrap();
        assert_eq!(key.line, ED25519);
        assert_eq!(key.comment.as_deref(), Some("me@host"));
        assert_eq!(
            key.fingerprint_sha256,
            "SHA256:AP4yVJvw/0Ipw8R1jV3/g4rgyntmy4G4cnDsaG7imSQ"
        );
        assert_eq!(
            key.fingerprint_md5,
            "63:3f:b1:f5:59:e0:4b:a2:e5:e5:9c:9d:54:78:4e:c9"
        );
        let bare = PublicKey::parse(&ED25519[..ED25519.len() - " me@host".len()]).unwrap();
        assert_eq!(bare.comment, None);
        assert_eq!(bare.fingerprint_sha256, key.fingerprint_sha256);
        let rsa = PublicKey::parse(RSA_2048).unwrap();
        assert_eq!(
            rsa.fingerprint_sha256,
            "SHA256:KPY/ZfUCcKWZz1uOXDon3+v7pt/V97nLwlycJdhn4P8"
        );
        assert_eq!(
            PublicKey::parse(ECDSA).unwrap().fingerprint_md5,
            "e1:c5:70:1c:4e:77:f4:73:80:6c:56:45:8d:da:cf:e4"
        );
        assert!(PublicKey::parse(SK_ED25519).is_ok());
    }

    #[test]
    fn refuses_weak_keys() {
        assert_eq!(PublicKey::parse(RSA_1024), Err(KeyProblem::TooShort));
        assert_eq!(PublicKey::parse(DSA), Err(KeyProblem::ForbiddenType));
    }

    #[test]
    fn refuses_what_is_not_a_key() {
        for bad in [
            "",
            "ssh-ed25519",
            "ssh-ed25519 not-base64",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\nssh-rsa x",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
        ] {
            assert_eq!(PublicKey::parse(bad), Err(KeyProblem::Invalid), "{bad:?}");
        }
        assert_eq!(
            PublicKey::parse(&"a".repeat(MAX_KEY_LINE + 1)),
            Err(KeyProblem::Invalid)
        );
    }

    #[test]
    fn use_is_recorded_at_most_hourly() {
        assert!(should_record_use(None, 5));
        assert!(!should_record_use(Some(0), LAST_USED_EVERY_MS - 1));
        assert!(should_record_use(Some(0), LAST_USED_EVERY_MS));
    }

    #[test]
    fn expired_and_signing_keys_let_no_one_in() {
        let key = SshKey {
            id: 1,
            kind: KeyKind::User,
            user_id: Some(1),
            title: "t".into(),
            key: ED25519.into(),
            fingerprint_md5: String::new(),
            fingerprint_sha256: String::new(),
            usage_type: UsageType::AuthAndSigning,
            created_at: 0,
            expires_at: Some(100),
            last_used_at: None,
        };
        assert!(key.lets_in(99));
        assert!(!key.lets_in(100));
        let signing = SshKey {
            usage_type: UsageType::Signing,
            expires_at: None,
            ..key
        };
        assert!(!signing.lets_in(0));
    }
}
