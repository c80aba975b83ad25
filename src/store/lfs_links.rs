//! Which LFS objects a project has, read for the push check: an object counts as present for a
//! project only through its `lfs_object_projects` link (GitLab's rule: the project's own LFS
//! objects), so an oid another project uploaded grants nothing here.

use std::collections::BTreeSet;

use sqlx::Row;

use super::{Store, StoreError};
use crate::model::lfs::Oid;

/// Oids asked for in one query: well below SQLite's 32 766 and PostgreSQL's 65 535 bound
/// parameters, and large enough that a push bringing thousands of pointers takes a few queries.
const OIDS_PER_QUERY: usize = 500;

impl Store {
    /// Those of `oids` that project `project_id` links.
    pub async fn lfs_oids_linked(
        &self,
        project_id: i64,
        oids: &[Oid],
    ) -> Result<BTreeSet<Oid>, StoreError> {
        let mut linked = BTreeSet::new();
        for chunk in oids.chunks(OIDS_PER_QUERY) {
            let list = (0..chunk.len())
                .map(|i| format!("${}", i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "select oid from lfs_object_projects where project_id = $1 and oid in ({list})"
            );
            let mut query = sqlx::query(&sql).bind(project_id);
            for oid in chunk {
                query = query.bind(oid.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                let oid: String = row.try_get("oid")?;
                // Only valid oids are ever linked; anything else is not one of ours.
                if let Some(oid) = Oid::parse(&oid) {
                    linked.insert(oid);
                }
            }
        }
        Ok(linked)
    }
}
