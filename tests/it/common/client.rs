//! Raw HTTP to a server under test: requests in every encoding GitLab's API accepts, answers with
//! status, headers and body, and a record of every body received so a test can prove a secret
//! never went over the wire. The typed client ([`super::api::Api`]) is built on this one.

use std::sync::{Arc, Mutex};

use reqwest::header::HeaderMap;
use serde_json::Value;

/// A request body in one of the encodings GitLab's API accepts.
pub enum Body {
    None,
    Json(Value),
    Form(Vec<(&'static str, String)>),
    Multipart(Vec<(&'static str, String)>),
    /// A raw body with its content type, for malformed input.
    Raw(&'static str, Vec<u8>),
}

/// One response: status, headers and the body (parsed as JSON when it is JSON, else `Null`).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// A header as text ("" when missing).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A client of one server. Cheap to clone; clones share the record of bodies.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>`.
    base: String,
    /// Every response body received, so secret checks can look at all of them.
    seen: Arc<Mutex<Vec<String>>>,
}

impl Client {
    /// A client of the server at `base`. It follows no redirects: tests look at them.
    pub fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_owned(),
            seen: Arc::default(),
        }
    }

    /// Sends a request to `/api/v4<path>` (or to `path` as is when it already starts with
    /// `/api/`, with `//`, or is `/`), with `PRIVATE-TOKEN` when a token is given.
    pub async fn request(&self, method: &str, path: &str, token: Option<&str>, body: Body) -> Resp {
        let url = if path.starts_with("/api/") || path.starts_with("//") || path == "/" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/api/v4{path}", self.base)
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.http.request(method, &url);
        if let Some(t) = token {
            rb = rb.header("PRIVATE-TOKEN", t);
        }
        rb = match body {
            Body::None => rb,
            Body::Json(v) => rb.json(&v),
            Body::Form(pairs) => rb.form(&pairs),
            Body::Multipart(pairs) => {
                let boundary = "pushmirror-test-boundary-7f3a";
                let mut data = String::new();
                for (k, v) in pairs {
                    data.push_str(&format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                    ));
                }
                data.push_str(&format!("--{boundary}--\r\n"));
                rb.header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(data)
            }
            Body::Raw(ct, bytes) => rb.header("content-type", ct).body(bytes),
        };
        self.send(rb).await
    }

    /// Sends a prepared request and records the response body.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let resp = rb.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        self.seen.lock().unwrap().push(text.clone());
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    /// A raw request builder for `/api/v4<path>`, for auth variants the helpers do not cover.
    pub fn raw(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/api/v4{path}", self.base))
    }

    /// Every response body received so far, for secret checks.
    pub fn seen_bodies(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}
