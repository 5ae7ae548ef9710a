//! What the relays of a cluster share through the database: each relay's lease, which relay
//! holds which device, and the secrets they must agree on. A single relay uses the same rows
//! (it is a cluster of one), so there is one code path.

use super::{Db, DbResult, now_iso, now_unix};

/// A relay whose lease is older than this is dead: its devices are shown offline.
pub const LEASE_SECS: i64 = 20;

/// A device whose relay died, now recorded offline.
#[derive(sqlx::FromRow, Debug)]
pub struct Orphan {
    pub id: String,
    pub project_id: String,
    pub kind: String,
}

impl Db {
    /// Renews relay `instance`'s lease.
    pub async fn beat(&self, instance: &str, draining: bool) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO relay_instances (id, seen_at, draining) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, draining = excluded.draining",
        )
        .bind(instance)
        .bind(now_unix())
        .bind(draining as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A relay leaving on purpose gives up its lease at once.
    pub async fn leave(&self, instance: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM relay_instances WHERE id = $1").bind(instance).execute(&self.pool).await?;
        Ok(())
    }

    /// At start: devices this relay held before it stopped are offline (their connectors come
    /// back to whichever relay they reach). `None`: every device (a relay alone).
    pub async fn reset_presence(&self, instance: Option<&str>) -> DbResult<()> {
        let q = sqlx::query("UPDATE devices SET status = 'offline' WHERE status = 'online' AND instance_id = $1");
        match instance {
            Some(me) => q.bind(me).execute(&self.pool).await?,
            None => {
                sqlx::query("UPDATE devices SET status = 'offline' WHERE status = 'online'").execute(&self.pool).await?
            }
        };
        Ok(())
    }

    /// The live relay holding the device's connector, if it is online.
    pub async fn holder(&self, device_id: &str) -> DbResult<Option<String>> {
        sqlx::query_scalar(
            "SELECT d.instance_id FROM devices d JOIN relay_instances i ON i.id = d.instance_id
             WHERE d.id = $1 AND d.status = 'online' AND i.seen_at > $2",
        )
        .bind(device_id)
        .bind(now_unix() - LEASE_SECS)
        .fetch_optional(&self.pool)
        .await
    }

    /// Records offline the devices of relays whose lease ran out, and returns them. Every
    /// survivor runs this; the update hands each device to exactly one of them.
    pub async fn orphans(&self) -> DbResult<Vec<Orphan>> {
        sqlx::query_as(
            "UPDATE devices SET status = 'offline', last_seen = $1
             WHERE status = 'online' AND instance_id NOT IN (SELECT id FROM relay_instances WHERE seen_at > $2)
             RETURNING id, project_id, COALESCE(kind, 'connector') AS kind",
        )
        .bind(now_iso())
        .bind(now_unix() - LEASE_SECS)
        .fetch_all(&self.pool)
        .await
    }

    /// Active sessions started before `cutoff` that no other live relay holds the device of:
    /// the ones relay `instance` may end when nobody came back for them.
    pub async fn stale_sessions(&self, cutoff: &str, instance: &str) -> DbResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT s.id FROM sessions s JOIN devices d ON d.id = s.device_id
             WHERE s.status = 'active' AND s.started_at < $1
               AND NOT (d.status = 'online' AND d.instance_id <> $2
                        AND d.instance_id IN (SELECT id FROM relay_instances WHERE seen_at > $3))",
        )
        .bind(cutoff)
        .bind(instance)
        .bind(now_unix() - LEASE_SECS)
        .fetch_all(&self.pool)
        .await
    }

    /// The shared secret `name`: `candidate` if this relay is the first to ask, else what the
    /// first one stored.
    pub async fn cluster_secret(&self, name: &str, candidate: &str) -> DbResult<String> {
        sqlx::query("INSERT INTO cluster_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(candidate)
            .execute(&self.pool)
            .await?;
        sqlx::query_scalar("SELECT value FROM cluster_secrets WHERE name = $1").bind(name).fetch_one(&self.pool).await
    }

    /// Counts one attempt of `key` in the window of `window` seconds it falls in; returns the
    /// attempts in that window so far, this one included.
    pub async fn hit(&self, key: &str, window: i64) -> DbResult<i64> {
        sqlx::query_scalar(
            "INSERT INTO rate_counts (key, window_start, count) VALUES ($1, $2, 1)
             ON CONFLICT (key) DO UPDATE SET
                 count = CASE WHEN rate_counts.window_start = excluded.window_start THEN rate_counts.count + 1 ELSE 1 END,
                 window_start = excluded.window_start
             RETURNING count",
        )
        .bind(key)
        .bind(now_unix() / window * window)
        .fetch_one(&self.pool)
        .await
    }

    /// The attempts of `key` in the current window of `window` seconds.
    pub async fn hits(&self, key: &str, window: i64) -> DbResult<i64> {
        let n: Option<i64> = sqlx::query_scalar("SELECT count FROM rate_counts WHERE key = $1 AND window_start = $2")
            .bind(key)
            .bind(now_unix() / window * window)
            .fetch_optional(&self.pool)
            .await?;
        Ok(n.unwrap_or(0))
    }

    pub async fn forget_hits(&self, key: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM rate_counts WHERE key = $1").bind(key).execute(&self.pool).await?;
        Ok(())
    }

    /// Drops counts of windows long past.
    pub async fn prune_hits(&self) -> DbResult<()> {
        sqlx::query("DELETE FROM rate_counts WHERE window_start < $1")
            .bind(now_unix() - 3600)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
