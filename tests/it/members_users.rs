//! `PUT /projects/:id/members/:user_id` and `GET /users/:id`, as gitlabform and python-gitlab
//! call them: GitLab's rules for who may change whose level, its errors, and which user fields
//! whom.

use crate::common;
use crate::common::TestServer;
use pushmirror::model::access::AccessLevel;
use serde_json::json;

#[tokio::test]
async fn member_levels_change_within_the_callers_rank() {
    let s = TestServer::builder().start().await;
    let owner = s.token("owner", false).await;
    let p = s.api(&owner).create_project("team").await;
    let id = p.id;
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    for (name, level) in [
        ("maint", AccessLevel::Maintainer),
        ("dev", AccessLevel::Developer),
        ("guest", AccessLevel::Guest),
    ] {
        tokens.push(s.token(name, false).await);
        let uid = s.user_id(name).await;
        s.state.store.add_member(id, uid, level, 1).await.unwrap();
        ids.push(uid);
    }
    let (maint, dev) = (&tokens[0], &tokens[1]);
    let owner_id = s.user_id("owner").await;
    let path = |uid: i64| format!("/projects/{id}/members/{uid}");

    let r = s
        .put_json(&path(ids[2]), maint, json!({"access_level": 30}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["access_level"], 30);
    assert_eq!(r.body["username"], "guest");
    let r = s.get(&path(ids[2]), maint).await;
    assert_eq!(r.body["access_level"], 30, "the change is stored");

    // A Maintainer grants at most Maintainer and cannot touch an Owner; a Developer nothing.
    let r = s
        .put_json(&path(ids[2]), maint, json!({"access_level": 50}))
        .await;
    assert_eq!(r.status, 403);
    let r = s
        .put_json(&path(owner_id), maint, json!({"access_level": 10}))
        .await;
    assert_eq!(r.status, 403);
    let r = s
        .put_json(&path(ids[2]), dev, json!({"access_level": 20}))
        .await;
    assert_eq!(r.status, 403);
    let r = s
        .put_json(&path(ids[0]), &owner, json!({"access_level": 50}))
        .await;
    assert_eq!((r.status, r.body["access_level"].clone()), (200, json!(50)));

    // GitLab's parameter and lookup errors.
    let r = s.put_json(&path(ids[2]), &owner, json!({})).await;
    assert_eq!(
        (r.status, r.body["error"].clone()),
        (400, json!("access_level is missing"))
    );
    let r = s
        .put_json(&path(ids[2]), &owner, json!({"access_level": 35}))
        .await;
    assert_eq!(
        (r.status, r.body["error"].clone()),
        (400, json!("access_level does not have a valid value"))
    );
    let r = s
        .put_json(&path(99_999), &owner, json!({"access_level": 30}))
        .await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (404, json!("404 Not found"))
    );
}

#[tokio::test]
async fn users_are_found_by_id() {
    let s = TestServer::builder().start().await;
    let admin = s.token("root", true).await;
    let alice = s.token("alice", false).await;
    let bob_token = s.token("bob", false).await;
    let bob = s.user_id("bob").await;

    let r = s.get(&format!("/users/{bob}"), &alice).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["username"], "bob");
    assert_eq!(r.body["id"], bob);
    assert!(
        r.body.get("is_admin").is_none(),
        "others see the basic entity"
    );
    let r = s.get(&format!("/users/{bob}"), &admin).await;
    assert_eq!(r.body["is_admin"], false);
    let r = s.get(&format!("/users/{bob}"), &bob_token).await;
    assert_eq!(r.body["is_admin"], false, "users see their own full entity");
    for missing in ["99999", "bob", "-1"] {
        let r = s.get(&format!("/users/{missing}"), &alice).await;
        assert_eq!(
            (r.status, r.body["message"].clone()),
            (404, json!("404 User Not Found")),
            "{missing}"
        );
    }
    let r = s
        .request("GET", &format!("/users/{bob}"), None, common::Body::None)
        .await;
    assert_eq!(r.status, 401);

    // The list: paginated, searchable; admins only list admins.
    let r = s.get("/users?per_page=2", &alice).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-total"), "3");
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    let r = s.get("/users?search=BO", &alice).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["username"], "bob");
    let r = s.get("/users?admins=true", &alice).await;
    assert_eq!(r.status, 403);
    let r = s.get("/users?admins=true", &admin).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["username"], "root");
    let r = s.get("/users?page=9223372036854775807", &alice).await;
    assert_eq!((r.status, r.body.clone()), (200, json!([])));
}
