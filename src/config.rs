//! Resolved configuration of a pushmirror process: command-line flags over `PUSHMIRROR_*`
//! environment variables over the TOML file given with `--config`, over built-in defaults.
//! This module only resolves values; it opens nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::storage::StorageName;

/// Settings that every subcommand touching the data shares.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Holds the SQLite database, the repositories and the secret key.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to `sqlite://<data-dir>/pushmirror.db`.
    pub database_url: String,
    /// The 32-byte key that seals mirror credentials.
    pub secret_key_file: PathBuf,
    /// Named repository storages from `--storage NAME=PATH` (see [`StoreConfig::storage_dirs`]).
    pub storages: Vec<(StorageName, PathBuf)>,
}

/// Everything `pushmirror serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub store: StoreConfig,
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Base URL used in `http_url_to_repo`, `web_url` and pagination links, without trailing `/`.
    pub external_url: String,
    /// Accept mirror URLs pointing at loopback, private and link-local addresses.
    pub allow_local_network: bool,
    /// Tuning of the runner, git and deliveries (retries, queue concurrency, deadlines).
    pub tuning: Tuning,
    /// How long in-flight requests may finish after SIGTERM before they are cancelled.
    pub shutdown_grace: std::time::Duration,
    /// Clients that may read `/-/health`, `/-/liveness`, `/-/readiness` and `/-/metrics`
    /// (GitLab's monitoring IP allowlist; loopback by default).
    pub monitoring_allowlist: Vec<crate::model::cidr::Cidr>,
    /// Where notification e-mail goes out; `None` sends none.
    pub smtp: Option<crate::mail::SmtpSettings>,
    /// Git LFS hosting: limits and where objects are stored.
    pub lfs: LfsConfig,
    /// The built-in SSH server.
    pub ssh: SshConfig,
}

/// The built-in SSH server's address when none is configured: loopback like HTTP's, on the
/// port Gitea and GitLab's containers use for a second sshd.
pub const DEFAULT_SSH_LISTEN: &str = "127.0.0.1:2222";

/// The built-in SSH server's settings (`--ssh-*`).
#[derive(Debug, Clone)]
pub struct SshConfig {
    /// The address to listen on; `None` (`--ssh-listen off`) serves no SSH.
    pub listen: Option<SocketAddr>,
    /// The only login user (`git@host`), as GitLab's and Gitea's built-in servers do.
    pub user: String,
    /// `ssh://user@host[:port]` that clients reach this server at, for SSH clone URLs; `None`
    /// derives it from the listen address.
    pub external_ssh_url: Option<String>,
    /// Connections one address may have open that have not authenticated yet.
    pub max_unauthenticated_per_ip: usize,
    /// How long a connection may take from its first byte to its authentication.
    pub handshake_timeout: std::time::Duration,
    /// How long a connection may send and receive nothing before it is closed.
    pub idle_timeout: std::time::Duration,
    /// Commands (clones, fetches, pushes) one user or deploy key may run at once.
    pub max_sessions_per_user: usize,
}

/// Default of [`SshConfig::max_unauthenticated_per_ip`]: a burst of 100 clones from one CI
/// machine may open all its connections before any of them authenticated (each waits for its
/// key exchange on a busy server), so the default lets all of them in; it still bounds what one
/// address can make the server hold before it knows who is asking (a handshake is a few KB).
pub const DEFAULT_SSH_MAX_UNAUTHENTICATED_PER_IP: usize = 128;
/// Default of [`SshConfig::handshake_timeout`], seconds: OpenSSH's client asks for an unloaded
/// key's passphrase between the offer and the signature, and a person needs time to type it;
/// shorter than OpenSSH's `LoginGraceTime` (120 s), which has passwords to wait for too.
pub const DEFAULT_SSH_HANDSHAKE_TIMEOUT_SECS: u64 = 60;
/// Default of [`SshConfig::idle_timeout`], seconds: git sends keepalives every 5 s while the
/// server works on a large pack (`uploadpack.keepAlive`, `receivepack.keepAlive`), so only a
/// connection nobody uses stays silent this long.
pub const DEFAULT_SSH_IDLE_TIMEOUT_SECS: u64 = 300;
/// Default of [`SshConfig::max_sessions_per_user`]: twice a burst of 100 parallel clones, while
/// one key cannot start thousands of git processes.
pub const DEFAULT_SSH_MAX_SESSIONS_PER_USER: usize = 200;

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            listen: Some(DEFAULT_SSH_LISTEN.parse().expect("a valid address")),
            user: "git".into(),
            external_ssh_url: None,
            max_unauthenticated_per_ip: DEFAULT_SSH_MAX_UNAUTHENTICATED_PER_IP,
            handshake_timeout: std::time::Duration::from_secs(DEFAULT_SSH_HANDSHAKE_TIMEOUT_SECS),
            idle_timeout: std::time::Duration::from_secs(DEFAULT_SSH_IDLE_TIMEOUT_SECS),
            max_sessions_per_user: DEFAULT_SSH_MAX_SESSIONS_PER_USER,
        }
    }
}

/// Parses `--ssh-listen`: an address, or `off`.
pub fn parse_ssh_listen(s: &str) -> Result<Option<SocketAddr>, ConfigError> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| ConfigError::Invalid {
        name: "ssh-listen",
        message: format!("'{s}' is not an address like 127.0.0.1:2222, nor 'off'"),
    })
}

/// Checks `--ssh-user`: a login name (letters, digits, `.`, `_`, `-`; at most 32 bytes).
pub fn parse_ssh_user(s: &str) -> Result<String, ConfigError> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(ConfigError::Invalid {
            name: "ssh-user",
            message: format!("'{s}' is not a login name (letters, digits, '.', '_', '-')"),
        })
    }
}

/// Checks `--external-ssh-url`: `ssh://user@host[:port]`, nothing more; returned without a
/// trailing `/`.
pub fn parse_external_ssh_url(s: &str) -> Result<String, ConfigError> {
    let invalid = |message: &str| ConfigError::Invalid {
        name: "external-ssh-url",
        message: format!("'{s}' {message}"),
    };
    let url = url::Url::parse(s).map_err(|e| invalid(&format!("is not a URL: {e}")))?;
    if url.scheme() != "ssh" {
        return Err(invalid("must start with ssh://"));
    }
    if url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must name the login user and no password (ssh://git@host)",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("must name a host"));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must have no path (ssh://git@host[:port])"));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// The default largest LFS object: 5 GiB, S3's largest single PUT and more than any file git
/// users put in LFS in practice.
pub const DEFAULT_LFS_MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Git LFS hosting settings.
#[derive(Debug, Clone)]
pub struct LfsConfig {
    /// The largest object accepted, in bytes (`--lfs-max-object-size`).
    pub max_object_size: u64,
    /// The most bytes of objects one project may link; 0 for no limit
    /// (`--lfs-max-project-size`).
    pub max_project_size: u64,
    /// S3-compatible object storage instead of each storage's `lfs-objects/` directory.
    pub s3: Option<S3Config>,
}

impl Default for LfsConfig {
    fn default() -> Self {
        LfsConfig {
            max_object_size: DEFAULT_LFS_MAX_OBJECT_SIZE,
            max_project_size: 0,
            s3: None,
        }
    }
}

/// An S3-compatible bucket for LFS objects, reached with path-style requests.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `https://…`, or `http://…` on a loopback address only.
    pub endpoint: String,
    pub bucket: String,
    /// Default `us-east-1`.
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<secrecy::SecretString>,
    /// Batch downloads hand out presigned GET URLs instead of streaming through the server.
    pub presigned_downloads: bool,
}

/// The default S3 region, which S3-compatible servers that ignore regions accept.
pub const DEFAULT_S3_REGION: &str = "us-east-1";

/// Checks an S3 endpoint: https, or plain http to a loopback address (a local test server);
/// credentials never cross a network in the clear.
pub fn parse_s3_endpoint(s: &str) -> Result<String, ConfigError> {
    let invalid = |message: &str| ConfigError::Invalid {
        name: "lfs-s3-endpoint",
        message: message.to_owned(),
    };
    let url = url::Url::parse(s).map_err(|e| invalid(&e.to_string()))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(invalid("plain http is allowed only to a loopback address")),
        _ => return Err(invalid("must be an http(s) URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must hold no credentials (use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        ));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// The SMTP settings from `--smtp-url` and `--smtp-from` (default `pushmirror@<external host>`).
pub fn parse_smtp(
    url: Option<secrecy::SecretString>,
    from: Option<String>,
    external_url: &str,
) -> Result<Option<crate::mail::SmtpSettings>, ConfigError> {
    let Some(url) = url else {
        return Ok(None);
    };
    let from = from.unwrap_or_else(|| {
        let host = url::Url::parse(external_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "localhost".into());
        format!("pushmirror@{host}")
    });
    crate::mail::SmtpSettings::parse(&url, &from)
        .map(Some)
        .map_err(|message| ConfigError::Invalid {
            name: "smtp-url",
            message,
        })
}

/// Parses a comma-separated monitoring allowlist (`127.0.0.0/8,::1/128,10.0.0.0/8`).
pub fn parse_allowlist(s: &str) -> Result<Vec<crate::model::cidr::Cidr>, ConfigError> {
    s.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            crate::model::cidr::Cidr::parse(part).map_err(|message| ConfigError::Invalid {
                name: "monitoring-allowlist",
                message,
            })
        })
        .collect()
}

/// The default of [`ServeConfig::shutdown_grace`]: long enough for a typical push or clone to
/// finish, short enough for a service manager's stop timeout (systemd's is 90 s).
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;

/// Tuning of the job runner, git and webhook deliveries. Defaults follow GitLab where GitLab has a number, and say why where it has not.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Serve the API and hosting only and run no jobs (mirror updates, webhook deliveries): on a
    /// multi-node PostgreSQL installation, other nodes run them. Pushes, syncs and webhook
    /// events are still queued.
    pub api_only: bool,
    /// Retry delay for protected-only mirrors, in seconds (GitLab: 60).
    pub retry_delay_protected_secs: u64,
    /// Retry delay for other mirrors, in seconds (GitLab: 300).
    pub retry_delay_secs: u64,
    /// Mirror updates (and lost push recordings) running at once on this node.
    pub max_concurrent_updates: usize,
    /// Webhook deliveries running at once on this node.
    pub max_concurrent_hook_deliveries: usize,
    /// Notification e-mails being sent at once from this node.
    pub max_concurrent_emails: usize,
    /// Updates running at once against one remote host.
    pub max_updates_per_host: usize,
    /// Deadline of one git process, in seconds.
    pub git_timeout_secs: u64,
    /// How long a worker's claim on an update lasts before another worker may take it over, in
    /// seconds. The worker renews it while it runs.
    pub lease_secs: u64,
    /// How long one webhook delivery may take, connection and answer together, in seconds
    /// (GitLab's `webhook_timeout`).
    pub webhook_timeout_secs: u64,
    /// How often each push mirror asks its remote about every LFS object again (and re-uploads
    /// what the remote lost), in seconds.
    pub lfs_full_check_interval_secs: u64,
    /// Imports and pull-mirror syncs running at once on this node.
    pub max_concurrent_pulls: usize,
    /// The shortest interval a pull mirror may be scheduled at, in seconds.
    pub pull_mirror_min_interval_secs: u64,
    /// Consecutive failed syncs after which a pull mirror is paused (GitLab: 14).
    pub pull_mirror_max_failures: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            api_only: false,
            retry_delay_protected_secs: 60,
            retry_delay_secs: 300,
            // Two per core: updates mostly wait on the network, not the CPU.
            max_concurrent_updates: 2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            // A delivery waits on its receiver (at most the webhook timeout), not on the CPU;
            // eight keep one slow receiver from delaying the others' events by much.
            max_concurrent_hook_deliveries: 8,
            // Mail is rare (a mirror's failure streak) and one SMTP relay takes it in turn.
            max_concurrent_emails: 2,
            // Four at once is what a typical forge tolerates from one client without throttling.
            max_updates_per_host: 4,
            // An hour covers a first push of a very large repository over a slow link.
            git_timeout_secs: 3600,
            // Short enough that a crashed node's work resumes within seconds.
            lease_secs: 30,
            // GitLab's default: a receiver should answer at once and work afterwards.
            webhook_timeout_secs: 10,
            // Daily: a remote that lost objects is noticed within a day, and a project with
            // 100,000 objects costs its remote 1,000 batch answers a day, nothing to a forge.
            lfs_full_check_interval_secs: 86_400,
            // A fetch mostly waits on the network; four keep a slow upstream from holding
            // back the others.
            max_concurrent_pulls: 4,
            // A minute: an upstream's webhook triggers a sync at once anyway.
            pull_mirror_min_interval_secs: 60,
            pull_mirror_max_failures: 14,
        }
    }
}

/// The TOML file's shape: every key optional, names as the long flags with `_` for `-`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub external_url: Option<String>,
    pub allow_local_network: Option<bool>,
    pub secret_key_file: Option<PathBuf>,
    /// `[storages]` table: `name = "path"`.
    pub storages: Option<std::collections::BTreeMap<String, PathBuf>>,
    pub retry_delay_protected_secs: Option<u64>,
    pub retry_delay_secs: Option<u64>,
    pub max_concurrent_updates: Option<usize>,
    pub max_concurrent_hook_deliveries: Option<usize>,
    pub max_concurrent_emails: Option<usize>,
    pub max_updates_per_host: Option<usize>,
    pub git_timeout_secs: Option<u64>,
    pub lease_secs: Option<u64>,
    pub api_only: Option<bool>,
    pub shutdown_grace_secs: Option<u64>,
    pub webhook_timeout_secs: Option<u64>,
    pub lfs_full_check_interval_secs: Option<u64>,
    pub max_concurrent_pulls: Option<usize>,
    pub pull_mirror_min_interval_secs: Option<u64>,
    pub pull_mirror_max_failures: Option<u64>,
    pub monitoring_allowlist: Option<Vec<String>>,
    pub smtp_url: Option<String>,
    pub smtp_from: Option<String>,
    pub lfs_max_object_size: Option<u64>,
    pub lfs_max_project_size: Option<u64>,
    pub lfs_s3_endpoint: Option<String>,
    pub lfs_s3_bucket: Option<String>,
    pub lfs_s3_region: Option<String>,
    pub lfs_s3_presigned_downloads: Option<bool>,
    pub lfs_s3_access_key_id: Option<String>,
    pub lfs_s3_secret_access_key: Option<String>,
    pub ssh_listen: Option<String>,
    pub ssh_user: Option<String>,
    pub external_ssh_url: Option<String>,
    pub ssh_max_unauthenticated_per_ip: Option<usize>,
    pub ssh_handshake_timeout_secs: Option<u64>,
    pub ssh_idle_timeout_secs: Option<u64>,
    pub ssh_max_sessions_per_user: Option<usize>,
}

/// A configuration problem a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for {name}: {message}")]
    Invalid { name: &'static str, message: String },
}

impl FileConfig {
    /// Reads the TOML file, or an empty config when no file was given.
    pub fn load(path: Option<&Path>) -> Result<FileConfig, ConfigError> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })
    }
}

impl StoreConfig {
    /// Resolves the store settings from already-merged optional values.
    pub fn resolve(
        data_dir: Option<PathBuf>,
        database_url: Option<String>,
        secret_key_file: Option<PathBuf>,
    ) -> StoreConfig {
        let data_dir = data_dir.unwrap_or_else(|| PathBuf::from("./data"));
        let data_dir = std::path::absolute(&data_dir).unwrap_or(data_dir);
        let database_url = database_url.unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("pushmirror.db").display()
            )
        });
        let secret_key_file = secret_key_file.unwrap_or_else(|| data_dir.join("secret.key"));
        StoreConfig {
            data_dir,
            database_url,
            secret_key_file,
            storages: Vec::new(),
        }
    }

    /// Every storage this node serves and its directory: the configured ones, and `default` in
    /// `<data-dir>/repositories` unless it was configured elsewhere (new projects go there).
    pub fn storage_dirs(&self) -> Vec<(StorageName, PathBuf)> {
        let mut dirs = self.storages.clone();
        if !dirs.iter().any(|(n, _)| n.as_str() == StorageName::DEFAULT) {
            dirs.insert(
                0,
                (
                    StorageName::default_storage(),
                    self.data_dir.join("repositories"),
                ),
            );
        }
        dirs
    }
}

/// Parses one `--storage NAME=PATH` (a relative path is taken from the working directory).
pub fn parse_storage(s: &str) -> Result<(StorageName, PathBuf), ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        name: "storage",
        message,
    };
    let (name, path) = s
        .split_once('=')
        .ok_or_else(|| invalid(format!("'{s}' is not NAME=PATH")))?;
    let name = StorageName::parse(name).map_err(invalid)?;
    if path.is_empty() {
        return Err(invalid(format!("storage '{name}' has no path")));
    }
    let path = PathBuf::from(path);
    Ok((name, std::path::absolute(&path).unwrap_or(path)))
}

/// Parses a listen address, naming the setting in the error.
pub fn parse_listen(s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| ConfigError::Invalid {
        name: "listen",
        message: format!("'{s}' is not an address like 127.0.0.1:8080"),
    })
}

/// Checks and normalises an external URL (scheme http/https, no trailing slash).
pub fn parse_external_url(s: &str) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(s).map_err(|e| ConfigError::Invalid {
        name: "external-url",
        message: format!("'{s}': {e}"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::Invalid {
            name: "external-url",
            message: format!("'{s}' must start with http:// or https://"),
        });
    }
    Ok(s.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_endpoints_are_https_or_loopback_http_without_credentials() {
        for (endpoint, ok) in [
            ("https://s3.example.com", true),
            ("https://s3.example.com/", true),
            ("http://127.0.0.1:9000", true),
            ("http://[::1]:9000", true),
            ("http://localhost:9000", true),
            ("http://10.0.0.5:9000", false),
            ("http://s3.example.com", false),
            ("https://key:secret@s3.example.com", false),
            ("ftp://127.0.0.1", false),
            ("not a url", false),
        ] {
            assert_eq!(parse_s3_endpoint(endpoint).is_ok(), ok, "{endpoint}");
        }
        assert_eq!(
            parse_s3_endpoint("https://s3.example.com/").unwrap(),
            "https://s3.example.com"
        );
    }

    #[test]
    fn file_config_rejects_unknown_keys_and_reads_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "listen = \"127.0.0.1:9\"\nallow_local_network = true\n").unwrap();
        let c = FileConfig::load(Some(&p)).unwrap();
        assert_eq!(c.listen.as_deref(), Some("127.0.0.1:9"));
        assert_eq!(c.allow_local_network, Some(true));
        std::fs::write(&p, "lisen = 1\n").unwrap();
        assert!(matches!(
            FileConfig::load(Some(&p)),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            FileConfig::load(Some(&dir.path().join("missing.toml"))),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn every_queue_limit_is_a_toml_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "max_concurrent_updates = 3\nmax_concurrent_hook_deliveries = 5\n\
             max_concurrent_emails = 1\n",
        )
        .unwrap();
        let c = FileConfig::load(Some(&p)).unwrap();
        assert_eq!(
            (
                c.max_concurrent_updates,
                c.max_concurrent_hook_deliveries,
                c.max_concurrent_emails
            ),
            (Some(3), Some(5), Some(1))
        );
    }

    #[test]
    fn external_url_and_listen_are_checked() {
        assert_eq!(parse_external_url("http://h:1/").unwrap(), "http://h:1");
        assert!(parse_external_url("ftp://h").is_err());
        assert!(parse_external_url("nope").is_err());
        assert!(parse_listen("127.0.0.1:0").is_ok());
        assert!(parse_listen("localhost").is_err());
    }

    #[test]
    fn ssh_settings_are_checked() {
        assert_eq!(parse_ssh_listen("off").unwrap(), None);
        assert_eq!(
            parse_ssh_listen("127.0.0.1:0").unwrap(),
            Some("127.0.0.1:0".parse().unwrap())
        );
        assert!(parse_ssh_listen("2222").is_err());
        assert_eq!(parse_ssh_user("git").unwrap(), "git");
        for bad in ["", "-x", "a b", "a@b", &"g".repeat(33)] {
            assert!(parse_ssh_user(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_external_ssh_url("ssh://git@h.example:2222/").unwrap(),
            "ssh://git@h.example:2222"
        );
        assert!(parse_external_ssh_url("ssh://git@h.example").is_ok());
        for bad in [
            "git@h.example",
            "https://git@h.example",
            "ssh://h.example",
            "ssh://git:pw@h.example",
            "ssh://git@h.example/group",
            "ssh://git@h.example?x=1",
        ] {
            assert!(parse_external_ssh_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            SshConfig::default().listen,
            Some("127.0.0.1:2222".parse().unwrap())
        );
    }

    #[test]
    fn store_defaults_live_in_the_data_dir() {
        let s = StoreConfig::resolve(Some(PathBuf::from("/tmp/pm")), None, None);
        assert_eq!(s.database_url, "sqlite:///tmp/pm/pushmirror.db?mode=rwc");
        assert_eq!(s.secret_key_file, PathBuf::from("/tmp/pm/secret.key"));
        let dirs = s.storage_dirs();
        assert_eq!(dirs.len(), 1);
        assert_eq!(dirs[0].0.as_str(), "default");
        assert_eq!(dirs[0].1, PathBuf::from("/tmp/pm/repositories"));
    }

    #[test]
    fn storages_are_parsed_and_default_is_always_served() {
        let (n, p) = parse_storage("b=/srv/b").unwrap();
        assert_eq!((n.as_str(), p), ("b", PathBuf::from("/srv/b")));
        for bad in ["b", "=/x", "B=/x", "b=", "../b=/x"] {
            assert!(parse_storage(bad).is_err(), "{bad}");
        }
        let mut s = StoreConfig::resolve(Some(PathBuf::from("/tmp/pm")), None, None);
        s.storages = vec![parse_storage("b=/srv/b").unwrap()];
        let names: Vec<_> = s
            .storage_dirs()
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(names, ["default", "b"]);
        s.storages = vec![parse_storage("default=/srv/d").unwrap()];
        assert_eq!(
            s.storage_dirs(),
            vec![parse_storage("default=/srv/d").unwrap()]
        );
    }
}
