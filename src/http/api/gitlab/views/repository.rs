//! GitLab's repository entities: commits, branches, tags.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::git::repository::{CommitInfo, RefInfo};
use crate::service::repository::Branch;

/// A commit entity (GitLab's `Commit`).
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct CommitEntity {
    /// The commit's SHA.
    id: String,
    /// The SHA's first 8 characters.
    short_id: String,
    /// When it was committed (as `committed_date`).
    created_at: String,
    /// The SHAs of its parents.
    parent_ids: Vec<String>,
    /// The message's first line.
    title: String,
    /// The whole message.
    message: String,
    /// The author's name.
    author_name: String,
    /// The author's e-mail address.
    author_email: String,
    /// When it was authored, ISO 8601 with the author's offset.
    authored_date: String,
    /// The committer's name.
    committer_name: String,
    /// The committer's e-mail address.
    committer_email: String,
    /// When it was committed, ISO 8601 with the committer's offset.
    committed_date: String,
    /// The message's trailers: not parsed, always empty.
    trailers: BTreeMap<String, String>,
    /// The message's trailers with every value: not parsed, always empty.
    extended_trailers: BTreeMap<String, Vec<String>>,
    /// The commit's page.
    web_url: String,
}

/// A branch entity (GitLab's `Branch`).
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct BranchEntity {
    /// The branch's name.
    name: String,
    /// The commit it points at.
    commit: CommitEntity,
    /// Whether it is merged into the default branch (never true of the default branch).
    merged: bool,
    /// Whether a protected-branch rule matches it.
    protected: bool,
    /// Whether a matching rule lets Developers push.
    developers_can_push: bool,
    /// Whether a matching rule lets Developers merge.
    developers_can_merge: bool,
    /// Whether the caller may push to it.
    can_push: bool,
    /// Whether it is the project's default branch.
    default: bool,
    /// The branch's page.
    web_url: String,
}

/// A tag entity (GitLab's `Tag`).
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct TagEntity {
    /// The tag's name.
    name: String,
    /// An annotated tag's message; null for a lightweight tag.
    message: Option<String>,
    /// What the tag points at: the commit, or an annotated tag's tag object.
    target: String,
    /// The commit it names.
    commit: CommitEntity,
    /// GitLab's release of the tag: pushmirror has no releases, always null.
    release: Option<TagRelease>,
    /// Whether a protected-tag rule matches it: pushmirror has none, always false.
    protected: bool,
    /// When an annotated tag was made: not recorded, always null.
    created_at: Option<String>,
}

/// GitLab's release of a tag, which pushmirror never has.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // documentation only: `release` is always null
struct TagRelease {
    /// The release's tag.
    tag_name: String,
    /// The release notes.
    description: String,
}

/// A commit entity; `project_url` is the project's web URL.
pub(in crate::http) fn commit(c: &CommitInfo, project_url: &str) -> CommitEntity {
    CommitEntity {
        id: c.id.clone(),
        short_id: c.id.get(..8).unwrap_or(&c.id).to_owned(),
        created_at: c.committed_date.clone(),
        parent_ids: c.parent_ids.clone(),
        title: c.title.clone(),
        message: c.message.clone(),
        author_name: c.author_name.clone(),
        author_email: c.author_email.clone(),
        authored_date: c.authored_date.clone(),
        committer_name: c.committer_name.clone(),
        committer_email: c.committer_email.clone(),
        committed_date: c.committed_date.clone(),
        trailers: BTreeMap::new(),
        extended_trailers: BTreeMap::new(),
        web_url: format!("{project_url}/-/commit/{}", c.id),
    }
}

/// A branch entity.
pub(in crate::http) fn branch(b: &Branch, project_url: &str) -> BranchEntity {
    BranchEntity {
        name: b.info.name.clone(),
        commit: commit(&b.info.commit, project_url),
        merged: b.merged,
        protected: b.protected,
        developers_can_push: b.developers_can_push,
        developers_can_merge: b.developers_can_merge,
        can_push: b.can_push,
        default: b.default,
        web_url: format!("{project_url}/-/tree/{}", b.info.name),
    }
}

/// A tag entity.
pub(in crate::http) fn tag(t: &RefInfo, project_url: &str) -> TagEntity {
    TagEntity {
        name: t.name.clone(),
        message: t.tag_message.clone(),
        target: t.target.clone(),
        commit: commit(&t.commit, project_url),
        release: None,
        protected: false,
        created_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn info() -> CommitInfo {
        CommitInfo {
            id: "0123456789abcdef".into(),
            parent_ids: vec!["fedcba".into()],
            author_name: "A".into(),
            author_email: "a@example.com".into(),
            authored_date: "2020-01-01T00:00:00+01:00".into(),
            committer_name: "C".into(),
            committer_email: "c@example.com".into(),
            committed_date: "2020-01-02T00:00:00+00:00".into(),
            title: "Title".into(),
            message: "Title\n\nBody\n".into(),
        }
    }

    fn gitlab_commit() -> Value {
        json!({
            "id": "0123456789abcdef",
            "short_id": "01234567",
            "created_at": "2020-01-02T00:00:00+00:00",
            "parent_ids": ["fedcba"],
            "title": "Title",
            "message": "Title\n\nBody\n",
            "author_name": "A",
            "author_email": "a@example.com",
            "authored_date": "2020-01-01T00:00:00+01:00",
            "committer_name": "C",
            "committer_email": "c@example.com",
            "committed_date": "2020-01-02T00:00:00+00:00",
            "trailers": {},
            "extended_trailers": {},
            "web_url": "https://h/g/p/-/commit/0123456789abcdef",
        })
    }

    #[test]
    fn commits_branches_and_tags_have_gitlabs_fields() {
        let url = "https://h/g/p";
        assert_eq!(
            serde_json::to_value(commit(&info(), url)).unwrap(),
            gitlab_commit()
        );
        let r = RefInfo {
            name: "feature/x".into(),
            target: "0123456789abcdef".into(),
            tag_message: None,
            commit: info(),
        };
        let b = Branch {
            info: r.clone(),
            merged: false,
            protected: true,
            default: false,
            developers_can_push: false,
            developers_can_merge: true,
            can_push: true,
        };
        assert_eq!(
            serde_json::to_value(branch(&b, url)).unwrap(),
            json!({
                "name": "feature/x",
                "commit": gitlab_commit(),
                "merged": false,
                "protected": true,
                "developers_can_push": false,
                "developers_can_merge": true,
                "can_push": true,
                "default": false,
                "web_url": "https://h/g/p/-/tree/feature/x",
            })
        );
        let annotated = RefInfo {
            tag_message: Some("v1".into()),
            target: "abcd".into(),
            ..r
        };
        assert_eq!(
            serde_json::to_value(tag(&annotated, url)).unwrap(),
            json!({
                "name": "feature/x",
                "message": "v1",
                "target": "abcd",
                "commit": gitlab_commit(),
                "release": null,
                "protected": false,
                "created_at": null,
            })
        );
    }
}
