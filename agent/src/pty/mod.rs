//! Pseudo-terminals: a shell on a PTY of a given size, its output, its input, and its end.
//!
//! `unix.rs` (rustix: openpt, setsid + TIOCSCTTY, TIOCSWINSZ, process-group signals) and
//! `windows.rs` (ConPTY through windows-sys) give the same `Pty`, so `session.rs` never
//! knows which one it drives: `spawn`, `read`, `write_all`, `resize`, `exited`, `terminate`.
//! Dropping a `Pty` whose shell still runs kills and reaps it, so no path leaves a zombie.

#[cfg(windows)]
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::Pty;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::Pty;
#[cfg(windows)]
pub(crate) use windows::new_job;

/// How long a hung-up shell gets to exit before it is killed.
pub const KILL_AFTER: Duration = Duration::from_secs(2);

/// True if `done` finished within `limit` (a process asked to go that went).
pub async fn within<T>(limit: Duration, done: impl std::future::Future<Output = T>) -> bool {
    let late = async {
        smol::Timer::after(limit).await;
        false
    };
    smol::future::or(
        async {
            done.await;
            true
        },
        late,
    )
    .await
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Size {
    pub cols: u16,
    pub rows: u16,
}

impl Size {
    /// What a shell gets when the relay names no size.
    pub const DEFAULT: Size = Size { cols: 80, rows: 24 };

    /// A size from the relay, if it names both dimensions and neither is zero.
    pub fn from_relay(cols: Option<u16>, rows: Option<u16>) -> Option<Size> {
        match (cols, rows) {
            (Some(cols), Some(rows)) if cols > 0 && rows > 0 => Some(Size { cols, rows }),
            _ => None,
        }
    }
}

/// `$SHELL`, else `/bin/sh`. On Windows: Windows PowerShell where it is installed (every
/// Windows 10 and 11), else `%COMSPEC%`, else `cmd.exe`.
pub fn default_shell() -> PathBuf {
    #[cfg(windows)]
    if let Some(root) = std::env::var_os("SystemRoot") {
        let powershell = Path::new(&root).join("System32\\WindowsPowerShell\\v1.0\\powershell.exe");
        if powershell.is_file() {
            return powershell;
        }
    }
    let (var, fallback) = if cfg!(windows) { ("COMSPEC", "cmd.exe") } else { ("SHELL", "/bin/sh") };
    std::env::var_os(var).filter(|v| !v.is_empty()).map_or_else(|| fallback.into(), PathBuf::from)
}

/// Where shells start: the user's home directory, or the filesystem root without one.
pub fn home_dir() -> PathBuf {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| if cfg!(windows) { "C:\\" } else { "/" }.into())
}

/// Reads until `needle` shows up in the output (tests of both sides). The deadline only turns
/// a hang into a failure; nothing waits on it when the test passes.
#[cfg(test)]
async fn read_until(pty: &Pty, needle: &str) {
    let seen = std::cell::RefCell::new(Vec::new());
    let text = || String::from_utf8_lossy(&seen.borrow()).into_owned();
    let read = async {
        let mut buf = [0; 4096];
        while !text().contains(needle) {
            let n = pty.read(&mut buf).await.unwrap();
            assert!(n > 0, "terminal closed before {needle:?}: {:?}", text());
            seen.borrow_mut().extend_from_slice(&buf[..n]);
        }
    };
    let deadline = async {
        smol::Timer::after(Duration::from_secs(30)).await;
        panic!("no {needle:?} in {:?}", text());
    };
    smol::future::or(read, deadline).await
}
