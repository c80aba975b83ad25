//! PLACEHOLDER on the wt-ssh branch until the lead's seam lands on main (then main's file
//! replaces this one whole): who an SSH key is, and what it may do to a project.

use crate::app::App;
use crate::model::access::Caller;
use crate::model::entities::{Project, User};
use crate::model::ssh_command::LfsOperation;

/// Who a verified key is.
#[derive(Debug, Clone)]
pub struct SshPrincipal {
    pub key_id: i64,
    pub fingerprint: String,
    pub holder: KeyHolder,
}

/// Whose key it is.
#[derive(Debug, Clone)]
pub enum KeyHolder {
    User(User),
    Deploy { title: String, owner: Option<i64> },
}

impl SshPrincipal {
    /// The username or deploy key title.
    pub fn name(&self) -> String {
        match &self.holder {
            KeyHolder::User(u) => u.username.clone(),
            KeyHolder::Deploy { title, .. } => title.clone(),
        }
    }

    /// The user webhook events name.
    pub fn pusher(&self) -> Option<i64> {
        match &self.holder {
            KeyHolder::User(u) => Some(u.id),
            KeyHolder::Deploy { owner, .. } => *owner,
        }
    }
}

/// Why a key does not authenticate.
#[derive(Debug)]
pub enum KeyRefusal {
    Unknown,
    Expired,
    Blocked,
    Internal(String),
}

/// A git operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitOp {
    Fetch,
    Push,
}

/// Why access is refused.
#[derive(Debug)]
pub enum AccessRefusal {
    NotFound,
    Forbidden(&'static str),
    Internal(String),
}

static TEST_KEYS: std::sync::Mutex<Vec<(Vec<u8>, SshPrincipal)>> =
    std::sync::Mutex::new(Vec::new());

/// PLACEHOLDER: registers a key in this process (until the key tables land).
pub fn register_for_tests(blob: Vec<u8>, p: SshPrincipal) {
    TEST_KEYS.lock().unwrap().push((blob, p));
}

/// The key with this wire encoding.
pub async fn authenticate_key(_app: &App, blob: &[u8]) -> Result<SshPrincipal, KeyRefusal> {
    let keys = TEST_KEYS.lock().unwrap();
    keys.iter()
        .find(|(b, _)| b == blob)
        .map(|(_, p)| p.clone())
        .ok_or(KeyRefusal::Unknown)
}

/// The project at `full_path` if `p` may do `op` to it.
pub async fn authorize(
    app: &App,
    p: &SshPrincipal,
    full_path: &str,
    op: GitOp,
) -> Result<(Project, Caller), AccessRefusal> {
    let KeyHolder::User(user) = &p.holder else {
        return Err(AccessRefusal::NotFound);
    };
    let (project, caller) =
        match crate::service::projects::find_project(app, full_path, Some(user)).await {
            Ok(found) => found,
            Err(crate::service::error::ServiceError::NotFound(_)) => {
                return Err(AccessRefusal::NotFound)
            }
            Err(e) => return Err(AccessRefusal::Internal(e.to_string())),
        };
    if !caller.can_read_code(project.visibility) {
        return Err(AccessRefusal::NotFound);
    }
    if op == GitOp::Push && !caller.can_push() {
        return Err(AccessRefusal::Forbidden(
            "You are not allowed to push code to this project.",
        ));
    }
    Ok((project, caller))
}

/// git-lfs-authenticate's JSON line.
pub async fn lfs_authenticate(
    _app: &App,
    _p: &SshPrincipal,
    _full_path: &str,
    _op: LfsOperation,
) -> Result<String, AccessRefusal> {
    Err(AccessRefusal::NotFound)
}
