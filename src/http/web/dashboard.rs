//! `/`: the mirror dashboard, every mirror the viewer may see across projects (push mirrors, and
//! pull mirrors beside them in a table of their own), failing ones
//! first ([`crate::service::dashboard`] decides which and in what order), with counts at the
//! top and status and project filters as a plain GET form. The table subscribes to the live
//! stream (`live.rs`) with the same filters, and this module renders the cells both the page
//! and the stream's events carry, so an update looks exactly like a reload.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::error::WebError;
use super::layout::{page, status_badge, time_ago};
use super::pull_mirrors;
use super::session::Viewer;
use crate::http::AppState;
use crate::model::entities::Millis;
use crate::service::dashboard::{
    is_failing, mirror_health, pull_is_failing, pull_mirror_health, Behind, Counts, MirrorHealth,
    PullHealth, StatusFilter,
};

/// How many hex digits of a commit id a person reads.
const SHORT_SHA: usize = 8;

/// The dashboard's filters (also the live stream's query).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Filters {
    /// A [`StatusFilter`] spelling; empty or unknown: every status.
    #[serde(default)]
    pub status: String,
    /// A project's full path; empty: every project.
    #[serde(default)]
    pub project: String,
}

impl Filters {
    pub(super) fn status(&self) -> Option<StatusFilter> {
        StatusFilter::parse(&self.status)
    }

    pub(super) fn project(&self) -> Option<&str> {
        Some(self.project.as_str()).filter(|p| !p.is_empty())
    }

    /// The live stream's URL for these filters.
    fn stream_url(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(f) = self.status() {
            q.append_pair("status", f.as_str());
        }
        if let Some(p) = self.project() {
            q.append_pair("project", p);
        }
        let q = q.finish();
        if q.is_empty() {
            super::stream_url::STREAM.to_owned()
        } else {
            format!("{}?{q}", super::stream_url::STREAM)
        }
    }
}

/// "42 mirrors" and "2 failing", as the page and the stream's counts event write them.
pub(super) fn count_texts(c: &Counts) -> (String, String) {
    let total = format!("{} mirror{}", c.total, if c.total == 1 { "" } else { "s" });
    (total, format!("{} failing", c.failing))
}

/// The cells a live update replaces, by their `data-field` name, rendered as on the page.
pub(super) fn cells(m: &MirrorHealth, now: Millis) -> [(&'static str, Markup); 5] {
    let s = &m.mirror;
    [
        ("status", status_badge(s.update_status, s.enabled)),
        ("last_update", time_ago(s.last_update_at, now)),
        (
            "last_successful",
            time_ago(s.last_successful_update_at, now),
        ),
        ("last_error", last_error(s.last_error.as_deref())),
        ("behind", behind(&m.behind, now)),
    ]
}

fn last_error(error: Option<&str>) -> Markup {
    html! {
        @match error {
            Some(e) if !e.is_empty() => span class="error-text" { (e) },
            _ => span class="muted" { "None" },
        }
    }
}

fn behind(b: &Behind, now: Millis) -> Markup {
    html! {
        @match b {
            Behind::InSync => span class="in-sync" { "In sync" },
            Behind::Unknown => span class="muted" { "Unknown" },
            Behind::Behind { commit: Some(c), since } => span class="behind" {
                code title=(c) { (c.get(..SHORT_SHA).unwrap_or(c)) }
                " not on the mirror, since " (time_ago(Some(*since), now))
            },
            Behind::Behind { commit: None, since } => span class="behind" {
                "Changes waiting since " (time_ago(Some(*since), now))
            },
        }
    }
}

fn row(m: &MirrorHealth, now: Millis) -> Markup {
    let [status, _, last_successful, error, behind] = cells(m, now);
    html! {
        tr data-mirror-id=(m.mirror.id) data-failing=(is_failing(&m.mirror)) {
            td data-label="Project" { a href={ "/" (m.project_path) } { (m.project_path) } }
            td data-label="URL" { code { (m.mirror.safe_url()) } }
            td data-label="Status" data-field=(status.0) { (status.1) }
            td data-label="Last successful update" data-field=(last_successful.0) {
                (last_successful.1)
            }
            td data-label="Behind" data-field=(behind.0) { (behind.1) }
            td data-label="Last error" data-field=(error.0) { (error.1) }
        }
    }
}

fn filter_form(filters: &Filters, projects: &[&str]) -> Markup {
    let status = filters.status();
    html! {
        form class="filters" method="get" action="/" {
            div class="field" {
                label for="filter-status" { "Status" }
                select id="filter-status" name="status" {
                    option value="" selected[status.is_none()] { "All statuses" }
                    @for f in StatusFilter::ALL {
                        option value=(f.as_str()) selected[status == Some(f)] { (f.label()) }
                    }
                }
            }
            div class="field" {
                label for="filter-project" { "Project" }
                select id="filter-project" name="project" {
                    option value="" selected[filters.project().is_none()] { "All projects" }
                    @for p in projects {
                        option value=(p) selected[filters.project() == Some(*p)] { (p) }
                    }
                }
            }
            div { button type="submit" { "Filter" } }
        }
    }
}

/// The pull mirrors beside the push mirrors: what each pulls from, its status, its last sync,
/// the refs it skipped as diverged and its error; failing and paused ones first. Nothing when
/// the viewer sees none.
fn pull_section(pulls: &[PullHealth], now: Millis) -> Markup {
    let failing = pulls.iter().filter(|p| pull_is_failing(&p.mirror)).count();
    html! {
        @if !pulls.is_empty() {
            section class="pull-dashboard" {
                h2 {
                    "Pull mirrors "
                    span class="muted" { "(" (pulls.len()) ", " (failing) " failing)" }
                }
                div class="table-wrap" {
                    table class="responsive mirrors pull-mirrors" {
                        caption class="visually-hidden" { "Pull mirrors, failing first" }
                        thead {
                            tr {
                                th scope="col" { "Project" }
                                th scope="col" { "Direction" }
                                th scope="col" { "URL" }
                                th scope="col" { "Status" }
                                th scope="col" { "Last sync" }
                                th scope="col" { "Diverged refs" }
                                th scope="col" { "Last error" }
                            }
                        }
                        tbody {
                            @for p in pulls {
                                tr data-pull-mirror-id=(p.mirror.id)
                                    data-failing=(pull_is_failing(&p.mirror)) {
                                    td data-label="Project" {
                                        a href={ "/" (p.project_path) } { (p.project_path) }
                                    }
                                    td data-label="Direction" { "Pull" }
                                    td data-label="URL" { code { (p.mirror.upstream.safe_url()) } }
                                    td data-label="Status" data-field="status" {
                                        (pull_mirrors::status(&p.mirror))
                                    }
                                    td data-label="Last sync" data-field="last_update" {
                                        (time_ago(p.mirror.last_update_at, now))
                                    }
                                    td data-label="Diverged refs" data-field="diverged_refs" {
                                        (pull_mirrors::diverged(&p.mirror))
                                    }
                                    td data-label="Last error" data-field="last_error" {
                                        (pull_mirrors::last_error(&p.mirror))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /`: the dashboard.
async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(filters): Query<Filters>,
) -> Result<Response, WebError> {
    let all = mirror_health(&state, &viewer.user, None).await?;
    let pulls = pull_mirror_health(&state, &viewer.user, None).await?;
    let now = state.now_ms();
    let mut projects: Vec<&str> = all
        .iter()
        .map(|m| m.project_path.as_str())
        .chain(pulls.iter().map(|p| p.project_path.as_str()))
        .collect();
    projects.sort_unstable();
    projects.dedup();
    let in_project: Vec<&MirrorHealth> = all
        .iter()
        .filter(|m| {
            filters
                .project()
                .is_none_or(|p| m.project_path.eq_ignore_ascii_case(p))
        })
        .collect();
    let counts = Counts::of(in_project.iter().copied());
    let (total_text, failing_text) = count_texts(&counts);
    let shown: Vec<&MirrorHealth> = in_project
        .into_iter()
        .filter(|m| filters.status().is_none_or(|f| f.admits(&m.mirror)))
        .collect();
    let body = html! {
        section class="dashboard" data-live-mirrors=(filters.stream_url()) data-live-sort {
            h1 { "Mirrors" }
            p class="counts" {
                span data-count="total" { (total_text) } ", "
                span data-count="failing" class=[(counts.failing > 0).then_some("error-text")] {
                    (failing_text)
                }
            }
            @if all.is_empty() && pulls.is_empty() {
                p class="empty" {
                    "No mirrors to show yet. Mirrors of projects where you are a Developer or \
                     more appear here; a Maintainer adds them in a project's Settings → Repository."
                }
            } @else {
                (filter_form(&filters, &projects))
                @if all.is_empty() {
                    p class="muted" { "No push mirrors." }
                } @else if shown.is_empty() {
                    p class="empty" { "No mirrors match these filters." }
                } @else {
                    div class="table-wrap" {
                        table class="responsive mirrors" {
                            caption class="visually-hidden" { "Mirrors, failing first" }
                            thead {
                                tr {
                                    th scope="col" { "Project" }
                                    th scope="col" { "URL" }
                                    th scope="col" { "Status" }
                                    th scope="col" { "Last successful update" }
                                    th scope="col" { "Behind" }
                                    th scope="col" { "Last error" }
                                }
                            }
                            tbody {
                                @for m in &shown { (row(m, now)) }
                            }
                        }
                    }
                }
            }
        }
    };
    let shown_pulls: Vec<PullHealth> = pulls
        .iter()
        .filter(|p| {
            filters
                .project()
                .is_none_or(|f| p.project_path.eq_ignore_ascii_case(f))
                && filters.status().is_none_or(|f| f.admits_pull(&p.mirror))
        })
        .cloned()
        .collect();
    let body = html! { (body) (pull_section(&shown_pulls, now)) };
    Ok(page(&state, &viewer, "Mirrors", body))
}

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/", get(show))
}
