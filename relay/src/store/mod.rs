//! The database: one `sqlx::AnyPool` over SQLite (default) or PostgreSQL (`DATABASE_URL`).
//!
//! Both backends run the same portable migrations (`relay/migrations/`) and the same queries
//! (numbered `$n` parameters work on both). Each table group has its own file adding methods
//! to [`Db`]; handlers call those and never write SQL themselves. Terminal bytes never come
//! here: only session metadata is stored.

mod cluster;
mod devices;
mod members;
mod projects;
mod sessions;
mod sign_ins;
mod skill_configs;
mod users;

pub use cluster::Orphan;
pub use devices::{Device, DeviceAuth};
pub use members::{Invitation, InvitationPreview, Member};
pub use projects::{Project, Role};
pub use sessions::{Session, SessionFilter, SessionRow};
pub use sign_ins::{RefreshUse, Scope};
pub use skill_configs::SkillConfig;
pub use users::{Profile, User};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::format_description;

pub type DbResult<T> = Result<T, sqlx::Error>;

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The SQLite database's file name in the data directory.
pub const SQLITE_FILE: &str = "privaclaw.db";

/// The newest schema version (migration) this relay knows.
pub fn schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Refuses a database that a newer relay migrated: this one would not know its tables.
/// `recorded` is the highest version in `_sqlx_migrations` (`None`: a new database).
pub fn check_schema(recorded: Option<i64>) -> Result<(), String> {
    match recorded {
        Some(v) if v > schema_version() => Err(format!(
            "the database was written by a newer privaclaw-relay (schema version {v}; this one knows up to {}): \
             run that version or a newer one, or restore a backup made with this one",
            schema_version()
        )),
        _ => Ok(()),
    }
}

impl Db {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Db, String> {
        install_default_drivers();
        let (url, backend, file) = match database_url {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                (u.to_string(), Backend::Postgres, None)
            }
            Some(u) if u.starts_with("sqlite:") => {
                let path = u.trim_start_matches("sqlite:").trim_start_matches("//");
                let path = path.split('?').next().unwrap_or("");
                let file = (!path.is_empty() && !path.contains(":memory:")).then(|| Path::new(path).to_path_buf());
                (u.to_string(), Backend::Sqlite, file)
            }
            Some(u) => {
                return Err(format!(
                    "DATABASE_URL must start with postgres:// or sqlite: (got a URL starting with {:?}); \
                     leave it unset to use SQLite in the data directory",
                    u.split(':').next().unwrap_or("")
                ));
            }
            None => {
                let file = data_dir.join(SQLITE_FILE);
                (format!("sqlite://{}?mode=rwc", file.display()), Backend::Sqlite, Some(file))
            }
        };
        // Created private before SQLite opens it: the WAL and shared-memory files it makes
        // take the database file's mode.
        if let Some(f) = &file {
            crate::files::private_file(f)?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Several connections write: wait for the lock instead of failing.
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| format!("cannot open the database: {e}"))?;
        if backend == Backend::Sqlite {
            // WAL is a property of the file: set once, it stays.
            pool.execute("PRAGMA journal_mode = WAL")
                .await
                .map_err(|e| format!("cannot switch SQLite to WAL mode: {e}"))?;
            // Files left by an older relay (or another program) with looser modes.
            if let Some(f) = &file {
                for suffix in ["-wal", "-shm"] {
                    let mut side = f.clone().into_os_string();
                    side.push(suffix);
                    crate::files::private_if_present(Path::new(&side))?;
                }
            }
        }
        // A new database has no migrations table yet: the query fails and nothing is recorded.
        let recorded: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&pool).await.ok().flatten();
        check_schema(recorded)?;
        MIGRATOR.run(&pool).await.map_err(|e| format!("database migration failed: {e}"))?;
        Ok(Db { pool, backend })
    }

    /// Connections open and idle in the pool, for `/metrics`.
    pub fn pool_stats(&self) -> (u64, u64) {
        (u64::from(self.pool.size()), self.pool.num_idle() as u64)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// True when the database answers; for `/healthz`.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// Now, as the fixed-width ISO-8601 UTC text the tables store (sortable as text).
pub fn now_iso() -> String {
    iso(OffsetDateTime::now_utc())
}

pub fn iso(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&fmt).unwrap_or_default()
}

/// Now, in unix seconds (expiry columns).
pub fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// True for a unique-constraint violation, on either backend.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d.is_unique_violation(),
        _ => false,
    }
}
