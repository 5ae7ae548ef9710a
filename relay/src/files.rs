//! The data directory and what the relay keeps in it (the SQLite database with its WAL and
//! shared-memory files, the token-signing secret, the secrets key): readable by the relay's
//! user alone. A directory or file found more open than that is tightened, with a warning,
//! because what it holds (password hashes, device-token hashes, secrets) is the keys to every
//! connected machine.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (mode 0700), or tightens an existing one to 0700.
pub fn private_dir(dir: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
    tighten(dir, 0o700)
}

/// Sets `path`'s mode to `mode` if it grants more than that; says so when it does.
fn tighten(path: &Path, mode: u32) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let now = meta.permissions().mode() & 0o777;
    if now & !mode == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
        format!("{} is readable by others (mode {now:o}) and cannot be made private: {e}", path.display())
    })?;
    tracing::warn!(path = %path.display(), was = %format!("{now:o}"), now = %format!("{mode:o}"), "made private: it was readable by other users");
    Ok(())
}

/// Makes sure `path` exists with mode 0600 (created empty if missing, tightened if looser).
/// SQLite gives the WAL and shared-memory files it creates the database file's mode.
pub fn private_file(path: &Path) -> Result<(), String> {
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => tighten(path, 0o600),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

/// Tightens `path` to 0600 if it exists.
pub fn private_if_present(path: &Path) -> Result<(), String> {
    if path.exists() { tighten(path, 0o600) } else { Ok(()) }
}

/// A secret generated once and kept (mode 0600) at `path`.
pub fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, String> {
    if let Ok(s) = std::fs::read(path) {
        tighten(path, 0o600)?;
        return Ok(s);
    }
    let secret = crate::auth::secrets::token();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(secret.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(secret.into_bytes())
}

/// Writes `bytes` to `path` (mode 0600) through a temporary file renamed over it, so a crash
/// leaves the old file or the new one, never half of one.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = Path::new(&tmp);
    let _ = std::fs::remove_file(tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
}

/// The lock a relay holds on its data directory while it runs (`relay.lock`, an advisory
/// lock the OS drops when the process ends, however it ends): `restore` takes it too, so it
/// never writes under a running relay. `Err` names what holds it.
pub fn lock_data_dir(dir: &Path) -> Result<std::fs::File, String> {
    let path = dir.join("relay.lock");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(format!("a relay is running on {} (it holds {}): stop it first", dir.display(), path.display()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}
