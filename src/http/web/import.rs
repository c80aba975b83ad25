//! Importing a repository by URL in the browser. The fields of GitLab's "Import project →
//! Repository by URL" ([`fields`]: "Git repository URL", "Username (optional)", "Password
//! (optional)", "Mirror repository"), turned into the service's request ([`import_request`]: the
//! username and password travel beside the URL as the import's own credentials, never written
//! into it, and are never shown again); the import's progress on the project's page
//! ([`progress`]: scheduled, started, finished, failed with its scrubbed error, canceled; the
//! page's script refreshes the section while the import runs), and its "Cancel import" and
//! "Retry import" buttons (`/-/import/cancel`, `/-/import/retry` below the project), through
//! [`crate::service::imports`].

use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};
use maud::{html, Markup};

use super::error::WebError;
use super::form_errors::FormErrors;
use super::layout::csrf_field;
use super::session::{back_with, redirect_with, CsrfOnly, Flash, Posted, Viewer};
use super::ProjectPath;
use crate::http::AppState;
use crate::model::access::Caller;
use crate::model::entities::Project;
use crate::model::pull::{ImportStatus, ProjectImport};
use crate::model::url::{Credentials, MirrorTarget};
use crate::service::imports::{cancel_import, import_of, retry_import, ImportRequest};
use crate::service::projects::find_project;
use crate::service::pull_mirrors::default_settings;
use crate::service::upstreams::UpstreamRequest;

/// The import fields of the new-project form: `url` and `user` as typed (the password never
/// comes back), `mirror` as checked.
pub(super) fn fields(url: &str, user: &str, mirror: bool, errors: &FormErrors) -> Markup {
    html! {
        input type="hidden" name="import" value="1";
        div class="field" {
            label for="import_url" { "Git repository URL" }
            input type="text" id="import_url" name="import_url" value=(url) required
                autocomplete="off" spellcheck="false"
                placeholder="https://gitlab.example.com/group/project.git"
                aria-invalid=[errors.invalid("import_url")]
                aria-describedby={ "import_url_hint"
                    @if let Some(id) = errors.described_by("import_url") { " " (id) } };
            span class="hint" id="import_url_hint" {
                "The repository must be reachable over http://, https://, ssh:// or git://. "
                "Put the username and password in their own fields rather than the URL."
            }
            (errors.under("import_url"))
        }
        div class="field" {
            label for="import_url_user" { "Username (optional)" }
            input type="text" id="import_url_user" name="import_url_user" value=(user)
                autocomplete="off" spellcheck="false";
        }
        div class="field" {
            label for="import_url_password" { "Password (optional)" }
            input type="password" id="import_url_password" name="import_url_password" value=""
                autocomplete="new-password" aria-describedby="import_url_password_hint";
            span class="hint" id="import_url_password_hint" {
                "A password or an access token. It is kept sealed and never shown again."
            }
        }
        div class="check" {
            input type="checkbox" id="import_mirror" name="mirror" value="1" checked[mirror]
                aria-describedby="import_mirror_hint";
            label for="import_mirror" { "Mirror repository" }
        }
        span class="hint" id="import_mirror_hint" {
            "Keep pulling the repository's branches and tags after the import (every 30 minutes, "
            "and on \"Update now\"); the mirrored branches can then only change upstream."
        }
    }
}

/// The service's request for an import from `url` with the typed `user` and `password` apart
/// (each replaces the matching part of credentials written into the URL), a pull mirror when
/// `mirror`; a blank URL is GitLab's field error.
pub(super) fn import_request(
    url: &str,
    user: &str,
    password: &str,
    mirror: bool,
) -> Result<ImportRequest, FormErrors> {
    let url = url.trim();
    if url.is_empty() {
        return Err(FormErrors::field("import_url", "can't be blank"));
    }
    let typed = Credentials::typed(Some(user.trim()), Some(password));
    Ok(ImportRequest {
        upstream: UpstreamRequest {
            target: MirrorTarget::from_url(url).with_typed(typed),
            ..UpstreamRequest::default()
        },
        mirror: mirror.then(default_settings),
    })
}

/// A project name from an import URL's last segment (`…/tools/app.git` → `app`), for a form
/// whose name and slug were left empty.
pub(super) fn name_from_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    let last = parsed.path_segments()?.rev().find(|s| !s.is_empty())?;
    let name = last.strip_suffix(".git").unwrap_or(last);
    (!name.is_empty()).then(|| name.to_owned())
}

/// How an import's status reads to a person, and the badge class it borrows.
fn status_word(s: ImportStatus) -> (&'static str, &'static str) {
    match s {
        ImportStatus::None => ("Not imported", "none"),
        ImportStatus::Scheduled => ("Scheduled", "none"),
        ImportStatus::Started => ("Importing", "started"),
        ImportStatus::Finished => ("Finished", "finished"),
        ImportStatus::Failed => ("Failed", "failed"),
        ImportStatus::Canceled => ("Canceled", "disabled"),
    }
}

/// The import's part of the project page: where from, its status (refreshed by the page's
/// script while it runs), what it brought, and for Developers and up the scrubbed error; the
/// cancel and retry buttons for those who administer the project. Nothing for a project that
/// was not imported.
pub(super) async fn progress(
    state: &AppState,
    project: &Project,
    caller: Caller,
    viewer: Option<&Viewer>,
) -> Result<Markup, WebError> {
    let Some(import) = import_of(state, project).await? else {
        return Ok(html! {});
    };
    if import.status == ImportStatus::None {
        return Ok(html! {});
    }
    Ok(section(project, &import, caller, viewer))
}

fn section(
    project: &Project,
    import: &ProjectImport,
    caller: Caller,
    viewer: Option<&Viewer>,
) -> Markup {
    let (word, class) = status_word(import.status);
    let running = import.status.is_running();
    let may_admin = viewer.is_some() && caller.can_admin_project();
    let base = format!("/{}", project.full_path());
    html! {
        section class="import-status" data-import data-import-status=(import.status.as_str())
            data-running[running] aria-live="polite" {
            h2 { "Import" }
            p {
                "Imported from " code { (import.upstream.safe_url()) } ". Status: "
                span class={ "status status-" (class) } data-field="import_status"
                    data-status=(import.status.as_str()) { (word) }
            }
            @match import.status {
                ImportStatus::Finished => p {
                    (import.refs_imported) " branches and tags"
                    @if import.lfs_objects > 0 { " and " (import.lfs_objects) " LFS objects" }
                    " imported."
                },
                ImportStatus::Failed if viewer.is_some() && caller.can_push() => {
                    @if let Some(e) = import.error.as_deref().filter(|e| !e.is_empty()) {
                        p class="error-text" data-field="import_error" { (e) }
                    }
                },
                _ => {},
            }
            @if running {
                p class="muted" {
                    "This section updates itself while the import runs."
                    noscript { " Reload the page to see how far it got." }
                }
            }
            @if let (true, Some(v)) = (may_admin, viewer) {
                @if running {
                    form class="inline" method="post" action={ (base) "/-/import/cancel" }
                        data-confirm="Cancel this import? What was fetched so far stays." {
                        (csrf_field(v))
                        button type="submit" class="danger" { "Cancel import" }
                    }
                } @else if matches!(import.status, ImportStatus::Failed | ImportStatus::Canceled) {
                    form class="inline" method="post" action={ (base) "/-/import/retry" } {
                        (csrf_field(v))
                        button type="submit" class="secondary" { "Retry import" }
                    }
                }
            }
        }
    }
}

/// The project of an import button and the viewer's standing in it.
async fn project_of(
    state: &AppState,
    path: &ProjectPath,
    viewer: &Viewer,
) -> Result<(Project, Caller), WebError> {
    Ok(find_project(state, &path.0, Some(&viewer.user)).await?)
}

// POST /<namespace>/<project>/-/import/cancel
async fn cancel(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Posted { viewer, .. }: Posted<CsrfOnly>,
) -> Result<Response, WebError> {
    let (project, caller) = project_of(&state, &path, &viewer).await?;
    let back = format!("/{}", path.0);
    Ok(match cancel_import(&state, &project, caller).await {
        Ok(_) => redirect_with(
            &state,
            &back,
            Some(Flash::Notice("The import was canceled.".into())),
        ),
        Err(e) => back_with(&state, &back, e),
    })
}

// POST /<namespace>/<project>/-/import/retry
async fn retry(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Posted { viewer, .. }: Posted<CsrfOnly>,
) -> Result<Response, WebError> {
    let (project, caller) = project_of(&state, &path, &viewer).await?;
    let back = format!("/{}", path.0);
    Ok(match retry_import(&state, &project, caller).await {
        Ok(_) => redirect_with(
            &state,
            &back,
            Some(Flash::Notice("The import was scheduled again.".into())),
        ),
        Err(e) => back_with(&state, &back, e),
    })
}

/// The import buttons' routes, relative to the project.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/-/import/cancel", post(cancel))
        .route("/-/import/retry", post(retry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_comes_from_the_urls_last_segment() {
        assert_eq!(
            name_from_url("https://example.com/tools/app.git").as_deref(),
            Some("app")
        );
        assert_eq!(name_from_url("http://h/x/site/").as_deref(), Some("site"));
        assert_eq!(name_from_url("https://example.com/"), None);
        assert_eq!(name_from_url(""), None);
    }

    #[test]
    fn typed_credentials_stay_beside_the_url() {
        let r = import_request("https://example.com/a.git", "bot", "s3cret", true).unwrap();
        assert_eq!(r.upstream.target.url, "https://example.com/a.git");
        assert!(r.upstream.target.credentials.is_some());
        assert!(r.mirror.is_some());
        let r = import_request("https://example.com/a.git", "", "", false).unwrap();
        assert!(r.upstream.target.credentials.is_none() && r.mirror.is_none());
        let e = import_request("  ", "", "", false).unwrap_err();
        assert_eq!(e.messages(), ["Import url can't be blank"]);
    }
}
