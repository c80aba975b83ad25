//! The batch API's JSON as the git-lfs client and servers write it, and what an answer says
//! of each object ([`ObjectAnswer`]) in this crate's words: its actions with their headers and
//! when their hrefs expire (`expires_in`, or else `expires_at`, measured from the moment the
//! answer arrived). An upload's answer and a download's differ only in their actions.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use secrecy::SecretString;

/// How long before an action's expiry it counts as expired: an upload started in the last
/// seconds of its href's life could be refused half-way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// What the remote's batch answer says of one object.
#[derive(Debug)]
pub enum ObjectAnswer {
    /// No upload action: the remote has it already (never a download's answer).
    Present,
    /// Upload it (and verify the upload, when the remote asks to), or download it (never
    /// verified), as the request's operation said.
    Transfer {
        action: Action,
        verify: Option<Action>,
    },
    /// A per-object error (or an object the answer left out), in the remote's words.
    Refused(String),
}

/// What a batch request asks to do with its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LfsOperation {
    Upload,
    Download,
}

impl LfsOperation {
    /// The batch API's (and `git-lfs-authenticate`'s) name of the operation.
    pub fn as_str(self) -> &'static str {
        match self {
            LfsOperation::Upload => "upload",
            LfsOperation::Download => "download",
        }
    }
}

/// One action of a batch answer.
#[derive(Debug)]
pub struct Action {
    pub(super) href: String,
    /// The headers the remote wants sent with it (may carry its own `Authorization`).
    pub(super) header: Vec<(String, SecretString)>,
    /// When the href stops working (`expires_in`/`expires_at`), if the remote says.
    pub(super) expires: Option<Instant>,
}

impl Action {
    /// Whether the href expires within [`EXPIRY_MARGIN`] of `now`.
    pub fn expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|e| e <= now + EXPIRY_MARGIN)
    }

    pub(super) fn has_authorization(&self) -> bool {
        self.header
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
    }
}

/// The batch API's request.
#[derive(serde::Serialize)]
pub(super) struct BatchRequest<'a> {
    pub(super) operation: &'static str,
    pub(super) transfers: [&'static str; 1],
    pub(super) objects: Vec<WireObject<'a>>,
    pub(super) hash_algo: &'static str,
}

#[derive(serde::Serialize)]
pub(super) struct WireObject<'a> {
    pub(super) oid: &'a str,
    pub(super) size: u64,
}

#[derive(serde::Deserialize)]
pub(super) struct BatchAnswer {
    #[serde(default)]
    pub(super) transfer: Option<String>,
    #[serde(default)]
    pub(super) objects: Vec<AnswerObject>,
}

#[derive(serde::Deserialize)]
pub(super) struct AnswerObject {
    pub(super) oid: String,
    #[serde(default)]
    pub(super) actions: Option<WireActions>,
    #[serde(default)]
    pub(super) error: Option<WireError>,
}

#[derive(serde::Deserialize)]
pub(super) struct WireActions {
    #[serde(default)]
    pub(super) upload: Option<WireAction>,
    #[serde(default)]
    pub(super) download: Option<WireAction>,
    #[serde(default)]
    pub(super) verify: Option<WireAction>,
}

#[derive(serde::Deserialize)]
pub(super) struct WireAction {
    pub(super) href: String,
    #[serde(default)]
    pub(super) header: HashMap<String, String>,
    #[serde(default)]
    pub(super) expires_in: Option<i64>,
    #[serde(default)]
    pub(super) expires_at: Option<String>,
}

#[derive(serde::Deserialize)]
pub(super) struct WireError {
    #[serde(default)]
    pub(super) code: Option<i64>,
    #[serde(default)]
    pub(super) message: Option<String>,
}

/// An error answer's body (`{"message": …}`).
#[derive(serde::Deserialize)]
pub(super) struct ErrorBody {
    pub(super) message: String,
}

impl WireAction {
    /// The action, its expiry measured from `answered` (when the answer arrived).
    pub(super) fn into_action(self, answered: Instant) -> Action {
        let mut expires = self
            .expires_in
            .filter(|s| *s > 0)
            .map(|s| answered + Duration::from_secs(s as u64));
        if expires.is_none() {
            if let Some(at) = self
                .expires_at
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            {
                let left = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
                expires = Some(answered + left.to_std().unwrap_or(Duration::ZERO));
            }
        }
        Action {
            href: self.href,
            header: self
                .header
                .into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
            expires,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_expires_by_expires_in_or_expires_at() {
        let now = Instant::now();
        let wire = |expires_in: Option<i64>, expires_at: Option<&str>| WireAction {
            href: "https://lfs.example/x".into(),
            header: HashMap::new(),
            expires_in,
            expires_at: expires_at.map(str::to_owned),
        };
        assert!(!wire(None, None).into_action(now).expired(now));
        assert!(!wire(Some(3600), None).into_action(now).expired(now));
        assert!(wire(Some(5), None).into_action(now).expired(now));
        assert!(wire(None, Some("2001-01-01T00:00:00Z"))
            .into_action(now)
            .expired(now));
        assert!(!wire(None, Some("2999-01-01T00:00:00Z"))
            .into_action(now)
            .expired(now));
    }
}
