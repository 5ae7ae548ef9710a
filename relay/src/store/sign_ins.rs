//! Sign-ins and their refresh tokens.
//!
//! A sign-in (a password grant, a confirmation or reset link) is a row of `auth_sessions`;
//! every access token names its sign-in and is refused once that is revoked. Refresh tokens
//! belong to a sign-in, are stored as SHA-256 hashes, and rotate on every use: the successor
//! of a token is derived from it with a server key (`Keys::successor`), so presenting a
//! just-spent token again (a tab that closed mid-refresh) yields the same successor, never a
//! second one.

use super::{Db, DbResult, new_id, now_iso, now_unix};

/// Which of a user's sign-ins to revoke.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Scope {
    All,
    Only(String),
    AllBut(String),
}

impl Scope {
    /// True if the sign-in `id` falls in this scope.
    pub fn covers(&self, id: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Only(s) => s == id,
            Scope::AllBut(s) => s != id,
        }
    }
}

/// What presenting a refresh token found.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshUse {
    /// Valid and now spent: its successor (whose hash was given) is stored.
    Rotated {
        user_id: String,
        session_id: String,
    },
    /// Spent by rotation moments ago: answer with the same successor again.
    Reused {
        user_id: String,
        session_id: String,
    },
    /// Spent long ago and presented again: a theft. Every sign-in of the user was revoked.
    Replayed {
        user_id: String,
    },
    Invalid,
}

async fn insert_sign_in<'e>(
    ex: impl sqlx::Executor<'e, Database = sqlx::Any>,
    user_id: &str,
    recovery_until: Option<i64>,
) -> DbResult<String> {
    let id = new_id();
    sqlx::query("INSERT INTO auth_sessions (id, user_id, created_at, recovery_until) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(user_id)
        .bind(now_iso())
        .bind(recovery_until)
        .execute(ex)
        .await?;
    Ok(id)
}

async fn insert_refresh_token<'e>(
    ex: impl sqlx::Executor<'e, Database = sqlx::Any>,
    token_hash: &str,
    user_id: &str,
    session_id: &str,
    expires_at: i64,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, user_id, session_id, expires_at, revoked, created_at)
         VALUES ($1, $2, $3, $4, 0, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(session_id)
    .bind(expires_at)
    .bind(now_iso())
    .execute(ex)
    .await?;
    Ok(())
}

impl Db {
    /// Starts a sign-in. `recovery_until`: made by a reset link, it may set a new password
    /// without the current one until then.
    pub async fn create_sign_in(&self, user_id: &str, recovery_until: Option<i64>) -> DbResult<String> {
        insert_sign_in(&self.pool, user_id, recovery_until).await
    }

    /// True while the sign-in exists, is the user's, and is not revoked.
    pub async fn sign_in_active(&self, session_id: &str, user_id: &str) -> DbResult<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM auth_sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(session_id)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// True if this sign-in came from a reset link recently enough to set a password without
    /// the current one.
    pub async fn in_recovery(&self, session_id: &str) -> DbResult<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM auth_sessions WHERE id = $1 AND recovery_until > $2 AND revoked_at IS NULL",
        )
        .bind(session_id)
        .bind(now_unix())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Revokes sign-ins of `user_id` (and their refresh tokens) in `scope`, along with the
    /// user's unused reset links when more than one sign-in goes: after a password change or
    /// a theft, an old reset link must not open the account again.
    pub async fn revoke_sign_ins(&self, user_id: &str, scope: &Scope) -> DbResult<()> {
        let (cond, arg) = match scope {
            Scope::All => ("$2 = $2", ""),
            Scope::Only(id) => ("id = $2", id.as_str()),
            Scope::AllBut(id) => ("id <> $2", id.as_str()),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "UPDATE auth_sessions SET revoked_at = $3 WHERE user_id = $1 AND revoked_at IS NULL AND {cond}"
        ))
        .bind(user_id)
        .bind(arg)
        .bind(now_unix())
        .execute(&mut *tx)
        .await?;
        let token_cond = cond.replace("id", "session_id");
        let legacy = if matches!(scope, Scope::Only(_)) { "" } else { " OR session_id IS NULL" };
        sqlx::query(&format!(
            "UPDATE refresh_tokens SET revoked = 1 WHERE user_id = $1 AND revoked = 0 AND ({token_cond}{legacy})"
        ))
        .bind(user_id)
        .bind(arg)
        .execute(&mut *tx)
        .await?;
        if !matches!(scope, Scope::Only(_)) {
            sqlx::query("DELETE FROM one_time_tokens WHERE user_id = $1 AND kind = 'recovery'")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE auth_sessions SET recovery_until = NULL WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// The user and sign-in a refresh token belongs to, if it is one of `user_id`'s.
    pub async fn sign_in_of_refresh_token(&self, token_hash: &str, user_id: &str) -> DbResult<Option<String>> {
        sqlx::query_scalar("SELECT session_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2")
            .bind(token_hash)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .map(Option::flatten)
    }

    pub async fn store_refresh_token(
        &self,
        token_hash: &str,
        user_id: &str,
        session_id: &str,
        expires_at: i64,
    ) -> DbResult<()> {
        insert_refresh_token(&self.pool, token_hash, user_id, session_id, expires_at).await
    }

    /// Spends a refresh token and stores its successor (`successor_hash`) in one transaction,
    /// so whoever sees it spent also finds its successor. The conditional UPDATE makes two
    /// concurrent uses yield one rotation. A token spent less than `reuse` seconds ago is
    /// answered with the same successor; later, presenting it is a replay and revokes every
    /// sign-in of the account.
    pub async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        successor_hash: &str,
        reuse: i64,
        expires_at: i64,
    ) -> DbResult<RefreshUse> {
        let now = now_unix();
        let mut tx = self.pool.begin().await?;
        let spent: Option<(String, Option<String>)> = sqlx::query_as(
            "UPDATE refresh_tokens SET revoked = 1, spent_at = $2
             WHERE token_hash = $1 AND revoked = 0 AND expires_at > $2
             RETURNING user_id, session_id",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((user_id, session_id)) = spent {
            let session_id = match session_id {
                Some(s) => s,
                // Issued before sign-ins existed: it becomes one now.
                None => insert_sign_in(&mut *tx, &user_id, None).await?,
            };
            insert_refresh_token(&mut *tx, successor_hash, &user_id, &session_id, expires_at).await?;
            tx.commit().await?;
            return Ok(RefreshUse::Rotated { user_id, session_id });
        }
        tx.commit().await?;
        let known: Option<(String, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT t.user_id, t.spent_at, t.session_id FROM refresh_tokens t
             WHERE t.token_hash = $1 AND t.revoked = 1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        match known {
            Some((user_id, Some(at), _)) if now - at >= reuse => {
                self.revoke_sign_ins(&user_id, &Scope::All).await?;
                Ok(RefreshUse::Replayed { user_id })
            }
            Some((user_id, Some(_), Some(session_id))) => {
                // Within the interval: the successor is still good only if nobody signed out.
                let live: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = $1 AND revoked = 0")
                        .bind(successor_hash)
                        .fetch_one(&self.pool)
                        .await?;
                Ok(if live > 0 { RefreshUse::Reused { user_id, session_id } } else { RefreshUse::Invalid })
            }
            // Signed out (or revoked after a replay): simply no longer valid.
            _ => Ok(RefreshUse::Invalid),
        }
    }
}
