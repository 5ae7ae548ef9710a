//! Projects and the caller's role in each: the basis of every permission check.

use super::{Db, DbResult, new_id, now_iso};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Member,
}

impl Role {
    fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// A project as the caller sees it: with the caller's `role` in it.
#[derive(sqlx::FromRow, Serialize, ToSchema, Clone, Debug)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub created_at: String,
    pub updated_at: String,
    /// `owner` or `member`.
    pub role: String,
}

const PROJECT_COLS: &str = "p.id, p.name, p.owner_id, p.created_at, p.updated_at, m.role";

impl Db {
    /// The caller's role in a project, or `None` when they are not in it (or it does not exist).
    pub async fn role(&self, project_id: &str, user_id: &str) -> DbResult<Option<Role>> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2")
                .bind(project_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(role.as_deref().and_then(Role::parse))
    }

    pub async fn create_project(&self, name: &str, owner_id: &str) -> DbResult<Project> {
        let id = new_id();
        let now = now_iso();
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO projects (id, name, owner_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
            .bind(&id)
            .bind(name)
            .bind(owner_id)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO project_members (id, project_id, user_id, role, invited_by, created_at)
             VALUES ($1, $2, $3, 'owner', NULL, $4)",
        )
        .bind(new_id())
        .bind(&id)
        .bind(owner_id)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Project {
            id,
            name: name.to_string(),
            owner_id: owner_id.to_string(),
            created_at: now.clone(),
            updated_at: now,
            role: "owner".into(),
        })
    }

    pub async fn projects_of(&self, user_id: &str) -> DbResult<Vec<Project>> {
        sqlx::query_as(&format!(
            "SELECT {PROJECT_COLS} FROM projects p JOIN project_members m ON m.project_id = p.id
             WHERE m.user_id = $1 ORDER BY p.created_at, p.id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn project_for(&self, project_id: &str, user_id: &str) -> DbResult<Option<Project>> {
        sqlx::query_as(&format!(
            "SELECT {PROJECT_COLS} FROM projects p JOIN project_members m ON m.project_id = p.id
             WHERE p.id = $1 AND m.user_id = $2"
        ))
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn project_ids_of(&self, user_id: &str) -> DbResult<Vec<String>> {
        sqlx::query_scalar("SELECT project_id FROM project_members WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
    }

    /// Projects `user_id` owns.
    pub async fn count_owned_projects(&self, user_id: &str) -> DbResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM projects WHERE owner_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await
    }

    pub async fn rename_project(&self, project_id: &str, name: &str) -> DbResult<()> {
        sqlx::query("UPDATE projects SET name = $1, updated_at = $2 WHERE id = $3")
            .bind(name)
            .bind(now_iso())
            .bind(project_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_project(&self, project_id: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM projects WHERE id = $1").bind(project_id).execute(&self.pool).await?;
        Ok(())
    }
}
