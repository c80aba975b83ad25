//! Projects in groups at any depth: who may create them where (`namespace_id` or
//! `namespace_path`, the group's creation rule, its visibility), their entities and URLs
//! (`path_with_namespace`, `namespace`, `web_url`, `http_url_to_repo`), the API and git by full
//! path, `/namespaces`, a push mirrored from three levels deep, and `PUT /projects/:id/transfer`
//! (GitLab's refusals; the repository answers at its new path only, and its mirror still runs).

use std::sync::Arc;
use std::time::Duration;

use crate::common::{blocking, poll_for, Resp, TestServer, Work};
use crate::remotes::GitHttpRemote;
use serde_json::{json, Value};

/// Generous bound for a mirror to converge on a slow machine.
const CONVERGE: Duration = Duration::from_secs(30);

fn check(what: &str, r: &Resp, status: u16, body: Option<Value>) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    if let Some(b) = body {
        assert_eq!(r.body, b, "{what}");
    }
}

/// The `full_path`s of a list answer.
fn paths(r: &Resp) -> Vec<String> {
    r.body
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {}", r.text))
        .iter()
        .map(|g| g["full_path"].as_str().unwrap().to_owned())
        .collect()
}

async fn creation_shapes_and_namespaces(s: &TestServer) {
    let owner = s.token("owner", false).await;
    let dev = s.token("dev", false).await;
    let rep = s.token("rep", false).await;
    let outsider = s.token("outsider", false).await;
    let admin = s.token("root", true).await;
    let api = s.api(&owner);
    let org = api
        .create_group_with(json!({"name": "Org", "path": "org", "visibility": "internal"}))
        .await;
    let team = api
        .create_group_with(json!({"name": "Team", "path": "team", "parent_id": org.id}))
        .await;
    let sub = api
        .create_group_with(json!({"name": "Sub", "path": "sub", "parent_id": team.id}))
        .await;
    api.add_group_member(org.id, s.user_id("dev").await, 30)
        .await;
    api.add_group_member(org.id, s.user_id("rep").await, 20)
        .await;

    // A Developer may create projects (GitLab's default rule) and becomes its Maintainer.
    let r = s
        .post_json(
            "/projects",
            &dev,
            json!({"name": "App", "path": "app", "namespace_id": sub.id}),
        )
        .await;
    check("developer creates", &r, 201, None);
    let p = r.body.clone();
    let base = &s.base;
    for (k, v) in [
        ("path_with_namespace", json!("org/team/sub/app")),
        ("name_with_namespace", json!("Org / Team / Sub / App")),
        ("web_url", json!(format!("{base}/org/team/sub/app"))),
        (
            "http_url_to_repo",
            json!(format!("{base}/org/team/sub/app.git")),
        ),
        (
            "namespace",
            json!({
                "id": sub.id, "name": "Sub", "path": "sub", "kind": "group",
                "full_path": "org/team/sub", "parent_id": team.id, "avatar_url": null,
                "web_url": format!("{base}/groups/org/team/sub"),
            }),
        ),
    ] {
        assert_eq!(p[k], v, "{k}");
    }
    assert_eq!(p["permissions"]["project_access"]["access_level"], 40);
    let r = s.get(&format!("/projects/{}/members", p["id"]), &dev).await;
    assert_eq!(r.body[0]["username"], "dev");
    assert_eq!(r.body[0]["access_level"], 40);
    // The API finds it by its full path, any case.
    for id in ["org%2Fteam%2Fsub%2Fapp", "Org%2FTeam%2FSUB%2Fapp"] {
        let r = s.get(&format!("/projects/{id}"), &rep).await;
        check(id, &r, 200, None);
        assert_eq!(r.body["id"], p["id"]);
    }
    // A user's own project keeps its one-level shape.
    let own = s.api(&outsider).create_project("mine").await;
    let r = s.get(&format!("/projects/{}", own.id), &outsider).await;
    assert_eq!(
        r.body["namespace"],
        json!({
            "id": r.body["namespace"]["id"], "name": "outsider", "path": "outsider",
            "kind": "user", "full_path": "outsider", "parent_id": null, "avatar_url": null,
            "web_url": format!("{base}/outsider"),
        })
    );

    // By namespace_path too; refusals as GitLab.
    let r = s
        .post_json(
            "/projects",
            &owner,
            json!({"name": "by-path", "namespace_path": "org/team"}),
        )
        .await;
    check("namespace_path", &r, 201, None);
    assert_eq!(r.body["path_with_namespace"], "org/team/by-path");
    assert!(
        s.get(&format!("/projects/{}/members", r.body["id"]), &owner)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty(),
        "an Owner of the group needs no membership of its own"
    );
    let cases = [
        (
            "a Reporter",
            &rep,
            json!({"name": "r", "namespace_id": sub.id}),
            400,
            json!({"message": {"namespace": ["is not valid"]}}),
        ),
        (
            "an outsider of a private group",
            &outsider,
            json!({"name": "o", "namespace_id": sub.id}),
            404,
            json!({"message": "404 Namespace Not Found"}),
        ),
        (
            "an outsider of an internal group",
            &outsider,
            json!({"name": "o", "namespace_id": org.id}),
            400,
            json!({"message": {"namespace": ["is not valid"]}}),
        ),
        (
            "more open than the group",
            &owner,
            json!({"name": "pub", "namespace_id": sub.id, "visibility": "public"}),
            400,
            json!({"message": {"visibility_level": ["public is not allowed in a private group."]}}),
        ),
        (
            "a taken path",
            &dev,
            json!({"name": "App2", "path": "APP", "namespace_id": sub.id}),
            400,
            json!({"message": {"path": ["has already been taken"]}}),
        ),
    ];
    for (what, token, body, status, expected) in cases {
        let r = s.post_json("/projects", token, body).await;
        check(what, &r, status, Some(expected));
    }
    let r = s
        .post_json(
            "/projects",
            &admin,
            json!({"name": "admins", "namespace_id": sub.id}),
        )
        .await;
    check("an admin anywhere", &r, 201, None);
    // A group may keep project creation to Maintainers, or to no one.
    let r = s
        .put_json(
            &format!("/groups/{}", sub.id),
            &owner,
            json!({"project_creation_level": "maintainer"}),
        )
        .await;
    check("maintainers only", &r, 200, None);
    let r = s
        .post_json(
            "/projects",
            &dev,
            json!({"name": "d2", "namespace_id": sub.id}),
        )
        .await;
    check(
        "developer, maintainers only",
        &r,
        400,
        Some(json!({"message": {"namespace": ["is not valid"]}})),
    );
    let r = s
        .put_json(
            &format!("/groups/{}", sub.id),
            &owner,
            json!({"project_creation_level": "noone"}),
        )
        .await;
    assert_eq!(r.body["project_creation_level"], "noone");
    let r = s
        .post_json(
            "/projects",
            &owner,
            json!({"name": "o2", "namespace_id": sub.id}),
        )
        .await;
    check("no one", &r, 400, None);

    // /namespaces: the caller's own and the groups they belong to; every one for an admin.
    let r = s.get("/namespaces", &dev).await;
    assert_eq!(paths(&r), ["dev", "org"]);
    assert_eq!(r.body[1]["kind"], "group");
    assert_eq!(r.body[1]["web_url"], format!("{base}/groups/org"));
    let r = s.get("/namespaces", &owner).await;
    assert_eq!(paths(&r), ["owner", "org", "org/team", "org/team/sub"]);
    assert_eq!(
        paths(&s.get("/namespaces?search=su", &owner).await),
        ["org/team/sub"]
    );
    assert_eq!(
        paths(&s.get("/namespaces?search=org", &owner).await),
        ["org"],
        "search matches own paths"
    );
    assert_eq!(
        paths(&s.get("/namespaces?top_level_only=true", &owner).await),
        ["owner", "org"]
    );
    assert_eq!(
        paths(&s.get("/namespaces?owned_only=true", &dev).await),
        ["dev"]
    );
    let r = s.get("/namespaces?per_page=2", &admin).await;
    assert_eq!(r.header("x-total"), "8", "five users, three groups");
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    let r = s.get("/namespaces/org%2Fteam%2Fsub", &owner).await;
    check("by path", &r, 200, None);
    assert_eq!(r.body["id"], sub.id);
    assert_eq!(r.body["members_count_with_descendants"], 1);
    let r = s.get(&format!("/namespaces/{}", sub.id), &dev).await;
    check("by id", &r, 200, None);
    assert!(r.body.get("members_count_with_descendants").is_none());
    let not_found = json!({"message": "404 Namespace Not Found"});
    check(
        "someone else's",
        &s.get("/namespaces/owner", &dev).await,
        404,
        Some(not_found.clone()),
    );
    check(
        "hidden group",
        &s.get("/namespaces/org%2Fteam", &outsider).await,
        404,
        Some(not_found),
    );
    check("own", &s.get("/namespaces/dev", &dev).await, 200, None);
    let r = s
        .request("GET", "/namespaces", None, crate::common::Body::None)
        .await;
    check("anonymous", &r, 401, None);
}

#[tokio::test]
async fn projects_live_in_groups_at_any_depth_sqlite() {
    creation_shapes_and_namespaces(&TestServer::builder().start().await).await;
}

#[tokio::test]
async fn projects_live_in_groups_at_any_depth_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    creation_shapes_and_namespaces(&s).await;
}

/// A push of `main` (one new commit) to `full_path` as `token`.
async fn push(
    s: &TestServer,
    token: &str,
    full_path: &str,
    work: &Arc<Work>,
) -> Result<(), String> {
    let url = s.push_url(token, full_path);
    let w = work.clone();
    blocking(move || {
        w.commit("more");
        w.try_push(&url, &["main"])
    })
    .await
}

/// A clone of `full_path` as `token`: the fetched tip, or git's error.
async fn fetch(s: &TestServer, token: &str, full_path: &str) -> Result<String, String> {
    let url = s.push_url(token, full_path);
    blocking(move || {
        let w = Work::new();
        w.try_git(&["fetch", "-q", &url, "main"])?;
        w.try_git(&["rev-parse", "FETCH_HEAD"])
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_three_levels_deep_is_mirrored_and_a_transfer_moves_the_git_path() {
    let s = TestServer::builder()
        .engine(true)
        .local_network(true)
        .start()
        .await;
    let owner = s.token("owner", false).await;
    let dev = s.token("dev", false).await;
    let maint = s.token("maint", false).await;
    let api = s.api(&owner);
    let org = api.create_group("org", None).await;
    let team = api.create_group("team", Some(org.id)).await;
    let sub = api.create_group("sub", Some(team.id)).await;
    let other = api.create_group("other", None).await;
    let p = api
        .create_project_with(json!({"name": "app", "namespace_id": sub.id}))
        .await;
    api.add_group_member(org.id, s.user_id("dev").await, 30)
        .await;
    api.add_group_member(org.id, s.user_id("maint").await, 40)
        .await;

    // A mirror of the project three levels down follows an inherited Developer's push.
    let remote = GitHttpRemote::start(Some(("mirror-user", "Pa55-word"))).await;
    remote.create_repo("target");
    let m = s
        .api(&maint)
        .create_mirror(
            p.id,
            &remote.url_with_credentials("target", "mirror-user", "Pa55-word"),
            true,
        )
        .await;
    let work = Arc::new(Work::new());
    push(&s, &dev, "org/team/sub/app", &work)
        .await
        .expect("push at depth");
    let tip = blocking({
        let w = work.clone();
        move || w.git(&["rev-parse", "HEAD"])
    })
    .await;
    let mirror_api = s.api(&maint);
    poll_for(
        CONVERGE,
        || mirror_api.mirror(p.id, m.id),
        |m| {
            m.update_status == "finished"
                && remote.refs("target").get("refs/heads/main") == Some(&tip)
        },
    )
    .await
    .unwrap_or_else(|last| panic!("the mirror never converged: {last:?}"));
    // GitLab's web route for host-key detection answers at any depth too.
    let web = format!(
        "{}/org/team/sub/app/-/mirror/ssh_host_keys.json?ssh_url=http%3A%2F%2Fx",
        s.base
    );
    let r = s
        .send(
            reqwest::Client::new()
                .get(web)
                .header("PRIVATE-TOKEN", &maint),
        )
        .await;
    check(
        "web route",
        &r,
        400,
        Some(json!({"message": "Invalid URL"})),
    );

    // Transfers: only the project's Owners; into a namespace they may create projects in; not
    // where a project of that name or path lives.
    let transfer = |to: Value| json!({ "namespace": to });
    let path = format!("/projects/{}/transfer", p.id);
    let r = s.put_json(&path, &maint, transfer(json!(other.id))).await;
    check(
        "a Maintainer",
        &r,
        403,
        Some(json!({"message": "403 Forbidden"})),
    );
    let failed = |m: &str| json!({"message": format!("Failed to transfer project {{:new_namespace=>[\"{m}\"]}}")});
    let r = s
        .put_json(&path, &owner, transfer(json!("org/team/sub")))
        .await;
    check(
        "same namespace",
        &r,
        400,
        Some(failed("Project is already in this namespace.")),
    );
    let r = s.put_json(&path, &owner, transfer(json!("nowhere"))).await;
    check(
        "unknown",
        &r,
        404,
        Some(json!({"message": "404 Namespace Not Found"})),
    );
    let r = s.put_json(&path, &owner, json!({})).await;
    check(
        "no namespace",
        &r,
        400,
        Some(json!({"error": "namespace is missing"})),
    );
    let dev_only = s.api(&dev).create_group("devs", None).await;
    let r = s
        .post_json(
            &format!("/groups/{}/members", dev_only.id),
            &dev,
            json!({"user_id": s.user_id("owner").await, "access_level": 20}),
        )
        .await;
    check("owner is a Reporter in devs", &r, 201, None);
    let r = s.put_json(&path, &owner, transfer(json!("devs"))).await;
    check(
        "no permission there",
        &r,
        400,
        Some(failed(
            "You don't have permission to transfer projects into that namespace.",
        )),
    );
    let clash = api
        .create_project_with(json!({"name": "app", "namespace_id": other.id}))
        .await;
    let r = s.put_json(&path, &owner, transfer(json!(other.id))).await;
    check(
        "same path there",
        &r,
        400,
        Some(failed(
            "Project with same name or path in target namespace already exists",
        )),
    );
    let r = s.delete(&format!("/projects/{}", clash.id), &owner).await;
    check("clash gone", &r, 202, None);

    // The move: the API and git answer at the new path only; the repository and mirror stay.
    let r = s.put_json(&path, &owner, transfer(json!("other"))).await;
    check("transfer", &r, 200, None);
    assert_eq!(r.body["path_with_namespace"], "other/app");
    assert_eq!(r.body["namespace"]["full_path"], "other");
    assert_eq!(
        r.body["http_url_to_repo"],
        format!("{}/other/app.git", s.base)
    );
    check(
        "old API path",
        &s.get("/projects/org%2Fteam%2Fsub%2Fapp", &owner).await,
        404,
        None,
    );
    assert_eq!(fetch(&s, &owner, "other/app").await.expect("new path"), tip);
    let err = fetch(&s, &owner, "org/team/sub/app")
        .await
        .expect_err("old path");
    assert!(err.contains("not found"), "{err}");
    // Access now comes from the new namespace: org's Developer is out.
    let err = fetch(&s, &dev, "other/app")
        .await
        .expect_err("dev lost access");
    assert!(err.contains("not found"), "{err}");
    let tip2 = {
        push(&s, &owner, "other/app", &work)
            .await
            .expect("push at the new path");
        blocking({
            let w = work.clone();
            move || w.git(&["rev-parse", "HEAD"])
        })
        .await
    };
    let owner_api = s.api(&owner);
    poll_for(
        CONVERGE,
        || owner_api.mirror(p.id, m.id),
        |m| {
            m.update_status == "finished"
                && remote.refs("target").get("refs/heads/main") == Some(&tip2)
        },
    )
    .await
    .unwrap_or_else(|last| panic!("the mirror never followed the move: {last:?}"));

    // Into a personal namespace: its user becomes an Owner; a public project moving into a
    // private group becomes private.
    let r = s.put_json(&path, &owner, transfer(json!("owner"))).await;
    check("to the owner's namespace", &r, 200, None);
    assert_eq!(r.body["path_with_namespace"], "owner/app");
    let r = s
        .get(&format!("/projects/{}/members/all", p.id), &owner)
        .await;
    assert_eq!(r.body[0]["username"], "owner");
    assert_eq!(r.body[0]["access_level"], 50);
    let r = s
        .put_json(
            &format!("/projects/{}", p.id),
            &owner,
            json!({"visibility": "public"}),
        )
        .await;
    check("public", &r, 200, None);
    let r = s.put_json(&path, &owner, transfer(json!(org.id))).await;
    check("into a private group", &r, 200, None);
    assert_eq!(r.body["visibility"], "private");
    assert_eq!(r.body["path_with_namespace"], "org/app");
    assert_eq!(fetch(&s, &dev, "org/app").await.expect("dev again"), tip2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_and_protected_rules_hold_in_groups() {
    let s = TestServer::builder().start().await;
    let owner = s.token("owner", false).await;
    let maint = s.token("maint", false).await;
    let api = s.api(&owner);
    let org = api.create_group("org", None).await;
    let team = api.create_group("team", Some(org.id)).await;
    let p = api
        .create_project_with(json!({"name": "app", "namespace_id": team.id}))
        .await;
    api.add_group_member(org.id, s.user_id("maint").await, 40)
        .await;
    let work = Arc::new(Work::new());
    push(&s, &maint, "org/team/app", &work)
        .await
        .expect("maintainer pushes");
    // An inherited Maintainer protects and still pushes to the protected branch.
    s.api(&maint).protect_branch(p.id, "main").await;
    push(&s, &maint, "org/team/app", &work)
        .await
        .expect("maintainers push to main");
    // Archiving needs the Owner (a group Owner is one); archived projects refuse pushes.
    let r = s
        .post_json(&format!("/projects/{}/archive", p.id), &maint, json!({}))
        .await;
    check("maintainer archives", &r, 403, None);
    let r = s
        .post_json(&format!("/projects/{}/archive", p.id), &owner, json!({}))
        .await;
    check("owner archives", &r, 201, None);
    let err = push(&s, &maint, "org/team/app", &work)
        .await
        .expect_err("archived");
    assert!(err.contains("archived"), "{err}");
}
