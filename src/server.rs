//! Assembling and running a server: open the store and the key, build the shared state, serve
//! HTTP on an already-bound listener until `shutdown` resolves, and run the engine beside it.
//! Taking a bound listener lets tests start the real server on `127.0.0.1:0`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::config::{ServeConfig, StoreConfig};
use crate::git::GitRunner;
use crate::http::{app, AppInner, AppState};
use crate::model::url::NetworkPolicy;
use crate::secret::{Cipher, SecretError};
use crate::store::{Store, StoreError};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("cannot prepare git: {0}")]
    Git(std::io::Error),
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// Opened store resources shared by `serve` and `token create`.
pub struct Opened {
    pub store: Store,
    pub cipher: Cipher,
}

/// Creates the data dir, opens and migrates the store, and loads (or creates) the secret key.
pub async fn open(config: &StoreConfig) -> Result<Opened, StartError> {
    std::fs::create_dir_all(config.repositories_dir())
        .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
    let store = Store::open(&config.database_url).await?;
    let cipher = Cipher::load_or_create(&config.secret_key_file, true)?;
    Ok(Opened { store, cipher })
}

/// Builds the shared state of a server.
pub async fn build_state(config: &ServeConfig) -> Result<AppState, StartError> {
    let opened = open(&config.store).await?;
    let git = GitRunner::new(
        &config.store.data_dir.join("git-home"),
        Duration::from_secs(config.engine.git_timeout_secs),
    )
    .map_err(StartError::Git)?;
    Ok(AppState::new(AppInner {
        store: opened.store,
        cipher: opened.cipher,
        git,
        repositories_dir: config.store.repositories_dir(),
        data_dir: config.store.data_dir.clone(),
        engine: config.engine.clone(),
        token_cache: Default::default(),
        external_url: config.external_url.clone(),
        network_policy: NetworkPolicy {
            allow_local_network: config.allow_local_network,
        },
        engine_wakeup: Arc::new(Notify::new()),
    }))
}

/// Serves HTTP and runs the engine until `shutdown` resolves; then stops the engine, which hands
/// running updates back to the queue.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let engine = (!state.engine.api_only).then(|| crate::engine::spawn(state.clone()));
    let app = app(state);
    // Without TCP_NODELAY, a small write that follows another (a streamed git response, the
    // last chunk of a body) waits for the client's delayed ACK: up to 40 ms per exchange.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(StartError::Serve);
    if let Some(engine) = engine {
        engine.shutdown().await;
    }
    served
}
