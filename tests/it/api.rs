//! Integration tests over real HTTP: each test starts the real server on `127.0.0.1:0` with a fresh
//! data directory and checks GitLab's status codes and bodies exactly. Setup goes through the
//! typed API client; what is under test goes through raw requests, so its shape is checked.

use crate::common;

use common::{contains_bytes, read_all_files, Body, Resp, TestServer};
use serde_json::{json, Value};

/// GitLab's timestamp format: UTC with milliseconds.
const TIMESTAMP: &str = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$";

/// Asserts a response's status and, when given, its exact JSON body.
#[track_caller]
fn check(what: &str, r: &Resp, status: u16, body: Option<Value>) {
    assert_eq!(r.status, status, "{what}: status; body {}", r.text);
    if let Some(b) = body {
        assert_eq!(r.body, b, "{what}: body");
    }
}

#[track_caller]
fn assert_timestamp(v: &Value, what: &str) {
    let re = regex::Regex::new(TIMESTAMP).unwrap();
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a string: {v}"));
    assert!(
        re.is_match(s),
        "{what}: {s} is not GitLab's timestamp format"
    );
}

fn unauthorized() -> Option<Value> {
    Some(json!({"message": "401 Unauthorized"}))
}

fn project_not_found() -> Option<Value> {
    Some(json!({"message": "404 Project Not Found"}))
}

fn record_not_found() -> Option<Value> {
    Some(json!({"message": "404 Not found"}))
}

/// A random suffix, so secrets in one test are distinctive.
fn nonce() -> String {
    format!("{:08x}", rand::random::<u32>())
}

// ---------------------------------------------------------------------------------------------
// Authentication, /user, /version, /users

#[tokio::test]
async fn every_token_transport_authenticates_and_bad_tokens_get_401() {
    let s = TestServer::builder().start().await;
    let token = s.token("alice", false).await;
    let ok = [
        (
            "PRIVATE-TOKEN",
            s.raw(reqwest::Method::GET, "/user")
                .header("PRIVATE-TOKEN", &token),
        ),
        (
            "Bearer",
            s.raw(reqwest::Method::GET, "/user").bearer_auth(&token),
        ),
        (
            "private_token",
            s.raw(
                reqwest::Method::GET,
                &format!("/user?private_token={token}"),
            ),
        ),
        (
            "access_token",
            s.raw(reqwest::Method::GET, &format!("/user?access_token={token}")),
        ),
    ];
    for (how, rb) in ok {
        let r = s.send(rb).await;
        check(how, &r, 200, None);
        assert_eq!(r.body["username"], "alice", "{how}");
    }
    let bad = "pmpat-notarealtokennotarealtoken00";
    let refused = [
        ("no token", s.raw(reqwest::Method::GET, "/user")),
        (
            "bad PRIVATE-TOKEN",
            s.raw(reqwest::Method::GET, "/user")
                .header("PRIVATE-TOKEN", bad),
        ),
        (
            "bad Bearer",
            s.raw(reqwest::Method::GET, "/user").bearer_auth(bad),
        ),
        (
            "bad private_token",
            s.raw(reqwest::Method::GET, &format!("/user?private_token={bad}")),
        ),
        (
            "bad access_token",
            s.raw(reqwest::Method::GET, &format!("/user?access_token={bad}")),
        ),
        ("no token /version", s.raw(reqwest::Method::GET, "/version")),
        ("no token /users", s.raw(reqwest::Method::GET, "/users")),
        (
            "no token /projects",
            s.raw(reqwest::Method::GET, "/projects"),
        ),
        (
            "no token POST /projects",
            s.raw(reqwest::Method::POST, "/projects"),
        ),
    ];
    for (how, rb) in refused {
        check(how, &s.send(rb).await, 401, unauthorized());
    }
}

#[tokio::test]
async fn user_version_and_users_lookup() {
    let s = TestServer::builder().start().await;
    let admin = s.token("root", true).await;
    let alice = s.token("alice", false).await;

    let r = s.get("/user", &admin).await;
    check("GET /user", &r, 200, None);
    assert_eq!(r.body["username"], "root");
    assert_eq!(r.body["is_admin"], true);
    assert_eq!(r.body["web_url"], format!("{}/root", s.base));
    assert_timestamp(&r.body["created_at"], "user.created_at");
    let r = s.get("/user", &alice).await;
    assert_eq!(r.body["is_admin"], false);

    let r = s.get("/version", &alice).await;
    check("GET /version", &r, 200, None);
    assert_eq!(r.body["version"], "18.6.0");
    assert!(r.body["revision"]
        .as_str()
        .unwrap()
        .starts_with("pushmirror-"));
    let metadata = s.get("/metadata", &alice).await;
    check("GET /metadata", &metadata, 200, None);
    assert_eq!(metadata.body, r.body, "/metadata is /version's entity");
    assert_eq!(metadata.body["enterprise"], true);

    let r = s.get("/users?username=alice", &admin).await;
    check("GET /users?username=alice", &r, 200, None);
    let users = r.body.as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["username"], "alice");
    assert_eq!(users[0]["id"], s.user_id("alice").await);
    assert_eq!(users[0]["is_admin"], false, "an admin sees the full entity");
    let r = s.get("/users?username=root", &alice).await;
    let users = r.body.as_array().unwrap();
    assert_eq!(users[0]["username"], "root");
    assert!(
        users[0].get("is_admin").is_none(),
        "others the basic entity only"
    );
    check(
        "GET /users?username=nobody",
        &s.get("/users?username=nobody", &alice).await,
        200,
        Some(json!([])),
    );
    let all = s.get("/users", &alice).await;
    assert_eq!(all.body.as_array().unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Projects

#[tokio::test]
async fn project_create_success_and_errors() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let bob = s.token("bob", false).await;
    let admin = s.token("root", true).await;

    // Name only: the path is derived from it.
    let r = s
        .post_json("/projects", &alice, json!({"name": "My Project"}))
        .await;
    check("name only", &r, 201, None);
    let p = &r.body;
    assert_eq!(p["name"], "My Project");
    assert_eq!(p["path"], "my-project");
    assert_eq!(p["path_with_namespace"], "alice/my-project");
    assert_eq!(p["name_with_namespace"], "alice / My Project");
    assert_eq!(p["visibility"], "private");
    assert_eq!(p["namespace"]["path"], "alice");
    assert_eq!(p["namespace"]["kind"], "user");
    assert_eq!(
        p["http_url_to_repo"],
        format!("{}/alice/my-project.git", s.base)
    );
    assert_eq!(p["web_url"], format!("{}/alice/my-project", s.base));
    assert_eq!(p["permissions"]["project_access"]["access_level"], 50);
    assert_eq!(p["empty_repo"], true);
    assert_timestamp(&p["created_at"], "project.created_at");
    assert_timestamp(&p["last_activity_at"], "project.last_activity_at");
    let repo = s
        .data_dir()
        .join("repositories")
        .join(format!("{}.git", p["id"]));
    assert!(repo.join("HEAD").is_file(), "bare repository created");

    // Path only: the name is the path.
    let r = s
        .post_json("/projects", &alice, json!({"path": "tools"}))
        .await;
    check("path only", &r, 201, None);
    assert_eq!(r.body["name"], "tools");
    assert_eq!(r.body["path"], "tools");

    // Both, as a form, public.
    let r = s
        .post_form(
            "/projects",
            &alice,
            vec![
                ("name", "Web Site".into()),
                ("path", "site".into()),
                ("visibility", "public".into()),
                ("description", "d".into()),
            ],
        )
        .await;
    check("form", &r, 201, None);
    assert_eq!(r.body["path"], "site");
    assert_eq!(r.body["visibility"], "public");
    assert_eq!(r.body["description"], "d");

    let cases: Vec<(&str, &str, Value, u16, Value)> = vec![
        (
            "name and path missing",
            &alice,
            json!({"description": "x"}),
            400,
            json!({"error": "name, path are missing, at least one parameter must be provided"}),
        ),
        (
            "duplicate path",
            &alice,
            json!({"name": "Other", "path": "tools"}),
            400,
            json!({"message": {"path": ["has already been taken"]}}),
        ),
        (
            "duplicate name",
            &alice,
            json!({"name": "My Project", "path": "another"}),
            400,
            json!({"message": {"name": ["has already been taken"]}}),
        ),
        (
            "invalid path",
            &alice,
            json!({"name": "fine", "path": "-bad"}),
            400,
            json!({"message": {"path": ["can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'"]}}),
        ),
        (
            "path ending in .git",
            &alice,
            json!({"name": "x", "path": "x.git"}),
            400,
            json!({"message": {"path": ["can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'"]}}),
        ),
        (
            "invalid visibility",
            &alice,
            json!({"name": "v", "visibility": "secret"}),
            400,
            json!({"error": "visibility does not have a valid value"}),
        ),
        (
            "someone else's namespace by path",
            &bob,
            json!({"name": "sneaky", "namespace_id": "alice"}),
            404,
            json!({"message": "404 Namespace Not Found"}),
        ),
        (
            "unknown namespace",
            &bob,
            json!({"name": "lost", "namespace_id": 9999}),
            404,
            json!({"message": "404 Namespace Not Found"}),
        ),
    ];
    for (what, token, body, status, expected) in cases {
        let r = s.post_json("/projects", token, body).await;
        check(what, &r, status, Some(expected));
    }

    // namespace_id by id and by path, and an admin may create in anyone's namespace.
    let ns_id = p["namespace"]["id"].as_i64().unwrap();
    let r = s
        .post_json(
            "/projects",
            &alice,
            json!({"name": "by-id", "namespace_id": ns_id}),
        )
        .await;
    check("namespace by id", &r, 201, None);
    assert_eq!(r.body["path_with_namespace"], "alice/by-id");
    let r = s
        .post_json(
            "/projects",
            &alice,
            json!({"name": "by-path", "namespace_id": "alice"}),
        )
        .await;
    check("namespace by path", &r, 201, None);
    assert_eq!(r.body["namespace"]["id"], ns_id);
    let r = s
        .post_json(
            "/projects",
            &admin,
            json!({"name": "by-admin", "namespace_id": "bob"}),
        )
        .await;
    check("admin in bob's namespace", &r, 201, None);
    assert_eq!(r.body["path_with_namespace"], "bob/by-admin");
}

#[tokio::test]
async fn project_list_is_paginated_with_gitlab_headers() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let bob = s.token("bob", false).await;
    for i in 0..5 {
        s.api(&alice).create_project(&format!("p{i}")).await;
    }
    s.api(&bob).create_project("bobs").await;

    let r = s.get("/projects?per_page=2&page=2", &alice).await;
    check("page 2", &r, 200, None);
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    assert_eq!(r.header("x-total"), "5");
    assert_eq!(r.header("x-total-pages"), "3");
    assert_eq!(r.header("x-page"), "2");
    assert_eq!(r.header("x-per-page"), "2");
    assert_eq!(r.header("x-next-page"), "3");
    assert_eq!(r.header("x-prev-page"), "1");
    let link = r.header("link");
    let base = format!("{}/api/v4/projects", s.base);
    for rel in [
        format!("<{base}?page=1&per_page=2>; rel=\"prev\""),
        format!("<{base}?page=3&per_page=2>; rel=\"next\""),
        format!("<{base}?page=1&per_page=2>; rel=\"first\""),
        format!("<{base}?page=3&per_page=2>; rel=\"last\""),
    ] {
        assert!(link.contains(&rel), "Link lacks {rel}: {link}");
    }

    let r = s.get("/projects?per_page=2&page=3", &alice).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.header("x-next-page"), "");
    assert_eq!(r.header("x-prev-page"), "2");
    assert!(!r.header("link").contains("rel=\"next\""));

    let r = s.get("/projects", &alice).await;
    assert_eq!(r.header("x-per-page"), "20");
    assert_eq!(r.header("x-page"), "1");
    assert_eq!(r.header("x-prev-page"), "");
    let names: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"bobs"),
        "a private project of someone else is not listed"
    );

    let r = s.get("/projects?per_page=500", &alice).await;
    check("per_page clamped", &r, 200, None);
    assert_eq!(r.header("x-per-page"), "100");
    assert_eq!(r.header("x-total-pages"), "1");
}

#[tokio::test]
async fn project_get_visibility_and_delete() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let bob = s.token("bob", false).await;
    let admin = s.token("root", true).await;
    let p = s.api(&alice).create_project("secret-plans").await;
    let id = p.id;
    let public = s
        .post_json(
            "/projects",
            &alice,
            json!({"name": "open", "visibility": "public"}),
        )
        .await
        .body;

    for path in [
        format!("/projects/{id}"),
        "/projects/alice%2Fsecret-plans".into(),
    ] {
        let r = s.get(&path, &alice).await;
        check(&path, &r, 200, None);
        assert_eq!(r.body["id"], id);
    }
    /// (what, path, token, status, body)
    type Case<'a> = (&'a str, String, Option<&'a str>, u16, Option<Value>);
    let cases: Vec<Case> = vec![
        (
            "unknown id",
            "/projects/9999".into(),
            Some(&alice),
            404,
            project_not_found(),
        ),
        (
            "unknown path",
            "/projects/alice%2Fnope".into(),
            Some(&alice),
            404,
            project_not_found(),
        ),
        (
            "path without namespace",
            "/projects/secret-plans".into(),
            Some(&alice),
            404,
            project_not_found(),
        ),
        (
            "non-member, private",
            format!("/projects/{id}"),
            Some(&bob),
            404,
            project_not_found(),
        ),
        (
            "anonymous, private",
            format!("/projects/{id}"),
            None,
            401,
            unauthorized(),
        ),
        (
            "admin, private",
            format!("/projects/{id}"),
            Some(&admin),
            200,
            None,
        ),
        (
            "non-member, public",
            format!("/projects/{}", public["id"]),
            Some(&bob),
            200,
            None,
        ),
        (
            "anonymous, public",
            format!("/projects/{}", public["id"]),
            None,
            200,
            None,
        ),
    ];
    for (what, path, token, status, body) in cases {
        let r = s.request("GET", &path, token, Body::None).await;
        check(what, &r, status, body);
    }
    let r = s.get(&format!("/projects/{}", public["id"]), &bob).await;
    assert_eq!(r.body["permissions"]["project_access"], Value::Null);

    // Only an Owner (or admin) deletes; a Maintainer gets 403, a stranger 404.
    let bob_id = s.user_id("bob").await;
    s.api(&alice).add_member(id, bob_id, 40).await;
    check(
        "maintainer deletes",
        &s.delete(&format!("/projects/{id}"), &bob).await,
        403,
        Some(json!({"message": "403 Forbidden"})),
    );
    let repo = s.data_dir().join("repositories").join(format!("{id}.git"));
    assert!(repo.is_dir());
    let mirror_id = s
        .api(&alice)
        .create_mirror_with(id, json!({"url": "https://u:p@203.0.113.10/x.git"}))
        .await
        .id;
    check(
        "owner deletes",
        &s.delete(&format!("/projects/{id}"), &alice).await,
        202,
        Some(json!({"message": "202 Accepted"})),
    );
    assert!(!repo.exists(), "repository directory removed");
    assert!(
        s.state
            .store
            .mirror_by_id(mirror_id)
            .await
            .unwrap()
            .is_none(),
        "the project's mirrors and their credentials went with it"
    );
    check(
        "after delete",
        &s.get(&format!("/projects/{id}"), &alice).await,
        404,
        project_not_found(),
    );
    check(
        "delete unknown",
        &s.delete(&format!("/projects/{id}"), &alice).await,
        404,
        project_not_found(),
    );
}

// ---------------------------------------------------------------------------------------------
// Members

#[tokio::test]
async fn members_add_list_show_remove() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let bob = s.token("bob", false).await;
    s.token("carol", false).await;
    let p = s.api(&alice).create_project("team").await;
    let base = format!("/projects/{}/members", p.id);
    let bob_id = s.user_id("bob").await;

    let r = s
        .post_json(
            &base,
            &alice,
            json!({"user_id": bob_id, "access_level": 30}),
        )
        .await;
    check("add", &r, 201, None);
    assert_eq!(r.body["id"], bob_id);
    assert_eq!(r.body["username"], "bob");
    assert_eq!(r.body["access_level"], 30);
    assert_eq!(r.body["expires_at"], Value::Null);
    assert_timestamp(&r.body["created_at"], "member.created_at");

    let cases: Vec<(&str, &str, Value, u16, Value)> = vec![
        (
            "duplicate",
            &alice,
            json!({"user_id": bob_id, "access_level": 40}),
            409,
            json!({"message": "Member already exists"}),
        ),
        (
            "invalid level",
            &alice,
            json!({"user_id": "carol", "access_level": 35}),
            400,
            json!({"error": "access_level does not have a valid value"}),
        ),
        (
            "missing level",
            &alice,
            json!({"user_id": "carol"}),
            400,
            json!({"error": "access_level is missing"}),
        ),
        (
            "missing user",
            &alice,
            json!({"access_level": 30}),
            400,
            json!({"error": "user_id is missing"}),
        ),
        (
            "unknown user",
            &alice,
            json!({"user_id": 9999, "access_level": 30}),
            404,
            json!({"message": "404 User Not Found"}),
        ),
        (
            "developer may not add",
            &bob,
            json!({"user_id": "carol", "access_level": 30}),
            403,
            json!({"message": "403 Forbidden"}),
        ),
    ];
    for (what, token, body, status, expected) in cases {
        check(
            what,
            &s.post_json(&base, token, body).await,
            status,
            Some(expected),
        );
    }

    let r = s.get(&base, &alice).await;
    check("list", &r, 200, None);
    assert_eq!(r.header("x-total"), "2");
    let names: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["username"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"alice") && names.contains(&"bob"));

    let r = s.get(&format!("{base}/{bob_id}"), &alice).await;
    check("show", &r, 200, None);
    assert_eq!(r.body["access_level"], 30);
    check(
        "show unknown",
        &s.get(&format!("{base}/9999"), &alice).await,
        404,
        record_not_found(),
    );
    check(
        "show non-numeric",
        &s.get(&format!("{base}/abc"), &alice).await,
        404,
        record_not_found(),
    );

    let r = s.delete(&format!("{base}/{bob_id}"), &alice).await;
    check("remove", &r, 204, None);
    assert_eq!(r.text, "");
    check(
        "removed",
        &s.get(&format!("{base}/{bob_id}"), &alice).await,
        404,
        record_not_found(),
    );
    check(
        "remove again",
        &s.delete(&format!("{base}/{bob_id}"), &alice).await,
        404,
        record_not_found(),
    );
}

// ---------------------------------------------------------------------------------------------
// Protected branches

#[tokio::test]
async fn protected_branches_with_wildcards() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let p = s.api(&alice).create_project("guarded").await;
    let base = format!("/projects/{}/protected_branches", p.id);

    let r = s.post_json(&base, &alice, json!({"name": "main"})).await;
    check("protect main", &r, 201, None);
    assert_eq!(r.body["name"], "main");
    assert_eq!(r.body["push_access_levels"][0]["access_level"], 40);
    assert_eq!(
        r.body["push_access_levels"][0]["access_level_description"],
        "Maintainers"
    );
    assert_eq!(r.body["merge_access_levels"][0]["access_level"], 40);
    assert_eq!(r.body["allow_force_push"], false);

    let r = s
        .post_form(
            &base,
            &alice,
            vec![
                ("name", "release-*".into()),
                ("push_access_level", "30".into()),
                ("merge_access_level", "0".into()),
                ("allow_force_push", "true".into()),
            ],
        )
        .await;
    check("protect wildcard", &r, 201, None);
    assert_eq!(r.body["name"], "release-*");
    assert_eq!(
        r.body["push_access_levels"][0]["access_level_description"],
        "Developers + Maintainers"
    );
    assert_eq!(
        r.body["merge_access_levels"][0]["access_level_description"],
        "No one"
    );
    assert_eq!(r.body["allow_force_push"], true);

    check(
        "duplicate",
        &s.post_json(&base, &alice, json!({"name": "main"})).await,
        409,
        Some(json!({"message": "Protected branch 'main' already exists"})),
    );
    check(
        "missing name",
        &s.post_json(&base, &alice, json!({})).await,
        400,
        Some(json!({"error": "name is missing"})),
    );
    check(
        "invalid level",
        &s.post_json(&base, &alice, json!({"name": "x", "push_access_level": 50}))
            .await,
        400,
        Some(json!({"error": "push_access_level does not have a valid value"})),
    );

    let r = s.get(&format!("{base}/release-%2A"), &alice).await;
    check("get wildcard", &r, 200, None);
    assert_eq!(r.body["name"], "release-*");
    check(
        "get unknown",
        &s.get(&format!("{base}/dev"), &alice).await,
        404,
        record_not_found(),
    );

    let r = s.get(&base, &alice).await;
    check("list", &r, 200, None);
    assert_eq!(r.header("x-total"), "2");
    let r = s.get(&format!("{base}?search=rel"), &alice).await;
    check("search", &r, 200, None);
    let names: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["release-*"]);

    check(
        "unprotect",
        &s.delete(&format!("{base}/release-%2A"), &alice).await,
        204,
        None,
    );
    check(
        "unprotect again",
        &s.delete(&format!("{base}/release-%2A"), &alice).await,
        404,
        record_not_found(),
    );
    check(
        "gone",
        &s.get(&format!("{base}/release-%2A"), &alice).await,
        404,
        record_not_found(),
    );

    // Names with a slash travel URL-encoded.
    let r = s
        .post_json(&base, &alice, json!({"name": "feature/x"}))
        .await;
    check("protect feature/x", &r, 201, None);
    let r = s.get(&format!("{base}/feature%2Fx"), &alice).await;
    check("get feature%2Fx", &r, 200, None);
    assert_eq!(r.body["name"], "feature/x");

    // A Developer reads but may not protect; a stranger does not see the project.
    let bob = s.token("bob", false).await;
    let stranger = s.token("stranger", false).await;
    let bob_id = s.user_id("bob").await;
    s.api(&alice).add_member(p.id, bob_id, 30).await;
    check("developer lists", &s.get(&base, &bob).await, 200, None);
    check(
        "developer protects",
        &s.post_json(&base, &bob, json!({"name": "dev"})).await,
        403,
        Some(json!({"message": "403 Forbidden"})),
    );
    check(
        "developer unprotects",
        &s.delete(&format!("{base}/main"), &bob).await,
        403,
        Some(json!({"message": "403 Forbidden"})),
    );
    check(
        "stranger lists",
        &s.get(&base, &stranger).await,
        404,
        project_not_found(),
    );
    check(
        "anonymous lists",
        &s.request("GET", &base, None, Body::None).await,
        401,
        unauthorized(),
    );
}

// ---------------------------------------------------------------------------------------------
// Remote mirrors

/// A public address (TEST-NET-3): accepted by the URL rules, and never contacted, since nothing in
/// these tests pushes.
const REMOTE: &str = "203.0.113.10";

/// The entity of a mirror created with nothing but `url`.
fn default_mirror(id: &Value, url: &str) -> Value {
    json!({
        "id": id,
        "enabled": false,
        "url": url,
        "update_status": "none",
        "last_update_at": null,
        "last_update_started_at": null,
        "last_successful_update_at": null,
        "last_error": null,
        "only_protected_branches": false,
        "keep_divergent_refs": false,
        "mirror_branch_regex": null,
        "auth_method": "password",
        "lfs_sync": "required",
        "host_keys": [],
        "sync_interval": 0,
        "sync_on_commit": true,
    })
}

/// Create, list, get, update (PUT and POST), sync, public_key and delete on one mirror.
async fn mirror_crud(s: &TestServer) {
    let alice = s.token("alice", false).await;
    let p = s.api(&alice).create_project("mirrored").await;
    let base = format!("/projects/{}/remote_mirrors", p.id);

    let r = s.get(&base, &alice).await;
    check("empty list", &r, 200, Some(json!([])));
    assert_eq!(r.header("x-total"), "0");

    let r = s
        .post_json(
            &base,
            &alice,
            json!({"url": format!("https://{REMOTE}/x.git")}),
        )
        .await;
    check("create with defaults", &r, 201, None);
    let id = r.body["id"].clone();
    assert_eq!(
        r.body,
        default_mirror(&id, &format!("https://{REMOTE}/x.git"))
    );

    let r = s
        .post_json(
            &base,
            &alice,
            json!({
                "url": format!("https://mirror-user:Pa55-{}@{REMOTE}/y.git", nonce()),
                "enabled": true,
                "keep_divergent_refs": true,
                "only_protected_branches": true,
            }),
        )
        .await;
    check("create with every setting", &r, 201, None);
    let id2 = r.body["id"].clone();
    assert_eq!(r.body["enabled"], true);
    assert_eq!(r.body["keep_divergent_refs"], true);
    assert_eq!(r.body["only_protected_branches"], true);
    assert_eq!(r.body["url"], format!("https://*****:*****@{REMOTE}/y.git"));

    let r = s.get(&base, &alice).await;
    check("list", &r, 200, None);
    assert_eq!(r.header("x-total"), "2");
    let ids: Vec<&Value> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["id"])
        .collect();
    assert_eq!(ids, vec![&id, &id2]);
    // The list is read another way than a single mirror; both must show the same entity.
    for listed in r.body.as_array().unwrap() {
        let one = s.get(&format!("{base}/{}", listed["id"]), &alice).await;
        assert_eq!(listed, &one.body, "list entry vs GET of the same mirror");
    }
    let r = s.get(&format!("{base}?per_page=1&page=2"), &alice).await;
    assert_eq!(r.body.as_array().unwrap()[0]["id"], id2);
    assert_eq!(r.header("x-total-pages"), "2");
    assert_eq!(r.header("x-total"), "2");
    // Past the end the page is empty, and the total still counts every mirror.
    let r = s.get(&format!("{base}?per_page=1&page=5"), &alice).await;
    assert_eq!(r.body, json!([]));
    assert_eq!(r.header("x-total"), "2");

    let r = s.get(&format!("{base}/{id}"), &alice).await;
    check(
        "get",
        &r,
        200,
        Some(default_mirror(&id, &format!("https://{REMOTE}/x.git"))),
    );

    let r = s
        .put_json(
            &format!("{base}/{id}"),
            &alice,
            json!({"enabled": true, "mirror_branch_regex": "^release/.*$", "keep_divergent_refs": true}),
        )
        .await;
    check("update via PUT", &r, 200, None);
    assert_eq!(r.body["enabled"], true);
    assert_eq!(r.body["mirror_branch_regex"], "^release/.*$");
    assert_eq!(r.body["keep_divergent_refs"], true);
    assert_eq!(r.body["only_protected_branches"], false);

    // POST on the mirror is an update too (@gitbeaker sends it); protected-only clears the regex.
    let r = s
        .post_json(
            &format!("{base}/{id}"),
            &alice,
            json!({"only_protected_branches": true}),
        )
        .await;
    check("update via POST", &r, 200, None);
    assert_eq!(r.body["only_protected_branches"], true);
    assert_eq!(r.body["mirror_branch_regex"], Value::Null);
    assert_eq!(r.body["enabled"], true, "unsent settings are kept");
    assert_eq!(
        r.body["keep_divergent_refs"], true,
        "unsent settings are kept"
    );

    // A regex in the request wins over protected-only.
    let r = s
        .put_json(
            &format!("{base}/{id}"),
            &alice,
            json!({"mirror_branch_regex": "^main$"}),
        )
        .await;
    check("regex over protected-only", &r, 200, None);
    assert_eq!(r.body["only_protected_branches"], false);
    assert_eq!(r.body["mirror_branch_regex"], "^main$");

    // Sync records the wish and nothing else.
    let mid = id.as_i64().unwrap();
    assert!(!s.state.store.mirror_update_pending(mid).await.unwrap());
    let r = s
        .request(
            "POST",
            &format!("{base}/{id}/sync"),
            Some(&alice),
            Body::None,
        )
        .await;
    check("sync", &r, 204, None);
    assert_eq!(r.text, "");
    assert!(s.state.store.mirror_update_pending(mid).await.unwrap());
    let r = s.get(&format!("{base}/{id}"), &alice).await;
    assert_eq!(r.body["update_status"], "none", "no push is pretended");
    assert_eq!(r.body["last_update_at"], Value::Null);
    assert_eq!(r.body["last_update_started_at"], Value::Null);
    assert_eq!(r.body["last_successful_update_at"], Value::Null);

    check(
        "public_key of a password mirror",
        &s.get(&format!("{base}/{id}/public_key"), &alice).await,
        404,
        Some(json!({"message": "404 Not Found"})),
    );

    let r = s.delete(&format!("{base}/{id}"), &alice).await;
    check("delete", &r, 204, None);
    assert_eq!(r.text, "");
    check(
        "deleted",
        &s.get(&format!("{base}/{id}"), &alice).await,
        404,
        record_not_found(),
    );
    check(
        "delete again",
        &s.delete(&format!("{base}/{id}"), &alice).await,
        404,
        record_not_found(),
    );
    let r = s.get(&base, &alice).await;
    assert_eq!(r.header("x-total"), "1");
}

#[tokio::test]
async fn remote_mirror_crud() {
    let s = TestServer::builder().start().await;
    mirror_crud(&s).await;
}

#[tokio::test]
async fn remote_mirror_crud_on_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    mirror_crud(&s).await;
    secrets_stay_out_of_responses(&s).await;
}

#[tokio::test]
async fn remote_mirror_urls_are_masked_like_safe_url() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let p = s.api(&alice).create_project("masks").await;
    let base = format!("/projects/{}/remote_mirrors", p.id);
    let cases = [
        (
            format!("https://user:tok@{REMOTE}/x.git"),
            format!("https://*****:*****@{REMOTE}/x.git"),
        ),
        (
            format!("ssh://git@{REMOTE}/x.git"),
            format!("ssh://git@{REMOTE}/x.git"),
        ),
        (
            format!("ssh://deploy@{REMOTE}/x.git"),
            format!("ssh://*****@{REMOTE}/x.git"),
        ),
        (
            format!("https://oauth2@{REMOTE}/x"),
            format!("https://*****@{REMOTE}/x"),
        ),
        (
            format!("https://{REMOTE}/x.git"),
            format!("https://{REMOTE}/x.git"),
        ),
        (
            format!("http://{REMOTE}:8080/a/b.git"),
            format!("http://{REMOTE}:8080/a/b.git"),
        ),
        (
            format!("git://{REMOTE}/x.git"),
            format!("git://{REMOTE}/x.git"),
        ),
        (
            format!("  https://{REMOTE}/trimmed.git  "),
            format!("https://{REMOTE}/trimmed.git"),
        ),
    ];
    for (input, shown) in cases {
        let r = s.post_json(&base, &alice, json!({"url": input})).await;
        check(&input, &r, 201, None);
        assert_eq!(r.body["url"], shown, "{input}");
        let r = s.get(&format!("{base}/{}", r.body["id"]), &alice).await;
        assert_eq!(r.body["url"], shown, "{input} (read back)");
    }
}

#[tokio::test]
async fn remote_mirror_parameter_errors() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let p = s.api(&alice).create_project("errs").await;
    let base = format!("/projects/{}/remote_mirrors", p.id);
    let url = format!("https://{REMOTE}/x.git");
    let m = s.post_json(&base, &alice, json!({"url": url})).await.body;
    let one = format!("{base}/{}", m["id"]);
    let long_regex = "a".repeat(256);

    let cases: Vec<(&str, &str, &String, Value, Value)> = vec![
        (
            "POST no url",
            "POST",
            &base,
            json!({"enabled": true}),
            json!({"error": "url is missing"}),
        ),
        (
            "POST null url",
            "POST",
            &base,
            json!({"url": null}),
            json!({"error": "url is missing"}),
        ),
        (
            "POST blank url",
            "POST",
            &base,
            json!({"url": "  "}),
            json!({"message": {"url": ["can't be blank"]}}),
        ),
        (
            "POST bad auth_method",
            "POST",
            &base,
            json!({"url": url, "auth_method": "invalid"}),
            json!({"error": "auth_method does not have a valid value"}),
        ),
        (
            "PUT bad auth_method",
            "PUT",
            &one,
            json!({"auth_method": "invalid"}),
            json!({"message": {"auth_method": ["is not included in the list"]}}),
        ),
        (
            "POST enabled not boolean",
            "POST",
            &base,
            json!({"url": url, "enabled": "maybe"}),
            json!({"error": "enabled is invalid"}),
        ),
        (
            "PUT enabled not boolean",
            "PUT",
            &one,
            json!({"enabled": "maybe"}),
            json!({"error": "enabled is invalid"}),
        ),
        (
            "POST keep_divergent_refs not boolean",
            "POST",
            &base,
            json!({"url": url, "keep_divergent_refs": [1]}),
            json!({"error": "keep_divergent_refs is invalid"}),
        ),
        (
            "POST mutually exclusive",
            "POST",
            &base,
            json!({"url": url, "only_protected_branches": false, "mirror_branch_regex": "x"}),
            json!({"error": "only_protected_branches, mirror_branch_regex are mutually exclusive"}),
        ),
        (
            "PUT mutually exclusive",
            "PUT",
            &one,
            json!({"only_protected_branches": true, "mirror_branch_regex": "x"}),
            json!({"error": "only_protected_branches, mirror_branch_regex are mutually exclusive"}),
        ),
        (
            "POST explicit null only_protected_branches",
            "POST",
            &base,
            json!({"url": url, "only_protected_branches": null}),
            json!({"message": {"only_protected_branches": ["can't be blank"]}}),
        ),
        (
            "PUT explicit null only_protected_branches",
            "PUT",
            &one,
            json!({"only_protected_branches": null}),
            json!({"message": {"only_protected_branches": ["can't be blank"]}}),
        ),
        (
            "POST regex too long",
            "POST",
            &base,
            json!({"url": url, "mirror_branch_regex": long_regex}),
            json!({"message": {"mirror_branch_regex": ["is too long (maximum is 255 characters)"]}}),
        ),
    ];
    for (what, method, path, body, expected) in cases {
        let r = s
            .request(method, path, Some(&alice), Body::Json(body))
            .await;
        check(what, &r, 400, Some(expected));
    }
    for (method, path) in [("POST", &base), ("PUT", &one)] {
        let mut body = json!({"mirror_branch_regex": "(unclosed"});
        if method == "POST" {
            body["url"] = json!(url);
        }
        let r = s
            .request(method, path, Some(&alice), Body::Json(body))
            .await;
        check(&format!("{method} invalid regex"), &r, 400, None);
        let msgs = r.body["message"]["mirror_branch_regex"].as_array().unwrap();
        assert_eq!(msgs.len(), 1, "{}", r.text);
        assert!(
            msgs[0].as_str().unwrap().contains("not valid RE2 syntax"),
            "{}",
            r.text
        );
    }
    // Nothing was created or changed by the refused requests.
    let r = s.get(&base, &alice).await;
    assert_eq!(r.header("x-total"), "1");
    check(
        "unchanged",
        &s.get(&one, &alice).await,
        200,
        Some(default_mirror(&m["id"], &url)),
    );
}

#[tokio::test]
async fn remote_mirror_urls_are_refused_with_gitlab_reasons() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let p = s.api(&alice).create_project("blocked").await;
    let base = format!("/projects/{}/remote_mirrors", p.id);
    let m = s
        .post_json(
            &base,
            &alice,
            json!({"url": format!("https://{REMOTE}/ok.git")}),
        )
        .await
        .body;
    const SCHEME: &str = "is blocked: Only allowed schemes are http, https, ssh, git";
    const INVALID: &str = "is blocked: URI is invalid";
    const LOOPBACK: &str = "is blocked: Requests to loopback addresses are not allowed";
    let cases = [
        ("ftp://203.0.113.10/x.git", SCHEME),
        ("file:///etc", SCHEME),
        ("ext::sh -c touch% /tmp/pwned", SCHEME),
        ("/srv/git/x.git", SCHEME),
        (
            "git@203.0.113.10:group/x.git",
            "is blocked: URI is invalid: SCP-style addresses (git@host:path) are not supported, \
             use ssh://git@203.0.113.10/group/x.git",
        ),
        ("http://127.0.0.1/x", LOOPBACK),
        ("http://2130706433/x", LOOPBACK),
        ("http://0x7f.1/x", LOOPBACK),
        ("http://[::1]/x", LOOPBACK),
        ("http://[::ffff:127.0.0.1]/", LOOPBACK),
        (
            "http://localhost/x",
            "is blocked: Requests to localhost are not allowed",
        ),
        (
            "http://0.0.0.0/x",
            "is blocked: Requests to localhost are not allowed",
        ),
        (
            "http://10.0.0.1/x",
            "is blocked: Requests to the local network are not allowed",
        ),
        (
            "http://192.168.1.1/x",
            "is blocked: Requests to the local network are not allowed",
        ),
        (
            "http://169.254.169.254/",
            "is blocked: Requests to the link local network are not allowed",
        ),
        (
            "http://100.64.0.1/x",
            "is blocked: Requests to the shared address space are not allowed",
        ),
        ("http://203.0.113.10/x\r\nHost: evil", INVALID),
        ("http://203.0.113.10/x\nfoo", INVALID),
        ("http://203.0.113.10/x%0afoo", INVALID),
        (
            "ssh://-oProxyCommand=sh@203.0.113.10/x",
            "is blocked: Username needs to start with an alphanumeric character",
        ),
        (
            "http://_bad_/x",
            "is blocked: Hostname or IP address invalid",
        ),
    ];
    for (url, reason) in cases {
        let expected = json!({"message": {"url": [reason]}});
        let r = s.post_json(&base, &alice, json!({"url": url})).await;
        check(&format!("POST {url:?}"), &r, 400, Some(expected.clone()));
        let r = s
            .put_json(&format!("{base}/{}", m["id"]), &alice, json!({"url": url}))
            .await;
        check(&format!("PUT {url:?}"), &r, 400, Some(expected));
    }
    let r = s.get(&base, &alice).await;
    assert_eq!(r.header("x-total"), "1", "no refused URL was stored");
    assert_eq!(r.body[0]["url"], format!("https://{REMOTE}/ok.git"));

    // The operator may allow the local network; the scheme and syntax rules still hold.
    let s = TestServer::builder().local_network(true).start().await;
    let alice = s.token("alice", false).await;
    let p = s.api(&alice).create_project("local").await;
    let base = format!("/projects/{}/remote_mirrors", p.id);
    for url in [
        "http://127.0.0.1/x",
        "http://10.0.0.1/x",
        "http://[::ffff:127.0.0.1]/",
    ] {
        let r = s.post_json(&base, &alice, json!({"url": url})).await;
        check(&format!("allowed {url}"), &r, 201, None);
        assert_eq!(r.body["url"], url);
    }
    const SCP: &str = "is blocked: URI is invalid: SCP-style addresses (git@host:path) are not \
                       supported, use ssh://git@127.0.0.1/x";
    for (url, reason) in [("file:///etc", SCHEME), ("git@127.0.0.1:x", SCP)] {
        let r = s.post_json(&base, &alice, json!({"url": url})).await;
        check(url, &r, 400, Some(json!({"message": {"url": [reason]}})));
    }
}

#[tokio::test]
async fn remote_mirror_permissions() {
    let s = TestServer::builder().start().await;
    let owner = s.token("owner", false).await;
    let dev = s.token("dev", false).await;
    let maint = s.token("maint", false).await;
    let stranger = s.token("stranger", false).await;
    let admin = s.token("root", true).await;
    let p = s.api(&owner).create_project("perm").await;
    let pid = p.id;
    for (name, level) in [("dev", 30), ("maint", 40)] {
        let uid = s.user_id(name).await;
        s.api(&owner).add_member(pid, uid, level).await;
    }
    let base = format!("/projects/{pid}/remote_mirrors");
    let url = format!("https://{REMOTE}/x.git");
    let m = s.api(&owner).create_mirror(pid, &url, true).await;
    let one = format!("{base}/{}", m.id);

    // Listing by path takes another way through the store than listing by id.
    let by_path = "/projects/owner%2Fperm/remote_mirrors".to_owned();
    let endpoints = |create_url: &str| {
        vec![
            ("GET", base.clone(), Body::None),
            ("GET", by_path.clone(), Body::None),
            ("GET", one.clone(), Body::None),
            ("GET", format!("{one}/public_key"), Body::None),
            ("POST", base.clone(), Body::Json(json!({"url": create_url}))),
            ("PUT", one.clone(), Body::Json(json!({"enabled": true}))),
            ("POST", one.clone(), Body::Json(json!({"enabled": true}))),
            ("POST", format!("{one}/sync"), Body::None),
            ("DELETE", one.clone(), Body::None),
        ]
    };
    for (method, path, body) in endpoints(&url) {
        let what = format!("developer {method} {path}");
        check(
            &what,
            &s.request(method, &path, Some(&dev), body).await,
            401,
            unauthorized(),
        );
    }
    for (method, path, body) in endpoints(&url) {
        let what = format!("anonymous {method} {path}");
        check(
            &what,
            &s.request(method, &path, None, body).await,
            401,
            unauthorized(),
        );
    }
    for (method, path, body) in endpoints(&url) {
        let what = format!("stranger {method} {path}");
        check(
            &what,
            &s.request(method, &path, Some(&stranger), body).await,
            404,
            project_not_found(),
        );
    }
    // The Developer's refusals changed nothing.
    assert!(!s.state.store.mirror_update_pending(m.id).await.unwrap());

    for who in [&maint, &admin] {
        let m = s
            .post_json(&base, who, json!({"url": url, "enabled": true}))
            .await;
        check("create", &m, 201, None);
        let one = format!("{base}/{}", m.body["id"]);
        let expected = [
            ("GET", base.clone(), 200),
            ("GET", by_path.clone(), 200),
            ("GET", one.clone(), 200),
            ("GET", format!("{one}/public_key"), 404),
            ("PUT", one.clone(), 200),
            ("POST", one.clone(), 200),
            ("POST", format!("{one}/sync"), 204),
            ("DELETE", one.clone(), 204),
        ];
        for (method, path, status) in expected {
            let body = if method == "GET" || method == "DELETE" || path.ends_with("/sync") {
                Body::None
            } else {
                Body::Json(json!({"keep_divergent_refs": true}))
            };
            let r = s.request(method, &path, Some(who), body).await;
            check(&format!("{method} {path}"), &r, status, None);
        }
    }
}

#[tokio::test]
async fn at_most_ten_enabled_mirrors_per_project() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let p = s.api(&alice).create_project("many").await;
    let base = format!("/projects/{}/remote_mirrors", p.id);
    for i in 0..10 {
        let r = s
            .post_json(
                &base,
                &alice,
                json!({"url": format!("https://{REMOTE}/{i}.git"), "enabled": true}),
            )
            .await;
        check(&format!("mirror {i}"), &r, 201, None);
    }
    let refused = json!({"message": {"enabled": ["cannot be true: a project can have at most 10 enabled push mirrors"]}});
    let r = s
        .post_json(
            &base,
            &alice,
            json!({"url": format!("https://{REMOTE}/11.git"), "enabled": true}),
        )
        .await;
    check("eleventh enabled", &r, 400, Some(refused.clone()));
    let r = s
        .post_json(
            &base,
            &alice,
            json!({"url": format!("https://{REMOTE}/11.git")}),
        )
        .await;
    check("eleventh disabled", &r, 201, None);
    let extra = format!("{base}/{}", r.body["id"]);
    check(
        "enabling the eleventh",
        &s.put_json(&extra, &alice, json!({"enabled": true})).await,
        400,
        Some(refused),
    );
    let first = s.get(&base, &alice).await.body[0]["id"].clone();
    let r = s
        .put_json(
            &format!("{base}/{first}"),
            &alice,
            json!({"enabled": true, "keep_divergent_refs": true}),
        )
        .await;
    check("re-saving an enabled mirror", &r, 200, None);
    s.put_json(
        &format!("{base}/{first}"),
        &alice,
        json!({"enabled": false}),
    )
    .await;
    check(
        "enabling after one was disabled",
        &s.put_json(&extra, &alice, json!({"enabled": true})).await,
        200,
        None,
    );
}

#[tokio::test]
async fn remote_mirror_lookups_are_scoped_to_the_project() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let a = s.api(&alice).create_project("a").await;
    let b = s.api(&alice).create_project("b").await;
    let m = s
        .api(&alice)
        .create_mirror(a.id, &format!("https://{REMOTE}/x.git"), true)
        .await;
    let other = format!("/projects/{}/remote_mirrors/{}", b.id, m.id);
    let cases = [
        ("GET", other.clone(), Body::None),
        ("GET", format!("{other}/public_key"), Body::None),
        ("PUT", other.clone(), Body::Json(json!({"enabled": false}))),
        ("POST", format!("{other}/sync"), Body::None),
        ("DELETE", other.clone(), Body::None),
        (
            "GET",
            format!("/projects/{}/remote_mirrors/abc", a.id),
            Body::None,
        ),
        (
            "GET",
            format!("/projects/{}/remote_mirrors/9999", a.id),
            Body::None,
        ),
        (
            "DELETE",
            format!("/projects/{}/remote_mirrors/abc", a.id),
            Body::None,
        ),
        (
            "POST",
            format!("/projects/{}/remote_mirrors/abc/sync", a.id),
            Body::None,
        ),
    ];
    for (method, path, body) in cases {
        let r = s.request(method, &path, Some(&alice), body).await;
        check(&format!("{method} {path}"), &r, 404, record_not_found());
    }
    check(
        "unknown project",
        &s.get("/projects/9999/remote_mirrors", &alice).await,
        404,
        project_not_found(),
    );
    // The mirror survived every attempt through the wrong project.
    let r = s
        .get(
            &format!("/projects/{}/remote_mirrors/{}", a.id, m.id),
            &alice,
        )
        .await;
    check("still there", &r, 200, None);
    assert_eq!(r.body["enabled"], true);
}

/// An ed25519 public key line as OpenSSH writes it, and its SHA256 fingerprint.
fn host_key() -> (String, String) {
    let (_, public) = pushmirror::credentials::generate_ssh_key(
        "host@example",
        pushmirror::model::entities::SshKeyType::Ed25519,
    );
    let key = ssh_key::PublicKey::from_openssh(&public).unwrap();
    let fp = key.fingerprint(ssh_key::HashAlg::Sha256).to_string();
    let bare = public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    (bare, fp)
}

#[tokio::test]
async fn remote_mirror_ssh_keys_and_host_keys() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let p = s.api(&alice).create_project("ssh").await;
    let base = format!("/projects/{}/remote_mirrors", p.id);
    let ssh_url = format!("ssh://git@{REMOTE}/x.git");

    // A key-pair mirror: the public key is shown, with GitLab's `git@<host>` comment.
    let r = s
        .post_json(
            &base,
            &alice,
            json!({"url": ssh_url, "auth_method": "ssh_public_key"}),
        )
        .await;
    check("create ssh mirror", &r, 201, None);
    assert_eq!(r.body["auth_method"], "ssh_public_key");
    assert_eq!(r.body["url"], ssh_url);
    let id = r.body["id"].clone();
    let r = s.get(&format!("{base}/{id}/public_key"), &alice).await;
    check("public_key", &r, 200, None);
    let key = r.body["public_key"].as_str().unwrap();
    assert!(key.starts_with("ssh-ed25519 AAAA"), "{key}");
    assert!(key.ends_with(" git@127.0.0.1"), "{key}");
    assert!(ssh_key::PublicKey::from_openssh(key).is_ok());
    assert_eq!(r.body.as_object().unwrap().len(), 1);
    // The key is stable across reads and updates.
    let r2 = s
        .put_json(&format!("{base}/{id}"), &alice, json!({"enabled": true}))
        .await;
    check("update keeps key", &r2, 200, None);
    let again = s.get(&format!("{base}/{id}/public_key"), &alice).await;
    assert_eq!(again.body["public_key"], key);

    // ssh_public_key on an https URL: no usable key pair, so GitLab's 404.
    let r = s
        .post_json(
            &base,
            &alice,
            json!({"url": format!("https://{REMOTE}/x.git"), "auth_method": "ssh_public_key"}),
        )
        .await;
    check("ssh auth on https", &r, 201, None);
    check(
        "public_key of https mirror",
        &s.get(&format!("{base}/{}/public_key", r.body["id"]), &alice)
            .await,
        404,
        Some(json!({"message": "404 Not Found"})),
    );

    // Host keys, bare and in known_hosts form, come back as SHA256 fingerprints.
    let (bare, fp) = host_key();
    let (bare2, fp2) = host_key();
    let r = s
        .post_json(
            &base,
            &alice,
            json!({"url": ssh_url, "host_keys": [bare, format!("{REMOTE} {bare2}")]}),
        )
        .await;
    check("host keys", &r, 201, None);
    assert_eq!(
        r.body["host_keys"],
        json!([{"fingerprint_sha256": fp}, {"fingerprint_sha256": fp2}])
    );
    assert!(fp.starts_with("SHA256:"));
    let hid = r.body["id"].clone();
    // Form encoding: '+' in the key survives, and `host_keys[]` builds the array.
    let r = s
        .request(
            "PUT",
            &format!("{base}/{hid}"),
            Some(&alice),
            Body::Form(vec![("host_keys[]", bare2.clone())]),
        )
        .await;
    check("host keys via form", &r, 200, None);
    assert_eq!(r.body["host_keys"], json!([{"fingerprint_sha256": fp2}]));
    let r = s
        .put_json(&format!("{base}/{hid}"), &alice, json!({"enabled": true}))
        .await;
    assert_eq!(
        r.body["host_keys"],
        json!([{"fingerprint_sha256": fp2}]),
        "omitted keeps them"
    );
    let listed = s.get(&base, &alice).await;
    let entry = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == hid)
        .cloned();
    assert_eq!(
        entry,
        Some(r.body.clone()),
        "the list shows the pinned keys too"
    );
    let r = s
        .put_json(&format!("{base}/{hid}"), &alice, json!({"host_keys": []}))
        .await;
    check("clear host keys", &r, 200, None);
    assert_eq!(r.body["host_keys"], json!([]));

    let cases = [
        (
            json!({"url": ssh_url, "host_keys": ["ssh-ed25519 notbase64"]}),
            json!({"message": "Invalid SSH host key(s): ssh-ed25519 notbase64"}),
        ),
        (
            json!({"url": ssh_url, "host_keys": ["garbage", bare.clone()]}),
            json!({"message": "Invalid SSH host key(s): garbage"}),
        ),
        (
            json!({"url": ssh_url, "host_keys": vec![bare.clone(); 11]}),
            json!({"message": "Invalid SSH host key(s): too many host keys (maximum is 10)"}),
        ),
    ];
    for (body, expected) in cases {
        let r = s.post_json(&base, &alice, body.clone()).await;
        check(
            &format!("invalid host keys {body}"),
            &r,
            400,
            Some(expected),
        );
    }
    let r = s
        .put_json(
            &format!("{base}/{hid}"),
            &alice,
            json!({"host_keys": ["nope nope"]}),
        )
        .await;
    check(
        "PUT invalid host key",
        &r,
        400,
        Some(json!({"message": "Invalid SSH host key(s): nope nope"})),
    );
}

#[tokio::test]
async fn remote_mirror_sync_records_a_wish_and_nothing_more() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let p = s.api(&alice).create_project("sync").await;
    let base = format!("/projects/{}/remote_mirrors", p.id);
    let url = format!("https://{REMOTE}/x.git");

    let off = s
        .api(&alice)
        .create_mirror_with(p.id, json!({"url": url}))
        .await;
    let r = s
        .request(
            "POST",
            &format!("{base}/{}/sync", off.id),
            Some(&alice),
            Body::None,
        )
        .await;
    check(
        "sync disabled",
        &r,
        400,
        Some(
            json!({"message": "Cannot proceed with the push mirroring. Please verify your mirror configuration."}),
        ),
    );
    assert!(!s.state.store.mirror_update_pending(off.id).await.unwrap());

    let id = s.api(&alice).create_mirror(p.id, &url, true).await.id;
    assert!(
        !s.state.store.mirror_update_pending(id).await.unwrap(),
        "creating a mirror does not enqueue a sync"
    );
    for _ in 0..2 {
        let r = s
            .request(
                "POST",
                &format!("{base}/{id}/sync"),
                Some(&alice),
                Body::None,
            )
            .await;
        check("sync enabled", &r, 204, None);
    }
    assert!(s.state.store.mirror_update_pending(id).await.unwrap());
    let r = s.get(&format!("{base}/{id}"), &alice).await;
    assert_eq!(r.body["update_status"], "none");
    assert_eq!(r.body["last_update_at"], Value::Null);
    assert_eq!(r.body["last_successful_update_at"], Value::Null);
    assert_eq!(r.body["last_error"], Value::Null);

    // A sync while an update runs is a silent no-op (the running one covers it), still 204.
    // As while a worker runs it: `started`, its job claimed and then done.
    assert!(s.state.store.mark_started(id, 1).await.unwrap());
    let job = s
        .state
        .store
        .claim_job(
            &["mirror_update"],
            &["default".to_owned()],
            "test",
            4_000_000_000_000,
            4_000_000_060_000,
        )
        .await
        .unwrap()
        .unwrap();
    s.state.store.complete_job(&job, "test", 3).await.unwrap();
    let r = s
        .request(
            "POST",
            &format!("{base}/{id}/sync"),
            Some(&alice),
            Body::None,
        )
        .await;
    check("sync while started", &r, 204, None);
    assert!(!s.state.store.mirror_update_pending(id).await.unwrap());
    sqlx::query("update remote_mirrors set update_status = 'none' where id = $1")
        .bind(id)
        .execute(s.state.store.pool())
        .await
        .unwrap();

    // Disabling stops syncs from being accepted.
    s.put_json(&format!("{base}/{id}"), &alice, json!({"enabled": false}))
        .await;
    let r = s
        .request(
            "POST",
            &format!("{base}/{id}/sync"),
            Some(&alice),
            Body::None,
        )
        .await;
    check("sync after disabling", &r, 400, None);
}

#[tokio::test]
async fn remote_mirror_url_change_resets_status_and_replaces_credentials() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let p = s.api(&alice).create_project("move").await;
    let base = format!("/projects/{}/remote_mirrors", p.id);
    let old = format!("https://olduser:oldpass@{REMOTE}/old.git");
    let id = s.api(&alice).create_mirror(p.id, &old, true).await.id;
    // Pretend the engine had run and failed, so there is status to reset.
    sqlx::query(
        "update remote_mirrors set update_status = 'failed', last_error = 'boom', \
         last_update_at = 1000, last_update_started_at = 900, last_successful_update_at = 500 \
         where id = $1",
    )
    .bind(id)
    .execute(s.state.store.pool())
    .await
    .unwrap();
    let r = s.get(&format!("{base}/{id}"), &alice).await;
    assert_eq!(r.body["update_status"], "failed");
    assert_eq!(r.body["last_error"], "boom");
    assert_timestamp(&r.body["last_update_at"], "last_update_at");

    // A settings-only update leaves the status alone.
    let r = s
        .put_json(
            &format!("{base}/{id}"),
            &alice,
            json!({"keep_divergent_refs": true}),
        )
        .await;
    assert_eq!(r.body["update_status"], "failed");

    let r = s
        .put_json(
            &format!("{base}/{id}"),
            &alice,
            json!({"url": format!("https://{REMOTE}/new.git")}),
        )
        .await;
    check("PUT url", &r, 200, None);
    assert_eq!(
        r.body["url"],
        format!("https://{REMOTE}/new.git"),
        "old credentials are gone"
    );
    assert_eq!(r.body["last_error"], Value::Null);
    assert_eq!(r.body["last_update_at"], Value::Null);
    assert_eq!(r.body["last_update_started_at"], Value::Null);
    assert_eq!(r.body["last_successful_update_at"], Value::Null);
    assert_ne!(r.body["update_status"], "failed");
    assert_eq!(r.body["enabled"], true);
    assert_eq!(r.body["keep_divergent_refs"], true);

    let mirror = s.state.store.mirror_by_id(id).await.unwrap().unwrap();
    assert!(
        mirror.credentials.is_none(),
        "credentials of the old URL are dropped"
    );
    assert!(!mirror.has_user && !mirror.has_password);

    let r = s
        .put_json(
            &format!("{base}/{id}"),
            &alice,
            json!({"url": format!("https://newuser:newpass@{REMOTE}/new.git")}),
        )
        .await;
    assert_eq!(
        r.body["url"],
        format!("https://*****:*****@{REMOTE}/new.git")
    );
    let mirror = s.state.store.mirror_by_id(id).await.unwrap().unwrap();
    let creds = pushmirror::credentials::MirrorCredentials::open(
        &s.state.cipher,
        mirror.credentials.as_deref(),
    )
    .unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(creds.user.unwrap().expose_secret(), "newuser");
    assert_eq!(creds.password.unwrap().expose_secret(), "newpass");
}

#[tokio::test]
async fn remote_mirror_parameters_arrive_in_every_encoding() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let p = s.api(&alice).create_project("enc").await;
    let base = format!("/projects/{}/remote_mirrors", p.id);
    let pairs = |path: &str| {
        vec![
            ("url", format!("https://{REMOTE}/{path}.git")),
            ("enabled", "true".to_string()),
            ("keep_divergent_refs", "1".to_string()),
            ("mirror_branch_regex", "^v[0-9]+$".to_string()),
        ]
    };
    let query = |path: &str| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs(path) {
            ser.append_pair(k, &v);
        }
        format!("{base}?{}", ser.finish())
    };
    let requests = [
        (
            "json",
            base.clone(),
            Body::Json(
                json!({"url": format!("https://{REMOTE}/json.git"), "enabled": true, "keep_divergent_refs": 1, "mirror_branch_regex": "^v[0-9]+$"}),
            ),
        ),
        ("form", base.clone(), Body::Form(pairs("form"))),
        (
            "multipart",
            base.clone(),
            Body::Multipart(pairs("multipart")),
        ),
        ("query", query("query"), Body::None),
    ];
    for (how, path, body) in requests {
        let r = s.request("POST", &path, Some(&alice), body).await;
        check(how, &r, 201, None);
        assert_eq!(
            r.body["url"],
            format!("https://{REMOTE}/{how}.git"),
            "{how}"
        );
        assert_eq!(r.body["enabled"], true, "{how}");
        assert_eq!(r.body["keep_divergent_refs"], true, "{how}");
        assert_eq!(r.body["mirror_branch_regex"], "^v[0-9]+$", "{how}");
        let one = format!("{base}/{}", r.body["id"]);
        let updates = [
            ("json", one.clone(), Body::Json(json!({"enabled": false}))),
            (
                "form",
                one.clone(),
                Body::Form(vec![("enabled", "false".into())]),
            ),
            (
                "multipart",
                one.clone(),
                Body::Multipart(vec![("enabled", "0".into())]),
            ),
            ("query", format!("{one}?enabled=no"), Body::None),
        ];
        for (uhow, path, body) in updates {
            s.put_json(&one, &alice, json!({"enabled": true})).await;
            let r = s.request("PUT", &path, Some(&alice), body).await;
            check(&format!("{how} then PUT {uhow}"), &r, 200, None);
            assert_eq!(r.body["enabled"], false, "PUT {uhow}");
        }
    }
    // Form-encoded errors use the same texts.
    let r = s
        .post_form(
            &base,
            &alice,
            vec![
                ("url", format!("https://{REMOTE}/x")),
                ("enabled", "maybe".into()),
            ],
        )
        .await;
    check(
        "form enabled invalid",
        &r,
        400,
        Some(json!({"error": "enabled is invalid"})),
    );
}

#[tokio::test]
async fn malformed_requests_unknown_routes_and_wrong_methods() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let p = s.api(&alice).create_project("edge").await;
    let base = format!("/projects/{}/remote_mirrors", p.id);

    for (ct, raw) in [
        ("application/json", b"{\"url\": ".to_vec()),
        ("application/json", b"[1,2]".to_vec()),
    ] {
        let r = s
            .request("POST", &base, Some(&alice), Body::Raw(ct, raw))
            .await;
        check("malformed JSON", &r, 400, None);
        assert!(r.body["error"].is_string(), "{}", r.text);
    }
    let r = s
        .request(
            "POST",
            &base,
            Some(&alice),
            Body::Raw("text/plain", b"url=x".to_vec()),
        )
        .await;
    check("unsupported content type", &r, 400, None);
    assert!(r.body["error"].is_string(), "{}", r.text);

    for path in ["/nope", "/projects/1/nope", "/api/v4", "/api/v3/projects"] {
        let r = s.request("GET", path, Some(&alice), Body::None).await;
        check(path, &r, 404, Some(json!({"error": "404 Not Found"})));
    }
    // `/` is the web interface's dashboard: without a session, GitLab's way to sign in.
    let r = s.request("GET", "/", Some(&alice), Body::None).await;
    check("/", &r, 303, None);
    assert_eq!(r.header("location"), "/users/sign_in?redirect_to=%2F");
    for (method, path) in [
        ("DELETE", "/user".to_string()),
        ("PATCH", base.clone()),
        ("GET", format!("{base}/1/sync")),
        ("PUT", "/projects".to_string()),
    ] {
        let r = s.request(method, &path, Some(&alice), Body::None).await;
        check(
            &format!("{method} {path}"),
            &r,
            405,
            Some(json!({"message": "405 Method Not Allowed"})),
        );
    }
    let r = s.get(&format!("{base}?page=abc"), &alice).await;
    check(
        "bad page",
        &r,
        400,
        Some(json!({"error": "page is invalid"})),
    );
    let r = s.get("/projects", &alice).await;
    assert!(r.header("content-type").starts_with("application/json"));
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// Creates and updates mirrors with distinctive credentials and proves they never come back in
/// a response body. Returns the secrets used.
async fn secrets_stay_out_of_responses(s: &TestServer) -> Vec<String> {
    let owner = s.token("secret-keeper", false).await;
    let p = s.api(&owner).create_project("vault").await;
    let base = format!("/projects/{}/remote_mirrors", p.id);
    let n = nonce();
    let (user, password) = (format!("MirrorUser{n}"), format!("S3cr3tPa55-{n}"));
    let (user2, password2) = (format!("OtherUser{n}"), format!("An0therPa55-{n}"));
    let r = s
        .post_json(
            &base,
            &owner,
            json!({"url": format!("https://{user}:{password}@{REMOTE}/x.git"), "enabled": true}),
        )
        .await;
    check("create with credentials", &r, 201, None);
    let id = r.body["id"].clone();
    let r = s
        .post_form(
            &base,
            &owner,
            vec![(
                "url",
                format!("https://{user}:{password}@{REMOTE}/form.git"),
            )],
        )
        .await;
    check("form create with credentials", &r, 201, None);
    let r = s
        .put_json(
            &format!("{base}/{id}"),
            &owner,
            json!({"url": format!("https://{user2}:{password2}@{REMOTE}/y.git")}),
        )
        .await;
    check("update with credentials", &r, 200, None);
    // Error responses must not echo the credential either.
    let r = s
        .post_json(
            &base,
            &owner,
            json!({"url": format!("https://{user}:{password}@127.0.0.1/x.git")}),
        )
        .await;
    check("blocked URL with credentials", &r, 400, None);
    s.get(&base, &owner).await;
    s.get(&format!("{base}/{id}"), &owner).await;
    let secrets = vec![user, password, user2, password2];
    for body in s.seen_bodies() {
        for secret in &secrets {
            assert!(
                !body.contains(secret.as_str()),
                "a response contained {secret}: {body}"
            );
        }
    }
    secrets
}

#[tokio::test]
async fn credentials_and_tokens_never_rest_in_plain_text() {
    let s = TestServer::builder().start().await;
    let token = s.token("alice", false).await;
    let secrets = secrets_stay_out_of_responses(&s).await;
    // Write everything out of SQLite's page cache into the files we are about to read.
    sqlx::query("pragma wal_checkpoint(passive)")
        .execute(s.state.store.pool())
        .await
        .unwrap();
    let files = read_all_files(&s.data_dir());
    let names: Vec<String> = files
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n == "pushmirror.db"), "{names:?}");
    assert!(names.iter().any(|n| n == "pushmirror.db-wal"), "{names:?}");
    let mut needles: Vec<&str> = secrets.iter().map(String::as_str).collect();
    needles.push(&token);
    for (path, bytes) in &files {
        for needle in &needles {
            assert!(
                !contains_bytes(bytes, needle.as_bytes()),
                "{} contains {needle} in plain text",
                path.display()
            );
        }
    }
    // The token is there, but only as its hash.
    let hash = pushmirror::secret::hash_token(&token);
    assert!(
        files
            .iter()
            .any(|(_, b)| contains_bytes(b, hash.as_bytes())),
        "the token's hash is stored"
    );
}

// ---------------------------------------------------------------------------------------------
// The command line

mod cli {
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Output};

    use crate::common::binary::ServerProcess;

    fn pushmirror() -> Command {
        let mut c = crate::common::binary::pushmirror();
        c.env("PUSHMIRROR_LOG", "warn");
        c
    }

    fn run(args: &[&str]) -> Output {
        pushmirror().args(args).output().expect("run pushmirror")
    }

    fn stderr(o: &Output) -> String {
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    fn token_create(data: &str, user: &str, admin: bool) -> Output {
        let mut args = vec!["token", "create", "--data-dir", data, "--username", user];
        if admin {
            args.push("--admin");
        }
        run(&args)
    }

    #[track_caller]
    fn assert_only_token(o: &Output) -> String {
        assert!(o.status.success(), "token create failed: {}", stderr(o));
        let out = String::from_utf8(o.stdout.clone()).unwrap();
        assert!(out.ends_with('\n'));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "stdout is exactly the token: {out:?}");
        assert!(lines[0].starts_with("pmpat-"), "{out:?}");
        assert!(!lines[0].contains(' '));
        lines[0].to_owned()
    }

    /// A mirror password that must never be logged.
    const LOG_SECRET: &str = "L0gSecretPa55";

    #[test]
    fn token_create_prints_only_the_token_and_works_beside_a_running_server() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let data = data_dir.to_str().unwrap();
        let first = assert_only_token(&token_create(data, "root", true));

        let mut served = ServerProcess::start(
            &data_dir,
            None,
            &["--api-only"],
            &[("PUSHMIRROR_LOG", "debug")],
        );
        let addr = format!("127.0.0.1:{}", served.port());

        let second = assert_only_token(&token_create(data, "alice", false));
        assert_ne!(first, second);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let client = reqwest::Client::new();
            for (token, user, admin) in [(&first, "root", true), (&second, "alice", false)] {
                let r = client
                    .get(format!("http://{addr}/api/v4/user"))
                    .header("PRIVATE-TOKEN", token.as_str())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let v: serde_json::Value = r.json().await.unwrap();
                assert_eq!(v["username"], user);
                assert_eq!(v["is_admin"], admin);
                assert_eq!(v["web_url"], format!("http://{addr}/{user}"));
            }
            // Mirror credentials, accepted or refused, must not reach the log either.
            let api = format!("http://{addr}/api/v4");
            let p = served.api(&second).create_project("logged").await;
            let mirrors = format!("{api}/projects/{}/remote_mirrors", p.id);
            for (url, status) in [
                (
                    format!("https://LogUser:{LOG_SECRET}@203.0.113.10/x.git"),
                    201,
                ),
                (format!("https://LogUser:{LOG_SECRET}@127.0.0.1/x.git"), 400),
                (
                    format!("https://LogUser:{LOG_SECRET}@203.0.113.10/x\nfoo"),
                    400,
                ),
            ] {
                let r = client
                    .post(&mirrors)
                    .header("PRIVATE-TOKEN", second.as_str())
                    .json(&serde_json::json!({"url": url, "enabled": true}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), status, "{url}");
            }
        });
        served.kill_9();
        let log = served.log_text();
        assert!(log.contains("pushmirror serving"), "{log}");
        for secret in [LOG_SECRET, "LogUser", first.as_str(), second.as_str()] {
            assert!(
                !log.contains(secret),
                "the server log contains {secret}: {log}"
            );
        }

        let key = dir.path().join("data/secret.key");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "secret.key mode is {mode:o}");
    }

    #[test]
    fn data_dir_comes_from_flag_env_or_config() {
        let dir = tempfile::tempdir().unwrap();
        let from_config = dir.path().join("from-config");
        let config = dir.path().join("c.toml");
        std::fs::write(
            &config,
            format!("data_dir = \"{}\"\n", from_config.display()),
        )
        .unwrap();
        let o = run(&[
            "token",
            "create",
            "--config",
            config.to_str().unwrap(),
            "--username",
            "u",
        ]);
        assert_only_token(&o);
        assert!(from_config.join("pushmirror.db").is_file());

        let from_env = dir.path().join("from-env");
        let o = pushmirror()
            .args([
                "token",
                "create",
                "--config",
                config.to_str().unwrap(),
                "--username",
                "u",
            ])
            .env("PUSHMIRROR_DATA_DIR", &from_env)
            .output()
            .unwrap();
        assert_only_token(&o);
        assert!(
            from_env.join("pushmirror.db").is_file(),
            "env wins over the file"
        );

        let from_flag = dir.path().join("from-flag");
        let o = pushmirror()
            .args([
                "token",
                "create",
                "--username",
                "u",
                "--data-dir",
                from_flag.to_str().unwrap(),
            ])
            .env("PUSHMIRROR_DATA_DIR", &from_env)
            .output()
            .unwrap();
        assert_only_token(&o);
        assert!(
            from_flag.join("pushmirror.db").is_file(),
            "the flag wins over env"
        );

        let o = run(&[
            "token",
            "create",
            "--data-dir",
            from_flag.to_str().unwrap(),
            "--username=-bad",
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(o.stdout.is_empty());
        assert!(stderr(&o).contains("invalid username"), "{}", stderr(&o));
    }

    #[test]
    fn serve_on_an_occupied_port_names_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let o = run(&[
            "serve",
            "--listen",
            &addr,
            "--data-dir",
            dir.path().to_str().unwrap(),
        ]);
        assert!(!o.status.success());
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(&addr), "{err}");
        assert!(
            err.contains("--listen"),
            "the message says what to do: {err}"
        );
    }

    #[test]
    fn bad_flags_and_bad_config_are_refused_readably() {
        let dir = tempfile::tempdir().unwrap();
        let o = run(&["serve", "--no-such-flag"]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("--no-such-flag"));
        let o = run(&["token", "create"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("--username"), "{}", stderr(&o));
        let o = run(&["serve", "--listen", "localhost"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(
            stderr(&o).contains("invalid value for listen"),
            "{}",
            stderr(&o)
        );

        let missing = dir.path().join("missing.toml");
        for sub in [&["serve"][..], &["token", "create", "--username", "u"][..]] {
            let mut args = sub.to_vec();
            args.extend(["--config", missing.to_str().unwrap()]);
            let o = run(&args);
            assert_eq!(o.status.code(), Some(2), "{sub:?}: {}", stderr(&o));
            let err = stderr(&o);
            assert!(err.contains("cannot read config file"), "{err}");
            assert!(err.contains(missing.to_str().unwrap()), "{err}");
        }

        let unreadable = dir.path().join("unreadable.toml");
        std::fs::write(&unreadable, "listen = \"127.0.0.1:1\"\n").unwrap();
        std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
        // root reads anything, so only check the message when the file really is unreadable.
        if std::fs::read(&unreadable).is_err() {
            let o = run(&["serve", "--config", unreadable.to_str().unwrap()]);
            assert_eq!(o.status.code(), Some(2));
            assert!(
                stderr(&o).contains("cannot read config file"),
                "{}",
                stderr(&o)
            );
        }
        let as_dir = dir.path();
        let o = run(&["serve", "--config", as_dir.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("cannot read config file"),
            "{}",
            stderr(&o)
        );

        let unknown = dir.path().join("unknown.toml");
        std::fs::write(&unknown, "listen = \"127.0.0.1:1\"\nlisten_port = 8080\n").unwrap();
        let o = run(&["serve", "--config", unknown.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("is not valid"), "{err}");
        assert!(
            err.contains("listen_port"),
            "the message names the key: {err}"
        );
    }

    #[test]
    fn a_database_from_a_newer_pushmirror_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        assert_only_token(&token_create(data, "root", true));
        let db = format!("sqlite://{}/pushmirror.db", data);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
            sqlx::query(
                "insert into _sqlx_migrations (version, description, success, checksum, execution_time) \
                 values (9999, 'from the future', 1, x'00', 0)",
            )
            .execute(&mut conn)
            .await
            .unwrap();
        });
        let o = token_create(data, "root", false);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        assert!(o.stdout.is_empty());
        let err = stderr(&o);
        assert!(err.contains("newer pushmirror"), "{err}");
        assert!(err.contains("9999"), "{err}");
    }
}

/// gitlabform repeats the unchanged `url` on every run: that must not wipe a mirror's history.
/// A new password on the same URL is a credential change and starts the status over.
#[tokio::test]
async fn remote_mirror_put_with_the_unchanged_url_keeps_its_status() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let p = s.api(&alice).create_project("same").await;
    let base = format!("/projects/{}/remote_mirrors", p.id);
    let url = format!("https://bot:first@{REMOTE}/same.git");
    let r = s
        .post_json(&base, &alice, json!({"url": url, "enabled": true}))
        .await;
    let id = r.body["id"].as_i64().unwrap();
    sqlx::query(
        "update remote_mirrors set update_status = 'finished', last_update_at = 1000, \
         last_update_started_at = 900, last_successful_update_at = 1000 where id = $1",
    )
    .bind(id)
    .execute(s.state.store.pool())
    .await
    .unwrap();

    let r = s
        .put_json(
            &format!("{base}/{id}"),
            &alice,
            json!({"url": url, "enabled": true}),
        )
        .await;
    check("PUT the same url", &r, 200, None);
    assert_eq!(r.body["update_status"], "finished");
    assert_timestamp(
        &r.body["last_successful_update_at"],
        "last_successful_update_at",
    );

    let rotated = format!("https://bot:second@{REMOTE}/same.git");
    let r = s
        .put_json(&format!("{base}/{id}"), &alice, json!({"url": rotated}))
        .await;
    check("PUT a rotated password", &r, 200, None);
    assert_eq!(r.body["update_status"], "none");
    assert_eq!(r.body["last_successful_update_at"], Value::Null);
    let mirror = s.state.store.mirror_by_id(id).await.unwrap().unwrap();
    let creds = pushmirror::credentials::MirrorCredentials::open(
        &s.state.cipher,
        mirror.credentials.as_deref(),
    )
    .unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(creds.password.unwrap().expose_secret(), "second");
}
