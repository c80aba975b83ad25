//! The little of git's pkt-line wire format a git endpoint (smart HTTP today, SSH next) must
//! understand itself: the command list at the start of a receive-pack request (`<old> <new> <ref>\0<caps>` lines up to a
//! flush, see gitprotocol-pack "Reference Update Request"), read so protected branches can be
//! enforced before git sees a byte, and the report-status answer that refuses a push the way
//! receive-pack itself would, so the client prints its usual `[remote rejected]` lines.

use tokio::io::{AsyncRead, AsyncReadExt};

use super::RefUpdate;

/// Most bytes of command list read before deciding a push: about 80,000 ref updates, more than
/// any real push of branches and tags, while bounding what one request can make us hold.
const MAX_COMMAND_LIST: usize = 8 * 1024 * 1024;

/// Largest data a side-band-64k packet carries (65520 minus the length and band bytes).
const SIDEBAND_64K_DATA: usize = 65515;
/// Largest data a plain side-band packet carries (1000 minus the length and band bytes).
const SIDEBAND_DATA: usize = 995;

/// Why a command list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PktError {
    #[error("reading the request: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed pkt-line in the command list")]
    Malformed,
    #[error("the command list is too long")]
    TooLong,
    #[error("signed pushes are not supported")]
    PushCert,
}

/// The command list of a receive-pack request, and the exact bytes it came in.
#[derive(Debug, Default)]
pub struct CommandList {
    /// The bytes read, flush included, to be handed to git unchanged before the rest.
    pub raw: Vec<u8>,
    /// The ref updates, in request order.
    pub updates: Vec<RefUpdate>,
    /// The capabilities the client asked for on the first command.
    pub capabilities: Vec<String>,
}

impl CommandList {
    fn has(&self, cap: &str) -> bool {
        self.capabilities.iter().any(|c| c == cap)
    }

    /// Whether the client asked for a per-ref report (without one it cannot be told which refs
    /// were refused).
    pub fn wants_report(&self) -> bool {
        self.has("report-status") || self.has("report-status-v2")
    }
}

/// Reads the command list from the start of a receive-pack request body. An empty body is an
/// empty list (git's authentication probe sends a bare flush, which is also an empty list).
pub async fn read_command_list(r: &mut (impl AsyncRead + Unpin)) -> Result<CommandList, PktError> {
    let mut list = CommandList::default();
    loop {
        let mut len = [0u8; 4];
        match r.read_exact(&mut len).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && list.raw.is_empty() => {
                return Ok(list)
            }
            Err(e) => return Err(e.into()),
        }
        list.raw.extend_from_slice(&len);
        // Four hex digits, as git reads them: `from_str_radix` alone also takes `+000`.
        let len = std::str::from_utf8(&len)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .ok_or(PktError::Malformed)?;
        if len == 0 {
            return Ok(list);
        }
        if len <= 4 {
            return Err(PktError::Malformed);
        }
        if list.raw.len() + len > MAX_COMMAND_LIST {
            return Err(PktError::TooLong);
        }
        let start = list.raw.len();
        list.raw.resize(start + len - 4, 0);
        r.read_exact(&mut list.raw[start..]).await?;
        let payload = std::str::from_utf8(&list.raw[start..]).map_err(|_| PktError::Malformed)?;
        let payload = payload.strip_suffix('\n').unwrap_or(payload);
        if payload.starts_with("shallow ") {
            continue;
        }
        if payload.starts_with("push-cert") {
            return Err(PktError::PushCert);
        }
        let command = match payload.split_once('\0') {
            Some((command, caps)) if list.updates.is_empty() => {
                list.capabilities = caps.split(' ').map(str::to_owned).collect();
                command
            }
            Some(_) => return Err(PktError::Malformed),
            None => payload,
        };
        list.updates
            .push(RefUpdate::parse(command).ok_or(PktError::Malformed)?);
    }
}

/// Appends one pkt-line holding `data`.
fn pkt(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("{:04x}", data.len() + 4).as_bytes());
    out.extend_from_slice(data);
}

/// The complete response body of a refused push: every update reported `ng` with its reason
/// (`reason_for` gives it), wrapped in side-band when the client asked, plus `message` on the
/// progress band (even for a quiet client). The pack is never unpacked, and git reports
/// "unpack ok" in the same situation when a pre-receive hook declines.
pub fn refusal_report(
    list: &CommandList,
    reason_for: impl Fn(&RefUpdate) -> String,
    message: &str,
) -> Vec<u8> {
    let mut report = Vec::new();
    pkt(&mut report, b"unpack ok\n");
    for u in &list.updates {
        pkt(
            &mut report,
            format!("ng {} {}\n", u.name, reason_for(u)).as_bytes(),
        );
    }
    report.extend_from_slice(b"0000");
    let chunk = if list.has("side-band-64k") {
        SIDEBAND_64K_DATA
    } else if list.has("side-band") {
        SIDEBAND_DATA
    } else {
        return report;
    };
    // The reason is an error, not progress: git relays a declining hook's message even to a
    // quiet client, and so do we.
    let mut out = Vec::new();
    let mut band = vec![2u8];
    band.extend_from_slice(format!("{message}\n").as_bytes());
    pkt(&mut out, &band);
    for part in report.chunks(chunk) {
        let mut band = vec![1u8];
        band.extend_from_slice(part);
        pkt(&mut out, &band);
    }
    out.extend_from_slice(b"0000");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Vec<u8> {
        let mut v = Vec::new();
        pkt(&mut v, s.as_bytes());
        v
    }

    #[tokio::test]
    async fn reads_commands_and_leaves_the_pack() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let mut body = line(&format!("shallow {a}\n"));
        body.extend(line(&format!(
            "{z} {a} refs/heads/main\0report-status side-band-64k\n"
        )));
        body.extend(line(&format!("{a} {z} refs/tags/v1\n")));
        body.extend_from_slice(b"0000PACKDATA");
        let mut r = &body[..];
        let list = read_command_list(&mut r).await.unwrap();
        assert_eq!(r, b"PACKDATA");
        assert_eq!(list.raw, body[..body.len() - 8]);
        assert_eq!(list.updates.len(), 2);
        assert_eq!(list.updates[0].branch(), Some("main"));
        assert!(list.updates[1].is_delete());
        assert!(list.wants_report());
    }

    #[tokio::test]
    async fn rejects_malformed_lists() {
        let a = "a".repeat(40);
        for body in [
            b"zzzz".to_vec(),
            b"0003".to_vec(),
            line("not a command"),
            [
                line(&format!("{a} {a} refs/heads/x\0caps")),
                line(&format!("{a} {a} refs/heads/y\0more")),
            ]
            .concat(),
            b"0010abc".to_vec(),
            b"+000".to_vec(),
            [line(&format!("{a} {a} refs/heads/x")), b"+000".to_vec()].concat(),
        ] {
            assert!(read_command_list(&mut &body[..]).await.is_err(), "{body:?}");
        }
        assert!(read_command_list(&mut &b""[..])
            .await
            .unwrap()
            .updates
            .is_empty());
    }

    #[tokio::test]
    async fn refusal_is_a_report_in_band_one() {
        let a = "a".repeat(40);
        let body = [
            line(&format!(
                "{a} {a} refs/heads/main\0report-status side-band-64k quiet"
            )),
            b"0000".to_vec(),
        ]
        .concat();
        let list = read_command_list(&mut &body[..]).await.unwrap();
        let out = refusal_report(&list, |_| "protected".into(), "msg");
        let inner = [
            line("unpack ok\n"),
            line("ng refs/heads/main protected\n"),
            b"0000".to_vec(),
        ]
        .concat();
        let mut expected = Vec::new();
        pkt(&mut expected, b"\x02msg\n");
        pkt(&mut expected, &[&[1u8][..], &inner].concat());
        expected.extend_from_slice(b"0000");
        assert_eq!(out, expected);
    }
}
