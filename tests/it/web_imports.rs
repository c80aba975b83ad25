//! Imports and pull mirrors in the web interface, through a cookie-keeping client
//! (`common::web::WebClient`) against the real server with its engine, from real git servers on
//! loopback (`git http-backend` with Basic auth): "Import project → Repository by URL" with the
//! username and password apart, the project page following the import to `finished` (and the
//! pull mirror it made, on the project page, the settings page and the dashboard); a failed
//! import's scrubbed error and "Retry import"; a hanging import canceled from its page; the pull
//! mirror's form (saved, synced, diverged refs named, overwritten, disabled, removed), GitLab's
//! messages for refused settings, who may do what, and the CSRF check of every new form.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::common::web::{create_user, Page, WebClient, PASSWORD};
use crate::common::{blocking, poll_for, refs_of, TestServer, Work};
use crate::remotes::GitHttpRemote;

/// Generous bound for an import or a sync on a loaded machine.
const SETTLE: Duration = Duration::from_secs(60);
/// The source's Basic-auth credentials.
const USER: &str = "source-user";
const PASS: &str = "Web-Source-Pass-9xQ";

fn builder() -> crate::common::Builder {
    TestServer::builder()
        .engine(true)
        .local_network(true)
        .tweak(|c| {
            c.tuning.retry_delay_secs = 1;
            c.tuning.pull_mirror_min_interval_secs = 1;
        })
}

/// A source `name` on `remote` with `main`, `feature`, a tag `v1` and a host-owned
/// `refs/pull/1/head`; the client that pushed it, to push more.
async fn seeded_source(remote: &GitHttpRemote, name: &str) -> Arc<Work> {
    remote.create_repo(name);
    let url = remote.url_with_credentials(name, USER, PASS);
    let work = Arc::new(Work::new());
    let w = work.clone();
    blocking(move || {
        w.commit("one");
        w.git(&["tag", "v1"]);
        w.git(&["branch", "feature"]);
        w.commit("two");
        w.push(&url, &["main", "feature", "v1", "HEAD:refs/pull/1/head"]);
    })
    .await;
    work
}

/// The source's branches and tags (what an import or a sync brings).
fn heads_and_tags(refs: std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    refs.into_iter()
        .filter(|(r, _)| r.starts_with("refs/heads/") || r.starts_with("refs/tags/"))
        .collect()
}

/// The admin's token, `alice` signed in, and the pages she saw (checked for secrets).
struct Setup {
    server: TestServer,
    admin: String,
    web: WebClient,
    seen: std::sync::Mutex<Vec<String>>,
}

impl Setup {
    async fn on(server: TestServer) -> Setup {
        let admin = server.token("root", true).await;
        create_user(&server, &admin, "alice", false).await;
        let web = WebClient::signed_in(&server.base, "alice", PASSWORD).await;
        Setup {
            server,
            admin,
            web,
            seen: Default::default(),
        }
    }

    fn keep(&self, page: &Page) {
        self.seen.lock().unwrap().push(page.html.clone());
    }

    async fn page(&self, path: &str) -> Page {
        let page = self.web.get(path).await;
        assert_eq!(page.status, 200, "GET {path}: {page:?}");
        self.keep(&page);
        page
    }

    /// Posts a form that must redirect; the page it leads to.
    async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let r = self.web.post(path, fields).await;
        assert_eq!(r.status, 303, "POST {path}: {}", r.html);
        let to = r.location().split('#').next().unwrap().to_owned();
        self.page(&to).await
    }

    async fn api(&self, path: &str) -> Value {
        let r = self.server.get(path, &self.admin).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        r.body
    }

    /// The project page until its import section says `status`; that page.
    async fn import_reaches(&self, project: &str, status: &str) -> Page {
        let needle = format!("data-import-status=\"{status}\"");
        let page = poll_for(
            SETTLE,
            || async { self.web.get(&format!("/{project}")).await },
            |p| p.html.contains(&needle),
        )
        .await
        .unwrap_or_else(|p| panic!("the import never showed {status}: {}", p.html));
        self.keep(&page);
        page
    }

    /// No page seen showed `secret`.
    fn never_shown(&self, secret: &str) {
        for html in self.seen.lock().unwrap().iter() {
            assert!(!html.contains(secret), "a page showed a secret: {html}");
        }
    }
}

/// `html`'s text with maud's escapes undone.
fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The first element of `html` carrying `attr` (its opening tag up to the end of its row or
/// section), for looking at one part of a page.
fn part<'a>(html: &'a str, attr: &str, end: &str) -> &'a str {
    let at = html
        .find(attr)
        .unwrap_or_else(|| panic!("no {attr} in {html}"));
    let stop = at + html[at..].find(end).unwrap_or(html.len() - at);
    &html[at..stop]
}

async fn import_by_url_with_a_mirror(s: Setup) {
    let remote = GitHttpRemote::start(Some((USER, PASS))).await;
    let _work = seeded_source(&remote, "src").await;

    let form = s.page("/projects/new").await;
    assert!(
        form.html.contains("href=\"/projects/new/import\""),
        "the Import tab"
    );
    let form = s.page("/projects/new/import").await;
    for text in [
        "Import project",
        "Repository by URL",
        "Git repository URL",
        "Username (optional)",
        "Password (optional)",
        "Mirror repository",
    ] {
        assert!(form.html.contains(text), "{text} missing");
    }
    let own = form
        .html
        .split("<option value=\"")
        .nth(1)
        .and_then(|o| o.split('"').next())
        .unwrap()
        .to_owned();
    let url = remote.url("src");
    let page = s
        .submit(
            "/projects",
            &[
                ("import", "1"),
                ("import_url", url.as_str()),
                ("import_url_user", USER),
                ("import_url_password", PASS),
                ("mirror", "1"),
                ("name", ""),
                ("path", ""),
                ("namespace_id", &own),
                ("visibility", "private"),
            ],
        )
        .await;
    assert!(page.html.contains("is being imported."), "{}", page.html);
    assert!(page.html.contains("data-import"), "the progress section");
    let page = s.import_reaches("alice/src", "finished").await;
    let section = part(&page.html, "data-import", "</section>");
    assert!(section.contains("branches and tags imported"), "{section}");
    assert!(!section.contains("Cancel import"), "{section}");
    let masked = format!("http://*****:*****@127.0.0.1:{}/src.git", remote.port());
    assert!(section.contains(&masked), "{section}");

    // Everything arrived, the host's own refs did not.
    let project = s.api("/projects/alice%2Fsrc").await;
    let id = project["id"].as_i64().unwrap();
    assert_eq!(project["import_status"], "finished", "{project}");
    let ours = refs_of(&s.server.repo_path(id));
    assert_eq!(
        heads_and_tags(ours.clone()),
        heads_and_tags(remote.refs("src"))
    );
    assert!(
        !ours.keys().any(|r| r.starts_with("refs/pull/")),
        "{ours:?}"
    );
    assert!(page.html.contains("feature"), "the branches are listed");

    // The pull mirror it made: on the project page, the settings and the dashboard, masked.
    let pull = s.api(&format!("/projects/{id}/mirror/pull")).await;
    assert_eq!(pull["enabled"], true, "{pull}");
    let mirror_id = pull["id"].as_i64().unwrap();
    let row = part(
        &page.html,
        &format!("data-pull-mirror-id=\"{mirror_id}\""),
        "</tr>",
    );
    assert!(row.contains(">Pull<") && row.contains(&masked), "{row}");
    assert!(row.contains("Update now"), "{row}");
    let settings = s.page("/alice/src/-/settings/repository").await;
    assert!(settings.html.contains("Pull from a remote repository"));
    let row = part(
        &settings.html,
        &format!("data-pull-mirror-id=\"{mirror_id}\""),
        "</tr>",
    );
    assert!(row.contains(&masked), "{row}");
    let dashboard = s.page("/").await;
    let row = part(
        &dashboard.html,
        &format!("data-pull-mirror-id=\"{mirror_id}\""),
        "</tr>",
    );
    assert!(
        row.contains("href=\"/alice/src\"") && row.contains(&masked),
        "{row}"
    );
    s.never_shown(PASS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_by_url_shows_its_progress_until_finished() {
    import_by_url_with_a_mirror(Setup::on(builder().start().await).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_by_url_shows_its_progress_until_finished_on_postgres() {
    let Some(server) = builder().postgres().start().await else {
        return;
    };
    import_by_url_with_a_mirror(Setup::on(server).await).await;
}

/// A wrong password written into the URL: the import fails, the page shows the error scrubbed
/// (no password), "Retry import" schedules it again; a blank URL is GitLab's field error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_import_shows_its_scrubbed_error_and_can_be_retried() {
    const WRONG: &str = "Wrong-Pass-Zq7w";
    let s = Setup::on(builder().start().await).await;
    let remote = GitHttpRemote::start(Some((USER, PASS))).await;
    let _work = seeded_source(&remote, "src").await;
    let _ = s.page("/projects/new/import").await;
    let r = s
        .web
        .post(
            "/projects",
            &[("import", "1"), ("import_url", " "), ("name", "nothing")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.html.contains("Import url can&#39;t be blank")
            || r.html.contains("Import url can't be blank"),
        "{}",
        r.html
    );
    let bad = remote.url_with_credentials("src", USER, WRONG);
    let page = s
        .submit(
            "/projects",
            &[
                ("import", "1"),
                ("import_url", bad.as_str()),
                ("name", "broken"),
            ],
        )
        .await;
    assert!(page.html.contains("is being imported."));
    let page = s.import_reaches("alice/broken", "failed").await;
    let error = part(&page.html, "data-field=\"import_error\"", "</p>");
    assert!(error.len() > 30, "an error is shown: {error}");
    let project = s.api("/projects/alice%2Fbroken").await;
    let api_error = s.api(&format!("/projects/{}/import", project["id"])).await["import_error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!api_error.is_empty());
    assert!(
        unescape(error).contains(&api_error),
        "the API's error: {api_error} in {error}"
    );
    assert!(page.html.contains("Retry import"));
    assert!(!page.html.contains("Cancel import"));
    let page = s.submit("/alice/broken/-/import/retry", &[]).await;
    assert!(
        page.html.contains("The import was scheduled again."),
        "{}",
        page.html
    );
    s.import_reaches("alice/broken", "failed").await;
    s.never_shown(WRONG);
}

/// An import from a source that hangs is canceled from its page by a Maintainer; a Developer sees
/// the progress without the button and may not cancel; the button refuses a post without its
/// token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_import_is_canceled_from_its_page() {
    let s = Setup::on(builder().start().await).await;
    let remote = GitHttpRemote::start(Some((USER, PASS))).await;
    let _work = seeded_source(&remote, "src").await;
    remote.set_hang(true);
    let _ = s.page("/projects/new/import").await;
    let url = remote.url("src");
    s.submit(
        "/projects",
        &[
            ("import", "1"),
            ("import_url", url.as_str()),
            ("import_url_user", USER),
            ("import_url_password", PASS),
            ("name", "slow"),
        ],
    )
    .await;
    let page = s.import_reaches("alice/slow", "started").await;
    assert!(
        page.html.contains("data-running"),
        "refreshing while it runs"
    );
    assert!(page.html.contains("action=\"/alice/slow/-/import/cancel\""));

    // A Developer sees the progress, not the button, and may not cancel.
    let project = s.api("/projects/alice%2Fslow").await;
    let dev = create_user(&s.server, &s.admin, "dev", false).await;
    s.server
        .api(&s.admin)
        .add_member(project["id"].as_i64().unwrap(), dev, 30)
        .await;
    let dev_web = WebClient::signed_in(&s.server.base, "dev", PASSWORD).await;
    let page = dev_web.get("/alice/slow").await;
    assert!(
        page.html.contains("data-import-status=\"started\""),
        "{}",
        page.html
    );
    assert!(!page.html.contains("Cancel import"));
    let r = dev_web.post("/alice/slow/-/import/cancel", &[]).await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = s.web.post_raw("/alice/slow/-/import/cancel", &[]).await;
    assert_eq!(r.status, 422, "{r:?}");
    let status = s.api(&format!("/projects/{}/import", project["id"])).await;
    assert_eq!(status["import_status"], "started", "{status}");

    let _ = s.page("/alice/slow").await;
    let page = s.submit("/alice/slow/-/import/cancel", &[]).await;
    assert!(
        page.html.contains("The import was canceled."),
        "{}",
        page.html
    );
    assert!(page.html.contains("data-import-status=\"canceled\""));
    assert!(page.html.contains("Retry import"));
    let status = s.api(&format!("/projects/{}/import", project["id"])).await;
    assert_eq!(status["import_status"], "canceled", "{status}");
    remote.set_hang(false);
}

/// The pull mirror's form on the settings page: saved (credentials apart, masked), synced, a
/// diverged branch named and then overwritten, "Update now", refused settings with GitLab's
/// messages, disabled, removed; a Developer gets "Update now" only; every form needs its token.
async fn pull_mirror_through_the_settings(s: Setup) {
    let api = s.server.api(&s.admin);
    let project = api.create_project("site").await;
    let alice = s.server.user_id("alice").await;
    api.add_member(project.id, alice, 40).await;
    let remote = GitHttpRemote::start(Some((USER, PASS))).await;
    let work = seeded_source(&remote, "upstream").await;
    let base = format!("/{}", project.path_with_namespace);
    let settings = format!("{base}/-/settings/repository");

    let page = s.page(&settings).await;
    assert!(page.html.contains("Pull from a remote repository"));
    assert!(page.html.contains("No pull mirror."));
    let url = remote.url("upstream");
    let page = s
        .submit(
            &format!("{base}/-/pull_mirror"),
            &[
                ("url", url.as_str()),
                ("username", USER),
                ("password", PASS),
                ("enabled", "1"),
                ("interval", "3600"),
                ("branches", "all"),
            ],
        )
        .await;
    assert!(
        page.html.contains("Pull mirroring settings were saved."),
        "{}",
        page.html
    );
    let masked = format!(
        "http://*****:*****@127.0.0.1:{}/upstream.git",
        remote.port()
    );
    let pull = s
        .api(&format!("/projects/{}/mirror/pull", project.id))
        .await;
    assert_eq!(pull["url"], masked.as_str(), "{pull}");
    assert_eq!(pull["interval"], 3600, "{pull}");
    let repo = s.server.repo_path(project.id);
    let synced = poll_for(
        SETTLE,
        || async { heads_and_tags(refs_of(&repo)) },
        |ours| *ours == heads_and_tags(remote.refs("upstream")),
    )
    .await;
    if synced.is_err() {
        let state = s
            .api(&format!("/projects/{}/mirror/pull", project.id))
            .await;
        panic!("the first sync: {synced:?}; the mirror: {state}");
    }

    // The upstream force-pushes main: the next sync skips it and names it.
    let up = remote.url_with_credentials("upstream", USER, PASS);
    {
        let w = work.clone();
        blocking(move || {
            w.git(&["reset", "--hard", "HEAD~1"]);
            w.commit("rewritten");
            w.push(&up, &["+main"]);
        })
        .await;
    }
    let page = s
        .submit(
            &format!("{base}/-/pull_mirror/update_now"),
            &[("redirect_to", &settings)],
        )
        .await;
    assert!(
        page.html.contains("The pull mirror is being updated"),
        "{}",
        page.html
    );
    let pull_path = format!("/projects/{}/mirror/pull", project.id);
    let diverged = poll_for(
        SETTLE,
        || async { s.api(&pull_path).await },
        |p| p["diverged_refs"].as_array().is_some_and(|a| !a.is_empty()),
    )
    .await
    .unwrap_or_else(|p| panic!("main never reported diverged: {p}"));
    assert_eq!(
        diverged["diverged_refs"][0], "refs/heads/main",
        "{diverged}"
    );
    let page = s.page(&settings).await;
    let cell = part(&page.html, "data-field=\"diverged_refs\"", "</td>");
    assert!(cell.contains(">main<"), "{cell}");
    let overview = s.page(&base).await;
    let cell = part(&overview.html, "data-field=\"diverged_refs\"", "</td>");
    assert!(cell.contains(">main<"), "the project page too: {cell}");

    // Overwrite diverged branches: blank credentials keep the stored ones; main follows.
    s.submit(
        &format!("{base}/-/pull_mirror"),
        &[
            ("url", url.as_str()),
            ("enabled", "1"),
            ("interval", "3600"),
            ("overwrite_diverged", "1"),
            ("branches", "all"),
        ],
    )
    .await;
    s.submit(&format!("{base}/-/pull_mirror/update_now"), &[])
        .await;
    let upstream_main = remote.refs("upstream")["refs/heads/main"].clone();
    let moved = poll_for(
        SETTLE,
        || async { refs_of(&repo).get("refs/heads/main").cloned() },
        |m| m.as_deref() == Some(upstream_main.as_str()),
    )
    .await;
    assert!(
        moved.is_ok(),
        "main overwritten with the stored credentials: {moved:?}"
    );
    let pull = s.api(&pull_path).await;
    assert_eq!(pull["mirror_overwrites_diverged_branches"], true, "{pull}");

    // Refused settings come back as GitLab's messages; nothing changes.
    for (fields, message) in [
        (vec![("interval", "soon")], "Interval is not a number"),
        (
            vec![("interval", "0")],
            "Interval must be greater than or equal to 1",
        ),
        (
            vec![("branches", "regex"), ("mirror_branch_regex", "(unclosed")],
            "Mirror branch regex",
        ),
        (
            vec![("branches", "regex")],
            "Mirror branch regex can&#39;t be blank",
        ),
    ] {
        let mut all = vec![("url", url.as_str()), ("enabled", "1")];
        all.extend(fields);
        let page = s.submit(&format!("{base}/-/pull_mirror"), &all).await;
        assert!(
            page.html.contains(message) || page.html.contains(&message.replace("&#39;", "'")),
            "{message}: {}",
            page.html
        );
    }
    assert_eq!(s.api(&pull_path).await["interval"], 3600);

    // A Developer: "Update now" on the project page; no settings.
    let dev = create_user(&s.server, &s.admin, "dev", false).await;
    api.add_member(project.id, dev, 30).await;
    let dev_web = WebClient::signed_in(&s.server.base, "dev", PASSWORD).await;
    let page = dev_web.get(&base).await;
    assert!(page
        .html
        .contains(&format!("action=\"{base}/-/pull_mirror/update_now\"")));
    let r = dev_web
        .post(&format!("{base}/-/pull_mirror/update_now"), &[])
        .await;
    assert_eq!(r.status, 303, "{r:?}");
    let r = dev_web
        .post(
            &format!("{base}/-/pull_mirror"),
            &[("url", "https://example.com/x.git")],
        )
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(
        dev_web
            .post(&format!("{base}/-/pull_mirror/delete"), &[])
            .await
            .status,
        404
    );

    // Every new form refuses a post without its token.
    for rest in [
        "/-/pull_mirror",
        "/-/pull_mirror/update_now",
        "/-/pull_mirror/delete",
    ] {
        let r = s
            .web
            .post_raw(
                &format!("{base}{rest}"),
                &[("url", "https://example.com/y.git")],
            )
            .await;
        assert_eq!(r.status, 422, "{rest}: {r:?}");
    }
    assert_eq!(s.api(&pull_path).await["url"], masked.as_str());

    // Disabled, then removed.
    let _ = s.page(&settings).await;
    s.submit(
        &format!("{base}/-/pull_mirror"),
        &[
            ("url", url.as_str()),
            ("interval", "3600"),
            ("branches", "all"),
        ],
    )
    .await;
    assert_eq!(s.api(&pull_path).await["enabled"], false);
    let page = s.page(&settings).await;
    let row = part(&page.html, "data-pull-mirror-id=", "</tr>");
    assert!(row.contains("Disabled"), "{row}");
    // The dashboard's filters apply to pull mirrors too.
    let disabled = s.page("/?status=disabled").await;
    assert!(
        disabled.html.contains("data-pull-mirror-id="),
        "{}",
        disabled.html
    );
    let failing = s.page("/?status=failing").await;
    assert!(!failing.html.contains("data-pull-mirror-id="));
    let other = s.page("/?project=alice%2Fnothing").await;
    assert!(!other.html.contains("data-pull-mirror-id="));
    let page = s.submit(&format!("{base}/-/pull_mirror/delete"), &[]).await;
    assert!(
        page.html.contains("Pull mirroring was removed."),
        "{}",
        page.html
    );
    assert!(page.html.contains("No pull mirror."));
    s.never_shown(PASS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_mirror_is_configured_synced_and_removed_through_the_settings() {
    pull_mirror_through_the_settings(Setup::on(builder().start().await).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_mirror_is_configured_synced_and_removed_through_the_settings_on_postgres() {
    let Some(server) = builder().postgres().start().await else {
        return;
    };
    pull_mirror_through_the_settings(Setup::on(server).await).await;
}

/// The value of the input with id `id` in `html`.
fn input_value(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..at].rfind('<')?;
    let tag = &html[start..at + html[at..].find('>')?];
    Some(tag.split("value=\"").nth(1)?.split('"').next()?.to_owned())
}

/// An `ssh://` pull mirror through the form: the host key pasted is pinned (its fingerprint
/// shown), the key pair made for the mirror is shown to give the upstream, and saving again
/// without host keys keeps both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_pull_mirror_pins_its_host_key_and_shows_its_public_key() {
    const HOST_KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFIHeQqaq/R/GwNosBU++VFEvyQdGIGka/EevR1mtp87";
    let s = Setup::on(builder().start().await).await;
    let api = s.server.api(&s.admin);
    let project = api.create_project("ssh-site").await;
    api.add_member(project.id, s.server.user_id("alice").await, 40)
        .await;
    let base = format!("/{}", project.path_with_namespace);
    let _ = s.page(&format!("{base}/-/settings/repository")).await;
    let fields = |keys: &'static str| {
        vec![
            ("url", "ssh://git@127.0.0.1:9/up.git"),
            ("host_keys", keys),
            ("interval", "3600"),
            ("branches", "all"),
        ]
    };
    let page = s
        .submit(&format!("{base}/-/pull_mirror"), &fields(HOST_KEY))
        .await;
    assert!(
        page.html.contains("Pull mirroring settings were saved."),
        "{}",
        page.html
    );
    let key = input_value(&page.html, "pull_public_key").expect("the public key is shown");
    assert!(key.starts_with("ssh-ed25519 "), "{key}");
    let pull = s
        .api(&format!("/projects/{}/mirror/pull", project.id))
        .await;
    assert_eq!(pull["ssh_public_key"], key.as_str(), "{pull}");
    assert_eq!(pull["enabled"], false);
    let pinned = part(&page.html, "id=\"pull_pinned_host_keys\"", "</ul>");
    assert!(pinned.contains("SHA256:"), "{pinned}");
    let page = s
        .submit(&format!("{base}/-/pull_mirror"), &fields(""))
        .await;
    assert_eq!(input_value(&page.html, "pull_public_key"), Some(key));
    assert!(
        page.html.contains("id=\"pull_pinned_host_keys\""),
        "the pinned key stays"
    );
}
