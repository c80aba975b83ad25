-- Personal access tokens as GitLab has them: scopes (space-separated names), an optional expiry
-- date (YYYY-MM-DD, valid through that day, UTC), revocation, and when the token was last used.
-- Tokens made before this migration keep full API access and never expire.
alter table personal_access_tokens add column scopes text not null default 'api';
alter table personal_access_tokens add column expires_at text;
alter table personal_access_tokens add column revoked bigint not null default 0;
alter table personal_access_tokens add column last_used_at bigint;
