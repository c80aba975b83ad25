//! Project webhooks (`project_hooks`: settings, sealed secrets, GitLab's failure state) and the
//! log of their deliveries (`web_hook_logs`). Deliveries are `hook_delivery` jobs (`jobs.rs`),
//! enqueued by the transactions that record what they announce.
//!
//! Invariant: a hook's failure state changes only by compare-and-set on the state the caller
//! decided from, together with the log of the attempt that changed it, so concurrent
//! deliveries never lose a failure or a reset.

use std::sync::LazyLock;

use sqlx::Row;

use super::{flag, PageRequest, Paged, Store, StoreError};
use crate::model::entities::Millis;
use crate::model::hooks::{BranchFilterStrategy, HookHealth, HookLog, HookSettings, ProjectHook};

/// The columns a hook's [`HookSettings`] are saved in, in the order [`bind_settings`] binds
/// them.
const SETTING_COLUMNS: [&str; 15] = [
    "url",
    "has_user",
    "has_password",
    "secrets",
    "url_variable_keys",
    "custom_header_keys",
    "name",
    "description",
    "push_events",
    "push_events_branch_filter",
    "branch_filter_strategy",
    "tag_push_events",
    "remote_mirror_events",
    "enable_ssl_verification",
    "updated_at",
];

static HOOK_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "id, project_id, {}, recent_failures, disabled_until, created_at",
        SETTING_COLUMNS.join(", ")
    )
});

const LOG_COLUMNS: &str = "id, hook_id, trigger, url, request_headers, request_data, \
    response_headers, response_body, response_status, execution_duration_us, idempotency_key, \
    event_uuid, created_at";

/// One delivery attempt to log.
#[derive(Debug, Clone)]
pub struct NewHookLog {
    pub trigger: String,
    pub url: String,
    pub request_headers: String,
    pub request_data: String,
    pub response_headers: String,
    pub response_body: String,
    pub response_status: String,
    pub execution_duration_us: i64,
    pub idempotency_key: String,
    pub event_uuid: String,
}

/// Which logged attempts to list by response status (GitLab's `status` filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogStatus {
    /// This exact status code.
    Code(u16),
    /// Every status from `.0` up to, not including, `.1` (`successful` is 200..300).
    Range(u16, u16),
}

fn keys_text(keys: &[String]) -> String {
    keys.join("\n")
}

fn keys_of(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_settings<'q>(q: Query<'q>, s: &'q HookSettings, now: Millis) -> Query<'q> {
    q.bind(s.url.as_str())
        .bind(flag(s.has_user))
        .bind(flag(s.has_password))
        .bind(s.secrets.clone())
        .bind(keys_text(&s.url_variable_keys))
        .bind(keys_text(&s.custom_header_keys))
        .bind(s.name.as_deref())
        .bind(s.description.as_deref())
        .bind(flag(s.push_events))
        .bind(s.push_events_branch_filter.as_deref())
        .bind(s.branch_filter_strategy.as_str())
        .bind(flag(s.tag_push_events))
        .bind(flag(s.remote_mirror_events))
        .bind(flag(s.enable_ssl_verification))
        .bind(now)
}

fn hook_from_row(r: &sqlx::any::AnyRow) -> Result<ProjectHook, StoreError> {
    let b = |c: &str| -> Result<bool, StoreError> { Ok(r.try_get::<i64, _>(c)? != 0) };
    let strategy: String = r.try_get("branch_filter_strategy")?;
    let failures: i64 = r.try_get("recent_failures")?;
    Ok(ProjectHook {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        settings: HookSettings {
            url: r.try_get("url")?,
            has_user: b("has_user")?,
            has_password: b("has_password")?,
            secrets: r.try_get("secrets")?,
            url_variable_keys: keys_of(&r.try_get::<String, _>("url_variable_keys")?),
            custom_header_keys: keys_of(&r.try_get::<String, _>("custom_header_keys")?),
            name: r.try_get("name")?,
            description: r.try_get("description")?,
            push_events: b("push_events")?,
            push_events_branch_filter: r.try_get("push_events_branch_filter")?,
            branch_filter_strategy: BranchFilterStrategy::parse(&strategy).unwrap_or_default(),
            tag_push_events: b("tag_push_events")?,
            remote_mirror_events: b("remote_mirror_events")?,
            enable_ssl_verification: b("enable_ssl_verification")?,
        },
        health: HookHealth {
            recent_failures: u32::try_from(failures.max(0)).unwrap_or(u32::MAX),
            disabled_until: r.try_get("disabled_until")?,
        },
        created_at: r.try_get("created_at")?,
    })
}

fn log_from_row(r: &sqlx::any::AnyRow) -> Result<HookLog, StoreError> {
    Ok(HookLog {
        id: r.try_get("id")?,
        hook_id: r.try_get("hook_id")?,
        trigger: r.try_get("trigger")?,
        url: r.try_get("url")?,
        request_headers: r.try_get("request_headers")?,
        request_data: r.try_get("request_data")?,
        response_headers: r.try_get("response_headers")?,
        response_body: r.try_get("response_body")?,
        response_status: r.try_get("response_status")?,
        execution_duration_us: r.try_get("execution_duration_us")?,
        idempotency_key: r.try_get("idempotency_key")?,
        event_uuid: r.try_get("event_uuid")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Creates a hook of `project_id` (executable, no failures).
    pub async fn create_hook(
        &self,
        project_id: i64,
        s: &HookSettings,
        now: Millis,
    ) -> Result<ProjectHook, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let marks: Vec<String> = (2..SETTING_COLUMNS.len() + 2)
                .map(|i| format!("${i}"))
                .collect();
            format!(
                "insert into project_hooks (project_id, {}, created_at) values ($1, {}, ${}) \
                 returning id",
                SETTING_COLUMNS.join(", "),
                marks.join(", "),
                SETTING_COLUMNS.len() + 1,
            )
        });
        let row = bind_settings(sqlx::query(&SQL).bind(project_id), s, now)
            .fetch_one(&self.pool)
            .await?;
        let id: i64 = row.try_get("id")?;
        self.hook_by_id(id)
            .await?
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// Writes a hook's settings and forgets its failures (an edit re-enables a disabled hook,
    /// as in GitLab). `None` when the hook is gone.
    pub async fn update_hook(
        &self,
        id: i64,
        s: &HookSettings,
        now: Millis,
    ) -> Result<Option<ProjectHook>, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let sets: Vec<String> = SETTING_COLUMNS
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c} = ${}", i + 1))
                .collect();
            format!(
                "update project_hooks set {}, recent_failures = 0, disabled_until = null \
                 where id = ${}",
                sets.join(", "),
                SETTING_COLUMNS.len() + 1
            )
        });
        let done = bind_settings(sqlx::query(&SQL), s, now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.hook_by_id(id).await
    }

    /// Deletes a hook, its logs and (through the runner, which finds it gone) its pending
    /// deliveries; true when it existed.
    pub async fn delete_hook(&self, project_id: i64, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("delete from project_hooks where project_id = $1 and id = $2")
            .bind(project_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A hook by id alone (the delivery's view).
    pub async fn hook_by_id(&self, id: i64) -> Result<Option<ProjectHook>, StoreError> {
        let row = sqlx::query(&format!(
            "select {} from project_hooks where id = $1",
            *HOOK_COLUMNS
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(hook_from_row).transpose()
    }

    /// One hook of a project (a hook of another project is not found).
    pub async fn hook(&self, project_id: i64, id: i64) -> Result<Option<ProjectHook>, StoreError> {
        let row = sqlx::query(&format!(
            "select {} from project_hooks where project_id = $1 and id = $2",
            *HOOK_COLUMNS
        ))
        .bind(project_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(hook_from_row).transpose()
    }

    /// One page of a project's hooks, by id.
    pub async fn hooks(
        &self,
        project_id: i64,
        page: PageRequest,
    ) -> Result<Paged<ProjectHook>, StoreError> {
        let total: i64 =
            sqlx::query_scalar("select count(*) from project_hooks where project_id = $1")
                .bind(project_id)
                .fetch_one(&self.pool)
                .await?;
        let rows = sqlx::query(&format!(
            "select {} from project_hooks where project_id = $1 order by id limit $2 offset $3",
            *HOOK_COLUMNS
        ))
        .bind(project_id)
        .bind(page.per_page)
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        Ok(Paged {
            items: rows.iter().map(hook_from_row).collect::<Result<_, _>>()?,
            total,
        })
    }

    /// Hooks anywhere that failed their latest deliveries or are disabled, most failures
    /// first, at most `limit` (the admin page's "failing deliveries").
    pub async fn failing_hooks(&self, limit: i64) -> Result<Vec<ProjectHook>, StoreError> {
        let rows = sqlx::query(&format!(
            "select {} from project_hooks where recent_failures > 0 or disabled_until is not null \
             order by recent_failures desc, id limit $1",
            *HOOK_COLUMNS
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(hook_from_row).collect()
    }

    /// Every hook of a project that hears of at least one of the events pushmirror sends, for
    /// routing an event (a project has a handful).
    pub async fn event_hooks(&self, project_id: i64) -> Result<Vec<ProjectHook>, StoreError> {
        let rows = sqlx::query(&format!(
            "select {} from project_hooks where project_id = $1 and \
             (push_events = 1 or tag_push_events = 1 or remote_mirror_events = 1) order by id",
            *HOOK_COLUMNS
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(hook_from_row).collect()
    }

    /// Logs one delivery attempt and moves the hook's failure state from `seen` to `next`, in
    /// one transaction. False, with nothing written, when the state is no longer `seen` (another
    /// attempt changed it meanwhile): the caller decides again from the state it reads now.
    pub async fn record_hook_attempt(
        &self,
        hook_id: i64,
        seen: HookHealth,
        next: HookHealth,
        log: &NewHookLog,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let mut tx = self.transaction().await?;
        // The write comes first, so SQLite takes its write lock before anything was read.
        let done = sqlx::query(
            "update project_hooks set recent_failures = $1, disabled_until = $2 \
             where id = $3 and recent_failures = $4 and \
             coalesce(disabled_until, -1) = coalesce($5, -1)",
        )
        .bind(i64::from(next.recent_failures))
        .bind(next.disabled_until)
        .bind(hook_id)
        .bind(i64::from(seen.recent_failures))
        .bind(seen.disabled_until)
        .execute(&mut *tx.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(&format!(
            "insert into web_hook_logs ({}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12)",
            LOG_COLUMNS.trim_start_matches("id, ")
        ))
        .bind(hook_id)
        .bind(log.trigger.as_str())
        .bind(log.url.as_str())
        .bind(log.request_headers.as_str())
        .bind(log.request_data.as_str())
        .bind(log.response_headers.as_str())
        .bind(log.response_body.as_str())
        .bind(log.response_status.as_str())
        .bind(log.execution_duration_us)
        .bind(log.idempotency_key.as_str())
        .bind(log.event_uuid.as_str())
        .bind(now)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// One page of a hook's logged attempts since `since`, newest first, optionally only those
    /// whose status is one of `statuses`.
    pub async fn hook_logs(
        &self,
        hook_id: i64,
        since: Millis,
        statuses: &[LogStatus],
        page: PageRequest,
    ) -> Result<Paged<HookLog>, StoreError> {
        // Status codes are numbers checked by the caller, never text from a request.
        let filter = if statuses.is_empty() {
            String::new()
        } else {
            let alternatives: Vec<String> = statuses
                .iter()
                .map(|s| match s {
                    LogStatus::Code(c) => format!("response_status = '{c}'"),
                    LogStatus::Range(from, to) => {
                        format!("(response_status >= '{from}' and response_status < '{to}')")
                    }
                })
                .collect();
            format!(" and ({})", alternatives.join(" or "))
        };
        let total: i64 = sqlx::query_scalar(&format!(
            "select count(*) from web_hook_logs where hook_id = $1 and created_at >= $2{filter}"
        ))
        .bind(hook_id)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        let rows = sqlx::query(&format!(
            "select {LOG_COLUMNS} from web_hook_logs where hook_id = $1 and created_at >= $2\
             {filter} order by created_at desc, id desc limit $3 offset $4"
        ))
        .bind(hook_id)
        .bind(since)
        .bind(page.per_page)
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        Ok(Paged {
            items: rows.iter().map(log_from_row).collect::<Result<_, _>>()?,
            total,
        })
    }

    /// One logged attempt of a hook.
    pub async fn hook_log(&self, hook_id: i64, id: i64) -> Result<Option<HookLog>, StoreError> {
        let row = sqlx::query(&format!(
            "select {LOG_COLUMNS} from web_hook_logs where hook_id = $1 and id = $2"
        ))
        .bind(hook_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(log_from_row).transpose()
    }

    /// Deletes every logged attempt older than `before`; returns how many.
    pub async fn prune_hook_logs(&self, before: Millis) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from web_hook_logs where created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
