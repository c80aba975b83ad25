//! One object's transfer: receiving an upload (streamed to a private staged file, its SHA-256
//! and size checked against the grant, only then installed and linked; a pull mirror's fetch
//! keeps what it downloads the same way, [`keep`]), verifying one, and opening one for
//! download. A wrong hash or size, or a body cut off, leaves nothing: the
//! staged file goes with the request.
//!
//! Linking takes the object's row lock and, holding it, checks the bytes are still in the
//! object store (installing them again from the staged file if a removal took them since), so
//! an upload that was acknowledged never loses its bytes to a concurrent removal (`gc`).

use std::pin::Pin;

use tokio::io::AsyncRead;

use crate::app::App;
use crate::lfs_store::{LfsStoreError, ObjectRead};
use crate::model::entities::Project;
use crate::model::lfs::Oid;
use crate::service::error::{Resource, ServiceError};

use super::grant::Grant;

/// The object store's failure as the service's: a storage this node does not serve hides the
/// project, as smart HTTP does; anything else is internal.
fn internal(e: LfsStoreError) -> ServiceError {
    match e {
        LfsStoreError::NotServed(_) => ServiceError::NotFound(Resource::Project),
        e => ServiceError::Internal(e.to_string()),
    }
}

/// Receives the object `grant` names into `project`: checks its size and SHA-256, installs it
/// and links it. Returns the bytes received.
pub async fn receive(
    app: &App,
    project: &Project,
    grant: &Grant,
    body: Pin<Box<dyn AsyncRead + Send>>,
) -> Result<u64, ServiceError> {
    keep(app, project, &grant.oid, grant.size, body)
        .await
        .map_err(|e| match e {
            NotKept::CutOff(e) => {
                ServiceError::field("object", format!("the upload was cut off: {e}"))
            }
            NotKept::Size { received, complete } => ServiceError::field(
                "size",
                format!(
                    "the upload's size does not match: {} bytes expected, {received}{} received",
                    grant.size,
                    if complete { "" } else { " or more" }
                ),
            ),
            NotKept::Hash(sha256) => ServiceError::field(
                "oid",
                format!(
                    "the upload's SHA-256 is {sha256}, not the oid {}",
                    grant.oid
                ),
            ),
            NotKept::Failed(e) => e,
        })
}

/// Why bytes offered as an object were not kept.
#[derive(Debug)]
pub(super) enum NotKept {
    /// Reading them failed (the sender went away, or sent a broken body).
    CutOff(std::io::Error),
    /// Not the object's size: `received` bytes (or more, when not `complete`).
    Size { received: u64, complete: bool },
    /// Not the object's bytes: this is their SHA-256.
    Hash(String),
    /// This server failed.
    Failed(ServiceError),
}

impl From<ServiceError> for NotKept {
    fn from(e: ServiceError) -> NotKept {
        NotKept::Failed(e)
    }
}

/// Keeps `body` as the object `oid` of `size` bytes of `project`, as an upload through the
/// batch API and a fetch from a pull mirror's upstream both do: streamed to a staged file and
/// hashed, its size and SHA-256 checked, installed (unless the store has it), then linked under
/// the object's row lock. Returns the bytes kept.
pub(super) async fn keep(
    app: &App,
    project: &Project,
    oid: &Oid,
    size: u64,
    body: Pin<Box<dyn AsyncRead + Send>>,
) -> Result<u64, NotKept> {
    let storage = &project.storage;
    let staged = match app.lfs_objects.stage(storage, body, size).await {
        Ok(staged) => staged,
        Err(LfsStoreError::Body(e)) => return Err(NotKept::CutOff(e)),
        Err(e) => return Err(internal(e).into()),
    };
    if !staged.complete || staged.size != size {
        return Err(NotKept::Size {
            received: staged.size,
            complete: staged.complete,
        });
    }
    if staged.sha256 != oid.as_str() {
        return Err(NotKept::Hash(staged.sha256.clone()));
    }
    // Stored once per oid: bytes another project uploaded are not sent again (they are the
    // same bytes, the hash says so); the check under the lock below covers a removal since.
    if !present(app, project, oid, size).await? {
        app.lfs_objects
            .install(storage, oid, &staged)
            .await
            .map_err(internal)?;
    }
    let now = app.clock.now_ms();
    let mut tx = app
        .store
        .lfs_begin_link(oid.as_str(), size, now)
        .await
        .map_err(ServiceError::from)?;
    // Under the object's lock: a removal that ran between the install and the lock took the
    // bytes; put them back before the link makes them the project's.
    if !present(app, project, oid, size).await? {
        app.lfs_objects
            .install(storage, oid, &staged)
            .await
            .map_err(internal)?;
    }
    tx.lfs_link(project.id, oid.as_str(), now)
        .await
        .map_err(ServiceError::from)?;
    tx.commit().await.map_err(ServiceError::from)?;
    drop(staged);
    Ok(size)
}

/// Whether the object store holds `oid`, whole (`size` bytes), for `project`'s storage.
async fn present(app: &App, project: &Project, oid: &Oid, size: u64) -> Result<bool, ServiceError> {
    let stored = app
        .lfs_objects
        .size(&project.storage, oid)
        .await
        .map_err(internal)?;
    Ok(stored == Some(size))
}

/// Checks `project` links `oid` with `size` bytes (the batch API's `verify` action).
pub async fn verify(
    app: &App,
    project: &Project,
    oid: &Oid,
    size: u64,
) -> Result<(), ServiceError> {
    let linked = app.store.lfs_linked(project.id, &[oid.as_str()]).await?;
    match linked.first() {
        None => Err(ServiceError::RecordNotFound),
        Some(l) if l.size != size => Err(ServiceError::field(
            "size",
            format!("the object has {} bytes, not {size}", l.size),
        )),
        Some(_) => Ok(()),
    }
}

/// Opens `oid` of `project` for download; `RecordNotFound` when the project does not link it.
pub async fn open(app: &App, project: &Project, oid: &Oid) -> Result<ObjectRead, ServiceError> {
    if app
        .store
        .lfs_linked(project.id, &[oid.as_str()])
        .await?
        .is_empty()
    {
        return Err(ServiceError::RecordNotFound);
    }
    match app.lfs_objects.open(&project.storage, oid).await {
        Ok(Some(read)) => Ok(read),
        Ok(None) => Err(ServiceError::Internal(format!(
            "LFS object {oid} of project {} is linked but not in the object store",
            project.id
        ))),
        Err(e) => Err(internal(e)),
    }
}

/// A URL the client may download `oid` from directly, when the object store hands such out.
pub async fn direct_download_url(
    app: &App,
    project: &Project,
    oid: &Oid,
) -> Result<Option<String>, ServiceError> {
    app.lfs_objects
        .download_url(&project.storage, oid, super::grant::GRANT_TTL)
        .await
        .map_err(internal)
}
