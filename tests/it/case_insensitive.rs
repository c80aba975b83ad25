//! Names that differ only in case are one name, as in GitLab: a second user `victor` beside
//! `Victor` is refused clearly (by the store and by `pushmirror token create`), lookups in any
//! case find the one project, and a project path differing only in case is taken. On SQLite and
//! PostgreSQL.

use crate::common::TestServer;
use pushmirror::store::StoreError;
use serde_json::json;

async fn one_name_whatever_the_case(s: &TestServer) {
    let victor = s.token("Victor", false).await;
    let err = s
        .state
        .store
        .ensure_user("victor", false, 1)
        .await
        .expect_err("a second user differing only in case");
    assert!(
        matches!(&err, StoreError::UsernameTaken { existing, .. } if existing == "Victor"),
        "{err}"
    );
    assert!(
        err.to_string().contains("unique regardless of case"),
        "{err}"
    );
    // The exact name is still the same user.
    let again = s.state.store.ensure_user("Victor", false, 1).await.unwrap();
    assert_eq!(again.username, "Victor");

    let p = s.api(&victor).create_project("tool").await;
    for spelling in ["Victor%2Ftool", "victor%2Ftool", "VICTOR%2FTOOL"] {
        let r = s.get(&format!("/projects/{spelling}"), &victor).await;
        assert_eq!(r.status, 200, "{spelling}: {}", r.text);
        assert_eq!(r.body["id"], p.id, "{spelling}");
    }
    let r = s
        .post_json(
            "/projects",
            &victor,
            json!({"name": "Tool2", "path": "TOOL"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["message"]["path"][0], "has already been taken");
}

#[tokio::test]
async fn names_differing_only_in_case_are_one_name_sqlite() {
    let s = TestServer::builder().start().await;
    one_name_whatever_the_case(&s).await;
    // The command line says so too, and creates nothing.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pushmirror"))
        .args(["token", "create", "--username", "VICTOR", "--data-dir"])
        .arg(s.data_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("'VICTOR' is taken"), "{stderr}");
    assert!(out.stdout.is_empty(), "no token was printed");
}

#[tokio::test]
async fn names_differing_only_in_case_are_one_name_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    one_name_whatever_the_case(&s).await;
}
