//! `/projects/:id/protected_branches`: list, show, protect, unprotect. Names may be wildcards
//! (`release-*`) and arrive URL-encoded.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::choices;
use super::error::ApiError;
use super::openapi::{ErrorBody, Pagination, ProjectId};
use super::pagination::page_request;
use super::params::{lenient, not_valid_value, Params};
use super::projects::find_project;
use super::{views, AppState};
use crate::http::auth::MaybeUser;
use crate::model::access::Caller;
use crate::model::entities::Project;
use crate::service::error::ServiceError;
use crate::service::protected_branches::{self, AccessSpec, Protection, ProtectionPatch, LEVELS};

pub(in crate::http) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
}

/// The `:name` segment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segment as a string
struct RuleName {
    /// The rule's branch name or wildcard exactly as protected, URL-encoded (`release-%2A`).
    name: String,
}

/// The list's filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RuleSearch {
    /// Only the rules whose name contains this text.
    #[serde(default, deserialize_with = "lenient::string")]
    search: Option<String>,
}

/// A rule to create. Each CE `*_access_level` becomes the first entry of its list, followed by
/// the EE `allowed_to_*` entries; a push or merge list left empty is Maintainers.
#[derive(Debug, Deserialize, ToSchema)]
struct NewRule {
    /// The branch name or wildcard (`release-*`) to protect.
    #[serde(deserialize_with = "lenient::required_string")]
    name: String,
    /// The role that may push: 0 (no one), 30 (Developers + Maintainers), 40 (Maintainers,
    /// the default) or 60 (admins).
    #[serde(default, deserialize_with = "lenient::int")]
    #[schema(value_type = Option<choices::ProtectionLevelValue>, inline)]
    push_access_level: Option<i64>,
    /// The role that may merge: 0, 30, 40 (the default) or 60.
    #[serde(default, deserialize_with = "lenient::int")]
    #[schema(value_type = Option<choices::ProtectionLevelValue>, inline)]
    merge_access_level: Option<i64>,
    /// The role that may unprotect: 0, 30, 40 or 60 (default: Maintainers).
    #[serde(default, deserialize_with = "lenient::int")]
    #[schema(value_type = Option<choices::ProtectionLevelValue>, inline)]
    unprotect_access_level: Option<i64>,
    /// More entries of who may push (EE).
    #[serde(default, deserialize_with = "access_list")]
    allowed_to_push: Option<Vec<AccessItem>>,
    /// More entries of who may merge (EE).
    #[serde(default, deserialize_with = "access_list")]
    allowed_to_merge: Option<Vec<AccessItem>>,
    /// More entries of who may unprotect (EE).
    #[serde(default, deserialize_with = "access_list")]
    allowed_to_unprotect: Option<Vec<AccessItem>>,
    /// Whether those who may push may also force-push (default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    allow_force_push: Option<bool>,
    /// Whether code owners must approve merges (EE; default false).
    #[serde(default, deserialize_with = "lenient::bool")]
    code_owner_approval_required: Option<bool>,
}

/// A change of a rule: the flags given, and entries added (without `id`) or removed (`id` and
/// `_destroy`).
#[derive(Debug, Deserialize, ToSchema)]
struct RuleChange {
    /// Whether those who may push may also force-push.
    #[serde(default, deserialize_with = "lenient::bool")]
    allow_force_push: Option<bool>,
    /// Whether code owners must approve merges.
    #[serde(default, deserialize_with = "lenient::bool")]
    code_owner_approval_required: Option<bool>,
    /// Entries of who may push to add or remove.
    #[serde(default, deserialize_with = "access_list")]
    allowed_to_push: Option<Vec<AccessItem>>,
    /// Entries of who may merge to add or remove.
    #[serde(default, deserialize_with = "access_list")]
    allowed_to_merge: Option<Vec<AccessItem>>,
    /// Entries of who may unprotect to add or remove.
    #[serde(default, deserialize_with = "access_list")]
    allowed_to_unprotect: Option<Vec<AccessItem>>,
}

/// An EE `allowed_to_*` entry: a role (`access_level`) or a user (`user_id`); with `id`, an
/// existing entry (removed when `_destroy` is true).
#[derive(Debug, Deserialize, ToSchema)]
struct AccessItem {
    /// An existing entry's id (on `PATCH`).
    #[serde(default, deserialize_with = "lenient::int")]
    id: Option<i64>,
    /// With `id`: remove the entry (`true` or `1`; default false).
    #[serde(rename = "_destroy", default, deserialize_with = "destroy_flag")]
    destroy: bool,
    /// The role: 0, 30, 40 or 60.
    #[serde(default, deserialize_with = "lenient::int")]
    #[schema(value_type = Option<choices::ProtectionLevelValue>, inline)]
    access_level: Option<i64>,
    /// A member of the project.
    #[serde(default, deserialize_with = "lenient::int")]
    user_id: Option<i64>,
    /// A group: refused (pushmirror has no groups' entries).
    #[serde(default, deserialize_with = "lenient::int")]
    group_id: Option<i64>,
    /// A deploy key enabled in the project with `can_push` (push lists only).
    #[serde(default, deserialize_with = "lenient::int")]
    deploy_key_id: Option<i64>,
}

impl From<AccessItem> for AccessSpec {
    fn from(item: AccessItem) -> Self {
        AccessSpec {
            id: item.id,
            destroy: item.destroy,
            access_level: item.access_level,
            user_id: item.user_id,
            group_id: item.group_id,
            deploy_key_id: item.deploy_key_id,
        }
    }
}

/// An `allowed_to_*` list: an array of entry objects (JSON bodies, or Rack's `a[][k]=v`
/// nesting). Anything wrong in it, however deep, is GitLab's `<list> is invalid`, so the
/// entries are read apart from the request's path.
fn access_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<AccessItem>>, D::Error> {
    let invalid = || D::Error::custom("is invalid");
    let Value::Array(items) = Value::deserialize(d)? else {
        return Err(invalid());
    };
    items
        .into_iter()
        .map(|item| serde_json::from_value(item).map_err(|_| invalid()))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `_destroy`: true as `true`, `1` or `"true"`/`"1"`; any other string or number is false.
fn destroy_flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(b),
        Value::Number(n) => Ok(n.as_i64() == Some(1)),
        Value::String(s) => Ok(matches!(s.as_str(), "true" | "1")),
        _ => Err(D::Error::custom("is invalid")),
    }
}

async fn readable(
    state: &AppState,
    id: &str,
    user: Option<&crate::model::entities::User>,
) -> Result<(Project, Caller), ApiError> {
    let (project, caller) = find_project(state, id, user).await?;
    if !caller.can_read_code(project.visibility) {
        return Err(ApiError::Forbidden);
    }
    Ok((project, caller))
}

/// List a project's protected-branch rules.
#[utoipa::path(get, path = "/projects/{id}/protected_branches", tag = "protected_branches",
    params(ProjectId, Pagination, RuleSearch),
    responses((status = 200, description = "The rules, paginated", body = Vec<views::ProtectedBranchEntity>)))]
async fn list(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    params: Params,
) -> Result<Response, ApiError> {
    let (project, _) = readable(&state, &id, user.as_ref()).await?;
    let page = page_request(&params)?;
    let query: RuleSearch = params.parse()?;
    let paged = state
        .store
        .protected_branches(project.id, query.search.as_deref(), page)
        .await?;
    let items: Vec<_> = paged.items.iter().map(views::protected_branch).collect();
    Ok(state.page_response(&uri, page, paged.total, items))
}

/// Get one rule by its exact name.
#[utoipa::path(get, path = "/projects/{id}/protected_branches/{name}", tag = "protected_branches",
    params(ProjectId, RuleName),
    responses((status = 200, description = "The rule", body = views::ProtectedBranchEntity)))]
async fn show(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<views::ProtectedBranchEntity>, ApiError> {
    let (project, _) = readable(&state, &id, user.as_ref()).await?;
    let branch = state
        .store
        .protected_branch(project.id, &name)
        .await?
        .ok_or(ApiError::RecordNotFound)?;
    Ok(Json(views::protected_branch(&branch)))
}

/// A rule's refused name or entries as GitLab answers them here: 422 with the full messages,
/// not the 400 field map of other resources.
fn unprocessable(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Invalid(errors) => ApiError::Unprocessable(errors.full_messages()),
        other => other.into(),
    }
}

/// A CE level parameter named `key`: one of GitLab's roles.
fn level(value: Option<i64>, key: &str) -> Result<Option<i64>, ApiError> {
    match value {
        None => Ok(None),
        Some(l) if LEVELS.contains(&l) => Ok(Some(l)),
        Some(_) => Err(not_valid_value(key)),
    }
}

/// A CE level parameter as a one-entry list, followed by the EE list.
fn levels_and_list(
    level_value: Option<i64>,
    level_key: &str,
    list: Option<Vec<AccessItem>>,
) -> Result<Vec<AccessSpec>, ApiError> {
    let mut specs: Vec<AccessSpec> = level(level_value, level_key)?
        .map(|l| AccessSpec {
            access_level: Some(l),
            ..AccessSpec::default()
        })
        .into_iter()
        .collect();
    specs.extend(specs_of(list));
    Ok(specs)
}

/// The entries of an EE list (none when it was not sent).
fn specs_of(list: Option<Vec<AccessItem>>) -> Vec<AccessSpec> {
    list.into_iter().flatten().map(AccessSpec::from).collect()
}

/// Protect the branches a name or wildcard matches (Maintainer or admin).
#[utoipa::path(post, path = "/projects/{id}/protected_branches", tag = "protected_branches",
    params(ProjectId),
    request_body(content = NewRule, description = "The rule; `name` is required"),
    responses(
        (status = 201, description = "The rule", body = views::ProtectedBranchEntity),
        (status = 409, description = "A rule of that name exists", body = ErrorBody),
        (status = 422, description = "The name is blank, or an access entry is refused", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    if !caller.can_admin_project() {
        return Err(ApiError::Forbidden);
    }
    let rule: NewRule = params.parse()?;
    let protection = Protection {
        name: rule.name,
        push: levels_and_list(
            rule.push_access_level,
            "push_access_level",
            rule.allowed_to_push,
        )?,
        merge: levels_and_list(
            rule.merge_access_level,
            "merge_access_level",
            rule.allowed_to_merge,
        )?,
        unprotect: levels_and_list(
            rule.unprotect_access_level,
            "unprotect_access_level",
            rule.allowed_to_unprotect,
        )?,
        allow_force_push: rule.allow_force_push.unwrap_or(false),
        code_owner_approval_required: rule.code_owner_approval_required.unwrap_or(false),
    };
    let branch = protected_branches::protect(&state, &project, caller, protection)
        .await
        .map_err(unprocessable)?;
    Ok((StatusCode::CREATED, Json(views::protected_branch(&branch))).into_response())
}

/// Change a rule's flags and access entries (Maintainer or admin).
#[utoipa::path(patch, path = "/projects/{id}/protected_branches/{name}", tag = "protected_branches",
    params(ProjectId, RuleName),
    request_body(content = RuleChange, description = "The changes"),
    responses(
        (status = 200, description = "The rule", body = views::ProtectedBranchEntity),
        (status = 422, description = "An access entry is refused or names no entry of the rule", body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, name)): Path<(String, String)>,
    params: Params,
) -> Result<Json<views::ProtectedBranchEntity>, ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    if !caller.can_admin_project() {
        return Err(ApiError::Forbidden);
    }
    let change: RuleChange = params.parse()?;
    let patch = ProtectionPatch {
        allow_force_push: change.allow_force_push,
        code_owner_approval_required: change.code_owner_approval_required,
        push: specs_of(change.allowed_to_push),
        merge: specs_of(change.allowed_to_merge),
        unprotect: specs_of(change.allowed_to_unprotect),
    };
    let branch = protected_branches::update(&state, &project, caller, &name, patch)
        .await
        .map_err(unprocessable)?;
    Ok(Json(views::protected_branch(&branch)))
}

/// Unprotect: remove a rule (Maintainer or admin; those its unprotect list names, when it has
/// one).
#[utoipa::path(delete, path = "/projects/{id}/protected_branches/{name}", tag = "protected_branches",
    params(ProjectId, RuleName),
    responses((status = 204, description = "Removed")))]
async fn remove(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = user.ok_or(ApiError::Unauthorized)?;
    let (project, caller) = find_project(&state, &id, Some(&user)).await?;
    protected_branches::unprotect(&state, &project, caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
