//! Signing in to the web interface: the form, one message for every wrong login or password,
//! failures slowed down, sessions in HttpOnly SameSite=Lax cookies that expire and end at
//! sign-out, with a block or a new password; CSRF tokens on the sign-in and sign-out forms;
//! `pushmirror user create` / `set-password`; an HTML 404 for browsers and JSON for the API.

use std::io::Write as _;
use std::process::Stdio;
use std::sync::Arc;

use pushmirror::clock::ManualClock;
use serde_json::json;

use crate::common::binary::pushmirror;
use crate::common::web::{create_user, WebClient, PASSWORD};
use crate::common::{contains_bytes, read_all_files, TestServer};

/// The alert or notice the next page shows after a redirect.
async fn flash_after(web: &WebClient, location: &str) -> String {
    let page = web.get(location).await;
    assert_eq!(page.status, 200, "{page:?}");
    page.html
}

async fn signs_in_and_out(s: TestServer) {
    let root = s.token("root", true).await;
    create_user(&s, &root, "bob", false).await;
    let web = WebClient::new(&s.base);

    let form = web.get("/users/sign_in").await;
    assert_eq!(form.status, 200);
    assert!(
        form.header("content-type").starts_with("text/html"),
        "{form:?}"
    );
    for text in [
        "<label for=\"user_login\">Username or email</label>",
        "<label for=\"user_password\">Password</label>",
        ">Sign in</button>",
    ] {
        assert!(form.html.contains(text), "{text}: {}", form.html);
    }
    let csrf_cookie = form.header("set-cookie");
    assert!(
        csrf_cookie.starts_with("_pushmirror_csrf=")
            && csrf_cookie.contains("HttpOnly")
            && csrf_cookie.contains("SameSite=Lax")
            && !csrf_cookie.contains("Secure"),
        "{csrf_cookie}"
    );

    // The e-mail address in another case signs in too, and lands where it was going.
    let r = web
        .post(
            "/users/sign_in",
            &[
                ("user[login]", "BOB@example.com"),
                ("user[password]", PASSWORD),
                ("redirect_to", "/-/profile/personal_access_tokens"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.location(), "/-/profile/personal_access_tokens");
    let session = r.header("set-cookie");
    assert!(
        session.starts_with("_pushmirror_session=")
            && session.contains("HttpOnly")
            && session.contains("SameSite=Lax"),
        "{session}"
    );
    let value = web.cookie("_pushmirror_session").unwrap();
    assert!(value.len() >= 40, "{value}");
    // Only the session's hash is stored.
    if s.data_dir().join("pushmirror.db").exists() || s.data_dir().exists() {
        for (path, bytes) in read_all_files(&s.data_dir()) {
            assert!(
                !contains_bytes(&bytes, value.as_bytes()),
                "the session cookie's value is in {}",
                path.display()
            );
        }
    }

    // Signed in, the sign-in page sends people on.
    let r = web.get("/users/sign_in").await;
    assert_eq!((r.status, r.location()), (303, "/"));

    // Signing out is a form with its token; without it nothing happens.
    let page = web.get("/users/sign_out").await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.html.contains(">Sign out</button>"));
    let r = web.post_raw("/users/sign_out", &[]).await;
    assert_eq!(r.status, 422, "{r:?}");
    let r = web
        .post_raw(
            "/users/sign_out",
            &[("authenticity_token", "0".repeat(64).as_str())],
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(
        web.get("/users/sign_out").await.status,
        200,
        "still signed in"
    );
    let r = web.post("/users/sign_out", &[]).await;
    assert_eq!((r.status, r.location()), (303, "/users/sign_in"), "{r:?}");
    assert!(web.cookie("_pushmirror_session").is_none());
    assert!(flash_after(&web, "/users/sign_in")
        .await
        .contains("Signed out successfully."));

    // The old cookie is dead on the server too.
    let replay = WebClient::new(&s.base);
    replay.get("/users/sign_in").await;
    let r = replay
        .post(
            "/users/sign_in",
            &[("user[login]", "bob"), ("user[password]", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 303);
    let r = WebClient::new(&s.base);
    let page = r.get("/users/sign_out").await;
    assert_eq!(page.location(), "/users/sign_in", "no session, no page");
}

#[tokio::test]
async fn sign_in_and_out() {
    signs_in_and_out(TestServer::builder().start().await).await;
}

#[tokio::test]
async fn sign_in_and_out_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    signs_in_and_out(s).await;
}

#[tokio::test]
async fn wrong_logins_get_one_message_and_repeated_failures_are_slowed_down() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let s = TestServer::builder().clock(clock.clone()).start().await;
    let root = s.token("root", true).await;
    create_user(&s, &root, "bob", false).await;
    let web = WebClient::new(&s.base);
    web.get("/users/sign_in").await;

    let mut messages = Vec::new();
    for (login, password) in [("bob", "wrong-password"), ("nobody", PASSWORD), ("", "")] {
        let r = web
            .post(
                "/users/sign_in",
                &[("user[login]", login), ("user[password]", password)],
            )
            .await;
        assert_eq!(r.status, 303, "{r:?}");
        assert!(r.location().starts_with("/users/sign_in"), "{r:?}");
        assert!(web.cookie("_pushmirror_session").is_none());
        messages.push(flash_after(&web, r.location()).await);
    }
    for html in &messages {
        assert!(html.contains("Invalid login or password."), "{html}");
    }

    // bob's third failure: the next attempt, even with the right password, must wait.
    for _ in 0..2 {
        web.post(
            "/users/sign_in",
            &[("user[login]", "bob"), ("user[password]", "wrong-password")],
        )
        .await;
    }
    let r = web
        .post(
            "/users/sign_in",
            &[("user[login]", "bob"), ("user[password]", PASSWORD)],
        )
        .await;
    assert!(web.cookie("_pushmirror_session").is_none());
    let html = flash_after(&web, r.location()).await;
    assert!(
        html.contains("Too many failed sign-in attempts. Try again in 1 second."),
        "{html}"
    );
    // Once the wait is over the right password works, and clears the streak.
    clock.advance(1_000);
    let r = web
        .post(
            "/users/sign_in",
            &[("user[login]", "bob"), ("user[password]", PASSWORD)],
        )
        .await;
    assert_eq!((r.status, r.location()), (303, "/"), "{r:?}");
    assert!(web.cookie("_pushmirror_session").is_some());
}

#[tokio::test]
async fn the_sign_in_form_needs_its_own_browsers_token_and_stays_on_this_server() {
    let s = TestServer::builder().start().await;
    let root = s.token("root", true).await;
    create_user(&s, &root, "bob", false).await;

    let web = WebClient::new(&s.base);
    let fields = [("user[login]", "bob"), ("user[password]", PASSWORD)];
    // No cookie and no token; a cookie and no token; another browser's token.
    let r = web.post_raw("/users/sign_in", &fields).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.html.contains("authenticity token"), "{}", r.html);
    web.get("/users/sign_in").await;
    assert_eq!(web.post_raw("/users/sign_in", &fields).await.status, 422);
    let other = WebClient::new(&s.base);
    other.get("/users/sign_in").await;
    let token = other.csrf().unwrap();
    let mut with_other = vec![("authenticity_token", token.as_str())];
    with_other.extend_from_slice(&fields);
    assert_eq!(
        web.post_raw("/users/sign_in", &with_other).await.status,
        422
    );
    assert!(web.cookie("_pushmirror_session").is_none());

    // Where to go afterwards is a path on this server, nothing else.
    let r = web
        .post(
            "/users/sign_in",
            &[
                ("user[login]", "bob"),
                ("user[password]", PASSWORD),
                ("redirect_to", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!((r.status, r.location()), (303, "/"), "{r:?}");
}

#[tokio::test]
async fn sessions_expire_and_end_with_a_block() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let s = TestServer::builder().clock(clock.clone()).start().await;
    let root = s.token("root", true).await;
    let bob = create_user(&s, &root, "bob", false).await;

    let web = WebClient::signed_in(&s.base, "bob", PASSWORD).await;
    assert_eq!(web.get("/users/sign_out").await.status, 200);
    clock.advance(7 * 24 * 3600 * 1000 - 1);
    assert_eq!(
        web.get("/users/sign_out").await.status,
        200,
        "a week, less 1 ms"
    );
    clock.advance(1);
    let r = web.get("/users/sign_out").await;
    assert_eq!(r.location(), "/users/sign_in", "expired after a week");

    let web = WebClient::signed_in(&s.base, "bob", PASSWORD).await;
    let r = s
        .post_json(&format!("/users/{bob}/block"), &root, json!({}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        web.get("/users/sign_out").await.location(),
        "/users/sign_in"
    );
    let r = web
        .post(
            "/users/sign_in",
            &[("user[login]", "bob"), ("user[password]", PASSWORD)],
        )
        .await;
    let html = flash_after(&web, r.location()).await;
    assert!(html.contains("Your account has been blocked."), "{html}");
}

/// `pushmirror user <args…>` on `data`, the password piped to stdin; (exit code, stdout, stderr).
fn user_command(data: &std::path::Path, args: &[&str], password: &str) -> (i32, String, String) {
    let mut child = pushmirror()
        .arg("user")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pushmirror user");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_create_users_and_set_passwords_from_the_command_line() {
    let s = TestServer::builder().start().await;
    let root = s.token("root", true).await;
    let data = s.data_dir();

    let (code, _, err) = crate::common::blocking({
        let data = data.clone();
        move || {
            user_command(
                &data,
                &[
                    "create",
                    "--username",
                    "carol",
                    "--email",
                    "carol@example.com",
                    "--password-stdin",
                    "--admin",
                ],
                "short",
            )
        }
    })
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("Password is too short (minimum is 8 characters)"),
        "{err}"
    );

    let (code, out, err) = crate::common::blocking({
        let data = data.clone();
        move || {
            user_command(
                &data,
                &[
                    "create",
                    "--username",
                    "carol",
                    "--email",
                    "carol@example.com",
                    "--password-stdin",
                    "--admin",
                ],
                PASSWORD,
            )
        }
    })
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created user carol"), "{out}");
    let r = s.get("/users?username=carol", &root).await;
    assert_eq!(r.body[0]["is_admin"], true, "{}", r.text);
    assert_eq!(r.body[0]["email"], "carol@example.com", "{}", r.text);

    let web = WebClient::signed_in(&s.base, "carol", PASSWORD).await;
    let (code, out, err) = crate::common::blocking({
        let data = data.clone();
        move || {
            user_command(
                &data,
                &["set-password", "--username", "carol", "--password-stdin"],
                "a-new-password",
            )
        }
    })
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("password set for carol"), "{out}");
    assert_eq!(
        web.get("/users/sign_out").await.location(),
        "/users/sign_in",
        "a new password ends the sessions"
    );
    assert_eq!(
        web.sign_in("carol", PASSWORD).await.location(),
        "/users/sign_in?redirect_to=%2F"
    );
    WebClient::signed_in(&s.base, "carol", "a-new-password").await;

    let (code, _, err) = crate::common::blocking({
        let data = data.clone();
        move || {
            user_command(
                &data,
                &["set-password", "--username", "nobody", "--password-stdin"],
                PASSWORD,
            )
        }
    })
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("User not found"), "{err}");
}

#[tokio::test]
async fn browsers_get_an_html_404_and_api_clients_json() {
    let s = TestServer::builder().start().await;
    let web = WebClient::new(&s.base);
    for path in [
        "/no/such/page/-/at-all",
        "/nothing",
        "/root/missing-project",
    ] {
        let page = web.get(path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(
            page.header("content-type").starts_with("text/html"),
            "{path}"
        );
        assert!(
            page.html.contains("Page not found"),
            "{path}: {}",
            page.html
        );
    }
    let r = s
        .request("GET", "/../../nothing", None, crate::common::Body::None)
        .await;
    assert_eq!(r.status, 404);
    let client = reqwest::Client::new();
    for (path, accept) in [("/nothing", "*/*"), ("/api/v4/nothing", "text/html")] {
        let r = client
            .get(format!("{}{path}", s.base))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap(),
            json!({"error": "404 Not Found"}),
            "{path}"
        );
    }
}

#[tokio::test]
async fn styles_and_scripts_are_served_by_the_binary_with_content_hashes() {
    let s = TestServer::builder().start().await;
    let web = WebClient::new(&s.base);
    let page = web.get("/users/sign_in").await;
    let href = |marker: &str| {
        let at = page
            .html
            .find(marker)
            .unwrap_or_else(|| panic!("{marker}: {}", page.html));
        page.html[at + marker.len()..]
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    for (path, kind) in [
        (href("rel=\"stylesheet\" href=\""), "text/css"),
        (href("script src=\""), "text/javascript"),
    ] {
        assert!(path.starts_with("/-/assets/app-"), "{path}");
        let r = web.get(&path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("content-type").starts_with(kind), "{path}");
        assert_eq!(
            r.header("cache-control"),
            "public, max-age=31536000, immutable"
        );
        let stale = path.replacen("/-/assets/app-", "/-/assets/app-0", 1);
        assert_eq!(web.get(&stale).await.status, 404, "{stale}");
    }
    // Nothing the page needs comes from elsewhere.
    assert!(
        !page.html.contains("http://") && !page.html.contains("https://"),
        "{}",
        page.html
    );
}

#[tokio::test]
async fn cookies_are_secure_when_the_external_url_is_https() {
    let s = TestServer::builder()
        .tweak(|c| c.external_url = "https://git.example.com".into())
        .start()
        .await;
    let root = s.token("root", true).await;
    create_user(&s, &root, "bob", false).await;
    let web = WebClient::new(&s.base);
    let form = web.get("/users/sign_in").await;
    assert!(form.header("set-cookie").contains("; Secure"), "{form:?}");
    let r = web
        .post(
            "/users/sign_in",
            &[("user[login]", "bob"), ("user[password]", PASSWORD)],
        )
        .await;
    let cookie = r.header("set-cookie");
    assert!(
        cookie.starts_with("_pushmirror_session=") && cookie.contains("; Secure"),
        "{cookie}"
    );
}
