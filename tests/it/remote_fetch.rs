//! `git fetch` through `remote`, the way a pull mirror will reach its source: a [`GitRemote`]
//! prepared from a mirror's settings (URL checked and pinned, credentials as an `Authorization`
//! header or through a private ssh-agent with pinned host keys) fetches into a bare repository
//! over real smart HTTP (`git http-backend`, with a token) and real OpenSSH, and its failures are
//! typed and scrubbed.

use crate::common;
use crate::remotes;

use std::path::Path;
use std::time::Duration;

use common::{blocking, refs_of, Work};
use pushmirror::credentials::{generate_ssh_key, MirrorCredentials};
use pushmirror::git::GitRunner;
use pushmirror::model::entities::{AuthMethod, SshKeyType};
use pushmirror::model::host_keys::RepinHint;
use pushmirror::model::url::NetworkPolicy;
use pushmirror::remote::{GitRemote, RemoteFailure, RemoteSpec};
use remotes::{GitHttpRemote, SshRemote};
use secrecy::SecretString;

/// The test servers listen on 127.0.0.1, which the default policy refuses.
const POLICY: NetworkPolicy = NetworkPolicy {
    allow_local_network: true,
};

/// Deadline of one git process here: generous for a loaded machine, finite.
const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// What every fetch here asks for: a mirror of the remote's branches and tags.
fn mirror_refspecs() -> Vec<String> {
    vec![
        "+refs/heads/*:refs/heads/*".to_owned(),
        "+refs/tags/*:refs/tags/*".to_owned(),
    ]
}

/// A git runner and an empty bare repository to fetch into, in `dir`.
async fn local_repository(dir: &Path) -> (GitRunner, pushmirror::storage::LocalRepo) {
    let git = GitRunner::new(&dir.join("git-home"), GIT_TIMEOUT).unwrap();
    let repo = crate::common::local_repo(&dir.join("storage"), 1);
    pushmirror::git::init_bare(&git, &repo, "main")
        .await
        .unwrap();
    (git, repo)
}

/// A client repository with two branches and a tag, pushed (over the file system) into `bare`,
/// which may belong to sshd's login account.
fn seed(bare: &Path) -> Work {
    let work = Work::new();
    work.commit("one");
    work.git(&["tag", "v1"]);
    work.git(&["branch", "feature"]);
    work.commit("two");
    let path = bare.display().to_string();
    // The push runs receive-pack in `bare` as us; it may belong to another account.
    let receive_pack = "--receive-pack=git -c safe.directory=* receive-pack";
    work.git(&["push", "-q", receive_pack, &path, "main", "feature", "v1"]);
    work
}

/// A password (or token) remote's settings.
fn spec<'a>(url: &'a str, credentials: MirrorCredentials) -> RemoteSpec<'a> {
    RemoteSpec {
        url,
        credentials,
        auth_method: AuthMethod::Password,
        ssh_public_key: None,
        ssh_known_hosts: None,
        repin: RepinHint {
            project_id: 1,
            mirror_id: 1,
            url,
        },
    }
}

/// An ssh remote's settings: the key pair and the pinned `known_hosts` lines.
fn keyed_spec<'a>(
    url: &'a str,
    private: &SecretString,
    public: &'a str,
    known_hosts: &'a str,
) -> RemoteSpec<'a> {
    let credentials = MirrorCredentials {
        user: None,
        password: None,
        ssh_private_key: Some(private.clone()),
    };
    RemoteSpec {
        auth_method: AuthMethod::SshPublicKey,
        ssh_public_key: Some(public),
        ssh_known_hosts: Some(known_hosts),
        ..spec(url, credentials)
    }
}

/// A user name and a password or token.
fn password(user: &str, pass: &str) -> MirrorCredentials {
    MirrorCredentials {
        user: Some(SecretString::from(user.to_owned())),
        password: Some(SecretString::from(pass.to_owned())),
        ssh_private_key: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_over_http_with_a_token_mirrors_branches_and_tags_and_prunes() {
    let token = "glpat-fetch-secret-7f3a";
    let server = GitHttpRemote::start(Some(("puller", token))).await;
    let url = server.create_repo("source");
    let bare = server.repo_path("source");
    let work = blocking(move || seed(&bare)).await;
    let dir = tempfile::tempdir().unwrap();
    let (git, repo) = local_repository(dir.path()).await;

    let remote = GitRemote::prepare(spec(&url, password("puller", token)), POLICY, &git)
        .await
        .unwrap();
    remote
        .fetch(&git, &repo, &mirror_refspecs(), true)
        .await
        .unwrap();
    assert_eq!(refs_of(&repo), server.refs("source"));
    assert_eq!(refs_of(&repo).len(), 3);
    let log = server.request_log();
    assert!(
        !log.is_empty() && log.iter().all(|r| r.has_authorization()),
        "{log:?}"
    );
    assert!(log.iter().all(|r| !r.uri.contains(token)));

    // A branch deleted at the source goes with `prune`; a moved one follows, forced.
    work.git(&["reset", "-q", "--hard", "HEAD~1"]);
    work.commit("rewritten");
    let path = server.repo_path("source").display().to_string();
    work.push(&path, &["+main", ":feature"]);
    remote
        .fetch(&git, &repo, &mirror_refspecs(), true)
        .await
        .unwrap();
    assert_eq!(refs_of(&repo), server.refs("source"));
    assert!(!refs_of(&repo).contains_key("refs/heads/feature"));

    // A wrong token is a retryable failure whose message does not carry it.
    let wrong = "glpat-wrong-secret-9c1d";
    let remote = GitRemote::prepare(spec(&url, password("puller", wrong)), POLICY, &git)
        .await
        .unwrap();
    let failure = remote
        .fetch(&git, &repo, &mirror_refspecs(), false)
        .await
        .unwrap_err();
    assert!(failure.is_retryable(), "{failure:?}");
    assert!(!failure.message().contains(wrong), "{failure}");
    assert!(!failure.message().contains("did not finish"), "{failure}");

    // Without credentials, git is asked for them: nobody answers, and it fails at once.
    let remote = GitRemote::prepare(spec(&url, MirrorCredentials::default()), POLICY, &git)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let failure = remote
        .fetch(&git, &repo, &mirror_refspecs(), false)
        .await
        .unwrap_err();
    assert!(failure.is_retryable(), "{failure:?}");
    assert!(!failure.message().contains("did not finish"), "{failure}");
    assert!(
        started.elapsed() < GIT_TIMEOUT / 2,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_the_policy_refuses_is_never_fetched_from() {
    let server = GitHttpRemote::start(None).await;
    let url = server.create_repo("source");
    let dir = tempfile::tempdir().unwrap();
    let (git, _repo) = local_repository(dir.path()).await;
    let strict = NetworkPolicy {
        allow_local_network: false,
    };
    let failure =
        match GitRemote::prepare(spec(&url, MirrorCredentials::default()), strict, &git).await {
            Ok(_) => panic!("a loopback remote was prepared under the default policy"),
            Err(f) => f,
        };
    assert!(
        failure
            .message()
            .starts_with("The remote mirror URL is invalid"),
        "{failure}"
    );
    assert!(server.request_log().is_empty());
}

/// An sshd whose login is another account than ours, or `None` (outside CI) where that cannot be.
fn ssh_server() -> Option<SshRemote> {
    let ssh = SshRemote::start()?;
    if !ssh.login_is_another_user() {
        let reason = "SSH fetch tests need root, to log in as `git` rather than ourselves";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: SSH fetch tests must not skip: {reason}"
        );
        eprintln!("skipping: {reason}");
        return None;
    }
    Some(ssh)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_over_ssh_uses_the_agent_and_the_pinned_host_key() {
    let Some(ssh) = ssh_server() else {
        return;
    };
    let url = ssh.create_repo("source");
    let bare = ssh.repo_path("source");
    let owner = ssh.user().to_owned();
    blocking(move || {
        seed(&bare);
        let out = std::process::Command::new("chown")
            .arg("-R")
            .arg(owner)
            .arg(&bare)
            .output()
            .unwrap();
        assert!(out.status.success());
    })
    .await;
    let (private, public) = generate_ssh_key("fetch@test", SshKeyType::Ed25519);
    ssh.authorize_key(&public);
    let dir = tempfile::tempdir().unwrap();
    let (git, repo) = local_repository(dir.path()).await;
    let pinned = ssh.known_hosts_line();
    let keyed = |known_hosts| keyed_spec(&url, &private, &public, known_hosts);

    let remote = GitRemote::prepare(keyed(&pinned), POLICY, &git)
        .await
        .unwrap();
    remote
        .fetch(&git, &repo, &mirror_refspecs(), true)
        .await
        .unwrap();
    assert_eq!(refs_of(&repo), ssh.refs("source"));
    assert_eq!(refs_of(&repo).len(), 3);
    drop(remote);
    // The agent's private directory went with the remote.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("ssh"))
        .flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten())
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // Another pinned key: the fetch fails for good, saying so.
    let (_, stranger) = generate_ssh_key("x@y", SshKeyType::Ed25519);
    let stranger: String = stranger
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let wrong = format!("[127.0.0.1]:{} {stranger}", ssh.port());
    let remote = GitRemote::prepare(keyed(&wrong), POLICY, &git)
        .await
        .unwrap();
    let failure = remote
        .fetch(&git, &repo, &mirror_refspecs(), true)
        .await
        .unwrap_err();
    assert!(
        matches!(failure, RemoteFailure::HostKeyRefused(_)),
        "{failure:?}"
    );
    assert!(!failure.is_retryable());
}
