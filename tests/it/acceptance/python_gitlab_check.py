"""Acceptance check: drive pushmirror with python-gitlab 8.x, the most used GitLab client.

Run by tests/it/acceptance.rs against a real server. Environment:
  GITLAB_URL      base URL of the server
  ADMIN_TOKEN     token of an admin user
  DEV_TOKEN       token of a second user, who is made a Developer
  DEV_USERNAME    that user's username
  SECRET          a password that must never come back in any response
  LOOPBACK_REMOTE a loopback git URL (the server runs with --allow-local-network)
Exits non-zero with a message on the first failed expectation; prints "N passed, 0 failed".
"""

import os
import sys

import gitlab
import gitlab.exceptions as gle

checks = 0


def expect(cond, what):
    global checks
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def expect_error(fn, code, fragment, what):
    try:
        fn()
    except gle.GitlabError as e:  # python-gitlab maps non-2xx to GitlabError subclasses
        expect(e.response_code == code, f"{what}: status {e.response_code} != {code}")
        expect(fragment in str(e.error_message), f"{what}: {e.error_message!r} lacks {fragment!r}")
        return e
    expect(False, f"{what}: no error raised")


url = os.environ["GITLAB_URL"]
secret = os.environ["SECRET"]
gl = gitlab.Gitlab(url, private_token=os.environ["ADMIN_TOKEN"])
gl.auth()
expect(gl.user.username == "root", "gl.auth() returns the token's user")
version, _revision = gl.version()
expect(version.startswith("18."), "gl.version() answers a GitLab 18 version")

project = gl.projects.create({"name": "Acceptance", "description": "python-gitlab"})
expect(project.path == "acceptance", "project path derived from name")
expect(project.path_with_namespace == "root/acceptance", "path_with_namespace")
expect(project.http_url_to_repo == f"{url}/root/acceptance.git", "http_url_to_repo uses the external URL")
same = gl.projects.get("root/acceptance")
expect(same.id == project.id, "get by path")

dev = gl.users.list(username=os.environ["DEV_USERNAME"])[0]
member = project.members.create({"user_id": dev.id, "access_level": 30})
expect(member.access_level == 30, "member added as Developer")
expect_error(
    lambda: project.members.create({"user_id": dev.id, "access_level": 30}),
    409, "Member already exists", "duplicate member")

pb = project.protectedbranches.create({"name": "release-*"})
expect(pb.name == "release-*", "wildcard protected branch")
expect(project.protectedbranches.get("release-*").name == "release-*", "get wildcard branch")
expect_error(lambda: project.protectedbranches.create({"name": "release-*"}),
             409, "already exists", "duplicate protected branch")

# A mirror with credentials: created disabled, so nothing is ever pushed to this address.
masked = project.remote_mirrors.create(
    {"url": f"https://mirror-user:{secret}@203.0.113.10/root/mirror.git"})
expect(masked.url == "https://*****:*****@203.0.113.10/root/mirror.git", "credentials masked")
expect(masked.enabled is False, "enabled defaults to false")
expect(masked.update_status == "none", "new mirror has status none")
expect(masked.only_protected_branches is False and masked.keep_divergent_refs is False, "defaults")

plain = project.remote_mirrors.create({"url": "https://203.0.113.10/root/plain.git"})
expect(plain.url == "https://203.0.113.10/root/plain.git", "URL without credentials comes back unchanged")

live = project.remote_mirrors.create(
    {"url": os.environ["LOOPBACK_REMOTE"], "enabled": True, "only_protected_branches": True})
expect(live.enabled is True and live.only_protected_branches is True, "create with options")

mirrors = project.remote_mirrors.list(get_all=True)
expect(sorted(m.id for m in mirrors) == sorted([masked.id, plain.id, live.id]), "list returns all mirrors")
page = project.remote_mirrors.list(per_page=1, page=2)
expect(len(page) == 1 and page[0].id == plain.id, "pagination")

masked.keep_divergent_refs = True
masked.save()
expect(masked.keep_divergent_refs is True, "update via save()")
expect(masked.url.startswith("https://*****:*****@"), "still masked after update")

live.sync()
expect_error(lambda: masked.sync(), 400, "Cannot proceed with the push mirroring", "sync of a disabled mirror")

expect_error(lambda: project.remote_mirrors.create({"url": "ftp://203.0.113.10/x.git"}),
             400, "Only allowed schemes are http, https, ssh, git", "blocked scheme")
expect_error(lambda: project.remote_mirrors.create({"url": "https://203.0.113.10/x.git", "auth_method": "magic"}),
             400, "auth_method does not have a valid value", "invalid auth_method")
expect_error(lambda: project.remote_mirrors.create({"url": "https://203.0.113.10/x.git", "only_protected_branches": True, "mirror_branch_regex": "^r"}),
             400, "mutually exclusive", "exclusive filters")

dev_gl = gitlab.Gitlab(url, private_token=os.environ["DEV_TOKEN"])
dev_project = dev_gl.projects.get(project.id, lazy=True)
expect_error(lambda: dev_project.remote_mirrors.list(), 401, "401 Unauthorized", "Developer may not list mirrors")
expect_error(lambda: dev_project.remote_mirrors.create({"url": "https://203.0.113.10/x.git"}),
             401, "401 Unauthorized", "Developer may not create mirrors")

for m in (masked, plain, live):
    m.delete()
expect(project.remote_mirrors.list(get_all=True) == [], "all mirrors deleted")

for obj in (masked, plain, live, project, pb, member):
    expect(secret not in str(obj.attributes), "no response carried the secret")

project.delete()
expect_error(lambda: gl.projects.get(project.id), 404, "404 Project Not Found", "deleted project is gone")

# Groups, a subgroup, projects in them and group members, as a set-up script makes them.
org = gl.groups.create({"name": "PG Org", "path": "pg-org", "description": "python-gitlab"})
expect((org.full_path, org.parent_id, org.visibility) == ("pg-org", None, "private"), "groups.create")
team = gl.groups.create({"name": "Team", "path": "team", "parent_id": org.id, "visibility": "private"})
expect(team.full_path == "pg-org/team" and team.full_name == "PG Org / Team", "subgroup full path and name")
expect(gl.groups.get("pg-org/team").id == team.id, "groups.get by full path")
expect([g.id for g in org.subgroups.list(get_all=True)] == [team.id], "group.subgroups.list")
expect([g.id for g in org.descendant_groups.list(get_all=True)] == [team.id], "group.descendant_groups.list")
expect([g.id for g in gl.groups.list(search="PG Org", get_all=True)] == [org.id], "groups.list(search=)")
expect_error(lambda: gl.groups.create({"name": "Team", "path": "team", "parent_id": org.id}),
             400, "has already been taken", "duplicate subgroup path")

app = gl.projects.create({"name": "App", "namespace_id": team.id})
expect(app.path_with_namespace == "pg-org/team/app", "project in a subgroup")
expect(app.http_url_to_repo == f"{url}/pg-org/team/app.git", "git URL at depth")
tool = gl.projects.create({"name": "Tool", "namespace_id": org.id})
expect(gl.projects.get("pg-org/team/app").id == app.id, "projects.get by full path at depth")
listed = org.projects.list(include_subgroups=True, order_by="path", sort="asc", get_all=True)
expect([p.path_with_namespace for p in listed] == ["pg-org/team/app", "pg-org/tool"], "group.projects.list")
expect([p.id for p in gl.projects.list(search="Tool", get_all=True)] == [tool.id], "projects.list(search=)")

gm = org.members.create({"user_id": dev.id, "access_level": 30, "expires_at": "2999-12-31"})
expect((gm.access_level, gm.expires_at) == (30, "2999-12-31"), "group member with expires_at")
expect_error(lambda: org.members.create({"user_id": dev.id, "access_level": 30}),
             409, "Member already exists", "duplicate group member")
gm.access_level = 40
gm.save()
expect(org.members.get(dev.id).access_level == 40, "group member changed with save()")
expect(sorted(m.username for m in org.members.list(get_all=True)) == sorted(["root", dev.username]),
       "group members")
inherited = {m.username: m.access_level for m in team.members_all.list(get_all=True)}
expect(inherited == {"root": 50, dev.username: 40}, "subgroup members_all inherits the group's")
on_app = {m.username: m.access_level for m in app.members_all.list(get_all=True)}
expect(on_app == {"root": 50, dev.username: 40}, "project members_all inherits both groups'")
expect(app.members.list(get_all=True) == [], "the project has no direct members")
dev_app = dev_gl.projects.get("pg-org/team/app")
expect(dev_app.id == app.id, "a group member reads a project of its subgroup")

namespaces = {n.full_path: (n.kind, n.parent_id) for n in gl.namespaces.list(search="team", get_all=True)}
expect(namespaces.get("pg-org/team") == ("group", org.id), "namespaces.list(search=) finds the subgroup")
expect(gl.namespaces.get("pg-org/team").id == team.id, "namespaces.get by full path")

tool.transfer(team.id)
expect(gl.projects.get(tool.id).path_with_namespace == "pg-org/team/tool", "project.transfer")
team.description = "the team"
team.save()
expect(gl.groups.get(team.id).description == "the team", "group.save()")

org.delete()
expect_error(lambda: gl.groups.get("pg-org/team"), 404, "404 Group Not Found", "deleted group's subgroup is gone")
expect_error(lambda: gl.projects.get(app.id), 404, "404 Project Not Found", "deleted group's project is gone")

print(f"{checks} passed, 0 failed")
