//! The API contract: the OpenAPI document `/api/v4/openapi.json` serves, pinned by a snapshot
//! (`tests/snapshots/openapi.json`) so every change to a route or a shape shows up as a diff in
//! review; and schemathesis (PyPI) fuzzing the real binary against that document, on SQLite and
//! on PostgreSQL, as a Developer and then as an admin: no 5xx, no undocumented status, no
//! response that breaks its schema or its content type.
//!
//! schemathesis missing skips those tests with a printed reason, except under `CI=true`, where
//! `.ci/run` installs it (`target/schemathesis-venv`, or `$SCHEMATHESIS`) and a missing one fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::common::binary::{create_token, ServerProcess};
use crate::common::postgres::PostgresDb;
use crate::common::{blocking, Body, Work};

/// Where the snapshot lives, and the variable that rewrites it.
const SNAPSHOT: &str = "tests/snapshots/openapi.json";
const UPDATE: &str = "UPDATE_SNAPSHOTS";

#[test]
fn the_openapi_document_matches_its_snapshot() {
    assert_matches_snapshot(&pushmirror::http::openapi_json(), SNAPSHOT);
}

/// `generated` equals the file `snapshot` (relative to the crate), or the test fails with the
/// diff; with `UPDATE_SNAPSHOTS` set, the file is rewritten instead.
pub(crate) fn assert_matches_snapshot(generated: &str, snapshot: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(snapshot);
    if std::env::var_os(UPDATE).is_some() {
        std::fs::write(&path, format!("{generated}\n")).unwrap();
        return;
    }
    let pinned = std::fs::read_to_string(&path).unwrap_or_default();
    if pinned.trim_end() == generated.trim_end() {
        return;
    }
    let diff = similar::TextDiff::from_lines(pinned.trim_end(), generated.trim_end())
        .unified_diff()
        .context_radius(3)
        .header(snapshot, "generated")
        .to_string();
    panic!(
        "the OpenAPI document changed; if the change is meant, rerun with {UPDATE}=1 and commit \
         {snapshot}:\n{diff}"
    );
}

#[test]
fn every_operation_is_documented_with_its_errors() {
    let doc: serde_json::Value = serde_json::from_str(&pushmirror::http::openapi_json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut ids = std::collections::HashSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(
                ids.insert(id.clone()),
                "{method} {path}: operationId {id} is not unique"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} documents no success"
            );
            if path != "/openapi.json" {
                for status in ["400", "401", "403", "404"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path}: no {status}"
                    );
                }
            }
            assert!(
                !responses
                    .keys()
                    .any(|s| s.starts_with('5') || s == "default"),
                "{method} {path} documents a server error or a catch-all"
            );
        }
    }
}

/// schemathesis's executable: `$SCHEMATHESIS`, else the venv `.ci/run` makes in `target/`.
pub(crate) fn schemathesis() -> Option<PathBuf> {
    let path = std::env::var_os("SCHEMATHESIS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/schemathesis-venv/bin/schemathesis"),
        PathBuf::from,
    );
    let runs = Command::new(&path)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if runs {
        return Some(path);
    }
    let why = format!(
        "schemathesis not found at {} (set SCHEMATHESIS, or run .ci/run)",
        path.display()
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{why}; under CI, .ci/run installs it"
    );
    eprintln!("SKIPPED: {why}");
    None
}

/// The checks that make the contract: GitLab's clients depend on each.
pub(crate) const CHECKS: &str =
    "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance";

/// Test cases per operation and phase. Each run covers ~90 operations with the examples,
/// coverage (boundary and invalid values of every parameter) and fuzzing phases; this bounds the
/// fuzzing phase so the four runs together stay within a few minutes on a 2-core machine.
pub(crate) const MAX_EXAMPLES: &str = "25";

/// A fixed seed: a failure is reproduced by rerunning the test.
pub(crate) const SEED: &str = "20261202";

/// schemathesis's configuration: path parameters drawn mostly from ids that exist (so the
/// operations behind the 404 are reached too), tokens' own operations pointed at a token that is
/// neither of the callers' (rotating or revoking the caller's own token would end the run's
/// authentication, which is right but tests nothing further).
fn config_toml(seeded: &Seeded) -> String {
    let quoted = |values: &[String]| -> String {
        let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        quoted.join(", ")
    };
    let (ids, projects, groups) = (
        quoted(&seeded.ids),
        quoted(&seeded.projects),
        quoted(&seeded.groups),
    );
    let victim_token_id = seeded.victim_token_id;
    format!(
        r#"
[dictionaries.ids]
values = [{ids}]

[dictionaries.projects]
values = [{projects}]

[dictionaries.groups]
values = [{groups}]

[dictionaries.small]
values = [1, 2, 3]

[dictionaries.refs]
values = ["main", "v1"]

[dictionaries.triggers]
values = ["push_events", "tag_push_events", "remote_mirror_events"]

[parameters]
"path.id" = {{ dictionary = "ids", probability = 0.8 }}
"path.mirror_id" = {{ dictionary = "small", probability = 0.8 }}
"path.hook_id" = {{ dictionary = "small", probability = 0.8 }}
"path.key_id" = {{ dictionary = "small", probability = 0.8 }}
"path.user_id" = {{ dictionary = "small", probability = 0.8 }}
"path.event_id" = {{ dictionary = "small", probability = 0.8 }}
"path.branch" = {{ dictionary = "refs", probability = 0.8 }}
"path.tag" = {{ dictionary = "refs", probability = 0.8 }}
"path.name" = {{ dictionary = "refs", probability = 0.8 }}
"path.sha" = {{ dictionary = "refs", probability = 0.8 }}
"path.trigger" = {{ dictionary = "triggers", probability = 0.8 }}

[[operations]]
include-path-regex = "^/projects/\\{{id\\}}/"
parameters = {{ "path.id" = {{ dictionary = "projects", probability = 0.9 }} }}

[[operations]]
include-path-regex = "^/groups/\\{{id\\}}"
parameters = {{ "path.id" = {{ dictionary = "groups", probability = 0.9 }} }}

[[operations]]
include-path-regex = "^/users/\\{{id\\}}"
parameters = {{ "path.id" = {{ dictionary = "small", probability = 0.9 }} }}

[[operations]]
include-path-regex = "^/personal_access_tokens/"
parameters = {{ "path.id" = "{victim_token_id}" }}
"#
    )
}

/// Seeds a server as the admin `root`: a project `root/app` with a pushed `main`, a tag, a
/// protected branch, a mirror, a pull mirror and a hook, `dev` a Developer of it; an imported
/// project `root/imp`; a group `team` with a project `team/svc`.
async fn seed(server: &ServerProcess, admin: &str, dev: &str, victim: &str) -> Seeded {
    let api = server.api(admin);
    let app = api.create_project("app").await;
    let who = server.api(dev).request("GET", "/user", Body::None).await;
    api.add_member(app.id, who.body["id"].as_i64().unwrap(), 30)
        .await;
    let push_url = server.push_url(admin, "app");
    blocking(move || {
        let work = Work::new();
        work.commit("first");
        work.git(&["tag", "v1"]);
        work.push(&push_url, &["main", "v1"]);
    })
    .await;
    api.protect_branch(app.id, "main").await;
    api.create_mirror(app.id, "http://127.0.0.1:9/mirror.git", true)
        .await;
    api.create_mirror_with(
        app.id,
        json!({"url": "ssh://git@127.0.0.1:9/mirror.git", "auth_method": "ssh_public_key"}),
    )
    .await;
    let hook = api
        .request(
            "POST",
            &format!("/projects/{}/hooks", app.id),
            Body::Json(json!({"url": "http://127.0.0.1:9/hook", "push_events": true})),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    // A pull mirror of `root/app` (its upstream unreachable: syncs fail, which is fine) and a
    // project imported from nowhere (failed at once: a retry succeeds as an operation).
    let pull = api
        .request(
            "PUT",
            &format!("/projects/{}/mirror/pull", app.id),
            Body::Json(json!({"url": "http://127.0.0.1:9/up.git", "enabled": true})),
        )
        .await;
    assert_eq!(pull.status, 200, "{}", pull.text);
    let imported = api
        .request(
            "POST",
            "/projects",
            Body::Json(json!({"name": "imp", "import_url": "http://127.0.0.1:9/up.git"})),
        )
        .await;
    assert_eq!(imported.status, 201, "{}", imported.text);
    // An SSH key of root's and a deploy key of `root/app` (ids 1 and 2: `key_id` draws from 1–3).
    let keys = blocking(|| {
        let dir = tempfile::tempdir().unwrap();
        ["user", "deploy"].map(|name| {
            let path = dir.path().join(name);
            let ok = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                .arg(&path)
                .status()
                .unwrap()
                .success();
            assert!(ok, "ssh-keygen");
            std::fs::read_to_string(path.with_extension("pub")).unwrap()
        })
    })
    .await;
    let user_key = api
        .request(
            "POST",
            "/user/keys",
            Body::Json(json!({"title": "laptop", "key": keys[0].trim()})),
        )
        .await;
    assert_eq!(user_key.status, 201, "{}", user_key.text);
    let deploy_key = api
        .request(
            "POST",
            &format!("/projects/{}/deploy_keys", app.id),
            Body::Json(json!({"title": "ci", "key": keys[1].trim(), "can_push": true})),
        )
        .await;
    assert_eq!(deploy_key.status, 201, "{}", deploy_key.text);
    let team = api.create_group("team", None).await;
    let svc = api
        .create_project_with(json!({"name": "svc", "namespace_id": team.id}))
        .await;
    let tokens = server
        .api(victim)
        .request("GET", "/personal_access_tokens", Body::None)
        .await;
    let mut ids: Vec<String> = [app.id, svc.id, team.id, 1, 2, 3]
        .iter()
        .map(i64::to_string)
        .collect();
    ids.extend(["root%2Fapp", "team", "team%2Fsvc"].map(String::from));
    ids.dedup();
    Seeded {
        ids,
        projects: vec![
            app.id.to_string(),
            "root%2Fapp".into(),
            imported.body["id"].as_i64().unwrap().to_string(),
        ],
        groups: vec![team.id.to_string(), "team".into()],
        victim_token_id: tokens.body[0]["id"].as_i64().unwrap(),
    }
}

/// What [`seed`] made, for schemathesis's dictionaries.
struct Seeded {
    /// Ids and full paths of the projects, the group and the users (any `:id` draws from them).
    ids: Vec<String>,
    /// `root/app` by id and by path: the project every sub-resource lives in.
    projects: Vec<String>,
    /// `team` by id and by path.
    groups: Vec<String>,
    /// A token of neither caller, for the token operations.
    victim_token_id: i64,
}

/// Which API a schemathesis run fuzzes: its document's path, its prefix, and how a token is
/// sent (`PRIVATE-TOKEN: {token}` for GitLab's).
pub(crate) struct Face {
    pub document: &'static str,
    pub prefix: &'static str,
    pub token_header: &'static str,
}

/// GitLab's `/api/v4`.
const GITLAB: Face = Face {
    document: "/api/v4/openapi.json",
    prefix: "/api/v4",
    token_header: "PRIVATE-TOKEN: {token}",
};

/// Runs schemathesis against `server` as the holder of `token`; fails with its report.
fn fuzz(tool: &Path, server: &ServerProcess, token: &str, config: &Path, label: &str) {
    fuzz_face(&GITLAB, tool, server, token, config, label);
}

/// Runs schemathesis against `face` of `server` as the holder of `token`; fails with its report.
pub(crate) fn fuzz_face(
    face: &Face,
    tool: &Path,
    server: &ServerProcess,
    token: &str,
    config: &Path,
    label: &str,
) {
    let reports = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/schemathesis")
        .join(label);
    let out = Command::new(tool)
        .arg("--config-file")
        .arg(config)
        .arg("run")
        .arg(format!("{}{}", server.base(), face.document))
        .args(["--url", &format!("{}{}", server.base(), face.prefix)])
        .args(["--header", &face.token_header.replace("{token}", token)])
        .args(["--checks", CHECKS])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED])
        .args(["--workers", "2", "--request-timeout", "30"])
        .args(["--suppress-health-check", "all", "--no-color"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&reports)
        .env("SCHEMATHESIS_HOOKS", "")
        // Its cache (`.schemathesis/`) goes beside the configuration, not into the checkout.
        .current_dir(config.parent().unwrap())
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis ({label}) found failures:\n{stdout}\n{stderr}"
    );
    eprintln!(
        "schemathesis ({label}):\n{}",
        stdout.lines().rev().take(12).collect::<Vec<_>>().join("\n")
    );
}

/// The whole contract run on one database: seed, fuzz as the Developer, then as the admin.
async fn contract_run(database: Option<&str>, label: &str) {
    let Some(tool) = schemathesis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = create_token(&data, database, "root", true);
    let dev = create_token(&data, database, "dev", false);
    let victim = create_token(&data, database, "victim", false);
    let server = ServerProcess::start(&data, database, &["--allow-local-network"], &[]);
    let seeded = seed(&server, &admin, &dev, &victim).await;
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(&config, config_toml(&seeded)).unwrap();
    let label = label.to_owned();
    let server = blocking(move || {
        fuzz(&tool, &server, &dev, &config, &format!("{label}-developer"));
        fuzz(&tool, &server, &admin, &config, &format!("{label}-admin"));
        server
    })
    .await;
    let document = pushmirror::http::openapi_json();
    assert_operations_were_reached(&server, &document, "/api/v4", 3).await;
}

/// The fuzzing reached what it tests: all but one in `one_in` documented operations (of
/// `document`, served below `prefix`) answered a success at least once (by the server's own
/// `/-/metrics`), so a green run is not one of 404s alone. (For GitLab's, `one_in` is 3: some
/// need data random values rarely make: a valid new user, a reachable SSH host, a resource not
/// yet deleted by an earlier case; a run reaches about three in four.)
pub(crate) async fn assert_operations_were_reached(
    server: &ServerProcess,
    document: &str,
    prefix: &str,
    one_in: usize,
) {
    let doc: serde_json::Value = serde_json::from_str(document).unwrap();
    let mut operations = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert((method.to_uppercase(), format!("{prefix}{path}")));
        }
    }
    let metrics = reqwest::get(format!("{}/-/metrics", server.base()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let label = |line: &str, name: &str| -> Option<String> {
        let start = line.find(&format!("{name}=\""))? + name.len() + 2;
        Some(line[start..].split('"').next()?.to_owned())
    };
    let mut succeeded = std::collections::BTreeSet::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("pushmirror_http_requests_total{"))
    {
        let (Some(method), Some(route), Some(status)) = (
            label(line, "method"),
            label(line, "route"),
            label(line, "status"),
        ) else {
            continue;
        };
        if status.starts_with('2') {
            succeeded.insert((method, route));
        }
    }
    let missed: Vec<_> = operations.difference(&succeeded).collect();
    eprintln!(
        "schemathesis reached {} of {} operations with a success; never: {missed:?}",
        operations.len() - missed.len(),
        operations.len()
    );
    assert!(
        missed.len().saturating_mul(one_in) <= operations.len(),
        "fewer than {} in {one_in} operations ever succeeded: {missed:?}",
        one_in - 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_on_sqlite() {
    contract_run(None, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_on_postgres() {
    let Some(db) = PostgresDb::create_or_skip().await else {
        return;
    };
    contract_run(Some(&db.url), "postgres").await;
}
