//! `scrub`, which makes git's stderr and error texts safe to store and show.
//!
//! Input: secrets, one a line, then an empty line, then the text (no empty line: all text, no
//! secrets); the text is scrubbed as it is and with a URL carrying the first secret as its
//! password inside it, as git's messages quote one. Properties, for secrets without `*` (a
//! secret made of the mask's own character can need more rounds than `scrub` allows itself, by
//! design): no secret is left in the output, raw or percent-encoded, and scrubbing is idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use pushmirror::model::url::{scrub, url_with_credentials};
use secrecy::ExposeSecret;

/// RFC 3986 "unreserved": what stays literal when a credential is written into a URL.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn check(text: &str, secrets: &[&str]) {
    let out = scrub(text, secrets);
    if secrets.iter().any(|s| s.contains('*')) {
        return;
    }
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(!out.contains(secret), "{secret:?} left in {out:?}");
        let upper = utf8_percent_encode(secret, UNRESERVED).to_string();
        // `%3A` → `%3a`, as servers may echo it.
        let lower = upper
            .split('%')
            .enumerate()
            .map(|(i, part)| match i {
                0 => part.to_owned(),
                _ => part[..2].to_lowercase() + &part[2..],
            })
            .collect::<Vec<_>>()
            .join("%");
        for enc in [upper, lower] {
            assert!(!out.contains(&enc), "{enc:?} left in {out:?}");
        }
    }
    assert_eq!(scrub(&out, secrets), out, "not idempotent on {text:?}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (secrets, text) = input.split_once("\n\n").unwrap_or(("", input));
    let secrets: Vec<&str> = secrets.lines().collect();
    check(text, &secrets);
    if let Some(password) = secrets.first() {
        let url = url_with_credentials("https://example.com/x.git", Some("user"), Some(password));
        let message = format!("fatal: unable to access '{}/': {text}", url.expose_secret());
        check(&message, &secrets);
    }
});
