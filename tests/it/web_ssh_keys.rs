//! SSH keys in the web interface through a cookie-keeping browser (`WebClient`), on SQLite and
//! PostgreSQL: the profile's "SSH Keys" page (added with the API's rules and messages, the
//! title defaulting to the key's comment, listed with its SHA-256 fingerprint as `ssh-keygen`
//! prints it, deleted) and the repository settings' "Deploy keys" (added with write access,
//! made read-only, removed; Maintainers only). Every form refuses a post without its CSRF token.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::common::web::{create_user, Page, WebClient, PASSWORD};
use crate::common::TestServer;

const KEYS: &str = "/-/user_settings/ssh_keys";

/// A new key pair made by `ssh-keygen` in `dir`: its public line and SHA-256 fingerprint.
fn keygen(dir: &Path, name: &str, kind: &str, bits: &str) -> (String, String) {
    let file = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", name, "-t", kind, "-b", bits, "-f"])
        .arg(&file)
        .output()
        .expect("ssh-keygen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = std::fs::read_to_string(file.with_extension("pub")).unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(file.with_extension("pub"))
        .output()
        .unwrap();
    let fp = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    (line.trim().to_owned(), fp)
}

/// Asserts that posting `fields` to `path` without a CSRF token, or with a wrong one, is 422.
async fn refuses_without_csrf(web: &WebClient, path: &str, fields: &[(&str, &str)]) {
    let r = web.post_raw(path, fields).await;
    assert_eq!(r.status, 422, "{path} took a form without its CSRF token");
    let mut wrong = vec![("authenticity_token", "0000")];
    wrong.extend_from_slice(fields);
    assert_eq!(
        web.post_raw(path, &wrong).await.status,
        422,
        "{path} took a wrong token"
    );
}

/// Posts a form (the last page's CSRF token) that must redirect; the page it lands on.
async fn submit(web: &WebClient, path: &str, fields: &[(&str, &str)]) -> Page {
    let r = web.post(path, fields).await;
    assert_eq!(r.status, 303, "POST {path}: {r:?}");
    let to = r.location().split('#').next().unwrap().to_owned();
    let page = web.get(&to).await;
    assert_eq!(page.status, 200, "{page:?}");
    page
}

async fn profile_keys(s: TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let root = s.token("root", true).await;
    create_user(&s, &root, "alice", false).await;
    create_user(&s, &root, "bob", false).await;
    let alice = s.token("alice", false).await;
    let web = WebClient::signed_in(&s.base, "alice", PASSWORD).await;

    let page = web.get(KEYS).await;
    assert_eq!(page.status, 200);
    for text in [
        "SSH Keys",
        "Add an SSH key",
        "Expiration date",
        "There are no SSH keys",
    ] {
        assert!(page.html.contains(text), "{text} missing");
    }
    assert!(
        web.get("/")
            .await
            .html
            .contains(&format!("href=\"{KEYS}\"")),
        "not in the menu"
    );
    let (ed, ed_fp) = keygen(dir.path(), "laptop", "ed25519", "256");
    refuses_without_csrf(&web, KEYS, &[("ssh_key[key]", &ed)]).await;
    assert_eq!(s.get("/user/keys", &alice).await.body, json!([]));

    // The API's rules, as alerts.
    let (weak, _) = keygen(dir.path(), "weak", "rsa", "1024");
    for (fields, alert) in [
        (
            vec![("ssh_key[key]", "ssh-ed25519 nonsense x")],
            "Key is invalid",
        ),
        (
            vec![("ssh_key[key]", weak.as_str())],
            "Key must be at least 2048 bits",
        ),
        (
            vec![
                ("ssh_key[key]", ed.as_str()),
                ("ssh_key[expires_at]", "2001-01-01"),
            ],
            "Key has expired",
        ),
    ] {
        web.get(KEYS).await;
        let page = submit(&web, KEYS, &fields).await;
        assert!(page.html.contains(alert), "{alert} missing");
    }

    // Added: the title is the key's comment; listed with ssh-keygen's fingerprint.
    web.get(KEYS).await;
    let page = submit(
        &web,
        KEYS,
        &[("ssh_key[key]", &ed), ("ssh_key[expires_at]", "2999-01-01")],
    )
    .await;
    assert!(page.html.contains("Added SSH key laptop."), "{}", page.html);
    assert!(page.html.contains(&ed_fp), "no fingerprint");
    let keys = s.get("/user/keys", &alice).await.body;
    assert_eq!(keys[0]["title"], "laptop");
    assert_eq!(keys[0]["expires_at"], "2999-01-01T00:00:00.000Z");
    let id = keys[0]["id"].as_i64().unwrap();
    // A duplicate, as GitLab says it.
    let page = submit(
        &web,
        KEYS,
        &[("ssh_key[key]", &ed), ("ssh_key[title]", "again")],
    )
    .await;
    assert!(
        page.html.contains("Fingerprint has already been taken"),
        "{}",
        page.html
    );

    // Deleted: by its owner only.
    let delete = format!("{KEYS}/{id}/delete");
    refuses_without_csrf(&web, &delete, &[]).await;
    let bob = WebClient::signed_in(&s.base, "bob", PASSWORD).await;
    bob.get(KEYS).await;
    assert_eq!(bob.post(&delete, &[]).await.status, 404);
    let page = submit(&web, &delete, &[]).await;
    assert!(page.html.contains("Deleted SSH key laptop."));
    assert_eq!(s.get("/user/keys", &alice).await.body, json!([]));
}

async fn deploy_keys_section(s: TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let root = s.token("root", true).await;
    let maria = create_user(&s, &root, "maria", false).await;
    let dev = create_user(&s, &root, "dev", false).await;
    let project = s.api(&root).create_project("site").await;
    s.api(&root).add_member(project.id, maria, 40).await;
    s.api(&root).add_member(project.id, dev, 30).await;
    let web = WebClient::signed_in(&s.base, "maria", PASSWORD).await;
    let settings = format!("/{}/-/settings/repository", project.path_with_namespace);
    let add = format!("/{}/-/deploy_keys", project.path_with_namespace);
    let api_keys = format!("/projects/{}/deploy_keys", project.id);

    let page = web.get(&settings).await;
    assert_eq!(page.status, 200);
    for text in [
        "Deploy keys",
        "Add new deploy key",
        "Grant write permissions to this key",
    ] {
        assert!(page.html.contains(text), "{text} missing");
    }
    assert!(page.html.contains(&format!("action=\"{add}\"")));
    let (key, fp) = keygen(dir.path(), "ci", "ecdsa", "256");
    refuses_without_csrf(
        &web,
        &add,
        &[("title", "ci"), ("key", &key), ("can_push", "1")],
    )
    .await;
    let page = submit(&web, &add, &[("title", ""), ("key", &key)]).await;
    assert!(page.html.contains("Title can"), "a blank title accepted");
    let page = submit(
        &web,
        &add,
        &[("title", "ci"), ("key", &key), ("can_push", "1")],
    )
    .await;
    assert!(
        page.html.contains("Deploy key ci is enabled."),
        "{}",
        page.html
    );
    assert!(page.html.contains(&fp) && page.html.contains("Read and write"));
    let listed = s.get(&api_keys, &root).await.body;
    assert_eq!(
        (&listed[0]["title"], &listed[0]["can_push"]),
        (&json!("ci"), &json!(true))
    );
    let id = listed[0]["id"].as_i64().unwrap();

    let one = format!("{add}/{id}");
    refuses_without_csrf(&web, &format!("{one}/update"), &[("can_push", "0")]).await;
    refuses_without_csrf(&web, &format!("{one}/delete"), &[]).await;
    let page = submit(&web, &format!("{one}/update"), &[("can_push", "0")]).await;
    assert!(page.html.contains("Deploy key ci is read only."));
    assert_eq!(s.get(&api_keys, &root).await.body[0]["can_push"], false);

    // A Developer sees no settings and changes nothing.
    let devweb = WebClient::signed_in(&s.base, "dev", PASSWORD).await;
    assert_eq!(devweb.get(&settings).await.status, 404);
    devweb.get("/").await;
    assert_eq!(devweb.post(&format!("{one}/delete"), &[]).await.status, 404);

    let page = submit(&web, &format!("{one}/delete"), &[]).await;
    assert!(page
        .html
        .contains("The deploy key is removed from this project."));
    assert!(page
        .html
        .contains("No deploy keys are enabled in this project."));
    assert_eq!(s.get(&api_keys, &root).await.body, json!([]));
    assert_eq!(
        s.get(&format!("/keys/{id}"), &root).await.status,
        404,
        "the unused key is deleted"
    );

    // Keys of the other projects maria maintains can be enabled here; others' are not shown.
    let other = s.api(&root).create_project("other").await;
    let hidden = s.api(&root).create_project("hidden").await;
    s.api(&root).add_member(other.id, maria, 40).await;
    let (shared, _) = keygen(dir.path(), "shared", "ed25519", "256");
    let (secret, _) = keygen(dir.path(), "secret", "ed25519", "256");
    for (p, title, key) in [
        (other.id, "shared", &shared),
        (hidden.id, "secret", &secret),
    ] {
        let r = s
            .post_json(
                &format!("/projects/{p}/deploy_keys"),
                &root,
                json!({"title": title, "key": key, "can_push": true}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let shared_id = s
        .get(&format!("/projects/{}/deploy_keys", other.id), &root)
        .await
        .body[0]["id"]
        .as_i64()
        .unwrap();
    let page = web.get(&settings).await;
    assert!(
        page.html.contains("Privately accessible deploy keys (1)"),
        "{}",
        page.html
    );
    assert!(page.html.contains("shared") && !page.html.contains("secret"));
    let enable = format!("{add}/{shared_id}/enable");
    assert!(page.html.contains(&format!("action=\"{enable}\"")));
    refuses_without_csrf(&web, &enable, &[]).await;
    let page = submit(&web, &enable, &[]).await;
    assert!(
        page.html
            .contains("Deploy key shared is enabled (read only)."),
        "{}",
        page.html
    );
    assert!(page.html.contains("Privately accessible deploy keys (0)"));
    let listed = s.get(&api_keys, &root).await.body;
    assert_eq!(
        (&listed[0]["id"], &listed[0]["can_push"]),
        (&json!(shared_id), &json!(false))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_ssh_keys_page() {
    profile_keys(TestServer::builder().start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_ssh_keys_page_on_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    profile_keys(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_keys_in_repository_settings() {
    deploy_keys_section(TestServer::builder().start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_keys_in_repository_settings_on_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    deploy_keys_section(s).await;
}
