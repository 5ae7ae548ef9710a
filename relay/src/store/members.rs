//! Team membership and invitations. An invitation is accepted through its one-time link (only
//! its hash is stored), by whoever the owner gave the link to; nobody joins a project merely by
//! signing up with an invited address.

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
    /// Unix seconds after which the link no longer works.
    pub expires_at: Option<i64>,
}

/// What an invitation link leads to, as its page shows it before accepting.
#[derive(sqlx::FromRow, Serialize, ToSchema, Clone, Debug)]
pub struct InvitationPreview {
    pub project_id: String,
    pub project_name: String,
    pub email: String,
    pub invited_by_email: Option<String>,
    pub expires_at: Option<i64>,
}

const INVITATION_COLS: &str = "id, project_id, email, invited_by, status, created_at, updated_at, expires_at";

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

    /// Creates a pending invitation with the link whose hash is `token_hash`; inviting the
    /// same address again replaces the link (the old one stops working).
    pub async fn invite(
        &self,
        project_id: &str,
        email: &str,
        invited_by: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> DbResult<()> {
        let now = now_iso();
        let renewed = sqlx::query(
            "UPDATE invitations SET token_hash = $1, expires_at = $2, invited_by = $3, updated_at = $4
             WHERE project_id = $5 AND email = $6 AND status = 'pending'",
        )
        .bind(token_hash)
        .bind(expires_at)
        .bind(invited_by)
        .bind(&now)
        .bind(project_id)
        .bind(email)
        .execute(&self.pool)
        .await?;
        if renewed.rows_affected() > 0 {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO invitations (id, project_id, email, invited_by, status, created_at, updated_at, token_hash, expires_at)
             VALUES ($1, $2, $3, $4, 'pending', $5, $5, $6, $7)",
        )
        .bind(new_id())
        .bind(project_id)
        .bind(email)
        .bind(invited_by)
        .bind(&now)
        .bind(token_hash)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The pending, unexpired invitation of this link.
    pub async fn pending_invitation(&self, token_hash: &str) -> DbResult<Option<InvitationPreview>> {
        sqlx::query_as(
            "SELECT i.project_id, p.name AS project_name, i.email, u.email AS invited_by_email, i.expires_at
             FROM invitations i JOIN projects p ON p.id = i.project_id LEFT JOIN users u ON u.id = i.invited_by
             WHERE i.token_hash = $1 AND i.status = 'pending' AND i.expires_at > $2",
        )
        .bind(token_hash)
        .bind(super::now_unix())
        .fetch_optional(&self.pool)
        .await
    }

    /// Spends an invitation link for `user_id`: they become a member. Yields the project, or
    /// `None` if the link is unknown, used, cancelled or expired.
    pub async fn accept_invitation(&self, token_hash: &str, user_id: &str) -> DbResult<Option<String>> {
        let mut tx = self.pool.begin().await?;
        let taken: Option<(String, Option<String>)> = sqlx::query_as(
            "UPDATE invitations SET status = 'accepted', accepted_by = $1, updated_at = $2, token_hash = NULL
             WHERE token_hash = $3 AND status = 'pending' AND expires_at > $4
             RETURNING project_id, invited_by",
        )
        .bind(user_id)
        .bind(now_iso())
        .bind(token_hash)
        .bind(super::now_unix())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((project_id, invited_by)) = taken else {
            return Ok(None);
        };
        sqlx::query(
            "INSERT INTO project_members (id, project_id, user_id, role, invited_by, created_at)
             VALUES ($1, $2, $3, 'member', $4, $5) ON CONFLICT (project_id, user_id) DO NOTHING",
        )
        .bind(new_id())
        .bind(&project_id)
        .bind(user_id)
        .bind(invited_by)
        .bind(now_iso())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(project_id))
    }

    /// Members and pending invitations of a project, together.
    pub async fn team_size(&self, project_id: &str) -> DbResult<i64> {
        sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM project_members WHERE project_id = $1)
                  + (SELECT COUNT(*) FROM invitations WHERE project_id = $1 AND status = 'pending')",
        )
        .bind(project_id)
        .fetch_one(&self.pool)
        .await
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
}
