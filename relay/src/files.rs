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
