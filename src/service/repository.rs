//! A project's branches, tags and commits through the API: listing and reading them, and
//! creating and deleting branches and tags with GitLab's rules (protected branches judged by
//! `model::push_rules`, the default branch never deleted). A change is a push like any other:
//! its intent is written first, and once the ref moved it is recorded, so the project's mirrors
//! are updated and nothing acknowledged is lost.

use crate::app::App;
use crate::git::repository::{self as repo, CommitInfo, RefInfo, RefKind};
use crate::model::access::Caller;
use crate::model::entities::{Project, User};
use crate::model::naming::valid_branch_name;
use crate::model::push_rules::{Change, PushRules, Verdict};
use crate::service::push_session::{Origin, PushSession, RefChange};
use crate::service::pushes::RefUpdate;

use super::error::{Refusal, Resource, ServiceError};

/// A branch with what GitLab says about it.
#[derive(Debug, Clone)]
pub struct Branch {
    pub info: RefInfo,
    /// Reachable from the default branch (never true of the default branch itself).
    pub merged: bool,
    /// A protected-branch rule matches it.
    pub protected: bool,
    /// It is the project's default branch.
    pub default: bool,
    /// A matching rule lets Developers push / merge.
    pub developers_can_push: bool,
    pub developers_can_merge: bool,
    /// The caller may push to it.
    pub can_push: bool,
}

/// The project's branches whose name contains `search` (case-insensitive), by name.
pub async fn branches(
    app: &App,
    project: &Project,
    caller: Caller,
    search: Option<&str>,
) -> Result<Vec<Branch>, ServiceError> {
    let refs = list(app, project, caller, RefKind::Branches, search).await?;
    describe(app, project, caller, refs).await
}

/// One branch by its exact name.
pub async fn branch(
    app: &App,
    project: &Project,
    caller: Caller,
    name: &str,
) -> Result<Branch, ServiceError> {
    readable(project, caller)?;
    let repo = super::projects::repository(app, project)?;
    let path = &repo;
    let refs = repo::list_refs(&app.git, path, RefKind::Branches)
        .await
        .map_err(internal)?;
    let found: Vec<RefInfo> = refs.into_iter().filter(|r| r.name == name).collect();
    describe(app, project, caller, found)
        .await?
        .pop()
        .ok_or(ServiceError::NotFound(Resource::Branch))
}

/// Creates branch `name` at `rev` (a commit id, branch or tag).
pub async fn create_branch(
    app: &App,
    project: &Project,
    caller: Caller,
    name: &str,
    rev: &str,
) -> Result<Branch, ServiceError> {
    if !caller.can_push() {
        return Err(ServiceError::Forbidden);
    }
    super::projects::writable(project)?;
    if !valid_branch_name(name) {
        return Err(ServiceError::Refused(Refusal::InvalidBranchName));
    }
    let rules = rules(app, project).await?;
    if let Verdict::Refused(why) = rules.judge(caller, Some(name), Change::Create) {
        return Err(ServiceError::Refused(Refusal::PushRule(why)));
    }
    let repo = super::projects::repository(app, project)?;
    let path = &repo;
    let target = repo::resolve_commit(&app.git, path, rev)
        .await
        .map_err(internal)?
        .ok_or_else(|| ServiceError::Refused(Refusal::UnknownRevision(rev.to_owned())))?;
    let full = format!("refs/heads/{name}");
    change_ref(
        app,
        project,
        caller.user_id,
        &full,
        None,
        Some(&target),
        Refusal::BranchExists,
    )
    .await?;
    branch(app, project, caller, name).await
}

/// Deletes branch `name`. The default branch cannot be deleted; a protected one only by a
/// Maintainer or more (over git, nobody may).
pub async fn delete_branch(
    app: &App,
    project: &Project,
    caller: Caller,
    name: &str,
) -> Result<(), ServiceError> {
    if !caller.can_push() {
        return Err(ServiceError::Forbidden);
    }
    super::projects::writable(project)?;
    let found = branch(app, project, caller, name).await?;
    if found.default {
        return Err(ServiceError::Refused(Refusal::DefaultBranch));
    }
    if found.protected && !caller.can_admin_project() {
        return Err(ServiceError::Forbidden);
    }
    let full = format!("refs/heads/{name}");
    change_ref(
        app,
        project,
        caller.user_id,
        &full,
        Some(&found.info.target),
        None,
        Refusal::BranchMoved,
    )
    .await
}

/// The project's tags whose name contains `search`, by name.
pub async fn tags(
    app: &App,
    project: &Project,
    caller: Caller,
    search: Option<&str>,
) -> Result<Vec<RefInfo>, ServiceError> {
    list(app, project, caller, RefKind::Tags, search).await
}

/// One tag by its exact name.
pub async fn tag(
    app: &App,
    project: &Project,
    caller: Caller,
    name: &str,
) -> Result<RefInfo, ServiceError> {
    tags(app, project, caller, None)
        .await?
        .into_iter()
        .find(|t| t.name == name)
        .ok_or(ServiceError::NotFound(Resource::Tag))
}

/// Creates tag `name` at `rev`: annotated (tagged by `user`) when `message` is given.
pub async fn create_tag(
    app: &App,
    project: &Project,
    caller: Caller,
    user: &User,
    name: &str,
    rev: &str,
    message: Option<&str>,
) -> Result<RefInfo, ServiceError> {
    if !caller.can_push() {
        return Err(ServiceError::Forbidden);
    }
    super::projects::writable(project)?;
    if !valid_branch_name(name) {
        return Err(ServiceError::Refused(Refusal::InvalidTagName));
    }
    let repo = super::projects::repository(app, project)?;
    let path = &repo;
    let target = repo::resolve_commit(&app.git, path, rev)
        .await
        .map_err(internal)?
        .ok_or_else(|| ServiceError::Refused(Refusal::UnknownTarget(rev.to_owned())))?;
    let full = format!("refs/tags/{name}");
    match message.filter(|m| !m.trim().is_empty()) {
        None => {
            let pusher = caller.user_id;
            let exists = Refusal::TagExists(name.to_owned());
            change_ref(app, project, pusher, &full, None, Some(&target), exists).await?
        }
        Some(message) => {
            refuse_pulled(app, project, &full).await?;
            // The tag object's id exists only once it is made.
            let change = RefChange {
                origin: Origin::Api,
                pusher: caller.user_id,
                updates: Vec::new(),
            };
            let mut session = PushSession::begin_judged(app, project.id, change).await?;
            let email = tagger_email(app, user);
            let made = repo::create_annotated_tag(
                &app.git,
                path,
                name,
                &target,
                message,
                (&user.name, &email),
            )
            .await
            .map_err(internal)?;
            let Some(object) = made else {
                let _ = session.abandon(app).await;
                return Err(ServiceError::Refused(Refusal::TagExists(name.to_owned())));
            };
            session.made(vec![ref_update(&full, None, Some(&object))]);
            record(app, session).await?;
        }
    }
    tag(app, project, caller, name).await
}

/// Deletes tag `name`.
pub async fn delete_tag(
    app: &App,
    project: &Project,
    caller: Caller,
    name: &str,
) -> Result<(), ServiceError> {
    if !caller.can_push() {
        return Err(ServiceError::Forbidden);
    }
    super::projects::writable(project)?;
    let found = tag(app, project, caller, name).await?;
    let full = format!("refs/tags/{name}");
    change_ref(
        app,
        project,
        caller.user_id,
        &full,
        Some(&found.target),
        None,
        Refusal::TagMoved,
    )
    .await
}

/// The commit `rev` names.
pub async fn commit(
    app: &App,
    project: &Project,
    caller: Caller,
    rev: &str,
) -> Result<CommitInfo, ServiceError> {
    readable(project, caller)?;
    let repo = super::projects::repository(app, project)?;
    let path = &repo;
    repo::commit(&app.git, path, rev)
        .await
        .map_err(internal)?
        .ok_or(ServiceError::NotFound(Resource::Commit))
}

/// The branches or tags whose name contains `search` (case-insensitive), by name.
async fn list(
    app: &App,
    project: &Project,
    caller: Caller,
    kind: RefKind,
    search: Option<&str>,
) -> Result<Vec<RefInfo>, ServiceError> {
    readable(project, caller)?;
    let repo = super::projects::repository(app, project)?;
    let path = &repo;
    let mut refs = repo::list_refs(&app.git, path, kind)
        .await
        .map_err(internal)?;
    if let Some(s) = search.filter(|s| !s.is_empty()) {
        let s = s.to_lowercase();
        refs.retain(|r| r.name.to_lowercase().contains(&s));
    }
    Ok(refs)
}

fn readable(project: &Project, caller: Caller) -> Result<(), ServiceError> {
    if caller.can_read_code(project.visibility) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}

fn internal(e: crate::git::GitError) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

async fn rules(app: &App, project: &Project) -> Result<PushRules, ServiceError> {
    Ok(PushRules::new(
        app.store.protected_branch_rules(project.id).await?,
    ))
}

/// GitLab's no-reply address for a user without a stored e-mail.
fn tagger_email(app: &App, user: &User) -> String {
    let host = url::Url::parse(&app.external_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "pushmirror".into());
    format!("{}-{}@users.noreply.{host}", user.id, user.username)
}

/// Refuses a change of `full` that a running import or the project's pull mirror owns, as a
/// git push of it is refused.
async fn refuse_pulled(app: &App, project: &Project, full: &str) -> Result<(), ServiceError> {
    let probe = ref_update(full, None, None);
    match super::pushes::refused_by_pulls(app, project.id, std::slice::from_ref(&probe)).await? {
        Some(refused) => Err(ServiceError::Refused(Refusal::PushRule(refused[0].1))),
        None => Ok(()),
    }
}

/// Moves `full` from `old` to `new` (either `None`: absent) as a push: intent first, then the
/// atomic ref update, then the recording. `conflict` is the refusal when the ref was not `old`.
async fn change_ref(
    app: &App,
    project: &Project,
    pusher: Option<i64>,
    full: &str,
    old: Option<&str>,
    new: Option<&str>,
    conflict: Refusal,
) -> Result<(), ServiceError> {
    refuse_pulled(app, project, full).await?;
    let change = RefChange {
        origin: Origin::Api,
        pusher,
        updates: vec![ref_update(full, old, new)],
    };
    let session = PushSession::begin_judged(app, project.id, change).await?;
    let repo = super::projects::repository(app, project)?;
    let path = &repo;
    let moved = repo::update_ref(&app.git, path, full, new, old)
        .await
        .map_err(internal)?;
    if !moved {
        let _ = session.abandon(app).await;
        return Err(ServiceError::Refused(conflict));
    }
    record(app, session).await
}

/// The update moving `full` from `old` to `new` (either `None`: absent).
fn ref_update(full: &str, old: Option<&str>, new: Option<&str>) -> RefUpdate {
    let zero = "0".repeat(40);
    RefUpdate {
        old: old.unwrap_or(&zero).to_owned(),
        new: new.unwrap_or(&zero).to_owned(),
        name: full.to_owned(),
    }
}

async fn record(app: &App, session: PushSession) -> Result<(), ServiceError> {
    // On failure the intent stays and the `record_push` job records the change later.
    session
        .finish(app)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(())
}

/// Adds GitLab's flags to `refs`.
async fn describe(
    app: &App,
    project: &Project,
    caller: Caller,
    refs: Vec<RefInfo>,
) -> Result<Vec<Branch>, ServiceError> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let repo = super::projects::repository(app, project)?;
    let path = &repo;
    let default = crate::git::ops::head_branch(&app.git, path)
        .await
        .map_err(internal)?
        .or_else(|| project.default_branch.clone());
    let merged = match &default {
        Some(d) => repo::merged_branches(&app.git, path, &format!("refs/heads/{d}"))
            .await
            .map_err(internal)?,
        None => Default::default(),
    };
    let stored = app.store.protected_branch_rules(project.id).await?;
    let patterns: Vec<_> = stored
        .iter()
        .map(|r| {
            (
                crate::model::refmatch::BranchPattern::new(r.name.clone()),
                r,
            )
        })
        .collect();
    let rules = PushRules::new(stored.clone());
    Ok(refs
        .into_iter()
        .map(|info| {
            let matching: Vec<_> = patterns
                .iter()
                .filter(|(p, _)| p.matches(&info.name))
                .map(|(_, r)| *r)
                .collect();
            let is_default = default.as_deref() == Some(info.name.as_str());
            Branch {
                merged: !is_default && merged.contains(&info.name),
                protected: !matching.is_empty(),
                default: is_default,
                developers_can_push: matching
                    .iter()
                    .any(|r| r.push.iter().any(|e| e.access_level == Some(30))),
                developers_can_merge: matching
                    .iter()
                    .any(|r| r.merge.iter().any(|e| e.access_level == Some(30))),
                can_push: caller.can_push()
                    && !matches!(
                        rules.judge(caller, Some(&info.name), Change::Update),
                        Verdict::Refused(_)
                    ),
                info,
            }
        })
        .collect())
}
