//! A real webhook receiver on 127.0.0.1: an HTTP server in the test process that records every
//! request it gets (path, headers, body) and answers as the test says: 200 by default, any
//! status on demand, a redirect, or no answer at all (hang). Dropping it stops it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::oneshot;

use super::poll::poll_for;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON (`Null` when it is not).
    pub body: Value,
}

impl Received {
    /// A header's value ("" when missing).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
            .unwrap_or("")
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Received>>,
    /// The status to answer; 0 means 200.
    status: AtomicU16,
    hang: AtomicBool,
}

/// A running receiver.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    shared.requests.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    if shared.hang.load(Ordering::SeqCst) {
        // Longer than any delivery deadline a test sets; the server gives up first.
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    match shared.status.load(Ordering::SeqCst) {
        0 => (StatusCode::OK, [("x-receiver", "yes")], "{\"ok\":true}").into_response(),
        302 => (
            StatusCode::FOUND,
            [("location", "/redirected")],
            "elsewhere",
        )
            .into_response(),
        code => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            format!("failing on purpose with {code}"),
        )
            .into_response(),
    }
}

impl Receiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Receiver {
            addr,
            shared,
            _stop: tx,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Answers `status` from now on (302 redirects to `/redirected`); 0 or 200 answers 200.
    pub fn answer(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// Stops answering (requests are still recorded) while `on`.
    pub fn hang(&self, on: bool) {
        self.shared.hang.store(on, Ordering::SeqCst);
    }

    /// Waits until at least `n` requests arrived (at most `limit`); all of them.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        poll_for(limit, || async { self.requests() }, |r| r.len() >= n)
            .await
            .unwrap_or_else(|got| panic!("expected {n} deliveries, got {}: {got:?}", got.len()))
    }
}
