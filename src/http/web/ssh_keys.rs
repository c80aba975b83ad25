//! `/-/user_settings/ssh_keys`: GitLab's "SSH Keys" page of one's profile. "Add new key"
//! (the key, a title defaulting to the key's comment, an optional expiry date) through
//! [`crate::service::ssh_keys::add_own_key`], with the API's rules and messages; the table of
//! one's keys (title, SHA-256 fingerprint, when added, last used, expiry), each deleted through
//! [`crate::service::ssh_keys::delete_own_key`] (it lets no one in from then on).

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;

use super::error::WebError;
use super::layout::{csrf_field, page, time_ago};
use super::session::{back_with, redirect_with, CsrfOnly, Flash, Posted, Viewer};
use crate::http::AppState;
use crate::model::ssh_keys::{PublicKey, UsageType, MAX_TITLE};
use crate::service::error::ServiceError;
use crate::service::ssh_keys::{self as svc, KeyInput};

/// The page's path.
const PATH: &str = "/-/user_settings/ssh_keys";

// GET /-/user_settings/ssh_keys
async fn show(State(state): State<AppState>, viewer: Viewer) -> Result<Response, WebError> {
    let keys = svc::own_keys(&state, &viewer.user).await?;
    let now = state.clock.now_ms();
    let body = html! {
        h1 { "SSH Keys" }
        p class="muted" {
            "SSH keys allow you to establish a secure connection between your computer and "
            "pushmirror: clone and push over SSH with them."
        }
        section aria-labelledby="add-key" class="panel" {
            h2 id="add-key" { "Add an SSH key" }
            form class="stack" method="post" action=(PATH) {
                (csrf_field(&viewer))
                div class="field" {
                    label for="ssh_key_key" { "Key" }
                    textarea id="ssh_key_key" name="ssh_key[key]" required rows="4" class="mono"
                        aria-describedby="key-hint" {}
                    span id="key-hint" class="hint" {
                        "Paste your public key, usually in ~/.ssh/id_ed25519.pub. It begins with "
                        code { "ssh-ed25519" } ", " code { "ecdsa-sha2-nistp256" } ", "
                        code { "ssh-rsa" } " (2048 bits or more) or "
                        code { "sk-ssh-ed25519@openssh.com" } ". Never paste your private key."
                    }
                }
                div class="field" {
                    label for="ssh_key_title" { "Title" }
                    input type="text" id="ssh_key_title" name="ssh_key[title]"
                        maxlength=(MAX_TITLE) aria-describedby="title-hint";
                    span id="title-hint" class="hint" {
                        "Optional: the key's comment when left blank."
                    }
                }
                div class="field" {
                    label for="ssh_key_expires_at" { "Expiration date" }
                    input type="date" id="ssh_key_expires_at" name="ssh_key[expires_at]"
                        aria-describedby="expires-hint";
                    span id="expires-hint" class="hint" {
                        "Optional. The key stops working at the start of this day (UTC)."
                    }
                }
                div { button type="submit" { "Add key" } }
            }
        }
        section aria-labelledby="your-keys" {
            h2 id="your-keys" { "Your SSH keys (" (keys.len()) ")" }
            @if keys.is_empty() {
                p class="muted" { "There are no SSH keys with access to your account." }
            } @else {
                div class="table-wrap" {
                    table class="responsive" {
                        thead { tr {
                            th scope="col" { "Title" }
                            th scope="col" { "Fingerprint" }
                            th scope="col" { "Usage" }
                            th scope="col" { "Created" }
                            th scope="col" { "Last used" }
                            th scope="col" { "Expires" }
                            th scope="col" { span class="visually-hidden" { "Action" } }
                        } }
                        tbody {
                            @for k in &keys {
                                tr {
                                    td data-label="Title" { (k.title) }
                                    td data-label="Fingerprint" { code { (k.fingerprint_sha256) } }
                                    td data-label="Usage" { (usage(k.usage_type)) }
                                    td data-label="Created" { (time_ago(Some(k.created_at), now)) }
                                    td data-label="Last used" { (time_ago(k.last_used_at, now)) }
                                    td data-label="Expires" {
                                        @match k.expires_at {
                                            Some(at) if at <= now => span class="status status-failed" { "Expired" },
                                            Some(at) => (time_ago(Some(at), now)),
                                            None => span class="muted" { "Never" },
                                        }
                                    }
                                    td data-label="Action" {
                                        form class="inline" method="post"
                                            action={ (PATH) "/" (k.id) "/delete" }
                                            data-confirm={ "Are you sure you want to delete the key " (k.title) "? It will no longer let anyone in." } {
                                            (csrf_field(&viewer))
                                            button class="danger" type="submit"
                                                aria-label={ "Delete " (k.title) } { "Delete" }
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
    Ok(page(&state, &viewer, "SSH Keys", body))
}

/// GitLab's words for a key's usage.
fn usage(u: UsageType) -> &'static str {
    match u {
        UsageType::Auth => "Authentication",
        UsageType::Signing => "Signing",
        UsageType::AuthAndSigning => "Authentication & Signing",
    }
}

/// The form as posted.
#[derive(Deserialize)]
struct KeyForm {
    #[serde(rename = "ssh_key[key]", default)]
    key: String,
    #[serde(rename = "ssh_key[title]", default)]
    title: String,
    #[serde(rename = "ssh_key[expires_at]", default)]
    expires_at: String,
}

// POST /-/user_settings/ssh_keys
async fn create(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted<KeyForm>,
) -> Result<Response, WebError> {
    let expires_at = match form.expires_at.trim() {
        "" => None,
        at => match svc::parse_expires_at(at) {
            Some(ms) => Some(ms),
            None => {
                let e = ServiceError::field("expires_at", "is not a date (YYYY-MM-DD)");
                return Ok(back_with(&state, PATH, e));
            }
        },
    };
    // GitLab's page fills the title from the key's comment.
    let title = match form.title.trim() {
        "" => PublicKey::parse(&form.key)
            .ok()
            .and_then(|k| k.comment)
            .unwrap_or_default(),
        t => t.to_owned(),
    };
    let input = KeyInput {
        title,
        key: form.key,
        expires_at,
        usage_type: UsageType::default(),
    };
    Ok(match svc::add_own_key(&state, &viewer.user, &input).await {
        Ok(k) => redirect_with(
            &state,
            PATH,
            Some(Flash::Notice(format!("Added SSH key {}.", k.title))),
        ),
        Err(e) => back_with(&state, PATH, e),
    })
}

// POST /-/user_settings/ssh_keys/{id}/delete
async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { viewer, .. }: Posted<CsrfOnly>,
) -> Result<Response, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let key = svc::delete_own_key(&state, &viewer.user, id).await?;
    Ok(redirect_with(
        &state,
        PATH,
        Some(Flash::Notice(format!("Deleted SSH key {}.", key.title))),
    ))
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/-/user_settings/ssh_keys", get(show).post(create))
        .route("/-/user_settings/ssh_keys/{id}/delete", post(delete))
}
