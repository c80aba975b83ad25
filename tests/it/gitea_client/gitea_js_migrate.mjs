// gitea-js's repoMigrate against pushmirror's /api/v1, driven by tests/it/gitea_api.rs: a
// mirror migration from a git server with Basic auth (service `github`, cloned as plain git),
// then Gitea's refusals (the same name again, an unsupported service, an owner the caller may
// not create in, no token). Prints one JSON line: the new repository's id.
import assert from 'node:assert/strict';
import { giteaApi } from 'gitea-js';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('PUSHMIRROR_BASE');
const admin = giteaApi(base, { token: env('ADMIN_TOKEN') });
const developer = giteaApi(base, { token: env('DEVELOPER_TOKEN') });
const anonymous = giteaApi(base, {});
const source = {
  clone_addr: env('SOURCE_URL'),
  auth_username: env('SOURCE_USER'),
  auth_password: env('SOURCE_PASSWORD'),
};

async function refused(call) {
  try {
    return (await call()).status;
  } catch (e) {
    if (typeof e?.status !== 'number') throw e;
    assert.equal(typeof e.error?.message, 'string', `Gitea's error body: ${JSON.stringify(e.error)}`);
    return e.status;
  }
}

const migrated = await admin.repos.repoMigrate({
  ...source,
  repo_name: 'migrated',
  repo_owner: 'root',
  service: 'github',
  mirror: true,
  mirror_interval: '10m0s',
  private: true,
  description: 'from gitea-js',
  wiki: true,
  issues: true,
});
assert.equal(migrated.status, 201);
const repo = migrated.data;
assert.equal(repo.full_name, 'root/migrated');
assert.equal(repo.mirror, true);
assert.equal(repo.private, true);
assert.equal(repo.description, 'from gitea-js');
assert.ok(!JSON.stringify(repo).includes(source.auth_password), 'the password is never shown');

const migrate = (api, body) => () => api.repos.repoMigrate({ ...source, ...body });
assert.equal(await refused(migrate(admin, { repo_name: 'migrated', repo_owner: 'root' })), 409, 'the same name');
assert.equal(await refused(migrate(admin, { repo_name: 'other', service: 'gogs' })), 422, 'not plain git');
assert.equal(await refused(migrate(admin, { repo_name: 'other', mirror: true, mirror_interval: 'soon' })), 422);
assert.equal(await refused(migrate(developer, { repo_name: 'theirs', repo_owner: 'root' })), 404, "another user's namespace is hidden");
assert.equal(await refused(migrate(anonymous, { repo_name: 'nobody' })), 401);

console.log(JSON.stringify({ id: repo.id }));
