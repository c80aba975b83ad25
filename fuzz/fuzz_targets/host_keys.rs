//! A mirror's pinned SSH host keys (`host_keys`) turned into `known_hosts` text.
//!
//! Input: the mirror URL (its host and port name bare keys; a URL that does not parse gives
//! none), then entries separated by NUL, each one or more `known_hosts` lines. Properties: more
//! than ten key lines, or any invalid one, is refused; no key line is no text; otherwise one line
//! per key line, each `host algorithm blob` with the key parsing back as an OpenSSH public key
//! and the host a single word, and each line reads back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushmirror::model::host_keys::{known_hosts, known_hosts_name, MAX_HOST_KEYS};
use pushmirror::model::url::{parse_mirror_url, NetworkPolicy};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    // The URL, then entries separated by NUL (an entry may hold several `known_hosts` lines, as
    // the detection endpoint's text does).
    let mut parts = input.split('\0');
    let url = parse_mirror_url(
        parts.next().unwrap_or_default(),
        NetworkPolicy {
            allow_local_network: true,
        },
    );
    let host = url.as_ref().ok().map(|u| (&u.host, u.port));
    let keys: Vec<String> = parts.map(str::to_owned).collect();
    let lines_in: usize = keys
        .iter()
        .flat_map(|k| k.lines())
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .count();

    let text = match known_hosts(&keys, host) {
        Err(e) => {
            assert!(e.to_string().starts_with("Invalid SSH host key(s): "));
            return;
        }
        Ok(None) => {
            assert_eq!(lines_in, 0, "keys were given but no text came back");
            return;
        }
        Ok(Some(text)) => text,
    };
    let out: Vec<&str> = text.split('\n').collect();
    assert!(out.len() <= MAX_HOST_KEYS, "{text:?}");
    assert_eq!(out.len(), lines_in, "one line per key line: {text:?}");
    if let Some((h, port)) = host {
        // Bare keys are filed under the URL's host in known_hosts form.
        let alias = known_hosts_name(h, port);
        assert!(!alias.is_empty() && !alias.contains(char::is_whitespace));
    }
    for line in &out {
        let words: Vec<&str> = line.split(' ').collect();
        let [named, algo, blob] = words[..] else {
            panic!("{line:?} is not `host algorithm blob`");
        };
        assert!(
            !named.is_empty() && !named.contains(char::is_whitespace),
            "{line:?}"
        );
        assert!(
            ssh_key::PublicKey::from_openssh(&format!("{algo} {blob}")).is_ok(),
            "{line:?} does not parse back"
        );
        // Each line reads back to itself.
        assert_eq!(
            known_hosts(&[line.to_string()], None).ok().flatten().as_deref(),
            Some(*line)
        );
    }
});
