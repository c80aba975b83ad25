//! GitLab's offset pagination: `page`/`per_page` in, `Link` and `X-*` headers out, with links built
//! from the configured external URL so clients that check the base URL (python-gitlab) follow them.

use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::params::Params;
use crate::store::PageRequest;

/// GitLab's default page size.
pub(crate) const DEFAULT_PER_PAGE: i64 = 20;
/// GitLab's largest page size; larger requests are clamped, as GitLab does.
pub(crate) const MAX_PER_PAGE: i64 = 100;

/// The highest page number taken; a larger one reads as this (an empty page), so no arithmetic
/// on it can overflow.
const MAX_PAGE: i64 = i32::MAX as i64;

/// The list filters clients send that links carry over to the next page. Anything else in the
/// query (tokens, unknown keys) is never echoed back into a header.
const LINK_PARAMS: &[&str] = &[
    "search",
    "owned",
    "membership",
    "visibility",
    "order_by",
    "sort",
    "simple",
    "archived",
    "username",
    "active",
    "statistics",
    "with_shared",
    "min_access_level",
    "all_available",
    "top_level_only",
    "include_subgroups",
    "owned_only",
    "with_projects",
];

/// Reads `page` and `per_page` with GitLab's defaults and clamping.
pub(crate) fn page_request(params: &Params) -> Result<PageRequest, ApiError> {
    let page = params.int("page")?.unwrap_or(1).clamp(1, MAX_PAGE);
    let per_page = params
        .int("per_page")?
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(1, MAX_PER_PAGE);
    Ok(PageRequest { page, per_page })
}

/// A JSON array response with GitLab's pagination headers.
pub(crate) fn paginated(
    external_url: &str,
    uri: &Uri,
    page: PageRequest,
    total: i64,
    items: impl serde::Serialize,
) -> Response {
    let total_pages = ((total + page.per_page - 1) / page.per_page).max(1);
    let mut headers = HeaderMap::new();
    let other_query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            let mut seen = std::collections::BTreeMap::new();
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                if LINK_PARAMS.contains(&k.as_ref()) {
                    // The last occurrence wins, as the parameters themselves are read.
                    seen.insert(k.into_owned(), v.into_owned());
                }
            }
            seen.into_iter().collect()
        })
        .unwrap_or_default();
    let link_to = |p: i64| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &other_query {
            ser.append_pair(k, v);
        }
        ser.append_pair("page", &p.to_string());
        ser.append_pair("per_page", &page.per_page.to_string());
        format!("{external_url}{}?{}", uri.path(), ser.finish())
    };
    let mut links = Vec::new();
    let next = (page.page < total_pages).then_some(page.page + 1);
    let prev = (page.page > 1).then(|| (page.page - 1).min(total_pages));
    if let Some(p) = prev {
        links.push(format!("<{}>; rel=\"prev\"", link_to(p)));
    }
    if let Some(n) = next {
        links.push(format!("<{}>; rel=\"next\"", link_to(n)));
    }
    links.push(format!("<{}>; rel=\"first\"", link_to(1)));
    links.push(format!("<{}>; rel=\"last\"", link_to(total_pages)));
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("link", links.join(", "));
    set("x-page", page.page.to_string());
    set("x-per-page", page.per_page.to_string());
    set("x-total", total.to_string());
    set("x-total-pages", total_pages.to_string());
    set(
        "x-next-page",
        next.map(|n| n.to_string()).unwrap_or_default(),
    );
    set(
        "x-prev-page",
        prev.map(|n| n.to_string()).unwrap_or_default(),
    );
    (headers, Json(items)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn huge_pages_are_bounded_and_links_carry_only_list_filters() {
        let p = Params(
            json!({"page": "9223372036854775807"})
                .as_object()
                .unwrap()
                .clone(),
        );
        let page = page_request(&p).unwrap();
        assert_eq!(page.page, MAX_PAGE);
        let uri: Uri = "/api/v4/projects?search=x&junk=1&junk=2&private_token=secret&page=3"
            .parse()
            .unwrap();
        let r = paginated("http://h", &uri, page, 5, json!([]));
        let link = r.headers()["link"].to_str().unwrap();
        assert!(!link.contains("junk") && !link.contains("secret"), "{link}");
        assert_eq!(link.matches("search=x").count(), 3, "{link}");
        assert_eq!(r.headers()["x-page"], MAX_PAGE.to_string().as_str());
    }

    #[test]
    fn clamps_and_defaults() {
        let p = Params(
            json!({"per_page": "500", "page": "0"})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(
            page_request(&p).unwrap(),
            PageRequest {
                page: 1,
                per_page: 100
            }
        );
        let p = Params(Default::default());
        assert_eq!(
            page_request(&p).unwrap(),
            PageRequest {
                page: 1,
                per_page: 20
            }
        );
        let p = Params(json!({"page": "x"}).as_object().unwrap().clone());
        assert!(page_request(&p).is_err());
    }

    #[test]
    fn headers_and_links() {
        let uri: Uri = "/api/v4/projects?search=a&page=2&per_page=2"
            .parse()
            .unwrap();
        let r = paginated(
            "http://h:1",
            &uri,
            PageRequest {
                page: 2,
                per_page: 2,
            },
            5,
            Vec::<serde_json::Value>::new(),
        );
        let h = r.headers();
        assert_eq!(h["x-total"], "5");
        assert_eq!(h["x-total-pages"], "3");
        assert_eq!(h["x-next-page"], "3");
        assert_eq!(h["x-prev-page"], "1");
        let link = h["link"].to_str().unwrap();
        assert!(
            link.contains("<http://h:1/api/v4/projects?search=a&page=3&per_page=2>; rel=\"next\""),
            "{link}"
        );
        assert!(link.contains("rel=\"last\""));
    }

    #[test]
    fn links_never_carry_tokens() {
        let uri: Uri = "/api/v4/projects?private_token=pmpat-x&access_token=pmpat-y&search=a"
            .parse()
            .unwrap();
        let r = paginated(
            "http://h",
            &uri,
            PageRequest {
                page: 1,
                per_page: 1,
            },
            3,
            Vec::<serde_json::Value>::new(),
        );
        let link = r.headers()["link"].to_str().unwrap();
        assert!(!link.contains("pmpat-"), "{link}");
        assert!(link.contains("search=a"));
    }
}
