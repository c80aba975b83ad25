//! `/groups` as GitLab clients call it: creating groups and subgroups (paths, reserved names,
//! uniqueness, visibility, depth, who may), reading one by id or full path, the list filters
//! and pagination, subgroups and descendants, a group's projects, renaming (carried down to
//! every full path) and deleting with everything below. On SQLite and PostgreSQL.

use crate::common::{Resp, TestServer};
use serde_json::{json, Value};

/// The `full_path`s of a list answer.
fn paths(r: &Resp) -> Vec<String> {
    r.body
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {}", r.text))
        .iter()
        .map(|g| g["full_path"].as_str().unwrap().to_owned())
        .collect()
}

fn check(what: &str, r: &Resp, status: u16, body: Option<Value>) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    if let Some(b) = body {
        assert_eq!(r.body, b, "{what}");
    }
}

async fn create_read_and_refuse(s: &TestServer) {
    let alice = s.token("alice", false).await;
    let bob = s.token("bob", false).await;
    let r = s
        .post_json(
            "/groups",
            &alice,
            json!({"name": "Org", "path": "org", "description": "the org"}),
        )
        .await;
    check("create", &r, 201, None);
    let org = r.body.clone();
    for (k, v) in [
        ("name", json!("Org")),
        ("path", json!("org")),
        ("full_path", json!("org")),
        ("full_name", json!("Org")),
        ("description", json!("the org")),
        ("parent_id", Value::Null),
        ("visibility", json!("private")),
        ("project_creation_level", json!("developer")),
        ("subgroup_creation_level", json!("maintainer")),
        ("web_url", json!(format!("{}/groups/org", s.base))),
        ("projects", json!([])),
    ] {
        assert_eq!(org[k], v, "{k} in {org}");
    }
    assert!(org["created_at"].as_str().unwrap().ends_with('Z'));
    let org_id = org["id"].as_i64().unwrap();

    // The creator is its Owner; a subgroup's full path and name come from the parent's.
    let r = s.get(&format!("/groups/{org_id}/members"), &alice).await;
    assert_eq!(r.body[0]["username"], "alice");
    assert_eq!(r.body[0]["access_level"], 50);
    let r = s
        .post_json(
            "/groups",
            &alice,
            json!({"name": "Team", "path": "team", "parent_id": org_id}),
        )
        .await;
    check("subgroup", &r, 201, None);
    assert_eq!(r.body["full_path"], "org/team");
    assert_eq!(r.body["full_name"], "Org / Team");
    assert_eq!(r.body["parent_id"], org_id);
    assert_eq!(r.body["web_url"], format!("{}/groups/org/team", s.base));
    let team_id = r.body["id"].as_i64().unwrap();

    // By id, by full path (URL-encoded, any case); hidden from outsiders.
    for id in [
        team_id.to_string(),
        "org%2Fteam".into(),
        "ORG%2FTeam".into(),
    ] {
        let r = s.get(&format!("/groups/{id}"), &alice).await;
        check(&id, &r, 200, None);
        assert_eq!(r.body["id"], team_id, "{id}");
    }
    let not_found = json!({"message": "404 Group Not Found"});
    check(
        "outsider",
        &s.get("/groups/org%2Fteam", &bob).await,
        404,
        Some(not_found.clone()),
    );
    check(
        "unknown",
        &s.get("/groups/nope", &alice).await,
        404,
        Some(not_found.clone()),
    );
    let r = s.request("GET", "/groups/org", None, common_body()).await;
    check("anonymous, private", &r, 401, None);

    let failed = |m: &str| json!({"message": format!("Failed to save group {m}")});
    let cases = [
        (
            "nothing",
            json!({}),
            400,
            json!({"error": "name is missing, path is missing"}),
        ),
        (
            "no path",
            json!({"name": "x"}),
            400,
            json!({"error": "path is missing"}),
        ),
        (
            "invalid path",
            json!({"name": "x", "path": "x."}),
            400,
            failed(
                r#"{:path=>["can contain only letters, digits, '_', '-' and '.'. Cannot start with '-' or end in '.', '.git' or '.atom'."]}"#,
            ),
        ),
        (
            "reserved path",
            json!({"name": "x", "path": "API"}),
            400,
            failed(r#"{:path=>["API is a reserved name"]}"#),
        ),
        (
            "invalid name",
            json!({"name": "(x)", "path": "x"}),
            400,
            failed(
                r#"{:name=>["can contain only letters, digits, emoji, '_', '.', dash, space, parenthesis. It must start with letter, digit, emoji or '_'."]}"#,
            ),
        ),
        (
            "taken path, other case",
            json!({"name": "Other", "path": "ORG"}),
            400,
            failed(r#"{:path=>["has already been taken"]}"#),
        ),
        (
            "a user's namespace",
            json!({"name": "Bob", "path": "bob"}),
            400,
            failed(r#"{:path=>["has already been taken"]}"#),
        ),
        (
            "taken name among siblings",
            json!({"name": "Team", "path": "team2", "parent_id": org_id}),
            400,
            failed(r#"{:name=>["has already been taken"]}"#),
        ),
        (
            "more open than the parent",
            json!({"name": "Pub", "path": "pub", "parent_id": org_id, "visibility": "public"}),
            400,
            failed(
                r#"{:visibility_level=>["public is not allowed since the parent group has a private visibility."]}"#,
            ),
        ),
        (
            "bad visibility",
            json!({"name": "v", "path": "v", "visibility": "secret"}),
            400,
            json!({"error": "visibility does not have a valid value"}),
        ),
        (
            "bad creation level",
            json!({"name": "v", "path": "v", "project_creation_level": "everyone"}),
            400,
            json!({"error": "project_creation_level does not have a valid value"}),
        ),
        (
            "unknown parent",
            json!({"name": "v", "path": "v", "parent_id": 999_999}),
            404,
            not_found.clone(),
        ),
    ];
    for (what, body, status, expected) in cases {
        let r = s.post_json("/groups", &alice, body).await;
        check(what, &r, status, Some(expected));
    }
    // Reserved words are top-level only; `api` is fine below.
    let r = s
        .post_json(
            "/groups",
            &alice,
            json!({"name": "api", "path": "api", "parent_id": org_id}),
        )
        .await;
    check("api below", &r, 201, None);

    // A subgroup's path may not be a project's full path, nor a project's a subgroup's.
    let p = s
        .post_json(
            "/projects",
            &alice,
            json!({"name": "tool", "namespace_id": org_id}),
        )
        .await;
    check("project in org", &p, 201, None);
    let r = s
        .post_json(
            "/groups",
            &alice,
            json!({"name": "Tool", "path": "tool", "parent_id": org_id}),
        )
        .await;
    check(
        "group over project",
        &r,
        400,
        Some(failed(r#"{:path=>["has already been taken"]}"#)),
    );
    let r = s
        .post_json(
            "/projects",
            &alice,
            json!({"name": "team", "namespace_id": org_id}),
        )
        .await;
    check(
        "project over group",
        &r,
        400,
        Some(json!({"message": {"path": ["has already been taken"]}})),
    );

    // Who may create subgroups: the parent's Maintainers and Owners (GitLab's default), or
    // Owners only when the parent says so; a Developer never; an outsider cannot see a private
    // parent at all.
    let bob_id = s.user_id("bob").await;
    let carol = s.token("carol", false).await;
    let carol_id = s.user_id("carol").await;
    s.api(&alice).add_group_member(org_id, bob_id, 40).await;
    s.api(&alice).add_group_member(org_id, carol_id, 30).await;
    let r = s
        .post_json(
            "/groups",
            &bob,
            json!({"name": "b", "path": "b", "parent_id": org_id}),
        )
        .await;
    check("maintainer", &r, 201, None);
    let r = s
        .post_json(
            "/groups",
            &carol,
            json!({"name": "c", "path": "c", "parent_id": org_id}),
        )
        .await;
    check(
        "developer",
        &r,
        403,
        Some(json!({"message": "403 Forbidden"})),
    );
    let dave = s.token("dave", false).await;
    let r = s
        .post_json(
            "/groups",
            &dave,
            json!({"name": "d", "path": "d", "parent_id": org_id}),
        )
        .await;
    check("outsider", &r, 404, Some(not_found.clone()));
    let r = s
        .put_json(
            &format!("/groups/{org_id}"),
            &alice,
            json!({"subgroup_creation_level": "owner"}),
        )
        .await;
    check("owners only", &r, 200, None);
    assert_eq!(r.body["subgroup_creation_level"], "owner");
    let r = s
        .post_json(
            "/groups",
            &bob,
            json!({"name": "b2", "path": "b2", "parent_id": org_id}),
        )
        .await;
    check("maintainer, owners only", &r, 403, None);
    // A member of a subgroup only sees the private parent (as GitLab lets them).
    let team_path = format!("/groups/{team_id}/members");
    let dave_id = s.user_id("dave").await;
    let r = s
        .post_json(
            &team_path,
            &alice,
            json!({"user_id": dave_id, "access_level": 10}),
        )
        .await;
    check("dave in team", &r, 201, None);
    check(
        "parent seen from below",
        &s.get("/groups/org", &dave).await,
        200,
        None,
    );
    let r = s
        .post_json(
            "/groups",
            &dave,
            json!({"name": "d", "path": "d", "parent_id": org_id}),
        )
        .await;
    check("seen is not allowed", &r, 403, None);
}

/// No body: for requests that carry none.
fn common_body() -> crate::common::Body {
    crate::common::Body::None
}

async fn lists_filters_and_pagination(s: &TestServer) {
    let admin = s.token("root", true).await;
    let alice = s.token("alice", false).await;
    let bob = s.token("bob", false).await;
    let alice_api = s.api(&alice);
    let mut ids = std::collections::BTreeMap::new();
    for (path, parent, visibility) in [
        ("alpha", None, "public"),
        ("beta", None, "internal"),
        ("gamma", None, "private"),
        ("alpha/one", Some("alpha"), "public"),
        ("alpha/one/deep", Some("alpha/one"), "private"),
        ("alpha/two", Some("alpha"), "internal"),
    ] {
        let own = path.rsplit('/').next().unwrap();
        let mut body = json!({"name": own.to_uppercase(), "path": own, "visibility": visibility});
        if let Some(p) = parent {
            body["parent_id"] = json!(ids[p]);
        }
        let g = alice_api.create_group_with(body).await;
        ids.insert(path, g.id);
    }
    let bob_id = s.user_id("bob").await;
    alice_api.add_group_member(ids["gamma"], bob_id, 20).await;

    // A user sees the groups they belong to (and, with all_available, every one they may);
    // an admin every group; an anonymous caller the public ones.
    let mut all = paths(&s.get("/groups?per_page=100", &alice).await);
    all.sort();
    assert_eq!(
        all,
        [
            "alpha",
            "alpha/one",
            "alpha/one/deep",
            "alpha/two",
            "beta",
            "gamma"
        ]
    );
    assert_eq!(paths(&s.get("/groups", &bob).await), ["gamma"]);
    let r = s.get("/groups?all_available=true", &bob).await;
    assert_eq!(
        paths(&r),
        ["alpha", "beta", "gamma", "alpha/one", "alpha/two"],
        "by name (ALPHA, BETA, GAMMA, ONE, TWO)"
    );
    assert_eq!(
        s.get("/groups", &admin)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        6
    );
    let r = s.request("GET", "/groups", None, common_body()).await;
    assert_eq!(paths(&r), ["alpha", "alpha/one"]);

    // Filters.
    assert_eq!(
        paths(&s.get("/groups?search=ONE", &alice).await),
        ["alpha/one"]
    );
    assert_eq!(
        paths(&s.get("/groups?search=alp", &alice).await),
        ["alpha"],
        "search matches a group's own path, not its parent's"
    );
    assert_eq!(
        paths(
            &s.get(
                "/groups?top_level_only=true&order_by=path&sort=desc",
                &alice
            )
            .await
        ),
        ["gamma", "beta", "alpha"]
    );
    assert_eq!(
        paths(&s.get("/groups?owned=true", &bob).await),
        Vec::<String>::new()
    );
    assert_eq!(
        paths(&s.get("/groups?min_access_level=20", &bob).await),
        ["gamma"]
    );
    assert_eq!(
        paths(&s.get("/groups?min_access_level=30", &bob).await),
        Vec::<String>::new()
    );
    let r = s
        .get("/groups?all_available=true&visibility=internal", &bob)
        .await;
    assert_eq!(paths(&r), ["beta", "alpha/two"]);
    assert_eq!(
        paths(
            &s.get("/groups?order_by=id&top_level_only=true", &alice)
                .await
        ),
        ["alpha", "beta", "gamma"]
    );
    for (query, error) in [
        ("order_by=stars", "order_by does not have a valid value"),
        ("sort=up", "sort does not have a valid value"),
        (
            "min_access_level=35",
            "min_access_level does not have a valid value",
        ),
        (
            "visibility=secret",
            "visibility does not have a valid value",
        ),
    ] {
        let r = s.get(&format!("/groups?{query}"), &alice).await;
        check(query, &r, 400, Some(json!({ "error": error })));
    }

    // Offset pagination with GitLab's headers; the links keep the filters.
    let r = s
        .get("/groups?per_page=2&page=2&all_available=true", &bob)
        .await;
    assert_eq!(paths(&r), ["gamma", "alpha/one"]);
    assert_eq!(r.header("x-total"), "5");
    assert_eq!(r.header("x-total-pages"), "3");
    assert_eq!(r.header("x-next-page"), "3");
    assert_eq!(r.header("x-prev-page"), "1");
    assert!(
        r.header("link").contains("all_available=true"),
        "{}",
        r.header("link")
    );

    // Subgroups are the direct children, descendants every level below; both the caller may see.
    let alpha = ids["alpha"];
    let r = s.get(&format!("/groups/{alpha}/subgroups"), &alice).await;
    assert_eq!(paths(&r), ["alpha/one", "alpha/two"]);
    let r = s
        .get(&format!("/groups/{alpha}/descendant_groups"), &alice)
        .await;
    assert_eq!(paths(&r), ["alpha/one/deep", "alpha/one", "alpha/two"]);
    let r = s.get("/groups/alpha%2Fone/descendant_groups", &bob).await;
    assert_eq!(paths(&r), Vec::<String>::new(), "the private one is hidden");
    let r = s
        .request(
            "GET",
            &format!("/groups/{alpha}/subgroups"),
            None,
            common_body(),
        )
        .await;
    assert_eq!(paths(&r), ["alpha/one"], "anonymous: public only");
    let r = s
        .get(
            &format!("/groups/{alpha}/subgroups?search=two&per_page=1"),
            &alice,
        )
        .await;
    assert_eq!(paths(&r), ["alpha/two"]);
    assert_eq!(r.header("x-total"), "1");
    check(
        "subgroups of a hidden group",
        &s.get(
            &format!("/groups/{}/subgroups", ids["alpha/one/deep"]),
            &bob,
        )
        .await,
        404,
        None,
    );

    // A group's projects, with its subgroups' when asked; GET /groups/:id lists its own.
    for (name, ns, visibility) in [
        ("top-tool", "alpha", "public"),
        ("one-tool", "alpha/one", "public"),
        ("deep-tool", "alpha/one/deep", "private"),
        ("old-tool", "alpha", "private"),
    ] {
        let r = s
            .post_json(
                "/projects",
                &alice,
                json!({"name": name, "namespace_id": ids[ns], "visibility": visibility}),
            )
            .await;
        check(name, &r, 201, None);
    }
    let r = s
        .post_json("/projects/alpha%2Fold-tool/archive", &alice, json!({}))
        .await;
    check("archive", &r, 201, None);
    let names = |r: &Resp| -> Vec<String> {
        let mut v: Vec<String> = r
            .body
            .as_array()
            .unwrap_or_else(|| panic!("{}", r.text))
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let r = s.get(&format!("/groups/{alpha}/projects"), &alice).await;
    assert_eq!(names(&r), ["old-tool", "top-tool"]);
    let r = s
        .get(
            &format!("/groups/{alpha}/projects?include_subgroups=true"),
            &alice,
        )
        .await;
    assert_eq!(names(&r), ["deep-tool", "old-tool", "one-tool", "top-tool"]);
    let r = s
        .get(
            &format!("/groups/{alpha}/projects?include_subgroups=true"),
            &bob,
        )
        .await;
    assert_eq!(names(&r), ["one-tool", "top-tool"], "only what bob may see");
    let r = s
        .get(
            &format!("/groups/{alpha}/projects?include_subgroups=true&search=tool&archived=false&per_page=2"),
            &alice,
        )
        .await;
    assert_eq!(r.header("x-total"), "3");
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    let r = s
        .get(
            &format!("/groups/{alpha}/projects?archived=true&simple=true"),
            &alice,
        )
        .await;
    assert_eq!(names(&r), ["old-tool"]);
    assert!(r.body[0].get("permissions").is_none(), "the simple entity");
    let r = s.get(&format!("/groups/{alpha}"), &bob).await;
    assert_eq!(names(&json_resp(&r.body["projects"])), ["top-tool"]);
    let r = s
        .request("GET", &format!("/groups/{alpha}"), None, common_body())
        .await;
    check("anonymous, public", &r, 200, None);
    assert_eq!(names(&json_resp(&r.body["projects"])), ["top-tool"]);
    let r = s
        .request(
            "GET",
            &format!("/groups/{alpha}/projects?include_subgroups=true"),
            None,
            common_body(),
        )
        .await;
    assert_eq!(
        names(&r),
        ["one-tool", "top-tool"],
        "anonymous: public projects"
    );
    let r = s
        .get(&format!("/groups/{alpha}?with_projects=false"), &bob)
        .await;
    assert!(r.body.get("projects").is_none(), "{}", r.text);
}

/// A JSON value as a [`Resp`] body, for the list helpers.
fn json_resp(v: &Value) -> Resp {
    Resp {
        status: 200,
        headers: Default::default(),
        body: v.clone(),
        text: v.to_string(),
    }
}

async fn rename_visibility_and_delete(s: &TestServer) {
    let alice = s.token("alice", false).await;
    let bob = s.token("bob", false).await;
    let bob_id = s.user_id("bob").await;
    let api = s.api(&alice);
    let org = api.create_group("org", None).await;
    let team = api.create_group("team", Some(org.id)).await;
    let sub = api.create_group("sub", Some(team.id)).await;
    let p = api
        .create_project_with(json!({"name": "app", "namespace_id": sub.id}))
        .await;
    assert_eq!(p.path_with_namespace, "org/team/sub/app");
    api.add_group_member(org.id, bob_id, 40).await;

    // Only Owners change a group.
    let r = s
        .put_json(
            &format!("/groups/{}", team.id),
            &bob,
            json!({"path": "crew"}),
        )
        .await;
    check("maintainer", &r, 403, None);
    let r = s
        .put_json(
            &format!("/groups/{}", team.id),
            &alice,
            json!({"path": "crew", "name": "Crew", "description": "renamed"}),
        )
        .await;
    check("rename", &r, 200, None);
    assert_eq!(r.body["full_path"], "org/crew");
    assert_eq!(r.body["full_name"], "org / Crew");
    assert_eq!(r.body["description"], "renamed");
    // Every full path below follows: subgroups, projects, their URLs and git paths.
    let r = s.get(&format!("/groups/{}", sub.id), &alice).await;
    assert_eq!(r.body["full_path"], "org/crew/sub");
    assert_eq!(r.body["full_name"], "org / Crew / sub");
    let r = s.get(&format!("/projects/{}", p.id), &alice).await;
    assert_eq!(r.body["path_with_namespace"], "org/crew/sub/app");
    assert_eq!(r.body["name_with_namespace"], "org / Crew / sub / app");
    assert_eq!(
        r.body["http_url_to_repo"],
        format!("{}/org/crew/sub/app.git", s.base)
    );
    check(
        "new path",
        &s.get("/projects/org%2Fcrew%2Fsub%2Fapp", &alice).await,
        200,
        None,
    );
    check(
        "old path",
        &s.get("/projects/org%2Fteam%2Fsub%2Fapp", &alice).await,
        404,
        Some(json!({"message": "404 Project Not Found"})),
    );
    check(
        "old group path",
        &s.get("/groups/org%2Fteam", &alice).await,
        404,
        None,
    );

    // Validation failures are GitLab's `{"message": {field: [...]}}`.
    let other = api.create_group("other", Some(org.id)).await;
    for (body, field, message) in [
        (json!({"path": "crew"}), "path", "has already been taken"),
        (json!({"name": "Crew"}), "name", "has already been taken"),
        (
            json!({"path": "-x"}),
            "path",
            "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-' or end in '.', '.git' or '.atom'.",
        ),
        (
            json!({"visibility": "public"}),
            "visibility_level",
            "public is not allowed since the parent group has a private visibility.",
        ),
    ] {
        let r = s
            .put_json(&format!("/groups/{}", other.id), &alice, body.clone())
            .await;
        check(&body.to_string(), &r, 400, Some(json!({"message": {field: [message]}})));
    }
    // A group cannot become more closed than what lies below it.
    let r = s
        .put_json(
            &format!("/groups/{}", org.id),
            &alice,
            json!({"visibility": "public"}),
        )
        .await;
    check("open up", &r, 200, None);
    let pub_project = api
        .create_project_with(
            json!({"name": "open", "namespace_id": org.id, "visibility": "public"}),
        )
        .await;
    let r = s
        .put_json(
            &format!("/groups/{}", org.id),
            &alice,
            json!({"visibility": "internal"}),
        )
        .await;
    check(
        "close over a public project",
        &r,
        400,
        Some(json!({"message": {"visibility_level": [
            "internal is not allowed since this group contains projects with higher visibility."
        ]}})),
    );
    let r = s
        .put_json(
            &format!("/groups/{}", other.id),
            &alice,
            json!({"visibility": "internal"}),
        )
        .await;
    check("other internal", &r, 200, None);
    let r = s
        .put_json(
            &format!("/projects/{}", pub_project.id),
            &alice,
            json!({"visibility": "private"}),
        )
        .await;
    check("project private", &r, 200, None);
    let r = s
        .put_json(
            &format!("/groups/{}", org.id),
            &alice,
            json!({"visibility": "private"}),
        )
        .await;
    check(
        "close over an internal subgroup",
        &r,
        400,
        Some(json!({"message": {"visibility_level": [
            "private is not allowed since there are sub-groups with higher visibility."
        ]}})),
    );

    // Deleting: Owners only; everything below goes, repositories included.
    let repo = s.repo_path(p.id);
    assert!(repo.is_dir());
    let r = s.delete(&format!("/groups/{}", team.id), &bob).await;
    check("maintainer deletes", &r, 403, None);
    let r = s.delete(&format!("/groups/{}", team.id), &alice).await;
    check("delete", &r, 202, Some(json!({"message": "202 Accepted"})));
    check(
        "gone",
        &s.get(&format!("/groups/{}", team.id), &alice).await,
        404,
        None,
    );
    check(
        "sub gone",
        &s.get(&format!("/groups/{}", sub.id), &alice).await,
        404,
        None,
    );
    check(
        "project gone",
        &s.get(&format!("/projects/{}", p.id), &alice).await,
        404,
        None,
    );
    assert!(!repo.exists(), "the repository went with it");
    check(
        "org stays",
        &s.get(&format!("/groups/{}", org.id), &alice).await,
        200,
        None,
    );
    let r = s
        .get(&format!("/groups/{}/descendant_groups", org.id), &alice)
        .await;
    assert_eq!(paths(&r), ["org/other"]);
}

async fn nesting_stops_at_twenty_ancestors(s: &TestServer) {
    let alice = s.token("alice", false).await;
    let api = s.api(&alice);
    let mut parent = api.create_group("g0", None).await;
    for level in 1..=20 {
        parent = api
            .create_group(&format!("g{level}"), Some(parent.id))
            .await;
    }
    assert_eq!(parent.full_path.matches('/').count(), 20);
    let r = s
        .post_json(
            "/groups",
            &alice,
            json!({"name": "g21", "path": "g21", "parent_id": parent.id}),
        )
        .await;
    check(
        "21 ancestors",
        &r,
        400,
        Some(
            json!({"message": "Failed to save group {:parent_id=>[\"has too deep level of nesting\"]}"}),
        ),
    );
    // The deepest group still holds projects.
    let p = api
        .create_project_with(json!({"name": "bottom", "namespace_id": parent.id}))
        .await;
    assert_eq!(
        p.path_with_namespace,
        format!("{}/bottom", parent.full_path)
    );
}

#[tokio::test]
async fn groups_are_created_read_and_refused_sqlite() {
    create_read_and_refuse(&TestServer::builder().start().await).await;
}

#[tokio::test]
async fn groups_are_created_read_and_refused_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    create_read_and_refuse(&s).await;
}

#[tokio::test]
async fn group_lists_filter_and_paginate_sqlite() {
    lists_filters_and_pagination(&TestServer::builder().start().await).await;
}

#[tokio::test]
async fn group_lists_filter_and_paginate_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    lists_filters_and_pagination(&s).await;
}

#[tokio::test]
async fn groups_are_renamed_guarded_and_deleted_sqlite() {
    rename_visibility_and_delete(&TestServer::builder().start().await).await;
}

#[tokio::test]
async fn groups_are_renamed_guarded_and_deleted_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    rename_visibility_and_delete(&s).await;
}

#[tokio::test]
async fn groups_nest_twenty_levels_below_the_top_sqlite() {
    nesting_stops_at_twenty_ancestors(&TestServer::builder().start().await).await;
}

#[tokio::test]
async fn groups_nest_twenty_levels_below_the_top_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    nesting_stops_at_twenty_ancestors(&s).await;
}
