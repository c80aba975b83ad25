//! `/<namespace>/<project>/-/project_members`: GitLab's project members page. Everyone who may
//! see the project sees its members, direct and inherited from each group above it (with the
//! group they come from), their role and expiry; those the API lets manage members get
//! "Invite members" (Username, "Select a role", "Access expiration date"), a role change and a
//! remove button per member they outrank, all through [`crate::service::members`] with the
//! API's rules (a Maintainer grants up to Maintainer, only an Owner grants Owner; anyone may
//! leave).

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{html, Markup};
use serde::Deserialize;

use super::error::WebError;
use super::layout::{csrf_field, page};
use super::session::{back_with, redirect_with, CsrfOnly, Flash, Posted, Viewer};
use super::ProjectPath;
use crate::http::AppState;
use crate::model::access::{AccessLevel, Caller};
use crate::model::entities::{Member, NamespaceKind, Project};
use crate::model::membership::parse_expiry;
use crate::service::auth::today;
use crate::service::error::{Resource, ServiceError};
use crate::service::members::{self, Target};
use crate::service::projects::find_project;
use crate::store::{MemberSource, PageRequest};

/// Most members listed per source (a project's or a group's direct members).
const MAX_LISTED: PageRequest = PageRequest {
    page: 1,
    per_page: 1000,
};

/// GitLab's name of a role.
pub(super) fn role_name(level: AccessLevel) -> &'static str {
    match level {
        AccessLevel::Guest => "Guest",
        AccessLevel::Reporter => "Reporter",
        AccessLevel::Developer => "Developer",
        AccessLevel::Maintainer => "Maintainer",
        AccessLevel::Owner => "Owner",
    }
}

/// The page's own path.
fn members_path(project: &ProjectPath) -> String {
    format!("/{}/-/project_members", project.0)
}

/// One listed membership and where it comes from (`None`: the project itself).
struct Listed {
    member: Member,
    group: Option<String>,
}

/// The project's direct members, then each ancestor group's, nearest first.
async fn listed(state: &AppState, project: &Project) -> Result<Vec<Listed>, WebError> {
    let direct = members::members(state, Target::Project(project), MAX_LISTED).await?;
    let mut all: Vec<Listed> = direct
        .items
        .into_iter()
        .map(|member| Listed {
            member,
            group: None,
        })
        .collect();
    let ns = &project.namespace;
    if ns.kind == NamespaceKind::Group {
        let segments: Vec<&str> = ns.full_path.split('/').collect();
        let today = today(state);
        for depth in (1..=segments.len()).rev() {
            let path = segments[..depth].join("/");
            let Some(group) = state.store.namespace_by_path(&path).await? else {
                continue;
            };
            let paged = state
                .store
                .members(MemberSource::Group(group.id), &today, MAX_LISTED)
                .await?;
            all.extend(paged.items.into_iter().map(|member| Listed {
                member,
                group: Some(group.full_path.clone()),
            }));
        }
    }
    Ok(all)
}

/// The roles `caller` may grant, lowest first.
fn grantable(caller: &Caller) -> Vec<AccessLevel> {
    AccessLevel::ALL
        .into_iter()
        .filter(|l| caller.can_grant(*l))
        .collect()
}

fn role_select(id: &str, roles: &[AccessLevel], selected: AccessLevel) -> Markup {
    html! {
        select id=(id) name="access_level" {
            @for r in roles {
                option value=(r.as_i64()) selected[*r == selected] { (role_name(*r)) }
            }
        }
    }
}

// GET /<project>/-/project_members
async fn show(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let (project, caller) = find_project(&state, &path.0, Some(&viewer.user)).await?;
    let rows = listed(&state, &project).await?;
    let roles = grantable(&caller);
    let base = members_path(&path);
    let today = today(&state);
    let body = html! {
        p { a href={ "/" (path.0) } { (project.namespace.full_name) " / " (project.name) } }
        h1 { "Project members" }
        @if caller.can_admin_project() {
            section aria-labelledby="invite" class="panel" {
                h2 id="invite" { "Invite members" }
                form class="stack" method="post" action=(base) {
                    (csrf_field(&viewer))
                    div class="field" {
                        label for="invite_user_id" { "Username" }
                        input type="text" id="invite_user_id" name="user_id" required
                            autocapitalize="off" autocomplete="off";
                    }
                    div class="field" {
                        label for="invite_access_level" { "Select a role" }
                        (role_select("invite_access_level", &roles, AccessLevel::Guest))
                    }
                    div class="field" {
                        label for="invite_expires_at" { "Access expiration date" }
                        input type="date" id="invite_expires_at" name="expires_at" min=(today)
                            aria-describedby="invite_expires_hint";
                        span class="hint" id="invite_expires_hint" {
                            "Optional. From the day after, the membership grants nothing."
                        }
                    }
                    div { button type="submit" { "Invite" } }
                }
            }
        }
        h2 { "Members (" (rows.len()) ")" }
        div class="table-wrap" { table class="responsive" {
            thead { tr {
                th scope="col" { "Account" } th scope="col" { "Source" }
                th scope="col" { "Role" } th scope="col" { "Expiration" }
                th scope="col" { span class="visually-hidden" { "Actions" } }
            } }
            tbody {
                @for row in &rows {
                    @let m = &row.member;
                    @let uid = m.user.id;
                    tr {
                        td data-label="Account" {
                            div {
                                (m.user.name) " " span class="muted" { "@" (m.user.username) }
                                @if uid == viewer.user.id { " " strong { "It's you" } }
                            }
                        }
                        td data-label="Source" {
                            div {
                                @match &row.group {
                                    None => "Direct member",
                                    Some(g) => { "Inherited from " code { (g) } },
                                }
                            }
                        }
                        @if row.group.is_none() && caller.can_grant(m.access_level) {
                            td data-label="Role and expiration" colspan="2" {
                                form class="copy" method="post" action={ (base) "/" (uid) } {
                                    (csrf_field(&viewer))
                                    label class="visually-hidden" for={ "role_" (uid) } { "Role of " (m.user.username) }
                                    (role_select(&format!("role_{uid}"), &roles, m.access_level))
                                    label class="visually-hidden" for={ "expires_" (uid) } { "Access expiration date of " (m.user.username) }
                                    input type="date" id={ "expires_" (uid) } name="expires_at"
                                        value=(m.expires_at.as_deref().unwrap_or(""));
                                    button type="submit" class="secondary" aria-label={ "Update " (m.user.username) } { "Update" }
                                }
                            }
                        } @else {
                            td data-label="Role" { (role_name(m.access_level)) }
                            td data-label="Expiration" {
                                @match &m.expires_at {
                                    Some(d) => time datetime=(d) { (d) },
                                    None => span class="muted" { "No expiration set" },
                                }
                            }
                        }
                        td data-label="Actions" {
                            @if row.group.is_none() && caller.can_remove_member(m.access_level, uid == viewer.user.id) {
                                @let leaving = uid == viewer.user.id;
                                form class="inline" method="post" action={ (base) "/" (uid) "/delete" }
                                    data-confirm=(if leaving { format!("Are you sure you want to leave {}?", project.name) } else { format!("Are you sure you want to remove {} from {}?", m.user.username, project.name) }) {
                                    (csrf_field(&viewer))
                                    button type="submit" class="danger" aria-label={ (if leaving { "Leave" } else { "Remove member" }) " " (m.user.username) } {
                                        @if leaving { "Leave" } @else { "Remove member" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        } }
    };
    Ok(page(&state, &viewer, "Members", body))
}

/// The invite and update forms.
#[derive(Deserialize)]
struct MemberForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    access_level: String,
    #[serde(default)]
    expires_at: String,
}

impl MemberForm {
    fn level(&self) -> Result<AccessLevel, ServiceError> {
        self.access_level
            .parse()
            .ok()
            .and_then(AccessLevel::from_i64)
            .ok_or_else(|| ServiceError::field("access_level", "does not have a valid value"))
    }

    /// Blank: none; otherwise a date (`Expires at is invalid`).
    fn expires(&self) -> Result<Option<String>, ServiceError> {
        let raw = self.expires_at.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        parse_expiry(raw)
            .map(Some)
            .ok_or_else(|| ServiceError::field("expires_at", "is invalid"))
    }
}

// POST /<project>/-/project_members
async fn invite(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Posted { viewer, form }: Posted<MemberForm>,
) -> Result<Response, WebError> {
    let (project, caller) = find_project(&state, &path.0, Some(&viewer.user)).await?;
    let back = members_path(&path);
    let who = form.user_id.trim().trim_start_matches('@').to_owned();
    let result = async {
        let level = form.level()?;
        let expires = form.expires()?;
        members::add_member(
            &state,
            Target::Project(&project),
            caller,
            &who,
            level,
            expires,
        )
        .await
    }
    .await;
    Ok(match result {
        Ok(m) => redirect_with(
            &state,
            &back,
            Some(Flash::Notice(format!(
                "{} was added to the project as {}.",
                m.user.username,
                role_name(m.access_level)
            ))),
        ),
        Err(e @ ServiceError::NotFound(Resource::User)) => redirect_with(
            &state,
            &back,
            Some(Flash::Alert(format!("{e}: no user is named {who}."))),
        ),
        Err(e) => back_with(&state, &back, e),
    })
}

// POST /<project>/-/project_members/{user_id}
async fn update(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(user_id): Path<String>,
    Posted { viewer, form }: Posted<MemberForm>,
) -> Result<Response, WebError> {
    let (project, caller) = find_project(&state, &path.0, Some(&viewer.user)).await?;
    let uid: i64 = user_id.parse().map_err(|_| WebError::NotFound)?;
    let back = members_path(&path);
    let target = Target::Project(&project);
    let member = members::find_member(&state, target, uid).await?;
    let result = async {
        let level = form.level()?;
        let expires = form.expires()?;
        members::update_member(&state, target, caller, &member, level, Some(expires)).await
    }
    .await;
    Ok(match result {
        Ok(m) => redirect_with(
            &state,
            &back,
            Some(Flash::Notice(format!(
                "{} is now {}.",
                m.user.username,
                role_name(m.access_level)
            ))),
        ),
        Err(e) => back_with(&state, &back, e),
    })
}

// POST /<project>/-/project_members/{user_id}/delete
async fn remove(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(user_id): Path<String>,
    Posted { viewer, .. }: Posted<CsrfOnly>,
) -> Result<Response, WebError> {
    let (project, caller) = find_project(&state, &path.0, Some(&viewer.user)).await?;
    let uid: i64 = user_id.parse().map_err(|_| WebError::NotFound)?;
    let target = Target::Project(&project);
    let member = members::find_member(&state, target, uid).await?;
    let leaving = uid == viewer.user.id;
    Ok(
        match members::remove_member(&state, target, caller, &viewer.user, &member).await {
            Ok(()) if leaving => redirect_with(
                &state,
                "/",
                Some(Flash::Notice(format!(
                    "You left the \"{}\" project.",
                    project.name
                ))),
            ),
            Ok(()) => redirect_with(
                &state,
                &members_path(&path),
                Some(Flash::Notice(
                    "User was successfully removed from project.".into(),
                )),
            ),
            Err(e) => back_with(&state, &members_path(&path), e),
        },
    )
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/-/project_members", get(show).post(invite))
        .route("/-/project_members/{user_id}", post(update))
        .route("/-/project_members/{user_id}/delete", post(remove))
}
