//! `/projects/:id/remote_mirrors`: GitLab's seven remote-mirror endpoints (list, get, public_key,
//! create, update, sync, delete), with GitLab's before-filter order: project lookup (404/401), then
//! Maintainer+ or admin (401, not 403), then the mirror lookup (`404 Not found`).

use std::collections::BTreeMap;

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::SecretString;
use serde_json::{json, Value};

use super::auth::MaybeUser;
use super::error::ApiError;
use super::pagination::page_request;
use super::params::{not_valid_value, Params};
use super::projects::{admit, find_project, numeric_id};
use super::{views, AppState};
use crate::credentials::{generate_ssh_key, MirrorCredentials};
use crate::model::access::Caller;
use crate::model::entities::{AuthMethod, Project, RemoteMirror, User};
use crate::model::refmatch::validate_branch_regex;
use crate::model::status::UpdateStatus;
use crate::model::url::{parse_mirror_url, ParsedMirrorUrl, UrlError};
use crate::netcheck::{resolve_checked, ResolveError};
use crate::store::NewMirror;

/// GitLab 18.9's limit of enabled push mirrors per project.
pub const MAX_ENABLED_MIRRORS: i64 = 10;
/// GitLab's limit of pinned SSH host keys per mirror.
const MAX_HOST_KEYS: usize = 10;
const SYNC_REFUSED: &str =
    "Cannot proceed with the push mirroring. Please verify your mirror configuration.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/remote_mirrors", get(list).post(create))
        .route(
            "/projects/{id}/remote_mirrors/{mirror_id}",
            get(show).put(update).post(update).delete(remove),
        )
        .route("/projects/{id}/remote_mirrors/{mirror_id}/sync", post(sync))
        .route(
            "/projects/{id}/remote_mirrors/{mirror_id}/public_key",
            get(public_key),
        )
}

/// The before-filter: the project, and the caller's right to administer its mirrors.
async fn mirror_project(
    state: &AppState,
    id: &str,
    user: Option<&User>,
) -> Result<Project, ApiError> {
    admit_admin(find_project(state, id, user).await?)
}

/// Mirrors are for a project's maintainers (and admins); others get 401, as in GitLab.
fn admit_admin((project, caller): (Project, Caller)) -> Result<Project, ApiError> {
    if !caller.can_admin_project() {
        return Err(ApiError::Unauthorized);
    }
    Ok(project)
}

async fn find_mirror(
    state: &AppState,
    project: &Project,
    mirror_id: &str,
) -> Result<RemoteMirror, ApiError> {
    let id = mirror_id
        .parse::<i64>()
        .map_err(|_| ApiError::RecordNotFound)?;
    state
        .store
        .mirror(project.id, id)
        .await?
        .ok_or(ApiError::RecordNotFound)
}

// GET /projects/:id/remote_mirrors
async fn list(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let page = page_request(&params)?;
    // By numeric id (what clients poll), the project, the caller's access and the page come in
    // one round trip; the page is dropped unseen when the caller may not have it.
    let (project, paged) = match numeric_id(&id) {
        Some(n) => {
            let (found, paged) = state
                .store
                .project_with_mirrors_for(n, user.as_ref().map(|u| u.id), page)
                .await?
                .map(|(project, level, paged)| ((project, level), paged))
                .unzip();
            (admit_admin(admit(found, user.as_ref())?)?, paged)
        }
        None => (mirror_project(&state, &id, user.as_ref()).await?, None),
    };
    let paged = match paged {
        Some(paged) => paged,
        None => state.store.mirrors(project.id, page).await?,
    };
    let items: Vec<_> = paged.items.into_iter().map(views::remote_mirror).collect();
    Ok(state.page_response(&uri, page, paged.total, items))
}

// GET /projects/:id/remote_mirrors/:mirror_id
async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, mirror_id)): Path<(String, String)>,
) -> Result<Json<views::RemoteMirrorEntity>, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let mirror = find_mirror(&state, &project, &mirror_id).await?;
    Ok(Json(views::remote_mirror((&mirror).into())))
}

// GET /projects/:id/remote_mirrors/:mirror_id/public_key
async fn public_key(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, mirror_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let mirror = find_mirror(&state, &project, &mirror_id).await?;
    let key = mirror
        .ssh_public_key
        .as_ref()
        .filter(|_| {
            mirror.url.starts_with("ssh://") && mirror.auth_method == AuthMethod::SshPublicKey
        })
        .ok_or(ApiError::NotFoundPlain)?;
    Ok(Json(json!({"public_key": key})))
}

/// The settings a create or update request asks for, before validation.
struct Requested {
    url: Option<String>,
    enabled: Option<Option<bool>>,
    auth_method: Option<Option<String>>,
    keep_divergent_refs: Option<Option<bool>>,
    only_protected_branches: Option<Option<bool>>,
    mirror_branch_regex: Option<Option<String>>,
    host_keys: Option<Vec<String>>,
}

impl Requested {
    fn read(params: &Params, url_required: bool) -> Result<Requested, ApiError> {
        let url = if url_required {
            Some(params.required_string("url")?)
        } else {
            params.string("url")?.flatten()
        };
        let r = Requested {
            url,
            enabled: params.bool("enabled")?,
            auth_method: params.string("auth_method")?,
            keep_divergent_refs: params.bool("keep_divergent_refs")?,
            only_protected_branches: params.bool("only_protected_branches")?,
            mirror_branch_regex: params.string("mirror_branch_regex")?,
            host_keys: params.string_array("host_keys")?,
        };
        params.mutually_exclusive(&["only_protected_branches", "mirror_branch_regex"])?;
        Ok(r)
    }
}

/// Converts `host_keys` to known_hosts lines, as GitLab's HostKeysConverter.
fn convert_host_keys(
    keys: &[String],
    url: Option<&ParsedMirrorUrl>,
) -> Result<Option<String>, ApiError> {
    let fail = |what: String| ApiError::BadRequest(format!("Invalid SSH host key(s): {what}"));
    if keys.len() > MAX_HOST_KEYS {
        return Err(fail(format!(
            "too many host keys (maximum is {MAX_HOST_KEYS})"
        )));
    }
    let mut lines = Vec::new();
    let mut invalid = Vec::new();
    for raw in keys {
        let key = raw.trim();
        let words: Vec<&str> = key.split_whitespace().collect();
        let prefixed =
            words.len() >= 3 && (words[1].starts_with("ssh-") || words[1].starts_with("ecdsa-"));
        let (host, algo_at) = if prefixed {
            (Some(words[0]), 1)
        } else {
            (None, 0)
        };
        // Form encoding turns '+' into ' ', splitting the base64 blob into words. Rejoin the
        // shortest prefix of words that parses as a key; what follows is a comment.
        let Some([algo, rest @ ..]) = words.get(algo_at..) else {
            invalid.push(key.to_owned());
            continue;
        };
        let parsed = (1..=rest.len()).find_map(|n| {
            let line = format!("{algo} {}", rest[..n].join("+"));
            ssh_key::PublicKey::from_openssh(&line).ok().map(|_| line)
        });
        let Some(line) = parsed else {
            invalid.push(key.to_owned());
            continue;
        };
        let host = match host {
            Some(h) => h.to_owned(),
            None => {
                let u = url.ok_or_else(|| {
                    fail("cannot determine hostname from URL for bare key".into())
                })?;
                if u.port == 22 {
                    u.host_str()
                } else {
                    format!(
                        "[{}]:{}",
                        u.host_str().trim_matches(|c| c == '[' || c == ']'),
                        u.port
                    )
                }
            }
        };
        lines.push(format!("{host} {line}"));
    }
    if !invalid.is_empty() {
        return Err(fail(invalid.join(", ")));
    }
    Ok((!lines.is_empty()).then(|| lines.join("\n")))
}

/// Checks a mirror URL fully: blank, syntax and policy, then every address its host resolves to,
/// recording GitLab's `url` error. An unresolvable host is accepted, as GitLab does; the engine
/// checks again before each push.
async fn read_url(
    state: &AppState,
    raw: &str,
    errors: &mut BTreeMap<String, Vec<String>>,
) -> Option<ParsedMirrorUrl> {
    if raw.trim().is_empty() {
        push_error(errors, "url", "can't be blank");
        return None;
    }
    let checked = match parse_mirror_url(raw, state.network_policy) {
        Err(e) => Err(e.to_string()),
        Ok(parsed) => match resolve_checked(&parsed, state.network_policy).await {
            Ok(_) | Err(ResolveError::Unresolvable) => Ok(parsed),
            Err(ResolveError::Blocked(reason)) => Err(UrlError::Blocked(reason).to_string()),
        },
    };
    checked.map_err(|msg| push_error(errors, "url", msg)).ok()
}

/// The URL columns of a mirror row: the credential-free URL and what masking needs to know.
struct UrlColumns {
    url: String,
    has_user: bool,
    user_is_git: bool,
    has_password: bool,
}

impl From<&ParsedMirrorUrl> for UrlColumns {
    fn from(p: &ParsedMirrorUrl) -> Self {
        UrlColumns {
            url: p.url.clone(),
            has_user: p.user.is_some(),
            user_is_git: p.user.as_deref() == Some("git"),
            has_password: p.password.is_some(),
        }
    }
}

/// Everything a mirror row holds besides its status.
struct RowParts {
    project_id: i64,
    url: UrlColumns,
    credentials: MirrorCredentials,
    settings: Settings,
    auth_method: AuthMethod,
    ssh_public_key: Option<String>,
    ssh_known_hosts: Option<String>,
}

impl RowParts {
    fn into_row(self, state: &AppState) -> NewMirror {
        NewMirror {
            project_id: self.project_id,
            url: self.url.url,
            has_user: self.url.has_user,
            user_is_git: self.url.user_is_git,
            has_password: self.url.has_password,
            credentials: self.credentials.seal(&state.cipher),
            enabled: self.settings.enabled,
            only_protected_branches: self.settings.only_protected_branches,
            keep_divergent_refs: self.settings.keep_divergent_refs,
            mirror_branch_regex: self.settings.mirror_branch_regex,
            auth_method: self.auth_method,
            ssh_public_key: self.ssh_public_key,
            ssh_known_hosts: self.ssh_known_hosts,
        }
    }
}

/// GitLab 18.9's refusal when enabling one more mirror would pass the maximum. The store checks
/// the limit in the same statement that writes, so it holds under any concurrency.
fn limit_reached() -> ApiError {
    let mut errors = BTreeMap::new();
    push_error(
        &mut errors,
        "enabled",
        format!(
            "cannot be true: a project can have at most {MAX_ENABLED_MIRRORS} enabled push mirrors"
        ),
    );
    ApiError::Validation(errors)
}

fn push_error(errors: &mut BTreeMap<String, Vec<String>>, field: &str, msg: impl Into<String>) {
    errors.entry(field.to_owned()).or_default().push(msg.into());
}

/// The SSH key comment GitLab uses: `git@<host>`.
fn key_comment(state: &AppState) -> String {
    let host = url::Url::parse(&state.external_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "pushmirror".into());
    format!("git@{host}")
}

// POST /projects/:id/remote_mirrors
async fn create(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let req = Requested::read(&params, true)?;
    let auth_method = match req.auth_method.clone().flatten() {
        None => AuthMethod::Password,
        Some(s) => AuthMethod::parse(&s).ok_or_else(|| not_valid_value("auth_method"))?,
    };
    let mut errors = BTreeMap::new();
    let parsed = read_url(&state, req.url.as_deref().unwrap_or_default(), &mut errors).await;
    let host_keys = match &req.host_keys {
        Some(keys) => convert_host_keys(keys, parsed.as_ref())?,
        None => None,
    };
    let settings = Settings::from_request(None, &req, &mut errors);
    let Some(parsed) = parsed.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let mut credentials = MirrorCredentials {
        user: parsed.user.clone().map(SecretString::from),
        password: parsed.password.clone(),
        ssh_private_key: None,
    };
    let mut ssh_public_key = None;
    if auth_method == AuthMethod::SshPublicKey {
        let (private, public) = generate_ssh_key(&key_comment(&state));
        credentials.ssh_private_key = Some(private);
        ssh_public_key = Some(public);
    }
    let new = RowParts {
        project_id: project.id,
        url: UrlColumns::from(&parsed),
        credentials,
        settings,
        auth_method,
        ssh_public_key,
        ssh_known_hosts: host_keys,
    }
    .into_row(&state);
    let mirror = state
        .store
        .create_mirror(&new, MAX_ENABLED_MIRRORS, state.now_ms())
        .await?
        .ok_or_else(limit_reached)?;
    Ok((
        StatusCode::CREATED,
        Json(views::remote_mirror((&mirror).into())),
    )
        .into_response())
}

/// The branch-selection and switch settings after GitLab's normalisation and validation.
struct Settings {
    enabled: bool,
    only_protected_branches: bool,
    keep_divergent_refs: bool,
    mirror_branch_regex: Option<String>,
}

impl Settings {
    fn from_request(
        current: Option<&RemoteMirror>,
        req: &Requested,
        errors: &mut BTreeMap<String, Vec<String>>,
    ) -> Settings {
        let enabled = match req.enabled {
            Some(v) => v.unwrap_or(false),
            None => current.is_some_and(|m| m.enabled),
        };
        let keep_divergent_refs = match req.keep_divergent_refs {
            Some(v) => v.unwrap_or(false),
            None => current.is_some_and(|m| m.keep_divergent_refs),
        };
        let mut only_protected_branches = match req.only_protected_branches {
            Some(Some(v)) => v,
            Some(None) => {
                push_error(errors, "only_protected_branches", "can't be blank");
                false
            }
            None => current.is_some_and(|m| m.only_protected_branches),
        };
        let requested_regex = req
            .mirror_branch_regex
            .clone()
            .map(|r| r.filter(|s| !s.is_empty()));
        let mut mirror_branch_regex = match requested_regex {
            Some(r) => r,
            None => current.and_then(|m| m.mirror_branch_regex.clone()),
        };
        // GitLab (EE): a regex in the request wins over protected-only; protected-only in the
        // request clears a stored regex.
        if matches!(req.mirror_branch_regex, Some(Some(ref s)) if !s.is_empty()) {
            only_protected_branches = false;
        } else if req.only_protected_branches == Some(Some(true)) {
            mirror_branch_regex = None;
        }
        if let Some(re) = &mirror_branch_regex {
            if let Err(msg) = validate_branch_regex(re) {
                push_error(errors, "mirror_branch_regex", msg);
            }
        }
        Settings {
            enabled,
            only_protected_branches,
            keep_divergent_refs,
            mirror_branch_regex,
        }
    }
}

// PUT /projects/:id/remote_mirrors/:mirror_id (and POST, which @gitbeaker sends)
async fn update(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, mirror_id)): Path<(String, String)>,
    params: Params,
) -> Result<Json<views::RemoteMirrorEntity>, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let mirror = find_mirror(&state, &project, &mirror_id).await?;
    let req = Requested::read(&params, false)?;
    let mut errors = BTreeMap::new();
    let auth_method = match req.auth_method.clone().flatten() {
        None => mirror.auth_method,
        Some(s) => AuthMethod::parse(&s).unwrap_or_else(|| {
            push_error(&mut errors, "auth_method", "is not included in the list");
            mirror.auth_method
        }),
    };
    let new_url = match &req.url {
        None => None,
        Some(raw) => read_url(&state, raw, &mut errors).await,
    };
    // Host keys are bound to the URL they will be used with: the new one, else the stored one.
    let host_keys = match &req.host_keys {
        None => mirror.ssh_known_hosts.clone(),
        Some(keys) => {
            let for_url = match &new_url {
                Some(u) => Some(u.clone()),
                None => parse_mirror_url(
                    &mirror.url,
                    crate::model::url::NetworkPolicy {
                        allow_local_network: true,
                    },
                )
                .ok(),
            };
            convert_host_keys(keys, for_url.as_ref())?
        }
    };
    let settings = Settings::from_request(Some(&mirror), &req, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut creds = MirrorCredentials::open(&state.cipher, mirror.credentials.as_deref())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let url = match &new_url {
        Some(p) => {
            creds.user = p.user.clone().map(SecretString::from);
            creds.password = p.password.clone();
            UrlColumns::from(p)
        }
        None => UrlColumns {
            url: mirror.url.clone(),
            has_user: mirror.has_user,
            user_is_git: mirror.user_is_git,
            has_password: mirror.has_password,
        },
    };
    let mut ssh_public_key = mirror.ssh_public_key.clone();
    if auth_method == AuthMethod::SshPublicKey && creds.ssh_private_key.is_none() {
        let (private, public) = generate_ssh_key(&key_comment(&state));
        creds.ssh_private_key = Some(private);
        ssh_public_key = Some(public);
    }
    let changes = RowParts {
        project_id: project.id,
        url,
        credentials: creds,
        settings,
        auth_method,
        ssh_public_key,
        ssh_known_hosts: host_keys,
    }
    .into_row(&state);
    let credentials_changed = new_url.is_some();
    let updated = state
        .store
        .update_mirror(
            mirror.id,
            &changes,
            credentials_changed,
            MAX_ENABLED_MIRRORS,
            state.now_ms(),
        )
        .await?
        .ok_or_else(limit_reached)?;
    Ok(Json(views::remote_mirror((&updated).into())))
}

// POST /projects/:id/remote_mirrors/:mirror_id/sync
async fn sync(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, mirror_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let mirror = find_mirror(&state, &project, &mirror_id).await?;
    if !mirror.enabled {
        return Err(ApiError::BadRequest(SYNC_REFUSED.into()));
    }
    // GitLab: a sync while an update runs is a silent no-op (the running one covers it).
    if mirror.update_status != UpdateStatus::Started {
        state
            .store
            .request_mirror_update(mirror.id, state.now_ms())
            .await?;
        state.jobs_wakeup.notify_one();
    }
    Ok(StatusCode::NO_CONTENT)
}

// DELETE /projects/:id/remote_mirrors/:mirror_id
async fn remove(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, mirror_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let project = mirror_project(&state, &id, user.as_ref()).await?;
    let mirror = find_mirror(&state, &project, &mirror_id).await?;
    state.store.delete_mirror(project.id, mirror.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
