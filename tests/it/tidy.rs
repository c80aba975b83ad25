//! Architecture rules that fail the build when broken (ARCHITECTURE.md, Invariants): the
//! dependency direction, the one module that spawns processes, the one module that spawns
//! tasks, every module in the crate map (and every test file in the one test binary), every
//! route in README's API tables, and both backends' migrated schemas having the same tables and
//! columns.

use crate::common;

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Every server source file (the bench binary under src/bin is not the server), with its path
/// relative to src/ and its text.
pub(crate) fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .filter(|(rel, _)| !rel.starts_with("bin/"))
        .collect()
}

fn offenders(allowed: impl Fn(&str) -> bool, needle: &str) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|(rel, text)| !allowed(rel) && text.contains(needle))
        .map(|(rel, _)| rel)
        .collect()
}

#[test]
fn nothing_below_the_edge_imports_http() {
    let bad = offenders(
        |rel| rel.starts_with("http/") || rel == "server.rs" || rel == "cli.rs",
        "crate::http",
    );
    assert!(bad.is_empty(), "these import the HTTP layer: {bad:?}");
}

#[test]
fn only_the_server_starts_the_job_runner() {
    let bad = offenders(
        |rel| rel.starts_with("jobs/") || rel == "server.rs",
        "crate::jobs",
    );
    assert!(bad.is_empty(), "these import the job runner: {bad:?}");
}

/// Handlers extract, authorise, call a service and render: every write goes through
/// `service/`, so the web interface and job kinds get the same rules.
#[test]
fn handlers_write_only_through_services() {
    let writes = regex::Regex::new(
        r"\.store\s*\.\s*(create|update|delete|add|remove|insert|ensure|request|enqueue|save|forget|set|mark|record)_",
    )
    .unwrap();
    let bad: Vec<String> = sources()
        .into_iter()
        .filter(|(rel, text)| rel.starts_with("http/") && writes.is_match(text))
        .map(|(rel, _)| rel)
        .collect();
    assert!(
        bad.is_empty(),
        "these handlers write through the store: {bad:?}"
    );
}

#[test]
fn only_git_spawns_processes() {
    let mut bad = offenders(|rel| rel.starts_with("git/"), "Command::new");
    bad.extend(offenders(|rel| rel.starts_with("git/"), "process::Command"));
    bad.sort();
    bad.dedup();
    assert!(
        bad.is_empty(),
        "these spawn processes outside git/: {bad:?}"
    );
}

#[test]
fn only_shutdown_spawns_tasks() {
    let bad = offenders(|rel| rel == "shutdown.rs", "tokio::spawn");
    assert!(bad.is_empty(), "these spawn untracked tasks: {bad:?}");
    let bad = offenders(|rel| rel == "shutdown.rs", "JoinSet");
    assert!(bad.is_empty(), "these track tasks their own way: {bad:?}");
}

/// The path of every `.route("…", …)` in `text`, with axum's `{param}` written as `:param`.
fn routes(text: &str) -> Vec<String> {
    text.split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
        .map(|path| path.replace('{', ":").replace('}', ""))
        .collect()
}

/// Whether `readme` names `path` whole: not only as the start of a longer path.
fn names_path(readme: &str, path: &str) -> bool {
    readme.match_indices(path).any(|(at, _)| {
        !readme[at + path.len()..]
            .starts_with(|c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | ':'))
    })
}

#[test]
fn readme_lists_every_route() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut seen = 0;
    let mut missing = Vec::new();
    for (rel, text) in sources() {
        if !rel.starts_with("http/") {
            continue;
        }
        for path in routes(&text) {
            seen += 1;
            if !names_path(&readme, &path) {
                missing.push(format!("{path} ({rel})"));
            }
        }
    }
    // The `/api/v4` and `/api/v1` routes are registered through OpenAPI routers: their
    // documents list them.
    for document in [
        pushmirror::http::openapi_json(),
        pushmirror::http::gitea_openapi_json(),
    ] {
        let doc: serde_json::Value = serde_json::from_str(&document).unwrap();
        for path in doc["paths"].as_object().unwrap().keys() {
            seen += 1;
            let path = path.replace('{', ":").replace('}', "");
            if !names_path(&readme, &path) {
                missing.push(format!("{path} (OpenAPI)"));
            }
        }
    }
    assert!(
        seen > 40,
        "found only {seen} routes: has the router's shape changed?"
    );
    assert!(
        missing.is_empty(),
        "README's API coverage misses these routes: {missing:?}"
    );
    assert!(!names_path("`/projects/:id/members`", "/projects/:id"));
}

#[test]
fn every_module_is_in_the_crate_map_and_architecture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let arch = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    for line in lib.lines() {
        let Some(name) = line
            .strip_prefix("pub mod ")
            .and_then(|l| l.strip_suffix(';'))
        else {
            continue;
        };
        assert!(
            lib.contains(&format!("[`{name}`]")),
            "lib.rs's crate map misses {name}"
        );
        assert!(
            arch.contains(&format!("`{name}")),
            "ARCHITECTURE.md's code map misses {name}"
        );
    }
    // The test crate's module map too: Cargo builds every `tests/*.rs` and `tests/*/main.rs` as a
    // binary of its own, and a file that no module declares is never compiled, so its tests
    // would silently not run.
    let tests = root.join("tests");
    let mut binaries: Vec<String> = std::fs::read_dir(&tests)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs") || p.join("main.rs").is_file())
        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
        .collect();
    binaries.sort();
    assert_eq!(binaries, ["tests/it"], "integration tests are one binary");
    let mut undeclared = undeclared_modules(&tests.join("it"), "main.rs");
    undeclared.extend(undeclared_modules(&tests.join("remotes"), "mod.rs"));
    assert!(
        undeclared.is_empty(),
        "no module declares these test files: {undeclared:?}"
    );
}

/// The `.rs` files in `dir` (recursively) that the module file `root` there, or the module file
/// of their own directory, does not declare with `mod <name>;`. Directories without Rust files
/// (the acceptance script's) are not modules and are skipped.
fn undeclared_modules(dir: &Path, root: &str) -> Vec<PathBuf> {
    let declares = std::fs::read_to_string(dir.join(root)).unwrap();
    let declared = |name: &str| {
        declares
            .lines()
            .any(|l| l.trim().trim_start_matches("pub ") == format!("mod {name};"))
    };
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if path.join("mod.rs").is_file() {
                if !declared(&name) {
                    missing.push(path.join("mod.rs"));
                }
                missing.extend(undeclared_modules(&path, "mod.rs"));
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().unwrap() != root
            && !declared(&name)
        {
            missing.push(path);
        }
    }
    missing
}

/// Every table and its columns (sorted) as a migrated database reports them.
async fn migrated_schema(server: &common::TestServer, sql: &str) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = sqlx::query_as(sql)
        .fetch_all(server.state.store.pool())
        .await
        .unwrap();
    rows.retain(|(t, _)| t != "_sqlx_migrations" && t != "sqlite_sequence");
    rows.sort();
    rows
}

#[tokio::test]
async fn both_backends_migrate_to_the_same_tables_and_columns() {
    let sqlite = common::TestServer::builder().start().await;
    let lite = migrated_schema(
        &sqlite,
        "select m.name, p.name from sqlite_master m join pragma_table_info(m.name) p \
         where m.type = 'table'",
    )
    .await;
    assert!(
        lite.iter().any(|(t, c)| t == "jobs" && c == "dedup_key"),
        "{lite:?}"
    );
    assert!(!lite
        .iter()
        .any(|(t, c)| t == "remote_mirrors" && c == "wanted_seq"));
    let Some(pg) = common::TestServer::builder().postgres().start().await else {
        return;
    };
    let post = migrated_schema(
        &pg,
        "select table_name::text, column_name::text from information_schema.columns \
         where table_schema = current_schema()",
    )
    .await;
    assert_eq!(lite, post);
}
