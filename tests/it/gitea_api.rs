//! The Gitea-compatible `/api/v1`: driven by gitea-js (the client generated from Gitea's own
//! OpenAPI document, installed by `npm ci` into `gitea_client/node_modules`; missing, its test
//! skips with a printed reason except under `CI=true`), and over plain HTTP for what a client
//! library hides: Gitea's ways of sending a token, the two-segment rule, one mirror seen
//! through both APIs, the periodic update pushing to a real remote on a manual clock, and a
//! mirror with `sync_on_commit: false` that a push leaves alone. Store-touching tests run on
//! SQLite and on PostgreSQL.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use crate::common::{blocking, refs_of, Body, Resp, TestServer, Work};
use crate::remotes::GitHttpRemote;
use pushmirror::clock::ManualClock;

/// The directory of the gitea-js script and its npm packages.
const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/gitea_client");

/// A start far from the epoch, for the manual clock.
const T0: i64 = 1_800_000_000_000;

/// A request to `/api/v1<path>` with `Authorization: token …` (when a token is given).
async fn v1(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut rb = reqwest::Client::new().request(method, format!("{}/api/v1{path}", server.base));
    if let Some(t) = token {
        rb = rb.header("Authorization", format!("token {t}"));
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    server.send(rb).await
}

/// `root` (an admin) with a project `root/app` holding one pushed commit on `main`; returns its
/// token, the project id and the work tree.
async fn seeded(server: &TestServer) -> (String, i64, Arc<Work>) {
    let token = server.token("root", true).await;
    let project = server.api(&token).create_project("app").await;
    let work = Arc::new(Work::new());
    push_commit(server, &token, &work, "first").await;
    (token, project.id, work)
}

/// Commits `msg` in `work` and pushes `main` to `root/app`.
async fn push_commit(server: &TestServer, token: &str, work: &Arc<Work>, msg: &str) {
    let url = server.push_url(token, "root/app");
    let (w, msg) = (work.clone(), msg.to_owned());
    blocking(move || {
        w.commit(&msg);
        w.push(&url, &["main"]);
    })
    .await;
}

/// The branches and tags of `root/app`'s repository.
fn local_refs(server: &TestServer, project_id: i64) -> std::collections::BTreeMap<String, String> {
    refs_of(&server.repo_path(project_id))
}

/// `node`, when gitea-js is installed beside the script.
fn node_with_gitea_js() -> Option<()> {
    let installed = Path::new(CLIENT).join("node_modules/gitea-js/package.json");
    let node = Command::new("node").arg("--version").output();
    let why = match (installed.is_file(), node) {
        (true, Ok(out)) if out.status.success() => return Some(()),
        (false, _) => format!("gitea-js not installed (npm ci --prefix {CLIENT})"),
        _ => "node is not installed".to_owned(),
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{why}; under CI, .ci/run installs it"
    );
    eprintln!("SKIPPED: {why}");
    None
}

/// Runs the gitea-js script `script` with `env`; fails with its output unless it exits 0, and
/// returns the JSON of its last line.
async fn run_gitea_js(script: &str, env: &[(&str, String)]) -> Value {
    let mut cmd = Command::new("node");
    cmd.arg(format!("{CLIENT}/{script}"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = blocking(move || cmd.output().expect("run node")).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap()
}

async fn gitea_js_drives_the_face(server: TestServer) {
    if node_with_gitea_js().is_none() {
        return;
    }
    let (admin, project_id, _work) = seeded(&server).await;
    let developer = server.token("dev", false).await;
    let dev_id = server.user_id("dev").await;
    server.api(&admin).add_member(project_id, dev_id, 30).await;
    let remote = GitHttpRemote::start(Some(("bot", "Remote-Pa55"))).await;
    remote.create_repo("target");
    let names = run_gitea_js(
        "gitea_js_check.mjs",
        &[
            ("PUSHMIRROR_BASE", server.base.clone()),
            ("GITEA_REPO", "root/app".into()),
            ("ADMIN_TOKEN", admin.clone()),
            ("DEVELOPER_TOKEN", developer),
            ("REMOTE_URL", remote.url("target")),
            ("REMOTE_PASSWORD", "Remote-Pa55".into()),
            ("SSH_REMOTE_URL", "ssh://git@127.0.0.1:9/target.git".into()),
        ],
    )
    .await;

    // The same mirrors through /api/v4: two left, with the Gitea fields as extensions.
    let listed = server
        .request(
            "GET",
            &format!("/projects/{project_id}/remote_mirrors"),
            Some(&admin),
            Body::None,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let mirrors = listed.body.as_array().unwrap();
    assert_eq!(mirrors.len(), 2, "{}", listed.text);
    assert_eq!(mirrors[0]["sync_interval"], 28_800);
    assert_eq!(mirrors[0]["sync_on_commit"], true);
    assert_eq!(mirrors[0]["auth_method"], "password");
    assert_eq!(mirrors[1]["sync_interval"], 600);
    assert_eq!(mirrors[1]["auth_method"], "ssh_public_key");
    assert_eq!(
        mirrors[1]["mirror_branch_regex"],
        r"^(?:main|release/1\.0)$"
    );

    // The sync the script asked for pushes with the password given beside the URL.
    server.run_pending().await;
    let password_mirror = v1(
        &server,
        "GET",
        &format!(
            "/repos/root/app/push_mirrors/{}",
            names["password"].as_str().unwrap()
        ),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(password_mirror.status, 200);
    assert_eq!(
        password_mirror.body["last_error"], "",
        "{}",
        password_mirror.text
    );
    assert!(password_mirror.body["last_update"].is_string());
    assert_eq!(remote.refs("target"), local_refs(&server, project_id));
    for body in server.seen_bodies() {
        assert!(!body.contains("Remote-Pa55"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_js_drives_the_face_on_sqlite() {
    gitea_js_drives_the_face(TestServer::builder().local_network(true).start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_js_drives_the_face_on_postgres() {
    let Some(server) = TestServer::builder()
        .local_network(true)
        .postgres()
        .start()
        .await
    else {
        return;
    };
    gitea_js_drives_the_face(server).await;
}

async fn one_mirror_two_apis(server: TestServer) {
    let (token, id, _work) = seeded(&server).await;
    // Made through /api/v4 with the extension fields, seen through /api/v1.
    let made = server
        .request(
            "POST",
            &format!("/projects/{id}/remote_mirrors"),
            Some(&token),
            Body::Json(json!({"url": "https://127.0.0.1:9/a.git", "enabled": true,
                              "sync_interval": 3600, "sync_on_commit": false,
                              "mirror_branch_regex": "^rel"})),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.body["sync_interval"], 3600);
    let listed = v1(
        &server,
        "GET",
        "/repos/root/app/push_mirrors",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.header("x-total-count"), "1");
    let seen = &listed.body[0];
    assert_eq!(seen["remote_address"], "https://127.0.0.1:9/a.git");
    assert_eq!(seen["interval"], "1h0m0s");
    assert_eq!(seen["sync_on_commit"], false);
    assert_eq!(seen["branch_filter"], "/^rel/");
    let v4_name = seen["remote_name"].as_str().unwrap().to_owned();
    assert!(v4_name.starts_with("remote_mirror_"), "{v4_name}");

    // Made through /api/v1, seen and changed through /api/v4; its name stays.
    let created = v1(
        &server,
        "POST",
        "/repos/root/app/push_mirrors",
        Some(&token),
        Some(
            json!({"remote_address": "https://127.0.0.1:9/b.git", "interval": "0s",
                    "sync_on_commit": true, "remote_username": "u", "remote_password": "Pw-1"}),
        ),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let name = created.body["remote_name"].as_str().unwrap().to_owned();
    let v4 = server
        .request(
            "GET",
            &format!("/projects/{id}/remote_mirrors"),
            Some(&token),
            Body::None,
        )
        .await;
    let second = &v4.body[1];
    assert_eq!(second["url"], "https://*****:*****@127.0.0.1:9/b.git");
    assert_eq!(
        (second["enabled"].clone(), second["sync_interval"].clone()),
        (json!(true), json!(0))
    );
    let mirror_id = second["id"].as_i64().unwrap();
    let changed = server
        .request(
            "PUT",
            &format!("/projects/{id}/remote_mirrors/{mirror_id}"),
            Some(&token),
            Body::Json(json!({"sync_interval": 7200})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let read = v1(
        &server,
        "GET",
        &format!("/repos/root/app/push_mirrors/{name}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(read.body["interval"], "2h0m0s", "{}", read.text);
    let too_short = server
        .request(
            "PUT",
            &format!("/projects/{id}/remote_mirrors/{mirror_id}"),
            Some(&token),
            Body::Json(json!({"sync_interval": 60})),
        )
        .await;
    assert_eq!(too_short.status, 400, "{}", too_short.text);
    assert!(
        too_short.text.contains("sync_interval"),
        "{}",
        too_short.text
    );

    // Deleted through /api/v1 by the name of the one made through /api/v4.
    let deleted = v1(
        &server,
        "DELETE",
        &format!("/repos/root/app/push_mirrors/{v4_name}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let v4 = server
        .request(
            "GET",
            &format!("/projects/{id}/remote_mirrors"),
            Some(&token),
            Body::None,
        )
        .await;
    assert_eq!(v4.body.as_array().unwrap().len(), 1, "{}", v4.text);
    assert_eq!(v4.body[0]["id"], mirror_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mirror_two_apis_on_sqlite() {
    one_mirror_two_apis(TestServer::builder().local_network(true).start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mirror_two_apis_on_postgres() {
    let Some(server) = TestServer::builder()
        .local_network(true)
        .postgres()
        .start()
        .await
    else {
        return;
    };
    one_mirror_two_apis(server).await;
}

/// A mirror that pushes do not update, with a ten-minute interval: a push leaves the remote
/// alone; ten minutes later (on the manual clock) the sweep queues its periodic update, which
/// pushes; and no second update comes before another interval has passed.
async fn periodic_update_without_push_sync(server: TestServer, clock: Arc<ManualClock>) {
    let (token, id, work) = seeded(&server).await;
    let remote = GitHttpRemote::start(None).await;
    remote.create_repo("periodic");
    let created = v1(
        &server,
        "POST",
        "/repos/root/app/push_mirrors",
        Some(&token),
        Some(
            json!({"remote_address": remote.url("periodic"), "interval": "10m0s",
                    "sync_on_commit": false}),
        ),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    push_commit(&server, &token, &work, "second").await;
    server.run_due_schedules().await;
    server.run_pending().await;
    assert!(
        remote.refs("periodic").is_empty(),
        "a push does not update this mirror"
    );

    clock.advance(5 * 60 * 1000);
    server.run_due_schedules().await;
    assert_eq!(server.run_pending().await, 0, "not due yet");
    assert!(remote.refs("periodic").is_empty());

    clock.advance(5 * 60 * 1000 + 1);
    assert!(server.run_due_schedules().await > 0);
    assert_eq!(server.run_pending().await, 1, "the periodic update");
    assert_eq!(remote.refs("periodic"), local_refs(&server, id));

    // The next one is an interval after this one started.
    push_commit(&server, &token, &work, "third").await;
    clock.advance(60 * 1000);
    server.run_due_schedules().await;
    assert_eq!(server.run_pending().await, 0);
    assert_ne!(remote.refs("periodic"), local_refs(&server, id));
    clock.advance(10 * 60 * 1000);
    server.run_due_schedules().await;
    assert_eq!(server.run_pending().await, 1);
    assert_eq!(remote.refs("periodic"), local_refs(&server, id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_update_without_push_sync_on_sqlite() {
    let clock = Arc::new(ManualClock::new(T0));
    let server = TestServer::builder()
        .local_network(true)
        .clock(clock.clone())
        .start()
        .await;
    periodic_update_without_push_sync(server, clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_update_without_push_sync_on_postgres() {
    let clock = Arc::new(ManualClock::new(T0));
    let Some(server) = TestServer::builder()
        .local_network(true)
        .clock(clock.clone())
        .postgres()
        .start()
        .await
    else {
        return;
    };
    periodic_update_without_push_sync(server, clock).await;
}

/// Every way Gitea's clients send a token reaches the repository; a wrong token is a 401 in
/// Gitea's error shape even where anonymous access would do; projects deeper than two segments
/// are the GitLab API's only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_gitea_s_ways_and_the_two_segment_rule() {
    let server = TestServer::builder().start().await;
    let token = server.token("root", true).await;
    let api = server.api(&token);
    api.create_project("app").await;
    let basic = |creds: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
    };
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/repos/root/app", server.base);
    let requests = [
        http.get(&url)
            .header("Authorization", format!("token {token}")),
        http.get(&url)
            .header("Authorization", format!("Bearer {token}")),
        http.get(&url)
            .header("Authorization", basic(&format!("root:{token}"))),
        http.get(format!("{url}?token={token}")),
        http.get(format!("{url}?access_token={token}")),
    ];
    for rb in requests {
        let r = server.send(rb).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["full_name"], "root/app");
        assert_eq!(r.body["permissions"]["admin"], true);
    }
    let anonymous = v1(&server, "GET", "/repos/root/app", None, None).await;
    assert_eq!(anonymous.status, 404, "a private project is hidden");
    assert_eq!(
        anonymous.body["url"], "/api/v1/swagger.v1.json",
        "{}",
        anonymous.text
    );
    let wrong = v1(&server, "GET", "/repos/root/app", Some("not-a-token"), None).await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert!(wrong.body["message"].is_string(), "{}", wrong.text);

    let team = api.create_group("team", None).await;
    let sub = api.create_group("sub", Some(team.id)).await;
    api.create_project_with(json!({"name": "svc", "namespace_id": team.id}))
        .await;
    api.create_project_with(json!({"name": "deep", "namespace_id": sub.id}))
        .await;
    let top = v1(&server, "GET", "/repos/team/svc", Some(&token), None).await;
    assert_eq!(top.status, 200, "{}", top.text);
    assert_eq!(top.body["owner"]["login"], "team");
    for path in [
        "/repos/team%2Fsub/deep",
        "/repos/team/sub/deep",
        "/repos/team/sub%2Fdeep",
    ] {
        let r = v1(&server, "GET", path, Some(&token), None).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
    }
    let document = v1(&server, "GET", "/swagger.v1.json", None, None).await;
    assert_eq!(document.status, 200);
    assert!(document.body["paths"]["/repos/{owner}/{repo}/push_mirrors"].is_object());
}

/// Gitea's push-mirror API on an archived repository: listing works, a sync is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archived_repository_refuses_a_sync() {
    let server = TestServer::builder().start().await;
    let token = server.token("root", true).await;
    let project = server.api(&token).create_project("app").await;
    let archived = server
        .request(
            "POST",
            &format!("/projects/{}/archive", project.id),
            Some(&token),
            Body::None,
        )
        .await;
    assert_eq!(archived.status, 201, "{}", archived.text);
    let sync = v1(
        &server,
        "POST",
        "/repos/root/app/push_mirrors-sync",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(sync.status, 422, "{}", sync.text);
    let list = v1(
        &server,
        "GET",
        "/repos/root/app/push_mirrors",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.text);
}

/// gitea-js migrates a repository with `mirror: true` from a git server with Basic auth: the
/// import job clones its branches and tags, the repository is a pull mirror (`mirror: true`
/// through `/api/v1`, `import_status: finished` through `/api/v4`), and the password is never
/// shown.
async fn gitea_js_migrates_a_mirror(server: TestServer) {
    if node_with_gitea_js().is_none() {
        return;
    }
    let admin = server.token("root", true).await;
    let developer = server.token("dev", false).await;
    let source = GitHttpRemote::start(Some(("bot", "Source-Pa55"))).await;
    source.create_repo("src");
    let push_url = source.url_with_credentials("src", "bot", "Source-Pa55");
    blocking(move || {
        let w = Work::new();
        w.commit("one");
        w.git(&["tag", "v1"]);
        w.git(&["branch", "feature"]);
        w.push(&push_url, &["main", "feature", "v1"]);
    })
    .await;
    let made = run_gitea_js(
        "gitea_js_migrate.mjs",
        &[
            ("PUSHMIRROR_BASE", server.base.clone()),
            ("ADMIN_TOKEN", admin.clone()),
            ("DEVELOPER_TOKEN", developer),
            ("SOURCE_URL", source.url("src")),
            ("SOURCE_USER", "bot".into()),
            ("SOURCE_PASSWORD", "Source-Pa55".into()),
        ],
    )
    .await;
    let id = made["id"].as_i64().unwrap();

    assert!(server.run_pending().await >= 1, "the import ran");
    let import = server
        .request(
            "GET",
            &format!("/projects/{id}/import"),
            Some(&admin),
            Body::None,
        )
        .await;
    assert_eq!(import.body["import_status"], "finished", "{}", import.text);
    assert_eq!(local_refs(&server, id), source.refs("src"));
    let pull = server
        .request(
            "GET",
            &format!("/projects/{id}/mirror/pull"),
            Some(&admin),
            Body::None,
        )
        .await;
    assert_eq!(pull.status, 200, "{}", pull.text);
    assert_eq!(pull.body["enabled"], true, "{}", pull.text);
    let repo = v1(&server, "GET", "/repos/root/migrated", Some(&admin), None).await;
    assert_eq!(repo.body["mirror"], true, "{}", repo.text);
    assert_eq!(repo.body["empty"], false, "{}", repo.text);
    assert_eq!(repo.body["default_branch"], "main", "{}", repo.text);
    for body in server.seen_bodies() {
        assert!(!body.contains("Source-Pa55"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_js_migrates_a_mirror_on_sqlite() {
    gitea_js_migrates_a_mirror(TestServer::builder().local_network(true).start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitea_js_migrates_a_mirror_on_postgres() {
    let Some(server) = TestServer::builder()
        .local_network(true)
        .postgres()
        .start()
        .await
    else {
        return;
    };
    gitea_js_migrates_a_mirror(server).await;
}
