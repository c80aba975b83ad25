//! Named repository storages (`--storage NAME=PATH`): an administrator places a project on a
//! second storage with GitLab's `repository_storage`; its repository lives there and nowhere
//! else, takes pushes over smart HTTP and through the `post-receive` hook (which finds its
//! installation from the storage's marker), is mirrored by the engine into a real git server,
//! and shows on the dashboard as in sync, which the dashboard reads from the database. Others'
//! `repository_storage` is ignored, as GitLab does; an unknown storage is a field error.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::json;

use crate::common::web::{create_user, WebClient, PASSWORD};
use crate::common::{blocking, poll_for, refs_of, TestServer, Work};
use crate::remotes::GitDaemonRemote;

const CONVERGE: Duration = Duration::from_secs(30);

/// A server serving `default` and storage `b` (in its own directory, outside the data dir).
struct TwoStorages {
    server: TestServer,
    b: PathBuf,
    _b_dir: tempfile::TempDir,
}

fn with_storage_b(
    builder: crate::common::Builder,
) -> (crate::common::Builder, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = dir.path().join("storage-b");
    let for_config = b.clone();
    let builder = builder.tweak(move |c| {
        c.store.storages = vec![(
            pushmirror::model::storage::StorageName::parse("b").unwrap(),
            for_config,
        )];
    });
    (builder, b, dir)
}

impl TwoStorages {
    async fn start() -> TwoStorages {
        let (builder, b, dir) =
            with_storage_b(TestServer::builder().engine(true).local_network(true));
        TwoStorages {
            server: builder.start().await,
            b,
            _b_dir: dir,
        }
    }

    async fn start_postgres() -> Option<TwoStorages> {
        let (builder, b, dir) =
            with_storage_b(TestServer::builder().engine(true).local_network(true));
        Some(TwoStorages {
            server: builder.postgres().start().await?,
            b,
            _b_dir: dir,
        })
    }
}

async fn second_storage_end_to_end(t: TwoStorages) -> Result<()> {
    let s = &t.server;
    let root = s.token("root", true).await;
    create_user(s, &root, "boss", true).await;
    let created = s
        .post_json(
            "/projects",
            &root,
            json!({"name": "on-b", "repository_storage": "b"}),
        )
        .await;
    ensure!(created.status == 201, "{}", created.text);
    let id = created.body["id"].as_i64().context("id")?;
    let repo = t.b.join(format!("{id}.git"));
    ensure!(
        repo.join("HEAD").is_file(),
        "the repository is on storage b"
    );
    ensure!(!s.repo_path(id).exists(), "and not on the default storage");

    // A push over smart HTTP lands in storage b and is mirrored from there.
    let daemon = GitDaemonRemote::start();
    daemon.create_repo("b-mirror");
    let mirror = s
        .api(&root)
        .create_mirror(id, &daemon.url("b-mirror"), true)
        .await;
    // Never updated: the dashboard shows the recorded head as not on it.
    let _idle = s
        .api(&root)
        .create_mirror(id, &daemon.url("idle"), false)
        .await;
    let work = Arc::new(Work::new());
    let url = s.push_url(&root, "root/on-b");
    let w = work.clone();
    let head = blocking(move || {
        let head = w.commit("one");
        w.push(&url, &["HEAD:refs/heads/main"]);
        head
    })
    .await;
    ensure!(refs_of(&repo).get("refs/heads/main") == Some(&head));
    let api = s.api(&root);
    poll_for(
        CONVERGE,
        || api.mirror(id, mirror.id),
        |m| m.update_status == "finished" && daemon.refs("b-mirror") == refs_of(&repo),
    )
    .await
    .map_err(|last| anyhow::anyhow!("never mirrored: {last:?}"))?;

    // The dashboard knows the mirror is in sync, and the idle one behind by the pushed head,
    // from what the push recorded.
    let boss = WebClient::signed_in(&s.base, "boss", PASSWORD).await;
    let page = boss.get("/").await;
    ensure!(page.status == 200, "{page:?}");
    ensure!(page.html.contains("In sync"), "{}", page.html);
    ensure!(
        page.html.contains(&format!("title=\"{head}\"")),
        "{}",
        page.html
    );

    // A push that reaches storage b another way is recorded by the hook, which learns its
    // installation from the storage's marker; the dashboard then shows the new head waiting.
    let w = work.clone();
    let repo_arg = repo.clone();
    let second = blocking(move || {
        let head = w.commit("two");
        w.push(repo_arg.to_str().unwrap(), &["HEAD:refs/heads/main"]);
        head
    })
    .await;
    // On PostgreSQL the marker names the data directory (the key); the database is elsewhere.
    let database = s
        .state
        .store
        .is_postgres()
        .then_some(s.state.database_url.as_str());
    let line = format!("{head} {second} refs/heads/main\n");
    let out = crate::common::binary::post_receive_hook(&repo, &line, database).await?;
    ensure!(
        out.status.success(),
        "hook failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    poll_for(
        CONVERGE,
        || api.mirror(id, mirror.id),
        |m| {
            m.update_status == "finished"
                && daemon.refs("b-mirror").get("refs/heads/main") == Some(&second)
        },
    )
    .await
    .map_err(|last| anyhow::anyhow!("the hook's push was never mirrored: {last:?}"))?;
    let page = boss.get("/").await;
    ensure!(
        page.html.contains(&format!("title=\"{second}\"")),
        "the hook recorded the new head: {}",
        page.html
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_on_a_second_storage_is_pushed_mirrored_and_shown() -> Result<()> {
    second_storage_end_to_end(TwoStorages::start().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_on_a_second_storage_is_pushed_mirrored_and_shown_postgres() -> Result<()> {
    let Some(t) = TwoStorages::start_postgres().await else {
        return Ok(());
    };
    second_storage_end_to_end(t).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repository_storage_is_for_administrators_and_checked() -> Result<()> {
    let t = TwoStorages::start().await;
    let s = &t.server;
    let root = s.token("root", true).await;
    let alice = s.token("alice", false).await;
    // Ignored for everyone but administrators, as GitLab does.
    let r = s
        .post_json(
            "/projects",
            &alice,
            json!({"name": "mine", "repository_storage": "b"}),
        )
        .await;
    ensure!(r.status == 201, "{}", r.text);
    let id = r.body["id"].as_i64().context("id")?;
    ensure!(s.repo_path(id).join("HEAD").is_file());
    ensure!(!t.b.join(format!("{id}.git")).exists());
    // An administrator naming a storage this server does not have gets GitLab's field error,
    // and nothing is created.
    for bad in ["nope", "B", "../b"] {
        let r = s
            .post_json(
                "/projects",
                &root,
                json!({"name": "misplaced", "repository_storage": bad}),
            )
            .await;
        ensure!(r.status == 400, "{bad}: {}", r.text);
        ensure!(
            r.body["message"]["repository_storage"][0] == "is not included in the list",
            "{}",
            r.text
        );
    }
    let r = s.get("/projects?search=misplaced", &root).await;
    ensure!(
        r.body.as_array().is_some_and(|a| a.is_empty()),
        "{}",
        r.text
    );
    Ok(())
}
