//! The locking API's pages (newest first, following `next_cursor`) and filters, and the
//! project switches around it: archived, `lfs_enabled` off, deleted.

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};

use super::{check_lock, expect, expect_error, paths, Team};
use crate::common::TestServer;

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
