//! Where git LFS objects' bytes live: the object store seam ([`LfsObjects`]), reached from the
//! composition root as `app.lfs_objects`. Objects are content-addressed (`Oid::fanout_path`),
//! one copy per oid however many projects link it; which project may see which object is the
//! database's business (`store::lfs`), never this module's.
//!
//! Two backends: each storage's own `lfs-objects/` directory (`local`), or one S3-compatible
//! bucket for every storage (`s3`). Either way an upload is first received into a
//! [`StagedObject`], a private (0600) temporary file beside the objects, hashed and counted as it
//! streams in; only a staged file whose SHA-256 and size the caller checked is
//! [installed](LfsObjects::install) under its oid, so a wrong or cut-off upload leaves nothing.
//! Bytes stream in both directions; no object is ever held in memory whole.

mod local;
mod s3;

use std::path::PathBuf;
use std::pin::Pin;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::model::lfs::Oid;
use crate::model::storage::StorageName;
use crate::storage::{NotServed, Storages};

/// How much of an upload is read from the client per write to the staged file: large enough
/// that a 1 GB upload is a few thousand writes, small enough to be nothing beside the 64 MB a
/// transfer may cost.
const STAGE_CHUNK: usize = 256 * 1024;

/// An object being read: its size and its bytes as a stream.
pub struct ObjectRead {
    pub size: u64,
    pub body: Pin<Box<dyn AsyncRead + Send>>,
}

/// The object store failed.
#[derive(Debug, thiserror::Error)]
pub enum LfsStoreError {
    #[error(transparent)]
    NotServed(#[from] NotServed),
    #[error("LFS object storage: {0}")]
    Io(#[from] std::io::Error),
    /// Reading the upload's body failed (the client went away or sent a broken body).
    #[error("reading the upload: {0}")]
    Body(std::io::Error),
    /// The S3 endpoint failed or refused (its message, which holds no credentials).
    #[error("LFS object storage (S3): {0}")]
    Remote(String),
}

/// An upload received into a private temporary file: its SHA-256 and size as they streamed
/// in. Dropping it removes the file.
pub struct StagedObject {
    file: tempfile::TempPath,
    /// The content's SHA-256, as an oid would spell it.
    pub sha256: String,
    /// Bytes received.
    pub size: u64,
    /// Whether the body ended before `limit` bytes: false when the client sent more and
    /// receiving stopped.
    pub complete: bool,
}

/// The object store: a backend and the storages whose directories it may use.
pub struct LfsObjects {
    storages: Storages,
    backend: Backend,
}

enum Backend {
    /// `<storage root>/lfs-objects/<fanout>`.
    Local,
    /// One bucket for every storage.
    S3(s3::S3Objects),
}

impl LfsObjects {
    /// Objects in each storage's `lfs-objects/` directory.
    pub fn local(storages: Storages) -> LfsObjects {
        LfsObjects {
            storages,
            backend: Backend::Local,
        }
    }

    /// Objects in one S3-compatible bucket (staged on `storages`' disks while checked).
    pub fn s3(
        storages: Storages,
        config: &crate::config::S3Config,
    ) -> Result<LfsObjects, LfsStoreError> {
        Ok(LfsObjects {
            storages,
            backend: Backend::S3(s3::S3Objects::new(config)?),
        })
    }

    /// Whether every storage shares one copy of each object (S3), rather than each storage
    /// keeping its own (local directories).
    pub fn shared_across_storages(&self) -> bool {
        matches!(self.backend, Backend::S3(_))
    }

    /// The object `oid` as `storage` holds it, or `None` when it holds no such object.
    pub async fn open(
        &self,
        storage: &StorageName,
        oid: &Oid,
    ) -> Result<Option<ObjectRead>, LfsStoreError> {
        match &self.backend {
            Backend::Local => local::open(&self.root(storage)?, oid).await,
            Backend::S3(s3) => s3.open(oid).await,
        }
    }

    /// The size of the object `oid` in `storage`, or `None` when it holds none.
    pub async fn size(
        &self,
        storage: &StorageName,
        oid: &Oid,
    ) -> Result<Option<u64>, LfsStoreError> {
        match &self.backend {
            Backend::Local => local::size(&self.root(storage)?, oid).await,
            Backend::S3(s3) => s3.size(oid).await,
        }
    }

    /// Receives `body` into a private temporary file of `storage`, hashing and counting it, and
    /// stops after `limit` bytes (the object is then too large, and `complete` is false).
    pub async fn stage(
        &self,
        storage: &StorageName,
        mut body: Pin<Box<dyn AsyncRead + Send>>,
        limit: u64,
    ) -> Result<StagedObject, LfsStoreError> {
        let dir = self.root(storage)?.join("tmp");
        tokio::fs::create_dir_all(&dir).await?;
        // tempfile creates the file 0600: never world-readable.
        let temp = tokio::task::spawn_blocking(move || tempfile::NamedTempFile::new_in(dir))
            .await
            .map_err(std::io::Error::other)??;
        let (file, path) = temp.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; STAGE_CHUNK];
        let complete = loop {
            let n = body.read(&mut buf).await.map_err(LfsStoreError::Body)?;
            if n == 0 {
                break true;
            }
            size += n as u64;
            if size > limit {
                break false;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).await?;
        };
        file.sync_all().await?;
        Ok(StagedObject {
            file: path,
            sha256: hex::encode(hasher.finalize()),
            size,
            complete,
        })
    }

    /// Makes a staged upload, whose hash and size the caller checked, the object `oid` of
    /// `storage`; an object already there is kept (same oid, same bytes). The staged file stays
    /// until the `StagedObject` is dropped, so a caller may install it again.
    pub async fn install(
        &self,
        storage: &StorageName,
        oid: &Oid,
        staged: &StagedObject,
    ) -> Result<(), LfsStoreError> {
        match &self.backend {
            Backend::Local => local::install(&self.root(storage)?, oid, &staged.file).await,
            Backend::S3(s3) => s3.install(oid, &staged.file).await,
        }
    }

    /// Removes the object `oid` from `storage`; removing a missing object is no error.
    pub async fn remove(&self, storage: &StorageName, oid: &Oid) -> Result<(), LfsStoreError> {
        match &self.backend {
            Backend::Local => local::remove(&self.root(storage)?, oid).await,
            Backend::S3(s3) => s3.remove(oid).await,
        }
    }

    /// A URL the client may download `oid` from directly for `expires_in`, when the backend
    /// hands such out (S3 with presigned downloads); `None` means download through the server.
    pub async fn download_url(
        &self,
        _storage: &StorageName,
        oid: &Oid,
        expires_in: std::time::Duration,
    ) -> Result<Option<String>, LfsStoreError> {
        match &self.backend {
            Backend::Local => Ok(None),
            Backend::S3(s3) => s3.download_url(oid, expires_in).await,
        }
    }

    /// The storages whose directories this store uses (every served one).
    pub fn storages(&self) -> Vec<StorageName> {
        self.storages
            .names()
            .iter()
            .filter_map(|n| StorageName::parse(n).ok())
            .collect()
    }

    /// Removes every staged file of the served storages; returns how many. Call only while no
    /// upload runs on this node (at start-up): each storage is served by one node, so a staged
    /// file then is one a killed server left behind.
    pub async fn clear_staging(&self) -> Result<usize, LfsStoreError> {
        let mut removed = 0;
        for name in self.storages() {
            let dir = self.root(&name)?.join("tmp");
            let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
                continue;
            };
            while let Some(entry) = entries.next_entry().await? {
                if entry.file_type().await?.is_file() {
                    tokio::fs::remove_file(entry.path()).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    fn root(&self, storage: &StorageName) -> Result<PathBuf, NotServed> {
        self.storages.lfs_root(storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &'static [u8]) -> Pin<Box<dyn AsyncRead + Send>> {
        Box::pin(bytes)
    }

    #[tokio::test]
    async fn stages_privately_installs_once_and_reads_back() {
        use std::os::unix::fs::PermissionsExt;
        let data = tempfile::tempdir().unwrap();
        let name = StorageName::default_storage();
        let storages =
            Storages::open_all(&[(name.clone(), data.path().join("repos"))], data.path()).unwrap();
        let objects = LfsObjects::local(storages);
        let body: &'static [u8] = b"hello lfs";
        let staged = objects.stage(&name, reader(body), 100).await.unwrap();
        assert_eq!(staged.size, body.len() as u64);
        assert!(staged.complete);
        assert_eq!(staged.sha256, hex::encode(Sha256::digest(body)));
        let mode = std::fs::metadata(&staged.file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "staged files are private: {mode:o}");
        let oid = Oid::parse(&staged.sha256).unwrap();
        assert!(objects.open(&name, &oid).await.unwrap().is_none());
        objects.install(&name, &oid, &staged).await.unwrap();
        objects.install(&name, &oid, &staged).await.unwrap();
        drop(staged);
        let mut read = objects.open(&name, &oid).await.unwrap().unwrap();
        assert_eq!(read.size, body.len() as u64);
        let mut back = Vec::new();
        read.body.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, body);
        assert_eq!(objects.size(&name, &oid).await.unwrap(), Some(9));
        // Nothing staged is left behind once the staged object is dropped.
        let tmp = data.path().join("repos/lfs-objects/tmp");
        assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 0);
        objects.remove(&name, &oid).await.unwrap();
        objects.remove(&name, &oid).await.unwrap();
        assert!(objects.open(&name, &oid).await.unwrap().is_none());
        // A body longer than the limit stops being read and is not complete.
        let staged = objects.stage(&name, reader(body), 4).await.unwrap();
        assert!(!staged.complete);
    }
}
