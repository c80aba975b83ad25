//! The repository settings page, `/<namespace>/<project>/-/settings/repository`, through a
//! cookie-keeping browser (`common::web::WebClient`): mirrors added, edited, updated into real
//! remotes and removed through the forms, SSH host keys detected from the test sshd and pinned,
//! protected branches, GitLab's messages for refused changes, the 404 for anyone below
//! Maintainer, and the CSRF check of every form. What the forms did is checked through the API.

use serde_json::{json, Value};

use crate::common::web::{create_user, Page, WebClient, PASSWORD};
use crate::common::{blocking, TestServer, Work};
use crate::remotes::{GitHttpRemote, SshRemote};

/// A project with a commit, its Maintainer signed in, and an admin token for setup and checks.
struct Setup {
    server: TestServer,
    admin: String,
    project_id: i64,
    /// `root/site`.
    full_path: String,
    web: WebClient,
}

impl Setup {
    async fn on(server: TestServer) -> Setup {
        let admin = server.token("root", true).await;
        let api = server.api(&admin);
        let project = api.create_project("site").await;
        let maintainer = create_user(&server, &admin, "maria", false).await;
        api.add_member(project.id, maintainer, 40).await;
        let url = server.push_url(&admin, &project.path_with_namespace);
        blocking(move || {
            let w = Work::new();
            w.commit("one");
            w.git(&["tag", "v1"]);
            w.push(&url, &["main", "v1"]);
        })
        .await;
        let web = WebClient::signed_in(&server.base, "maria", PASSWORD).await;
        Setup {
            admin,
            project_id: project.id,
            full_path: project.path_with_namespace,
            server,
            web,
        }
    }

    /// The page `rest` of the project (`/-/settings/repository`).
    fn path(&self, rest: &str) -> String {
        format!("/{}{rest}", self.full_path)
    }

    /// The settings page (which must be served).
    async fn settings(&self) -> Page {
        let page = self.web.get(&self.path("/-/settings/repository")).await;
        assert_eq!(page.status, 200, "{page:?}");
        page
    }

    /// Posts a form of the project (with the CSRF token of the last page), which must redirect;
    /// the page it lands on, holding the flash.
    async fn submit(&self, rest: &str, fields: &[(&str, &str)]) -> Page {
        let r = self.web.post(&self.path(rest), fields).await;
        assert_eq!(r.status, 303, "POST {rest}: {r:?}");
        let to = r.location().split('#').next().unwrap().to_owned();
        let page = self.web.get(&to).await;
        assert_eq!(page.status, 200, "{page:?}");
        page
    }

    async fn api_get(&self, rest: &str) -> Value {
        let r = self.server.get(rest, &self.admin).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body
    }

    async fn mirrors(&self) -> Vec<Value> {
        let list = self
            .api_get(&format!("/projects/{}/remote_mirrors", self.project_id))
            .await;
        list.as_array().unwrap().clone()
    }
}

/// The value of the first input named `name` in `html`, unescaped.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let value = html[start..end]
        .split("value=\"")
        .nth(1)?
        .split('"')
        .next()?;
    Some(
        value
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The value of the input with id `id` in `html`.
fn input_by_id(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..at].rfind('<')?;
    let tag = &html[start..at + html[at..].find('>')?];
    Some(tag.split("value=\"").nth(1)?.split('"').next()?.to_owned())
}

/// The text of the row of mirror `id` in the settings page's table.
fn mirror_row(html: &str, id: i64) -> &str {
    let at = html
        .find(&format!("<tr data-mirror-id=\"{id}\""))
        .unwrap_or_else(|| panic!("no row of mirror {id} in {html}"));
    let end = at + html[at..].find("</tr>").unwrap();
    &html[at..end]
}

/// An HTTP mirror with a password, through the form and back out: shown masked, the password in
/// no page or API answer, kept by an edit that leaves it blank (the update then authenticates),
/// "Update now" reaching the remote, removed.
async fn http_mirror_round_trip(s: Setup) {
    const SECRET: &str = "Form-Secret-Zq9x";
    let remote = GitHttpRemote::start(Some(("bot", SECRET))).await;
    remote.create_repo("target");
    let page = s.settings().await;
    for label in [
        "Mirroring repositories",
        "Git repository URL",
        "Mirror direction",
        "Authentication method",
        "Username and Password",
        "SSH public key",
        "Keep divergent refs",
        "All protected branches",
        "Mirror branches matching a regular expression",
        "Mirror repository",
        "Detect host keys",
        "Protected branches",
    ] {
        assert!(page.html.contains(label), "{label} missing");
    }
    let mut pages = vec![page.html];

    let url = remote.url("target");
    let page = s
        .submit(
            "/-/mirrors",
            &[
                ("url", url.as_str()),
                ("auth_method", "password"),
                ("username", "bot"),
                ("password", SECRET),
                ("mirror_branches", "all"),
            ],
        )
        .await;
    assert!(
        page.html
            .contains("Mirroring settings were successfully updated."),
        "{}",
        page.html
    );
    let list = s.mirrors().await;
    assert_eq!(list.len(), 1, "{list:?}");
    let id = list[0]["id"].as_i64().unwrap();
    let masked = format!("http://*****:*****@127.0.0.1:{}/target.git", remote.port());
    assert_eq!(list[0]["url"], masked.as_str());
    assert_eq!(list[0]["enabled"], true);
    let row = mirror_row(&page.html, id);
    assert!(row.contains(&masked), "{row}");
    assert!(row.contains("data-field=\"status\""), "{row}");
    let stream = format!(
        "data-live-mirrors=\"/-/mirrors/stream?project={}\"",
        s.full_path.replace('/', "%2F")
    );
    assert!(page.html.contains(&stream), "the live-update contract");
    pages.push(page.html);

    // Edit: blank username and password keep them; the switches change.
    let edit = s.web.get(&s.path(&format!("/-/mirrors/{id}/edit"))).await;
    assert_eq!(edit.status, 200, "{edit:?}");
    assert_eq!(
        input_value(&edit.html, "url").as_deref(),
        Some(url.as_str())
    );
    assert_eq!(input_value(&edit.html, "password").as_deref(), Some(""));
    pages.push(edit.html);
    let page = s
        .submit(
            &format!("/-/mirrors/{id}/edit"),
            &[
                ("url", url.as_str()),
                ("auth_method", "password"),
                ("username", ""),
                ("password", ""),
                ("keep_divergent_refs", "1"),
                ("mirror_branches", "all"),
                ("enabled", "1"),
            ],
        )
        .await;
    pages.push(page.html);
    let m = s
        .api_get(&format!("/projects/{}/remote_mirrors/{id}", s.project_id))
        .await;
    assert_eq!(m["keep_divergent_refs"], true, "{m}");
    assert_eq!(m["url"], masked.as_str(), "credentials kept: {m}");

    // Update now: the remote accepts only the kept password.
    s.settings().await;
    let page = s.submit(&format!("/-/mirrors/{id}/update_now"), &[]).await;
    assert!(
        page.html
            .contains("The remote repository is being updated..."),
        "{}",
        page.html
    );
    pages.push(page.html);
    assert!(s.server.run_pending().await >= 1);
    let m = s
        .api_get(&format!("/projects/{}/remote_mirrors/{id}", s.project_id))
        .await;
    assert_eq!(m["update_status"], "finished", "{m}");
    assert!(remote.refs("target").contains_key("refs/heads/main"));
    let page = s.settings().await;
    let row = mirror_row(&page.html, id);
    assert!(row.contains("data-status=\"finished\""), "{row}");
    assert!(row.contains("Up to date"), "{row}");
    pages.push(page.html);

    // Remove.
    let page = s.submit(&format!("/-/mirrors/{id}/delete"), &[]).await;
    assert!(
        page.html.contains("The mirror was removed."),
        "{}",
        page.html
    );
    assert!(!page.html.contains("data-mirror-id"), "{}", page.html);
    assert!(s.mirrors().await.is_empty());
    pages.push(page.html);

    for html in &pages {
        assert!(!html.contains(SECRET), "the password in a page: {html}");
    }
    for body in s.server.seen_bodies() {
        assert!(!body.contains(SECRET), "the password in an answer: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_mirror_is_added_edited_updated_and_removed_through_the_form() {
    let server = TestServer::builder().local_network(true).start().await;
    http_mirror_round_trip(Setup::on(server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_mirror_is_added_edited_updated_and_removed_through_the_form_on_postgres() {
    let Some(server) = TestServer::builder()
        .postgres()
        .local_network(true)
        .start()
        .await
    else {
        return;
    };
    http_mirror_round_trip(Setup::on(server).await).await;
}

/// Refused changes come back as GitLab's full message on the settings page, saving nothing.
async fn refusals_show_gitlabs_messages(s: Setup) {
    s.settings().await;
    let page = s
        .submit(
            "/-/mirrors",
            &[
                ("url", "http://127.0.0.1/blocked.git"),
                ("auth_method", "password"),
                ("password", "Blocked-Pa55"),
            ],
        )
        .await;
    assert!(
        page.html
            .contains("Url is blocked: Requests to loopback addresses are not allowed"),
        "{}",
        page.html
    );
    assert!(!page.html.contains("Blocked-Pa55"));
    let page = s
        .submit(
            "/-/mirrors",
            &[
                ("url", "https://example.com/a.git"),
                ("mirror_branches", "regex"),
                ("mirror_branch_regex", "(unclosed"),
            ],
        )
        .await;
    assert!(
        page.html.contains("role=\"alert\">Mirror branch regex"),
        "{}",
        page.html
    );
    let page = s
        .submit(
            "/-/mirrors",
            &[
                ("url", "ssh://git@example.com/a.git"),
                ("auth_method", "password"),
                ("password", "x"),
            ],
        )
        .await;
    assert!(
        page.html.contains(
            "Url is blocked: password authentication is not supported for ssh:// mirrors"
        ),
        "{}",
        page.html
    );
    assert!(s.mirrors().await.is_empty(), "nothing was saved");

    // Credentials typed into the URL field are taken as the API takes them: sealed, masked.
    let page = s
        .submit(
            "/-/mirrors",
            &[(
                "url",
                "https://someone:Url-Secret-Zq7@example.com/typed.git",
            )],
        )
        .await;
    let list = s.mirrors().await;
    assert_eq!(list[0]["url"], "https://*****:*****@example.com/typed.git");
    let id = list[0]["id"].as_i64().unwrap();
    assert!(!page.html.contains("Url-Secret-Zq7"));
    assert!(!page.html.contains("someone"));
    // Moved to another URL with the fields blank, the mirror keeps no credential.
    s.submit(
        &format!("/-/mirrors/{id}/edit"),
        &[("url", "https://example.com/moved.git"), ("enabled", "1")],
    )
    .await;
    let list = s.mirrors().await;
    assert_eq!(list[0]["url"], "https://example.com/moved.git");

    // The limit: ten enabled mirrors (the one above and nine), the eleventh refused.
    let api = s.server.api(&s.admin);
    for i in 1..10 {
        api.create_mirror(s.project_id, &format!("https://example.com/m{i}.git"), true)
            .await;
    }
    let page = s
        .submit("/-/mirrors", &[("url", "https://example.com/eleven.git")])
        .await;
    assert!(
        page.html
            .contains("Enabled cannot be true: a project can have at most 10 enabled push mirrors"),
        "{}",
        page.html
    );
    assert_eq!(s.mirrors().await.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_mirrors_show_gitlabs_message_and_save_nothing() {
    let server = TestServer::builder().start().await;
    refusals_show_gitlabs_messages(Setup::on(server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_mirrors_show_gitlabs_message_and_save_nothing_on_postgres() {
    let Some(server) = TestServer::builder().postgres().start().await else {
        return;
    };
    refusals_show_gitlabs_messages(Setup::on(server).await).await;
}

/// "Detect host keys" shows the test sshd's real fingerprints with the URL kept and no password
/// echoed; confirming pins them; the page then shows the mirror's public key with a copy button;
/// with the key on the remote, "Update now" reaches it; "Rotate key" replaces the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_mirror_pins_the_detected_host_keys_and_shows_its_public_key() {
    let Some(ssh) = SshRemote::start() else {
        return;
    };
    if !ssh.login_is_another_user() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run this"
        );
        eprintln!("skipping: SSH mirror tests need root");
        return;
    }
    let server = TestServer::builder().local_network(true).start().await;
    let s = Setup::on(server).await;
    let url = ssh.create_repo("target");
    let expected = s
        .api_get(&format!(
            "/projects/{}/mirror/ssh_host_keys?ssh_url={}",
            s.project_id,
            urlencode(&url)
        ))
        .await;
    let expected_sha: Vec<String> = expected["fingerprints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint_sha256"].as_str().unwrap().to_owned())
        .collect();
    assert!(!expected_sha.is_empty());

    s.settings().await;
    let detected = s
        .web
        .post(
            &s.path("/-/mirrors/detect_host_keys"),
            &[
                ("url", url.as_str()),
                ("auth_method", "ssh_public_key"),
                ("password", "Never-Echoed-77"),
            ],
        )
        .await;
    assert_eq!(detected.status, 200, "{detected:?}");
    for fp in &expected_sha {
        assert!(
            detected.html.contains(fp.as_str()),
            "{fp} in {}",
            detected.html
        );
    }
    assert_eq!(
        input_value(&detected.html, "url").as_deref(),
        Some(url.as_str())
    );
    assert!(!detected.html.contains("Never-Echoed-77"));
    assert!(detected.html.contains("The host keys are correct"));
    let known_hosts = input_value(&detected.html, "host_keys").expect("hidden host keys");
    assert_eq!(known_hosts, expected["known_hosts"].as_str().unwrap());

    let page = s
        .submit(
            "/-/mirrors",
            &[
                ("url", url.as_str()),
                ("auth_method", "ssh_public_key"),
                ("host_keys", known_hosts.as_str()),
                ("host_keys_confirmed", "1"),
                ("mirror_branches", "all"),
            ],
        )
        .await;
    let list = s.mirrors().await;
    assert_eq!(list.len(), 1, "{list:?} {}", page.html);
    let id = list[0]["id"].as_i64().unwrap();
    let pinned: Vec<String> = list[0]["host_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["fingerprint_sha256"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        sorted(pinned),
        sorted(expected_sha.clone()),
        "the confirmed keys are pinned"
    );
    let api = s.server.api(&s.admin);
    let key = api.mirror_public_key(s.project_id, id).await;
    let field = format!("mirror_public_key_{id}");
    assert_eq!(input_by_id(&page.html, &field), Some(key.clone()));
    assert!(page.html.contains(&format!("data-copy=\"{field}\"")));
    assert!(page.html.contains("Rotate key"));

    // With the key on the remote, an update reaches it over the pinned keys.
    ssh.authorize_key(&key);
    s.settings().await;
    s.submit(&format!("/-/mirrors/{id}/update_now"), &[]).await;
    s.server.run_pending().await;
    let m = api.mirror(s.project_id, id).await;
    assert_eq!(m.update_status, "finished", "{m:?}");
    assert!(ssh.refs("target").contains_key("refs/heads/main"));

    let page = s.submit(&format!("/-/mirrors/{id}/rotate_key"), &[]).await;
    assert!(
        page.html.contains("A new SSH key pair was generated"),
        "{}",
        page.html
    );
    let rotated = api.mirror_public_key(s.project_id, id).await;
    assert_ne!(rotated, key);
    assert!(page.html.contains(&rotated));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A Developer and a non-member get the 404 page and change nothing; a signed-out visitor is
/// sent to sign in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_maintainer_the_settings_are_not_found() {
    let server = TestServer::builder().start().await;
    let s = Setup::on(server).await;
    let api = s.server.api(&s.admin);
    let mirror = api
        .create_mirror(s.project_id, "https://example.com/hidden.git", true)
        .await;
    let dev = create_user(&s.server, &s.admin, "devon", false).await;
    api.add_member(s.project_id, dev, 30).await;
    create_user(&s.server, &s.admin, "outsider", false).await;
    for login in ["devon", "outsider"] {
        let web = WebClient::signed_in(&s.server.base, login, PASSWORD).await;
        let page = web.get(&s.path("/-/settings/repository")).await;
        assert_eq!(page.status, 404, "{login}: {page:?}");
        assert!(!page.html.contains("example.com/hidden.git"));
        assert!(!page.html.contains("Mirroring repositories"));
        let edit = web
            .get(&s.path(&format!("/-/mirrors/{}/edit", mirror.id)))
            .await;
        assert_eq!(edit.status, 404, "{login}: {edit:?}");
        // A page of theirs with the shell holds their CSRF token.
        assert_eq!(web.get("/users/sign_out").await.status, 200);
        for (rest, fields) in [
            ("/-/mirrors", vec![("url", "https://example.com/new.git")]),
            (&*format!("/-/mirrors/{}/update_now", mirror.id), vec![]),
            (&*format!("/-/mirrors/{}/delete", mirror.id), vec![]),
            ("/-/protected_branches", vec![("name", "main")]),
        ] {
            let r = web.post(&s.path(rest), &fields).await;
            assert_eq!(r.status, 404, "{login} POST {rest}: {r:?}");
        }
    }
    assert_eq!(s.mirrors().await.len(), 1);
    let rules = s
        .api_get(&format!("/projects/{}/protected_branches", s.project_id))
        .await;
    assert_eq!(rules.as_array().unwrap().len(), 0, "{rules}");
    let m = api.mirror(s.project_id, mirror.id).await;
    assert_eq!(m.update_status, "none", "no update was asked for");

    let anonymous = WebClient::new(&s.server.base);
    let r = anonymous.get(&s.path("/-/settings/repository")).await;
    assert_eq!(r.status, 303);
    assert!(
        r.location().starts_with("/users/sign_in?redirect_to="),
        "{r:?}"
    );
}

/// Every form of the page refuses a post without its CSRF token (or with another one), and
/// nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_refuses_a_post_without_its_csrf_token() {
    let server = TestServer::builder().start().await;
    let s = Setup::on(server).await;
    let api = s.server.api(&s.admin);
    let mirror = api
        .create_mirror_with(
            s.project_id,
            json!({"url": "ssh://git@example.com/a.git", "auth_method": "ssh_public_key", "enabled": true}),
        )
        .await;
    api.protect_branch(s.project_id, "main").await;
    let key = api.mirror_public_key(s.project_id, mirror.id).await;
    let id = mirror.id;
    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/-/mirrors".into(),
            vec![("url", "https://example.com/b.git")],
        ),
        (
            "/-/mirrors/detect_host_keys".into(),
            vec![("url", "ssh://git@example.com/a.git")],
        ),
        (
            format!("/-/mirrors/{id}/edit"),
            vec![("url", "https://example.com/c.git")],
        ),
        (
            format!("/-/mirrors/{id}/detect_host_keys"),
            vec![("url", "ssh://git@example.com/a.git")],
        ),
        (format!("/-/mirrors/{id}/update_now"), vec![]),
        (format!("/-/mirrors/{id}/rotate_key"), vec![]),
        (format!("/-/mirrors/{id}/delete"), vec![]),
        ("/-/protected_branches".into(), vec![("name", "release-*")]),
        (
            "/-/protected_branches/unprotect".into(),
            vec![("name", "main")],
        ),
        (
            "/-/deploy_keys".into(),
            vec![("title", "ci"), ("key", "ssh-ed25519 AAAA")],
        ),
    ];
    // Each form is on the settings page or the edit page (`formaction` ends in `action`).
    let page = s.settings().await;
    let edit = s.web.get(&s.path(&format!("/-/mirrors/{id}/edit"))).await;
    let both = format!("{}{}", page.html, edit.html);
    for (rest, fields) in &forms {
        assert!(
            both.contains(&format!("action=\"{}\"", s.path(rest))),
            "no form posts to {rest}"
        );
        let r = s.web.post_raw(&s.path(rest), fields).await;
        assert_eq!(r.status, 422, "POST {rest} without a token: {r:?}");
        let mut wrong = vec![("authenticity_token", "0123456789abcdef")];
        wrong.extend(fields.iter().copied());
        let r = s.web.post_raw(&s.path(rest), &wrong).await;
        assert_eq!(r.status, 422, "POST {rest} with a wrong token: {r:?}");
    }
    let list = s.mirrors().await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["url"], "ssh://git@example.com/a.git");
    assert_eq!(api.mirror_public_key(s.project_id, id).await, key);
    assert_eq!(api.mirror(s.project_id, id).await.update_status, "none");
    let rules = s
        .api_get(&format!("/projects/{}/protected_branches", s.project_id))
        .await;
    assert_eq!(rules.as_array().unwrap().len(), 1, "{rules}");
}

/// Protecting a wildcard with chosen levels and force push, the duplicate refused with GitLab's
/// message, and unprotecting.
async fn protected_branches_round_trip(s: Setup) {
    s.settings().await;
    let page = s
        .submit(
            "/-/protected_branches",
            &[
                ("name", "release-*"),
                ("merge_access_level", "30"),
                ("push_access_level", "0"),
                ("allow_force_push", "1"),
            ],
        )
        .await;
    assert!(
        page.html.contains("The branch release-* is protected."),
        "{}",
        page.html
    );
    let rules = s
        .api_get(&format!("/projects/{}/protected_branches", s.project_id))
        .await;
    let rule = &rules[0];
    assert_eq!(rule["name"], "release-*", "{rules}");
    assert_eq!(rule["push_access_levels"][0]["access_level"], 0, "{rule}");
    assert_eq!(rule["merge_access_levels"][0]["access_level"], 30, "{rule}");
    assert_eq!(rule["allow_force_push"], true, "{rule}");
    let at = page
        .html
        .find("data-protected-branch=\"release-*\"")
        .unwrap();
    let row = &page.html[at..at + page.html[at..].find("</tr>").unwrap()];
    assert!(
        row.contains("Developers + Maintainers") && row.contains("No one"),
        "{row}"
    );

    let page = s
        .submit("/-/protected_branches", &[("name", "release-*")])
        .await;
    assert!(
        page.html
            .contains("Protected branch &#39;release-*&#39; already exists")
            || page
                .html
                .contains("Protected branch 'release-*' already exists"),
        "{}",
        page.html
    );
    let page = s
        .submit("/-/protected_branches/unprotect", &[("name", "release-*")])
        .await;
    assert!(
        page.html.contains("is no longer protected"),
        "{}",
        page.html
    );
    assert!(!page.html.contains("data-protected-branch"));
    let rules = s
        .api_get(&format!("/projects/{}/protected_branches", s.project_id))
        .await;
    assert_eq!(rules.as_array().unwrap().len(), 0, "{rules}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branches_are_protected_and_unprotected_through_the_form() {
    let server = TestServer::builder().start().await;
    protected_branches_round_trip(Setup::on(server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branches_are_protected_and_unprotected_through_the_form_on_postgres() {
    let Some(server) = TestServer::builder().postgres().start().await else {
        return;
    };
    protected_branches_round_trip(Setup::on(server).await).await;
}

/// The form's "Update on push" and "Also update every … seconds" (the Gitea API's
/// `sync_on_commit` and `interval`): saved, shown again on the edit page, an interval below the
/// minimum refused; a post from a form without the box leaves "Update on push" alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_sets_the_periodic_update_and_update_on_push() {
    let s = Setup::on(TestServer::builder().start().await).await;
    let page = s.settings().await;
    assert!(page.html.contains("Update on push") && page.html.contains("Also update every"));
    s.submit(
        "/-/mirrors",
        &[
            ("url", "https://example.com/periodic.git"),
            ("mirror_branches", "all"),
            ("sync_on_commit_shown", "1"),
            ("sync_interval", "3600"),
        ],
    )
    .await;
    let list = s.mirrors().await;
    assert_eq!(list[0]["sync_interval"], 3600, "{list:?}");
    assert_eq!(list[0]["sync_on_commit"], false, "{list:?}");
    let id = list[0]["id"].as_i64().unwrap();
    let edit = s.web.get(&s.path(&format!("/-/mirrors/{id}/edit"))).await;
    assert_eq!(
        input_value(&edit.html, "sync_interval").as_deref(),
        Some("3600")
    );
    assert!(
        !edit
            .html
            .contains("name=\"sync_on_commit\" value=\"1\" checked"),
        "{}",
        edit.html
    );
    let page = s
        .submit(
            &format!("/-/mirrors/{id}/edit"),
            &[
                ("url", "https://example.com/periodic.git"),
                ("mirror_branches", "all"),
                ("enabled", "1"),
                ("sync_interval", "60"),
            ],
        )
        .await;
    assert!(
        page.html.contains("Sync interval must be 0"),
        "{}",
        page.html
    );
    s.submit(
        &format!("/-/mirrors/{id}/edit"),
        &[
            ("url", "https://example.com/periodic.git"),
            ("mirror_branches", "all"),
            ("enabled", "1"),
            ("sync_interval", "0"),
        ],
    )
    .await;
    let list = s.mirrors().await;
    assert_eq!(list[0]["sync_interval"], 0, "{list:?}");
    assert_eq!(list[0]["sync_on_commit"], false, "no box posted: unchanged");
}
