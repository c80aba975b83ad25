//! GitLab's LFS integrity check on push, over smart HTTP with the real git CLI (and the real
//! git-lfs client), on SQLite and PostgreSQL: a push whose new commits reference LFS objects the
//! project does not link is refused whole with GitLab's message, writes nothing and fires no
//! mirror update or webhook; a linked object, a disabled `lfs_enabled`, pointers already in
//! history, deletions and tag-only pushes go through; another project's link grants nothing; and
//! the fast-forward-only refusal of a protected branch still comes first.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::{self, blocking, poll_until, TestServer};
use pushmirror::model::lfs::{Oid, Pointer};
use serde_json::json;

/// GitLab's refusal, as git prints it.
const MISSING: &str = "remote: GitLab: LFS objects are missing. Ensure LFS is properly set up or try a manual \"git lfs push --all\".";

/// GitLab's refusal of a force push to a protected branch, as git prints it.
const FORCE: &str =
    "remote: GitLab: You are not allowed to force push code to a protected branch on this project.";

/// Bound for a push's recording, which runs after git answered the client.
const RECORDED: Duration = Duration::from_secs(30);

/// A client's working repository, driven by the real git CLI off the runtime's workers.
struct Client {
    dir: tempfile::TempDir,
}

impl Client {
    fn new() -> Client {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("wt")).unwrap();
        Client { dir }
    }

    fn wt(&self) -> PathBuf {
        self.dir.path().join("wt")
    }

    /// Runs git in the work tree: (success, stderr and stdout).
    async fn git(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
        let root = self.dir.path().to_owned();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        blocking(move || {
            let out = std::process::Command::new("git")
                .current_dir(root.join("wt"))
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", root.join("home"))
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_TERMINAL_PROMPT", "0")
                .env("LC_ALL", "C")
                .envs(env)
                .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
                .args(&args)
                .output()
                .expect("spawn git");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned()
                    + &String::from_utf8_lossy(&out.stdout),
            )
        })
        .await
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (ok, out) = self.git(args, &[]).await;
        assert!(ok, "git {args:?} failed: {out}");
        out.trim().to_owned()
    }

    /// A push git reports refused: every ref declined by the pre-receive hook.
    async fn refused(&self, args: &[&str]) -> String {
        let (ok, out) = self.git(args, &[]).await;
        assert!(!ok, "git {args:?} succeeded: {out}");
        assert!(out.contains("(pre-receive hook declined)"), "{out}");
        out
    }

    /// Commits `name` with `content` and returns the new commit.
    async fn commit(&self, name: &str, content: &str) -> String {
        std::fs::write(self.wt().join(name), content).unwrap();
        self.ok(&["add", name]).await;
        self.ok(&["commit", "-q", "-m", name]).await;
        self.ok(&["rev-parse", "HEAD"]).await
    }
}

fn pointer(byte: char) -> Pointer {
    Pointer {
        oid: Oid::parse(&byte.to_string().repeat(64)).unwrap(),
        size: 12345,
    }
}

/// Links `oid` to `project` as an upload would.
async fn link(s: &TestServer, project: i64, oid: &Oid) {
    let pool = s.state.store.pool();
    let known: i64 = sqlx::query_scalar("select count(*) from lfs_objects where oid = $1")
        .bind(oid.as_str())
        .fetch_one(pool)
        .await
        .unwrap();
    if known == 0 {
        sqlx::query("insert into lfs_objects (oid, size, created_at) values ($1, $2, $3)")
            .bind(oid.as_str())
            .bind(12345_i64)
            .bind(1_i64)
            .execute(pool)
            .await
            .unwrap();
    }
    sqlx::query(
        "insert into lfs_object_projects (project_id, oid, created_at) values ($1, $2, $3)",
    )
    .bind(project)
    .bind(oid.as_str())
    .bind(1_i64)
    .execute(pool)
    .await
    .unwrap();
}

async fn unlink(s: &TestServer, project: i64, oid: &Oid) {
    sqlx::query("delete from lfs_object_projects where project_id = $1 and oid = $2")
        .bind(project)
        .bind(oid.as_str())
        .execute(s.state.store.pool())
        .await
        .unwrap();
}

async fn set_lfs_enabled(s: &TestServer, project: i64, on: bool) {
    sqlx::query("update projects set lfs_enabled = $1 where id = $2")
        .bind(i64::from(on))
        .bind(project)
        .execute(s.state.store.pool())
        .await
        .unwrap();
}

/// Waits until every push so far is recorded (no intent left), then returns the kinds of the
/// jobs it left (mirror updates, webhook deliveries), and forgets them.
async fn recorded_jobs(s: &TestServer) -> Vec<String> {
    let pool = s.state.store.pool();
    let done = poll_until(RECORDED, || async {
        let n: i64 = sqlx::query_scalar("select count(*) from jobs where kind = 'record_push'")
            .fetch_one(pool)
            .await
            .unwrap();
        n == 0
    })
    .await;
    assert!(done, "a push was never recorded");
    let kinds: Vec<String> = sqlx::query_scalar("select kind from jobs order by kind")
        .fetch_all(pool)
        .await
        .unwrap();
    sqlx::query("delete from jobs").execute(pool).await.unwrap();
    kinds
}

fn hosted(s: &TestServer, project: i64) -> std::collections::BTreeMap<String, String> {
    common::refs_of(&s.repo_path(project))
}

async fn check_pushes(s: TestServer) {
    let owner = s.token("owner", false).await;
    let api = s.api(&owner);
    let id = api.create_project("repo").await.id;
    let other = api.create_project("other").await.id;
    // Nothing runs either: the engine is off, and they exist to show what a push enqueues.
    api.create_mirror(id, "http://203.0.113.7/m.git", true)
        .await;
    let r = s
        .post_json(
            &format!("/projects/{id}/hooks"),
            &owner,
            json!({"url": "http://203.0.113.7/h", "push_events": true, "tag_push_events": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let url = s.push_url(&owner, "owner/repo");
    let c = Client::new();
    c.ok(&["init", "-q", "-b", "main"]).await;

    // A push without pointers goes through, and enqueues the mirror update and the webhook.
    let first = c.commit("readme", "hello\n").await;
    c.ok(&["push", "-q", &url, "main"]).await;
    assert_eq!(hosted(&s, id)["refs/heads/main"], first);
    assert_eq!(
        recorded_jobs(&s).await,
        ["hook_delivery", "mirror_update"],
        "an accepted push enqueues its work"
    );

    // A pointer whose object the project lacks: the whole push is refused, nothing recorded.
    let a = pointer('a');
    let with_a = c.commit("a.bin", &a.encode()).await;
    c.ok(&["tag", "-a", "-m", "t", "v-a"]).await;
    let before = hosted(&s, id);
    let out = c.refused(&["push", &url, "main", "main:side", "v-a"]).await;
    assert!(out.contains(MISSING), "{out}");
    for refname in ["main -> main", "main -> side", "v-a -> v-a"] {
        assert!(
            out.contains(&format!(
                "[remote rejected] {refname} (pre-receive hook declined)"
            )),
            "{refname}: {out}"
        );
    }
    assert_eq!(hosted(&s, id), before, "a refused push moved a ref");
    assert!(
        recorded_jobs(&s).await.is_empty(),
        "a refused push enqueued work"
    );

    // Another project's link does not make the object present for this one.
    link(&s, other, &a.oid).await;
    let out = c.refused(&["push", &url, "main"]).await;
    assert!(out.contains(MISSING), "{out}");
    assert_eq!(hosted(&s, id), before);

    // Once the project links it, the push goes through.
    link(&s, id, &a.oid).await;
    c.ok(&["push", "-q", &url, "main", "v-a"]).await;
    assert_eq!(hosted(&s, id)["refs/heads/main"], with_a);
    assert!(recorded_jobs(&s)
        .await
        .contains(&"mirror_update".to_owned()));

    // Pointers already in history are not looked up again: with the link gone, a new branch
    // at a pushed commit, a tag of it and a deletion all go through.
    unlink(&s, id, &a.oid).await;
    c.ok(&["push", "-q", &url, "main:copy"]).await;
    c.ok(&["tag", "light"]).await;
    c.ok(&["tag", "-a", "-m", "annotated", "v-later"]).await;
    c.ok(&["push", "-q", &url, "light", "v-later"]).await;
    c.ok(&["push", "-q", &url, ":copy", ":light"]).await;
    let now = hosted(&s, id);
    assert!(now.contains_key("refs/tags/v-later") && !now.contains_key("refs/heads/copy"));
    recorded_jobs(&s).await;

    // A project with LFS disabled is not checked.
    let b = pointer('b');
    let with_b = c.commit("b.bin", &b.encode()).await;
    set_lfs_enabled(&s, id, false).await;
    c.ok(&["push", "-q", &url, "main"]).await;
    assert_eq!(hosted(&s, id)["refs/heads/main"], with_b);
    set_lfs_enabled(&s, id, true).await;

    // On a protected branch both checks hold: a force push is refused for being one (GitLab
    // checks the ref before the objects), a fast-forward for the missing object.
    let r = s
        .post_json(
            &format!("/projects/{id}/protected_branches"),
            &owner,
            json!({"name": "main"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let c_ptr = pointer('c');
    let with_c = c.commit("c.bin", &c_ptr.encode()).await;
    let out = c.refused(&["push", &url, "main"]).await;
    assert!(out.contains(MISSING) && !out.contains(FORCE), "{out}");
    c.ok(&["reset", "-q", "--hard", &with_a]).await;
    c.commit("rewritten", "x\n").await;
    let out = c.refused(&["push", "-f", &url, "main"]).await;
    assert!(out.contains(FORCE) && !out.contains(MISSING), "{out}");
    c.ok(&["reset", "-q", "--hard", &with_c]).await;
    link(&s, id, &c_ptr.oid).await;
    c.ok(&["push", "-q", &url, "main"]).await;
    assert_eq!(hosted(&s, id)["refs/heads/main"], with_c);
    recorded_jobs(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_of_missing_lfs_objects_are_refused_sqlite() {
    check_pushes(TestServer::builder().start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_of_missing_lfs_objects_are_refused_postgres() {
    let Some(server) = TestServer::builder().postgres().start().await else {
        return;
    };
    check_pushes(server).await;
}

/// The real git-lfs client: a tracked file committed through its clean filter, pushed with its
/// own pre-push upload skipped, is refused until the project links the object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_lfs_push_without_its_objects_is_refused() {
    let c = Client::new();
    let (have, _) = c.git(&["lfs", "version"], &[]).await;
    if !have {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "git-lfs is missing under CI"
        );
        eprintln!("skipping: git-lfs is not installed");
        return;
    }
    let s = TestServer::builder().start().await;
    let owner = s.token("owner", false).await;
    let id = s.api(&owner).create_project("repo").await.id;
    let url = s.push_url(&owner, "owner/repo");
    c.ok(&["init", "-q", "-b", "main"]).await;
    c.ok(&["lfs", "install", "--local"]).await;
    c.ok(&["lfs", "track", "*.dat"]).await;
    c.ok(&["add", ".gitattributes"]).await;
    let content = "large content\n".repeat(100);
    c.commit("big.dat", &content).await;
    let skip = [("GIT_LFS_SKIP_PUSH", "1")];
    let (ok, out) = c.git(&["push", &url, "main"], &skip).await;
    assert!(!ok && out.contains(MISSING), "{out}");
    assert!(hosted(&s, id).is_empty());

    let text = c.ok(&["cat-file", "blob", "HEAD:big.dat"]).await;
    let ptr = Pointer::parse(format!("{text}\n").as_bytes()).expect("git-lfs wrote a pointer");
    link(&s, id, &ptr.oid).await;
    let (ok, out) = c.git(&["push", &url, "main"], &skip).await;
    assert!(ok, "{out}");
    assert!(hosted(&s, id).contains_key("refs/heads/main"));
}

/// SIGKILL of the server while it checks a push (its database read held up by a lock) leaves
/// no process behind (receive-pack, its hook waiting for the answer, their supervisor) and no
/// channel directory, and nothing of the push is accepted, then or after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_check_leaves_nothing() {
    use common::binary::{create_admin_token, ServerProcess};
    use sqlx::Connection as _;

    let Some(db) = common::PostgresDb::create_or_skip().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = create_admin_token(&data, Some(&db.url));
    let mut server = ServerProcess::start(&data, Some(&db.url), &[], &[]);
    let id = server.api(&token).create_project("p").await.id;
    let url = server.push_url(&token, "p");
    let c = Client::new();
    c.ok(&["init", "-q", "-b", "main"]).await;
    c.commit("a.bin", &pointer('a').encode()).await;

    // The check's lookup waits for this lock for as long as the test holds it.
    let mut lock = sqlx::postgres::PgConnection::connect(&db.url)
        .await
        .unwrap();
    sqlx::query("begin").execute(&mut lock).await.unwrap();
    sqlx::query("lock table lfs_object_projects in access exclusive mode")
        .execute(&mut lock)
        .await
        .unwrap();
    let push = {
        let url = url.clone();
        let c = std::sync::Arc::new(c);
        let pusher = c.clone();
        (
            tokio::spawn(async move { pusher.git(&["push", &url, "main"], &[]).await }),
            c,
        )
    };
    let home = server.git_home();
    let waiting = poll_until(Duration::from_secs(60), || {
        let home = home.clone();
        async move {
            common::processes_with_home(&home)
                .iter()
                .any(|(_, cmd)| cmd.contains("pre-receive"))
        }
    })
    .await;
    assert!(waiting, "the pre-receive hook never ran");
    // The hook asked and the server is inside the check, blocked on the lock.
    let blocked = poll_until(Duration::from_secs(60), || {
        let url = db.url.clone();
        async move {
            let mut probe = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
            let n: i64 = sqlx::query_scalar(
                "select count(*) from pg_stat_activity where wait_event_type = 'Lock' \
                 and query like '%lfs_object_projects%'",
            )
            .fetch_one(&mut probe)
            .await
            .unwrap();
            n > 0
        }
    })
    .await;
    assert!(blocked, "the check never reached the database");
    server.kill_9();
    let gone = poll_until(Duration::from_secs(10), || {
        let home = home.clone();
        async move { common::processes_with_home(&home).is_empty() }
    })
    .await;
    assert!(
        gone,
        "processes outlived the server: {:?}",
        common::processes_with_home(&home)
    );
    let (ok, out) = push.0.await.unwrap();
    assert!(!ok, "the push succeeded: {out}");
    let scratch = data.join("git-home-ssh");
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "channel directories left: {left:?}");
    sqlx::query("rollback").execute(&mut lock).await.unwrap();

    // After the restart the push's intent is recorded as what it was: no change.
    server.start_again();
    let repo = data.join("repositories").join(format!("{id}.git"));
    let pool = sqlx::postgres::PgPool::connect(&db.url).await.unwrap();
    let recorded = poll_until(RECORDED, || async {
        let n: i64 = sqlx::query_scalar("select count(*) from jobs where kind = 'record_push'")
            .fetch_one(&pool)
            .await
            .unwrap();
        n == 0
    })
    .await;
    assert!(recorded, "the intent was never recorded");
    assert!(common::refs_of(&repo).is_empty(), "a ref moved");
    drop(push.1);
}
