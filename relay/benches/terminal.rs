//! Terminal benchmark (not a test): the real relay binary (release under `cargo bench`), the
//! real connector (a release build), real shells on real PTYs, and browser clients speaking
//! `/session`. It measures, in one run:
//!
//! 1. output throughput at the browser for 64 MiB of `head -c … /dev/zero | tr '\0' a | fold
//!    -w 120`, against the raw PTY rate of the same pipeline read locally (a Rust reader on a
//!    PTY, in the same run, interleaved), with the relay's and the connector's CPU seconds;
//! 2. keystroke echo latency (kernel tty echo, one key per frame, 10 ms apart), idle and while
//!    another session of the same connector streams;
//! 3. session set-up: socket open → `auth_ok` → `session_started` → first output byte;
//! 5. a flood: 20 sessions running `yes` whose browsers read slowly or not at all; relay and
//!    connector RSS over the window, and echo in a 21st session meanwhile;
//! 6. the connector: binary sizes (dist/), RSS idle and with 10 sessions, peak while streaming.
//!
//! (4, idle connectors, is `benches/relay.rs`.) Figures are printed as a table next to the
//! reference system's (../shared/baselines.md) and the goals of issue #6; with `BENCH_ROWS=FILE`
//! the rows are also written there, tab-separated, for `scripts/bench`.
//!
//! The connector: `CONNECTOR_BIN`, else `dist/relay-connector-linux-x86_64` (scripts/build-release),
//! else `agent/target/release/relay-connector`.
//!
//! Knobs: BENCH_MIB (64), BENCH_REPS (3), BENCH_KEYS (300), BENCH_SETUPS (30),
//! BENCH_FLOOD_SESSIONS (20), BENCH_FLOOD_SECS (30), BENCH_ONLY (comma list of
//! `agent,setup,throughput,echo,flood`).

#[path = "../tests/common/mod.rs"]
mod common;

use base64::Engine;
use common::procfs::{children_named, stat, status_kib, wchar};
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn wanted(section: &str) -> bool {
    match std::env::var("BENCH_ONLY") {
        Ok(only) if !only.is_empty() => only.split(',').any(|s| s.trim() == section),
        _ => true,
    }
}

// --- /proc ----------------------------------------------------------------------------------

fn rss_mib(pid: u32) -> f64 {
    status_kib(pid, "VmRSS:") as f64 / 1024.0
}

fn anon_mib(pid: u32) -> f64 {
    status_kib(pid, "RssAnon:") as f64 / 1024.0
}

fn clk_tck() -> f64 {
    unsafe extern "C" {
        fn sysconf(name: i32) -> i64;
    }
    const SC_CLK_TCK: i32 = 2;
    // SAFETY: sysconf only reads a constant.
    let t = unsafe { sysconf(SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// User + system CPU seconds of a process (not its children).
fn cpu_secs(pid: u32) -> f64 {
    let Some((_, f)) = stat(pid) else { return 0.0 };
    (f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0)) as f64 / clk_tck()
}

/// Busy and total CPU ticks of the whole machine (all cores), from /proc/stat.
fn machine_ticks() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> =
        s.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// Share of the machine's CPU (all cores) busy since `before`.
fn busy_since(before: (u64, u64)) -> f64 {
    let now = machine_ticks();
    (now.0 - before.0) as f64 / (now.1 - before.1).max(1) as f64
}

/// Samples the RSS of some processes until stopped: per process (min, max) in MiB.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<Vec<(f64, f64)>>>,
}

impl Sampler {
    fn start(pids: Vec<u32>, every: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut series = vec![Vec::new(); pids.len()];
            let t0 = Instant::now();
            loop {
                let t = t0.elapsed().as_secs_f64();
                for (i, pid) in pids.iter().enumerate() {
                    series[i].push((t, rss_mib(*pid)));
                }
                if flag.load(Ordering::Relaxed) {
                    return series;
                }
                tokio::time::sleep(every).await;
            }
        });
        Sampler { stop, task }
    }

    /// Per process: (seconds since start, RSS MiB) samples.
    async fn finish(self) -> Vec<Vec<(f64, f64)>> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

fn min_max(samples: impl Iterator<Item = f64>) -> (f64, f64) {
    samples.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

// --- statistics ---------------------------------------------------------------------------

/// Nearest-rank percentile of `v` (sorted here).
fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if s.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

fn median(v: &[f64]) -> f64 {
    pct(v, 50.0)
}

// --- raw PTY baseline ---------------------------------------------------------------------

/// The same pipeline on a fresh PTY read by this process: the ceiling the kernel sets.
mod raw_pty {
    use std::ffi::{c_char, c_int, c_ulong};
    use std::fs::{File, OpenOptions};
    use std::io::Read;
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    unsafe extern "C" {
        fn posix_openpt(flags: c_int) -> c_int;
        fn grantpt(fd: c_int) -> c_int;
        fn unlockpt(fd: c_int) -> c_int;
        fn ptsname_r(fd: c_int, buf: *mut c_char, len: usize) -> c_int;
        fn setsid() -> c_int;
        fn ioctl(fd: c_int, req: c_ulong, ...) -> c_int;
    }
    const O_RDWR: c_int = 0o2;
    const O_NOCTTY: c_int = 0o400;
    const O_CLOEXEC: c_int = 0o2000000;
    const TIOCSCTTY: c_ulong = 0x540E;

    /// Runs `sh -c cmd` on a new PTY (default termios, as the connector's shells get) and
    /// reads the master until the terminal closes; returns bytes read and seconds.
    pub fn run(cmd: &str) -> (u64, f64) {
        // SAFETY: plain libc calls on a descriptor we own; the buffer outlives ptsname_r.
        let master = unsafe {
            let fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
            assert!(fd >= 0, "posix_openpt");
            assert_eq!(grantpt(fd), 0);
            assert_eq!(unlockpt(fd), 0);
            File::from_raw_fd(fd)
        };
        let mut name = [0 as c_char; 128];
        use std::os::fd::AsRawFd;
        // SAFETY: name is 128 bytes.
        assert_eq!(unsafe { ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) }, 0);
        // SAFETY: ptsname_r wrote a NUL-terminated string.
        let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }.to_str().unwrap().to_string();
        let slave = OpenOptions::new().read(true).write(true).custom_flags(O_NOCTTY | O_CLOEXEC).open(path).unwrap();
        let t0 = Instant::now();
        let mut command = Command::new("/bin/sh");
        command
            .args(["-c", cmd])
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe single syscalls.
        unsafe {
            command.pre_exec(|| {
                setsid();
                ioctl(0, TIOCSCTTY, 0);
                Ok(())
            })
        };
        let mut child = command.spawn().unwrap();
        drop(command); // our copies of the slave: the master reports EIO once the child's close
        let mut master = master;
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0u64;
        loop {
            match master.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(e) if e.raw_os_error() == Some(5) => break, // EIO: no slave left
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("reading the PTY: {e}"),
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        child.wait().unwrap();
        (total, secs)
    }
}

// --- browser clients ----------------------------------------------------------------------

/// The `data_b64` of a `stdout` frame, found without a JSON parse when the frame has the shape
/// the connector writes (`{"type":"stdout","data":{"session_id":…,"data_b64":"…"}}`).
fn stdout_b64(text: &str) -> Option<std::borrow::Cow<'_, str>> {
    if text.starts_with(r#"{"type":"stdout""#) {
        let key = "\"data_b64\":\"";
        if let Some(i) = text.find(key) {
            let rest = &text[i + key.len()..];
            if let Some(j) = rest.find('"') {
                return Some(std::borrow::Cow::Borrowed(&rest[..j]));
            }
        }
    }
    let v: Value = serde_json::from_str(text).ok()?;
    if v["type"] != "stdout" {
        return None;
    }
    v["data"]["data_b64"].as_str().map(|s| std::borrow::Cow::Owned(s.to_string()))
}

/// What one frame from the relay was.
enum Got {
    /// Decoded terminal output (appended to the caller's buffer), its byte count.
    Output(usize),
    Other(Value),
    Closed,
}

/// A browser attached to one session.
struct Term {
    id: String,
    ws: Ws,
}

/// Finds `needle` in a stream of chunks.
struct Finder {
    needle: Vec<u8>,
    tail: Vec<u8>,
}

impl Finder {
    fn new(needle: &str) -> Finder {
        Finder { needle: needle.as_bytes().to_vec(), tail: Vec::new() }
    }

    fn feed(&mut self, data: &[u8]) -> bool {
        let n = self.needle.len();
        let mut hay = std::mem::take(&mut self.tail);
        hay.extend_from_slice(data);
        let found = hay.windows(n).any(|w| w == self.needle.as_slice());
        self.tail = hay[hay.len().saturating_sub(n - 1)..].to_vec();
        found
    }
}

impl Term {
    /// Reads one frame; terminal output is decoded into `buf` (appended).
    async fn recv(&mut self, buf: &mut Vec<u8>) -> Got {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.ws.next()).await.expect("a frame within the wait");
            match m {
                Some(Ok(Message::Text(t))) => {
                    if let Some(b64) = stdout_b64(&t) {
                        let before = buf.len();
                        B64.decode_vec(b64.as_bytes(), buf).expect("valid base64");
                        return Got::Output(buf.len() - before);
                    }
                    return Got::Other(serde_json::from_str(&t).unwrap_or(Value::Null));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Got::Closed,
                Some(Ok(_)) => {}
            }
        }
    }

    async fn type_in(&mut self, keys: &str) {
        let f = json!({"type": "stdin", "data": {"session_id": self.id, "data_b64": b64(keys)}});
        self.ws.ws.send(Message::Text(f.to_string().into())).await.expect("send");
    }

    /// Reads until the output contains `needle`; returns the output bytes read.
    async fn until(&mut self, needle: &str) -> u64 {
        let mut f = Finder::new(needle);
        let mut buf = Vec::new();
        let mut total = 0u64;
        loop {
            buf.clear();
            match self.recv(&mut buf).await {
                Got::Output(n) => {
                    total += n as u64;
                    if f.feed(&buf) {
                        return total;
                    }
                }
                Got::Other(v) if v["type"] == "session_end" => panic!("session ended while waiting for {needle:?}"),
                Got::Other(_) => {}
                Got::Closed => panic!("socket closed while waiting for {needle:?}"),
            }
        }
    }
}

/// `marker` split with an empty quote so the typed command's echo does not contain it.
fn hide(marker: &str) -> String {
    let (a, b) = marker.split_at(marker.len() / 2);
    format!("{a}''{b}")
}

fn pipeline(bytes: usize) -> String {
    format!("head -c {bytes} /dev/zero | tr '\\0' a | fold -w 120")
}

// --- the bench ---------------------------------------------------------------------------

struct Row {
    figure: String,
    ours: String,
    reference: String,
    goal: String,
    ratio: String,
    met: Option<bool>,
}

/// One stream through the relay.
struct Stream {
    bytes: u64,
    secs: f64,
    relay_cpu: f64,
    agent_cpu: f64,
    /// This process: the browser side, which a real browser would run on another machine.
    client_cpu: f64,
    /// Share of the whole machine's CPU busy meanwhile.
    busy: f64,
    agent_peak: f64,
    relay_peak: f64,
}

struct Bench {
    relay: Relay,
    owner: User,
    device: String,
    agent: Agent,
    rows: Vec<Row>,
}

impl Bench {
    fn agent_pid(&self) -> u32 {
        self.agent.child.as_ref().unwrap().id()
    }

    fn row(&mut self, figure: &str, ours: String, reference: &str, goal: &str, ratio: Option<f64>, met: Option<bool>) {
        let ratio = ratio.map(|r| format!("{r:.2}")).unwrap_or_default();
        let r = Row { figure: figure.into(), ours, reference: reference.into(), goal: goal.into(), ratio, met };
        let mark = match r.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        println!("  {}: {} (reference {}; goal {}) {}", r.figure, r.ours, r.reference, r.goal, mark);
        self.rows.push(r);
    }

    /// A new session with a browser attached (a tiny receive buffer if `small`), its shell
    /// ready for input.
    async fn shell(&self, small: bool) -> Term {
        let id = self.relay.start_session(&self.owner, &self.device).await;
        let url = format!("{}/session", self.relay.ws);
        let ws = if small { Ws::open_small(&url).await } else { Ws::open(&url).await };
        let mut t = Term { id, ws };
        let auth = json!({"type": "auth", "data": {"token": self.owner.token, "session_id": t.id, "device_id": self.device, "cols": 120, "rows": 40}});
        t.ws.send(auth).await;
        t.ws.expect("auth_ok").await;
        t.ws.expect("session_started").await;
        t.type_in(&format!("echo {}\r", hide("READY"))).await;
        t.until("READY").await;
        t
    }

    async fn end(&self, t: &Term) {
        let (s, v) = self.relay.post("/functions/v1/end-session", &self.owner.token, json!({"session_id": t.id})).await;
        assert_eq!(s, 200, "end-session: {v}");
    }

    // 6. The connector at rest and with 10 sessions; sizes of the release builds.
    async fn agent_figures(&mut self) {
        println!("\n[agent] RSS idle and with 10 sessions, binary sizes");
        let pid = self.agent_pid();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (idle, idle_anon) = (rss_mib(pid), anon_mib(pid));
        let mut terms = Vec::new();
        for _ in 0..10 {
            terms.push(self.shell(false).await);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (ten, ten_anon) = (rss_mib(pid), anon_mib(pid));
        for t in &terms {
            self.end(t).await;
        }
        self.row(
            "connector RSS idle, connected",
            format!("{idle:.2} MiB ({idle_anon:.2} MiB anon)"),
            "8.68 MiB",
            "",
            Some(idle / 8.68),
            None,
        );
        self.row(
            "connector RSS with 10 sessions",
            format!("{ten:.2} MiB ({ten_anon:.2} MiB anon)"),
            "9.15 MiB",
            "",
            Some(ten / 9.15),
            None,
        );
        let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dist)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("relay-connector-")))
            .collect();
        files.sort();
        if files.is_empty() {
            println!("  (no dist/: run scripts/build-release for the size table)");
        }
        for f in files {
            let name = f.file_name().unwrap().to_str().unwrap().trim_start_matches("relay-connector-").to_string();
            let bytes = std::fs::metadata(&f).unwrap().len();
            let reference = match name.as_str() {
                "linux-armv7" | "linux-armv6" => Some(8.45),
                "linux-x86_64" => Some(8.63),
                n if n.starts_with("windows") => Some(7.41),
                _ => None,
            };
            self.row(
                &format!("connector binary {name}"),
                format!("{:.0} KB", bytes as f64 / 1000.0),
                &reference.map(|r| format!("{r} MB")).unwrap_or_default(),
                "",
                reference.map(|r| bytes as f64 / 1e6 / r),
                None,
            );
        }
    }

    // 3. Socket open → auth_ok → session_started → first output byte.
    async fn setup(&mut self) {
        let n = knob("BENCH_SETUPS", 30);
        println!("\n[setup] {n} sessions: open → auth_ok → session_started → first output byte");
        let (mut auth_ok, mut started, mut first) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let id = self.relay.start_session(&self.owner, &self.device).await;
            let t0 = Instant::now();
            let mut t = Term { id, ws: Ws::open(&format!("{}/session", self.relay.ws)).await };
            let auth = json!({"type": "auth", "data": {"token": self.owner.token, "session_id": t.id, "device_id": self.device}});
            t.ws.send(auth).await;
            let (mut a, mut s, mut f) = (None, None, None);
            let mut buf = Vec::new();
            while a.is_none() || s.is_none() || f.is_none() {
                match t.recv(&mut buf).await {
                    Got::Output(_) => f = f.or(Some(t0.elapsed())),
                    Got::Other(v) if v["type"] == "auth_ok" => a = Some(t0.elapsed()),
                    Got::Other(v) if v["type"] == "session_started" => s = Some(t0.elapsed()),
                    Got::Other(v) if v["type"] == "device_status" => {}
                    Got::Other(v) => panic!("unexpected frame during set-up: {v}"),
                    Got::Closed => panic!("socket closed during set-up"),
                }
            }
            let ms = |d: Option<Duration>| d.unwrap().as_secs_f64() * 1e3;
            auth_ok.push(ms(a));
            started.push(ms(s));
            first.push(ms(f));
            self.end(&t).await;
        }
        let p = |v: &Vec<f64>| (median(v), pct(v, 90.0));
        let (a, s, f) = (p(&auth_ok), p(&started), p(&first));
        self.row(
            "set-up: open → auth_ok, p50 (p90)",
            format!("{:.2} ms ({:.2})", a.0, a.1),
            "5.2 ms",
            "",
            Some(a.0 / 5.2),
            None,
        );
        self.row(
            "set-up: open → session_started, p50 (p90)",
            format!("{:.2} ms ({:.2})", s.0, s.1),
            "7.6 ms",
            "≤ 3 ms",
            Some(s.0 / 7.6),
            Some(s.0 <= 3.0),
        );
        self.row(
            "set-up: open → first output byte (/bin/sh prompt), p50 (p90)",
            format!("{:.2} ms ({:.2})", f.0, f.1),
            "19.1 ms (bash)",
            "",
            Some(f.0 / 19.1),
            None,
        );
    }

    /// Streams `pipeline(bytes)` in `t` until its end marker.
    async fn stream_once(&self, t: &mut Term, bytes: usize) -> Stream {
        let (rpid, apid, me) = (self.relay.pid(), self.agent_pid(), std::process::id());
        let sampler = Sampler::start(vec![apid, rpid], Duration::from_millis(20));
        let (rc0, ac0, cc0) = (cpu_secs(rpid), cpu_secs(apid), cpu_secs(me));
        let m0 = machine_ticks();
        let t0 = Instant::now();
        t.type_in(&format!("{}; echo {}\r", pipeline(bytes), hide("STREAMEND"))).await;
        let got = t.until("STREAMEND").await;
        let secs = t0.elapsed().as_secs_f64();
        let busy = busy_since(m0);
        let (rc, ac, cc) = (cpu_secs(rpid) - rc0, cpu_secs(apid) - ac0, cpu_secs(me) - cc0);
        let series = sampler.finish().await;
        let peak = |i: usize| min_max(series[i].iter().map(|s| s.1)).1;
        Stream {
            bytes: got,
            secs,
            relay_cpu: rc,
            agent_cpu: ac,
            client_cpu: cc,
            busy,
            agent_peak: peak(0),
            relay_peak: peak(1),
        }
    }

    // 1. Throughput at the browser vs the raw PTY rate, interleaved.
    async fn throughput(&mut self) {
        let mib = knob("BENCH_MIB", 64);
        let reps = knob("BENCH_REPS", 3).max(1);
        let bytes = mib << 20;
        // fold's lines of 120, each "\n" becoming "\r\n" on the terminal.
        let expected = (bytes + bytes / 120 * 2) as u64;
        println!("\n[throughput] {mib} MiB through relay + connector + PTY vs a local PTY reader, {reps} rounds");
        let mut t = self.shell(false).await;
        let (mut ours, mut raw, mut ratio, mut rcpu, mut acpu) = (vec![], vec![], vec![], vec![], vec![]);
        let (mut apeak, mut rpeak) = (0f64, 0f64);
        for i in 0..reps {
            let cmd = pipeline(bytes);
            let m0 = machine_ticks();
            let (rb, rs) = tokio::task::spawn_blocking(move || raw_pty::run(&cmd)).await.unwrap();
            let raw_busy = busy_since(m0);
            assert!(rb >= expected, "the raw PTY reader got {rb} bytes, expected {expected}");
            let st = self.stream_once(&mut t, bytes).await;
            assert!(st.bytes >= expected, "the browser got {} bytes, expected at least {expected}", st.bytes);
            let (r_mbs, o_mbs) = (rb as f64 / rs / 1e6, st.bytes as f64 / st.secs / 1e6);
            println!(
                "  round {}: raw PTY {r_mbs:.1} MB/s ({rs:.2} s, machine {:.0} % busy); through the relay {o_mbs:.1} MB/s ({:.2} s, machine {:.0} % busy); ratio {:.2}; CPU s: relay {:.2}, connector {:.2}, this client {:.2}",
                i + 1,
                raw_busy * 100.0,
                st.secs,
                st.busy * 100.0,
                o_mbs / r_mbs,
                st.relay_cpu,
                st.agent_cpu,
                st.client_cpu
            );
            raw.push(r_mbs);
            ours.push(o_mbs);
            ratio.push(o_mbs / r_mbs);
            rcpu.push(st.relay_cpu);
            acpu.push(st.agent_cpu);
            apeak = apeak.max(st.agent_peak);
            rpeak = rpeak.max(st.relay_peak);
        }
        self.end(&t).await;
        let (o, r, q) = (median(&ours), median(&raw), median(&ratio));
        let span = |v: &Vec<f64>| {
            let (lo, hi) = min_max(v.iter().copied());
            format!("{lo:.1}–{hi:.1}")
        };
        self.row(
            &format!("output through relay + connector, {mib} MiB, MB/s (median of {reps})"),
            format!("{o:.1} ({})", span(&ours)),
            "22.6 (18.8–29.3)",
            "",
            Some(o / 22.6),
            None,
        );
        self.row(
            "raw PTY rate, same pipeline, local reader, MB/s",
            format!("{r:.1} ({})", span(&raw)),
            "35–42",
            "",
            None,
            None,
        );
        self.row(
            "throughput ÷ raw PTY rate (median of per-round ratios)",
            format!("{:.0} % ({})", q * 100.0, {
                let (lo, hi) = min_max(ratio.iter().copied());
                format!("{:.0}–{:.0} %", lo * 100.0, hi * 100.0)
            }),
            "55–65 %",
            "≥ 90 %",
            Some(q / 0.60),
            Some(q >= 0.90),
        );
        let scale = 64.0 / mib as f64;
        let (rc, ac) = (median(&rcpu) * scale, median(&acpu) * scale);
        self.row("relay CPU per 64 MiB stream", format!("{rc:.2} s"), "1.28 s", "", Some(rc / 1.28), None);
        self.row("connector CPU per 64 MiB stream", format!("{ac:.2} s"), "1.1 s", "", Some(ac / 1.1), None);
        self.row(
            "connector peak RSS while streaming",
            format!("{apeak:.2} MiB"),
            "14.6 MiB",
            "",
            Some(apeak / 14.6),
            None,
        );
        self.row("relay peak RSS while streaming", format!("{rpeak:.1} MiB"), "", "", None, None);
    }

    // 2. Echo latency, idle and next to a streaming session.
    async fn echo(&mut self) {
        let keys = knob("BENCH_KEYS", 300);
        let mib = knob("BENCH_MIB", 64);
        println!("\n[echo] {keys} keys, one per frame, 10 ms apart, kernel tty echo");
        let mut e = self.echo_shell().await;
        let idle = echo_run(&mut e, keys).await;
        let (p50, p99) = (median(&idle), pct(&idle, 99.0));
        self.row("echo latency idle, p50", format!("{p50:.3} ms"), "0.55 ms", "", Some(p50 / 0.55), None);
        self.row(
            "echo latency idle, p99",
            format!("{p99:.3} ms"),
            "3.0 ms",
            "≤ 1 ms",
            Some(p99 / 3.0),
            Some(p99 <= 1.0),
        );
        println!("  idle: max {:.3} ms", min_max(idle.iter().copied()).1);

        // Session A of the same connector streams the pipeline over and over meanwhile.
        let mut a = self.shell(false).await;
        a.type_in(&format!("while :; do {}; done\r", pipeline(mib << 20))).await;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let reader = tokio::spawn(async move {
            let mut buf = Vec::with_capacity(64 << 10);
            let (mut total, t0) = (0u64, Instant::now());
            while !flag.load(Ordering::Relaxed) {
                buf.clear();
                match a.recv(&mut buf).await {
                    Got::Output(n) => total += n as u64,
                    Got::Other(_) => {}
                    Got::Closed => break,
                }
            }
            (a, total, t0.elapsed().as_secs_f64())
        });
        tokio::time::sleep(Duration::from_millis(300)).await; // the stream is under way
        let loaded = echo_run(&mut e, keys).await;
        stop.store(true, Ordering::Relaxed);
        let (a, streamed, secs) = reader.await.unwrap();
        self.end(&a).await;
        self.end(&e).await;
        let (l50, l99) = (median(&loaded), pct(&loaded, 99.0));
        println!(
            "  while streaming: max {:.3} ms; session A moved {:.1} MB meanwhile ({:.1} MB/s)",
            min_max(loaded.iter().copied()).1,
            streamed as f64 / 1e6,
            streamed as f64 / 1e6 / secs
        );
        self.row(
            "echo while another session streams, p50",
            format!("{l50:.3} ms"),
            "14–186 ms (run medians)",
            "",
            Some(l50 / 14.0),
            None,
        );
        self.row(
            "echo while another session streams, p99",
            format!("{l99:.3} ms"),
            "worst 351 ms",
            "≤ 10 ms",
            Some(l99 / 351.0),
            Some(l99 <= 10.0),
        );
        self.row(
            "  … the streaming session's rate meanwhile",
            format!("{:.1} MB/s", streamed as f64 / 1e6 / secs),
            "",
            "",
            None,
            None,
        );
    }

    /// A session whose terminal echoes each key at once: `stty -icanon`, then `cat >/dev/null`.
    async fn echo_shell(&self) -> Term {
        let mut e = self.shell(false).await;
        e.type_in(&format!("stty -icanon; echo {}; cat >/dev/null\r", hide("ECHOREADY"))).await;
        e.until("ECHOREADY").await;
        tokio::time::sleep(Duration::from_millis(100)).await; // let cat start reading
        e
    }

    // 5. Flood: sessions running `yes` whose browsers read slowly or not at all.
    async fn flood(&mut self) {
        let n = knob("BENCH_FLOOD_SESSIONS", 20);
        let secs = knob("BENCH_FLOOD_SECS", 30);
        let keys = knob("BENCH_KEYS", 300);
        let warmup = 5.0;
        println!(
            "\n[flood] {n} sessions running `yes`: {} browsers stopped, {} reading one frame per 100 ms; {warmup} s warm-up, {secs} s window",
            n - n / 2,
            n / 2
        );
        let (rpid, apid) = (self.relay.pid(), self.agent_pid());
        let mut e = self.echo_shell().await;
        let (r_before, a_before) = (rss_mib(rpid), rss_mib(apid));
        let mut stopped = Vec::new();
        let stop = Arc::new(AtomicBool::new(false));
        let mut slow = Vec::new();
        let mut ids = Vec::new();
        for i in 0..n {
            let mut t = self.shell(true).await;
            ids.push(t.id.clone());
            t.type_in("exec yes\r").await;
            if i % 2 == 0 {
                stopped.push(t);
            } else {
                let flag = stop.clone();
                slow.push(tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut total = 0u64;
                    while !flag.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        buf.clear();
                        match t.recv(&mut buf).await {
                            Got::Output(k) => total += k as u64,
                            Got::Other(_) => {}
                            Got::Closed => return (t, total, false),
                        }
                    }
                    (t, total, true)
                }));
            }
        }
        let sampler = Sampler::start(vec![rpid, apid], Duration::from_millis(250));
        tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
        let yes = children_named(apid, "yes");
        let w0: u64 = yes.iter().map(|p| wchar(*p)).sum();
        let (rc0, ac0) = (cpu_secs(rpid), cpu_secs(apid));
        let win0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(secs as u64 / 3)).await;
        let lat = echo_run(&mut e, keys).await;
        let rest = Duration::from_secs(secs as u64).saturating_sub(win0.elapsed());
        tokio::time::sleep(rest).await;
        let window = win0.elapsed().as_secs_f64();
        let w1: u64 = yes.iter().map(|p| wchar(*p)).sum();
        let (rc, ac) = (cpu_secs(rpid) - rc0, cpu_secs(apid) - ac0);
        let series = sampler.finish().await;
        stop.store(true, Ordering::Relaxed);
        let mut slow_bytes = 0u64;
        let mut alive = stopped.len();
        for h in slow {
            let (t, total, ok) = h.await.unwrap();
            slow_bytes += total;
            alive += ok as usize;
            stopped.push(t);
        }
        // A stopped browser was never cut off: once it reads, its session streams on (a browser
        // closed with 4008 would get only what its socket buffers held, a few KiB).
        let still_open = read_live(&mut stopped[0], 1 << 20).await;
        let in_window = |i: usize| min_max(series[i].iter().filter(|s| s.0 >= warmup - 0.01).map(|s| s.1));
        let ((rlo, rhi), (alo, ahi)) = (in_window(0), in_window(1));
        // Every 5 s, to tell buffers filling up to their bound from a leak.
        let marks = |i: usize| -> String {
            let mut next = 0.0;
            let mut v = Vec::new();
            for (t, mib) in &series[i] {
                if *t >= next {
                    v.push(format!("{mib:.1}"));
                    next = t - t % 5.0 + 5.0;
                }
            }
            v.join(" ")
        };
        println!("  RSS every 5 s from the start, MiB: relay {}; connector {}", marks(0), marks(1));
        for t in &stopped {
            self.end(t).await;
        }
        self.end(&e).await;
        println!(
            "  before: relay {r_before:.1} MiB, connector {a_before:.2} MiB; {} `yes` processes wrote {:.1} MB in the window; slow browsers read {:.1} MB; CPU relay {rc:.2} s, connector {ac:.2} s; {alive}/{n} browsers still connected; a stopped browser still gets its output: {still_open}",
            yes.len(),
            (w1 - w0) as f64 / 1e6,
            slow_bytes as f64 / 1e6
        );
        let (l50, l99) = (median(&lat), pct(&lat, 99.0));
        let slow: Vec<String> =
            lat.iter().enumerate().filter(|(_, l)| **l > 5.0).map(|(i, l)| format!("#{i} {l:.1}")).collect();
        println!(
            "  echo in the 21st session: p95 {:.3} ms, max {:.3} ms; keys over 5 ms: {}",
            pct(&lat, 95.0),
            min_max(lat.iter().copied()).1,
            if slow.is_empty() { "none".into() } else { slow.join(", ") }
        );
        // Flat: nothing grows past where the window began (buffers full after the warm-up).
        // Memory may fall: a stalled session's resend buffer is let go after a quiet while.
        let growth = |i: usize, top: f64| top - series[i].iter().find(|s| s.0 >= warmup - 0.01).map_or(top, |s| s.1);
        let (rgrow, agrow) = (growth(0, rhi), growth(1, ahi));
        self.row(
            &format!("flood: relay RSS min / max over {window:.0} s ({n} × yes), growth in the window"),
            format!("{rlo:.1} / {rhi:.1} MiB, +{rgrow:.1}"),
            "+134 MiB for one stalled browser",
            "flat",
            None,
            Some(rgrow <= 4.0),
        );
        self.row(
            &format!("flood: connector RSS min / max over {window:.0} s, growth in the window"),
            format!("{alo:.2} / {ahi:.2} MiB, +{agrow:.2}"),
            "",
            "flat",
            None,
            Some(agrow <= 1.0),
        );
        self.row(
            "flood: CPU in the window, relay / connector",
            format!("{:.0} % / {:.0} % of a core", rc / window * 100.0, ac / window * 100.0),
            "",
            "",
            None,
            None,
        );
        self.row("flood: echo in a 21st session, p50", format!("{l50:.3} ms"), "", "", None, None);
        self.row("flood: echo in a 21st session, p99", format!("{l99:.3} ms"), "", "≤ 10 ms", None, Some(l99 <= 10.0));
        self.row(
            "flood: stalled browsers kept (none cut off with 4008)",
            format!("{alive}/{n}"),
            "",
            "all",
            None,
            Some(alive == n && still_open),
        );
    }
}

/// Reads until `want` output bytes arrived; false if the socket closed first.
async fn read_live(t: &mut Term, want: u64) -> bool {
    let mut buf = Vec::new();
    let mut total = 0u64;
    while total < want {
        buf.clear();
        match t.recv(&mut buf).await {
            Got::Output(n) => total += n as u64,
            Got::Other(_) => {}
            Got::Closed => return false,
        }
    }
    true
}

/// Sends `keys` single-key frames 10 ms apart (a fixed schedule, whatever the echo does) and
/// times each key from its send to its echo arriving; milliseconds, in order.
async fn echo_run(e: &mut Term, keys: usize) -> Vec<f64> {
    let gap = Duration::from_millis(10);
    let frames: Vec<String> = (0..keys)
        .map(|i| {
            let k = (b'a' + (i % 26) as u8) as char;
            json!({"type": "stdin", "data": {"session_id": e.id, "data_b64": b64(&k.to_string())}}).to_string()
        })
        .collect();
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let mut sent: Vec<Instant> = Vec::with_capacity(keys);
    let mut lat: Vec<f64> = Vec::with_capacity(keys);
    let mut buf = Vec::new();
    let run = async {
        while lat.len() < keys {
            let due = start + gap * sent.len() as u32;
            tokio::select! {
                biased;
                m = e.ws.ws.next() => {
                    let now = Instant::now();
                    match m {
                        Some(Ok(Message::Text(t))) => {
                            if let Some(b) = stdout_b64(&t) {
                                buf.clear();
                                B64.decode_vec(b.as_bytes(), &mut buf).unwrap();
                                for &c in &buf {
                                    assert!(c.is_ascii_lowercase(), "unexpected byte {c:#x} in the echo");
                                    let i = lat.len();
                                    assert!(i < sent.len(), "an echo before its key");
                                    lat.push((now - sent[i]).as_secs_f64() * 1e3);
                                }
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => panic!("echo socket closed"),
                    }
                }
                _ = tokio::time::sleep_until(due), if sent.len() < keys => {
                    let i = sent.len();
                    sent.push(Instant::now());
                    e.ws.ws.send(Message::Text(frames[i].clone().into())).await.unwrap();
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60) + gap * keys as u32, run).await.expect("every key echoed");
    lat
}

fn find_connector() -> PathBuf {
    if let Ok(p) = std::env::var("CONNECTOR_BIN") {
        return p.into();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for p in ["dist/relay-connector-linux-x86_64", "agent/target/release/relay-connector"] {
        let p = root.join(p);
        if p.exists() {
            return p.canonicalize().unwrap();
        }
    }
    panic!(
        "no release connector: run scripts/build-release (or cd agent && cargo build --release), or set CONNECTOR_BIN"
    );
}

fn main() {
    let connector = find_connector();
    // SAFETY: no other thread exists yet.
    unsafe { std::env::set_var("CONNECTOR_BIN", &connector) };
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(run(connector));
}

async fn run(connector: PathBuf) {
    let E2e { relay, owner, device, agent, .. } = E2e::start().await;
    println!(
        "terminal benchmark: relay {} (pid {}), connector {} (pid {}), shell /bin/sh",
        env!("CARGO_BIN_EXE_privaclaw-relay"),
        relay.pid(),
        connector.display(),
        agent.child.as_ref().unwrap().id()
    );
    let mut b = Bench { relay, owner, device, agent, rows: Vec::new() };
    if wanted("agent") {
        b.agent_figures().await;
    }
    if wanted("setup") {
        b.setup().await;
    }
    if wanted("throughput") {
        b.throughput().await;
    }
    if wanted("echo") {
        b.echo().await;
    }
    if wanted("flood") {
        b.flood().await;
    }

    println!("\n| figure | ours | reference | goal | ratio to reference | goal met |");
    println!("|---|---:|---:|---:|---:|:--:|");
    let mut tsv = String::new();
    for r in &b.rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        println!("| {} | {} | {} | {} | {} | {} |", r.figure, r.ours, r.reference, r.goal, r.ratio, met);
        tsv.push_str(&format!("{}\t{}\t{}\t{}\t{}\t{}\n", r.figure, r.ours, r.reference, r.goal, r.ratio, met));
    }
    println!("(ratio: ours ÷ reference; for throughput ÷ raw PTY, against the reference's ≈ 60 %)");
    if let Ok(path) = std::env::var("BENCH_ROWS") {
        std::fs::write(&path, tsv).expect("BENCH_ROWS writable");
    }
    let log = b.relay.log();
    let errors = log.lines().filter(|l| l.contains("ERROR")).count();
    if errors > 0 {
        println!("note: the relay logged {errors} ERROR lines during the run");
    }
}
