//! The git-lfs client end to end against the real server: track, push, clone, pull, a partial
//! pull, on SQLite and PostgreSQL, objects on local disk and in S3 (with presigned downloads).

use anyhow::{Context, Result};
use serde_json::json;

use super::{content, have, missing, sha256, GitClient, Lfs, MotoS3};
use crate::common::TestServer;

/// The git-lfs client end to end: track, push, clone, pull, a partial pull; then
/// statistics, the metrics, knowing an oid granting nothing, and deletion removing what no
/// project links.
/// `on_disk`: objects are in the storage's directory; `presigned`: downloads go to S3 directly.
async fn client_flows(s: TestServer, on_disk: bool, presigned: bool) -> Result<()> {
    if missing("git-lfs", have("git-lfs", "version")) {
        return Ok(());
    }
    let t = Lfs::new(s);
    let alice = t.s.token("alice", false).await;
    let bob = t.s.token("bob", false).await;
    let project =
        t.s.api(&alice)
            .create_project_with(json!({"path": "big", "visibility": "private"}))
            .await;
    let other =
        t.s.api(&bob)
            .create_project_with(json!({"path": "other", "visibility": "private"}))
            .await;
    let git = GitClient::new().await?;
    let dir = tempfile::tempdir()?;
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work)?;
    git.ok(&work, &["init", "-q", "-b", "main"], &[]).await?;
    git.ok(&work, &["lfs", "track", "*.bin"], &[]).await?;
    let (a, b) = (content(1, 300_000), content(2, 200_001));
    std::fs::write(work.join("a.bin"), &a)?;
    std::fs::write(work.join("b.bin"), &b)?;
    git.ok(&work, &["add", "."], &[]).await?;
    git.ok(&work, &["commit", "-q", "-m", "big files"], &[])
        .await?;
    let url = t.url(&alice, "alice/big");
    git.ok(&work, &["push", "-q", &url, "HEAD:main"], &[])
        .await
        .context("git push with LFS objects")?;
    let (oid_a, oid_b) = (sha256(&a), sha256(&b));
    for oid in [&oid_a, &oid_b] {
        assert!(t.stored(oid).await, "{oid} stored");
    }
    assert_eq!(
        t.count(&format!(
            "select count(*) from lfs_object_projects where project_id = {}",
            project.id
        ))
        .await,
        2
    );
    if on_disk {
        // Content-addressed in the storage's directory, and never world-readable staged.
        let path = t.s.data_dir().join(format!(
            "repositories/lfs-objects/{}/{}/{oid_a}",
            &oid_a[0..2],
            &oid_a[2..4]
        ));
        assert_eq!(std::fs::read(&path)?, a);
    }
    assert_eq!(t.staged(), 0);

    // A clone gets the content; a clone without smudging, then a partial pull, only what it
    // asked for.
    let full = dir.path().join("full");
    git.ok(
        dir.path(),
        &["clone", "-q", &url, full.to_str().unwrap()],
        &[],
    )
    .await?;
    assert_eq!(std::fs::read(full.join("a.bin"))?, a);
    assert_eq!(std::fs::read(full.join("b.bin"))?, b);
    let partial = dir.path().join("partial");
    git.ok(
        dir.path(),
        &["clone", "-q", &url, partial.to_str().unwrap()],
        &[("GIT_LFS_SKIP_SMUDGE", "1")],
    )
    .await?;
    assert!(std::fs::read(partial.join("a.bin"))?.starts_with(b"version https://git-lfs"));
    git.ok(&partial, &["lfs", "pull", "--include", "a.bin"], &[])
        .await?;
    assert_eq!(std::fs::read(partial.join("a.bin"))?, a);
    assert!(std::fs::read(partial.join("b.bin"))?.starts_with(b"version https://git-lfs"));
    git.ok(&partial, &["lfs", "pull"], &[]).await?;
    assert_eq!(std::fs::read(partial.join("b.bin"))?, b);

    // Statistics and metrics.
    let stats = t.statistics(&alice, project.id).await;
    assert_eq!(
        stats["lfs_objects_size"],
        json!(a.len() + b.len()),
        "{stats}"
    );
    let metrics = t
        .http
        .get(format!("{}/-/metrics", t.s.base))
        .send()
        .await?
        .text()
        .await?;
    for op in ["upload", "download"] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "pushmirror_lfs_transfer_bytes_total{{operation=\"{op}\"}}"
                ))
            })
            .with_context(|| format!("no {op} metric"))?;
        let n: u64 = line.rsplit(' ').next().unwrap().parse()?;
        if op == "download" && presigned {
            assert_eq!(n, 0, "presigned downloads do not pass through: {line}");
        } else {
            assert!(n >= (a.len() + b.len()) as u64, "{line}");
        }
    }

    // Knowing an oid grants nothing: bob's project does not link alice's objects, so it
    // downloads nothing and must upload the bytes (which are checked and stored once).
    let (status, _, body) = t
        .batch(
            "bob/other",
            Some(&bob),
            json!({"operation": "download", "objects": [{"oid": oid_a, "size": a.len()}]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["objects"][0]["error"]["code"], 404, "{body}");
    let (_, _, body) = t
        .batch(
            "alice/big",
            Some(&alice),
            json!({"operation": "download", "objects": [{"oid": oid_a, "size": a.len()}]}),
        )
        .await;
    let href = body["objects"][0]["actions"]["download"]["href"]
        .as_str()
        .context("a download action")?;
    assert_eq!(
        !href.starts_with(&t.s.base),
        presigned,
        "presigned downloads point at the bucket: {href}"
    );
    let actions = t
        .upload_action("bob/other", &bob, &oid_a, a.len() as u64)
        .await
        .expect("an upload action for an object bob's project does not link");
    let (status, _) = t
        .act(&actions["upload"], reqwest::Method::PUT, a.clone())
        .await;
    assert_eq!(status, 200);
    let (status, _) = t
        .act(
            &actions["verify"],
            reqwest::Method::POST,
            json!({"oid": oid_a, "size": a.len()})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        t.count(&format!(
            "select count(*) from lfs_objects where oid = '{oid_a}'"
        ))
        .await,
        1,
        "one object, however many projects link it"
    );
    // Alice's own grant is for alice's project: bob's token reads nothing of hers.
    let (status, _, _) = t
        .batch(
            "alice/big",
            Some(&bob),
            json!({"operation": "download", "objects": [{"oid": oid_a, "size": a.len()}]}),
        )
        .await;
    assert_eq!(
        status, 404,
        "a private project bob is no member of does not exist"
    );

    // Deleting alice's project removes the object only bob's project does not link.
    let r =
        t.s.delete(&format!("/projects/{}", project.id), &alice)
            .await;
    assert!(r.status == 202 || r.status == 204, "{}", r.text);
    assert!(t.stored(&oid_a).await, "bob's project still links a");
    assert!(!t.stored(&oid_b).await, "no project links b any more");
    assert_eq!(
        t.count(&format!(
            "select count(*) from lfs_objects where oid = '{oid_b}'"
        ))
        .await,
        0
    );
    let r = t.s.delete(&format!("/projects/{}", other.id), &bob).await;
    assert!(r.status == 202 || r.status == 204, "{}", r.text);
    assert!(!t.stored(&oid_a).await);
    assert_eq!(t.count("select count(*) from lfs_objects").await, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_push_clone_pull_on_local_storage() -> Result<()> {
    client_flows(TestServer::builder().start().await, true, false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_push_clone_pull_on_local_storage_postgres() -> Result<()> {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return Ok(());
    };
    client_flows(s, true, false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_push_clone_pull_on_s3() -> Result<()> {
    let Some(s3) = MotoS3::start("lfs").await else {
        return Ok(());
    };
    let config = s3.config("lfs", false);
    let s = TestServer::builder()
        .tweak(move |c| c.lfs.s3 = Some(config))
        .start()
        .await;
    client_flows(s, false, false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_on_s3_with_presigned_downloads_postgres() -> Result<()> {
    let Some(s3) = MotoS3::start("lfs").await else {
        return Ok(());
    };
    let config = s3.config("lfs", true);
    let Some(s) = TestServer::builder()
        .tweak(move |c| c.lfs.s3 = Some(config))
        .postgres()
        .start()
        .await
    else {
        return Ok(());
    };
    client_flows(s, false, true).await
}
