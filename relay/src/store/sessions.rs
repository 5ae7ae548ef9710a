//! Terminal session records: who opened which device when, who joined, and when it ended.
//! Metadata only; terminal content never reaches the database.

use super::{Db, DbResult, new_id, now_iso};
use serde::Serialize;
use utoipa::ToSchema;

/// A session and the project of its device (what permission checks need).
#[derive(sqlx::FromRow, Clone, Debug)]
pub struct Session {
    pub id: String,
    pub device_id: String,
    pub user_id: String,
    pub status: String,
    pub project_id: String,
}

/// Someone who joined a session started by another member.
#[derive(sqlx::FromRow, Serialize, ToSchema, Clone, Debug)]
pub struct Joined {
    #[serde(skip)]
    pub session_id: String,
    pub user_id: String,
    pub email: String,
    /// When they first joined.
    pub joined_at: String,
}

/// A row of session history, as the Sessions tab shows it.
#[derive(sqlx::FromRow, Serialize, ToSchema, Clone, Debug)]
pub struct SessionRow {
    pub id: String,
    pub device_id: String,
    pub device_name: String,
    pub project_id: String,
    pub user_id: String,
    pub user_email: String,
    /// `active` or `ended`.
    pub status: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub end_reason: Option<String>,
    /// The shell's exit status, when it exited by itself (`end_reason` `exit`).
    pub exit_status: Option<i64>,
    /// Who ended it (`end_reason` `user_exit`).
    pub ended_by_email: Option<String>,
    /// The display name of whoever started it, if they set one.
    pub user_display_name: Option<String>,
    /// Members who joined the session besides the one who started it.
    #[sqlx(skip)]
    pub joined: Vec<Joined>,
}

#[derive(Default, Debug)]
pub struct SessionFilter<'a> {
    pub project_id: Option<&'a str>,
    pub device_id: Option<&'a str>,
    pub status: Option<&'a str>,
    pub limit: i64,
}

impl Db {
    pub async fn create_session(&self, device_id: &str, user_id: &str) -> DbResult<String> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO sessions (id, device_id, user_id, status, started_at) VALUES ($1, $2, $3, 'active', $4)",
        )
        .bind(&id)
        .bind(device_id)
        .bind(user_id)
        .bind(now_iso())
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    pub async fn session(&self, id: &str) -> DbResult<Option<Session>> {
        sqlx::query_as(
            "SELECT s.id, s.device_id, s.user_id, s.status, d.project_id
             FROM sessions s JOIN devices d ON d.id = s.device_id WHERE s.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Marks a session ended (with the shell's exit status, or who ended it); false if it
    /// already was.
    pub async fn end_session(
        &self,
        id: &str,
        reason: &str,
        exit_status: Option<u16>,
        ended_by: Option<&str>,
    ) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET status = 'ended', ended_at = $1, end_reason = $2, exit_status = $3, ended_by = $4
             WHERE id = $5 AND status = 'active'",
        )
        .bind(now_iso())
        .bind(reason)
        .bind(exit_status.map(i64::from))
        .bind(ended_by)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that `user_id` joined a session someone else started (once per person).
    pub async fn record_join(&self, session_id: &str, user_id: &str) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO session_joins (session_id, user_id, joined_at) VALUES ($1, $2, $3)
             ON CONFLICT (session_id, user_id) DO NOTHING",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(now_iso())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Active sessions started by `user_id`, and active sessions on `device_id`.
    pub async fn open_sessions(&self, user_id: &str, device_id: &str) -> DbResult<(i64, i64)> {
        sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN user_id = $1 THEN 1 ELSE 0 END), 0),
                    COALESCE(SUM(CASE WHEN device_id = $2 THEN 1 ELSE 0 END), 0)
             FROM sessions WHERE status = 'active' AND (user_id = $1 OR device_id = $2)",
        )
        .bind(user_id)
        .bind(device_id)
        .fetch_one(&self.pool)
        .await
    }

    /// History visible to `user_id`: sessions on devices of the projects they belong to.
    pub async fn session_history(&self, user_id: &str, f: &SessionFilter<'_>) -> DbResult<Vec<SessionRow>> {
        let rows = sqlx::query_as(
            "SELECT s.id, s.device_id, d.name AS device_name, d.project_id, s.user_id, u.email AS user_email,
                    s.status, s.started_at, s.ended_at, s.end_reason, s.exit_status, e.email AS ended_by_email,
                    p.display_name AS user_display_name
             FROM sessions s
             JOIN devices d ON d.id = s.device_id
             JOIN project_members m ON m.project_id = d.project_id AND m.user_id = $1
             JOIN users u ON u.id = s.user_id
             LEFT JOIN profiles p ON p.user_id = s.user_id
             LEFT JOIN users e ON e.id = s.ended_by
             WHERE ($2 IS NULL OR d.project_id = $2)
               AND ($3 IS NULL OR s.device_id = $3)
               AND ($4 IS NULL OR s.status = $4)
             ORDER BY s.started_at DESC, s.id
             LIMIT $5",
        )
        .bind(user_id)
        .bind(f.project_id)
        .bind(f.device_id)
        .bind(f.status)
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?;
        let mut rows: Vec<SessionRow> = rows;
        if rows.is_empty() {
            return Ok(rows);
        }
        let marks: Vec<String> = (1..=rows.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT j.session_id, j.user_id, u.email, j.joined_at FROM session_joins j JOIN users u ON u.id = j.user_id
             WHERE j.session_id IN ({}) ORDER BY j.joined_at, j.user_id",
            marks.join(", ")
        );
        let mut q = sqlx::query_as::<_, Joined>(&sql);
        for r in &rows {
            q = q.bind(&r.id);
        }
        for j in q.fetch_all(&self.pool).await? {
            if let Some(r) = rows.iter_mut().find(|r| r.id == j.session_id) {
                r.joined.push(j);
            }
        }
        Ok(rows)
    }
}
