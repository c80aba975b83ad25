//! Operating it: GitLab's health probes and Prometheus metrics behind the monitoring allowlist,
//! metrics that move when an update fails, the request id, and JSON log lines that carry the
//! route template but never a token.

use std::sync::Arc;

use crate::common::binary::{create_token, ServerProcess};
use crate::common::TestServer;
use pushmirror::clock::ManualClock;
use serde_json::{json, Value};

async fn raw_get(s: &TestServer, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.text().await.unwrap(), headers)
}

/// The value of the sample `name{labels}` (labels exactly as rendered), or 0 when absent.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probes_answer_loopback_as_gitlab() {
    let s = TestServer::builder().start().await;
    let (status, body, headers) = raw_get(&s, "/-/health").await;
    assert_eq!((status, body.as_str()), (200, "GitLab OK"));
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let (status, body, _) = raw_get(&s, "/-/liveness").await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (200, json!({"status": "ok"}))
    );
    let (status, body, _) = raw_get(&s, "/-/readiness").await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (
            200,
            json!({"status": "ok", "master_check": [{"status": "ok"}]})
        )
    );
    let (status, body, _) = raw_get(&s, "/-/readiness?all=1").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(v["db_check"], json!([{"status": "ok"}]));
    assert_eq!(v["storage_check"], json!([{"status": "ok"}]));

    // The repository storage gone: readiness fails with 503 and says which check failed.
    let repos = s.data_dir().join("repositories");
    let aside = s.data_dir().join("repositories.aside");
    std::fs::rename(&repos, &aside).unwrap();
    let (status, body, _) = raw_get(&s, "/-/readiness?all=1").await;
    std::fs::rename(&aside, &repos).unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["storage_check"][0]["status"], "failed");
    assert_eq!(v["db_check"][0]["status"], "ok");
    assert!(
        !body.contains(s.data_dir().to_str().unwrap()),
        "no server path in the answer: {body}"
    );
    let (status, _, _) = raw_get(&s, "/-/readiness?all=1").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_outside_the_allowlist_get_gitlabs_404() {
    let s = TestServer::builder()
        .tweak(|c| {
            c.monitoring_allowlist = pushmirror::config::parse_allowlist("10.0.0.0/8").unwrap()
        })
        .start()
        .await;
    for path in [
        "/-/health",
        "/-/liveness",
        "/-/readiness",
        "/-/readiness?all=1",
        "/-/metrics",
    ] {
        let (status, body, _) = raw_get(&s, path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"error": "Not Found", "status": 404}),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_when_an_update_fails_and_label_routes_not_paths() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let s = TestServer::builder()
        .engine(false)
        .local_network(true)
        .clock(clock.clone())
        .start()
        .await;
    let token = s.token("root", true).await;
    let api = s.api(&token);
    let p = api.create_project("watched").await;
    // Nothing listens on the discard port: the update fails to connect.
    let m = api
        .create_mirror_with(
            p.id,
            json!({"url": "http://127.0.0.1:9/x.git", "enabled": true}),
        )
        .await;
    api.sync(p.id, m.id).await;

    let (status, before, headers) = raw_get(&s, "/-/metrics").await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    assert_eq!(
        sample(&before, "pushmirror_mirror_updates_wanted"),
        1.0,
        "{before}"
    );
    clock.advance(5_000);
    let (_, aged, _) = raw_get(&s, "/-/metrics").await;
    assert!(
        sample(&aged, "pushmirror_mirror_oldest_wanted_update_age_seconds") >= 5.0,
        "{aged}"
    );

    assert_eq!(s.run_pending().await, 1);
    let (_, after, _) = raw_get(&s, "/-/metrics").await;
    assert_eq!(
        sample(
            &after,
            "pushmirror_mirror_updates_total{result=\"to_retry\"}"
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, "pushmirror_mirror_update_retries_total"),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "pushmirror_mirror_update_failures_total{kind=\"connect\"}"
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, "pushmirror_mirror_update_duration_seconds_count"),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "pushmirror_mirror_updates_in_flight{host=\"127.0.0.1\"}"
        ),
        0.0
    );
    let sync_route = "pushmirror_http_requests_total{method=\"POST\",route=\"/api/v4/projects/{id}/remote_mirrors/{mirror_id}/sync\",status=\"204\"}";
    assert_eq!(sample(&after, sync_route), 1.0, "{after}");
    assert!(
        !after.contains(&format!("/projects/{}/", p.id)),
        "no raw path is a label"
    );
    assert!(after.contains("pushmirror_build_info{version="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_or_made() {
    let s = TestServer::builder().start().await;
    let r = reqwest::Client::new()
        .get(format!("{}/-/health", s.base))
        .header("X-Request-Id", "my-id_1.2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "my-id_1.2");
    let r = s
        .raw(reqwest::Method::GET, "/nothing")
        .header("X-Request-Id", "bad id\"")
        .send()
        .await
        .unwrap();
    let made = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(made.len(), 24, "{made}");
    assert!(made.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_have_one_line_per_request_and_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = create_token(&data, None, "root", true);
    let server = ServerProcess::start(&data, None, &["--log-format", "json"], &[]);
    let client = reqwest::Client::new();
    let r = client
        .get(format!(
            "{}/api/v4/projects?private_token={token}",
            server.base()
        ))
        .header("X-Request-Id", "trace-me")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let line = (0..50)
        .find_map(|_| {
            let log = server.log_text();
            let found = log
                .lines()
                .find(|l| l.contains("trace-me"))
                .map(str::to_owned);
            if found.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            found
        })
        .unwrap_or_else(|| panic!("no request line:\n{}", server.log_tail()));
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["route"], "/api/v4/projects");
    assert_eq!(v["status"], 200);
    assert_eq!(v["method"], "GET");
    assert!(v["duration_ms"].is_u64());
    let log = server.log_text();
    assert!(!log.contains(&token), "the token is never logged");
    for l in log.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
    }
}
