//! What a create or update of a remote mirror asks for, and GitLab's normalisation of the
//! branch-selection switches: absent keeps the stored value (or the default on create), `null`
//! means false, a regex in the request wins over "protected only" and "protected only" in the
//! request clears a stored regex (GitLab EE). Pure: validation errors are collected per field.

use super::entities::{AuthMethod, LfsSync, RemoteMirror, SshKeyType};
use super::errors::FieldErrors;
use super::refmatch::validate_branch_regex;
use super::url::MirrorTarget;

/// A create or update request as the client sent it. `None`: the key was absent; `Some(None)`:
/// present but null or blank.
#[derive(Debug, Clone, Default)]
pub struct MirrorRequest {
    /// The new URL and credentials (required on create).
    pub target: Option<MirrorTarget>,
    /// The settings page's edit form: a part of `target`'s credentials left blank keeps the
    /// stored one while the URL stays the same. (The API replaces all credentials with a URL.)
    pub blank_credentials_keep_stored: bool,
    pub enabled: Option<Option<bool>>,
    /// `password` or `ssh_public_key`; a value not on that list is a validation error.
    pub auth_method: Option<Result<AuthMethod, NotInList>>,
    pub keep_divergent_refs: Option<Option<bool>>,
    /// `required`, `best_effort` or `off`; a value not on that list is a validation error.
    pub lfs_sync: Option<Result<LfsSync, NotInList>>,
    pub only_protected_branches: Option<Option<bool>>,
    pub mirror_branch_regex: Option<Option<String>>,
    /// Host keys to pin (`known_hosts` lines or bare keys); an empty list clears them.
    pub host_keys: Option<Vec<String>>,
    /// The key pair's type, when the client asks for one (`ed25519` or `rsa`): a different type
    /// than the mirror's key replaces the key pair.
    pub ssh_key_type: Option<SshKeyType>,
    /// Seconds between periodic updates (0: only on push); at least [`MIN_SYNC_INTERVAL_SECS`].
    pub sync_interval_secs: Option<i64>,
    /// Whether pushes update the mirror (default true; null means false).
    pub sync_on_commit: Option<Option<bool>>,
}

/// The shortest interval of periodic updates, Gitea's `[mirror] MIN_INTERVAL` (10 minutes): a
/// periodic update re-checks every ref with the remote, and pushes trigger updates anyway.
pub const MIN_SYNC_INTERVAL_SECS: i64 = 600;

/// A field of a mirror's settings, as validation errors name it (each face spells it: the
/// GitLab API as its parameter names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MirrorField {
    Url,
    AuthMethod,
    OnlyProtectedBranches,
    MirrorBranchRegex,
    LfsSync,
    SyncInterval,
}

/// Validation errors of a mirror's settings.
pub type MirrorErrors = FieldErrors<MirrorField>;

/// A value sent for a parameter with a closed list of values that is not on the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInList;

/// The switches and branch selection of a mirror after normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switches {
    pub enabled: bool,
    pub only_protected_branches: bool,
    pub keep_divergent_refs: bool,
    pub lfs_sync: LfsSync,
    pub mirror_branch_regex: Option<String>,
    pub sync_interval_secs: i64,
    pub sync_on_commit: bool,
}

impl Switches {
    /// The switches `req` asks for on top of `current` (`None` on create), with GitLab's rules;
    /// invalid values are recorded in `errors`.
    pub fn resolve(
        current: Option<&RemoteMirror>,
        req: &MirrorRequest,
        errors: &mut MirrorErrors,
    ) -> Switches {
        let enabled = match req.enabled {
            Some(v) => v.unwrap_or(false),
            None => current.is_some_and(|m| m.enabled),
        };
        let keep_divergent_refs = match req.keep_divergent_refs {
            Some(v) => v.unwrap_or(false),
            None => current.is_some_and(|m| m.keep_divergent_refs),
        };
        let lfs_sync = match req.lfs_sync {
            Some(Ok(v)) => v,
            Some(Err(NotInList)) => {
                errors.push(MirrorField::LfsSync, "is not included in the list");
                current.map_or(LfsSync::default(), |m| m.lfs_sync)
            }
            None => current.map_or(LfsSync::default(), |m| m.lfs_sync),
        };
        let mut only_protected_branches = match req.only_protected_branches {
            Some(Some(v)) => v,
            Some(None) => {
                errors.push(MirrorField::OnlyProtectedBranches, "can't be blank");
                false
            }
            None => current.is_some_and(|m| m.only_protected_branches),
        };
        let requested_regex = req
            .mirror_branch_regex
            .clone()
            .map(|r| r.filter(|s| !s.is_empty()));
        let mut mirror_branch_regex = match requested_regex {
            Some(r) => r,
            None => current.and_then(|m| m.mirror_branch_regex.clone()),
        };
        if matches!(req.mirror_branch_regex, Some(Some(ref s)) if !s.is_empty()) {
            only_protected_branches = false;
        } else if req.only_protected_branches == Some(Some(true)) {
            mirror_branch_regex = None;
        }
        if let Some(re) = &mirror_branch_regex {
            if let Err(msg) = validate_branch_regex(re) {
                errors.push(MirrorField::MirrorBranchRegex, msg);
            }
        }
        let sync_interval_secs = req
            .sync_interval_secs
            .unwrap_or_else(|| current.map_or(0, |m| m.sync_interval_secs));
        if sync_interval_secs != 0 && sync_interval_secs < MIN_SYNC_INTERVAL_SECS {
            errors.push(
                MirrorField::SyncInterval,
                format!("must be 0 (only on push) or at least {MIN_SYNC_INTERVAL_SECS} seconds"),
            );
        }
        let sync_on_commit = match req.sync_on_commit {
            Some(v) => v.unwrap_or(false),
            None => current.is_none_or(|m| m.sync_on_commit),
        };
        Switches {
            enabled,
            only_protected_branches,
            keep_divergent_refs,
            lfs_sync,
            mirror_branch_regex,
            sync_interval_secs,
            sync_on_commit,
        }
    }
}

/// GitLab's refusal of password authentication over `ssh://`: the engine runs ssh in batch mode
/// with keys only, so a password could never be used. A password in the URL, or
/// `auth_method=password` asked for explicitly, is a `url` error naming what to do instead.
pub fn check_ssh_auth(
    has_password: bool,
    requested: Option<AuthMethod>,
    errors: &mut MirrorErrors,
) {
    if has_password || requested == Some(AuthMethod::Password) {
        errors.push(
            MirrorField::Url,
            "is blocked: password authentication is not supported for ssh:// mirrors: \
             remove the password and use auth_method=ssh_public_key, then add the mirror's \
             public key to the remote",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> RemoteMirror {
        RemoteMirror {
            enabled: true,
            keep_divergent_refs: true,
            mirror_branch_regex: Some("^rel".into()),
            ..RemoteMirror::default()
        }
    }

    #[test]
    fn absent_keeps_null_clears_and_create_defaults_to_off() {
        let mut errors = MirrorErrors::default();
        let none = Switches::resolve(None, &MirrorRequest::default(), &mut errors);
        assert!(!none.enabled && !none.keep_divergent_refs && !none.only_protected_branches);
        let kept = Switches::resolve(Some(&stored()), &MirrorRequest::default(), &mut errors);
        assert!(kept.enabled && kept.keep_divergent_refs);
        assert_eq!(kept.mirror_branch_regex.as_deref(), Some("^rel"));
        let req = MirrorRequest {
            enabled: Some(None),
            mirror_branch_regex: Some(Some(String::new())),
            ..MirrorRequest::default()
        };
        let cleared = Switches::resolve(Some(&stored()), &req, &mut errors);
        assert!(!cleared.enabled);
        assert_eq!(cleared.mirror_branch_regex, None);
        assert!(errors.is_empty());
    }

    #[test]
    fn lfs_sync_defaults_to_required_is_kept_and_refuses_other_values() {
        let mut errors = MirrorErrors::default();
        let new = Switches::resolve(None, &MirrorRequest::default(), &mut errors);
        assert_eq!(new.lfs_sync, LfsSync::Required);
        let current = RemoteMirror {
            lfs_sync: LfsSync::Off,
            ..RemoteMirror::default()
        };
        let kept = Switches::resolve(Some(&current), &MirrorRequest::default(), &mut errors);
        assert_eq!(kept.lfs_sync, LfsSync::Off);
        assert!(errors.is_empty());
        let asked = MirrorRequest {
            lfs_sync: Some(Ok(LfsSync::BestEffort)),
            ..MirrorRequest::default()
        };
        let s = Switches::resolve(Some(&current), &asked, &mut errors);
        assert_eq!(s.lfs_sync, LfsSync::BestEffort);
        let bad = MirrorRequest {
            lfs_sync: Some(Err(NotInList)),
            ..MirrorRequest::default()
        };
        Switches::resolve(Some(&current), &bad, &mut errors);
        assert!(!errors.is_empty());
        for v in LfsSync::ALL {
            assert_eq!(LfsSync::parse(v.as_str()), Some(v));
        }
    }

    #[test]
    fn regex_and_protected_only_exclude_each_other() {
        let mut errors = MirrorErrors::default();
        let protected = MirrorRequest {
            only_protected_branches: Some(Some(true)),
            ..MirrorRequest::default()
        };
        let s = Switches::resolve(Some(&stored()), &protected, &mut errors);
        assert!(s.only_protected_branches);
        assert_eq!(s.mirror_branch_regex, None);
        let current = RemoteMirror {
            only_protected_branches: true,
            ..RemoteMirror::default()
        };
        let regex = MirrorRequest {
            mirror_branch_regex: Some(Some("^main$".into())),
            ..MirrorRequest::default()
        };
        let s = Switches::resolve(Some(&current), &regex, &mut errors);
        assert!(!s.only_protected_branches);
        assert_eq!(s.mirror_branch_regex.as_deref(), Some("^main$"));
        assert!(errors.is_empty());
    }

    #[test]
    fn intervals_below_the_minimum_are_refused_and_pushes_sync_by_default() {
        for (asked, refused) in [
            (None, false),
            (Some(0), false),
            (Some(600), false),
            (Some(599), true),
            (Some(-1), true),
        ] {
            let mut errors = MirrorErrors::default();
            let req = MirrorRequest {
                sync_interval_secs: asked,
                ..MirrorRequest::default()
            };
            let s = Switches::resolve(None, &req, &mut errors);
            assert_eq!(!errors.is_empty(), refused, "{asked:?}");
            assert!(s.sync_on_commit);
        }
        let current = RemoteMirror {
            sync_interval_secs: 3600,
            sync_on_commit: false,
            ..RemoteMirror::default()
        };
        let mut errors = MirrorErrors::default();
        let kept = Switches::resolve(Some(&current), &MirrorRequest::default(), &mut errors);
        assert_eq!(
            (kept.sync_interval_secs, kept.sync_on_commit),
            (3600, false)
        );
    }

    #[test]
    fn passwords_over_ssh_are_refused() {
        for (has_password, requested, refused) in [
            (true, None, true),
            (true, Some(AuthMethod::SshPublicKey), true),
            (false, Some(AuthMethod::Password), true),
            (false, Some(AuthMethod::SshPublicKey), false),
            (false, None, false),
        ] {
            let mut errors = MirrorErrors::default();
            check_ssh_auth(has_password, requested, &mut errors);
            assert_eq!(!errors.is_empty(), refused, "{has_password} {requested:?}");
        }
    }

    #[test]
    fn blank_protected_only_and_bad_regex_are_field_errors() {
        let mut errors = MirrorErrors::default();
        let req = MirrorRequest {
            only_protected_branches: Some(None),
            ..MirrorRequest::default()
        };
        Switches::resolve(None, &req, &mut errors);
        let req = MirrorRequest {
            mirror_branch_regex: Some(Some("(".into())),
            ..MirrorRequest::default()
        };
        Switches::resolve(None, &req, &mut errors);
        let fields: Vec<&MirrorField> = errors.0.keys().collect();
        assert_eq!(
            fields,
            [
                &MirrorField::OnlyProtectedBranches,
                &MirrorField::MirrorBranchRegex
            ]
        );
    }
}
