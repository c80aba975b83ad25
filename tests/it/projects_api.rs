//! `GET /projects` with GitLab's filters, `PUT /projects/:id`, and archiving (an archived
//! project refuses pushes and mirror syncs), as python-gitlab and gitlabform call them; on
//! SQLite and PostgreSQL.

use crate::common;
use crate::common::TestServer;
use pushmirror::model::access::AccessLevel;
use serde_json::{json, Value};

fn names(r: &common::Resp) -> Vec<String> {
    r.body
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {}", r.text))
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn filters_update_and_archive(s: &TestServer) {
    let alice = s.token("alice", false).await;
    let bob = s.token("bob", false).await;
    for (token, name, visibility) in [
        (&alice, "Alpha", "private"),
        (&alice, "beta-tool", "private"),
        (&alice, "Gamma", "public"),
        (&bob, "bobs-public", "public"),
        (&bob, "bobs-private", "private"),
    ] {
        let r = s
            .post_json(
                "/projects",
                token,
                json!({"name": name, "visibility": visibility}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let mut all = names(&s.get("/projects", &alice).await);
    all.sort();
    assert_eq!(
        all,
        ["Alpha", "Gamma", "beta-tool", "bobs-public"],
        "public ones of others too"
    );
    assert_eq!(
        names(&s.get("/projects?search=TOOL", &alice).await),
        ["beta-tool"]
    );
    let r = s.get("/projects?search=o&per_page=1", &alice).await;
    assert!(
        r.header("link").contains("search=o"),
        "{}",
        r.header("link")
    );
    assert_eq!(r.header("x-total"), "2");
    let mut owned = names(&s.get("/projects?owned=true", &alice).await);
    owned.sort();
    assert_eq!(owned, ["Alpha", "Gamma", "beta-tool"]);
    assert_eq!(
        names(&s.get("/projects?membership=true", &bob).await).len(),
        2
    );
    let mut public = names(&s.get("/projects?visibility=public", &alice).await);
    public.sort();
    assert_eq!(public, ["Gamma", "bobs-public"]);
    assert_eq!(
        names(&s.get("/projects?order_by=name&sort=asc", &alice).await),
        ["Alpha", "beta-tool", "bobs-public", "Gamma"]
    );
    assert_eq!(
        names(
            &s.get("/projects?order_by=id&sort=desc&owned=true", &alice)
                .await
        ),
        ["Gamma", "beta-tool", "Alpha"]
    );
    let r = s.get("/projects?simple=true&owned=true", &alice).await;
    assert!(r.body[0].get("permissions").is_none() && r.body[0].get("id").is_some());
    for bad in ["order_by=size", "sort=up", "visibility=secret"] {
        let r = s.get(&format!("/projects?{bad}"), &alice).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }

    // PUT: Maintainers edit; path, visibility and archiving need the Owner.
    let r = s.get("/projects/alice%2Falpha", &alice).await;
    let id = r.body["id"].as_i64().unwrap();
    let maint = s.token("maint", false).await;
    let uid = s.user_id("maint").await;
    s.state
        .store
        .add_member(id, uid, AccessLevel::Maintainer, 1)
        .await
        .unwrap();
    let r = s
        .put_json(
            &format!("/projects/{id}"),
            &maint,
            json!({"description": "the first", "name": "Alpha One"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["description"], "the first");
    assert_eq!(r.body["name"], "Alpha One");
    let r = s
        .put_json(
            &format!("/projects/{id}"),
            &maint,
            json!({"visibility": "public"}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = s
        .put_json(
            &format!("/projects/{id}"),
            &alice,
            json!({"path": "alpha-one", "visibility": "internal"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["path_with_namespace"], "alice/alpha-one");
    assert_eq!(r.body["visibility"], "internal");
    let r = s.get("/projects/alice%2Falpha-one", &bob).await;
    assert_eq!(r.status, 200, "internal now, and found by its new path");
    let r = s
        .put_json(
            &format!("/projects/{id}"),
            &alice,
            json!({"path": "beta-tool"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["message"]["path"][0].clone()),
        (400, json!("has already been taken"))
    );
    let r = s
        .put_json(&format!("/projects/{id}"), &alice, json!({"path": "-bad"}))
        .await;
    assert_eq!(r.status, 400);

    // Archiving: pushes and syncs are refused until unarchived.
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .args(["-c", "user.name=A", "-c", "user.email=a@example.com"])
            .args(args)
            .output()
            .unwrap()
    };
    assert!(git(&["init", "-q", "-b", "main"]).status.success());
    assert!(git(&["commit", "-q", "--allow-empty", "-m", "x"])
        .status
        .success());
    let url = format!(
        "http://oauth2:{alice}@{}/alice/alpha-one.git",
        s.base.trim_start_matches("http://")
    );
    let r = s
        .post_json(
            &format!("/projects/{id}/remote_mirrors"),
            &alice,
            json!({"url": "https://example.com/m.git", "enabled": true}),
        )
        .await;
    let mirror = r.body["id"].as_i64().unwrap();
    let r = s
        .post_json(&format!("/projects/{id}/archive"), &maint, json!({}))
        .await;
    assert_eq!(r.status, 403, "archiving needs the Owner");
    let r = s
        .post_json(&format!("/projects/{id}/archive"), &alice, json!({}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["archived"], true);
    let out = git(&["push", &url, "main"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("You can't push code to an archived project."),
        "{stderr}"
    );
    let r = s
        .post_json(
            &format!("/projects/{id}/remote_mirrors/{mirror}/sync"),
            &alice,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        names(&s.get("/projects?archived=true", &alice).await),
        ["Alpha One"]
    );
    assert!(
        !names(&s.get("/projects?archived=false", &alice).await).contains(&"Alpha One".to_owned())
    );
    let r = s
        .post_json(&format!("/projects/{id}/unarchive"), &alice, json!({}))
        .await;
    assert_eq!(
        (r.status, r.body["archived"].clone()),
        (201, Value::Bool(false))
    );
    let out = git(&["push", "-q", &url, "main"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_filters_update_and_archive_sqlite() {
    let s = TestServer::builder().start().await;
    filters_update_and_archive(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_filters_update_and_archive_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    filters_update_and_archive(&s).await;
}

/// gitlabform's `members` section with `enforce` reads the project's `shared_with_groups` (no
/// project is shared with a group here: always empty), in the project and in lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_project_entity_says_it_is_shared_with_no_group() {
    let s = TestServer::builder().start().await;
    let alice = s.token("alice", false).await;
    let p = s.api(&alice).create_project("solo").await;
    let one = s.get(&format!("/projects/{}", p.id), &alice).await;
    assert_eq!(one.body["shared_with_groups"], json!([]), "{}", one.text);
    let list = s.get("/projects", &alice).await;
    assert_eq!(
        list.body[0]["shared_with_groups"],
        json!([]),
        "{}",
        list.text
    );
}
