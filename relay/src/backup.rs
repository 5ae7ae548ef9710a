//! `privaclaw-relay backup FILE` and `privaclaw-relay restore FILE`, for the SQLite database.
//!
//! A backup is one SQLite file: `VACUUM INTO` from a read-only connection gives a consistent
//! snapshot while the relay goes on writing (WAL), and the data directory's secrets go into
//! a table of the copy (`privaclaw_backup_files`), because without the token-signing secret
//! every access token and without the secrets key every sealed AI-node config would be lost.
//! Restore checks the file, refuses a data directory a relay is running on (`relay.lock`),
//! writes the secrets back as files and the database without that table. Migrations run when
//! the relay next starts; a backup from a newer relay is refused like its database would be.
//! With PostgreSQL, `pg_dump` is the tool: both commands say so.

use crate::config::Config;
use crate::files;
use crate::store::{self, SQLITE_FILE};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The data directory's files a backup carries.
const SECRETS: &[&str] = &["jwt-secret", "secrets-key"];
const TABLE: &str = "privaclaw_backup_files";

fn sqlite_only(config: &Config, what: &str) -> Result<(), String> {
    match config.database_url {
        Some(_) => Err(format!(
            "{what} works on the SQLite database in --data-dir; with DATABASE_URL (PostgreSQL) use pg_dump / \
             pg_restore, and keep a copy of the data directory's jwt-secret and secrets-key files"
        )),
        None => Ok(()),
    }
}

async fn open(path: &Path, read_only: bool) -> Result<SqliteConnection, String> {
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// Writes the backup; returns what to tell the operator.
pub async fn backup(config: &Config, file: &Path) -> Result<String, String> {
    sqlite_only(config, "backup")?;
    let db = config.data_dir.join(SQLITE_FILE);
    if !db.is_file() {
        return Err(format!("there is no database at {}: is --data-dir right?", db.display()));
    }
    if file.exists() {
        return Err(format!("{} exists already: a backup never overwrites, choose a new file name", file.display()));
    }
    let tmp = sibling(file, ".partial");
    let _ = std::fs::remove_file(&tmp);
    // Created private and empty: VACUUM INTO writes into an empty file and keeps its mode.
    files::private_file(&tmp)?;
    let fail = |e: String| {
        let _ = std::fs::remove_file(&tmp);
        e
    };
    let mut src = open(&db, true).await.map_err(fail)?;
    let target = tmp.to_str().ok_or("the backup file's path is not UTF-8").map_err(|e| fail(e.into()))?;
    sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut src)
        .await
        .map_err(|e| fail(format!("cannot copy the database: {e}")))?;
    let _ = src.close().await;
    let mut out = open(&tmp, false).await.map_err(fail)?;
    let version = carry_secrets(&mut out, &config.data_dir).await.map_err(fail)?;
    let _ = out.close().await;
    std::fs::rename(&tmp, file).map_err(|e| fail(format!("cannot name the backup {}: {e}", file.display())))?;
    Ok(format!(
        "backed up {} (schema version {version}) to {}. It holds password hashes and the token-signing secret: \
         keep it as private as the data directory. Restore with: privaclaw-relay restore {} --data-dir DIR",
        db.display(),
        file.display(),
        file.display()
    ))
}

/// Makes the copy a self-contained file holding the secrets; returns its schema version.
async fn carry_secrets(out: &mut SqliteConnection, dir: &Path) -> Result<i64, String> {
    let e = |e: sqlx::Error| format!("cannot write the backup: {e}");
    sqlx::query("PRAGMA journal_mode = DELETE").execute(&mut *out).await.map_err(e)?;
    sqlx::query(&format!("CREATE TABLE {TABLE} (name TEXT PRIMARY KEY, content BLOB NOT NULL)"))
        .execute(&mut *out)
        .await
        .map_err(e)?;
    for name in SECRETS {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            sqlx::query(&format!("INSERT INTO {TABLE} (name, content) VALUES (?, ?)"))
                .bind(*name)
                .bind(bytes)
                .execute(&mut *out)
                .await
                .map_err(e)?;
        }
    }
    sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&mut *out).await.map_err(e)
}

/// Puts the backup into the data directory; returns what to tell the operator.
pub async fn restore(config: &Config, file: &Path, replace: bool) -> Result<String, String> {
    sqlite_only(config, "restore")?;
    let dir = &config.data_dir;
    files::private_dir(dir)?;
    let _lock = files::lock_data_dir(dir).map_err(|e| format!("{e}, then restore"))?;
    let secrets = check(file).await?;
    let db = dir.join(SQLITE_FILE);
    if db.exists() {
        if !replace {
            return Err(format!(
                "{} already has a database: restore into a new data directory, or add --replace (the current \
                 database is kept beside it, renamed)",
                dir.display()
            ));
        }
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        for suffix in ["", "-wal", "-shm"] {
            let from = sibling(&db, suffix);
            if from.exists() {
                let to = sibling(&db, &format!(".replaced-{stamp}{suffix}"));
                std::fs::rename(&from, &to).map_err(|e| format!("cannot move {} aside: {e}", from.display()))?;
            }
        }
    }
    let tmp = sibling(&db, ".partial");
    let _ = std::fs::remove_file(&tmp);
    files::private_file(&tmp)?;
    std::fs::copy(file, &tmp).map_err(|e| format!("cannot copy {}: {e}", file.display()))?;
    let mut conn = open(&tmp, false).await?;
    sqlx::query(&format!("DROP TABLE {TABLE}"))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    let _ = conn.close().await;
    for (name, content) in &secrets {
        files::write_private(&dir.join(name), content)?;
    }
    std::fs::rename(&tmp, &db).map_err(|e| format!("cannot put the database in place: {e}"))?;
    Ok(format!("restored {} into {}: start the relay with --data-dir {}", file.display(), dir.display(), dir.display()))
}

/// A backup this relay can restore: intact, ours, not from a newer relay. Returns its secrets.
async fn check(file: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    if !file.is_file() {
        return Err(format!("there is no backup file at {}", file.display()));
    }
    let not_ours = || format!("{} is not a privaclaw-relay backup (made by `privaclaw-relay backup`)", file.display());
    let mut conn = open(file, true).await.map_err(|_| not_ours())?;
    let ok: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut conn).await.map_err(|_| not_ours())?;
    if ok != "ok" {
        return Err(format!("{} is damaged (SQLite's integrity check: {ok}): use another backup", file.display()));
    }
    let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .map_err(|_| not_ours())?;
    store::check_schema(version).map_err(|e| format!("{}: {e}", file.display()))?;
    let secrets = sqlx::query_as(&format!("SELECT name, content FROM {TABLE}"))
        .fetch_all(&mut conn)
        .await
        .map_err(|_| not_ours())?;
    let _ = conn.close().await;
    Ok(secrets)
}
