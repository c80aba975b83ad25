//! Gitea's push-mirror routes: list (`page`, `limit`; `Link` and `X-Total-Count`), create, get
//! and delete by `remote_name`, and `push_mirrors-sync` (every enabled mirror queued at once;
//! the answer does not wait for the pushes, as Gitea's does not). Gitea's order: the repository
//! (404 when hidden), a token (401), a repository admin, here Maintainer and up (403). The rules
//! are `service::mirrors`, the same as the GitLab API's: a mirror made here is a row of the
//! same table, seen there by its id, and the reverse.
//!
//! `interval` is a Go duration (`8h0m0s`; `0` or `0s`: only on push; else at least ten
//! minutes; absent: `8h0m0s`, Gitea's default); `sync_on_commit` absent is false, Go's zero
//! value, as Gitea reads it. `branch_filter` (Forgejo) is a comma-separated list of branch
//! names, kept as a `mirror_branch_regex` (`model::branch_filter`). `use_ssh` (Forgejo) makes a
//! key pair, shown as `public_key`, and excludes `remote_username` and `remote_password`.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::GiteaCaller;
use super::error::GiteaError;
use super::repos::{find_repo, RepoPath};
use super::views;
use crate::http::AppState;
use crate::model::branch_filter::branch_filter_regex;
use crate::model::entities::{AuthMethod, Project, User};
use crate::model::go_duration::parse_go_duration;
use crate::model::mirror_settings::MirrorRequest;
use crate::model::url::{Credentials, MirrorTarget};
use crate::service::mirrors;
use crate::store::PageRequest;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, remove))
        .routes(routes!(sync_all))
}

/// Gitea's page size when `limit` is absent (`[api] DEFAULT_PAGING_NUM`).
const DEFAULT_LIMIT: i64 = 30;
/// The largest page Gitea answers (`[api] MAX_RESPONSE_ITEMS`).
const MAX_LIMIT: i64 = 50;
/// A new mirror's interval when the request names none: Gitea's `[mirror] DEFAULT_INTERVAL`.
const DEFAULT_INTERVAL_SECS: i64 = 8 * 3600;

/// The `{name}` segment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only
struct MirrorName {
    /// The mirror's `remote_name`.
    name: String,
}

/// Gitea's list parameters; a value that is not a number counts as absent, as Gitea reads it.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// The page, from 1 (default 1).
    #[param(value_type = Option<i64>)]
    page: Option<String>,
    /// Items per page (default 30, at most 50).
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
}

impl ListQuery {
    /// The parameters of a query string, the first of each; read by hand, not by axum's
    /// `Query`, whose refusals (a repeated key) are plain text, not Gitea's JSON.
    fn of(query: Option<&str>) -> ListQuery {
        let mut list = ListQuery {
            page: None,
            limit: None,
        };
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match k.as_ref() {
                "page" if list.page.is_none() => list.page = Some(v.into_owned()),
                "limit" if list.limit.is_none() => list.limit = Some(v.into_owned()),
                _ => {}
            }
        }
        list
    }

    fn page(&self) -> PageRequest {
        let number = |v: &Option<String>| v.as_deref().and_then(|s| s.trim().parse::<i64>().ok());
        let page = number(&self.page).filter(|p| *p > 0).unwrap_or(1);
        let limit = number(&self.limit)
            .filter(|l| *l > 0)
            .unwrap_or(DEFAULT_LIMIT)
            .min(MAX_LIMIT);
        PageRequest {
            page,
            per_page: limit,
        }
    }
}

/// Gitea's `CreatePushMirrorOption`, with Forgejo's `use_ssh` and `branch_filter`.
// No `Debug`: it holds a password.
#[derive(Deserialize, ToSchema)]
struct CreatePushMirrorOption {
    /// The remote's URL, without credentials (a URL with them is refused: send them apart).
    remote_address: Option<String>,
    remote_username: Option<String>,
    remote_password: Option<String>,
    /// Between periodic updates, a Go duration (`8h0m0s`); `0`: only on push; else at least
    /// `10m0s`. Default `8h0m0s`.
    interval: Option<String>,
    /// Whether a push updates the mirror (default false).
    sync_on_commit: Option<bool>,
    /// Authenticate with a key pair made for the mirror (its public key is the answer's
    /// `public_key`); excludes `remote_username` and `remote_password`.
    use_ssh: Option<bool>,
    /// The branches to push, comma-separated (tags are pushed too); empty: every branch.
    branch_filter: Option<String>,
}

/// The request a create body makes, with Gitea's refusals of its parts (400).
fn create_request(body: CreatePushMirrorOption) -> Result<MirrorRequest, GiteaError> {
    let address = body.remote_address.unwrap_or_default();
    let target = MirrorTarget::from_url(address.trim());
    // A password never travels in the URL; a user name does only as an SSH login (`git@`).
    let over_http = address.trim_start().starts_with("http");
    let in_url = target
        .credentials
        .as_ref()
        .is_some_and(|c| c.password.is_some() || over_http);
    if in_url {
        return Err(GiteaError::BadRequest(
            "The URL contains credentials: send them as remote_username and remote_password".into(),
        ));
    }
    let use_ssh = body.use_ssh.unwrap_or(false);
    let typed = Credentials::typed(
        body.remote_username.as_deref(),
        body.remote_password.as_deref(),
    );
    if use_ssh && typed.is_some() {
        return Err(GiteaError::BadRequest(
            "'use_ssh' is mutually exclusive with 'remote_username' and 'remote_password'".into(),
        ));
    }
    let interval = match body.interval.as_deref() {
        None => DEFAULT_INTERVAL_SECS,
        Some(text) => parse_go_duration(text.trim())
            .map_err(|e| GiteaError::BadRequest(format!("invalid interval: {e}")))?,
    };
    Ok(MirrorRequest {
        target: Some(MirrorTarget {
            url: target.url,
            credentials: typed.or(target.credentials),
        }),
        enabled: Some(Some(true)),
        auth_method: use_ssh.then_some(Ok(AuthMethod::SshPublicKey)),
        mirror_branch_regex: Some(body.branch_filter.as_deref().and_then(branch_filter_regex)),
        sync_interval_secs: Some(interval),
        sync_on_commit: Some(Some(body.sync_on_commit.unwrap_or(false))),
        ..MirrorRequest::default()
    })
}

/// The repository, once the caller proved to be its admin: 401 without a token, 403 below
/// Maintainer.
async fn admin_repo(
    state: &AppState,
    owner: &str,
    repo: &str,
    user: Option<&User>,
) -> Result<Project, GiteaError> {
    let found = find_repo(state, owner, repo, user).await?;
    if user.is_none() {
        return Err(GiteaError::Unauthorized("token is required"));
    }
    Ok(mirrors::admit_mirror_admin(found)?)
}

/// `Link` (Gitea's `first`, `prev`, `next`, `last`) and `X-Total-Count` for a page of `total`.
fn page_headers(base: &str, page: PageRequest, total: i64) -> HeaderMap {
    let last = ((total + page.per_page - 1) / page.per_page).max(1);
    let link =
        |n: i64, rel: &str| format!("<{base}?limit={}&page={n}>; rel=\"{rel}\"", page.per_page);
    let mut links = Vec::new();
    if page.page < last {
        links.push(link(page.page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page.page > 1 {
        links.push(link(1, "first"));
        links.push(link((page.page - 1).min(last), "prev"));
    }
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(total));
    if let Ok(v) = HeaderValue::from_str(&links.join(",")) {
        if !links.is_empty() {
            headers.insert(axum::http::header::LINK, v);
        }
    }
    headers
}

/// List a repository's push mirrors.
#[utoipa::path(get, path = "/repos/{owner}/{repo}/push_mirrors", tag = "repository",
    operation_id = "repoListPushMirrors", params(RepoPath, ListQuery),
    responses((status = 200, description = "The mirrors, paginated", body = Vec<views::PushMirror>,
        headers(("X-Total-Count" = i64, description = "How many mirrors there are"),
                ("Link" = String, description = "The other pages")))))]
async fn list(
    State(state): State<AppState>,
    GiteaCaller(user): GiteaCaller,
    Path((owner, repo)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, GiteaError> {
    let project = admin_repo(&state, &owner, &repo, user.as_ref()).await?;
    let page = ListQuery::of(uri.query()).page();
    let paged = state.store.mirror_rows(project.id, page).await?;
    let items: Vec<views::PushMirror> = paged
        .items
        .iter()
        .map(|m| views::push_mirror(m, &project.path))
        .collect();
    let base = format!("{}{}", state.external_url, uri.path());
    Ok((page_headers(&base, page, paged.total), Json(items)).into_response())
}

/// Add a push mirror to a repository.
#[utoipa::path(post, path = "/repos/{owner}/{repo}/push_mirrors", tag = "repository",
    operation_id = "repoAddPushMirror", params(RepoPath),
    request_body(content = CreatePushMirrorOption, content_type = "application/json"),
    responses((status = 200, description = "The mirror", body = views::PushMirror)))]
async fn create(
    State(state): State<AppState>,
    GiteaCaller(user): GiteaCaller,
    Path((owner, repo)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<views::PushMirror>, GiteaError> {
    let project = admin_repo(&state, &owner, &repo, user.as_ref()).await?;
    let body: CreatePushMirrorOption = serde_json::from_slice(&body).map_err(|e| {
        GiteaError::Unprocessable(format!("the body is not a CreatePushMirrorOption: {e}"))
    })?;
    let req = create_request(body)?;
    let mirror = mirrors::create_mirror(&state, &project, req).await?;
    Ok(Json(views::push_mirror(&mirror, &project.path)))
}

/// Get a push mirror by its `remote_name`.
#[utoipa::path(get, path = "/repos/{owner}/{repo}/push_mirrors/{name}", tag = "repository",
    operation_id = "repoGetPushMirrorByRemoteName", params(RepoPath, MirrorName),
    responses((status = 200, description = "The mirror", body = views::PushMirror)))]
async fn show(
    State(state): State<AppState>,
    GiteaCaller(user): GiteaCaller,
    Path((owner, repo, name)): Path<(String, String, String)>,
) -> Result<Json<views::PushMirror>, GiteaError> {
    let project = admin_repo(&state, &owner, &repo, user.as_ref()).await?;
    let mirror = mirrors::find_mirror_by_remote_name(&state, project.id, &name).await?;
    Ok(Json(views::push_mirror(&mirror, &project.path)))
}

/// Delete a push mirror by its `remote_name`.
#[utoipa::path(delete, path = "/repos/{owner}/{repo}/push_mirrors/{name}", tag = "repository",
    operation_id = "repoDeletePushMirror", params(RepoPath, MirrorName),
    responses((status = 204, description = "Deleted")))]
async fn remove(
    State(state): State<AppState>,
    GiteaCaller(user): GiteaCaller,
    Path((owner, repo, name)): Path<(String, String, String)>,
) -> Result<StatusCode, GiteaError> {
    let project = admin_repo(&state, &owner, &repo, user.as_ref()).await?;
    let mirror = mirrors::find_mirror_by_remote_name(&state, project.id, &name).await?;
    mirrors::delete_mirror(&state, &mirror).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queue an update of every enabled push mirror of a repository.
#[utoipa::path(post, path = "/repos/{owner}/{repo}/push_mirrors-sync", tag = "repository",
    operation_id = "repoPushMirrorSync", params(RepoPath),
    responses((status = 200, description = "The updates are queued")))]
async fn sync_all(
    State(state): State<AppState>,
    GiteaCaller(user): GiteaCaller,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<StatusCode, GiteaError> {
    let project = admin_repo(&state, &owner, &repo, user.as_ref()).await?;
    mirrors::sync_all_mirrors(&state, &project).await?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> CreatePushMirrorOption {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn gitea_refusals_of_a_create_body() {
        let bad = [
            serde_json::json!({"remote_address": "https://u:p@example.com/a.git"}),
            serde_json::json!({"remote_address": "https://example.com/a.git", "interval": "8"}),
            serde_json::json!({"remote_address": "https://example.com/a.git", "interval": ""}),
            serde_json::json!({"remote_address": "ssh://git@example.com/a.git", "use_ssh": true,
                               "remote_password": "p"}),
        ];
        for json in bad {
            let refused = create_request(body(json.clone()));
            assert!(matches!(refused, Err(GiteaError::BadRequest(_))), "{json}");
        }
        let req = create_request(body(serde_json::json!({
            "remote_address": "https://example.com/a.git", "remote_username": "u",
            "remote_password": "p", "branch_filter": "main,dev"
        })))
        .unwrap();
        assert_eq!(req.sync_interval_secs, Some(DEFAULT_INTERVAL_SECS));
        assert_eq!(req.sync_on_commit, Some(Some(false)));
        assert_eq!(req.mirror_branch_regex, Some(Some("^(?:main|dev)$".into())));
        let target = req.target.unwrap();
        assert_eq!(target.url, "https://example.com/a.git");
        assert_eq!(target.credentials.unwrap().password(), Some("p"));
    }

    #[test]
    fn pages_link_as_gitea_does() {
        let page = PageRequest {
            page: 2,
            per_page: 10,
        };
        let headers = page_headers("http://h/x", page, 35);
        assert_eq!(headers["x-total-count"], "35");
        let link = headers[axum::http::header::LINK].to_str().unwrap();
        assert!(link.contains("<http://h/x?limit=10&page=3>; rel=\"next\""));
        assert!(link.contains("page=4>; rel=\"last\""));
        assert!(link.contains("page=1>; rel=\"first\""));
        assert!(link.contains("page=1>; rel=\"prev\""));
        let one = page_headers(
            "http://h/x",
            PageRequest {
                page: 1,
                per_page: 10,
            },
            3,
        );
        assert!(one.get(axum::http::header::LINK).is_none());
    }
}
