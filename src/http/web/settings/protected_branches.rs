//! The "Protected branches" section: the rules (branch or wildcard, who may merge, who may push
//! and merge, whether force push is allowed), GitLab's "Protect a branch" form with its levels
//! (No one, Developers + Maintainers, Maintainers) and "Unprotect" (a confirmed post). The rules
//! are `service::protected_branches`'; pushes are judged by `model::push_rules`.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;

use super::{after_change, page_path, project_path, settings_project};
use crate::http::web::error::WebError;
use crate::http::web::layout::csrf_field;
use crate::http::web::session::{Posted, Viewer};
use crate::http::web::ProjectPath;
use crate::http::AppState;
use crate::model::entities::{AccessEntry, Project};
use crate::service::protected_branches::{self as rules, AccessSpec, Protection, DEFAULT_LEVEL};

/// The levels the form offers, GitLab's names, most restrictive last as GitLab lists them.
const CHOICES: [(i64, &str); 3] = [
    (40, "Maintainers"),
    (30, "Developers + Maintainers"),
    (0, "No one"),
];

/// How an access entry reads: a role, a user by name, or a deploy key by id.
fn entry_name(e: &AccessEntry) -> String {
    if let Some(key) = e.deploy_key_id {
        return format!("Deploy key {key}");
    }
    match (e.access_level, &e.user_name) {
        (_, Some(name)) => name.clone(),
        (Some(60), None) => "Administrators".into(),
        (Some(level), None) => CHOICES
            .iter()
            .find(|(l, _)| *l == level)
            .map(|(_, n)| (*n).to_owned())
            .unwrap_or_else(|| format!("Level {level}")),
        (None, None) => "Nobody".into(),
    }
}

fn entries(list: &[AccessEntry]) -> String {
    if list.is_empty() {
        return "No one".into();
    }
    list.iter().map(entry_name).collect::<Vec<_>>().join(", ")
}

fn level_select(id: &str, name: &str, label: &str) -> Markup {
    html! {
        div class="field" {
            label for=(id) { (label) }
            select id=(id) name=(name) {
                @for (level, text) in CHOICES {
                    option value=(level) selected[level == DEFAULT_LEVEL] { (text) }
                }
            }
        }
    }
}

/// The section of the settings page.
pub(super) async fn section(
    state: &AppState,
    viewer: &Viewer,
    path: &ProjectPath,
    project: &Project,
) -> Result<Markup, WebError> {
    let list = state.store.protected_branch_rules(project.id).await?;
    let unprotect = project_path(path, "/-/protected_branches/unprotect");
    Ok(html! {
        section id="protected_branches" aria-labelledby="protected_branches_heading" {
            h2 id="protected_branches_heading" { "Protected branches" }
            p class="muted" {
                "Keep stable branches secure: choose who may push to them and who may force push."
            }
            h3 { "Protect a branch" }
            form class="stack" method="post" action=(project_path(path, "/-/protected_branches")) {
                (csrf_field(viewer))
                div class="field" {
                    label for="protected_branch_name" { "Branch" }
                    input type="text" id="protected_branch_name" name="name" required
                        spellcheck="false" placeholder="main or release-*"
                        aria-describedby="protected_branch_name_hint";
                    span class="hint" id="protected_branch_name_hint" {
                        "A branch name, or a wildcard such as " code { "release-*" } "."
                    }
                }
                (level_select("merge_access_level", "merge_access_level", "Allowed to merge"))
                (level_select("push_access_level", "push_access_level", "Allowed to push and merge"))
                div class="check" {
                    input type="checkbox" id="allow_force_push" name="allow_force_push" value="1";
                    label for="allow_force_push" { "Allowed to force push" }
                }
                div { button type="submit" { "Protect" } }
            }
            h3 { "Protected branches" " (" (list.len()) ")" }
            @if list.is_empty() {
                p class="muted" id="protected_branches_empty" { "No branches are protected." }
            } @else {
                div class="table-wrap" {
                    table class="responsive" id="protected_branches_table" {
                        thead {
                            tr {
                                th scope="col" { "Branch" }
                                th scope="col" { "Allowed to merge" }
                                th scope="col" { "Allowed to push and merge" }
                                th scope="col" { "Allowed to force push" }
                                th scope="col" { span class="visually-hidden" { "Actions" } }
                            }
                        }
                        tbody {
                            @for rule in &list {
                                tr data-protected-branch=(rule.name) {
                                    td data-label="Branch" { code { (rule.name) } }
                                    td data-label="Allowed to merge" { (entries(&rule.merge)) }
                                    td data-label="Allowed to push and merge" { (entries(&rule.push)) }
                                    td data-label="Allowed to force push" {
                                        @if rule.allow_force_push { "Yes" } @else { "No" }
                                    }
                                    td data-label="Actions" {
                                        form class="inline" method="post" action=(unprotect)
                                            data-confirm={ "Unprotect the branch " (rule.name) "?" } {
                                            (csrf_field(viewer))
                                            input type="hidden" name="name" value=(rule.name);
                                            button type="submit" class="danger"
                                                aria-label={ "Unprotect " (rule.name) } { "Unprotect" }
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

/// The "Protect a branch" form.
#[derive(Debug, Deserialize)]
pub(super) struct ProtectForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    merge_access_level: Option<String>,
    #[serde(default)]
    push_access_level: Option<String>,
    allow_force_push: Option<String>,
}

/// A posted level: GitLab's default when absent, and one the service refuses when not a number.
fn level(raw: Option<&str>) -> i64 {
    match raw.map(str::trim) {
        None | Some("") => DEFAULT_LEVEL,
        Some(v) => v.parse().unwrap_or(-1),
    }
}

// POST /<namespace>/<project>/-/protected_branches
pub(super) async fn protect(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Posted { viewer, form }: Posted<ProtectForm>,
) -> Result<Response, WebError> {
    let (project, caller) = settings_project(&state, &path, &viewer).await?;
    let spec = |raw: Option<&str>| {
        vec![AccessSpec {
            access_level: Some(level(raw)),
            ..AccessSpec::default()
        }]
    };
    let name = form.name.trim().to_owned();
    let protection = Protection {
        name: name.clone(),
        push: spec(form.push_access_level.as_deref()),
        merge: spec(form.merge_access_level.as_deref()),
        allow_force_push: form.allow_force_push.is_some(),
        ..Protection::default()
    };
    let result = rules::protect(&state, &project, caller, protection).await;
    after_change(
        &state,
        &format!("{}#protected_branches", page_path(&path)),
        result.map(|_| ()),
        &format!("The branch {name} is protected."),
    )
}

/// The "Unprotect" form.
#[derive(Debug, Deserialize)]
pub(super) struct UnprotectForm {
    #[serde(default)]
    name: String,
}

// POST /<namespace>/<project>/-/protected_branches/unprotect
pub(super) async fn unprotect(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Posted { viewer, form }: Posted<UnprotectForm>,
) -> Result<Response, WebError> {
    let (project, caller) = settings_project(&state, &path, &viewer).await?;
    let result = rules::unprotect(&state, &project, caller, &form.name).await;
    after_change(
        &state,
        &format!("{}#protected_branches", page_path(&path)),
        result,
        &format!("The branch {} is no longer protected.", form.name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_read_as_gitlab_names_them() {
        assert_eq!(
            entry_name(&AccessEntry::level(1, 30)),
            "Developers + Maintainers"
        );
        assert_eq!(entry_name(&AccessEntry::level(1, 0)), "No one");
        assert_eq!(level(None), 40);
        assert_eq!(level(Some("0")), 0);
        assert_eq!(level(Some("x")), -1);
    }
}
