//! Why a use case refused a request as a whole (nothing was written), in the domain's words.
//! `Display` is the message for people, GitLab's wording where GitLab has one; which status a
//! refusal becomes is each face's choice (`http::api::gitlab::error` answers most with 400 and
//! the hook rules and hook tests with 422, as GitLab does).

use crate::model::entities::Millis;
use crate::model::host_keys::HostKeyError;
use crate::model::sign_in::{too_soon_message, INVALID_LOGIN};

/// GitLab's refusal of a write to an archived project (also a push's refusal line).
pub const ARCHIVED_REFUSAL: &str = "You can't push code to an archived project.";

/// GitLab's answer to host-key detection for a URL that is not a usable `ssh://` URL.
const INVALID_URL: &str = "Invalid URL";

/// GitLab's answer to a scan that found nothing.
const SCAN_FAILED: &str = "Failed to detect SSH host keys";

/// GitLab's refusal to sync a disabled mirror.
const SYNC_REFUSED: &str =
    "Cannot proceed with the push mirroring. Please verify your mirror configuration.";

/// GitLab's message for a blocked account that gave the right password.
const BLOCKED: &str =
    "Your account has been blocked. Please contact your administrator if you think this is an error.";

/// What a request asked for that the use case will not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A wrong login or password (the message never says which).
    WrongLogin,
    /// A sign-in too soon after repeated failures: wait this many milliseconds.
    SignInThrottled(Millis),
    /// The account is blocked (the password was right).
    AccountBlocked,
    /// The token was revoked (or rotated) already.
    TokenRevoked,
    /// Demoting the only active administrator.
    LastAdmin,
    /// An administrator blocking their own account.
    BlockSelf,
    /// A change to the repository of an archived project.
    ProjectArchived,
    /// A branch name git would refuse.
    InvalidBranchName,
    /// A tag name git would refuse.
    InvalidTagName,
    /// A new branch's revision names no commit.
    UnknownRevision(String),
    /// A new tag's target names no commit.
    UnknownTarget(String),
    /// A protection or push rule refuses the change (its message).
    PushRule(&'static str),
    /// Deleting the project's default branch.
    DefaultBranch,
    /// Creating a branch that exists.
    BranchExists,
    /// Creating a tag that exists (its name).
    TagExists(String),
    /// The branch moved between reading and writing it.
    BranchMoved,
    /// The tag moved between reading and writing it.
    TagMoved,
    /// A sync of a disabled mirror.
    MirrorDisabled,
    /// Host keys that cannot be pinned.
    BadHostKeys(HostKeyError),
    /// Host-key detection for a URL that is not a usable `ssh://` URL.
    HostKeyScanUrl,
    /// Host-key detection found no key.
    HostKeyScanFailed,
    /// An update that changes nothing.
    NothingToChange,
    /// A hook URL that may not be used.
    InvalidHookUrl,
    /// A hook branch filter that does not read as its strategy.
    InvalidBranchFilter,
    /// Hook URL variables that break the rules.
    InvalidUrlVariables,
    /// Hook custom headers that break the rules (`problem`, said on updates only).
    InvalidCustomHeaders { creating: bool, problem: String },
    /// A hook test with no commit to describe.
    TestNeedsCommit,
    /// A hook test with no tag to describe.
    TestNeedsTag,
    /// A hook test with no remote mirror to describe.
    TestNeedsMirror,
    /// A hook (test or resend) answered outside 2xx: its body.
    HookAnswered(String),
    /// A hook (test or resend) could not be delivered: why.
    HookFailed(String),
    /// A hook (test or resend) is disabled.
    HookDisabled,
    /// A logged delivery names a trigger this server does not know.
    UnknownTrigger,
    /// Canceling (or retrying) an import in a state that does not allow it (its status).
    ImportState(&'static str),
    /// A pull-mirror sync of a project without an enabled pull mirror.
    PullMirrorNotConfigured,
}

impl Refusal {
    /// Whether the refusal comes from running a hook (its test or a resend): the web pages
    /// word these as a failed execution.
    pub fn is_hook_execution(&self) -> bool {
        matches!(
            self,
            Refusal::TestNeedsCommit
                | Refusal::TestNeedsTag
                | Refusal::TestNeedsMirror
                | Refusal::HookAnswered(_)
                | Refusal::HookFailed(_)
                | Refusal::HookDisabled
                | Refusal::UnknownTrigger
        )
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::WrongLogin => f.write_str(INVALID_LOGIN),
            Refusal::SignInThrottled(wait) => f.write_str(&too_soon_message(*wait)),
            Refusal::AccountBlocked => f.write_str(BLOCKED),
            Refusal::TokenRevoked => f.write_str("Token already revoked"),
            Refusal::LastAdmin => f.write_str("The last administrator cannot be demoted"),
            Refusal::BlockSelf => f.write_str("You cannot block yourself"),
            Refusal::ProjectArchived => f.write_str(ARCHIVED_REFUSAL),
            Refusal::InvalidBranchName => f.write_str("Branch name is invalid"),
            Refusal::InvalidTagName => f.write_str("Tag name invalid"),
            Refusal::UnknownRevision(rev) => write!(f, "Invalid reference name: {rev}"),
            Refusal::UnknownTarget(rev) => write!(f, "Target {rev} is invalid"),
            Refusal::PushRule(why) => f.write_str(why),
            Refusal::DefaultBranch => {
                f.write_str("The default branch of a project cannot be deleted.")
            }
            Refusal::BranchExists => f.write_str("Branch already exists"),
            Refusal::TagExists(name) => write!(f, "Tag {name} already exists"),
            Refusal::BranchMoved => f.write_str("Branch changed meanwhile"),
            Refusal::TagMoved => f.write_str("Tag changed meanwhile"),
            Refusal::MirrorDisabled => f.write_str(SYNC_REFUSED),
            Refusal::ImportState(status) => {
                write!(f, "The import cannot be changed because it is {status}")
            }
            Refusal::PullMirrorNotConfigured => {
                f.write_str("Pull mirroring is not configured for this project")
            }
            Refusal::BadHostKeys(e) => write!(f, "{e}"),
            Refusal::HostKeyScanUrl => f.write_str(INVALID_URL),
            Refusal::HostKeyScanFailed => f.write_str(SCAN_FAILED),
            Refusal::NothingToChange => f.write_str("No parameters provided"),
            Refusal::InvalidHookUrl => f.write_str("Invalid url given"),
            Refusal::InvalidBranchFilter => f.write_str("Invalid branch filter given"),
            Refusal::InvalidUrlVariables => {
                f.write_str("Url variables must be a valid json schema")
            }
            Refusal::InvalidCustomHeaders { creating: true, .. } => {
                f.write_str("Custom headers must be a valid json schema")
            }
            Refusal::InvalidCustomHeaders { problem, .. } => {
                write!(f, "Custom headers validation failed: {problem}")
            }
            Refusal::TestNeedsCommit => f.write_str("Ensure the project has at least one commit."),
            Refusal::TestNeedsTag => f.write_str("Ensure the project has tags."),
            Refusal::TestNeedsMirror => {
                f.write_str("Ensure the project has at least one remote mirror.")
            }
            Refusal::HookAnswered(body) => f.write_str(body),
            Refusal::HookFailed(why) => f.write_str(why),
            Refusal::HookDisabled => f.write_str("Hook disabled"),
            Refusal::UnknownTrigger => f.write_str("Unknown trigger"),
        }
    }
}
