//! Mirror URLs with credentials: masked for display (GitLab's `safe_url`), rebuilt in full for
//! git, and scrubbed out of free text such as git's stderr.

use std::sync::LazyLock;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use regex::{Captures, Regex};
use secrecy::SecretString;

use super::{decode_credential, is_scheme_syntax, split_authority, MASK};

/// Bytes kept literally when a credential is written into a URL: RFC 3986 "unreserved". Everything
/// else is percent-encoded, so `@`, `:`, `/` and `%` in a password cannot change how git splits it.
const USERINFO_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Upper bound on [`scrub`] rounds. A round that changes the text either removes a secret (fewer
/// non-`*` characters) or normalises a userinfo to its mask, so real inputs settle in two or three
/// rounds; the bound only keeps pathological secrets from looping.
const SCRUB_MAX_ROUNDS: usize = 32;

/// A URL split around its userinfo, for the functions that take a stored URL.
struct UrlSplit<'a> {
    /// `scheme://`, as written.
    prefix: &'a str,
    /// Raw userinfo, if the URL (unexpectedly, for a stored one) carries some.
    userinfo: Option<&'a str>,
    /// `host[:port]` and everything after it.
    host_onwards: &'a str,
}

fn split_url(url: &str) -> Option<UrlSplit<'_>> {
    let (scheme, after) = url.split_once("://")?;
    if !is_scheme_syntax(scheme) {
        return None;
    }
    let authority = split_authority(after);
    let prefix = &url[..scheme.len() + 3];
    Some(UrlSplit {
        prefix,
        userinfo: authority.userinfo,
        host_onwards: &after[authority.userinfo.map_or(0, |u| u.len() + 1)..],
    })
}

/// The URL as the API shows it: GitLab's `safe_url(allowed_usernames: ["git"])`. The user is
/// `*****` unless it is exactly `git`, the password is `*****` when present, and a URL without
/// credentials comes back byte for byte. Credentials embedded in `url` itself are masked too, so
/// a URL that was never split cannot leak; text that is not a `scheme://` URL is returned as is.
pub fn masked_url(url: &str, user: Option<&str>, has_password: bool) -> String {
    let Some(split) = split_url(url) else {
        return url.to_owned();
    };
    let (embedded_user, embedded_password) = match split.userinfo {
        Some(info) => info.split_once(':').unwrap_or((info, "")),
        None => ("", ""),
    };
    let user = user
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .or_else(|| decode_credential(embedded_user).ok().flatten());
    let has_password = has_password || !embedded_password.is_empty();
    let shown_user = match user.as_deref() {
        Some("git") => "git",
        Some(_) => MASK,
        // A password alone: Ruby's URI sees an empty user, which is not "git".
        None if has_password => MASK,
        None if split.userinfo.is_none() => return url.to_owned(),
        None => return format!("{}{}", split.prefix, split.host_onwards),
    };
    let password = if has_password { ":*****" } else { "" };
    format!(
        "{}{shown_user}{password}@{}",
        split.prefix, split.host_onwards
    )
}

/// The full URL git pushes to: `stored_url` with the user and password put back percent-encoded
/// (any userinfo already in `stored_url` is replaced). Empty credentials count as absent.
pub fn url_with_credentials(
    stored_url: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> SecretString {
    let Some(split) = split_url(stored_url) else {
        return SecretString::from(stored_url);
    };
    let encode = |s: &str| utf8_percent_encode(s, USERINFO_ENCODE).to_string();
    let user = user.filter(|u| !u.is_empty()).map(encode);
    let password = password.filter(|p| !p.is_empty()).map(encode);
    let userinfo = match (user, password) {
        (None, None) => String::new(),
        (user, None) => format!("{}@", user.unwrap_or_default()),
        (user, Some(password)) => format!("{}:{password}@", user.unwrap_or_default()),
    };
    SecretString::from(format!("{}{userinfo}{}", split.prefix, split.host_onwards))
}

/// `scheme://userinfo@`: greedy up to the last `@` before the authority ends, so a raw `@` in a
/// password is swallowed whole.
static URL_USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([A-Za-z][A-Za-z0-9+.\-]*://)([^\s/?#]+)@").expect("static regex")
});

/// Schemeless `user:pass@` (GitLab's `SCHEMELESS_URL_REGEX`). Without look-behind it also matches
/// userinfo that [`URL_USERINFO`] already masked, which it rewrites to the same text.
static SCHEMELESS_USERINFO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[^\s:@/]+:[^\s@/]+@").expect("static regex"));

/// Makes text (git's stderr, an error message) safe to store and show: every URL userinfo becomes
/// `*****:*****@` or `*****@`, schemeless `user:pass@` becomes `*****:*****@`, and each non-empty
/// secret, raw or percent-encoded, becomes `*****`. Pass passwords and tokens as `secrets`: a user
/// name like `git` would be masked everywhere it appears. Secrets made only of `*` are ignored
/// (they would match the masks). Idempotent: the passes repeat until nothing changes.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut variants: Vec<String> = Vec::new();
    for secret in secrets.iter().filter(|s| s.chars().any(|c| c != '*')) {
        let encoded = utf8_percent_encode(secret, USERINFO_ENCODE).to_string();
        let lower_hex = lowercase_percent_hex(&encoded);
        variants.extend([secret.to_string(), encoded, lower_hex]);
    }
    variants.sort_by_key(|v| std::cmp::Reverse(v.len()));
    variants.dedup();

    let mut current = text.to_owned();
    for _ in 0..SCRUB_MAX_ROUNDS {
        let next = scrub_round(&current, &variants);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn scrub_round(text: &str, secrets: &[String]) -> String {
    let text = URL_USERINFO.replace_all(text, |caps: &Captures<'_>| {
        let mask = if caps[2].contains(':') {
            "*****:*****"
        } else {
            MASK
        };
        format!("{}{mask}@", &caps[1])
    });
    let mut text = SCHEMELESS_USERINFO
        .replace_all(&text, "*****:*****@")
        .into_owned();
    for secret in secrets {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), MASK);
        }
    }
    text
}

/// `%3A` → `%3a`: git and servers may echo either case of a percent-encoded credential.
fn lowercase_percent_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut hex_left = 0;
    for c in encoded.chars() {
        if hex_left > 0 {
            out.push(c.to_ascii_lowercase());
            hex_left -= 1;
        } else {
            hex_left = if c == '%' { 2 } else { 0 };
            out.push(c);
        }
    }
    out
}
