//! `bench`: measures pushmirror against the physical limit, raw `git` on the same machine in the
//! same run, and prints one table. Everything runs on 127.0.0.1: the server in this process (or
//! the real binary as a child, where a separate process is needed), real git servers from
//! `tests/remotes/`, the real git CLI.
//!
//! ```text
//! cargo run --release --bin bench -- <propagation|many-refs|fan-out|api|dashboard|footprint|keygen|chaos|lfs|ssh|pull|all> [--tiny]
//! ```
//!
//! `--tiny` shrinks every size so the whole run takes seconds (the CI smoke test uses it). Every
//! loop is bounded in count and time. Exit status: 0 when every scenario ran (targets missed
//! are reported, not fatal), 1 when one failed, 2 on bad arguments.

mod api;
mod chaos;
mod client;
mod dashboard;
mod fan_out;
mod footprint;
mod keygen;
mod lfs;
mod many_refs;
mod propagation;
mod pull;
mod report;
mod setup;
mod ssh;

#[path = "../../../tests/remotes/mod.rs"]
mod remotes;

use std::process::ExitCode;

use report::Row;

/// The scenarios in the order `all` runs them.
const SCENARIOS: [&str; 11] = [
    "propagation",
    "many-refs",
    "fan-out",
    "api",
    "dashboard",
    "footprint",
    "keygen",
    "chaos",
    "lfs",
    "ssh",
    "pull",
];

/// Sizes of one run: full (the issue's numbers) or tiny (CI smoke).
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub tiny: bool,
    /// Pushes timed in `propagation` (and relayed in `pull`).
    pub pushes: usize,
    /// Refs in `many-refs` and in `pull`'s source.
    pub refs: usize,
    /// Projects × mirrors in `fan-out`.
    pub projects: usize,
    pub mirrors_per_project: usize,
    /// Length of each `api` load run.
    pub api_secs: f64,
    /// Mirrors registered in `footprint`.
    pub footprint_mirrors: usize,
}

impl Sizes {
    fn new(tiny: bool) -> Sizes {
        if tiny {
            Sizes {
                tiny,
                pushes: 5,
                refs: 2_000,
                projects: 4,
                mirrors_per_project: 2,
                api_secs: 0.5,
                footprint_mirrors: 1_000,
            }
        } else {
            Sizes {
                tiny,
                pushes: 50,
                refs: 100_000,
                projects: 200,
                mirrors_per_project: 5,
                api_secs: 5.0,
                footprint_mirrors: 100_000,
            }
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: bench <{}|all> [--tiny]", SCENARIOS.join("|"));
    ExitCode::from(2)
}

fn main() -> ExitCode {
    // The footprint scenario re-runs this executable as `pushmirror serve` when the real binary
    // is not next to it; the code path is the binary's own `cli::main`.
    if std::env::var_os(footprint::SERVE_AS_PUSHMIRROR).is_some() {
        return footprint::serve_as_pushmirror();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tiny = args.iter().any(|a| a == "--tiny");
    let names: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let [name] = names[..] else { return usage() };
    let chosen: Vec<&'static str> = match name {
        "all" => SCENARIOS.to_vec(),
        n => match SCENARIOS.iter().find(|s| **s == n) {
            Some(s) => vec![*s],
            None => return usage(),
        },
    };
    let sizes = Sizes::new(tiny);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut rows: Vec<Row> = Vec::new();
    let mut failed = false;
    for scenario in chosen {
        eprintln!(
            "bench: running {scenario}{}",
            if tiny { " (tiny)" } else { "" }
        );
        let started = std::time::Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(async {
                match scenario {
                    "propagation" => propagation::run(sizes).await,
                    "many-refs" => many_refs::run(sizes).await,
                    "fan-out" => fan_out::run(sizes).await,
                    "api" => api::run(sizes).await,
                    "dashboard" => dashboard::run(sizes).await,
                    "footprint" => footprint::run(sizes).await,
                    "keygen" => keygen::run(sizes).await,
                    "chaos" => chaos::run(sizes).await,
                    "lfs" => lfs::run(sizes).await,
                    "ssh" => ssh::run(sizes).await,
                    "pull" => pull::run(sizes).await,
                    _ => unreachable!("checked above"),
                }
            })
        }));
        match result {
            Ok(r) => rows.extend(r),
            Err(_) => {
                failed = true;
                rows.push(Row::note(scenario, "FAILED (see the panic above)"));
            }
        }
        eprintln!(
            "bench: {scenario} took {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    report::print(&rows, tiny);
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
