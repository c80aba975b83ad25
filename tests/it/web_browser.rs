//! The web interface end to end in a real headless Chromium (WebDriver): people sign in, watch
//! their mirrors, add HTTP and SSH mirrors through the form, update them and see the status turn
//! without a reload, find a failing mirror at the top of the dashboard, revoke a token; and
//! every form on every page refuses a post without its CSRF token. Each page is saved as a
//! screenshot under `target/tmp/screenshots/`, at desktop and at 360 px wide.

use serde_json::{json, Value};

use crate::common::browser::Browser;
use crate::common::web::{create_user, PASSWORD};
use crate::common::TestServer;

/// Signs in through the form, as a person would.
async fn sign_in(b: &Browser, base: &str, login: &str, then: &str) {
    b.open(&format!(
        "{base}/users/sign_in?redirect_to={}",
        urlencode(then)
    ))
    .await;
    b.fill("Username or email", login).await;
    b.fill("Password", PASSWORD).await;
    b.click_button("Sign in").await;
    b.wait_for_js(
        "leaving the sign-in page",
        "return !location.pathname.startsWith('/users/sign_in');",
    )
    .await;
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Posts every POST form of the current page without its CSRF token (from inside the page, so
/// with the browser's own cookies); returns each form's action and the answer's status.
async fn post_every_form_without_csrf(b: &Browser) -> Vec<(String, u64)> {
    let v = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const forms = [...document.querySelectorAll('form')]
               .filter(f => (f.getAttribute('method') || 'get').toLowerCase() === 'post');
             Promise.all(forms.map(f => {
               const data = new URLSearchParams(new FormData(f));
               data.delete('authenticity_token');
               return fetch(f.action, {method: 'POST', body: data, redirect: 'manual',
                                       credentials: 'same-origin'})
                 .then(r => [f.getAttribute('action'), r.status]);
             })).then(done, e => done([['error', String(e)]]));",
            vec![],
        )
        .await
        .expect("script");
    v.as_array()
        .expect("array")
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap_or_default().to_owned(),
                pair[1].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Checks every POST form of the current page refuses a post without its token (422); returns
/// how many forms there were.
async fn forms_refuse_without_csrf(b: &Browser) -> usize {
    let answers = post_every_form_without_csrf(b).await;
    for (action, status) in &answers {
        assert_eq!(
            *status,
            422,
            "{action} accepted a post without its CSRF token on {}",
            b.url().await
        );
    }
    answers.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_in_a_browser() {
    let Some(b) = Browser::start_or_skip(1280, 900).await else {
        return;
    };
    let s = TestServer::builder().start().await;
    let root = s.token("root", true).await;
    create_user(&s, &root, "alice", false).await;

    b.open(&format!("{}/users/sign_in", s.base)).await;
    b.screenshot("sign_in").await;
    assert_eq!(forms_refuse_without_csrf(&b).await, 1);
    // A wrong password: one message, nothing said about which part was wrong.
    b.fill("Username or email", "alice").await;
    b.fill("Password", "not-the-password").await;
    b.click_button("Sign in").await;
    b.wait_for_text("Invalid login or password.").await;

    sign_in(&b, &s.base, "alice", "/users/sign_out").await;
    let text = b.wait_for_text("Signed in as").await;
    assert!(text.contains("alice"), "{text}");
    assert_eq!(
        forms_refuse_without_csrf(&b).await,
        2,
        "the sign-out form, twice"
    );
    let cookies = b.client.get_all_cookies().await.expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c.name() == "_pushmirror_session")
        .expect("session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        b.js(
            "return document.cookie.includes('_pushmirror_session');",
            vec![]
        )
        .await,
        Value::Bool(false),
        "scripts cannot read the session"
    );
    b.click_button("Sign out").await;
    b.wait_for_text("Signed out successfully.").await;
}

/// What the current page breaks of the basics: inputs without a label, buttons without text,
/// content wider than the window (at 360 px), images without alt text. Empty when none.
async fn accessibility_problems(b: &Browser) -> Vec<String> {
    let v = b
        .js(
            "const out = [];
             for (const el of document.querySelectorAll('input, select, textarea')) {
               if (el.type === 'hidden') continue;
               const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label')
                 || el.getAttribute('aria-labelledby');
               if (!named) out.push('unlabelled ' + el.tagName.toLowerCase() + ' ' + (el.name || el.id));
             }
             for (const el of document.querySelectorAll('button, a')) {
               const t = (el.textContent || '').trim() || el.getAttribute('aria-label') || el.title;
               if (!t) out.push('nameless ' + el.tagName.toLowerCase() + ' ' + el.outerHTML.slice(0, 80));
             }
             for (const img of document.querySelectorAll('img')) {
               if (!img.hasAttribute('alt')) out.push('img without alt ' + img.src);
             }
             if (document.documentElement.scrollWidth > window.innerWidth + 1)
               out.push('wider than the window: ' + document.documentElement.scrollWidth + ' > ' + window.innerWidth);
             if (!document.documentElement.lang) out.push('no lang');
             if (!document.title) out.push('no title');
             return out;",
            vec![],
        )
        .await;
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Visits `path` at desktop width and at 360 px: saves both screenshots as `<name>` and
/// `<name>-360`, checks the basics of accessibility at both widths and that every form on it
/// refuses a post without its CSRF token; returns the number of forms.
async fn check_page(b: &Browser, base: &str, path: &str, name: &str) -> usize {
    b.client.set_window_size(1280, 900).await.expect("resize");
    b.open(&format!("{base}{path}")).await;
    let problems = accessibility_problems(b).await;
    assert!(problems.is_empty(), "{path} at 1280 px: {problems:?}");
    b.screenshot(name).await;
    let forms = forms_refuse_without_csrf(b).await;
    b.client.set_window_size(360, 800).await.expect("resize");
    b.open(&format!("{base}{path}")).await;
    let problems = accessibility_problems(b).await;
    assert!(problems.is_empty(), "{path} at 360 px: {problems:?}");
    b.screenshot(&format!("{name}-360")).await;
    b.client.set_window_size(1280, 900).await.expect("resize");
    forms
}

/// Checks the checkbox labelled `label` (exactly), as a click on it.
async fn check(b: &Browser, label: &str) {
    let id = b.label_target(label).await;
    let el = b
        .client
        .find(fantoccini::Locator::Id(&id))
        .await
        .expect("checkbox");
    if el.prop("checked").await.ok().flatten().as_deref() != Some("true") {
        el.click().await.expect("check");
    }
}

/// Clicks `button` in a form with `data-confirm` and accepts the browser's confirmation.
async fn click_and_confirm(b: &Browser, button: &str) {
    b.click_button(button).await;
    let accepted = crate::common::poll_until(crate::common::browser::PAGE_WAIT, || async {
        b.client.accept_alert().await.is_ok()
    })
    .await;
    assert!(accepted, "no confirmation asked before '{button}'");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_made_in_the_browser_is_shown_once_and_revoked_there() {
    let Some(b) = Browser::start_or_skip(1280, 900).await else {
        return;
    };
    let s = TestServer::builder().start().await;
    let root = s.token("root", true).await;
    create_user(&s, &root, "alice", false).await;
    sign_in(&b, &s.base, "alice", "/-/profile/personal_access_tokens").await;

    b.fill("Token name", "deploy script").await;
    check(&b, "api").await;
    b.click_button("Create token").await;
    b.wait_for_text("Your new personal access token has been created.")
        .await;
    b.screenshot("token_created").await;
    let token = b
        .js(
            "return document.getElementById(arguments[0]).value;",
            vec![json!(
                b.label_target("Your new personal access token").await
            )],
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(token.starts_with("pmpat-"), "{token}");
    let r = s.get("/user", &token).await;
    assert_eq!(
        (r.status, r.body["username"].clone()),
        (200, json!("alice"))
    );

    // Shown once: a reload shows the token's row, never the token.
    b.open(&format!("{}/-/profile/personal_access_tokens", s.base))
        .await;
    let text = b.wait_for_text("deploy script").await;
    assert!(!b.client.source().await.unwrap().contains(&token), "{text}");
    click_and_confirm(&b, "Revoke").await;
    b.wait_for_text("This user has no active personal access tokens.")
        .await;
    assert_eq!(s.get("/user", &token).await.status, 401);
}

/// The value of the input labelled `label`.
async fn value_of(b: &Browser, label: &str) -> String {
    b.js(
        "return document.getElementById(arguments[0]).value;",
        vec![json!(b.label_target(label).await)],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_creates_a_group_a_subgroup_and_a_project_in_the_browser() {
    let Some(b) = Browser::start_or_skip(1280, 900).await else {
        return;
    };
    let s = TestServer::builder().start().await;
    let root = s.token("root", true).await;
    create_user(&s, &root, "alice", false).await;
    sign_in(&b, &s.base, "alice", "/").await;

    // From the navigation to a new group; the URL follows the name as it is typed.
    b.click_in("header nav", "Groups").await;
    b.wait_for_text("No groups to show yet.").await;
    b.click_in("main", "New group").await;
    b.wait_for_text("Create group").await;
    b.fill("Group name", "Acme Corp").await;
    assert_eq!(value_of(&b, "Group URL").await, "acme-corp");
    // A reserved path comes back on the form with GitLab's message, the name kept.
    b.fill("Group URL", "admin").await;
    b.click_button("Create group").await;
    b.wait_for_text("Path admin is a reserved name").await;
    b.screenshot("new_group_refused").await;
    assert_eq!(value_of(&b, "Group name").await, "Acme Corp");
    b.fill("Group URL", "acme-corp").await;
    b.click_button("Create group").await;
    b.wait_for_text("Group 'Acme Corp' was successfully created.")
        .await;
    assert!(
        b.url().await.ends_with("/groups/acme-corp"),
        "{}",
        b.url().await
    );

    // A subgroup from the group's page.
    b.click_in("main", "New subgroup").await;
    b.wait_for_text("Create subgroup").await;
    b.fill("Subgroup name", "Team One").await;
    assert_eq!(value_of(&b, "Subgroup URL").await, "team-one");
    b.click_button("Create subgroup").await;
    b.wait_for_text("Group 'Team One' was successfully created.")
        .await;
    assert!(b.url().await.ends_with("/groups/acme-corp/team-one"));

    // A project in it from its page: the subgroup is chosen, the slug made from the name.
    b.click_in("main", "New project").await;
    b.wait_for_text("Create blank project").await;
    let chosen = b
        .js(
            "const s = document.getElementById(arguments[0]); return s.options[s.selectedIndex].text;",
            vec![json!(b.label_target("Namespace").await)],
        )
        .await;
    assert!(
        chosen
            .as_str()
            .unwrap_or_default()
            .ends_with("/acme-corp/team-one/"),
        "{chosen}"
    );
    b.fill("Project name", "My App").await;
    assert_eq!(value_of(&b, "Project slug").await, "my-app");
    // A slug typed by the person stays when the name changes.
    b.fill("Project slug", "web-app").await;
    b.fill("Project name", "Web App").await;
    assert_eq!(value_of(&b, "Project slug").await, "web-app");
    check(&b, "Private").await;
    b.screenshot("new_project").await;
    b.click_button("Create project").await;
    b.wait_for_text("Project 'Web App' was successfully created.")
        .await;
    assert!(b.url().await.ends_with("/acme-corp/team-one/web-app"));
    let r = s
        .get("/projects/acme-corp%2Fteam-one%2Fweb-app", &root)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["visibility"], "private");

    // The project is in the list and on its group's page.
    b.click_in("header nav", "Projects").await;
    b.wait_for_text("acme-corp/team-one/web-app").await;
    b.screenshot("projects").await;
    b.open(&format!("{}/groups/acme-corp", s.base)).await;
    b.wait_for_text("acme-corp/team-one").await;
    b.click_in("main table", "Acme Corp / Team One").await;
    b.wait_for_text("acme-corp/team-one/web-app").await;
    b.screenshot("group").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_imports_a_repository_by_url_and_watches_it_finish() {
    const SECRET: &str = "import-secret-41";
    let Some(b) = Browser::start_or_skip(1280, 900).await else {
        return;
    };
    let s = TestServer::builder()
        .engine(true)
        .local_network(true)
        .start()
        .await;
    let root = s.token("root", true).await;
    create_user(&s, &root, "alice", false).await;
    let remote = crate::remotes::GitHttpRemote::start(Some(("bot", SECRET))).await;
    remote.create_repo("tools");
    let url = remote.url_with_credentials("tools", "bot", SECRET);
    crate::common::blocking(move || {
        let w = crate::common::Work::new();
        w.commit("one");
        w.git(&["tag", "v1"]);
        w.push(&url, &["main", "v1"]);
    })
    .await;
    sign_in(&b, &s.base, "alice", "/projects/new").await;
    b.click_in("main nav.tabs", "Import project").await;
    b.wait_for_text("Repository by URL").await;
    b.fill("Git repository URL", &remote.url("tools")).await;
    b.fill("Username (optional)", "bot").await;
    b.fill("Password (optional)", SECRET).await;
    check(&b, "Mirror repository").await;
    b.fill("Project name", "Tools").await;
    b.screenshot("import_project").await;
    b.click_button("Create project").await;
    b.wait_for_text("Project 'Tools' is being imported.").await;
    // The section follows the import by itself: no reload by the person.
    b.wait_for_js(
        "the import shown finished",
        "const s = document.querySelector('section[data-import]'); \
         return !!s && s.dataset.importStatus === 'finished';",
    )
    .await;
    let text = b.wait_for_text("branches and tags imported").await;
    assert!(text.contains("Pull mirror"), "{text}");
    assert!(!b.client.source().await.unwrap().contains(SECRET));
    b.screenshot("imported_project").await;
    let r = s.get("/projects/alice%2Ftools", &root).await;
    assert_eq!(r.body["import_status"], "finished", "{}", r.text);

    // A source that hangs: the open page follows the import's end by itself (here a cancel
    // through the API), then the person retries and cancels with the page's buttons.
    remote.set_hang(true);
    b.open(&format!("{}/projects/new/import", s.base)).await;
    b.fill("Git repository URL", &remote.url("tools")).await;
    b.fill("Username (optional)", "bot").await;
    b.fill("Password (optional)", SECRET).await;
    b.fill("Project name", "Slow").await;
    b.click_button("Create project").await;
    b.wait_for_text("Project 'Slow' is being imported.").await;
    b.wait_for_js(
        "the import shown started",
        "const s = document.querySelector('section[data-import]'); \
         return !!s && s.dataset.importStatus === 'started';",
    )
    .await;
    b.screenshot("import_running").await;
    b.js("window.__e2eMark = 1;", vec![]).await;
    let id = s.get("/projects/alice%2Fslow", &root).await.body["id"].clone();
    let r = s
        .post_json(&format!("/projects/{id}/import/cancel"), &root, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    b.wait_for_js(
        "the page showing the cancel by itself",
        "const s = document.querySelector('section[data-import]'); \
         return window.__e2eMark !== 1 && !!s && s.dataset.importStatus === 'canceled';",
    )
    .await;
    b.click_button("Retry import").await;
    b.wait_for_text("The import was scheduled again.").await;
    b.wait_for_js(
        "the retried import running",
        "const s = document.querySelector('section[data-import]'); \
         return !!s && s.dataset.importStatus === 'started';",
    )
    .await;
    click_and_confirm(&b, "Cancel import").await;
    b.wait_for_text("The import was canceled.").await;
    let r = s.get(&format!("/projects/{id}/import"), &root).await;
    assert_eq!(r.body["import_status"], "canceled", "{}", r.text);
    remote.set_hang(false);
}

/// The engine's retry delay in the journey's server, so a failing mirror fails for good soon.
const RETRY_DELAY_SECS: u64 = 1;

/// Sets `user_id`'s password through the admin API.
async fn set_password(s: &TestServer, admin_token: &str, user_id: i64) {
    let r = s
        .put_json(
            &format!("/users/{user_id}"),
            admin_token,
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Adds a mirror through the settings form (the page must be open) and waits for its row;
/// returns the new row's mirror id.
async fn add_mirror_by_form(b: &Browser, url: &str, user: Option<(&str, &str)>) -> i64 {
    let before = mirror_ids(b).await;
    b.fill("Git repository URL", url).await;
    if let Some((name, password)) = user {
        b.select("Authentication method", "Username and Password")
            .await;
        b.fill("Username", name).await;
        b.fill("Password", password).await;
    }
    b.click_button("Mirror repository").await;
    b.wait_for_text("Mirroring settings were successfully updated.")
        .await;
    let after = mirror_ids(b).await;
    let new: Vec<i64> = after
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    assert_eq!(new.len(), 1, "one new row: {new:?}");
    new[0]
}

/// The mirror ids of the table rows on the page.
async fn mirror_ids(b: &Browser) -> Vec<i64> {
    b.js(
        "return [...document.querySelectorAll('tr[data-mirror-id]')].map(r => Number(r.dataset.mirrorId));",
        vec![],
    )
    .await
    .as_array()
    .map(|a| a.iter().filter_map(Value::as_i64).collect())
    .unwrap_or_default()
}

/// Waits until mirror `id`'s row shows status `word`, with no reload of the page since
/// [`mark_page`] (its mark must still be there).
async fn wait_for_row_status(b: &Browser, id: i64, word: &str) {
    b.wait_for_js(
        &format!("mirror {id} showing '{word}' without a reload"),
        &format!(
            "const c = document.querySelector('tr[data-mirror-id=\"{id}\"] [data-field=status]'); \
             return window.__e2eMark === 1 && !!c && c.innerText.trim() === '{word}';"
        ),
    )
    .await;
}

/// Marks the page, so a later check can tell it was not reloaded.
async fn mark_page(b: &Browser) {
    b.js("window.__e2eMark = 1;", vec![]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_are_added_updated_and_watched_in_the_browser() {
    let Some(b) = Browser::start_or_skip(1280, 900).await else {
        return;
    };
    let ssh = crate::remotes::SshRemote::start().filter(|r| r.login_is_another_user());
    if ssh.is_none() {
        let why = "the SSH part needs sshd and root (to log in as `git`)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: {why}"
        );
        eprintln!("skipping the SSH mirror: {why}");
    }
    let s = TestServer::builder()
        .engine(true)
        .local_network(true)
        .tweak(|c| {
            c.tuning.retry_delay_secs = RETRY_DELAY_SECS;
            c.tuning.retry_delay_protected_secs = RETRY_DELAY_SECS;
        })
        .start()
        .await;
    let root = s.token("root", true).await;
    set_password(&s, &root, s.user_id("root").await).await;
    let api = s.api(&root);
    let project = api.create_project("app").await;
    let work = std::sync::Arc::new(crate::common::Work::new());
    let push_url = s.push_url(&root, &project.path_with_namespace);
    {
        let (w, url) = (work.clone(), push_url.clone());
        crate::common::blocking(move || {
            w.commit("one");
            w.git(&["tag", "v1"]);
            w.push(&url, &["main", "v1"]);
        })
        .await;
    }
    let local_refs = crate::common::refs_of(
        &s.data_dir()
            .join(format!("repositories/{}.git", project.id)),
    );

    let http = crate::remotes::GitHttpRemote::start(Some(("mirror-bot", "remote-secret-77"))).await;
    http.create_repo("app");
    sign_in(&b, &s.base, "root", "/root/app/-/settings/repository").await;
    b.wait_for_text("Mirroring repositories").await;

    // An HTTP mirror with a password, through the form; "Update now" updates it while the page
    // stays, and the status turns without a reload.
    let http_id = add_mirror_by_form(
        &b,
        &http.url("app"),
        Some(("mirror-bot", "remote-secret-77")),
    )
    .await;
    assert!(!b
        .client
        .source()
        .await
        .unwrap()
        .contains("remote-secret-77"));
    mark_page(&b).await;
    b.click_in(&format!("tr[data-mirror-id=\"{http_id}\"]"), "Update now")
        .await;
    b.wait_for_text("The remote repository is being updated")
        .await;
    wait_for_row_status(&b, http_id, "Up to date").await;
    assert_eq!(http.refs("app"), local_refs);

    // A push updates the mirror, and the open page shows the new update as it happens.
    let before = last_update(&b, http_id).await;
    let requests = http.request_log().len();
    {
        let (w, url) = (work.clone(), push_url.clone());
        crate::common::blocking(move || {
            w.commit("two");
            w.push(&url, &["main"]);
        })
        .await;
    }
    let moved = crate::common::poll_until(crate::common::browser::PAGE_WAIT, || async {
        last_update(&b, http_id).await != before
    })
    .await;
    assert!(moved, "the last update time never changed on the page");
    wait_for_row_status(&b, http_id, "Up to date").await;
    assert!(
        http.request_log().len() > requests,
        "the update reached the remote"
    );
    let local_refs = crate::common::refs_of(
        &s.data_dir()
            .join(format!("repositories/{}.git", project.id)),
    );
    crate::common::poll_until(crate::common::browser::PAGE_WAIT, || async {
        http.refs("app") == local_refs
    })
    .await;
    assert_eq!(http.refs("app"), local_refs);
    b.screenshot("settings_repository").await;

    // An SSH mirror: detect the host keys, confirm them, give the remote the mirror's key.
    if let Some(ssh) = &ssh {
        let url = ssh.create_repo("app-ssh");
        b.fill("Git repository URL", &url).await;
        b.select("Authentication method", "SSH public key").await;
        b.click_button("Detect host keys").await;
        let text = b.wait_for_text("SHA256:").await;
        let expected = ssh_fingerprint(&ssh.host_key_line());
        assert!(text.contains(&expected), "{expected} not in\n{text}");
        b.screenshot("settings_detected_host_keys").await;
        check(&b, "The host keys are correct: pin them to this mirror").await;
        let before = mirror_ids(&b).await;
        b.click_button("Mirror repository").await;
        b.wait_for_text("Mirroring settings were successfully updated.")
            .await;
        let ssh_id = *mirror_ids(&b)
            .await
            .iter()
            .find(|id| !before.contains(id))
            .expect("the SSH mirror's row");
        let key = b
            .js(
                "return document.getElementById(arguments[0]).value;",
                vec![json!(format!("mirror_public_key_{ssh_id}"))],
            )
            .await
            .as_str()
            .expect("public key shown")
            .to_owned();
        assert!(key.starts_with("ssh-ed25519 "), "{key}");
        ssh.authorize_key(&key);
        mark_page(&b).await;
        b.click_in(&format!("tr[data-mirror-id=\"{ssh_id}\"]"), "Update now")
            .await;
        wait_for_row_status(&b, ssh_id, "Up to date").await;
        assert_eq!(ssh.refs("app-ssh"), local_refs);
        let m = api.mirror(project.id, ssh_id).await;
        assert_eq!(m.update_status, "finished");
    }

    // A mirror whose remote is down fails, and the dashboard shows it first, with its error.
    let down = crate::remotes::GitHttpRemote::start(None).await;
    down.create_repo("gone");
    down.set_down(true);
    b.open(&format!("{}/root/app/-/settings/repository", s.base))
        .await;
    let failing = add_mirror_by_form(&b, &down.url("gone"), None).await;
    b.click_in(&format!("tr[data-mirror-id=\"{failing}\"]"), "Update now")
        .await;
    b.wait_for_text("The remote repository is being updated")
        .await;
    b.open(&format!("{}/", s.base)).await;
    mark_page(&b).await;
    b.wait_for_js(
        "the failing mirror at the top of the dashboard",
        &format!(
            "const r = document.querySelector('tr[data-mirror-id]'); \
             return !!r && r.dataset.mirrorId === '{failing}' && \
               ['Failed', 'Retrying'].includes(r.querySelector('[data-field=status]').innerText.trim()) && \
               r.querySelector('[data-field=last_error]').innerText.trim().length > 0;"
        ),
    )
    .await;
    let text = b.text().await;
    let total = if ssh.is_some() { 3 } else { 2 };
    assert!(
        text.contains(&format!("{total} mirrors, 1 failing")),
        "{text}"
    );
    b.wait_for_js(
        "the mirror failing for good",
        &format!(
            "const r = document.querySelector('tr[data-mirror-id=\"{failing}\"] [data-field=status]'); \
             return window.__e2eMark === 1 && !!r && r.innerText.trim() === 'Failed';"
        ),
    )
    .await;
    b.screenshot("dashboard").await;
    let error = b
        .text_of(&format!(
            "tr[data-mirror-id=\"{failing}\"] [data-field=last_error]"
        ))
        .await;
    let api_error = api
        .mirror(project.id, failing)
        .await
        .last_error
        .unwrap_or_default();
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!error.is_empty());
    assert_eq!(
        words(&error),
        words(&api_error),
        "the error as the API shows it"
    );
}

/// The `datetime` of mirror `id`'s last update attempt as its row shows it.
async fn last_update(b: &Browser, id: i64) -> Value {
    b.js(
        "const t = document.querySelector(arguments[0]); return t ? t.getAttribute('datetime') : null;",
        vec![json!(format!(
            "tr[data-mirror-id=\"{id}\"] [data-field=last_update] time"
        ))],
    )
    .await
}

/// The SHA256 fingerprint of a host key (`<type> AAAA…`), as ssh-keygen prints it (`SHA256:…`).
fn ssh_fingerprint(key: &str) -> String {
    let fingerprints = crate::ssh::keygen_fingerprints(&format!("h {key}"), "sha256");
    let (_, fingerprint, _) = fingerprints.iter().next().expect("ssh-keygen read the key");
    fingerprint.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_accessible_and_every_form_needs_its_token() {
    let Some(b) = Browser::start_or_skip(1280, 900).await else {
        return;
    };
    let s = TestServer::builder().local_network(true).start().await;
    let root = s.token("root", true).await;
    set_password(&s, &root, s.user_id("root").await).await;
    create_user(&s, &root, "dev", false).await;
    let api = s.api(&root);
    let project = api.create_project("app").await;
    let org = api.create_group("org", None).await;
    api.create_project_with(json!({"name": "tool", "namespace_id": org.id}))
        .await;
    let work = crate::common::Work::new();
    let push_url = s.push_url(&root, &project.path_with_namespace);
    crate::common::blocking(move || {
        work.commit("one");
        work.git(&["tag", "v1"]);
        work.push(&push_url, &["main", "v1"]);
    })
    .await;
    let mirror = api
        .create_mirror_with(
            project.id,
            json!({"url": "https://mirror-bot:s3cret@git.example.com/app.git", "enabled": false}),
        )
        .await;
    let r = s
        .post_json(
            &format!("/projects/{}/hooks", project.id),
            &root,
            json!({"url": "http://127.0.0.1:9/in", "token": "hook-secret", "remote_mirror_events": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let hook = r.body["id"].as_i64().unwrap();
    // A pull mirror (disabled: nothing runs in this server) and an import that stays scheduled.
    let r = s
        .put_json(
            &format!("/projects/{}/mirror/pull", project.id),
            &root,
            json!({"url": "https://mirror-bot:s3cret@git.example.com/up.git", "enabled": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s
        .post_json(
            "/projects",
            &root,
            json!({"name": "incoming", "import_url": "http://127.0.0.1:9/x.git",
                   "import_url_password": "s3cret"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let dev = s.user_id("dev").await;
    let r = s
        .post_json(
            &format!("/projects/{}/members", project.id),
            &root,
            json!({"user_id": dev, "access_level": 30}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // A key of root's and a deploy key, so both tables show (made by ssh-keygen elsewhere).
    let r = s
        .post_json(
            "/user/keys",
            &root,
            json!({"title": "laptop", "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFIHeQqaq/R/GwNosBU++VFEvyQdGIGka/EevR1mtp87 me@host"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = s
        .post_json(
            &format!("/projects/{}/deploy_keys", project.id),
            &root,
            json!({"title": "ci", "can_push": true, "key": "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGMtzSwqa7eoAV0UT7/ddE1+MryMUwjOKXUbGneH8BiY/jtQSMiAG1x/KIEJffUxkGnfDphkuf3AxqocV12DjP4= ec"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    sign_in(&b, &s.base, "root", "/").await;
    let pages = [
        ("/".to_owned(), "dashboard-page"),
        ("/root/app".to_owned(), "project"),
        ("/root/app/-/settings/repository".to_owned(), "settings"),
        (
            format!("/root/app/-/mirrors/{}/edit", mirror.id),
            "mirror_edit",
        ),
        ("/root/app/-/project_members".to_owned(), "members"),
        ("/root/app/-/hooks".to_owned(), "hooks"),
        (format!("/root/app/-/hooks/{hook}/edit"), "hook_edit"),
        ("/-/profile/personal_access_tokens".to_owned(), "tokens"),
        ("/-/user_settings/ssh_keys".to_owned(), "ssh_keys"),
        ("/admin".to_owned(), "admin"),
        ("/admin/users".to_owned(), "admin_users"),
        ("/admin/projects".to_owned(), "admin_projects"),
        ("/dashboard/projects".to_owned(), "projects_list"),
        ("/dashboard/groups".to_owned(), "groups_list"),
        ("/projects/new".to_owned(), "project_new"),
        ("/projects/new/import".to_owned(), "project_import"),
        ("/root/incoming".to_owned(), "import_progress"),
        ("/groups/new".to_owned(), "group_new"),
        ("/groups/org".to_owned(), "group_page"),
        (format!("/groups/new?parent_id={}", org.id), "subgroup_new"),
    ];
    let mut forms = 0;
    for (path, name) in &pages {
        forms += check_page(&b, &s.base, path, name).await;
        let text = b.text().await;
        assert!(!text.contains("Page not found"), "{path}: {text}");
        let html = b.client.source().await.unwrap();
        for secret in ["s3cret", "hook-secret"] {
            assert!(!html.contains(secret), "{path} shows a credential");
        }
    }
    assert!(forms >= 20, "only {forms} forms checked");

    // A Developer sees the project and the mirror's status, never its settings.
    let b2 = Browser::start_or_skip(1280, 900)
        .await
        .expect("second browser");
    sign_in(&b2, &s.base, "dev", "/root/app").await;
    let text = b2.wait_for_text("app").await;
    assert!(!text.contains("Page not found"), "{text}");
    b2.open(&format!("{}/root/app/-/settings/repository", s.base))
        .await;
    b2.wait_for_text("Page not found").await;
    b2.open(&format!("{}/admin", s.base)).await;
    b2.wait_for_text("Page not found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_and_reach_their_tokens_with_the_keyboard_alone() {
    use fantoccini::key::Key;
    let Some(b) = Browser::start_or_skip(1280, 900).await else {
        return;
    };
    let s = TestServer::builder().start().await;
    let root = s.token("root", true).await;
    create_user(&s, &root, "alice", false).await;
    b.open(&format!("{}/users/sign_in", s.base)).await;
    // The login field has the focus; Tab moves to the password; Enter signs in.
    let typed = format!(
        "alice{}{PASSWORD}{}",
        char::from(Key::Tab),
        char::from(Key::Enter)
    );
    b.client
        .active_element()
        .await
        .expect("focused element")
        .send_keys(&typed)
        .await
        .expect("type");
    b.wait_for_text("Signed in as").await;
    // From the top of the page, Tab reaches the skip link first, then the navigation.
    b.js(
        "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);",
        vec![],
    )
    .await;
    let mut reached = Vec::new();
    for _ in 0..7 {
        b.client
            .active_element()
            .await
            .expect("focus")
            .send_keys(&char::from(Key::Tab).to_string())
            .await
            .expect("tab");
        let focused = b
            .js(
                "const e = document.activeElement; return [e.tagName, (e.textContent || '').trim(), \
                 getComputedStyle(e).outlineStyle];",
                vec![],
            )
            .await;
        reached.push(focused);
    }
    let texts: Vec<&str> = reached.iter().filter_map(|v| v[1].as_str()).collect();
    assert_eq!(texts.first(), Some(&"Skip to content"), "{reached:?}");
    assert!(texts.contains(&"Access tokens"), "{reached:?}");
    assert!(
        reached.iter().all(|v| v[2] != "none"),
        "every focused element shows its focus: {reached:?}"
    );
    // Enter on the focused link follows it.
    while b
        .js("return document.activeElement.textContent.trim();", vec![])
        .await
        != json!("Access tokens")
    {
        b.client
            .active_element()
            .await
            .unwrap()
            .send_keys(&char::from(Key::Tab).to_string())
            .await
            .unwrap();
    }
    b.client
        .active_element()
        .await
        .unwrap()
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
    b.wait_for_text("Personal access tokens").await;
}
