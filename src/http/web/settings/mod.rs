//! A project's repository settings, GitLab's `/<namespace>/<project>/-/settings/repository`:
//! the "Mirroring repositories" section (`mirrors.rs`: the form, host-key detection, the table
//! of mirrors with "Update now", "Edit" and "Remove"), "Pull from a remote repository"
//! (`pull_mirror.rs`, the project's pull mirror), the "Protected branches" section
//! (`protected_branches.rs`) and "Deploy keys" (`deploy_keys.rs`). The page is for the
//! project's Maintainers and Owners and for admins, as the API's mirror endpoints decide
//! (`service::mirrors::admit_mirror_admin`); anyone else who may see the project gets the 404
//! page, as in GitLab. Every change goes
//! through `service::mirrors`, `service::protected_branches` or `service::ssh_keys` and comes
//! back here with a flash.

mod deploy_keys;
mod mirrors;
mod protected_branches;
mod pull_mirror;

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{html, Markup};

use super::error::WebError;
use super::layout::page;
use super::session::{redirect_with, Flash, Viewer};
use super::ProjectPath;
use crate::http::AppState;
use crate::model::access::Caller;
use crate::model::entities::Project;
use crate::service::error::ServiceError;

/// The settings page's path below a project (its route names it too, literally, for the
/// README check).
const PAGE: &str = "/-/settings/repository";

/// The routes of the settings page and its forms, relative to the project.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/-/settings/repository", get(show))
        .route("/-/mirrors", post(mirrors::create))
        .route("/-/mirrors/detect_host_keys", post(mirrors::detect_new))
        .route(
            "/-/mirrors/{id}/edit",
            get(mirrors::edit_page).post(mirrors::update),
        )
        .route(
            "/-/mirrors/{id}/detect_host_keys",
            post(mirrors::detect_edit),
        )
        .route("/-/mirrors/{id}/update_now", post(mirrors::update_now))
        .route("/-/mirrors/{id}/rotate_key", post(mirrors::rotate_key))
        .route("/-/mirrors/{id}/delete", post(mirrors::remove))
        .route("/-/pull_mirror", post(pull_mirror::save))
        .route("/-/pull_mirror/update_now", post(pull_mirror::update_now))
        .route("/-/pull_mirror/delete", post(pull_mirror::remove))
        .route("/-/protected_branches", post(protected_branches::protect))
        .route(
            "/-/protected_branches/unprotect",
            post(protected_branches::unprotect),
        )
        .route("/-/deploy_keys", post(deploy_keys::create))
        .route("/-/deploy_keys/{id}/update", post(deploy_keys::update))
        .route("/-/deploy_keys/{id}/enable", post(deploy_keys::enable))
        .route("/-/deploy_keys/{id}/delete", post(deploy_keys::remove))
}

/// The project of a settings page and the viewer's standing in it, when the viewer may
/// administer its mirrors; otherwise the 404 page (a Developer sees mirror status on other
/// pages, never the settings).
async fn settings_project(
    state: &AppState,
    path: &ProjectPath,
    viewer: &Viewer,
) -> Result<(Project, Caller), WebError> {
    let (project, caller) =
        crate::service::projects::find_project(state, &path.0, Some(&viewer.user)).await?;
    match crate::service::mirrors::admit_mirror_admin((project, caller)) {
        Ok(project) => Ok((project, caller)),
        Err(_) => Err(WebError::NotFound),
    }
}

/// The settings page's address for the project at `path`.
fn page_path(path: &ProjectPath) -> String {
    format!("/{}{PAGE}", path.0)
}

/// The address of a project's page below `/-/` (`/-/mirrors/3/edit`).
fn project_path(path: &ProjectPath, rest: &str) -> String {
    format!("/{}{rest}", path.0)
}

/// What a refused change tells the person: GitLab's full messages. Failures that are not the
/// person's to fix stay errors (a page of their own). The message is `WebError`'s; unlike
/// [`back_with`](super::session::back_with), a record gone meanwhile or a forbidden change is
/// said in the alert too: the page itself is the viewer's to see.
fn refusal(e: ServiceError) -> Result<String, WebError> {
    match e {
        ServiceError::RecordNotFound => Ok("Not found: it may have been removed meanwhile.".into()),
        ServiceError::Forbidden => Ok("You don't have permission to do this.".into()),
        e => match WebError::from(e) {
            WebError::BadRequest(message) => Ok(message),
            other => Err(other),
        },
    }
}

/// Back to `to` with the outcome of a change: `notice` when it worked, GitLab's message when it
/// was refused.
fn after_change(
    state: &AppState,
    to: &str,
    result: Result<(), ServiceError>,
    notice: &str,
) -> Result<Response, WebError> {
    let flash = match result {
        Ok(()) => Flash::Notice(notice.to_owned()),
        Err(e) => Flash::Alert(refusal(e)?),
    };
    Ok(redirect_with(state, to, Some(flash)))
}

// GET /<namespace>/<project>/-/settings/repository
async fn show(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let (project, caller) = settings_project(&state, &path, &viewer).await?;
    let form = mirrors::MirrorFormView::default();
    render(&state, &viewer, &path, &project, caller, &form).await
}

/// The whole settings page, the mirror form showing `form` (empty, or what a host-key detection
/// was asked with).
async fn render(
    state: &AppState,
    viewer: &Viewer,
    path: &ProjectPath,
    project: &Project,
    caller: Caller,
    form: &mirrors::MirrorFormView,
) -> Result<Response, WebError> {
    let mirrors = mirrors::section(state, viewer, path, project, form).await?;
    let pull = pull_mirror::section(state, viewer, path, project, caller).await?;
    let branches = protected_branches::section(state, viewer, path, project).await?;
    let deploy_keys = deploy_keys::section(state, viewer, path, project, caller).await?;
    let body = html! {
        (breadcrumb(path, "Repository settings"))
        h1 { "Repository settings" }
        (mirrors)
        (pull)
        (branches)
        (deploy_keys)
    };
    Ok(page(
        state,
        viewer,
        &format!("Repository settings · {}", project.full_path()),
        body,
    ))
}

/// The project's name linking to its page, then where in its settings this is.
fn breadcrumb(path: &ProjectPath, here: &str) -> Markup {
    html! {
        nav aria-label="Breadcrumb" class="breadcrumb" {
            a href={ "/" (path.0) } { (path.0) } " / " span aria-current="page" { (here) }
        }
    }
}
