//! What /proc says about the processes a test or benchmark started: whether a program is
//! held back (it stops writing) and whether memory stays bounded.

/// The command name and the fields after it in /proc/PID/stat (index 0 is the state).
pub fn stat(pid: u32) -> Option<(String, Vec<String>)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (open, close) = (s.find('(')?, s.rfind(')')?);
    Some((s[open + 1..close].to_string(), s[close + 2..].split_whitespace().map(String::from).collect()))
}

/// Direct children of `parent` running `comm`.
pub fn children_named(parent: u32, comm: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            stat(*pid).is_some_and(|(c, f)| c == comm && f.get(1).and_then(|p| p.parse().ok()) == Some(parent))
        })
        .collect()
}

/// Bytes the process has written so far.
pub fn wchar(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("wchar: ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// A field of /proc/PID/status in KiB (`VmRSS:`, `RssAnon:`); 0 if the process is gone.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}
