//! The token `git-lfs-authenticate` hands an SSH client for one project's LFS API: sealed with
//! the installation's key (AES-GCM, so it can be neither read nor forged), naming who it stands
//! for (a user, or a deploy key), one project, the operation and an expiry. The batch and locks
//! endpoints accept it as `Authorization: RemoteAuth <token>` and act as that user or key, as
//! they are at that moment (`ssh_access::token_caller`); an upload token
//! also downloads, as git-lfs asks for one token per push.

use std::time::Duration;

use base64::Engine as _;
use secrecy::ExposeSecret;

use crate::app::App;
use crate::model::entities::Millis;

use super::Operation;

/// How long a token lets its client in: GitLab's LFS tokens last two hours, and git-lfs asks
/// for a new one when it sees `expires_in` run out.
pub const TOKEN_TTL: Duration = Duration::from_secs(7200);

/// What a token is sealed for (bound as associated data, so no other sealed value passes).
const PURPOSE: &str = "lfs-ssh-token";

/// The scheme of a token in an `Authorization` header (the transfer grants' own scheme: each
/// opens only as its own purpose).
pub const SCHEME: &str = "RemoteAuth";

/// Whom a token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenHolder {
    User(i64),
    DeployKey(i64),
}

/// Seals a token for `holder` to `op` project `project_id`'s LFS objects, valid for
/// [`TOKEN_TTL`].
pub fn issue(app: &App, holder: TokenHolder, project_id: i64, op: Operation) -> String {
    let expires_at = app.clock.now_ms() + TOKEN_TTL.as_millis() as Millis;
    let (kind, id) = match holder {
        TokenHolder::User(id) => ("u", id),
        TokenHolder::DeployKey(id) => ("d", id),
    };
    let plain = format!("{kind} {id} {project_id} {} {expires_at}", op.as_str());
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(app.cipher.seal(PURPOSE, plain.as_bytes()))
}

/// Whom `token` stands for, if it is a live token for `op` (an upload token also downloads)
/// of project `project_id`.
pub fn redeem(app: &App, token: &str, project_id: i64, op: Operation) -> Option<TokenHolder> {
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let plain = app.cipher.unseal(PURPOSE, &sealed).ok()?;
    let text = std::str::from_utf8(plain.expose_secret()).ok()?;
    let mut parts = text.split(' ');
    let holder = match (parts.next()?, parts.next()?.parse().ok()?) {
        ("u", id) => TokenHolder::User(id),
        ("d", id) => TokenHolder::DeployKey(id),
        _ => return None,
    };
    let project: i64 = parts.next()?.parse().ok()?;
    let granted = Operation::parse(parts.next()?)?;
    let expires_at: Millis = parts.next()?.parse().ok()?;
    let live = parts.next().is_none()
        && project == project_id
        && (granted == op || granted == Operation::Upload)
        && expires_at > app.clock.now_ms();
    live.then_some(holder)
}
