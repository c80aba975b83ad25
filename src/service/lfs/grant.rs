//! The short-lived grants a batch response hands out for its transfers: each action carries
//! `Authorization: RemoteAuth <grant>`, a value sealed with the installation's key (AES-GCM, so
//! it can be neither read nor forged) naming one project, one oid, its size, one operation and
//! an expiry. The transfer endpoints accept nothing else, so the caller's own secret is never
//! echoed back in a response, and a grant is worth one object for one hour.

use std::time::Duration;

use base64::Engine as _;
use secrecy::ExposeSecret;

use crate::app::App;
use crate::model::entities::{Millis, Project};
use crate::model::lfs::Oid;
use crate::service::error::{Resource, ServiceError};
use crate::service::projects::writable;

use super::Operation;

/// How long a transfer action may be started after the batch: GitLab's LFS tokens last about
/// as long, and the client starts each transfer soon after its batch (a transfer already
/// running is not cut off when its grant expires).
pub const GRANT_TTL: Duration = Duration::from_secs(3600);

/// What a grant is sealed for (bound as associated data, so no other sealed value passes).
const PURPOSE: &str = "lfs-transfer-grant";

/// The scheme of a grant in an `Authorization` header.
pub const SCHEME: &str = "RemoteAuth";

/// One transfer of one object of one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub project_id: i64,
    pub op: Operation,
    pub oid: Oid,
    pub size: u64,
    pub expires_at: Millis,
}

/// Seals a grant for `op` of `oid` (`size` bytes) in `project_id`, valid for [`GRANT_TTL`].
pub fn issue(app: &App, project_id: i64, op: Operation, oid: &Oid, size: u64) -> String {
    let expires_at = app.clock.now_ms() + GRANT_TTL.as_millis() as Millis;
    let plain = format!("{project_id} {} {oid} {size} {expires_at}", op.as_str());
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(app.cipher.seal(PURPOSE, plain.as_bytes()))
}

/// Opens `token` as a grant for `op` of `oid` and finds its project as it is now: a token that
/// is not such a grant, or expired, is `Unauthenticated`; a project gone or with LFS off is not
/// found; an upload to a project archived since is refused.
pub async fn redeem(
    app: &App,
    token: &str,
    op: Operation,
    oid: &Oid,
) -> Result<(Project, Grant), ServiceError> {
    let grant = open(app, token).ok_or(ServiceError::Unauthenticated)?;
    if grant.op != op || grant.oid != *oid || grant.expires_at <= app.clock.now_ms() {
        return Err(ServiceError::Unauthenticated);
    }
    let project = app
        .store
        .project_by_id(grant.project_id)
        .await?
        .filter(|p| p.lfs_enabled)
        .ok_or(ServiceError::NotFound(Resource::Project))?;
    if op == Operation::Upload {
        writable(&project)?;
    }
    Ok((project, grant))
}

fn open(app: &App, token: &str) -> Option<Grant> {
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let plain = app.cipher.unseal(PURPOSE, &sealed).ok()?;
    let text = std::str::from_utf8(plain.expose_secret()).ok()?;
    let mut parts = text.split(' ');
    let grant = Grant {
        project_id: parts.next()?.parse().ok()?,
        op: Operation::parse(parts.next()?)?,
        oid: Oid::parse(parts.next()?)?,
        size: parts.next()?.parse().ok()?,
        expires_at: parts.next()?.parse().ok()?,
    };
    parts.next().is_none().then_some(grant)
}
