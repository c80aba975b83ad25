//! The process supervisor: `pushmirror __supervise <program> [args...]`, a hidden mode of the
//! `pushmirror` binary that [`super::GitRunner`] puts between the server and every process it
//! starts (git, ssh-agent, ssh-add). It owns the lifetime of everything below it. The kernel's
//! parent-death signal reaches only a direct child, and a process group is only killed when
//! someone remembers to; git's own children (`git-remote-http`, `ssh`, `pack-objects`) have
//! neither. So the supervisor, a child of the server, is a child subreaper with a catchable
//! parent-death signal: when the program exits, or the server dies (even by SIGKILL), or it is
//! sent SIGTERM, it SIGKILLs every descendant still alive — in its process group or not, since
//! orphans are reparented to it — and exits the way the program did (same code, same signal).
//!
//! A supervisor that is itself SIGKILLed (`kill_on_drop` kills only a group's leader) cannot act,
//! so it forks a *watcher* first: a copy of itself in the same group whose parent-death signal
//! fires when the supervisor dies, and which then SIGKILLs the whole group.
//!
//! It is plain synchronous libc code run before any runtime exists, so it is single-threaded:
//! signals are blocked and taken with `sigwaitinfo`, so an exiting program is noticed at once
//! (no polling). Its own stdin/stdout/stderr go to `/dev/null` once the program runs, so it
//! holds no end of the caller's pipes.
//!
//! Given a directory to own ([`REMOVE_DIR_ENV`]), it removes it after killing the tree, on every
//! way out it has (the watcher, left only when the supervisor was SIGKILLed, cannot; that is
//! the caller dropping the run, whose own destructor removes it).
//!
//! Invariant: it signals only processes that are its own unreaped children (or, in the watcher,
//! its own group, which it is a member of), so a recycled pid is never hit.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// The argument that selects supervisor mode.
pub const MODE: &str = "__supervise";

/// The server's pid, so the supervisor can tell that the server died before it armed its
/// parent-death signal. Removed before the program starts.
pub(crate) const PARENT_ENV: &str = "PUSHMIRROR_SUPERVISE_PARENT";

/// A private directory the supervised program works in (the per-update ssh directory: its
/// known_hosts, ssh configuration and agent socket), which the supervisor removes once
/// everything below it is dead — also when the server died by SIGKILL and no destructor ran.
/// Removed from the program's environment.
pub(crate) const REMOVE_DIR_ENV: &str = "PUSHMIRROR_SUPERVISE_REMOVE_DIR";

/// The only directories [`REMOVE_DIR_ENV`] may name: ours, by the prefix their creator gives
/// them, so a stray variable cannot make the supervisor delete anything else.
pub(crate) const REMOVABLE_PREFIX: &str = "pushmirror-ssh-";

/// Bound on one wait for a SIGCHLD while killing descendants. Only reached if the kernel's list
/// of children missed a process being reparented to us; the normal path is woken by SIGCHLD.
const REAP_RECHECK_MS: libc::c_long = 100;

/// The supervisor this process can be, without guessing: the running binary when it is
/// `pushmirror` (the server and the CLI). Test binaries and other tools get `None`.
pub(crate) fn this_binary() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .filter(|exe| exe.file_name() == Some("pushmirror".as_ref()))
}

/// Runs the supervisor if this process was started as one (`argv[1] == "__supervise"`), never
/// returning unless the command line is malformed. Call it first thing in `main`.
pub fn run_if_requested() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != MODE {
        return None;
    }
    let Some(program) = args.next() else {
        eprintln!("usage: pushmirror {MODE} <program> [args...]");
        return Some(ExitCode::from(2));
    };
    supervise(program, args.collect())
}

/// The signals the supervisor takes synchronously: children exiting, and being told to stop.
fn handled_signals() -> libc::sigset_t {
    only(&[libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP])
}

fn only(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a sigset_t we own.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

fn supervise(program: OsString, args: Vec<OsString>) -> ! {
    let parent: Option<libc::pid_t> = std::env::var(PARENT_ENV).ok().and_then(|p| p.parse().ok());
    let owned_dir: Option<PathBuf> =
        std::env::var_os(REMOVE_DIR_ENV)
            .map(PathBuf::from)
            .filter(|d| {
                d.is_absolute()
                    && d.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(REMOVABLE_PREFIX))
            });
    let cleanup = || {
        kill_descendants();
        if let Some(dir) = &owned_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    };
    let signals = handled_signals();
    // SAFETY: plain syscalls on this single-threaded process, with valid pointers. Signals are
    // blocked before the parent-death signal is armed, so it is queued for sigwaitinfo.
    let me = unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        libc::sigprocmask(libc::SIG_BLOCK, &signals, std::ptr::null_mut());
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
        if parent.is_some_and(|p| libc::getppid() != p) {
            // The server died before the signal was armed: there is nobody to work for.
            if let Some(dir) = &owned_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
            libc::_exit(128 + libc::SIGTERM);
        }
        libc::getpid()
    };
    // SAFETY: fork in a single-threaded process; the child runs only async-signal-safe code.
    if unsafe { libc::fork() } == 0 {
        watch(me);
    }
    // std resets the child's signal mask and SIGPIPE, so the program starts as it would alone.
    let child = std::process::Command::new(&program)
        .args(&args)
        .env_remove(PARENT_ENV)
        .env_remove(REMOVE_DIR_ENV)
        .spawn();
    let main = match child {
        Ok(child) => child.id() as libc::pid_t,
        Err(e) => {
            eprintln!(
                "pushmirror {MODE}: cannot run {}: {e}",
                program.to_string_lossy()
            );
            cleanup();
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            // SAFETY: _exit ends the process; nothing is left to flush that matters.
            unsafe { libc::_exit(code) }
        }
    };
    stdio_to_null();
    loop {
        // SAFETY: waits for one of the blocked signals; a null siginfo pointer is allowed.
        let sig = unsafe { libc::sigwaitinfo(&signals, std::ptr::null_mut()) };
        match sig {
            libc::SIGCHLD => {
                if let Some(status) = reap(main) {
                    cleanup();
                    exit_like(status);
                }
            }
            libc::SIGTERM | libc::SIGINT | libc::SIGHUP => {
                cleanup();
                exit_like_signal(sig);
            }
            _ => {}
        }
    }
}

/// The watcher: SIGKILLs the whole group when the supervisor dies without cleaning up.
fn watch(supervisor: libc::pid_t) -> ! {
    stdio_to_null();
    let term = only(&[libc::SIGTERM]);
    // SAFETY: plain syscalls in this single-threaded child; SIGTERM is already blocked (inherited
    // mask), so it waits for sigwaitinfo. killpg(0) signals our own group, ourselves included.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
        if libc::getppid() == supervisor {
            while libc::sigwaitinfo(&term, std::ptr::null_mut()) != libc::SIGTERM {}
        }
        libc::killpg(0, libc::SIGKILL);
        libc::_exit(0)
    }
}

/// Reaps every child that has exited; returns the main program's status if it was among them.
fn reap(main: libc::pid_t) -> Option<libc::c_int> {
    let mut main_status = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer; WNOHANG never blocks.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return main_status;
        }
        if pid == main {
            main_status = Some(status);
        }
    }
}

/// SIGKILLs every descendant and reaps them all. As their subreaper we become the parent of each
/// orphan, so killing our children level by level reaches every process below us, whatever
/// group it moved to. Returns when we have no children left.
fn kill_descendants() {
    let sigchld = only(&[libc::SIGCHLD]);
    let recheck = libc::timespec {
        tv_sec: 0,
        tv_nsec: REAP_RECHECK_MS * 1_000_000,
    };
    loop {
        for pid in children() {
            // SAFETY: `pid` is our child and not yet reaped (only we reap), so it is not recycled.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer; WNOHANG never blocks.
            match unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } {
                0 => break,
                // ECHILD: nobody is left.
                p if p < 0 => return,
                _ => {}
            }
        }
        // SAFETY: waits (bounded) for SIGCHLD, which is blocked; a null siginfo is allowed.
        unsafe {
            libc::sigtimedwait(&sigchld, std::ptr::null_mut(), &recheck);
        }
    }
}

/// Our live children: the kernel's list, or a scan of `/proc` where the kernel lacks it.
fn children() -> Vec<libc::pid_t> {
    // SAFETY: getpid cannot fail.
    let me = unsafe { libc::getpid() };
    // Single-threaded, so our one task's list holds every child.
    match std::fs::read_to_string(format!("/proc/self/task/{me}/children")) {
        Ok(list) => list
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
        Err(_) => children_by_scan(me),
    }
}

/// Processes whose parent is `parent`, found by reading every `/proc/<pid>/stat`.
fn children_by_scan(parent: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| ppid_of(&stat) == Some(parent))
        })
        .collect()
}

/// The parent pid in a `/proc/<pid>/stat` line: `pid (comm) state ppid ...`, where comm may hold
/// spaces and parentheses, so fields are counted from the last `)`.
fn ppid_of(stat: &str) -> Option<libc::pid_t> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Points stdin, stdout and stderr at `/dev/null`, letting go of the caller's pipes.
fn stdio_to_null() {
    // SAFETY: open/dup2/close on fds we own; the path is a valid C string.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..=2 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
}

/// Exits the way the program did: with its code, or killed by its signal.
fn exit_like(status: libc::c_int) -> ! {
    if libc::WIFSIGNALED(status) {
        exit_like_signal(libc::WTERMSIG(status));
    }
    // SAFETY: _exit ends the process.
    unsafe { libc::_exit(libc::WEXITSTATUS(status)) }
}

/// Dies by `sig` (default action, no core file), so our parent sees what it would have seen
/// without us; exits with 128 + `sig` for a signal whose default is not to terminate.
fn exit_like_signal(sig: libc::c_int) -> ! {
    let set = only(&[sig]);
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: resets one signal to its default action, unblocks and raises it; plain syscalls
    // on this single-threaded process with valid pointers.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(sig, libc::SIG_DFL);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
        libc::_exit(128 + sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppid_is_read_after_the_last_parenthesis() {
        assert_eq!(ppid_of("42 (git) S 7 42 42 0"), Some(7));
        assert_eq!(ppid_of("42 (a) b (c)) R 9 1"), Some(9));
        assert_eq!(ppid_of("garbage"), None);
    }

    #[test]
    fn a_scan_of_proc_finds_our_children() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        // SAFETY: getpid cannot fail.
        let me = unsafe { libc::getpid() };
        let found = children_by_scan(me).contains(&(child.id() as libc::pid_t));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found);
    }

    #[test]
    fn a_test_binary_is_not_its_own_supervisor() {
        assert_eq!(this_binary(), None);
    }
}
