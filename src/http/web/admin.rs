//! The Admin area, for instance administrators only (anyone else gets the 404 page, as GitLab):
//! `/admin` answers "is the server well?" (the database and storage checks `/-/readiness?all=1`
//! makes, the job queue's depth per kind and its oldest wanted mirror update as `/-/metrics`
//! reads them, webhooks that keep failing); `/admin/users` lists and manages users through
//! [`crate::service::users`] (create, block and unblock, make and remove admin, with GitLab's
//! rules: nobody blocks themselves, the last admin stays); `/admin/projects` lists every project
//! with its mirrors.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::error::WebError;
use super::layout::{csrf_field, page, relative, time_ago};
use super::session::{back_with, redirect_with, CsrfOnly, Flash, Posted, Viewer};
use crate::http::monitoring::dependency_checks;
use crate::http::AppState;
use crate::model::accounts::{AccountChanges, UserState};
use crate::model::hooks::{AlertStatus, ProjectHook};
use crate::queue::JobKind;
use crate::service::mirror_jobs::MirrorUpdate;
use crate::service::{hooks, users};
use crate::store::{PageRequest, ProjectFilter, ProjectOrder, UserFilter};

/// Most rows a table of this area lists (the rest are counted, not shown).
const MAX_ROWS: i64 = 500;
/// Most failing webhooks listed on `/admin`.
const MAX_FAILING_HOOKS: i64 = 50;

/// The admin area's viewer: an administrator, or the 404 page.
fn admin(viewer: &Viewer) -> Result<(), WebError> {
    if viewer.user.is_admin {
        Ok(())
    } else {
        Err(WebError::NotFound)
    }
}

fn nav() -> Markup {
    html! {
        nav aria-label="Admin area" class="panel" {
            a href="/admin" { "Overview" } " · "
            a href="/admin/users" { "Users" } " · "
            a href="/admin/projects" { "Projects" }
        }
    }
}

/// A check's result as a word and a colour.
fn check_badge(result: &Result<(), String>) -> Markup {
    html! {
        @match result {
            Ok(()) => span class="status status-finished" { "OK" },
            Err(why) => {
                span class="status status-failed" { "Failed" }
                " "
                span class="error-text" { (why) }
            }
        }
    }
}

/// A hook's delivery state as a word and a colour.
pub(super) fn hook_state(hook: &ProjectHook, now: i64) -> Markup {
    html! {
        span class="hook-state" {
            @match hook.health.alert_status(now) {
                AlertStatus::Executable if hook.health.recent_failures > 0 => {
                    span class="status status-to_retry" { "Failing" }
                }
                AlertStatus::Executable => span class="status status-finished" { "Enabled" },
                AlertStatus::TemporarilyDisabled => {
                    span class="status status-to_retry" { "Temporarily disabled" }
                    @if let Some(until) = hook.health.disabled_until {
                        " until " (super::layout::exact_time(until))
                    }
                }
                AlertStatus::Disabled => span class="status status-failed" { "Disabled" },
            }
        }
    }
}

// GET /admin
async fn overview(State(state): State<AppState>, viewer: Viewer) -> Result<Response, WebError> {
    admin(&viewer)?;
    let now = state.clock.now_ms();
    let checks = dependency_checks(&state).await;
    let stats = state.store.queue_stats(MirrorUpdate::NAME, now).await?;
    let depths = state.store.queue_depths(now).await?;
    let failing = state.store.failing_hooks(MAX_FAILING_HOOKS).await?;
    let mut projects = HashMap::new();
    for h in &failing {
        if let std::collections::hash_map::Entry::Vacant(slot) = projects.entry(h.project_id) {
            if let Some(p) = state.store.project_by_id(h.project_id).await? {
                slot.insert(p.full_path());
            }
        }
    }
    let body = html! {
        h1 { "Admin area" }
        (nav())
        section aria-labelledby="health" {
            h2 id="health" { "Server health" }
            div class="table-wrap" { table {
                thead { tr { th scope="col" { "Check" } th scope="col" { "Status" } } }
                tbody {
                    tr { th scope="row" { "Database" } td { (check_badge(&checks.database)) } }
                    tr { th scope="row" { "Repository storage" } td { (check_badge(&checks.storage)) } }
                }
            } }
        }
        section aria-labelledby="queue" {
            h2 id="queue" { "Job queue" }
            p {
                "Mirror updates wanted: " strong id="mirror-updates-wanted" { (stats.wanted) }
                ", due now: " strong id="mirror-updates-due" { (stats.due) }
                ". Oldest wanted update: "
                strong id="oldest-wanted-update" {
                    @match stats.oldest_at {
                        Some(at) => (relative(now - at)),
                        None => "none",
                    }
                }
                "."
            }
            div class="table-wrap" { table {
                thead { tr {
                    th scope="col" { "Kind" } th scope="col" { "Queued" } th scope="col" { "Due now" }
                } }
                tbody {
                    @for d in &depths {
                        tr { th scope="row" { code { (d.kind) } } td { (d.jobs) } td { (d.due) } }
                    }
                    tr { th scope="row" { "All kinds" } td id="queue-depth" { (stats.jobs) } td {} }
                }
            } }
        }
        section aria-labelledby="failing-hooks" {
            h2 id="failing-hooks" { "Failing webhook deliveries" }
            @if failing.is_empty() {
                p class="muted" { "No webhook is failing." }
            } @else {
                div class="table-wrap" { table class="responsive" {
                    thead { tr {
                        th scope="col" { "Project" } th scope="col" { "URL" }
                        th scope="col" { "Failures in a row" } th scope="col" { "State" }
                    } }
                    tbody {
                        @for h in &failing {
                            tr {
                                td data-label="Project" {
                                    @match projects.get(&h.project_id) {
                                        Some(path) => a href={ "/" (path) "/-/hooks" } { (path) },
                                        None => span class="muted" { "(deleted)" },
                                    }
                                }
                                td data-label="URL" { code { (hooks::shown_url(h)) } }
                                td data-label="Failures in a row" { (h.health.recent_failures) }
                                td data-label="State" { (hook_state(h, now)) }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(page(&state, &viewer, "Admin area", body))
}

// GET /admin/users
async fn users_page(State(state): State<AppState>, viewer: Viewer) -> Result<Response, WebError> {
    admin(&viewer)?;
    let all = users::list(&state, &viewer.user, UserFilter::default()).await?;
    let action = |id: i64, verb: &str| format!("/admin/users/{id}/{verb}");
    let body = html! {
        h1 { "Users" }
        (nav())
        section aria-labelledby="new-user" class="panel" {
            h2 id="new-user" { "New user" }
            form class="stack" method="post" action="/admin/users" {
                (csrf_field(&viewer))
                div class="field" {
                    label for="user_username" { "Username" }
                    input type="text" id="user_username" name="user[username]" required
                        autocapitalize="off" autocomplete="off";
                }
                div class="field" {
                    label for="user_name" { "Name" }
                    input type="text" id="user_name" name="user[name]" required autocomplete="off";
                }
                div class="field" {
                    label for="user_email" { "Email" }
                    input type="email" id="user_email" name="user[email]" required autocomplete="off";
                }
                div class="field" {
                    label for="user_password" { "Password" }
                    input type="password" id="user_password" name="user[password]"
                        autocomplete="new-password" aria-describedby="password-hint";
                    span class="hint" id="password-hint" {
                        "Optional: without one the user signs in nowhere and uses tokens only."
                    }
                }
                div class="check" {
                    input type="checkbox" id="user_admin" name="user[admin]" value="1";
                    label for="user_admin" { "Admin" }
                }
                div { button type="submit" { "Create user" } }
            }
        }
        h2 { "All users (" (all.len()) ")" }
        div class="table-wrap" { table class="responsive" {
            thead { tr {
                th scope="col" { "Username" } th scope="col" { "Name" } th scope="col" { "Email" }
                th scope="col" { "State" } th scope="col" { "Admin" }
                th scope="col" { span class="visually-hidden" { "Actions" } }
            } }
            tbody {
                @for u in all.iter().take(MAX_ROWS as usize) {
                    tr {
                        td data-label="Username" { (u.username) }
                        td data-label="Name" { (u.name) }
                        td data-label="Email" { (u.email.as_deref().unwrap_or("")) }
                        td data-label="State" {
                            @match u.state {
                                UserState::Active => span class="status status-finished" { "Active" },
                                UserState::Blocked => span class="status status-failed" { "Blocked" },
                            }
                        }
                        td data-label="Admin" { @if u.is_admin { "Yes" } @else { "No" } }
                        td data-label="Actions" { div {
                            @if u.state == UserState::Active {
                                form class="inline" method="post" action=(action(u.id, "block"))
                                    data-confirm={ "Block user " (u.username) "? They are signed out and their tokens stop working." } {
                                    (csrf_field(&viewer))
                                    button class="danger" type="submit" aria-label={ "Block " (u.username) } { "Block" }
                                }
                            } @else {
                                form class="inline" method="post" action=(action(u.id, "unblock")) {
                                    (csrf_field(&viewer))
                                    button class="secondary" type="submit" aria-label={ "Unblock " (u.username) } { "Unblock" }
                                }
                            }
                            " "
                            @if u.is_admin {
                                form class="inline" method="post" action=(action(u.id, "remove_admin"))
                                    data-confirm={ "Remove admin rights from " (u.username) "?" } {
                                    (csrf_field(&viewer))
                                    button class="secondary" type="submit" aria-label={ "Remove admin " (u.username) } { "Remove admin" }
                                }
                            } @else {
                                form class="inline" method="post" action=(action(u.id, "make_admin"))
                                    data-confirm={ "Make " (u.username) " an administrator?" } {
                                    (csrf_field(&viewer))
                                    button class="secondary" type="submit" aria-label={ "Make admin " (u.username) } { "Make admin" }
                                }
                            }
                        } }
                    }
                }
            }
        } }
    };
    Ok(page(&state, &viewer, "Users · Admin area", body))
}

/// The "New user" form.
#[derive(Deserialize)]
struct NewUserForm {
    #[serde(rename = "user[username]", default)]
    username: String,
    #[serde(rename = "user[name]", default)]
    name: String,
    #[serde(rename = "user[email]", default)]
    email: String,
    #[serde(rename = "user[password]", default)]
    password: String,
    #[serde(rename = "user[admin]")]
    admin: Option<String>,
}

// POST /admin/users
async fn create_user(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted<NewUserForm>,
) -> Result<Response, WebError> {
    admin(&viewer)?;
    let changes = AccountChanges {
        username: Some(form.username),
        name: Some(form.name),
        email: Some(form.email),
        password: Some(form.password).filter(|p| !p.is_empty()),
        admin: Some(form.admin.is_some()),
    };
    Ok(match users::create(&state, &viewer.user, changes).await {
        Ok(_) => redirect_with(
            &state,
            "/admin/users",
            Some(Flash::Notice("User was successfully created.".into())),
        ),
        Err(e) => back_with(&state, "/admin/users", e),
    })
}

/// What a user's button asks.
#[derive(Clone, Copy)]
enum UserAction {
    Block,
    Unblock,
    MakeAdmin,
    RemoveAdmin,
}

async fn user_action(
    state: AppState,
    viewer: Viewer,
    id: String,
    what: UserAction,
) -> Result<Response, WebError> {
    admin(&viewer)?;
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let admin_flag = |admin| AccountChanges {
        admin: Some(admin),
        ..AccountChanges::default()
    };
    let (result, notice) = match what {
        UserAction::Block => (
            users::set_blocked(&state, &viewer.user, id, true).await,
            "Successfully blocked",
        ),
        UserAction::Unblock => (
            users::set_blocked(&state, &viewer.user, id, false).await,
            "Successfully unblocked",
        ),
        UserAction::MakeAdmin => (
            users::update(&state, &viewer.user, id, admin_flag(true)).await,
            "User was successfully updated.",
        ),
        UserAction::RemoveAdmin => (
            users::update(&state, &viewer.user, id, admin_flag(false)).await,
            "User was successfully updated.",
        ),
    };
    Ok(match result {
        Ok(_) => redirect_with(&state, "/admin/users", Some(Flash::Notice(notice.into()))),
        Err(e) => back_with(&state, "/admin/users", e),
    })
}

// POST /admin/users/{id}/block
async fn block(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { viewer, .. }: Posted<CsrfOnly>,
) -> Result<Response, WebError> {
    user_action(state, viewer, id, UserAction::Block).await
}

// POST /admin/users/{id}/unblock
async fn unblock(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { viewer, .. }: Posted<CsrfOnly>,
) -> Result<Response, WebError> {
    user_action(state, viewer, id, UserAction::Unblock).await
}

// POST /admin/users/{id}/make_admin
async fn make_admin(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { viewer, .. }: Posted<CsrfOnly>,
) -> Result<Response, WebError> {
    user_action(state, viewer, id, UserAction::MakeAdmin).await
}

// POST /admin/users/{id}/remove_admin
async fn remove_admin(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { viewer, .. }: Posted<CsrfOnly>,
) -> Result<Response, WebError> {
    user_action(state, viewer, id, UserAction::RemoveAdmin).await
}

// GET /admin/projects
async fn projects_page(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    admin(&viewer)?;
    let today = crate::service::auth::today(&state);
    let who = crate::store::Viewer {
        user_id: Some(viewer.user.id),
        is_admin: true,
        today: &today,
    };
    let filter = ProjectFilter {
        order: ProjectOrder::Path,
        ascending: true,
        ..ProjectFilter::default()
    };
    let page_of = PageRequest {
        page: 1,
        per_page: MAX_ROWS,
    };
    let listed = state
        .store
        .projects_for(who, true, &filter, page_of)
        .await?;
    let counts: HashMap<i64, (i64, i64)> = state
        .store
        .mirror_counts()
        .await?
        .into_iter()
        .map(|(p, n, f)| (p, (n, f)))
        .collect();
    let now = state.clock.now_ms();
    let body = html! {
        h1 { "Projects" }
        (nav())
        p { (listed.total) " projects" @if listed.total > MAX_ROWS { ", the first " (MAX_ROWS) " by path shown" } "." }
        div class="table-wrap" { table class="responsive" {
            thead { tr {
                th scope="col" { "Project" } th scope="col" { "Visibility" }
                th scope="col" { "Mirrors" } th scope="col" { "Failing mirrors" }
                th scope="col" { "Last activity" }
            } }
            tbody {
                @for (p, _) in &listed.items {
                    @let (mirrors, failing) = counts.get(&p.id).copied().unwrap_or((0, 0));
                    tr {
                        td data-label="Project" { a href={ "/" (p.full_path()) } { (p.full_path()) } }
                        td data-label="Visibility" { (p.visibility.as_str()) }
                        td data-label="Mirrors" { (mirrors) }
                        td data-label="Failing mirrors" {
                            @if failing > 0 { span class="status status-failed" { (failing) " failing" } }
                            @else { "0" }
                        }
                        td data-label="Last activity" { (time_ago(Some(p.last_activity_at), now)) }
                    }
                }
            }
        } }
    };
    Ok(page(&state, &viewer, "Projects · Admin area", body))
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(overview))
        .route("/admin/users", get(users_page).post(create_user))
        .route("/admin/users/{id}/block", post(block))
        .route("/admin/users/{id}/unblock", post(unblock))
        .route("/admin/users/{id}/make_admin", post(make_admin))
        .route("/admin/users/{id}/remove_admin", post(remove_admin))
        .route("/admin/projects", get(projects_page))
}
