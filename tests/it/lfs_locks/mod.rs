//! Git LFS file locking, end to end: the real server on `127.0.0.1:0` (SQLite and PostgreSQL),
//! driven by the real `git lfs lock`, `locks`, `locks --verify` and `unlock` (`--json` where the
//! client can say it), a real `git push` whose pre-push hook verifies locks, and raw HTTP for
//! the shapes and statuses git-lfs only reacts to: GitLab's 409 with the lock, its refusals to
//! unlock, who may list and who may lock, pagination, 401/404/422, `lfs_enabled` and the
//! archived rule, and the locks going with their project. This file is the scenario's harness;
//! [`rules`], [`pages`], [`callers`] and [`cli`] are its tests.

mod callers;
mod cli;
mod pages;
mod rules;

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};

use crate::common::{Project, Resp, TestServer};
use pushmirror::model::access::AccessLevel;

/// The git-lfs media type of every locking request and answer.
const LFS_JSON: &str = "application/vnd.git-lfs+json";

/// The people of a locking scenario, each with a token, in one project owned by `olive`.
pub(super) struct Team {
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
