-- GitLab's error_notification_sent: the "Remote mirror update failed" e-mail goes out once per
-- failure streak. Set once the e-mail was sent; cleared by the next success and whenever the
-- URL or its credentials change.
alter table remote_mirrors add column error_notification_sent bigint not null default 0;
