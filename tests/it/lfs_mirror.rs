//! Push mirrors carry Git LFS objects: against a real LFS server (giftless, from PyPI) behind
//! the same URL prefix as a real `git http-backend`, an update uploads the objects of the refs
//! it pushes before pushing them, only the new ones the next time, fails loudly (and, with
//! `lfs_sync: required`, without pushing the refs) when the remote refuses one, pushes anyway
//! with `best_effort`, sends nothing with `off`, and the periodic full check re-uploads what the
//! remote lost. Credentials never reach `last_error`.
//!
//! The objects are uploaded into pushmirror through its own batch API (raw HTTP, as git-lfs
//! would) and their pointers pushed with plain git, so each test controls exactly which
//! objects exist; `objects_pushed_by_git_lfs_reach_the_mirror` uses the git-lfs client.

use std::sync::Arc;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::common::work::{blocking, Work};
use crate::common::{Builder, TestServer};
use crate::remotes::{Giftless, GitHttpRemote};

const USER: &str = "mirror-bot";
const PASSWORD: &str = "Lfs-Secret-77";

/// Giftless, or `None` (with the reason printed) where its venv is missing outside CI.
fn giftless() -> Option<Giftless> {
    let started = Giftless::start();
    if started.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "giftless is missing: .ci/run installs it into target/giftless-venv"
        );
        eprintln!("skipped: giftless is not installed (target/giftless-venv, see .ci/run)");
    }
    started
}

/// A server, a project pushed to over HTTP, and an LFS remote with its repository `target`.
struct Fixture {
    server: TestServer,
    token: String,
    project_id: i64,
    push_url: String,
    remote: GitHttpRemote,
    giftless: Giftless,
    work: Arc<Work>,
}

impl Fixture {
    async fn start(builder: Builder, giftless: Giftless) -> Fixture {
        Self::on(builder.local_network(true).start().await, giftless).await
    }

    async fn on(server: TestServer, giftless: Giftless) -> Fixture {
        let token = server.token("root", true).await;
        let project = server.api(&token).create_project("big-files").await;
        let remote = GitHttpRemote::start_with_lfs(Some((USER, PASSWORD)), &giftless).await;
        remote.create_repo("group/target");
        giftless.prepare_repo("group/target");
        Fixture {
            push_url: server.push_url(&token, &project.path_with_namespace),
            project_id: project.id,
            server,
            token,
            remote,
            giftless,
            work: Arc::new(Work::new()),
        }
    }

    async fn add_mirror(&self, lfs_sync: &str) -> i64 {
        let body = json!({
            "url": self.remote.url_with_credentials("group/target", USER, PASSWORD),
            "enabled": true,
            "lfs_sync": lfs_sync,
        });
        let m = self
            .server
            .post_json(
                &format!("/projects/{}/remote_mirrors", self.project_id),
                &self.token,
                body,
            )
            .await;
        assert_eq!(m.status, 201, "{}", m.text);
        assert_eq!(m.body["lfs_sync"], lfs_sync, "{}", m.text);
        m.body["id"].as_i64().unwrap()
    }

    async fn mirror(&self, id: i64) -> serde_json::Value {
        let m = self
            .server
            .get(
                &format!("/projects/{}/remote_mirrors/{id}", self.project_id),
                &self.token,
            )
            .await;
        assert_eq!(m.status, 200, "{}", m.text);
        m.body
    }

    /// Uploads `content` into the project through pushmirror's LFS batch API, as git-lfs does:
    /// the batch, then the `upload` action's PUT with the action's own headers, then `verify`.
    async fn upload(&self, oid: &str, content: &str) {
        let endpoint = format!("{}/root/big-files.git/info/lfs", self.server.base);
        let client = reqwest::Client::new();
        let lfs_json = "application/vnd.git-lfs+json";
        let batch: serde_json::Value = client
            .post(format!("{endpoint}/objects/batch"))
            .basic_auth("oauth2", Some(&self.token))
            .header("Accept", lfs_json)
            .header("Content-Type", lfs_json)
            .json(&json!({
                "operation": "upload",
                "transfers": ["basic"],
                "objects": [{"oid": oid, "size": content.len()}],
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let actions = &batch["objects"][0]["actions"];
        for (name, body) in [("upload", Some(content)), ("verify", None)] {
            let action = &actions[name];
            let Some(href) = action["href"].as_str() else {
                assert!(actions.is_null(), "{batch}");
                return; // already linked
            };
            let mut request = match body {
                Some(content) => client.put(href).body(content.to_owned()),
                None => client
                    .post(href)
                    .json(&json!({"oid": oid, "size": content.len()})),
            };
            for (key, value) in action["header"].as_object().into_iter().flatten() {
                request = request.header(key.as_str(), value.as_str().unwrap());
            }
            let answer = request.send().await.unwrap();
            assert!(answer.status().is_success(), "{name}: {}", answer.status());
        }
    }

    /// Commits one pointer file per content (its object uploaded into pushmirror), pushes
    /// `main` to pushmirror and runs the updates that queued; the objects' oids.
    async fn commit_objects(&self, contents: &[String]) -> Vec<String> {
        let mut oids = Vec::new();
        for content in contents {
            let oid = hex::encode(Sha256::digest(content.as_bytes()));
            self.upload(&oid, content).await;
            let pointer = format!(
                "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {}\n",
                content.len()
            );
            std::fs::write(self.work.path().join(format!("{}.bin", &oid[..8])), pointer).unwrap();
            oids.push(oid);
        }
        let (w, url) = (self.work.clone(), self.push_url.clone());
        blocking(move || {
            w.git(&["add", "-A"]);
            w.commit("objects");
            w.push(&url, &["main"]);
        })
        .await;
        oids
    }

    /// Waits until an update of mirror `id` is queued, then runs it (and whatever else is due).
    async fn run_update(&self, id: i64) {
        let store = &self.server.state.store;
        let queued = crate::common::poll_until(std::time::Duration::from_secs(30), || async {
            store.mirror_update_pending(id).await.unwrap()
        })
        .await;
        assert!(queued, "no update of mirror {id} was requested");
        self.server.run_pending().await;
    }

    fn remote_has(&self, oid: &str) -> bool {
        self.giftless.object_path(oid).is_some()
    }

    fn refs_pushed(&self) -> bool {
        let local = crate::common::refs_of(&self.server.repo_path(self.project_id));
        !local.is_empty() && self.remote.refs("group/target") == local
    }

    /// The update's last_error, checked to hold no credential.
    fn error_of(&self, m: &serde_json::Value) -> String {
        let error = m["last_error"].as_str().unwrap_or_default().to_owned();
        assert!(!error.contains(PASSWORD), "{error}");
        assert!(!error.contains("Basic "), "{error}");
        error
    }
}

fn contents(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{tag} object {i}\n").repeat(100 + i))
        .collect()
}

async fn uploads_new_objects_before_the_refs(fx: Fixture) {
    let id = fx.add_mirror("required").await;
    let first = fx.commit_objects(&contents("first", 3)).await;
    fx.run_update(id).await;
    let m = fx.mirror(id).await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert!(fx.refs_pushed());
    assert!(first.iter().all(|o| fx.remote_has(o)));
    assert_eq!(fx.remote.lfs_uploads(), 3);
    // Every object was uploaded before the first ref was pushed.
    let log = fx.remote.request_log();
    let last_put = log.iter().rposition(|r| r.method == "PUT").unwrap();
    let first_push = log
        .iter()
        .position(|r| r.uri.ends_with("/git-receive-pack"))
        .unwrap();
    assert!(last_put < first_push, "{log:?}");
    // The batch request carried the mirror's credentials; giftless's own actions their own.
    let batches: Vec<_> = log
        .iter()
        .filter(|r| r.uri.ends_with("/objects/batch"))
        .collect();
    assert!(batches.iter().all(|r| r
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Basic "))));
    assert!(log.iter().filter(|r| r.method == "PUT").all(|r| r
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Bearer "))));

    // One new object: only it is uploaded.
    let second = fx.commit_objects(&contents("second", 1)).await;
    fx.run_update(id).await;
    let m = fx.mirror(id).await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert!(fx.refs_pushed());
    assert!(fx.remote_has(&second[0]));
    assert_eq!(
        fx.remote.lfs_uploads(),
        4,
        "only the new object is uploaded"
    );

    // The remote loses an object; the periodic full check finds and re-uploads it.
    std::fs::remove_file(fx.giftless.object_path(&first[1]).unwrap()).unwrap();
    let app = &fx.server.state;
    let now = app.clock.now_ms();
    let queued = pushmirror::service::mirror_sync::start_lfs_full_checks(app, now).await;
    assert_eq!(queued.unwrap(), 0, "checked less than an interval ago");
    let later = now + 86_400_000 + 1;
    let queued = pushmirror::service::mirror_sync::start_lfs_full_checks(app, later).await;
    assert_eq!(queued.unwrap(), 1);
    fx.run_update(id).await;
    let m = fx.mirror(id).await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert!(fx.remote_has(&first[1]), "re-uploaded");
    assert_eq!(
        fx.remote.lfs_uploads(),
        5,
        "only the lost object is uploaded again"
    );

    let metrics = reqwest::get(format!("{}/-/metrics", fx.server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("pushmirror_lfs_uploaded_objects_total{host=\"127.0.0.1\"} 5"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_new_objects_before_the_refs_sqlite() {
    let Some(giftless) = giftless() else { return };
    uploads_new_objects_before_the_refs(Fixture::start(TestServer::builder(), giftless).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_new_objects_before_the_refs_postgres() {
    let Some(giftless) = giftless() else { return };
    let Some(server) = TestServer::builder()
        .local_network(true)
        .postgres()
        .start()
        .await
    else {
        return;
    };
    uploads_new_objects_before_the_refs(Fixture::on(server, giftless).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_object_stops_the_push_unless_best_effort() {
    let Some(giftless) = giftless() else { return };
    let fx = Fixture::start(TestServer::builder(), giftless).await;
    let id = fx.add_mirror("required").await;
    let objects = contents("refused", 3);
    let refused = hex::encode(Sha256::digest(objects[1].as_bytes()));
    fx.remote.refuse_lfs_object(&refused);
    fx.commit_objects(&objects).await;
    fx.run_update(id).await;
    let m = fx.mirror(id).await;
    assert_ne!(m["update_status"], "finished", "{m}");
    let error = fx.error_of(&m);
    assert!(
        error.starts_with("LFS: 1 of 3 objects not uploaded: "),
        "{error}"
    );
    assert!(error.contains("refused by the test front"), "{error}");
    assert!(error.contains("The refs were not pushed"), "{error}");
    assert!(
        fx.remote.refs("group/target").is_empty(),
        "no ref was pushed"
    );
    assert!(!fx.remote_has(&refused));

    // best_effort: the refs go, the update still fails and says so.
    let path = format!("/projects/{}/remote_mirrors/{id}", fx.project_id);
    let put = fx
        .server
        .put_json(&path, &fx.token, json!({"lfs_sync": "best_effort"}))
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.body["lfs_sync"], "best_effort");
    let sync = fx
        .server
        .post_json(&format!("{path}/sync"), &fx.token, json!({}))
        .await;
    assert_eq!(sync.status, 204, "{}", sync.text);
    fx.run_update(id).await;
    let m = fx.mirror(id).await;
    assert!(
        m["update_status"] == "failed" || m["update_status"] == "to_retry",
        "{m}"
    );
    let error = fx.error_of(&m);
    assert!(
        error.starts_with("LFS: 1 of 3 objects not uploaded"),
        "{error}"
    );
    assert!(error.contains("The refs were pushed anyway"), "{error}");
    assert!(fx.refs_pushed(), "best_effort pushes the refs");

    // An invalid value is refused with GitLab's shape.
    let bad = fx
        .server
        .put_json(&path, &fx.token, json!({"lfs_sync": "sometimes"}))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_sends_no_lfs_request() {
    let Some(giftless) = giftless() else { return };
    let fx = Fixture::start(TestServer::builder(), giftless).await;
    let id = fx.add_mirror("off").await;
    let oids = fx.commit_objects(&contents("off", 2)).await;
    fx.run_update(id).await;
    let m = fx.mirror(id).await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert!(fx.refs_pushed());
    assert_eq!(fx.remote.lfs_requests(), 0);
    assert!(!fx.remote_has(&oids[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_without_lfs_sends_none() {
    let Some(giftless) = giftless() else { return };
    let fx = Fixture::start(TestServer::builder(), giftless).await;
    let path = format!("/projects/{}", fx.project_id);
    let put = fx
        .server
        .put_json(&path, &fx.token, json!({"lfs_enabled": false}))
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let id = fx.add_mirror("required").await;
    fx.commit_objects(&contents("no-lfs", 2)).await;
    fx.run_update(id).await;
    let m = fx.mirror(id).await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert!(fx.refs_pushed());
    assert_eq!(fx.remote.lfs_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_mirror_uploads_where_git_lfs_authenticate_says() {
    let Some(giftless) = giftless() else { return };
    let Some(ssh) = crate::remotes::SshRemote::start() else {
        return;
    };
    let fx = Fixture::start(TestServer::builder(), giftless).await;
    let url = ssh.create_repo("viassh");
    // The remote's LFS endpoint for the repository, as its git-lfs-authenticate says: the
    // giftless front, with the Authorization the front wants.
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let href = format!("{}/info/lfs", fx.remote.url("group/target"));
    ssh.set_lfs_authenticate(&format!(
        r#"{{"href": "{href}", "header": {{"Authorization": "Basic {basic}"}}, "expires_in": 3600}}"#
    ));
    let body = json!({
        "url": url, "enabled": true, "auth_method": "ssh_public_key",
        "host_keys": [ssh.host_key_line()],
    });
    let m = fx
        .server
        .post_json(
            &format!("/projects/{}/remote_mirrors", fx.project_id),
            &fx.token,
            body,
        )
        .await;
    assert_eq!(m.status, 201, "{}", m.text);
    let id = m.body["id"].as_i64().unwrap();
    let key = fx
        .server
        .api(&fx.token)
        .mirror_public_key(fx.project_id, id)
        .await;
    ssh.authorize_key(&key);
    let oids = fx.commit_objects(&contents("ssh", 2)).await;
    fx.run_update(id).await;
    let m = fx.mirror(id).await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert!(oids.iter().all(|o| fx.remote_has(o)));
    assert_eq!(fx.remote.lfs_uploads(), 2);
    let calls = ssh.lfs_authenticate_calls();
    assert!(
        calls.iter().any(|c| c.ends_with("viassh.git upload")),
        "{calls:?}"
    );
    assert_eq!(
        ssh.refs("viassh"),
        crate::common::refs_of(&fx.server.repo_path(fx.project_id))
    );

    // A push that brings no LFS object: the update asks the remote nothing, not even its
    // endpoint (no ssh connection for git-lfs-authenticate).
    let (w, push_url) = (fx.work.clone(), fx.push_url.clone());
    blocking(move || {
        std::fs::write(w.path().join("plain.txt"), "no LFS here\n").unwrap();
        w.git(&["add", "-A"]);
        w.commit("plain");
        w.push(&push_url, &["main"]);
    })
    .await;
    fx.run_update(id).await;
    assert_eq!(fx.mirror(id).await["update_status"], "finished");
    assert_eq!(ssh.lfs_authenticate_calls(), calls);
    assert_eq!(
        ssh.refs("viassh"),
        crate::common::refs_of(&fx.server.repo_path(fx.project_id))
    );
}

/// The whole way with the real git-lfs client: pushed into pushmirror by `git push` (its
/// pre-push hook uploads to pushmirror's LFS API), mirrored to giftless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_pushed_by_git_lfs_reach_the_mirror() {
    let Some(giftless) = giftless() else { return };
    if std::process::Command::new("git")
        .args(["lfs", "version"])
        .output()
        .map_or(true, |o| !o.status.success())
    {
        assert!(std::env::var_os("CI").is_none(), "git-lfs is missing");
        eprintln!("skipped: git-lfs is not installed");
        return;
    }
    let fx = Fixture::start(TestServer::builder(), giftless).await;
    let id = fx.add_mirror("required").await;
    let content = "a large file\n".repeat(5000);
    let oid = hex::encode(Sha256::digest(content.as_bytes()));
    let (w, url) = (fx.work.clone(), fx.push_url.clone());
    blocking(move || {
        w.git(&["lfs", "install", "--local"]);
        w.git(&["lfs", "track", "*.bin"]);
        std::fs::write(w.path().join("big.bin"), content).unwrap();
        w.git(&["add", "-A"]);
        w.commit("a large file");
        w.push(&url, &["main"]);
    })
    .await;
    fx.run_update(id).await;
    let m = fx.mirror(id).await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert!(fx.refs_pushed());
    assert!(fx.remote_has(&oid));
    assert_eq!(fx.remote.lfs_uploads(), 1);
}

/// The remote is another pushmirror whose `--lfs-max-object-size` refuses one of the objects
/// (a real server's per-object 422, not the test front's): the update fails naming it and the
/// limit, the refs stay home, and the object that fits was uploaded and linked there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushmirror_remote_refuses_an_object_above_its_limit() {
    let Some(giftless) = giftless() else { return };
    let fx = Fixture::start(TestServer::builder(), giftless).await;
    let limit = 1_000;
    let remote = TestServer::builder()
        .tweak(move |c| c.lfs.max_object_size = limit)
        .start()
        .await;
    let remote_token = remote.token("root", true).await;
    let target = remote.api(&remote_token).create_project("target").await;
    let host = remote.base.trim_start_matches("http://");
    let created = fx
        .server
        .post_json(
            &format!("/projects/{}/remote_mirrors", fx.project_id),
            &fx.token,
            json!({
                "url": format!("http://oauth2:{remote_token}@{host}/root/target.git"),
                "enabled": true,
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    let (fits, too_big) = ("small object\n".repeat(10), "large object\n".repeat(100));
    assert!(fits.len() as u64 <= limit && too_big.len() as u64 > limit);
    fx.commit_objects(&[fits.clone(), too_big]).await;
    fx.run_update(id).await;

    let m = fx.mirror(id).await;
    assert_ne!(m["update_status"], "finished", "{m}");
    let error = fx.error_of(&m);
    assert!(
        error.starts_with("LFS: 1 of 2 objects not uploaded: "),
        "{error}"
    );
    assert!(
        error.contains(&limit.to_string()),
        "names the limit: {error}"
    );
    assert!(error.contains("The refs were not pushed"), "{error}");
    assert!(!error.contains(&remote_token), "{error}");
    let branches = remote
        .get(
            &format!("/projects/{}/repository/branches", target.id),
            &remote_token,
        )
        .await;
    assert_eq!(
        branches.body,
        json!([]),
        "no ref was pushed: {}",
        branches.text
    );
    let stats = remote
        .get(
            &format!("/projects/{}?statistics=true", target.id),
            &remote_token,
        )
        .await;
    assert_eq!(
        stats.body["statistics"]["lfs_objects_size"],
        fits.len(),
        "the object that fits is there: {}",
        stats.text
    );
}
