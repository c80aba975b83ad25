//! GitLab's JSON entities, built field by field from domain values as typed structs (which are
//! also the response schemas of the OpenAPI document). Nothing reaches the wire unless it is
//! named here, so a new domain field (a credential, say) can never leak by accident.

mod hooks;
mod keys;
mod mirrors;
mod projects;
mod protected_branches;
mod pull;
mod repository;
mod users;

pub(in crate::http) use hooks::*;
pub(in crate::http) use keys::*;
pub(in crate::http) use mirrors::*;
pub(in crate::http) use projects::*;
pub(in crate::http) use protected_branches::*;
pub(in crate::http) use pull::*;
pub(in crate::http) use repository::*;
pub(in crate::http) use users::*;
