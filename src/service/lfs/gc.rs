//! Removing the LFS objects a deleted project leaves unlinked.
//!
//! The race with an upload of the same oid by another project is settled by the object's row
//! lock in the database. A removal takes the lock, counts the links, deletes the row when none
//! is left, removes the bytes and only then commits; an upload installs its bytes, then takes
//! the lock (waiting for a removal in progress), checks the bytes are still there (putting them
//! back from its staged file if the removal took them), links and commits, and only then
//! acknowledges. Either the removal saw the link and kept the bytes, or the upload saw them gone
//! and put them back: an acknowledged upload never loses its bytes. The cost is one lock per
//! object and an upload's staged copy kept until its link commits.
//!
//! Were the server to stop between a project's deletion and this pass, the next start removes
//! the objects no project links ([`at_start`], the same protocol), from this node's storages (or
//! the shared store); with several nodes, another node's storages keep their unreachable copy.
//! Bytes installed by an upload that never linked them (a crash between the two) stay as
//! unreachable files until an upload of the same oid reuses them. Nothing linked is ever
//! removed.

use crate::app::App;
use crate::model::lfs::Oid;
use crate::model::storage::StorageName;

/// At start-up, before serving: removes the staged files a killed server left behind and the
/// objects no project links. Failures are logged.
pub async fn at_start(app: &App) {
    match app.lfs_objects.clear_staging().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            files = n,
            "removed staged LFS uploads a stopped server left"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot clear staged LFS uploads"),
    }
    let oids = match app.store.lfs_unlinked_oids().await {
        Ok(oids) => oids,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for unlinked LFS objects");
            return;
        }
    };
    let storages = app.lfs_objects.storages();
    for oid in oids.iter().filter_map(|o| Oid::parse(o)) {
        let tx = match app.store.lfs_begin_removal(oid.as_str(), None).await {
            Ok(Some(tx)) => tx,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(%oid, error = %e, "cannot remove an unlinked LFS object");
                continue;
            }
        };
        let mut removed = Ok(());
        for storage in &storages {
            removed = removed.and(app.lfs_objects.remove(storage, &oid).await);
            if app.lfs_objects.shared_across_storages() {
                break;
            }
        }
        match removed {
            Ok(()) => {
                if let Err(e) = tx.commit().await {
                    tracing::warn!(%oid, error = %e, "cannot record an LFS object's removal");
                }
            }
            Err(e) => tracing::warn!(%oid, error = %e, "cannot remove an unlinked LFS object"),
        }
    }
}

/// Removes from the object store each of `oids` (the objects of a project on `storage` that is
/// gone) that no project still links: with one directory per storage, no project on that
/// storage; with one shared store, no project at all. Failures are logged, never raised: the
/// project is gone either way.
pub async fn remove_unlinked(app: &App, storage: &StorageName, oids: &[String]) {
    let scope = (!app.lfs_objects.shared_across_storages()).then(|| storage.as_str());
    for oid in oids {
        let Some(oid) = Oid::parse(oid) else { continue };
        let tx = match app.store.lfs_begin_removal(oid.as_str(), scope).await {
            Ok(Some(tx)) => tx,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(%oid, error = %e, "cannot remove an unlinked LFS object");
                continue;
            }
        };
        if let Err(e) = app.lfs_objects.remove(storage, &oid).await {
            // Rolled back: the row stays, and so may the bytes.
            tracing::warn!(%oid, error = %e, "cannot remove an unlinked LFS object");
            continue;
        }
        if let Err(e) = tx.commit().await {
            tracing::warn!(%oid, error = %e, "cannot record an LFS object's removal");
        }
    }
}
