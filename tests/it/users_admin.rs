//! The admin users API an operator's bootstrap script uses instead of the CLI: `POST /users`,
//! `PUT /users/:id`, `POST /users/:id/block` and `/unblock`, and the `GET /users` filters, with
//! GitLab's errors; a blocked user's tokens stop working at once, over the API and over git.

use crate::common::{TestServer, Work};
use serde_json::json;

async fn admin_users_api(s: TestServer) {
    let root = s.token("root", true).await;
    let alice = s.token("alice", false).await;

    // Only administrators create users; GitLab's required fields and messages.
    let new = json!({"username": "bob", "name": "Bob", "email": "bob@example.com", "password": "correct-horse"});
    let r = s.post_json("/users", &alice, new.clone()).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = s
        .post_json(
            "/users",
            &root,
            json!({"username": "x", "name": "X", "email": "x@example.com"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.body["error"].as_str().unwrap().contains("password"),
        "{}",
        r.text
    );
    let r = s
        .post_json(
            "/users",
            &root,
            json!({"username": "-x", "email": "nope", "password": "short", "name": ""}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    for field in ["username", "email", "password", "name"] {
        assert!(r.body["message"][field].is_array(), "{field}: {}", r.text);
    }

    let r = s.post_json("/users", &root, new.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let bob_id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["username"], "bob");
    assert_eq!(r.body["email"], "bob@example.com");
    assert_eq!(r.body["state"], "active");
    assert_eq!(r.body["is_admin"], false);
    assert!(
        !r.text.contains("correct-horse"),
        "a password is never echoed"
    );

    // Taken names and addresses, regardless of case: 409 with GitLab's messages.
    let mut dup = new.clone();
    dup["username"] = json!("BOB");
    dup["email"] = json!("other@example.com");
    let r = s.post_json("/users", &root, dup).await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (409, json!("Username has already been taken"))
    );
    let mut dup = new.clone();
    dup["username"] = json!("bob2");
    dup["email"] = json!("BOB@example.com");
    let r = s.post_json("/users", &root, dup).await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (409, json!("Email has already been taken"))
    );
    let r = s.get("/users?username=bob2", &root).await;
    assert_eq!(r.body, json!([]), "a refused create writes nothing");

    // A token-only user (no password anyone knows).
    let r = s
        .post_json("/users", &root, json!({"username": "ci-bot", "name": "CI", "email": "ci@example.com", "force_random_password": true}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // The new user has a namespace: its own projects live under its username.
    let r = s
        .post_json(
            &format!("/users/{bob_id}/personal_access_tokens"),
            &root,
            json!({"name": "t", "scopes": ["api"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let bob = r.body["token"].as_str().unwrap().to_owned();
    let p = s
        .post_json("/projects", &bob, json!({"name": "tools"}))
        .await;
    assert_eq!(
        (p.status, p.body["path_with_namespace"].clone()),
        (201, json!("bob/tools")),
        "{}",
        p.text
    );

    // Changes: admin only; the username renames the namespace (and the project's path).
    let r = s
        .put_json(&format!("/users/{bob_id}"), &alice, json!({"name": "B"}))
        .await;
    assert_eq!(r.status, 403);
    let r = s
        .put_json(
            &format!("/users/{bob_id}"),
            &root,
            json!({"name": "Robert", "username": "robert", "admin": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.body["name"].clone(),
            r.body["username"].clone(),
            r.body["is_admin"].clone()
        ),
        (json!("Robert"), json!("robert"), json!(true))
    );
    let r = s.get("/projects/robert%2Ftools", &root).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s.get("/user", &bob).await;
    assert_eq!(r.body["is_admin"], true, "a promotion takes effect at once");
    let r = s
        .put_json(
            &format!("/users/{bob_id}"),
            &root,
            json!({"username": "alice"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (409, json!("Username has already been taken"))
    );
    let r = s
        .put_json(
            &format!("/users/{bob_id}"),
            &root,
            json!({"email": "not an email"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = s
        .put_json("/users/999999", &root, json!({"name": "n"}))
        .await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (404, json!("404 User Not Found"))
    );
    let r = s
        .put_json(&format!("/users/{bob_id}"), &root, json!({"admin": false}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Filters.
    let r = s.get("/users?search=ROB", &root).await;
    let names: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].clone())
        .collect();
    assert_eq!(names, vec![json!("robert")], "{}", r.text);
    let r = s.get("/users?search=ci@example.com", &root).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{}", r.text);
    assert_eq!(r.body[0]["email"], "ci@example.com");
    let r = s.get("/users?search=ci@example.com", &alice).await;
    assert!(
        r.body[0].get("email").is_none(),
        "only administrators see addresses: {}",
        r.text
    );

    // Blocking: admin only, 201 true, refuses the user's tokens at once (API and git).
    let work = Work::new();
    work.commit("a");
    work.push(&s.push_url(&bob, "robert/tools"), &["HEAD:main"]);
    let r = s
        .post_json(&format!("/users/{bob_id}/block"), &alice, json!({}))
        .await;
    assert_eq!(r.status, 403);
    let r = s
        .post_json(&format!("/users/{bob_id}/block"), &root, json!({}))
        .await;
    assert_eq!((r.status, r.body.clone()), (201, json!(true)), "{}", r.text);
    let r = s.get("/user", &bob).await;
    assert_eq!(
        (r.status, r.body["message"].clone()),
        (403, json!("403 Forbidden - Your account has been blocked."))
    );
    work.commit("b");
    let err = work
        .try_push(&s.push_url(&bob, "robert/tools"), &["HEAD:main"])
        .unwrap_err();
    assert!(err.contains("blocked"), "{err}");
    let r = s.get("/users?blocked=true", &root).await;
    let names: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].clone())
        .collect();
    assert_eq!(names, vec![json!("robert")], "{}", r.text);
    assert_eq!(r.body[0]["state"], "blocked");
    let r = s.get("/users?active=true", &root).await;
    assert!(
        r.body
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["state"] == "active"),
        "{}",
        r.text
    );
    let r = s
        .post_json(
            &format!("/users/{}/block", s.user_id("root").await),
            &root,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 400, "nobody blocks themselves: {}", r.text);

    let r = s
        .post_json(&format!("/users/{bob_id}/unblock"), &root, json!({}))
        .await;
    assert_eq!((r.status, r.body.clone()), (201, json!(true)));
    assert_eq!(s.get("/user", &bob).await.status, 200);
    work.push(&s.push_url(&bob, "robert/tools"), &["HEAD:main"]);
    let r = s.post_json("/users/999999/block", &root, json!({})).await;
    assert_eq!(r.status, 404);

    // The last administrator keeps the flag.
    let root_id = s.user_id("root").await;
    let r = s
        .put_json(&format!("/users/{root_id}"), &root, json!({"admin": false}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_manage_users() {
    admin_users_api(TestServer::builder().start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_manage_users_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    admin_users_api(s).await;
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes_only() {
    let s = TestServer::builder().start().await;
    let root = s.token("root", true).await;
    let r = s
        .post_json("/users", &root, json!({"username": "carol", "name": "C", "email": "c@example.com", "password": "Secret-Passw0rd"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The database and its write-ahead log, where a fresh row may still be.
    let mut db = std::fs::read(s.data_dir().join("pushmirror.db")).expect("database file");
    db.extend(std::fs::read(s.data_dir().join("pushmirror.db-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&db);
    assert!(
        !text.contains("Secret-Passw0rd"),
        "the password is not in the database"
    );
    assert!(text.contains("$argon2id$"), "an Argon2id hash is");
}
