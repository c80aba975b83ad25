//! A mirror's pinned SSH host keys (`host_keys`) turned into `known_hosts` text.
//!
//! Input: the mirror URL (its host and port name bare keys; a URL that does not parse gives
//! none), then one key a line. Properties: more than ten keys, or any invalid one, is refused;
//! no key is no text; otherwise one line per key, each `host algorithm blob` with the key
//! parsing back as an OpenSSH public key, the host a single word (the key's own, or the URL's
//! in `known_hosts` form for a bare key), and each line reads back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushmirror::model::host_keys::{known_hosts, MAX_HOST_KEYS};
use pushmirror::model::url::{parse_mirror_url, NetworkPolicy};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = input.split('\n');
    let url = parse_mirror_url(
        lines.next().unwrap_or_default(),
        NetworkPolicy {
            allow_local_network: true,
        },
    );
    let host_text = url.as_ref().ok().map(|u| u.host_str());
    let host = url
        .as_ref()
        .ok()
        .map(|u| (host_text.as_deref().unwrap(), u.port));
    let keys: Vec<String> = lines.map(str::to_owned).collect();

    let result = known_hosts(&keys, host);
    let text = match result {
        Err(e) => {
            assert!(e.to_string().starts_with("Invalid SSH host key(s): "));
            return;
        }
        Ok(None) => {
            assert!(keys.is_empty());
            return;
        }
        Ok(Some(text)) => text,
    };
    assert!(keys.len() <= MAX_HOST_KEYS);
    let bare_host = host.map(|(h, port)| match port {
        22 => h.to_owned(),
        _ => format!("[{}]:{port}", h.trim_matches(['[', ']'])),
    });
    let out: Vec<&str> = text.split('\n').collect();
    assert_eq!(out.len(), keys.len(), "{text:?}");
    for (line, key) in out.iter().zip(&keys) {
        let words: Vec<&str> = line.split(' ').collect();
        let [named, algo, blob] = words[..] else {
            panic!("{line:?} is not `host algorithm blob`");
        };
        assert!(
            !named.is_empty() && !named.contains(char::is_whitespace),
            "{line:?}"
        );
        let parsed = ssh_key::PublicKey::from_openssh(&format!("{algo} {blob}"))
            .unwrap_or_else(|e| panic!("{line:?} does not parse back: {e}"));
        assert_eq!(parsed.algorithm().as_str(), algo);
        if Some(named) != bare_host.as_deref() {
            // Only a key that named its host keeps it; it led the key's text.
            assert!(key.trim().starts_with(named), "{named:?} from {key:?}");
        }
        // The line as a key reads back to itself (named form), and so does the bare key.
        if algo.starts_with("ssh-") || algo.starts_with("ecdsa-") {
            assert_eq!(
                known_hosts(&[line.to_string()], None),
                Ok(Some(line.to_string()))
            );
        }
        if let Some(h) = host {
            let bare = known_hosts(&[format!("{algo} {blob}")], Some(h));
            assert_eq!(
                bare,
                Ok(Some(format!(
                    "{} {algo} {blob}",
                    bare_host.as_deref().unwrap()
                )))
            );
        }
    }
});
