//! One webhook delivery attempt, as GitLab's `WebHookService` makes it: the URL resolved and
//! checked again and the connection pinned to the checked address (no proxy, no redirects, a
//! deadline), GitLab's headers, the URL's userinfo as Basic auth; then the attempt logged
//! (secret header values and e-mails redacted, at most 8 KB of the answer) and the hook's
//! failure state moved by GitLab's auto-disabling rules, in one transaction.
//!
//! [`run_delivery`] is the `hook_delivery` job's work: a queued event, delivered unless its hook
//! is gone, disabled for good or temporarily (then it waits), or the event is older than the
//! log keeps (then it is dropped). The test and resend endpoints deliver at once.
//!
//! Invariant: no secret (token, header value, URL userinfo or variable) reaches a log, an error
//! text or an API answer: error texts are built without the URL and scrubbed of every secret.
//!
//! The connection is `remote`'s [`PinnedClient`]: built for one request, with no idle pool.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::app::App;
use crate::model::entities::Millis;
use crate::model::hooks::{
    delivery_succeeded, ProjectHook, Trigger, UrlTemplate, LOG_RETENTION_MS,
};
use crate::model::url::scrub;
use crate::model::GITLAB_VERSION;
use crate::queue::{JobKind, Queue};
use crate::remote::PinnedClient;
use crate::service::error::ServiceError;
use crate::store::NewHookLog;

use super::event_id::uuid;
use super::payload::{redacted, REDACTED};
use super::secrets::HookSecrets;
use super::shown_url;
use super::target;

/// Most bytes of an answer's body kept in the log (GitLab's `RESPONSE_BODY_SIZE_LIMIT`).
const RESPONSE_BODY_LIMIT: usize = 8 * 1024;
/// Most answer headers logged (GitLab's `RESPONSE_HEADERS_COUNT_LIMIT`).
const RESPONSE_HEADERS_COUNT: usize = 50;
/// Longest logged answer header value (GitLab's `RESPONSE_HEADERS_SIZE_LIMIT`).
const RESPONSE_HEADER_LEN: usize = 1024;
/// How often the failure state is re-read and decided again when concurrent deliveries of the
/// same hook keep changing it: far more than a hook's pending deliveries race in practice.
const RECORD_ATTEMPTS: usize = 8;

/// A queued delivery: the `hook_delivery` job kind (any node delivers it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Delivery {
    pub hook_id: i64,
    /// [`Trigger::hook_name`].
    pub trigger: String,
    /// `X-Gitlab-Event-UUID`: the event's, the same on every retry.
    pub event_uuid: String,
    /// `Idempotency-Key`: the same on every retry of this event to this hook.
    pub idempotency_key: String,
    /// When the event happened.
    pub created_at: Millis,
    /// The JSON body.
    pub data: Value,
}

impl JobKind for Delivery {
    const NAME: &'static str = "hook_delivery";
    const QUEUE: Queue = Queue::HookDeliveries;

    fn dedup_key(&self) -> String {
        format!("hook:{}:{}", self.hook_id, self.idempotency_key)
    }
}

/// The keys that identify an event across its deliveries.
pub(super) struct EventKeys {
    pub idempotency_key: String,
    pub event_uuid: String,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver answered with this status and body (at most 8 KB of it).
    Answered(u16, String),
    /// No answer: the URL was refused, the connection failed or the deadline passed.
    Failed(String),
    /// The hook is disabled; nothing was sent.
    Disabled,
}

/// What the delivery job does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryRun {
    /// Delivered, or dropped for good (the hook is gone or disabled, the event too old).
    Done,
    /// The hook is disabled until then: try again at that time.
    WaitUntil(Millis),
    /// The attempt failed: retry with the runner's backoff. The text is scrubbed.
    Failed(String),
}

/// Runs the delivery job whose payload is `payload`.
pub(crate) async fn run_delivery(app: &App, d: Delivery) -> Result<DeliveryRun, ServiceError> {
    let now = app.clock.now_ms();
    let Some(hook) = app.store.hook_by_id(d.hook_id).await? else {
        return Ok(DeliveryRun::Done);
    };
    if now - d.created_at > LOG_RETENTION_MS {
        tracing::warn!(hook = hook.id, "dropping a webhook event older than 7 days");
        return Ok(DeliveryRun::Done);
    }
    match hook.health.alert_status(now) {
        crate::model::hooks::AlertStatus::Disabled => return Ok(DeliveryRun::Done),
        crate::model::hooks::AlertStatus::TemporarilyDisabled => {
            let until = hook.health.disabled_until.unwrap_or(now);
            return Ok(DeliveryRun::WaitUntil(until));
        }
        crate::model::hooks::AlertStatus::Executable => {}
    }
    let Some(trigger) = Trigger::from_hook_name(&d.trigger) else {
        return Err(ServiceError::Internal(format!(
            "unknown hook trigger {}",
            d.trigger
        )));
    };
    let keys = EventKeys {
        idempotency_key: d.idempotency_key,
        event_uuid: d.event_uuid,
    };
    Ok(match attempt(app, &hook, trigger, &d.data, &keys).await? {
        DeliveryOutcome::Answered(status, _) if delivery_succeeded(Some(status)) => {
            DeliveryRun::Done
        }
        DeliveryOutcome::Answered(status, _) => {
            DeliveryRun::Failed(format!("hook {} answered {status}", hook.id))
        }
        DeliveryOutcome::Failed(why) => DeliveryRun::Failed(format!("hook {}: {why}", hook.id)),
        DeliveryOutcome::Disabled => DeliveryRun::Done,
    })
}

/// Delivers `data` to `hook` now (the test and resend endpoints). `keys` are a logged event's
/// (a resend); without them this is a new event. `force` sends to a disabled hook too (the
/// test button, as GitLab's `force: true`).
pub(super) async fn deliver_now(
    app: &App,
    hook: &ProjectHook,
    trigger: Trigger,
    data: Value,
    keys: Option<EventKeys>,
    force: bool,
) -> Result<DeliveryOutcome, ServiceError> {
    if !force && !hook.health.executable(app.clock.now_ms()) {
        return Ok(DeliveryOutcome::Disabled);
    }
    let keys = keys.unwrap_or_else(|| EventKeys {
        idempotency_key: uuid(),
        event_uuid: uuid(),
    });
    attempt(app, hook, trigger, &data, &keys).await
}

/// One attempt: send, log, move the failure state.
async fn attempt(
    app: &App,
    hook: &ProjectHook,
    trigger: Trigger,
    data: &Value,
    keys: &EventKeys,
) -> Result<DeliveryOutcome, ServiceError> {
    let secrets = HookSecrets::open(&app.cipher, hook.settings.secrets.as_deref())
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let mut headers: Vec<(String, String)> = secrets
        .custom_headers
        .iter()
        .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
        .collect();
    let mut logged: Vec<(String, String)> = secrets
        .custom_headers
        .keys()
        .map(|k| (k.clone(), REDACTED.to_owned()))
        .collect();
    let ours = [
        ("Content-Type", "application/json".to_owned()),
        ("User-Agent", format!("GitLab/{GITLAB_VERSION}")),
        ("Idempotency-Key", keys.idempotency_key.clone()),
        ("X-Gitlab-Event", trigger.event_header().to_owned()),
        ("X-Gitlab-Webhook-UUID", uuid()),
        ("X-Gitlab-Instance", app.external_url.clone()),
        ("X-Gitlab-Event-UUID", keys.event_uuid.clone()),
    ];
    for (k, v) in ours {
        // Ours win over a custom header of the same name, as in GitLab.
        headers.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
        logged.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
        headers.push((k.to_owned(), v.clone()));
        logged.push((k.to_owned(), v));
    }
    if let Some(token) = &secrets.token {
        let token = token.expose_secret().replace(['\r', '\n'], "");
        headers.retain(|(name, _)| !name.eq_ignore_ascii_case("X-Gitlab-Token"));
        logged.retain(|(name, _)| !name.eq_ignore_ascii_case("X-Gitlab-Token"));
        headers.push(("X-Gitlab-Token".into(), token));
        logged.push(("X-Gitlab-Token".into(), REDACTED.into()));
    }
    let body = serde_json::to_string(data).expect("JSON values serialise");
    let started = Instant::now();
    let sent = send(app, hook, &secrets, &headers, body).await;
    let elapsed = started.elapsed();
    let secret_values = secrets.values();
    let scrubbed = |text: String| {
        let refs: Vec<&str> = secret_values.iter().map(String::as_str).collect();
        scrub(&text, &refs)
    };
    app.metrics.hook_delivery(match &sent {
        Ok(answer) if delivery_succeeded(Some(answer.status)) => "success",
        Err(SendError::Refused(_)) => "refused",
        _ => "failed",
    });
    let (outcome, log_status, log_headers, log_body) = match sent {
        Ok(answer) => {
            let body = scrubbed(answer.body);
            (
                DeliveryOutcome::Answered(answer.status, body.clone()),
                answer.status.to_string(),
                answer.headers,
                body,
            )
        }
        Err(SendError::Refused(why) | SendError::Transport(why)) => {
            let why = scrubbed(why);
            (
                DeliveryOutcome::Failed(why.clone()),
                "internal error".to_owned(),
                Map::new(),
                why,
            )
        }
    };
    let succeeded =
        matches!(&outcome, DeliveryOutcome::Answered(s, _) if delivery_succeeded(Some(*s)));
    let log = NewHookLog {
        trigger: trigger.hook_name().to_owned(),
        url: shown_url(hook),
        request_headers: Value::Object(logged.into_iter().map(|(k, v)| (k, json!(v))).collect())
            .to_string(),
        request_data: redacted(data).to_string(),
        response_headers: Value::Object(log_headers).to_string(),
        response_body: log_body,
        response_status: log_status,
        execution_duration_us: i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX),
        idempotency_key: keys.idempotency_key.clone(),
        event_uuid: keys.event_uuid.clone(),
    };
    record(app, hook.id, succeeded, &log).await?;
    Ok(outcome)
}

/// Logs the attempt and moves the hook's failure state, deciding again from the current state
/// whenever a concurrent attempt changed it first.
async fn record(
    app: &App,
    hook_id: i64,
    succeeded: bool,
    log: &NewHookLog,
) -> Result<(), ServiceError> {
    for _ in 0..RECORD_ATTEMPTS {
        let now = app.clock.now_ms();
        let Some(hook) = app.store.hook_by_id(hook_id).await? else {
            return Ok(());
        };
        let seen = hook.health;
        let next = if succeeded {
            seen.after_success()
        } else {
            seen.after_failure(now)
        };
        if app
            .store
            .record_hook_attempt(hook_id, seen, next, log, now)
            .await?
        {
            if !succeeded && !next.executable(now) && seen.executable(now) {
                tracing::warn!(
                    hook = hook_id,
                    failures = next.recent_failures,
                    status = next.alert_status(now).as_str(),
                    "webhook disabled after failing deliveries"
                );
            }
            return Ok(());
        }
    }
    Err(ServiceError::Internal(format!(
        "the failure state of hook {hook_id} kept changing"
    )))
}

/// What a receiver answered.
struct Answer {
    status: u16,
    headers: Map<String, Value>,
    body: String,
}

/// `Content-Type` from `content-type`: GitLab logs header names capitalised.
fn capitalised(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Cuts `s` to at most `limit` bytes at a character boundary.
fn truncated(mut s: String, limit: usize) -> String {
    if s.len() > limit {
        let mut cut = limit;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Why no answer came; the text names no URL.
enum SendError {
    /// The URL check refused the target (the network policy, DNS): nothing was sent.
    Refused(String),
    /// The connection failed or the deadline passed.
    Transport(String),
}

/// Sends the request to the checked, pinned address.
async fn send(
    app: &App,
    hook: &ProjectHook,
    secrets: &HookSecrets,
    headers: &[(String, String)],
    body: String,
) -> Result<Answer, SendError> {
    let template = UrlTemplate {
        url: hook.settings.url.clone(),
        userinfo: secrets
            .userinfo
            .as_ref()
            .map(|u| u.expose_secret().to_owned()),
    };
    let variables: BTreeMap<String, String> = secrets.variables();
    let endpoint = target::resolve(app, &template, &variables)
        .await
        .map_err(|reason| SendError::Refused(format!("the URL {reason}")))?;
    let timeout = Duration::from_secs(app.tuning.webhook_timeout_secs.max(1));
    let client = PinnedClient::new(&endpoint, timeout, hook.settings.enable_ssl_verification)
        .map_err(SendError::Transport)?;
    let mut request = client.request(reqwest::Method::POST).body(body);
    for (k, v) in headers {
        request = request.header(k.as_str(), v.as_str());
    }
    let parsed = &endpoint.url;
    if parsed.user.is_some() || parsed.password.is_some() {
        request = request.basic_auth(
            parsed.user.clone().unwrap_or_default(),
            parsed
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned()),
        );
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| SendError::Transport(client.describe(e)))?;
    let status = response.status().as_u16();
    let mut logged = Map::new();
    for (name, value) in response.headers().iter().take(RESPONSE_HEADERS_COUNT) {
        let value = truncated(
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
            RESPONSE_HEADER_LEN,
        );
        logged.insert(capitalised(name.as_str()), Value::String(value));
    }
    let mut kept = Vec::new();
    // Only the first 8 KB are read: the rest is for nobody.
    while kept.len() < RESPONSE_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err(SendError::Transport(client.describe(e))),
        }
    }
    let body = truncated(
        String::from_utf8_lossy(&kept).into_owned(),
        RESPONSE_BODY_LIMIT,
    );
    Ok(Answer {
        status,
        headers: logged,
        body,
    })
}

#[cfg(test)]
mod kind_tests {
    use super::*;

    #[test]
    fn a_delivery_reads_the_payload_older_releases_queued() {
        // As `hook_delivery` rows were written before kinds were typed.
        let stored = r#"{"hook_id":4,"trigger":"push_hooks","event_uuid":"e","idempotency_key":"k","created_at":17,"data":{"object_kind":"push"}}"#;
        let d = Delivery::decode(stored).unwrap();
        assert_eq!((d.hook_id, d.created_at), (4, 17));
        assert_eq!(d.data["object_kind"], "push");
        assert_eq!(d.dedup_key(), "hook:4:k");
        let row = crate::queue::job(&d, 0);
        assert_eq!((row.kind, row.storage), ("hook_delivery", None));
        assert_eq!(Delivery::decode(&row.payload).unwrap(), d);
    }
}
