//! The Gitea face's contract: its OpenAPI document (`/api/v1/swagger.v1.json`) pinned by a
//! snapshot (`tests/snapshots/gitea-openapi.json`), and schemathesis fuzzing the real binary
//! against it (the harness of `contract.rs`), on SQLite and on PostgreSQL, as a Developer and
//! then as an admin: no 5xx, no undocumented status, no response that breaks its schema or its
//! content type.

use serde_json::json;

use crate::common::binary::{create_token, ServerProcess};
use crate::common::postgres::PostgresDb;
use crate::common::{blocking, Body, Work};
use crate::contract::{
    assert_matches_snapshot, assert_operations_were_reached, fuzz_face, schemathesis, Face,
};

/// Where the snapshot lives (`UPDATE_SNAPSHOTS=1` rewrites it).
const SNAPSHOT: &str = "tests/snapshots/gitea-openapi.json";

/// The Gitea face, a token sent as Gitea's clients send it.
const GITEA: Face = Face {
    document: "/api/v1/swagger.v1.json",
    prefix: "/api/v1",
    token_header: "Authorization: token {token}",
};

#[test]
fn the_gitea_document_matches_its_snapshot() {
    assert_matches_snapshot(&pushmirror::http::gitea_openapi_json(), SNAPSHOT);
}

#[test]
fn every_gitea_operation_has_gitea_s_id_and_errors() {
    let doc: serde_json::Value =
        serde_json::from_str(&pushmirror::http::gitea_openapi_json()).unwrap();
    let mut ids = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ids.push(op["operationId"].as_str().unwrap().to_owned());
            let responses = op["responses"].as_object().unwrap();
            for status in ["401", "403", "404"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path}: no {status}"
                );
            }
            assert!(
                !responses.keys().any(|s| s.starts_with('5')),
                "{method} {path}"
            );
        }
    }
    ids.sort();
    assert_eq!(
        ids,
        [
            "repoAddPushMirror",
            "repoDeletePushMirror",
            "repoGet",
            "repoGetPushMirrorByRemoteName",
            "repoListPushMirrors",
            "repoMigrate",
            "repoPushMirrorSync"
        ]
    );
}

/// Seeds the server as `root`: `root/app` with a pushed `main`, `dev` a Developer of it, two
/// push mirrors made through `/api/v1`; returns their remote names.
async fn seed(server: &ServerProcess, admin: &str, dev: &str) -> Vec<String> {
    let api = server.api(admin);
    let app = api.create_project("app").await;
    let who = server.api(dev).request("GET", "/user", Body::None).await;
    api.add_member(app.id, who.body["id"].as_i64().unwrap(), 30)
        .await;
    let push_url = server.push_url(admin, "app");
    blocking(move || {
        let work = Work::new();
        work.commit("first");
        work.push(&push_url, &["main"]);
    })
    .await;
    let mut names = Vec::new();
    for body in [
        json!({"remote_address": "http://127.0.0.1:9/a.git", "interval": "0",
               "remote_username": "u", "remote_password": "p"}),
        json!({"remote_address": "ssh://git@127.0.0.1:9/b.git", "use_ssh": true,
               "interval": "1h"}),
    ] {
        let made = reqwest::Client::new()
            .post(format!(
                "{}/api/v1/repos/root/app/push_mirrors",
                server.base()
            ))
            .header("Authorization", format!("token {admin}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(made.status(), 200);
        let made: serde_json::Value = made.json().await.unwrap();
        names.push(made["remote_name"].as_str().unwrap().to_owned());
    }
    names
}

/// schemathesis's configuration: owners, repositories and mirror names drawn mostly from ones
/// that exist, so the operations behind the 404 are reached too.
fn config_toml(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|v| format!("{v:?}")).collect();
    format!(
        r#"
[dictionaries.owners]
values = ["root"]

[dictionaries.repos]
values = ["app"]

[dictionaries.names]
values = [{}]

[parameters]
"path.owner" = {{ dictionary = "owners", probability = 0.9 }}
"path.repo" = {{ dictionary = "repos", probability = 0.9 }}
"path.name" = {{ dictionary = "names", probability = 0.8 }}
"#,
        quoted.join(", ")
    )
}

/// The contract run on one database: seed, fuzz as the Developer, then as the admin.
async fn contract_run(database: Option<&str>, label: &str) {
    let Some(tool) = schemathesis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = create_token(&data, database, "root", true);
    let dev = create_token(&data, database, "dev", false);
    let server = ServerProcess::start(&data, database, &["--allow-local-network"], &[]);
    let names = seed(&server, &admin, &dev).await;
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(&config, config_toml(&names)).unwrap();
    let label = label.to_owned();
    let server = blocking(move || {
        fuzz_face(
            &GITEA,
            &tool,
            &server,
            &dev,
            &config,
            &format!("gitea-{label}-developer"),
        );
        fuzz_face(
            &GITEA,
            &tool,
            &server,
            &admin,
            &config,
            &format!("gitea-{label}-admin"),
        );
        server
    })
    .await;
    let document = pushmirror::http::gitea_openapi_json();
    // Seven operations, each reachable with the seeded names (and the migration's examples): all
    // must have succeeded.
    assert_operations_were_reached(&server, &document, "/api/v1", usize::MAX).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_in_the_gitea_face_on_sqlite() {
    contract_run(None, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_in_the_gitea_face_on_postgres() {
    let Some(db) = PostgresDb::create_or_skip().await else {
        return;
    };
    contract_run(Some(&db.url), "postgres").await;
}
