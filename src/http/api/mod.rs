//! The JSON APIs the server speaks, one folder per dialect: `gitlab` is GitLab's v4 API, served
//! under `/api/v4`. Each dialect owns its wire shapes, its error JSON, its parameter parsing and
//! its OpenAPI document; they share only the services below and the caller extraction in
//! `http::auth`, so a second dialect (Gitea's `/api/v1`) can stand beside the first.

pub(in crate::http) mod gitlab;
