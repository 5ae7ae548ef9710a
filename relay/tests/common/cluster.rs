//! A cluster on loopback for `tests/cluster.rs`: a fresh PostgreSQL database
//! (`TEST_DATABASE_URL`), a real `nats-server`, relays sharing both, and HAProxy in front
//! (round-robin, WebSocket-aware, checking `/readyz`). `scripts/test-cluster` installs the
//! servers and runs these tests.

use super::{Opts, Relay, WAIT, fresh_database, wait_until};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A port free now (the server that takes it is started right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn accepting(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
}

fn server(var: &str, name: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| name.into())
}

/// A config file (in `dir`) and a server process run with it.
struct Daemon {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Daemon {
    fn new(config: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("server.conf"), config).unwrap();
        Daemon { child: None, dir }
    }

    fn spawn(&mut self, program: &str, args: &[&str]) {
        let conf = self.dir.path().join("server.conf");
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let child = Command::new(program)
            .args(args)
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program} ({e}): scripts/test-cluster installs it"));
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `nats-server` on a loopback port. Frames are up to 1 MiB: the default `max_payload` (1 MiB)
/// is raised as docs/cluster.md tells operators to.
pub struct Nats {
    d: Daemon,
    pub port: u16,
}

impl Nats {
    pub async fn start() -> Nats {
        let port = free_port();
        let mut n = Nats { d: Daemon::new(&format!("listen: 127.0.0.1:{port}\nmax_payload: 4MB\n")), port };
        n.run().await;
        n
    }

    async fn run(&mut self) {
        self.d.spawn(&server("NATS_SERVER", "nats-server"), &["-c"]);
        let port = self.port;
        wait_until("nats-server accepts connections", || accepting(port)).await;
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        self.d.kill();
    }

    pub async fn start_again(&mut self) {
        self.run().await;
    }
}

/// HAProxy in front of the relays: round-robin, each relay checked on `/readyz` every 200 ms,
/// and a connection a relay refuses is sent to another (`option redispatch`).
pub struct Lb {
    _d: Daemon,
    pub port: u16,
}

impl Lb {
    pub async fn start(relays: &[u16]) -> Lb {
        let port = free_port();
        let mut conf = format!(
            "global\n  maxconn 4000\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 60s\n  \
             timeout server 60s\n  timeout tunnel 1h\n  retries 3\n  option redispatch 1\n\
             frontend fe\n  bind 127.0.0.1:{port}\n  default_backend relays\n\
             backend relays\n  balance roundrobin\n  option httpchk GET /readyz\n  \
             default-server inter 200ms fall 1 rise 1\n"
        );
        for (i, p) in relays.iter().enumerate() {
            conf.push_str(&format!("  server r{i} 127.0.0.1:{p} check\n"));
        }
        let mut d = Daemon::new(&conf);
        d.spawn(&server("HAPROXY", "haproxy"), &["-db", "-f"]);
        wait_until("haproxy accepts connections", || accepting(port)).await;
        Lb { _d: d, port }
    }
}

/// PostgreSQL, NATS, `n` relays named a, b, c… (stopped until `up`), and HAProxy in front.
pub struct Cluster {
    pub nats: Nats,
    pub relays: Vec<Relay>,
    pub lb: Lb,
    /// The load balancer's HTTP and WebSocket base URLs: what people and connectors use.
    pub lb_url: String,
    pub lb_ws: String,
}

pub const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

impl Cluster {
    pub async fn new(n: usize) -> Cluster {
        let db = fresh_database().await.expect("the cluster tests need PostgreSQL: run scripts/test-cluster");
        let nats = Nats::start().await;
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let lb = Lb::start(&ports).await;
        let lb_url = format!("http://127.0.0.1:{}", lb.port);
        let mut relays = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            // No JWT_SECRET: the relays must agree on one through the database.
            let opts = Opts::default()
                .own_secret()
                .listen(&format!("127.0.0.1:{port}"))
                .database(&db)
                .arg("--nats")
                .arg(&nats.url())
                .arg("--instance-id")
                .arg(NAMES[i])
                .arg("--public-url")
                .arg(&lb_url)
                .arg("--drain-timeout")
                .arg("10")
                .arg("--session-grace")
                .arg("120");
            relays.push(Relay::stopped(opts).await);
        }
        let lb_ws = lb_url.replacen("http", "ws", 1);
        Cluster { nats, relays, lb, lb_url, lb_ws }
    }

    /// Starts relay `i` (again) and waits until it is ready.
    pub async fn up(&mut self, i: usize) {
        self.relays[i].restart();
        self.ready(i).await;
    }

    pub async fn readyz(&self, i: usize) -> (u16, serde_json::Value) {
        let r = &self.relays[i];
        match r.http.get(r.url("/readyz")).send().await {
            Ok(res) => (res.status().as_u16(), res.json().await.unwrap_or_default()),
            Err(_) => (0, serde_json::Value::Null),
        }
    }

    pub async fn ready(&self, i: usize) {
        wait_until(&format!("relay {} is ready", NAMES[i]), || async { self.readyz(i).await.0 == 200 }).await;
    }

    /// SIGTERM (it drains), then start it again: one step of a rolling upgrade.
    pub async fn upgrade(&mut self, i: usize) {
        let took = self.relays[i].terminate().await;
        assert!(took < WAIT, "relay {} took {took:?} to drain", NAMES[i]);
        self.up(i).await;
    }
}

/// Retry pause of the test's browser after a refused attach (the web app waits 1 s).
pub const RETRY: Duration = Duration::from_millis(200);
