//! The locking API over raw HTTP, for what git-lfs only reacts to: GitLab's shapes and statuses,
//! the 409 with the lock, its refusals to unlock, who may list and who may lock, 401/404/405/422.

use anyhow::{ensure, Result};
use serde_json::json;

use super::{check_lock, expect, expect_error, paths, Team};
use crate::common::TestServer;

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
