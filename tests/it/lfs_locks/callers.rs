//! Who calls the locking API, beyond members' roles: tokens whose scopes allow only fetching,
//! anonymous callers of a public project, several people racing for one path (exactly one
//! gets it, on either backend), a body too large to be a lock request, and the rule a push that
//! changes a path someone else locked is judged by.

use anyhow::{ensure, Context, Result};
use serde_json::json;

use pushmirror::model::lfs_locks::locked_path_refusal;
use pushmirror::service::lfs_locks::locked_by_others;

use super::{check_lock, expect, expect_error, paths, Team};
use crate::common::TestServer;

async fn callers(team: Team) -> Result<()> {
    let t = &team;
    let (owner, dev, dev2) = (&t.owner, &t.dev, &t.dev2);

    // A token that may only fetch lists locks but takes none (as it clones but cannot push).
    let root = t.server.token("root", true).await;
    let path = format!("/users/{}/personal_access_tokens", dev.1);
    let r = t
        .server
        .post_json(
            &path,
            &root,
            json!({"name": "ci", "scopes": ["read_repository"]}),
        )
        .await;
    ensure!(r.status == 201, "token: {}", r.text);
    let read_only = r.body["token"].as_str().context("token")?.to_owned();
    expect(
        &t.lfs("GET", "locks", Some(&read_only), None).await,
        200,
        "list",
    )?;
    for (rest, body) in [
        ("locks", json!({"path": "a.bin"})),
        ("locks/verify", json!({})),
    ] {
        let resp = t.lfs("POST", rest, Some(&read_only), Some(body)).await;
        expect_error(
            &resp,
            403,
            Some("The token's scopes do not allow this git LFS operation."),
            rest,
        )?;
    }

    // Anonymous callers of a public project list its locks and are asked to sign in to lock.
    let public = t
        .server
        .api(&owner.2)
        .create_project_with(json!({"path": "open", "visibility": "public"}))
        .await;
    let full = &public.path_with_namespace;
    let resp = t
        .lfs_to(
            full,
            "POST",
            "locks",
            Some(&owner.2),
            Some(json!({"path": "p.bin"})),
        )
        .await;
    expect(&resp, 201, "the owner locks")?;
    let list = expect(
        &t.lfs_to(full, "GET", "locks", None, None).await,
        200,
        "anonymous list",
    )?;
    ensure!(paths(&list["locks"]) == ["p.bin"], "{list}");
    for (rest, body) in [
        ("locks", json!({"path": "q.bin"})),
        ("locks/verify", json!({})),
    ] {
        let resp = t.lfs_to(full, "POST", rest, None, Some(body)).await;
        expect_error(&resp, 401, None, rest)?;
        ensure!(
            resp.header("lfs-authenticate").starts_with("Basic realm="),
            "{rest}"
        );
    }
    // Someone signed in but no member of the public project may list, not lock.
    expect(
        &t.lfs_to(full, "GET", "locks", Some(&t.outsider.2), None)
            .await,
        200,
        "outsider list",
    )?;
    let resp = t
        .lfs_to(
            full,
            "POST",
            "locks",
            Some(&t.outsider.2),
            Some(json!({"path": "q.bin"})),
        )
        .await;
    expect_error(
        &resp,
        403,
        Some("Access forbidden. Check your access level."),
        "outsider lock",
    )?;

    // Two people racing for one path, eight requests each at once: exactly one lock.
    let attempts = (0..16).map(|i| {
        let token = if i % 2 == 0 { &dev.2 } else { &dev2.2 };
        t.lfs(
            "POST",
            "locks",
            Some(token),
            Some(json!({"path": "hot.bin"})),
        )
    });
    let answers = futures_util::future::join_all(attempts).await;
    let created: Vec<_> = answers.iter().filter(|r| r.status == 201).collect();
    ensure!(created.len() == 1, "{} locks taken", created.len());
    let id = created[0].body["lock"]["id"].clone();
    for r in &answers {
        ensure!(
            r.status == 201 || r.status == 409,
            "{} {}",
            r.status,
            r.text
        );
        ensure!(
            r.body["lock"]["id"] == id,
            "every answer names the one lock: {}",
            r.text
        );
    }
    let list = expect(
        &t.lfs("GET", "locks?path=hot.bin", Some(&dev.2), None).await,
        200,
        "hot",
    )?;
    ensure!(paths(&list["locks"]) == ["hot.bin"], "{list}");

    // A body larger than any lock request is refused whole.
    let huge = format!(r#"{{"path": "{}"}}"#, "x".repeat(100 * 1024)).into_bytes();
    let resp = t
        .lfs_raw(
            &t.project.path_with_namespace,
            "POST",
            "locks",
            Some(&dev.2),
            Some(huge),
        )
        .await;
    expect_error(&resp, 413, None, "a huge body")?;

    // The lock of a path with spaces, unicode and directories comes back exactly as sent.
    let odd = "art/Ünïcode dir/final (v2).psd";
    let resp = t
        .lfs("POST", "locks", Some(&dev.2), Some(json!({"path": odd})))
        .await;
    check_lock(&expect(&resp, 201, "odd path")?["lock"], odd, &dev.0)?;
    let query = format!("locks?path={}", url_encode(odd));
    let list = expect(
        &t.lfs("GET", &query, Some(&dev2.2), None).await,
        200,
        "by odd path",
    )?;
    ensure!(paths(&list["locks"]) == [odd], "{list}");

    // The rule a push is judged by: a changed path another user locked refuses it.
    let state = &t.server.state;
    let dave = state.store.user_by_id(dev.1).await?.context("dave")?;
    let full = &t.project.path_with_namespace;
    let (project, _) =
        pushmirror::service::projects::find_project(state, full, Some(&dave)).await?;
    let changed = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let held = locked_by_others(state, &project, dev2.1, &changed(&["x", odd])).await?;
    let held = held.context("dora changes dave's locked path")?;
    ensure!(
        locked_path_refusal(&held) == format!("The path '{odd}' is locked in Git LFS by dave"),
        "{held:?}"
    );
    ensure!(locked_by_others(state, &project, dev.1, &changed(&[odd]))
        .await?
        .is_none());
    ensure!(locked_by_others(state, &project, dev2.1, &changed(&["x"]))
        .await?
        .is_none());
    Ok(())
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_anonymous_callers_and_races() -> Result<()> {
    callers(Team::start(TestServer::builder().start().await).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_anonymous_callers_and_races_postgres() -> Result<()> {
    let Some(server) = TestServer::builder().postgres().start().await else {
        return Ok(());
    };
    callers(Team::start(server).await).await
}
