//! Project webhooks as GitLab defines them, minus the I/O: GitLab's auto-disabling of failing
//! hooks ([`HookHealth`]: three failures are forgiven, then `disabled_until` backs off from one
//! minute doubling to a day, and the fortieth consecutive failure disables the hook for good),
//! what counts as a failed delivery ([`delivery_succeeded`]), which pushes a hook hears of (the
//! branch filter of [`BranchFilterStrategy`], GitLab's limit of refs per push, the first 20
//! commits), the events a hook can be sent ([`Trigger`]) and the write-only parts of a hook: URL
//! templates with `{variable}` placeholders and custom headers.

use std::collections::BTreeMap;

use crate::model::entities::Millis;
use crate::model::refmatch::BranchPattern;

/// Failures in a row that do not yet disable a hook (GitLab's
/// `TEMPORARILY_DISABLED_FAILURE_THRESHOLD`): the fourth one does.
pub const FORGIVEN_FAILURES: u32 = 3;
/// A hook whose consecutive failures exceed this is disabled for good (GitLab's
/// `PERMANENTLY_DISABLED_FAILURE_THRESHOLD`): the fortieth failure in a row, at least about a
/// month of failing at the longest backoff.
pub const PERMANENT_FAILURES: u32 = 39;
/// The first temporary disabling (GitLab's `INITIAL_BACKOFF`).
pub const INITIAL_BACKOFF_MS: Millis = 60_000;
/// The longest temporary disabling (GitLab's `MAX_BACKOFF`).
pub const MAX_BACKOFF_MS: Millis = 86_400_000;

/// Most branch (or tag) changes of one push that still fire push hooks: GitLab's
/// `push_event_hooks_limit` default. A push of more (a mirror-style push of every branch)
/// fires none, as in GitLab, so one push cannot flood every receiver.
pub const PUSH_EVENT_HOOKS_LIMIT: usize = 3;
/// Commits a push payload carries (GitLab's data builder keeps 20); `total_commits_count`
/// tells the true number.
pub const MAX_PAYLOAD_COMMITS: usize = 20;
/// How long delivery logs are kept and listed (GitLab's `web_hook_logs` retention).
pub const LOG_RETENTION_MS: Millis = 7 * 86_400_000;
/// Most url_variables or custom headers a hook may have (GitLab's JSON schemas allow 20).
pub const MAX_KEYED_VALUES: usize = 20;
/// Longest value of a url_variable or custom header, in bytes (GitLab's schemas: 2048).
pub const MAX_VALUE_LEN: usize = 2048;

/// GitLab's `alert_status` of a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    /// Deliveries are made.
    Executable,
    /// Failing: no delivery until `disabled_until`.
    TemporarilyDisabled,
    /// Failed 40 times in a row: no delivery until someone edits (or tests) the hook.
    Disabled,
}

impl AlertStatus {
    /// GitLab's wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Executable => "executable",
            AlertStatus::TemporarilyDisabled => "temporarily_disabled",
            AlertStatus::Disabled => "disabled",
        }
    }
}

/// A hook's failure state: consecutive failed deliveries and the end of a temporary disabling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HookHealth {
    pub recent_failures: u32,
    pub disabled_until: Option<Millis>,
}

impl HookHealth {
    /// The hook's `alert_status` at `now`.
    pub fn alert_status(&self, now: Millis) -> AlertStatus {
        if self.recent_failures > PERMANENT_FAILURES {
            AlertStatus::Disabled
        } else if self.disabled_until.is_some_and(|until| until > now) {
            AlertStatus::TemporarilyDisabled
        } else {
            AlertStatus::Executable
        }
    }

    /// Whether a delivery may be made at `now`.
    pub fn executable(&self, now: Millis) -> bool {
        self.alert_status(now) == AlertStatus::Executable
    }

    /// The state after a failed delivery at `now` (GitLab's `backoff!`). A failure while the
    /// hook is already disabled (a delivery that raced the disabling) changes nothing.
    pub fn after_failure(self, now: Millis) -> HookHealth {
        if !self.executable(now) {
            return self;
        }
        let failures = self.recent_failures + 1;
        let disabled_until = if failures > PERMANENT_FAILURES {
            None
        } else if failures > FORGIVEN_FAILURES {
            Some(now + backoff_ms(failures - FORGIVEN_FAILURES - 1))
        } else {
            self.disabled_until
        };
        HookHealth {
            recent_failures: failures,
            disabled_until,
        }
    }

    /// The state after a successful delivery, or after a person edited the hook (GitLab's
    /// `enable!`): every failure forgotten.
    pub fn after_success(self) -> HookHealth {
        HookHealth::default()
    }
}

/// The temporary disabling after `backoffs` earlier ones in this failure streak: one minute,
/// doubling, at most a day.
pub fn backoff_ms(backoffs: u32) -> Millis {
    // 2^11 minutes already exceeds a day: cap the exponent before it can overflow.
    (INITIAL_BACKOFF_MS << backoffs.min(11)).clamp(INITIAL_BACKOFF_MS, MAX_BACKOFF_MS)
}

/// Whether a delivery succeeded: GitLab counts any 2xx or 3xx answer (redirects are not
/// followed) as success, and every other status, a timeout or a connection error as failure.
pub fn delivery_succeeded(status: Option<u16>) -> bool {
    status.is_some_and(|s| (200..400).contains(&s))
}

/// The events a hook is sent, each with GitLab's trigger name (the `trigger` of its logs, also
/// used to name the test endpoint's triggers) and `X-Gitlab-Event` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Push,
    TagPush,
    /// Beyond GitLab: a mirror started failing or recovered.
    RemoteMirror,
}

impl Trigger {
    /// Every trigger, for parsing.
    pub const ALL: [Trigger; 3] = [Trigger::Push, Trigger::TagPush, Trigger::RemoteMirror];

    /// GitLab's hook scope name (`push_hooks`), as logs show it.
    pub fn hook_name(self) -> &'static str {
        match self {
            Trigger::Push => "push_hooks",
            Trigger::TagPush => "tag_push_hooks",
            Trigger::RemoteMirror => "remote_mirror_hooks",
        }
    }

    /// The hook attribute that subscribes to it (`push_events`), as the test endpoint names it.
    pub fn attribute(self) -> &'static str {
        match self {
            Trigger::Push => "push_events",
            Trigger::TagPush => "tag_push_events",
            Trigger::RemoteMirror => "remote_mirror_events",
        }
    }

    /// The `X-Gitlab-Event` header: the scope singularised and titleised, as GitLab does.
    pub fn event_header(self) -> &'static str {
        match self {
            Trigger::Push => "Push Hook",
            Trigger::TagPush => "Tag Push Hook",
            Trigger::RemoteMirror => "Remote Mirror Hook",
        }
    }

    /// The trigger whose [`Trigger::hook_name`] is `s`.
    pub fn from_hook_name(s: &str) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.hook_name() == s)
    }

    /// The trigger whose [`Trigger::attribute`] is `s`.
    pub fn from_attribute(s: &str) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.attribute() == s)
    }
}

/// How `push_events_branch_filter` is read (GitLab's `branch_filter_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BranchFilterStrategy {
    /// A branch name or `*` wildcard pattern, as for protected branches; empty: every branch.
    #[default]
    Wildcard,
    /// An unanchored regular expression (linear-time, as GitLab's RE2).
    Regex,
    /// Every branch; the filter is cleared.
    AllBranches,
}

impl BranchFilterStrategy {
    /// GitLab's wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BranchFilterStrategy::Wildcard => "wildcard",
            BranchFilterStrategy::Regex => "regex",
            BranchFilterStrategy::AllBranches => "all_branches",
        }
    }

    /// Parses GitLab's wire spelling.
    pub fn parse(s: &str) -> Option<BranchFilterStrategy> {
        match s {
            "wildcard" => Some(BranchFilterStrategy::Wildcard),
            "regex" => Some(BranchFilterStrategy::Regex),
            "all_branches" => Some(BranchFilterStrategy::AllBranches),
            _ => None,
        }
    }
}

/// Longest branch filter, in characters (GitLab's `BranchFilterValidator`).
pub const MAX_BRANCH_FILTER_LEN: usize = 4000;

/// Why a branch filter is refused, or `None` when `filter` is valid for `strategy`: a
/// wildcard must be a branch name once its `*`s are read as letters, a regex must compile.
pub fn branch_filter_error(strategy: BranchFilterStrategy, filter: &str) -> Option<&'static str> {
    if filter.is_empty() {
        return None;
    }
    if filter.chars().count() > MAX_BRANCH_FILTER_LEN {
        return Some("is longer than the allowed length of 4000 characters.");
    }
    match strategy {
        BranchFilterStrategy::Wildcard => {
            (!crate::model::naming::valid_branch_name(&filter.replace('*', "x")))
                .then_some("is not a valid branch name")
        }
        BranchFilterStrategy::Regex => regex::RegexBuilder::new(filter)
            .size_limit(1 << 20)
            .build()
            .is_err()
            .then_some("not valid RE2 syntax"),
        BranchFilterStrategy::AllBranches => None,
    }
}

/// Whether a push to `branch` (without `refs/heads/`) reaches a hook with this filter (GitLab's
/// `ActiveHookFilter`; tags are never filtered). An invalid stored regex matches nothing.
pub fn branch_matches(strategy: BranchFilterStrategy, filter: Option<&str>, branch: &str) -> bool {
    let filter = filter.unwrap_or("");
    match strategy {
        BranchFilterStrategy::AllBranches => true,
        _ if filter.is_empty() => true,
        BranchFilterStrategy::Wildcard => BranchPattern::new(filter).matches(branch),
        BranchFilterStrategy::Regex => regex::RegexBuilder::new(filter)
            .size_limit(1 << 20)
            .build()
            .is_ok_and(|re| re.is_match(branch)),
    }
}

/// Whether `key` may name a url_variable (GitLab's schema: letters, then digits, then groups
/// of `.`, `_` or `-` followed by letters or digits; at most 255 characters).
pub fn valid_variable_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    if key.is_empty() || key.len() > 255 || !bytes[0].is_ascii_alphabetic() {
        return false;
    }
    let mut prev_sep = false;
    for &b in bytes {
        let sep = matches!(b, b'.' | b'_' | b'-');
        if !(b.is_ascii_alphanumeric() || sep) || (sep && prev_sep) {
            return false;
        }
        prev_sep = sep;
    }
    !prev_sep
}

/// Headers a custom header may not set: they frame the request or name where it goes, which
/// the delivery decides.
const RESERVED_HEADERS: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
];

/// Why a custom header is refused, or `None`: the name must be an HTTP token (and not one of
/// the framing headers), the value a header value of at most [`MAX_VALUE_LEN`] bytes.
pub fn custom_header_error(key: &str, value: &str) -> Option<String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if key.is_empty() || key.len() > 255 || !key.bytes().all(token) {
        return Some(format!(
            "'{}' is not a valid header name",
            key.escape_debug()
        ));
    }
    if RESERVED_HEADERS.contains(&key.to_ascii_lowercase().as_str()) {
        return Some(format!("'{key}' cannot be set"));
    }
    if value.len() > MAX_VALUE_LEN || value.chars().any(|c| c.is_control() && c != '\t') {
        return Some(format!("the value of '{key}' is not a valid header value"));
    }
    None
}

/// A hook URL template split around its userinfo: what is stored and shown (`url`, with
/// `{variable}` placeholders and no userinfo) and the userinfo, which is sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    /// `scheme://host…` without userinfo; placeholders kept.
    pub url: String,
    /// The raw (percent-encoded) userinfo, placeholders kept; `None` without one.
    pub userinfo: Option<String>,
}

impl UrlTemplate {
    /// Splits the userinfo off a hook URL as typed. The authority ends at the first `/`, `?`
    /// or `#` after `://`; its last `@` ends the userinfo (as in `model::url`).
    pub fn split(input: &str) -> UrlTemplate {
        let input = input.trim();
        let Some((scheme, after)) = input.split_once("://") else {
            return UrlTemplate {
                url: input.to_owned(),
                userinfo: None,
            };
        };
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        match after[..end].rfind('@') {
            Some(at) => UrlTemplate {
                url: format!("{scheme}://{}", &after[at + 1..]),
                userinfo: Some(after[..at].to_owned()).filter(|u| !u.is_empty()),
            },
            None => UrlTemplate {
                url: input.to_owned(),
                userinfo: None,
            },
        }
    }

    /// The full URL with the userinfo put back and every placeholder replaced, or the
    /// placeholders that have no variable.
    pub fn interpolate(&self, variables: &BTreeMap<String, String>) -> Result<String, Vec<String>> {
        let full = match &self.userinfo {
            None => self.url.clone(),
            Some(info) => match self.url.split_once("://") {
                Some((scheme, rest)) => format!("{scheme}://{info}@{rest}"),
                None => self.url.clone(),
            },
        };
        let mut missing = Vec::new();
        let mut out = String::with_capacity(full.len());
        let mut rest = full.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) if valid_variable_key(&after[..close]) => {
                    let key = &after[..close];
                    match variables.get(key) {
                        Some(v) => out.push_str(v),
                        None => missing.push(key.to_owned()),
                    }
                    rest = &after[close + 1..];
                }
                _ => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(missing)
        }
    }
}

/// Everything a hook's owner decides, as saved: a hook row minus its id, project, health and
/// creation time. The store writes a hook from this one type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HookSettings {
    /// The URL template without userinfo ([`UrlTemplate::url`]).
    pub url: String,
    /// Whether the URL carried a user, or a password (sealed in `secrets`): for masking.
    pub has_user: bool,
    pub has_password: bool,
    /// Sealed token, URL userinfo, url_variables and custom header values.
    pub secrets: Option<Vec<u8>>,
    /// The url_variables' keys, sorted (their values are sealed).
    pub url_variable_keys: Vec<String>,
    /// The custom headers' names, sorted (their values are sealed).
    pub custom_header_keys: Vec<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub push_events: bool,
    pub push_events_branch_filter: Option<String>,
    pub branch_filter_strategy: BranchFilterStrategy,
    pub tag_push_events: bool,
    /// Beyond GitLab: a mirror of the project started failing, or recovered.
    pub remote_mirror_events: bool,
    pub enable_ssl_verification: bool,
}

/// A project webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectHook {
    pub id: i64,
    pub project_id: i64,
    pub settings: HookSettings,
    pub health: HookHealth,
    pub created_at: Millis,
}

impl ProjectHook {
    /// Whether the hook hears of `trigger` events at all.
    pub fn subscribes(&self, trigger: Trigger) -> bool {
        match trigger {
            Trigger::Push => self.settings.push_events,
            Trigger::TagPush => self.settings.tag_push_events,
            Trigger::RemoteMirror => self.settings.remote_mirror_events,
        }
    }

    /// Whether a push event of `trigger` for the ref `name` (full, `refs/heads/…` or
    /// `refs/tags/…`) reaches this hook: subscribed, and for branches through the filter.
    pub fn hears(&self, trigger: Trigger, name: &str) -> bool {
        if !self.subscribes(trigger) {
            return false;
        }
        match (trigger, name.strip_prefix("refs/heads/")) {
            (Trigger::Push, Some(branch)) => branch_matches(
                self.settings.branch_filter_strategy,
                self.settings.push_events_branch_filter.as_deref(),
                branch,
            ),
            _ => true,
        }
    }
}

/// One delivery attempt as logged (GitLab's `WebHookLog`); the JSON fields are kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookLog {
    pub id: i64,
    pub hook_id: i64,
    /// [`Trigger::hook_name`].
    pub trigger: String,
    /// The hook's URL as shown (credentials masked, placeholders kept).
    pub url: String,
    /// A JSON object, secret values `[REDACTED]`.
    pub request_headers: String,
    /// The JSON body sent, user e-mails `[REDACTED]`.
    pub request_data: String,
    /// A JSON object of the response's headers.
    pub response_headers: String,
    pub response_body: String,
    /// The HTTP status, or `internal error`.
    pub response_status: String,
    pub execution_duration_us: i64,
    pub idempotency_key: String,
    pub event_uuid: String,
    pub created_at: Millis,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;

    #[test]
    fn three_failures_are_forgiven_then_the_backoff_doubles_to_a_day() {
        let mut h = HookHealth::default();
        let mut now = 1_000_000;
        for _ in 0..3 {
            h = h.after_failure(now);
            assert_eq!(h.alert_status(now), AlertStatus::Executable);
            assert_eq!(h.disabled_until, None);
        }
        let mut expected = Vec::new();
        for _ in 4..=39 {
            h = h.after_failure(now);
            assert_eq!(h.alert_status(now), AlertStatus::TemporarilyDisabled);
            let wait = h.disabled_until.unwrap() - now;
            expected.push(wait / MIN);
            // Nothing counts while it is disabled: a raced failure changes nothing.
            assert_eq!(h.after_failure(now + wait - 1), h);
            now += wait;
            assert_eq!(h.alert_status(now), AlertStatus::Executable);
        }
        assert_eq!(
            &expected[..12],
            &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 1440]
        );
        assert!(expected[12..].iter().all(|&m| m == 1440));
        assert_eq!(h.recent_failures, 39);
        h = h.after_failure(now);
        assert_eq!(h.recent_failures, 40);
        assert_eq!(h.alert_status(now), AlertStatus::Disabled);
        assert_eq!(
            h.alert_status(now + 100 * MAX_BACKOFF_MS),
            AlertStatus::Disabled
        );
        assert_eq!(h.after_failure(now), h, "a disabled hook stays as it is");
        assert_eq!(h.after_success(), HookHealth::default());
        assert!(h.after_success().executable(now));
    }

    #[test]
    fn backoff_never_overflows() {
        assert_eq!(backoff_ms(0), MIN);
        assert_eq!(backoff_ms(10), 1024 * MIN);
        assert_eq!(backoff_ms(11), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(u32::MAX), MAX_BACKOFF_MS);
    }

    #[test]
    fn two_and_three_hundreds_succeed_everything_else_fails() {
        for (status, ok) in [
            (Some(200), true),
            (Some(204), true),
            (Some(302), true),
            (Some(399), true),
            (Some(199), false),
            (Some(400), false),
            (Some(404), false),
            (Some(500), false),
            (None, false),
        ] {
            assert_eq!(delivery_succeeded(status), ok, "{status:?}");
        }
    }

    #[test]
    fn branch_filters_as_gitlab_reads_them() {
        use BranchFilterStrategy::*;
        let rows: [(BranchFilterStrategy, Option<&str>, &str, bool); 9] = [
            (Wildcard, None, "main", true),
            (Wildcard, Some(""), "x", true),
            (Wildcard, Some("main"), "main", true),
            (Wildcard, Some("main"), "mainline", false),
            (Wildcard, Some("release/*"), "release/1.0", true),
            (Regex, Some("^feat-"), "feat-x", true),
            (Regex, Some("^feat-"), "a-feat-x", false),
            (Regex, Some("("), "anything", false),
            (AllBranches, Some("main"), "other", true),
        ];
        for (strategy, filter, branch, want) in rows {
            assert_eq!(
                branch_matches(strategy, filter, branch),
                want,
                "{strategy:?} {filter:?} {branch}"
            );
        }
        assert_eq!(branch_filter_error(Wildcard, "release/*"), None);
        assert!(branch_filter_error(Wildcard, "bad..name").is_some());
        assert!(branch_filter_error(Regex, "(").is_some());
        assert_eq!(branch_filter_error(Regex, "^a+$"), None);
        assert!(branch_filter_error(Wildcard, &"a".repeat(4001)).is_some());
        for s in [Wildcard, Regex, AllBranches] {
            assert_eq!(BranchFilterStrategy::parse(s.as_str()), Some(s));
        }
        assert_eq!(BranchFilterStrategy::parse("glob"), None);
    }

    #[test]
    fn triggers_round_trip() {
        for t in Trigger::ALL {
            assert_eq!(Trigger::from_hook_name(t.hook_name()), Some(t));
            assert_eq!(Trigger::from_attribute(t.attribute()), Some(t));
        }
        assert_eq!(Trigger::Push.event_header(), "Push Hook");
        assert_eq!(Trigger::from_attribute("issues_events"), None);
    }

    #[test]
    fn url_templates_keep_secrets_apart_and_interpolate() {
        let t = UrlTemplate::split(" https://bot:s%40cret@hooks.example.com/x/{token}?a=b ");
        assert_eq!(t.url, "https://hooks.example.com/x/{token}?a=b");
        assert_eq!(t.userinfo.as_deref(), Some("bot:s%40cret"));
        let mut vars = BTreeMap::new();
        assert_eq!(t.interpolate(&vars), Err(vec!["token".to_owned()]));
        vars.insert("token".to_owned(), "T0K".to_owned());
        assert_eq!(
            t.interpolate(&vars).unwrap(),
            "https://bot:s%40cret@hooks.example.com/x/T0K?a=b"
        );
        // An `@` after the path starts is not userinfo; braces that name no key stay.
        let t = UrlTemplate::split("http://h/a@b/{not a key}");
        assert_eq!(t.userinfo, None);
        assert_eq!(t.interpolate(&vars).unwrap(), "http://h/a@b/{not a key}");
        assert_eq!(UrlTemplate::split("nonsense").url, "nonsense");
    }

    #[test]
    fn variable_keys_and_custom_headers_are_checked() {
        for ok in ["token", "a1", "a.b", "my_secret-2"] {
            assert!(valid_variable_key(ok), "{ok}");
        }
        for bad in ["", "1a", "a..b", "a-", "a b", "ä"] {
            assert!(!valid_variable_key(bad), "{bad}");
        }
        assert_eq!(custom_header_error("X-Secret", "v al\tue"), None);
        assert!(custom_header_error("X Secret", "v").is_some());
        assert!(custom_header_error("Content-Length", "1").is_some());
        assert!(custom_header_error("X-A", "a\r\nX-B: b").is_some());
        assert!(custom_header_error("X-A", &"v".repeat(2049)).is_some());
    }
}
