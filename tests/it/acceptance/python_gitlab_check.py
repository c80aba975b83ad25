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

print(f"{checks} passed, 0 failed")
