//! GitLab's SSH key entities: a user's key (`SSHKey`), the same with its user for
//! administrators' look-ups (`SSHKeyWithUser`), a deploy key (`DeployKey`, with both
//! fingerprints), a deploy key as enabled in one project (with `can_push`), and the admin list's
//! deploy key with the projects it writes to and reads. Only the public half of a key exists
//! here; the key line is the normalised one that was stored.

use serde::Serialize;
use utoipa::ToSchema;

use super::projects::{project_simple, ProjectSimpleEntity, Urls};
use super::users::{user_full, UserFullEntity};
use crate::model::entities::{Project, User};
use crate::model::ssh_keys::{DeployKeyLink, SshKey};
use crate::model::time::iso8601_millis;

/// GitLab's SSH key entity.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct SshKeyEntity {
    /// The key's id.
    id: i64,
    /// The key's title.
    title: String,
    /// The public key line (`ssh-ed25519 AAAA… comment`).
    key: String,
    /// When the key was added (ISO 8601, UTC, milliseconds).
    created_at: Option<String>,
    /// When the key stops working (ISO 8601, UTC); null for never.
    expires_at: Option<String>,
    /// When the key last let someone in (ISO 8601, UTC; recorded at most hourly); null if never.
    last_used_at: Option<String>,
    /// What the key is for: `auth`, `signing` or `auth_and_signing`.
    usage_type: &'static str,
}

/// A key with its user, as administrators look keys up.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct SshKeyWithUserEntity {
    #[serde(flatten)]
    key: SshKeyEntity,
    /// The key's user (a deploy key's: who added it); null when there is none.
    user: Option<UserFullEntity>,
}

/// GitLab's deploy key entity.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct DeployKeyEntity {
    #[serde(flatten)]
    key: SshKeyEntity,
    /// The MD5 fingerprint, `aa:bb:…`.
    fingerprint: String,
    /// The SHA-256 fingerprint, `SHA256:…`.
    fingerprint_sha256: String,
}

/// A deploy key as enabled in one project.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct ProjectDeployKeyEntity {
    #[serde(flatten)]
    key: DeployKeyEntity,
    /// Whether the key may push to this project.
    can_push: bool,
}

/// A deploy key with the projects it is enabled in, as administrators list them.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct DeployKeyWithProjectsEntity {
    #[serde(flatten)]
    key: DeployKeyEntity,
    /// The projects where it may push.
    projects_with_write_access: Vec<ProjectSimpleEntity>,
    /// The projects where it may only read.
    projects_with_readonly_access: Vec<ProjectSimpleEntity>,
}

/// The SSH key entity of `k`.
pub(in crate::http) fn ssh_key(k: &SshKey) -> SshKeyEntity {
    SshKeyEntity {
        id: k.id,
        title: k.title.clone(),
        key: k.key.clone(),
        created_at: iso8601_millis(k.created_at),
        expires_at: k.expires_at.and_then(iso8601_millis),
        last_used_at: k.last_used_at.and_then(iso8601_millis),
        usage_type: k.usage_type.as_str(),
    }
}

/// `k` with its user `u`.
pub(in crate::http) fn ssh_key_with_user(
    k: &SshKey,
    u: Option<&User>,
    external_url: &str,
) -> SshKeyWithUserEntity {
    SshKeyWithUserEntity {
        key: ssh_key(k),
        user: u.map(|u| user_full(u, external_url)),
    }
}

/// The deploy key entity of `k`.
pub(in crate::http) fn deploy_key(k: &SshKey) -> DeployKeyEntity {
    DeployKeyEntity {
        key: ssh_key(k),
        fingerprint: k.fingerprint_md5.clone(),
        fingerprint_sha256: k.fingerprint_sha256.clone(),
    }
}

/// The deploy key of `link`, with its `can_push` in that project.
pub(in crate::http) fn project_deploy_key(link: &DeployKeyLink) -> ProjectDeployKeyEntity {
    ProjectDeployKeyEntity {
        key: deploy_key(&link.key),
        can_push: link.can_push,
    }
}

/// A deploy key with the projects (and `can_push` in each) it is enabled in.
pub(in crate::http) fn deploy_key_with_projects(
    k: &SshKey,
    projects: &[(Project, bool)],
    urls: Urls<'_>,
) -> DeployKeyWithProjectsEntity {
    let of = |write: bool| {
        projects
            .iter()
            .filter(|(_, can_push)| *can_push == write)
            .map(|(p, _)| project_simple(p, urls))
            .collect()
    };
    DeployKeyWithProjectsEntity {
        key: deploy_key(k),
        projects_with_write_access: of(true),
        projects_with_readonly_access: of(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ssh_keys::{KeyKind, UsageType};
    use serde_json::json;

    #[test]
    fn deploy_keys_show_gitlabs_fields_and_nothing_else() {
        let key = SshKey {
            id: 7,
            kind: KeyKind::Deploy,
            user_id: Some(1),
            title: "ci".into(),
            key: "ssh-ed25519 AAAA ci".into(),
            fingerprint_md5: "aa:bb".into(),
            fingerprint_sha256: "SHA256:xyz".into(),
            usage_type: UsageType::AuthAndSigning,
            created_at: 1_578_331_922_823,
            expires_at: None,
            last_used_at: None,
        };
        let link = DeployKeyLink {
            key,
            project_id: 3,
            can_push: true,
        };
        assert_eq!(
            serde_json::to_value(project_deploy_key(&link)).unwrap(),
            json!({
                "id": 7,
                "title": "ci",
                "key": "ssh-ed25519 AAAA ci",
                "created_at": "2020-01-06T17:32:02.823Z",
                "expires_at": null,
                "last_used_at": null,
                "usage_type": "auth_and_signing",
                "fingerprint": "aa:bb",
                "fingerprint_sha256": "SHA256:xyz",
                "can_push": true,
            })
        );
    }
}
