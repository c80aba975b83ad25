//! A browser-like client of the web interface for HTTP-level tests: it keeps cookies (the
//! session, the CSRF cookie, the flash), follows no redirects (tests look at them), remembers
//! the CSRF token of the last page it fetched, and adds it to the forms it posts.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};

use super::TestServer;

/// The password of every user [`create_user`] makes.
pub const PASSWORD: &str = "correct-horse-battery";

/// Creates `username` with [`PASSWORD`] through the admin users API (an administrator if
/// `admin`), named in capitals so a page can tell the name from the username; returns the id.
pub async fn create_user(s: &TestServer, admin_token: &str, username: &str, admin: bool) -> i64 {
    let r = s
        .post_json(
            "/users",
            admin_token,
            serde_json::json!({
                "username": username, "name": username.to_uppercase(),
                "email": format!("{username}@example.com"), "password": PASSWORD, "admin": admin,
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_i64().unwrap()
}

/// One page as a browser got it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub html: String,
}

impl Page {
    /// A header as text ("" when missing).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Where a redirect points ("" when this is not one).
    pub fn location(&self) -> &str {
        self.header("location")
    }
}

/// The value of the first `name="authenticity_token"` input in `html`.
pub fn csrf_token_in(html: &str) -> Option<String> {
    let at = html.find("name=\"authenticity_token\"")?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.split("value=\"").nth(1)?;
    Some(v.split('"').next()?.to_owned())
}

/// A browser: cookies and the last page's CSRF token.
pub struct WebClient {
    http: reqwest::Client,
    base: String,
    cookies: Mutex<BTreeMap<String, String>>,
    csrf: Mutex<Option<String>>,
}

impl WebClient {
    /// A signed-out browser of the server at `base` (`http://127.0.0.1:<port>`).
    pub fn new(base: &str) -> WebClient {
        WebClient {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_owned(),
            cookies: Mutex::default(),
            csrf: Mutex::default(),
        }
    }

    /// A browser signed in as `login` with `password` (panics when signing in fails).
    pub async fn signed_in(base: &str, login: &str, password: &str) -> WebClient {
        let web = WebClient::new(base);
        let page = web.sign_in(login, password).await;
        assert_eq!(page.status, 303, "sign-in failed: {page:?}");
        assert!(
            web.cookie("_pushmirror_session").is_some(),
            "no session cookie after signing in: {page:?}"
        );
        web
    }

    /// Fetches the sign-in form and posts it; the answer (303 on success).
    pub async fn sign_in(&self, login: &str, password: &str) -> Page {
        let form = self.get("/users/sign_in").await;
        assert_eq!(form.status, 200, "{form:?}");
        self.post(
            "/users/sign_in",
            &[("user[login]", login), ("user[password]", password)],
        )
        .await
    }

    /// The value of cookie `name`, if the browser holds it.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    /// The CSRF token of the last page fetched.
    pub fn csrf(&self) -> Option<String> {
        self.csrf.lock().unwrap().clone()
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&self, headers: &HeaderMap) {
        let mut jar = self.cookies.lock().unwrap();
        for v in headers.get_all(SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let Some((pair, attrs)) = v.split_once(';').or(Some((v, ""))) else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            if value.is_empty() || attrs.contains("Max-Age=0") {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.to_owned());
            }
        }
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Page {
        let r = rb
            .header(COOKIE, self.cookie_header())
            .header("accept", "text/html")
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        self.keep_cookies(&headers);
        let html = r.text().await.unwrap_or_default();
        if let Some(t) = csrf_token_in(&html) {
            *self.csrf.lock().unwrap() = Some(t);
        }
        Page {
            status,
            headers,
            html,
        }
    }

    /// GET `path` as a browser.
    pub async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// POSTs a form to `path` with the last page's CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.csrf().unwrap_or_default();
        let mut all: Vec<(&str, &str)> = vec![("authenticity_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// POSTs exactly `fields` (no CSRF token added), to test refusals.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
    }
}
