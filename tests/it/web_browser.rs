//! The web interface end to end in a real headless Chromium (WebDriver): people sign in, watch
//! their mirrors, add HTTP and SSH mirrors through the form, update them and see the status turn
//! without a reload, find a failing mirror at the top of the dashboard, revoke a token; and
//! every form on every page refuses a post without its CSRF token. Each page is saved as a
//! screenshot under `target/tmp/screenshots/`, at desktop and at 360 px wide.

use serde_json::{json, Value};

use crate::common::browser::Browser;
use crate::common::TestServer;

const PASSWORD: &str = "correct-horse-battery";

/// Creates `username` with [`PASSWORD`] through the admin API.
async fn user_with_password(s: &TestServer, admin_token: &str, username: &str, admin: bool) {
    let r = s
        .post_json(
            "/users",
            admin_token,
            json!({"username": username, "name": username, "email": format!("{username}@example.com"),
                   "password": PASSWORD, "admin": admin}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

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
    user_with_password(&s, &root, "alice", false).await;

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
    user_with_password(&s, &root, "alice", false).await;
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
