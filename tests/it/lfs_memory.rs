//! A large LFS object streams through the real binary in bounded memory: a 1 GiB upload and its
//! download keep the server's peak resident set within 64 MB of its idle one (the kernel's own
//! high-water mark, `VmHWM`, reset before each transfer through `/proc/<pid>/clear_refs`).

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::binary::{create_admin_token, ServerProcess};

/// The object: 1 GiB, as the issue names it.
const SIZE: u64 = 1 << 30;
/// One block of the object; each block differs by its index so the object is not one
/// repeated block.
const BLOCK: usize = 1 << 20;
/// How much more than idle the server may hold while a transfer runs.
const HEADROOM_KB: u64 = 64 * 1024;

fn block(i: u64) -> Vec<u8> {
    let mut b = vec![(i % 251) as u8; BLOCK];
    b[..8].copy_from_slice(&i.to_le_bytes());
    b
}

fn blocks() -> impl Iterator<Item = Vec<u8>> {
    (0..SIZE / BLOCK as u64).map(block)
}

/// A `kB` line of `/proc/<pid>/status`.
fn status_kb(pid: i32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Sends a request over one connection (`body` streamed as it is generated) and reads the
/// response's head: its status and the connection, positioned at the body.
async fn request(
    base: &str,
    method: &str,
    href: &str,
    authorization: &str,
    body: Option<&mut dyn Iterator<Item = Vec<u8>>>,
) -> (u16, Vec<u8>, TcpStream) {
    let host = base.trim_start_matches("http://");
    let path = href.trim_start_matches(base);
    let mut conn = TcpStream::connect(host).await.unwrap();
    let length = if body.is_some() { SIZE } else { 0 };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {authorization}\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    if let Some(body) = body {
        for b in body {
            conn.write_all(&b).await.unwrap();
        }
    }
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let end = loop {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "the connection closed before the response's head");
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let status = std::str::from_utf8(&got[9..12]).unwrap().parse().unwrap();
    (status, got[end..].to_vec(), conn)
}

fn reset_peak(pid: i32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_gib_object_streams_through_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = create_admin_token(&data, None);
    let server = ServerProcess::start(&data, None, &["--api-only"], &[]);
    let project = server.api(&token).create_project("big").await;
    let mut hasher = Sha256::new();
    for b in blocks() {
        hasher.update(&b);
    }
    let oid = hex::encode(hasher.finalize());
    let http = reqwest::Client::new();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("root:{token}"))
    );
    let batch = |op: &str| {
        http.post(format!(
            "{}/{}.git/info/lfs/objects/batch",
            server.base(),
            project.path_with_namespace
        ))
        .header("accept", "application/vnd.git-lfs+json")
        .header("authorization", &auth)
        .body(json!({"operation": op, "objects": [{"oid": oid, "size": SIZE}]}).to_string())
    };
    let answer: Value = batch("upload").send().await.unwrap().json().await.unwrap();
    let upload = answer["objects"][0]["actions"]["upload"].clone();

    let pid = server.pid();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle = status_kb(pid, "VmRSS:");
    reset_peak(pid);
    let started = std::time::Instant::now();
    let base = server.base();
    let (status, _, _) = request(
        &base,
        "PUT",
        upload["href"].as_str().unwrap(),
        upload["header"]["Authorization"].as_str().unwrap(),
        Some(&mut blocks()),
    )
    .await;
    assert_eq!(status, 200);
    let peak = status_kb(pid, "VmHWM:");
    // A figure for people, never asserted.
    eprintln!(
        "upload of {SIZE} bytes in {:?}: idle {idle} kB, peak {peak} kB",
        started.elapsed()
    );
    assert!(
        peak <= idle + HEADROOM_KB,
        "upload: peak RSS {peak} kB, idle {idle} kB"
    );

    let answer: Value = batch("download")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let download = answer["objects"][0]["actions"]["download"].clone();
    let idle = status_kb(pid, "VmRSS:");
    reset_peak(pid);
    let started = std::time::Instant::now();
    let (status, first, mut conn) = request(
        &base,
        "GET",
        download["href"].as_str().unwrap(),
        download["header"]["Authorization"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (mut got, mut hasher) = (first.len() as u64, Sha256::new());
    hasher.update(&first);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = conn.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got += n as u64;
        hasher.update(&buf[..n]);
    }
    assert_eq!(got, SIZE);
    assert_eq!(hex::encode(hasher.finalize()), oid);
    let peak = status_kb(pid, "VmHWM:");
    eprintln!(
        "download of {SIZE} bytes in {:?}: idle {idle} kB, peak {peak} kB",
        started.elapsed()
    );
    assert!(
        peak <= idle + HEADROOM_KB,
        "download: peak RSS {peak} kB, idle {idle} kB"
    );
}
