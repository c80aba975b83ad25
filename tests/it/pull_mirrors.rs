//! Imports and pull mirrors end to end, on the real server with its engine: sources are real git
//! servers on loopback (`git http-backend` with Basic auth), driven with the real git CLI; the
//! import and the mirror are set up and watched through GitLab's API (`POST /projects` with
//! `import_url`, `GET /projects/:id/import`, `…/import/cancel`, `/projects/:id/mirror/pull`).

use crate::common;
use crate::remotes;

use std::sync::Arc;
use std::time::Duration;

use common::{blocking, poll_for, refs_of, TestServer, Work};
use remotes::GitHttpRemote;
use serde_json::{json, Value};

/// Generous bound for an import or sync on a loaded machine.
pub(crate) const SETTLE: Duration = Duration::from_secs(60);

/// The source's Basic-auth credentials.
pub(crate) const USER: &str = "source-user";
pub(crate) const PASS: &str = "s3cret-source-pass";

pub(crate) fn builder() -> common::Builder {
    TestServer::builder()
        .engine(true)
        .local_network(true)
        .tweak(|c| {
            c.tuning.retry_delay_secs = 1;
            c.tuning.pull_mirror_min_interval_secs = 1;
        })
}

/// A source repository `name` on `remote` with `main`, `feature`, a tag `v1` and a host-owned
/// `refs/pull/1/head`, pushed by a client; the client, to push more.
pub(crate) async fn seeded_source(remote: &GitHttpRemote, name: &str) -> Arc<Work> {
    remote.create_repo(name);
    let url = remote.url_with_credentials(name, USER, PASS);
    let work = Arc::new(Work::new());
    let w = work.clone();
    blocking(move || {
        w.commit("one");
        w.git(&["tag", "v1"]);
        w.git(&["branch", "feature"]);
        w.commit("two");
        w.push(&url, &["main", "feature", "v1", "HEAD:refs/pull/1/head"]);
    })
    .await;
    work
}

/// Commits `msg` on the client `work`.
pub(crate) async fn commit(work: &Arc<Work>, msg: &'static str) {
    let w = work.clone();
    blocking(move || {
        w.commit(msg);
    })
    .await;
}

/// Waits until `read` (a ref's value, if any) gives `want`.
pub(crate) async fn wait_for_ref(read: impl Fn() -> Option<String>, want: &str) {
    poll_for(SETTLE, || async { read() }, |r| r.as_deref() == Some(want))
        .await
        .unwrap_or_else(|r| panic!("the ref is {r:?}, not {want}"));
}

pub(crate) async fn push(work: &Arc<Work>, url: String, refspecs: &[&str]) -> Result<(), String> {
    let w = work.clone();
    let specs: Vec<String> = refspecs.iter().map(|s| s.to_string()).collect();
    blocking(move || {
        let refs: Vec<&str> = specs.iter().map(String::as_str).collect();
        w.try_push(&url, &refs)
    })
    .await
}

/// `GET /projects/:id/import` until it is no longer running; the last answer.
pub(crate) async fn import_settled(server: &TestServer, token: &str, id: i64) -> Value {
    let path = format!("/api/v4/projects/{id}/import");
    let r = poll_for(
        SETTLE,
        || async { serde_json::from_str::<Value>(&server.get(&path, token).await.text).unwrap() },
        |v| !matches!(v["import_status"].as_str(), Some("scheduled" | "started")),
    )
    .await;
    r.unwrap_or_else(|v| panic!("the import did not end: {v}"))
}

/// `GET …/mirror/pull` until `done` holds; the last answer.
pub(crate) async fn pull_until(
    server: &TestServer,
    token: &str,
    id: i64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("/api/v4/projects/{id}/mirror/pull");
    poll_for(
        SETTLE,
        || async { serde_json::from_str::<Value>(&server.get(&path, token).await.text).unwrap() },
        done,
    )
    .await
    .unwrap_or_else(|v| panic!("the pull mirror did not get there: {v}"))
}

/// Every response body the server sent so far must not contain `secret`.
pub(crate) fn assert_never_shown(server: &TestServer, secret: &str) {
    for body in server.seen_bodies() {
        assert!(
            !body.contains(secret),
            "a response showed the secret: {body}"
        );
    }
}

async fn import_from_basic_auth_source(server: TestServer) {
    let token = server.token("root", true).await;
    let remote = GitHttpRemote::start(Some((USER, PASS))).await;
    let _work = seeded_source(&remote, "src").await;
    let r = server
        .post_json(
            "/api/v4/projects",
            &token,
            json!({
                "name": "imported",
                "import_url": remote.url("src"),
                "import_url_user": USER,
                "import_url_password": PASS,
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let created: Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(created["import_status"], "scheduled");
    let url = created["import_url"].as_str().unwrap();
    assert!(url.contains("*****"), "{url}");
    let id = created["id"].as_i64().unwrap();
    let status = import_settled(&server, &token, id).await;
    assert_eq!(status["import_status"], "finished", "{status}");
    assert_eq!(status["failed_relations"], json!([]));
    assert!(status["correlation_id"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));
    // Branches and tags came, the host's own refs did not.
    let here = refs_of(&server.repo_path(id));
    let mut source = remote.refs("src");
    source.retain(|name, _| name.starts_with("refs/heads/") || name.starts_with("refs/tags/"));
    assert_eq!(here, source);
    let project: Value = serde_json::from_str(
        &server
            .get(&format!("/api/v4/projects/{id}"), &token)
            .await
            .text,
    )
    .unwrap();
    assert_eq!(project["default_branch"], "main", "{project}");
    assert_eq!(project["import_status"], "finished");
    // A clone sees the branches and tags only (no staging refs of ours).
    let clone_url = server.push_url(&token, "root/imported");
    let listed = blocking(move || Work::new().git(&["ls-remote", &clone_url])).await;
    assert!(listed.contains("refs/heads/feature"), "{listed}");
    assert!(!listed.contains("refs/pushmirror"), "{listed}");
    assert!(!listed.contains("refs/pull/"), "{listed}");
    assert_never_shown(&server, PASS);
}

#[tokio::test]
async fn an_import_brings_branches_and_tags_from_a_basic_auth_source() {
    import_from_basic_auth_source(builder().start().await).await;
}

#[tokio::test]
async fn an_import_brings_branches_and_tags_on_postgres() {
    let Some(server) = builder().postgres().start().await else {
        return;
    };
    import_from_basic_auth_source(server).await;
}

#[tokio::test]
async fn a_failed_import_says_why_without_the_password() {
    let server = builder().start().await;
    let token = server.token("root", true).await;
    let remote = GitHttpRemote::start(Some((USER, PASS))).await;
    let _work = seeded_source(&remote, "src").await;
    let wrong = "not-the-pass-9713";
    let r = server
        .post_json(
            "/api/v4/projects",
            &token,
            json!({"name": "bad", "import_url": remote.url_with_credentials("src", USER, wrong)}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = serde_json::from_str::<Value>(&r.text).unwrap()["id"]
        .as_i64()
        .unwrap();
    let status = import_settled(&server, &token, id).await;
    assert_eq!(status["import_status"], "failed", "{status}");
    let error = status["import_error"].as_str().unwrap();
    assert!(!error.is_empty());
    assert!(!error.contains(wrong), "{error}");
    assert_never_shown(&server, wrong);
    // A refused URL is a field error, and nothing is created.
    let r = server
        .post_json(
            "/api/v4/projects",
            &token,
            json!({"name": "local", "import_url": "file:///etc"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("import_url"), "{}", r.text);
    let r = server.get("/api/v4/projects/root%2Flocal", &token).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn an_import_from_a_hanging_source_can_be_canceled_and_retried() {
    let server = builder().start().await;
    let token = server.token("root", true).await;
    let remote = GitHttpRemote::start(None).await;
    let _work = seeded_source(&remote, "src").await;
    remote.set_hang(true);
    let r = server
        .post_json(
            "/api/v4/projects",
            &token,
            json!({"name": "slow", "import_url": remote.url("src")}),
        )
        .await;
    let id = serde_json::from_str::<Value>(&r.text).unwrap()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v4/projects/{id}/import");
    poll_for(
        SETTLE,
        || async { serde_json::from_str::<Value>(&server.get(&path, &token).await.text).unwrap() },
        |v| v["import_status"] == "started",
    )
    .await
    .unwrap();
    // Pushes wait for the import.
    let work = Arc::new(Work::new());
    commit(&work, "mine").await;
    let refused = push(&work, server.push_url(&token, "root/slow"), &["main"]).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("being imported")),
        "{refused:?}"
    );
    let r = server
        .post_json(
            &format!("/api/v4/projects/{id}/import/cancel"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        serde_json::from_str::<Value>(&r.text).unwrap()["import_status"],
        "canceled"
    );
    // Canceling twice is refused with the status.
    let again = server
        .post_json(
            &format!("/api/v4/projects/{id}/import/cancel"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert!(again.text.contains("canceled"), "{}", again.text);
    // The run notices and stops: no git process keeps fetching (the source saw the request
    // hang); the project stays, and a retry once the source answers finishes it.
    remote.set_hang(false);
    let r = server
        .post_json(
            &format!("/api/v4/projects/{id}/import/retry"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let status = import_settled(&server, &token, id).await;
    assert_eq!(status["import_status"], "finished", "{status}");
    assert!(refs_of(&server.repo_path(id)).contains_key("refs/heads/feature"));
}

/// A pull mirror of a Basic-auth source on `server`; the project id, the source client.
async fn pulled_project(
    server: &TestServer,
    token: &str,
    remote: &GitHttpRemote,
    extra: Value,
) -> (i64, Arc<Work>) {
    let work = seeded_source(remote, "up").await;
    let project = server.api(token).create_project("mirror").await;
    let mut body = json!({
        "enabled": true,
        "url": remote.url("up"),
        "auth_user": USER,
        "auth_password": PASS,
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let r = server
        .put_json(
            &format!("/api/v4/projects/{}/mirror/pull", project.id),
            token,
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let shown: Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(shown["enabled"], true);
    assert!(shown["url"].as_str().unwrap().contains("*****"), "{shown}");
    assert!(!r.text.contains(PASS));
    pull_until(server, token, project.id, |v| {
        v["update_status"] == "finished"
    })
    .await;
    (project.id, work)
}

pub(crate) async fn sync_now(server: &TestServer, token: &str, id: i64) {
    let r = server
        .post_json(
            &format!("/api/v4/projects/{id}/mirror/pull"),
            token,
            json!({"zen": "webhook body"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
}

#[tokio::test]
async fn a_pull_mirror_follows_its_source_and_reports_diverged_refs() {
    let server = builder().start().await;
    let token = server.token("root", true).await;
    let remote = GitHttpRemote::start(Some((USER, PASS))).await;
    let (id, work) = pulled_project(&server, &token, &remote, json!({})).await;
    let up = remote.url_with_credentials("up", USER, PASS);
    let source_refs = |r: &GitHttpRemote| {
        let mut refs = r.refs("up");
        refs.retain(|n, _| !n.starts_with("refs/pull/"));
        refs
    };
    assert_eq!(refs_of(&server.repo_path(id)), source_refs(&remote));
    // A fast-forward upstream arrives with the next sync.
    commit(&work, "three").await;
    push(&work, up.clone(), &["main"]).await.unwrap();
    sync_now(&server, &token, id).await;
    let want = source_refs(&remote);
    poll_for(
        SETTLE,
        || async { refs_of(&server.repo_path(id)) },
        |r| *r == want,
    )
    .await
    .unwrap();
    // Pushing to a mirrored ref here is refused with GitLab's words; the mirror owns it.
    let mine = Arc::new(Work::new());
    let push_url = server.push_url(&token, "root/mirror");
    blocking({
        let w = mine.clone();
        let url = push_url.clone();
        move || {
            w.git(&["fetch", "-q", &url, "main"]);
            w.git(&["reset", "-q", "--hard", "FETCH_HEAD"]);
            w.commit("local");
        }
    })
    .await;
    let refused = push(&mine, push_url.clone(), &["HEAD:main"]).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("updated by a pull mirror")),
        "{refused:?}"
    );
    // The source force-pushes: without overwriting, main diverged is skipped and named.
    blocking({
        let w = work.clone();
        move || {
            w.git(&["reset", "-q", "--hard", "HEAD~1"]);
            w.commit("rewritten");
        }
    })
    .await;
    push(&work, up.clone(), &["+main"]).await.unwrap();
    // The feature branch's deletion upstream is not propagated without overwriting.
    push(&work, up.clone(), &[":feature"]).await.unwrap();
    let before = refs_of(&server.repo_path(id));
    sync_now(&server, &token, id).await;
    let shown = pull_until(&server, &token, id, |v| v["diverged_refs"] != json!([])).await;
    assert_eq!(
        shown["diverged_refs"],
        json!(["refs/heads/main"]),
        "{shown}"
    );
    assert!(
        shown["last_error"].as_str().unwrap().contains("main"),
        "{shown}"
    );
    let after = refs_of(&server.repo_path(id));
    assert_eq!(after.get("refs/heads/main"), before.get("refs/heads/main"));
    assert!(after.contains_key("refs/heads/feature"));
    // Overwriting makes the mirror exact: main rewritten, feature deleted.
    let r = server
        .put_json(
            &format!("/api/v4/projects/{id}/mirror/pull"),
            &token,
            json!({"mirror_overwrites_diverged_branches": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    sync_now(&server, &token, id).await;
    let want = source_refs(&remote);
    poll_for(
        SETTLE,
        || async { refs_of(&server.repo_path(id)) },
        |r| *r == want,
    )
    .await
    .unwrap_or_else(|r| panic!("not exact: {r:?} vs {want:?}"));
    let shown = pull_until(&server, &token, id, |v| v["diverged_refs"] == json!([])).await;
    assert_eq!(shown["last_error"], Value::Null, "{shown}");
    // Turning it off makes every ref writable again.
    let r = server
        .put_json(
            &format!("/api/v4/projects/{id}/mirror/pull"),
            &token,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    push(&mine, push_url, &["+HEAD:main"]).await.unwrap();
    assert_never_shown(&server, PASS);
}

#[tokio::test]
async fn rotated_source_credentials_are_changed_in_place() {
    let server = builder().start().await;
    let token = server.token("root", true).await;
    let remote = GitHttpRemote::start(Some((USER, PASS))).await;
    let (id, work) = pulled_project(&server, &token, &remote, json!({})).await;
    // New credentials only (the URL kept): the mirror is not recreated.
    let new_pass = "rotated-pass-5521";
    let r = server
        .put_json(
            &format!("/api/v4/projects/{id}/mirror/pull"),
            &token,
            json!({"auth_user": USER, "auth_password": new_pass}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let shown = pull_until(&server, &token, id, |v| {
        v["update_status"] != "started" && v["last_error"].is_string()
    })
    .await;
    let error = shown["last_error"].as_str().unwrap();
    assert!(!error.contains(new_pass), "{error}");
    // Back to the right one: the next sync recovers.
    let r = server
        .put_json(
            &format!("/api/v4/projects/{id}/mirror/pull"),
            &token,
            json!({"auth_password": PASS}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    pull_until(&server, &token, id, |v| {
        v["update_status"] == "finished" && v["last_error"].is_null()
    })
    .await;
    let _ = work;
    assert_never_shown(&server, new_pass);
    assert_never_shown(&server, PASS);
}

#[tokio::test]
async fn a_relay_pulls_from_one_source_and_pushes_to_two_mirrors() {
    let server = builder().start().await;
    let token = server.token("root", true).await;
    let source = GitHttpRemote::start(Some((USER, PASS))).await;
    let targets = GitHttpRemote::start(None).await;
    targets.create_repo("b");
    targets.create_repo("c");
    let (id, work) = pulled_project(&server, &token, &source, json!({})).await;
    let api = server.api(&token);
    for name in ["b", "c"] {
        api.create_mirror(id, &targets.url(name), true).await;
    }
    commit(&work, "relayed").await;
    push(
        &work,
        source.url_with_credentials("up", USER, PASS),
        &["main"],
    )
    .await
    .unwrap();
    // The source's webhook would call this.
    sync_now(&server, &token, id).await;
    let head = source.refs("up")["refs/heads/main"].clone();
    for name in ["b", "c"] {
        wait_for_ref(|| targets.refs(name).get("refs/heads/main").cloned(), &head).await;
    }
}

#[tokio::test]
async fn an_upstream_webhook_with_a_query_token_triggers_a_sync() {
    let server = builder().start().await;
    let token = server.token("root", true).await;
    let remote = GitHttpRemote::start(Some((USER, PASS))).await;
    let (id, work) = pulled_project(&server, &token, &remote, json!({})).await;
    commit(&work, "hooked").await;
    push(
        &work,
        remote.url_with_credentials("up", USER, PASS),
        &["main"],
    )
    .await
    .unwrap();
    // What GitHub sends: its own JSON and headers, the token only in the URL's query.
    let github_push = json!({
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000000",
        "after": remote.refs("up")["refs/heads/main"],
        "repository": {"full_name": "acme/up"},
        "commits": [{"id": "x", "message": "hooked"}],
    });
    let rb = server
        .raw(
            reqwest::Method::POST,
            &format!("/projects/{id}/mirror/pull?private_token={token}"),
        )
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", "sha256=ignored")
        .json(&github_push);
    let r = server.send(rb).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let want = remote.refs("up")["refs/heads/main"].clone();
    wait_for_ref(
        || {
            refs_of(&server.repo_path(id))
                .get("refs/heads/main")
                .cloned()
        },
        &want,
    )
    .await;
    // Without a token the call is refused, and nothing else is asked of the mirror.
    let r = server
        .send(server.raw(
            reqwest::Method::POST,
            &format!("/projects/{id}/mirror/pull"),
        ))
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
}

#[tokio::test]
async fn the_repository_api_cannot_change_pulled_refs_either() {
    let server = builder().start().await;
    let token = server.token("root", true).await;
    let remote = GitHttpRemote::start(Some((USER, PASS))).await;
    let (id, _work) = pulled_project(
        &server,
        &token,
        &remote,
        json!({"mirror_branch_regex": "^(main|feature)$"}),
    )
    .await;
    let branches = format!("/api/v4/projects/{id}/repository/branches");
    let r = server
        .post_json(
            &branches,
            &token,
            json!({"branch": "feature2", "ref": "main"}),
        )
        .await;
    // `feature2` is outside the regex: the project's own.
    assert_eq!(r.status, 201, "{}", r.text);
    let r = server.delete(&format!("{branches}/feature"), &token).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("updated by a pull mirror"), "{}", r.text);
    let r = server
        .post_json(
            &format!("/api/v4/projects/{id}/repository/tags"),
            &token,
            json!({"tag_name": "v9", "ref": "main", "message": "annotated"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("updated by a pull mirror"), "{}", r.text);
    assert!(!refs_of(&server.repo_path(id)).contains_key("refs/tags/v9"));
}

#[tokio::test]
async fn the_older_put_projects_api_makes_and_ends_a_pull_mirror() {
    let server = builder().start().await;
    let token = server.token("root", true).await;
    let remote = GitHttpRemote::start(None).await;
    let _work = seeded_source(&remote, "up").await;
    let project = server.api(&token).create_project("legacy").await;
    let r = server
        .put_json(
            &format!("/api/v4/projects/{}", project.id),
            &token,
            json!({"import_url": remote.url("up"), "mirror": true, "only_mirror_protected_branches": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let shown: Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(shown["mirror"], true, "{shown}");
    assert_eq!(shown["import_url"], remote.url("up"), "{shown}");
    pull_until(&server, &token, project.id, |v| {
        v["update_status"] == "finished"
    })
    .await;
    assert!(refs_of(&server.repo_path(project.id)).contains_key("refs/heads/feature"));
    let r = server
        .put_json(
            &format!("/api/v4/projects/{}", project.id),
            &token,
            json!({"mirror": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        serde_json::from_str::<Value>(&r.text).unwrap()["mirror"],
        false
    );
}
