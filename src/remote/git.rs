//! A git remote reached safely, for a push or a fetch alike: the URL is checked again against
//! the network policy, its host resolved once and git pinned to the checked address (no DNS
//! rebinding); credentials travel as an `Authorization` header or through a private ssh-agent,
//! never in argv, a URL git prints, or a file. An ssh remote gets its own configuration file
//! (login user, checked address, pinned host keys, the one identity), and a host key ssh
//! refuses is explained ([`GitRemote::explain`]) as [`RemoteFailure::HostKeyRefused`].
//!
//! Invariant: a [`GitRemote`] lives for one piece of work (one update), and with it the
//! decrypted credentials, the agent and its private directory.

use crate::storage::LocalRepo;
use std::net::IpAddr;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::endpoint::PinnedEndpoint;
use super::failure::RemoteFailure;
use crate::credentials::MirrorCredentials;
use crate::git::keyscan;
use crate::git::ops::{self, Remote};
use crate::git::ssh_agent::SshAgent;
use crate::git::GitRunner;
use crate::model::entities::AuthMethod;
use crate::model::host_keys::{
    fingerprints, host_key_failure_message, is_host_key_refusal, known_hosts_name,
    scanned_known_hosts, RepinHint,
};
use crate::model::url::{parse_mirror_url, ssh_login_user_error, Host, NetworkPolicy, Scheme};
use crate::netcheck::ResolveError;

/// What a git remote is made from: a mirror's settings (push or pull alike), read at the start
/// of one piece of work.
pub struct RemoteSpec<'a> {
    /// The URL as stored, without credentials.
    pub url: &'a str,
    /// The decrypted credentials (URL user and password, or the ssh private key).
    pub credentials: MirrorCredentials,
    /// How the remote is authenticated (an ssh remote needs [`AuthMethod::SshPublicKey`]).
    pub auth_method: AuthMethod,
    /// The public half of the ssh key pair, offered as the one identity.
    pub ssh_public_key: Option<&'a str>,
    /// The pinned host keys, in `known_hosts` format.
    pub ssh_known_hosts: Option<&'a str>,
    /// Where a person re-pins the host keys, named by a host-key failure.
    pub repin: RepinHint<'a>,
}

/// A remote ready for git to push to or fetch from, with what must live as long as the work.
pub struct GitRemote {
    remote: Remote,
    /// Every secret that could show up in git's output, for scrubbing.
    secrets: Vec<SecretString>,
    /// Where an ssh remote is, to explain a host-key refusal.
    ssh: Option<SshTarget>,
    /// An ssh remote's configuration file and repository path, for `git-lfs-authenticate`.
    ssh_lfs: Option<(std::path::PathBuf, String)>,
    /// Keeps the ssh-agent (and its socket directory) alive for the work.
    _agent: Option<SshAgent>,
    _dir: Option<tempfile::TempDir>,
}

/// Why a remote could not be prepared; the message becomes `last_error` as is.
#[derive(Debug, thiserror::Error)]
enum PrepareError {
    #[error("The remote mirror URL is invalid: {0}")]
    InvalidUrl(String),
    /// ssh could not be set up (the agent, a temporary file): may pass on a retry.
    #[error("{0}")]
    Ssh(String),
    /// An `ssh://` mirror without a key pair cannot authenticate (passwords are refused).
    #[error("This ssh:// mirror has no key pair: set auth_method=ssh_public_key, then add the mirror's public key (GET .../remote_mirrors/:id/public_key) to the remote.")]
    NoKeyPair,
}

impl From<PrepareError> for RemoteFailure {
    fn from(e: PrepareError) -> RemoteFailure {
        match e {
            PrepareError::NoKeyPair => RemoteFailure::Final(e.to_string()),
            PrepareError::InvalidUrl(_) | PrepareError::Ssh(_) => {
                RemoteFailure::Retryable(e.to_string())
            }
        }
    }
}

impl GitRemote {
    /// Checks, resolves and pins `spec`'s URL, and attaches its credentials. The failure is
    /// scrubbed.
    pub async fn prepare(
        spec: RemoteSpec<'_>,
        policy: NetworkPolicy,
        git: &GitRunner,
    ) -> Result<GitRemote, RemoteFailure> {
        let parsed = parse_mirror_url(spec.url, policy).map_err(|e| {
            PrepareError::InvalidUrl(e.to_string().trim_start_matches("is blocked: ").to_owned())
        })?;
        let endpoint = match PinnedEndpoint::resolve(parsed, policy).await {
            Ok(endpoint) => endpoint,
            Err(ResolveError::Blocked(reason)) => {
                return Err(PrepareError::InvalidUrl(reason.to_string()).into())
            }
            Err(e @ ResolveError::Unresolvable) => {
                return Err(PrepareError::InvalidUrl(e.to_string()).into())
            }
        };
        let creds = &spec.credentials;
        let secrets = creds.to_scrub();
        let scrub_with = secrets.clone();
        let prepared = match endpoint.url.scheme {
            Scheme::Http | Scheme::Https => Ok(http_remote(&endpoint, creds, secrets)),
            Scheme::Git => Ok(GitRemote {
                remote: Remote {
                    url: endpoint.url_with_address(),
                    ..Remote::default()
                },
                secrets,
                ssh: None,
                ssh_lfs: None,
                _agent: None,
                _dir: None,
            }),
            Scheme::Ssh => ssh_remote(&spec, &endpoint, secrets, git).await,
        };
        prepared.map_err(|f| f.scrubbed(&scrub_with))
    }

    /// How git reaches the remote (URL, configuration and environment); for the operations
    /// whose outcome the caller reads itself (a push under leases).
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// `failure` as the work reports it: a host key ssh refused becomes
    /// [`RemoteFailure::HostKeyRefused`] (a retry meets the same key), explained with what the
    /// remote offers, what is pinned and how to re-pin; and every failure is scrubbed of this
    /// remote's secrets.
    pub async fn explain(&self, failure: RemoteFailure, git: &GitRunner) -> RemoteFailure {
        let failure = match (&self.ssh, failure) {
            (Some(target), RemoteFailure::Retryable(text)) if is_host_key_refusal(&text) => {
                RemoteFailure::HostKeyRefused(host_key_failure(git, target).await)
            }
            (_, failure) => failure,
        };
        failure.scrubbed(&self.secrets)
    }

    /// For an ssh remote, the answer of `git-lfs-authenticate <path> <operation>` over the same
    /// connection settings as git's (its JSON, for `LfsRemote`); `None` for other remotes. The
    /// failure's words are scrubbed.
    pub async fn lfs_authenticate(
        &self,
        git: &GitRunner,
        operation: &str,
    ) -> Option<Result<Vec<u8>, String>> {
        let (config, path) = self.ssh_lfs.as_ref()?;
        let answer = crate::git::lfs_authenticate::authenticate(git, config, path, operation)
            .await
            .map_err(|e| {
                RemoteFailure::Retryable(e.to_string())
                    .scrubbed(&self.secrets)
                    .message()
                    .to_owned()
            });
        Some(answer)
    }

    /// The remote's branches and tags, as `(full name, oid)`.
    pub async fn ls_remote(
        &self,
        git: &GitRunner,
        repo: &LocalRepo,
    ) -> Result<Vec<(String, String)>, RemoteFailure> {
        match ops::ls_remote(git, repo, &self.remote).await {
            Ok(refs) => Ok(refs),
            Err(e) => Err(self.explain(RemoteFailure::from_git(e), git).await),
        }
    }

    /// Fetches `refspecs` (e.g. `+refs/heads/*:refs/heads/*`) from the remote into `repo`;
    /// with `prune`, refs the remote no longer has are deleted from their destination.
    pub async fn fetch(
        &self,
        git: &GitRunner,
        repo: &LocalRepo,
        refspecs: &[String],
        prune: bool,
    ) -> Result<(), RemoteFailure> {
        match ops::fetch(git, repo, &self.remote, refspecs, prune).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.explain(RemoteFailure::from_git(e), git).await),
        }
    }
}

impl GitRemote {
    /// [`GitRemote::fetch`] of a list of refspecs given on stdin (no prune), for lists too
    /// long for a command line.
    pub async fn fetch_listed(
        &self,
        git: &GitRunner,
        repo: &LocalRepo,
        refspecs: &[String],
    ) -> Result<(), RemoteFailure> {
        match ops::fetch_listed(git, repo, &self.remote, refspecs).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.explain(RemoteFailure::from_git(e), git).await),
        }
    }
}

fn http_remote(
    endpoint: &PinnedEndpoint,
    creds: &MirrorCredentials,
    mut secrets: Vec<SecretString>,
) -> GitRemote {
    let mut config = Vec::new();
    if let Some(name) = endpoint.domain() {
        // curl connects to the address we checked while TLS and Host still name the host.
        config.push((
            "http.curloptResolve".to_owned(),
            SecretString::from(format!(
                "{name}:{}:{}",
                endpoint.url.port,
                endpoint.address_literal()
            )),
        ));
    }
    if let Some(encoded) = creds.basic() {
        config.push((
            "http.extraHeader".to_owned(),
            SecretString::from(format!("Authorization: Basic {}", encoded.expose_secret())),
        ));
        secrets.push(encoded);
    }
    GitRemote {
        remote: Remote {
            url: endpoint.url.url.clone(),
            config,
            env: Vec::new(),
        },
        secrets,
        ssh: None,
        ssh_lfs: None,
        _agent: None,
        _dir: None,
    }
}

/// Where an ssh remote was reached, for explaining a host-key refusal after the fact.
struct SshTarget {
    /// The name its host keys are filed under ([`known_hosts_name`]).
    name: String,
    host: Host,
    port: u16,
    /// The checked address ssh connected to.
    address: IpAddr,
    /// The pinned host keys (`known_hosts` lines), empty when none are.
    pinned: String,
    /// The re-pin hint's project id, mirror id and URL.
    repin: (i64, i64, String),
}

/// The message of a host key that is not pinned: the remote's keys are scanned (at the pinned
/// address) so the message can name them beside the pinned ones.
async fn host_key_failure(git: &GitRunner, target: &SshTarget) -> String {
    let offered = match keyscan::scan(git, target.address, target.port).await {
        Ok(out) => scanned_known_hosts(&out, &target.host, target.port)
            .map(|k| fingerprints(&k))
            .unwrap_or_default(),
        Err(e) => {
            tracing::info!(mirror = target.repin.1, error = %e, "cannot scan the remote's host keys");
            Vec::new()
        }
    };
    let hint = RepinHint {
        project_id: target.repin.0,
        mirror_id: target.repin.1,
        url: &target.repin.2,
    };
    host_key_failure_message(
        &target.name,
        target.address,
        &offered,
        &target.pinned,
        &hint,
    )
}

/// The login name when the URL names none: the account hosting services serve git over ssh as
/// (GitHub, GitLab, Bitbucket, Gitea), and what GitLab's Gitaly, running as `git`, sends then.
/// Never ssh's own default, the server's OS user.
const DEFAULT_SSH_USER: &str = "git";

/// An ssh remote: the private key goes into a private agent, and ssh gets a configuration file
/// of ours (`-F`, so never the operator's `~/.ssh/config`) naming the login user, the checked
/// address, the pinned host keys under their alias, and the one identity it may offer. All of
/// it lives in one 0700 directory of 0600 files, removed when the work ends, and by the
/// agent's supervisor if the server dies first.
async fn ssh_remote(
    spec: &RemoteSpec<'_>,
    endpoint: &PinnedEndpoint,
    secrets: Vec<SecretString>,
    git: &GitRunner,
) -> Result<GitRemote, RemoteFailure> {
    let parsed = &endpoint.url;
    let target = SshTarget {
        name: known_hosts_name(&parsed.host, parsed.port),
        host: parsed.host.clone(),
        port: parsed.port,
        address: endpoint.address,
        pinned: spec.ssh_known_hosts.unwrap_or_default().to_owned(),
        repin: (
            spec.repin.project_id,
            spec.repin.mirror_id,
            spec.repin.url.to_owned(),
        ),
    };
    let Some(known_hosts) = spec.ssh_known_hosts else {
        return Err(RemoteFailure::HostKeyRefused(
            host_key_failure(git, &target).await,
        ));
    };
    let creds = &spec.credentials;
    let key_pair = match (&creds.ssh_private_key, spec.ssh_public_key) {
        (Some(private), Some(public)) if spec.auth_method == AuthMethod::SshPublicKey => {
            (private, public)
        }
        _ => return Err(PrepareError::NoKeyPair.into()),
    };
    let user = match &creds.user {
        Some(u) => u.expose_secret().to_owned(),
        None => DEFAULT_SSH_USER.to_owned(),
    };
    if let Some(why) = ssh_login_user_error(&user) {
        return Err(
            PrepareError::InvalidUrl(why.trim_start_matches("is blocked: ").to_owned()).into(),
        );
    }
    let cannot = |e: std::io::Error| PrepareError::Ssh(format!("cannot prepare ssh: {e}"));
    let dir = git.private_dir().map_err(cannot)?;
    let known_hosts_file = dir.path().join("known_hosts");
    let identity = dir.path().join("id.pub");
    let config = dir.path().join("config");
    private_file(&known_hosts_file, &format!("{known_hosts}\n")).map_err(cannot)?;
    private_file(&identity, &format!("{}\n", key_pair.1.trim())).map_err(cannot)?;
    // The key outlives the longest git process it serves, and no more.
    let lifetime = git.timeout() + std::time::Duration::from_secs(60);
    let agent = SshAgent::start(git, dir.path(), key_pair.0, lifetime)
        .await
        .map_err(|e| PrepareError::Ssh(format!("cannot load the mirror's SSH key: {e}")))?;
    let text = ssh_config(&SshConfig {
        user: &user,
        address: endpoint.address,
        port: parsed.port,
        alias: &target.name,
        known_hosts: &known_hosts_file,
        identity: &identity,
        agent: agent.socket(),
    });
    private_file(&config, &text).map_err(cannot)?;
    // Only our own temp path goes into the shell string git runs (checked for quotes), and the
    // login name stays out of argv: it is in the 0600 configuration.
    let config_arg = config.display().to_string();
    if config_arg.contains(['\'', '"', '\\']) {
        return Err(PrepareError::Ssh(format!(
            "cannot prepare ssh: the temporary directory {config_arg} needs quoting"
        ))
        .into());
    }
    let command = format!("ssh -F '{config_arg}'");
    let repo_path = url::Url::parse(&parsed.url)
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    Ok(GitRemote {
        remote: Remote {
            url: parsed.url.clone(),
            config: Vec::new(),
            env: vec![("GIT_SSH_COMMAND".to_owned(), SecretString::from(command))],
        },
        secrets,
        ssh: Some(target),
        ssh_lfs: Some((config, repo_path)),
        _agent: Some(agent),
        _dir: Some(dir),
    })
}

/// Writes `text` to a new file only the server's user may read.
fn private_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())
}

/// What goes into one update's ssh configuration.
struct SshConfig<'a> {
    /// The login name (checked by `ssh_login_user_error`).
    user: &'a str,
    /// The checked address: ssh connects here, whatever the URL's host resolves to now.
    address: IpAddr,
    port: u16,
    /// The name the pinned keys are filed under, so they are looked up by it.
    alias: &'a str,
    known_hosts: &'a Path,
    /// The public half of the mirror's key: with `IdentitiesOnly`, the one identity offered.
    identity: &'a Path,
    agent: &'a Path,
}

/// The ssh configuration of one update. Every option says why; everything not set here is
/// ssh's default, since `-F` keeps the operator's and the system's configuration out.
fn ssh_config(c: &SshConfig<'_>) -> String {
    let q = |p: &Path| format!("\"{}\"", p.display());
    [
        "# Written by pushmirror for one mirror update, removed with it.".to_owned(),
        "Host *".to_owned(),
        // The URL's user (or `git`), never the server's OS user.
        format!("  User \"{}\"", c.user),
        // The address the network policy checked (DNS pinning) and the URL's port.
        format!("  HostName {}", c.address),
        format!("  Port {}", c.port),
        // Host keys are looked up under the name they were pinned by, whatever HostName says.
        format!("  HostKeyAlias \"{}\"", c.alias),
        format!("  UserKnownHostsFile {}", q(c.known_hosts)),
        "  GlobalKnownHostsFile /dev/null".to_owned(),
        // Only a pinned key is trusted; nothing is learnt or rewritten on the way.
        "  StrictHostKeyChecking yes".to_owned(),
        "  CheckHostIP no".to_owned(),
        "  UpdateHostKeys no".to_owned(),
        // Nobody is there to answer a prompt.
        "  BatchMode yes".to_owned(),
        // The mirror's key from our agent, and no other identity, agent or method.
        "  IdentitiesOnly yes".to_owned(),
        format!("  IdentityFile {}", q(c.identity)),
        format!("  IdentityAgent {}", q(c.agent)),
        "  PreferredAuthentications publickey".to_owned(),
        "  PasswordAuthentication no".to_owned(),
        "  KbdInteractiveAuthentication no".to_owned(),
        "  HostbasedAuthentication no".to_owned(),
        "  GSSAPIAuthentication no".to_owned(),
        // Nothing but the one git connection: no forwarding, multiplexing, proxies or local
        // commands a remote or a setting could turn against us.
        "  ForwardAgent no".to_owned(),
        "  ForwardX11 no".to_owned(),
        "  ClearAllForwardings yes".to_owned(),
        "  ControlMaster no".to_owned(),
        "  ControlPath none".to_owned(),
        "  ProxyCommand none".to_owned(),
        "  ProxyJump none".to_owned(),
        "  PermitLocalCommand no".to_owned(),
        "  EnableSSHKeysign no".to_owned(),
        // A remote that does not answer is given up on well before git's own deadline.
        "  ConnectTimeout 30".to_owned(),
        "  ServerAliveInterval 15".to_owned(),
        "  ServerAliveCountMax 4".to_owned(),
        // Errors only: they become last_error; ssh's chatter would bury them.
        "  LogLevel ERROR".to_owned(),
    ]
    .join("\n")
        + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ssh_config_names_user_address_alias_and_only_our_files() {
        let text = ssh_config(&SshConfig {
            user: "git",
            address: "203.0.113.7".parse().unwrap(),
            port: 2222,
            alias: "[git.example]:2222",
            known_hosts: Path::new("/tmp/pushmirror-ssh-x/known_hosts"),
            identity: Path::new("/tmp/pushmirror-ssh-x/id.pub"),
            agent: Path::new("/tmp/pushmirror-ssh-x/agent.sock"),
        });
        for line in [
            "  User \"git\"",
            "  HostName 203.0.113.7",
            "  Port 2222",
            "  HostKeyAlias \"[git.example]:2222\"",
            "  StrictHostKeyChecking yes",
            "  IdentitiesOnly yes",
            "  IdentityFile \"/tmp/pushmirror-ssh-x/id.pub\"",
            "  IdentityAgent \"/tmp/pushmirror-ssh-x/agent.sock\"",
            "  GlobalKnownHostsFile /dev/null",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
