//! The `pushmirror` binary: a shim over the library's command line.

fn main() -> std::process::ExitCode {
    // Before anything else (no runtime, no threads): the hidden process-supervisor mode.
    if let Some(code) = pushmirror::git::supervise::run_if_requested() {
        return code;
    }
    pushmirror::cli::main()
}
