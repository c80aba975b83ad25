//! `/-/profile/personal_access_tokens`: GitLab's "Personal access tokens" page. "Add new token"
//! (name, expiry, scopes) through [`crate::service::auth::create_own_token`], with the API's
//! rules; the new token is shown once, in the answer to the form itself (200, `no-store`), never
//! in a cookie, a redirect or a later page. The table of active tokens, each revoked through
//! [`crate::service::auth::revoke_token`] (it stops working on the API at once).

use axum::extract::{Path, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use secrecy::ExposeSecret;

use super::error::WebError;
use super::layout::{csrf_field, exact_time, page, time_ago};
use super::session::{back_with, redirect_with, CsrfOnly, Flash, Posted, Viewer};
use crate::http::AppState;
use crate::model::tokens::Scope;
use crate::service::auth::{self as svc, IssuedToken};

/// The page's path.
const PATH: &str = "/-/profile/personal_access_tokens";

/// GitLab's one-line description of a scope.
fn scope_description(scope: Scope) -> &'static str {
    match scope {
        Scope::Api => "Grants complete read/write access to the API, including all groups and projects.",
        Scope::ReadApi => "Grants read access to the API, including all groups and projects.",
        Scope::ReadUser => "Grants read-only access to your profile through the /user API endpoint, which includes username, public email, and full name. Also grants access to read-only API endpoints under /users.",
        Scope::ReadRepository => "Grants read-only access to repositories on private projects using Git-over-HTTP or the Repository Files API.",
        Scope::WriteRepository => "Grants read-write access to repositories on private projects using Git-over-HTTP (not using the API).",
    }
}

/// The page: the one-time token when just created, the form, the active tokens.
async fn render(
    state: &AppState,
    viewer: &Viewer,
    created: Option<&IssuedToken>,
) -> Result<Response, WebError> {
    let today = svc::today(state);
    let mut tokens = svc::list_tokens(state, &viewer.user, Some(viewer.user.id)).await?;
    tokens.retain(|t| t.user_id == viewer.user.id && t.active_on(&today));
    let now = state.clock.now_ms();
    let body = html! {
        h1 { "Personal access tokens" }
        p class="muted" {
            "You can generate a personal access token for each application you use that needs "
            "access to the pushmirror API or to its repositories over HTTP."
        }
        @if let Some(made) = created { (created_box(made)) }
        section aria-labelledby="add-token" class="panel" {
            h2 id="add-token" { "Add new token" }
            form class="stack" method="post" action=(PATH) {
                (csrf_field(viewer))
                div class="field" {
                    label for="personal_access_token_name" { "Token name" }
                    input type="text" id="personal_access_token_name"
                        name="personal_access_token[name]" required maxlength="255";
                }
                div class="field" {
                    label for="personal_access_token_expires_at" { "Expiration date" }
                    input type="date" id="personal_access_token_expires_at"
                        name="personal_access_token[expires_at]" min=(today)
                        aria-describedby="expires-hint";
                    span id="expires-hint" class="hint" {
                        "Optional. The token works through this day (UTC); leave it blank for a token that does not expire."
                    }
                }
                fieldset {
                    legend { "Select scopes" }
                    @for scope in Scope::ALL {
                        div class="check" {
                            input type="checkbox" id={ "scope_" (scope.as_str()) }
                                name="personal_access_token[scopes][]" value=(scope.as_str())
                                aria-describedby={ "scope_" (scope.as_str()) "_hint" };
                            div {
                                label for={ "scope_" (scope.as_str()) } { code { (scope.as_str()) } }
                                span class="hint" id={ "scope_" (scope.as_str()) "_hint" } {
                                    (scope_description(scope))
                                }
                            }
                        }
                    }
                }
                div { button type="submit" { "Create token" } }
            }
        }
        section aria-labelledby="active-tokens" {
            h2 id="active-tokens" { "Active personal access tokens (" (tokens.len()) ")" }
            @if tokens.is_empty() {
                p class="muted" { "This user has no active personal access tokens." }
            } @else {
                div class="table-wrap" {
                    table class="responsive" {
                        thead { tr {
                            th scope="col" { "Token name" }
                            th scope="col" { "Scopes" }
                            th scope="col" { "Created" }
                            th scope="col" { "Last used" }
                            th scope="col" { "Expires" }
                            th scope="col" { span class="visually-hidden" { "Action" } }
                        } }
                        tbody {
                            @for t in &tokens {
                                tr {
                                    td data-label="Token name" { (t.name) }
                                    td data-label="Scopes" {
                                        (t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
                                    }
                                    td data-label="Created" { (time_ago(Some(t.created_at), now)) }
                                    td data-label="Last used" { (time_ago(t.last_used_at, now)) }
                                    td data-label="Expires" {
                                        @match &t.expires_at {
                                            Some(d) => time datetime=(d) { (d) },
                                            None => span class="muted" { "Never" },
                                        }
                                    }
                                    td data-label="Action" {
                                        form class="inline" method="post"
                                            action={ (PATH) "/" (t.id) "/revoke" }
                                            data-confirm={ "Are you sure you want to revoke the " (t.name) " token? This action cannot be undone." } {
                                            (csrf_field(viewer))
                                            button class="danger" type="submit"
                                                aria-label={ "Revoke " (t.name) } { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(state, viewer, "Personal access tokens", body))
}

/// The new token, shown this once, with a copy button.
fn created_box(made: &IssuedToken) -> Markup {
    html! {
        div class="flash notice" role="status" {
            p { "Your new personal access token has been created." }
            div class="field" {
                label for="created-personal-access-token" { "Your new personal access token" }
                div class="copy" {
                    input type="text" id="created-personal-access-token" readonly
                        autocomplete="off" class="mono" value=(made.secret.expose_secret());
                    button type="button" class="secondary"
                        data-copy="created-personal-access-token" { "Copy personal access token" }
                }
                span class="hint" {
                    "Make sure you save it — you won't be able to access it again. Expires: "
                    (made.token.expires_at.clone().unwrap_or_else(|| "never".into()))
                    ". Created " (exact_time(made.token.created_at)) "."
                }
            }
        }
    }
}

// GET /-/profile/personal_access_tokens
async fn show(State(state): State<AppState>, viewer: Viewer) -> Result<Response, WebError> {
    render(&state, &viewer, None).await
}

/// The form's fields as posted: checkboxes repeat `personal_access_token[scopes][]`, so the form
/// is read as its list of pairs.
type Pairs = Vec<(String, String)>;

fn field<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

// POST /-/profile/personal_access_tokens
async fn create(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted<Pairs>,
) -> Result<Response, WebError> {
    let name = field(&form, "personal_access_token[name]").unwrap_or("");
    let expires_at = field(&form, "personal_access_token[expires_at]").filter(|d| !d.is_empty());
    let mut scopes = Vec::new();
    for (k, v) in &form {
        if k == "personal_access_token[scopes][]" {
            let scope = Scope::parse(v)
                .ok_or_else(|| WebError::BadRequest(format!("Unknown scope {v}.")))?;
            scopes.push(scope);
        }
    }
    scopes.sort();
    scopes.dedup();
    match svc::create_own_token(&state, &viewer.user, name, &scopes, expires_at).await {
        Ok(made) => {
            let mut response = render(&state, &viewer, Some(&made)).await?;
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        Err(e) => Ok(back_with(&state, PATH, e)),
    }
}

// POST /-/profile/personal_access_tokens/{id}/revoke
async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { viewer, .. }: Posted<CsrfOnly>,
) -> Result<Response, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let token = svc::find_token(&state, &viewer.user, id).await?;
    if token.user_id != viewer.user.id {
        // An admin revokes others' tokens through the API; this page is one's own.
        return Err(WebError::NotFound);
    }
    Ok(match svc::revoke_token(&state, &viewer.user, id).await {
        Ok(()) => redirect_with(
            &state,
            PATH,
            Some(Flash::Notice(format!(
                "Revoked personal access token {}!",
                token.name
            ))),
        ),
        Err(e) => back_with(&state, PATH, e),
    })
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/-/profile/personal_access_tokens", get(show).post(create))
        .route(
            "/-/profile/personal_access_tokens/{id}/revoke",
            post(revoke),
        )
}
