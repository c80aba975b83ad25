//! What the fuzz targets in `fuzz/` call that the crate does not export: the HTTP edge's parsers
//! of untrusted bytes (the merged request parameters and their typed accessors, pagination), and
//! [`ready`], which runs an async parser over in-memory input. Compiled only with
//! `--cfg fuzzing`, which the fuzz build sets; the model's parsers and git's pkt-line reader
//! (`git::protocol::pktline`) are public already and the targets call them directly.
//!
//! Why the files are compiled a second time here (`#[path]`) instead of wrapped in place: they
//! are `pub(crate)` or `pub(super)` inside private modules of `http`, and reaching them from
//! outside would mean widening them or adding a hook to `http` for the fuzz build. Including the
//! same source files gives the fuzzer the very code the server runs, with the visibility it
//! already has, and leaves the normal build untouched. A file that grows a new `super::` import
//! needs that sibling included here too; the fuzz build in `.ci/run` fails until it is.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use serde_json::{Map, Value};

use crate::store::PageRequest;

// Loaded twice on purpose (see above), and partly dead here: the handlers that use the rest of
// these files are not compiled in this module.
#[allow(clippy::duplicate_mod, dead_code)]
#[path = "http/api/gitlab/error.rs"]
mod error;
#[allow(clippy::duplicate_mod, dead_code)]
#[path = "http/api/gitlab/pagination.rs"]
mod pagination;
#[allow(clippy::duplicate_mod, dead_code)]
#[path = "http/api/gitlab/params.rs"]
mod params;

/// Runs a future over in-memory input, which never has to wait: a parser that returns
/// `Pending` there is waiting for something that will never come, and that is a bug.
pub fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a parser waited on in-memory input"),
    }
}

/// The merged parameters of one request, with the handlers' typed accessors; every error is
/// its message (the `{"error": …}` text a client would see).
#[derive(Debug)]
pub struct Params(params::Params);

/// Extracts the parameters of `request` as a handler does (query, then the JSON, form or
/// multipart body over it).
pub fn params(request: axum::extract::Request) -> Result<Params, String> {
    use axum::extract::FromRequest;
    ready(params::Params::from_request(request, &()))
        .map(Params)
        .map_err(|e| e.to_string())
}

impl Params {
    /// The merged map.
    pub fn map(&self) -> &Map<String, Value> {
        &self.0 .0
    }

    /// Whether `key` was sent at all.
    pub fn has(&self, key: &str) -> bool {
        self.0.has(key)
    }

    /// A string; `Some(None)` is an explicit null.
    pub fn string(&self, key: &str) -> Result<Option<Option<String>>, String> {
        self.0.string(key).map_err(|e| e.to_string())
    }

    /// A string that must be present.
    pub fn required_string(&self, key: &str) -> Result<String, String> {
        self.0.required_string(key).map_err(|e| e.to_string())
    }

    /// A Boolean with Grape's coercion; `Some(None)` is an explicit null.
    pub fn bool(&self, key: &str) -> Result<Option<Option<bool>>, String> {
        self.0.bool(key).map_err(|e| e.to_string())
    }

    /// An integer.
    pub fn int(&self, key: &str) -> Result<Option<i64>, String> {
        self.0.int(key).map_err(|e| e.to_string())
    }

    /// An array of strings (a single string is a one-element array).
    pub fn string_array(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        self.0.string_array(key).map_err(|e| e.to_string())
    }

    /// Grape's `mutually_exclusive`.
    pub fn mutually_exclusive(&self, keys: &[&str]) -> Result<(), String> {
        self.0.mutually_exclusive(keys).map_err(|e| e.to_string())
    }

    /// `page` and `per_page` with GitLab's defaults and clamping.
    pub fn page_request(&self) -> Result<PageRequest, String> {
        pagination::page_request(&self.0).map_err(|e| e.to_string())
    }
}
