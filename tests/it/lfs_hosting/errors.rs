//! The protocol's refusals over raw HTTP: each a git-lfs JSON error with its status, and
//! nothing stored; the size limits.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::{basic, content, sha256, Lfs, MotoS3, CLEANED_UP, LFS_JSON};
use crate::common::{poll_until, TestServer};

/// The protocol's errors over raw HTTP: each a git-lfs JSON error with its status, and nothing
/// stored.
async fn protocol_errors(s: TestServer) -> Result<()> {
    let t = Lfs::new(s);
    let root = t.s.token("root", true).await;
    let alice = t.s.token("alice", false).await;
    let alice_id = t.s.user_id("alice").await;
    let project =
        t.s.api(&alice)
            .create_project_with(json!({"path": "p", "visibility": "private"}))
            .await;
    let bytes = content(7, 5000);
    let oid = sha256(&bytes);
    let upload = json!({"operation": "upload", "objects": [{"oid": oid, "size": bytes.len()}]});

    // No credentials, bad credentials: 401 with the challenge git-lfs answers.
    for token in [None, Some("pmpat-not-a-token")] {
        let (status, headers, body) = t.batch("alice/p", token, upload.clone()).await;
        assert_eq!(status, 401, "{body}");
        assert!(headers["lfs-authenticate"]
            .to_str()?
            .starts_with("Basic realm="));
        assert_eq!(headers["content-type"], LFS_JSON);
        for key in ["message", "documentation_url", "request_id"] {
            assert!(body[key].is_string(), "{key} in {body}");
        }
        assert_eq!(
            body["request_id"].as_str(),
            headers["x-request-id"].to_str().ok()
        );
    }
    // A read-only token downloads but does not upload.
    let r =
        t.s.post_json(
            &format!("/users/{alice_id}/personal_access_tokens"),
            &root,
            json!({"name": "ro", "scopes": ["read_repository"]}),
        )
        .await;
    let read_only = r.body["token"].as_str().context("token")?.to_owned();
    let (status, _, body) = t.batch("alice/p", Some(&read_only), upload.clone()).await;
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = t
        .batch(
            "alice/p",
            Some(&read_only),
            json!({"operation": "download", "objects": [{"oid": oid, "size": 1}]}),
        )
        .await;
    assert_eq!(status, 200);
    // No such project, and wrong Accept.
    let (status, _, _) = t.batch("alice/none", Some(&alice), upload.clone()).await;
    assert_eq!(status, 404);
    let (status, _, body) = t
        .batch_raw(
            "alice/p",
            Some(&alice),
            "text/html",
            upload.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 406, "{body}");
    // Malformed bodies, and a batch with no valid object.
    for body in [
        b"{not json".to_vec(),
        br#"{"operation": "upload"}"#.to_vec(),
        br#"{"operation": "delete", "objects": []}"#.to_vec(),
        json!({"operation": "upload", "objects": [{"oid": "ABC", "size": 1}]})
            .to_string()
            .into_bytes(),
    ] {
        let (status, _, answer) = t.batch_raw("alice/p", Some(&alice), LFS_JSON, body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(answer["message"].is_string());
    }
    // Some valid, some not: per-object 422s.
    let (status, _, body) = t
        .batch(
            "alice/p",
            Some(&alice),
            json!({"operation": "upload", "objects": [
                {"oid": oid, "size": bytes.len()},
                {"oid": "z".repeat(64), "size": 1},
                {"oid": oid.to_uppercase(), "size": 1},
                {"oid": oid, "size": -1},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["objects"][0]["actions"]["upload"].is_object());
    for i in 1..4 {
        assert_eq!(body["objects"][i]["error"]["code"], 422, "{body}");
    }
    // 1,001 objects in one request.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"oid": sha256(&[i as u8, (i >> 8) as u8]), "size": 1}))
        .collect();
    let (status, _, body) = t
        .batch(
            "alice/p",
            Some(&alice),
            json!({"operation": "upload", "objects": many}),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    // An unknown oid downloads as a per-object 404.
    let (status, _, body) = t
        .batch(
            "alice/p",
            Some(&alice),
            json!({"operation": "download", "objects": [{"oid": oid, "size": bytes.len()}]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["objects"][0]["error"]["code"], 404, "{body}");

    // Uploads: a wrong hash, a short body, a long body, a tampered grant: refused, nothing kept.
    let actions = t
        .upload_action("alice/p", &alice, &oid, bytes.len() as u64)
        .await
        .unwrap();
    assert_eq!(actions["upload"]["expires_in"], 3600);
    assert!(actions["upload"]["header"]["Authorization"]
        .as_str()
        .unwrap()
        .starts_with("RemoteAuth "));
    assert!(
        !actions.to_string().contains(&alice),
        "the caller's secret is never echoed"
    );
    let mut wrong = bytes.clone();
    wrong[0] ^= 1;
    let mut longer = bytes.clone();
    longer.push(0);
    for body in [wrong, bytes[..4000].to_vec(), longer] {
        let (status, answer) = t.act(&actions["upload"], reqwest::Method::PUT, body).await;
        assert_eq!(status, 422, "{answer}");
        t.nothing_stored(&oid).await;
    }
    let mut tampered = actions["upload"].clone();
    tampered["header"]["Authorization"] = json!("RemoteAuth AAAA");
    let (status, _) = t.act(&tampered, reqwest::Method::PUT, bytes.clone()).await;
    assert_eq!(status, 401);
    let mut bare = actions["upload"].clone();
    bare["header"] = json!({"Authorization": basic(&alice)});
    let (status, _) = t.act(&bare, reqwest::Method::PUT, bytes.clone()).await;
    assert_eq!(status, 401, "transfers take their grant only");
    t.nothing_stored(&oid).await;

    // A cut-off upload keeps nothing.
    let href = actions["upload"]["href"].as_str().unwrap();
    let auth = actions["upload"]["header"]["Authorization"]
        .as_str()
        .unwrap();
    let path = href.trim_start_matches(&t.s.base);
    let host = t.s.base.trim_start_matches("http://");
    {
        use tokio::io::AsyncWriteExt;
        let mut conn = tokio::net::TcpStream::connect(host).await?;
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            bytes.len()
        );
        conn.write_all(head.as_bytes()).await?;
        conn.write_all(&bytes[..2500]).await?;
        conn.flush().await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    poll_until(CLEANED_UP, || async { t.staged() == 0 }).await;
    t.nothing_stored(&oid).await;

    // The right bytes are stored; then verify, and a download through the server.
    let (status, _) = t
        .act(&actions["upload"], reqwest::Method::PUT, bytes.clone())
        .await;
    assert_eq!(status, 200);
    assert!(t.stored(&oid).await);
    let (status, _) = t
        .act(
            &actions["verify"],
            reqwest::Method::POST,
            json!({"oid": oid, "size": bytes.len() + 1})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(status, 422, "a verify with the wrong size");
    assert!(t
        .upload_action("alice/p", &alice, &oid, bytes.len() as u64)
        .await
        .is_none());
    let (status, _, body) = t
        .batch(
            "alice/p",
            Some(&read_only),
            json!({"operation": "download", "objects": [{"oid": oid, "size": bytes.len()}]}),
        )
        .await;
    assert_eq!(status, 200);
    let download = &body["objects"][0]["actions"]["download"];
    let r = t
        .http
        .get(download["href"].as_str().unwrap())
        .header(
            "authorization",
            download["header"]["Authorization"].as_str().unwrap(),
        )
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await?.as_ref(), bytes.as_slice());
    // The download grant is for downloading that object only.
    let mut misuse = download.clone();
    misuse["href"] = json!(href);
    let (status, _) = t.act(&misuse, reqwest::Method::PUT, bytes.clone()).await;
    assert_eq!(status, 401);

    // The path without `.git` is the same API.
    let r = t
        .http
        .post(format!("{}/alice/p/info/lfs/objects/batch", t.s.base))
        .header("accept", LFS_JSON)
        .header("authorization", basic(&alice))
        .body(upload.to_string())
        .send()
        .await?;
    assert_eq!(r.status(), 200);

    // Archived: read-only. LFS off: every route answers 404.
    let id = project.id;
    let r =
        t.s.post_json(&format!("/projects/{id}/archive"), &alice, json!({}))
            .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (status, _, body) = t.batch("alice/p", Some(&alice), upload.clone()).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = t
        .act(&actions["upload"], reqwest::Method::PUT, bytes.clone())
        .await;
    assert_eq!(
        status, 403,
        "a grant does not outlive the project's archiving"
    );
    let r =
        t.s.post_json(&format!("/projects/{id}/unarchive"), &alice, json!({}))
            .await;
    assert_eq!(r.status, 201);
    let r =
        t.s.put_json(
            &format!("/projects/{id}"),
            &alice,
            json!({"lfs_enabled": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["lfs_enabled"], false);
    let (status, _, _) = t.batch("alice/p", Some(&alice), upload.clone()).await;
    assert_eq!(status, 404);
    let r = t
        .http
        .get(download["href"].as_str().unwrap())
        .header(
            "authorization",
            download["header"]["Authorization"].as_str().unwrap(),
        )
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    // Off from the start, through `POST /projects`.
    let r =
        t.s.post_json(
            "/projects",
            &alice,
            json!({"path": "off", "lfs_enabled": false}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["lfs_enabled"], false);
    let (status, _, _) = t.batch("alice/off", Some(&alice), upload.clone()).await;
    assert_eq!(status, 404);
    let r = t
        .http
        .get(format!("{}/alice/p.git/info/lfs/locks", t.s.base))
        .header("authorization", basic(&alice))
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lfs_protocol_errors() -> Result<()> {
    protocol_errors(TestServer::builder().start().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lfs_protocol_errors_postgres() -> Result<()> {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return Ok(());
    };
    protocol_errors(s).await
}

/// The size limits: an object above `--lfs-max-object-size` is a per-object 422 naming the
/// limit; a batch that would take a project past `--lfs-max-project-size` a whole-request 413
/// naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lfs_size_limits() -> Result<()> {
    let s = TestServer::builder()
        .tweak(|c| {
            c.lfs.max_object_size = 1000;
            c.lfs.max_project_size = 1500;
        })
        .start()
        .await;
    let t = Lfs::new(s);
    let alice = t.s.token("alice", false).await;
    t.s.api(&alice)
        .create_project_with(json!({"path": "p"}))
        .await;
    let (small, big) = (content(1, 900), content(2, 1001));
    let (status, _, body) = t
        .batch(
            "alice/p",
            Some(&alice),
            json!({"operation": "upload", "objects": [
                {"oid": sha256(&small), "size": small.len()},
                {"oid": sha256(&big), "size": big.len()},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let error = &body["objects"][1]["error"];
    assert_eq!(error["code"], 422);
    assert!(
        error["message"].as_str().unwrap().contains("1000 bytes"),
        "{error}"
    );
    let actions = t
        .upload_action("alice/p", &alice, &sha256(&small), 900)
        .await
        .unwrap();
    let (status, _) = t
        .act(&actions["upload"], reqwest::Method::PUT, small.clone())
        .await;
    assert_eq!(status, 200);
    let other = content(3, 700);
    let (status, _, body) = t
        .batch(
            "alice/p",
            Some(&alice),
            json!({"operation": "upload", "objects": [{"oid": sha256(&other), "size": 700}]}),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("1500 bytes"),
        "{body}"
    );
    // What the project already holds needs no room.
    assert!(t
        .upload_action("alice/p", &alice, &sha256(&small), 900)
        .await
        .is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lfs_protocol_errors_on_s3() -> Result<()> {
    let Some(s3) = MotoS3::start("lfs").await else {
        return Ok(());
    };
    let config = s3.config("lfs", false);
    let s = TestServer::builder()
        .tweak(move |c| c.lfs.s3 = Some(config))
        .start()
        .await;
    protocol_errors(s).await
}
