//! The batch API's decision (<https://github.com/git-lfs/git-lfs/blob/main/docs/api/batch.md>):
//! for each object a request names, what the client gets. A valid object (a 64-lowercase-hex
//! oid, a non-negative size) that the project links is downloadable and needs no upload; one it
//! does not link must be uploaded (even when another project holds it: knowing an oid grants
//! nothing) and is missing for a download. An invalid object, or one above the size limit, is a
//! per-object error; a request naming too many objects, none valid, or more bytes than the
//! project may hold is refused as a whole.

use std::collections::{BTreeMap, BTreeSet};

use crate::app::App;
use crate::model::entities::Project;
use crate::model::lfs::Oid;
use crate::service::error::{Limit, ServiceError};

use super::Operation;

/// The most objects one batch request may name: GitLab's and the git-lfs client's batch size
/// (the client sends at most 100 at a time by default), with room for other clients.
pub const MAX_BATCH_OBJECTS: usize = 1000;

/// One object as a request names it; `size` is `None` when it is not a non-negative integer.
#[derive(Debug, Clone)]
pub struct Requested {
    pub oid: String,
    pub size: Option<u64>,
}

/// What the client gets for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Upload: the project does not link it. Download: the project links it (`size` is the
    /// stored size).
    Transfer { oid: Oid, size: u64 },
    /// Upload only: the project links it already; nothing to send.
    Present { oid: Oid, size: u64 },
    /// Download only: the project does not link it (404).
    Missing { oid: Oid, size: u64 },
    /// Not a valid object, or too large (422); the message says which.
    Invalid {
        oid: String,
        size: Option<u64>,
        message: String,
    },
}

/// Decides every object of a batch request for `op` on `project` (whose access was checked).
pub async fn decide(
    app: &App,
    project: &Project,
    op: Operation,
    objects: &[Requested],
) -> Result<Vec<Decision>, ServiceError> {
    if objects.len() > MAX_BATCH_OBJECTS {
        return Err(ServiceError::LimitReached(Limit::LfsBatchObjects(
            MAX_BATCH_OBJECTS,
        )));
    }
    let max_object = app.lfs.max_object_size;
    let checked: Vec<Result<(Oid, u64), String>> = objects
        .iter()
        .map(|o| match (Oid::parse(&o.oid), o.size) {
            (None, _) => Err("Invalid oid: an oid is 64 lowercase hex characters".to_owned()),
            (_, None) => Err("Invalid size: a size is a non-negative integer".to_owned()),
            (Some(_), Some(size)) if op == Operation::Upload && size > max_object => Err(format!(
                "Size {size} exceeds the limit of {max_object} bytes per object"
            )),
            (Some(oid), Some(size)) => Ok((oid, size)),
        })
        .collect();
    let valid: Vec<&str> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok().map(|(oid, _)| oid.as_str()))
        .collect();
    if valid.is_empty() {
        let first = checked
            .iter()
            .find_map(|c| c.as_ref().err().cloned())
            .unwrap_or_else(|| "The request names no objects".to_owned());
        return Err(ServiceError::field("objects", first));
    }
    let linked: BTreeMap<String, u64> = app
        .store
        .lfs_linked(project.id, &valid)
        .await?
        .into_iter()
        .map(|l| (l.oid, l.size))
        .collect();
    if op == Operation::Upload && app.lfs.max_project_size > 0 {
        let mut new: BTreeSet<&Oid> = BTreeSet::new();
        let mut adding = 0u64;
        for (oid, size) in checked.iter().flatten() {
            if !linked.contains_key(oid.as_str()) && new.insert(oid) {
                adding = adding.saturating_add(*size);
            }
        }
        let current = app.store.lfs_project_size(project.id).await?;
        if adding > 0 && current.saturating_add(adding) > app.lfs.max_project_size {
            return Err(ServiceError::LimitReached(Limit::LfsProjectSize(
                app.lfs.max_project_size,
            )));
        }
    }
    Ok(objects
        .iter()
        .zip(checked)
        .map(|(requested, checked)| match checked {
            Err(message) => Decision::Invalid {
                oid: requested.oid.clone(),
                size: requested.size,
                message,
            },
            Ok((oid, size)) => match (op, linked.get(oid.as_str())) {
                (Operation::Upload, None) => Decision::Transfer { oid, size },
                (Operation::Upload, Some(&stored)) => Decision::Present { oid, size: stored },
                (Operation::Download, Some(&stored)) => Decision::Transfer { oid, size: stored },
                (Operation::Download, None) => Decision::Missing { oid, size },
            },
        })
        .collect())
}
