//! A mirror's pinned SSH host keys (`host_keys` in the API), turned into `known_hosts` lines as
//! GitLab's `HostKeysConverter` does: a line may name its host or be a bare key, which gets the
//! mirror's `host` (port 22) or `[host]:port`. At most [`MAX_HOST_KEYS`]; an empty list clears.

/// GitLab's limit of pinned SSH host keys per mirror.
pub const MAX_HOST_KEYS: usize = 10;

/// Longest base64 text tried when rejoining a key's words: well above the 2,764 characters of the
/// largest key ssh-keygen makes (RSA, 16384 bits), and the bound on the rejoining's cost, which
/// grows with the square of the words tried (a 1 MiB request of one-letter words kept a core busy
/// for minutes without it).
const MAX_KEY_BASE64: usize = 4096;

/// Why `host_keys` was refused; `Display` is GitLab's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid SSH host key(s): {0}")]
pub struct HostKeyError(pub String);

/// The `known_hosts` text for `keys`, or `None` for an empty list. `host` is the mirror URL's
/// host as printed in `known_hosts` (`[::1]` for IPv6) and its port; bare keys need it.
pub fn known_hosts(
    keys: &[String],
    host: Option<(&str, u16)>,
) -> Result<Option<String>, HostKeyError> {
    if keys.len() > MAX_HOST_KEYS {
        return Err(HostKeyError(format!(
            "too many host keys (maximum is {MAX_HOST_KEYS})"
        )));
    }
    let mut lines = Vec::new();
    let mut invalid = Vec::new();
    for raw in keys {
        let key = raw.trim();
        let words: Vec<&str> = key.split_whitespace().collect();
        let prefixed =
            words.len() >= 3 && (words[1].starts_with("ssh-") || words[1].starts_with("ecdsa-"));
        let (named, algo_at) = if prefixed {
            (Some(words[0]), 1)
        } else {
            (None, 0)
        };
        // Form encoding turns '+' into ' ', splitting the base64 blob into words. Rejoin the
        // shortest prefix of words that parses as a key; what follows is a comment.
        let Some([algo, rest @ ..]) = words.get(algo_at..) else {
            invalid.push(key.to_owned());
            continue;
        };
        let mut blob = String::new();
        let parsed = rest
            .iter()
            .map_while(|word| {
                if !blob.is_empty() {
                    blob.push('+');
                }
                blob.push_str(word);
                (blob.len() <= MAX_KEY_BASE64).then(|| format!("{algo} {blob}"))
            })
            .find(|line| ssh_key::PublicKey::from_openssh(line).is_ok());
        let Some(line) = parsed else {
            invalid.push(key.to_owned());
            continue;
        };
        let named = match named {
            Some(h) => h.to_owned(),
            None => {
                let (host, port) = host.ok_or_else(|| {
                    HostKeyError("cannot determine hostname from URL for bare key".into())
                })?;
                if port == 22 {
                    host.to_owned()
                } else {
                    format!("[{}]:{port}", host.trim_matches(|c| c == '[' || c == ']'))
                }
            }
        };
        lines.push(format!("{named} {line}"));
    }
    if !invalid.is_empty() {
        return Err(HostKeyError(invalid.join(", ")));
    }
    Ok((!lines.is_empty()).then(|| lines.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn bare_keys_get_the_urls_host_and_port() {
        let keys = vec![KEY.to_owned()];
        assert_eq!(
            known_hosts(&keys, Some(("example.com", 22))).unwrap(),
            Some(format!("example.com {KEY}"))
        );
        assert_eq!(
            known_hosts(&keys, Some(("[::1]", 2222))).unwrap(),
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
        let got = known_hosts(&[split], Some(("h", 22))).unwrap().unwrap();
        assert_eq!(got, format!("h ssh-ed25519 {blob}"));
    }

    #[test]
    fn refuses_garbage_and_too_many_and_clears_on_empty() {
        let err = known_hosts(&["not a key".into()], Some(("h", 22))).unwrap_err();
        assert_eq!(err.to_string(), "Invalid SSH host key(s): not a key");
        let many = vec![KEY.to_owned(); MAX_HOST_KEYS + 1];
        assert!(known_hosts(&many, Some(("h", 22))).is_err());
        assert_eq!(known_hosts(&[], Some(("h", 22))).unwrap(), None);
    }

    #[test]
    fn rejoining_words_is_bounded() {
        // Every prefix of the words used to be rejoined and parsed, quadratic in their number:
        // a 1 MiB request of ten such keys ran for over ten minutes.
        let words = format!("ssh-ed25519 {}", "A ".repeat(200_000));
        let started = std::time::Instant::now();
        assert!(known_hosts(&[words], Some(("h", 22))).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
