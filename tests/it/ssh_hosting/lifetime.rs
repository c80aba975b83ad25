//! Load and loss: a burst of 100 clones by one user stays within the server's default limits,
//! and a push whose client is killed halfway through its pack leaves nothing behind: no git
//! process, no lock file, no quarantined objects, no moved ref, nothing recorded.

use std::path::Path;
use std::time::Duration;

use super::{add_user_key, commit_noise, metric, SshClient};
use crate::common::{
    blocking, poll_for, poll_until, processes_with_home, refs_of, TestServer, Work,
};

/// Clones in the burst.
const BURST: usize = 100;

/// Bound for a killed session's git to go and its push session to finish.
const CLEANED_UP: Duration = Duration::from_secs(20);

async fn burst_of_clones(server: TestServer) {
    let token = server.token("alice", false).await;
    let project = server.api(&token).create_project("popular").await;
    let client = SshClient::new(&server);
    add_user_key(&server, "alice", &client).await;
    let url = client.url(&project.path_with_namespace);
    let failures = blocking(move || {
        let work = Work::new();
        let head = work.commit("popular");
        client
            .git(work.path(), &["push", "-q", &url, "main"])
            .expect("push");
        let dir = tempfile::tempdir().unwrap();
        // All at once: every process is started before any is waited for.
        let children: Vec<_> = (0..BURST)
            .map(|i| {
                client
                    .git_command(dir.path(), &["clone", "-q", &url, &format!("c{i}")])
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn git clone")
            })
            .collect();
        let mut failures = Vec::new();
        for (i, child) in children.into_iter().enumerate() {
            let out = child.wait_with_output().unwrap();
            if !out.status.success() {
                failures.push(format!(
                    "clone {i}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
                continue;
            }
            let cloned = dir.path().join(format!("c{i}"));
            let got = client.git(&cloned, &["rev-parse", "HEAD"]).unwrap();
            if got != head {
                failures.push(format!("clone {i} has {got}"));
            }
        }
        failures
    })
    .await;
    assert!(
        failures.is_empty(),
        "{} clones failed: {failures:#?}",
        failures.len()
    );
    for limit in [
        "unauthenticated_per_ip",
        "handshake_timeout",
        "sessions_per_user",
    ] {
        let refused = metric(
            &server,
            &format!("pushmirror_ssh_refused_total{{limit=\"{limit}\"}}"),
        )
        .await;
        assert_eq!(refused, 0.0, "{limit}");
    }
    assert!(
        metric(&server, "pushmirror_ssh_auth_total{result=\"accepted\"}").await >= BURST as f64
    );
    let idle = poll_until(CLEANED_UP, || async {
        metric(&server, "pushmirror_ssh_sessions_in_flight").await == 0.0
    })
    .await;
    assert!(idle, "sessions still counted in flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_ssh_clones_sqlite() {
    burst_of_clones(TestServer::builder().ssh(true).start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_ssh_clones_postgres() {
    let Some(server) = TestServer::builder().ssh(true).postgres().start().await else {
        return;
    };
    burst_of_clones(server).await;
}

/// Every `*.lock` file and quarantine directory under `repo`.
fn leftovers(repo: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![repo.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".lock") || name.contains("incoming") {
                found.push(path.display().to_string());
            }
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found
}

async fn killed_push(server: TestServer) {
    let token = server.token("alice", false).await;
    let project = server.api(&token).create_project("fragile").await;
    let client = SshClient::new(&server);
    add_user_key(&server, "alice", &client).await;
    let url = client.url(&project.path_with_namespace);
    let repo = server.repo_path(project.id);
    let work = blocking({
        let url = url.clone();
        let client_dir = client.dir().to_owned();
        let ssh = client.git_ssh_command();
        move || {
            let work = Work::new();
            work.commit("base");
            let status = std::process::Command::new("git")
                .args(["push", "-q", &url, "main"])
                .current_dir(work.path())
                .env("HOME", client_dir.join("home"))
                .env("GIT_SSH_COMMAND", &ssh)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .status()
                .unwrap();
            assert!(status.success());
            commit_noise(&work, 16);
            work
        }
    })
    .await;
    let before = refs_of(&repo);
    let jobs_before = metric(&server, "pushmirror_jobs").await;
    let mut push = client.slow_push(work.path(), &url, "main:big");
    // The pack is flowing once receive-pack proper (not its advertisement) runs and has its
    // quarantine for the incoming objects.
    let home = server.data_dir().join("git-home");
    let receiving = || {
        processes_with_home(&home)
            .into_iter()
            .any(|(_, cmd)| cmd.contains("receive-pack") && !cmd.contains("--advertise-refs"))
            && !leftovers(&repo).is_empty()
    };
    let started = poll_until(CLEANED_UP, || async { receiving() }).await;
    // The client, its ssh, its pack-objects and the relay, all at once.
    // SAFETY: kill(2) has no memory-safety preconditions; the group is the push's own.
    unsafe { libc::kill(-(push.id() as i32), libc::SIGKILL) };
    let _ = push.wait();
    assert!(started, "receive-pack never started");
    let gone = poll_until(CLEANED_UP, || async {
        processes_with_home(&home).is_empty()
    })
    .await;
    assert!(
        gone,
        "git outlived the session: {:?}",
        processes_with_home(&home)
    );
    // The session finished: its intent is gone, and nothing was queued for the push.
    let jobs = poll_for(
        CLEANED_UP,
        || async { metric(&server, "pushmirror_jobs").await },
        |n| *n == jobs_before,
    )
    .await;
    assert!(jobs.is_ok(), "jobs: {jobs:?}, before {jobs_before}");
    assert_eq!(refs_of(&repo), before, "a ref moved");
    assert_eq!(leftovers(&repo), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_killed_midway_leaves_nothing_sqlite() {
    killed_push(TestServer::builder().ssh(true).start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_killed_midway_leaves_nothing_postgres() {
    let Some(server) = TestServer::builder().ssh(true).postgres().start().await else {
        return;
    };
    killed_push(server).await;
}
