//! The device credentials file, `~/.relay-connector.json` by default.
//!
//! Pairing writes `{device_id, token, relay_url}` (the reference's format) and every later
//! run reads it. The token is a password, so the file is created readable by its owner only
//! and replaced atomically: a crash or a full disk leaves either the old file or the new one,
//! never a truncated one, and the secret is never readable by others, not even briefly.

use miniserde::{Deserialize, Serialize, json};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize, PartialEq)]
// No Debug outside tests: it would print the token.
#[cfg_attr(test, derive(Debug))]
pub struct Config {
    pub device_id: String,
    pub token: String,
    pub relay_url: String,
}

const FILE_NAME: &str = ".relay-connector.json";

/// `~/.relay-connector.json`; on Windows in the user's profile directory.
pub fn default_path() -> Option<PathBuf> {
    let home = std::env::var_os(if cfg!(windows) { "USERPROFILE" } else { "HOME" })?;
    Some(Path::new(&home).join(FILE_NAME))
}

pub fn load(path: &Path) -> Result<Config, String> {
    let text = fs::read_to_string(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => format!("no configuration at {}: run with --pair CODE first", path.display()),
        _ => format!("cannot read {}: {e} (run with --pair CODE first to create it)", path.display()),
    })?;
    json::from_str(&text).map_err(|_| {
        format!(
            "{} is not a valid configuration (expected device_id, token and relay_url): \
             run with --pair CODE to pair again",
            path.display()
        )
    })
}

pub fn save(path: &Path, config: &Config) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp_name = path.file_name().unwrap_or(FILE_NAME.as_ref()).to_owned();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    // A leftover from a crashed run would make create_new fail.
    let _ = fs::remove_file(&tmp);
    let written = write_private(&tmp, json::to_string(config).as_bytes()).and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    // Make the rename itself durable; not possible (nor needed) on Windows.
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Creates `path` with mode 0600 from the start (no chmod window) and flushes it to disk.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file: File = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("privaclaw-config-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn saves_owner_only_atomically_and_reads_back() {
        let dir = scratch_dir("save");
        let path = dir.join("cfg.json");
        fs::write(&path, "old contents").unwrap();
        let config = Config {
            device_id: "dev-1".into(),
            token: "secret \"token\"".into(),
            relay_url: "wss://relay.example".into(),
        };
        save(&path, &config).unwrap();
        assert_eq!(load(&path).unwrap(), config);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["cfg.json"], "the temporary file must be gone");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_says_to_pair_first() {
        let dir = scratch_dir("missing");
        let err = load(&dir.join("nope.json")).unwrap_err();
        assert!(err.starts_with("no configuration at "), "{err}");
        assert!(err.ends_with("run with --pair CODE first"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn invalid_file_says_to_pair_again() {
        let dir = scratch_dir("invalid");
        let path = dir.join("cfg.json");
        fs::write(&path, r#"{"device_id":"d"}"#).unwrap();
        assert!(load(&path).unwrap_err().contains("--pair CODE"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
