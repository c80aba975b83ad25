//! The JSON APIs the server speaks, one folder per dialect: `gitlab` is GitLab's v4 API, served
//! under `/api/v4`; `gitea` is the Gitea-compatible push-mirror API under `/api/v1`. Each dialect owns its wire shapes, its error JSON, its parameter parsing and
//! its OpenAPI document; they share only the services below and the caller extraction in
//! `http::auth`.

pub(in crate::http) mod gitea;
pub(in crate::http) mod gitlab;
