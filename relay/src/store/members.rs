//! Team membership and invitations. An invitation for an email without an account waits
//! until that email signs up, and is then fulfilled automatically.

use super::{Db, DbResult, new_id, now_iso};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(sqlx::FromRow, Serialize, ToSchema, Clone, Debug)]
pub struct Member {
    /// The membership's id.
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub email: String,
    pub display_name: Option<String>,
    /// `owner` or `member`.
    pub role: String,
    pub invited_by: Option<String>,
    pub created_at: String,
}

#[derive(sqlx::FromRow, Serialize, ToSchema, Clone, Debug)]
pub struct Invitation {
    pub id: String,
    pub project_id: String,
    pub email: String,
    pub invited_by: Option<String>,
    /// `pending`, `accepted` or `cancelled`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

const INVITATION_COLS: &str = "id, project_id, email, invited_by, status, created_at, updated_at";

impl Db {
    pub async fn members(&self, project_id: &str) -> DbResult<Vec<Member>> {
        sqlx::query_as(
            "SELECT m.id, m.project_id, m.user_id, u.email, p.display_name, m.role, m.invited_by, m.created_at
             FROM project_members m JOIN users u ON u.id = m.user_id
             LEFT JOIN profiles p ON p.user_id = m.user_id
             WHERE m.project_id = $1 ORDER BY m.created_at, m.id",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Adds a member; false if they already were one.
    pub async fn add_member(&self, project_id: &str, user_id: &str, invited_by: Option<&str>) -> DbResult<bool> {
        let done = sqlx::query(
            "INSERT INTO project_members (id, project_id, user_id, role, invited_by, created_at)
             VALUES ($1, $2, $3, 'member', $4, $5) ON CONFLICT (project_id, user_id) DO NOTHING",
        )
        .bind(new_id())
        .bind(project_id)
        .bind(user_id)
        .bind(invited_by)
        .bind(now_iso())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes a (non-owner) member; false if there was no such member.
    pub async fn remove_member(&self, project_id: &str, user_id: &str) -> DbResult<bool> {
        let done =
            sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2 AND role = 'member'")
                .bind(project_id)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn invitations(&self, project_id: &str) -> DbResult<Vec<Invitation>> {
        sqlx::query_as(&format!(
            "SELECT {INVITATION_COLS} FROM invitations WHERE project_id = $1 ORDER BY created_at DESC, id"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Creates a pending invitation, or returns the pending one that already exists.
    pub async fn invite(&self, project_id: &str, email: &str, invited_by: &str) -> DbResult<Invitation> {
        let existing: Option<Invitation> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLS} FROM invitations WHERE project_id = $1 AND email = $2 AND status = 'pending'"
        ))
        .bind(project_id)
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(inv) = existing {
            return Ok(inv);
        }
        let now = now_iso();
        let inv = Invitation {
            id: new_id(),
            project_id: project_id.into(),
            email: email.into(),
            invited_by: Some(invited_by.into()),
            status: "pending".into(),
            created_at: now.clone(),
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO invitations (id, project_id, email, invited_by, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'pending', $5, $5)",
        )
        .bind(&inv.id)
        .bind(project_id)
        .bind(email)
        .bind(invited_by)
        .bind(&inv.created_at)
        .execute(&self.pool)
        .await?;
        Ok(inv)
    }

    /// Cancels a pending invitation of this project; false if there was none.
    pub async fn cancel_invitation(&self, project_id: &str, invitation_id: &str) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE invitations SET status = 'cancelled', updated_at = $1
             WHERE id = $2 AND project_id = $3 AND status = 'pending'",
        )
        .bind(now_iso())
        .bind(invitation_id)
        .bind(project_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn has_pending_invitation(&self, email: &str) -> DbResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invitations WHERE email = $1 AND status = 'pending'")
            .bind(email)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Turns every pending invitation for `email` into a membership of `user_id`; returns the
    /// projects joined.
    pub async fn fulfil_invitations(&self, email: &str, user_id: &str) -> DbResult<Vec<String>> {
        let pending: Vec<Invitation> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLS} FROM invitations WHERE email = $1 AND status = 'pending'"
        ))
        .bind(email)
        .fetch_all(&self.pool)
        .await?;
        let mut joined = Vec::new();
        for inv in pending {
            self.add_member(&inv.project_id, user_id, inv.invited_by.as_deref()).await?;
            sqlx::query("UPDATE invitations SET status = 'accepted', updated_at = $1 WHERE id = $2")
                .bind(now_iso())
                .bind(&inv.id)
                .execute(&self.pool)
                .await?;
            joined.push(inv.project_id);
        }
        Ok(joined)
    }
}
