//! `GET /-/mirrors/stream[?project=<full path>][&status=<filter>]`: the dashboard's (and any
//! mirror table's) live updates as server-sent events, for the signed-in viewer and exactly
//! the mirrors [`crate::service::dashboard::mirror_health`] shows them.
//!
//! The stream polls the database ([`POLL_INTERVAL`], one statement per poll) rather than
//! listening to this process: an update recorded by another node on the same PostgreSQL
//! database shows up as fast as one recorded here. Events, each `data` a JSON object:
//! - `mirror` — `{"id", "failing", "cells": {"status", "last_update", "last_successful",
//!   "last_error", "behind"}}`, each cell the HTML the page renders in the cell with that
//!   `data-field`; sent for every mirror when the stream starts, then whenever one changes;
//! - `removed` — `{"id"}`: a mirror no longer shown (deleted, filtered out, access lost);
//! - `counts` — `{"total": "42 mirrors", "failing": "2 failing", …}` when they change;
//! - `signed_out` — the session ended (re-checked every [`SESSION_RECHECK`]); the stream ends.
//!
//! The stream also ends as soon as the server begins to stop, so it never holds shutdown's
//! grace period for in-flight requests.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::json;

use super::dashboard::{cells, count_texts, Filters};
use super::session::Viewer;
use crate::http::AppState;
use crate::model::entities::User;
use crate::service::dashboard::{is_failing, mirror_health, Counts, MirrorHealth};

/// How often the stream asks the database: well inside the one second, and one cheap
/// statement per viewer each time (BENCHMARKS.md, dashboard).
const POLL_INTERVAL: Duration = Duration::from_millis(400);
/// How often the stream checks that its session still holds (signed out, expired, blocked).
const SESSION_RECHECK: Duration = Duration::from_secs(5);

/// One viewer's stream between polls: what it sent last, to send only changes.
struct Poller {
    state: AppState,
    user: User,
    session: String,
    filters: Filters,
    sent: HashMap<i64, MirrorHealth>,
    counts: Option<Counts>,
    started: bool,
    session_checked: Instant,
    ended: bool,
}

/// The events that bring a page showing `sent` and `counts` up to `list` (`all_counts`
/// counted before the status filter, as the page counts).
fn changes(
    sent: &mut HashMap<i64, MirrorHealth>,
    counts: &mut Option<Counts>,
    list: Vec<MirrorHealth>,
    all_counts: Counts,
    now: i64,
) -> Vec<Event> {
    let mut events = Vec::new();
    let mut seen = HashMap::with_capacity(list.len());
    for m in list {
        let id = m.mirror.id;
        if sent.get(&id) != Some(&m) {
            let cells: serde_json::Map<String, serde_json::Value> = cells(&m, now)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.into_string().into()))
                .collect();
            let data = json!({"id": id, "failing": is_failing(&m.mirror), "cells": cells});
            events.push(Event::default().event("mirror").data(data.to_string()));
        }
        seen.insert(id, m);
    }
    let mut gone: Vec<i64> = sent
        .keys()
        .filter(|id| !seen.contains_key(id))
        .copied()
        .collect();
    gone.sort_unstable();
    for id in gone {
        events.push(
            Event::default()
                .event("removed")
                .data(json!({"id": id}).to_string()),
        );
    }
    *sent = seen;
    if *counts != Some(all_counts) {
        let (total, failing) = count_texts(&all_counts);
        let data = json!({
            "total": total,
            "failing": failing,
            "numbers": {"total": all_counts.total, "failing": all_counts.failing,
                        "retrying": all_counts.retrying},
        });
        events.push(Event::default().event("counts").data(data.to_string()));
        *counts = Some(all_counts);
    }
    events
}

impl Poller {
    /// Waits for the next poll and returns its events; `None` ends the stream.
    async fn next(&mut self) -> Option<Vec<Event>> {
        let shutdown = &self.state.shutdown;
        if self.ended || shutdown.jobs_stopping() {
            return None;
        }
        if self.started {
            // Stopping begins by stopping jobs; requests are drained after, so this stream
            // ends at the first stage rather than holding the grace period.
            tokio::select! {
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = shutdown.jobs_cancelled() => return None,
            }
        }
        self.started = true;
        if self.session_checked.elapsed() >= SESSION_RECHECK {
            self.session_checked = Instant::now();
            match crate::service::sessions::session_user(&self.state, &self.session).await {
                Ok(Some(user)) => self.user = user,
                Ok(None) => {
                    self.ended = true;
                    return Some(vec![Event::default().event("signed_out").data("{}")]);
                }
                Err(e) => tracing::warn!(error = %e, "cannot check a live stream's session"),
            }
        }
        let list = match mirror_health(&self.state, &self.user, self.filters.project()).await {
            Ok(list) => list,
            Err(e) => {
                // A database blip: try again at the next poll.
                tracing::warn!(error = %e, "a live mirror poll failed");
                return Some(Vec::new());
            }
        };
        let all_counts = Counts::of(&list);
        let status = self.filters.status();
        let list: Vec<MirrorHealth> = list
            .into_iter()
            .filter(|m| status.is_none_or(|f| f.admits(&m.mirror)))
            .collect();
        let now = self.state.now_ms();
        Some(changes(
            &mut self.sent,
            &mut self.counts,
            list,
            all_counts,
            now,
        ))
    }
}

fn events(poller: Poller) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    stream::unfold(poller, |mut p| async move {
        p.next().await.map(|events| (events, p))
    })
    .flat_map(|events| stream::iter(events.into_iter().map(Ok)))
}

/// `GET /-/mirrors/stream`: the live updates of the mirrors the viewer sees.
async fn stream(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(filters): Query<Filters>,
) -> Response {
    let poller = Poller {
        session: viewer.session().to_owned(),
        user: viewer.user,
        state,
        filters,
        sent: HashMap::new(),
        counts: None,
        started: false,
        session_checked: Instant::now(),
        ended: false,
    };
    Sse::new(events(poller))
        .keep_alive(KeepAlive::default())
        .into_response()
}

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/-/mirrors/stream", get(stream))
}
