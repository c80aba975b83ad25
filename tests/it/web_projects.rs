//! Creating projects and groups in the browser, through a cookie-keeping client
//! (`common::web::WebClient`) against the real server: the navigation's "Projects", "Groups"
//! and "New project"; a group, a subgroup and projects in them and in the person's own
//! namespace made through the forms (checked through the API and on disk); the group pages
//! and the paginated lists; GitLab's messages for refused names, paths and visibilities on
//! the form (nothing saved); namespaces and parents the person may not use refused; and the
//! CSRF check of both forms. The form round trips run on SQLite and PostgreSQL.

use serde_json::Value;

use crate::common::web::{create_user, Page, WebClient, PASSWORD};
use crate::common::TestServer;

/// An admin token for setup and checks, and `alice` (no admin) signed in.
struct Setup {
    server: TestServer,
    admin: String,
    web: WebClient,
}

impl Setup {
    async fn on(server: TestServer) -> Setup {
        let admin = server.token("root", true).await;
        create_user(&server, &admin, "alice", false).await;
        let web = WebClient::signed_in(&server.base, "alice", PASSWORD).await;
        Setup { server, admin, web }
    }

    /// A page that must be served.
    async fn page(&self, path: &str) -> Page {
        let page = self.web.get(path).await;
        assert_eq!(page.status, 200, "GET {path}: {page:?}");
        page
    }

    /// Posts a form (with the last page's token) that must be accepted: the page it leads to.
    async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let r = self.web.post(path, fields).await;
        assert_eq!(r.status, 303, "POST {path}: {}", r.html);
        let to = r.location().to_owned();
        let page = self.web.get(&to).await;
        assert_eq!(page.status, 200, "GET {to}: {page:?}");
        page
    }

    /// Posts a form that must come back refused, on the form: its page.
    async fn refused(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let r = self.web.post(path, fields).await;
        assert_eq!(
            r.status, 200,
            "POST {path} should show the form again: {r:?}"
        );
        assert!(
            r.html.contains("The form contains the following"),
            "{}",
            r.html
        );
        r
    }

    async fn api(&self, path: &str) -> (u16, Value) {
        let r = self.server.get(path, &self.admin).await;
        (r.status, r.body)
    }

    async fn project_count(&self) -> usize {
        let (status, list) = self.api("/projects?per_page=100").await;
        assert_eq!(status, 200);
        list.as_array().unwrap().len()
    }

    async fn group_count(&self) -> usize {
        let (status, list) = self.api("/groups?per_page=100").await;
        assert_eq!(status, 200);
        list.as_array().unwrap().len()
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The `<option>` of namespace `id` in the form (its whole tag and text).
fn namespace_option(html: &str, id: i64) -> Option<&str> {
    let at = html.find(&format!("<option value=\"{id}\""))?;
    let end = at + html[at..].find("</option>")?;
    Some(&html[at..end])
}

/// A group, a subgroup and a project in it, and a personal project, through the forms.
async fn creating_through_the_forms(s: Setup) {
    let home = s.page("/").await;
    for link in [
        "href=\"/dashboard/projects\"",
        "href=\"/dashboard/groups\"",
        "href=\"/projects/new\"",
    ] {
        assert!(home.html.contains(link), "the navigation lacks {link}");
    }
    let groups = s.page("/dashboard/groups").await;
    assert!(groups.html.contains("href=\"/groups/new\""), "New group");

    // A group: the path made from the name, private by default.
    let form = s.page("/groups/new").await;
    for text in [
        "Create group",
        "Group name",
        "Group URL",
        "Visibility level",
    ] {
        assert!(form.html.contains(text), "{text} missing");
    }
    let page = s
        .submit(
            "/groups",
            &[
                ("name", "Acme Corp"),
                ("path", ""),
                ("visibility", "internal"),
            ],
        )
        .await;
    assert!(
        page.html
            .contains("Group &#39;Acme Corp&#39; was successfully created.")
            || page
                .html
                .contains("Group 'Acme Corp' was successfully created."),
        "{}",
        page.html
    );
    let (status, acme) = s.api("/groups/acme-corp").await;
    assert_eq!(status, 200, "{acme}");
    assert_eq!(acme["visibility"], "internal");
    assert_eq!(acme["name"], "Acme Corp");
    let acme_id = acme["id"].as_i64().unwrap();
    let (_, members) = s.api(&format!("/groups/{acme_id}/members")).await;
    assert_eq!(members[0]["username"], "alice", "the creator is its Owner");
    assert_eq!(members[0]["access_level"], 50);
    // Its page offers a subgroup and a project.
    assert!(
        page.html
            .contains(&format!("href=\"/groups/new?parent_id={acme_id}\"")),
        "New subgroup missing: {}",
        page.html
    );
    assert!(page
        .html
        .contains(&format!("href=\"/projects/new?namespace_id={acme_id}\"")));
    assert!(page.html.contains("No subgroups.") && page.html.contains("No projects."));

    // A subgroup through the group page's button.
    let form = s.page(&format!("/groups/new?parent_id={acme_id}")).await;
    assert!(form.html.contains("Create subgroup"), "{}", form.html);
    assert!(form.html.contains(&format!("{}/acme-corp/", s.server.base)));
    let id = acme_id.to_string();
    let page = s
        .submit(
            "/groups",
            &[
                ("name", "Team"),
                ("path", "team"),
                ("parent_id", &id),
                ("visibility", "private"),
            ],
        )
        .await;
    assert!(
        page.html.contains("was successfully created."),
        "{}",
        page.html
    );
    let (status, team) = s
        .api(&format!("/groups/{}", encode("acme-corp/team")))
        .await;
    assert_eq!(status, 200, "{team}");
    assert_eq!(team["parent_id"], acme_id);
    let team_id = team["id"].as_i64().unwrap();
    let parent_page = s.page("/groups/acme-corp").await;
    assert!(
        parent_page.html.contains("data-group=\"acme-corp/team\""),
        "the subgroup is listed on its parent's page"
    );
    // A group's page answers to any spelling of its path, at its own.
    let r = s.web.get("/groups/ACME-corp/Team").await;
    assert_eq!((r.status, r.location()), (303, "/groups/acme-corp/team"));

    // A project in the subgroup: the group's button preselects it; the slug comes from the name.
    let form = s
        .page(&format!("/projects/new?namespace_id={team_id}"))
        .await;
    for text in [
        "Create blank project",
        "Project name",
        "Project URL",
        "Project slug",
        "Visibility level",
    ] {
        assert!(form.html.contains(text), "{text} missing");
    }
    let option = namespace_option(&form.html, team_id).expect("the subgroup is a choice");
    assert!(option.contains("selected"), "{option}");
    let team_ns = team_id.to_string();
    let page = s
        .submit(
            "/projects",
            &[
                ("name", "My App"),
                ("path", ""),
                ("namespace_id", &team_ns),
                ("visibility", "private"),
                ("description", "The app."),
            ],
        )
        .await;
    assert!(
        page.html
            .contains("Project &#39;My App&#39; was successfully created.")
            || page
                .html
                .contains("Project 'My App' was successfully created."),
        "{}",
        page.html
    );
    assert!(page.html.contains("acme-corp/team/my-app"), "{}", page.html);
    let (status, project) = s
        .api(&format!("/projects/{}", encode("acme-corp/team/my-app")))
        .await;
    assert_eq!(status, 200, "{project}");
    assert_eq!(project["name"], "My App");
    assert_eq!(project["visibility"], "private");
    assert_eq!(project["description"], "The app.");
    let project_id = project["id"].as_i64().unwrap();
    assert!(
        s.server.repo_path(project_id).join("HEAD").is_file(),
        "the repository exists"
    );
    let team_page = s.page("/groups/acme-corp/team").await;
    assert!(team_page
        .html
        .contains("data-project=\"acme-corp/team/my-app\""));

    // A personal project: the own namespace is the first choice.
    let form = s.page("/projects/new").await;
    let own = form
        .html
        .find("<option value=\"")
        .map(|at| &form.html[at..at + form.html[at..].find("</option>").unwrap()])
        .unwrap();
    assert!(own.contains("/alice/"), "{own}");
    let own_id = own
        .split("value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let page = s
        .submit(
            "/projects",
            &[
                ("name", "notes"),
                ("path", "my-notes"),
                ("namespace_id", &own_id),
                ("visibility", "public"),
            ],
        )
        .await;
    assert!(page.html.contains("alice/my-notes"), "{}", page.html);
    let (status, notes) = s
        .api(&format!("/projects/{}", encode("alice/my-notes")))
        .await;
    assert_eq!(
        (status, notes["visibility"].as_str()),
        (200, Some("public"))
    );

    // Both are in the list, with links.
    let list = s.page("/dashboard/projects").await;
    assert!(
        list.html.contains("href=\"/acme-corp/team/my-app\""),
        "{}",
        list.html
    );
    assert!(list.html.contains("href=\"/alice/my-notes\""));
    let mine = s
        .page("/dashboard/projects?scope=member&search=notes")
        .await;
    assert!(mine.html.contains("href=\"/alice/my-notes\""));
    assert!(!mine.html.contains("href=\"/acme-corp/team/my-app\""));
    let groups = s.page("/dashboard/groups").await;
    assert!(groups.html.contains("href=\"/groups/acme-corp\""));
    assert!(groups.html.contains("href=\"/groups/acme-corp/team\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_a_subgroup_and_projects_are_created_through_the_forms() {
    let server = TestServer::builder().start().await;
    creating_through_the_forms(Setup::on(server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_a_subgroup_and_projects_are_created_through_the_forms_on_postgres() {
    let Some(server) = TestServer::builder().postgres().start().await else {
        return;
    };
    creating_through_the_forms(Setup::on(server).await).await;
}

/// Refused names, paths and visibilities come back on the form with GitLab's messages and what
/// was typed; nothing is saved.
async fn bad_input_comes_back_on_the_form(s: Setup) {
    let api = s.server.api(&s.admin);
    let _ = s.page("/groups/new").await;
    let r = s
        .refused("/groups", &[("name", "Ops"), ("path", "admin")])
        .await;
    assert!(
        r.html.contains("Path admin is a reserved name"),
        "{}",
        r.html
    );
    assert!(r.html.contains("value=\"Ops\""), "the name typed stays");
    assert!(r.html.contains("aria-invalid=\"true\""));
    let r = s
        .refused("/groups", &[("name", "-bad name"), ("path", "ok-path")])
        .await;
    assert!(
        r.html.contains("Name can contain only letters"),
        "{}",
        r.html
    );
    let r = s
        .refused(
            "/groups",
            &[("name", "Ops"), ("path", "ops"), ("visibility", "secret")],
        )
        .await;
    assert!(
        r.html
            .contains("Visibility level is not included in the list"),
        "{}",
        r.html
    );
    assert_eq!(s.group_count().await, 0, "nothing saved");

    // A taken path; a subgroup more open than its parent.
    let ops = s
        .submit("/groups", &[("name", "Ops"), ("path", "ops")])
        .await;
    assert!(ops.html.contains("was successfully created"));
    let r = s
        .refused("/groups", &[("name", "Ops two"), ("path", "OPS")])
        .await;
    assert!(r.html.contains("Path has already been taken"), "{}", r.html);
    let (_, ops) = s.api("/groups/ops").await;
    let ops_id = ops["id"].as_i64().unwrap().to_string();
    let r = s
        .refused(
            "/groups",
            &[
                ("name", "Open"),
                ("path", "open"),
                ("parent_id", &ops_id),
                ("visibility", "public"),
            ],
        )
        .await;
    assert!(r.html.contains("Visibility level"), "{}", r.html);
    assert!(
        r.html.contains("Create subgroup"),
        "still the subgroup form"
    );
    assert_eq!(s.group_count().await, 1);

    // Projects: a bad name, a bad path, a taken path, more open than the group.
    let _ = s.page("/projects/new").await;
    let r = s
        .refused(
            "/projects",
            &[("name", "bad name!"), ("namespace_id", &ops_id)],
        )
        .await;
    assert!(
        r.html.contains("Name can contain only letters"),
        "{}",
        r.html
    );
    assert!(r.html.contains("value=\"bad name!\""));
    let r = s
        .refused(
            "/projects",
            &[
                ("name", "App"),
                ("path", "-app.git"),
                ("namespace_id", &ops_id),
            ],
        )
        .await;
    assert!(
        r.html.contains("Path can contain only letters"),
        "{}",
        r.html
    );
    api.create_project_with(serde_json::json!({"name": "taken", "namespace_id": ops["id"]}))
        .await;
    let r = s
        .refused(
            "/projects",
            &[
                ("name", "Taken too"),
                ("path", "taken"),
                ("namespace_id", &ops_id),
            ],
        )
        .await;
    assert!(r.html.contains("Path has already been taken"), "{}", r.html);
    let r = s
        .refused(
            "/projects",
            &[
                ("name", "Open"),
                ("namespace_id", &ops_id),
                ("visibility", "public"),
            ],
        )
        .await;
    assert!(r.html.contains("Visibility level"), "{}", r.html);
    // The chosen namespace stays chosen.
    let option = namespace_option(&r.html, ops["id"].as_i64().unwrap()).unwrap();
    assert!(option.contains("selected"), "{option}");
    assert_eq!(s.project_count().await, 1, "only the API's project");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_input_comes_back_on_the_form_with_gitlabs_messages() {
    let server = TestServer::builder().start().await;
    bad_input_comes_back_on_the_form(Setup::on(server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_input_comes_back_on_the_form_with_gitlabs_messages_on_postgres() {
    let Some(server) = TestServer::builder().postgres().start().await else {
        return;
    };
    bad_input_comes_back_on_the_form(Setup::on(server).await).await;
}

/// Namespaces and parents a person may not use: a private group of someone else's is neither a
/// choice nor accepted; a group where they are a Reporter is seen but refused; its subgroup
/// form is the 404 page; hidden group pages are the 404 page (or the sign-in, signed out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_parents_beyond_the_persons_rights_are_refused() {
    let s = Setup::on(TestServer::builder().start().await).await;
    let api = s.server.api(&s.admin);
    let secret = api.create_group("secret", None).await;
    let public = api
        .create_group_with(
            serde_json::json!({"name": "Open", "path": "open", "visibility": "public"}),
        )
        .await;
    let alice = s.server.user_id("alice").await;
    api.add_group_member(public.id, alice, 20).await;

    let form = s.page("/projects/new").await;
    assert!(namespace_option(&form.html, secret.id).is_none());
    assert!(
        namespace_option(&form.html, public.id).is_none(),
        "a Reporter may not create projects there"
    );
    for ns in [secret.id, public.id] {
        let id = ns.to_string();
        let r = s
            .refused("/projects", &[("name", "sneaky"), ("namespace_id", &id)])
            .await;
        assert!(r.html.contains("Namespace is not valid"), "{}", r.html);
    }
    assert_eq!(s.project_count().await, 0);

    // Subgroups: the 404 page for a hidden parent and a refused one, before and on posting.
    for parent in [secret.id, public.id] {
        let r = s.web.get(&format!("/groups/new?parent_id={parent}")).await;
        assert_eq!(r.status, 404, "{r:?}");
        let id = parent.to_string();
        let r = s
            .web
            .post(
                "/groups",
                &[("name", "sub"), ("path", "sub"), ("parent_id", &id)],
            )
            .await;
        assert_eq!(r.status, 404, "{r:?}");
    }
    assert_eq!(s.group_count().await, 2);

    // Group pages: the public one without its buttons for a Reporter, the private one hidden.
    let page = s.page("/groups/open").await;
    assert!(
        !page.html.contains("New subgroup") && !page.html.contains("/projects/new?namespace_id")
    );
    assert_eq!(s.web.get("/groups/secret").await.status, 404);
    assert_eq!(s.web.get("/groups/no-such-group").await.status, 404);
    let anonymous = WebClient::new(&s.server.base);
    let r = anonymous.get("/groups/open").await;
    assert_eq!(r.status, 200, "a public group is shown to anyone");
    let r = anonymous.get("/groups/secret").await;
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with("/users/sign_in"), "{r:?}");
    for path in [
        "/projects/new",
        "/groups/new",
        "/dashboard/projects",
        "/dashboard/groups",
    ] {
        let r = anonymous.get(path).await;
        assert_eq!(r.status, 303, "{path}");
        assert!(r.location().starts_with("/users/sign_in"), "{path}: {r:?}");
    }
}

/// Both forms refuse a post without its CSRF token, or with a wrong one, and save nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_forms_refuse_a_post_without_its_csrf_token() {
    let s = Setup::on(TestServer::builder().start().await).await;
    let form = s.page("/projects/new").await;
    assert!(form.html.contains("action=\"/projects\""));
    let groups = s.page("/groups/new").await;
    assert!(groups.html.contains("action=\"/groups\""));
    for (path, fields) in [
        ("/projects", vec![("name", "app")]),
        ("/groups", vec![("name", "org"), ("path", "org")]),
    ] {
        let r = s.web.post_raw(path, &fields).await;
        assert_eq!(r.status, 422, "POST {path} without a token: {r:?}");
        let mut wrong = vec![("authenticity_token", "0123456789abcdef")];
        wrong.extend(fields.iter().copied());
        let r = s.web.post_raw(path, &wrong).await;
        assert_eq!(r.status, 422, "POST {path} with a wrong token: {r:?}");
    }
    assert_eq!(s.project_count().await, 0);
    assert_eq!(s.group_count().await, 0);
}

/// The projects list pages by 20 and searches; a group's page pages its projects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lists_page_and_search() {
    let s = Setup::on(TestServer::builder().start().await).await;
    let api = s.server.api(&s.admin);
    let org = api
        .create_group_with(
            serde_json::json!({"name": "Org", "path": "org", "visibility": "internal"}),
        )
        .await;
    for i in 0..23 {
        api.create_project_with(serde_json::json!({
            "name": format!("app-{i:02}"), "namespace_id": org.id, "visibility": "internal",
        }))
        .await;
    }
    api.create_project_with(serde_json::json!({"name": "hidden", "visibility": "private"}))
        .await;
    let rows = |p: &Page| p.html.matches("<tr data-project=").count();
    let first = s.page("/dashboard/projects").await;
    assert_eq!(rows(&first), 20);
    assert!(first.html.contains("Page 1 of 2"), "{}", first.html);
    assert!(first.html.contains("href=\"/dashboard/projects?page=2\""));
    let second = s.page("/dashboard/projects?page=2").await;
    assert_eq!(rows(&second), 3);
    assert!(
        !second.html.contains("/root/hidden"),
        "a private project of someone else's"
    );
    let found = s.page("/dashboard/projects?search=app-1").await;
    assert_eq!(rows(&found), 10, "app-10 … app-19");
    let yours = s.page("/dashboard/projects?scope=member").await;
    assert_eq!(rows(&yours), 0);
    assert!(yours
        .html
        .contains("You are not a member of any project yet."));

    let group = s.page("/groups/org").await;
    assert_eq!(rows(&group), 20);
    assert!(
        group
            .html
            .contains("Projects <span class=\"muted\">(23)</span>"),
        "{}",
        group.html
    );
    let group2 = s.page("/groups/org?page=2").await;
    assert_eq!(rows(&group2), 3);
    let garbage = s.page("/dashboard/projects?page=-4").await;
    assert_eq!(rows(&garbage), 20, "a page that is no page is the first");
}
