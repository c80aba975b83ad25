-- User accounts as an administrator manages them (GitLab's admin users API): an e-mail address
-- (unique regardless of case; users made before this migration have none), the account state
-- (`active` or `blocked`), and an optional password hash (Argon2id, PHC string format; a user
-- with only tokens has none).
alter table users add column email text;
alter table users add column state text not null default 'active';
alter table users add column password_hash text;
create unique index users_email_lower_key on users (lower(email));
