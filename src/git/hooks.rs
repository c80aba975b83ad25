//! The server's own git hooks: a directory of scripts pushmirror writes at start-up and points
//! `core.hooksPath` at, for receive-pack only and only when a push needs it. Hooks inside a
//! hosted repository are never run.
//!
//! The one hook is `pre-receive`: it refuses non-fast-forward updates of the refs listed (one
//! per line) in [`FAST_FORWARD_ONLY_ENV`], with GitLab's message, which git relays to the
//! client as `remote: GitLab: …` and reports every ref as `pre-receive hook declined`. It runs
//! inside receive-pack's object quarantine, so the pushed commits are visible to `merge-base`
//! before anything is accepted.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::model::push_rules::FORCE_PUSH_REFUSED;

/// The variable that carries the refs which may only move forward.
pub(crate) const FAST_FORWARD_ONLY_ENV: &str = "PUSHMIRROR_FAST_FORWARD_ONLY";

/// The `pre-receive` script. Created and deleted refs (all-zero ids) are not its business.
fn pre_receive_script() -> String {
    format!(
        r#"#!/bin/sh
# Written by pushmirror at start-up; edits are overwritten. Refuses non-fast-forward updates
# of the refs listed in ${env}, one per line.
status=0
while read -r old new ref; do
  case "$old" in *[!0]*) ;; *) continue ;; esac
  case "$new" in *[!0]*) ;; *) continue ;; esac
  if printf '%s\n' "${env}" | grep -qxF -e "$ref"; then
    if ! git merge-base --is-ancestor "$old" "$new" 2>/dev/null; then
      echo "GitLab: {msg}" >&2
      status=1
    fi
  fi
done
exit $status
"#,
        env = FAST_FORWARD_ONLY_ENV,
        msg = FORCE_PUSH_REFUSED,
    )
}

/// Writes the hooks into `dir` (created if missing), replacing what is there atomically.
pub(crate) fn install(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let target = dir.join("pre-receive");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(pre_receive_script().as_bytes())?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o755))?;
    tmp.persist(&target).map_err(|e| e.error)?;
    Ok(dir.to_owned())
}
