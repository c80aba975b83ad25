//! The service layer's one error type: what went wrong in a use case, in domain terms. The HTTP
//! edge turns it into GitLab's status and JSON shape (`http::api::gitlab::error`), the web
//! interface into a page; nothing here knows about either.

use crate::model::errors::FieldErrors;
use crate::model::mirror_settings::MirrorErrors;
use crate::store::StoreError;

pub use super::refusal::Refusal;

/// What a use case looked for by name or id and did not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Project,
    Group,
    /// A user's or a group's namespace.
    Namespace,
    User,
    PersonalAccessToken,
    Branch,
    Tag,
    Commit,
    /// A user's SSH key.
    Key,
    /// A deploy key (not enabled in the project, or out of the caller's reach).
    DeployKey,
}

impl std::fmt::Display for Resource {
    /// The resource's name in messages for people (the CLI's, the web pages').
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Resource::Project => "Project",
            Resource::Group => "Group",
            Resource::Namespace => "Namespace",
            Resource::User => "User",
            Resource::PersonalAccessToken => "Personal Access Token",
            Resource::Branch => "Branch",
            Resource::Tag => "Tag",
            Resource::Commit => "Commit",
            Resource::Key => "Key",
            Resource::DeployKey => "Deploy Key",
        })
    }
}

/// What already exists that a change would make twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// A username (or a namespace path) in use.
    Username,
    /// An e-mail address in use.
    Email,
    /// The user is a member already.
    Member,
    /// A rule protecting the branches of this name exists.
    ProtectedBranch(String),
}

impl std::fmt::Display for Taken {
    /// The conflict for people (the CLI's, the web pages'), in GitLab's words.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Taken::Username => f.write_str("Username has already been taken"),
            Taken::Email => f.write_str("Email has already been taken"),
            Taken::Member => f.write_str("Member already exists"),
            Taken::ProtectedBranch(name) => write!(f, "Protected branch '{name}' already exists"),
        }
    }
}

/// A limit a change would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The enabled push mirrors a project may have (a mirror created or updated as enabled
    /// would be one more).
    EnabledMirrors(i64),
    /// The objects one git LFS batch request may name.
    LfsBatchObjects(usize),
    /// The bytes of LFS objects one project may hold (`--lfs-max-project-size`).
    LfsProjectSize(u64),
}

impl std::fmt::Display for Limit {
    /// The limit for people: `a project can have at most 10 enabled push mirrors`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::EnabledMirrors(max) => {
                write!(f, "a project can have at most {max} enabled push mirrors")
            }
            Limit::LfsBatchObjects(max) => {
                write!(f, "a batch request may name at most {max} objects")
            }
            Limit::LfsProjectSize(max) => write!(
                f,
                "the project's LFS objects would exceed the limit of {max} bytes"
            ),
        }
    }
}

/// A use case's failure.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The resource looked for does not exist or is hidden from the caller.
    #[error("{0} not found")]
    NotFound(Resource),
    /// A record inside a found resource (a mirror, a member, a protected branch) does not exist.
    #[error("record not found")]
    RecordNotFound,
    /// The caller must sign in to get further.
    #[error("authentication required")]
    Unauthenticated,
    /// The caller may not do this.
    #[error("forbidden")]
    Forbidden,
    /// The caller's account is blocked: nothing it sends is accepted.
    #[error("the account is blocked")]
    Blocked,
    /// The request broke field rules; nothing was written.
    #[error("invalid: {0:?}")]
    Invalid(FieldErrors),
    /// A mirror's settings broke field rules; nothing was written.
    #[error("invalid mirror settings: {0:?}")]
    InvalidMirror(MirrorErrors),
    /// The change would pass one of the instance's limits; nothing was written.
    #[error("limit reached: {0}")]
    LimitReached(Limit),
    /// The request is refused as a whole; nothing was written.
    #[error("{0}")]
    Refused(Refusal),
    /// The change would make again something that must be unique.
    #[error("{0}")]
    Conflict(Taken),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something else below failed (git, the cipher); the text is for the log only.
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    /// One field's validation error.
    pub fn field(field: &str, message: impl Into<String>) -> ServiceError {
        ServiceError::Invalid(FieldErrors::one(field, message))
    }
}

impl From<crate::storage::NotServed> for ServiceError {
    fn from(e: crate::storage::NotServed) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

impl From<MirrorErrors> for ServiceError {
    fn from(errors: MirrorErrors) -> Self {
        ServiceError::InvalidMirror(errors)
    }
}

impl From<FieldErrors> for ServiceError {
    fn from(errors: FieldErrors) -> Self {
        ServiceError::Invalid(errors)
    }
}
