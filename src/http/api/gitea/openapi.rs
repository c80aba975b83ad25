//! The OpenAPI 3.1 document of the Gitea-compatible `/api/v1`, generated from its handlers'
//! `#[utoipa::path]` as the router is built (so a route cannot exist undocumented) and served at
//! `/api/v1/swagger.v1.json`, Gitea's own path. This module adds what every operation shares:
//! Gitea's error body (`APIError`), the statuses any operation may answer with, and the four
//! ways Gitea's clients send a token.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, Ref, ResponseBuilder, SecurityRequirement, Server,
};
use utoipa::ToSchema;

/// Gitea's error body.
#[derive(Debug, ToSchema)]
#[schema(as = APIError)]
#[allow(dead_code)] // documentation only: errors are built by `GiteaError`
pub(in crate::http) struct ApiErrorBody {
    /// What went wrong.
    message: String,
    /// Where the API is documented.
    url: String,
}

/// The statuses any operation may answer with (schemathesis holds the server to them).
const COMMON_ERRORS: [(&str, &str); 5] = [
    (
        "400",
        "A parameter is invalid: the interval, the remote address",
    ),
    (
        "401",
        "No valid token was given, and the resource is not public",
    ),
    (
        "403",
        "The caller (or the token's scope) may not do this: mirrors need a repository admin",
    ),
    (
        "404",
        "The repository or mirror does not exist, is hidden, or its path is not two segments",
    ),
    (
        "422",
        "The request body does not parse, or the repository refuses the request",
    ),
];

/// The security schemes, by Gitea's names.
const SCHEMES: [&str; 4] = [
    "AuthorizationHeaderToken",
    "AccessToken",
    "Token",
    "BasicAuth",
];

/// The document's frame: title, version, server prefix and the ways to send a token.
pub(super) fn base() -> OpenApi {
    let mut api = OpenApi::new(
        InfoBuilder::new()
            .title("pushmirror (Gitea-compatible)")
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(
                "The part of Gitea's (and Forgejo's) v1 REST API pushmirror serves: a \
                 repository, and its push mirrors. The same personal access tokens as \
                 /api/v4; a repository is `{owner}/{repo}`, a project whose full path has \
                 exactly two segments.",
            ))
            .build(),
        utoipa::openapi::path::Paths::new(),
    );
    api.servers = Some(vec![Server::new("/api/v1")]);
    let components = api
        .components
        .get_or_insert_with(utoipa::openapi::Components::new);
    components.add_security_scheme(
        "AuthorizationHeaderToken",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "Authorization",
            "`token <token>` (or `Bearer <token>`)",
        ))),
    );
    components.add_security_scheme(
        "AccessToken",
        SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("access_token"))),
    );
    components.add_security_scheme(
        "Token",
        SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("token"))),
    );
    components.add_security_scheme(
        "BasicAuth",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
    );
    api
}

/// Completes the collected document: the error body, the common error responses on every
/// operation, and the security requirements (each scheme, or none where Gitea answers
/// anonymous callers).
pub(super) fn finish(mut api: OpenApi) -> OpenApi {
    let components = api
        .components
        .get_or_insert_with(utoipa::openapi::Components::new);
    components.schemas.insert(
        "APIError".into(),
        <ApiErrorBody as utoipa::PartialSchema>::schema(),
    );
    let mut requirements: Vec<SecurityRequirement> = SCHEMES
        .iter()
        .map(|s| SecurityRequirement::new(*s, Vec::<String>::new()))
        .collect();
    requirements.push(SecurityRequirement::default());
    api.security = Some(requirements);
    for item in api.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_errors(op);
        }
    }
    api
}

/// Adds the common error responses to `op`.
fn add_errors(op: &mut Operation) {
    for (status, description) in COMMON_ERRORS {
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("APIError")))
                    .build(),
            )
            .build();
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| response.into());
    }
}
