//! CI smoke test of the bench harness: `bench all --tiny` runs every scenario at toy sizes and
//! prints its table. It asserts nothing about the numbers (no wall-clock assertions), only that
//! the harness works end to end. PostgreSQL is skipped by the bench only when unreachable and
//! never under `CI=true`.

use std::process::Command;

#[test]
fn bench_all_tiny_runs_and_prints_its_table() {
    let out = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["all", "--tiny"])
        .output()
        .expect("run bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("| scenario | metric | value | baseline | ratio | target | met |"),
        "no table:\n{stdout}"
    );
    for scenario in [
        "propagation",
        "many-refs",
        "fan-out",
        "api",
        "dashboard",
        "footprint",
        "keygen",
        "lfs",
        "ssh",
        "pull",
    ] {
        assert!(
            stdout.contains(&format!("| {scenario} |")),
            "no {scenario} rows:\n{stdout}"
        );
        assert!(
            !stdout.contains(&format!("| {scenario} | FAILED")),
            "{scenario} failed:\n{stdout}\n{stderr}"
        );
    }
}
