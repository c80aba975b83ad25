//! Groups for people: `/dashboard/groups`, the groups a person may see (the API's group list,
//! `Store::groups_for`: "All" or "Yours", a search, 20 to a page, "New group"), and
//! `/groups/<full path>`, a group's page: its subgroups and projects as the viewer may see
//! them, with "New subgroup" and "New project" for those the group's creation rules admit.
//! Who sees a group is the API's group lookup ([`find_group`]): a public group is shown to
//! anyone, a hidden one is the 404 page, and a signed-out visitor of a non-public one is asked
//! to sign in.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::error::WebError;
use super::layout::{anonymous_page, page, time_ago};
use super::pagination::{pager, Pages};
use super::project_list::visibility_word;
use super::session::{AnonymousCsrf, MaybeViewer, Viewer};
use crate::http::AppState;
use crate::model::entities::{Group, Millis, Project, User};
use crate::service::auth::today;
use crate::service::error::ServiceError;
use crate::service::groups::find_group;
use crate::store::{GroupFilter, GroupOrder, GroupScope, PageRequest, ProjectFilter, ProjectOrder};

/// Groups on one page of the list, and projects on one page of a group's.
const PER_PAGE: i64 = 20;
/// The most subgroups a group's page lists (the rest are counted).
const MAX_SUBGROUPS: i64 = 100;

/// A group's page.
pub(super) fn group_path(full_path: &str) -> String {
    format!("/groups/{full_path}")
}

/// Who looks, as the store's lists take it.
fn store_viewer<'a>(user: Option<&User>, today: &'a str) -> crate::store::Viewer<'a> {
    crate::store::Viewer {
        user_id: user.map(|u| u.id),
        is_admin: user.is_some_and(|u| u.is_admin),
        today,
    }
}

/// The list's query.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    /// `member` for the viewer's own groups; anything else: every group they may see.
    #[serde(default)]
    scope: String,
    #[serde(default)]
    search: String,
    page: Option<String>,
}

impl ListQuery {
    fn mine(&self) -> bool {
        self.scope == "member"
    }

    fn search(&self) -> Option<&str> {
        Some(self.search.trim()).filter(|s| !s.is_empty())
    }

    /// The list's address with these filters, on `page` when given.
    fn href(&self, mine: bool, page: Option<i64>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if mine {
            q.append_pair("scope", "member");
        }
        if let Some(s) = self.search() {
            q.append_pair("search", s);
        }
        if let Some(n) = page {
            q.append_pair("page", &n.to_string());
        }
        let q = q.finish();
        if q.is_empty() {
            "/dashboard/groups".to_owned()
        } else {
            format!("/dashboard/groups?{q}")
        }
    }
}

fn groups_table(groups: &[Group], caption: &str) -> Markup {
    html! {
        div class="table-wrap" {
            table class="responsive groups" {
                caption class="visually-hidden" { (caption) }
                thead {
                    tr {
                        th scope="col" { "Group" }
                        th scope="col" { "Visibility" }
                        th scope="col" { "Description" }
                    }
                }
                tbody {
                    @for g in groups {
                        tr data-group=(g.namespace.full_path) {
                            td data-label="Group" {
                                a href=(group_path(&g.namespace.full_path)) { (g.namespace.full_name) }
                                br;
                                code class="muted" { (g.namespace.full_path) }
                            }
                            td data-label="Visibility" { (visibility_word(g.namespace.visibility)) }
                            td data-label="Description" { (g.description.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

fn projects_table(projects: &[Project], now: Millis) -> Markup {
    html! {
        div class="table-wrap" {
            table class="responsive projects" {
                caption class="visually-hidden" { "Projects of this group" }
                thead {
                    tr {
                        th scope="col" { "Project" }
                        th scope="col" { "Visibility" }
                        th scope="col" { "Description" }
                        th scope="col" { "Last activity" }
                    }
                }
                tbody {
                    @for p in projects {
                        tr data-project=(p.full_path()) {
                            td data-label="Project" {
                                a href={ "/" (p.full_path()) } { (p.name) }
                                br;
                                code class="muted" { (p.full_path()) }
                            }
                            td data-label="Visibility" { (visibility_word(p.visibility)) }
                            td data-label="Description" { (p.description.as_deref().unwrap_or("")) }
                            td data-label="Last activity" { (time_ago(Some(p.last_activity_at), now)) }
                        }
                    }
                }
            }
        }
    }
}

// GET /dashboard/groups
async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    let today = today(&state);
    let filter = GroupFilter {
        search: q.search().map(str::to_owned),
        all_available: !q.mine(),
        order: GroupOrder::Path,
        ascending: true,
        ..GroupFilter::default()
    };
    let pages = Pages::at(q.page.as_deref(), PER_PAGE);
    let paged = state
        .store
        .groups_for(
            store_viewer(Some(&viewer.user), &today),
            &filter,
            pages.request(),
        )
        .await?;
    let groups: Vec<Group> = paged.items.into_iter().map(|(g, _)| g).collect();
    let body = html! {
        div class="heading-row" {
            h1 { "Groups" }
            a class="button" href="/groups/new" { "New group" }
        }
        nav class="tabs" aria-label="Which groups" {
            a href=(q.href(false, None)) aria-current=[(!q.mine()).then_some("page")] { "All" }
            a href=(q.href(true, None)) aria-current=[q.mine().then_some("page")] { "Yours" }
        }
        form class="filters" method="get" action="/dashboard/groups" role="search" {
            @if q.mine() { input type="hidden" name="scope" value="member"; }
            div class="field" {
                label for="group_search" { "Search by name or path" }
                input type="search" id="group_search" name="search" value=(q.search);
            }
            div { button type="submit" { "Search" } }
        }
        @if groups.is_empty() {
            p class="empty" {
                @if q.search().is_some() { "No groups match this search." }
                @else { "No groups to show yet. " a href="/groups/new" { "Create a group" } "." }
            }
        } @else {
            (groups_table(&groups, "Groups"))
            (pager(&pages, paged.total, |n| q.href(q.mine(), Some(n))))
        }
    };
    Ok(page(&state, &viewer, "Groups", body))
}

/// The group page's query: the page of its projects.
#[derive(Debug, Default, Deserialize)]
struct GroupQuery {
    page: Option<String>,
}

/// The group's ancestors, each linking to its page, then the group.
fn breadcrumb(group: &Group) -> Markup {
    let segments: Vec<&str> = group.namespace.full_path.split('/').collect();
    html! {
        nav aria-label="Breadcrumb" class="breadcrumb" {
            a href="/dashboard/groups" { "Groups" }
            @for depth in 1..segments.len() {
                " / " a href=(group_path(&segments[..depth].join("/"))) { (segments[depth - 1]) }
            }
            " / " span aria-current="page" { (group.namespace.path()) }
        }
    }
}

// GET /groups/<full path>
async fn show(
    State(state): State<AppState>,
    Path(path): Path<String>,
    MaybeViewer(viewer): MaybeViewer,
    csrf: AnonymousCsrf,
    Query(q): Query<GroupQuery>,
) -> Result<Response, WebError> {
    let path = path.trim_end_matches('/');
    let user = viewer.as_ref().map(|v| &v.user);
    // A number would be read as a group's id: pages are only at paths.
    if path.is_empty() || path.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebError::NotFound);
    }
    let (group, caller) = match find_group(&state, path, user).await {
        Ok(found) => found,
        Err(ServiceError::Unauthenticated) => {
            return Err(WebError::SignIn(group_path(path)));
        }
        Err(e) => return Err(e.into()),
    };
    if group.namespace.full_path != path {
        // Paths are case-insensitive: the page lives at the group's own spelling.
        let query = q.page.map(|p| format!("?page={p}")).unwrap_or_default();
        return Ok(Redirect::to(&format!(
            "{}{query}",
            group_path(&group.namespace.full_path)
        ))
        .into_response());
    }
    let today = today(&state);
    let who = store_viewer(user, &today);
    let subgroups = state
        .store
        .groups_for(
            who,
            &GroupFilter {
                scope: GroupScope::Children(group.id()),
                all_available: true,
                order: GroupOrder::Name,
                ascending: true,
                ..GroupFilter::default()
            },
            PageRequest {
                page: 1,
                per_page: MAX_SUBGROUPS,
            },
        )
        .await?;
    let pages = Pages::at(q.page.as_deref(), PER_PAGE);
    let projects = state
        .store
        .projects_for(
            who,
            true,
            &ProjectFilter {
                group: Some((group.id(), false)),
                order: ProjectOrder::Name,
                ascending: true,
                ..ProjectFilter::default()
            },
            pages.request(),
        )
        .await?;
    let subgroup_list: Vec<Group> = subgroups.items.into_iter().map(|(g, _)| g).collect();
    let project_list: Vec<Project> = projects.items.into_iter().map(|(p, _)| p).collect();
    let may_subgroup = user.is_some() && caller.can_create_subgroup(group.subgroup_creation_level);
    let may_project =
        user.is_some() && caller.can_create_project_in_group(group.project_creation_level);
    let here = group_path(&group.namespace.full_path);
    let now = state.now_ms();
    let body = html! {
        (breadcrumb(&group))
        div class="heading-row" {
            h1 { (group.namespace.name) }
            div class="actions" {
                @if may_subgroup {
                    a class="button secondary" href={ "/groups/new?parent_id=" (group.id()) } {
                        "New subgroup"
                    }
                    " "
                }
                @if may_project {
                    a class="button" href={ "/projects/new?namespace_id=" (group.id()) } {
                        "New project"
                    }
                }
            }
        }
        p class="muted" {
            code { (group.namespace.full_path) } " · " (visibility_word(group.namespace.visibility))
        }
        @if let Some(d) = group.description.as_deref().filter(|d| !d.is_empty()) {
            p class="description" { (d) }
        }
        section class="subgroups" {
            h2 { "Subgroups " span class="muted" { "(" (subgroups.total) ")" } }
            @if subgroup_list.is_empty() {
                p class="muted" { "No subgroups." }
            } @else {
                (groups_table(&subgroup_list, "Subgroups of this group"))
                @if subgroups.total > subgroup_list.len() as i64 {
                    p class="muted" { "And " (subgroups.total - subgroup_list.len() as i64) " more." }
                }
            }
        }
        section class="group-projects" {
            h2 { "Projects " span class="muted" { "(" (projects.total) ")" } }
            @if project_list.is_empty() {
                p class="muted" { "No projects." }
            } @else {
                (projects_table(&project_list, now))
                (pager(&pages, projects.total, |n| format!("{here}?page={n}")))
            }
        }
    };
    let title = group.namespace.full_name.clone();
    Ok(match &viewer {
        Some(v) => page(&state, v, &title, body),
        None => anonymous_page(&state, &csrf, &title, body).into_response(),
    })
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/groups", get(list))
        .route("/groups/{*path}", get(show))
}
