//! Acceptance: the real `pushmirror` binary (bootstrapped with `token create`, run with `serve`)
//! driven by GitLab's real clients as their users run them: python-gitlab 8.x
//! (`acceptance/python_gitlab_check.py`), @gitbeaker/rest (`acceptance/gitbeaker_check.mjs`,
//! installed by `npm ci` into `acceptance/node_modules`) and gitlabform (a config applied,
//! applied again to change nothing, changed, and read back through the API).
//!
//! A missing client skips its test with a printed reason, except under `CI=true`, where
//! `.ci/run` has installed them all and a missing one fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::binary::{create_token, ServerProcess};
use crate::common::{blocking, poll_for, Api, Body, Work};
use crate::remotes::GitHttpRemote;

/// The directory of the client scripts and their npm packages.
const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/acceptance");

/// Bound for a synced mirror to finish against a loopback remote; generous for a shared machine.
const MIRROR_DEADLINE: Duration = Duration::from_secs(60);

/// `found`, or — when the client is missing — `None` after printing why, which fails the test
/// under `CI=true` instead.
fn client<T>(found: Result<T, String>) -> Option<T> {
    match found {
        Ok(t) => Some(t),
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{why}; under CI, .ci/run installs it"
            );
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

/// gitlabform's executable: `$GITLABFORM`, else the venv `.ci/run` makes in `target/`.
fn gitlabform_path() -> PathBuf {
    std::env::var_os("GITLABFORM").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/gitlabform-venv/bin/gitlabform"),
        PathBuf::from,
    )
}

/// A Python with python-gitlab 8.x: `python3`, else the gitlabform venv's own (gitlabform
/// depends on python-gitlab).
fn python_with_gitlab() -> Result<PathBuf, String> {
    let venv_python = gitlabform_path().with_file_name("python");
    [PathBuf::from("python3"), venv_python]
        .into_iter()
        .find(|python| {
            Command::new(python)
                .args([
                    "-c",
                    "import gitlab, sys; sys.exit(0 if int(gitlab.__version__.split('.')[0]) == 8 else 1)",
                ])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .ok_or_else(|| "python-gitlab 8.x not installed (pip install 'python-gitlab>=8,<9')".into())
}

/// `node`, when @gitbeaker/rest is installed beside the script.
fn node_with_gitbeaker() -> Result<PathBuf, String> {
    let installed = Path::new(SCRIPTS).join("node_modules/@gitbeaker/rest/package.json");
    let node = Command::new("node").arg("--version").output();
    match (installed.is_file(), node) {
        (true, Ok(out)) if out.status.success() => Ok(PathBuf::from("node")),
        (false, _) => Err(format!(
            "@gitbeaker/rest not installed (npm ci --prefix {SCRIPTS})"
        )),
        _ => Err("node is not installed".into()),
    }
}

/// Whether `gitlabform` runs.
fn gitlabform() -> Result<PathBuf, String> {
    let path = gitlabform_path();
    match Command::new(&path).args(["-k", "-V"]).output() {
        Ok(out) if out.status.success() => Ok(path),
        _ => Err(format!(
            "gitlabform not found at {} (set GITLABFORM, or run .ci/run)",
            path.display()
        )),
    }
}

/// Runs a check script, which must exit 0 and print its "N passed, 0 failed" line.
fn run_check(mut cmd: Command, what: &str, server: &ServerProcess) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log_tail()
    );
    assert!(stdout.contains("passed, 0 failed"), "{stdout}");
    stdout
}

/// No file of the data directory holds `secret` in plain text.
fn assert_secret_not_stored(data: &Path, secret: &str) {
    for entry in std::fs::read_dir(data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds the plain-text secret",
                path.display()
            );
        }
    }
}

#[test]
fn python_gitlab_drives_the_real_server() {
    let Some(python) = client(python_with_gitlab()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = create_token(&data, None, "root", true);
    let dev = create_token(&data, None, "dev", false);
    let server = ServerProcess::start(&data, None, &["--allow-local-network"], &[]);
    let secret = format!("S3cr3t-{}", std::process::id());
    let mut cmd = Command::new(python);
    cmd.arg(format!("{SCRIPTS}/python_gitlab_check.py"))
        .env("GITLAB_URL", server.base())
        .env("ADMIN_TOKEN", &admin)
        .env("DEV_TOKEN", &dev)
        .env("DEV_USERNAME", "dev")
        .env("SECRET", &secret)
        // Nothing listens on the discard port: the synced mirror fails, which is all this needs.
        .env("LOOPBACK_REMOTE", "http://127.0.0.1:9/nothing.git");
    run_check(cmd, "python-gitlab check", &server);
    assert_secret_not_stored(&data, &secret);
}

#[test]
fn gitbeaker_drives_the_real_server() {
    let Some(node) = client(node_with_gitbeaker()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = create_token(&data, None, "root", true);
    let dev = create_token(&data, None, "dev", false);
    create_token(&data, None, "ops", false);
    let server = ServerProcess::start(&data, None, &["--allow-local-network"], &[]);
    let secret = format!("S3cr3t-{}", std::process::id());
    let mut cmd = Command::new(node);
    cmd.arg(format!("{SCRIPTS}/gitbeaker_check.mjs"))
        .current_dir(SCRIPTS)
        .env("GITLAB_URL", server.base())
        .env("ADMIN_TOKEN", &admin)
        .env("DEV_TOKEN", &dev)
        .env("DEV_USERNAME", "dev")
        .env("OPS_USERNAME", "ops")
        .env("SECRET", &secret);
    run_check(cmd, "gitbeaker check", &server);
    assert_secret_not_stored(&data, &secret);
}

/// The gitlabform configuration of the test: `changed` is the second version of it.
fn gitlabform_config(mirror_url: &str, changed: bool) -> String {
    let day = |days: i64| {
        (chrono::Utc::now() + chrono::Duration::days(days))
            .format("%Y-%m-%d")
            .to_string()
    };
    let pick = |first: &str, second: &str| if changed { second } else { first }.to_owned();
    let org_description = pick("Managed by gitlabform", "Managed by gitlabform, changed");
    let ops_team_level = pick("reporter", "developer");
    let ops_team_expiry = if changed { day(400) } else { day(200) };
    let app_description = pick("The app", "The app, changed");
    let ops_app_expiry = if changed { day(300) } else { day(100) };
    let force_push = pick("false", "true");
    let release_pushers = pick("- user: dev", "- user: dev\n          - user: ops");
    let keep_divergent = pick("false", "true");
    let lib_visibility = pick("internal", "private");
    format!(
        r#"config_version: 4
projects_and_groups:
  "gf-org/*":
    group_settings:
      description: {org_description}
      visibility: internal
    group_members:
      users:
        dev:
          access_level: developer
  "gf-org/team/*":
    group_settings:
      description: The team
    group_members:
      users:
        ops:
          access_level: {ops_team_level}
          expires_at: {ops_team_expiry}
  "gf-org/lib":
    project_settings:
      description: The library
      visibility: {lib_visibility}
  "gf-org/team/app":
    project_settings:
      description: {app_description}
      default_branch: main
    members:
      enforce: true
      users:
        ops:
          access_level: maintainer
          expires_at: {ops_app_expiry}
    branches:
      main:
        protected: true
        push_access_level: maintainer
        merge_access_level: developer
        allow_force_push: {force_push}
      "release-*":
        protected: true
        allowed_to_push:
          {release_pushers}
        allowed_to_merge:
          - access_level: maintainer
        code_owner_approval_required: true
    remote_mirrors:
      enforce: true
      "{mirror_url}":
        enabled: true
        only_protected_branches: true
        keep_divergent_refs: {keep_divergent}
"#
    )
}

/// Runs `gitlabform -v ALL_DEFINED` with `config`; it must exit 0 with no ERROR, CRITICAL or
/// warning line. Its output.
async fn apply_gitlabform(
    gitlabform: &Path,
    dir: &Path,
    config: String,
    url: &str,
    token: &str,
) -> String {
    let file = dir.join("gitlabform.yml");
    std::fs::write(&file, config).unwrap();
    let mut cmd = Command::new(gitlabform);
    // -k: no version check against PyPI; wide lines so that a message is never split.
    cmd.args(["-k", "-v", "-c"])
        .arg(&file)
        .arg("ALL_DEFINED")
        .env("GITLAB_URL", url)
        .env("GITLAB_TOKEN", token)
        .env("COLUMNS", "400")
        .env("NO_COLOR", "1");
    let out: Output = blocking(move || cmd.output().expect("run gitlabform")).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "gitlabform failed:\n{text}");
    for bad in ["ERROR", "CRITICAL", "WARNING", "Traceback"] {
        assert!(!text.contains(bad), "gitlabform printed {bad}:\n{text}");
    }
    text
}

/// Everything the configuration decides, as the API answers it.
async fn gitlabform_state(api: &Api) -> Value {
    let mut state = serde_json::Map::new();
    for path in [
        "/groups/gf-org",
        "/groups/gf-org%2Fteam",
        "/groups/gf-org/subgroups",
        "/groups/gf-org/members",
        "/groups/gf-org%2Fteam/members",
        "/projects/gf-org%2Flib",
        "/projects/gf-org%2Fteam%2Fapp",
        "/projects/gf-org%2Fteam%2Fapp/members",
        "/projects/gf-org%2Fteam%2Fapp/members/all",
        "/projects/gf-org%2Fteam%2Fapp/protected_branches",
        "/projects/gf-org%2Fteam%2Fapp/remote_mirrors",
    ] {
        let r = api.request("GET", path, Body::None).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.text);
        state.insert(path.to_owned(), r.body);
    }
    Value::Object(state)
}

/// `state[path]`, a list, as `key → entry` by each entry's `key` field.
fn by<'a>(
    state: &'a Value,
    path: &str,
    key: &str,
) -> std::collections::BTreeMap<String, &'a Value> {
    state[path]
        .as_array()
        .unwrap_or_else(|| panic!("{path} is a list"))
        .iter()
        .map(|e| (e[key].as_str().unwrap().to_owned(), e))
        .collect()
}

/// The access lists of one protected branch as `[access_level, user_id]` pairs, sorted.
fn access(rule: &Value, list: &str) -> Vec<(i64, Option<i64>)> {
    let mut pairs: Vec<_> = rule[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["access_level"].as_i64().unwrap(), e["user_id"].as_i64()))
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlabform_applies_a_config_and_applying_it_again_changes_nothing() {
    let Some(gitlabform) = client(gitlabform()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = create_token(&data, None, "root", true);
    create_token(&data, None, "dev", false);
    create_token(&data, None, "ops", false);
    let server = ServerProcess::start(&data, None, &["--allow-local-network"], &[]);
    let url = server.base();
    let api = server.api(&admin);
    let user_id = |name: &'static str| {
        let api = api.clone();
        async move {
            let r = api
                .request("GET", &format!("/users?username={name}"), Body::None)
                .await;
            r.body[0]["id"].as_i64().unwrap()
        }
    };
    let (dev, ops) = (user_id("dev").await, user_id("ops").await);
    let secret = format!("S3cr3t{}", std::process::id());
    let remote = GitHttpRemote::start(Some(("mirror-bot", &secret))).await;
    remote.create_repo("app");
    let mirror_url = remote.url_with_credentials("app", "mirror-bot", &secret);

    // gitlabform configures groups and projects; it does not create them.
    let org = api
        .create_group_with(json!({"name": "GF Org", "path": "gf-org"}))
        .await;
    let team = api.create_group("team", Some(org.id)).await;
    let app = api
        .create_project_with(json!({"name": "app", "namespace_id": team.id}))
        .await;
    // What the configuration does not name and enforces away: a direct member (who keeps the
    // group's access) and a mirror.
    api.add_member(app.id, dev, 20).await;
    api.create_mirror(app.id, "https://203.0.113.10/stray.git", false)
        .await;
    api.create_project_with(json!({"name": "lib", "namespace_id": org.id}))
        .await;
    // The branches the configuration protects by name exist (gitlabform checks).
    let push_url = format!(
        "http://oauth2:{admin}@127.0.0.1:{}/gf-org/team/app.git",
        server.port()
    );
    blocking(move || {
        let work = Work::new();
        work.commit("first");
        work.git(&["branch", "release-1"]);
        work.git(&["branch", "feature"]);
        work.push(&push_url, &["main", "release-1", "feature"]);
    })
    .await;

    // 1. Apply the configuration.
    let run = |config: String| {
        let (gitlabform, dir, url, admin) = (
            gitlabform.clone(),
            dir.path().to_owned(),
            url.clone(),
            admin.clone(),
        );
        async move { apply_gitlabform(&gitlabform, &dir, config, &url, &admin).await }
    };
    run(gitlabform_config(&mirror_url, false)).await;
    let state = gitlabform_state(&api).await;
    let org_json = &state["/groups/gf-org"];
    assert_eq!(
        (
            org_json["description"].clone(),
            org_json["visibility"].clone()
        ),
        (json!("Managed by gitlabform"), json!("internal"))
    );
    // The subgroup takes the group's settings too (gitlabform's configuration inherits).
    let team_json = &state["/groups/gf-org%2Fteam"];
    assert_eq!(
        (
            team_json["description"].clone(),
            team_json["visibility"].clone()
        ),
        (json!("The team"), json!("internal"))
    );
    let subgroups = by(&state, "/groups/gf-org/subgroups", "full_path");
    assert_eq!(subgroups.keys().collect::<Vec<_>>(), ["gf-org/team"]);
    let org_members = by(&state, "/groups/gf-org/members", "username");
    assert_eq!(org_members["dev"]["access_level"], 30);
    let team_members = by(&state, "/groups/gf-org%2Fteam/members", "username");
    assert_eq!(team_members["ops"]["access_level"], 20);
    assert!(team_members["ops"]["expires_at"].is_string());
    let lib = &state["/projects/gf-org%2Flib"];
    assert_eq!(
        (lib["description"].clone(), lib["visibility"].clone()),
        (json!("The library"), json!("internal"))
    );
    let app = &state["/projects/gf-org%2Fteam%2Fapp"];
    assert_eq!(
        (app["description"].clone(), app["default_branch"].clone()),
        (json!("The app"), json!("main"))
    );
    // `enforce`: the unnamed direct member is gone, and so is the unnamed mirror.
    let app_members = by(&state, "/projects/gf-org%2Fteam%2Fapp/members", "username");
    assert_eq!(app_members.keys().collect::<Vec<_>>(), ["ops"]);
    assert_eq!(app_members["ops"]["access_level"], 40);
    let all = by(
        &state,
        "/projects/gf-org%2Fteam%2Fapp/members/all",
        "username",
    );
    assert_eq!(
        all.iter()
            .map(|(k, m)| (k.as_str(), m["access_level"].as_i64().unwrap()))
            .collect::<Vec<_>>(),
        [("dev", 30), ("ops", 40), ("root", 50)]
    );
    let rules = by(
        &state,
        "/projects/gf-org%2Fteam%2Fapp/protected_branches",
        "name",
    );
    assert_eq!(access(rules["main"], "push_access_levels"), [(40, None)]);
    assert_eq!(access(rules["main"], "merge_access_levels"), [(30, None)]);
    assert_eq!(rules["main"]["allow_force_push"], false);
    assert_eq!(
        access(rules["release-*"], "push_access_levels"),
        [(40, Some(dev))]
    );
    assert_eq!(
        access(rules["release-*"], "merge_access_levels"),
        [(40, None)]
    );
    assert_eq!(rules["release-*"]["code_owner_approval_required"], true);
    let mirrors = state["/projects/gf-org%2Fteam%2Fapp/remote_mirrors"].clone();
    assert_eq!(mirrors.as_array().unwrap().len(), 1, "{mirrors}");
    let mirror = &mirrors[0];
    assert_eq!(
        mirror["url"],
        remote.url_with_credentials("app", "*****", "*****")
    );
    assert_eq!(
        (
            mirror["enabled"].clone(),
            mirror["only_protected_branches"].clone()
        ),
        (json!(true), json!(true))
    );

    // The mirror pushes once, so that its status and timestamps are worth keeping.
    let mirror_id = mirror["id"].as_i64().unwrap();
    api.sync("gf-org%2Fteam%2Fapp", mirror_id).await;
    let finished = poll_for(
        MIRROR_DEADLINE,
        || api.mirror("gf-org%2Fteam%2Fapp", mirror_id),
        |m| m.update_status == "finished",
    )
    .await
    .unwrap_or_else(|m| panic!("the mirror did not finish: {m:?}\n{}", server.log_tail()));
    assert!(finished.last_successful_update_at.is_some());
    assert_eq!(
        remote.refs("app").keys().collect::<Vec<_>>(),
        ["refs/heads/main", "refs/heads/release-1"],
        "only the protected branches are mirrored"
    );

    // 2. The same configuration again changes nothing: not a field, not a timestamp.
    let before = gitlabform_state(&api).await;
    let out = run(gitlabform_config(&mirror_url, false)).await;
    let after = gitlabform_state(&api).await;
    assert_eq!(
        before, after,
        "re-applying the configuration changed the server"
    );
    for change in [
        "Adding user",
        "Creating branch protection",
        "Updating protected branch",
        "Creating remote mirror",
        "Updating remote mirror",
    ] {
        assert!(
            !out.contains(change),
            "the second run says {change:?}:\n{out}"
        );
    }
    assert!(out.contains("remains unchanged"), "{out}");

    // 3. A changed configuration changes exactly that.
    run(gitlabform_config(&mirror_url, true)).await;
    let state = gitlabform_state(&api).await;
    assert_eq!(
        state["/groups/gf-org"]["description"],
        "Managed by gitlabform, changed"
    );
    let team_members = by(&state, "/groups/gf-org%2Fteam/members", "username");
    assert_eq!(team_members["ops"]["access_level"], 30);
    assert_ne!(
        team_members["ops"]["expires_at"],
        by(&before, "/groups/gf-org%2Fteam/members", "username")["ops"]["expires_at"]
    );
    assert_eq!(state["/projects/gf-org%2Flib"]["visibility"], "private");
    assert_eq!(
        state["/projects/gf-org%2Fteam%2Fapp"]["description"],
        "The app, changed"
    );
    let app_members = by(&state, "/projects/gf-org%2Fteam%2Fapp/members", "username");
    assert_ne!(
        app_members["ops"]["expires_at"],
        by(&before, "/projects/gf-org%2Fteam%2Fapp/members", "username")["ops"]["expires_at"]
    );
    let rules = by(
        &state,
        "/projects/gf-org%2Fteam%2Fapp/protected_branches",
        "name",
    );
    assert_eq!(rules["main"]["allow_force_push"], true);
    assert_eq!(
        access(rules["release-*"], "push_access_levels"),
        [(40, Some(dev.min(ops))), (40, Some(dev.max(ops)))]
    );
    // A mirror's settings changed without its URL: its status and timestamps stay.
    let mirror = &state["/projects/gf-org%2Fteam%2Fapp/remote_mirrors"][0];
    assert_eq!(mirror["id"], mirror_id);
    assert_eq!(mirror["keep_divergent_refs"], true);
    let old = &before["/projects/gf-org%2Fteam%2Fapp/remote_mirrors"][0];
    for field in [
        "update_status",
        "last_update_at",
        "last_update_started_at",
        "last_successful_update_at",
    ] {
        assert_eq!(mirror[field], old[field], "{field}");
    }
    // Nothing the server answered, or wrote to its files, carried the mirror's password.
    assert!(!state.to_string().contains(&secret));
    assert_secret_not_stored(&data, &secret);
}
