//! A project's members: adding one (by user id or username) and removing one, with GitLab's
//! rule that nobody grants or removes a rank above their own (anyone may leave).

use crate::app::App;
use crate::model::access::{AccessLevel, Caller};
use crate::model::entities::{Member, Project, User};
use crate::store::StoreError;

use super::error::ServiceError;

/// One member of a project.
pub async fn find_member(app: &App, project_id: i64, user_id: i64) -> Result<Member, ServiceError> {
    app.store
        .member(project_id, user_id)
        .await?
        .ok_or(ServiceError::RecordNotFound)
}

/// Makes the user named by `target` (a numeric id or a username) a member at `level`.
pub async fn add_member(
    app: &App,
    project: &Project,
    caller: Caller,
    target: &str,
    level: AccessLevel,
) -> Result<Member, ServiceError> {
    if !caller.can_grant(level) {
        return Err(ServiceError::Forbidden);
    }
    let user = match target.parse::<i64>() {
        Ok(uid) => app.store.user_by_id(uid).await?,
        Err(_) => {
            let filter = crate::store::UserFilter {
                username: Some(target.to_owned()),
                ..Default::default()
            };
            app.store.users(&filter).await?.into_iter().next()
        }
    }
    .ok_or(ServiceError::NotFound("User"))?;
    match app
        .store
        .add_member(project.id, user.id, level, app.clock.now_ms())
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ServiceError::Conflict("Member already exists".into()))
        }
        Err(e) => return Err(e.into()),
    }
    find_member(app, project.id, user.id).await
}

/// Changes `member`'s level to `level`. Nobody changes a member ranked above what they may
/// grant, nor grants more than they may; an Owner cannot demote themselves below Owner.
pub async fn update_member(
    app: &App,
    project: &Project,
    caller: Caller,
    member: &Member,
    level: AccessLevel,
) -> Result<Member, ServiceError> {
    if !caller.can_grant(level) || !caller.can_grant(member.access_level) {
        return Err(ServiceError::Forbidden);
    }
    app.store
        .update_member(project.id, member.user.id, level)
        .await?;
    find_member(app, project.id, member.user.id).await
}

/// Removes `member` from `project`, on behalf of `user` standing as `caller`.
pub async fn remove_member(
    app: &App,
    project: &Project,
    caller: Caller,
    user: &User,
    member: &Member,
) -> Result<(), ServiceError> {
    if !caller.can_remove_member(member.access_level, member.user.id == user.id) {
        return Err(ServiceError::Forbidden);
    }
    app.store.remove_member(project.id, member.user.id).await?;
    Ok(())
}
