//! What a killed server leaves of LFS uploads is gone at the next start: a staged upload
//! (`kill -9` mid-body) and an object no project links (a deletion whose removal pass did not
//! run); what is linked stays.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::{basic, content, sha256, LFS_JSON};
use crate::common::binary::{create_admin_token, ServerProcess};
use crate::common::poll_until;

/// Bound for the server to have staged the first bytes of an upload.
const STAGED: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_removes_staged_uploads_and_unlinked_objects() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = create_admin_token(&data, None);
    let mut server = ServerProcess::start(&data, None, &["--api-only"], &[]);
    let project = server.api(&token).create_project("p").await;
    let http = reqwest::Client::new();
    let batch = |base: String, oid: &str, size: usize| {
        http.post(format!(
            "{base}/{}.git/info/lfs/objects/batch",
            project.path_with_namespace
        ))
        .header("accept", LFS_JSON)
        .header("authorization", basic(&token))
        .body(json!({"operation": "upload", "objects": [{"oid": oid, "size": size}]}).to_string())
    };
    // One object uploaded and linked.
    let kept = content(1, 3000);
    let answer: Value = batch(server.base(), &sha256(&kept), kept.len())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload = &answer["objects"][0]["actions"]["upload"];
    let r = http
        .put(upload["href"].as_str().unwrap())
        .header(
            "authorization",
            upload["header"]["Authorization"].as_str().unwrap(),
        )
        .body(kept.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Another cut off by kill -9 once its first bytes are staged.
    let cut = content(2, 1 << 20);
    let answer: Value = batch(server.base(), &sha256(&cut), cut.len())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload = &answer["objects"][0]["actions"]["upload"];
    let base = server.base();
    let host = base.trim_start_matches("http://").to_owned();
    let path = upload["href"]
        .as_str()
        .unwrap()
        .trim_start_matches(&base)
        .to_owned();
    let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
        upload["header"]["Authorization"].as_str().unwrap(),
        cut.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&cut[..300_000]).await.unwrap();
    conn.flush().await.unwrap();
    let tmp = data.join("repositories/lfs-objects/tmp");
    let staged = || std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    poll_until(STAGED, || async { staged() == 1 }).await;
    server.kill_9();
    drop(conn);
    assert_eq!(staged(), 1, "kill -9 left the staged upload");
    // An object row no project links, with its bytes, as a deletion cut short leaves it.
    let orphan = content(3, 100);
    let orphan_oid = sha256(&orphan);
    let orphan_path = data.join(format!(
        "repositories/lfs-objects/{}/{}/{orphan_oid}",
        &orphan_oid[0..2],
        &orphan_oid[2..4]
    ));
    std::fs::create_dir_all(orphan_path.parent().unwrap()).unwrap();
    std::fs::write(&orphan_path, &orphan).unwrap();
    let url = format!("sqlite://{}?mode=rwc", data.join("pushmirror.db").display());
    let store = pushmirror::store::Store::open(&url).await.unwrap();
    sqlx::query("insert into lfs_objects (oid, size, created_at) values ($1, 100, 0)")
        .bind(&orphan_oid)
        .execute(store.pool())
        .await
        .unwrap();
    drop(store);

    server.start_again();
    assert_eq!(staged(), 0, "the staged upload is gone");
    assert!(
        !orphan_path.exists(),
        "the unlinked object's bytes are gone"
    );
    let store = pushmirror::store::Store::open(&url).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar("select oid from lfs_objects")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, [sha256(&kept)], "only the linked object stays");
    let kept_oid = sha256(&kept);
    assert!(data
        .join(format!(
            "repositories/lfs-objects/{}/{}/{kept_oid}",
            &kept_oid[0..2],
            &kept_oid[2..4]
        ))
        .exists());
}
