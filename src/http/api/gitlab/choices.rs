//! The parameters that take one of a fixed set of values, as the OpenAPI document's `enum`s.
//! Each set is the wire spelling the handler's parser accepts (a domain enum's `as_str`, its
//! parser's table where it takes more than one spelling), so a client reading the document
//! learns exactly what is accepted; the unit tests hold every set to its parser. The handlers
//! still read these parameters as text and refuse others with GitLab's `… does not have a valid
//! value`, so an `enum` here documents, it does not validate.
//!
//! Each type here stands for one such parameter in `#[schema(value_type = …, inline)]` or
//! `#[param(value_type = …, inline)]`: it has no values, only a schema (a string `enum`, or an
//! integer one for access levels), so the field's documentation and requiredness stay the
//! field's, and an `Option` around it adds `null` in a request body as utoipa does for any field.

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::model::access::{AccessLevel, ProjectCreationLevel, SubgroupCreationLevel};
use crate::model::entities::{AuthMethod, LfsSync, SshKeyType};
use crate::model::hooks::{BranchFilterStrategy, Trigger};
use crate::model::ssh_keys::UsageType;
use crate::model::tokens::Scope;
use crate::service::protected_branches::LEVELS;

/// `visibility`: how open a project or group is.
const VISIBILITIES: [&str; 3] = ["private", "internal", "public"];

/// A group list's `order_by` (`similarity` orders by name without a search, as in GitLab).
const GROUP_ORDERS: [&str; 4] = ["name", "path", "id", "similarity"];

/// A project list's `order_by` (`updated_at` and `last_activity_at` both order by the last push).
const PROJECT_ORDERS: [&str; 6] = [
    "id",
    "name",
    "path",
    "created_at",
    "updated_at",
    "last_activity_at",
];

/// A list's `sort`.
const SORTS: [&str; 2] = ["asc", "desc"];

/// A string schema taking one of `values`.
fn one_of(values: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .into()
}

/// Declares a documentation-only type whose schema is `$schema`.
macro_rules! choice {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub(in crate::http) struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl ToSchema for $name {}
    };
}

choice!(
    /// `visibility`.
    VisibilityName => one_of(VISIBILITIES)
);
choice!(
    /// A group list's `order_by`.
    GroupOrderName => one_of(GROUP_ORDERS)
);
choice!(
    /// A project list's `order_by`.
    ProjectOrderName => one_of(PROJECT_ORDERS)
);
choice!(
    /// A list's `sort`.
    SortName => one_of(SORTS)
);
choice!(
    /// A group's `project_creation_level`.
    ProjectCreationLevelName =>
        one_of(ProjectCreationLevel::ALL.map(ProjectCreationLevel::as_str))
);
choice!(
    /// A group's `subgroup_creation_level`.
    SubgroupCreationLevelName => one_of(
        [SubgroupCreationLevel::Owner, SubgroupCreationLevel::Maintainer]
            .map(SubgroupCreationLevel::as_str)
    )
);
choice!(
    /// A hook's `branch_filter_strategy`.
    BranchFilterStrategyName => one_of(
        [
            BranchFilterStrategy::Wildcard,
            BranchFilterStrategy::Regex,
            BranchFilterStrategy::AllBranches,
        ]
        .map(BranchFilterStrategy::as_str)
    )
);
choice!(
    /// The event a hook test sends a sample of (`:trigger`).
    TriggerName => one_of(Trigger::ALL.map(Trigger::attribute))
);
choice!(
    /// A mirror's `auth_method`.
    AuthMethodName =>
        one_of([AuthMethod::Password, AuthMethod::SshPublicKey].map(AuthMethod::as_str))
);
choice!(
    /// A mirror's `lfs_sync`.
    LfsSyncName => one_of(LfsSync::ALL.map(LfsSync::as_str))
);
choice!(
    /// A mirror's `ssh_key_type`.
    SshKeyTypeName => one_of([SshKeyType::Ed25519, SshKeyType::Rsa].map(SshKeyType::as_str))
);
choice!(
    /// One of a token's `scopes`.
    ScopeName => one_of(Scope::ALL.map(Scope::as_str))
);
choice!(
    /// An SSH key's `usage_type`.
    UsageTypeName => one_of(UsageType::ALL.map(UsageType::as_str))
);
choice!(
    /// An access level a member may hold: GitLab's integer (10 Guest … 50 Owner).
    AccessLevelValue => integer_one_of(AccessLevel::ALL.map(AccessLevel::as_i64))
);
choice!(
    /// Who a protected branch's rule lets act: 0 (no one), 30, 40 or 60 (admins).
    ProtectionLevelValue => integer_one_of(LEVELS)
);

/// An integer schema taking one of `values`.
fn integer_one_of(values: impl IntoIterator<Item = i64>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .enum_values(Some(values))
        .into()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::model::access::Visibility;
    use crate::store::{GroupOrder, ProjectOrder};

    /// The values `T`'s schema lists.
    fn listed<T: PartialSchema>() -> Vec<Value> {
        match T::schema() {
            RefOr::T(Schema::Object(object)) => object.enum_values.expect("an enum"),
            _ => panic!("not an inline enum"),
        }
    }

    /// The strings `T`'s schema lists.
    fn strings<T: PartialSchema>() -> Vec<String> {
        listed::<T>()
            .into_iter()
            .map(|v| v.as_str().expect("a string").to_owned())
            .collect()
    }

    /// Every value `T` lists is accepted by `accepts`.
    fn check<T: PartialSchema>(accepts: fn(&str) -> bool) {
        let values = strings::<T>();
        assert!(!values.is_empty());
        for value in values {
            assert!(accepts(&value), "{value} is listed but refused");
        }
    }

    #[test]
    fn every_listed_value_is_accepted_by_its_parser() {
        check::<VisibilityName>(|v| Visibility::parse(v).is_some());
        check::<GroupOrderName>(|v| GroupOrder::parse(v).is_some());
        check::<ProjectOrderName>(|v| ProjectOrder::parse(v).is_some());
        check::<SortName>(|v| v == "asc" || v == "desc");
        check::<ProjectCreationLevelName>(|v| ProjectCreationLevel::parse(v).is_some());
        check::<SubgroupCreationLevelName>(|v| SubgroupCreationLevel::parse(v).is_some());
        check::<BranchFilterStrategyName>(|v| BranchFilterStrategy::parse(v).is_some());
        check::<TriggerName>(|v| Trigger::from_attribute(v).is_some());
        check::<AuthMethodName>(|v| AuthMethod::parse(v).is_some());
        check::<SshKeyTypeName>(|v| SshKeyType::parse(v).is_some());
        check::<LfsSyncName>(|v| LfsSync::parse(v).is_some());
        check::<ScopeName>(|v| Scope::parse(v).is_some());
        check::<UsageTypeName>(|v| UsageType::parse(v).is_some());
        let levels = listed::<AccessLevelValue>();
        assert_eq!(levels.len(), AccessLevel::ALL.len());
        for level in levels {
            assert!(AccessLevel::from_i64(level.as_i64().unwrap()).is_some());
        }
        let levels = listed::<ProtectionLevelValue>();
        assert_eq!(levels, LEVELS.map(Value::from));
    }

    #[test]
    fn refused_spellings_are_not_listed() {
        // The ones a reader might expect: GitLab's other key types, and upper case.
        for refused in ["ecdsa", "dsa", "ed25519_sk", "ED25519"] {
            assert!(SshKeyType::parse(refused).is_none());
            assert!(!strings::<SshKeyTypeName>().contains(&refused.to_owned()));
        }
        assert!(Visibility::parse("Public").is_none());
        assert!(!strings::<VisibilityName>().contains(&"Public".to_owned()));
    }
}
