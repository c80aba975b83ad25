//! Project webhooks end to end: GitLab's hooks API (shapes, errors, permissions, write-only
//! secrets), push and tag push events from real `git push`es, the remote-mirror failure and
//! recovery events across a streak of retries (manual clock, queue drained by hand), GitLab's
//! auto-disabling and re-enabling, the test and resend endpoints, the URL network rules, and
//! deliveries that survive `kill -9`. Every delivery goes to a real HTTP receiver on loopback.

use crate::common;
use crate::remotes;

use std::sync::Arc;
use std::time::Duration;

use common::binary::{create_admin_token, ServerProcess};
use common::{
    blocking, contains_bytes, read_all_files, PostgresDb, Received, Receiver, TestServer, Work,
};
use pushmirror::clock::ManualClock;
use remotes::GitDaemonRemote;
use serde_json::{json, Value};

/// Bound for deliveries to arrive when the engine runs them: one takes milliseconds.
const ARRIVE: Duration = Duration::from_secs(30);

/// A hook token and a custom header value: write-only secrets the tests look for everywhere.
const TOKEN: &str = "hook-T0ken-5ecret";
const HEADER_SECRET: &str = "hdr-5ecret-value";
const VARIABLE_SECRET: &str = "var-5ecret-path";

/// The time of the manual-clock tests (2027).
const T0: i64 = 1_800_000_000_000;

/// A server (local network allowed, so hooks may point at the receiver) with an admin `root`,
/// its project `origin`, and the push URL.
struct Fixture {
    server: TestServer,
    root: String,
    project: i64,
    push_url: String,
}

impl Fixture {
    async fn on(server: TestServer) -> Fixture {
        let root = server.token("root", true).await;
        let project = server.api(&root).create_project("origin").await;
        Fixture {
            push_url: server.push_url(&root, &project.path_with_namespace),
            project: project.id,
            root,
            server,
        }
    }

    async fn new() -> Fixture {
        Self::on(TestServer::builder().local_network(true).start().await).await
    }

    async fn on_clock(clock: Arc<ManualClock>) -> Fixture {
        Self::on(
            TestServer::builder()
                .local_network(true)
                .clock(clock)
                .start()
                .await,
        )
        .await
    }

    fn hooks_path(&self) -> String {
        format!("/projects/{}/hooks", self.project)
    }

    /// Creates a hook with `body`, which must succeed; its JSON.
    async fn hook(&self, body: Value) -> Value {
        let r = self
            .server
            .post_json(&self.hooks_path(), &self.root, body)
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body
    }

    async fn get_hook(&self, id: i64) -> Value {
        let r = self
            .server
            .get(&format!("{}/{id}", self.hooks_path()), &self.root)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body
    }

    async fn put_hook(&self, id: i64, body: Value) -> Value {
        let r = self
            .server
            .put_json(&format!("{}/{id}", self.hooks_path()), &self.root, body)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body
    }

    /// Pushes `refspecs` of `work` and waits until the server recorded the push (its intent is
    /// gone): git's success comes before the recording, which runs once receive-pack exited.
    async fn push(&self, work: &Arc<Work>, refspecs: &[&str]) {
        push(work, &self.push_url, refspecs).await;
        let pool = self.server.state.store.pool();
        let recorded = common::poll_until(ARRIVE, || async {
            let n: i64 = sqlx::query_scalar("select count(*) from jobs where kind = 'record_push'")
                .fetch_one(pool)
                .await
                .unwrap();
            n == 0
        })
        .await;
        assert!(recorded, "the push was never recorded");
    }

    async fn events(&self, id: i64) -> Vec<Value> {
        let r = self
            .server
            .get(&format!("{}/{id}/events", self.hooks_path()), &self.root)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body.as_array().cloned().unwrap_or_default()
    }
}

/// Pushes `refspecs` of `work` to `url` with the real git.
async fn push(work: &Arc<Work>, url: &str, refspecs: &[&str]) {
    let (w, url) = (work.clone(), url.to_owned());
    let specs: Vec<String> = refspecs.iter().map(|s| s.to_string()).collect();
    blocking(move || {
        let refs: Vec<&str> = specs.iter().map(String::as_str).collect();
        w.push(&url, &refs)
    })
    .await
}

/// Makes commits on `work`; their ids, oldest first.
async fn commits(work: &Arc<Work>, messages: &[&str]) -> Vec<String> {
    let w = work.clone();
    let messages: Vec<String> = messages.iter().map(|s| s.to_string()).collect();
    blocking(move || messages.iter().map(|m| w.commit(m)).collect()).await
}

fn by_event<'a>(got: &'a [Received], event: &str) -> Vec<&'a Received> {
    got.iter()
        .filter(|r| r.header("X-Gitlab-Event") == event)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_hooks_api_on_sqlite() {
    the_hooks_api(Fixture::new().await).await;
}

#[tokio::test]
async fn the_hooks_api_on_postgresql() {
    let Some(server) = TestServer::builder()
        .local_network(true)
        .postgres()
        .start()
        .await
    else {
        return;
    };
    the_hooks_api(Fixture::on(server).await).await;
}

/// Create, read, list, edit and delete with GitLab's shapes; Maintainer+ only (a Developer gets
/// 403, a stranger to a private project 404, no token 401); GitLab's error answers; the token,
/// the custom header values and the url_variables never come back, and are sealed at rest.
async fn the_hooks_api(fx: Fixture) {
    let receiver = Receiver::start().await;
    let s = &fx.server;
    let url = receiver.url("/hook/{secret}");
    let created = fx
        .hook(json!({
            "url": url,
            "name": "ci",
            "description": "tells CI",
            "token": TOKEN,
            "tag_push_events": true,
            "remote_mirror_events": true,
            "push_events_branch_filter": "release/*",
            "custom_headers": [{"key": "X-Secret", "value": HEADER_SECRET}],
            "url_variables": [{"key": "secret", "value": VARIABLE_SECRET}],
        }))
        .await;
    let id = created["id"].as_i64().unwrap();
    for (field, want) in [
        ("url", json!(url)),
        ("name", json!("ci")),
        ("description", json!("tells CI")),
        ("project_id", json!(fx.project)),
        ("push_events", json!(true)),
        ("tag_push_events", json!(true)),
        ("remote_mirror_events", json!(true)),
        ("issues_events", json!(false)),
        ("merge_requests_events", json!(false)),
        ("enable_ssl_verification", json!(true)),
        ("alert_status", json!("executable")),
        ("disabled_until", Value::Null),
        ("push_events_branch_filter", json!("release/*")),
        ("branch_filter_strategy", json!("wildcard")),
        ("url_variables", json!([{"key": "secret"}])),
        ("custom_headers", json!([{"key": "X-Secret"}])),
    ] {
        assert_eq!(created[field], want, "{field} in {created}");
    }
    assert!(created.get("token").is_none(), "{created}");
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(fx.get_hook(id).await, created);
    let list = s.get(&fx.hooks_path(), &fx.root).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.header("x-total"), "1");
    let listed = &list.body[0];
    assert_eq!(listed["id"], id);
    assert!(listed.get("url_variables").is_none() && listed.get("custom_headers").is_none());

    // Who may: Maintainers (and admins); a Developer is refused, a stranger sees no project.
    let dev = s.token("dev", false).await;
    let maintainer = s.token("maint", false).await;
    let stranger = s.token("stranger", false).await;
    let api = s.api(&fx.root);
    api.add_member(fx.project, s.user_id("dev").await, 30).await;
    api.add_member(fx.project, s.user_id("maint").await, 40)
        .await;
    let one = format!("{}/{id}", fx.hooks_path());
    for (token, status) in [(&dev, 403), (&stranger, 404), (&maintainer, 200)] {
        assert_eq!(s.get(&one, token).await.status, status);
        assert_eq!(s.get(&fx.hooks_path(), token).await.status, status);
    }
    let r = s
        .post_json(&fx.hooks_path(), &dev, json!({"url": receiver.url("/x")}))
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (403, json!({"message": "403 Forbidden"}))
    );
    let r = s.get(&one, &stranger).await;
    assert_eq!(r.body, json!({"message": "404 Project Not Found"}));
    let r = s.request("GET", &one, None, common::Body::None).await;
    assert_eq!(r.status, 401);

    // GitLab's errors.
    let cases: Vec<(&str, String, Value, u16, Value)> = vec![
        (
            "POST",
            fx.hooks_path(),
            json!({}),
            400,
            json!({"error": "url is missing"}),
        ),
        (
            "POST",
            fx.hooks_path(),
            json!({"url": "ftp://127.0.0.1/x"}),
            422,
            json!({"message": "Invalid url given"}),
        ),
        (
            "POST",
            fx.hooks_path(),
            json!({"url": receiver.url("/{missing}")}),
            422,
            json!({"message": "Invalid url given"}),
        ),
        (
            "POST",
            fx.hooks_path(),
            json!({"url": receiver.url("/x"), "push_events_branch_filter": "bad..name"}),
            422,
            json!({"message": "Invalid branch filter given"}),
        ),
        (
            "POST",
            fx.hooks_path(),
            json!({"url": receiver.url("/x"), "branch_filter_strategy": "regex", "push_events_branch_filter": "("}),
            422,
            json!({"message": "Invalid branch filter given"}),
        ),
        (
            "POST",
            fx.hooks_path(),
            json!({"url": receiver.url("/x"), "branch_filter_strategy": "glob"}),
            400,
            json!({"error": "branch_filter_strategy does not have a valid value"}),
        ),
        (
            "POST",
            fx.hooks_path(),
            json!({"url": receiver.url("/x"), "push_events": "maybe"}),
            400,
            json!({"error": "push_events is invalid"}),
        ),
        (
            "POST",
            fx.hooks_path(),
            json!({"url": receiver.url("/x"), "custom_headers": [{"key": "Bad Name", "value": "v"}]}),
            422,
            json!({"message": "Custom headers must be a valid json schema"}),
        ),
        (
            "POST",
            fx.hooks_path(),
            json!({"url": receiver.url("/x"), "custom_headers": [{"key": "X-A"}]}),
            400,
            json!({"error": "custom_headers[0][value] is missing"}),
        ),
        (
            "PUT",
            one.clone(),
            json!({}),
            400,
            json!({"message": "No parameters provided"}),
        ),
        (
            "PUT",
            format!("{}/abc", fx.hooks_path()),
            json!({"name": "x"}),
            400,
            json!({"error": "hook_id is invalid"}),
        ),
        (
            "GET",
            format!("{}/999999", fx.hooks_path()),
            json!({}),
            404,
            json!({"message": "404 Not found"}),
        ),
    ];
    for (method, path, body, status, want) in cases {
        let r = s
            .request(
                method,
                &path,
                Some(&fx.root),
                common::Body::Json(body.clone()),
            )
            .await;
        assert_eq!(
            (r.status, &r.body),
            (status, &want),
            "{method} {path} {body}"
        );
    }
    assert_eq!(
        s.get(&fx.hooks_path(), &fx.root).await.header("x-total"),
        "1",
        "no partial writes"
    );

    // An edit keeps what it does not name; all_branches clears the filter.
    let edited = fx
        .put_hook(
            id,
            json!({"name": "renamed", "branch_filter_strategy": "all_branches"}),
        )
        .await;
    assert_eq!(edited["name"], "renamed");
    assert_eq!(edited["description"], "tells CI");
    assert_eq!(edited["push_events_branch_filter"], Value::Null);
    assert_eq!(edited["custom_headers"], json!([{"key": "X-Secret"}]));

    // The token, header and variable are sent (test delivery) until the URL changes, which
    // resets them, as GitLab resets the token.
    // The push sample needs a commit.
    let work = Arc::new(Work::new());
    commits(&work, &["one"]).await;
    fx.push(&work, &["main"]).await;
    let test = format!("{one}/test/push_events");
    let r = s.post_json(&test, &fx.root, json!({})).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (201, json!({"message": "201 Created"}))
    );
    let got = receiver.requests();
    let first = got.last().unwrap();
    assert_eq!(first.path, format!("/hook/{VARIABLE_SECRET}"));
    assert_eq!(first.header("X-Gitlab-Token"), TOKEN);
    assert_eq!(first.header("X-Secret"), HEADER_SECRET);
    let moved = fx
        .put_hook(id, json!({"url": receiver.url("/moved")}))
        .await;
    assert_eq!(moved["custom_headers"], json!([]));
    assert_eq!(moved["url_variables"], json!([]));
    let r = s.post_json(&test, &fx.root, json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let second = receiver.requests().last().cloned().unwrap();
    assert_eq!(second.path, "/moved");
    assert_eq!(
        second.header("X-Gitlab-Token"),
        "",
        "the token went with the old URL"
    );
    assert_eq!(second.header("X-Secret"), "");

    // The log shows the secrets redacted.
    let events = fx.events(id).await;
    let redacted = events
        .iter()
        .find(|e| e["request_headers"]["X-Gitlab-Token"].is_string())
        .expect("the delivery with the token is logged");
    assert_eq!(redacted["request_headers"]["X-Gitlab-Token"], "[REDACTED]");
    assert_eq!(redacted["request_headers"]["X-Secret"], "[REDACTED]");
    assert_eq!(redacted["url"], url, "placeholders, not values");

    let r = s.delete(&one, &fx.root).await;
    assert_eq!(r.status, 204);
    assert_eq!(s.get(&one, &fx.root).await.status, 404);

    for body in s.seen_bodies() {
        for secret in [TOKEN, HEADER_SECRET, VARIABLE_SECRET] {
            assert!(!body.contains(secret), "{secret} in {body}");
        }
    }
    if !s.state.store.is_postgres() {
        for (path, bytes) in read_all_files(&s.data_dir()) {
            for secret in [TOKEN, HEADER_SECRET, VARIABLE_SECRET] {
                assert!(
                    !contains_bytes(&bytes, secret.as_bytes()),
                    "{secret} in {}",
                    path.display()
                );
            }
        }
    }
}

/// Hook URLs obey the mirror URL rules: loopback, private and localhost targets are refused
/// unless the operator allows the local network; only http and https.
#[tokio::test]
async fn a_hook_url_on_loopback_is_refused_unless_the_local_network_is_allowed() {
    let strict = Fixture::on(TestServer::builder().start().await).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest",
        "git://203.0.113.9/x",
        "not a url",
    ] {
        let r = strict
            .server
            .post_json(&strict.hooks_path(), &strict.root, json!({"url": url}))
            .await;
        assert_eq!(
            (r.status, r.body.clone()),
            (422, json!({"message": "Invalid url given"})),
            "{url}"
        );
    }
    let open = Fixture::new().await;
    open.hook(json!({"url": "http://127.0.0.1:9/hook"})).await;
}

// ---------------------------------------------------------------------------------------------
// Push events
// ---------------------------------------------------------------------------------------------

/// Real pushes: one `Push Hook` per pushed branch with GitLab's payload (the commits newest
/// first, `before`/`after`, the pusher, the project) and headers; a `Tag Push Hook` per tag;
/// the branch filter; a hook without tag_push_events hears no tags.
#[tokio::test]
async fn pushes_and_tag_pushes_are_delivered_with_gitlabs_payload_and_headers() {
    let fx = Fixture::new().await;
    let receiver = Receiver::start().await;
    fx.hook(json!({
        "url": receiver.url("/all"),
        "token": TOKEN,
        "tag_push_events": true,
        "custom_headers": [{"key": "X-Custom", "value": "yes"}],
    }))
    .await;
    fx.hook(
        json!({"url": receiver.url("/release-only"), "push_events_branch_filter": "release/*"}),
    )
    .await;
    let work = Arc::new(Work::new());
    let first = commits(&work, &["one"]).await;
    fx.push(&work, &["main"]).await;
    assert_eq!(
        fx.server.run_pending().await,
        1,
        "one delivery: the filter holds the other"
    );
    let got = receiver.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    let d = &got[0];
    assert_eq!(d.path, "/all");
    let zero = "0".repeat(40);
    let b = &d.body;
    assert_eq!(b["object_kind"], "push");
    assert_eq!(b["event_name"], "push");
    assert_eq!(b["before"], zero);
    assert_eq!(b["after"], first[0]);
    assert_eq!(b["checkout_sha"], first[0]);
    assert_eq!(b["ref"], "refs/heads/main");
    assert_eq!(b["user_username"], "root");
    assert_eq!(b["user_id"], fx.server.user_id("root").await);
    assert_eq!(b["project_id"], fx.project);
    assert_eq!(b["project"]["path_with_namespace"], "root/origin");
    assert_eq!(
        b["project"]["git_http_url"],
        format!("{}/root/origin.git", fx.server.base)
    );
    assert_eq!(b["repository"]["name"], "origin");
    assert_eq!(b["total_commits_count"], 1);
    assert_eq!(b["commits"][0]["id"], first[0]);
    assert_eq!(b["commits"][0]["title"], "one");
    assert_eq!(b["commits"][0]["author"]["email"], "t@example.com");
    assert_eq!(
        b["commits"][0]["url"],
        format!("{}/root/origin/-/commit/{}", fx.server.base, first[0])
    );
    for (header, want) in [
        ("Content-Type", "application/json".to_owned()),
        ("User-Agent", "GitLab/18.6.0".to_owned()),
        ("X-Gitlab-Event", "Push Hook".to_owned()),
        ("X-Gitlab-Token", TOKEN.to_owned()),
        ("X-Gitlab-Instance", fx.server.base.clone()),
        ("X-Custom", "yes".to_owned()),
    ] {
        assert_eq!(d.header(header), want, "{header}");
    }
    for uuid in [
        "X-Gitlab-Webhook-UUID",
        "X-Gitlab-Event-UUID",
        "Idempotency-Key",
    ] {
        assert_eq!(d.header(uuid).len(), 36, "{uuid}: {:?}", d.headers);
    }

    // An update brings what lies between, newest first.
    let more = commits(&work, &["two", "three"]).await;
    fx.push(&work, &["main"]).await;
    fx.server.run_pending().await;
    let b = receiver.requests()[1].body.clone();
    assert_eq!(b["before"], first[0]);
    assert_eq!(b["after"], more[1]);
    assert_eq!(b["total_commits_count"], 2);
    let ids: Vec<&str> = b["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [more[1].as_str(), more[0].as_str()]);

    // A release branch reaches both hooks; a tag only the one with tag_push_events.
    blocking({
        let w = work.clone();
        move || {
            w.git(&["branch", "release/1"]);
            w.git(&["tag", "-a", "v1", "-m", "the first release"]);
        }
    })
    .await;
    fx.push(&work, &["release/1", "v1"]).await;
    fx.server.run_pending().await;
    let got = receiver.requests();
    let pushes = by_event(&got[2..], "Push Hook");
    assert_eq!(pushes.len(), 2, "{got:?}");
    assert!(pushes.iter().any(|r| r.path == "/release-only"));
    assert_eq!(pushes[0].body["ref"], "refs/heads/release/1");
    let tags = by_event(&got[2..], "Tag Push Hook");
    assert_eq!(tags.len(), 1);
    let t = &tags[0].body;
    assert_eq!(t["object_kind"], "tag_push");
    assert_eq!(t["ref"], "refs/tags/v1");
    assert_eq!(t["checkout_sha"], more[1]);
    assert_eq!(t["message"], "the first release");
    assert_eq!(t["commits"], json!([]));
    // Nothing is retried or left over.
    assert_eq!(fx.server.run_pending().await, 0);
}

// ---------------------------------------------------------------------------------------------
// Remote-mirror events
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failure_and_one_recovery_event_across_a_streak_of_retries_on_sqlite() {
    let clock = Arc::new(ManualClock::new(T0));
    let fx = Fixture::on_clock(clock.clone()).await;
    failure_and_recovery(fx, clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failure_and_one_recovery_event_across_a_streak_of_retries_on_postgresql() {
    let clock = Arc::new(ManualClock::new(T0));
    let Some(server) = TestServer::builder()
        .local_network(true)
        .clock(clock.clone())
        .postgres()
        .start()
        .await
    else {
        return;
    };
    failure_and_recovery(Fixture::on(server).await, clock).await;
}

/// A mirror whose remote is down fails its first update and its three retries: exactly one
/// `remote_mirror_failed` delivery. When the remote is back and the mirror next succeeds,
/// exactly one `remote_mirror_recovered`; further successes announce nothing.
async fn failure_and_recovery(fx: Fixture, clock: Arc<ManualClock>) {
    const RETRY_MS: i64 = 300_000;
    let receiver = Receiver::start().await;
    let hook = fx
        .hook(json!({"url": receiver.url("/mirrors"), "push_events": false, "remote_mirror_events": true}))
        .await;
    let mut daemon = GitDaemonRemote::start();
    daemon.create_repo("m");
    let api = fx.server.api(&fx.root);
    let mirror = api
        .create_mirror(fx.project, &daemon.url("m"), true)
        .await
        .id;
    daemon.stop();
    let work = Arc::new(Work::new());
    commits(&work, &["one"]).await;
    fx.push(&work, &["main"]).await;
    for attempt in 0..4 {
        // The update, and on the first failure its one delivery.
        fx.server.run_pending().await;
        let m = api.mirror(fx.project, mirror).await;
        let want = if attempt < 3 { "to_retry" } else { "failed" };
        assert_eq!(m.update_status, want, "attempt {attempt}");
        assert_eq!(receiver.requests().len(), 1, "attempt {attempt}");
        clock.advance(RETRY_MS);
    }
    let failed = receiver.requests()[0].clone();
    assert_eq!(failed.header("X-Gitlab-Event"), "Remote Mirror Hook");
    let b = &failed.body;
    assert_eq!(b["object_kind"], "remote_mirror");
    assert_eq!(b["event_name"], "remote_mirror_failed");
    assert_eq!(b["project"]["id"], fx.project);
    assert_eq!(b["remote_mirror"]["id"], mirror);
    assert_eq!(b["remote_mirror"]["url"], daemon.url("m"));
    assert_eq!(b["remote_mirror"]["enabled"], true);
    assert_eq!(b["remote_mirror"]["update_status"], "to_retry");
    assert!(
        b["remote_mirror"]["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{b}"
    );
    assert!(b["remote_mirror"]["last_update_started_at"].is_string());
    assert_eq!(b["remote_mirror"]["last_successful_update_at"], Value::Null);

    daemon.resume();
    api.sync(fx.project, mirror).await;
    fx.server.run_pending().await;
    assert_eq!(
        api.mirror(fx.project, mirror).await.update_status,
        "finished"
    );
    let got = receiver.requests();
    assert_eq!(got.len(), 2, "{got:?}");
    let r = &got[1].body;
    assert_eq!(r["event_name"], "remote_mirror_recovered");
    assert_eq!(r["remote_mirror"]["update_status"], "finished");
    assert_eq!(r["remote_mirror"]["last_error"], Value::Null);
    assert!(r["remote_mirror"]["last_successful_update_at"].is_string());
    assert_ne!(
        got[0].header("Idempotency-Key"),
        got[1].header("Idempotency-Key")
    );

    commits(&work, &["two"]).await;
    fx.push(&work, &["main"]).await;
    fx.server.run_pending().await;
    assert_eq!(
        receiver.requests().len(),
        2,
        "a healthy mirror's success is no event"
    );
    let events = fx.events(hook["id"].as_i64().unwrap()).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["trigger"], "remote_mirror_hooks");
    assert_eq!(events[0]["response_status"], "200");
}

// ---------------------------------------------------------------------------------------------
// Failing receivers
// ---------------------------------------------------------------------------------------------

/// GitLab's auto-disabling on a manual clock: a failing delivery is retried with backoff; the
/// fourth failure in a row disables the hook for a minute (`temporarily_disabled`), during which
/// it gets no new events; an edit re-enables it and the retry then lands. Forty failures in a
/// row disable it for good; an edit re-enables that too.
#[tokio::test]
async fn failing_hooks_are_disabled_as_gitlab_does_and_an_edit_re_enables_them() {
    let clock = Arc::new(ManualClock::new(T0));
    let fx = Fixture::on_clock(clock.clone()).await;
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let hook = fx.hook(json!({"url": receiver.url("/flaky")})).await;
    let id = hook["id"].as_i64().unwrap();
    let work = Arc::new(Work::new());
    commits(&work, &["one"]).await;
    fx.push(&work, &["main"]).await;
    for failures in 1..=4 {
        assert_eq!(fx.server.run_pending().await, 1, "attempt {failures}");
        assert_eq!(receiver.requests().len(), failures);
        let h = fx.get_hook(id).await;
        if failures < 4 {
            assert_eq!(h["alert_status"], "executable", "{h}");
            // The runner's backoff: at most 2^failures seconds.
            assert_eq!(fx.server.run_pending().await, 0, "not before its backoff");
            clock.advance(1_000 << failures);
        } else {
            assert_eq!(h["alert_status"], "temporarily_disabled", "{h}");
            assert!(h["disabled_until"].is_string(), "{h}");
        }
    }
    // Disabled: the pending retry waits, and a new push sends nothing.
    clock.advance(30_000);
    commits(&work, &["two"]).await;
    fx.push(&work, &["main"]).await;
    fx.server.run_pending().await;
    assert_eq!(receiver.requests().len(), 4);
    let events = fx.events(id).await;
    assert_eq!(events.len(), 4);
    assert_eq!(events[0]["response_status"], "500");
    assert_eq!(events[0]["response_body"], "failing on purpose with 500");

    // An edit re-enables it; once the receiver is fixed, the waiting retry lands.
    let h = fx.put_hook(id, json!({"name": "fixed"})).await;
    assert_eq!(
        (h["alert_status"].clone(), h["disabled_until"].clone()),
        (json!("executable"), Value::Null)
    );
    receiver.answer(200);
    clock.advance(60_000);
    fx.server.run_pending().await;
    let got = receiver.requests();
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(
        got[4].header("Idempotency-Key"),
        got[0].header("Idempotency-Key"),
        "a retry of one event"
    );
    assert_ne!(
        got[4].header("X-Gitlab-Webhook-UUID"),
        got[0].header("X-Gitlab-Webhook-UUID")
    );
    assert_eq!(fx.get_hook(id).await["alert_status"], "executable");

    // Forty failures in a row (tests count, a day apart) disable it for good.
    receiver.answer(503);
    let test = format!("{}/{id}/test/push_events", fx.hooks_path());
    for n in 1..=40 {
        clock.advance(86_400_000 + 1);
        let r = fx.server.post_json(&test, &fx.root, json!({})).await;
        assert_eq!(r.status, 422, "test {n}: {}", r.text);
    }
    let h = fx.get_hook(id).await;
    assert_eq!(
        (h["alert_status"].clone(), h["disabled_until"].clone()),
        (json!("disabled"), Value::Null)
    );
    commits(&work, &["three"]).await;
    fx.push(&work, &["main"]).await;
    clock.advance(86_400_000);
    fx.server.run_pending().await;
    let before = receiver.requests().len();
    assert_eq!(before, 45, "a disabled hook gets no deliveries");
    let h = fx
        .put_hook(id, json!({"enable_ssl_verification": false}))
        .await;
    assert_eq!(h["alert_status"], "executable");
}

/// The test endpoint sends GitLab's samples (422 with GitLab's messages when there is nothing to
/// show, 422 with the answer when the receiver fails); the event log lists every attempt of the
/// last 7 days with its filter; a resend carries the logged event's keys; a hanging receiver
/// hits the delivery deadline; a redirect is not followed and counts as success.
#[tokio::test]
async fn test_triggers_resend_the_log_deadlines_and_redirects() {
    let clock = Arc::new(ManualClock::new(T0));
    let fx = Fixture::on(
        TestServer::builder()
            .local_network(true)
            .clock(clock.clone())
            .tweak(|c| c.tuning.webhook_timeout_secs = 1)
            .start()
            .await,
    )
    .await;
    let receiver = Receiver::start().await;
    let hook = fx
        .hook(json!({"url": receiver.url("/t"), "token": TOKEN}))
        .await;
    let id = hook["id"].as_i64().unwrap();
    let test = |trigger: &str| format!("{}/{id}/test/{trigger}", fx.hooks_path());
    let s = &fx.server;
    for (trigger, status, body) in [
        (
            "push_events",
            422,
            json!({"message": "Ensure the project has at least one commit."}),
        ),
        (
            "tag_push_events",
            422,
            json!({"message": "Ensure the project has tags."}),
        ),
        (
            "remote_mirror_events",
            422,
            json!({"message": "Ensure the project has at least one remote mirror."}),
        ),
        (
            "issues_events",
            400,
            json!({"error": "trigger does not have a valid value"}),
        ),
    ] {
        let r = s.post_json(&test(trigger), &fx.root, json!({})).await;
        assert_eq!((r.status, &r.body), (status, &body), "{trigger}");
    }
    assert!(receiver.requests().is_empty());
    let work = Arc::new(Work::new());
    let ids = commits(&work, &["a", "b", "c", "d"]).await;
    blocking({
        let w = work.clone();
        move || w.git(&["tag", "v1"])
    })
    .await;
    fx.push(&work, &["main", "v1"]).await;
    fx.server
        .api(&fx.root)
        .create_mirror(fx.project, "http://203.0.113.7/m.git", false)
        .await;
    for trigger in ["push_events", "tag_push_events", "remote_mirror_events"] {
        let r = s.post_json(&test(trigger), &fx.root, json!({})).await;
        assert_eq!(
            (r.status, r.body.clone()),
            (201, json!({"message": "201 Created"})),
            "{trigger}"
        );
    }
    let got = receiver.requests();
    assert_eq!(got.len(), 3);
    let sample = &got[0].body;
    assert_eq!(
        sample["commits"].as_array().unwrap().len(),
        3,
        "GitLab's sample: 3 commits"
    );
    assert_eq!(sample["after"], ids[3]);
    assert_eq!(sample["before"], ids[1]);
    assert_eq!(got[1].header("X-Gitlab-Event"), "Tag Push Hook");
    assert_eq!(got[2].body["object_kind"], "remote_mirror");

    // A failing receiver: 422 with its answer; a hanging one: the deadline.
    receiver.answer(500);
    let r = s.post_json(&test("push_events"), &fx.root, json!({})).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (422, json!({"message": "failing on purpose with 500"}))
    );
    receiver.answer(200);
    receiver.hang(true);
    let r = s.post_json(&test("push_events"), &fx.root, json!({})).await;
    assert_eq!(r.status, 422);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("no answer within 1 s"),
        "{}",
        r.text
    );
    receiver.hang(false);
    receiver.answer(302);
    let r = s.post_json(&test("push_events"), &fx.root, json!({})).await;
    assert_eq!(r.status, 422, "GitLab's test wants a 2xx: {}", r.text);
    receiver.answer(200);
    let after_redirect = receiver.requests();
    assert!(
        after_redirect.iter().all(|r| r.path != "/redirected"),
        "no redirect followed"
    );

    // The log, newest first, with GitLab's status filter.
    let events = fx.events(id).await;
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(events[0]["response_status"], "302");
    assert_eq!(events[1]["response_status"], "internal error");
    assert_eq!(events[2]["response_status"], "500");
    assert_eq!(events[5]["trigger"], "push_hooks");
    assert_eq!(events[5]["request_headers"]["X-Gitlab-Token"], "[REDACTED]");
    assert_eq!(
        events[5]["request_data"]["commits"][0]["author"]["email"],
        "[REDACTED]"
    );
    assert!(events[5]["execution_duration"].as_f64().unwrap() >= 0.0);
    let filtered = s
        .get(
            &format!("{}/{id}/events?status=server_failure", fx.hooks_path()),
            &fx.root,
        )
        .await;
    assert_eq!(
        filtered.body.as_array().unwrap().len(),
        1,
        "{}",
        filtered.text
    );
    let r = s
        .get(
            &format!("{}/{id}/events?status=teapot", fx.hooks_path()),
            &fx.root,
        )
        .await;
    assert_eq!(
        (r.status, r.body),
        (400, json!({"error": "status does not have a valid value"}))
    );

    // A resend: the logged data, key and event UUID, a new delivery UUID.
    let original = &events[5];
    let resend = format!("{}/{id}/events/{}/resend", fx.hooks_path(), original["id"]);
    let r = s.post_json(&resend, &fx.root, json!({})).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (201, json!({"response_status": 200}))
    );
    let again = receiver.requests().last().cloned().unwrap();
    let first = &got[0];
    assert_eq!(
        again.header("Idempotency-Key"),
        first.header("Idempotency-Key")
    );
    assert_eq!(
        again.header("X-Gitlab-Event-UUID"),
        first.header("X-Gitlab-Event-UUID")
    );
    assert_ne!(
        again.header("X-Gitlab-Webhook-UUID"),
        first.header("X-Gitlab-Webhook-UUID")
    );
    assert_eq!(again.header("X-Gitlab-Token"), TOKEN);
    assert_eq!(
        again.body["commits"][0]["author"]["email"], "[REDACTED]",
        "GitLab resends the log"
    );
    let missing = format!("{}/{id}/events/999999/resend", fx.hooks_path());
    assert_eq!(s.post_json(&missing, &fx.root, json!({})).await.status, 404);

    // Every attempt is counted in the metrics, by result.
    let metrics = reqwest::get(format!("{}/-/metrics", s.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    for line in [
        "pushmirror_hook_deliveries_total{result=\"success\"} 5",
        "pushmirror_hook_deliveries_total{result=\"failed\"} 2",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }

    // Only the last 7 days are listed.
    clock.advance(8 * 86_400_000);
    assert!(fx.events(id).await.is_empty());
    for body in s.seen_bodies() {
        assert!(!body.contains(TOKEN), "{body}");
    }
}

// ---------------------------------------------------------------------------------------------
// Durability
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_kill_9_on_sqlite() {
    deliveries_survive_kill_9(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_kill_9_on_postgresql() {
    let Some(db) = PostgresDb::create_or_skip().await else {
        return;
    };
    deliveries_survive_kill_9(Some(db)).await;
}

/// The real binary: a push is acknowledged while this node runs no jobs (`--api-only`), so its
/// delivery is queued and not made; `kill -9`; a restart with the runner delivers it, once. A
/// delivery the receiver refused before another `kill -9` is retried after the restart.
async fn deliveries_survive_kill_9(db: Option<PostgresDb>) {
    let url = db.as_ref().map(|d| d.url.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let token = create_admin_token(&data, url.as_deref());
    let receiver = Receiver::start().await;
    let flags = ["--allow-local-network", "--lease-secs", "2"];
    let mut api_only = flags.to_vec();
    api_only.push("--api-only");
    let mut server = ServerProcess::start(&data, url.as_deref(), &api_only, &[]);
    let api = server.api(&token);
    let project = api.create_project("origin").await.id;
    let r = api
        .request(
            "POST",
            &format!("/projects/{project}/hooks"),
            common::Body::Json(json!({"url": receiver.url("/durable")})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let work = Arc::new(Work::new());
    commits(&work, &["one"]).await;
    push(&work, &server.push_url(&token, "origin"), &["main"]).await;
    assert!(
        receiver.requests().is_empty(),
        "an --api-only node delivers nothing"
    );
    server.kill_9();
    let mut server = ServerProcess::start(&data, url.as_deref(), &flags, &[]);
    let got = receiver.wait_for(1, ARRIVE).await;
    assert_eq!(got[0].header("X-Gitlab-Event"), "Push Hook");
    assert_eq!(got[0].body["total_commits_count"], 1);

    // Refused, then killed: retried after the restart, with the same event.
    receiver.answer(500);
    commits(&work, &["two"]).await;
    push(&work, &server.push_url(&token, "origin"), &["main"]).await;
    let refused = receiver.wait_for(2, ARRIVE).await;
    server.kill_9();
    receiver.answer(200);
    server.start_again();
    let key = refused[1].header("Idempotency-Key").to_owned();
    let api = server.api(&token);
    let events = format!("/projects/{project}/hooks/{}/events", r.body["id"]);
    let delivered = common::poll_until(ARRIVE, || async {
        let r = api.request("GET", &events, common::Body::None).await;
        r.body.as_array().is_some_and(|all| {
            all.iter().any(|e| {
                e["response_status"] == "200" && e["request_headers"]["Idempotency-Key"] == key
            })
        })
    })
    .await;
    assert!(
        delivered,
        "the refused event was never delivered: {}",
        server.log_tail()
    );
    let got = receiver.requests();
    let same: Vec<&Received> = got
        .iter()
        .filter(|d| d.header("Idempotency-Key") == key)
        .collect();
    assert!(same.len() >= 2, "{got:?}");
    assert!(same
        .iter()
        .all(|d| d.body["after"] == refused[1].body["after"]));
    drop(db);
}

/// An update abandoned in `started` (its worker died and nothing resumes it) is recorded as
/// failed by the runner's sweep, and that is news for a healthy mirror: one
/// `remote_mirror_failed` delivery, so the recovery that follows is never announced alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_update_is_announced_as_a_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let token = create_admin_token(&data, None);
    let receiver = Receiver::start().await;
    let flags = ["--allow-local-network", "--api-only"];
    let mut server = ServerProcess::start(&data, None, &flags, &[]);
    let api = server.api(&token);
    let project = api.create_project("origin").await.id;
    let mirror = api
        .create_mirror(project, "http://203.0.113.7/m.git", true)
        .await
        .id;
    let r = api
        .request(
            "POST",
            &format!("/projects/{project}/hooks"),
            common::Body::Json(json!({"url": receiver.url("/m"), "remote_mirror_events": true})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    server.kill_9();
    // What a worker killed mid-update leaves: `started`, and (its lease long expired and its
    // job gone) nothing to resume it.
    let url = format!("sqlite://{}?mode=rwc", data.join("pushmirror.db").display());
    let store = pushmirror::store::Store::open(&url)
        .await
        .expect("open the store");
    assert!(store.mark_started(mirror, T0).await.unwrap());
    drop(store);
    let _server = ServerProcess::start(&data, None, &flags[..1], &[]);
    let got = receiver.wait_for(1, ARRIVE).await;
    let b = &got[0].body;
    assert_eq!(b["event_name"], "remote_mirror_failed", "{b}");
    assert_eq!(b["remote_mirror"]["update_status"], "failed");
    assert_eq!(
        b["remote_mirror"]["last_error"],
        "The remote mirror update was interrupted."
    );
}
