//! The "Deploy keys" section: the keys enabled in the project (title, SHA-256 fingerprint,
//! write access, when added and last used), GitLab's "Add new deploy key" form (title, key,
//! "Grant write permissions to this key"), a button that grants or revokes write access,
//! "Remove" (a confirmed post; the key is deleted when no project uses it any more), and the
//! deploy keys of the other projects the viewer maintains, each with "Enable". The rules
//! are `service::ssh_keys`'; the SSH server lets a key in by them.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;

use super::{after_change, page_path, project_path, settings_project};
use crate::http::web::error::WebError;
use crate::http::web::layout::{csrf_field, time_ago};
use crate::http::web::session::{Posted, Viewer};
use crate::http::web::ProjectPath;
use crate::http::AppState;
use crate::model::access::Caller;
use crate::model::entities::Project;
use crate::model::ssh_keys::{UsageType, MAX_TITLE};
use crate::service::ssh_keys::{self as svc, KeyInput};

/// The section of the settings page.
pub(super) async fn section(
    state: &AppState,
    viewer: &Viewer,
    path: &ProjectPath,
    project: &Project,
    caller: Caller,
) -> Result<Markup, WebError> {
    let links = svc::project_deploy_keys(state, project, caller).await?;
    let others = svc::deploy_keys_to_enable(state, project, caller, &viewer.user).await?;
    let now = state.clock.now_ms();
    Ok(html! {
        section id="deploy_keys" aria-labelledby="deploy_keys_heading" {
            h2 id="deploy_keys_heading" { "Deploy keys" }
            p class="muted" {
                "Add deploy keys to grant read or read/write access to this repository over SSH, "
                "for CI systems and servers that deploy it."
            }
            h3 { "Add new deploy key" }
            form class="stack" method="post" action=(project_path(path, "/-/deploy_keys")) {
                (csrf_field(viewer))
                div class="field" {
                    label for="deploy_key_title" { "Title" }
                    input type="text" id="deploy_key_title" name="title" required
                        maxlength=(MAX_TITLE);
                }
                div class="field" {
                    label for="deploy_key_key" { "Key" }
                    textarea id="deploy_key_key" name="key" required rows="3" class="mono"
                        aria-describedby="deploy_key_key_hint" {}
                    span class="hint" id="deploy_key_key_hint" {
                        "Paste a public key (" code { "ssh-ed25519 AAAA…" } "). A key that is already a "
                        "user's own key, or a deploy key of projects you do not maintain, is refused."
                    }
                }
                div class="check" {
                    input type="checkbox" id="deploy_key_can_push" name="can_push" value="1";
                    label for="deploy_key_can_push" { "Grant write permissions to this key" }
                }
                div { button type="submit" { "Add key" } }
            }
            h3 { "Enabled deploy keys (" (links.len()) ")" }
            @if links.is_empty() {
                p class="muted" id="deploy_keys_empty" { "No deploy keys are enabled in this project." }
            } @else {
                div class="table-wrap" {
                    table class="responsive" id="deploy_keys_table" {
                        thead { tr {
                            th scope="col" { "Title" }
                            th scope="col" { "Fingerprint" }
                            th scope="col" { "Access" }
                            th scope="col" { "Created" }
                            th scope="col" { "Last used" }
                            th scope="col" { span class="visually-hidden" { "Actions" } }
                        } }
                        tbody {
                            @for link in &links {
                                @let k = &link.key;
                                @let one = project_path(path, &format!("/-/deploy_keys/{}", k.id));
                                tr data-deploy-key=(k.id) {
                                    td data-label="Title" { (k.title) }
                                    td data-label="Fingerprint" { code { (k.fingerprint_sha256) } }
                                    td data-label="Access" {
                                        @if link.can_push { "Read and write" } @else { "Read only" }
                                    }
                                    td data-label="Created" { (time_ago(Some(k.created_at), now)) }
                                    td data-label="Last used" { (time_ago(k.last_used_at, now)) }
                                    td data-label="Actions" {
                                        form class="inline" method="post" action={ (one) "/update" } {
                                            (csrf_field(viewer))
                                            input type="hidden" name="can_push"
                                                value=(if link.can_push { "0" } else { "1" });
                                            button type="submit" class="secondary"
                                                aria-label={
                                                    @if link.can_push { "Make " (k.title) " read only" }
                                                    @else { "Grant write access to " (k.title) }
                                                } {
                                                @if link.can_push { "Make read only" } @else { "Grant write access" }
                                            }
                                        }
                                        " "
                                        form class="inline" method="post" action={ (one) "/delete" }
                                            data-confirm={ "Remove the deploy key " (k.title) " from this project?" } {
                                            (csrf_field(viewer))
                                            button type="submit" class="danger"
                                                aria-label={ "Remove " (k.title) } { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h3 { "Privately accessible deploy keys (" (others.len()) ")" }
            @if others.is_empty() {
                p class="muted" id="deploy_keys_others_empty" {
                    "No deploy keys of other projects you maintain to enable here."
                }
            } @else {
                div class="table-wrap" {
                    table class="responsive" id="deploy_keys_others" {
                        thead { tr {
                            th scope="col" { "Title" }
                            th scope="col" { "Fingerprint" }
                            th scope="col" { "Created" }
                            th scope="col" { span class="visually-hidden" { "Actions" } }
                        } }
                        tbody {
                            @for k in &others {
                                tr data-deploy-key=(k.id) {
                                    td data-label="Title" { (k.title) }
                                    td data-label="Fingerprint" { code { (k.fingerprint_sha256) } }
                                    td data-label="Created" { (time_ago(Some(k.created_at), now)) }
                                    td data-label="Actions" {
                                        form class="inline" method="post"
                                            action=(project_path(path, &format!("/-/deploy_keys/{}/enable", k.id))) {
                                            (csrf_field(viewer))
                                            button type="submit" class="secondary"
                                                aria-label={ "Enable " (k.title) } { "Enable" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// Where a change of a deploy key comes back to.
fn back(path: &ProjectPath) -> String {
    format!("{}#deploy_keys", page_path(path))
}

/// The "Add new deploy key" form.
#[derive(Debug, Deserialize)]
pub(super) struct AddForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    key: String,
    can_push: Option<String>,
}

// POST /<namespace>/<project>/-/deploy_keys
pub(super) async fn create(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Posted { viewer, form }: Posted<AddForm>,
) -> Result<Response, WebError> {
    let (project, caller) = settings_project(&state, &path, &viewer).await?;
    let input = KeyInput {
        title: form.title,
        key: form.key,
        expires_at: None,
        usage_type: UsageType::default(),
    };
    let can_push = form.can_push.is_some_and(|v| v == "1");
    let result = svc::add_deploy_key(&state, &project, caller, &input, can_push).await;
    let notice = match &result {
        Ok(link) => format!("Deploy key {} is enabled.", link.key.title),
        Err(_) => String::new(),
    };
    after_change(&state, &back(&path), result.map(|_| ()), &notice)
}

/// The write-access button's form.
#[derive(Debug, Deserialize)]
pub(super) struct UpdateForm {
    #[serde(default)]
    can_push: String,
}

/// A key id from the path: anything else names no key.
fn key_id(id: &str) -> Result<i64, WebError> {
    id.parse().map_err(|_| WebError::NotFound)
}

// POST /<namespace>/<project>/-/deploy_keys/{id}/update
pub(super) async fn update(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(id): Path<String>,
    Posted { viewer, form }: Posted<UpdateForm>,
) -> Result<Response, WebError> {
    let (project, caller) = settings_project(&state, &path, &viewer).await?;
    let can_push = form.can_push == "1";
    let result =
        svc::update_deploy_key(&state, &project, caller, key_id(&id)?, None, Some(can_push)).await;
    let notice = match &result {
        Ok(link) if can_push => format!("Deploy key {} may push.", link.key.title),
        Ok(link) => format!("Deploy key {} is read only.", link.key.title),
        Err(_) => String::new(),
    };
    after_change(&state, &back(&path), result.map(|_| ()), &notice)
}

// POST /<namespace>/<project>/-/deploy_keys/{id}/enable
pub(super) async fn enable(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(id): Path<String>,
    Posted { viewer, .. }: Posted<crate::http::web::session::CsrfOnly>,
) -> Result<Response, WebError> {
    let (project, caller) = settings_project(&state, &path, &viewer).await?;
    let result = svc::enable_deploy_key(&state, &project, caller, key_id(&id)?).await;
    let notice = match &result {
        Ok(key) => format!("Deploy key {} is enabled (read only).", key.title),
        Err(_) => String::new(),
    };
    after_change(&state, &back(&path), result.map(|_| ()), &notice)
}

// POST /<namespace>/<project>/-/deploy_keys/{id}/delete
pub(super) async fn remove(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(id): Path<String>,
    Posted { viewer, .. }: Posted<crate::http::web::session::CsrfOnly>,
) -> Result<Response, WebError> {
    let (project, caller) = settings_project(&state, &path, &viewer).await?;
    let result = svc::disable_deploy_key(&state, &project, caller, key_id(&id)?).await;
    after_change(
        &state,
        &back(&path),
        result,
        "The deploy key is removed from this project.",
    )
}
