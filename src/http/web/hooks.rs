//! `/<namespace>/<project>/-/hooks`: GitLab's Webhooks page, for Maintainers and admins as the
//! hooks API (a project the viewer cannot see is the 404 page; one they see but may not
//! administer, 403). The list (URL masked, triggers, whether deliveries are made, paused until
//! a time or stopped for good), "Add new webhook", each hook's edit page with its recent
//! deliveries from the delivery log, Delete, and "Test" buttons that send a sample event now;
//! all through [`crate::service::hooks`], with the API's rules. The secret token and the URL's
//! credentials are write-only: never put back into a form or a page.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{html, Markup};
use secrecy::SecretString;
use serde::Deserialize;

use super::admin::hook_state;
use super::error::WebError;
use super::layout::{csrf_field, page, time_ago};
use super::session::{back_with, redirect_with, CsrfOnly, Flash, Posted, Viewer};
use super::ProjectPath;
use crate::http::AppState;
use crate::model::entities::Project;
use crate::model::hooks::{BranchFilterStrategy, ProjectHook, Trigger};
use crate::service::error::ServiceError;
use crate::service::hooks::{self, HookRequest};
use crate::service::projects::find_project;
use crate::store::PageRequest;

/// Most hooks listed (GitLab allows 100 per project).
const LISTED: PageRequest = PageRequest {
    page: 1,
    per_page: 100,
};
/// Recent deliveries shown on a hook's page (GitLab shows 20 per page).
const DELIVERIES: PageRequest = PageRequest {
    page: 1,
    per_page: 20,
};

/// The project, if the viewer may administer its hooks.
async fn hook_project(
    state: &AppState,
    path: &ProjectPath,
    viewer: &Viewer,
) -> Result<Project, WebError> {
    let (project, caller) = find_project(state, &path.0, Some(&viewer.user)).await?;
    if !caller.can_admin_project() {
        return Err(WebError::Forbidden);
    }
    Ok(project)
}

fn hooks_path(path: &ProjectPath) -> String {
    format!("/{}/-/hooks", path.0)
}

/// GitLab's label of a trigger.
fn trigger_label(t: Trigger) -> &'static str {
    match t {
        Trigger::Push => "Push events",
        Trigger::TagPush => "Tag push events",
        Trigger::RemoteMirror => "Remote mirror events",
    }
}

fn triggers_of(hook: &ProjectHook) -> Vec<&'static str> {
    let s = &hook.settings;
    [
        (s.push_events, Trigger::Push),
        (s.tag_push_events, Trigger::TagPush),
        (s.remote_mirror_events, Trigger::RemoteMirror),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, t)| trigger_label(t))
    .collect()
}

/// The fields of the add and edit forms; `hook` fills them for editing (never the token, never
/// the URL's credentials, which are not in the stored URL).
fn hook_fields(hook: Option<&ProjectHook>) -> Markup {
    let s = hook
        .map(|h| h.settings.clone())
        .unwrap_or_else(|| crate::model::hooks::HookSettings {
            push_events: true,
            enable_ssl_verification: true,
            ..Default::default()
        });
    let strategy = if s.push_events_branch_filter.is_none() {
        BranchFilterStrategy::AllBranches
    } else {
        s.branch_filter_strategy
    };
    html! {
        div class="field" {
            label for="hook_url" { "URL" }
            input type="text" inputmode="url" id="hook_url" name="hook[url]" required
                value=(s.url) placeholder="https://example.com/hook" aria-describedby="hook_url_hint";
            span class="hint" id="hook_url_hint" {
                @if hook.is_some_and(|h| h.settings.has_user || h.settings.has_password) {
                    "The URL's credentials are kept and not shown; enter a different URL (with credentials if needed) to replace them."
                } @else {
                    "http or https; credentials in the URL are write-only."
                }
            }
        }
        div class="field" {
            label for="hook_name" { "Name (optional)" }
            input type="text" id="hook_name" name="hook[name]" value=(s.name.as_deref().unwrap_or(""));
        }
        div class="field" {
            label for="hook_description" { "Description (optional)" }
            textarea id="hook_description" name="hook[description]" rows="2" {
                (s.description.as_deref().unwrap_or(""))
            }
        }
        div class="field" {
            label for="hook_token" { "Secret token" }
            input type="password" id="hook_token" name="hook[token]" autocomplete="off"
                aria-describedby="hook_token_hint";
            span class="hint" id="hook_token_hint" {
                "Sent with every event in the X-Gitlab-Token header. "
                @if hook.is_some() { "Leave blank to keep the current one, if any." }
            }
        }
        fieldset {
            legend { "Trigger" }
            div class="check" {
                input type="checkbox" id="hook_push_events" name="hook[push_events]" value="1" checked[s.push_events];
                label for="hook_push_events" { "Push events" }
            }
            fieldset class="nested" {
                legend { "Branches to send push events for" }
                @for (value, label) in [
                    (BranchFilterStrategy::AllBranches, "All branches"),
                    (BranchFilterStrategy::Wildcard, "Wildcard pattern"),
                    (BranchFilterStrategy::Regex, "Regular expression"),
                ] {
                    div class="check" {
                        input type="radio" id={ "hook_strategy_" (value.as_str()) }
                            name="hook[branch_filter_strategy]" value=(value.as_str()) checked[strategy == value];
                        label for={ "hook_strategy_" (value.as_str()) } { (label) }
                    }
                }
                div class="field" {
                    label for="hook_push_events_branch_filter" { "Branch filter" }
                    input type="text" id="hook_push_events_branch_filter"
                        name="hook[push_events_branch_filter]"
                        value=(s.push_events_branch_filter.as_deref().unwrap_or(""))
                        placeholder="main, release/*";
                }
            }
            div class="check" {
                input type="checkbox" id="hook_tag_push_events" name="hook[tag_push_events]" value="1" checked[s.tag_push_events];
                label for="hook_tag_push_events" { "Tag push events" }
            }
            div class="check" {
                input type="checkbox" id="hook_remote_mirror_events" name="hook[remote_mirror_events]" value="1" checked[s.remote_mirror_events];
                div {
                    label for="hook_remote_mirror_events" { "Remote mirror events" }
                    span class="hint" { "When a push mirror of this project starts failing or recovers." }
                }
            }
        }
        fieldset {
            legend { "SSL verification" }
            div class="check" {
                input type="checkbox" id="hook_enable_ssl_verification" name="hook[enable_ssl_verification]" value="1" checked[s.enable_ssl_verification];
                label for="hook_enable_ssl_verification" { "Enable SSL verification" }
            }
        }
    }
}

/// The "Test" buttons of a hook: one form per trigger.
fn test_buttons(viewer: &Viewer, base: &str, hook: &ProjectHook) -> Markup {
    html! {
        details class="test-menu" {
            summary { "Test" }
            @for t in Trigger::ALL {
                form method="post" action={ (base) "/" (hook.id) "/test" } {
                    (csrf_field(viewer))
                    input type="hidden" name="trigger" value=(t.attribute());
                    button type="submit" class="secondary" { (trigger_label(t)) }
                }
            }
        }
    }
}

// GET /<project>/-/hooks
async fn list(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let project = hook_project(&state, &path, &viewer).await?;
    let all = hooks::list_hooks(&state, &project, LISTED).await?;
    let base = hooks_path(&path);
    let now = state.clock.now_ms();
    let body = html! {
        p { a href={ "/" (path.0) } { (project.namespace.full_name) " / " (project.name) } }
        h1 { "Webhooks" }
        p class="muted" { "Webhooks send an HTTP POST to a URL of yours when something happens in this project." }
        h2 { "Project Hooks (" (all.total) ")" }
        @if all.items.is_empty() {
            p class="muted" { "No webhooks enabled. Select trigger events above." }
        } @else {
            div class="table-wrap" { table class="responsive" {
                thead { tr {
                    th scope="col" { "URL" } th scope="col" { "Triggers" }
                    th scope="col" { "SSL verification" } th scope="col" { "State" }
                    th scope="col" { span class="visually-hidden" { "Actions" } }
                } }
                tbody {
                    @for h in &all.items {
                        tr {
                            td data-label="URL" {
                                div {
                                    code { (hooks::shown_url(h)) }
                                    @if let Some(n) = &h.settings.name { br; strong { (n) } }
                                    @if let Some(d) = &h.settings.description { br; span class="muted" { (d) } }
                                }
                            }
                            td data-label="Triggers" { (triggers_of(h).join(", ")) }
                            td data-label="SSL verification" {
                                @if h.settings.enable_ssl_verification { "enabled" } @else { "disabled" }
                            }
                            td data-label="State" { (hook_state(h, now)) }
                            td data-label="Actions" {
                                div {
                                    (test_buttons(&viewer, &base, h))
                                    a class="button secondary" href={ (base) "/" (h.id) "/edit" } { "Edit" }
                                    " "
                                    form class="inline" method="post" action={ (base) "/" (h.id) "/delete" }
                                        data-confirm="Are you sure you want to delete this project hook?" {
                                        (csrf_field(&viewer))
                                        button type="submit" class="danger" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
        }
        section aria-labelledby="add-hook" class="panel" {
            h2 id="add-hook" { "Add new webhook" }
            form class="stack" method="post" action=(base) {
                (csrf_field(&viewer))
                (hook_fields(None))
                div { button type="submit" { "Add webhook" } }
            }
        }
    };
    Ok(page(&state, &viewer, "Webhooks", body))
}

// GET /<project>/-/hooks/{id}/edit
async fn edit(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(id): Path<String>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let project = hook_project(&state, &path, &viewer).await?;
    let hook = find(&state, &project, &id).await?;
    let logs = hooks::hook_events(&state, &hook, &[], DELIVERIES).await?;
    let base = hooks_path(&path);
    let now = state.clock.now_ms();
    let body = html! {
        p { a href=(base) { "Webhooks" } }
        h1 { "Edit webhook" }
        p { code { (hooks::shown_url(&hook)) } " " (hook_state(&hook, now)) }
        form class="stack" method="post" action={ (base) "/" (hook.id) } {
            (csrf_field(&viewer))
            (hook_fields(Some(&hook)))
            div { button type="submit" { "Save changes" } }
        }
        div class="copy" {
            (test_buttons(&viewer, &base, &hook))
            form class="inline" method="post" action={ (base) "/" (hook.id) "/delete" }
                data-confirm="Are you sure you want to delete this project hook?" {
                (csrf_field(&viewer))
                button type="submit" class="danger" { "Delete" }
            }
        }
        section aria-labelledby="deliveries" id="hook_logs" {
            h2 id="deliveries" { "Recent events" }
            @if logs.items.is_empty() {
                p class="muted" { "No events in the last 7 days." }
            } @else {
                div class="table-wrap" { table class="responsive" {
                    thead { tr {
                        th scope="col" { "Status" } th scope="col" { "Trigger" }
                        th scope="col" { "URL" } th scope="col" { "Elapsed time" }
                        th scope="col" { "Request time" }
                    } }
                    tbody {
                        @for log in &logs.items {
                            @let ok = crate::model::hooks::delivery_succeeded(log.response_status.parse().ok());
                            tr {
                                td data-label="Status" {
                                    span class={ "status " (if ok { "status-finished" } else { "status-failed" }) } {
                                        (if ok { "Succeeded" } else { "Failed" })
                                    }
                                    " " (log.response_status)
                                }
                                td data-label="Trigger" {
                                    (Trigger::from_hook_name(&log.trigger).map(Trigger::event_header).unwrap_or(&log.trigger))
                                }
                                td data-label="URL" { code { (log.url) } }
                                td data-label="Elapsed time" {
                                    (format!("{:.2} sec", log.execution_duration_us as f64 / 1_000_000.0))
                                }
                                td data-label="Request time" { (time_ago(Some(log.created_at), now)) }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(page(&state, &viewer, "Edit webhook", body))
}

async fn find(state: &AppState, project: &Project, id: &str) -> Result<ProjectHook, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    Ok(hooks::find_hook(state, project.id, id).await?)
}

/// The add and edit forms as posted. Not `Debug`: the token and the URL's credentials are
/// secrets.
#[derive(Deserialize)]
struct HookForm {
    #[serde(rename = "hook[url]", default)]
    url: String,
    #[serde(rename = "hook[name]", default)]
    name: String,
    #[serde(rename = "hook[description]", default)]
    description: String,
    #[serde(rename = "hook[token]", default)]
    token: String,
    #[serde(rename = "hook[push_events]")]
    push_events: Option<String>,
    #[serde(rename = "hook[branch_filter_strategy]", default)]
    branch_filter_strategy: String,
    #[serde(rename = "hook[push_events_branch_filter]", default)]
    push_events_branch_filter: String,
    #[serde(rename = "hook[tag_push_events]")]
    tag_push_events: Option<String>,
    #[serde(rename = "hook[remote_mirror_events]")]
    remote_mirror_events: Option<String>,
    #[serde(rename = "hook[enable_ssl_verification]")]
    enable_ssl_verification: Option<String>,
}

impl HookForm {
    /// The service's request: every field set (an unchecked box is off), the URL only when it
    /// differs from `old`'s stored one (which lacks the credentials), the token only when typed.
    fn request(self, old: Option<&ProjectHook>) -> HookRequest {
        let text = |s: String| Some(Some(s.trim().to_owned()).filter(|s| !s.is_empty()));
        let url = self.url.trim().to_owned();
        let strategy = BranchFilterStrategy::parse(&self.branch_filter_strategy)
            .unwrap_or(BranchFilterStrategy::AllBranches);
        HookRequest {
            url: (old.is_none_or(|h| h.settings.url != url)).then_some(url),
            name: text(self.name),
            description: text(self.description),
            token: (!self.token.is_empty()).then(|| Some(SecretString::from(self.token))),
            push_events: Some(self.push_events.is_some()),
            tag_push_events: Some(self.tag_push_events.is_some()),
            remote_mirror_events: Some(self.remote_mirror_events.is_some()),
            enable_ssl_verification: Some(self.enable_ssl_verification.is_some()),
            push_events_branch_filter: text(self.push_events_branch_filter),
            branch_filter_strategy: Some(strategy),
            ..HookRequest::default()
        }
    }
}

// POST /<project>/-/hooks
async fn create(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Posted { viewer, form }: Posted<HookForm>,
) -> Result<Response, WebError> {
    let project = hook_project(&state, &path, &viewer).await?;
    let back = hooks_path(&path);
    Ok(
        match hooks::create_hook(&state, &project, form.request(None)).await {
            Ok(_) => redirect_with(&state, &back, Some(Flash::Notice("Webhook created".into()))),
            Err(e) => back_with(&state, &back, e),
        },
    )
}

// POST /<project>/-/hooks/{id}
async fn update(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(id): Path<String>,
    Posted { viewer, form }: Posted<HookForm>,
) -> Result<Response, WebError> {
    let project = hook_project(&state, &path, &viewer).await?;
    let hook = find(&state, &project, &id).await?;
    let back = format!("{}/{}/edit", hooks_path(&path), hook.id);
    Ok(
        match hooks::update_hook(&state, &hook, form.request(Some(&hook))).await {
            Ok(_) => redirect_with(&state, &back, Some(Flash::Notice("Webhook updated".into()))),
            Err(e) => back_with(&state, &back, e),
        },
    )
}

// POST /<project>/-/hooks/{id}/delete
async fn remove(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(id): Path<String>,
    Posted { viewer, .. }: Posted<CsrfOnly>,
) -> Result<Response, WebError> {
    let project = hook_project(&state, &path, &viewer).await?;
    let hook = find(&state, &project, &id).await?;
    let back = hooks_path(&path);
    Ok(match hooks::delete_hook(&state, &hook).await {
        Ok(()) => redirect_with(&state, &back, Some(Flash::Notice("Webhook deleted".into()))),
        Err(e) => back_with(&state, &back, e),
    })
}

/// The test form: which sample event to send.
#[derive(Deserialize)]
struct TestForm {
    #[serde(default)]
    trigger: String,
}

// POST /<project>/-/hooks/{id}/test
async fn test(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(id): Path<String>,
    Posted { viewer, form }: Posted<TestForm>,
) -> Result<Response, WebError> {
    let project = hook_project(&state, &path, &viewer).await?;
    let hook = find(&state, &project, &id).await?;
    let back = hooks_path(&path);
    let trigger = Trigger::from_attribute(&form.trigger)
        .ok_or_else(|| WebError::BadRequest("Unknown trigger.".into()))?;
    Ok(
        match hooks::test_hook(&state, &project, &hook, trigger, &viewer.user).await {
            Ok(()) => redirect_with(
                &state,
                &back,
                Some(Flash::Notice(format!(
                    "Hook executed successfully ({}).",
                    trigger_label(trigger)
                ))),
            ),
            Err(ServiceError::Refused(why)) if why.is_hook_execution() => redirect_with(
                &state,
                &back,
                Some(Flash::Alert(format!("Hook execution failed: {why}"))),
            ),
            Err(e) => back_with(&state, &back, e),
        },
    )
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/-/hooks", get(list).post(create))
        .route("/-/hooks/{id}", post(update))
        .route("/-/hooks/{id}/edit", get(edit))
        .route("/-/hooks/{id}/delete", post(remove))
        .route("/-/hooks/{id}/test", post(test))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hooks::{HookHealth, HookSettings};
    use secrecy::ExposeSecret;

    fn form(url: &str, token: &str, push: bool) -> HookForm {
        HookForm {
            url: url.into(),
            name: " ".into(),
            description: "d".into(),
            token: token.into(),
            push_events: push.then(|| "1".into()),
            branch_filter_strategy: "bogus".into(),
            push_events_branch_filter: String::new(),
            tag_push_events: None,
            remote_mirror_events: Some("1".into()),
            enable_ssl_verification: None,
        }
    }

    #[test]
    fn an_edit_keeps_the_write_only_parts_unless_replaced() {
        let old = ProjectHook {
            id: 1,
            project_id: 1,
            settings: HookSettings {
                url: "https://example.com/h".into(),
                has_password: true,
                ..HookSettings::default()
            },
            health: HookHealth::default(),
            created_at: 0,
        };
        // The stored URL (which lacks the credentials) sent back unchanged is not a new URL,
        // which would drop the credentials and the token.
        let same = form(" https://example.com/h ", "", true).request(Some(&old));
        assert!(same.url.is_none() && same.token.is_none());
        let moved = form("https://example.org/h", "t0ken", false).request(Some(&old));
        assert_eq!(moved.url.as_deref(), Some("https://example.org/h"));
        let token = moved.token.flatten().map(|t| t.expose_secret().to_owned());
        assert_eq!(token.as_deref(), Some("t0ken"));
        // Unchecked boxes are off, blank texts clear, an unknown strategy is every branch.
        assert_eq!(moved.push_events, Some(false));
        assert_eq!(moved.tag_push_events, Some(false));
        assert_eq!(moved.remote_mirror_events, Some(true));
        assert_eq!(moved.name, Some(None));
        assert_eq!(moved.description, Some(Some("d".into())));
        assert_eq!(
            moved.branch_filter_strategy,
            Some(BranchFilterStrategy::AllBranches)
        );
        let new = form("https://example.com/h", "", true).request(None);
        assert_eq!(new.url.as_deref(), Some("https://example.com/h"));
    }
}
