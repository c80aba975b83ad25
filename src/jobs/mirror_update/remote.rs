//! Turning a mirror into a [`Remote`] git can push to, at push time: the stored URL is checked
//! again against the network policy, its host resolved once and the push pinned to the checked
//! address (no DNS rebinding); credentials travel as an `Authorization` header or through a
//! private ssh-agent, never in argv, a URL git prints, or a file.

use std::net::IpAddr;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

use crate::credentials::MirrorCredentials;
use crate::git::ops::Remote;
use crate::git::ssh_agent::SshAgent;
use crate::git::GitRunner;
use crate::model::entities::{AuthMethod, RemoteMirror};
use crate::model::url::{parse_mirror_url, Host, NetworkPolicy, ParsedMirrorUrl, Scheme};
use crate::netcheck::{resolve_checked, ResolveError};

/// A remote ready for one push, with what must live as long as the push.
pub(super) struct PreparedRemote {
    pub remote: Remote,
    /// Every secret that could show up in git's output, for scrubbing.
    pub secrets: Vec<SecretString>,
    /// Keeps the ssh-agent (and its socket directory) alive for the push.
    _agent: Option<SshAgent>,
    _dir: Option<tempfile::TempDir>,
}

/// Why a remote could not be prepared; the message becomes `last_error` as is.
#[derive(Debug, thiserror::Error)]
pub(super) enum PrepareError {
    #[error("The remote mirror URL is invalid: {0}")]
    InvalidUrl(String),
    #[error("{0}")]
    Ssh(String),
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
        _agent: None,
        _dir: None,
    }
}

async fn ssh_remote(
    mirror: &RemoteMirror,
    parsed: &ParsedMirrorUrl,
    pinned: IpAddr,
    creds: MirrorCredentials,
    secrets: Vec<SecretString>,
    git: &GitRunner,
) -> Result<PreparedRemote, PrepareError> {
    let Some(known_hosts) = mirror.ssh_known_hosts.as_deref() else {
        return Err(PrepareError::Ssh(
            "Host key verification failed: no SSH host keys are pinned for this mirror (set host_keys)".into(),
        ));
    };
    let dir = tempfile::Builder::new()
        .prefix("pushmirror-ssh-")
        .tempdir()
        .map_err(|e| PrepareError::Ssh(format!("cannot prepare ssh: {e}")))?;
    let known_hosts_file = dir.path().join("known_hosts");
    std::fs::write(&known_hosts_file, format!("{known_hosts}\n"))
        .map_err(|e| PrepareError::Ssh(format!("cannot prepare ssh: {e}")))?;
    let alias = if parsed.port == 22 {
        parsed.host_str()
    } else {
        format!(
            "[{}]:{}",
            parsed.host_str().trim_matches(|c| c == '[' || c == ']'),
            parsed.port
        )
    };
    let mut env = Vec::new();
    let mut agent = None;
    if mirror.auth_method == AuthMethod::SshPublicKey {
        if let Some(key) = &creds.ssh_private_key {
            // The key outlives the longest push it serves, and no more.
            let lifetime = git.timeout() + std::time::Duration::from_secs(60);
            let a = SshAgent::start(git, dir.path(), key, lifetime)
                .await
                .map_err(|e| PrepareError::Ssh(format!("cannot load the mirror's SSH key: {e}")))?;
            env.push((
                "SSH_AUTH_SOCK".to_owned(),
                SecretString::from(a.socket().display().to_string()),
            ));
            agent = Some(a);
        }
    }
    // Every value below is ours (a checked address, a validated host name, a temp path), so
    // the shell string git runs cannot be injected into.
    let ip = match pinned {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6.to_string(),
    };
    let command = format!(
        "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
         -o UserKnownHostsFile='{}' -o GlobalKnownHostsFile=/dev/null -o HostKeyAlias='{alias}' \
         -o HostName={ip} -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no \
         -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4",
        known_hosts_file.display()
    );
    env.push(("GIT_SSH_COMMAND".to_owned(), SecretString::from(command)));
    Ok(PreparedRemote {
        remote: Remote {
            url: parsed.url.clone(),
            config: Vec::new(),
            env,
        },
        secrets,
        _agent: agent,
        _dir: Some(dir),
    })
}
