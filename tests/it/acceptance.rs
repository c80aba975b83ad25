//! Acceptance: the real `pushmirror` binary (bootstrapped with `token create`, run with `serve`)
//! driven by python-gitlab 8.x through `tests/it/acceptance/python_gitlab_check.py`.
//! Skips with a printed reason when python-gitlab is missing, except under `CI=true`.

use std::process::Command;

use crate::common::binary::{create_token, ServerProcess};

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
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = create_token(&data, None, "root", true);
    let dev = create_token(&data, None, "dev", false);
    let server = ServerProcess::start(&data, None, &["--allow-local-network"], &[]);
    let url = server.base();
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
        "python-gitlab check failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log_tail()
    );
    assert!(stdout.contains("passed, 0 failed"), "{stdout}");
    // The secret never reached the database files.
    for entry in std::fs::read_dir(&data).unwrap() {
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
