//! LFS objects in an S3-compatible bucket (the `object_store` crate's client, path-style
//! requests, SigV4), one bucket for every storage: the key is the object's fanout path
//! (`oid[0:2]/oid[2:4]/oid`). An upload staged and checked on local disk is sent with a
//! buffered multipart writer (a bounded number of bounded parts in memory); reads stream the
//! response body; downloads may be presigned GET URLs.

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ObjectStore, ObjectStoreExt};
use secrecy::ExposeSecret;
use tokio::io::AsyncWriteExt;

use super::{LfsStoreError, ObjectRead};
use crate::config::S3Config;
use crate::model::lfs::Oid;

/// The size of one multipart part held in memory while sending: S3's parts are at least 5 MiB,
/// and 8 MiB keeps a 5 GiB object under S3's 10,000 parts.
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight at once per upload: two keep the link busy while one is being filled, and
/// bound an upload's memory to about three parts.
const PARTS_IN_FLIGHT: usize = 2;

/// One bucket's client.
pub(super) struct S3Objects {
    store: Arc<AmazonS3>,
    /// Hand out presigned GET URLs for downloads.
    pub(super) presigned_downloads: bool,
}

fn remote(e: object_store::Error) -> LfsStoreError {
    LfsStoreError::Remote(e.to_string())
}

fn key(oid: &Oid) -> Path {
    Path::from(oid.fanout_path())
}

impl S3Objects {
    pub(super) fn new(config: &S3Config) -> Result<S3Objects, LfsStoreError> {
        let mut builder = AmazonS3Builder::new()
            .with_endpoint(&config.endpoint)
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(false)
            .with_allow_http(config.endpoint.starts_with("http://"));
        if let Some(id) = &config.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose_secret());
        }
        Ok(S3Objects {
            store: Arc::new(builder.build().map_err(remote)?),
            presigned_downloads: config.presigned_downloads,
        })
    }

    pub(super) async fn open(&self, oid: &Oid) -> Result<Option<ObjectRead>, LfsStoreError> {
        let got = match self.store.get(&key(oid)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(remote(e)),
        };
        let size = got.meta.size;
        let stream = got.into_stream().map_err(std::io::Error::other);
        Ok(Some(ObjectRead {
            size,
            body: Box::pin(tokio_util::io::StreamReader::new(stream)),
        }))
    }

    pub(super) async fn size(&self, oid: &Oid) -> Result<Option<u64>, LfsStoreError> {
        match self.store.head(&key(oid)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(remote(e)),
        }
    }

    pub(super) async fn install(&self, oid: &Oid, staged: &FsPath) -> Result<(), LfsStoreError> {
        let mut file = tokio::fs::File::open(staged).await?;
        let store: Arc<dyn ObjectStore> = self.store.clone();
        let mut writer = BufWriter::with_capacity(store, key(oid), PART_SIZE)
            .with_max_concurrency(PARTS_IN_FLIGHT);
        if let Err(e) = tokio::io::copy(&mut file, &mut writer).await {
            let _ = writer.abort().await;
            return Err(e.into());
        }
        writer.shutdown().await?;
        Ok(())
    }

    pub(super) async fn remove(&self, oid: &Oid) -> Result<(), LfsStoreError> {
        match self.store.delete(&key(oid)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(remote(e)),
        }
    }

    pub(super) async fn download_url(
        &self,
        oid: &Oid,
        expires_in: Duration,
    ) -> Result<Option<String>, LfsStoreError> {
        if !self.presigned_downloads {
            return Ok(None);
        }
        let url = self
            .store
            .signed_url(object_store::signer::Method::GET, &key(oid), expires_in)
            .await
            .map_err(remote)?;
        Ok(Some(url.to_string()))
    }
}
