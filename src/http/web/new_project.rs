//! `/projects/new`: GitLab's "Create blank project" form (Project name; Project URL as a
//! namespace and a slug, the slug derived from the name unless typed; Visibility Level;
//! Project description), `/projects/new/import`, "Import project → Repository by URL" (the same
//! fields under the import's, `import.rs`), and `POST /projects`, which creates the project
//! through [`crate::service::projects::create_project`] (or, for an import,
//! [`crate::service::imports::create_imported_project`]) and leads to the project's page. The namespace
//! choice is the person's own namespace and the groups where they may create projects
//! ([`project_namespaces`]); `?namespace_id=` preselects one, as GitLab's "New project" button
//! of a group does. A refused form comes back with the service's field errors
//! (`form_errors.rs`), never a 500.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::error::WebError;
use super::form_errors::FormErrors;
use super::layout::{csrf_field, page};
use super::session::{redirect_with, Flash, Posted, Viewer};
use crate::http::AppState;
use crate::model::access::Visibility;
use crate::service::error::{Resource, ServiceError};
use crate::service::imports::create_imported_project;
use crate::service::namespaces::{project_namespaces, FoundNamespace};
use crate::service::projects::{create_project, ProjectRequest};

/// The most groups the namespace choice offers (an admin may see many; the list stays usable).
const MAX_NAMESPACE_CHOICES: i64 = 500;

/// GitLab's choices of visibility with what each means, as its form words them.
pub(super) const VISIBILITY_CHOICES: [(Visibility, &str, &str); 3] = [
    (
        Visibility::Private,
        "Private",
        "Access must be granted explicitly to each user. If this is part of a group, access is \
         granted to members of the group.",
    ),
    (
        Visibility::Internal,
        "Internal",
        "Can be accessed by any signed-in user.",
    ),
    (
        Visibility::Public,
        "Public",
        "Can be accessed without any authentication.",
    ),
];

/// The visibility radio buttons, `checked` chosen, for a form whose errors name the field
/// `visibility_level`.
pub(super) fn visibility_fieldset(checked: Visibility, errors: &FormErrors) -> Markup {
    html! {
        fieldset class="choices" aria-invalid=[errors.invalid("visibility_level")]
            aria-describedby=[errors.described_by("visibility_level")] {
            legend { "Visibility level" }
            @for (v, label, hint) in VISIBILITY_CHOICES {
                div class="check" {
                    input type="radio" id={ "visibility_" (v.as_str()) } name="visibility"
                        value=(v.as_str()) checked[v == checked]
                        aria-describedby={ "visibility_" (v.as_str()) "_hint" };
                    label for={ "visibility_" (v.as_str()) } { (label) }
                }
                span class="hint" id={ "visibility_" (v.as_str()) "_hint" } { (hint) }
            }
            (errors.under("visibility_level"))
        }
    }
}

/// A posted visibility, or the field error GitLab gives for one not in its list.
pub(super) fn parse_visibility(raw: &str) -> Result<Visibility, FormErrors> {
    if raw.is_empty() {
        return Ok(Visibility::Private);
    }
    Visibility::parse(raw)
        .ok_or_else(|| FormErrors::field("visibility_level", "is not included in the list"))
}

/// `GET /projects/new`'s query.
#[derive(Debug, Default, Deserialize)]
struct NewQuery {
    /// The namespace to preselect (a group's "New project" button).
    namespace_id: Option<String>,
}

/// The new-project form as posted (and shown again when refused). No `Debug`: an import's
/// password may be in it.
#[derive(Default, Deserialize)]
struct ProjectForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    namespace_id: String,
    #[serde(default)]
    visibility: String,
    #[serde(default)]
    description: String,
    /// Set by the import form.
    import: Option<String>,
    #[serde(default)]
    import_url: String,
    #[serde(default)]
    import_url_user: String,
    /// Never shown again: the form comes back with this field empty.
    #[serde(default)]
    import_url_password: String,
    /// The import form's "Mirror repository".
    mirror: Option<String>,
}

impl ProjectForm {
    fn importing(&self) -> bool {
        self.import.is_some()
    }
}

/// The form: `form` as typed, `errors` as the service refused it.
fn form(
    state: &AppState,
    viewer: &Viewer,
    namespaces: &[FoundNamespace],
    form: &ProjectForm,
    errors: &FormErrors,
) -> Markup {
    let visibility = Visibility::parse(&form.visibility).unwrap_or_default();
    html! {
        form class="stack" method="post" action="/projects" {
            (csrf_field(viewer))
            (errors.summary())
            @if form.importing() {
                (super::import::fields(&form.import_url, &form.import_url_user,
                    form.mirror.is_some(), errors))
            }
            div class="field" {
                label for="project_name" { "Project name" }
                input type="text" id="project_name" name="name" value=(form.name)
                    required[!form.importing()] autofocus[!form.importing()]
                    autocomplete="off" aria-invalid=[errors.invalid("name")]
                    aria-describedby=[errors.described_by("name")];
                (errors.under("name"))
            }
            fieldset class="choices project-url" {
                legend { "Project URL" }
                div class="field" {
                    label for="project_namespace" { "Namespace" }
                    select id="project_namespace" name="namespace_id"
                        aria-invalid=[errors.invalid("namespace")]
                        aria-describedby=[errors.described_by("namespace")] {
                        @for ns in namespaces {
                            option value=(ns.namespace.id)
                                selected[form.namespace_id == ns.namespace.id.to_string()] {
                                (state.external_url) "/" (ns.namespace.full_path) "/"
                            }
                        }
                    }
                    (errors.under("namespace"))
                }
                div class="field" {
                    label for="project_path" { "Project slug" }
                    input type="text" id="project_path" name="path" value=(form.path)
                        autocomplete="off" spellcheck="false" data-slug-of="project_name"
                        aria-invalid=[errors.invalid("path")]
                        aria-describedby={ "project_path_hint"
                            @if let Some(id) = errors.described_by("path") { " " (id) } };
                    span class="hint" id="project_path_hint" {
                        "Letters, digits, '_', '-' and '.'. Left empty, it is made from the name."
                    }
                    (errors.under("path"))
                }
            }
            (visibility_fieldset(visibility, errors))
            div class="field" {
                label for="project_description" { "Project description (optional)" }
                textarea id="project_description" name="description" rows="3"
                    aria-invalid=[errors.invalid("description")] { (form.description) }
                (errors.under("description"))
            }
            div class="actions" {
                button type="submit" { "Create project" }
                " "
                a class="button secondary" href="/dashboard/projects" { "Cancel" }
            }
        }
    }
}

/// The whole page around the form.
async fn render(
    state: &AppState,
    viewer: &Viewer,
    project: &ProjectForm,
    errors: &FormErrors,
) -> Result<Response, WebError> {
    let namespaces = project_namespaces(state, &viewer.user, MAX_NAMESPACE_CHOICES).await?;
    let importing = project.importing();
    let body = html! {
        nav aria-label="Breadcrumb" class="breadcrumb" {
            a href="/dashboard/projects" { "Projects" } " / "
            span aria-current="page" { "New project" }
        }
        nav class="tabs" aria-label="How to start" {
            a href="/projects/new" aria-current=[(!importing).then_some("page")] {
                "Create blank project"
            }
            a href="/projects/new/import" aria-current=[importing.then_some("page")] {
                "Import project"
            }
        }
        @if importing {
            h1 { "Import project" }
            h2 { "Repository by URL" }
            p class="muted" {
                "Every branch and tag of the repository is copied into a new project; the "
                "project's page shows how far the import got."
            }
        } @else {
            h1 { "Create blank project" }
            p class="muted" {
                "Create a blank project to push your code to. To bring a repository from "
                "elsewhere, import it."
            }
        }
        (form(state, viewer, &namespaces, project, errors))
    };
    let title = if importing {
        "Import project"
    } else {
        "New project"
    };
    Ok(page(state, viewer, title, body))
}

// GET /projects/new
async fn new_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<NewQuery>,
) -> Result<Response, WebError> {
    let project = ProjectForm {
        namespace_id: q.namespace_id.unwrap_or_default(),
        ..ProjectForm::default()
    };
    render(&state, &viewer, &project, &FormErrors::default()).await
}

// GET /projects/new/import
async fn import_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<NewQuery>,
) -> Result<Response, WebError> {
    let project = ProjectForm {
        namespace_id: q.namespace_id.unwrap_or_default(),
        import: Some("1".into()),
        ..ProjectForm::default()
    };
    render(&state, &viewer, &project, &FormErrors::default()).await
}

/// `Some(text)` for a field that holds more than blanks.
fn given(text: &str) -> Option<String> {
    Some(text.trim())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

// POST /projects
async fn create(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted<ProjectForm>,
) -> Result<Response, WebError> {
    let visibility = match parse_visibility(&form.visibility) {
        Ok(v) => v,
        Err(errors) => return render(&state, &viewer, &form, &errors).await,
    };
    let import = if form.importing() {
        match super::import::import_request(
            &form.import_url,
            &form.import_url_user,
            &form.import_url_password,
            form.mirror.is_some(),
        ) {
            Ok(i) => Some(i),
            Err(errors) => return render(&state, &viewer, &form, &errors).await,
        }
    } else {
        None
    };
    // An import's project is named after the repository unless named.
    let name = given(&form.name).or_else(|| {
        import
            .as_ref()
            .filter(|_| given(&form.path).is_none())
            .and_then(|_| super::import::name_from_url(&form.import_url))
    });
    let request = ProjectRequest {
        name,
        path: given(&form.path),
        namespace: given(&form.namespace_id),
        description: given(&form.description),
        visibility,
        ..ProjectRequest::default()
    };
    let created = match import {
        Some(import) => create_imported_project(&state, &viewer.user, request, import)
            .await
            .map(|(project, _, _)| (project, true)),
        None => create_project(&state, &viewer.user, request)
            .await
            .map(|(project, _)| (project, false)),
    };
    match created {
        Ok((project, true)) => Ok(redirect_with(
            &state,
            &format!("/{}", project.full_path()),
            Some(Flash::Notice(format!(
                "Project '{}' is being imported.",
                project.name
            ))),
        )),
        Ok((project, false)) => Ok(redirect_with(
            &state,
            &format!("/{}", project.full_path()),
            Some(Flash::Notice(format!(
                "Project '{}' was successfully created.",
                project.name
            ))),
        )),
        Err(e) => {
            // A namespace the person may not see is GitLab's field error, as one they may see
            // but not create in.
            let e = match e {
                ServiceError::NotFound(Resource::Namespace) => {
                    ServiceError::field("namespace", "is not valid")
                }
                e => e,
            };
            let errors = FormErrors::of(e)?;
            render(&state, &viewer, &form, &errors).await
        }
    }
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/new", get(new_page))
        .route("/projects/new/import", get(import_page))
        .route(
            "/projects",
            get(|| async { Redirect::to("/dashboard/projects").into_response() }).post(create),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visibility_not_in_the_list_is_a_field_error() {
        assert_eq!(parse_visibility("").unwrap(), Visibility::Private);
        assert_eq!(parse_visibility("public").unwrap(), Visibility::Public);
        let e = parse_visibility("secret").unwrap_err();
        assert_eq!(
            e.messages(),
            ["Visibility level is not included in the list"]
        );
    }
}
