//! Accounts, profiles and one-time (confirmation / recovery) tokens. Sign-ins and refresh
//! tokens are in `sign_ins.rs`.

use super::{Db, DbResult, new_id, now_iso, now_unix};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(sqlx::FromRow, Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub email_confirmed_at: Option<String>,
    pub created_at: String,
}

#[derive(sqlx::FromRow, Serialize, ToSchema, Clone, Debug)]
pub struct Profile {
    pub id: String,
    pub user_id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const USER_COLS: &str = "id, email, password_hash, email_confirmed_at, created_at";

impl Db {
    pub async fn create_user(&self, email: &str, password_hash: &str, confirmed: bool) -> DbResult<User> {
        let id = new_id();
        let now = now_iso();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, email_confirmed_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&id)
        .bind(email)
        .bind(password_hash)
        .bind(confirmed.then(|| now.clone()))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO profiles (id, user_id, created_at, updated_at) VALUES ($1, $2, $3, $3)")
            .bind(new_id())
            .bind(&id)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(User {
            id,
            email: email.to_string(),
            password_hash: password_hash.to_string(),
            email_confirmed_at: confirmed.then_some(now.clone()),
            created_at: now,
        })
    }

    pub async fn user_by_email(&self, email: &str) -> DbResult<Option<User>> {
        sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE email = $1"))
            .bind(email)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn user_by_id(&self, id: &str) -> DbResult<Option<User>> {
        sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn count_users(&self) -> DbResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await
    }

    pub async fn set_password(&self, user_id: &str, password_hash: &str) -> DbResult<()> {
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(now_iso())
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn confirm_email(&self, user_id: &str) -> DbResult<()> {
        sqlx::query(
            "UPDATE users SET email_confirmed_at = $1, updated_at = $1
             WHERE id = $2 AND email_confirmed_at IS NULL",
        )
        .bind(now_iso())
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn store_one_time_token(
        &self,
        token_hash: &str,
        user_id: &str,
        kind: &str,
        expires_at: i64,
    ) -> DbResult<()> {
        sqlx::query("INSERT INTO one_time_tokens (token_hash, user_id, kind, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user_id)
            .bind(kind)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Consumes a one-time token of `kind`; yields its user if it was valid and unexpired. A
    /// used link takes the account's other links of its kind with it: of several reset mails,
    /// only the first one opened works.
    pub async fn take_one_time_token(&self, token_hash: &str, kind: &str) -> DbResult<Option<String>> {
        let user: Option<String> = sqlx::query_scalar(
            "DELETE FROM one_time_tokens WHERE token_hash = $1 AND kind = $2 AND expires_at > $3
             RETURNING user_id",
        )
        .bind(token_hash)
        .bind(kind)
        .bind(now_unix())
        .fetch_optional(&self.pool)
        .await?;
        if let Some(u) = &user {
            sqlx::query("DELETE FROM one_time_tokens WHERE user_id = $1 AND kind = $2")
                .bind(u)
                .bind(kind)
                .execute(&self.pool)
                .await?;
        }
        Ok(user)
    }

    pub async fn profile(&self, user_id: &str) -> DbResult<Option<Profile>> {
        sqlx::query_as(
            "SELECT p.id, p.user_id, u.email, p.display_name, p.avatar_url, p.created_at, p.updated_at
             FROM profiles p JOIN users u ON u.id = p.user_id WHERE p.user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Updates the fields given (`Some`); `Some(None)` clears one.
    pub async fn update_profile(
        &self,
        user_id: &str,
        display_name: Option<Option<&str>>,
        avatar_url: Option<Option<&str>>,
    ) -> DbResult<()> {
        let now = now_iso();
        if let Some(v) = display_name {
            sqlx::query("UPDATE profiles SET display_name = $1, updated_at = $2 WHERE user_id = $3")
                .bind(v)
                .bind(&now)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
        }
        if let Some(v) = avatar_url {
            sqlx::query("UPDATE profiles SET avatar_url = $1, updated_at = $2 WHERE user_id = $3")
                .bind(v)
                .bind(&now)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}
