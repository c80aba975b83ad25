//! A pull mirror's health is never silent: against a real upstream (`git http-backend` with
//! Basic auth on loopback), a real webhook receiver and a real SMTP server, on both databases.
//! The upstream's repository goes away: one `pull_mirror_failed` delivery and one e-mail to the
//! Maintainers and Owners (masked URL, the error); the retries that follow announce nothing
//! until the mirror is paused (`pull_mirror_paused`); the repository comes back and a sync
//! recovers it (`pull_mirror_recovered`); a healthy sync is no news; a force-push upstream
//! leaves `main` diverged, which begins a new streak whose e-mail names the ref. The syncs are
//! counted in `pushmirror_pull_syncs_total`.
//!
//! The mirror is configured and synced through GitLab's API (`PUT`/`POST
//! /projects/:id/mirror/pull`), with the queue drained by hand on a manual clock and the
//! scheduled retries by the due sweep, as the engine tests do.

use std::sync::Arc;

use crate::common::smtp::SmtpReceiver;
use crate::common::{blocking, Receiver, TestServer, Work};
use crate::remotes::GitHttpRemote;
use pushmirror::clock::ManualClock;
use pushmirror::model::access::AccessLevel;
use pushmirror::service::pull_mirrors::enqueue_due;
use serde_json::{json, Value};

/// The time of the manual clock (2027).
const T0: i64 = 1_800_000_000_000;
/// `--retry-delay-secs` here: the first retry is due this long after a failure, then doubling.
const RETRY_MS: i64 = 1_000;
/// `--pull-mirror-max-failures` here: the third failure in a row pauses the mirror.
const MAX_FAILURES: u64 = 3;
const USER: &str = "puller";
const PASSWORD: &str = "Pu11-S3cret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_mirrors_health_is_announced_on_sqlite() {
    let Some(smtp) = SmtpReceiver::start_or_skip() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(T0));
    let s = builder(&smtp, clock.clone()).start().await;
    health_is_announced(s, smtp, clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_mirrors_health_is_announced_on_postgresql() {
    let Some(smtp) = SmtpReceiver::start_or_skip() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(T0));
    let Some(s) = builder(&smtp, clock.clone()).postgres().start().await else {
        return;
    };
    health_is_announced(s, smtp, clock).await;
}

fn builder(smtp: &SmtpReceiver, clock: Arc<ManualClock>) -> crate::common::Builder {
    let port = smtp.port;
    TestServer::builder()
        .local_network(true)
        .clock(clock)
        .tweak(move |c| {
            c.tuning.retry_delay_secs = (RETRY_MS / 1000) as u64;
            c.tuning.pull_mirror_max_failures = MAX_FAILURES;
            c.smtp = pushmirror::config::parse_smtp(
                Some(format!("smtp://127.0.0.1:{port}").into()),
                Some("pushmirror@example.com".into()),
                "http://unused",
            )
            .unwrap();
        })
}

/// The server, its project with its pull mirror, the upstream, and what listens.
struct Fixture {
    s: TestServer,
    clock: Arc<ManualClock>,
    root: String,
    project: crate::common::api::Project,
    upstream: GitHttpRemote,
    /// The upstream's history, pushed over smart HTTP.
    work: Arc<Work>,
    receiver: Receiver,
    smtp: SmtpReceiver,
}

impl Fixture {
    /// Drains the queue: the sync, then its deliveries and e-mail.
    async fn run(&self) {
        self.s.run_pending().await;
        self.s.run_pending().await;
    }

    /// `POST /projects/:id/mirror/pull`, then the queue drained.
    async fn sync_now(&self) {
        let r = self
            .s
            .post_json(
                &format!("/projects/{}/mirror/pull", self.project.id),
                &self.root,
                json!({}),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        self.run().await;
    }

    /// The scheduled retry: the clock moves `ms` on, the due sweep runs, the queue drains.
    async fn retry_after(&self, ms: i64) -> usize {
        self.clock.advance(ms);
        let queued = enqueue_due(&self.s.state).await.expect("the due sweep");
        self.run().await;
        queued
    }

    async fn mirror(&self) -> pushmirror::model::pull::PullMirror {
        self.s
            .state
            .store
            .pull_mirror(self.project.id)
            .await
            .unwrap()
            .expect("the pull mirror")
    }

    /// Commits `message` upstream and pushes `refspec`; the new commit.
    async fn upstream_commit(&self, message: &str, refspec: &str) -> String {
        let (w, url) = (
            self.work.clone(),
            self.upstream.url_with_credentials("up", USER, PASSWORD),
        );
        let (message, refspec) = (message.to_owned(), refspec.to_owned());
        blocking(move || {
            let id = w.commit(&message);
            w.push(&url, &[&refspec]);
            id
        })
        .await
    }

    /// The project's `main`, as the API shows it.
    async fn main_here(&self) -> String {
        let r = self
            .s
            .get(
                &format!("/projects/{}/repository/branches/main", self.project.id),
                &self.root,
            )
            .await;
        let refs = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(self.s.repo_path(self.project.id))
            .args(["for-each-ref"])
            .output()
            .unwrap();
        assert_eq!(
            r.status,
            200,
            "{} {}",
            r.text,
            String::from_utf8_lossy(&refs.stdout)
        );
        r.body["commit"]["id"].as_str().unwrap().to_owned()
    }

    async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(format!("{}/-/metrics", self.s.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0.0, |v| v.parse().unwrap())
    }
}

async fn setup(s: TestServer, smtp: SmtpReceiver, clock: Arc<ManualClock>) -> Fixture {
    let root = s.token("root", true).await;
    for name in ["maint", "dev"] {
        s.token(name, false).await;
    }
    for name in ["root", "maint", "dev"] {
        let id = s.user_id(name).await;
        let r = s
            .put_json(
                &format!("/users/{id}"),
                &root,
                json!({"email": format!("{name}@example.com")}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let project = s.api(&root).create_project("relay").await;
    let store = &s.state.store;
    store
        .add_member(
            project.id,
            s.user_id("maint").await,
            AccessLevel::Maintainer,
            1,
        )
        .await
        .unwrap();
    store
        .add_member(
            project.id,
            s.user_id("dev").await,
            AccessLevel::Developer,
            1,
        )
        .await
        .unwrap();
    let receiver = Receiver::start().await;
    let r = s
        .post_json(
            &format!("/projects/{}/hooks", project.id),
            &root,
            json!({"url": receiver.url("/health"), "push_events": false, "remote_mirror_events": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let upstream = GitHttpRemote::start(Some((USER, PASSWORD))).await;
    let url = upstream.create_repo("up");
    let fx = Fixture {
        s,
        clock,
        root,
        project,
        upstream,
        work: Arc::new(Work::new()),
        receiver,
        smtp,
    };
    fx.upstream_commit("one", "main").await;
    let r =
        fx.s.put_json(
            &format!("/projects/{}/mirror/pull", fx.project.id),
            &fx.root,
            json!({"enabled": true, "url": url, "auth_user": USER, "auth_password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    fx
}

/// The one delivery at `index`, checked as a pull-mirror event named `event`; its mirror object.
fn event(got: &[crate::common::Received], index: usize, event: &str) -> Value {
    let r = &got[index];
    assert_eq!(r.header("X-Gitlab-Event"), "Remote Mirror Hook");
    let b = &r.body;
    assert_eq!(b["object_kind"], "pull_mirror", "{b}");
    assert_eq!(b["event_name"], event, "{b}");
    assert!(b["project"]["id"].is_i64(), "{b}");
    assert!(!b.to_string().contains(PASSWORD), "{b}");
    b["pull_mirror"].clone()
}

async fn health_is_announced(s: TestServer, smtp: SmtpReceiver, clock: Arc<ManualClock>) {
    let fx = setup(s, smtp, clock).await;
    let masked = format!("http://*****:*****@127.0.0.1:{}/up.git", fx.upstream.port());

    // The first sync of a new mirror succeeds: no news.
    fx.run().await;
    let m = fx.mirror().await;
    assert_eq!(m.update_status.as_str(), "finished", "{:?}", m.last_error);
    assert_eq!(
        fx.main_here().await,
        fx.upstream.refs("up")["refs/heads/main"]
    );
    assert!(fx.receiver.requests().is_empty());
    assert!(fx.smtp.mails().is_empty());

    // The upstream's repository goes away: the first failure is announced once, and e-mailed
    // to the Maintainers and Owners.
    let path = fx.upstream.repo_path("up");
    let aside = path.with_extension("away");
    std::fs::rename(&path, &aside).unwrap();
    fx.sync_now().await;
    let m = fx.mirror().await;
    assert_eq!(
        (m.update_status.as_str(), m.failures),
        ("to_retry", 1),
        "{m:?}"
    );
    let got = fx.receiver.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    let pm = event(&got, 0, "pull_mirror_failed");
    assert_eq!(pm["id"], m.id);
    assert_eq!(pm["url"], masked);
    assert_eq!(pm["enabled"], true);
    assert_eq!(pm["update_status"], "to_retry");
    assert_eq!(pm["paused"], false);
    assert_eq!(pm["diverged_refs"], json!([]));
    assert!(pm["last_successful_update_at"].is_string(), "{pm}");
    let error = pm["last_error"].as_str().expect("an error").to_owned();
    assert!(!error.is_empty());
    let mails = fx.smtp.mails();
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        ["maint@example.com", "root@example.com"],
        "Maintainers and Owners only"
    );
    for mail in &mails {
        assert!(
            mail.text.contains("relay | Pull mirror update failed"),
            "{}",
            mail.text
        );
        assert!(
            mail.text.contains(&format!("Pull mirror from: {masked}")),
            "{}",
            mail.text
        );
        // The e-mail's lines end in CRLF; the error's first line is enough.
        let first_line = error.lines().next().unwrap();
        assert!(mail.text.contains(first_line), "{}", mail.text);
        assert!(!mail.text.contains(PASSWORD), "{}", mail.text);
        assert!(!mail.text.contains("Diverged refs"), "{}", mail.text);
    }

    // The scheduled retries fail too: nothing new until the third failure pauses the mirror.
    assert_eq!(fx.retry_after(RETRY_MS).await, 1);
    let m = fx.mirror().await;
    assert_eq!((m.update_status.as_str(), m.failures), ("to_retry", 2));
    assert_eq!(fx.receiver.requests().len(), 1);
    assert_eq!(fx.retry_after(2 * RETRY_MS).await, 1);
    let m = fx.mirror().await;
    assert!(m.paused, "{m:?}");
    assert_eq!(m.update_status.as_str(), "failed");
    let got = fx.receiver.requests();
    assert_eq!(got.len(), 2, "{got:?}");
    let pm = event(&got, 1, "pull_mirror_paused");
    assert_eq!(
        (&pm["paused"], &pm["update_status"]),
        (&json!(true), &json!("failed"))
    );
    assert_eq!(fx.smtp.mails().len(), 2, "one e-mail per streak");
    // Paused: the schedule leaves it alone.
    assert_eq!(fx.retry_after(3_600_000).await, 0);

    // The repository is back and has moved on; a sync resumes the mirror, which recovers.
    std::fs::rename(&aside, &path).unwrap();
    let two = fx.upstream_commit("two", "main").await;
    fx.sync_now().await;
    let m = fx.mirror().await;
    assert_eq!(
        (m.update_status.as_str(), m.paused, m.last_error.as_deref()),
        ("finished", false, None)
    );
    assert_eq!(fx.main_here().await, two);
    let got = fx.receiver.requests();
    assert_eq!(got.len(), 3, "{got:?}");
    let pm = event(&got, 2, "pull_mirror_recovered");
    assert_eq!(pm["update_status"], "finished");
    assert_eq!(pm["last_error"], Value::Null);
    assert_eq!(pm["paused"], false);
    assert_ne!(
        got[0].header("Idempotency-Key"),
        got[2].header("Idempotency-Key")
    );
    assert_eq!(fx.smtp.mails().len(), 2);

    // A healthy mirror's sync is no news.
    let three = fx.upstream_commit("three", "main").await;
    fx.sync_now().await;
    assert_eq!(fx.main_here().await, three);
    assert_eq!(fx.receiver.requests().len(), 3);

    // The upstream rewrites `main`: the sync skips it as diverged, a new streak by name.
    let rewritten = {
        let (w, url) = (
            fx.work.clone(),
            fx.upstream.url_with_credentials("up", USER, PASSWORD),
        );
        blocking(move || {
            w.git(&["reset", "-q", "--hard", "HEAD~2"]);
            let id = w.commit("rewritten");
            w.push(&url, &["+main"]);
            id
        })
        .await
    };
    fx.sync_now().await;
    let m = fx.mirror().await;
    assert_eq!(m.update_status.as_str(), "finished");
    assert_eq!(m.diverged_refs, ["refs/heads/main"]);
    assert_eq!(fx.main_here().await, three, "a diverged ref stays");
    assert_ne!(rewritten, three);
    let got = fx.receiver.requests();
    assert_eq!(got.len(), 4, "{got:?}");
    let pm = event(&got, 3, "pull_mirror_failed");
    assert_eq!(pm["diverged_refs"], json!(["refs/heads/main"]));
    assert!(
        pm["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("main")),
        "{pm}"
    );
    let mails = fx.smtp.mails();
    assert_eq!(mails.len(), 4, "a new streak, a new e-mail");
    for mail in &mails[2..] {
        assert!(mail.text.contains("Diverged refs"), "{}", mail.text);
        assert!(mail.text.contains("  refs/heads/main"), "{}", mail.text);
    }

    // Every sync counted once, by result.
    let count = |r: &str| format!("pushmirror_pull_syncs_total{{result=\"{r}\"}}");
    assert_eq!(fx.metric(&count("finished")).await, 3.0);
    assert_eq!(fx.metric(&count("to_retry")).await, 2.0);
    assert_eq!(fx.metric(&count("failed")).await, 1.0);
    assert_eq!(fx.metric(&count("diverged")).await, 1.0);
    assert_eq!(
        fx.metric("pushmirror_pull_sync_duration_seconds_count")
            .await,
        7.0
    );
}
