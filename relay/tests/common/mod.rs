//! The one test harness: starts the real `privaclaw-relay` binary on a loopback port with a
//! fresh database (SQLite in a temp dir, or a new PostgreSQL database when
//! `TEST_DATABASE_URL` points at a server), and gives tests an HTTP client plus WebSocket
//! clients that play the connector and the browser.
//!
//! Waits are bounded by `WAIT` so a broken relay fails a test instead of hanging it; no test
//! sleeps to synchronise.

#![allow(dead_code)]

pub mod cluster;
pub mod procfs;
pub mod smtp;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(20);
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

pub struct Relay {
    child: Child,
    pub base: String,
    pub ws: String,
    pub dir: tempfile::TempDir,
    pub database_url: Option<String>,
    stdout: Arc<Mutex<Vec<String>>>,
    args: Vec<String>,
    /// How many of `args` every start uses (the rest came from `restart_with`).
    fixed: usize,
    opts: Opts,
    pub http: reqwest::Client,
}

/// What a relay is started with: extra flags and environment.
#[derive(Default, Clone)]
pub struct Opts {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Shell commands run before the relay replaces the shell (e.g. `ulimit -n 64`).
    pub shell: Option<String>,
    /// Variables the harness would set that this relay must not have.
    pub unset: Vec<String>,
    /// `--listen` (default 127.0.0.1:0), for a port another process must know beforehand.
    pub listen: Option<String>,
    /// A PostgreSQL database other relays use too (default: a fresh one, if any).
    pub database: Option<String>,
}

impl Opts {
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn shell(mut self, cmd: &str) -> Self {
        self.shell = Some(cmd.into());
        self
    }

    pub fn listen(mut self, addr: &str) -> Self {
        self.listen = Some(addr.into());
        self
    }

    pub fn database(mut self, url: &str) -> Self {
        self.database = Some(url.into());
        self
    }

    /// Without `JWT_SECRET`: the relay keeps its own signing secret in its data directory.
    pub fn own_secret(mut self) -> Self {
        self.unset.push("JWT_SECRET".into());
        self
    }
}

/// Idle connections are dropped well before the relay's 30 s keep-alive limit would close them
/// under a request.
fn client() -> reqwest::Client {
    reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(5)).build().unwrap()
}

pub async fn fresh_database() -> Option<String> {
    let admin = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())?;
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("TEST_DATABASE_URL reachable");
    let name = format!("privaclaw_t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let (prefix, _) = admin.rsplit_once('/').expect("URL with a database name");
    Some(format!("{prefix}/{name}"))
}

impl Relay {
    pub async fn start() -> Relay {
        Relay::start_with(Opts::default()).await
    }

    pub async fn start_with(opts: Opts) -> Relay {
        let mut r = Relay::unstarted(opts).await;
        r.spawn();
        r
    }

    /// A relay not started yet (`restart` starts it): for what must happen to its data
    /// directory first.
    pub async fn stopped(opts: Opts) -> Relay {
        Relay::unstarted(opts).await
    }

    /// A relay that must refuse to start with `opts`; returns what it said.
    pub async fn refuses(opts: Opts) -> String {
        Relay::unstarted(opts).await.start_failing(&[])
    }

    async fn unstarted(opts: Opts) -> Relay {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match &opts.database {
            Some(url) => Some(url.clone()),
            None => fresh_database().await,
        };
        let mut args = vec![
            "--listen".to_string(),
            opts.listen.clone().unwrap_or_else(|| "127.0.0.1:0".into()),
            "--data-dir".into(),
            dir.path().join("data").display().to_string(),
        ];
        args.extend(opts.args.iter().cloned());
        Relay {
            child: Command::new("true").spawn().unwrap(),
            base: String::new(),
            ws: String::new(),
            dir,
            database_url,
            stdout: Arc::default(),
            fixed: args.len(),
            args,
            opts,
            http: client(),
        }
    }

    /// The relay's command line, as `spawn` runs it.
    fn command(&self) -> Command {
        let bin = env!("CARGO_BIN_EXE_privaclaw-relay");
        let mut cmd = match &self.opts.shell {
            Some(pre) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("{pre}; exec \"$0\" \"$@\""), bin]);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(&self.args)
            .envs(self.opts.env.iter().map(|(k, v)| (k, v)))
            .env("JWT_SECRET", JWT_SECRET)
            .env("RUST_LOG", "info,privaclaw_relay=debug")
            .env_remove("DATABASE_URL")
            .env_remove("PORT");
        if let Some(db) = &self.database_url {
            cmd.env("DATABASE_URL", db);
        }
        for k in &self.opts.unset {
            cmd.env_remove(k);
        }
        cmd
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// `privaclaw-relay ARGS --data-dir DIR` (a command such as `backup`) for this relay's
    /// data directory and database.
    pub fn subcommand(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_privaclaw-relay"));
        cmd.args(args).arg("--data-dir").arg(self.data_dir()).env_remove("DATABASE_URL").env("RUST_LOG", "warn");
        if let Some(db) = &self.database_url {
            cmd.env("DATABASE_URL", db);
        }
        cmd
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        self.child = self.command().stdout(Stdio::piped()).stderr(log).spawn().expect("relay binary runs");
        let out = self.child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = self.stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("privaclaw-relay listening on ") {
                    let _ = tx.send(addr.to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = rx.recv_timeout(WAIT).unwrap_or_else(|_| {
            panic!("relay did not start; its log:\n{}", std::fs::read_to_string(self.log_path()).unwrap_or_default())
        });
        self.base = addr.clone();
        self.ws = addr.replacen("http", "ws", 1);
        // Keep the port on restart.
        if let Some(i) = self.args.iter().position(|a| a == "--listen") {
            self.args[i + 1] = addr.split("://").nth(1).unwrap().to_string();
        }
    }

    pub fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("relay.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Everything the relay printed on stdout (console emails).
    pub fn console(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    /// Waits until the console shows a line containing `needle`; returns that line.
    pub async fn console_line(&self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(l) = self.stdout.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "console never showed {needle:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9` and start again on the same port and database.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.http = client();
    }

    /// `kill -9` and start again with these flags added to the ones it was started with.
    pub fn restart_with(&mut self, args: &[&str]) {
        self.args.truncate(self.fixed);
        self.args.extend(args.iter().map(|a| a.to_string()));
        self.restart();
    }

    /// Runs the relay (stopped) again with these flags added, expecting it to refuse to
    /// start; returns what it said.
    pub fn start_failing(&mut self, args: &[&str]) -> String {
        self.args.truncate(self.fixed);
        self.args.extend(args.iter().map(|a| a.to_string()));
        let out = self.command().stdin(Stdio::null()).output().unwrap();
        assert!(!out.status.success(), "the relay started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// SIGTERM, as a service manager stops the relay; waits for it to exit and returns how
    /// long that took.
    pub async fn terminate(&mut self) -> Duration {
        let t = std::time::Instant::now();
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(tokio::time::Instant::now() < deadline, "the relay did not exit after SIGTERM");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        t.elapsed()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; returns status and JSON body (`Null` when empty).
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("relay answers");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(if text.is_empty() { Value::Null } else { Value::String(text) }))
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(token), Some(body)).await
    }

    pub async fn signup(&self, email: &str) -> User {
        let (s, v) = self
            .call("POST", "/auth/v1/signup", None, Some(json!({"email": email, "password": "pass-word-123"})))
            .await;
        assert_eq!(s, 200, "signup: {v}");
        User::from(v)
    }

    pub async fn project(&self, owner: &User, name: &str) -> String {
        let (s, v) = self.post("/api/v1/projects", &owner.token, json!({"name": name})).await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// A device in `project` and its pairing code.
    pub async fn device(&self, owner: &User, project: &str, name: &str) -> (String, String) {
        let (s, v) =
            self.post(&format!("/api/v1/projects/{project}/devices"), &owner.token, json!({"name": name})).await;
        assert_eq!(s, 201, "{v}");
        (v["id"].as_str().unwrap().to_string(), v["pairing_code"].as_str().unwrap().to_string())
    }

    pub async fn pair(&self, code: &str) -> Creds {
        let (s, v) = self
            .call("POST", "/functions/v1/pair-device", None, Some(json!({"pairing_code": code, "name": "test box"})))
            .await;
        assert_eq!(s, 200, "pair: {v}");
        Creds { device_id: v["device_id"].as_str().unwrap().into(), token: v["token"].as_str().unwrap().into() }
    }

    /// Makes `member` a member of `project`: the owner invites them, they open the link.
    pub async fn add_member(&self, owner: &User, project: &str, member: &User) {
        let (s, v) = self
            .post("/functions/v1/invite-member", &owner.token, json!({"project_id": project, "email": member.email}))
            .await;
        assert_eq!((s, v["status"].as_str()), (200, Some("invited")), "{v}");
        let token = v["invite_url"].as_str().unwrap().split("token=").nth(1).unwrap().to_string();
        let (s, v) = self.post("/api/v1/invitations/accept", &member.token, json!({"token": token})).await;
        assert_eq!(s, 200, "accept: {v}");
    }

    pub async fn start_session(&self, user: &User, device: &str) -> String {
        let (s, v) = self.post("/functions/v1/start-session", &user.token, json!({"device_id": device})).await;
        assert_eq!(s, 200, "start-session: {v}");
        v["session_id"].as_str().unwrap().to_string()
    }

    /// A signed-up owner with a project and a paired, connected device.
    pub async fn setup(&self) -> Setup {
        let owner = self.signup(&format!("owner-{}@example.com", uuid::Uuid::new_v4().simple())).await;
        let project = self.project(&owner, "Home Lab").await;
        let (device, code) = self.device(&owner, &project, "pi").await;
        let creds = self.pair(&code).await;
        let conn = Ws::connector(self, &creds, Some(vec![])).await;
        Setup { owner, project, device, creds, conn }
    }

    /// Opens a browser socket on `session` and waits for `auth_ok`.
    pub async fn browser(&self, user: &User, session: &str, device: &str) -> Ws {
        let mut b = Ws::open(&format!("{}/session", self.ws)).await;
        b.send(json!({"type": "auth", "data": {"token": user.token, "session_id": session, "device_id": device}}))
            .await;
        b.expect("auth_ok").await;
        b.expect("device_status").await;
        b
    }

    /// Opens a browser socket that joins `session`, started by someone else; waits for `auth_ok`.
    pub async fn join(&self, user: &User, session: &str) -> Ws {
        let mut b = Ws::open(&format!("{}/session", self.ws)).await;
        b.send(json!({"type": "auth", "data": {"token": user.token, "session_id": session, "join": true}})).await;
        b.expect("auth_ok").await;
        b.expect("device_status").await;
        b
    }

    /// Signs in with the password every test account has.
    pub async fn sign_in(&self, email: &str) -> User {
        let body = json!({"email": email, "password": "pass-word-123"});
        let (s, v) = self.call("POST", "/auth/v1/token?grant_type=password", None, Some(body)).await;
        assert_eq!(s, 200, "sign in: {v}");
        User::from(v)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
        assert_no_panic("relay", &self.log());
    }
}

/// A panic in a spawned task does not fail the test that caused it, only this does: every
/// test checks the logs of the processes it started.
fn assert_no_panic(who: &str, log: &str) {
    if let Some(at) = log.find("panicked at")
        && !std::thread::panicking()
    {
        let end = log[at..].char_indices().nth(600).map_or(log.len(), |(i, _)| at + i);
        panic!("the {who} panicked during this test:\n{}", &log[at..end]);
    }
}

pub struct User {
    pub id: String,
    pub email: String,
    pub token: String,
    pub refresh: String,
}

impl From<Value> for User {
    fn from(v: Value) -> User {
        User {
            id: v["user"]["id"].as_str().unwrap().into(),
            email: v["user"]["email"].as_str().unwrap().into(),
            token: v["access_token"].as_str().unwrap().into(),
            refresh: v["refresh_token"].as_str().unwrap().into(),
        }
    }
}

pub struct Creds {
    pub device_id: String,
    pub token: String,
}

pub struct Setup {
    pub owner: User,
    pub project: String,
    pub device: String,
    pub creds: Creds,
    pub conn: Ws,
}

impl Setup {
    /// A new session on the device with a browser attached, its PTY asked for.
    pub async fn open(&mut self, relay: &Relay) -> (String, Ws) {
        let session = relay.start_session(&self.owner, &self.device).await;
        let browser = relay.browser(&self.owner, &session, &self.device).await;
        self.conn.expect("session_start").await;
        (session, browser)
    }
}

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket test client speaking JSON frames.
pub struct Ws {
    pub ws: Stream,
}

pub enum Next {
    Frame(Value),
    Closed(Option<u16>),
}

impl Ws {
    pub async fn open(url: &str) -> Ws {
        Ws::dial(url, None).await
    }

    /// Opens a socket with a tiny receive buffer, so not reading shows up fast at the relay.
    pub async fn open_small(url: &str) -> Ws {
        Ws::dial(url, Some(4096)).await
    }

    /// Opens a socket from another loopback address (127.0.0.x), as another client would.
    pub async fn open_from(url: &str, from: &str) -> Ws {
        Ws::dial_from(url, None, Some(from)).await
    }

    /// Dials `ws://` as a browser does (TCP_NODELAY, which latency figures depend on).
    async fn dial(url: &str, recv_buffer: Option<u32>) -> Ws {
        Ws::dial_from(url, recv_buffer, None).await
    }

    async fn dial_from(url: &str, recv_buffer: Option<u32>, from: Option<&str>) -> Ws {
        let addr = url.trim_start_matches("ws://").split('/').next().unwrap().parse().unwrap();
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(ip) = from {
            sock.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        }
        if let Some(size) = recv_buffer {
            sock.set_recv_buffer_size(size).unwrap();
        }
        let tcp = sock.connect(addr).await.expect("the relay accepts TCP");
        tcp.set_nodelay(true).unwrap();
        let (ws, _) =
            tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)).await.expect("websocket connects");
        Ws { ws }
    }

    /// A connector: `hello` with these credentials (and `sessions` if given), then `hello_ok`.
    pub async fn connector(relay: &Relay, c: &Creds, sessions: Option<Vec<String>>) -> Ws {
        let mut w = Ws::open(&format!("{}/connect", relay.ws)).await;
        let mut data = json!({"device_id": c.device_id, "token": c.token, "meta": {"name": "test"}});
        if let Some(s) = sessions {
            data["sessions"] = json!(s);
        }
        w.send(json!({"type": "hello", "data": data})).await;
        w.expect("hello_ok").await;
        w
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.expect("send");
    }

    pub async fn send_text(&mut self, t: &str) {
        self.ws.send(Message::Text(t.to_string().into())).await.expect("send");
    }

    /// The next JSON frame or the close.
    pub async fn next(&mut self) -> Next {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next()).await.expect("a frame within the wait");
            match m {
                Some(Ok(Message::Text(t))) => {
                    return Next::Frame(serde_json::from_str(&t).expect("JSON frame"));
                }
                Some(Ok(Message::Close(c))) => {
                    return Next::Closed(c.map(|c: CloseFrame| c.code.into()));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Next::Closed(None),
            }
        }
    }

    pub async fn frame(&mut self) -> Value {
        match self.next().await {
            Next::Frame(v) => v,
            Next::Closed(c) => panic!("socket closed ({c:?}) while a frame was expected"),
        }
    }

    /// Skips frames until one of type `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        loop {
            let f = self.frame().await;
            if f["type"] == kind {
                return f;
            }
            if f["type"] == "error" && kind != "error" {
                panic!("expected {kind}, got error {f}");
            }
        }
    }

    /// Waits for the close; returns its code.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            if let Next::Closed(c) = self.next().await {
                return c;
            }
        }
    }

    /// Reads `stdout` frames until the decoded output contains `needle`; returns the output.
    pub async fn output_until(&mut self, needle: &str) -> String {
        use base64::Engine;
        let mut out = String::new();
        while !out.contains(needle) {
            let f = self.expect("stdout").await;
            let bytes =
                base64::engine::general_purpose::STANDARD.decode(f["data"]["data_b64"].as_str().unwrap()).unwrap();
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
        out
    }
}

/// A `GET /api/v1/events` stream (server-sent events), read event by event.
pub struct Events {
    pub res: reqwest::Response,
    /// What arrived and was not read yet; everything seen so far is in `seen`.
    buf: String,
    pub seen: String,
}

impl Events {
    pub async fn open(relay: &Relay, token: &str) -> Events {
        let res = relay.http.get(relay.url("/api/v1/events")).bearer_auth(token).send().await.expect("relay answers");
        assert_eq!(res.status(), 200);
        Events { res, buf: String::new(), seen: String::new() }
    }

    /// The next event named one of `names`, as (name, data); `None` once the stream has ended.
    pub async fn next_of(&mut self, names: &[&str]) -> Option<(String, Value)> {
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let field = |f: &str| block.lines().find_map(|l| l.strip_prefix(f)).map(str::trim).map(String::from);
                let name = field("event:").unwrap_or_default();
                if names.contains(&name.as_str()) {
                    let data = serde_json::from_str(&field("data:").unwrap_or_else(|| "{}".into())).unwrap();
                    return Some((name, data));
                }
            }
            let chunk = tokio::time::timeout(WAIT, self.res.chunk()).await.expect("an event within the wait");
            let text = String::from_utf8_lossy(&chunk.expect("the stream reads")?).into_owned();
            self.seen.push_str(&text);
            self.buf.push_str(&text);
        }
    }

    /// The data of the next event named `name`.
    pub async fn next(&mut self, name: &str) -> Value {
        self.next_of(&[name]).await.unwrap_or_else(|| panic!("the stream ended before a {name} event")).1
    }
}

pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn stdout(session: &str, s: &str) -> Value {
    json!({"type": "stdout", "data": {"session_id": session, "data_b64": b64(s)}})
}

pub fn stdin(session: &str, s: &str) -> Value {
    json!({"type": "stdin", "data": {"session_id": session, "data_b64": b64(s)}})
}

/// Waits until `check` holds, polling; fails the test after `WAIT`.
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real `relay-connector` binary (built from `agent/` if `CONNECTOR_BIN` is not given).
pub fn connector_bin() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Ok(p) = std::env::var("CONNECTOR_BIN") {
                return p.into();
            }
            let agent = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent");
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "--manifest-path"])
                .arg(agent.join("Cargo.toml"))
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building the connector failed");
            agent.join("target/debug/relay-connector")
        })
        .clone()
}

/// A real connector process with its own config file and home directory.
pub struct Agent {
    pub child: Option<Child>,
    pub dir: tempfile::TempDir,
}

impl Agent {
    pub fn config(&self) -> std::path::PathBuf {
        self.dir.path().join("relay-connector.json")
    }

    /// `CONNECTOR_RUNNER` (e.g. `qemu-aarch64`, `wine`) runs a cross-built connector.
    fn command(&self) -> Command {
        let runner = std::env::var("CONNECTOR_RUNNER").unwrap_or_default();
        let mut words = runner.split_whitespace();
        let mut c = match words.next() {
            Some(prog) => {
                let mut c = Command::new(prog);
                c.args(words).arg(connector_bin());
                c
            }
            None => Command::new(connector_bin()),
        };
        c.arg("--config").arg(self.config()).env("HOME", self.dir.path()).env("SHELL", "/bin/sh");
        c
    }

    /// Runs `relay-connector --pair CODE`; returns its exit status and output.
    pub fn pair(&self, relay: &Relay, code: &str) -> std::process::Output {
        self.pair_with(relay, code, &[])
    }

    pub fn pair_with(&self, relay: &Relay, code: &str, extra: &[&str]) -> std::process::Output {
        let mut c = self.command();
        c.args(["--pair", code, "--api"]).arg(relay.url("/functions/v1")).args(extra);
        c.output().unwrap()
    }

    /// Pairs with `code` and starts the connector.
    pub fn start(relay: &Relay, code: &str) -> Agent {
        let mut a = Agent { child: None, dir: tempfile::tempdir().unwrap() };
        let out = a.pair(relay, code);
        assert!(out.status.success(), "pairing failed: {}", String::from_utf8_lossy(&out.stderr));
        a.run();
        a
    }

    pub fn run(&mut self) {
        self.run_with(&[]);
    }

    pub fn run_with(&mut self, extra: &[&str]) {
        let log = std::fs::File::create(self.dir.path().join("agent.log")).unwrap();
        self.child = Some(self.command().arg("-v").args(extra).stdout(Stdio::null()).stderr(log).spawn().unwrap());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// Waits for the process to exit by itself; returns its exit code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s.code();
            }
            assert!(tokio::time::Instant::now() < deadline, "the connector did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        assert_no_panic("connector", &self.log());
    }
}

impl Relay {
    /// True when the device shows as online to `user`.
    pub async fn is_online(&self, user: &User, device: &str) -> bool {
        self.get(&format!("/api/v1/devices/{device}"), &user.token).await.1["status"] == "online"
    }
}

/// A relay, a signed-up owner, and a real connector paired to one of their devices and online.
pub struct E2e {
    pub relay: Relay,
    pub owner: User,
    pub device: String,
    /// The pairing code it used (spent).
    pub code: String,
    pub agent: Agent,
}

impl E2e {
    pub async fn start() -> E2e {
        connector_bin(); // built before any relay starts waiting on it
        let relay = Relay::start().await;
        let owner = relay.signup(&format!("e2e-{}@example.com", uuid::Uuid::new_v4().simple())).await;
        let project = relay.project(&owner, "e2e").await;
        let (device, code) = relay.device(&owner, &project, "box").await;
        let agent = Agent::start(&relay, &code);
        wait_until("the device is online", || relay.is_online(&owner, &device)).await;
        E2e { relay, owner, device, code, agent }
    }
}
