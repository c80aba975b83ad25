//! SSH host keys of a mirror's remote: pinned keys (`host_keys` in the API) turned into
//! `known_hosts` lines as GitLab's `HostKeysConverter` does (a line may name its host or be a bare
//! key, which gets the mirror's host), the keys a scan found (GitLab's `SshHostKey`: cleaned,
//! sorted, with MD5 and SHA256 fingerprints), and the words a person reads when the remote
//! offers a key that is not pinned.
//!
//! [`known_hosts_name`] is the one rule for the name a key is filed under (`host`, or
//! `[host]:port` off port 22): pinning, scanning and ssh's `HostKeyAlias` all use it, so a key
//! pinned from a scan is the key ssh looks up.

use std::net::IpAddr;

use md5::{Digest, Md5};

use super::url::Host;

/// GitLab's limit of pinned SSH host keys per mirror.
pub const MAX_HOST_KEYS: usize = 10;

/// Why `host_keys` was refused; `Display` is GitLab's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid SSH host key(s): {0}")]
pub struct HostKeyError(pub String);

/// The name `known_hosts` files a key under for `host` at `port`, as OpenSSH writes it
/// (`put_host_port`): the bare host on port 22, else `[host]:port`. IPv6 addresses are bare
/// (`::1`) on port 22 and bracketed otherwise.
pub fn known_hosts_name(host: &Host, port: u16) -> String {
    let bare = match host {
        Host::Domain(name) => name.clone(),
        Host::Ip(ip) => ip.to_string(),
    };
    if port == 22 {
        bare
    } else {
        format!("[{bare}]:{port}")
    }
}

/// The `known_hosts` text for `keys`, or `None` for an empty list. Each entry may hold several
/// lines (the `known_hosts` text a scan returned is accepted unchanged); blank and `#` lines are
/// skipped. `host` is the mirror URL's host and port; bare keys need it.
pub fn known_hosts(
    keys: &[String],
    host: Option<(&Host, u16)>,
) -> Result<Option<String>, HostKeyError> {
    let entries: Vec<&str> = keys
        .iter()
        .flat_map(|k| k.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if entries.len() > MAX_HOST_KEYS {
        return Err(HostKeyError(format!(
            "too many host keys (maximum is {MAX_HOST_KEYS})"
        )));
    }
    let mut lines = Vec::new();
    let mut invalid = Vec::new();
    for key in entries {
        match parse_line(key) {
            None => invalid.push(key.to_owned()),
            Some((Some(named), line)) => lines.push(format!("{named} {line}")),
            Some((None, line)) => {
                let (host, port) = host.ok_or_else(|| {
                    HostKeyError("cannot determine hostname from URL for bare key".into())
                })?;
                lines.push(format!("{} {line}", known_hosts_name(host, port)));
            }
        }
    }
    if !invalid.is_empty() {
        return Err(HostKeyError(invalid.join(", ")));
    }
    Ok((!lines.is_empty()).then(|| lines.join("\n")))
}

/// Whether `word` is a key type as `known_hosts` writes it (GitLab's `ssh-|ecdsa-`, plus FIDO
/// keys' `sk-`).
fn is_key_type(word: &str) -> bool {
    ["ssh-", "ecdsa-", "sk-"]
        .iter()
        .any(|p| word.starts_with(p))
}

/// One `known_hosts` line or bare key: its host names (if it names any) and `<type> <base64>`.
fn parse_line(line: &str) -> Option<(Option<&str>, String)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let prefixed = words.len() >= 3 && is_key_type(words[1]);
    let (named, algo_at) = if prefixed {
        (Some(words[0]), 1)
    } else {
        (None, 0)
    };
    // Form encoding turns '+' into ' ', splitting the base64 blob into words. Rejoin the
    // shortest prefix of words that parses as a key; what follows is a comment.
    let [algo, rest @ ..] = words.get(algo_at..)? else {
        return None;
    };
    let mut blob = String::new();
    rest.iter()
        .map_while(|word| {
            if !blob.is_empty() {
                blob.push('+');
            }
            blob.push_str(word);
            (blob.len() <= MAX_KEY_BASE64).then(|| format!("{algo} {blob}"))
        })
        .find(|line| ssh_key::PublicKey::from_openssh(line).is_ok())
        .map(|line| (named, line))
}

/// Longest base64 text tried when rejoining a key's words: well above the 2,764 characters of the
/// largest key ssh-keygen makes (RSA, 16384 bits), and the bound on the rejoining's cost, which
/// grows with the square of the words tried (found by fuzzing: a 1 MiB request of one-letter
/// words kept a core busy for minutes).
const MAX_KEY_BASE64: usize = 4096;

/// One host key as GitLab's host-key detection lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `rsa`, `dsa`, `ecdsa`, `ed25519`, `ecdsa_sk`, `ed25519_sk` (GitLab's names).
    pub key_type: &'static str,
    pub bits: u32,
    /// MD5 of the key blob, colon-separated hex (`2e:65:…`).
    pub md5: String,
    /// `SHA256:<base64 without padding>`, as `ssh-keygen -l` prints it.
    pub sha256: String,
    /// The line of the `known_hosts` text the key is on, from 0.
    pub index: usize,
}

/// The fingerprint of every key in `known_hosts` text, with its line number; lines that hold no
/// key are skipped (and counted).
pub fn fingerprints(known_hosts: &str) -> Vec<Fingerprint> {
    known_hosts
        .lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let (_, key) = parse_line(line.trim())?;
            fingerprint(&ssh_key::PublicKey::from_openssh(&key).ok()?, index)
        })
        .collect()
}

fn fingerprint(key: &ssh_key::PublicKey, index: usize) -> Option<Fingerprint> {
    use ssh_key::public::KeyData;
    use ssh_key::EcdsaCurve;
    let curve_bits = |c: EcdsaCurve| match c {
        EcdsaCurve::NistP256 => 256,
        EcdsaCurve::NistP384 => 384,
        EcdsaCurve::NistP521 => 521,
    };
    let mpint_bits = |m: &ssh_key::Mpint| {
        m.as_positive_bytes().map_or(0, |b| {
            let lead = b.first().map_or(8, |x| x.leading_zeros());
            (b.len() as u32 * 8).saturating_sub(lead)
        })
    };
    let (key_type, bits) = match key.key_data() {
        KeyData::Rsa(rsa) => ("rsa", mpint_bits(&rsa.n)),
        KeyData::Dsa(dsa) => ("dsa", mpint_bits(&dsa.p)),
        KeyData::Ecdsa(ec) => ("ecdsa", curve_bits(ec.curve())),
        KeyData::Ed25519(_) => ("ed25519", 256),
        KeyData::SkEcdsaSha2NistP256(_) => ("ecdsa_sk", 256),
        KeyData::SkEd25519(_) => ("ed25519_sk", 256),
        _ => return None,
    };
    let blob = key.to_bytes().ok()?;
    let md5 = Md5::digest(&blob)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    Some(Fingerprint {
        key_type,
        bits,
        md5,
        sha256: key.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
        index,
    })
}

/// `known_hosts` text as GitLab compares and returns it: comment and blank lines dropped, each
/// line trimmed, duplicates removed, sorted.
pub fn cleaned(known_hosts: &str) -> Vec<String> {
    let mut lines: Vec<String> = known_hosts
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines.dedup();
    lines
}

/// The `known_hosts` text of a scan of `host` at `port`: each key `ssh-keyscan` printed, filed
/// under [`known_hosts_name`] (whatever name the scanner printed), cleaned. `None` when the scan
/// printed no key.
pub fn scanned_known_hosts(scan_output: &str, host: &Host, port: u16) -> Option<String> {
    let name = known_hosts_name(host, port);
    let lines: Vec<String> = scan_output
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| parse_line(l.trim()))
        .map(|(_, key)| format!("{name} {key}"))
        .collect();
    let lines = cleaned(&lines.join("\n"));
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// GitLab's `host_keys_changed`: whether two `known_hosts` texts differ once cleaned (order,
/// duplicates and comments do not count).
pub fn host_keys_changed(scanned: &str, compare: &str) -> bool {
    cleaned(scanned) != cleaned(compare)
}

/// Whether ssh's output says it refused the remote's host key: OpenSSH ends every such refusal
/// (an unknown key under strict checking, a changed key) with this line, in every version.
pub fn is_host_key_refusal(ssh_output: &str) -> bool {
    ssh_output.contains("Host key verification failed")
}

/// Where a person re-pins a mirror's host keys: the API paths the failure message names.
#[derive(Debug, Clone)]
pub struct RepinHint<'a> {
    pub project_id: i64,
    pub mirror_id: i64,
    /// The mirror's URL as stored (without credentials).
    pub url: &'a str,
}

/// The `last_error` of an update whose remote offered a host key that is not pinned: the name
/// checked, what the remote offers (from a scan of the pinned address; empty if that failed
/// too), what is pinned (`pinned_known_hosts`, noting keys filed under another name, which ssh
/// does not consider), and how to pin the offered keys if they are genuine.
pub fn host_key_failure_message(
    name: &str,
    address: IpAddr,
    offered: &[Fingerprint],
    pinned_known_hosts: &str,
    hint: &RepinHint<'_>,
) -> String {
    let list = |fps: &[Fingerprint]| {
        fps.iter()
            .map(|f| format!("{} ({})", f.sha256, f.key_type))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let offered = match offered {
        [] => "the remote's keys could not be read".to_owned(),
        fps => format!("the remote offers {}", list(fps)),
    };
    let pinned: Vec<String> = pinned_known_hosts
        .lines()
        .filter_map(|line| {
            let (names, key) = parse_line(line.trim())?;
            let f = fingerprint(&ssh_key::PublicKey::from_openssh(&key).ok()?, 0)?;
            // Hashed names (`|1|…`) cannot be compared; a plain list that lacks ours can.
            let elsewhere =
                names.filter(|n| !n.starts_with('|') && !n.split(',').any(|n| n == name));
            Some(match elsewhere {
                Some(other) => format!("{} ({}) for {other}", f.sha256, f.key_type),
                None => format!("{} ({})", f.sha256, f.key_type),
            })
        })
        .collect();
    let pinned = match pinned.as_slice() {
        [] => "no host key is pinned".to_owned(),
        keys => format!("pinned: {}", keys.join(", ")),
    };
    format!(
        "Host key verification failed for {name} ({address}): {offered}; {pinned}. \
         If the remote's key is genuine (compare it with its operator's published fingerprints), \
         detect it with GET /api/v4/projects/{p}/mirror/ssh_host_keys?ssh_url={url} and pin the \
         returned known_hosts with PUT /api/v4/projects/{p}/remote_mirrors/{m} host_keys=<known_hosts>.",
        p = hint.project_id,
        m = hint.mirror_id,
        url = hint.url,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const EC: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBP3JP7MpXDWbLIua2eqCQMn0uMvSmwaN8HHe2vrMLh05G/b19mPeAqXcDHJkLCkDAP8GFUolt7zmkUYFVAICmoE=";

    fn domain(name: &str) -> Host {
        Host::Domain(name.into())
    }

    #[test]
    fn the_name_is_openssh_put_host_port() {
        let v6 = Host::Ip("::1".parse().unwrap());
        let v4 = Host::Ip("203.0.113.7".parse().unwrap());
        let cases = [
            (domain("example.com"), 22, "example.com"),
            (domain("example.com"), 2222, "[example.com]:2222"),
            (v4.clone(), 22, "203.0.113.7"),
            (v4, 8022, "[203.0.113.7]:8022"),
            (v6.clone(), 22, "::1"),
            (v6, 2222, "[::1]:2222"),
        ];
        for (host, port, want) in cases {
            assert_eq!(known_hosts_name(&host, port), want, "{host:?} {port}");
        }
    }

    #[test]
    fn bare_keys_get_the_urls_host_and_port() {
        let keys = vec![KEY.to_owned()];
        let h = domain("example.com");
        assert_eq!(
            known_hosts(&keys, Some((&h, 22))).unwrap(),
            Some(format!("example.com {KEY}"))
        );
        assert_eq!(
            known_hosts(&keys, Some((&Host::Ip("::1".parse().unwrap()), 2222))).unwrap(),
            Some(format!("[::1]:2222 {KEY}"))
        );
        assert!(known_hosts(&keys, None).is_err());
    }

    #[test]
    fn named_keys_keep_their_host_and_form_encoding_is_undone() {
        let named = format!("other.example {KEY} comment");
        assert_eq!(
            known_hosts(&[named], None).unwrap(),
            Some(format!("other.example {KEY}"))
        );
        // A key whose base64 had a '+' arrives split at a space.
        let blob = "AAAAC3NzaC1lZDI1NTE5AAAAIEnH+0jBk2Yz3ndBqCRJ8pxp9Zx7DWkN8F0B2GBcQ3Gz";
        let split = format!("ssh-ed25519 {}", blob.replace('+', " "));
        let got = known_hosts(&[split], Some((&domain("h"), 22)))
            .unwrap()
            .unwrap();
        assert_eq!(got, format!("h ssh-ed25519 {blob}"));
    }

    #[test]
    fn a_scans_known_hosts_text_is_accepted_as_one_entry() {
        let text = format!("# scanned\n[h]:2222 {EC}\n\n[h]:2222 {KEY}\n");
        let got = known_hosts(&[text], None).unwrap().unwrap();
        assert_eq!(got, format!("[h]:2222 {EC}\n[h]:2222 {KEY}"));
    }

    #[test]
    fn refuses_garbage_and_too_many_and_clears_on_empty() {
        let h = domain("h");
        let err = known_hosts(&["not a key".into()], Some((&h, 22))).unwrap_err();
        assert_eq!(err.to_string(), "Invalid SSH host key(s): not a key");
        let many = vec![KEY.to_owned(); MAX_HOST_KEYS + 1];
        assert!(known_hosts(&many, Some((&h, 22))).is_err());
        let many_lines = [KEY; MAX_HOST_KEYS + 1].join("\n");
        assert!(known_hosts(&[many_lines], Some((&h, 22))).is_err());
        assert_eq!(known_hosts(&[], Some((&h, 22))).unwrap(), None);
    }

    #[test]
    fn fingerprints_name_type_bits_md5_and_sha256_by_line() {
        let text = format!("h {KEY}\n# comment\nh {EC}");
        let fps = fingerprints(&text);
        assert_eq!(fps.len(), 2);
        assert_eq!(
            (fps[0].key_type, fps[0].bits, fps[0].index),
            ("ed25519", 256, 0)
        );
        assert_eq!(
            (fps[1].key_type, fps[1].bits, fps[1].index),
            ("ecdsa", 256, 2)
        );
        assert!(fps[0].sha256.starts_with("SHA256:"));
        let md5 = &fps[0].md5;
        assert_eq!(md5.len(), 47, "{md5}");
        assert_eq!(md5.matches(':').count(), 15, "{md5}");
    }

    #[test]
    fn scans_are_refiled_under_our_name_cleaned_and_compared_as_gitlab_does() {
        let out = format!("# 127.0.0.1:2222 SSH-2.0-OpenSSH\n[other]:2222 {KEY}\n[other]:2222 {EC}\n[other]:2222 {KEY}\n");
        let ip = Host::Ip("127.0.0.1".parse().unwrap());
        let got = scanned_known_hosts(&out, &ip, 2222).unwrap();
        assert_eq!(
            got,
            format!("[127.0.0.1]:2222 {EC}\n[127.0.0.1]:2222 {KEY}")
        );
        assert_eq!(scanned_known_hosts("# nothing\n", &ip, 22), None);
        let reordered = format!("# mine\n[127.0.0.1]:2222 {KEY}\n[127.0.0.1]:2222 {EC}\n");
        assert!(!host_keys_changed(&got, &reordered));
        assert!(host_keys_changed(&got, &format!("[127.0.0.1]:2222 {KEY}")));
    }

    #[test]
    fn the_failure_message_names_both_sides_and_how_to_repin() {
        let offered = fingerprints(&format!("h {EC}"));
        let pinned = format!("[h]:2222 {KEY}\nother.example {EC}");
        let fp = fingerprints(&pinned);
        let hint = RepinHint {
            project_id: 3,
            mirror_id: 9,
            url: "ssh://h:2222/x.git",
        };
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let msg = host_key_failure_message("[h]:2222", ip, &offered, &pinned, &hint);
        assert!(msg.starts_with("Host key verification failed for [h]:2222 (127.0.0.1): "));
        assert!(msg.contains(&format!("the remote offers {} (ecdsa)", offered[0].sha256)));
        let want = format!(
            "pinned: {} (ed25519), {} (ecdsa) for other.example.",
            fp[0].sha256, fp[1].sha256
        );
        assert!(msg.contains(&want), "{msg}");
        assert!(msg.contains("/projects/3/mirror/ssh_host_keys?ssh_url=ssh://h:2222/x.git"));
        assert!(
            msg.contains("/projects/3/remote_mirrors/9 host_keys="),
            "{msg}"
        );
        let none = host_key_failure_message("h", ip, &[], "", &hint);
        assert!(none.contains("could not be read") && none.contains("no host key is pinned"));
    }

    #[test]
    fn rejoining_words_stops_past_the_longest_key() {
        // 200,000 one-letter words: refused after at most MAX_KEY_BASE64 characters were tried.
        let words = format!("ssh-ed25519 {}", "A ".repeat(200_000));
        let h = domain("h");
        assert!(known_hosts(&[words], Some((&h, 22))).is_err());
    }
}
