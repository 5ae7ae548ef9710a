//! AI-node ("skill") configurations. Each belongs to one user and only that user sees it.

use super::{Db, DbResult, new_id, now_iso};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(sqlx::FromRow, Clone, Debug)]
struct Row {
    id: String,
    user_id: String,
    skill_slug: String,
    node_id: String,
    name: String,
    config: String,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct SkillConfig {
    pub id: String,
    pub user_id: String,
    pub skill_slug: String,
    pub node_id: String,
    pub name: String,
    /// Free-form JSON; for `privaclaw`: `relay_url`, `node_id`, `auth_token` and UI settings.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Row> for SkillConfig {
    fn from(r: Row) -> Self {
        SkillConfig {
            id: r.id,
            user_id: r.user_id,
            skill_slug: r.skill_slug,
            node_id: r.node_id,
            name: r.name,
            config: serde_json::from_str(&r.config).unwrap_or(serde_json::Value::Null),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLS: &str = "id, user_id, skill_slug, node_id, name, config, created_at, updated_at";

impl Db {
    pub async fn skill_configs(&self, user_id: &str, skill_slug: Option<&str>) -> DbResult<Vec<SkillConfig>> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLS} FROM skill_configs WHERE user_id = $1 AND ($2 IS NULL OR skill_slug = $2)
             ORDER BY created_at, id"
        ))
        .bind(user_id)
        .bind(skill_slug)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn skill_config(&self, id: &str, user_id: &str) -> DbResult<Option<SkillConfig>> {
        let row: Option<Row> =
            sqlx::query_as(&format!("SELECT {COLS} FROM skill_configs WHERE id = $1 AND user_id = $2"))
                .bind(id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    pub async fn create_skill_config(
        &self,
        user_id: &str,
        skill_slug: &str,
        node_id: &str,
        name: &str,
        config: &serde_json::Value,
    ) -> DbResult<SkillConfig> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO skill_configs (id, user_id, skill_slug, node_id, name, config, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(skill_slug)
        .bind(node_id)
        .bind(name)
        .bind(config.to_string())
        .bind(now_iso())
        .execute(&self.pool)
        .await?;
        Ok(self.skill_config(&id, user_id).await?.expect("row just inserted"))
    }

    pub async fn update_skill_config(
        &self,
        id: &str,
        user_id: &str,
        node_id: &str,
        name: &str,
        config: &serde_json::Value,
    ) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE skill_configs SET node_id = $1, name = $2, config = $3, updated_at = $4
             WHERE id = $5 AND user_id = $6",
        )
        .bind(node_id)
        .bind(name)
        .bind(config.to_string())
        .bind(now_iso())
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_skill_config(&self, id: &str, user_id: &str) -> DbResult<bool> {
        let done = sqlx::query("DELETE FROM skill_configs WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
