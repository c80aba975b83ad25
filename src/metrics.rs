//! The server's Prometheus metrics: counters, gauges and histograms kept in memory by this node
//! and rendered in the text exposition format at `/-/metrics`. Label sets are bounded by
//! construction: HTTP requests by route *template* and status, updates and failures by a fixed
//! set of words, in-flight updates by remote host (at most [`MAX_HOSTS`] hosts, the rest as
//! `other`), never a label per mirror, project or user. Gauges that describe the shared queue
//! (depth, oldest wanted update) are read from the database when scraped and passed in.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Most distinct remote hosts labelled; updates to any further host count as `other`.
pub const MAX_HOSTS: usize = 64;

/// Upper bounds (seconds) of the update duration histogram's buckets.
const UPDATE_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
];
/// Upper bounds (seconds) of the HTTP request duration histogram's buckets.
const HTTP_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

/// A histogram with fixed buckets.
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// The sum of observations, in microseconds (integral so it can be atomic).
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, secs: f64) {
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros
            .fetch_add((secs.max(0.0) * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str) {
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let n = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {n}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {n}");
    }
}

/// What the queue looks like, read from the database at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueGauges {
    /// Mirror updates wanted (due now or waiting for a retry).
    pub mirror_updates_wanted: i64,
    /// Mirror updates due now (not waiting for a retry), including running ones.
    pub mirror_updates_due: i64,
    /// Seconds since the oldest wanted mirror update was first asked for (0 when none).
    pub oldest_wanted_update_age_secs: f64,
    /// Jobs of every kind in the queue.
    pub jobs: i64,
}

/// This node's metrics.
pub struct Metrics {
    http_requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    http_duration: Histogram,
    updates: Mutex<BTreeMap<&'static str, u64>>,
    update_duration: Histogram,
    retries: AtomicU64,
    in_flight: Mutex<BTreeMap<String, i64>>,
    failures: Mutex<BTreeMap<&'static str, u64>>,
    deliveries: Mutex<BTreeMap<&'static str, u64>>,
    /// Per LFS host (at most [`MAX_HOSTS`], the rest `other`): bytes and objects mirrors
    /// uploaded, objects that failed.
    lfs: Mutex<BTreeMap<String, [u64; 3]>>,
    /// The same for pull mirrors and imports: bytes and objects fetched from an upstream's LFS
    /// host, objects that failed.
    lfs_fetch: Mutex<BTreeMap<String, [u64; 3]>>,
    /// Bytes of git LFS objects hosted: received by uploads, sent by downloads.
    lfs_uploaded: AtomicU64,
    lfs_downloaded: AtomicU64,
    /// The built-in SSH server: connections accepted, authentications by result, connections
    /// and commands refused by a limit, commands running, and how long each took.
    ssh_connections: AtomicU64,
    ssh_auth: Mutex<BTreeMap<&'static str, u64>>,
    ssh_refused: Mutex<BTreeMap<&'static str, u64>>,
    ssh_in_flight: std::sync::atomic::AtomicI64,
    ssh_duration: Histogram,
    /// Pull-mirror syncs that ended, by one of [`PULL_SYNC_RESULTS`], and how long each took.
    pull_syncs: Mutex<BTreeMap<&'static str, u64>>,
    pull_sync_duration: Histogram,
}

/// The results `pushmirror_pull_syncs_total` counts (its bounded label set): a clean sync, one
/// that left diverged refs behind, a failure to be retried, and one that paused the mirror.
pub const PULL_SYNC_RESULTS: [&str; 4] = ["finished", "diverged", "to_retry", "failed"];

/// The results `pushmirror_ssh_auth_total` counts (its bounded label set).
pub const SSH_AUTH_RESULTS: [&str; 6] = [
    "accepted",
    "unknown_key",
    "expired_key",
    "blocked_user",
    "wrong_user",
    "error",
];

/// The limits `pushmirror_ssh_refused_total` counts refusals by.
pub const SSH_REFUSALS: [&str; 3] = [
    "unauthenticated_per_ip",
    "handshake_timeout",
    "sessions_per_user",
];

/// Which way LFS bytes moved through the hosting side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LfsTransfer {
    Upload,
    Download,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            http_requests: Mutex::default(),
            http_duration: Histogram::new(&HTTP_BUCKETS),
            updates: Mutex::default(),
            update_duration: Histogram::new(&UPDATE_BUCKETS),
            retries: AtomicU64::new(0),
            in_flight: Mutex::default(),
            failures: Mutex::default(),
            deliveries: Mutex::default(),
            lfs: Mutex::default(),
            lfs_fetch: Mutex::default(),
            lfs_uploaded: AtomicU64::new(0),
            lfs_downloaded: AtomicU64::new(0),
            ssh_connections: AtomicU64::new(0),
            ssh_auth: Mutex::default(),
            ssh_refused: Mutex::default(),
            ssh_in_flight: std::sync::atomic::AtomicI64::new(0),
            ssh_duration: Histogram::new(&UPDATE_BUCKETS),
            pull_syncs: Mutex::default(),
            pull_sync_duration: Histogram::new(&UPDATE_BUCKETS),
        }
    }
}

/// Adds `counts` (bytes, objects, failures) to `host`'s row of `map`, at most [`MAX_HOSTS`]
/// hosts (the rest `other`).
fn count_lfs(map: &Mutex<BTreeMap<String, [u64; 3]>>, host: &str, counts: [u64; 3]) {
    let mut map = map.lock().expect("metrics are never poisoned");
    let label = if map.contains_key(host) || map.len() < MAX_HOSTS {
        host.to_owned()
    } else {
        "other".to_owned()
    };
    let row = map.entry(label).or_insert([0; 3]);
    for (total, n) in row.iter_mut().zip(counts) {
        *total += n;
    }
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    *map.lock()
        .expect("metrics are never poisoned")
        .entry(key)
        .or_insert(0) += 1;
}

/// A label value with `\`, `"` and newlines escaped, as the text format wants.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The HTTP methods labelled by name; anything else is `other` (a bounded label).
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

impl Metrics {
    /// One HTTP request answered: `route` is a template (`/api/v4/projects/{id}`), never a raw path.
    pub fn http_request(&self, method: &str, route: &str, status: u16, secs: f64) {
        bump(
            &self.http_requests,
            (method_label(method), route.to_owned(), status),
        );
        self.http_duration.observe(secs);
    }

    /// One mirror update ended with `result` (`finished`, `to_retry` or `failed`) after `secs`;
    /// a failure also counts under its `kind` (see `model::git_failure::kind`).
    pub fn update_ended(
        &self,
        result: &'static str,
        secs: f64,
        failure_kind: Option<&'static str>,
    ) {
        bump(&self.updates, result);
        self.update_duration.observe(secs);
        if result == "to_retry" {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(kind) = failure_kind {
            bump(&self.failures, kind);
        }
    }

    /// An update against `host` started; the returned guard counts it as in flight until dropped.
    pub fn update_started(&self, host: &str) -> InFlight<'_> {
        let mut map = self.in_flight.lock().expect("metrics are never poisoned");
        let label = if map.contains_key(host) || map.len() < MAX_HOSTS {
            host.to_owned()
        } else {
            "other".to_owned()
        };
        *map.entry(label.clone()).or_insert(0) += 1;
        InFlight {
            metrics: self,
            host: label,
        }
    }

    /// LFS objects sent to `host` by one mirror update: `bytes` in `objects` uploaded, and
    /// `failures` objects that could not be.
    pub fn lfs_uploaded(&self, host: &str, bytes: u64, objects: u64, failures: u64) {
        count_lfs(&self.lfs, host, [bytes, objects, failures]);
    }

    /// LFS objects fetched from `host` by one pull-mirror sync or import: `bytes` in `objects`
    /// stored, and `failures` objects that could not be.
    pub fn lfs_fetched(&self, host: &str, bytes: u64, objects: u64, failures: u64) {
        count_lfs(&self.lfs_fetch, host, [bytes, objects, failures]);
    }

    /// One webhook delivery attempt ended with `result` (`success`, `failed`, `refused`).
    pub fn hook_delivery(&self, result: &'static str) {
        bump(&self.deliveries, result);
    }

    /// `bytes` of LFS objects moved by `transfer` (an upload counts once stored, a download as
    /// it is sent).
    pub fn lfs_transferred(&self, transfer: LfsTransfer, bytes: u64) {
        match transfer {
            LfsTransfer::Upload => &self.lfs_uploaded,
            LfsTransfer::Download => &self.lfs_downloaded,
        }
        .fetch_add(bytes, Ordering::Relaxed);
    }

    /// One pull-mirror sync ended with `result`, one of [`PULL_SYNC_RESULTS`] (anything else is
    /// not counted), after `secs`.
    pub fn pull_sync_ended(&self, result: &'static str, secs: f64) {
        if PULL_SYNC_RESULTS.contains(&result) {
            bump(&self.pull_syncs, result);
            self.pull_sync_duration.observe(secs);
        }
    }

    /// One SSH connection accepted.
    pub fn ssh_connection(&self) {
        self.ssh_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// One SSH authentication decided: `result` is one of [`SSH_AUTH_RESULTS`] (anything else
    /// counts as `error`).
    pub fn ssh_auth(&self, result: &'static str) {
        let result = SSH_AUTH_RESULTS
            .into_iter()
            .find(|r| *r == result)
            .unwrap_or("error");
        bump(&self.ssh_auth, result);
    }

    /// One SSH connection or command refused by a limit, one of [`SSH_REFUSALS`].
    pub fn ssh_refused(&self, limit: &'static str) {
        if SSH_REFUSALS.contains(&limit) {
            bump(&self.ssh_refused, limit);
        }
    }

    /// An SSH command started; the guard counts it in flight until dropped, then observes how
    /// long it ran.
    pub fn ssh_session_started(&self) -> SshSession<'_> {
        self.ssh_in_flight.fetch_add(1, Ordering::Relaxed);
        SshSession {
            metrics: self,
            started: std::time::Instant::now(),
        }
    }

    /// The text exposition of every metric, with the queue's gauges as read now.
    pub fn render(&self, queue: QueueGauges) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP pushmirror_build_info The running pushmirror build."
        );
        let _ = writeln!(out, "# TYPE pushmirror_build_info gauge");
        let _ = writeln!(
            out,
            "pushmirror_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );

        let _ = writeln!(out, "# HELP pushmirror_http_requests_total HTTP requests answered, by method, route template and status.");
        let _ = writeln!(out, "# TYPE pushmirror_http_requests_total counter");
        for ((method, route, status), n) in self.http_requests.lock().expect("metrics").iter() {
            let _ = writeln!(
                out,
                "pushmirror_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        let _ = writeln!(out, "# HELP pushmirror_http_request_duration_seconds Time to answer an HTTP request (to the response head).");
        let _ = writeln!(
            out,
            "# TYPE pushmirror_http_request_duration_seconds histogram"
        );
        self.http_duration
            .render(&mut out, "pushmirror_http_request_duration_seconds");

        let _ = writeln!(out, "# HELP pushmirror_lfs_transfer_bytes_total Bytes of git LFS objects hosted, by operation: received by uploads that were stored, sent by downloads.");
        let _ = writeln!(out, "# TYPE pushmirror_lfs_transfer_bytes_total counter");
        for (operation, n) in [
            ("upload", &self.lfs_uploaded),
            ("download", &self.lfs_downloaded),
        ] {
            let _ = writeln!(
                out,
                "pushmirror_lfs_transfer_bytes_total{{operation=\"{operation}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP pushmirror_mirror_updates_total Mirror updates that ended, by result."
        );
        let _ = writeln!(out, "# TYPE pushmirror_mirror_updates_total counter");
        {
            let updates = self.updates.lock().expect("metrics");
            for result in ["finished", "to_retry", "failed"] {
                let n = updates.get(result).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "pushmirror_mirror_updates_total{{result=\"{result}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP pushmirror_mirror_update_duration_seconds How long a mirror update took."
        );
        let _ = writeln!(
            out,
            "# TYPE pushmirror_mirror_update_duration_seconds histogram"
        );
        self.update_duration
            .render(&mut out, "pushmirror_mirror_update_duration_seconds");
        let _ = writeln!(out, "# HELP pushmirror_mirror_update_retries_total Mirror updates that failed and were scheduled to be retried.");
        let _ = writeln!(out, "# TYPE pushmirror_mirror_update_retries_total counter");
        let _ = writeln!(
            out,
            "pushmirror_mirror_update_retries_total {}",
            self.retries.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP pushmirror_mirror_update_failures_total Failed mirror updates, by what went wrong.");
        let _ = writeln!(
            out,
            "# TYPE pushmirror_mirror_update_failures_total counter"
        );
        for (kind, n) in self.failures.lock().expect("metrics").iter() {
            let _ = writeln!(
                out,
                "pushmirror_mirror_update_failures_total{{kind=\"{kind}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP pushmirror_mirror_updates_in_flight Mirror updates running on this node, by remote host.");
        let _ = writeln!(out, "# TYPE pushmirror_mirror_updates_in_flight gauge");
        for (host, n) in self.in_flight.lock().expect("metrics").iter() {
            let _ = writeln!(
                out,
                "pushmirror_mirror_updates_in_flight{{host=\"{}\"}} {n}",
                escape(host)
            );
        }

        let lfs = self.lfs.lock().expect("metrics").clone();
        let fetch = self.lfs_fetch.lock().expect("metrics").clone();
        for (rows, i, name, help) in [
            (
                &lfs,
                0,
                "uploaded_bytes",
                "Bytes of LFS objects mirrors uploaded, by LFS host.",
            ),
            (
                &lfs,
                1,
                "uploaded_objects",
                "LFS objects mirrors uploaded, by LFS host.",
            ),
            (
                &lfs,
                2,
                "failures",
                "LFS objects mirrors failed to upload, by LFS host.",
            ),
            (
                &fetch,
                0,
                "fetched_bytes",
                "Bytes of LFS objects pull mirrors and imports fetched, by LFS host.",
            ),
            (
                &fetch,
                1,
                "fetched_objects",
                "LFS objects pull mirrors and imports fetched, by LFS host.",
            ),
            (
                &fetch,
                2,
                "fetch_failures",
                "LFS objects pull mirrors and imports failed to fetch, by LFS host.",
            ),
        ] {
            let _ = writeln!(out, "# HELP pushmirror_lfs_{name}_total {help}");
            let _ = writeln!(out, "# TYPE pushmirror_lfs_{name}_total counter");
            for (host, counts) in rows {
                let _ = writeln!(
                    out,
                    "pushmirror_lfs_{name}_total{{host=\"{}\"}} {}",
                    escape(host),
                    counts[i]
                );
            }
        }

        let _ = writeln!(out, "# HELP pushmirror_mirror_updates_wanted Mirror updates asked for and not yet done (due or waiting to retry).");
        let _ = writeln!(out, "# TYPE pushmirror_mirror_updates_wanted gauge");
        let _ = writeln!(
            out,
            "pushmirror_mirror_updates_wanted {}",
            queue.mirror_updates_wanted
        );
        let _ = writeln!(
            out,
            "# HELP pushmirror_mirror_updates_due Mirror updates due now (queue depth)."
        );
        let _ = writeln!(out, "# TYPE pushmirror_mirror_updates_due gauge");
        let _ = writeln!(
            out,
            "pushmirror_mirror_updates_due {}",
            queue.mirror_updates_due
        );
        let _ = writeln!(out, "# HELP pushmirror_mirror_oldest_wanted_update_age_seconds Age of the oldest mirror update asked for and not yet done.");
        let _ = writeln!(
            out,
            "# TYPE pushmirror_mirror_oldest_wanted_update_age_seconds gauge"
        );
        let _ = writeln!(
            out,
            "pushmirror_mirror_oldest_wanted_update_age_seconds {}",
            queue.oldest_wanted_update_age_secs
        );
        let _ = writeln!(
            out,
            "# HELP pushmirror_jobs Jobs of every kind in the durable queue."
        );
        let _ = writeln!(out, "# TYPE pushmirror_jobs gauge");
        let _ = writeln!(out, "pushmirror_jobs {}", queue.jobs);

        let _ = writeln!(
            out,
            "# HELP pushmirror_hook_deliveries_total Webhook delivery attempts, by result."
        );
        let _ = writeln!(out, "# TYPE pushmirror_hook_deliveries_total counter");
        {
            let deliveries = self.deliveries.lock().expect("metrics");
            for result in ["success", "failed", "refused"] {
                let n = deliveries.get(result).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "pushmirror_hook_deliveries_total{{result=\"{result}\"}} {n}"
                );
            }
        }
        self.render_pull(&mut out);
        self.render_ssh(&mut out);
        out
    }

    fn render_pull(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP pushmirror_pull_syncs_total Pull-mirror syncs that ended, by result."
        );
        let _ = writeln!(out, "# TYPE pushmirror_pull_syncs_total counter");
        {
            let syncs = self.pull_syncs.lock().expect("metrics");
            for result in PULL_SYNC_RESULTS {
                let n = syncs.get(result).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "pushmirror_pull_syncs_total{{result=\"{result}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP pushmirror_pull_sync_duration_seconds How long a pull-mirror sync took."
        );
        let _ = writeln!(
            out,
            "# TYPE pushmirror_pull_sync_duration_seconds histogram"
        );
        self.pull_sync_duration
            .render(out, "pushmirror_pull_sync_duration_seconds");
    }

    fn render_ssh(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP pushmirror_ssh_connections_total Connections the built-in SSH server accepted."
        );
        let _ = writeln!(out, "# TYPE pushmirror_ssh_connections_total counter");
        let _ = writeln!(
            out,
            "pushmirror_ssh_connections_total {}",
            self.ssh_connections.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP pushmirror_ssh_auth_total SSH public-key authentications, by result."
        );
        let _ = writeln!(out, "# TYPE pushmirror_ssh_auth_total counter");
        {
            let auth = self.ssh_auth.lock().expect("metrics");
            for result in SSH_AUTH_RESULTS {
                let n = auth.get(result).copied().unwrap_or(0);
                let _ = writeln!(out, "pushmirror_ssh_auth_total{{result=\"{result}\"}} {n}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP pushmirror_ssh_refused_total SSH connections and commands refused by a limit."
        );
        let _ = writeln!(out, "# TYPE pushmirror_ssh_refused_total counter");
        {
            let refused = self.ssh_refused.lock().expect("metrics");
            for limit in SSH_REFUSALS {
                let n = refused.get(limit).copied().unwrap_or(0);
                let _ = writeln!(out, "pushmirror_ssh_refused_total{{limit=\"{limit}\"}} {n}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP pushmirror_ssh_sessions_in_flight SSH commands (clones, fetches, pushes) running."
        );
        let _ = writeln!(out, "# TYPE pushmirror_ssh_sessions_in_flight gauge");
        let _ = writeln!(
            out,
            "pushmirror_ssh_sessions_in_flight {}",
            self.ssh_in_flight.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP pushmirror_ssh_session_duration_seconds How long an SSH command ran."
        );
        let _ = writeln!(
            out,
            "# TYPE pushmirror_ssh_session_duration_seconds histogram"
        );
        self.ssh_duration
            .render(out, "pushmirror_ssh_session_duration_seconds");
    }
}

/// An SSH command counted in flight until this is dropped.
pub struct SshSession<'a> {
    metrics: &'a Metrics,
    started: std::time::Instant,
}

impl Drop for SshSession<'_> {
    fn drop(&mut self) {
        self.metrics.ssh_in_flight.fetch_sub(1, Ordering::Relaxed);
        self.metrics
            .ssh_duration
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// An update counted as in flight against a host until this is dropped.
pub struct InFlight<'a> {
    metrics: &'a Metrics,
    host: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut map = self
            .metrics
            .in_flight
            .lock()
            .expect("metrics are never poisoned");
        if let Some(n) = map.get_mut(&self.host) {
            *n -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.http_request("GET", "/api/v4/projects/{id}", 200, 0.003);
        m.http_request("GET", "/api/v4/projects/{id}", 200, 0.2);
        m.http_request("BREW", "/x\"y", 418, 0.2);
        m.update_ended("finished", 1.5, None);
        m.update_ended("to_retry", 0.4, Some("auth"));
        let text = m.render(QueueGauges {
            mirror_updates_wanted: 3,
            mirror_updates_due: 1,
            oldest_wanted_update_age_secs: 12.5,
            jobs: 4,
        });
        assert!(text.contains("pushmirror_http_requests_total{method=\"GET\",route=\"/api/v4/projects/{id}\",status=\"200\"} 2"), "{text}");
        assert!(
            text.contains("method=\"other\",route=\"/x\\\"y\",status=\"418\"} 1"),
            "{text}"
        );
        assert!(text.contains("pushmirror_http_request_duration_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("pushmirror_http_request_duration_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("pushmirror_mirror_updates_total{result=\"finished\"} 1"));
        assert!(text.contains("pushmirror_mirror_updates_total{result=\"failed\"} 0"));
        assert!(text.contains("pushmirror_mirror_update_retries_total 1"));
        assert!(text.contains("pushmirror_mirror_update_failures_total{kind=\"auth\"} 1"));
        assert!(text.contains("pushmirror_mirror_update_duration_seconds_count 2"));
        assert!(text.contains("pushmirror_mirror_update_duration_seconds_sum 1.9"));
        assert!(text.contains("pushmirror_mirror_oldest_wanted_update_age_seconds 12.5"));
        assert!(text.contains("pushmirror_build_info{version="));
    }

    #[test]
    fn pull_syncs_are_counted_by_a_bounded_result() {
        let m = Metrics::default();
        m.pull_sync_ended("finished", 0.2);
        m.pull_sync_ended("diverged", 0.3);
        m.pull_sync_ended("not a result", 1.0);
        let text = m.render(QueueGauges::default());
        assert!(
            text.contains("pushmirror_pull_syncs_total{result=\"finished\"} 1"),
            "{text}"
        );
        assert!(text.contains("pushmirror_pull_syncs_total{result=\"to_retry\"} 0"));
        assert_eq!(text.matches("pushmirror_pull_syncs_total{").count(), 4);
        assert!(text.contains("pushmirror_pull_sync_duration_seconds_count 2"));
    }

    #[test]
    fn ssh_metrics_have_bounded_labels() {
        let m = Metrics::default();
        m.ssh_connection();
        m.ssh_auth("accepted");
        m.ssh_auth("something else");
        m.ssh_refused("sessions_per_user");
        m.ssh_refused("not a limit");
        let session = m.ssh_session_started();
        let text = m.render(QueueGauges::default());
        assert!(
            text.contains("pushmirror_ssh_connections_total 1"),
            "{text}"
        );
        assert!(text.contains("pushmirror_ssh_auth_total{result=\"accepted\"} 1"));
        assert!(text.contains("pushmirror_ssh_auth_total{result=\"error\"} 1"));
        assert!(text.contains("pushmirror_ssh_refused_total{limit=\"sessions_per_user\"} 1"));
        assert_eq!(text.matches("pushmirror_ssh_refused_total{").count(), 3);
        assert!(text.contains("pushmirror_ssh_sessions_in_flight 1"));
        drop(session);
        let text = m.render(QueueGauges::default());
        assert!(text.contains("pushmirror_ssh_sessions_in_flight 0"));
        assert!(text.contains("pushmirror_ssh_session_duration_seconds_count 1"));
    }

    #[test]
    fn in_flight_hosts_are_bounded_and_counted_down() {
        let m = Metrics::default();
        let guards: Vec<_> = (0..MAX_HOSTS + 5)
            .map(|i| m.update_started(&format!("h{i}.example")))
            .collect();
        let text = m.render(QueueGauges::default());
        assert!(
            text.contains("pushmirror_mirror_updates_in_flight{host=\"other\"} 5"),
            "{text}"
        );
        assert_eq!(
            text.matches("pushmirror_mirror_updates_in_flight{").count(),
            MAX_HOSTS + 1
        );
        drop(guards);
        let text = m.render(QueueGauges::default());
        assert!(
            text.contains("pushmirror_mirror_updates_in_flight{host=\"h0.example\"} 0"),
            "{text}"
        );
    }
}
