//! The composition root: [`App`] holds each dependency of a pushmirror process exactly once, and
//! every entry point (`serve`, `token create`, `user create`, `user set-password`, `hook
//! post-receive`, the tests, the bench) builds
//! it here the same way. Everything below receives what it needs from it; nothing else opens
//! the database, loads the key or configures git.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::{Clock, SystemClock};
use crate::config::{ServeConfig, Tuning};
use crate::git::GitRunner;
use crate::model::url::NetworkPolicy;
use crate::secret::{Cipher, SecretError};
use crate::shutdown::Shutdown;
use crate::sign_in_throttle::SignInThrottle;
use crate::storage::{StorageError, Storages};
use crate::store::{Store, StoreError};
use crate::token_cache::TokenCache;

/// Why a process could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot set up LFS object storage: {0}")]
    LfsStore(#[from] crate::lfs_store::LfsStoreError),
    #[error("cannot prepare git: {0}")]
    Git(std::io::Error),
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    SshHostKey(#[from] crate::ssh::host_key::HostKeyError),
}

/// Every shared dependency of a pushmirror process.
pub struct App {
    /// The database.
    pub store: Store,
    /// The database's URL as configured (tests open connections of their own with it; the
    /// server opens the database only through `store`).
    pub database_url: String,
    /// Seals and opens mirror credentials.
    pub cipher: Cipher,
    /// Runs git (repository creation, smart HTTP, pushes) with the configured deadline.
    pub git: GitRunner,
    /// The repository storages this node serves: the only maker of repository paths.
    pub storages: Storages,
    /// Where git LFS objects' bytes live (each storage's `lfs-objects/`, or S3).
    pub lfs_objects: crate::lfs_store::LfsObjects,
    /// Git LFS limits and object storage settings.
    pub lfs: crate::config::LfsConfig,
    /// The time for everything stored or scheduled.
    pub clock: Arc<dyn Clock>,
    /// Wakes the job runner after an enqueue.
    pub jobs_wakeup: Arc<Notify>,
    /// Stops and tracks every task of the process.
    pub shutdown: Shutdown,
    /// Base URL for links in responses, without trailing `/`.
    pub external_url: String,
    /// Which mirror destinations the operator allows.
    pub network_policy: NetworkPolicy,
    /// Tuning of the runner, git and deliveries (retries, queue concurrency, deadlines, leases).
    pub tuning: Tuning,
    /// How long in-flight requests may finish after shutdown was asked for.
    pub shutdown_grace: Duration,
    /// Recently authenticated tokens.
    pub token_cache: TokenCache,
    /// This node's failed web sign-ins, to slow repeated ones down.
    pub sign_in_throttle: SignInThrottle,
    /// This node's Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// Clients that may read health and metrics.
    pub monitoring_allowlist: Vec<crate::model::cidr::Cidr>,
    /// Sends notification e-mail, when SMTP is configured.
    pub mailer: Option<crate::mail::Mailer>,
    /// How much work runs against one remote host at once, across every kind that reaches one.
    pub host_limits: crate::remote::HostLimits,
    /// The built-in SSH server's settings.
    pub ssh: crate::config::SshConfig,
    /// Where SSH clients reach this server (`--external-ssh-url`, else the SSH listen address),
    /// for SSH clone URLs; `None` when neither says (SSH off and no external URL).
    pub ssh_clone_base: Option<crate::model::clone_url::SshBase>,
    /// The built-in SSH server's host key (`<data-dir>/ssh_host_ed25519_key`).
    pub ssh_host_key_file: std::path::PathBuf,
}

/// The shared state every HTTP handler receives. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl App {
    /// Builds the process's dependencies from its configuration, with the system clock: creates
    /// the data directory, opens and migrates the store, loads (or creates) the secret key.
    pub async fn build(config: &ServeConfig) -> Result<Arc<App>, StartError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`App::build`] with another clock (tests move a manual one).
    pub async fn build_with_clock(
        config: &ServeConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<App>, StartError> {
        // The data directory first: SQLite's default file is in it.
        Self::make_data_dir(config)?;
        let store = Store::open(&config.store.database_url).await?;
        Self::build_on(config, clock, store)
    }

    /// [`App::build`] on a database the server already migrated ([`Store::open_migrated`]):
    /// for the processes OpenSSH starts per connection (`ssh authorized-keys`, `ssh serve`).
    pub async fn build_without_migrating(config: &ServeConfig) -> Result<Arc<App>, StartError> {
        Self::make_data_dir(config)?;
        let store = Store::open_migrated(&config.store.database_url).await?;
        Self::build_on(config, Arc::new(SystemClock), store)
    }

    fn make_data_dir(config: &ServeConfig) -> Result<(), StartError> {
        let dir = &config.store.data_dir;
        std::fs::create_dir_all(dir).map_err(|e| StartError::DataDir(dir.display().to_string(), e))
    }

    fn build_on(
        config: &ServeConfig,
        clock: Arc<dyn Clock>,
        store: Store,
    ) -> Result<Arc<App>, StartError> {
        let store_cfg = &config.store;
        let storages = Storages::open_all(&store_cfg.storage_dirs(), &store_cfg.data_dir)?;
        let cipher = Cipher::load_or_create(&store_cfg.secret_key_file, true)?;
        let git = GitRunner::new(
            &store_cfg.data_dir.join("git-home"),
            Duration::from_secs(config.tuning.git_timeout_secs),
        )
        .map_err(StartError::Git)?;
        Ok(Arc::new(App {
            store,
            database_url: store_cfg.database_url.clone(),
            cipher,
            git,
            lfs_objects: match &config.lfs.s3 {
                Some(s3) => crate::lfs_store::LfsObjects::s3(storages.clone(), s3)?,
                None => crate::lfs_store::LfsObjects::local(storages.clone()),
            },
            lfs: config.lfs.clone(),
            storages,
            clock,
            jobs_wakeup: Arc::new(Notify::new()),
            shutdown: Shutdown::new(),
            external_url: config.external_url.clone(),
            network_policy: NetworkPolicy {
                allow_local_network: config.allow_local_network,
            },
            tuning: config.tuning.clone(),
            shutdown_grace: config.shutdown_grace,
            token_cache: TokenCache::default(),
            sign_in_throttle: Default::default(),
            metrics: crate::metrics::Metrics::default(),
            monitoring_allowlist: config.monitoring_allowlist.clone(),
            mailer: config.smtp.clone().map(crate::mail::Mailer::new),
            host_limits: crate::remote::HostLimits::new(config.tuning.max_updates_per_host.max(1)),
            ssh: config.ssh.clone(),
            ssh_clone_base: ssh_clone_base(config),
            ssh_host_key_file: store_cfg.data_dir.join(crate::ssh::host_key::HOST_KEY_FILE),
        }))
    }
}

/// Where SSH clients reach the server: `--external-ssh-url`, else `ssh://<user>@<listen address>`
/// (an unspecified address, `0.0.0.0`, named by the external URL's host).
fn ssh_clone_base(config: &ServeConfig) -> Option<crate::model::clone_url::SshBase> {
    use crate::model::clone_url::SshBase;
    if let Some(url) = &config.ssh.external_ssh_url {
        return SshBase::parse(url);
    }
    let listen = config.ssh.listen?;
    let host = if listen.ip().is_unspecified() {
        url::Url::parse(&config.external_url)
            .ok()?
            .host_str()?
            .to_owned()
    } else if listen.is_ipv6() {
        format!("[{}]", listen.ip())
    } else {
        listen.ip().to_string()
    };
    Some(SshBase {
        user: config.ssh.user.clone(),
        host,
        port: listen.port(),
    })
}
