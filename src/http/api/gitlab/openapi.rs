//! The OpenAPI 3.1 document of `/api/v4`, generated from the code: each handler's
//! `#[utoipa::path]` (its route, parameters, request and response types) is collected by the
//! `utoipa_axum` router that also serves it, so a route cannot exist without its documentation.
//! This module adds what every operation shares (GitLab's error shapes and statuses, the token
//! schemes, unique operation ids) and serves the result at `/api/v4/openapi.json`.

use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, Ref, ResponseBuilder, SecurityRequirement, Server,
};
use utoipa::{IntoParams, ToSchema};

/// The statuses any operation may answer with, whatever it does: a parameter GitLab's way
/// refuses (400), no or a bad token (401), a token or account that may not (403), something
/// named in the path that does not exist or is hidden (404).
const COMMON_ERRORS: [(&str, &str); 4] = [
    ("400", "A parameter is missing, invalid or out of range"),
    (
        "401",
        "No valid token was given, and the resource is not public",
    ),
    (
        "403",
        "The caller, the token's scope or the account may not do this",
    ),
    (
        "404",
        "The resource, or something named in the path, was not found",
    ),
];

/// GitLab's error bodies: `{"message": …}` (a string, a field → messages map, or a list of
/// messages) or `{"error": …}` (a parameter refused, a route that does not exist, a scope).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation only: errors are built by `ApiError`
pub(in crate::http) struct ErrorBody {
    /// The message: a string, a map of field to messages, or a list of messages.
    message: Option<serde_json::Value>,
    /// A refused parameter's text, or an OAuth-style error code.
    error: Option<String>,
    /// With `error: insufficient_scope`.
    error_description: Option<String>,
    /// With `error: insufficient_scope`: the scope the operation needs.
    scope: Option<String>,
}

/// The `:id` of a project: its numeric id or its URL-encoded full path (`group%2Fproject`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only: handlers take the segment as a string
pub(in crate::http) struct ProjectId {
    /// The ID or URL-encoded path of the project.
    id: String,
}

/// The `:id` of a group: its numeric id or its URL-encoded full path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only
pub(in crate::http) struct GroupId {
    /// The ID or URL-encoded path of the group.
    id: String,
}

/// GitLab's offset pagination, on every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only: `pagination::page_request` reads them
pub(in crate::http) struct Pagination {
    /// The page to show, from 1 (default 1).
    page: Option<i64>,
    /// Items per page, 1 to 100 (default 20).
    per_page: Option<i64>,
}

/// The served document, rendered once when the router is built.
#[derive(Clone)]
pub(in crate::http) struct Document(Arc<String>);

impl Document {
    pub(in crate::http) fn new(api: &OpenApi) -> Self {
        Document(Arc::new(
            api.to_pretty_json()
                .expect("the OpenAPI document serialises"),
        ))
    }

    pub(in crate::http) fn text(&self) -> &str {
        &self.0
    }

    pub(in crate::http) fn response(&self) -> Response {
        (
            [(CONTENT_TYPE, "application/json")],
            self.0.as_str().to_owned(),
        )
            .into_response()
    }
}

/// The document's frame: title, version, server prefix and the two ways to send a token.
pub(in crate::http) fn base() -> OpenApi {
    let mut api = OpenApi::new(
        InfoBuilder::new()
            .title("pushmirror")
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(
                "GitLab's v4 REST API as pushmirror serves it: projects, groups, users and \
                 tokens, SSH keys and deploy keys, members, protected branches, repository \
                 branches and tags, remote mirrors and project hooks.",
            ))
            .build(),
        utoipa::openapi::path::Paths::new(),
    );
    api.servers = Some(vec![Server::new("/api/v4")]);
    let components = api
        .components
        .get_or_insert_with(utoipa::openapi::Components::new);
    components.add_security_scheme(
        "private_token",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("PRIVATE-TOKEN"))),
    );
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    api
}

/// Completes the collected document: GitLab's error responses on every operation, the error
/// body schema, the token schemes (each operation also answers anonymous callers where GitLab
/// does), and operation ids made unique by their tag (`projects_list`, `groups_list`).
pub(in crate::http) fn finish(mut api: OpenApi) -> OpenApi {
    let components = api
        .components
        .get_or_insert_with(utoipa::openapi::Components::new);
    components.schemas.insert(
        "ErrorBody".into(),
        <ErrorBody as utoipa::PartialSchema>::schema(),
    );
    api.security = Some(vec![
        SecurityRequirement::new("private_token", Vec::<String>::new()),
        SecurityRequirement::new("bearer", Vec::<String>::new()),
        SecurityRequirement::default(),
    ]);
    let mut ids = std::collections::HashSet::new();
    for item in api.paths.paths.values_mut() {
        let operations = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ];
        for (method, op) in operations {
            if let Some(op) = op {
                complete_operation(op, method, &mut ids);
            }
        }
    }
    api.paths.add_path_operation(
        "/openapi.json",
        vec![utoipa::openapi::HttpMethod::Get],
        utoipa::openapi::path::OperationBuilder::new()
            .tag("meta")
            .operation_id(Some("openapi"))
            .summary(Some("This document"))
            .response(
                "200",
                ResponseBuilder::new()
                    .description("The OpenAPI document of /api/v4")
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(utoipa::openapi::ObjectBuilder::new()))
                            .build(),
                    )
                    .build(),
            )
            .build(),
    );
    api
}

/// Adds the common error responses to `op` and makes its id unique: `<tag>_<handler>`, and
/// `_<method>` after it for a handler that serves two methods (a mirror's `PUT` and `POST`).
fn complete_operation(
    op: &mut Operation,
    method: &str,
    ids: &mut std::collections::HashSet<String>,
) {
    for (status, description) in COMMON_ERRORS {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description));
    }
    if let (Some(id), Some(tag)) = (&op.operation_id, op.tags.as_ref().and_then(|t| t.first())) {
        let mut unique = format!("{tag}_{id}");
        if ids.contains(&unique) {
            unique = format!("{unique}_{method}");
        }
        ids.insert(unique.clone());
        op.operation_id = Some(unique);
    }
}

/// A response with GitLab's error body.
pub(in crate::http) fn error_response(
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}
