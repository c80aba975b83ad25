//! The mirror dashboard (`/`), its live stream (`/-/mirrors/stream`) and the project overview
//! (`/<namespace>/<project>`), as a signed-in browser sees them: failing mirrors first with
//! their error, the counts, masked URLs and never a password, who sees which mirror (Developer
//! and more, admins everything), the filters, a status change arriving as an event, the stream
//! ending with the server, and the project page's clone URL, refs and mirror summary.

use std::sync::Arc;
use std::time::Duration;

use pushmirror::clock::ManualClock;
use serde_json::json;

use crate::common::web::{create_user, WebClient, PASSWORD};
use crate::common::{Builder, TestServer, Work};

/// The password in every mirror URL: no page or event may ever carry it.
const MIRROR_PASSWORD: &str = "S3cret-pw";
/// A mirror nothing answers (the discard port): every update fails to connect at once.
fn failing_url(name: &str) -> String {
    format!("http://bot:{MIRROR_PASSWORD}@127.0.0.1:9/{name}.git")
}

async fn browser(s: &TestServer, name: &str) -> WebClient {
    WebClient::signed_in(&s.base, name, PASSWORD).await
}

/// The mirror ids of a page's rows, in order.
fn row_ids(html: &str) -> Vec<i64> {
    html.split("data-mirror-id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

/// Text as maud escapes it in a page.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn builder(clock: Arc<ManualClock>) -> Builder {
    TestServer::builder()
        .engine(false)
        .local_network(true)
        .clock(clock)
        .tweak(|c| {
            c.tuning.retry_delay_secs = 1;
            c.tuning.retry_delay_protected_secs = 1;
        })
}

/// Drives mirror `id` to `failed`: a first attempt and three retries a retry delay apart.
async fn fail_for_good(s: &TestServer, clock: &ManualClock, root: &str, project: i64, id: i64) {
    s.api(root).sync(project, id).await;
    for _ in 0..5 {
        s.run_pending().await;
        clock.advance(1_000);
    }
    assert_eq!(
        s.api(root).mirror(project, id).await.update_status,
        "failed"
    );
}

async fn dashboard(s: TestServer, clock: Arc<ManualClock>) {
    let root = s.token("root", true).await;
    create_user(&s, &root, "boss", true).await;
    let dev = create_user(&s, &root, "dev", false).await;
    let rep = create_user(&s, &root, "rep", false).await;
    create_user(&s, &root, "stranger", false).await;
    let api = s.api(&root);
    let alpha = api.create_project("alpha").await;
    let beta = api.create_project("beta").await;
    api.add_member(beta.id, dev, 30).await;
    api.add_member(beta.id, rep, 20).await;

    let disabled = api
        .create_mirror(alpha.id, &failing_url("off"), false)
        .await;
    let broken = api
        .create_mirror(beta.id, &failing_url("broken"), true)
        .await;
    // beta has a commit its mirror never got.
    let work = Work::new();
    let head = work.commit("Not mirrored yet");
    work.push(&s.push_url(&root, "root/beta"), &["HEAD:refs/heads/main"]);
    fail_for_good(&s, &clock, &root, beta.id, broken.id).await;
    // Created after the failures ran: never updated.
    let fresh = api
        .create_mirror(alpha.id, &failing_url("fresh"), true)
        .await;
    let shown = s
        .get(
            &format!("/projects/{}/remote_mirrors/{}", beta.id, broken.id),
            &root,
        )
        .await;
    let masked = shown.body["url"].as_str().unwrap().to_owned();
    let error = shown.body["last_error"].as_str().unwrap().to_owned();
    assert!(!masked.contains(MIRROR_PASSWORD), "{masked}");

    // An admin sees every mirror: failed first, never updated, disabled last.
    let boss = browser(&s, "boss").await;
    let page = boss.get("/").await;
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(row_ids(&page.html), [broken.id, fresh.id, disabled.id]);
    assert!(page.html.contains("3 mirrors</span>, "), "{}", page.html);
    assert!(page.html.contains(">1 failing<"), "{}", page.html);
    assert!(
        page.html.contains(&escaped(&error)),
        "the error as the API shows it"
    );
    assert!(page.html.contains(&escaped(&masked)), "the masked URL");
    assert!(page.html.contains(">Failed<") && page.html.contains(">Disabled<"));
    assert!(page.html.contains(">Never updated<"));
    assert!(
        page.html.contains("href=\"/root/beta\""),
        "links to the project"
    );
    // Behind: the source's newest commit, not on the mirror.
    let behind = format!(
        "<code title=\"{head}\">{}</code> not on the mirror, since",
        &head[..8]
    );
    assert!(page.html.contains(&behind), "{}", page.html);
    assert!(!page.html.contains(MIRROR_PASSWORD));
    // The filters are a labelled GET form.
    for id in ["filter-status", "filter-project"] {
        assert!(page.html.contains(&format!("<label for=\"{id}\"")), "{id}");
    }
    let failing = boss.get("/?status=failing").await;
    assert_eq!(row_ids(&failing.html), [broken.id]);
    let off = boss.get("/?status=disabled").await;
    assert_eq!(row_ids(&off.html), [disabled.id]);
    let never = boss.get("/?status=never").await;
    assert_eq!(row_ids(&never.html), [fresh.id]);
    let in_alpha = boss.get("/?project=root%2Falpha").await;
    assert_eq!(row_ids(&in_alpha.html), [fresh.id, disabled.id]);
    assert!(
        in_alpha.html.contains("2 mirrors</span>"),
        "counts follow the project"
    );
    let none = boss.get("/?status=up_to_date").await;
    assert!(row_ids(&none.html).is_empty());
    assert!(none.html.contains("No mirrors match these filters."));

    // A Developer sees the status of their project's mirrors only.
    let page = browser(&s, "dev").await.get("/").await;
    assert_eq!(row_ids(&page.html), [broken.id]);
    assert!(page.html.contains("1 mirror</span>, "), "{}", page.html);
    assert!(page.html.contains(&escaped(&error)));
    // A Reporter and a stranger see none.
    for who in ["rep", "stranger"] {
        let page = browser(&s, who).await.get("/").await;
        assert_eq!(page.status, 200);
        assert!(row_ids(&page.html).is_empty(), "{who}: {}", page.html);
        assert!(page.html.contains("No mirrors to show yet."), "{who}");
    }

    // Signed out: sign in first, then come back.
    let page = WebClient::new(&s.base).get("/").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), "/users/sign_in?redirect_to=%2F");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_failing_mirrors_first_to_whoever_may_see_them() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    dashboard(builder(clock.clone()).start().await, clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_failing_mirrors_first_to_whoever_may_see_them_on_postgres() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let Some(s) = builder(clock.clone()).postgres().start().await else {
        return;
    };
    dashboard(s, clock).await;
}

/// An open event stream: its text so far, read in chunks.
struct Events {
    response: reqwest::Response,
    text: String,
}

impl Events {
    async fn open(s: &TestServer, web: &WebClient, query: &str) -> Events {
        let session = web.cookie("_pushmirror_session").unwrap();
        let r = reqwest::Client::new()
            .get(format!("{}/-/mirrors/stream{query}", s.base))
            .header("cookie", format!("_pushmirror_session={session}"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Events {
            response: r,
            text: String::new(),
        }
    }

    /// Reads until an event (its `event:` and `data:` lines) satisfies `found` (true), or the
    /// stream ends or 30 s pass.
    async fn until(&mut self, found: impl Fn(&str) -> bool) -> bool {
        let read = async {
            loop {
                if self.text.split("\n\n").any(&found) {
                    return true;
                }
                match self.response.chunk().await {
                    Ok(Some(chunk)) => self.text.push_str(&String::from_utf8_lossy(&chunk)),
                    _ => return false,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .unwrap_or(false)
    }

    /// Whether the stream ends (within 30 s).
    async fn ends(&mut self) -> bool {
        let read = async {
            while let Ok(Some(chunk)) = self.response.chunk().await {
                self.text.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .is_ok()
    }
}

async fn live(s: TestServer) {
    let root = s.token("root", true).await;
    create_user(&s, &root, "boss", true).await;
    let api = s.api(&root);
    let p = api.create_project("live").await;
    let m = api.create_mirror(p.id, &failing_url("live"), true).await;
    let boss = browser(&s, "boss").await;
    let page = boss.get("/").await;
    assert!(
        page.html
            .contains("data-live-mirrors=\"/-/mirrors/stream\""),
        "{}",
        page.html
    );
    let mut events = Events::open(&s, &boss, "").await;
    let id = format!("\"id\":{}", m.id);
    assert!(
        events
            .until(|d| d.contains(&id) && d.contains("Never updated"))
            .await,
        "the first poll sends every mirror: {}",
        events.text
    );
    assert!(events.until(|d| d.contains("\"total\":\"1 mirror\"")).await);
    // The update fails: `to_retry`, and the page hears of it.
    api.sync(p.id, m.id).await;
    s.run_pending().await;
    assert!(
        events
            .until(|d| d.contains(&id) && d.contains("Retrying"))
            .await,
        "{}",
        events.text
    );
    assert!(events.text.contains("data-field") || events.text.contains("status-to_retry"));
    assert!(!events.text.contains(MIRROR_PASSWORD), "{}", events.text);
    // Signing out ends the stream (the session is re-checked every few seconds).
    let r = boss.post("/users/sign_out", &[]).await;
    assert_eq!(r.status, 303);
    assert!(
        events.until(|e| e.contains("event: signed_out")).await,
        "{}",
        events.text
    );
    assert!(events.ends().await);
    // A stream of another project's mirrors hears nothing of this one.
    let again = browser(&s, "boss").await;
    let mut other = Events::open(&s, &again, "?project=root%2Fnone").await;
    assert!(other.until(|d| d.contains("\"total\":\"0 mirrors\"")).await);
    assert!(!other.text.contains(&id));
    // The stream ends when the server stops, well within the requests' grace period.
    drop(s);
    assert!(other.ends().await, "the stream outlived the server");
}

fn live_builder() -> Builder {
    TestServer::builder()
        .local_network(true)
        .tweak(|c| c.shutdown_grace = Duration::from_secs(120))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_sends_status_changes_and_ends_with_the_server() {
    live(live_builder().start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_sends_status_changes_and_ends_with_the_server_on_postgres() {
    let Some(s) = live_builder().postgres().start().await else {
        return;
    };
    live(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_project_page_shows_clone_url_refs_and_mirror_status() {
    let s = TestServer::builder().local_network(true).start().await;
    let root = s.token("root", true).await;
    create_user(&s, &root, "boss", true).await;
    let dev = create_user(&s, &root, "dev", false).await;
    let rep = create_user(&s, &root, "rep", false).await;
    create_user(&s, &root, "stranger", false).await;
    let api = s.api(&root);
    let p = api
        .create_project_with(
            json!({"name": "shown", "description": "Where <things> live", "visibility": "private"}),
        )
        .await;
    api.add_member(p.id, dev, 30).await;
    api.add_member(p.id, rep, 20).await;
    let work = Work::new();
    let sha = work.commit("First commit of the page");
    work.git(&["tag", "v1.0"]);
    work.push(
        &s.push_url(&root, "root/shown"),
        &["HEAD:refs/heads/main", "v1.0"],
    );
    let m = api.create_mirror(p.id, &failing_url("shown"), false).await;

    let boss = browser(&s, "boss").await;
    let page = boss.get("/root/shown").await;
    assert_eq!(page.status, 200, "{page:?}");
    let html = &page.html;
    assert!(html.contains("Where &lt;things&gt; live"), "{html}");
    let clone = format!("value=\"{}/root/shown.git\"", s.base);
    assert!(html.contains(&clone) && html.contains("readonly"), "{html}");
    assert!(html.contains("data-copy=\"clone-url\"") && html.contains("<label for=\"clone-url\""));
    assert!(html.contains("<code>main</code>") && html.contains("<code>v1.0</code>"));
    assert!(html.contains(&sha[..8]) && html.contains("First commit of the page"));
    assert_eq!(row_ids(html), [m.id]);
    assert!(html.contains(">Disabled<") && !html.contains(MIRROR_PASSWORD));
    assert!(html.contains("href=\"/root/shown/-/settings/repository\""));
    assert!(html.contains("data-live-mirrors=\"/-/mirrors/stream?project=root%2Fshown\""));

    // A Developer sees the mirror's status, not the way to its settings.
    let page = browser(&s, "dev").await.get("/root/shown").await;
    assert_eq!(row_ids(&page.html), [m.id]);
    assert!(!page.html.contains("/-/settings/repository"));
    // A Reporter sees the code but no mirror.
    let page = browser(&s, "rep").await.get("/root/shown").await;
    assert!(page.html.contains("First commit of the page"));
    assert!(row_ids(&page.html).is_empty() && !page.html.contains("Manage mirrors"));
    // Someone else's private project does not exist for a stranger; signed out, sign in first.
    let page = browser(&s, "stranger").await.get("/root/shown").await;
    assert_eq!(page.status, 404);
    let page = WebClient::new(&s.base).get("/root/shown").await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location(),
        "/users/sign_in?redirect_to=%2Froot%2Fshown"
    );
    // A public project is shown to anyone, without its mirrors.
    api.create_project_with(json!({"name": "open", "visibility": "public"}))
        .await;
    let page = WebClient::new(&s.base).get("/root/open").await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.html.contains(&format!("{}/root/open.git", s.base)));
    assert!(!page.html.contains("data-live-mirrors"));
}
