//! Protected branches in GitLab EE's shapes, as gitlabform and python-gitlab send them:
//! `allowed_to_push`/`allowed_to_merge`/`allowed_to_unprotect` lists of roles and users, `PATCH`
//! adding and removing (`_destroy`) entries, and push enforcement of a user entry with the real
//! git CLI.

use crate::common::{TestServer, Work};
use pushmirror::model::access::AccessLevel;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ee_access_lists_are_stored_changed_and_enforced() {
    let s = TestServer::builder().start().await;
    let owner = s.token("owner", false).await;
    let p = s.api(&owner).create_project("ee").await;
    let id = p.id;
    let dev = s.token("dev", false).await;
    let dev_id = s.user_id("dev").await;
    let other = s.token("other", false).await;
    let other_id = s.user_id("other").await;
    let maint = s.token("maint", false).await;
    let maint_id = s.user_id("maint").await;
    for (uid, level) in [
        (dev_id, AccessLevel::Developer),
        (other_id, AccessLevel::Developer),
        (maint_id, AccessLevel::Maintainer),
    ] {
        s.state.store.add_member(id, uid, level, 1).await.unwrap();
    }
    let base = format!("/projects/{id}/protected_branches");

    let r = s
        .post_json(
            &base,
            &owner,
            json!({
                "name": "main",
                "allowed_to_push": [{"access_level": 0}, {"user_id": dev_id}],
                "allowed_to_merge": [{"access_level": 40}],
                "allowed_to_unprotect": [{"access_level": 60}],
                "code_owner_approval_required": true,
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let push = r.body["push_access_levels"].as_array().unwrap().clone();
    assert_eq!(push.len(), 2);
    assert_eq!(push[0]["access_level"], 0);
    assert_eq!(push[0]["access_level_description"], "No one");
    assert_eq!(push[1]["user_id"], dev_id);
    assert_eq!(r.body["merge_access_levels"][0]["access_level"], 40);
    assert_eq!(r.body["unprotect_access_levels"][0]["access_level"], 60);
    assert_eq!(r.body["code_owner_approval_required"], true);
    let user_entry = push[1]["id"].as_i64().unwrap();

    // Refusals: unknown users, groups, bad levels.
    for (body, what) in [
        (
            json!({"name": "a", "allowed_to_push": [{"user_id": 99_999}]}),
            "not a member",
        ),
        (
            json!({"name": "b", "allowed_to_push": [{"group_id": 1}]}),
            "not supported",
        ),
        (
            json!({"name": "c", "allowed_to_push": [{"access_level": 35}]}),
            "not included",
        ),
        (json!({"name": "d", "allowed_to_push": [{}]}), "must name"),
    ] {
        let r = s.post_json(&base, &owner, body).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert!(r.text.contains(what), "{what}: {}", r.text);
    }
    // GitLab's shape: a list of full messages, the list's name first.
    let r = s
        .post_json(
            &base,
            &owner,
            json!({"name": "a", "allowed_to_push": [{"user_id": 99_999}]}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"message": ["Push access levels user is not a member of the project"]})
    );
    let r = s
        .post_json(&base, &owner, json!({"name": "e", "allowed_to_push": "x"}))
        .await;
    assert_eq!(
        (r.status, r.body["error"].clone()),
        (400, json!("allowed_to_push is invalid"))
    );

    // The user entry lets exactly that Developer push; another Developer is refused.
    let work = Work::new();
    work.commit("a");
    work.push(&s.push_url(&dev, "owner/ee"), &["HEAD:main"]);
    work.commit("b");
    let stderr = work
        .try_push(&s.push_url(&other, "owner/ee"), &["HEAD:main"])
        .expect_err("another Developer is refused");
    assert!(
        stderr.contains("not allowed to push code to protected branches"),
        "{stderr}"
    );

    // PATCH: remove the user entry, add Developers, allow force push.
    let r = s
        .request(
            "PATCH",
            &format!("{base}/main"),
            Some(&owner),
            crate::common::Body::Json(json!({
                "allow_force_push": true,
                "allowed_to_push": [{"id": user_entry, "_destroy": true}, {"access_level": 30}],
            })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["allow_force_push"], true);
    let levels: Vec<i64> = r.body["push_access_levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["access_level"].as_i64().unwrap())
        .collect();
    assert_eq!(levels, [0, 30]);
    work.push(&s.push_url(&other, "owner/ee"), &["HEAD:main"]);
    let r = s
        .request(
            "PATCH",
            &format!("{base}/main"),
            Some(&owner),
            crate::common::Body::Json(
                json!({"allowed_to_push": [{"id": 999_999, "_destroy": true}]}),
            ),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"message": ["Push access levels entry not found"]})
    );
    let r = s
        .request(
            "PATCH",
            &format!("{base}/nope"),
            Some(&owner),
            crate::common::Body::Json(json!({})),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = s
        .request(
            "PATCH",
            &format!("{base}/main"),
            Some(&dev),
            crate::common::Body::Json(json!({})),
        )
        .await;
    assert_eq!(r.status, 403);

    // Unprotecting needs who the unprotect list names (admins only here), not just a Maintainer.
    let r = s.delete(&format!("{base}/main"), &maint).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let admin = s.token("root", true).await;
    let r = s.delete(&format!("{base}/main"), &admin).await;
    assert_eq!(r.status, 204, "{}", r.text);
}

/// @gitbeaker sends a new rule's lists in the query string (`allowed_to_push[][user_id]=…`), and
/// forms may send them so too: Rack nests those names into lists of objects. A user entry reads
/// as GitLab's: level 40 (the column's default) and the user's name as its description.
async fn rack_nested_access_lists(s: &TestServer) {
    let owner = s.token("owner", false).await;
    let p = s.api(&owner).create_project("rack").await;
    let id = p.id;
    let mut users = Vec::new();
    for name in ["dev", "ops"] {
        s.token(name, false).await;
        let uid = s.user_id(name).await;
        s.state
            .store
            .add_member(id, uid, AccessLevel::Developer, 1)
            .await
            .unwrap();
        let name = s.get(&format!("/users/{uid}"), &owner).await.body["name"].clone();
        users.push((uid, name));
    }
    let [(dev, dev_name), (ops, ops_name)] = [users[0].clone(), users[1].clone()];
    let base = format!("/projects/{id}/protected_branches");

    // The query string exactly as gitbeaker's `qs.stringify(…, {arrayFormat: "brackets"})` writes it.
    let query = format!(
        "name=main&allowed_to_push%5B%5D%5Buser_id%5D={dev}&allowed_to_push%5B%5D%5Buser_id%5D={ops}\
         &allowed_to_merge%5B%5D%5Baccess_level%5D=40&allowed_to_merge%5B%5D%5Baccess_level%5D=30\
         &allow_force_push=true"
    );
    let r = s
        .request(
            "POST",
            &format!("{base}?{query}"),
            Some(&owner),
            crate::common::Body::None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let entries = |key: &str| -> Vec<serde_json::Value> {
        r.body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                json!([
                    e["access_level"],
                    e["user_id"],
                    e["access_level_description"]
                ])
            })
            .collect()
    };
    assert_eq!(
        entries("push_access_levels"),
        [json!([40, dev, dev_name]), json!([40, ops, ops_name])]
    );
    assert_eq!(
        entries("merge_access_levels"),
        [
            json!([40, null, "Maintainers"]),
            json!([30, null, "Developers + Maintainers"])
        ]
    );
    assert_eq!(r.body["allow_force_push"], true);
    // The same entries read back.
    let again = s.get(&format!("{base}/main"), &owner).await;
    assert_eq!(again.body, r.body);

    // A form body nests the same way.
    let r = s
        .post_form(
            &base,
            &owner,
            vec![
                ("name", "release-*".into()),
                ("allowed_to_push[][access_level]", "0".into()),
                ("allowed_to_unprotect[][user_id]", ops.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["push_access_levels"][0]["access_level"], 0);
    assert_eq!(r.body["unprotect_access_levels"][0]["user_id"], ops);
    assert_eq!(r.body["unprotect_access_levels"][0]["access_level"], 40);

    // gitbeaker's `[{accessLevel: 40}, {userId}]` is one entry under Rack's rule, which names
    // a user: the user's entry, as GitLab takes it.
    let r = s
        .request(
            "POST",
            &format!(
                "{base}?name=hotfix&allowed_to_push%5B%5D%5Baccess_level%5D=40\
                 &allowed_to_push%5B%5D%5Buser_id%5D={dev}"
            ),
            Some(&owner),
            crate::common::Body::None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let push = r.body["push_access_levels"].as_array().unwrap();
    assert_eq!(push.len(), 1, "{}", r.text);
    assert_eq!(
        (push[0]["user_id"].clone(), push[0]["access_level"].clone()),
        (json!(dev), json!(40))
    );

    // A list that is not a list of objects is still GitLab's 400.
    let r = s
        .request(
            "POST",
            &format!("{base}?name=x&allowed_to_push%5Baccess_level%5D=40"),
            Some(&owner),
            crate::common::Body::None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].clone()),
        (400, json!("allowed_to_push is invalid"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_lists_in_the_query_string_and_forms_nest_as_rack_does_sqlite() {
    rack_nested_access_lists(&TestServer::builder().start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_lists_in_the_query_string_and_forms_nest_as_rack_does_postgres() {
    let Some(s) = TestServer::builder().postgres().start().await else {
        return;
    };
    rack_nested_access_lists(&s).await;
}
