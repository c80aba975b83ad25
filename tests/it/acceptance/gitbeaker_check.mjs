// Acceptance check: drive pushmirror with @gitbeaker/rest, the JavaScript GitLab client, as a
// set-up script does: a group, a subgroup, projects in them, memberships with expiry, protected
// branches in GitLab EE's shapes, a push mirror, edits and a transfer, everything read back.
//
// Run by tests/it/acceptance.rs against a real server. Environment:
//   GITLAB_URL      base URL of the server
//   ADMIN_TOKEN     token of an admin user
//   DEV_TOKEN       token of a second user, who becomes a member
//   DEV_USERNAME    that user's username
//   OPS_USERNAME    a third user's username, a member that expires
//   SECRET          a password that must never come back in any response
// Exits non-zero with a message on the first failed expectation; prints "N passed, 0 failed".

import { Gitlab } from '@gitbeaker/rest';

let checks = 0;

function expect(cond, what) {
  if (!cond) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
  checks += 1;
}

function equal(actual, wanted, what) {
  const a = JSON.stringify(actual);
  const w = JSON.stringify(wanted);
  expect(a === w, `${what}: ${a} != ${w}`);
}

// Awaits `promise`, which must fail with HTTP `status` and a description containing `fragment`.
async function expectError(promise, status, fragment, what) {
  try {
    await promise;
  } catch (e) {
    const got = e?.cause?.response?.status;
    const description = String(e?.cause?.description ?? e);
    expect(got === status, `${what}: status ${got} != ${status} (${description})`);
    expect(description.includes(fragment), `${what}: ${description} lacks ${JSON.stringify(fragment)}`);
    return;
  }
  expect(false, `${what}: no error raised`);
}

// A day `days` from today (UTC) as GitLab's `YYYY-MM-DD`.
function day(days) {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

const host = process.env.GITLAB_URL;
const secret = process.env.SECRET;
const api = new Gitlab({ host, token: process.env.ADMIN_TOKEN });
const devApi = new Gitlab({ host, token: process.env.DEV_TOKEN });
const seen = [];
const keep = (value) => {
  seen.push(value);
  return value;
};

async function main() {
  const me = await api.Users.showCurrentUser();
  equal(me.username, 'root', 'Users.showCurrentUser');
  const metadata = await api.Metadata.show();
  expect(metadata.version.startsWith('18.') && metadata.enterprise === true, 'Metadata.show: GitLab 18 EE');
  const [dev] = await api.Users.all({ username: process.env.DEV_USERNAME });
  const [ops] = await api.Users.all({ username: process.env.OPS_USERNAME });
  expect(dev && ops, 'Users.all({ username }) finds both users');
  equal((await api.Users.show(dev.id)).username, dev.username, 'Users.show by id');

  // Groups and a subgroup, read back by full path.
  const org = keep(await api.Groups.create('Gitbeaker Org', 'gb-org', { description: 'top', visibility: 'internal' }));
  equal([org.full_path, org.visibility, org.parent_id], ['gb-org', 'internal', null], 'Groups.create');
  const team = keep(await api.Groups.create('Team', 'team', { parentId: org.id }));
  equal([team.full_path, team.full_name, team.parent_id], ['gb-org/team', 'Gitbeaker Org / Team', org.id], 'subgroup');
  equal(team.visibility, 'private', 'a subgroup is private by default');
  equal((await api.Groups.show('gb-org/team')).id, team.id, 'Groups.show by full path');
  const subgroups = await api.Groups.allSubgroups(org.id);
  equal(subgroups.map((g) => g.full_path), ['gb-org/team'], 'Groups.allSubgroups');
  equal((await api.Groups.allDescendantGroups(org.id, {})).map((g) => g.id), [team.id], 'Groups.allDescendantGroups');
  const found = await api.Groups.all({ search: 'gitbeaker' });
  equal(found.map((g) => g.id), [org.id], 'Groups.all({ search })');
  await expectError(
    api.Groups.create('Team', 'team', { parentId: org.id }),
    400,
    'has already been taken',
    'a second subgroup at the same path',
  );

  // Projects in the subgroup and the group.
  const app = keep(await api.Projects.create({ name: 'App', namespaceId: team.id, description: 'gitbeaker' }));
  equal(app.path_with_namespace, 'gb-org/team/app', 'Projects.create in a subgroup');
  equal(app.namespace.full_path, 'gb-org/team', 'project namespace');
  equal(app.http_url_to_repo, `${host}/gb-org/team/app.git`, 'http_url_to_repo at depth');
  const shown = await api.Projects.show('gb-org/team/app');
  equal(shown.id, app.id, 'Projects.show by full path');
  const tool = keep(await api.Projects.create({ name: 'Tool', path: 'tool', namespaceId: org.id }));
  equal(tool.path_with_namespace, 'gb-org/tool', 'a project in the top group');
  const inGroup = await api.Groups.allProjects(org.id, { includeSubgroups: true, orderBy: 'path', sort: 'asc' });
  equal(inGroup.map((p) => p.path_with_namespace), ['gb-org/team/app', 'gb-org/tool'], 'Groups.allProjects with subgroups');
  const searched = await api.Projects.all({ search: 'App', simple: true });
  expect(searched.some((p) => p.id === app.id), 'Projects.all({ search }) finds the project');
  expect(searched.every((p) => /app/i.test(p.path_with_namespace)), 'Projects.all({ search }) finds only matches');

  // Memberships: the group's Developer, the project's Maintainer that expires.
  const soon = day(30);
  const gm = keep(await api.GroupMembers.add(org.id, 30, { userId: dev.id }));
  equal([gm.username, gm.access_level, gm.expires_at], [dev.username, 30, null], 'GroupMembers.add');
  const pm = keep(await api.ProjectMembers.add(app.id, 40, { userId: ops.id, expiresAt: soon }));
  equal([pm.access_level, pm.expires_at], [40, soon], 'ProjectMembers.add with expiresAt');
  await expectError(api.ProjectMembers.add(app.id, 40, { userId: ops.id }), 409, 'Member already exists', 'duplicate member');
  const direct = await api.ProjectMembers.all(app.id);
  equal(direct.map((m) => m.username), [ops.username], 'ProjectMembers.all: direct members only');
  const all = await api.ProjectMembers.all(app.id, { includeInherited: true });
  const levels = Object.fromEntries(all.map((m) => [m.username, m.access_level]));
  equal(levels, { root: 50, [dev.username]: 30, [ops.username]: 40 }, 'members/all: inherited from both groups');
  const inherited = await api.GroupMembers.all(team.id, { includeInherited: true });
  equal(inherited.map((m) => m.username).sort(), ['root', dev.username].sort(), 'group members/all');
  const later = day(60);
  const edited = keep(await api.ProjectMembers.edit(app.id, ops.id, 30, { expiresAt: later }));
  equal([edited.access_level, edited.expires_at], [30, later], 'ProjectMembers.edit (PUT member)');
  equal((await api.GroupMembers.edit(org.id, dev.id, 40)).access_level, 40, 'GroupMembers.edit');
  equal((await api.ProjectMembers.show(app.id, ops.id)).expires_at, later, 'ProjectMembers.show');
  // The group's Maintainer now sees the project through the group.
  equal((await devApi.Projects.show('gb-org/team/app')).id, app.id, 'an inherited member reads the project');

  // Protected branches in GitLab EE's shapes. gitbeaker sends a new rule's lists in the query
  // string (`allowed_to_push[][user_id]=…`), which Rack nests into objects.
  const main = keep(await api.ProtectedBranches.create(app.id, 'main', {
    allowedToPush: [{ userId: dev.id }, { userId: ops.id }],
    allowedToMerge: [{ accessLevel: 40 }, { accessLevel: 30 }],
    allowForcePush: false,
    codeOwnerApprovalRequired: true,
  }));
  equal(main.name, 'main', 'ProtectedBranches.create');
  const users = (rule) => rule.push_access_levels.map((l) => l.user_id).sort((a, b) => a - b);
  equal(users(main), [dev.id, ops.id].sort((a, b) => a - b), 'allowed_to_push: two users');
  equal(main.merge_access_levels.map((l) => l.access_level).sort(), [30, 40], 'allowed_to_merge: two roles');
  equal([main.allow_force_push, main.code_owner_approval_required], [false, true], 'EE switches');
  keep(await api.ProtectedBranches.create(app.id, 'release-*', { pushAccessLevel: 0 }));
  const rules = await api.ProtectedBranches.all(app.id);
  equal(rules.map((r) => r.name).sort(), ['main', 'release-*'], 'ProtectedBranches.all');
  const opsEntry = main.push_access_levels.find((l) => l.user_id === ops.id);
  const patched = keep(await api.ProtectedBranches.edit(app.id, 'main', {
    allowForcePush: true,
    allowedToPush: [{ id: opsEntry.id, _destroy: true }, { accessLevel: 40 }],
  }));
  equal(patched.allow_force_push, true, 'ProtectedBranches.edit (PATCH)');
  equal(patched.push_access_levels.map((l) => [l.access_level, l.user_id]).sort(), [[40, null], [40, dev.id]].sort(),
    'PATCH removes an entry by id and adds a role');
  equal((await api.ProtectedBranches.show(app.id, 'release-*')).push_access_levels[0].access_level, 0, 'wildcard rule');

  // A push mirror with credentials, edited (gitbeaker edits with POST) and read back.
  const mirror = keep(await api.ProjectRemoteMirrors.createPushMirror(app.id,
    `https://mirror-bot:${secret}@203.0.113.10/mirror/app.git`, { onlyProtectedBranches: true }));
  equal(mirror.url, 'https://*****:*****@203.0.113.10/mirror/app.git', 'mirror credentials masked');
  equal([mirror.enabled, mirror.update_status, mirror.only_protected_branches], [false, 'none', true], 'mirror defaults');
  const mirrorEdit = keep(await api.ProjectRemoteMirrors.edit(app.id, mirror.id, { keepDivergentRefs: true }));
  equal(mirrorEdit.keep_divergent_refs, true, 'ProjectRemoteMirrors.edit');
  equal((await api.ProjectRemoteMirrors.all(app.id)).map((m) => m.id), [mirror.id], 'ProjectRemoteMirrors.all');
  equal((await api.ProjectRemoteMirrors.show(app.id, mirror.id)).url, mirror.url, 'ProjectRemoteMirrors.show');
  await expectError(api.ProjectRemoteMirrors.sync(app.id, mirror.id), 400, 'Cannot proceed with the push mirroring',
    'sync of a disabled mirror');

  // PUT project.
  const edited2 = keep(await api.Projects.edit(app.id, { description: 'edited', defaultBranch: 'main' }));
  equal([edited2.description, edited2.default_branch], ['edited', 'main'], 'Projects.edit');
  await expectError(api.Projects.edit(app.id, { visibility: 'internal' }), 400, 'visibility_level',
    'a project more open than its private subgroup');
  const described = keep(await api.Projects.edit(tool.id, { name: 'Tool Kit', description: 'tools' }));
  equal([described.name, described.path, described.description], ['Tool Kit', 'tool', 'tools'], 'Projects.edit name');

  // Transfer the tool into the subgroup; its old path stops answering.
  const moved = keep(await api.Projects.transfer(tool.id, team.id));
  equal(moved.path_with_namespace, 'gb-org/team/tool', 'Projects.transfer');
  equal(moved.namespace.id, team.id, 'transferred namespace');
  equal((await api.Projects.show('gb-org/team/tool')).id, tool.id, 'the new path answers');
  await expectError(api.Projects.show('gb-org/tool'), 404, '404 Project Not Found', 'the old path is gone');
  const teamProjects = await api.Groups.allProjects(team.id, { orderBy: 'path', sort: 'asc' });
  equal(teamProjects.map((p) => p.path), ['app', 'tool'], 'the subgroup lists both projects');

  // Nothing ever carried the secret.
  for (const value of seen) {
    expect(!JSON.stringify(value).includes(secret), 'no response carried the secret');
  }

  // Clean up from the top: the group takes its subgroup and projects with it.
  await api.Groups.remove(org.id);
  await expectError(api.Projects.show(app.id), 404, '404 Project Not Found', 'deleting the group deletes its projects');
  await expectError(api.Groups.show('gb-org/team'), 404, '404 Group Not Found', 'and its subgroups');

  console.log(`${checks} passed, 0 failed`);
}

main().catch((e) => {
  console.error(`FAILED: ${e?.stack ?? e}`);
  if (e?.cause) console.error(JSON.stringify(e.cause.description ?? e.cause));
  process.exit(1);
});
