//! GitLab's user entities: the basic user, the full user `GET /user` returns (and administrators
//! see), the choice between the two that lists and look-ups make per caller, and members.

use serde::Serialize;
use utoipa::openapi::schema::{AnyOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::model::entities::{Member, User};
use crate::model::time::iso8601_millis;

/// GitLab's basic user entity (`UserBasic`): what anyone who may see a user sees.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct UserBasicEntity {
    /// The user's id.
    id: i64,
    /// The user's login name, also their namespace's path.
    username: String,
    /// The user's display name.
    name: String,
    /// `active`, or `blocked` by an administrator.
    state: &'static str,
    /// Always false: pushmirror never locks an account after failed sign-ins.
    locked: bool,
    /// Always null: pushmirror keeps no avatars.
    avatar_url: Option<String>,
    /// The user's profile page, `<external URL>/<username>`.
    web_url: String,
}

/// The full user entity: `GET /user`, and what administrators (and the user themselves) see.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct UserFullEntity {
    #[serde(flatten)]
    basic: UserBasicEntity,
    /// Whether the user is an instance administrator.
    is_admin: bool,
    /// The user's e-mail address; null for users made before addresses were kept.
    email: Option<String>,
    /// When the user was created (ISO 8601, UTC, milliseconds).
    created_at: Option<String>,
    /// Always false: pushmirror has no bot users.
    bot: bool,
}

/// A user as one caller sees them: the full entity for administrators (and, for a single
/// user, the user themselves), the basic one for everybody else.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(in crate::http) enum UserEntity {
    Full(UserFullEntity),
    Basic(UserBasicEntity),
}

// Written by hand because the derive documents an untagged enum as `oneOf`, which a full user
// would break: it also matches the basic schema (the full entity extends it), and `oneOf` wants
// exactly one match. `anyOf` says what is sent.
impl PartialSchema for UserEntity {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .description(Some(
                "The full user entity for administrators (and the user themselves), the basic \
                 one for everybody else.",
            ))
            .item(Ref::from_schema_name(UserFullEntity::name()))
            .item(Ref::from_schema_name(UserBasicEntity::name()))
            .into()
    }
}

impl ToSchema for UserEntity {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((UserFullEntity::name().into(), UserFullEntity::schema()));
        UserFullEntity::schemas(schemas);
        schemas.push((UserBasicEntity::name().into(), UserBasicEntity::schema()));
        UserBasicEntity::schemas(schemas);
    }
}

/// GitLab's member entity: the member's basic user entity and their membership.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::http) struct MemberEntity {
    #[serde(flatten)]
    user: UserBasicEntity,
    /// The member's access level: 10 Guest, 20 Reporter, 30 Developer, 40 Maintainer, 50 Owner.
    access_level: i64,
    /// When the membership was made (ISO 8601, UTC, milliseconds).
    created_at: Option<String>,
    /// The last day (`YYYY-MM-DD`) the membership grants access; null for ever.
    expires_at: Option<String>,
    /// Always `active`: pending invitations do not exist here.
    membership_state: &'static str,
}

/// The basic user entity of `u`.
pub(in crate::http) fn user_basic(u: &User, external_url: &str) -> UserBasicEntity {
    UserBasicEntity {
        id: u.id,
        username: u.username.clone(),
        name: u.name.clone(),
        state: u.state.as_str(),
        locked: false,
        avatar_url: None,
        web_url: format!("{external_url}/{}", u.username),
    }
}

/// The full user entity of `u`, which `GET /user` returns.
pub(in crate::http) fn user_full(u: &User, external_url: &str) -> UserFullEntity {
    UserFullEntity {
        basic: user_basic(u, external_url),
        is_admin: u.is_admin,
        email: u.email.clone(),
        created_at: iso8601_millis(u.created_at),
        bot: false,
    }
}

/// `u` as a caller sees them: in `full` or basic.
pub(in crate::http) fn user_as_seen(u: &User, full: bool, external_url: &str) -> UserEntity {
    if full {
        UserEntity::Full(user_full(u, external_url))
    } else {
        UserEntity::Basic(user_basic(u, external_url))
    }
}

/// The member entity of `m`.
pub(in crate::http) fn member(m: &Member, external_url: &str) -> MemberEntity {
    MemberEntity {
        user: user_basic(&m.user, external_url),
        access_level: m.access_level.as_i64(),
        created_at: iso8601_millis(m.created_at),
        expires_at: m.expires_at.clone(),
        membership_state: "active",
    }
}
