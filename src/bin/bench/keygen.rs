//! `keygen`: generating a mirror's RSA 4096 key pair (`ssh_key_type=rsa`, which blocks the
//! request that creates or rotates the key) against `ssh-keygen -t rsa -b 4096`, what a person
//! would otherwise run, on the same machine in the same run; and, outside `--tiny`, against the
//! pure-Rust `rsa` crate's generator that pushmirror used before (it takes many seconds per key
//! in a debug build, which the CI smoke test runs).
//!
//! RSA generation time varies a lot from key to key (the prime search is random), so the figure
//! is the median of several keys.

use std::process::Command;
use std::time::{Duration, Instant};

use pushmirror::credentials::{generate_ssh_key, RSA_KEY_BITS};
use pushmirror::model::entities::SshKeyType;

use crate::report::Row;
use crate::setup::{ms, percentile};
use crate::Sizes;

pub async fn run(sizes: Sizes) -> Vec<Row> {
    tokio::task::spawn_blocking(move || measure(sizes))
        .await
        .expect("keygen bench")
}

fn measure(sizes: Sizes) -> Vec<Row> {
    let keys = if sizes.tiny { 2 } else { 9 };
    let ours = timed(keys, || {
        let (_, public) = generate_ssh_key("bench@pushmirror", SshKeyType::Rsa);
        assert!(public.starts_with("ssh-rsa "));
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    let keygen = timed(keys, || {
        n += 1;
        let path = dir.path().join(format!("k{n}"));
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "rsa", "-b", &RSA_KEY_BITS.to_string(), "-N", ""])
            .arg("-f")
            .arg(&path)
            .status()
            .expect("run ssh-keygen");
        assert!(status.success(), "ssh-keygen failed");
    });
    let median = |v: &[Duration]| percentile(v, 50.0);
    let mut rows = vec![Row::new(
        "keygen",
        format!("RSA {RSA_KEY_BITS} key pair, median of {keys}"),
        format!("{:.0} ms", ms(median(&ours))),
    )
    .baseline(
        format!("ssh-keygen {:.0} ms", ms(median(&keygen))),
        ms(median(&ours)) / ms(median(&keygen)),
    )];
    if !sizes.tiny {
        let before = timed(3, || {
            ssh_key::private::RsaKeypair::random(&mut rand::rngs::OsRng, RSA_KEY_BITS)
                .expect("rsa crate keygen");
        });
        rows.push(
            Row::new(
                "keygen",
                "RSA 4096, pure-Rust rsa crate (before), median of 3",
                format!("{:.0} ms", ms(median(&before))),
            )
            .baseline(
                format!("ssh-keygen {:.0} ms", ms(median(&keygen))),
                ms(median(&before)) / ms(median(&keygen)),
            ),
        );
    }
    rows
}

/// How long each of `n` runs of `f` took.
fn timed(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}
