//! Cluster benchmark (not a test): PostgreSQL (`TEST_DATABASE_URL`), a real `nats-server` and
//! several release relays on loopback, all in one run:
//! 1. one session's output throughput (16 KiB `stdout` frames) and echo latency (p50/p99)
//!    with the browser on the connector's relay, then on another relay (frames over NATS);
//! 2. idle connectors spread over `BENCH_RELAYS` relays until `BENCH_CONNECTORS` are connected,
//!    each relay's RSS per connector, then one relay killed and the time until every connector
//!    is connected again to the others.
//!
//! The machine allows 20 000 open files per process, so no process holds more: the connectors
//! are held by one client process per relay (this binary again, `BENCH_CLIENT`), each from its
//! own loopback address 127.0.0.x, and the default is 7 relays × 14 286 connectors (after the
//! kill, 6 × 16 667). Devices are written straight into the database (pairing 100 000 of them
//! through the API would measure pairing).
//!
//! Knobs: BENCH_CONNECTORS (100000), BENCH_RELAYS (7), BENCH_MIB (32), BENCH_KEYS (500).
//! `scripts/bench-cluster` starts PostgreSQL and writes the table into bench/results.md.

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start_relay(i: usize, port: u16, db: &str, nats: &str, dir: &std::path::Path) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_privaclaw-relay"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--nats", nats, "--instance-id", &format!("r{i}")])
        .arg("--data-dir")
        .arg(dir.join(format!("r{i}")))
        .args(["--max-connections-per-ip", "0", "--login-rate", "1000000", "--signup-rate", "1000000"])
        .env("DATABASE_URL", db)
        .env("JWT_SECRET", "bench-secret-bench-secret-bench-secret-00")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("relay binary");
    Proc(child)
}

async fn ready(port: u16) -> bool {
    let url = format!("http://127.0.0.1:{port}/readyz");
    matches!(reqwest::get(url).await, Ok(r) if r.status() == 200)
}

async fn post(url: String, token: Option<&str>, body: Value) -> Value {
    let mut r = reqwest::Client::new().post(url).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap().json().await.unwrap()
}

async fn open(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.expect("websocket").0
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

async fn frame(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

async fn expect(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let f = frame(ws).await;
        if f["type"] == kind {
            return f;
        }
    }
}

async fn hello<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, id: &str, token: &str) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let h =
        json!({"type": "hello", "data": {"device_id": id, "token": token, "meta": {"name": "bench"}, "sessions": []}});
    if ws.send(Message::Text(h.to_string().into())).await.is_err() {
        return false;
    }
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(t) = m {
            return t.contains("hello_ok");
        }
    }
    false
}

/// Output throughput (MB/s) and echo round trips (ms) of one session, its browser on `browser`.
async fn measure(
    conn: &mut Ws,
    browser_ws: &str,
    api: &str,
    token: &str,
    device: &str,
    mib: usize,
    keys: usize,
) -> (f64, Vec<f64>) {
    let s = post(format!("{api}/functions/v1/start-session"), Some(token), json!({"device_id": device})).await;
    let session = s["session_id"].as_str().expect("session").to_string();
    let mut b = open(&format!("{browser_ws}/session")).await;
    send(&mut b, json!({"type": "auth", "data": {"token": token, "session_id": session}})).await;
    expect(&mut b, "auth_ok").await;
    expect(conn, "session_start").await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let chunk = b64.encode(vec![b'x'; 16 * 1024]);
    let out = json!({"type": "stdout", "data": {"session_id": session, "data_b64": chunk}}).to_string();
    // At most 256 KiB in flight: the session never needs to pause, so this is the path's speed.
    let window = Arc::new(Semaphore::new(16));
    let frames = mib * 64;
    let (mut tx, mut rx) = conn.split();
    let w = window.clone();
    let started = Instant::now();
    let sender = async {
        for _ in 0..frames {
            w.acquire().await.unwrap().forget();
            tx.send(Message::Text(out.clone().into())).await.unwrap();
        }
    };
    let receiver = async {
        let mut got = 0;
        while got < frames {
            if let Some(Ok(Message::Text(t))) = b.next().await
                && t.contains("\"stdout\"")
            {
                got += 1;
                window.add_permits(1);
            }
        }
    };
    tokio::join!(sender, receiver);
    let mbps = (frames * 16 * 1024) as f64 / started.elapsed().as_secs_f64() / 1e6;
    // Echo: a key from the browser, the connector answers at once.
    let mut rtts = Vec::new();
    for i in 0..keys {
        let key = b64.encode(format!("{}", i % 10));
        let t = Instant::now();
        let f = json!({"type": "stdin", "data": {"session_id": session, "data_b64": key}});
        b.send(Message::Text(f.to_string().into())).await.unwrap();
        loop {
            if let Some(Ok(Message::Text(m))) = rx.next().await
                && m.contains("\"stdin\"")
            {
                break;
            }
        }
        let echo = json!({"type": "stdout", "data": {"session_id": session, "data_b64": key}}).to_string();
        tx.send(Message::Text(echo.into())).await.unwrap();
        loop {
            if let Some(Ok(Message::Text(m))) = b.next().await
                && m.contains("\"stdout\"")
            {
                break;
            }
        }
        rtts.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = b.close(None).await;
    rtts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (mbps, rtts)
}

fn pct(v: &[f64], p: f64) -> f64 {
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// WebSocket buffers of a few KiB: 14 000 idle clients in one process with the default 128 KiB
/// read buffer would take 2 GB.
fn small() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(4096)
}

/// Client mode: holds `count` connectors (devices `first..first+count`) from `source`, on the
/// relay `ports[home]`; one that loses its relay goes to the next live one (as a load balancer
/// would send it). Prints `full` each time all are connected.
async fn client(source: std::net::Ipv4Addr, ports: Vec<u16>, home: usize, first: usize, count: usize) {
    let up = Arc::new(AtomicUsize::new(0));
    // Dialling all at once would overflow the relays' accept backlogs: 256 hellos in flight.
    let dialling = Arc::new(Semaphore::new(256));
    let (full_tx, mut full_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    for n in first..first + count {
        let (up, ports, full, dialling) = (up.clone(), ports.clone(), full_tx.clone(), dialling.clone());
        tokio::spawn(async move {
            let (id, token) = (format!("bench-{n}"), format!("tok-{n}"));
            // Its own relay first (retried until it answers); after a loss, one of the others,
            // spread by device number as a round-robin load balancer spreads them, and the next
            // other one if that one refuses.
            let others = ports.len() - 1;
            let next_other =
                |t: usize| if (t + 1) % ports.len() == home { (t + 2) % ports.len() } else { (t + 1) % ports.len() };
            let mut target = home;
            loop {
                let port = ports[target];
                let permit = dialling.acquire().await.unwrap();
                let sock = tokio::net::TcpSocket::new_v4().unwrap();
                sock.bind(SocketAddr::from((source, 0))).unwrap();
                let connected = match sock.connect(SocketAddr::from(([127, 0, 0, 1], port))).await {
                    Ok(tcp) => {
                        let url = format!("ws://127.0.0.1:{port}/connect");
                        tokio_tungstenite::client_async_with_config(url, tcp, Some(small())).await.ok()
                    }
                    Err(_) => None,
                };
                let greeted = match connected {
                    Some((mut ws, _)) => hello(&mut ws, &id, &token).await.then_some(ws),
                    None => None,
                };
                drop(permit);
                if let Some(mut ws) = greeted {
                    if up.fetch_add(1, Ordering::AcqRel) + 1 == count {
                        let _ = full.send(());
                    }
                    while let Some(Ok(_)) = ws.next().await {}
                    up.fetch_sub(1, Ordering::AcqRel);
                    target = (home + 1 + n % others) % ports.len();
                    continue;
                }
                if target != home {
                    target = next_other(target);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }
    while full_rx.recv().await.is_some() {
        println!("full");
        std::io::stdout().flush().unwrap();
    }
}

#[tokio::main]
async fn main() {
    if let Ok(spec) = std::env::var("BENCH_CLIENT") {
        let v: Vec<&str> = spec.split('|').collect();
        let ports = v[1].split(',').map(|p| p.parse().unwrap()).collect();
        client(v[0].parse().unwrap(), ports, v[2].parse().unwrap(), v[3].parse().unwrap(), v[4].parse().unwrap()).await;
        return;
    }
    let db = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL (scripts/bench-cluster starts PostgreSQL)");
    let total = knob("BENCH_CONNECTORS", 100_000);
    let n = knob("BENCH_RELAYS", 7).max(2);
    let (mib, keys) = (knob("BENCH_MIB", 32), knob("BENCH_KEYS", 500));
    let dir = tempfile::tempdir().unwrap();

    // A fresh database, NATS, the relays.
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&db).await.expect("PostgreSQL");
    let name = format!("privaclaw_bench_{}", std::process::id());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let db = format!("{}/{name}", db.rsplit_once('/').unwrap().0);
    let nats_port = free_port();
    std::fs::write(dir.path().join("nats.conf"), format!("listen: 127.0.0.1:{nats_port}\nmax_payload: 4MB\n")).unwrap();
    let nats_bin = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    let nats = Command::new(nats_bin).arg("-c").arg(dir.path().join("nats.conf")).stderr(Stdio::null()).spawn();
    let _nats = Proc(nats.expect("nats-server"));
    let nats = format!("nats://127.0.0.1:{nats_port}");
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let mut relays: Vec<Option<Proc>> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        relays.push(Some(start_relay(i, *port, &db, &nats, dir.path())));
        until("a relay is ready", || ready(*port)).await;
    }
    let api = |i: usize| format!("http://127.0.0.1:{}", ports[i]);
    let ws = |i: usize| format!("ws://127.0.0.1:{}", ports[i]);

    // An account, a project, and every device written at once.
    let signup = json!({"email": "bench@example.com", "password": "pass-word-123"});
    let user = post(format!("{}/auth/v1/signup", api(0)), None, signup).await;
    let token = user["access_token"].as_str().expect("signed up").to_string();
    let project = post(format!("{}/api/v1/projects", api(0)), Some(&token), json!({"name": "bench"})).await;
    let project = project["id"].as_str().expect("project").to_string();
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
    sqlx::query(
        "INSERT INTO devices (id, name, project_id, status, paired, device_token, kind, created_at, updated_at)
         SELECT 'bench-' || i, 'd' || i, $1, 'offline', 1, encode(sha256(convert_to('tok-' || i, 'UTF8')), 'hex'),
                'connector', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'
         FROM generate_series(0, $2) AS i",
    )
    .bind(&project)
    .bind(total as i64)
    .execute(&mut conn)
    .await
    .unwrap();

    // 1. One session, within a relay and across relays.
    let device = format!("bench-{total}");
    let mut c = open(&format!("{}/connect", ws(0))).await;
    assert!(hello(&mut c, &device, &format!("tok-{total}")).await, "the bench connector said hello");
    let (local_mbps, local) = measure(&mut c, &ws(0), &api(0), &token, &device, mib, keys).await;
    let (cross_mbps, cross) = measure(&mut c, &ws(1), &api(1), &token, &device, mib, keys).await;
    drop(c);

    // 2. Idle connectors over every relay, one client process (and source address) per relay.
    let idle: Vec<u64> = relays.iter().map(|r| rss_kib(r.as_ref().unwrap().0.id())).collect();
    let share = total / n;
    let list = ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(",");
    let started = Instant::now();
    let mut clients = Vec::new();
    for (i, _) in ports.iter().enumerate() {
        let count = if i == n - 1 { total - share * (n - 1) } else { share };
        let spec = format!("127.0.0.{}|{list}|{i}|{}|{count}", i + 2, i * share);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("BENCH_CLIENT", spec)
            .stdout(Stdio::piped())
            .spawn()
            .expect("client process");
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        clients.push((Proc(child), rx));
    }
    for (_, rx) in &clients {
        assert_eq!(rx.recv_timeout(Duration::from_secs(600)).expect("all connected"), "full");
    }
    let connect_secs = started.elapsed().as_secs_f64();
    let loaded: Vec<u64> = relays.iter().map(|r| rss_kib(r.as_ref().unwrap().0.id())).collect();
    let per: Vec<f64> = idle.iter().zip(&loaded).map(|(a, b)| (b - a) as f64 * 1024.0 / share as f64).collect();

    // Kill one relay: its connectors go to the others.
    let killed = Instant::now();
    relays[0] = None;
    assert_eq!(clients[0].1.recv_timeout(Duration::from_secs(600)).expect("back"), "full");
    let back_secs = killed.elapsed().as_secs_f64();

    let per_min = per.iter().cloned().fold(f64::MAX, f64::min) / 1024.0;
    let per_max = per.iter().cloned().fold(0.0, f64::max) / 1024.0;
    println!("| figure | within one relay | across two relays (NATS) | across ÷ within |");
    println!("|---|---:|---:|---:|");
    println!(
        "| output, 16 KiB frames, {mib} MiB | {local_mbps:.0} MB/s | {cross_mbps:.0} MB/s | {:.2} |",
        cross_mbps / local_mbps
    );
    for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
        let (l, x) = (pct(&local, p), pct(&cross, p));
        println!("| echo {label}, {keys} keys | {l:.2} ms | {x:.2} ms | {:.2} |", x / l);
    }
    println!();
    println!("| idle connectors | |");
    println!("|---|---:|");
    println!("| connectors | {total} over {n} relays ({share} each), from {n} client processes |");
    println!("| time until all were connected (hello → hello_ok) | {connect_secs:.1} s |");
    println!("| relay RSS per idle connector | {per_min:.1}–{per_max:.1} KiB |");
    println!(
        "| relay RSS with {share} connectors | {:.0}–{:.0} MiB |",
        *loaded.iter().min().unwrap() as f64 / 1024.0,
        *loaded.iter().max().unwrap() as f64 / 1024.0
    );
    println!(
        "| one relay killed (kill -9): time until its {share} connectors were connected to the others | {back_secs:.1} s |"
    );
    drop(clients);
    drop(relays);
    let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin).await;
}
