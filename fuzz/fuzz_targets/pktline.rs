//! A receive-pack request body: the command list read before git starts (`read_command_list`),
//! its lines (`RefUpdate::parse`), and the report that refuses it (`refusal_report`).
//!
//! Input: the raw request body. Properties: the list reads the same whether the body arrives
//! whole or in small pieces; what was read is a prefix of the body and reads back to the same
//! list; every update re-parses from its own line; the refusal report is well-formed pkt-lines
//! (side-band framed when asked) saying `ng` for exactly the updates, in order.
#![no_main]

use std::pin::Pin;
use std::task::{Context, Poll};

use libfuzzer_sys::fuzz_target;
use pushmirror::fuzzing::ready;
use pushmirror::git::protocol::pktline::{self, refusal_report, CommandList};
use pushmirror::git::protocol::RefUpdate;
use tokio::io::{AsyncRead, ReadBuf};

/// git's `LARGE_PACKET_MAX`: no pkt-line, length bytes included, may be longer.
const LARGE_PACKET_MAX: usize = 65520;
/// The reason the server gives every refused ref.
const REASON: &str = "pre-receive hook declined";
/// A progress-band message like the server's.
const MESSAGE: &str =
    "GitLab: You are not allowed to push code to protected branches on this project.";

/// A body that arrives a few bytes at a time, as it may over HTTP.
struct Trickle<'a> {
    data: &'a [u8],
    reads: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.reads += 1;
        let n = (self.reads % 7 + 1)
            .min(self.data.len())
            .min(buf.remaining());
        let (now, later) = self.data.split_at(n);
        buf.put_slice(now);
        self.data = later;
        Poll::Ready(Ok(()))
    }
}

/// `read_command_list` on a reader that is always ready; the error is its message.
fn read_command_list(r: &mut (impl AsyncRead + Unpin)) -> Result<CommandList, String> {
    ready(pktline::read_command_list(r)).map_err(|e| e.to_string())
}

fn same(a: &Result<CommandList, String>, b: &Result<CommandList, String>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => {
            a.raw == b.raw && a.updates == b.updates && a.capabilities == b.capabilities
        }
        (Err(a), Err(b)) => a == b,
        _ => false,
    }
}

/// Splits `bytes` into pkt-lines (`None` for a flush), checking each length field.
fn pkt_lines(mut bytes: &[u8]) -> Vec<Option<&[u8]>> {
    let mut lines = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 4, "truncated length in {bytes:?}");
        let len = std::str::from_utf8(&bytes[..4])
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .unwrap_or_else(|| panic!("bad length field {:?}", &bytes[..4]));
        if len == 0 {
            lines.push(None);
            bytes = &bytes[4..];
            continue;
        }
        assert!(
            len > 4 && len <= LARGE_PACKET_MAX,
            "bad pkt-line length {len}"
        );
        assert!(bytes.len() >= len, "pkt-line longer than the report");
        lines.push(Some(&bytes[4..len]));
        bytes = &bytes[len..];
    }
    lines
}

fn check_report(list: &CommandList) {
    let report = refusal_report(list, |_| REASON.to_owned(), MESSAGE);
    let caps = &list.capabilities;
    let band_max = if caps.iter().any(|c| c == "side-band-64k") {
        Some(LARGE_PACKET_MAX - 5)
    } else if caps.iter().any(|c| c == "side-band") {
        Some(1000 - 5)
    } else {
        None
    };
    let inner = match band_max {
        None => report,
        Some(max) => {
            let lines = pkt_lines(&report);
            let (last, bands) = lines.split_last().expect("an empty side-band report");
            assert_eq!(*last, None, "side-band report without a final flush");
            let mut inner = Vec::new();
            let mut saw_message = false;
            for line in bands {
                let line = line.expect("a flush inside the side-band stream");
                match line.split_first() {
                    Some((1, data)) => {
                        assert!(data.len() <= max, "band-1 packet of {} bytes", data.len());
                        inner.extend_from_slice(data);
                    }
                    Some((2, data)) => {
                        assert_eq!(data, format!("{MESSAGE}\n").as_bytes());
                        saw_message = true;
                    }
                    other => panic!("unexpected band {other:?}"),
                }
            }
            assert!(saw_message, "the reason never reached the progress band");
            inner
        }
    };
    let lines = pkt_lines(&inner);
    let mut expected: Vec<Option<Vec<u8>>> = vec![Some(b"unpack ok\n".to_vec())];
    for u in &list.updates {
        expected.push(Some(format!("ng {} {REASON}\n", u.name).into_bytes()));
    }
    expected.push(None);
    let got: Vec<Option<Vec<u8>>> = lines.iter().map(|l| l.map(<[u8]>::to_vec)).collect();
    assert_eq!(got, expected);
}

fuzz_target!(|data: &[u8]| {
    let whole = read_command_list(&mut &data[..]);
    let trickled = read_command_list(&mut Trickle { data, reads: 0 });
    assert!(same(&whole, &trickled), "{whole:?} vs {trickled:?}");

    if let Ok(list) = &whole {
        assert!(data.starts_with(&list.raw[..]));
        assert!(list.raw.is_empty() || list.raw.ends_with(b"0000"));
        let again = read_command_list(&mut &list.raw[..]);
        assert!(same(&whole, &again), "{whole:?} vs {again:?}");
        for u in &list.updates {
            let line = format!("{} {} {}", u.old, u.new, u.name);
            assert_eq!(RefUpdate::parse(&line).as_ref(), Some(u));
        }
        if list.updates.is_empty() {
            assert!(list.capabilities.is_empty());
        }
        check_report(list);
    }

    if let Ok(line) = std::str::from_utf8(data) {
        if let Some(u) = RefUpdate::parse(line) {
            for id in [&u.old, &u.new] {
                assert!(matches!(id.len(), 40 | 64) && id.bytes().all(|b| b.is_ascii_hexdigit()));
            }
            assert!(!u.name.is_empty() && !u.name.contains(['\0', ' ', '\n']));
            assert_eq!(
                format!("{} {} {}", u.old, u.new, u.name),
                line.strip_suffix('\n').unwrap_or(line)
            );
            assert_eq!(u.branch(), u.name.strip_prefix("refs/heads/"));
        }
    }
});
