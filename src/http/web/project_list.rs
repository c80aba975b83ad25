//! `/dashboard/projects`: the projects a person may see, as the API's project list decides
//! (`Store::projects_for`, the same query as `GET /projects`), most recently active first:
//! "All" of them or only "Yours" (those they are a member of), a search by name or path, 20 to
//! a page with "Previous" and "Next", and the "New project" button.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::error::WebError;
use super::layout::{page, time_ago};
use super::pagination::{pager, Pages};
use super::session::Viewer;
use crate::http::AppState;
use crate::model::entities::{Millis, Project};
use crate::service::auth::today;
use crate::store::{ProjectFilter, ProjectOrder};

/// Projects on one page of the list.
const PER_PAGE: i64 = 20;

/// The list's query: which projects, which page.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    /// `member` for the viewer's own projects; anything else: every project they may see.
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

    /// This list's address with another page (and the same filters).
    fn with_page(&self, page: i64) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if self.mine() {
            q.append_pair("scope", "member");
        }
        if let Some(s) = self.search() {
            q.append_pair("search", s);
        }
        q.append_pair("page", &page.to_string());
        format!("/dashboard/projects?{}", q.finish())
    }
}

/// The "All" and "Yours" tabs (links that keep the search).
fn tabs(q: &ListQuery) -> Markup {
    let link = |member: bool| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if member {
            s.append_pair("scope", "member");
        }
        if let Some(search) = q.search() {
            s.append_pair("search", search);
        }
        let s = s.finish();
        if s.is_empty() {
            "/dashboard/projects".to_owned()
        } else {
            format!("/dashboard/projects?{s}")
        }
    };
    html! {
        nav class="tabs" aria-label="Which projects" {
            a href=(link(false)) aria-current=[(!q.mine()).then_some("page")] { "All" }
            a href=(link(true)) aria-current=[q.mine().then_some("page")] { "Yours" }
        }
    }
}

fn table(projects: &[Project], now: Millis) -> Markup {
    html! {
        div class="table-wrap" {
            table class="responsive projects" {
                caption class="visually-hidden" { "Projects" }
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
                                a href={ "/" (p.full_path()) } { (p.namespace.full_name) " / " (p.name) }
                                br;
                                code class="muted" { (p.full_path()) }
                            }
                            td data-label="Visibility" { (visibility_word(p.visibility)) }
                            td data-label="Description" {
                                (p.description.as_deref().unwrap_or(""))
                            }
                            td data-label="Last activity" { (time_ago(Some(p.last_activity_at), now)) }
                        }
                    }
                }
            }
        }
    }
}

/// A visibility as the forms word it.
pub(super) fn visibility_word(v: crate::model::access::Visibility) -> &'static str {
    use crate::model::access::Visibility;
    match v {
        Visibility::Private => "Private",
        Visibility::Internal => "Internal",
        Visibility::Public => "Public",
    }
}

// GET /dashboard/projects
async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    let today = today(&state);
    let who = crate::store::Viewer {
        user_id: Some(viewer.user.id),
        is_admin: viewer.user.is_admin,
        today: &today,
    };
    let filter = ProjectFilter {
        search: q.search().map(str::to_owned),
        membership: q.mine(),
        order: ProjectOrder::LastActivityAt,
        ..ProjectFilter::default()
    };
    let pages = Pages::at(q.page.as_deref(), PER_PAGE);
    let paged = state
        .store
        .projects_for(who, true, &filter, pages.request())
        .await?;
    let projects: Vec<Project> = paged.items.into_iter().map(|(p, _)| p).collect();
    let now = state.now_ms();
    let body = html! {
        div class="heading-row" {
            h1 { "Projects" }
            a class="button" href="/projects/new" { "New project" }
        }
        (tabs(&q))
        form class="filters" method="get" action="/dashboard/projects" role="search" {
            @if q.mine() { input type="hidden" name="scope" value="member"; }
            div class="field" {
                label for="project_search" { "Search by name or path" }
                input type="search" id="project_search" name="search" value=(q.search);
            }
            div { button type="submit" { "Search" } }
        }
        @if projects.is_empty() {
            p class="empty" {
                @if q.search().is_some() { "No projects match this search." }
                @else if q.mine() { "You are not a member of any project yet. " a href="/projects/new" { "Create a project" } "." }
                @else { "No projects to show yet. " a href="/projects/new" { "Create a project" } "." }
            }
        } @else {
            (table(&projects, now))
            (pager(&pages, paged.total, |n| q.with_page(n)))
        }
    };
    Ok(page(&state, &viewer, "Projects", body))
}

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/dashboard/projects", get(list))
}
