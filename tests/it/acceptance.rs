//! Acceptance: the real `pushmirror` binary (bootstrapped with `token create`, run with `serve`)
//! driven by python-gitlab 8.x through `tests/it/acceptance/python_gitlab_check.py`.
//! Skips with a printed reason when python-gitlab is missing, except under `CI=true`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn token(data: &std::path::Path, user: &str, admin: bool) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pushmirror"));
    cmd.args(["token", "create", "--username", user, "--data-dir"])
        .arg(data);
    if admin {
        cmd.arg("--admin");
    }
    let out = cmd.output().expect("run pushmirror token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Whether the server on `port` answers an API request (with its 401 for no token).
fn answers_http(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    if conn
        .write_all(b"GET /api/v4/version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 401")
}

fn python_gitlab_available() -> bool {
    Command::new("python3")
        .args([
            "-c",
            "import gitlab, sys; sys.exit(0 if int(gitlab.__version__.split('.')[0]) >= 8 else 1)",
        ])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn python_gitlab_drives_the_real_server() {
    if !python_gitlab_available() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python-gitlab 8.x is required under CI (pip install 'python-gitlab>=8')"
        );
        eprintln!("SKIPPED: python-gitlab 8.x not installed (pip install 'python-gitlab>=8')");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let admin = token(data.path(), "root", true);
    let dev = token(data.path(), "dev", false);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_pushmirror"))
            .args(["serve", "--allow-local-network", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("start pushmirror serve"),
    );
    // Ready means answering HTTP (the port is bound before the database is opened).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answers_http(port) {
        assert!(Instant::now() < deadline, "server did not start answering");
        std::thread::sleep(Duration::from_millis(50));
    }
    let secret = format!("S3cr3t-{}", std::process::id());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/acceptance/python_gitlab_check.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .env("GITLAB_URL", &url)
        .env("ADMIN_TOKEN", &admin)
        .env("DEV_TOKEN", &dev)
        .env("DEV_USERNAME", "dev")
        .env("SECRET", &secret)
        // Nothing listens on the discard port: the synced mirror fails, which is all this needs.
        .env("LOOPBACK_REMOTE", "http://127.0.0.1:9/nothing.git")
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python-gitlab check failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("passed, 0 failed"), "{stdout}");
    // The secret never reached the database files.
    for entry in std::fs::read_dir(data.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds the plain-text secret",
                path.display()
            );
        }
    }
}
