//! The API contract: the OpenAPI document `/api/v4/openapi.json` serves, pinned by a snapshot
//! (`tests/snapshots/openapi.json`) so every change to a route or a shape shows up as a diff in
//! review.

use std::path::Path;

/// Where the snapshot lives, and the variable that rewrites it.
const SNAPSHOT: &str = "tests/snapshots/openapi.json";
const UPDATE: &str = "UPDATE_SNAPSHOTS";

#[test]
fn the_openapi_document_matches_its_snapshot() {
    let generated = pushmirror::http::openapi_json();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SNAPSHOT);
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
        .header(SNAPSHOT, "generated")
        .to_string();
    panic!(
        "the OpenAPI document changed; if the change is meant, rerun with {UPDATE}=1 and commit \
         {SNAPSHOT}:\n{diff}"
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
