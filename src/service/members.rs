//! Members of a project or a group: adding one (by user id or username, with an optional expiry
//! date), changing and removing one, with GitLab's rules that nobody grants or changes a rank
//! above their own (anyone may leave) and that a group keeps its last Owner; and the members that
//! count below a group (`/members/all`: every ancestor group's too, the highest access winning).
//! Expired memberships grant nothing and are not listed.

use crate::app::App;
use crate::model::access::{AccessLevel, Caller};
use crate::model::entities::{Group, Member, Project, User};
use crate::model::membership::{expiry_allowed, highest_per_user, is_last_owner, PAST_MESSAGE};
use crate::store::{MemberSource, PageRequest, Paged, StoreError};

use super::auth::today;
use super::error::{Resource, ServiceError, Taken};

/// Whose members a use case is about.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Project(&'a Project),
    Group(&'a Group),
}

impl Target<'_> {
    pub fn source(&self) -> MemberSource {
        match self {
            Target::Project(p) => MemberSource::Project(p.id),
            Target::Group(g) => MemberSource::Group(g.id()),
        }
    }

    /// The namespace whose groups' members count too: the project's, or the group itself.
    fn namespace(&self) -> i64 {
        match self {
            Target::Project(p) => p.namespace.id,
            Target::Group(g) => g.id(),
        }
    }
}

/// One page of the active direct members.
pub async fn members(
    app: &App,
    target: Target<'_>,
    page: PageRequest,
) -> Result<Paged<Member>, ServiceError> {
    Ok(app
        .store
        .members(target.source(), &today(app), page)
        .await?)
}

/// One active direct member.
pub async fn find_member(
    app: &App,
    target: Target<'_>,
    user_id: i64,
) -> Result<Member, ServiceError> {
    app.store
        .member(target.source(), user_id, &today(app))
        .await?
        .ok_or(ServiceError::RecordNotFound)
}

/// Everyone whose membership counts here, the project's or group's own and every ancestor
/// group's, one entry per user with their highest access, by user id.
pub async fn all_members(app: &App, target: Target<'_>) -> Result<Vec<Member>, ServiceError> {
    let rows = app
        .store
        .memberships_with_ancestors(target.source(), target.namespace(), &today(app))
        .await?;
    Ok(highest_per_user(rows))
}

/// Refuses an expiry date before today.
fn check_expiry(app: &App, expires_at: Option<&str>) -> Result<(), ServiceError> {
    match expires_at {
        Some(d) if !expiry_allowed(d, &today(app)) => {
            Err(ServiceError::field("expires_at", PAST_MESSAGE))
        }
        _ => Ok(()),
    }
}

/// Makes the user named by `who` (a numeric id or a username) a member at `level` until
/// `expires_at` (`YYYY-MM-DD`, none for ever).
pub async fn add_member(
    app: &App,
    target: Target<'_>,
    caller: Caller,
    who: &str,
    level: AccessLevel,
    expires_at: Option<String>,
) -> Result<Member, ServiceError> {
    if !caller.can_grant(level) {
        return Err(ServiceError::Forbidden);
    }
    let user = match who.parse::<i64>() {
        Ok(uid) => app.store.user_by_id(uid).await?,
        Err(_) => {
            let filter = crate::store::UserFilter {
                username: Some(who.to_owned()),
                ..Default::default()
            };
            app.store.users(&filter).await?.into_iter().next()
        }
    }
    .ok_or(ServiceError::NotFound(Resource::User))?;
    check_expiry(app, expires_at.as_deref())?;
    match app
        .store
        .add_membership(
            target.source(),
            user.id,
            level,
            expires_at.as_deref(),
            &today(app),
            app.clock.now_ms(),
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(ServiceError::Conflict(Taken::Member)),
        Err(e) => return Err(e.into()),
    }
    find_member(app, target, user.id).await
}

/// Refuses changing or removing a group's last Owner, as GitLab does.
async fn keep_last_owner(
    app: &App,
    target: Target<'_>,
    member: &Member,
) -> Result<(), ServiceError> {
    if let Target::Group(g) = target {
        let owners = app.store.group_owner_count(g.id(), &today(app)).await?;
        if is_last_owner(member, owners) {
            return Err(ServiceError::Forbidden);
        }
    }
    Ok(())
}

/// Changes `member`'s level to `level` and, when `expires_at` is given, their expiry (`None`
/// clears it). Nobody changes a member ranked above what they may grant, nor grants more than
/// they may; a group's last Owner stays as they are.
pub async fn update_member(
    app: &App,
    target: Target<'_>,
    caller: Caller,
    member: &Member,
    level: AccessLevel,
    expires_at: Option<Option<String>>,
) -> Result<Member, ServiceError> {
    if !caller.can_grant(level) || !caller.can_grant(member.access_level) {
        return Err(ServiceError::Forbidden);
    }
    keep_last_owner(app, target, member).await?;
    let expires_at = expires_at.unwrap_or_else(|| member.expires_at.clone());
    if expires_at != member.expires_at {
        check_expiry(app, expires_at.as_deref())?;
    }
    app.store
        .update_member(
            target.source(),
            member.user.id,
            level,
            expires_at.as_deref(),
        )
        .await?;
    find_member(app, target, member.user.id).await
}

/// Removes `member`, on behalf of `user` standing as `caller`; a group's last Owner stays.
pub async fn remove_member(
    app: &App,
    target: Target<'_>,
    caller: Caller,
    user: &User,
    member: &Member,
) -> Result<(), ServiceError> {
    if !caller.can_remove_member(member.access_level, member.user.id == user.id) {
        return Err(ServiceError::Forbidden);
    }
    keep_last_owner(app, target, member).await?;
    app.store
        .remove_member(target.source(), member.user.id)
        .await?;
    Ok(())
}
