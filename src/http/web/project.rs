//! `/<namespace>/<project>`: a project's overview: its description, an import's progress
//! (`import.rs`), the HTTP and SSH clone URLs with copy buttons, its branches and tags with
//! their latest commit, and (for Developers and more) its pull mirror with "Update now" and
//! the status of its push mirrors, live, with a link to the mirror settings for Maintainers. Who
//! sees the project is exactly the API's project lookup ([`find_project`]): a public project is
//! shown to anyone, a hidden one is a 404 page, and a signed-out visitor of a non-public one is
//! asked to sign in.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use maud::{html, Markup};

use super::error::WebError;
use super::groups::group_path;
use super::layout::{anonymous_page, page, status_badge, time_ago};
use super::pull_mirrors;
use super::session::{AnonymousCsrf, MaybeViewer, Viewer};
use super::ProjectPath;
use crate::git::repository::RefInfo;
use crate::http::AppState;
use crate::model::entities::{Millis, Project};
use crate::model::pull::PullMirror;
use crate::service::dashboard::{mirror_health, MirrorHealth};
use crate::service::error::ServiceError;
use crate::service::imports::mirror_state;
use crate::service::projects::find_project;
use crate::service::repository::{branches, tags, Branch};

/// How many branches and how many tags the overview lists (the rest are counted).
const MAX_REFS_SHOWN: usize = 20;
/// How many hex digits of a commit id a person reads.
const SHORT_SHA: usize = 8;

/// A commit date as git prints it (`iso-strict`), in milliseconds.
fn commit_millis(iso: &str) -> Option<Millis> {
    chrono::DateTime::parse_from_rfc3339(iso)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn refs_table(caption: &str, refs: &[&RefInfo], now: Millis) -> Markup {
    html! {
        div class="table-wrap" {
            table class="responsive refs" {
                caption class="visually-hidden" { (caption) }
                thead {
                    tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Commit" }
                        th scope="col" { "Title" }
                        th scope="col" { "Committed" }
                    }
                }
                tbody {
                    @for r in refs {
                        tr {
                            td data-label="Name" { code { (r.name) } }
                            td data-label="Commit" {
                                code title=(r.commit.id) {
                                    (r.commit.id.get(..SHORT_SHA).unwrap_or(&r.commit.id))
                                }
                            }
                            td data-label="Title" { (r.commit.title) }
                            td data-label="Committed" {
                                (time_ago(commit_millis(&r.commit.committed_date), now))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn refs_section(heading: &str, refs: &[&RefInfo], total: usize, now: Millis) -> Markup {
    html! {
        h2 { (heading) " " span class="muted" { "(" (total) ")" } }
        @if refs.is_empty() {
            p class="muted" { "None yet." }
        } @else {
            (refs_table(heading, refs, now))
            @if total > refs.len() {
                p class="muted" { "And " (total - refs.len()) " more." }
            }
        }
    }
}

fn mirrors_section(
    viewer: &Viewer,
    project: &Project,
    mirrors: &[MirrorHealth],
    pull: Option<&PullMirror>,
    may_manage: bool,
    now: Millis,
) -> Markup {
    let path = project.full_path();
    let stream = super::stream_url::project_stream_url(&path);
    html! {
        @if let Some(m) = pull {
            section class="pull-summary" {
                h2 { "Pull mirror" }
                (pull_mirrors::table(m, now, Some(pull_mirrors::update_now(viewer, &path, &format!("/{path}")))))
            }
        }
        section class="mirror-summary" data-live-mirrors=(stream) {
            h2 { "Mirrors" }
            @if mirrors.is_empty() {
                p class="muted" { "This project has no push mirrors." }
            } @else {
                div class="table-wrap" {
                    table class="responsive mirrors" {
                        caption class="visually-hidden" { "Mirrors of this project" }
                        thead {
                            tr {
                                th scope="col" { "URL" }
                                th scope="col" { "Status" }
                                th scope="col" { "Last successful update" }
                            }
                        }
                        tbody {
                            @for m in mirrors {
                                tr data-mirror-id=(m.mirror.id) {
                                    td data-label="URL" { code { (m.mirror.safe_url()) } }
                                    td data-label="Status" data-field="status" {
                                        (status_badge(m.mirror.update_status, m.mirror.enabled))
                                    }
                                    td data-label="Last successful update"
                                        data-field="last_successful" {
                                        (time_ago(m.mirror.last_successful_update_at, now))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if may_manage {
                p { a href={ "/" (path) "/-/settings/repository" } { "Manage mirrors" } }
            }
        }
    }
}

/// `GET /<namespace>/<project>`: the project's overview.
async fn show(
    State(state): State<AppState>,
    Extension(ProjectPath(path)): Extension<ProjectPath>,
    MaybeViewer(viewer): MaybeViewer,
    csrf: AnonymousCsrf,
) -> Result<Response, WebError> {
    let user = viewer.as_ref().map(|v| &v.user);
    let (project, caller) = match find_project(&state, &path, user).await {
        Ok(found) => found,
        Err(ServiceError::Unauthenticated) => return Err(WebError::SignIn(format!("/{path}"))),
        Err(e) => return Err(e.into()),
    };
    let now = state.now_ms();
    // A Guest of a private project sees the project but not its code (the API's rule).
    let (branch_list, tag_list) = match branches(&state, &project, caller, None).await {
        Ok(b) => (b, tags(&state, &project, caller, None).await?),
        Err(ServiceError::Forbidden) => (Vec::new(), Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let code_readable = caller.can_read_code(project.visibility);
    let shown_branches: Vec<&RefInfo> = branch_list
        .iter()
        .map(|b: &Branch| &b.info)
        .take(MAX_REFS_SHOWN)
        .collect();
    let mut newest_tags: Vec<&RefInfo> = tag_list.iter().collect();
    newest_tags.sort_by(|a, b| b.commit.committed_date.cmp(&a.commit.committed_date));
    newest_tags.truncate(MAX_REFS_SHOWN);
    let (mirrors, pull) = match user {
        Some(u) if caller.can_push() => (
            mirror_health(&state, u, Some(&project.full_path())).await?,
            mirror_state(&state, &project).await?,
        ),
        _ => (Vec::new(), None),
    };
    let import = super::import::progress(&state, &project, caller, viewer.as_ref()).await?;
    let full_path = project.full_path();
    let clone_url = format!("{}/{}.git", state.external_url, full_path);
    let ssh_clone_url = state
        .ssh_clone_base
        .as_ref()
        .map(|s| s.clone_url(&full_path));
    let body = html! {
        h1 { (project.name) }
        p class="muted" {
            code { (full_path) }
            @if project.namespace.is_group() {
                " in " a href=(group_path(&project.namespace.full_path)) {
                    (project.namespace.full_name)
                }
            }
        }
        @if let Some(d) = project.description.as_deref().filter(|d| !d.is_empty()) {
            p class="description" { (d) }
        }
        (import)
        div class="field" {
            label for="clone-url" { "Clone with HTTP" }
            div class="copy" {
                input type="text" id="clone-url" value=(clone_url) readonly;
                button type="button" class="secondary" data-copy="clone-url" { "Copy URL" }
            }
        }
        @if let Some(ssh_url) = &ssh_clone_url {
            div class="field" {
                label for="ssh-clone-url" { "Clone with SSH" }
                div class="copy" {
                    input type="text" id="ssh-clone-url" value=(ssh_url) readonly;
                    button type="button" class="secondary" data-copy="ssh-clone-url" { "Copy URL" }
                }
            }
        }
        @if code_readable {
            (refs_section("Branches", &shown_branches, branch_list.len(), now))
            (refs_section("Tags", &newest_tags, tag_list.len(), now))
        }
        @if let (Some(v), true) = (&viewer, caller.can_push()) {
            (mirrors_section(v, &project, &mirrors, pull.as_ref(), caller.can_admin_project(), now))
        }
    };
    Ok(match &viewer {
        Some(v) => page(&state, v, &project.name, body),
        None => anonymous_page(&state, &csrf, &project.name, body).into_response(),
    })
}

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/", get(show))
}
