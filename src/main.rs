//! The `pushmirror` binary: a shim over the library's command line.

fn main() -> std::process::ExitCode {
    pushmirror::cli::main()
}
