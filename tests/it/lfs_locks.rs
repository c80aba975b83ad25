//! Git LFS file locking, end to end: the real server on `127.0.0.1:0` (SQLite and PostgreSQL),
//! driven by the real `git lfs lock`, `locks`, `locks --verify` and `unlock` (`--json` where the
//! client can say it), a real `git push` whose pre-push hook verifies locks, and raw HTTP for
//! the shapes and statuses git-lfs only reacts to: GitLab's 409 with the lock, its refusals to
//! unlock, who may list and who may lock, pagination, 401/404/422, `lfs_enabled` and the
//! archived rule, and the locks going with their project.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};

use crate::common::{blocking, Project, Resp, TestServer};
use pushmirror::model::access::AccessLevel;

/// The git-lfs media type of every locking request and answer.
const LFS_JSON: &str = "application/vnd.git-lfs+json";

/// Whether the git-lfs client is installed; a missing one skips the CLI tests with a reason,
/// except under `CI=true`, where `.ci/run` installs it and its absence fails them.
fn git_lfs_or_skip() -> bool {
    let found = Command::new("git")
        .args(["lfs", "version"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "git-lfs is required under CI=true"
        );
        eprintln!("skipping: the git-lfs client (`git lfs`) is not installed");
    }
    found
}

/// The people of a locking scenario, each with a token, in one project owned by `olive`.
struct Team {
    server: TestServer,
    project: Project,
    /// (username, user id, token).
    owner: (String, i64, String),
    dev: (String, i64, String),
    dev2: (String, i64, String),
    maint: (String, i64, String),
    reporter: (String, i64, String),
    outsider: (String, i64, String),
}

impl Team {
    async fn start(server: TestServer) -> Team {
        let mut people = Vec::new();
        for name in ["olive", "dave", "dora", "mae", "remy", "otto"] {
            let token = server.token(name, false).await;
            people.push((name.to_owned(), server.user_id(name).await, token));
        }
        let owner = people[0].clone();
        let project = server
            .api(&owner.2)
            .create_project_with(json!({"path": "art", "visibility": "private"}))
            .await;
        for (who, level) in [
            (1, AccessLevel::Developer),
            (2, AccessLevel::Developer),
            (3, AccessLevel::Maintainer),
            (4, AccessLevel::Reporter),
        ] {
            server
                .api(&owner.2)
                .add_member(project.id, people[who].1, level.as_i64())
                .await;
        }
        let mut people = people.into_iter();
        let mut next = || people.next().expect("six people");
        Team {
            server,
            project,
            owner: next(),
            dev: next(),
            dev2: next(),
            maint: next(),
            reporter: next(),
            outsider: next(),
        }
    }

    /// `<base>/<project>.git/info/lfs/<rest>`.
    fn lfs_url(&self, full_path: &str, rest: &str) -> String {
        format!("{}/{full_path}.git/info/lfs/{rest}", self.server.base)
    }

    /// A locking request to this project as `token` (Basic, as git-lfs sends it; none when
    /// `None`), with a JSON body when given.
    async fn lfs(
        &self,
        method: &str,
        rest: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.lfs_to(&self.project.path_with_namespace, method, rest, token, body)
            .await
    }

    async fn lfs_to(
        &self,
        full_path: &str,
        method: &str,
        rest: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let body = body.map(|b| b.to_string().into_bytes());
        self.lfs_raw(full_path, method, rest, token, body).await
    }

    async fn lfs_raw(
        &self,
        full_path: &str,
        method: &str,
        rest: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = reqwest::Client::new()
            .request(method, self.lfs_url(full_path, rest))
            .header("accept", LFS_JSON);
        if let Some(t) = token {
            rb = rb.basic_auth("oauth2", Some(t));
        }
        if let Some(b) = body {
            rb = rb.header("content-type", LFS_JSON).body(b);
        }
        self.server.send(rb).await
    }
}

/// Checks an answer's status and that it is git-lfs JSON; returns its body.
fn expect(resp: &Resp, status: u16, what: &str) -> Result<Value> {
    ensure!(
        resp.status == status,
        "{what}: expected {status}, got {} {}",
        resp.status,
        resp.text
    );
    ensure!(
        resp.header("content-type").starts_with(LFS_JSON),
        "{what}: content type {:?}",
        resp.header("content-type")
    );
    Ok(resp.body.clone())
}

/// Checks a git-lfs error: status, GitLab's message (when given), and the error's fields.
fn expect_error(resp: &Resp, status: u16, message: Option<&str>, what: &str) -> Result<()> {
    let body = expect(resp, status, what)?;
    if let Some(m) = message {
        ensure!(body["message"] == m, "{what}: message {}", body["message"]);
    }
    ensure!(
        body["message"].is_string()
            && body["documentation_url"].is_string()
            && body["request_id"].is_string(),
        "{what}: not a git-lfs error: {body}"
    );
    Ok(())
}

/// Checks a lock's shape and returns its id.
fn check_lock(lock: &Value, path: &str, owner: &str) -> Result<String> {
    ensure!(lock["path"] == path, "path of {lock}");
    ensure!(lock["owner"]["name"] == owner, "owner of {lock}");
    let locked_at = lock["locked_at"].as_str().context("locked_at")?;
    chrono::DateTime::parse_from_rfc3339(locked_at).context("locked_at is RFC 3339")?;
    let id = lock["id"].as_str().context("the id is a string")?;
    ensure!(id.parse::<i64>().is_ok(), "id {id}");
    Ok(id.to_owned())
}

fn paths(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|l| l["path"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

// ---- Raw HTTP: shapes, statuses and GitLab's rules ------------------------------------------

async fn locking_api_rules(team: Team) -> Result<()> {
    let t = &team;
    let (dev, dev2, maint, rep) = (&t.dev, &t.dev2, &t.maint, &t.reporter);

    // Create: 201 with the lock; the same path again: 409 with the lock that holds it.
    let resp = t
        .lfs(
            "POST",
            "locks",
            Some(&dev.2),
            Some(json!({"path": "a.bin", "ref": {"name": "refs/heads/main"}})),
        )
        .await;
    let body = expect(&resp, 201, "create")?;
    let id = check_lock(&body["lock"], "a.bin", &dev.0)?;
    let resp = t
        .lfs(
            "POST",
            "locks",
            Some(&dev2.2),
            Some(json!({"path": "a.bin"})),
        )
        .await;
    expect_error(&resp, 409, Some("already locked"), "conflict")?;
    ensure!(
        resp.body["lock"]["id"] == id.as_str(),
        "409 names the lock: {}",
        resp.text
    );
    check_lock(&resp.body["lock"], "a.bin", &dev.0)?;
    // The holder locking it again is a conflict too.
    let resp = t
        .lfs(
            "POST",
            "locks",
            Some(&dev.2),
            Some(json!({"path": "a.bin"})),
        )
        .await;
    expect_error(&resp, 409, Some("already locked"), "conflict with oneself")?;

    // A Reporter lists but may not lock, verify or unlock.
    let list = expect(
        &t.lfs("GET", "locks", Some(&rep.2), None).await,
        200,
        "reporter lists",
    )?;
    ensure!(paths(&list["locks"]) == ["a.bin"], "list: {list}");
    for (method, rest, body) in [
        ("POST", "locks", json!({"path": "r.bin"})),
        ("POST", "locks/verify", json!({})),
        (
            "POST",
            &*format!("locks/{id}/unlock"),
            json!({"force": true}),
        ),
    ] {
        let resp = t.lfs(method, rest, Some(&rep.2), Some(body)).await;
        expect_error(
            &resp,
            403,
            Some("Access forbidden. Check your access level."),
            rest,
        )?;
    }

    // Verify: ours are the caller's.
    let v = expect(
        &t.lfs(
            "POST",
            "locks/verify",
            Some(&dev.2),
            Some(json!({"ref": {"name": "refs/heads/main"}})),
        )
        .await,
        200,
        "verify",
    )?;
    ensure!(
        paths(&v["ours"]) == ["a.bin"] && paths(&v["theirs"]).is_empty(),
        "{v}"
    );
    let v = expect(
        &t.lfs("POST", "locks/verify", Some(&dev2.2), None).await,
        200,
        "verify without a body",
    )?;
    ensure!(
        paths(&v["ours"]).is_empty() && paths(&v["theirs"]) == ["a.bin"],
        "{v}"
    );

    // Unlocking someone else's lock: refused without force, and with force below Maintainer.
    let unlock = format!("locks/{id}/unlock");
    let resp = t.lfs("POST", &unlock, Some(&dev2.2), Some(json!({}))).await;
    let held = format!("a.bin is locked by GitLab User {}", dev.1);
    expect_error(&resp, 403, Some(&held), "unlock another's")?;
    let resp = t
        .lfs("POST", &unlock, Some(&dev2.2), Some(json!({"force": true})))
        .await;
    expect_error(
        &resp,
        403,
        Some("You must have maintainer access to force delete a lock"),
        "developer forces",
    )?;
    // A Maintainer without force may not either; with force they may.
    let resp = t
        .lfs(
            "POST",
            &unlock,
            Some(&maint.2),
            Some(json!({"force": false})),
        )
        .await;
    expect_error(&resp, 403, Some(&held), "maintainer without force")?;
    let resp = t
        .lfs(
            "POST",
            &unlock,
            Some(&maint.2),
            Some(json!({"force": true})),
        )
        .await;
    check_lock(
        &expect(&resp, 200, "maintainer forces")?["lock"],
        "a.bin",
        &dev.0,
    )?;
    let resp = t
        .lfs(
            "POST",
            &unlock,
            Some(&maint.2),
            Some(json!({"force": true})),
        )
        .await;
    expect_error(&resp, 404, Some("Lock not found"), "unlocked twice")?;
    for bad in ["999999", "abc", "0", "-1"] {
        let resp = t
            .lfs("POST", &format!("locks/{bad}/unlock"), Some(&dev.2), None)
            .await;
        expect_error(&resp, 404, Some("Lock not found"), bad)?;
    }
    // The holder unlocks their own without force, whatever their level.
    let resp = t
        .lfs(
            "POST",
            "locks",
            Some(&dev2.2),
            Some(json!({"path": "dir/b.psd"})),
        )
        .await;
    let b_id = check_lock(
        &expect(&resp, 201, "dev2 locks")?["lock"],
        "dir/b.psd",
        &dev2.0,
    )?;
    let resp = t
        .lfs("POST", &format!("locks/{b_id}/unlock"), Some(&dev2.2), None)
        .await;
    check_lock(
        &expect(&resp, 200, "own unlock")?["lock"],
        "dir/b.psd",
        &dev2.0,
    )?;
    let list = expect(
        &t.lfs("GET", "locks", Some(&dev.2), None).await,
        200,
        "empty list",
    )?;
    ensure!(
        list["locks"] == json!([]) && list.get("next_cursor").is_none(),
        "{list}"
    );

    // Malformed bodies and paths: 422, nothing written.
    for (body, what) in [
        (b"{".to_vec(), "truncated JSON"),
        (b"[1]".to_vec(), "an array"),
        (br#"{"path": 5}"#.to_vec(), "a numeric path"),
        (br#"{"path": ""}"#.to_vec(), "an empty path"),
        (br#"{}"#.to_vec(), "no path"),
        (br#"{"path": "a\u0000b"}"#.to_vec(), "a NUL in the path"),
    ] {
        let resp = t
            .lfs_raw(
                &t.project.path_with_namespace,
                "POST",
                "locks",
                Some(&dev.2),
                Some(body),
            )
            .await;
        expect_error(&resp, 422, None, what)?;
    }
    let long = "x".repeat(5000);
    let resp = t
        .lfs("POST", "locks", Some(&dev.2), Some(json!({"path": long})))
        .await;
    expect_error(&resp, 422, None, "a path too long")?;
    let resp = t
        .lfs("POST", &unlock, Some(&dev.2), Some(json!({"force": "yes"})))
        .await;
    expect_error(&resp, 422, None, "force as a string")?;
    let resp = t
        .lfs(
            "POST",
            "locks/verify",
            Some(&dev.2),
            Some(json!({"limit": -1})),
        )
        .await;
    expect_error(&resp, 422, None, "a negative limit")?;
    for query in ["locks?limit=x", "locks?cursor=abc", "locks?limit=-2"] {
        let resp = t.lfs("GET", query, Some(&dev.2), None).await;
        expect_error(&resp, 422, None, query)?;
    }
    let list = expect(
        &t.lfs("GET", "locks", Some(&dev.2), None).await,
        200,
        "still empty",
    )?;
    ensure!(
        list["locks"] == json!([]),
        "a refused request wrote: {list}"
    );

    // Who is asked for credentials and who is told nothing is there.
    let resp = t.lfs("GET", "locks", None, None).await;
    expect_error(&resp, 401, None, "anonymous, private project")?;
    ensure!(
        resp.header("lfs-authenticate").starts_with("Basic realm="),
        "LFS-Authenticate: {:?}",
        resp.headers
    );
    let resp = t
        .lfs(
            "POST",
            "locks",
            Some("glpat-not-a-token"),
            Some(json!({"path": "x"})),
        )
        .await;
    expect_error(&resp, 401, None, "a wrong token")?;
    ensure!(
        resp.header("lfs-authenticate").starts_with("Basic realm="),
        "LFS-Authenticate"
    );
    let resp = t.lfs("GET", "locks", Some(&t.outsider.2), None).await;
    expect_error(&resp, 404, None, "a private project to an outsider")?;
    let resp = t
        .lfs_to("olive/nothing", "GET", "locks", Some(&t.owner.2), None)
        .await;
    expect_error(&resp, 404, None, "an unknown project")?;
    let resp = t.lfs("GET", "locks/verify", Some(&dev.2), None).await;
    expect_error(&resp, 405, None, "GET verify")?;
    let resp = t.lfs("POST", "locks/1/2/unlock", Some(&dev.2), None).await;
    expect_error(&resp, 404, None, "no such route")?;

    // The path without `.git` serves the same locks.
    let bare = format!(
        "{}/{}/info/lfs/locks",
        t.server.base, t.project.path_with_namespace
    );
    let rb = reqwest::Client::new()
        .get(bare)
        .basic_auth("oauth2", Some(&dev.2));
    expect(&t.server.send(rb).await, 200, "without .git")?;

    Ok(())
}

async fn pagination(team: Team) -> Result<()> {
    let t = &team;
    let (dev, dev2) = (&t.dev, &t.dev2);
    for (i, who) in [dev, dev2, dev, dev2, dev].into_iter().enumerate() {
        let resp = t
            .lfs(
                "POST",
                "locks",
                Some(&who.2),
                Some(json!({"path": format!("f{i}.bin")})),
            )
            .await;
        expect(&resp, 201, "create")?;
    }
    // Newest first, two at a time, following next_cursor to the end.
    let mut seen = Vec::new();
    let mut query = "locks?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = expect(&t.lfs("GET", &query, Some(&dev.2), None).await, 200, &query)?;
        pages += 1;
        let got = paths(&page["locks"]);
        ensure!(got.len() <= 2, "{page}");
        seen.extend(got);
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(c) => query = format!("locks?limit=2&cursor={c}"),
            None => break,
        }
    }
    ensure!(pages == 3, "pages: {pages}");
    ensure!(
        seen == ["f4.bin", "f3.bin", "f2.bin", "f1.bin", "f0.bin"],
        "{seen:?}"
    );

    // Filters.
    let one = expect(
        &t.lfs("GET", "locks?path=f2.bin", Some(&dev.2), None).await,
        200,
        "by path",
    )?;
    ensure!(paths(&one["locks"]) == ["f2.bin"], "{one}");
    let id = one["locks"][0]["id"].as_str().context("id")?.to_owned();
    let by_id = expect(
        &t.lfs("GET", &format!("locks?id={id}"), Some(&dev.2), None)
            .await,
        200,
        "by id",
    )?;
    ensure!(paths(&by_id["locks"]) == ["f2.bin"], "{by_id}");
    for query in [
        "locks?id=abc",
        "locks?path=nope.bin",
        "locks?path=f2.bin&id=1",
    ] {
        let none = expect(&t.lfs("GET", query, Some(&dev.2), None).await, 200, query)?;
        ensure!(none["locks"] == json!([]), "{query}: {none}");
    }

    // Verify pages the same way, ours and theirs per page.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut body = json!({"limit": 2});
    loop {
        let page = expect(
            &t.lfs("POST", "locks/verify", Some(&dev2.2), Some(body.clone()))
                .await,
            200,
            "verify page",
        )?;
        ensure!(
            paths(&page["ours"]).len() + paths(&page["theirs"]).len() <= 2,
            "{page}"
        );
        ours.extend(paths(&page["ours"]));
        theirs.extend(paths(&page["theirs"]));
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(c) => body = json!({"limit": 2, "cursor": c}),
            None => break,
        }
    }
    ensure!(ours == ["f3.bin", "f1.bin"], "ours {ours:?}");
    ensure!(
        theirs == ["f4.bin", "f2.bin", "f0.bin"],
        "theirs {theirs:?}"
    );
    Ok(())
}

async fn switches_and_deletion(team: Team) -> Result<()> {
    let t = &team;
    let (owner, dev) = (&t.owner, &t.dev);
    let resp = t
        .lfs(
            "POST",
            "locks",
            Some(&dev.2),
            Some(json!({"path": "a.bin"})),
        )
        .await;
    let id = check_lock(&expect(&resp, 201, "create")?["lock"], "a.bin", &dev.0)?;

    // An archived project's locks are listed but not changed.
    let archive = format!("/projects/{}/archive", t.project.id);
    ensure!(
        t.server
            .post_json(&archive, &owner.2, json!({}))
            .await
            .status
            == 201,
        "archive"
    );
    let refused = "You can't push code to an archived project.";
    let resp = t
        .lfs(
            "POST",
            "locks",
            Some(&dev.2),
            Some(json!({"path": "b.bin"})),
        )
        .await;
    expect_error(&resp, 403, Some(refused), "lock in an archived project")?;
    let resp = t
        .lfs("POST", &format!("locks/{id}/unlock"), Some(&dev.2), None)
        .await;
    expect_error(&resp, 403, Some(refused), "unlock in an archived project")?;
    expect(
        &t.lfs("GET", "locks", Some(&dev.2), None).await,
        200,
        "list archived",
    )?;
    let unarchive = format!("/projects/{}/unarchive", t.project.id);
    ensure!(
        t.server
            .post_json(&unarchive, &owner.2, json!({}))
            .await
            .status
            == 201,
        "unarchive"
    );

    // LFS off: every locking route is as absent as the project.
    set_lfs_enabled(&t.server, t.project.id, false).await?;
    for (method, rest) in [
        ("GET", "locks".to_owned()),
        ("POST", "locks".to_owned()),
        ("POST", "locks/verify".to_owned()),
        ("POST", format!("locks/{id}/unlock")),
    ] {
        let resp = t
            .lfs(
                method,
                &rest,
                Some(&owner.2),
                Some(json!({"path": "c.bin"})),
            )
            .await;
        expect_error(&resp, 404, None, &format!("LFS off: {method} {rest}"))?;
    }
    set_lfs_enabled(&t.server, t.project.id, true).await?;
    let list = expect(
        &t.lfs("GET", "locks", Some(&dev.2), None).await,
        200,
        "LFS on again",
    )?;
    ensure!(paths(&list["locks"]) == ["a.bin"], "{list}");

    // Deleting the project deletes its locks.
    let resp = t
        .server
        .delete(&format!("/projects/{}", t.project.id), &owner.2)
        .await;
    ensure!(resp.status == 202, "delete: {} {}", resp.status, resp.text);
    let left: i64 = sqlx::query_scalar("select count(*) from lfs_locks")
        .fetch_one(t.server.state.store.pool())
        .await?;
    ensure!(left == 0, "{left} locks outlived their project");
    Ok(())
}

/// Turns GitLab's per-project LFS switch (the projects API does not expose it yet) on or off.
async fn set_lfs_enabled(server: &TestServer, project_id: i64, on: bool) -> Result<()> {
    sqlx::query("update projects set lfs_enabled = $1 where id = $2")
        .bind(i64::from(on))
        .bind(project_id)
        .execute(server.state.store.pool())
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locking_api_follows_gitlabs_rules() -> Result<()> {
    locking_api_rules(Team::start(TestServer::builder().start().await).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locking_api_follows_gitlabs_rules_postgres() -> Result<()> {
    let Some(server) = TestServer::builder().postgres().start().await else {
        return Ok(());
    };
    locking_api_rules(Team::start(server).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_come_in_pages_newest_first() -> Result<()> {
    pagination(Team::start(TestServer::builder().start().await).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_come_in_pages_newest_first_postgres() -> Result<()> {
    let Some(server) = TestServer::builder().postgres().start().await else {
        return Ok(());
    };
    pagination(Team::start(server).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_lfs_off_and_deleted_projects() -> Result<()> {
    switches_and_deletion(Team::start(TestServer::builder().start().await).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_lfs_off_and_deleted_projects_postgres() -> Result<()> {
    let Some(server) = TestServer::builder().postgres().start().await else {
        return Ok(());
    };
    switches_and_deletion(Team::start(server).await).await
}
