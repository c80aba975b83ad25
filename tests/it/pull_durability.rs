//! `kill -9` of the real `pushmirror serve` during an import and during a pull mirror's sync:
//! the restarted server finishes the work (the durable job runs again once its lease expired),
//! nothing is left `started`, and no git process of the killed server outlives it.

use crate::common;
use crate::pull_mirrors::{seeded_source, PASS, SETTLE, USER};
use crate::remotes;

use common::binary::{create_admin_token, ServerProcess};
use common::{blocking, poll_for, poll_until_blocking, refs_of, Api};
use remotes::GitHttpRemote;
use serde_json::{json, Value};

/// Loopback sources, a short lease (a restarted server takes over at once), quick retries.
const FLAGS: &[&str] = &[
    "--allow-local-network",
    "--lease-secs",
    "2",
    "--retry-delay-secs",
    "1",
    "--pull-mirror-min-interval",
    "1",
];

async fn get(api: &Api, path: &str) -> Value {
    let r = api.request("GET", path, common::Body::None).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    serde_json::from_str(&r.text).unwrap()
}

/// Waits until `path`'s answer satisfies `done`.
async fn until(api: &Api, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    poll_for(SETTLE, || get(api, path), done)
        .await
        .unwrap_or_else(|v| panic!("{path} did not get there: {v}"))
}

/// Whether a `git fetch` from `url` runs on this machine (git's command line names the URL).
fn fetching_from(url: &str) -> bool {
    let out = std::process::Command::new("pgrep")
        .args(["-af", "fetch"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains(url)
}

/// No process of the killed server's may be fetching from `url` still: its git processes died
/// with it.
fn assert_no_fetch_survived(url: &str) {
    assert!(
        !fetching_from(url),
        "a git fetch from {url} outlived its server"
    );
}

#[tokio::test]
async fn kill_9_during_an_import_and_during_a_sync_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = ServerProcess::start(&data, None, FLAGS, &[]);
    let token = blocking({
        let data = data.clone();
        move || create_admin_token(&data, None)
    })
    .await;
    let api = server.api(&token);
    let remote = GitHttpRemote::start(Some((USER, PASS))).await;
    let work = seeded_source(&remote, "up").await;

    // An import whose source hangs: killed while it runs.
    remote.set_hang(true);
    let r = api
        .request(
            "POST",
            "/api/v4/projects",
            common::Body::Json(json!({
                "name": "imported",
                "import_url": remote.url("up"),
                "import_url_user": USER,
                "import_url_password": PASS,
                "mirror": true,
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = serde_json::from_str::<Value>(&r.text).unwrap()["id"]
        .as_i64()
        .unwrap();
    let import = format!("/api/v4/projects/{id}/import");
    until(&api, &import, |v| v["import_status"] == "started").await;
    let url = remote.url("up");
    let fetching = poll_until_blocking(SETTLE, || fetching_from(&url));
    assert!(fetching, "the import's git fetch should be running");
    server.kill_9();
    assert_no_fetch_survived(&remote.url("up"));
    remote.set_hang(false);
    server.start_again();
    let api = server.api(&token);
    let status = until(&api, &import, |v| {
        !matches!(v["import_status"].as_str(), Some("scheduled" | "started"))
    })
    .await;
    assert_eq!(status["import_status"], "finished", "{status}");
    let repo = data.join("repositories").join(format!("{id}.git"));
    let mut want = remote.refs("up");
    want.retain(|n, _| n.starts_with("refs/heads/") || n.starts_with("refs/tags/"));
    assert_eq!(refs_of(&repo), want);

    // A sync killed while it fetches: the restarted server completes it.
    let w = work.clone();
    let up = remote.url_with_credentials("up", USER, PASS);
    blocking(move || {
        w.commit("after the import");
        w.push(&up, &["main"]);
    })
    .await;
    remote.set_hang(true);
    let r = api
        .request(
            "POST",
            &format!("/api/v4/projects/{id}/mirror/pull"),
            common::Body::None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let pull = format!("/api/v4/projects/{id}/mirror/pull");
    until(&api, &pull, |v| v["update_status"] == "started").await;
    server.kill_9();
    assert_no_fetch_survived(&remote.url("up"));
    remote.set_hang(false);
    server.start_again();
    let api = server.api(&token);
    let shown = until(&api, &pull, |v| {
        v["update_status"] == "finished" && v["last_successful_update_at"].is_string()
    })
    .await;
    assert_eq!(shown["last_error"], Value::Null, "{shown}");
    let head = remote.refs("up")["refs/heads/main"].clone();
    poll_for(
        SETTLE,
        || async { refs_of(&repo).get("refs/heads/main").cloned() },
        |r| r.as_deref() == Some(head.as_str()),
    )
    .await
    .unwrap();
}
