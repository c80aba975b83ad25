//! The one reading of a request path outside the fixed routes: which project it is about and
//! what it asks of it ([`RepoRequest`]). A namespace has any number of segments, so none of these
//! can be an axum route; the router's fallback parses the path here once and dispatches on the
//! [`Endpoint`]:
//!
//! - `/<project>.git/info/refs` and `/<project>.git/git-upload-pack|git-receive-pack`: smart
//!   HTTP ([`Smart`]);
//! - `/<project>.git/info/lfs/…` and `/<project>/info/lfs/…` (git-lfs's endpoint for a remote
//!   URL without `.git`, which GitLab serves too): git LFS ([`Endpoint::Lfs`]);
//! - `/<project>/-/mirror/ssh_host_keys.json`: GitLab's web route for host-key detection;
//! - `/<project>` and `/<project>/-/…`: the project's web pages.
//!
//! One set of segment rules serves them all, the shape every group, user and project path
//! has (`model::naming`): two to [`MAX_SEGMENTS`] segments of letters, digits, `_`, `-` and
//! `.`, none empty, starting with `-`, ending in `.git`, or being `.` or `..`. A leading `.` is
//! allowed because a group's path may start with one (`valid_group_path`), and its projects are
//! reachable over git. Paths are matched as sent: no segment character needs percent-encoding,
//! so a percent-encoded project path is not one.

use crate::git::service::Service;

/// The most segments a project's full path has: a top-level group, the most subgroups below it,
/// and the project.
pub(in crate::http) const MAX_SEGMENTS: usize = crate::model::groups::MAX_ANCESTORS + 2;

/// The page below a project that is GitLab's web route for host-key detection.
const HOST_KEYS_PAGE: &str = "/-/mirror/ssh_host_keys.json";

/// Where git LFS lives below a repository's `.git` path.
const LFS_PREFIX: &str = ".git/info/lfs/";
/// Where git LFS lives below a project's path without `.git`.
const BARE_LFS_PREFIX: &str = "/info/lfs/";

/// A smart-HTTP endpoint of a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::http) enum Smart {
    /// `info/refs?service=…`: the ref advertisement.
    InfoRefs,
    /// `git-upload-pack` or `git-receive-pack`: the service itself.
    Rpc(Service),
}

/// What a request asks of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::http) enum Endpoint {
    /// Git's smart HTTP.
    Smart(Smart),
    /// Git LFS: the path below `info/lfs/` (`objects/batch`, `locks`, …).
    Lfs(String),
    /// GitLab's web route for SSH host-key detection.
    HostKeys,
    /// A web page: the path below the project, `/` or `/-/…`.
    Pages(String),
}

/// A request path read as (project, endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::http) struct RepoRequest {
    /// The project's full path (`org/team/app`), as `find_project` takes it.
    pub project: String,
    pub endpoint: Endpoint,
}

impl RepoRequest {
    /// Reads a request's path (without its query); `None` when it names no project.
    pub(in crate::http) fn parse(path: &str) -> Option<RepoRequest> {
        let path = path.strip_prefix('/')?;
        Self::git(path).or_else(|| Self::pages(path))
    }

    /// `<project>.git/<endpoint>`.
    fn git(path: &str) -> Option<RepoRequest> {
        let (project, endpoint) = if let Some((project, rest)) = path
            .split_once(LFS_PREFIX)
            .or_else(|| path.split_once(BARE_LFS_PREFIX))
        {
            (project, Endpoint::Lfs(rest.to_owned()))
        } else {
            let (repo, smart) = [
                ("/info/refs", Smart::InfoRefs),
                ("/git-upload-pack", Smart::Rpc(Service::UploadPack)),
                ("/git-receive-pack", Smart::Rpc(Service::ReceivePack)),
            ]
            .into_iter()
            .find_map(|(suffix, e)| path.strip_suffix(suffix).map(|rest| (rest, e)))?;
            (repo.strip_suffix(".git")?, Endpoint::Smart(smart))
        };
        valid_project(project).then(|| RepoRequest {
            project: project.to_owned(),
            endpoint,
        })
    }

    /// `<project>`, `<project>/` or `<project>/-/<page>`.
    fn pages(path: &str) -> Option<RepoRequest> {
        let (project, rest) = match path.split_once("/-/") {
            Some((p, r)) => (p, format!("/-/{r}")),
            None => (path.strip_suffix('/').unwrap_or(path), "/".to_owned()),
        };
        let endpoint = if rest == HOST_KEYS_PAGE {
            Endpoint::HostKeys
        } else {
            Endpoint::Pages(rest)
        };
        valid_project(project).then(|| RepoRequest {
            project: project.to_owned(),
            endpoint,
        })
    }
}

/// Whether `project` has the shape of a project's full path (see the module's rules).
fn valid_project(project: &str) -> bool {
    let segments = project.split('/');
    (2..=MAX_SEGMENTS).contains(&segments.clone().count())
        && segments.into_iter().all(valid_segment)
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s != "."
        && s != ".."
        && !s.ends_with(".git")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `path` reads as `project` and `endpoint`, or (`None`) names no project.
    fn check(path: &str, expected: Option<(&str, Endpoint)>) {
        let got = RepoRequest::parse(path);
        let expected = expected.map(|(project, endpoint)| RepoRequest {
            project: project.to_owned(),
            endpoint,
        });
        assert_eq!(got, expected, "{path}");
    }

    fn page(rest: &str) -> Endpoint {
        Endpoint::Pages(rest.to_owned())
    }

    fn lfs(rest: &str) -> Endpoint {
        Endpoint::Lfs(rest.to_owned())
    }

    const INFO_REFS: Endpoint = Endpoint::Smart(Smart::InfoRefs);
    const UPLOAD: Endpoint = Endpoint::Smart(Smart::Rpc(Service::UploadPack));
    const RECEIVE: Endpoint = Endpoint::Smart(Smart::Rpc(Service::ReceivePack));

    #[test]
    fn every_endpoint() {
        for (path, expected) in [
            ("/alice/proj.git/info/refs", Some(("alice/proj", INFO_REFS))),
            (
                "/alice/proj.git/git-upload-pack",
                Some(("alice/proj", UPLOAD)),
            ),
            (
                "/alice/proj.git/git-receive-pack",
                Some(("alice/proj", RECEIVE)),
            ),
            (
                "/org/team/sub/proj.git/git-upload-pack",
                Some(("org/team/sub/proj", UPLOAD)),
            ),
            (
                "/a/p.git/info/lfs/objects/batch",
                Some(("a/p", lfs("objects/batch"))),
            ),
            (
                "/a/b/p.git/info/lfs/locks/verify",
                Some(("a/b/p", lfs("locks/verify"))),
            ),
            (
                "/a/p.git/info/lfs/objects/batch/info/refs",
                Some(("a/p", lfs("objects/batch/info/refs"))),
            ),
            (
                "/a/p/info/lfs/objects/batch",
                Some(("a/p", lfs("objects/batch"))),
            ),
            ("/org/t/p/info/lfs/locks", Some(("org/t/p", lfs("locks")))),
            // An LFS path below no project's shape is a page path like another.
            (
                "/a/info/lfs/objects/batch",
                Some(("a/info/lfs/objects/batch", page("/"))),
            ),
            (
                "/org/team/sub/app/-/mirror/ssh_host_keys.json",
                Some(("org/team/sub/app", Endpoint::HostKeys)),
            ),
            ("/root/app", Some(("root/app", page("/")))),
            ("/root/app/", Some(("root/app", page("/")))),
            (
                "/org/team/app/-/settings/repository",
                Some(("org/team/app", page("/-/settings/repository"))),
            ),
            (
                "/root/app/-/tree/feature%2Fx",
                Some(("root/app", page("/-/tree/feature%2Fx"))),
            ),
            (
                "/root/app/-/mirror/ssh_host_keys.json/x",
                Some(("root/app", page("/-/mirror/ssh_host_keys.json/x"))),
            ),
            // Without `.git`, a git endpoint's name is a project path like another.
            (
                "/alice/proj/info/refs",
                Some(("alice/proj/info/refs", page("/"))),
            ),
            (
                "/a/b/git-upload-pack",
                Some(("a/b/git-upload-pack", page("/"))),
            ),
            // An unknown endpoint below `.git`, or none, is no project's.
            ("/a/b.git/HEAD", None),
            ("/a/b.git", None),
            ("/a/b.git/", None),
            ("/a/b.git/info/lfs", None),
            ("/api/v4/projects", Some(("api/v4/projects", page("/")))),
            ("/", None),
            ("", None),
            ("alice/proj.git/info/refs", None),
        ] {
            check(path, expected);
        }
    }

    #[test]
    fn depth_limits() {
        let deepest = "g/".repeat(MAX_SEGMENTS - 1) + "p";
        let deeper = "g/".repeat(MAX_SEGMENTS) + "p";
        for (project, ok) in [
            ("p", false),
            ("g/p", true),
            (&deepest, true),
            (&deeper, false),
        ] {
            let smart = format!("/{project}.git/info/refs");
            let lfs_path = format!("/{project}.git/info/lfs/locks");
            let pages = format!("/{project}/-/hooks");
            let host_keys = format!("/{project}/-/mirror/ssh_host_keys.json");
            check(&smart, ok.then_some((project, INFO_REFS)));
            check(&lfs_path, ok.then(|| (project, lfs("locks"))));
            check(&pages, ok.then(|| (project, page("/-/hooks"))));
            check(&host_keys, ok.then_some((project, Endpoint::HostKeys)));
        }
    }

    #[test]
    fn one_set_of_segment_rules() {
        for project in [
            "a//c", "/a/b", "a/b/", "a/.git", "a.git/b", "a/b.git", "a/-b", "-/b", "a/-", "./b",
            "a/..", "a/b c", "a/b%2fc", "a%2Fb", "a/b%2E", "a/b\\c", "a/b?c",
        ] {
            for path in [
                format!("/{project}.git/info/refs"),
                format!("/{project}.git/git-receive-pack"),
                format!("/{project}.git/info/lfs/objects/batch"),
                format!("/{project}/-/mirror/ssh_host_keys.json"),
                format!("/{project}/-/settings/repository"),
                format!("/{project}"),
            ] {
                let got = RepoRequest::parse(&path);
                assert!(
                    got.as_ref().is_none_or(|r| r.project != project),
                    "{path}: {got:?}"
                );
            }
        }
        // What the rules allow: GitLab's path characters anywhere, a leading `_` or `.`.
        for project in ["a.b/c_d-e", "_x/y", ".dots/p", "A/B", "a/b.c.d", "0/1"] {
            check(
                &format!("/{project}.git/info/refs"),
                Some((project, INFO_REFS)),
            );
            check(&format!("/{project}"), Some((project, page("/"))));
        }
    }
}
