//! The interface's stylesheet and script, compiled into the binary and served by it (no CDN,
//! nothing fetched at run time) at paths that carry a hash of their content, so browsers may
//! cache them for a year: a new build changes the path. Each part of the interface keeps its
//! own file under `assets/`; they are joined in the order listed here.

use std::sync::OnceLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::error::not_found_page;
use crate::http::AppState;

/// The stylesheet's parts.
const CSS: &[&str] = &[
    include_str!("assets/base.css"),
    include_str!("assets/dashboard.css"),
    include_str!("assets/settings.css"),
    include_str!("assets/pages.css"),
];
/// The script's parts.
const JS: &[&str] = &[
    include_str!("assets/base.js"),
    include_str!("assets/live.js"),
];

/// One served file: its content and its hashed name.
struct Asset {
    body: String,
    path: String,
}

fn build(parts: &[&str], stem: &str, ext: &str) -> Asset {
    use sha2::Digest;
    let body = parts.join("\n");
    let hash = hex::encode(&sha2::Sha256::digest(body.as_bytes())[..8]);
    Asset {
        path: format!("/-/assets/{stem}-{hash}.{ext}"),
        body,
    }
}

fn css() -> &'static Asset {
    static A: OnceLock<Asset> = OnceLock::new();
    A.get_or_init(|| build(CSS, "app", "css"))
}

fn js() -> &'static Asset {
    static A: OnceLock<Asset> = OnceLock::new();
    A.get_or_init(|| build(JS, "app", "js"))
}

/// The stylesheet's path, for `<link>`.
pub(in crate::http) fn css_path() -> &'static str {
    &css().path
}

/// The script's path, for `<script>`.
pub(in crate::http) fn js_path() -> &'static str {
    &js().path
}

async fn serve(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let requested = format!("/-/assets/{file}");
    for (asset, kind) in [
        (css(), "text/css; charset=utf-8"),
        (js(), "text/javascript; charset=utf-8"),
    ] {
        if asset.path == requested {
            return (
                [
                    (CONTENT_TYPE, kind),
                    (CACHE_CONTROL, "public, max-age=31536000, immutable"),
                ],
                asset.body.clone(),
            )
                .into_response();
        }
    }
    not_found_page()
}

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/-/assets/{file}", get(serve))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_carry_a_content_hash() {
        assert!(css_path().starts_with("/-/assets/app-") && css_path().ends_with(".css"));
        assert_eq!(css_path().len(), "/-/assets/app-".len() + 16 + 4);
        assert_ne!(
            build(&["a"], "x", "css").path,
            build(&["b"], "x", "css").path
        );
    }
}
