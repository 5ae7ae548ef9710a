//! AI-node ("skill") configurations. Each belongs to one user and only that user sees it. The
//! config (it holds the node's `auth_token`) is stored sealed (`auth::seal`), bound to its row.

use super::{Db, DbResult, new_id, now_iso};
use crate::auth::seal::{Sealer, Unsealed};
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

impl Row {
    fn open(self, sealer: &Sealer) -> SkillConfig {
        let config = match sealer.open(&self.config, &self.id) {
            Ok(text) => serde_json::from_str(&text.text()).unwrap_or(serde_json::Value::Null),
            Err(e) => {
                // Start-up re-seals everything it can open, so this is damage, not routine.
                tracing::error!(config = %self.id, error = %e, "a skill config cannot be opened");
                serde_json::Value::Null
            }
        };
        SkillConfig {
            id: self.id,
            user_id: self.user_id,
            skill_slug: self.skill_slug,
            node_id: self.node_id,
            name: self.name,
            config,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const COLS: &str = "id, user_id, skill_slug, node_id, name, config, created_at, updated_at";

impl Db {
    pub async fn skill_configs(
        &self,
        sealer: &Sealer,
        user_id: &str,
        skill_slug: Option<&str>,
    ) -> DbResult<Vec<SkillConfig>> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLS} FROM skill_configs WHERE user_id = $1 AND ($2 IS NULL OR skill_slug = $2)
             ORDER BY created_at, id"
        ))
        .bind(user_id)
        .bind(skill_slug)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.open(sealer)).collect())
    }

    pub async fn skill_config(&self, sealer: &Sealer, id: &str, user_id: &str) -> DbResult<Option<SkillConfig>> {
        let row: Option<Row> =
            sqlx::query_as(&format!("SELECT {COLS} FROM skill_configs WHERE id = $1 AND user_id = $2"))
                .bind(id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.open(sealer)))
    }

    pub async fn count_skill_configs(&self, user_id: &str) -> DbResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM skill_configs WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await
    }

    pub async fn create_skill_config(
        &self,
        sealer: &Sealer,
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
        .bind(sealer.seal(&config.to_string(), &id))
        .bind(now_iso())
        .execute(&self.pool)
        .await?;
        Ok(self.skill_config(sealer, &id, user_id).await?.expect("row just inserted"))
    }

    pub async fn update_skill_config(
        &self,
        sealer: &Sealer,
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
        .bind(sealer.seal(&config.to_string(), id))
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

    /// Seals every config stored in plain text or under a previous key with the current key
    /// (at start, so a rotation finishes by itself). Fails, naming the key, if one cannot be
    /// opened. Returns how many were sealed again.
    pub async fn reseal_skill_configs(&self, sealer: &Sealer) -> Result<usize, String> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, config FROM skill_configs")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| format!("cannot read skill configs: {e}"))?;
        let mut done = 0;
        for (id, stored) in rows {
            let plain = match sealer.open(&stored, &id)? {
                Unsealed::Current(_) => continue,
                Unsealed::Stale(plain) => plain,
            };
            sqlx::query("UPDATE skill_configs SET config = $1 WHERE id = $2")
                .bind(sealer.seal(&plain, &id))
                .bind(&id)
                .execute(&self.pool)
                .await
                .map_err(|e| format!("cannot seal a skill config: {e}"))?;
            done += 1;
        }
        Ok(done)
    }
}
