//! Imports and pull mirrors bring Git LFS objects: the upstream is a real `git http-backend`
//! with a real LFS server (giftless, from PyPI) behind the same URL prefix and Basic auth. An
//! import links every object its refs reach, and a clone from pushmirror with the git-lfs
//! client gets the files; every pull sync (the second and third too, gitea#33536) brings the
//! objects of the new commits and only those; an object the upstream lacks fails the sync,
//! naming its oid, and moves no ref, until the upstream has it. Credentials never reach
//! `last_error`, `import_error` or the real binary's log. Also: an `ssh://` upstream's
//! `git-lfs-authenticate … download`, and another pushmirror as the upstream.
//!
//! The upstream's objects are uploaded through its batch API (raw HTTP, as git-lfs would) and
//! their pointers pushed with plain git, so each test controls exactly which objects exist.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::common::work::{blocking, Work};
use crate::common::{refs_of, TestServer};
use crate::remotes::{Giftless, GitHttpRemote};

const USER: &str = "upstream-bot";
const PASSWORD: &str = "Fetch-Secret-91";
const REPO: &str = "group/source";

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

/// The upstream: a git repository and its LFS objects, behind Basic auth.
struct Upstream {
    remote: GitHttpRemote,
    /// Serves the objects; stopped on drop.
    giftless: Giftless,
    work: Arc<Work>,
}

impl Upstream {
    async fn start() -> Option<Upstream> {
        let giftless = giftless()?;
        let remote = GitHttpRemote::start_with_lfs(Some((USER, PASSWORD)), &giftless).await;
        remote.create_repo(REPO);
        giftless.prepare_repo(REPO);
        Some(Upstream {
            remote,
            giftless,
            work: Arc::new(Work::new()),
        })
    }

    /// The URL an import or pull mirror is given (credentials apart).
    fn url(&self) -> String {
        self.remote.url(REPO)
    }

    /// Uploads `content` to the upstream's LFS server through its batch API, as git-lfs does.
    async fn upload(&self, oid: &str, content: &str) {
        let endpoint = format!("{}/info/lfs", self.remote.url(REPO));
        upload(&endpoint, USER, PASSWORD, oid, content).await;
    }

    /// Commits one pointer file per content on `main` and pushes it; the objects of those in
    /// `uploaded` go to the LFS server first. The objects' oids.
    async fn commit(&self, contents: &[String], uploaded: impl Fn(usize) -> bool) -> Vec<String> {
        let mut oids = Vec::new();
        for (i, content) in contents.iter().enumerate() {
            let oid = hex::encode(Sha256::digest(content.as_bytes()));
            if uploaded(i) {
                self.upload(&oid, content).await;
            }
            let pointer = format!(
                "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {}\n",
                content.len()
            );
            std::fs::write(self.work.path().join(format!("{}.bin", &oid[..8])), pointer).unwrap();
            oids.push(oid);
        }
        std::fs::write(
            self.work.path().join(".gitattributes"),
            "*.bin filter=lfs diff=lfs merge=lfs -text\n",
        )
        .unwrap();
        let (w, url) = (
            self.work.clone(),
            self.remote.url_with_credentials(REPO, USER, PASSWORD),
        );
        blocking(move || {
            w.git(&["add", "-A"]);
            w.commit("objects");
            w.push(&url, &["main"]);
        })
        .await;
        oids
    }

    /// How many objects were downloaded from the LFS server so far.
    fn downloads(&self) -> usize {
        self.remote
            .request_log()
            .iter()
            .filter(|r| r.method == "GET" && r.uri.contains("/info/lfs/objects/storage/"))
            .count()
    }
}

/// Uploads `content` through the batch API at `endpoint` as `user`, as git-lfs does: the batch,
/// then the `upload` action's PUT with the action's own headers, then `verify`.
async fn upload(endpoint: &str, user: &str, password: &str, oid: &str, content: &str) {
    let client = reqwest::Client::new();
    let lfs_json = "application/vnd.git-lfs+json";
    let batch: serde_json::Value = client
        .post(format!("{endpoint}/objects/batch"))
        .basic_auth(user, Some(password))
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
            assert!(name == "verify" || actions.is_null(), "{batch}");
            return;
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

/// `n` distinct contents tagged `tag`.
fn contents(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{tag} object {i}\n").repeat(200 + i))
        .collect()
}

/// How many of `oids` the project links.
async fn linked(server: &TestServer, project_id: i64, oids: &[String]) -> usize {
    let oids: Vec<&str> = oids.iter().map(String::as_str).collect();
    server
        .state
        .store
        .lfs_linked(project_id, &oids)
        .await
        .unwrap()
        .len()
}

/// A failure text, checked to hold no credential.
fn no_secret(text: &str) -> &str {
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!text.contains("Basic "), "{text}");
    text
}

/// `git clone` of `url` into `dir` with the git-lfs client installed (its own HOME).
fn clone_with_lfs(url: &str, dir: &Path) {
    let home = tempfile::tempdir().unwrap();
    let git = |cwd: &Path, args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(cwd)
            .env("HOME", home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .expect("spawn git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(home.path(), &["lfs", "install"]);
    git(
        dir.parent().unwrap(),
        &["clone", "-q", url, dir.to_str().unwrap()],
    );
}

async fn metrics(server: &TestServer) -> String {
    reqwest::get(format!("{}/-/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_brings_every_object_and_a_clone_gets_the_files() {
    let Some(up) = Upstream::start().await else {
        return;
    };
    let first = contents("first", 2);
    let second = contents("second", 1);
    let mut oids = up.commit(&first, |_| true).await;
    oids.extend(up.commit(&second, |_| true).await);
    let server = TestServer::builder().local_network(true).start().await;
    let token = server.token("root", true).await;
    let created = server
        .post_json(
            "/projects",
            &token,
            json!({
                "name": "imported",
                "import_url": up.url(),
                "import_url_user": USER,
                "import_url_password": PASSWORD,
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    server.run_pending().await;
    let import = server.get(&format!("/projects/{id}/import"), &token).await;
    assert_eq!(import.body["import_status"], "finished", "{}", import.text);
    assert_eq!(linked(&server, id, &oids).await, 3);
    assert_eq!(up.downloads(), 3);

    // A clone from pushmirror with git-lfs gets the files themselves.
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("clone");
    let url = server.push_url(&token, "root/imported");
    blocking({
        let clone = clone.clone();
        move || clone_with_lfs(&url, &clone)
    })
    .await;
    for (oid, content) in oids.iter().zip(first.iter().chain(&second)) {
        let file = clone.join(format!("{}.bin", &oid[..8]));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), *content, "{oid}");
    }
    let metrics = metrics(&server).await;
    assert!(
        metrics.contains("pushmirror_lfs_fetched_objects_total{host=\"127.0.0.1\"} 3"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_missing_an_object_fails_naming_it_and_a_retry_completes_it() {
    let Some(up) = Upstream::start().await else {
        return;
    };
    let objects = contents("partial", 3);
    let oids = up.commit(&objects, |i| i != 1).await;
    let server = TestServer::builder().local_network(true).start().await;
    let token = server.token("root", true).await;
    let created = server
        .post_json(
            "/projects",
            &token,
            json!({
                "name": "imported",
                "import_url": up.url(),
                "import_url_user": USER,
                "import_url_password": PASSWORD,
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    server.run_pending().await;
    let import = server.get(&format!("/projects/{id}/import"), &token).await;
    assert_eq!(import.body["import_status"], "failed", "{}", import.text);
    let error = no_secret(import.body["import_error"].as_str().unwrap());
    assert!(
        error.starts_with(&format!(
            "LFS: 1 of 3 objects not fetched: {} (404 ",
            oids[1]
        )),
        "{error}"
    );
    assert_eq!(linked(&server, id, &oids).await, 2);

    // The upstream gets the object; a retry fetches only it.
    up.upload(&oids[1], &objects[1]).await;
    let retry = server
        .post_json(&format!("/projects/{id}/import/retry"), &token, json!({}))
        .await;
    assert!(retry.status < 300, "{}", retry.text);
    server.run_pending().await;
    let import = server.get(&format!("/projects/{id}/import"), &token).await;
    assert_eq!(import.body["import_status"], "finished", "{}", import.text);
    assert_eq!(linked(&server, id, &oids).await, 3);
    assert_eq!(
        up.downloads(),
        3,
        "what the first run fetched is not fetched again"
    );
}

/// A project pulling from the upstream, with its first sync done.
struct Pulled {
    server: TestServer,
    token: String,
    id: i64,
}

impl Pulled {
    async fn on(server: TestServer, up: &Upstream) -> Pulled {
        let token = server.token("root", true).await;
        let project = server.api(&token).create_project("pulled").await;
        let put = server
            .put_json(
                &format!("/projects/{}/mirror/pull", project.id),
                &token,
                json!({
                    "enabled": true,
                    "url": up.url(),
                    "auth_user": USER,
                    "auth_password": PASSWORD,
                }),
            )
            .await;
        assert_eq!(put.status, 200, "{}", put.text);
        Pulled {
            server,
            token,
            id: project.id,
        }
    }

    /// Asks for a sync and runs it; the mirror as the API shows it after.
    async fn sync(&self) -> serde_json::Value {
        let path = format!("/projects/{}/mirror/pull", self.id);
        let post = self.server.post_json(&path, &self.token, json!({})).await;
        assert_eq!(post.status, 202, "{}", post.text);
        assert!(self.server.run_pending().await > 0, "no sync ran");
        let m = self.server.get(&path, &self.token).await;
        assert_eq!(m.status, 200, "{}", m.text);
        m.body
    }

    fn refs(&self) -> std::collections::BTreeMap<String, String> {
        refs_of(&self.server.repo_path(self.id))
    }
}

async fn every_sync_brings_the_new_objects(server: TestServer, up: Upstream) {
    let first = up.commit(&contents("first", 2), |_| true).await;
    let p = Pulled::on(server, &up).await;
    let m = p.sync().await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert_eq!(p.refs(), up.remote.refs(REPO), "{m}");
    assert_eq!(linked(&p.server, p.id, &first).await, 2);
    assert_eq!(up.downloads(), 2);

    // The second and third syncs bring their new commits' objects, and only those.
    let second = up.commit(&contents("second", 2), |_| true).await;
    let m = p.sync().await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert_eq!(p.refs(), up.remote.refs(REPO));
    assert_eq!(linked(&p.server, p.id, &second).await, 2);
    assert_eq!(up.downloads(), 4, "only the new objects are downloaded");

    let third = up.commit(&contents("third", 1), |_| true).await;
    let m = p.sync().await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert_eq!(p.refs(), up.remote.refs(REPO));
    assert_eq!(linked(&p.server, p.id, &third).await, 1);
    assert_eq!(up.downloads(), 5);

    // Nothing new upstream: nothing is asked for.
    let batches = up.remote.lfs_requests();
    let m = p.sync().await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert_eq!(up.remote.lfs_requests(), batches);

    // The batch requests carried the mirror's credentials, and so did the downloads: giftless's
    // hrefs are on the endpoint's own origin and bring no `Authorization` (their grant is in
    // the query), which is where git-lfs sends them too.
    let log = up.remote.request_log();
    assert!(log
        .iter()
        .filter(|r| r.uri.ends_with("/objects/batch"))
        .all(|r| r
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))));
    assert!(log
        .iter()
        .filter(|r| r.method == "GET" && r.uri.contains("/info/lfs/objects/storage/"))
        .all(|r| r
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sync_brings_the_new_objects_sqlite() {
    let Some(up) = Upstream::start().await else {
        return;
    };
    let server = TestServer::builder().local_network(true).start().await;
    every_sync_brings_the_new_objects(server, up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sync_brings_the_new_objects_postgres() {
    let Some(up) = Upstream::start().await else {
        return;
    };
    let Some(server) = TestServer::builder()
        .local_network(true)
        .postgres()
        .start()
        .await
    else {
        return;
    };
    every_sync_brings_the_new_objects(server, up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_the_upstream_lacks_fails_the_sync_and_moves_no_ref() {
    let Some(up) = Upstream::start().await else {
        return;
    };
    up.commit(&contents("first", 1), |_| true).await;
    let server = TestServer::builder().local_network(true).start().await;
    let p = Pulled::on(server, &up).await;
    let m = p.sync().await;
    assert_eq!(m["update_status"], "finished", "{m}");
    let before = p.refs();

    // A commit whose second object never reached the upstream's LFS server.
    let objects = contents("second", 2);
    let oids = up.commit(&objects, |i| i == 0).await;
    let m = p.sync().await;
    assert_ne!(m["update_status"], "finished", "{m}");
    let error = no_secret(m["last_error"].as_str().unwrap());
    assert!(
        error.starts_with(&format!(
            "LFS: 1 of 2 objects not fetched: {} (404 ",
            oids[1]
        )),
        "{error}"
    );
    assert_eq!(p.refs(), before, "no ref moved");

    // Bytes that are not the object (same size, another hash) are not kept either. (The
    // commit's other object was kept by the failed sync: it is not fetched again.)
    assert_eq!(linked(&p.server, p.id, &oids[..1]).await, 1);
    up.upload(&oids[1], &objects[1]).await;
    let stored = up.giftless.object_path(&oids[1]).unwrap();
    let forged = "x".repeat(objects[1].len());
    std::fs::write(&stored, &forged).unwrap();
    let m = p.sync().await;
    assert_ne!(m["update_status"], "finished", "{m}");
    let error = no_secret(m["last_error"].as_str().unwrap());
    let forged_sha = hex::encode(Sha256::digest(forged.as_bytes()));
    assert!(
        error.starts_with(&format!(
            "LFS: 1 of 1 object not fetched: {} (the download's SHA-256 is {forged_sha}, not the oid)",
            oids[1]
        )),
        "{error}"
    );
    assert_eq!(p.refs(), before, "no ref moved");
    assert_eq!(linked(&p.server, p.id, &oids[1..]).await, 0);
    let staged = p.server.data_dir().join("repositories/lfs-objects/tmp");
    assert_eq!(
        std::fs::read_dir(staged).map(|d| d.count()).unwrap_or(0),
        0,
        "nothing staged is left"
    );
    std::fs::write(&stored, &objects[1]).unwrap();

    // Once the upstream has them, the next sync completes.
    let m = p.sync().await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert_eq!(p.refs(), up.remote.refs(REPO));
    assert_eq!(linked(&p.server, p.id, &oids).await, 2);

    // An object the upstream's LFS server refuses fails a sync the same way.
    let before = p.refs();
    let objects = contents("third", 1);
    let refused = hex::encode(Sha256::digest(objects[0].as_bytes()));
    up.upload(&refused, &objects[0]).await;
    up.remote.refuse_lfs_object(&refused);
    up.commit(&objects, |_| false).await;
    let m = p.sync().await;
    assert_ne!(m["update_status"], "finished", "{m}");
    let error = no_secret(m["last_error"].as_str().unwrap());
    assert!(
        error.starts_with(&format!("LFS: 1 of 1 object not fetched: {refused} (")),
        "{error}"
    );
    assert!(error.contains("refused by the test front"), "{error}");
    assert_eq!(p.refs(), before, "no ref moved");
}

/// The real binary's log, at debug for pushmirror's own modules, shows a failed LFS fetch by
/// its oid and never the upstream's password or Basic credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_reach_the_log() {
    use crate::common::binary::{create_token, ServerProcess};
    use base64::Engine as _;
    let Some(up) = Upstream::start().await else {
        return;
    };
    let objects = contents("logged", 2);
    let oids = up.commit(&objects, |i| i == 0).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = create_token(&data, None, "root", true);
    let server = ServerProcess::start(
        &data,
        None,
        &["--allow-local-network"],
        &[("PUSHMIRROR_LOG", "info,pushmirror=debug")],
    );
    let api = format!("{}/api/v4", server.base());
    let client = reqwest::Client::new();
    let project: serde_json::Value = client
        .post(format!("{api}/projects"))
        .header("PRIVATE-TOKEN", &token)
        .json(&json!({"name": "logged"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pull = format!("{api}/projects/{}/mirror/pull", project["id"]);
    let put = client
        .put(&pull)
        .header("PRIVATE-TOKEN", &token)
        .json(&json!({
            "enabled": true,
            "url": up.url(),
            "auth_user": USER,
            "auth_password": PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let post = client
        .post(&pull)
        .header("PRIVATE-TOKEN", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 202);
    let failed = crate::common::poll_until(std::time::Duration::from_secs(60), || async {
        let m: serde_json::Value = client
            .get(&pull)
            .header("PRIVATE-TOKEN", &token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        m["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(&oids[1]))
    })
    .await;
    assert!(
        failed,
        "the sync did not fail on the missing object: {}",
        server.log_tail()
    );
    let log = server.log_text();
    assert!(log.contains(&oids[1]), "the failure is logged: {log}");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for secret in [PASSWORD, basic.as_str()] {
        assert!(!log.contains(secret), "the log holds a credential: {log}");
    }
}

/// An `ssh://` upstream: its LFS endpoint is what `git-lfs-authenticate <path> download` says
/// (here the giftless front, with the Authorization it wants), asked over the pull mirror's own
/// ssh settings (generated key, pinned host key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_upstream_says_where_its_objects_are() {
    use base64::Engine as _;
    let Some(up) = Upstream::start().await else {
        return;
    };
    let Some(ssh) = crate::remotes::SshRemote::start() else {
        return;
    };
    let url = ssh.create_repo("viassh");
    let oids = up.commit(&contents("ssh", 2), |_| true).await;
    let (w, bare, owner) = (
        up.work.clone(),
        ssh.repo_path("viassh"),
        ssh.login_is_another_user().then(|| ssh.user().to_owned()),
    );
    blocking(move || {
        // The repository belongs to the ssh login, which git would not write as us: ours for
        // the push, then the login's again.
        let chown = |to: &str| {
            let out = std::process::Command::new("chown")
                .arg("-R")
                .arg(to)
                .arg(&bare)
                .output()
                .unwrap();
            assert!(out.status.success());
        };
        if owner.is_some() {
            use std::os::unix::fs::MetadataExt as _;
            chown(&std::fs::metadata(w.path()).unwrap().uid().to_string());
        }
        w.push(bare.to_str().unwrap(), &["main"]);
        if let Some(owner) = owner {
            chown(&owner);
        }
    })
    .await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let href = format!("{}/info/lfs", up.remote.url(REPO));
    ssh.set_lfs_authenticate(&format!(
        r#"{{"href": "{href}", "header": {{"Authorization": "Basic {basic}"}}, "expires_in": 3600}}"#
    ));
    let server = TestServer::builder().local_network(true).start().await;
    let token = server.token("root", true).await;
    let project = server.api(&token).create_project("pulled").await;
    let put = server
        .put_json(
            &format!("/projects/{}/mirror/pull", project.id),
            &token,
            json!({
                "enabled": true, "url": url, "auth_method": "ssh_public_key",
                "host_keys": [ssh.host_key_line()],
            }),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    ssh.authorize_key(put.body["ssh_public_key"].as_str().unwrap());
    let p = Pulled {
        server,
        token,
        id: project.id,
    };
    let m = p.sync().await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert_eq!(p.refs(), ssh.refs("viassh"));
    assert_eq!(linked(&p.server, p.id, &oids).await, 2);
    let calls = ssh.lfs_authenticate_calls();
    assert!(
        calls.iter().any(|c| c.ends_with("viassh.git download")),
        "{calls:?}"
    );
}

/// Another pushmirror as the upstream: its batch answers hand out hrefs with their own
/// one-object grant (`Authorization: RemoteAuth …`), which the downloads carry instead of the
/// import's credentials. An import with `mirror: true` brings the objects, and so does its pull
/// mirror's next sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_pushmirror_is_an_upstream_with_lfs() {
    let source = TestServer::builder().start().await;
    let source_token = source.token("root", true).await;
    let source_project = source
        .api(&source_token)
        .create_project_with(json!({"path": "source", "visibility": "private"}))
        .await;
    let endpoint = format!("{}/root/source.git/info/lfs", source.base);
    let work = Arc::new(Work::new());
    let push_url = source.push_url(&source_token, "root/source");
    let commit = |objects: Vec<String>| {
        let (work, endpoint, push_url, token) = (
            work.clone(),
            endpoint.clone(),
            push_url.clone(),
            source_token.clone(),
        );
        async move {
            let mut oids = Vec::new();
            for content in &objects {
                let oid = hex::encode(Sha256::digest(content.as_bytes()));
                upload(&endpoint, "oauth2", &token, &oid, content).await;
                let pointer = format!(
                    "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {}\n",
                    content.len()
                );
                std::fs::write(work.path().join(format!("{}.bin", &oid[..8])), pointer).unwrap();
                oids.push(oid);
            }
            blocking(move || {
                work.git(&["add", "-A"]);
                work.commit("objects");
                work.push(&push_url, &["main"]);
            })
            .await;
            oids
        }
    };
    let first = commit(contents("first", 2)).await;

    let server = TestServer::builder().local_network(true).start().await;
    let token = server.token("root", true).await;
    let created = server
        .post_json(
            "/projects",
            &token,
            json!({
                "name": "copy",
                "import_url": format!("{}/root/source.git", source.base),
                "import_url_user": "oauth2",
                "import_url_password": source_token,
                "mirror": true,
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    server.run_pending().await;
    let import = server.get(&format!("/projects/{id}/import"), &token).await;
    assert_eq!(import.body["import_status"], "finished", "{}", import.text);
    assert_eq!(linked(&server, id, &first).await, 2);

    let second = commit(contents("second", 1)).await;
    let p = Pulled { server, token, id };
    let m = p.sync().await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert_eq!(p.refs(), refs_of(&source.repo_path(source_project.id)));
    assert_eq!(linked(&p.server, id, &second).await, 1);
    no_secret(&m.to_string());
    assert!(!m.to_string().contains(&source_token), "{m}");
}

/// Imports `up` as `name` on `server`; the import must fail: its `import_error`.
async fn failed_import(server: &TestServer, up: &Upstream, name: &str) -> String {
    let token = server.token("root", true).await;
    let created = server
        .post_json(
            "/projects",
            &token,
            json!({
                "name": name,
                "import_url": up.url(),
                "import_url_user": USER,
                "import_url_password": PASSWORD,
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    server.run_pending().await;
    let import = server.get(&format!("/projects/{id}/import"), &token).await;
    assert_eq!(import.body["import_status"], "failed", "{}", import.text);
    no_secret(import.body["import_error"].as_str().unwrap()).to_owned()
}

/// This server's limits hold for fetched objects as for uploaded ones: an object above the
/// largest one it takes, or objects that would take the project past its size, are not
/// downloaded at all, and the import says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_lfs_limits_hold_for_fetched_objects() {
    let Some(up) = Upstream::start().await else {
        return;
    };
    let objects = contents("large", 2);
    let oids = up.commit(&objects, |_| true).await;
    let limit = objects[0].len() as u64;
    let server = TestServer::builder()
        .local_network(true)
        .tweak(move |c| c.lfs.max_object_size = limit)
        .start()
        .await;
    let error = failed_import(&server, &up, "too-large").await;
    assert_eq!(
        error,
        format!(
            "LFS: 1 of 2 objects not fetched: {} ({} bytes, above the limit of {limit} bytes per object)",
            oids[1],
            objects[1].len()
        )
    );
    assert_eq!(up.downloads(), 1, "only the object within the limit");
    drop(server);

    let both = (objects[0].len() + objects[1].len()) as u64;
    let server = TestServer::builder()
        .local_network(true)
        .tweak(move |c| c.lfs.max_project_size = both - 1)
        .start()
        .await;
    let error = failed_import(&server, &up, "too-much").await;
    assert!(
        error.starts_with("LFS: 2 of 2 objects not fetched: "),
        "{error}"
    );
    assert!(
        error.ends_with(&format!(
            "(the project may hold at most {} bytes of LFS objects)",
            both - 1
        )),
        "{error}"
    );
    assert_eq!(up.downloads(), 1, "nothing more was downloaded");
}
