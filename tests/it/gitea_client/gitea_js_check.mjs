// gitea-js (the client generated from Gitea's own OpenAPI document) against pushmirror's
// /api/v1, driven by tests/it/gitea_api.rs: a repository, then push mirrors created with a
// password, with a token and with a generated SSH key, listed page by page, read, synced and
// deleted, and Gitea's refusals (bad interval, credentials in the URL, unknown repository, a
// path deeper than owner/repo, a caller who is not a repository admin, no token). Prints one
// JSON line: the remote names the test then looks for through /api/v4.
import assert from 'node:assert/strict';
import { giteaApi } from 'gitea-js';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('PUSHMIRROR_BASE');
const [owner, repo] = env('GITEA_REPO').split('/');
const remoteUrl = env('REMOTE_URL');
const remotePassword = env('REMOTE_PASSWORD');
const sshUrl = env('SSH_REMOTE_URL');

const admin = giteaApi(base, { token: env('ADMIN_TOKEN') });
const developer = giteaApi(base, { token: env('DEVELOPER_TOKEN') });
const anonymous = giteaApi(base, {});

/** The status of a call the client rejects (gitea-js throws its response). */
async function refused(call) {
  try {
    const res = await call();
    return res.status;
  } catch (e) {
    if (typeof e?.status !== 'number') throw e;
    assert.equal(typeof e.error?.message, 'string', `Gitea's error body: ${JSON.stringify(e.error)}`);
    return e.status;
  }
}

// The repository, as clients read it before anything else.
const { data: r } = await admin.repos.repoGet(owner, repo);
assert.equal(r.full_name, `${owner}/${repo}`);
assert.equal(r.name, repo);
assert.equal(r.owner.login, owner);
assert.equal(r.owner.username, owner);
assert.equal(r.private, true);
assert.equal(r.mirror, false);
assert.equal(r.archived, false);
assert.equal(r.empty, false);
assert.equal(r.default_branch, 'main');
assert.equal(r.clone_url, `${base}/${owner}/${repo}.git`);
assert.equal(r.permissions.admin, true);

// A password mirror, pushed on every commit and every eight hours.
const { data: withPassword } = await admin.repos.repoAddPushMirror(owner, repo, {
  remote_address: remoteUrl,
  remote_username: 'bot',
  remote_password: remotePassword,
  interval: '8h0m0s',
  sync_on_commit: true,
});
assert.match(withPassword.remote_name, /^remote_mirror_[a-z0-9]{10}$/);
assert.equal(withPassword.remote_address, remoteUrl);
assert.equal(withPassword.repo_name, repo);
assert.equal(withPassword.interval, '8h0m0s');
assert.equal(withPassword.sync_on_commit, true);
assert.equal(withPassword.last_update, null);
assert.ok(!Number.isNaN(Date.parse(withPassword.created)));
assert.ok(!JSON.stringify(withPassword).includes(remotePassword), 'the password is never shown');

// A token as the password, on push only; the same address again is a second mirror, as in Gitea.
const { data: withToken } = await admin.repos.repoAddPushMirror(owner, repo, {
  remote_address: remoteUrl,
  remote_password: 'glpat-not-a-real-token',
  interval: '0',
  sync_on_commit: true,
});
assert.notEqual(withToken.remote_name, withPassword.remote_name);
assert.equal(withToken.interval, '0s');

// Forgejo's use_ssh: a key pair made for the mirror, and a branch filter.
const { data: withKey } = await admin.repos.repoAddPushMirror(owner, repo, {
  remote_address: sshUrl,
  use_ssh: true,
  interval: '10m',
  branch_filter: 'main, release/1.0',
});
assert.match(withKey.public_key, /^ssh-ed25519 /);
assert.equal(withKey.interval, '10m0s');
assert.equal(withKey.branch_filter, 'main,release/1.0');
assert.equal(withKey.sync_on_commit, false, "absent, Go's zero value");

// Listing, two at a time.
const first = await admin.repos.repoListPushMirrors(owner, repo, { page: 1, limit: 2 });
assert.equal(first.headers.get('x-total-count'), '3');
assert.match(first.headers.get('link'), /page=2>; rel="next"/);
assert.deepEqual(first.data.map((m) => m.remote_name), [withPassword.remote_name, withToken.remote_name]);
const second = await admin.repos.repoListPushMirrors(owner, repo, { page: 2, limit: 2 });
assert.deepEqual(second.data.map((m) => m.remote_name), [withKey.remote_name]);

const { data: again } = await admin.repos.repoGetPushMirrorByRemoteName(owner, repo, withKey.remote_name);
assert.deepEqual(again, withKey);

// Gitea's refusals.
const create = (api, body, o = owner, r2 = repo) => () => api.repos.repoAddPushMirror(o, r2, body);
assert.equal(await refused(create(admin, { remote_address: remoteUrl, interval: '5m' })), 400, 'below the minimum');
assert.equal(await refused(create(admin, { remote_address: remoteUrl, interval: 'soon' })), 400, 'not a duration');
assert.equal(await refused(create(admin, { remote_address: 'http://bot:pw@127.0.0.1:9/x.git', interval: '0' })), 400, 'credentials in the URL');
assert.equal(await refused(create(admin, { remote_address: 'file:///etc', interval: '0' })), 400, 'not a remote');
assert.equal(await refused(create(admin, { remote_address: sshUrl, use_ssh: true, remote_password: 'x' })), 400, 'use_ssh with a password');
assert.equal(await refused(() => admin.repos.repoGet(owner, 'no-such-repo')), 404);
assert.equal(await refused(() => admin.repos.repoListPushMirrors(owner, 'no-such-repo')), 404);
assert.equal(await refused(() => admin.repos.repoGetPushMirrorByRemoteName(owner, repo, 'remote_mirror_nothere')), 404);
assert.equal(await refused(() => admin.repos.repoListPushMirrors(`${owner}/${repo}`, 'x')), 404, 'owner/repo is two segments');
assert.equal(await refused(create(developer, { remote_address: remoteUrl, interval: '0' })), 403, 'a Developer is no admin');
assert.equal(await refused(() => developer.repos.repoListPushMirrors(owner, repo)), 403);
assert.equal((await developer.repos.repoGet(owner, repo)).data.permissions.admin, false);
assert.equal(await refused(() => anonymous.repos.repoListPushMirrors(owner, repo)), 404, 'a private repository is hidden');

// Sync everything, then delete the token mirror.
assert.equal((await admin.repos.repoPushMirrorSync(owner, repo)).status, 200);
assert.equal((await admin.repos.repoDeletePushMirror(owner, repo, withToken.remote_name)).status, 204);
assert.equal(await refused(() => admin.repos.repoGetPushMirrorByRemoteName(owner, repo, withToken.remote_name)), 404);

console.log(JSON.stringify({ password: withPassword.remote_name, key: withKey.remote_name, deleted: withToken.remote_name }));
