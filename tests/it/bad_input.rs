//! Bad input gets a 4xx in GitLab's JSON shape and writes nothing, on SQLite and PostgreSQL:
//! NUL characters in any string parameter (JSON, form, multipart, query) or path id, invalid
//! UTF-8 in path ids, and page numbers past any offset arithmetic.

use crate::common::{Body, Resp, TestServer};
use serde_json::json;

fn assert_clean_4xx(what: &str, r: &Resp) {
    assert!(
        (400..500).contains(&r.status),
        "{what}: {} {}",
        r.status,
        r.text
    );
    let shaped = r.body.get("error").is_some() || r.body.get("message").is_some();
    assert!(shaped, "{what}: not GitLab's JSON shape: {}", r.text);
    assert!(
        r.header("content-type").starts_with("application/json"),
        "{what}: {}",
        r.header("content-type")
    );
}

async fn refuses_bad_input(s: &TestServer) {
    let root = s.token("root", true).await;
    let p = s.api(&root).create_project("kept").await;
    let id = p.id;
    let mirrors = format!("/projects/{id}/remote_mirrors");
    let nul = "a\u{0}b".to_owned();

    let cases: Vec<(&str, String, &str, Body)> = vec![
        (
            "project name (JSON)",
            "/projects".into(),
            "POST",
            Body::Json(json!({"name": nul})),
        ),
        (
            "project path (form)",
            "/projects".into(),
            "POST",
            Body::Form(vec![("path", nul.clone())]),
        ),
        (
            "description (multipart)",
            "/projects".into(),
            "POST",
            Body::Multipart(vec![("name", "ok".into()), ("description", nul.clone())]),
        ),
        (
            "mirror url",
            mirrors.clone(),
            "POST",
            Body::Json(json!({"url": format!("https://example.com/{nul}.git")})),
        ),
        (
            "regex",
            mirrors.clone(),
            "POST",
            Body::Json(json!({"url": "https://example.com/x.git", "mirror_branch_regex": nul})),
        ),
        (
            "host keys",
            mirrors.clone(),
            "POST",
            Body::Json(json!({"url": "ssh://example.com/x.git", "host_keys": [nul]})),
        ),
        (
            "protected branch",
            format!("/projects/{id}/protected_branches"),
            "POST",
            Body::Json(json!({"name": nul})),
        ),
        (
            "member",
            format!("/projects/{id}/members"),
            "POST",
            Body::Json(json!({"user_id": nul, "access_level": 30})),
        ),
        (
            "nested key",
            "/projects".into(),
            "POST",
            Body::Json(json!({"name": "ok", "x": {"y\u{0}": 1}})),
        ),
        ("query", "/projects?search=a%00b".into(), "GET", Body::None),
        (
            "users query",
            "/users?username=a%00b".into(),
            "GET",
            Body::None,
        ),
        (
            "path id NUL",
            "/projects/root%2Fk%00ept".into(),
            "GET",
            Body::None,
        ),
        (
            "path id NUL (mirrors)",
            format!("/projects/{id}/remote_mirrors/1%00"),
            "GET",
            Body::None,
        ),
        (
            "protected name NUL",
            format!("/projects/{id}/protected_branches/ma%00in"),
            "GET",
            Body::None,
        ),
        (
            "path id bad UTF-8",
            "/projects/root%2F%FF%FE".into(),
            "GET",
            Body::None,
        ),
        (
            "path id bad UTF-8 (delete)",
            "/projects/%C3%28".into(),
            "DELETE",
            Body::None,
        ),
        (
            "git path NUL",
            "/root/k%00ept.git/info/refs?service=git-upload-pack".into(),
            "GET",
            Body::None,
        ),
    ];
    for (what, path, method, body) in cases {
        let r = s.request(method, &path, Some(&root), body).await;
        assert_clean_4xx(what, &r);
    }

    // A huge page is an empty page, not an overflow.
    for path in ["/projects", &mirrors, &format!("/projects/{id}/members")] {
        let r = s
            .get(
                &format!("{path}?page=9223372036854775807&per_page=100"),
                &root,
            )
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.body, json!([]), "{path}");
        let r = s
            .get(&format!("{path}?page=-9223372036854775808"), &root)
            .await;
        assert!(r.status == 200 || r.status == 400, "{path}: {}", r.text);
    }

    // Nothing was written.
    let r = s.get("/projects", &root).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{}", r.text);
    let r = s.get(&mirrors, &root).await;
    assert_eq!(r.body, json!([]));
    let r = s
        .get(&format!("/projects/{id}/protected_branches"), &root)
        .await;
    assert_eq!(r.body, json!([]));
}

#[tokio::test]
async fn bad_input_is_a_clean_4xx_sqlite() {
    let s = TestServer::builder().start().await;
    refuses_bad_input(&s).await;
}

#[tokio::test]
async fn bad_input_is_a_clean_4xx_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    refuses_bad_input(&s).await;
}
