//! SSH mirrors end to end against the real OpenSSH `sshd` of `tests/remotes` (its own
//! configuration, 127.0.0.1, a high port, the login `git`, which is not the user running the
//! tests): the URL's user is the login, host keys are detected (compared with `ssh-keyscan`)
//! and pinned in one round trip, a wrong or unknown host key fails the update for good with a
//! message a person can act on, an unauthorised key is retried, RSA keys work, and a rotated key
//! replaces the old one.

use crate::common;
use crate::remotes;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{
    blocking, contains_bytes, poll_for, poll_until, read_all_files, refs_of, Api, Body, Mirror,
    TestServer, Work,
};
use remotes::SshRemote;
use serde_json::{json, Value};

/// Generous bound for convergence: an update takes well under a second; CI machines are slow.
const CONVERGE: Duration = Duration::from_secs(30);

/// How long a mirror that failed for good is watched for a retry that must not come: several
/// times the fixture's retry delay.
const NO_RETRY_WATCH: Duration = Duration::from_secs(4);

/// The engine's retry delay here, in seconds.
const RETRY_DELAY_SECS: u64 = 1;

/// A server with the engine on, one project with a pushed commit, and a real sshd whose login
/// is another account than ours.
struct Fixture {
    server: TestServer,
    api: Api,
    token: String,
    project_id: i64,
    ssh: SshRemote,
    /// The client repository the project's commits come from, and where it pushes.
    work: Arc<Work>,
    push_url: String,
}

impl Fixture {
    /// `None` (with the reason printed) where sshd or root is missing; never under `CI=true`.
    async fn new() -> Option<Fixture> {
        let ssh = SshRemote::start()?;
        if !ssh.login_is_another_user() {
            let reason = "SSH mirror tests need root, to log in as `git` rather than ourselves";
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: SSH mirror tests must not skip: {reason}"
            );
            eprintln!("skipping: {reason}");
            return None;
        }
        let server = TestServer::builder()
            .engine(true)
            .local_network(true)
            .tweak(|c| {
                c.tuning.retry_delay_secs = RETRY_DELAY_SECS;
                c.tuning.retry_delay_protected_secs = RETRY_DELAY_SECS;
            })
            .start()
            .await;
        let token = server.token("root", true).await;
        let api = server.api(&token);
        let project = api.create_project("origin").await;
        let push_url = server.push_url(&token, &project.path_with_namespace);
        let work = Arc::new(Work::new());
        let (w, url) = (work.clone(), push_url.clone());
        blocking(move || {
            w.commit("one");
            w.git(&["tag", "v1"]);
            w.push(&url, &["main", "v1"]);
        })
        .await;
        Some(Fixture {
            server,
            api,
            token,
            project_id: project.id,
            ssh,
            work,
            push_url,
        })
    }

    /// Pushes a new commit to the project, which starts an update of its enabled mirrors (one
    /// that must reach the remote: there is something to push).
    async fn push_new_commit(&self, msg: &str) {
        let (w, url, msg) = (self.work.clone(), self.push_url.clone(), msg.to_owned());
        blocking(move || {
            w.commit(&msg);
            w.push(&url, &["main"]);
        })
        .await;
    }

    /// Waits until mirror `id` is `want`.
    async fn wait_for(&self, id: i64, want: &str) -> Mirror {
        poll_for(
            CONVERGE,
            || self.api.mirror(self.project_id, id),
            |m| m.update_status == want,
        )
        .await
        .unwrap_or_else(|last| panic!("mirror {id} never reached {want}: {last:?}"))
    }

    async fn add_mirror(&self, body: Value) -> i64 {
        self.api.create_mirror_with(self.project_id, body).await.id
    }

    async fn mirror_json(&self, id: i64) -> Value {
        let path = format!("/projects/{}/remote_mirrors/{id}", self.project_id);
        let r = self.server.get(&path, &self.token).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body
    }

    /// Syncs mirror `id` and waits until it is `want` and `cond` holds on the remote.
    async fn sync_until(&self, id: i64, want: &str, cond: impl Fn() -> bool) -> Mirror {
        let before = self
            .api
            .mirror(self.project_id, id)
            .await
            .last_update_started_at;
        self.api.sync(self.project_id, id).await;
        poll_for(
            CONVERGE,
            || self.api.mirror(self.project_id, id),
            |m| m.update_status == want && m.last_update_started_at != before && cond(),
        )
        .await
        .unwrap_or_else(|last| panic!("mirror {id} never reached {want}: {last:?}"))
    }

    fn local_refs(&self) -> std::collections::BTreeMap<String, String> {
        refs_of(&self.server.repo_path(self.project_id))
    }

    /// `GET /projects/:id/mirror/ssh_host_keys` for `url` (and `compare`, if any).
    async fn detect(&self, url: &str, compare: Option<&str>) -> common::Resp {
        let mut query = vec![("ssh_url", url)];
        if let Some(c) = compare {
            query.push(("compare_host_keys", c));
        }
        let qs = serde_urlencoded::to_string(&query).unwrap();
        let path = format!("/projects/{}/mirror/ssh_host_keys?{qs}", self.project_id);
        self.server.get(&path, &self.token).await
    }

    /// The private directories of ssh updates left in the data directory.
    fn ssh_dirs_left(&self) -> Vec<std::path::PathBuf> {
        ssh_dirs_in(&self.server.data_dir())
    }

    /// Fails if the data directory holds a private key or an update's ssh directory.
    fn assert_no_key_material_on_disk(&self) {
        for (path, bytes) in read_all_files(&self.server.data_dir()) {
            assert!(
                !contains_bytes(&bytes, b"PRIVATE KEY"),
                "{} holds a private key",
                path.display()
            );
        }
        assert_eq!(self.ssh_dirs_left(), Vec::<std::path::PathBuf>::new());
    }
}

/// The `pushmirror-ssh-*` directories under `data`'s scratch directory.
pub(crate) fn ssh_dirs_in(data: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(data.join("git-home-ssh"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// What `ssh-keyscan` itself reports for the remote: its `<type> <base64>` keys.
fn keyscan_keys(port: u16) -> BTreeSet<String> {
    let out = Command::new("ssh-keyscan")
        .args(["-T", "5", "-p", &port.to_string(), "127.0.0.1"])
        .stderr(Stdio::null())
        .output()
        .expect("run ssh-keyscan");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// `ssh-keygen -l -E <hash>` of a `known_hosts` text: (bits, fingerprint, type) per key.
pub(crate) fn keygen_fingerprints(
    known_hosts: &str,
    hash: &str,
) -> BTreeSet<(u32, String, String)> {
    let mut child = Command::new("ssh-keygen")
        .args(["-l", "-E", hash, "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run ssh-keygen");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(known_hosts.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            // `256 SHA256:… [127.0.0.1]:2222 (ED25519)`
            let w: Vec<&str> = l.split_whitespace().collect();
            let kind = w[w.len() - 1].trim_matches(|c| c == '(' || c == ')');
            let fp = w[1].trim_start_matches("MD5:").to_owned();
            (w[0].parse().unwrap(), fp, kind.to_ascii_lowercase())
        })
        .collect()
}

/// A freshly generated Ed25519 public key line that no server has.
fn stranger_key() -> String {
    let (_, public) = pushmirror::credentials::generate_ssh_key(
        "x@y",
        pushmirror::model::entities::SshKeyType::Ed25519,
    );
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_mirror_logs_in_as_the_urls_user() {
    let Some(fx) = Fixture::new().await else {
        return;
    };
    let url = fx.ssh.create_repo("plain");
    assert!(url.starts_with("ssh://git@127.0.0.1:"), "{url}");
    let id = fx
        .add_mirror(json!({
            "url": url, "enabled": true, "auth_method": "ssh_public_key",
            "host_keys": [fx.ssh.host_key_line()],
        }))
        .await;
    let entity = fx.mirror_json(id).await;
    assert_eq!(entity["url"], url, "the git user is shown, as GitLab does");
    let key = fx.api.mirror_public_key(fx.project_id, id).await;
    assert!(key.starts_with("ssh-ed25519 "), "{key}");
    fx.ssh.authorize_key(&key);
    fx.sync_until(id, "finished", || fx.ssh.refs("plain") == fx.local_refs())
        .await;
    let log = fx.ssh.log();
    assert!(
        log.contains("Accepted publickey for git from 127.0.0.1"),
        "sshd log:\n{log}"
    );
    fx.assert_no_key_material_on_disk();

    // Without a user in the URL the login is `git` too, never our own OS user.
    let no_user = url.replacen("git@", "", 1);
    fx.ssh.create_repo("nouser");
    let no_user = no_user.replace("/plain.git", "/nouser.git");
    let id = fx
        .add_mirror(json!({
            "url": no_user, "enabled": true, "auth_method": "ssh_public_key",
            "host_keys": [fx.ssh.host_key_line()],
        }))
        .await;
    assert_eq!(fx.mirror_json(id).await["url"], no_user);
    fx.ssh
        .authorize_key(&fx.api.mirror_public_key(fx.project_id, id).await);
    fx.sync_until(id, "finished", || fx.ssh.refs("nouser") == fx.local_refs())
        .await;

    // Another user is masked in the API and is who ssh asks for (sshd has no such account), and
    // the name stays out of last_error.
    let other = url.replacen("git@", "mirrorbot@", 1);
    let id = fx
        .add_mirror(json!({
            "url": other, "enabled": true, "auth_method": "ssh_public_key",
            "host_keys": [fx.ssh.host_key_line()],
        }))
        .await;
    assert_eq!(
        fx.mirror_json(id).await["url"],
        url.replacen("git@", "*****@", 1)
    );
    fx.ssh
        .authorize_key(&fx.api.mirror_public_key(fx.project_id, id).await);
    let m = fx.sync_until(id, "to_retry", || true).await;
    let error = m.last_error.unwrap();
    assert!(error.contains("Permission denied"), "{error}");
    assert!(!error.contains("mirrorbot"), "{error}");
    let log = fx.ssh.log();
    assert!(
        log.contains("Invalid user mirrorbot from 127.0.0.1"),
        "sshd log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detected_host_keys_are_the_servers_and_pin_in_one_round_trip() {
    let Some(fx) = Fixture::new().await else {
        return;
    };
    let url = fx.ssh.create_repo("detected");
    let r = fx.detect(&url, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let known_hosts = r.body["known_hosts"].as_str().unwrap().to_owned();
    let alias = format!("[127.0.0.1]:{}", fx.ssh.port());
    // Exactly the keys ssh-keyscan sees, each filed under `[host]:port`.
    let ours: BTreeSet<String> = known_hosts
        .lines()
        .map(|l| {
            let (name, key) = l.split_once(' ').unwrap();
            assert_eq!(name, alias, "{l}");
            key.to_owned()
        })
        .collect();
    assert_eq!(ours, keyscan_keys(fx.ssh.port()));
    let served: BTreeSet<String> = fx.ssh.host_key_lines().into_iter().collect();
    assert_eq!(ours, served);
    // The fingerprints are ssh-keygen's, one per line, in line order.
    let fps = r.body["fingerprints"].as_array().unwrap();
    assert_eq!(fps.len(), 3);
    for (i, f) in fps.iter().enumerate() {
        assert_eq!(f["index"], i);
    }
    let row = |f: &Value, key: &str| {
        (
            f["bits"].as_u64().unwrap() as u32,
            f[key].as_str().unwrap().to_owned(),
            f["type"].as_str().unwrap().to_owned(),
        )
    };
    let sha: BTreeSet<_> = fps.iter().map(|f| row(f, "fingerprint_sha256")).collect();
    let md5: BTreeSet<_> = fps.iter().map(|f| row(f, "fingerprint")).collect();
    assert_eq!(sha, keygen_fingerprints(&known_hosts, "sha256"));
    assert_eq!(md5, keygen_fingerprints(&known_hosts, "md5"));
    assert_eq!(r.body["host_keys_changed"], false);

    // Comparing: the same keys in another order (with a comment) are unchanged; fewer are not.
    let mut shuffled: Vec<&str> = known_hosts.lines().rev().collect();
    shuffled.insert(0, "# what I pinned");
    let same = fx.detect(&url, Some(&shuffled.join("\n"))).await;
    assert_eq!(same.body["host_keys_changed"], false, "{}", same.text);
    let fewer = fx
        .detect(&url, Some(known_hosts.lines().next().unwrap()))
        .await;
    assert_eq!(fewer.body["host_keys_changed"], true, "{}", fewer.text);

    // GitLab's web route answers the same.
    let full_path = fx.api.project(fx.project_id).await.path_with_namespace;
    let qs = serde_urlencoded::to_string([("ssh_url", url.as_str())]).unwrap();
    let web = reqwest::Client::new()
        .get(format!(
            "{}/{full_path}/-/mirror/ssh_host_keys.json?{qs}",
            fx.server.base
        ))
        .header("PRIVATE-TOKEN", &fx.token)
        .send()
        .await
        .unwrap();
    assert_eq!(web.status(), 200);
    let web_body: Value = web.json().await.unwrap();
    assert_eq!(web_body, r.body);

    // The known_hosts text goes back unchanged as host_keys: pinned in one round trip.
    let id = fx
        .add_mirror(json!({
            "url": url, "enabled": true, "auth_method": "ssh_public_key",
            "host_keys": known_hosts,
        }))
        .await;
    let entity = fx.mirror_json(id).await;
    let pinned: BTreeSet<String> = entity["host_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["fingerprint_sha256"].as_str().unwrap().to_owned())
        .collect();
    let detected: BTreeSet<String> = sha.iter().map(|(_, fp, _)| fp.clone()).collect();
    assert_eq!(pinned, detected);
    fx.ssh
        .authorize_key(&fx.api.mirror_public_key(fx.project_id, id).await);
    fx.sync_until(id, "finished", || {
        fx.ssh.refs("detected") == fx.local_refs()
    })
    .await;
}

/// Waits a while for an attempt after the one that failed for good; there must be none.
async fn assert_not_retried(fx: &Fixture, id: i64, failed: &Mirror) {
    let retried = poll_until(NO_RETRY_WATCH, || async {
        fx.api
            .mirror(fx.project_id, id)
            .await
            .last_update_started_at
            != failed.last_update_started_at
    })
    .await;
    assert!(!retried, "a host-key failure was retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pinned_host_key_fails_for_good_and_says_how_to_repin() {
    let Some(fx) = Fixture::new().await else {
        return;
    };
    let url = fx.ssh.create_repo("wrongkey");
    let wrong = stranger_key();
    let id = fx
        .add_mirror(json!({
            "url": url, "enabled": true, "auth_method": "ssh_public_key",
            "host_keys": [wrong],
        }))
        .await;
    fx.ssh
        .authorize_key(&fx.api.mirror_public_key(fx.project_id, id).await);
    let failed = fx.sync_until(id, "failed", || true).await;
    let error = failed.last_error.clone().unwrap();
    let alias = format!("[127.0.0.1]:{}", fx.ssh.port());
    assert!(
        error.starts_with(&format!("Host key verification failed for {alias}")),
        "{error}"
    );
    let detected = fx.detect(&url, None).await.body;
    for f in detected["fingerprints"].as_array().unwrap() {
        let fp = f["fingerprint_sha256"].as_str().unwrap();
        assert!(error.contains(fp), "offered {fp} missing: {error}");
    }
    let pinned = fx.mirror_json(id).await["host_keys"][0]["fingerprint_sha256"].clone();
    assert!(
        error.contains(&format!("pinned: {} (ed25519)", pinned.as_str().unwrap())),
        "{error}"
    );
    assert!(
        error.contains(&format!(
            "/projects/{}/mirror/ssh_host_keys?ssh_url=",
            fx.project_id
        )),
        "{error}"
    );
    assert!(
        error.contains(&format!("remote_mirrors/{id} host_keys=")),
        "{error}"
    );
    assert!(fx.ssh.refs("wrongkey").is_empty());
    assert_not_retried(&fx, id, &failed).await;

    // Re-pinning as the message says makes it work.
    let known_hosts = detected["known_hosts"].as_str().unwrap();
    fx.api
        .update_mirror(fx.project_id, id, json!({ "host_keys": known_hosts }))
        .await;
    fx.sync_until(id, "finished", || {
        fx.ssh.refs("wrongkey") == fx.local_refs()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_host_key_fails_for_good() {
    let Some(fx) = Fixture::new().await else {
        return;
    };
    let url = fx.ssh.create_repo("unknown");
    // Nothing pinned at all.
    let bare = fx
        .add_mirror(json!({"url": url, "enabled": true, "auth_method": "ssh_public_key"}))
        .await;
    fx.ssh
        .authorize_key(&fx.api.mirror_public_key(fx.project_id, bare).await);
    let failed = fx.sync_until(bare, "failed", || true).await;
    let error = failed.last_error.clone().unwrap();
    assert!(error.contains("no host key is pinned"), "{error}");
    assert!(error.contains("the remote offers SHA256:"), "{error}");
    assert_not_retried(&fx, bare, &failed).await;

    // The server's real key, but pinned for another host: ssh does not know this one.
    let elsewhere = fx
        .add_mirror(json!({
            "url": url, "enabled": true, "auth_method": "ssh_public_key",
            "host_keys": [format!("git.example {}", fx.ssh.host_key_line())],
        }))
        .await;
    fx.ssh
        .authorize_key(&fx.api.mirror_public_key(fx.project_id, elsewhere).await);
    let failed = fx.sync_until(elsewhere, "failed", || true).await;
    let error = failed.last_error.unwrap();
    assert!(
        error.starts_with(&format!(
            "Host key verification failed for [127.0.0.1]:{}",
            fx.ssh.port()
        )),
        "{error}"
    );
    assert!(error.contains(") for git.example."), "{error}");
    assert!(fx.ssh.refs("unknown").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_remote_does_not_authorise_is_retried() {
    let Some(fx) = Fixture::new().await else {
        return;
    };
    let url = fx.ssh.create_repo("unauthorised");
    let id = fx
        .add_mirror(json!({
            "url": url, "enabled": true, "auth_method": "ssh_public_key",
            "host_keys": [fx.ssh.host_key_line()],
        }))
        .await;
    let m = fx.sync_until(id, "to_retry", || true).await;
    let error = m.last_error.unwrap();
    assert!(error.contains("Permission denied (publickey)"), "{error}");
    assert!(!error.contains("PRIVATE KEY"), "{error}");
    // Once the remote has the key, the next attempt gets through.
    fx.ssh
        .authorize_key(&fx.api.mirror_public_key(fx.project_id, id).await);
    fx.wait_for(id, "finished").await;
    assert_eq!(fx.ssh.refs("unauthorised"), fx.local_refs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_keys_serve_old_servers() {
    let Some(fx) = Fixture::new().await else {
        return;
    };
    let url = fx.ssh.create_repo("rsa");
    let id = fx
        .add_mirror(json!({
            "url": url, "enabled": true, "auth_method": "ssh_public_key",
            "ssh_key_type": "rsa", "host_keys": [fx.ssh.host_key_line()],
        }))
        .await;
    let key = fx.api.mirror_public_key(fx.project_id, id).await;
    assert!(key.starts_with("ssh-rsa AAAA"), "{key}");
    let fps = keygen_fingerprints(&format!("h {key}"), "sha256");
    assert_eq!(fps.iter().next().unwrap().0, 4096, "{fps:?}");
    fx.ssh.authorize_key(&key);
    fx.sync_until(id, "finished", || fx.ssh.refs("rsa") == fx.local_refs())
        .await;
    assert!(fx
        .ssh
        .log()
        .contains("Accepted publickey for git from 127.0.0.1"));

    // An Ed25519 mirror switched to RSA gets a new key pair; the same type keeps its key.
    let other = fx
        .add_mirror(json!({"url": url, "auth_method": "ssh_public_key"}))
        .await;
    let ed = fx.api.mirror_public_key(fx.project_id, other).await;
    assert!(ed.starts_with("ssh-ed25519 "));
    fx.api
        .update_mirror(fx.project_id, other, json!({"ssh_key_type": "ed25519"}))
        .await;
    assert_eq!(fx.api.mirror_public_key(fx.project_id, other).await, ed);
    fx.api
        .update_mirror(fx.project_id, other, json!({"ssh_key_type": "rsa"}))
        .await;
    let rsa = fx.api.mirror_public_key(fx.project_id, other).await;
    assert!(rsa.starts_with("ssh-rsa "), "{rsa}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_replaces_the_old_one() {
    let Some(fx) = Fixture::new().await else {
        return;
    };
    let url = fx.ssh.create_repo("rotated");
    let id = fx
        .add_mirror(json!({
            "url": url, "enabled": true, "auth_method": "ssh_public_key",
            "host_keys": [fx.ssh.host_key_line()],
        }))
        .await;
    let old = fx.api.mirror_public_key(fx.project_id, id).await;
    fx.ssh.set_authorized_keys(&[&old]);
    fx.sync_until(id, "finished", || fx.ssh.refs("rotated") == fx.local_refs())
        .await;
    let before = fx.mirror_json(id).await;

    let path = format!(
        "/projects/{}/remote_mirrors/{id}/public_key/rotate",
        fx.project_id
    );
    let r = fx
        .server
        .request("POST", &path, Some(&fx.token), Body::None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body.as_object().unwrap().len(), 1, "{}", r.text);
    let new = r.body["public_key"].as_str().unwrap().to_owned();
    assert!(new.starts_with("ssh-ed25519 ") && new != old, "{new}");
    assert_eq!(fx.api.mirror_public_key(fx.project_id, id).await, new);
    assert_eq!(fx.mirror_json(id).await, before, "nothing else changed");

    // The remote still trusts only the old key: the mirror no longer has it.
    fx.push_new_commit("after rotation").await;
    let refused = fx.wait_for(id, "to_retry").await;
    assert!(
        refused
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("Permission denied (publickey)")),
        "{refused:?}"
    );
    // The remote swaps the old key for the new one: the old is refused, the new works.
    fx.ssh.set_authorized_keys(&[&new]);
    let new_fp = keygen_fingerprints(&format!("h {new}"), "sha256")
        .into_iter()
        .next()
        .unwrap()
        .1;
    fx.wait_for(id, "finished").await;
    assert_eq!(fx.ssh.refs("rotated"), fx.local_refs());
    let log = fx.ssh.log();
    assert!(
        log.lines()
            .any(|l| l.contains("Accepted publickey for git from 127.0.0.1") && l.contains(&new_fp)),
        "sshd log:\n{log}"
    );
    fx.assert_no_key_material_on_disk();
}

/// The API's SSH rules, no sshd needed: what cannot work is refused when it is saved, with a
/// message that says what to do; detection answers GitLab's two errors.
#[tokio::test]
async fn what_cannot_work_over_ssh_is_refused_when_saved() {
    let s = TestServer::builder().local_network(true).start().await;
    let owner = s.token("owner", false).await;
    let dev = s.token("dev", false).await;
    let p = s.api(&owner).create_project("rules").await;
    s.api(&owner)
        .add_member(p.id, s.user_id("dev").await, 30)
        .await;
    let base = format!("/projects/{}/remote_mirrors", p.id);
    let password_refused = json!({"message": {"url": [
        "is blocked: password authentication is not supported for ssh:// mirrors: remove the \
         password and use auth_method=ssh_public_key, then add the mirror's public key to the remote"
    ]}});
    let cases = [
        (
            json!({"url": "ssh://git:hunter22@127.0.0.1/x.git"}),
            &password_refused,
        ),
        (
            json!({"url": "ssh://git:hunter22@127.0.0.1/x.git", "auth_method": "ssh_public_key"}),
            &password_refused,
        ),
        (
            json!({"url": "ssh://git@127.0.0.1/x.git", "auth_method": "password"}),
            &password_refused,
        ),
        (
            json!({"url": "ssh://a%22b@127.0.0.1/x.git", "auth_method": "ssh_public_key"}),
            &json!({"message": {"url": [
                "is blocked: an ssh:// login user may contain only letters, digits and . _ - @ +"
            ]}}),
        ),
        (
            json!({"url": "git@127.0.0.1:group/x.git"}),
            &json!({"message": {"url": [
                "is blocked: URI is invalid: SCP-style addresses (git@host:path) are not \
                 supported, use ssh://git@127.0.0.1/group/x.git"
            ]}}),
        ),
        (
            json!({"url": "ssh://git@127.0.0.1/x.git", "ssh_key_type": "dsa"}),
            &json!({"error": "ssh_key_type does not have a valid value"}),
        ),
    ];
    for (body, want) in cases {
        let r = s.post_json(&base, &owner, body.clone()).await;
        assert_eq!((r.status, &r.body), (400, want), "{body}");
    }
    assert!(!s.seen_bodies().iter().any(|b| b.contains("hunter22")));

    // Switching an ssh:// mirror to password authentication is refused the same way.
    let m = s
        .api(&owner)
        .create_mirror_with(
            p.id,
            json!({"url": "ssh://git@127.0.0.1/x.git", "auth_method": "ssh_public_key"}),
        )
        .await;
    let r = s
        .put_json(
            &format!("{base}/{}", m.id),
            &owner,
            json!({"auth_method": "password"}),
        )
        .await;
    assert_eq!((r.status, &r.body), (400, &password_refused));

    // Rotation is for key-pair mirrors only (GitLab's 404 for the public key of others).
    let https = s
        .api(&owner)
        .create_mirror(p.id, "https://127.0.0.1/x.git", false)
        .await;
    let r = s
        .post_json(
            &format!("{base}/{}/public_key/rotate", https.id),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, &r.body),
        (404, &json!({"message": "404 Not Found"}))
    );
    let r = s
        .post_json(
            &format!("{base}/{}/public_key/rotate", m.id),
            &dev,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 401, "Maintainers only: {}", r.text);

    // Detection: GitLab's two errors, and Maintainer+ only.
    let detect = |url: &str| {
        let qs = serde_urlencoded::to_string([("ssh_url", url)]).unwrap();
        format!("/projects/{}/mirror/ssh_host_keys?{qs}", p.id)
    };
    let invalid = json!({"message": "Invalid URL"});
    for url in [
        "https://127.0.0.1/x.git",
        "git@127.0.0.1:x.git",
        "ssh://-oProxyCommand=x@127.0.0.1/x",
        "not a url",
    ] {
        let r = s.get(&detect(url), &owner).await;
        assert_eq!((r.status, &r.body), (400, &invalid), "{url}");
    }
    let r = s
        .get(&format!("/projects/{}/mirror/ssh_host_keys", p.id), &owner)
        .await;
    assert_eq!((r.status, &r.body), (400, &invalid));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = s
        .get(&detect(&format!("ssh://127.0.0.1:{closed}/x.git")), &owner)
        .await;
    assert_eq!(
        (r.status, &r.body),
        (400, &json!({"message": "Failed to detect SSH host keys"}))
    );
    let r = s.get(&detect("ssh://127.0.0.1/x.git"), &dev).await;
    assert_eq!(r.status, 401, "{}", r.text);

    // Without --allow-local-network, loopback is an invalid URL, and nothing is scanned.
    let strict = TestServer::builder().start().await;
    let t = strict.token("owner", false).await;
    let sp = strict.api(&t).create_project("strict").await;
    let qs = serde_urlencoded::to_string([("ssh_url", "ssh://127.0.0.1:22/x.git")]).unwrap();
    let r = strict
        .get(
            &format!("/projects/{}/mirror/ssh_host_keys?{qs}", sp.id),
            &t,
        )
        .await;
    assert_eq!((r.status, &r.body), (400, &invalid));
}
