//! The "Remote mirror update failed" e-mail, against a real SMTP server on loopback: once per
//! failure streak (never for `to_retry`, never again while the streak lasts), to the project's
//! Maintainers and Owners only, with the masked URL and scrubbed error, and again after the URL
//! changes and the new one fails too.

use std::sync::Arc;

use crate::common::smtp::SmtpReceiver;
use crate::common::TestServer;
use pushmirror::clock::ManualClock;
use pushmirror::model::access::AccessLevel;
use serde_json::json;

const RETRY_DELAY_MS: i64 = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_streak_sends_one_email_to_maintainers() {
    let Some(smtp) = SmtpReceiver::start_or_skip() else {
        return;
    };
    let port = smtp.port;
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let s = TestServer::builder()
        .engine(false)
        .local_network(true)
        .clock(clock.clone())
        .tweak(move |c| {
            c.tuning.retry_delay_secs = 1;
            c.tuning.retry_delay_protected_secs = 1;
            c.smtp = pushmirror::config::parse_smtp(
                Some(format!("smtp://127.0.0.1:{port}").into()),
                Some("pushmirror@example.com".into()),
                "http://unused",
            )
            .unwrap();
        })
        .start()
        .await;
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
    let p = s.api(&root).create_project("watched").await;
    let store = &s.state.store;
    store
        .add_member(p.id, s.user_id("maint").await, AccessLevel::Maintainer, 1)
        .await
        .unwrap();
    store
        .add_member(p.id, s.user_id("dev").await, AccessLevel::Developer, 1)
        .await
        .unwrap();
    // Nothing listens on the discard port: every attempt fails to connect.
    let m = s
        .api(&root)
        .create_mirror_with(
            p.id,
            json!({"url": "http://bot:S3cret-pw@127.0.0.1:9/x.git", "enabled": true}),
        )
        .await;
    // A sync, then `n` runs a retry delay apart, then whatever is due (the e-mail).
    async fn streak(
        s: &TestServer,
        clock: &ManualClock,
        token: &str,
        project: i64,
        mirror: i64,
        n: usize,
    ) {
        s.api(token).sync(project, mirror).await;
        for _ in 0..n {
            s.run_pending().await;
            clock.advance(RETRY_DELAY_MS);
        }
        s.run_pending().await;
    }
    // The first attempt and three retries: `to_retry` three times (no e-mail), then `failed`.
    streak(&s, &clock, &root, p.id, m.id, 4).await;
    assert_eq!(
        s.api(&root).mirror(p.id, m.id).await.update_status,
        "failed"
    );
    let mails = smtp.mails();
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        ["maint@example.com", "root@example.com"],
        "Maintainers and Owners only"
    );
    for mail in &mails {
        assert!(
            mail.text.contains("watched | Remote mirror update failed"),
            "{}",
            mail.text
        );
        assert!(
            mail.text.contains("A remote mirror update has failed."),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("127.0.0.1:9/x.git"), "{}", mail.text);
        assert!(
            !mail.text.contains("S3cret-pw"),
            "the password never leaves: {}",
            mail.text
        );
        assert!(
            mail.text
                .contains("/-/settings/repository#js-mirror-settings"),
            "{}",
            mail.text
        );
        assert!(
            mail.text.contains("From: pushmirror@example.com"),
            "{}",
            mail.text
        );
    }

    // The streak goes on (a sync starts another round of retries, which fail again): nobody
    // is told twice.
    streak(&s, &clock, &root, p.id, m.id, 4).await;
    assert_eq!(
        s.api(&root).mirror(p.id, m.id).await.update_status,
        "failed"
    );
    assert_eq!(smtp.mails().len(), 2, "one e-mail per streak");

    // A new URL starts over; when it fails for good, the people are told again.
    s.api(&root)
        .update_mirror(p.id, m.id, json!({"url": "http://127.0.0.1:7/y.git"}))
        .await;
    streak(&s, &clock, &root, p.id, m.id, 4).await;
    assert_eq!(
        s.api(&root).mirror(p.id, m.id).await.update_status,
        "failed"
    );
    assert_eq!(smtp.mails().len(), 4, "a new streak after the URL changed");
}
