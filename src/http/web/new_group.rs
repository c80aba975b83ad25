//! `/groups/new`: GitLab's "Create group" form (Group name; Group URL, derived from the name
//! unless typed; Visibility level; description), and with `?parent_id=` its "Create subgroup"
//! form below a group; `POST /groups` creates either through
//! [`crate::service::groups::create_group`] (any signed-in person may create a top-level group;
//! a subgroup needs the parent's `subgroup_creation_level`) and leads to the group's page. A
//! parent the person may not see or not create in is the 404 page, as in GitLab; a refused
//! name or path comes back on the form with the service's messages (`form_errors.rs`).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::error::WebError;
use super::form_errors::FormErrors;
use super::groups::group_path;
use super::layout::{csrf_field, page};
use super::new_project::{parse_visibility, visibility_fieldset};
use super::session::{redirect_with, Flash, Posted, Viewer};
use crate::http::AppState;
use crate::model::access::Visibility;
use crate::model::entities::Group;
use crate::model::naming::path_from_name;
use crate::service::error::ServiceError;
use crate::service::groups::{create_group, find_group, GroupRequest};

/// `GET /groups/new`'s query.
#[derive(Debug, Default, Deserialize)]
struct NewQuery {
    /// The parent group's id, for a subgroup.
    parent_id: Option<String>,
}

/// The group form as posted (and shown again when refused).
#[derive(Debug, Default, Deserialize)]
struct GroupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    parent_id: String,
    #[serde(default)]
    visibility: String,
    #[serde(default)]
    description: String,
}

impl GroupForm {
    fn parent_id(&self) -> Option<&str> {
        Some(self.parent_id.trim()).filter(|p| !p.is_empty())
    }
}

/// The parent of a new subgroup when the viewer may create one in it; otherwise the 404 page
/// (GitLab's answer to both a hidden parent and a refused one).
async fn parent(state: &AppState, viewer: &Viewer, id: &str) -> Result<Group, WebError> {
    let (group, caller) = find_group(state, id, Some(&viewer.user))
        .await
        .map_err(|_| WebError::NotFound)?;
    if !caller.can_create_subgroup(group.subgroup_creation_level) {
        return Err(WebError::NotFound);
    }
    Ok(group)
}

fn form(
    state: &AppState,
    viewer: &Viewer,
    parent: Option<&Group>,
    g: &GroupForm,
    errors: &FormErrors,
) -> Markup {
    let visibility = Visibility::parse(&g.visibility).unwrap_or_default();
    let prefix = match parent {
        Some(p) => format!("{}/{}/", state.external_url, p.namespace.full_path),
        None => format!("{}/", state.external_url),
    };
    html! {
        form class="stack" method="post" action="/groups" {
            (csrf_field(viewer))
            (errors.summary())
            @if let Some(p) = parent {
                input type="hidden" name="parent_id" value=(p.id());
            }
            div class="field" {
                label for="group_name" { @if parent.is_some() { "Subgroup name" } @else { "Group name" } }
                input type="text" id="group_name" name="name" value=(g.name) required autofocus
                    autocomplete="off" aria-invalid=[errors.invalid("name")]
                    aria-describedby=[errors.described_by("name")];
                (errors.under("name"))
            }
            div class="field" {
                label for="group_path" { @if parent.is_some() { "Subgroup URL" } @else { "Group URL" } }
                div class="prefixed" {
                    span class="prefix" id="group_path_prefix" { (prefix) }
                    input type="text" id="group_path" name="path" value=(g.path)
                        autocomplete="off" spellcheck="false" data-slug-of="group_name"
                        aria-invalid=[errors.invalid("path")]
                        aria-describedby={ "group_path_prefix group_path_hint"
                            @if let Some(id) = errors.described_by("path") { " " (id) } };
                }
                span class="hint" id="group_path_hint" {
                    "Letters, digits, '_', '-' and '.'. Left empty, it is made from the name."
                }
                (errors.under("path"))
                (errors.under("parent_id"))
            }
            (visibility_fieldset(visibility, errors))
            div class="field" {
                label for="group_description" { "Description (optional)" }
                textarea id="group_description" name="description" rows="3" { (g.description) }
            }
            div class="actions" {
                button type="submit" { @if parent.is_some() { "Create subgroup" } @else { "Create group" } }
                " "
                a class="button secondary"
                    href=(parent.map_or_else(|| "/dashboard/groups".to_owned(), |p| group_path(&p.namespace.full_path))) {
                    "Cancel"
                }
            }
        }
    }
}

/// The whole page around the form.
fn render(
    state: &AppState,
    viewer: &Viewer,
    parent: Option<&Group>,
    g: &GroupForm,
    errors: &FormErrors,
) -> Response {
    let heading = if parent.is_some() {
        "Create subgroup"
    } else {
        "Create group"
    };
    let body = html! {
        nav aria-label="Breadcrumb" class="breadcrumb" {
            @match parent {
                Some(p) => { a href=(group_path(&p.namespace.full_path)) { (p.namespace.full_path) } }
                None => { a href="/dashboard/groups" { "Groups" } }
            }
            " / " span aria-current="page" { (if parent.is_some() { "New subgroup" } else { "New group" }) }
        }
        h1 { (heading) }
        p class="muted" {
            "Groups hold projects and subgroups; their members have access to every project in them."
        }
        (form(state, viewer, parent, g, errors))
    };
    page(state, viewer, heading, body)
}

// GET /groups/new
async fn new_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<NewQuery>,
) -> Result<Response, WebError> {
    let parent = match q.parent_id.as_deref().filter(|p| !p.is_empty()) {
        Some(id) => Some(parent(&state, &viewer, id).await?),
        None => None,
    };
    Ok(render(
        &state,
        &viewer,
        parent.as_ref(),
        &GroupForm::default(),
        &FormErrors::default(),
    ))
}

/// `Some(text)` for a field that holds more than blanks.
fn given(text: &str) -> Option<String> {
    Some(text.trim())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

// POST /groups
async fn create(
    State(state): State<AppState>,
    Posted { viewer, form: g }: Posted<GroupForm>,
) -> Result<Response, WebError> {
    let parent = match g.parent_id() {
        Some(id) => Some(parent(&state, &viewer, id).await?),
        None => None,
    };
    let visibility = match parse_visibility(&g.visibility) {
        Ok(v) => v,
        Err(errors) => return Ok(render(&state, &viewer, parent.as_ref(), &g, &errors)),
    };
    let name = g.name.trim().to_owned();
    let request = GroupRequest {
        path: given(&g.path).unwrap_or_else(|| path_from_name(&name)),
        name,
        parent_id: parent.as_ref().map(|p| p.id().to_string()),
        description: given(&g.description),
        visibility: Some(visibility),
        ..GroupRequest::default()
    };
    match create_group(&state, &viewer.user, request).await {
        Ok((group, _)) => Ok(redirect_with(
            &state,
            &group_path(&group.namespace.full_path),
            Some(Flash::Notice(format!(
                "Group '{}' was successfully created.",
                group.namespace.name
            ))),
        )),
        // The parent changed its rule (or vanished) since it was checked: as a refused parent.
        Err(ServiceError::Forbidden | ServiceError::NotFound(_)) => Err(WebError::NotFound),
        Err(e) => {
            let errors = FormErrors::of(e)?;
            Ok(render(&state, &viewer, parent.as_ref(), &g, &errors))
        }
    }
}

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/groups/new", get(new_page)).route(
        "/groups",
        get(|| async { Redirect::to("/dashboard/groups").into_response() }).post(create),
    )
}
