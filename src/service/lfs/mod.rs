//! Git LFS hosting's use cases: who may use a project's LFS objects ([`access`]), what a batch
//! request gets for each object ([`batch`]), the short-lived grants the batch hands out for its
//! transfers ([`grant`]), receiving, checking, linking and serving an object ([`transfer`]),
//! fetching the objects an import or a pull mirror's new commits need from the upstream
//! ([`fetch`]), and removing the objects a deleted project leaves unlinked ([`gc`]).
//!
//! A project sees an object only through its link in the database; knowing an oid grants
//! nothing, so a project without the link is asked to upload the bytes again (they are checked
//! against the oid, and stored once).

pub mod access;
pub mod batch;
pub mod fetch;
pub mod gc;
pub mod grant;
pub mod ssh_token;
pub mod transfer;

/// What a caller does with a project's LFS objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Upload,
    Download,
}

impl Operation {
    /// The batch API's name of the operation.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Upload => "upload",
            Operation::Download => "download",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        match s {
            "upload" => Some(Operation::Upload),
            "download" => Some(Operation::Download),
            _ => None,
        }
    }
}
