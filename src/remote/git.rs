//! Turning a mirror into a [`Remote`] git can push to, at push time: the stored URL is checked
//! again against the network policy, its host resolved once and the push pinned to the checked
//! address (no DNS rebinding); credentials travel as an `Authorization` header or through a
//! private ssh-agent, never in argv, a URL git prints, or a file. An ssh remote gets its own
//! configuration file (login user, checked address, pinned host keys, the one identity), and a
//! host key ssh refuses is explained ([`PreparedRemote::explain`]) and fails the update for good.

use std::net::IpAddr;
use std::path::Path;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

use crate::credentials::MirrorCredentials;
use crate::git::keyscan;
use crate::git::ops::Remote;
use crate::git::ssh_agent::SshAgent;
use crate::git::GitRunner;
use crate::model::entities::{AuthMethod, RemoteMirror};
use crate::model::host_keys::{
    fingerprints, host_key_failure_message, is_host_key_refusal, known_hosts_name,
    scanned_known_hosts, RepinHint,
};
use crate::model::url::{
    parse_mirror_url, ssh_login_user_error, Host, NetworkPolicy, ParsedMirrorUrl, Scheme,
};
use crate::netcheck::{resolve_checked, ResolveError};

use super::update::UpdateFailure;

/// A remote ready for one push, with what must live as long as the push.
pub(super) struct PreparedRemote {
    pub remote: Remote,
    /// Every secret that could show up in git's output, for scrubbing.
    pub secrets: Vec<SecretString>,
    /// Where an ssh remote is, to explain a host-key refusal.
    ssh: Option<SshTarget>,
    /// Keeps the ssh-agent (and its socket directory) alive for the push.
    _agent: Option<SshAgent>,
    _dir: Option<tempfile::TempDir>,
}

/// Why a remote could not be prepared; the message becomes `last_error` as is.
#[derive(Debug, thiserror::Error)]
pub(super) enum PrepareError {
    #[error("The remote mirror URL is invalid: {0}")]
    InvalidUrl(String),
    /// ssh could not be set up (the agent, a temporary file): may pass on a retry.
    #[error("{0}")]
    Ssh(String),
    /// No host key is pinned: every key is unknown, and only a person can pin one.
    #[error("{0}")]
    HostKey(String),
    /// An `ssh://` mirror without a key pair cannot authenticate (passwords are refused).
    #[error("This ssh:// mirror has no key pair: set auth_method=ssh_public_key, then add the mirror's public key (GET .../remote_mirrors/:id/public_key) to the remote.")]
    NoKeyPair,
}

impl From<PrepareError> for UpdateFailure {
    fn from(e: PrepareError) -> UpdateFailure {
        match e {
            PrepareError::HostKey(_) | PrepareError::NoKeyPair => {
                UpdateFailure::Final(e.to_string())
            }
            PrepareError::InvalidUrl(_) | PrepareError::Ssh(_) => {
                UpdateFailure::Retryable(e.to_string())
            }
        }
    }
}

/// Checks, resolves and pins the mirror's URL, and attaches its credentials.
pub(super) async fn prepare(
    mirror: &RemoteMirror,
    creds: MirrorCredentials,
    policy: NetworkPolicy,
    git: &GitRunner,
) -> Result<PreparedRemote, PrepareError> {
    let parsed = parse_mirror_url(&mirror.url, policy).map_err(|e| {
        PrepareError::InvalidUrl(e.to_string().trim_start_matches("is blocked: ").to_owned())
    })?;
    let pinned = match resolve_checked(&parsed, policy).await {
        Ok(addrs) => addrs[0],
        Err(ResolveError::Blocked(reason)) => {
            return Err(PrepareError::InvalidUrl(reason.to_string()))
        }
        Err(e @ ResolveError::Unresolvable) => return Err(PrepareError::InvalidUrl(e.to_string())),
    };
    let mut secrets = Vec::new();
    for s in [&creds.password, &creds.user].into_iter().flatten() {
        if s.expose_secret().len() >= 4 && s.expose_secret() != "git" {
            secrets.push(s.clone());
        }
    }
    match parsed.scheme {
        Scheme::Http | Scheme::Https => Ok(http_remote(&parsed, pinned, &creds, secrets)),
        Scheme::Git => Ok(PreparedRemote {
            remote: Remote {
                url: with_host(&parsed, pinned),
                ..Remote::default()
            },
            secrets,
            ssh: None,
            _agent: None,
            _dir: None,
        }),
        Scheme::Ssh => ssh_remote(mirror, &parsed, pinned, creds, secrets, git).await,
    }
}

fn ip_literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// The URL with its host replaced by the pinned address (for transports without a resolve hook).
fn with_host(parsed: &ParsedMirrorUrl, pinned: IpAddr) -> String {
    if matches!(parsed.host, Host::Ip(_)) {
        return parsed.url.clone();
    }
    match url::Url::parse(&parsed.url) {
        Ok(mut u) => match u.set_host(Some(&ip_literal(pinned))) {
            Ok(()) => u.to_string(),
            Err(_) => parsed.url.clone(),
        },
        Err(_) => parsed.url.clone(),
    }
}

fn http_remote(
    parsed: &ParsedMirrorUrl,
    pinned: IpAddr,
    creds: &MirrorCredentials,
    mut secrets: Vec<SecretString>,
) -> PreparedRemote {
    let mut config = Vec::new();
    if let Host::Domain(name) = &parsed.host {
        // curl connects to the address we checked while TLS and Host still name the host.
        config.push((
            "http.curloptResolve".to_owned(),
            SecretString::from(format!("{name}:{}:{}", parsed.port, ip_literal(pinned))),
        ));
    }
    if creds.user.is_some() || creds.password.is_some() {
        let pair = format!(
            "{}:{}",
            creds.user.as_ref().map_or("", |s| s.expose_secret()),
            creds.password.as_ref().map_or("", |s| s.expose_secret())
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
        secrets.push(SecretString::from(encoded.clone()));
        config.push((
            "http.extraHeader".to_owned(),
            SecretString::from(format!("Authorization: Basic {encoded}")),
        ));
    }
    PreparedRemote {
        remote: Remote {
            url: parsed.url.clone(),
            config,
            env: Vec::new(),
        },
        secrets,
        ssh: None,
        _agent: None,
        _dir: None,
    }
}

/// Where an ssh remote was reached, for explaining a host-key refusal after the fact.
pub(super) struct SshTarget {
    /// The name its host keys are filed under ([`known_hosts_name`]).
    name: String,
    host: Host,
    port: u16,
    /// The checked address ssh connected to.
    address: IpAddr,
}

impl PreparedRemote {
    /// `failure` as the update reports it. A host key ssh refused makes the update fail for good
    /// (a retry meets the same key), explained with what the remote offers, what is pinned and
    /// how to re-pin; every other failure is returned as it is.
    pub(super) async fn explain(
        &self,
        failure: UpdateFailure,
        git: &GitRunner,
        mirror: &RemoteMirror,
    ) -> UpdateFailure {
        match (&self.ssh, failure) {
            (Some(target), UpdateFailure::Retryable(text)) if is_host_key_refusal(&text) => {
                UpdateFailure::Final(host_key_failure(git, mirror, target).await)
            }
            (_, failure) => failure,
        }
    }
}

/// The `last_error` of a host key that is not pinned: the remote's keys are scanned (at the
/// pinned address) so the message can name them beside the pinned ones.
async fn host_key_failure(git: &GitRunner, mirror: &RemoteMirror, target: &SshTarget) -> String {
    let offered = match keyscan::scan(git, target.address, target.port).await {
        Ok(out) => scanned_known_hosts(&out, &target.host, target.port)
            .map(|k| fingerprints(&k))
            .unwrap_or_default(),
        Err(e) => {
            tracing::info!(mirror = mirror.id, error = %e, "cannot scan the remote's host keys");
            Vec::new()
        }
    };
    let pinned = mirror.ssh_known_hosts.as_deref().unwrap_or_default();
    let hint = RepinHint {
        project_id: mirror.project_id,
        mirror_id: mirror.id,
        url: &mirror.url,
    };
    host_key_failure_message(&target.name, target.address, &offered, pinned, &hint)
}

/// The login name when the URL names none: the account hosting services serve git over ssh as
/// (GitHub, GitLab, Bitbucket, Gitea), and what GitLab's Gitaly, running as `git`, sends then.
/// Never ssh's own default, the server's OS user.
const DEFAULT_SSH_USER: &str = "git";

/// An ssh remote: the private key goes into a private agent, and ssh gets a configuration file
/// of ours (`-F`, so never the operator's `~/.ssh/config`) naming the login user, the checked
/// address, the pinned host keys under their alias, and the one identity it may offer. All of
/// it lives in one 0700 directory of 0600 files, removed when the update ends, and by the
/// agent's supervisor if the server dies first.
async fn ssh_remote(
    mirror: &RemoteMirror,
    parsed: &ParsedMirrorUrl,
    pinned: IpAddr,
    creds: MirrorCredentials,
    secrets: Vec<SecretString>,
    git: &GitRunner,
) -> Result<PreparedRemote, PrepareError> {
    let target = SshTarget {
        name: known_hosts_name(&parsed.host, parsed.port),
        host: parsed.host.clone(),
        port: parsed.port,
        address: pinned,
    };
    let Some(known_hosts) = mirror.ssh_known_hosts.as_deref() else {
        return Err(PrepareError::HostKey(
            host_key_failure(git, mirror, &target).await,
        ));
    };
    let key_pair = match (&creds.ssh_private_key, &mirror.ssh_public_key) {
        (Some(private), Some(public)) if mirror.auth_method == AuthMethod::SshPublicKey => {
            (private, public)
        }
        _ => return Err(PrepareError::NoKeyPair),
    };
    let user = match &creds.user {
        Some(u) => u.expose_secret().to_owned(),
        None => DEFAULT_SSH_USER.to_owned(),
    };
    if let Some(why) = ssh_login_user_error(&user) {
        return Err(PrepareError::InvalidUrl(
            why.trim_start_matches("is blocked: ").to_owned(),
        ));
    }
    let cannot = |e: std::io::Error| PrepareError::Ssh(format!("cannot prepare ssh: {e}"));
    let dir = git.private_dir().map_err(cannot)?;
    let known_hosts_file = dir.path().join("known_hosts");
    let identity = dir.path().join("id.pub");
    let config = dir.path().join("config");
    private_file(&known_hosts_file, &format!("{known_hosts}\n")).map_err(cannot)?;
    private_file(&identity, &format!("{}\n", key_pair.1.trim())).map_err(cannot)?;
    // The key outlives the longest push it serves, and no more.
    let lifetime = git.timeout() + std::time::Duration::from_secs(60);
    let agent = SshAgent::start(git, dir.path(), key_pair.0, lifetime)
        .await
        .map_err(|e| PrepareError::Ssh(format!("cannot load the mirror's SSH key: {e}")))?;
    let text = ssh_config(&SshConfig {
        user: &user,
        address: pinned,
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
        )));
    }
    let command = format!("ssh -F '{config_arg}'");
    Ok(PreparedRemote {
        remote: Remote {
            url: parsed.url.clone(),
            config: Vec::new(),
            env: vec![("GIT_SSH_COMMAND".to_owned(), SecretString::from(command))],
        },
        secrets,
        ssh: Some(target),
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
