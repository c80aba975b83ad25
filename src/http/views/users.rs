//! GitLab's user entities: the basic user, the full user `GET /user` returns, and members.

use serde_json::{json, Value};

use super::time;
use crate::model::entities::{Member, User};
/// The basic user entity.
pub(in crate::http) fn user_basic(u: &User, external_url: &str) -> Value {
    json!({
        "id": u.id,
        "username": u.username,
        "name": u.name,
        "state": u.state.as_str(),
        "locked": false,
        "avatar_url": null,
        "web_url": format!("{external_url}/{}", u.username),
    })
}

/// The entity `GET /user` returns.
pub(in crate::http) fn user_full(u: &User, external_url: &str) -> Value {
    let mut v = user_basic(u, external_url);
    let obj = v.as_object_mut().expect("object");
    obj.insert("is_admin".into(), json!(u.is_admin));
    obj.insert("email".into(), json!(u.email));
    obj.insert("created_at".into(), time(u.created_at));
    obj.insert("bot".into(), json!(false));
    v
}

/// The member entity.
pub(in crate::http) fn member(m: &Member, external_url: &str) -> Value {
    let mut v = user_basic(&m.user, external_url);
    let obj = v.as_object_mut().expect("object");
    obj.insert("access_level".into(), json!(m.access_level.as_i64()));
    obj.insert("created_at".into(), time(m.created_at));
    obj.insert("expires_at".into(), json!(m.expires_at));
    obj.insert("membership_state".into(), json!("active"));
    v
}
