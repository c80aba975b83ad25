//! A typed client of the GitLab API for test setup: each call names what it does, checks the
//! status it must get (panicking with the response text otherwise) and returns the entity
//! deserialized. Tests that assert on exact JSON shapes or error bodies use
//! [`super::client::Client`] instead; this one only reads the fields tests act on.

use std::fmt::Display;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{Body, Client, Resp};

/// A project as the API shows it (the fields tests read).
#[derive(Debug, Clone, Deserialize)]
pub struct Project {
    pub id: i64,
    pub path_with_namespace: String,
    pub default_branch: Option<String>,
    pub empty_repo: bool,
}

/// A group as the API shows it (the fields tests read).
#[derive(Debug, Clone, Deserialize)]
pub struct Group {
    pub id: i64,
    pub full_path: String,
}

/// A push mirror as the API shows it (the fields tests read).
#[derive(Debug, Clone, Deserialize)]
pub struct Mirror {
    pub id: i64,
    pub enabled: bool,
    pub update_status: String,
    pub last_error: Option<String>,
    pub last_update_at: Option<String>,
    pub last_update_started_at: Option<String>,
    pub last_successful_update_at: Option<String>,
}

/// The API as one user (`token`).
#[derive(Clone)]
pub struct Api {
    client: Client,
    token: String,
}

impl Api {
    pub fn new(client: Client, token: &str) -> Api {
        Api {
            client,
            token: token.to_owned(),
        }
    }

    /// A raw request as this user, for what the typed calls do not cover.
    pub async fn request(&self, method: &str, path: &str, body: Body) -> Resp {
        self.client
            .request(method, path, Some(&self.token), body)
            .await
    }

    /// `method path` with `body`, which must answer `status`; the answer as `T`.
    async fn expect<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Body,
        status: u16,
    ) -> T {
        let r = self.request(method, path, body).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.text);
        serde_json::from_str(&r.text)
            .unwrap_or_else(|e| panic!("{method} {path}: {e} in {}", r.text))
    }

    /// `POST /projects` with only a name (the path is derived from it).
    pub async fn create_project(&self, name: &str) -> Project {
        self.create_project_with(json!({ "name": name })).await
    }

    /// `POST /projects` with every attribute in `body`.
    pub async fn create_project_with(&self, body: Value) -> Project {
        self.expect("POST", "/projects", Body::Json(body), 201)
            .await
    }

    /// `GET /projects/:id` (an id or a URL-encoded path).
    pub async fn project(&self, project: impl Display) -> Project {
        self.expect("GET", &format!("/projects/{project}"), Body::None, 200)
            .await
    }

    /// `POST /projects/:id/members`: `user_id` gets `access_level` (GitLab's numbers).
    pub async fn add_member(&self, project: impl Display, user_id: i64, access_level: i64) {
        let body = json!({ "user_id": user_id, "access_level": access_level });
        let _: Value = self
            .expect(
                "POST",
                &format!("/projects/{project}/members"),
                Body::Json(body),
                201,
            )
            .await;
    }

    /// `POST /groups`: a group named and pathed `path` (a subgroup of `parent` when given).
    pub async fn create_group(&self, path: &str, parent: Option<i64>) -> Group {
        let mut body = json!({ "name": path, "path": path });
        if let Some(p) = parent {
            body["parent_id"] = json!(p);
        }
        self.create_group_with(body).await
    }

    /// `POST /groups` with every attribute in `body`.
    pub async fn create_group_with(&self, body: Value) -> Group {
        self.expect("POST", "/groups", Body::Json(body), 201).await
    }

    /// `POST /groups/:id/members`: `user_id` gets `access_level` (GitLab's numbers).
    pub async fn add_group_member(&self, group: impl Display, user_id: i64, access_level: i64) {
        let body = json!({ "user_id": user_id, "access_level": access_level });
        let _: Value = self
            .expect(
                "POST",
                &format!("/groups/{group}/members"),
                Body::Json(body),
                201,
            )
            .await;
    }

    /// `POST /projects/:id/protected_branches` with GitLab's defaults (Maintainers push and
    /// merge, no force push).
    pub async fn protect_branch(&self, project: impl Display, name: &str) {
        let _: Value = self
            .expect(
                "POST",
                &format!("/projects/{project}/protected_branches"),
                Body::Json(json!({ "name": name })),
                201,
            )
            .await;
    }

    /// `POST /projects/:id/remote_mirrors` with a URL and nothing else but `enabled`.
    pub async fn create_mirror(&self, project: impl Display, url: &str, enabled: bool) -> Mirror {
        self.create_mirror_with(project, json!({ "url": url, "enabled": enabled }))
            .await
    }

    /// `POST /projects/:id/remote_mirrors` with every attribute in `body`.
    pub async fn create_mirror_with(&self, project: impl Display, body: Value) -> Mirror {
        self.expect(
            "POST",
            &format!("/projects/{project}/remote_mirrors"),
            Body::Json(body),
            201,
        )
        .await
    }

    /// `GET /projects/:id/remote_mirrors/:mirror_id`.
    pub async fn mirror(&self, project: impl Display, id: i64) -> Mirror {
        self.expect(
            "GET",
            &format!("/projects/{project}/remote_mirrors/{id}"),
            Body::None,
            200,
        )
        .await
    }

    /// Every mirror of `project` (one page of 100, more than a project may have enabled).
    pub async fn mirrors(&self, project: impl Display) -> Vec<Mirror> {
        self.expect(
            "GET",
            &format!("/projects/{project}/remote_mirrors?per_page=100"),
            Body::None,
            200,
        )
        .await
    }

    /// `PUT /projects/:id/remote_mirrors/:mirror_id` with `body`.
    pub async fn update_mirror(&self, project: impl Display, id: i64, body: Value) -> Mirror {
        self.expect(
            "PUT",
            &format!("/projects/{project}/remote_mirrors/{id}"),
            Body::Json(body),
            200,
        )
        .await
    }

    /// `POST /projects/:id/remote_mirrors/:mirror_id/sync`, which must be accepted (204).
    pub async fn sync(&self, project: impl Display, id: i64) {
        let path = format!("/projects/{project}/remote_mirrors/{id}/sync");
        let r = self.request("POST", &path, Body::None).await;
        assert_eq!(r.status, 204, "POST {path}: {}", r.text);
    }

    /// `GET /projects/:id/remote_mirrors/:mirror_id/public_key`: the mirror's SSH public key.
    pub async fn mirror_public_key(&self, project: impl Display, id: i64) -> String {
        #[derive(Deserialize)]
        struct Key {
            public_key: String,
        }
        let key: Key = self
            .expect(
                "GET",
                &format!("/projects/{project}/remote_mirrors/{id}/public_key"),
                Body::None,
                200,
            )
            .await;
        key.public_key
    }
}
