//! Mirror URLs: this module owns turning what a user typed as a push-mirror target into the
//! credential-free URL that is stored and shown plus the credentials that are stored encrypted,
//! deciding whether that URL may be used at all (GitLab's `PublicUrlValidator` rules, with the
//! exact GitLab error wording), masking URLs for display the way GitLab's `safe_url` does,
//! rebuilding the full URL for git, and scrubbing credentials out of free text such as git's stderr.
//!
//! **Invariant:** no I/O. A domain name passes [`parse_mirror_url`] unresolved; the caller resolves
//! it and runs [`check_address`] on every address it gets back (at validation and again right before
//! connecting, so DNS rebinding cannot slip an internal address past us).
//!
//! Why not the `url` crate: it applies WHATWG host rules (IPv4 number spellings, IDNA) only to
//! http/https and treats ssh/git hosts as opaque strings, and it re-serialises the URL (adds a `/`,
//! rewrites the path). We need one rule set for all four schemes and must keep the user's URL. So
//! the grammar here is a strict subset of RFC 3986: `scheme://[userinfo@]host[:port][/?#rest]`.
//! Hosts are restricted to `[A-Za-z0-9.-]`, bracketed IPv6 or numeric IPv4, and the stored URL is
//! re-assembled from the parts we validated, so git cannot read a different host out of it than
//! the one we checked.
//!
//! Code map: this file holds the types and the URL grammar; `host` reads hosts (every IPv4
//! spelling) and owns [`check_address`]; `mask` owns [`masked_url`], [`url_with_credentials`] and
//! [`scrub`]; `tests` holds the tables.

use std::fmt;
use std::net::IpAddr;

use percent_encoding::percent_decode_str;
use secrecy::SecretString;

mod host;
mod mask;
mod target;
#[cfg(test)]
mod tests;

pub use host::check_address;
pub use mask::{masked_url, scrub, url_with_credentials};
pub use target::{Credentials, MirrorTarget};

/// What GitLab shows in place of a credential, in API responses and in scrubbed text.
pub const MASK: &str = "*****";

/// Longest host name accepted: getaddrinfo refuses longer names, and GitLab reports this limit.
pub const MAX_HOST_LEN: usize = 1024;

/// A transport git may push over. GitLab's `Project::VALID_MIRROR_PROTOCOLS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Smart HTTP, cleartext.
    Http,
    /// Smart HTTP over TLS.
    Https,
    /// git over SSH (password or public-key authentication).
    Ssh,
    /// The unauthenticated git daemon protocol.
    Git,
}

impl Scheme {
    /// Reads a scheme name, ignoring ASCII case; `None` for any scheme mirrors may not use.
    pub fn parse(name: &str) -> Option<Scheme> {
        match name.to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            "ssh" => Some(Scheme::Ssh),
            "git" => Some(Scheme::Git),
            _ => None,
        }
    }

    /// The lower-case name, as written before `://` and as git matches it (case-sensitively).
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Ssh => "ssh",
            Scheme::Git => "git",
        }
    }

    /// The port git connects to when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
            Scheme::Ssh => 22,
            Scheme::Git => 9418,
        }
    }
}

/// The host of a mirror URL. Numeric hosts in any spelling end up as [`Host::Ip`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, lower-cased, not yet resolved.
    Domain(String),
    /// An address literal, canonical (`0x7f.1` has become `127.0.0.1`).
    Ip(IpAddr),
}

/// Prints the host as it goes into a URL or `known_hosts`: IPv6 in brackets.
impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

/// A user-supplied mirror URL, split into the credential-free URL that is stored and shown,
/// and the credentials that are stored encrypted.
#[derive(Debug, Clone)]
pub struct ParsedMirrorUrl {
    /// Credential-free and trimmed; scheme lower-cased and numeric hosts written canonically, so
    /// that git connects to exactly the address we checked. Otherwise the user's text.
    pub url: String,
    /// The transport.
    pub scheme: Scheme,
    /// The host, already checked by [`check_address`] when it is an address literal.
    pub host: Host,
    /// The effective port: the URL's, or the scheme's default.
    pub port: u16,
    /// The percent-decoded user name, `None` when absent or empty (GitLab drops blank credentials).
    pub user: Option<String>,
    /// The percent-decoded password, `None` when absent or empty.
    pub password: Option<SecretString>,
}

impl ParsedMirrorUrl {
    /// The host as printed in messages and `known_hosts` (`[::1]` for IPv6).
    pub fn host_str(&self) -> String {
        self.host.to_string()
    }
}

/// Why a mirror URL was refused. `Display` is GitLab's exact wording; the HTTP edge wraps it as
/// `{"message":{"url":[<Display>]}}`.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum UrlError {
    /// Nothing left after trimming whitespace.
    #[error("can't be blank")]
    Blank,
    /// The URL parsed far enough to be judged, and a rule refused it.
    #[error("is blocked: {0}")]
    Blocked(BlockReason),
    /// SCP syntax (`git@host:path`), which git reads as ssh but GitLab refuses; the message names
    /// the `ssh://` URL to use instead (GitLab's wording first, so clients matching it still do).
    #[error("is blocked: URI is invalid: SCP-style addresses (git@host:path) are not supported, use {0}")]
    ScpSyntax(String),
}

/// The rule a URL broke, with GitLab's `UrlBlocker` messages as `Display`.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum BlockReason {
    /// Unparseable, a control character (raw or percent-encoded), a bad port, or SCP syntax.
    #[error("URI is invalid")]
    InvalidUri,
    /// No scheme, or one other than http, https, ssh, git (this blocks `ext::` and `file://`).
    #[error("Only allowed schemes are http, https, ssh, git")]
    Scheme,
    /// A user name that could be read as an option, such as `-oProxyCommand=...`.
    #[error("Username needs to start with an alphanumeric character")]
    Username,
    /// A missing host, or one that is neither an address nor a plain `[A-Za-z0-9.-]` name.
    #[error("Hostname or IP address invalid")]
    Hostname,
    /// `localhost`, `*.localhost`, `0.0.0.0/8` or `::`.
    #[error("Requests to localhost are not allowed")]
    Localhost,
    /// `127.0.0.0/8` or `::1`.
    #[error("Requests to loopback addresses are not allowed")]
    Loopback,
    /// Private IPv4, IPv6 unique-local and site-local, and (our choice) multicast.
    #[error("Requests to the local network are not allowed")]
    LocalNetwork,
    /// `169.254.0.0/16` (cloud metadata lives here) or `fe80::/10`.
    #[error("Requests to the link local network are not allowed")]
    LinkLocal,
    /// Carrier-grade NAT, `100.64.0.0/10`.
    #[error("Requests to the shared address space are not allowed")]
    SharedAddressSpace,
    /// `255.255.255.255`.
    #[error("Requests to the limited broadcast address are not allowed")]
    LimitedBroadcast,
    /// A host name longer than [`MAX_HOST_LEN`].
    #[error("Host is too long (maximum is 1024 characters)")]
    HostTooLong,
    /// Never produced here (no DNS in this module): for the caller whose resolver fails.
    #[error("Host cannot be resolved or invalid")]
    Unresolvable,
}

/// The operator's outbound policy for mirror targets.
#[derive(Clone, Copy, Debug, Default)]
pub struct NetworkPolicy {
    /// `--allow-local-network`: lifts only the address rules (localhost, loopback, private,
    /// link-local, shared, broadcast), never the scheme and syntax rules. For mirrors to a git
    /// server on the same host or LAN; off by default because it opens the server to SSRF.
    pub allow_local_network: bool,
}

/// Parses and validates a mirror URL the way GitLab's `RemoteMirror` validation does.
///
/// SCP syntax (`git@host:path`) answers `URI is invalid`, as GitLab does: Addressable reads
/// `git@host` as a scheme and rejects its syntax. Text with no scheme (`/srv/x.git`, `host/x`) or
/// a syntactically valid but foreign one (`host:path`, `file:`, `ext::`) answers the scheme error.
pub fn parse_mirror_url(input: &str, policy: NetworkPolicy) -> Result<ParsedMirrorUrl, UrlError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(UrlError::Blank);
    }
    parse_nonblank(input, None, policy).map_err(|reason| match scp_equivalent(input) {
        Some(ssh_url) if reason == BlockReason::InvalidUri => UrlError::ScpSyntax(ssh_url),
        _ => UrlError::Blocked(reason),
    })
}

/// Parses and validates a mirror target as [`parse_mirror_url`] does a URL, its credentials
/// held to the rules a URL's userinfo is (no control character, a user name starting with a
/// letter or digit) at the point the URL grammar checks them, so the first rule broken is
/// the same one as with the credentials written into the URL. The target's credentials, when it
/// has any, are the result's.
pub fn parse_mirror_target(
    target: &MirrorTarget,
    policy: NetworkPolicy,
) -> Result<ParsedMirrorUrl, UrlError> {
    let input = target.url.trim();
    if input.is_empty() {
        return Err(UrlError::Blank);
    }
    let given = target.credentials.as_ref();
    parse_nonblank(input, given, policy).map_err(|reason| match scp_equivalent(input) {
        Some(ssh_url) if reason == BlockReason::InvalidUri => UrlError::ScpSyntax(ssh_url),
        _ => UrlError::Blocked(reason),
    })
}

/// The `ssh://` URL git would use for SCP syntax `user@host:path` (no `://`, an `@` before the
/// first `:`, no `/` before it), or `None` when `input` is not written so. A relative path is
/// relative to the login's home on the remote, which `ssh://` spells `/~/path`; hosting services
/// resolve both forms to the same repository, so the plain `/path` is suggested.
pub fn scp_equivalent(input: &str) -> Option<String> {
    if input.contains("://") {
        return None;
    }
    let (authority, path) = input.split_once(':')?;
    let (user, host) = authority.rsplit_once('@')?;
    if user.is_empty() || host.is_empty() || authority.contains(['/', ' ']) {
        return None;
    }
    let path = path.trim_start_matches('/');
    Some(format!("ssh://{user}@{host}/{path}"))
}

/// Why `user` cannot log in over `ssh://`, or `None` when it can. ssh reads the login name from
/// a configuration file we write (`User`), where quotes, spaces, `%` tokens and `${}`
/// expansions would change its meaning, so only the characters login names use are allowed.
pub fn ssh_login_user_error(user: &str) -> Option<&'static str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+');
    (!user.chars().all(allowed)).then_some(
        "is blocked: an ssh:// login user may contain only letters, digits and . _ - @ +",
    )
}

/// The URL grammar; `given` credentials replace the URL's userinfo (which is still checked).
fn parse_nonblank(
    input: &str,
    given: Option<&Credentials>,
    policy: NetworkPolicy,
) -> Result<ParsedMirrorUrl, BlockReason> {
    // Percent-decoding first catches `%0a` and friends anywhere, including in the userinfo
    // (git would decode it into a header or an ssh argument) and multi-byte controls like NEL.
    let given_parts = given.map_or([None, None], |c| [c.user(), c.password()]);
    if String::from_utf8_lossy(&percent_decode_str(input).collect::<Vec<u8>>())
        .chars()
        .chain(given_parts.iter().flatten().flat_map(|s| s.chars()))
        .any(char::is_control)
    {
        return Err(BlockReason::InvalidUri);
    }
    let (scheme, after) = split_scheme(input)?;
    let parts = split_authority(after);

    let (user, password) = match parts.userinfo {
        None => (None, None),
        Some(userinfo) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            // Checked raw, as GitLab does: `%2D...` starts with `%` and is refused too.
            if user
                .bytes()
                .next()
                .is_some_and(|b| !b.is_ascii_alphanumeric())
            {
                return Err(BlockReason::Username);
            }
            (decode_credential(user)?, decode_credential(password)?)
        }
    };
    // Given credentials are decoded already: a user name starting with a letter or digit is
    // one whose percent-encoded form does too.
    let (user, password) = match given {
        None => (user, password),
        Some(c) => {
            if c.user()
                .is_some_and(|u| !u.starts_with(|ch: char| ch.is_ascii_alphanumeric()))
            {
                return Err(BlockReason::Username);
            }
            let part = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
            (part(c.user()), part(c.password()))
        }
    };

    let (host_text, port_text) = split_host_port(parts.host_port)?;
    let host = host::parse_host(host_text)?;
    let port = match port_text {
        None | Some("") => scheme.default_port(),
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => digits
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or(BlockReason::InvalidUri)?,
        Some(_) => return Err(BlockReason::InvalidUri),
    };

    match &host {
        Host::Ip(ip) => check_address(*ip, policy)?,
        Host::Domain(name) => {
            let name = name.strip_suffix('.').unwrap_or(name);
            if !policy.allow_local_network && (name == "localhost" || name.ends_with(".localhost"))
            {
                return Err(BlockReason::Localhost);
            }
        }
    }

    let host_in_url = match &host {
        Host::Domain(_) => host_text.to_owned(),
        Host::Ip(_) => host.to_string(),
    };
    let port_in_url = port_text.map(|p| format!(":{p}")).unwrap_or_default();
    Ok(ParsedMirrorUrl {
        url: format!(
            "{}://{host_in_url}{port_in_url}{}",
            scheme.as_str(),
            parts.rest
        ),
        scheme,
        host,
        port,
        user,
        password: password.map(SecretString::from),
    })
}

/// Splits `scheme://` off, returning the scheme and the text after the two slashes.
fn split_scheme(input: &str) -> Result<(Scheme, &str), BlockReason> {
    // Addressable's reading: the scheme is whatever precedes the first `:` if that contains no
    // `/?#`; otherwise there is no scheme at all (a local path).
    let Some((candidate, after)) = input.split_once(':') else {
        return Err(BlockReason::Scheme);
    };
    if candidate.is_empty() || candidate.contains(['/', '?', '#']) {
        return Err(BlockReason::Scheme);
    }
    if !is_scheme_syntax(candidate) {
        return Err(BlockReason::InvalidUri);
    }
    let scheme = Scheme::parse(candidate).ok_or(BlockReason::Scheme)?;
    // `https:host/x` has no authority; git and curl would guess, so we refuse.
    let after = after.strip_prefix("//").ok_or(BlockReason::InvalidUri)?;
    Ok((scheme, after))
}

/// RFC 3986 `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme_syntax(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// The text after `scheme://`, cut into its authority parts and the rest.
struct Authority<'a> {
    /// Everything before the last `@` of the authority, if there is one.
    userinfo: Option<&'a str>,
    /// `host[:port]`.
    host_port: &'a str,
    /// Path, query and fragment, starting at the first `/`, `?` or `#` (or empty).
    rest: &'a str,
}

fn split_authority(after_slashes: &str) -> Authority<'_> {
    let end = after_slashes
        .find(['/', '?', '#'])
        .unwrap_or(after_slashes.len());
    let (authority, rest) = after_slashes.split_at(end);
    // The last `@`, as Addressable and WHATWG do, so a raw `@` in a password stays in the password.
    // curl splits at the first one, but git never sees this text: the stored URL is re-assembled
    // without userinfo, and credentials go back in percent-encoded.
    let (userinfo, host_port) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    Authority {
        userinfo,
        host_port,
        rest,
    }
}

fn decode_credential(raw: &str) -> Result<Option<String>, BlockReason> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| BlockReason::InvalidUri)?;
    Ok((!decoded.is_empty()).then(|| decoded.into_owned()))
}

/// Splits `host[:port]`, keeping IPv6 brackets on the host so [`host::parse_host`] knows.
fn split_host_port(host_port: &str) -> Result<(&str, Option<&str>), BlockReason> {
    if host_port.starts_with('[') {
        let close = host_port.find(']').ok_or(BlockReason::InvalidUri)?;
        let (host, after) = host_port.split_at(close + 1);
        return match after {
            "" => Ok((host, None)),
            _ => Ok((
                host,
                Some(after.strip_prefix(':').ok_or(BlockReason::InvalidUri)?),
            )),
        };
    }
    Ok(match host_port.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host_port, None),
    })
}
