//! Which file a `workflow` command runs: `<workflows>/<workflow_id>`, and nothing else.
//!
//! The id is a plain file name (`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`: no separator, no
//! leading dot, so no `..` and no absolute path). The file it names is then resolved through
//! every symlink, and must still lie inside the (equally resolved) workflows directory and be
//! a regular executable file. A symlink inside the directory to a script next to it is fine;
//! one that leads out of it is refused.

use std::fs;
use std::path::{Path, PathBuf};

const MAX_ID: usize = 128;

/// Whether `id` may name a workflow.
pub fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    let word = |c: &u8| c.is_ascii_alphanumeric();
    b.first().is_some_and(word) && b.len() <= MAX_ID && b.iter().all(|c| word(c) || matches!(c, b'.' | b'_' | b'-'))
}

/// The file to run for workflow `id` from directory `dir`, or why there is none.
pub fn resolve(dir: &Path, id: &str) -> Result<PathBuf, String> {
    if !valid_id(id) {
        let shown: String = id.chars().take(MAX_ID).collect();
        return Err(format!(
            "invalid workflow id {shown:?}: it must be 1 to 128 letters, digits, '.', '_' or '-', \
             starting with a letter or digit"
        ));
    }
    let unknown = || format!("unknown workflow {id:?}");
    let root = fs::canonicalize(dir).map_err(|e| format!("the workflows directory is not usable: {e}"))?;
    if !root.is_dir() {
        return Err("the workflows directory is not a directory".to_owned());
    }
    let path = fs::canonicalize(root.join(id)).map_err(|_| unknown())?;
    // Component-wise: /srv/wf-evil is not inside /srv/wf.
    if !path.starts_with(&root) || path == root {
        return Err(format!("workflow {id:?} leads outside the workflows directory"));
    }
    let meta = fs::metadata(&path).map_err(|_| unknown())?;
    if !meta.is_file() || !executable(&meta) {
        return Err(format!("workflow {id:?} is not an executable file"));
    }
    Ok(path)
}

#[cfg(unix)]
fn executable(meta: &fs::Metadata) -> bool {
    std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0
}

/// Windows has no execute bit: the id names the file with its extension (`backup.exe`,
/// `deploy.cmd`).
#[cfg(not(unix))]
fn executable(_: &fs::Metadata) -> bool {
    true
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("privaclaw-wf-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn script(path: &Path, mode: u32) {
        fs::write(path, "#!/bin/sh\necho hi\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn ids_are_plain_file_names() {
        for ok in ["a", "wf-1", "Backup_2024.sh", "a..b", "9", &"x".repeat(128)] {
            assert!(valid_id(ok), "{ok}");
        }
        let long = "x".repeat(129);
        for bad in
            ["", ".", "..", ".hidden", "-x", "_x", "../x", "a/b", "/etc/passwd", "a\\b", "a b", "é", "a\0", &long]
        {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn only_executables_inside_the_directory_resolve() {
        let base = scratch("resolve");
        let dir = base.join("wf");
        fs::create_dir(&dir).unwrap();
        let outside = base.join("wf-evil");
        fs::create_dir(&outside).unwrap();
        script(&dir.join("ok"), 0o755);
        script(&dir.join("plain"), 0o644);
        fs::create_dir(dir.join("subdir")).unwrap();
        script(&outside.join("x"), 0o755);
        symlink(dir.join("ok"), dir.join("alias")).unwrap();
        symlink("ok", dir.join("relative-alias")).unwrap();
        symlink(outside.join("x"), dir.join("escape")).unwrap();
        symlink("../wf-evil/x", dir.join("escape-relative")).unwrap();
        symlink("/bin/sh", dir.join("shell")).unwrap();
        symlink(&base, dir.join("up")).unwrap();
        symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
        let ok = fs::canonicalize(dir.join("ok")).unwrap();

        assert_eq!(resolve(&dir, "ok"), Ok(ok.clone()));
        assert_eq!(resolve(&dir, "alias"), Ok(ok.clone()));
        assert_eq!(resolve(&dir, "relative-alias"), Ok(ok.clone()));
        // The directory itself may be reached through a symlink.
        symlink(&dir, base.join("wf-link")).unwrap();
        assert_eq!(resolve(&base.join("wf-link"), "ok"), Ok(ok.clone()));

        for (id, why) in [
            ("../wf-evil/x", "invalid workflow id"),
            ("..", "invalid workflow id"),
            ("/bin/sh", "invalid workflow id"),
            (&*outside.join("x").to_string_lossy(), "invalid workflow id"),
            ("escape", "leads outside"),
            ("escape-relative", "leads outside"),
            ("shell", "leads outside"),
            ("up", "leads outside"),
            ("plain", "not an executable file"),
            ("subdir", "not an executable file"),
            ("missing", "unknown workflow"),
            ("dangling", "unknown workflow"),
        ] {
            let err = resolve(&dir, id).unwrap_err();
            assert!(err.contains(why), "{id}: {err}");
        }
        assert!(resolve(&base.join("no-such-dir"), "ok").unwrap_err().contains("not usable"));
        assert!(resolve(&dir.join("ok"), "ok").is_err(), "a file is no workflows directory");
        fs::remove_dir_all(&base).unwrap();
    }
}
