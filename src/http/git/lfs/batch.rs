//! `POST …/info/lfs/objects/batch`: the git-lfs batch API's wire shape
//! (<https://github.com/git-lfs/git-lfs/blob/main/docs/api/batch.md>), `basic` transfer only.
//! The caller is read as git over HTTP reads it (`GitCaller`); the decision per object is
//! `service::lfs::batch`; each transfer action carries a grant (`service::lfs::grant`) and
//! points at this server's own transfer routes ([`super::transfer`]), or, for a download from
//! S3 with presigned downloads on, at the bucket.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{LfsError, LFS_MEDIA_TYPE};
use crate::http::git::auth::{ssh_token, GitCaller};
use crate::http::AppState;
use crate::model::entities::Project;
use crate::model::lfs::Oid;
use crate::model::tokens::Use;
use crate::service::lfs::access::{deploy_key_lfs_project, lfs_project, token_caller, TokenCaller};
use crate::service::lfs::batch::{decide, Decision, Requested};
use crate::service::lfs::grant::{self, GRANT_TTL, SCHEME};
use crate::service::lfs::transfer::direct_download_url;
use crate::service::lfs::Operation;

/// The largest batch request body read: 1,000 objects take about 100 KB; a body larger than
/// this names more objects than allowed anyway.
const MAX_BATCH_BODY: usize = 1024 * 1024;

/// A batch request as the client sends it; unknown keys (`ref`, `hash_algo`) are ignored.
#[derive(Debug, Deserialize)]
struct BatchRequest {
    operation: String,
    #[serde(default)]
    transfers: Option<Vec<String>>,
    objects: Vec<RequestedObject>,
}

#[derive(Debug, Deserialize)]
struct RequestedObject {
    oid: Value,
    size: Value,
}

// POST /<project>.git/info/lfs/objects/batch
/// Answers a batch request for the project at `full_path`.
pub(in crate::http) async fn handle(
    state: &AppState,
    full_path: &str,
    request: Request,
) -> Result<Response, LfsError> {
    let (mut parts, body) = request.into_parts();
    if parts.method != Method::POST {
        return Err(LfsError::MethodNotAllowed);
    }
    if !accepts_lfs_json(&parts.headers) {
        return Err(LfsError::NotAcceptable);
    }
    // An SSH client's `git-lfs-authenticate` token, or the credentials git over HTTP takes.
    let token = ssh_token(&parts.headers).map(str::to_owned);
    let caller = match token {
        Some(_) => None,
        None => Some(GitCaller::<LfsError>::from_request_parts(&mut parts, state).await?),
    };
    let bytes = axum::body::to_bytes(body, MAX_BATCH_BODY)
        .await
        .map_err(|_| {
            LfsError::TooLarge(format!("The request body exceeds {MAX_BATCH_BODY} bytes"))
        })?;
    let batch: BatchRequest = serde_json::from_slice(&bytes).map_err(|e| {
        LfsError::Unprocessable(format!("The request body is not a batch request: {e}"))
    })?;
    let op = Operation::parse(&batch.operation).ok_or_else(|| {
        LfsError::Unprocessable("The operation must be upload or download".into())
    })?;
    if batch
        .transfers
        .as_ref()
        .is_some_and(|t| !t.is_empty() && !t.iter().any(|t| t == "basic"))
    {
        return Err(LfsError::Unprocessable(
            "Only the basic transfer adapter is supported".into(),
        ));
    }
    let project = match (caller, token) {
        (Some(caller), _) => {
            let user = caller.user_for(match op {
                Operation::Upload => Use::Push,
                Operation::Download => Use::Fetch,
            })?;
            lfs_project(state, full_path, user.as_ref(), op).await?
        }
        (None, token) => {
            project_for_token(state, full_path, &token.unwrap_or_default(), op).await?
        }
    };
    let requested: Vec<Requested> = batch
        .objects
        .iter()
        .map(|o| Requested {
            oid: match &o.oid {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
            size: o.size.as_u64(),
        })
        .collect();
    let decisions = decide(state, &project, op, &requested).await?;
    let base = format!(
        "{}/{}.git/info/lfs/objects",
        state.external_url,
        project.full_path()
    );
    let mut objects = Vec::with_capacity(decisions.len());
    for decision in decisions {
        objects.push(object(state, &project, op, &base, decision).await?);
    }
    let answer = json!({"transfer": "basic", "objects": objects, "hash_algo": "sha256"});
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, LFS_MEDIA_TYPE)],
        Body::from(answer.to_string()),
    )
        .into_response())
}

/// One object of the answer.
async fn object(
    state: &AppState,
    project: &crate::model::entities::Project,
    op: Operation,
    base: &str,
    decision: Decision,
) -> Result<Value, LfsError> {
    let expires_in = GRANT_TTL.as_secs();
    Ok(match decision {
        Decision::Present { oid, size } => {
            json!({"oid": oid.as_str(), "size": size, "authenticated": true})
        }
        Decision::Missing { oid, size } => json!({
            "oid": oid.as_str(), "size": size,
            "error": {"code": 404, "message": "Object does not exist"},
        }),
        Decision::Invalid { oid, size, message } => json!({
            "oid": oid, "size": size,
            "error": {"code": 422, "message": message},
        }),
        Decision::Transfer { oid, size } => {
            let action = |href: String| {
                let token = grant::issue(state, project.id, op, &oid, size);
                json!({
                    "href": href,
                    "header": {"Authorization": format!("{SCHEME} {token}")},
                    "expires_in": expires_in,
                })
            };
            let actions = match op {
                Operation::Upload => json!({
                    "upload": action(href(base, &oid, "")),
                    "verify": action(href(base, &oid, "/verify")),
                }),
                Operation::Download => match direct_download_url(state, project, &oid).await? {
                    Some(url) => json!({"download": {"href": url, "expires_in": expires_in}}),
                    None => json!({"download": action(href(base, &oid, ""))}),
                },
            };
            json!({"oid": oid.as_str(), "size": size, "authenticated": true, "actions": actions})
        }
    })
}

fn href(base: &str, oid: &Oid, suffix: &str) -> String {
    format!("{base}/{oid}{suffix}")
}

/// Whether the client takes git-lfs JSON: an `Accept` naming its media type (parameters
/// aside) or a wildcard that covers it; a request without `Accept` takes anything.
fn accepts_lfs_json(headers: &HeaderMap) -> bool {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    values.is_empty()
        || values
            .iter()
            .flat_map(|v| v.split(','))
            .map(|m| m.split(';').next().unwrap_or("").trim())
            .any(|m| m == LFS_MEDIA_TYPE || m == "*/*" || m == "application/*")
}

/// The project at `full_path` when the user or deploy key an SSH client's token stands for may
/// `op` its LFS objects.
async fn project_for_token(
    state: &AppState,
    full_path: &str,
    token: &str,
    op: Operation,
) -> Result<Project, LfsError> {
    Ok(match token_caller(state, full_path, token, op).await? {
        TokenCaller::User(user) => lfs_project(state, full_path, Some(&user), op).await?,
        TokenCaller::DeployKey { can_push } => {
            deploy_key_lfs_project(state, full_path, can_push, op).await?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers() {
        for (accept, ok) in [
            (None, true),
            (Some("application/vnd.git-lfs+json"), true),
            (Some("application/vnd.git-lfs+json; charset=utf-8"), true),
            (Some("text/html, */*;q=0.1"), true),
            (Some("text/html"), false),
            (Some("application/json"), false),
        ] {
            let mut headers = HeaderMap::new();
            if let Some(a) = accept {
                headers.insert(header::ACCEPT, a.parse().unwrap());
            }
            assert_eq!(accepts_lfs_json(&headers), ok, "{accept:?}");
        }
    }
}
