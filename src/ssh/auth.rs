//! Which key an SSH connection is: public-key authentication in russh's two steps. A key merely
//! *offered* (`auth_publickey_offered`, before any signature) may only be answered "go on and
//! prove it" ([`Authentication::offered`] takes `&self`: it cannot record anything); the
//! connection's principal is set only in [`Authentication::verified`], which russh calls after
//! it checked the client's signature with that very key (CVE-2024-45337 is what remembering an
//! offered key leads to). Both steps require the configured login user and look the key up
//! afresh.

use std::future::Future;
use std::sync::Arc;

use crate::app::App;
use crate::service::ssh_access::{self, KeyRefusal, SshPrincipal};

/// Where keys are looked up: the application's keys, or a test's.
pub trait KeyDirectory: Send + Sync {
    /// Whether the key with this SSH wire encoding would authenticate someone, recording
    /// nothing (anyone may offer anyone's public key).
    fn offered(&self, blob: &[u8]) -> impl Future<Output = Result<(), KeyRefusal>> + Send;

    /// The principal whose key has this SSH wire encoding.
    fn authenticate(
        &self,
        blob: &[u8],
    ) -> impl Future<Output = Result<SshPrincipal, KeyRefusal>> + Send;
}

/// The application's keys (`service::ssh_access`).
pub struct AppKeys(pub Arc<App>);

impl KeyDirectory for AppKeys {
    async fn offered(&self, blob: &[u8]) -> Result<(), KeyRefusal> {
        ssh_access::offered_key(&self.0, blob).await.map(|_| ())
    }

    async fn authenticate(&self, blob: &[u8]) -> Result<SshPrincipal, KeyRefusal> {
        ssh_access::authenticate_key(&self.0, blob).await
    }
}

/// What one authentication step decided; a refusal names its `pushmirror_ssh_auth_total`
/// result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Reject(&'static str),
}

/// One connection's authentication state.
#[derive(Debug)]
pub struct Authentication {
    /// The only login user accepted (`git`).
    login_user: String,
    /// Set once, by a verified key; never by an offer.
    principal: Option<Arc<SshPrincipal>>,
}

impl Authentication {
    /// A connection nobody authenticated yet, expecting `login_user`.
    pub fn new(login_user: &str) -> Authentication {
        Authentication {
            login_user: login_user.to_owned(),
            principal: None,
        }
    }

    /// A key offered by `user`, not proven yet: accepted only when it would authenticate.
    pub async fn offered(&self, keys: &impl KeyDirectory, user: &str, blob: &[u8]) -> Decision {
        if user != self.login_user {
            return Decision::Reject("wrong_user");
        }
        match keys.offered(blob).await {
            Ok(_) => Decision::Accept,
            Err(refusal) => Decision::Reject(result_of(&refusal)),
        }
    }

    /// A key whose signature russh verified: the connection is its principal from now on.
    pub async fn verified(
        &mut self,
        keys: &impl KeyDirectory,
        user: &str,
        blob: &[u8],
    ) -> Decision {
        if user != self.login_user {
            return Decision::Reject("wrong_user");
        }
        if self.principal.is_some() {
            // russh ends authentication at the first success; a second is not a thing.
            return Decision::Reject("error");
        }
        match keys.authenticate(blob).await {
            Ok(principal) => {
                self.principal = Some(Arc::new(principal));
                Decision::Accept
            }
            Err(refusal) => Decision::Reject(result_of(&refusal)),
        }
    }

    /// Who the connection is, once a verified key said so.
    pub fn principal(&self) -> Option<&Arc<SshPrincipal>> {
        self.principal.as_ref()
    }
}

fn result_of(refusal: &KeyRefusal) -> &'static str {
    if let KeyRefusal::Internal(cause) = refusal {
        tracing::error!(%cause, "cannot look an SSH key up");
    }
    refusal.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ssh_access::KeyHolder;

    /// Knows one key (`b"known"`), an expired one and a blocked one.
    struct Keys;

    impl KeyDirectory for Keys {
        async fn offered(&self, blob: &[u8]) -> Result<(), KeyRefusal> {
            self.authenticate(blob).await.map(|_| ())
        }

        async fn authenticate(&self, blob: &[u8]) -> Result<SshPrincipal, KeyRefusal> {
            match blob {
                b"known" => Ok(SshPrincipal {
                    key_id: 7,
                    fingerprint: "SHA256:known".into(),
                    holder: KeyHolder::Deploy {
                        title: "ci".into(),
                        owner: None,
                    },
                }),
                b"expired" => Err(KeyRefusal::Expired),
                b"blocked" => Err(KeyRefusal::Blocked),
                _ => Err(KeyRefusal::Unknown),
            }
        }
    }

    #[tokio::test]
    async fn an_offer_never_sets_the_principal() {
        let auth = Authentication::new("git");
        assert_eq!(auth.offered(&Keys, "git", b"known").await, Decision::Accept);
        assert!(auth.principal().is_none());
        for (blob, result) in [
            (&b"unknown"[..], "unknown_key"),
            (b"expired", "expired_key"),
            (b"blocked", "blocked_user"),
        ] {
            assert_eq!(
                auth.offered(&Keys, "git", blob).await,
                Decision::Reject(result)
            );
        }
        assert_eq!(
            auth.offered(&Keys, "root", b"known").await,
            Decision::Reject("wrong_user")
        );
        assert!(auth.principal().is_none());
    }

    #[tokio::test]
    async fn only_a_verified_key_of_the_login_user_sets_it() {
        let mut auth = Authentication::new("git");
        assert_eq!(
            auth.verified(&Keys, "root", b"known").await,
            Decision::Reject("wrong_user")
        );
        assert_eq!(
            auth.verified(&Keys, "git", b"expired").await,
            Decision::Reject("expired_key")
        );
        assert!(auth.principal().is_none());
        assert_eq!(
            auth.verified(&Keys, "git", b"known").await,
            Decision::Accept
        );
        assert_eq!(auth.principal().map(|p| p.key_id), Some(7));
        assert_eq!(
            auth.verified(&Keys, "git", b"known").await,
            Decision::Reject("error")
        );
    }
}
