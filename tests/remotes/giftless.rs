//! [`Giftless`]: a real Git LFS server (giftless, from PyPI) on 127.0.0.1, run by `waitress`
//! with giftless's local storage backend and anonymous read-write access. A [`GitHttpRemote`]
//! started with [`GitHttpRemote::start_with_lfs`](super::GitHttpRemote::start_with_lfs) sends
//! every request below `…/info/lfs/` to it (the `Host` kept, so giftless's hrefs point back at
//! the front) and the rest to `git http-backend`: one URL prefix, as a hosting service has.
//!
//! Found in the venv `.ci/run` makes (`<crate>/target/giftless-venv`, or `$GIFTLESS_VENV`);
//! [`Giftless::start`] is `None` when it is missing, which only a run outside CI may accept.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

/// A giftless process and its object storage; killed and removed on drop.
pub struct Giftless {
    child: Child,
    dir: TempDir,
    port: u16,
}

/// The venv's `waitress-serve`, if the venv exists.
fn waitress() -> Option<PathBuf> {
    let venv = std::env::var_os("GIFTLESS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/giftless-venv"));
    let bin = venv.join("bin/waitress-serve");
    bin.exists().then_some(bin)
}

impl Giftless {
    /// Starts giftless on a free port; `None` when its venv is missing.
    pub fn start() -> Option<Giftless> {
        let waitress = waitress()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("giftless.yaml");
        std::fs::write(
            &config,
            format!(
                "AUTH_PROVIDERS:\n  - giftless.auth.allow_anon:read_write\n\
                 LEGACY_ENDPOINTS: false\n\
                 TRANSFER_ADAPTERS:\n  basic:\n    factory: giftless.transfer.basic_streaming:factory\n\
                 \x20   options:\n      storage_class: giftless.storage.local_storage:LocalStorage\n\
                 \x20     storage_options:\n        path: {}\n",
                dir.path().join("objects").display()
            ),
        )
        .expect("write giftless config");
        for _ in 0..super::PORT_ATTEMPTS {
            let port = super::free_port();
            let mut child = Command::new(&waitress)
                .arg(format!("--listen=127.0.0.1:{port}"))
                .arg("--threads=8")
                .arg("giftless.wsgi_entrypoint:app")
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", dir.path())
                .env("GIFTLESS_CONFIG_FILE", &config)
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn giftless");
            if super::wait_listening(&mut child, port, "giftless") {
                return Some(Giftless { child, dir, port });
            }
            super::kill_child(&mut child);
        }
        panic!("giftless did not start");
    }

    /// Where it listens.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates the storage directory of repository `name` (`<group>/<repo>`, no `.git`):
    /// giftless's local storage creates it on a repository's first upload with a racy
    /// check-then-mkdir, so concurrent first uploads would otherwise fail with a 500.
    pub fn prepare_repo(&self, name: &str) {
        std::fs::create_dir_all(self.dir.path().join("objects").join(name))
            .expect("mkdir giftless repository storage");
    }

    /// The stored copy of object `oid`, wherever giftless filed it (`None`: it has none).
    pub fn object_path(&self, oid: &str) -> Option<PathBuf> {
        fn find(dir: &Path, oid: &str) -> Option<PathBuf> {
            for entry in std::fs::read_dir(dir).ok()? {
                let path = entry.ok()?.path();
                if path.is_dir() {
                    if let Some(found) = find(&path, oid) {
                        return Some(found);
                    }
                } else if path.file_name().is_some_and(|n| n == oid) {
                    return Some(path);
                }
            }
            None
        }
        find(&self.dir.path().join("objects"), oid)
    }
}

impl Drop for Giftless {
    fn drop(&mut self) {
        super::kill_child(&mut self.child);
    }
}
