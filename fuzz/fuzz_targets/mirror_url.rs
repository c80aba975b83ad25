//! A mirror URL as a user types it: `parse_mirror_url` under both network policies, the masking
//! the API shows (`masked_url`), and the full URL git gets back (`url_with_credentials`).
//!
//! Input: the URL text. Properties: the strict policy only ever refuses more, never differently
//! parsed; a parsed URL re-parses from its own `url` field to the same result, with no
//! credentials left in it; putting the credentials back and parsing again gives the same URL
//! and the same credentials; masked output's userinfo is only ever a mask (or `git`), the rest
//! unchanged, so no password survives; masking is idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushmirror::model::url::{
    masked_url, parse_mirror_url, url_with_credentials, NetworkPolicy, ParsedMirrorUrl,
};
use secrecy::ExposeSecret;

const STRICT: NetworkPolicy = NetworkPolicy {
    allow_local_network: false,
};
const LOCAL: NetworkPolicy = NetworkPolicy {
    allow_local_network: true,
};

/// What must survive a round trip: everything but the credentials.
fn shape(p: &ParsedMirrorUrl) -> impl PartialEq + std::fmt::Debug + '_ {
    (&p.url, p.scheme, &p.host, p.port)
}

fn password(p: &ParsedMirrorUrl) -> Option<&str> {
    p.password.as_ref().map(|s| s.expose_secret())
}

/// `scheme://`, the userinfo (if any) and the rest, split the way a URL's authority ends: at the
/// first `/`, `?` or `#`, with the userinfo ending at the authority's last `@`.
/// `None` when the text is not a `scheme://` URL, which masking returns as it is.
fn userinfo_split(url: &str) -> Option<(&str, Option<&str>, &str)> {
    let (scheme, _) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let is_scheme = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !is_scheme {
        return None;
    }
    let (prefix, after) = url.split_at(scheme.len() + 3);
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    match after[..end].rfind('@') {
        Some(i) => Some((prefix, Some(&after[..i]), &after[i + 1..])),
        None => Some((prefix, None, after)),
    }
}

/// Masked output hides every credential: its userinfo is a mask or `git`, and the rest of the
/// URL is the input's, untouched.
fn check_masked(input: &str, masked: &str) {
    let Some((in_prefix, _, in_rest)) = userinfo_split(input) else {
        return;
    };
    let Some((prefix, userinfo, rest)) = userinfo_split(masked) else {
        panic!("masking {input:?} lost its scheme: {masked:?}");
    };
    if masked == input && userinfo.is_none() {
        return;
    }
    assert_eq!(
        (prefix, rest),
        (in_prefix, in_rest),
        "{input:?} → {masked:?}"
    );
    assert!(
        matches!(
            userinfo,
            None | Some("*****" | "git" | "*****:*****" | "git:*****")
        ),
        "{input:?} masked to {masked:?}"
    );
}

fn check_parsed(input: &str, p: &ParsedMirrorUrl) {
    // The stored URL carries no credentials and reads back to itself.
    let again = parse_mirror_url(&p.url, LOCAL).expect("a stored URL re-parses");
    assert_eq!(shape(&again), shape(p));
    assert!(
        again.user.is_none() && again.password.is_none(),
        "{:?}",
        p.url
    );
    assert_eq!(p.url.trim(), p.url);

    // Credentials put back come out again, percent-encoding and all.
    let full = url_with_credentials(&p.url, p.user.as_deref(), password(p));
    let back =
        parse_mirror_url(full.expose_secret(), LOCAL).expect("a URL with credentials re-parses");
    assert_eq!(shape(&back), shape(p), "{input:?}");
    assert_eq!(back.user, p.user, "{input:?}");
    assert_eq!(password(&back), password(p), "{input:?}");

    // Masking: the API's view, and the same view of the URL with credentials embedded.
    let masked = masked_url(&p.url, p.user.as_deref(), p.password.is_some());
    let shown_user = match p.user.as_deref() {
        Some("git") => "git",
        _ => "*****",
    };
    let expected = match (&p.user, &p.password) {
        (None, None) => p.url.clone(),
        (_, None) => p.url.replacen("://", &format!("://{shown_user}@"), 1),
        (_, Some(_)) => p.url.replacen("://", &format!("://{shown_user}:*****@"), 1),
    };
    assert_eq!(masked, expected);
    assert_eq!(masked_url(full.expose_secret(), None, false), masked);
    assert_eq!(masked_url(&masked, None, false), masked);
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let strict = parse_mirror_url(input, STRICT);
    let local = parse_mirror_url(input, LOCAL);
    match (&strict, &local) {
        (Ok(s), Ok(l)) => {
            assert_eq!(shape(s), shape(l));
            assert_eq!(s.user, l.user);
            assert_eq!(password(s), password(l));
        }
        (Err(_), _) => {}
        (Ok(_), Err(e)) => panic!("{input:?}: only the local-network policy refused it: {e}"),
    }
    if let Ok(p) = &local {
        check_parsed(input, p);
    }

    let masked = masked_url(input, None, false);
    check_masked(input, &masked);
    assert_eq!(masked_url(&masked, None, false), masked, "{input:?}");
});
