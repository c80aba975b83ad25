//! Personal access tokens through GitLab's API: created by admins with scopes and an expiry,
//! listed, rotated and revoked (each taking effect at once), and scopes enforced on the API and
//! over git with the real CLI. Time runs on a manual clock so expiry is tested without waiting.

use std::sync::Arc;

use crate::common::{Body, TestServer, Work};
use pushmirror::clock::ManualClock;
use serde_json::json;

/// 2026-12-01T12:00:00Z.
const NOON: i64 = 1_796_126_400_000;
const DAY: i64 = 86_400_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_scoped_rotated_revoked_and_expire() {
    let clock = Arc::new(ManualClock::new(NOON));
    let s = TestServer::builder().clock(clock.clone()).start().await;
    let admin = s.token("root", true).await;
    let alice = s.token("alice", false).await;
    let alice_id = s.user_id("alice").await;
    let p = s
        .api(&alice)
        .create_project_with(json!({"name": "pub", "visibility": "private"}))
        .await;
    let work = Work::new();
    work.commit("a");
    work.push(&s.push_url(&alice, "alice/pub"), &["HEAD:main"]);

    let create = |scopes: serde_json::Value, expires: Option<&str>| {
        let mut body = json!({"name": "ci", "scopes": scopes});
        if let Some(e) = expires {
            body["expires_at"] = json!(e);
        }
        body
    };
    let path = format!("/users/{alice_id}/personal_access_tokens");
    let r = s
        .post_json(&path, &alice, create(json!(["api"]), None))
        .await;
    assert_eq!(r.status, 403, "only admins create tokens for users");
    for (body, status) in [
        (json!({"name": "x"}), 400),
        (create(json!(["sudo_everything"]), None), 400),
        (create(json!(["api"]), Some("2026-11-30")), 400),
        (create(json!(["api"]), Some("tomorrow")), 400),
    ] {
        let r = s.post_json(&path, &admin, body).await;
        assert_eq!(r.status, status, "{}", r.text);
    }

    // read_api: reads, no writes, no git.
    let r = s
        .post_json(
            &path,
            &admin,
            create(json!(["read_api"]), Some("2026-12-02")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["scopes"], json!(["read_api"]));
    assert_eq!(r.body["expires_at"], "2026-12-02");
    assert_eq!(r.body["active"], true);
    let read_api = r.body["token"].as_str().unwrap().to_owned();
    let read_api_id = r.body["id"].as_i64().unwrap();
    assert_eq!(s.get("/projects", &read_api).await.status, 200);
    let r = s
        .post_json("/projects", &read_api, json!({"name": "nope"}))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"], "insufficient_scope");
    assert_eq!(r.body["scope"], "api");
    let clone_to = tempfile::tempdir().unwrap();
    let cloned = Work::new();
    let err = cloned
        .try_git(&[
            "clone",
            "-q",
            &s.push_url(&read_api, "alice/pub"),
            clone_to.path().join("c").to_str().unwrap(),
        ])
        .expect_err("read_api does not fetch");
    assert!(err.contains("403") || err.contains("scopes"), "{err}");

    // read_repository fetches but neither pushes nor reads the API; write_repository pushes.
    let r = s
        .post_json(&path, &admin, create(json!(["read_repository"]), None))
        .await;
    let read_repo = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(s.get("/projects", &read_repo).await.status, 403);
    cloned.git(&[
        "clone",
        "-q",
        &s.push_url(&read_repo, "alice/pub"),
        clone_to.path().join("d").to_str().unwrap(),
    ]);
    work.commit("b");
    assert!(work
        .try_push(&s.push_url(&read_repo, "alice/pub"), &["HEAD:main"])
        .is_err());
    let r = s
        .post_json(&path, &admin, create(json!(["write_repository"]), None))
        .await;
    let write_repo = r.body["token"].as_str().unwrap().to_owned();
    work.push(&s.push_url(&write_repo, "alice/pub"), &["HEAD:main"]);

    // Listing: one's own; admins anyone's by user_id. `self` is the caller's token.
    let r = s.get("/personal_access_tokens", &alice).await;
    assert!(r
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["user_id"] == alice_id));
    assert_eq!(r.header("x-total"), "4", "{}", r.text);
    assert!(
        r.text.find("\"token\"").is_none(),
        "listings never show a token"
    );
    let r = s
        .get(
            &format!("/personal_access_tokens?user_id={alice_id}"),
            &admin,
        )
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 4);
    let r = s.get("/personal_access_tokens/self", &read_api).await;
    assert_eq!(r.body["id"], read_api_id);
    assert!(r.body["last_used_at"].is_string(), "{}", r.text);
    let r = s
        .get(&format!("/personal_access_tokens/{read_api_id}"), &admin)
        .await;
    assert_eq!(r.status, 200);

    // Rotation: the new token works, the old one stops at once.
    let r = s
        .request(
            "POST",
            "/personal_access_tokens/self/rotate",
            Some(&alice),
            Body::None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rotated = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(r.body["expires_at"], "2026-12-08", "a week by default");
    assert_eq!(s.get("/user", &alice).await.status, 401);
    assert_eq!(s.get("/user", &rotated).await.status, 200);

    // Revocation takes effect at once; someone else's token is not found.
    let bob = s.token("bob", false).await;
    let r = s
        .delete(&format!("/personal_access_tokens/{read_api_id}"), &bob)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(s.get("/projects", &read_api).await.status, 200);
    let r = s
        .delete(&format!("/personal_access_tokens/{read_api_id}"), &rotated)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(s.get("/projects", &read_api).await.status, 401);

    // Expiry: a token works through its expiry day, and not after.
    let r = s
        .post_json(&path, &admin, create(json!(["api"]), Some("2026-12-02")))
        .await;
    let expiring = r.body["token"].as_str().unwrap().to_owned();
    clock.advance(DAY);
    assert_eq!(
        s.get("/user", &expiring).await.status,
        200,
        "on its expiry day"
    );
    clock.advance(DAY);
    assert_eq!(s.get("/user", &expiring).await.status, 401, "the day after");
    let _ = p;
}
