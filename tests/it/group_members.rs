//! Group members and what they grant: `/groups/:id/members` (GitLab's levels, `expires_at`, who
//! may grant what, the last Owner kept), access inherited by every subgroup and project below
//! (`/members/all` with the highest access winning, push rights over git, protected branches
//! still enforced), and expiry on the server's clock: a membership works through its expiry day
//! and grants nothing from the day after. On SQLite and PostgreSQL.

use std::sync::Arc;

use crate::common::{blocking, Resp, TestServer, Work};
use pushmirror::clock::ManualClock;
use serde_json::{json, Value};

/// Noon, 15 June 2030, UTC: the manual clock's start.
const START_MS: i64 = 1_907_755_200_000;
const DAY_MS: i64 = 86_400_000;

fn check(what: &str, r: &Resp, status: u16, body: Option<Value>) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    if let Some(b) = body {
        assert_eq!(r.body, b, "{what}");
    }
}

/// `(username, access_level)` of a member list.
fn levels(r: &Resp) -> Vec<(String, i64)> {
    r.body
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {}", r.text))
        .iter()
        .map(|m| {
            (
                m["username"].as_str().unwrap().to_owned(),
                m["access_level"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn members_and_their_rules(s: &TestServer) {
    let today = chrono::DateTime::from_timestamp_millis(START_MS)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(today, "2030-06-15");
    let owner = s.token("owner", false).await;
    let maint = s.token("maint", false).await;
    let dev = s.token("dev", false).await;
    s.token("guest", false).await;
    let ids = [
        s.user_id("owner").await,
        s.user_id("maint").await,
        s.user_id("dev").await,
        s.user_id("guest").await,
    ];
    let g = s.api(&owner).create_group("org", None).await;
    let members = format!("/groups/{}/members", g.id);
    let one = |uid: i64| format!("{members}/{uid}");

    // Added by id or username, with an expiry date.
    let r = s
        .post_json(
            &members,
            &owner,
            json!({"user_id": ids[1], "access_level": 40}),
        )
        .await;
    check("maint", &r, 201, None);
    assert_eq!(r.body["expires_at"], Value::Null);
    let r = s
        .post_json(
            &members,
            &owner,
            json!({"user_id": "dev", "access_level": 30, "expires_at": "2030-12-31"}),
        )
        .await;
    check("dev by username", &r, 201, None);
    assert_eq!(r.body["username"], "dev");
    assert_eq!(r.body["expires_at"], "2030-12-31");
    assert_eq!(r.body["membership_state"], "active");
    assert!(r.body["created_at"].as_str().unwrap().ends_with('Z'));
    let r = s.get(&members, &dev).await;
    assert_eq!(
        levels(&r),
        [
            ("owner".into(), 50),
            ("maint".into(), 40),
            ("dev".into(), 30)
        ]
    );
    assert_eq!(r.header("x-total"), "3");
    let r = s.get(&format!("{members}?per_page=1&page=2"), &dev).await;
    assert_eq!(levels(&r), [("maint".into(), 40)]);
    assert_eq!(r.header("x-next-page"), "3");

    // GitLab's errors.
    let cases = [
        (
            "no level",
            json!({"user_id": ids[3]}),
            400,
            json!({"error": "access_level is missing"}),
        ),
        (
            "bad level",
            json!({"user_id": ids[3], "access_level": 35}),
            400,
            json!({"error": "access_level does not have a valid value"}),
        ),
        (
            "bad date",
            json!({"user_id": ids[3], "access_level": 10, "expires_at": "2030-02-30"}),
            400,
            json!({"error": "expires_at is invalid"}),
        ),
        (
            "past date",
            json!({"user_id": ids[3], "access_level": 10, "expires_at": "2030-06-14"}),
            400,
            json!({"message": {"expires_at": ["cannot be a date in the past"]}}),
        ),
        (
            "unknown user",
            json!({"user_id": 99_999, "access_level": 10}),
            404,
            json!({"message": "404 User Not Found"}),
        ),
        (
            "already a member",
            json!({"user_id": ids[2], "access_level": 10}),
            409,
            json!({"message": "Member already exists"}),
        ),
    ];
    for (what, body, status, expected) in cases {
        let r = s.post_json(&members, &owner, body).await;
        check(what, &r, status, Some(expected));
    }
    check(
        "unknown member",
        &s.get(&one(99_999), &owner).await,
        404,
        Some(json!({"message": "404 Not found"})),
    );
    check(
        "not a number",
        &s.get(&format!("{members}/x"), &owner).await,
        404,
        None,
    );

    // Who may do what: a Developer nothing, a Maintainer up to Maintainer, Owners anything;
    // anyone may leave; an outsider does not see the group.
    let outsider = s.token("outsider", false).await;
    check(
        "outsider lists",
        &s.get(&members, &outsider).await,
        404,
        Some(json!({"message": "404 Group Not Found"})),
    );
    let r = s
        .post_json(
            &members,
            &dev,
            json!({"user_id": ids[3], "access_level": 10}),
        )
        .await;
    check(
        "developer adds",
        &r,
        403,
        Some(json!({"message": "403 Forbidden"})),
    );
    let r = s
        .post_json(
            &members,
            &maint,
            json!({"user_id": ids[3], "access_level": 50}),
        )
        .await;
    check("maintainer grants owner", &r, 403, None);
    let r = s
        .post_json(
            &members,
            &maint,
            json!({"user_id": ids[3], "access_level": 10}),
        )
        .await;
    check("maintainer adds a guest", &r, 201, None);
    let r = s
        .put_json(
            &one(ids[3]),
            &maint,
            json!({"access_level": 20, "expires_at": "2031-01-01"}),
        )
        .await;
    check("maintainer promotes", &r, 200, None);
    assert_eq!(
        (r.body["access_level"].clone(), r.body["expires_at"].clone()),
        (json!(20), json!("2031-01-01"))
    );
    let r = s
        .put_json(&one(ids[3]), &maint, json!({"access_level": 20}))
        .await;
    assert_eq!(
        r.body["expires_at"], "2031-01-01",
        "an absent expires_at keeps it"
    );
    let r = s
        .put_json(
            &one(ids[3]),
            &maint,
            json!({"access_level": 20, "expires_at": null}),
        )
        .await;
    assert_eq!(r.body["expires_at"], Value::Null, "null clears it");
    let r = s
        .put_json(
            &one(ids[3]),
            &maint,
            json!({"access_level": 20, "expires_at": "soon"}),
        )
        .await;
    check(
        "bad date on update",
        &r,
        400,
        Some(json!({"error": "expires_at is invalid"})),
    );
    let r = s
        .put_json(&one(ids[0]), &maint, json!({"access_level": 40}))
        .await;
    check("maintainer demotes the owner", &r, 403, None);
    let r = s.delete(&one(ids[2]), &dev).await;
    check("developer leaves", &r, 204, None);
    check("left", &s.get(&one(ids[2]), &owner).await, 404, None);

    // The last Owner stays: neither removed nor changed, even by themselves or an admin.
    let admin = s.token("root", true).await;
    for (who, token) in [("owner", &owner), ("admin", &admin)] {
        let r = s.delete(&one(ids[0]), token).await;
        check(&format!("{who} removes the last owner"), &r, 403, None);
        let r = s
            .put_json(&one(ids[0]), token, json!({"access_level": 40}))
            .await;
        check(&format!("{who} demotes the last owner"), &r, 403, None);
    }
    let r = s
        .put_json(&one(ids[1]), &owner, json!({"access_level": 50}))
        .await;
    check("a second owner", &r, 200, None);
    let r = s
        .put_json(&one(ids[0]), &owner, json!({"access_level": 40}))
        .await;
    check("now one may step down", &r, 200, None);
    let r = s.delete(&one(ids[1]), &owner).await;
    check("a maintainer removes an owner", &r, 403, None);
    let r = s.get(&members, &owner).await;
    assert_eq!(
        levels(&r),
        [
            ("owner".into(), 40),
            ("maint".into(), 50),
            ("guest".into(), 20)
        ]
    );
}

#[tokio::test]
async fn group_members_and_their_rules_sqlite() {
    let clock = Arc::new(ManualClock::new(START_MS));
    let s = TestServer::builder().clock(clock).start().await;
    members_and_their_rules(&s).await;
}

#[tokio::test]
async fn group_members_and_their_rules_postgres() {
    let clock = Arc::new(ManualClock::new(START_MS));
    let Some(s) = TestServer::builder().clock(clock).postgres().start().await else {
        return;
    };
    members_and_their_rules(&s).await;
}

/// A push of `main` (one new commit) to `full_path` as `token`: git's error text when refused.
async fn push(
    s: &TestServer,
    token: &str,
    full_path: &str,
    work: &Arc<Work>,
) -> Result<(), String> {
    let url = s.push_url(token, full_path);
    let w = work.clone();
    blocking(move || {
        w.commit("more");
        w.try_push(&url, &["main"])
    })
    .await
}

/// A clone of `full_path` as `token`: git's error text when refused.
async fn clone(s: &TestServer, token: &str, full_path: &str) -> Result<(), String> {
    let url = s.push_url(token, full_path);
    blocking(move || {
        let w = Work::new();
        w.try_git(&["fetch", "-q", &url, "main"]).map(drop)
    })
    .await
}

async fn inherited_access_and_expiry(s: &TestServer, clock: &ManualClock) {
    let owner = s.token("owner", false).await;
    let dev = s.token("dev", false).await;
    let rep = s.token("rep", false).await;
    let temp = s.token("temp", false).await;
    let (dev_id, rep_id, temp_id) = (
        s.user_id("dev").await,
        s.user_id("rep").await,
        s.user_id("temp").await,
    );
    let api = s.api(&owner);
    let org = api.create_group("org", None).await;
    let team = api.create_group("team", Some(org.id)).await;
    let sub = api.create_group("sub", Some(team.id)).await;
    let p = api
        .create_project_with(json!({"name": "app", "namespace_id": sub.id}))
        .await;
    let path = p.path_with_namespace.clone();
    assert_eq!(path, "org/team/sub/app");
    api.add_group_member(org.id, dev_id, 30).await;
    api.add_group_member(team.id, rep_id, 20).await;
    // A direct project membership lower than the inherited one: the highest wins.
    api.add_member(p.id, dev_id, 10).await;
    let r = s
        .post_json(
            &format!("/groups/{}/members", team.id),
            &owner,
            json!({"user_id": temp_id, "access_level": 30, "expires_at": "2030-06-15"}),
        )
        .await;
    check("temp until today", &r, 201, None);

    // Every ancestor's members count below, the highest access winning.
    let r = s
        .get(&format!("/projects/{}/members/all", p.id), &rep)
        .await;
    assert_eq!(
        levels(&r),
        [
            ("owner".into(), 50),
            ("dev".into(), 30),
            ("rep".into(), 20),
            ("temp".into(), 30)
        ]
    );
    let r = s
        .get(
            &format!("/projects/{}/members/all?per_page=2&page=2", p.id),
            &rep,
        )
        .await;
    assert_eq!(levels(&r), [("rep".into(), 20), ("temp".into(), 30)]);
    assert_eq!(r.header("x-total"), "4");
    let r = s
        .get(&format!("/projects/{}/members/all/{dev_id}", p.id), &rep)
        .await;
    assert_eq!(r.body["access_level"], 30);
    let r = s.get(&format!("/projects/{}/members", p.id), &rep).await;
    assert_eq!(
        levels(&r),
        [("dev".into(), 10)],
        "direct members only; a group Owner made it, so gets no direct membership"
    );
    let r = s
        .get(&format!("/groups/{}/members/all", sub.id), &rep)
        .await;
    assert_eq!(levels(&r).len(), 4);
    let r = s
        .get(&format!("/groups/{}/members/all", org.id), &rep)
        .await;
    assert_eq!(levels(&r), [("owner".into(), 50), ("dev".into(), 30)]);
    check(
        "not a member",
        &s.get(&format!("/groups/{}/members/all/{rep_id}", org.id), &owner)
            .await,
        404,
        None,
    );

    // Inherited levels decide the API and git: the project shows the effective level, a group
    // Developer pushes, a Reporter clones but may not push, the group's Owner administers.
    let r = s.get(&format!("/projects/{}", p.id), &dev).await;
    assert_eq!(r.body["permissions"]["project_access"]["access_level"], 30);
    let work = Arc::new(Work::new());
    push(s, &owner, &path, &work).await.expect("owner pushes");
    push(s, &dev, &path, &work)
        .await
        .expect("an inherited Developer pushes");
    clone(s, &rep, &path)
        .await
        .expect("an inherited Reporter clones");
    let err = push(s, &rep, &path, &work)
        .await
        .expect_err("a Reporter may not push");
    assert!(err.contains("403"), "{err}");
    let outsider = s.token("outsider", false).await;
    let err = clone(s, &outsider, &path).await.expect_err("an outsider");
    assert!(
        err.contains("not found") || err.contains("not be found"),
        "{err}"
    );
    // Protected branches still hold for inherited Developers.
    api.protect_branch(p.id, "main").await;
    let err = push(s, &dev, &path, &work)
        .await
        .expect_err("main is protected");
    assert!(err.contains("protected branch"), "{err}");
    let r = s
        .post_json(
            &format!("/projects/{}/members", p.id),
            &dev,
            json!({"user_id": rep_id, "access_level": 10}),
        )
        .await;
    check("a Developer administers nothing", &r, 403, None);
    let r = s
        .post_json(
            &format!("/projects/{}/remote_mirrors", p.id),
            &rep,
            json!({"url": "https://example.com/x.git"}),
        )
        .await;
    check(
        "a Reporter administers no mirrors (GitLab's 401)",
        &r,
        401,
        None,
    );

    // Expiry: through the expiry day…
    push(s, &temp, &path, &work)
        .await
        .expect_err("main is protected for temp too");
    clone(s, &temp, &path).await.expect("temp reads today");
    let r = s
        .get(&format!("/groups/{}/members/{temp_id}", team.id), &owner)
        .await;
    check("temp listed", &r, 200, None);
    // …and nothing from the day after.
    clock.advance(DAY_MS);
    check(
        "project hidden",
        &s.get(&format!("/projects/{}", p.id), &temp).await,
        404,
        Some(json!({"message": "404 Project Not Found"})),
    );
    check(
        "group hidden",
        &s.get(&format!("/groups/{}", team.id), &temp).await,
        404,
        None,
    );
    let err = clone(s, &temp, &path).await.expect_err("expired");
    assert!(
        err.contains("not found") || err.contains("not be found"),
        "{err}"
    );
    let r = s
        .get(&format!("/projects/{}/members/all", p.id), &owner)
        .await;
    assert!(!levels(&r).iter().any(|(u, _)| u == "temp"), "{}", r.text);
    check(
        "not a member any more",
        &s.get(&format!("/groups/{}/members/{temp_id}", team.id), &owner)
            .await,
        404,
        None,
    );
    // An expired membership makes way for a new one.
    let r = s
        .post_json(
            &format!("/groups/{}/members", team.id),
            &owner,
            json!({"user_id": temp_id, "access_level": 20}),
        )
        .await;
    check("re-added", &r, 201, None);
    clone(s, &temp, &path).await.expect("temp reads again");

    // Project memberships expire the same way.
    let r = s
        .post_json(
            &format!("/projects/{}/members", p.id),
            &owner,
            json!({"user_id": "outsider", "access_level": 20, "expires_at": "2030-06-16"}),
        )
        .await;
    check("project member until today", &r, 201, None);
    assert_eq!(r.body["expires_at"], "2030-06-16");
    clone(s, &outsider, &path)
        .await
        .expect("outsider reads today");
    clock.advance(DAY_MS);
    clone(s, &outsider, &path)
        .await
        .expect_err("outsider expired");
    let r = s.get(&format!("/projects/{}/members", p.id), &owner).await;
    assert_eq!(levels(&r), [("dev".into(), 10)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inherited_access_and_expiry_sqlite() {
    let clock = Arc::new(ManualClock::new(START_MS));
    let s = TestServer::builder().clock(clock.clone()).start().await;
    inherited_access_and_expiry(&s, &clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inherited_access_and_expiry_postgres() {
    let clock = Arc::new(ManualClock::new(START_MS));
    let Some(s) = TestServer::builder()
        .clock(clock.clone())
        .postgres()
        .start()
        .await
    else {
        return;
    };
    inherited_access_and_expiry(&s, &clock).await;
}
