//! The interface's stylesheet and script, compiled into the binary and served by it (no CDN,
//! nothing fetched at run time) at paths that carry a hash of their content, so browsers may
//! cache them for a year: a new build changes the path. Each part of the interface keeps its
//! own file under `assets/`; they are joined in the order listed here.

use std::sync::OnceLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

/// The stylesheet's parts.
const CSS: &[&str] = &[
    include_str!("assets/base.css"),
    include_str!("assets/dashboard.css"),
    include_str!("assets/settings.css"),
    include_str!("assets/pages.css"),
    include_str!("assets/forms.css"),
];
/// The script's parts.
const JS: &[&str] = &[
    include_str!("assets/base.js"),
    include_str!("assets/live.js"),
    include_str!("assets/forms.js"),
    include_str!("assets/import.js"),
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

/// The asset named `file` (`app-<hash>.css`), or `None` for any other name (the caller answers
/// with the interface's 404 page).
pub(super) fn serve(file: &str) -> Option<Response> {
    let requested = format!("/-/assets/{file}");
    for (asset, kind) in [
        (css(), "text/css; charset=utf-8"),
        (js(), "text/javascript; charset=utf-8"),
    ] {
        if asset.path == requested {
            return Some(
                (
                    [
                        (CONTENT_TYPE, kind),
                        (CACHE_CONTROL, "public, max-age=31536000, immutable"),
                    ],
                    asset.body.clone(),
                )
                    .into_response(),
            );
        }
    }
    None
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

    /// The colours `base.css` defines, by variable name.
    fn palette() -> std::collections::HashMap<String, [f64; 3]> {
        let css = include_str!("assets/base.css");
        let root = css
            .split(":root {")
            .nth(1)
            .unwrap()
            .split('}')
            .next()
            .unwrap();
        root.split(';')
            .filter_map(|decl| {
                let (name, value) = decl.trim().split_once(':')?;
                let hex = value.trim().strip_prefix('#')?;
                let c =
                    |i: usize| f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
                Some((
                    name.trim().trim_start_matches("--").to_owned(),
                    [c(0), c(2), c(4)],
                ))
            })
            .collect()
    }

    /// WCAG's contrast ratio of two sRGB colours.
    fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
        let lum = |c: [f64; 3]| {
            let f = |v: f64| {
                if v <= 0.03928 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            };
            0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2])
        };
        let (x, y) = (lum(a), lum(b));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    #[test]
    fn every_text_colour_meets_wcag_aa_on_its_background() {
        let p = palette();
        for (fg, bg) in [
            ("fg", "bg"),
            ("muted", "bg"),
            ("muted", "panel"),
            ("link", "bg"),
            ("link", "panel"),
            ("ok-fg", "ok-bg"),
            ("fail-fg", "fail-bg"),
            ("warn-fg", "warn-bg"),
            ("run-fg", "run-bg"),
            ("idle-fg", "idle-bg"),
            ("ok-fg", "bg"),
            ("fail-fg", "bg"),
            ("warn-fg", "bg"),
        ] {
            let ratio = contrast(p[fg], p[bg]);
            assert!(
                ratio >= 4.5,
                "--{fg} on --{bg}: {ratio:.2}:1 is below AA's 4.5:1"
            );
        }
    }
}
