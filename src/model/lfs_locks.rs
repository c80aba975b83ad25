//! Git LFS file locks in the domain's words: a lock ([`LfsLock`]) holds one path of one project
//! for one user, the rules a lock's path follows ([`check_path`]), who may release whose lock
//! ([`may_unlock`], GitLab's `LfsFileLock#can_be_unlocked_by?`), the pages the lock lists
//! come in ([`LockPage`]), and which lock a push would break ([`first_locked`]). Pure: no I/O.
//!
//! A path is kept exactly as the client sent it: git-lfs matches the locks it gets back against
//! its own repository-relative paths byte for byte (when it verifies a push, and to find a
//! lock's id from a path), so rewriting one would hide it from the client. GitLab keeps it as
//! sent too; only what cannot be a path at all is refused.

use super::access::Caller;
use super::entities::Millis;

/// The longest path a lock may hold, in bytes: Linux's `PATH_MAX`, longer than any path a
/// working tree can check out, so no real file is refused, and a request cannot store megabytes.
pub const MAX_PATH_BYTES: usize = 4096;

/// The most locks one page of a list or a verification holds, and the size of a page when the
/// client names none: GitLab's largest API page. git-lfs follows `next_cursor` until the end,
/// so the size only bounds one response, never what a client can see.
pub const MAX_PAGE: u32 = 100;

/// A file lock as the domain sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LfsLock {
    pub id: i64,
    pub project_id: i64,
    /// The repository-relative path, as the client sent it.
    pub path: String,
    /// Who holds the lock.
    pub user_id: i64,
    /// The holder's display name (the lock's `owner.name`).
    pub owner_name: String,
    /// The fully qualified ref the client named when locking, if any; kept for the record only,
    /// as the locking API asks (a lock holds its path on every branch).
    pub ref_name: Option<String>,
    pub created_at: Millis,
}

/// Why a path cannot be locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    Empty,
    TooLong,
    /// A NUL byte: no file in a git tree has one, and databases refuse it in text.
    Nul,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PathError::Empty => "can't be blank",
            PathError::TooLong => "is too long (maximum is 4096 bytes)",
            PathError::Nul => "is not a valid path",
        })
    }
}

/// Checks that `path` can name a locked file (see the module's note: nothing is rewritten).
pub fn check_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        Err(PathError::Empty)
    } else if path.len() > MAX_PATH_BYTES {
        Err(PathError::TooLong)
    } else if path.contains('\0') {
        Err(PathError::Nul)
    } else {
        Ok(())
    }
}

/// Why a caller may not release a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlockRefusal {
    /// Someone else holds it and the caller did not force.
    HeldByOther,
    /// The caller forced, but breaking another user's lock takes Maintainer (or admin).
    ForceNeedsMaintainer,
}

/// Whether `caller` may release `lock`: its holder always, anyone else only by forcing and
/// only as a Maintainer or higher (GitLab's `admin_project`). Push access is checked before.
pub fn may_unlock(caller: &Caller, lock: &LfsLock, force: bool) -> Result<(), UnlockRefusal> {
    if caller.user_id == Some(lock.user_id) {
        Ok(())
    } else if !force {
        Err(UnlockRefusal::HeldByOther)
    } else if caller.can_admin_project() {
        Ok(())
    } else {
        Err(UnlockRefusal::ForceNeedsMaintainer)
    }
}

/// Which page of a project's locks to return. Locks come newest first (highest id first), as
/// git-lfs expects of a cursor: a lock made between two pages cannot shift the later ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockPage {
    /// The id of the first lock of this page (it and older ones); `None` from the newest.
    pub cursor: Option<i64>,
    /// How many locks at most, 1 to [`MAX_PAGE`].
    pub limit: u32,
}

/// Why a page request cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageError {
    Cursor,
    Limit,
}

impl LockPage {
    /// Reads a client's `cursor` (a `next_cursor` handed out before: a lock id) and `limit` (a
    /// positive count; more than [`MAX_PAGE`] is [`MAX_PAGE`], none or 0 is the default, as
    /// git-lfs sends none for "everything").
    pub fn parse(cursor: Option<&str>, limit: Option<i64>) -> Result<LockPage, PageError> {
        let cursor = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(parse_id(c).ok_or(PageError::Cursor)?),
        };
        let limit = match limit {
            None | Some(0) => MAX_PAGE,
            Some(n) if n < 0 => return Err(PageError::Limit),
            Some(n) => u32::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE),
        };
        Ok(LockPage { cursor, limit })
    }

    /// Splits `fetched` (up to `limit + 1` locks from the cursor on, newest first) into this
    /// page and the cursor of the next one, if there is one.
    pub fn split(&self, mut fetched: Vec<LfsLock>) -> (Vec<LfsLock>, Option<i64>) {
        let limit = self.limit as usize;
        let next = (fetched.len() > limit).then(|| fetched[limit].id);
        fetched.truncate(limit);
        (fetched, next)
    }
}

/// A lock id as the wire spells it (a decimal string); `None` for anything else, which names
/// no lock.
pub fn parse_id(text: &str) -> Option<i64> {
    (!text.is_empty() && text.len() <= 18 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
        .filter(|id| *id > 0)
}

/// The locks the caller holds ("ours") and those others hold ("theirs"), in the given order.
pub fn split_by_owner(locks: Vec<LfsLock>, user_id: i64) -> (Vec<LfsLock>, Vec<LfsLock>) {
    locks.into_iter().partition(|l| l.user_id == user_id)
}

/// The first lock among `others` (locks someone other than the pusher holds) on a path a push
/// changes, if any: GitLab refuses such a push on the server whatever the client checked
/// (`Gitlab::Checks::DiffCheck`, each changed file's new path, or old path when deleted).
pub fn first_locked<'a, 'p>(
    changed: impl IntoIterator<Item = &'p str>,
    others: &'a [LfsLock],
) -> Option<&'a LfsLock> {
    if others.is_empty() {
        return None;
    }
    let changed: std::collections::HashSet<&str> = changed.into_iter().collect();
    others.iter().find(|l| changed.contains(l.path.as_str()))
}

/// GitLab's refusal of a push that changes a path another user locked.
pub fn locked_path_refusal(lock: &LfsLock) -> String {
    format!(
        "The path '{}' is locked in Git LFS by {}",
        lock.path, lock.owner_name
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::access::AccessLevel;

    fn lock(id: i64, user_id: i64) -> LfsLock {
        LfsLock {
            id,
            project_id: 1,
            path: format!("f{id}.bin"),
            user_id,
            owner_name: "Owner".into(),
            ref_name: None,
            created_at: 0,
        }
    }

    fn caller(user_id: i64, level: Option<AccessLevel>, is_admin: bool) -> Caller {
        Caller {
            is_admin,
            level,
            authenticated: true,
            user_id: Some(user_id),
            deploy_key: None,
        }
    }

    #[test]
    fn paths_are_kept_unless_they_cannot_be_paths() {
        for ok in [
            "a.bin",
            "dir/sub/b.psd",
            " spaced ",
            "./odd",
            "ü.bin",
            "a\\b",
        ] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_path(""), Err(PathError::Empty));
        assert_eq!(check_path("a\0b"), Err(PathError::Nul));
        assert_eq!(check_path(&"x".repeat(MAX_PATH_BYTES)), Ok(()));
        assert_eq!(
            check_path(&"x".repeat(MAX_PATH_BYTES + 1)),
            Err(PathError::TooLong)
        );
    }

    #[test]
    fn who_may_unlock() {
        use AccessLevel::*;
        let held = lock(1, 7);
        let check = |c: Caller, force, expected| {
            assert_eq!(
                may_unlock(&c, &held, force),
                expected,
                "{c:?} force={force}"
            );
        };
        // The holder, whatever their level now and whether they force.
        check(caller(7, Some(Developer), false), false, Ok(()));
        check(caller(7, Some(Developer), false), true, Ok(()));
        // Someone else without force, even an Owner or an admin.
        for c in [
            caller(8, Some(Developer), false),
            caller(8, Some(Owner), false),
            caller(8, None, true),
        ] {
            check(c, false, Err(UnlockRefusal::HeldByOther));
        }
        // Forcing: Maintainer and up, or an admin.
        check(
            caller(8, Some(Developer), false),
            true,
            Err(UnlockRefusal::ForceNeedsMaintainer),
        );
        check(caller(8, Some(Maintainer), false), true, Ok(()));
        check(caller(8, Some(Owner), false), true, Ok(()));
        check(caller(8, None, true), true, Ok(()));
    }

    #[test]
    fn pages() {
        let page = |c: Option<&str>, l: Option<i64>| LockPage::parse(c, l);
        assert_eq!(
            page(None, None),
            Ok(LockPage {
                cursor: None,
                limit: MAX_PAGE
            })
        );
        assert_eq!(
            page(Some("42"), Some(5)),
            Ok(LockPage {
                cursor: Some(42),
                limit: 5
            })
        );
        assert_eq!(page(Some(""), Some(0)).unwrap().limit, MAX_PAGE);
        assert_eq!(page(None, Some(100_000)).unwrap().limit, MAX_PAGE);
        assert_eq!(page(None, Some(i64::MAX)).unwrap().limit, MAX_PAGE);
        assert_eq!(page(None, Some(-1)), Err(PageError::Limit));
        for bad in ["x", "-3", "0", "1.5", "99999999999999999999", " 4"] {
            assert_eq!(page(Some(bad), None), Err(PageError::Cursor), "{bad}");
        }

        let p = LockPage {
            cursor: None,
            limit: 2,
        };
        let (items, next) = p.split(vec![lock(9, 1), lock(7, 1), lock(4, 1)]);
        assert_eq!(items.iter().map(|l| l.id).collect::<Vec<_>>(), [9, 7]);
        assert_eq!(next, Some(4));
        let (items, next) = p.split(vec![lock(9, 1), lock(7, 1)]);
        assert_eq!(items.len(), 2);
        assert_eq!(next, None);
    }

    #[test]
    fn a_push_meets_the_first_lock_of_another() {
        let others = [lock(5, 2), lock(3, 2)];
        assert_eq!(
            first_locked(["x.bin", "f3.bin"], &others).map(|l| l.id),
            Some(3)
        );
        assert_eq!(
            first_locked(["f5.bin", "f3.bin"], &others).map(|l| l.id),
            Some(5)
        );
        assert_eq!(first_locked(["x.bin", "F3.bin", "f3.bin/"], &others), None);
        assert_eq!(first_locked(["f3.bin"], &[]), None);
        assert_eq!(
            locked_path_refusal(&others[1]),
            "The path 'f3.bin' is locked in Git LFS by Owner"
        );
    }

    #[test]
    fn ours_and_theirs() {
        let (ours, theirs) = split_by_owner(vec![lock(3, 1), lock(2, 2), lock(1, 1)], 1);
        assert_eq!(ours.iter().map(|l| l.id).collect::<Vec<_>>(), [3, 1]);
        assert_eq!(theirs.iter().map(|l| l.id).collect::<Vec<_>>(), [2]);
    }
}
