//! Devices, their pairing codes and their (hashed) tokens, and presence.

use super::{Db, DbResult, Role, new_id, now_iso, now_unix};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(sqlx::FromRow, Serialize, ToSchema, Clone, Debug)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub project_id: String,
    /// `online` or `offline`.
    pub status: String,
    /// Whether a connector has exchanged a pairing code for this device.
    #[serde(serialize_with = "as_bool")]
    #[schema(value_type = bool)]
    pub paired: i64,
    /// `connector`, or `openclaw` for an AI node.
    pub kind: String,
    pub last_seen: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The current one-time pairing code; shown to the project's owner only.
    pub pairing_code: Option<String>,
    /// Unix seconds after which `pairing_code` no longer works.
    pub pairing_code_expires_at: Option<i64>,
}

/// What `/connect` needs to authenticate a connector.
#[derive(sqlx::FromRow, Clone, Debug)]
pub struct DeviceAuth {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub device_token: Option<String>,
}

const DEVICE_COLS: &str = "d.id, d.name, d.project_id, d.status, d.paired, d.kind, d.last_seen, \
     d.created_at, d.updated_at, d.pairing_code, d.pairing_code_expires_at";

fn as_bool<S: serde::Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(*v != 0)
}

impl Device {
    /// Hides the pairing code from anyone but the owner.
    pub fn for_role(mut self, role: Role) -> Device {
        if role != Role::Owner {
            self.pairing_code = None;
            self.pairing_code_expires_at = None;
        }
        self
    }
}

impl Db {
    /// A new device of `kind` (`connector`, or `openclaw` for an AI node added before it has
    /// connected; a connecting device says its kind itself).
    pub async fn create_device(
        &self,
        project_id: &str,
        name: &str,
        kind: &str,
        code: &str,
        code_expires: i64,
    ) -> DbResult<Device> {
        let id = new_id();
        let now = now_iso();
        sqlx::query(
            "INSERT INTO devices (id, name, project_id, status, paired, pairing_code, pairing_code_expires_at,
                                  kind, created_at, updated_at)
             VALUES ($1, $2, $3, 'offline', 0, $4, $5, $6, $7, $7)",
        )
        .bind(&id)
        .bind(name)
        .bind(project_id)
        .bind(code)
        .bind(code_expires)
        .bind(kind)
        .bind(&now)
        .execute(&self.pool)
        .await?;
        Ok(self.device(&id).await?.expect("device just inserted"))
    }

    pub async fn device(&self, id: &str) -> DbResult<Option<Device>> {
        sqlx::query_as(&format!("SELECT {DEVICE_COLS} FROM devices d WHERE d.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// The device and the caller's role in its project, if the caller is in that project.
    pub async fn device_for(&self, device_id: &str, user_id: &str) -> DbResult<Option<(Device, Role)>> {
        let Some(device) = self.device(device_id).await? else {
            return Ok(None);
        };
        Ok(self.role(&device.project_id, user_id).await?.map(|role| (device.for_role(role), role)))
    }

    pub async fn devices_of_project(&self, project_id: &str) -> DbResult<Vec<Device>> {
        sqlx::query_as(&format!(
            "SELECT {DEVICE_COLS} FROM devices d WHERE d.project_id = $1 ORDER BY d.created_at, d.id"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn count_devices(&self, project_id: &str) -> DbResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM devices WHERE project_id = $1")
            .bind(project_id)
            .fetch_one(&self.pool)
            .await
    }

    pub async fn rename_device(&self, id: &str, name: &str) -> DbResult<()> {
        sqlx::query("UPDATE devices SET name = $1, updated_at = $2 WHERE id = $3")
            .bind(name)
            .bind(now_iso())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_device(&self, id: &str) -> DbResult<()> {
        sqlx::query("DELETE FROM devices WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Replaces the pairing code; the old one stops working at once.
    pub async fn set_pairing_code(&self, id: &str, code: &str, expires: i64) -> DbResult<()> {
        sqlx::query(
            "UPDATE devices SET pairing_code = $1, pairing_code_expires_at = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(code)
        .bind(expires)
        .bind(now_iso())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Spends a pairing code: one UPDATE, so a code can be used exactly once even when two
    /// connectors race with it. Installs the new token's hash (the previous token, if any,
    /// stops working) and returns the device.
    pub async fn pair(&self, code: &str, name: Option<&str>, token_hash: &str) -> DbResult<Option<DeviceAuth>> {
        sqlx::query_as(
            "UPDATE devices SET pairing_code = NULL, pairing_code_expires_at = NULL, paired = 1,
                    device_token = $1, name = COALESCE($2, name), updated_at = $3
             WHERE pairing_code = $4 AND pairing_code_expires_at > $5
             RETURNING id, project_id, name, device_token",
        )
        .bind(token_hash)
        .bind(name)
        .bind(now_iso())
        .bind(code)
        .bind(now_unix())
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn device_auth(&self, id: &str) -> DbResult<Option<DeviceAuth>> {
        sqlx::query_as("SELECT id, project_id, name, device_token FROM devices WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Records a connector coming online (with its kind) or going offline.
    /// Records the device online on relay `instance`, or offline if `instance` still holds it
    /// (a connector that moved to another relay meanwhile stays online there). True if the
    /// row changed.
    pub async fn set_presence(&self, id: &str, online: bool, kind: Option<&str>, instance: &str) -> DbResult<bool> {
        let q = if online {
            "UPDATE devices SET status = $1, last_seen = $2, kind = COALESCE($3, kind), instance_id = $4 WHERE id = $5"
        } else {
            "UPDATE devices SET status = $1, last_seen = $2, kind = COALESCE($3, kind)
             WHERE instance_id = $4 AND id = $5 AND status = 'online'"
        };
        let done = sqlx::query(q)
            .bind(if online { "online" } else { "offline" })
            .bind(now_iso())
            .bind(kind)
            .bind(instance)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn touch_device(&self, id: &str) -> DbResult<()> {
        sqlx::query("UPDATE devices SET last_seen = $1 WHERE id = $2")
            .bind(now_iso())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
