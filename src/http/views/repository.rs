//! GitLab's repository entities: commits, branches, tags.

use serde_json::{json, Value};

/// A commit entity; `project_url` is the project's web URL.
pub(in crate::http) fn commit(c: &crate::git::repository::CommitInfo, project_url: &str) -> Value {
    json!({
        "id": c.id,
        "short_id": c.id.get(..8).unwrap_or(&c.id),
        "created_at": c.committed_date,
        "parent_ids": c.parent_ids,
        "title": c.title,
        "message": c.message,
        "author_name": c.author_name,
        "author_email": c.author_email,
        "authored_date": c.authored_date,
        "committer_name": c.committer_name,
        "committer_email": c.committer_email,
        "committed_date": c.committed_date,
        "trailers": {},
        "extended_trailers": {},
        "web_url": format!("{project_url}/-/commit/{}", c.id),
    })
}

/// A branch entity.
pub(in crate::http) fn branch(b: &crate::service::repository::Branch, project_url: &str) -> Value {
    json!({
        "name": b.info.name,
        "commit": commit(&b.info.commit, project_url),
        "merged": b.merged,
        "protected": b.protected,
        "developers_can_push": b.developers_can_push,
        "developers_can_merge": b.developers_can_merge,
        "can_push": b.can_push,
        "default": b.default,
        "web_url": format!("{project_url}/-/tree/{}", b.info.name),
    })
}

/// A tag entity.
pub(in crate::http) fn tag(t: &crate::git::repository::RefInfo, project_url: &str) -> Value {
    json!({
        "name": t.name,
        "message": t.tag_message,
        "target": t.target,
        "commit": commit(&t.commit, project_url),
        "release": null,
        "protected": false,
        "created_at": null,
    })
}
