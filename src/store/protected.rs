//! Protected-branch rules of projects and their access lists (who may push, merge and
//! unprotect: roles or users). A rule and its lists are written in one transaction.

use std::collections::HashMap;

use sqlx::Row;

use super::{conflict, flag, PageRequest, Paged, Store, StoreError};
use crate::model::entities::{AccessEntry, Millis, ProtectedBranch};

const SELECT: &str = "select id, project_id, name, allow_force_push, code_owner_approval_required \
    from protected_branches";

/// The three access lists, as stored in `protected_branch_access.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessAction {
    Push,
    Merge,
    Unprotect,
}

impl AccessAction {
    fn as_str(self) -> &'static str {
        match self {
            AccessAction::Push => "push",
            AccessAction::Merge => "merge",
            AccessAction::Unprotect => "unprotect",
        }
    }
}

/// One entry to add to an access list: a role or a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewAccess {
    pub action: AccessAction,
    pub access_level: Option<i64>,
    pub user_id: Option<i64>,
    /// A deploy key's entry (push lists only).
    pub deploy_key_id: Option<i64>,
}

/// A rule to create.
#[derive(Debug, Clone)]
pub struct NewProtection {
    pub name: String,
    pub access: Vec<NewAccess>,
    pub allow_force_push: bool,
    pub code_owner_approval_required: bool,
}

/// Changes to a rule: flags when given, entries removed by id and entries added.
#[derive(Debug, Clone, Default)]
pub struct ProtectionChanges {
    pub allow_force_push: Option<bool>,
    pub code_owner_approval_required: Option<bool>,
    pub remove: Vec<i64>,
    pub add: Vec<NewAccess>,
}

fn rule_from_row(r: &sqlx::any::AnyRow) -> Result<ProtectedBranch, sqlx::Error> {
    Ok(ProtectedBranch {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        name: r.try_get("name")?,
        push: Vec::new(),
        merge: Vec::new(),
        unprotect: Vec::new(),
        allow_force_push: r.try_get::<i64, _>("allow_force_push")? != 0,
        code_owner_approval_required: r.try_get::<i64, _>("code_owner_approval_required")? != 0,
    })
}

impl Store {
    /// Fills the access lists of `rules` (one query).
    async fn with_access(
        &self,
        mut rules: Vec<ProtectedBranch>,
    ) -> Result<Vec<ProtectedBranch>, StoreError> {
        let Some(project_id) = rules.first().map(|r| r.project_id) else {
            return Ok(rules);
        };
        let rows = sqlx::query(
            "select a.id, a.protected_branch_id, a.action, a.access_level, a.user_id, \
             u.name as user_name, a.deploy_key_id \
             from protected_branch_access a join protected_branches b \
             on b.id = a.protected_branch_id left join users u on u.id = a.user_id \
             where b.project_id = $1 order by a.id",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        let index: HashMap<i64, usize> = rules.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        for row in rows {
            let rule: i64 = row.try_get("protected_branch_id")?;
            let Some(&i) = index.get(&rule) else { continue };
            let entry = AccessEntry {
                id: row.try_get("id")?,
                access_level: row.try_get("access_level")?,
                user_id: row.try_get("user_id")?,
                user_name: row.try_get("user_name")?,
                deploy_key_id: row.try_get("deploy_key_id")?,
            };
            let action: String = row.try_get("action")?;
            match action.as_str() {
                "push" => rules[i].push.push(entry),
                "merge" => rules[i].merge.push(entry),
                _ => rules[i].unprotect.push(entry),
            }
        }
        Ok(rules)
    }

    /// The protected-branch rules of a project whose name contains `search`, by id.
    pub async fn protected_branches(
        &self,
        project_id: i64,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<ProtectedBranch>, StoreError> {
        let pattern = format!(
            "%{}%",
            search
                .unwrap_or("")
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let total: i64 = sqlx::query_scalar(
            "select count(*) from protected_branches where project_id = $1 and name like $2 escape '\\'",
        )
        .bind(project_id)
        .bind(&pattern)
        .fetch_one(&self.pool)
        .await?;
        let rows = sqlx::query(&format!(
            "{SELECT} where project_id = $1 and name like $2 escape '\\' order by id limit $3 offset $4"
        ))
        .bind(project_id)
        .bind(&pattern)
        .bind(page.per_page)
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(rule_from_row).collect::<Result<_, _>>()?;
        Ok(Paged {
            items: self.with_access(items).await?,
            total,
        })
    }

    /// Every protected-branch pattern of a project (what the engine filters with).
    pub async fn protected_branch_names(&self, project_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "select name from protected_branches where project_id = $1 order by id",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every protected-branch rule of a project with its access lists (what pushes are judged
    /// by).
    pub async fn protected_branch_rules(
        &self,
        project_id: i64,
    ) -> Result<Vec<ProtectedBranch>, StoreError> {
        let rows = sqlx::query(&format!("{SELECT} where project_id = $1 order by id"))
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?;
        let rules = rows.iter().map(rule_from_row).collect::<Result<_, _>>()?;
        self.with_access(rules).await
    }

    /// One rule by its exact stored name.
    pub async fn protected_branch(
        &self,
        project_id: i64,
        name: &str,
    ) -> Result<Option<ProtectedBranch>, StoreError> {
        let row = sqlx::query(&format!("{SELECT} where project_id = $1 and name = $2"))
            .bind(project_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        let Some(rule) = row.as_ref().map(rule_from_row).transpose()? else {
            return Ok(None);
        };
        Ok(self.with_access(vec![rule]).await?.pop())
    }

    /// Creates a rule with one push and one merge level (the CE shape).
    pub async fn create_protected_branch(
        &self,
        project_id: i64,
        name: &str,
        push_access_level: i64,
        merge_access_level: i64,
        allow_force_push: bool,
        now: Millis,
    ) -> Result<ProtectedBranch, StoreError> {
        let level = |action, l| NewAccess {
            action,
            access_level: Some(l),
            user_id: None,
            deploy_key_id: None,
        };
        let new = NewProtection {
            name: name.to_owned(),
            access: vec![
                level(AccessAction::Push, push_access_level),
                level(AccessAction::Merge, merge_access_level),
            ],
            allow_force_push,
            code_owner_approval_required: false,
        };
        self.create_protection(project_id, &new, now).await
    }

    /// Creates a rule and its access lists; [`StoreError::Conflict`] when the name exists.
    pub async fn create_protection(
        &self,
        project_id: i64,
        p: &NewProtection,
        now: Millis,
    ) -> Result<ProtectedBranch, StoreError> {
        let mut tx = self.transaction().await?;
        let id: i64 = sqlx::query_scalar(
            "insert into protected_branches (project_id, name, allow_force_push, \
             code_owner_approval_required, created_at) values ($1, $2, $3, $4, $5) returning id",
        )
        .bind(project_id)
        .bind(&p.name)
        .bind(flag(p.allow_force_push))
        .bind(flag(p.code_owner_approval_required))
        .bind(now)
        .fetch_one(&mut *tx.tx)
        .await
        .map_err(conflict)?;
        for a in &p.access {
            insert_access(&mut tx.tx, id, a).await?;
        }
        tx.commit().await?;
        self.protected_branch(project_id, &p.name)
            .await?
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// Applies `changes` to rule `id` in one transaction.
    pub async fn update_protection(
        &self,
        id: i64,
        changes: &ProtectionChanges,
    ) -> Result<(), StoreError> {
        let mut tx = self.transaction().await?;
        if let Some(force) = changes.allow_force_push {
            sqlx::query("update protected_branches set allow_force_push = $1 where id = $2")
                .bind(flag(force))
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
        }
        if let Some(required) = changes.code_owner_approval_required {
            sqlx::query(
                "update protected_branches set code_owner_approval_required = $1 where id = $2",
            )
            .bind(flag(required))
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
        }
        for entry in &changes.remove {
            sqlx::query(
                "delete from protected_branch_access where id = $1 and protected_branch_id = $2",
            )
            .bind(entry)
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
        }
        for a in &changes.add {
            insert_access(&mut tx.tx, id, a).await?;
        }
        tx.commit().await
    }

    /// Deletes a rule by exact name; true when it existed.
    pub async fn delete_protected_branch(
        &self,
        project_id: i64,
        name: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("delete from protected_branches where project_id = $1 and name = $2")
                .bind(project_id)
                .bind(name)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }
}

async fn insert_access(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    rule: i64,
    a: &NewAccess,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into protected_branch_access \
         (protected_branch_id, action, access_level, user_id, deploy_key_id) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(rule)
    .bind(a.action.as_str())
    .bind(a.access_level)
    .bind(a.user_id)
    .bind(a.deploy_key_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
