//! The web interface's management screens through a cookie-keeping browser (`WebClient`):
//! personal access tokens (shown once, revoked → the API refuses them), the Admin area (users
//! created, blocked and promoted through its forms with GitLab's rules; the queue and health;
//! 404 for everyone else), project members (with the API's rules on who grants what) and
//! webhooks (the secret never echoed, a test delivery to a real receiver). Every form refuses a
//! post without its CSRF token. Tokens and the Admin area run on SQLite and PostgreSQL.

use std::time::Duration;

use serde_json::json;

use crate::common::web::{create_user, Page, WebClient, PASSWORD};
use crate::common::{blocking, Receiver, TestServer, Work};

async fn sign_in(s: &TestServer, username: &str) -> WebClient {
    WebClient::signed_in(&s.base, username, PASSWORD).await
}

/// The value of the input with `id` in `html`.
fn input_value(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    Some(tag.split("value=\"").nth(1)?.split('"').next()?.to_owned())
}

/// Follows a form's 303 and returns the page it lands on (where the flash shows).
async fn follow(web: &WebClient, answer: &Page) -> Page {
    assert_eq!(answer.status, 303, "{answer:?}");
    web.get(answer.location()).await
}

/// Asserts that posting `fields` to `path` without a CSRF token is refused with 422.
async fn refuses_without_csrf(web: &WebClient, path: &str, fields: &[(&str, &str)]) {
    let r = web.post_raw(path, fields).await;
    assert_eq!(r.status, 422, "{path} took a form without its CSRF token");
    let mut wrong = vec![("authenticity_token", "0000")];
    wrong.extend_from_slice(fields);
    let r = web.post_raw(path, &wrong).await;
    assert_eq!(r.status, 422, "{path} took a wrong CSRF token");
}

const TOKENS: &str = "/-/profile/personal_access_tokens";

async fn tokens_are_shown_once_and_revoked(s: TestServer) {
    let root = s.token("root", true).await;
    create_user(&s, &root, "alice", false).await;
    let web = sign_in(&s, "alice").await;

    let form = web.get(TOKENS).await;
    assert_eq!(form.status, 200);
    for text in [
        "Add new token",
        "Token name",
        "Expiration date",
        "Create token",
        "read_repository",
    ] {
        assert!(form.html.contains(text), "{text} missing");
    }
    refuses_without_csrf(
        &web,
        TOKENS,
        &[
            ("personal_access_token[name]", "x"),
            ("personal_access_token[scopes][]", "api"),
        ],
    )
    .await;

    // GitLab's field rules, as alerts on the page.
    let r = web
        .post(
            TOKENS,
            &[
                ("personal_access_token[name]", ""),
                ("personal_access_token[scopes][]", "api"),
            ],
        )
        .await;
    assert!(
        follow(&web, &r).await.html.contains("Name can"),
        "a blank name accepted"
    );
    let r = web
        .post(TOKENS, &[("personal_access_token[name]", "none")])
        .await;
    assert!(
        follow(&web, &r).await.html.contains("Scopes can"),
        "no scopes accepted"
    );
    let r = web
        .post(
            TOKENS,
            &[
                ("personal_access_token[name]", "old"),
                ("personal_access_token[expires_at]", "2001-01-01"),
                ("personal_access_token[scopes][]", "api"),
            ],
        )
        .await;
    assert!(follow(&web, &r)
        .await
        .html
        .contains("Expires at must be a date in the future"));

    let made = web
        .post(
            TOKENS,
            &[
                ("personal_access_token[name]", "ci"),
                ("personal_access_token[expires_at]", "2099-12-31"),
                ("personal_access_token[scopes][]", "read_api"),
                ("personal_access_token[scopes][]", "read_repository"),
            ],
        )
        .await;
    assert_eq!(
        made.status, 200,
        "the new token is the answer itself: {made:?}"
    );
    assert_eq!(made.header("cache-control"), "no-store");
    assert!(made.html.contains("Your new personal access token"));
    let token = input_value(&made.html, "created-personal-access-token").expect("token shown");
    assert!(token.len() > 20, "{token}");
    assert!(made
        .html
        .contains("data-copy=\"created-personal-access-token\""));
    for c in made.headers.get_all("set-cookie") {
        assert!(
            !c.to_str().unwrap().contains(&token),
            "the token went into a cookie"
        );
    }

    // It works against the API, as the user, with its scopes.
    let me = s.get("/user", &token).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["username"], "alice");
    let listed = s.get("/personal_access_tokens", &token).await;
    let entry = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap()
        .clone();
    assert_eq!(entry["scopes"], json!(["read_api", "read_repository"]));
    assert_eq!(entry["expires_at"], "2099-12-31");
    let write = s
        .post_json("/projects", &token, json!({"name": "nope"}))
        .await;
    assert_eq!(write.status, 403, "read_api cannot write");

    // Never shown again.
    let again = web.get(TOKENS).await;
    assert!(
        !again.html.contains(&token),
        "the token is shown a second time"
    );
    assert!(again.html.contains(">ci<"), "the token is listed");
    assert!(again.html.contains("read_api, read_repository"));

    // Revoke: the API refuses it at once.
    let id = entry["id"].as_i64().unwrap();
    let revoke = format!("{TOKENS}/{id}/revoke");
    refuses_without_csrf(&web, &revoke, &[]).await;
    assert_eq!(
        s.get("/user", &token).await.status,
        200,
        "a refused form revoked nothing"
    );
    let r = web.post(&revoke, &[]).await;
    let after = follow(&web, &r).await;
    assert!(
        after.html.contains("Revoked personal access token ci!"),
        "{}",
        after.html
    );
    assert!(
        !after.html.contains(">ci<"),
        "a revoked token is still listed"
    );
    assert_eq!(s.get("/user", &token).await.status, 401);

    // Someone else's token is not found; signed out, the page asks to sign in.
    let root_tokens = s.get("/personal_access_tokens", &root).await;
    let root_id = root_tokens.body[0]["id"].as_i64().unwrap();
    let r = web.post(&format!("{TOKENS}/{root_id}/revoke"), &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(s.get("/user", &root).await.status, 200);
    let anonymous = WebClient::new(&s.base).get(TOKENS).await;
    assert_eq!(anonymous.status, 303);
    assert!(anonymous.location().starts_with("/users/sign_in"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_page_sqlite() {
    tokens_are_shown_once_and_revoked(TestServer::builder().start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_page_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    tokens_are_shown_once_and_revoked(s).await;
}

async fn admin_manages_users_and_sees_the_server(s: TestServer) {
    let root = s.token("root", true).await;
    let boss_id = create_user(&s, &root, "boss", true).await;
    create_user(&s, &root, "alice", false).await;
    let root_id = s.user_id("root").await;

    // Only administrators: everyone else gets the 404 page, forms included.
    let alice = sign_in(&s, "alice").await;
    for path in ["/admin", "/admin/users", "/admin/projects"] {
        let r = alice.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(r.html.contains("Page not found"));
    }
    alice.get(TOKENS).await;
    let r = alice
        .post(
            "/admin/users",
            &[
                ("user[username]", "x"),
                ("user[name]", "X"),
                ("user[email]", "x@example.com"),
            ],
        )
        .await;
    assert_eq!(r.status, 404);
    let r = alice
        .post(&format!("/admin/users/{root_id}/block"), &[])
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(s.get("/user", &root).await.status, 200);

    // Health and the queue: a project with a mirror asked to update.
    let p = s.api(&root).create_project("app").await;
    let m = s
        .api(&root)
        .create_mirror(p.id, "https://203.0.113.10/x.git", true)
        .await;
    s.api(&root).sync(p.id, m.id).await;
    let web = sign_in(&s, "boss").await;
    let page = web.get("/admin").await;
    assert_eq!(page.status, 200);
    for text in [
        "Server health",
        "Database",
        "Repository storage",
        "Job queue",
        "mirror_update",
        "Failing webhook deliveries",
    ] {
        assert!(page.html.contains(text), "{text} missing from /admin");
    }
    assert!(
        !page.html.contains("status-failed"),
        "a check failed: {}",
        page.html
    );
    assert!(
        page.html.contains("id=\"mirror-updates-wanted\">1<"),
        "{}",
        page.html
    );
    assert!(!page.html.contains("id=\"queue-depth\">0<"));
    let projects = web.get("/admin/projects").await;
    assert!(
        projects.html.contains("href=\"/root/app\""),
        "{}",
        projects.html
    );
    assert!(
        !projects.html.contains("203.0.113.10"),
        "no mirror URL on the projects page"
    );

    // A new user through the form, who can then sign in.
    let users = web.get("/admin/users").await;
    for text in [
        "New user",
        "Username",
        "Name",
        "Email",
        "Password",
        "Admin",
        "Create user",
    ] {
        assert!(users.html.contains(text), "{text}");
    }
    let fields = [
        ("user[username]", "carol"),
        ("user[name]", "Carol"),
        ("user[email]", "carol@example.com"),
        ("user[password]", PASSWORD),
    ];
    refuses_without_csrf(&web, "/admin/users", &fields).await;
    let r = web.post("/admin/users", &fields).await;
    let listed = follow(&web, &r).await;
    assert!(
        listed.html.contains("User was successfully created."),
        "{}",
        listed.html
    );
    assert!(
        !listed.html.contains(PASSWORD),
        "a password is never echoed"
    );
    let r = web.post("/admin/users", &fields).await;
    assert!(follow(&web, &r)
        .await
        .html
        .contains("has already been taken"));
    let carol = sign_in(&s, "carol").await;
    assert_eq!(carol.get(TOKENS).await.status, 200);
    let carol_id = s.user_id("carol").await;

    // Blocking ends their session; nobody blocks themselves.
    let block = format!("/admin/users/{carol_id}/block");
    refuses_without_csrf(&web, &block, &[]).await;
    let r = web.post(&block, &[]).await;
    assert!(follow(&web, &r).await.html.contains("Successfully blocked"));
    let next = carol.get(TOKENS).await;
    assert_eq!(next.status, 303, "a blocked user's session ended");
    assert!(next.location().starts_with("/users/sign_in"));
    let again = WebClient::new(&s.base);
    again.sign_in("carol", PASSWORD).await;
    assert!(
        again.cookie("_pushmirror_session").is_none(),
        "a blocked user signed in"
    );
    let r = web
        .post(&format!("/admin/users/{boss_id}/block"), &[])
        .await;
    assert!(follow(&web, &r)
        .await
        .html
        .contains("You cannot block yourself"));
    let r = web
        .post(&format!("/admin/users/{carol_id}/unblock"), &[])
        .await;
    assert!(follow(&web, &r)
        .await
        .html
        .contains("Successfully unblocked"));

    // Admin rights, and the last administrator stays one.
    let r = web
        .post(&format!("/admin/users/{carol_id}/make_admin"), &[])
        .await;
    assert_eq!(r.status, 303);
    let shown = s.get(&format!("/users/{carol_id}"), &root).await;
    assert_eq!(shown.body["is_admin"], true, "{}", shown.text);
    for id in [carol_id, root_id] {
        let r = web
            .post(&format!("/admin/users/{id}/remove_admin"), &[])
            .await;
        assert!(follow(&web, &r)
            .await
            .html
            .contains("User was successfully updated."));
    }
    let r = web
        .post(&format!("/admin/users/{boss_id}/remove_admin"), &[])
        .await;
    assert!(follow(&web, &r)
        .await
        .html
        .contains("The last administrator cannot be demoted"));
    assert_eq!(web.get("/admin").await.status, 200, "still an admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_area_sqlite() {
    admin_manages_users_and_sees_the_server(TestServer::builder().start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_area_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    admin_manages_users_and_sees_the_server(s).await;
}

/// A project `olga/app` owned by `olga`, with `dave` a Developer, `gus` and `eve` bystanders;
/// the admin token, olga's token and the users' ids.
struct Team {
    root: String,
    /// Olga's API token.
    olga: String,
    dave: i64,
    gus: i64,
}

async fn team(s: &TestServer) -> Team {
    let root = s.token("root", true).await;
    create_user(s, &root, "olga", false).await;
    let dave = create_user(s, &root, "dave", false).await;
    let gus = create_user(s, &root, "gus", false).await;
    create_user(s, &root, "eve", false).await;
    let olga = s.token("olga", false).await;
    s.api(&olga).create_project("app").await;
    s.api(&root).add_member("olga%2Fapp", dave, 30).await;
    Team {
        root,
        olga,
        dave,
        gus,
    }
}

const MEMBERS: &str = "/olga/app/-/project_members";

async fn members_are_managed_with_the_apis_rules(s: TestServer) {
    let t = team(&s).await;
    let olga = sign_in(&s, "olga").await;
    let page = olga.get(MEMBERS).await;
    assert_eq!(page.status, 200);
    for text in [
        "Invite members",
        "Username",
        "Select a role",
        "Access expiration date",
        "Invite",
        "DAVE",
        "Developer",
        "Owner",
    ] {
        assert!(page.html.contains(text), "{text}");
    }
    let gus = t.gus.to_string();
    let invite = [
        ("user_id", "gus"),
        ("access_level", "20"),
        ("expires_at", ""),
    ];
    refuses_without_csrf(&olga, MEMBERS, &invite).await;
    let r = olga.post(MEMBERS, &invite).await;
    assert!(follow(&olga, &r)
        .await
        .html
        .contains("gus was added to the project as Reporter."));
    let shown = s
        .get(&format!("/projects/olga%2Fapp/members/{gus}"), &t.root)
        .await;
    assert_eq!(shown.body["access_level"], 20);
    let r = olga.post(MEMBERS, &invite).await;
    assert!(follow(&olga, &r)
        .await
        .html
        .contains("Member already exists"));
    let r = olga
        .post(MEMBERS, &[("user_id", "nobody"), ("access_level", "20")])
        .await;
    assert!(follow(&olga, &r)
        .await
        .html
        .contains("no user is named nobody"));

    // Change role and expiry.
    let one = format!("{MEMBERS}/{gus}");
    let change = [("access_level", "40"), ("expires_at", "2099-06-30")];
    refuses_without_csrf(&olga, &one, &change).await;
    let r = olga.post(&one, &change).await;
    assert!(follow(&olga, &r)
        .await
        .html
        .contains("gus is now Maintainer."));
    let shown = s
        .get(&format!("/projects/olga%2Fapp/members/{gus}"), &t.root)
        .await;
    assert_eq!(shown.body["access_level"], 40);
    assert_eq!(shown.body["expires_at"], "2099-06-30");
    let r = olga
        .post(
            &one,
            &[("access_level", "40"), ("expires_at", "2001-01-01")],
        )
        .await;
    assert!(
        follow(&olga, &r).await.html.contains("Expires at"),
        "a past expiry accepted"
    );

    // A Developer sees the members and changes nothing; an outsider sees nothing.
    let dave = sign_in(&s, "dave").await;
    let page = dave.get(MEMBERS).await;
    assert_eq!(page.status, 200);
    assert!(!page.html.contains("Invite members"));
    assert!(page.html.contains("Leave"), "anyone may leave");
    assert_eq!(
        dave.post(MEMBERS, &[("user_id", "eve"), ("access_level", "10")])
            .await
            .status,
        403
    );
    assert_eq!(dave.post(&one, &[("access_level", "10")]).await.status, 403);
    assert_eq!(dave.post(&format!("{one}/delete"), &[]).await.status, 403);
    let eve = sign_in(&s, "eve").await;
    assert_eq!(eve.get(MEMBERS).await.status, 404);
    // A Maintainer grants up to Maintainer, not Owner.
    let gus_web = sign_in(&s, "gus").await;
    let page = gus_web.get(MEMBERS).await;
    assert!(page.html.contains("Invite members") && !page.html.contains("value=\"50\""));
    let r = gus_web
        .post(MEMBERS, &[("user_id", "eve"), ("access_level", "50")])
        .await;
    assert_eq!(r.status, 403);

    // Remove, with a confirmation.
    assert!(olga
        .get(MEMBERS)
        .await
        .html
        .contains("data-confirm=\"Are you sure you want to remove gus"));
    refuses_without_csrf(&olga, &format!("{one}/delete"), &[]).await;
    let r = olga.post(&format!("{one}/delete"), &[]).await;
    assert!(follow(&olga, &r)
        .await
        .html
        .contains("User was successfully removed from project."));
    let gone = s
        .get(&format!("/projects/olga%2Fapp/members/{gus}"), &t.root)
        .await;
    assert_eq!(gone.status, 404);
    // Leaving.
    let dave_id = t.dave.to_string();
    let r = dave.post(&format!("{MEMBERS}/{dave_id}/delete"), &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(
        dave.get(MEMBERS).await.status,
        404,
        "dave left a private project"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_page_sqlite() {
    members_are_managed_with_the_apis_rules(TestServer::builder().start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_page_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    members_are_managed_with_the_apis_rules(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inherited_members_show_the_group_they_come_from() {
    let s = TestServer::builder().start().await;
    let root = s.token("root", true).await;
    create_user(&s, &root, "boss", true).await;
    let gus = create_user(&s, &root, "gus", false).await;
    let api = s.api(&root);
    let org = api.create_group("org", None).await;
    let team = api.create_group("team", Some(org.id)).await;
    api.add_group_member(org.id, gus, 40).await;
    api.create_project_with(json!({"name": "lib", "namespace_id": team.id}))
        .await;
    let boss = sign_in(&s, "boss").await;
    let page = boss.get("/org/team/lib/-/project_members").await;
    assert_eq!(page.status, 200);
    let row = page.html.split("@gus").nth(1).expect("gus is listed");
    let row = row.split("</tr>").next().unwrap();
    assert!(row.contains("Inherited from <code>org</code>"), "{row}");
    assert!(row.contains("Maintainer"), "{row}");
    assert!(
        !row.contains("<form"),
        "an inherited membership is managed in its group: {row}"
    );
}

const HOOKS: &str = "/olga/app/-/hooks";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_added_tested_and_deleted() {
    let s = TestServer::builder().local_network(true).start().await;
    let t = team(&s).await;
    create_user(&s, &t.root, "boss", true).await;
    let url = s.push_url(&t.olga, "olga/app");
    blocking(move || {
        let work = Work::new();
        work.commit("first");
        work.push(&url, &["HEAD:main"]);
    })
    .await;
    let receiver = Receiver::start().await;

    let dave = sign_in(&s, "dave").await;
    assert_eq!(
        dave.get(HOOKS).await.status,
        403,
        "Maintainers only, as the API"
    );
    assert_eq!(sign_in(&s, "eve").await.get(HOOKS).await.status, 404);

    let olga = sign_in(&s, "olga").await;
    let page = olga.get(HOOKS).await;
    assert_eq!(page.status, 200);
    for text in [
        "Add new webhook",
        "URL",
        "Secret token",
        "Push events",
        "Tag push events",
        "Remote mirror events",
        "Enable SSL verification",
        "Add webhook",
    ] {
        assert!(page.html.contains(text), "{text}");
    }
    let secret = "s3cret-hook-token";
    let hook_url = receiver
        .url("/hook")
        .replace("http://", "http://hookuser:hookpass@");
    let fields = [
        ("hook[url]", hook_url.as_str()),
        ("hook[name]", "CI"),
        ("hook[token]", secret),
        ("hook[push_events]", "1"),
        ("hook[branch_filter_strategy]", "all_branches"),
        ("hook[tag_push_events]", "1"),
        ("hook[enable_ssl_verification]", "1"),
    ];
    refuses_without_csrf(&olga, HOOKS, &fields).await;
    dave.get(TOKENS).await; // a page with forms: dave's CSRF token
    assert_eq!(dave.post(HOOKS, &fields).await.status, 403);
    let r = olga.post(HOOKS, &fields).await;
    let listed = follow(&olga, &r).await;
    assert!(listed.html.contains("Webhook created"), "{}", listed.html);
    for hidden in [secret, "hookpass", "hookuser"] {
        assert!(!listed.html.contains(hidden), "{hidden} shown on the list");
    }
    let hooks = s.get("/projects/olga%2Fapp/hooks", &t.root).await;
    let hook = &hooks.body[0];
    assert_eq!(hook["push_events"], true);
    assert_eq!(hook["tag_push_events"], true);
    assert_eq!(hook["remote_mirror_events"], false);
    let id = hook["id"].as_i64().unwrap();
    let edit = olga.get(&format!("{HOOKS}/{id}/edit")).await;
    assert_eq!(edit.status, 200);
    for hidden in [secret, "hookpass", "hookuser"] {
        assert!(
            !edit.html.contains(hidden),
            "{hidden} shown on the edit page"
        );
    }

    // Test: a sample push event reaches the receiver, with the token; the log shows it.
    let test = format!("{HOOKS}/{id}/test");
    refuses_without_csrf(&olga, &test, &[("trigger", "push_events")]).await;
    let r = olga.post(&test, &[("trigger", "push_events")]).await;
    assert!(follow(&olga, &r)
        .await
        .html
        .contains("Hook executed successfully"));
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].header("x-gitlab-token"), secret);
    assert_eq!(got[0].header("x-gitlab-event"), "Push Hook");
    assert!(
        got[0].header("authorization").starts_with("Basic "),
        "the URL's credentials are used"
    );
    let edit = olga.get(&format!("{HOOKS}/{id}/edit")).await;
    assert!(
        edit.html.contains("Recent events") && edit.html.contains("Push Hook"),
        "{}",
        edit.html
    );

    // Editing keeps the write-only parts unless replaced.
    let one = format!("{HOOKS}/{id}");
    let stored = input_value(&edit.html, "hook_url").unwrap();
    let change = [
        ("hook[url]", stored.as_str()),
        ("hook[name]", "CI 2"),
        ("hook[token]", ""),
        ("hook[push_events]", "1"),
        ("hook[branch_filter_strategy]", "wildcard"),
        ("hook[push_events_branch_filter]", "main"),
        ("hook[remote_mirror_events]", "1"),
    ];
    refuses_without_csrf(&olga, &one, &change).await;
    let r = olga.post(&one, &change).await;
    assert!(follow(&olga, &r).await.html.contains("Webhook updated"));
    let hook = s
        .get(&format!("/projects/olga%2Fapp/hooks/{id}"), &t.root)
        .await
        .body;
    assert_eq!(hook["name"], "CI 2");
    assert_eq!(hook["tag_push_events"], false);
    assert_eq!(hook["remote_mirror_events"], true);
    assert_eq!(hook["enable_ssl_verification"], false);
    assert_eq!(hook["push_events_branch_filter"], "main");
    let r = olga.post(&test, &[("trigger", "tag_push_events")]).await;
    assert!(follow(&olga, &r)
        .await
        .html
        .contains("Ensure the project has tags."));
    let r = olga.post(&test, &[("trigger", "push_events")]).await;
    assert!(follow(&olga, &r)
        .await
        .html
        .contains("Hook executed successfully"));
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        got[1].header("x-gitlab-token"),
        secret,
        "the token was kept"
    );
    assert!(
        got[1].header("authorization").starts_with("Basic "),
        "the credentials were kept"
    );
    let r = olga
        .post(&one, &[("hook[url]", "ftp://example.com/x")])
        .await;
    assert!(follow(&olga, &r).await.html.contains("Invalid url given"));

    // A failing receiver: the test says so, and the Admin area lists the hook, URL masked.
    receiver.answer(500);
    let r = olga.post(&test, &[("trigger", "push_events")]).await;
    assert!(follow(&olga, &r)
        .await
        .html
        .contains("Hook execution failed"));
    let admin = sign_in(&s, "boss").await.get("/admin").await;
    assert!(
        admin.html.contains("href=\"/olga/app/-/hooks\""),
        "{}",
        admin.html
    );
    assert!(admin.html.contains("Failing"));
    assert!(!admin.html.contains("hookpass") && !admin.html.contains(secret));

    // Delete, with a confirmation.
    assert!(olga
        .get(HOOKS)
        .await
        .html
        .contains("data-confirm=\"Are you sure you want to delete this project hook?\""));
    let delete = format!("{HOOKS}/{id}/delete");
    refuses_without_csrf(&olga, &delete, &[]).await;
    assert_eq!(dave.post(&delete, &[]).await.status, 403);
    let r = olga.post(&delete, &[]).await;
    assert!(follow(&olga, &r).await.html.contains("Webhook deleted"));
    let hooks = s.get("/projects/olga%2Fapp/hooks", &t.root).await;
    assert_eq!(hooks.body, json!([]));
}
