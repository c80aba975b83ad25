//! GitLab's JSON entities, built field by field from domain values. Nothing reaches the wire
//! unless it is named here, so a new domain field (a credential, say) can never leak by accident.

use serde_json::Value;

mod hooks;
mod mirrors;
mod projects;
mod protected_branches;
mod repository;
mod users;

pub(super) use hooks::*;
pub(super) use mirrors::*;
pub(super) use projects::*;
pub(super) use protected_branches::*;
pub(super) use repository::*;
pub(super) use users::*;

use crate::model::entities::{gitlab_time, Millis};

/// GitLab's timestamp format: ISO 8601, UTC, milliseconds (`2020-01-06T17:32:02.823Z`).
pub(in crate::http) fn time(ms: Millis) -> Value {
    gitlab_time(ms).map(Value::String).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_have_milliseconds_and_z() {
        assert_eq!(time(1_578_331_922_823), json!("2020-01-06T17:32:02.823Z"));
        assert_eq!(time(0), json!("1970-01-01T00:00:00.000Z"));
    }
}
