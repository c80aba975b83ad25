//! The SSH server's limits, each at a small setting: connections from one address that have not
//! authenticated are capped (the one over the cap is closed at once), a connection that does not
//! authenticate in time is closed, and one user's commands at once are capped with a message.

use std::io::Read as _;
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use super::{add_user_key, texts, SshClient};
use crate::common::{blocking, poll_until, TestServer};

/// Bound for the server to close a connection it must close.
const CLOSED: Duration = Duration::from_secs(20);

/// Whether the server closed `conn` (after its identification line, if it sent one) within
/// [`CLOSED`], reading what it sent.
fn closed_by_server(mut conn: TcpStream) -> (bool, Vec<u8>) {
    conn.set_read_timeout(Some(CLOSED)).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return (true, seen),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (true, seen),
            Err(_) => return (false, seen),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_limits_hold() {
    let server = TestServer::builder()
        .ssh(true)
        .tweak(|c| {
            c.ssh.max_unauthenticated_per_ip = 2;
            c.ssh.handshake_timeout = Duration::from_secs(2);
            c.ssh.max_sessions_per_user = 1;
        })
        .start()
        .await;
    let token = server.token("alice", false).await;
    let project = server.api(&token).create_project("p").await;
    let client = SshClient::new(&server);
    add_user_key(&server, "alice", &client).await;
    let port = server.ssh_port.unwrap();
    let path = project.path_with_namespace.clone();

    blocking(move || {
        // Two silent connections take the address's two places; the third is closed unheard.
        let first = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let second = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // Both are being served (the server sent its identification).
        for c in [&first, &second] {
            let mut line = [0u8; 8];
            let mut c = c.try_clone().unwrap();
            c.set_read_timeout(Some(CLOSED)).unwrap();
            c.read_exact(&mut line).unwrap();
            assert_eq!(&line, b"SSH-2.0-");
        }
        let third = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (closed, seen) = closed_by_server(third);
        assert!(closed && seen.is_empty(), "the third was served: {seen:?}");
        // The silent ones are closed once their time to authenticate is up.
        for c in [first, second] {
            let (closed, _) = closed_by_server(c);
            assert!(closed, "a silent connection outlived its handshake time");
        }

        // One command at a time for alice: a clone's upload-pack waits for the client while the
        // second command is refused with a message.
        let mut held = client
            .ssh_as(
                "git",
                &client.key_file(),
                &[],
                &[&format!("git-upload-pack '{path}'")],
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut banner = [0u8; 4];
        held.stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut banner)
            .unwrap();
        let out = client.ssh(&[], &[&format!("git-upload-pack '{path}'")]);
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("Too many concurrent sessions"), "{stderr}");
        drop(held.stdin.take());
        let _ = held.wait();
    })
    .await;
    let metrics = || async {
        reqwest::get(format!("{}/-/metrics", server.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let text = metrics().await;
    for limit in [
        "unauthenticated_per_ip",
        "handshake_timeout",
        "sessions_per_user",
    ] {
        let zero = format!("pushmirror_ssh_refused_total{{limit=\"{limit}\"}} 0");
        assert!(!text.contains(&zero), "{limit} not counted: {text}");
    }
    // Once the held session ended, alice may run a command again.
    let idle = poll_until(CLOSED, || async {
        metrics()
            .await
            .contains("pushmirror_ssh_sessions_in_flight 0")
    })
    .await;
    assert!(idle);
}
