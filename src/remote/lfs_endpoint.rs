//! Where a git remote's Git LFS endpoint is, found as git-lfs finds it, for a push mirror's
//! uploads and a pull mirror's or import's downloads alike: an HTTP(S) remote's is
//! `<url>/info/lfs` (`.git` added when the path lacks it, `model::lfs::endpoint_for`) with the
//! remote's user and password as Basic authentication; an ssh remote's is what
//! `git-lfs-authenticate <path> <operation>` answers over the remote's own ssh settings, or,
//! when the remote offers no such command, its HTTPS endpoint, anonymously (the ssh key is no
//! HTTP credential). A `git://` remote has none.
//!
//! Asking an ssh remote costs a connection, so [`LfsEndpoint::for_url`] only decides how to
//! find the endpoint (while the remote's credentials are at hand, before [`GitRemote::prepare`]
//! takes them), and [`LfsEndpoint::connect`] finds it when the work first has objects to ask
//! about.

use std::time::Duration;

use super::git::GitRemote;
use super::lfs::LfsRemote;
use super::lfs_wire::LfsOperation;
use crate::credentials::MirrorCredentials;
use crate::git::GitRunner;
use crate::model::lfs::{endpoint_for, https_endpoint_for_ssh};
use crate::model::url::NetworkPolicy;

/// The deadline of one LFS batch or verify request: a batch answer is a database lookup on
/// the remote's side, seconds at worst; a minute is a remote that is not answering.
const LFS_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How to reach one remote's LFS endpoint.
pub struct LfsEndpoint {
    how: How,
    policy: NetworkPolicy,
    /// The deadline of one object's transfer (the git operation's own deadline).
    transfer_timeout: Duration,
}

enum How {
    /// An HTTP(S) remote's endpoint, with its credentials.
    Http(LfsRemote),
    /// An ssh remote: `git-lfs-authenticate`, else this HTTPS endpoint.
    Ssh { fallback: String },
}

impl LfsEndpoint {
    /// How to reach the LFS endpoint of the remote at `url` (credential-free, as stored) with
    /// `credentials`; `None` for a remote that has none (`git://`, or no URL at all).
    pub fn for_url(
        url: &str,
        credentials: &MirrorCredentials,
        policy: NetworkPolicy,
        transfer_timeout: Duration,
    ) -> Option<LfsEndpoint> {
        let parsed = url::Url::parse(url).ok()?;
        let how = match parsed.scheme() {
            "http" | "https" => How::Http(LfsRemote::new(
                &endpoint_for(url),
                credentials,
                Vec::new(),
                policy,
                LFS_REQUEST_TIMEOUT,
                transfer_timeout,
            )),
            "ssh" => How::Ssh {
                fallback: https_endpoint_for_ssh(parsed.host_str()?, parsed.path()),
            },
            _ => return None,
        };
        Some(LfsEndpoint {
            how,
            policy,
            transfer_timeout,
        })
    }

    /// Whether [`connect`](Self::connect) asks the remote over ssh, and so needs it prepared
    /// for git.
    pub fn needs_git_remote(&self) -> bool {
        matches!(self.how, How::Ssh { .. })
    }

    /// The endpoint, ready for `op`'s requests: an ssh remote (`git_remote`, prepared from the
    /// same URL) is asked with `git-lfs-authenticate` now; without `git_remote` it gets its
    /// HTTPS endpoint.
    pub async fn connect(
        self,
        git_remote: Option<&GitRemote>,
        git: &GitRunner,
        op: LfsOperation,
    ) -> LfsRemote {
        let LfsEndpoint {
            how,
            policy,
            transfer_timeout,
        } = self;
        match how {
            How::Http(remote) => remote,
            How::Ssh { fallback } => {
                let answer = match git_remote {
                    Some(remote) => remote.lfs_authenticate(git, op.as_str()).await,
                    None => None,
                };
                ssh_endpoint(answer, &fallback, policy, transfer_timeout)
            }
        }
    }
}

/// The endpoint `git-lfs-authenticate`'s `answer` names, or else `fallback`, anonymously.
fn ssh_endpoint(
    answer: Option<Result<Vec<u8>, String>>,
    fallback: &str,
    policy: NetworkPolicy,
    transfer_timeout: Duration,
) -> LfsRemote {
    let anonymous = |url: &str| {
        LfsRemote::new(
            url,
            &MirrorCredentials::default(),
            Vec::new(),
            policy,
            LFS_REQUEST_TIMEOUT,
            transfer_timeout,
        )
    };
    match answer {
        Some(Ok(answer)) => LfsRemote::from_authenticate(
            &answer,
            policy,
            LFS_REQUEST_TIMEOUT,
            transfer_timeout,
        )
        .unwrap_or_else(|e| {
            tracing::info!(error = %e, "git-lfs-authenticate answered nonsense; using the HTTPS endpoint");
            anonymous(fallback)
        }),
        Some(Err(e)) => {
            tracing::info!(error = %e, "no git-lfs-authenticate; using the HTTPS endpoint");
            anonymous(fallback)
        }
        None => anonymous(fallback),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str) -> Option<LfsEndpoint> {
        LfsEndpoint::for_url(
            url,
            &MirrorCredentials::default(),
            NetworkPolicy {
                allow_local_network: false,
            },
            Duration::from_secs(1),
        )
    }

    #[test]
    fn http_and_ssh_remotes_have_an_endpoint_git_remotes_none() {
        let Some(LfsEndpoint {
            how: How::Http(remote),
            ..
        }) = endpoint("https://example.com/group/project")
        else {
            panic!("an https remote has an HTTP endpoint");
        };
        assert_eq!(remote.origin(), "https://example.com");
        let Some(LfsEndpoint {
            how: How::Ssh { fallback },
            ..
        }) = endpoint("ssh://git@example.com:2222/group/project.git")
        else {
            panic!("an ssh remote asks git-lfs-authenticate");
        };
        assert_eq!(fallback, "https://example.com/group/project.git/info/lfs");
        assert!(endpoint("git://example.com/group/project.git").is_none());
        assert!(endpoint("not a url").is_none());
    }
}
