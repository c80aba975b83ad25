//! `/projects`: create, list, get, delete; and [`find_project`], the lookup every project-scoped
//! endpoint starts with (numeric id or URL-encoded `namespace/path`; hidden projects read as 404).

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::{CurrentUser, MaybeUser};
use super::error::ApiError;
use super::pagination::page_request;
use super::params::{not_valid_value, Params};
use super::{views, AppState};
use crate::model::access::{AccessLevel, Caller, Visibility};
use crate::model::entities::{Project, User};
use crate::store::{NewProject, StoreError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects", get(list).post(create))
        .route("/projects/{id}", get(show).delete(remove))
}

/// Resolves `:id` and the caller's standing in it. Unknown or invisible projects are
/// `404 Project Not Found`, except that an anonymous caller of a non-public project gets 401.
pub async fn find_project(
    state: &AppState,
    id: &str,
    user: Option<&User>,
) -> Result<(Project, Caller), ApiError> {
    let user_id = user.map(|u| u.id);
    let found = if let Some(n) = numeric_id(id) {
        state.store.project_by_id_for(n, user_id).await?
    } else if id.contains('/') {
        state.store.project_by_path_for(id, user_id).await?
    } else {
        None
    };
    admit(found, user)
}

/// `:id` as a numeric project id, when it is one (otherwise it may be a `namespace/path`).
pub fn numeric_id(id: &str) -> Option<i64> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

/// The second half of [`find_project`], for callers that looked the project up themselves: what
/// the caller is to `found`, or the error hiding it.
pub fn admit(
    found: Option<(Project, Option<AccessLevel>)>,
    user: Option<&User>,
) -> Result<(Project, Caller), ApiError> {
    let Some((project, level)) = found else {
        return Err(ApiError::NotFound("Project"));
    };
    let caller = Caller {
        is_admin: user.is_some_and(|u| u.is_admin),
        level,
        authenticated: user.is_some(),
    };
    if !caller.can_read_project(project.visibility) {
        return Err(if user.is_none() {
            ApiError::Unauthorized
        } else {
            ApiError::NotFound("Project")
        });
    }
    Ok((project, caller))
}

/// The `path` GitLab derives from a `name`: lower case, runs of other characters become `-`.
fn path_from_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

const PATH_MESSAGE: &str = "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'";
const NAME_MESSAGE: &str = "can contain only letters, digits, emoji, '_', '.', '+', dashes, or spaces. It must start with a letter, digit, emoji, or '_'.";

fn valid_path(path: &str) -> bool {
    let mut chars = path.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !path.ends_with(".git")
        && !path.ends_with(".atom")
        && !path.contains("..")
        && path.len() <= 255
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphanumeric() || c == '_')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '+' | '-' | ' '))
        && name.len() <= 255
}

/// Whether `name` is a branch name git accepts (the rules of `git check-ref-format --branch`).
pub fn valid_branch_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.ends_with('.')
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && name != "@"
        && !name
            .split('/')
            .any(|part| part.starts_with('.') || part.ends_with(".lock"))
        && !name.chars().any(|c| {
            c.is_ascii_control()
                || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\' | '\u{7f}')
        })
}

// POST /projects
async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    params: Params,
) -> Result<Response, ApiError> {
    let name = params.string("name")?.flatten();
    let path = params.string("path")?.flatten();
    if name.is_none() && path.is_none() {
        return Err(ApiError::Param(
            "name, path are missing, at least one parameter must be provided".into(),
        ));
    }
    let visibility = match params.string("visibility")?.flatten() {
        None => Visibility::Private,
        Some(v) => Visibility::parse(&v).ok_or_else(|| not_valid_value("visibility"))?,
    };
    let description = params.string("description")?.flatten();
    let default_branch = params.string("default_branch")?.flatten();
    let namespace = match params.string("namespace_id")?.flatten() {
        Some(ns) => state
            .store
            .namespace(&ns)
            .await?
            .filter(|n| user.is_admin || n.owner_id == Some(user.id))
            .ok_or(ApiError::NotFound("Namespace"))?,
        None => state
            .store
            .namespace(&user.username)
            .await?
            .ok_or(ApiError::NotFound("Namespace"))?,
    };
    let path = path.unwrap_or_else(|| path_from_name(name.as_deref().unwrap_or_default()));
    let name = name.unwrap_or_else(|| path.clone());
    let mut errors = std::collections::BTreeMap::<String, Vec<String>>::new();
    if !valid_path(&path) {
        errors
            .entry("path".into())
            .or_default()
            .push(PATH_MESSAGE.into());
    }
    if !valid_name(&name) {
        errors
            .entry("name".into())
            .or_default()
            .push(NAME_MESSAGE.into());
    }
    if let Some(b) = &default_branch {
        if !valid_branch_name(b) {
            errors
                .entry("default_branch".into())
                .or_default()
                .push("is invalid".into());
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let now = state.now_ms();
    let new = NewProject {
        namespace_id: namespace.id,
        name,
        path,
        description,
        default_branch: default_branch.clone(),
        visibility,
        creator_id: user.id,
    };
    let project = match state.store.create_project(&new, now).await {
        Ok(p) => p,
        Err(StoreError::Conflict(c)) => {
            // PostgreSQL names the constraint (`projects_name_key`); SQLite lists the columns
            // (`projects.namespace_id, projects.name`), where `namespace_id` also contains "name".
            let field = if c.contains("projects_name_key") || c.ends_with("projects.name") {
                "name"
            } else {
                "path"
            };
            return Err(ApiError::field(field, "has already been taken"));
        }
        Err(e) => return Err(e.into()),
    };
    let repo = state.storage.repository_path(project.id);
    let branch = default_branch.as_deref().unwrap_or("main");
    if let Err(e) = crate::git::init_bare(&state.git, &repo, branch).await {
        // Leave nothing half-made: no row without its repository.
        let _ = state.store.delete_project(project.id).await;
        let _ = tokio::fs::remove_dir_all(&repo).await;
        return Err(ApiError::Internal(format!("creating repository: {e}")));
    }
    let level = state.store.access_level(project.id, user.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(views::project(&project, level, &state.external_url)),
    )
        .into_response())
}

// GET /projects
async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let page = page_request(&params)?;
    let paged = state
        .store
        .projects_for(user.id, user.is_admin, page)
        .await?;
    let mut items = Vec::with_capacity(paged.items.len());
    for p in &paged.items {
        let level = state.store.access_level(p.id, user.id).await?;
        items.push(views::project(p, level, &state.external_url));
    }
    Ok(state.page_response(&uri, page, paged.total, items))
}

// GET /projects/:id
async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (project, caller) = find_project(&state, &id, user.as_ref()).await?;
    Ok(Json(views::project(
        &project,
        caller.level,
        &state.external_url,
    )))
}

// DELETE /projects/:id
async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    if !caller.can_remove_project() {
        return Err(ApiError::Forbidden);
    }
    state.store.delete_project(project.id).await?;
    let repo = state.storage.repository_path(project.id);
    if let Err(e) = tokio::fs::remove_dir_all(&repo).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(project = project.id, error = %e, "could not remove repository");
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"message": "202 Accepted"})),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_and_validates_paths() {
        assert_eq!(path_from_name("My Project!"), "my-project");
        assert!(valid_path("my-project.v2"));
        for bad in ["-x", "x.git", "x.atom", "", "a/b", "a b", "a..b"] {
            assert!(!valid_path(bad), "{bad}");
        }
        assert!(valid_name("My project 2"));
        assert!(!valid_name("-bad"));
    }

    #[test]
    fn branch_names_follow_git() {
        for ok in ["main", "release/1.0", "feat-x_y"] {
            assert!(valid_branch_name(ok), "{ok}");
        }
        for bad in [
            "", "-x", "a..b", "a b", "a~1", "x.lock", "a/.b", "a//b", "@", "a@{1}", "x/",
        ] {
            assert!(!valid_branch_name(bad), "{bad}");
        }
    }
}
