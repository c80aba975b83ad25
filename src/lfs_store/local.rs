//! LFS objects on local disk: `<storage root>/lfs-objects/<oid[0:2]>/<oid[2:4]>/<oid>`, GitLab's
//! layout with the whole oid as the file name. An object appears by a hard link from its staged
//! file (atomic, on the same file system, and the staged copy stays until its owner drops it), so
//! a reader sees a whole object or none.

use std::path::Path;

use crate::model::lfs::Oid;

use super::{LfsStoreError, ObjectRead};

pub(super) async fn open(root: &Path, oid: &Oid) -> Result<Option<ObjectRead>, LfsStoreError> {
    let file = match tokio::fs::File::open(root.join(oid.fanout_path())).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let size = file.metadata().await?.len();
    Ok(Some(ObjectRead {
        size,
        body: Box::pin(file),
    }))
}

pub(super) async fn size(root: &Path, oid: &Oid) -> Result<Option<u64>, LfsStoreError> {
    match tokio::fs::metadata(root.join(oid.fanout_path())).await {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn install(root: &Path, oid: &Oid, staged: &Path) -> Result<(), LfsStoreError> {
    let target = root.join(oid.fanout_path());
    let dir = target
        .parent()
        .expect("a fanout path has directories")
        .to_owned();
    tokio::fs::create_dir_all(&dir).await?;
    match tokio::fs::hard_link(staged, &target).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    // The link is durable once its directory is.
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)??;
    Ok(())
}

pub(super) async fn remove(root: &Path, oid: &Oid) -> Result<(), LfsStoreError> {
    match tokio::fs::remove_file(root.join(oid.fanout_path())).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}
