//! How a pull mirror reads on every page that shows one (the project's overview, its
//! repository settings, the dashboard): direction "Pull", the upstream only masked, the status
//! badge with "Paused" beside it, the last sync and last successful sync, the refs the last sync
//! skipped as diverged (by name), the scrubbed last error, and the "Update now" button
//! (`/-/pull_mirror/update_now` below the project, handled in `settings/pull_mirror.rs`).

use maud::{html, Markup};

use super::layout::{csrf_field, status_badge, time_ago};
use super::session::Viewer;
use crate::model::entities::Millis;
use crate::model::pull::PullMirror;

/// The most diverged refs a cell names (the rest are counted).
const DIVERGED_SHOWN: usize = 10;

/// The status badge, and "Paused" after too many failures.
pub(super) fn status(m: &PullMirror) -> Markup {
    html! {
        (status_badge(m.update_status, m.settings.enabled))
        @if m.paused {
            " " span class="status status-failed" data-field="paused" { "Paused" }
        }
    }
}

/// The refs the last sync skipped because they diverged, short names first.
pub(super) fn diverged(m: &PullMirror) -> Markup {
    let short = |r: &str| {
        r.strip_prefix("refs/heads/")
            .or_else(|| r.strip_prefix("refs/tags/"))
            .unwrap_or(r)
            .to_owned()
    };
    html! {
        @if m.diverged_refs.is_empty() {
            span class="muted" { "None" }
        } @else {
            ul class="refs-list" {
                @for r in m.diverged_refs.iter().take(DIVERGED_SHOWN) {
                    li { code title=(r) { (short(r)) } }
                }
                @if m.diverged_refs.len() > DIVERGED_SHOWN {
                    li { "and " (m.diverged_refs.len() - DIVERGED_SHOWN) " more" }
                }
            }
        }
    }
}

/// The scrubbed last error, or "None".
pub(super) fn last_error(m: &PullMirror) -> Markup {
    html! {
        @match m.last_error.as_deref() {
            Some(e) if !e.is_empty() => span class="error-text" { (e) },
            _ => span class="muted" { "None" },
        }
    }
}

/// The "Update now" button of project `path`'s pull mirror, coming back to `back`.
pub(super) fn update_now(viewer: &Viewer, path: &str, back: &str) -> Markup {
    html! {
        form class="inline" method="post" action={ "/" (path) "/-/pull_mirror/update_now" } {
            (csrf_field(viewer))
            input type="hidden" name="redirect_to" value=(back);
            button type="submit" class="secondary" { "Update now" }
        }
    }
}

/// The one-mirror table of a project's pages; `actions` fills the last column when given.
pub(super) fn table(m: &PullMirror, now: Millis, actions: Option<Markup>) -> Markup {
    html! {
        div class="table-wrap" {
            table class="responsive mirrors pull-mirrors" {
                caption class="visually-hidden" { "The pull mirror of this project" }
                thead {
                    tr {
                        th scope="col" { "Direction" }
                        th scope="col" { "URL" }
                        th scope="col" { "Status" }
                        th scope="col" { "Last sync" }
                        th scope="col" { "Last successful sync" }
                        th scope="col" { "Diverged refs" }
                        th scope="col" { "Last error" }
                        @if actions.is_some() { th scope="col" { "Actions" } }
                    }
                }
                tbody {
                    tr data-pull-mirror-id=(m.id) {
                        td data-label="Direction" { "Pull" }
                        td data-label="URL" { code { (m.upstream.safe_url()) } }
                        td data-label="Status" data-field="status" { (status(m)) }
                        td data-label="Last sync" data-field="last_update" {
                            (time_ago(m.last_update_at, now))
                        }
                        td data-label="Last successful sync" data-field="last_successful" {
                            (time_ago(m.last_successful_update_at, now))
                        }
                        td data-label="Diverged refs" data-field="diverged_refs" { (diverged(m)) }
                        td data-label="Last error" data-field="last_error" { (last_error(m)) }
                        @if let Some(a) = &actions { td class="actions" data-label="Actions" { (a) } }
                    }
                }
            }
        }
    }
}
