//! Relay benchmark (not a test): starts the release relay binary and measures
//! 1. its RSS idle, then with N idle connectors that said `hello` (default 10 000), and the
//!    bytes each connector costs;
//! 2. `stdout` frames per second forwarded connector → browser for 4 KiB and 16 KiB payloads,
//!    with the relay's CPU seconds.
//!
//! Figures are printed next to the reference relay's (../shared/baselines.md).
//!
//! Knobs: BENCH_CONNECTORS, BENCH_FRAMES. Needs a high fd limit (`ulimit -n 65536`;
//! scripts/bench-relay sets it).

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

struct Relay {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).unwrap().parse().unwrap()
}

/// User + system CPU seconds of a process.
fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    (f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()) as f64 / 100.0
}

fn start() -> Relay {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_privaclaw-relay"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        // Every connector comes from 127.0.0.1 and pairs: no per-address or pairing limits.
        .args(["--pair-rate", "1000000", "--login-rate", "1000000", "--pair-failures", "1000000"])
        .args(["--max-connections-per-ip", "0", "--max-devices-per-project", "1000000"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("relay binary");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("privaclaw-relay listening on ").expect("listening line").to_string();
    Relay { child, base, _dir: dir }
}

async fn call(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut r = http.post(url).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap().json().await.unwrap()
}

/// Creates and pairs `n` devices; returns (device_id, token) pairs.
async fn devices(http: &reqwest::Client, base: &str, token: &str, project: &str, n: usize) -> Vec<(String, String)> {
    futures_util::stream::iter(0..n)
        .map(|i| async move {
            let d = call(
                http,
                format!("{base}/api/v1/projects/{project}/devices"),
                Some(token),
                json!({"name": format!("d{i}")}),
            )
            .await;
            let p = call(
                http,
                format!("{base}/functions/v1/pair-device"),
                None,
                json!({"pairing_code": d["pairing_code"]}),
            )
            .await;
            (p["device_id"].as_str().unwrap().to_string(), p["token"].as_str().unwrap().to_string())
        })
        .buffer_unordered(32)
        .collect()
        .await
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connector(ws_base: &str, id: &str, token: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{ws_base}/connect")).await.unwrap();
    let hello =
        json!({"type": "hello", "data": {"device_id": id, "token": token, "meta": {"name": "bench"}, "sessions": []}});
    ws.send(Message::Text(hello.to_string().into())).await.unwrap();
    loop {
        if let Some(Ok(Message::Text(t))) = ws.next().await
            && t.contains("hello_ok")
        {
            return ws;
        }
    }
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_CONNECTORS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let frames: usize = std::env::var("BENCH_FRAMES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let relay = start();
    let pid = relay.child.id();
    let fresh = status_kib(pid, "VmRSS:");
    let fresh_anon = status_kib(pid, "RssAnon:");
    let base = relay.base.clone();
    let ws_base = base.replacen("http://", "ws://", 1);
    let http = reqwest::Client::new();
    let signup = call(
        &http,
        format!("{base}/auth/v1/signup"),
        None,
        json!({"email": "bench@example.com", "password": "bench-password"}),
    )
    .await;
    let token = signup["access_token"].as_str().unwrap().to_string();
    let project = call(&http, format!("{base}/api/v1/projects"), Some(&token), json!({"name": "bench"})).await;
    let project = project["id"].as_str().unwrap().to_string();
    let creds = devices(&http, &base, &token, &project, n + 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // let the allocator settle for a fair idle figure
    let idle = status_kib(pid, "VmRSS:");

    let t0 = Instant::now();
    let held: Vec<Ws> = futures_util::stream::iter(&creds[1..])
        .map(|(id, tok)| connector(&ws_base, id, tok))
        .buffer_unordered(256)
        .collect()
        .await;
    let connect_secs = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let loaded = status_kib(pid, "VmRSS:");
    let per = (loaded.saturating_sub(idle)) as f64 * 1024.0 / n as f64;

    // Throughput: one session, the connector streams, the browser reads.
    let (id, tok) = &creds[0];
    let mut conn = connector(&ws_base, id, tok).await;
    let mut results = Vec::new();
    for size in [4096usize, 16384] {
        let s = call(&http, format!("{base}/functions/v1/start-session"), Some(&token), json!({"device_id": id})).await;
        let session = s["session_id"].as_str().unwrap().to_string();
        let (mut browser, _) = tokio_tungstenite::connect_async(format!("{ws_base}/session")).await.unwrap();
        let auth = json!({"type": "auth", "data": {"token": token, "session_id": session}});
        browser.send(Message::Text(auth.to_string().into())).await.unwrap();
        while let Some(Ok(m)) = conn.next().await {
            if m.to_text().unwrap_or("").contains("session_start") {
                break;
            }
        }
        let payload = base64::engine::general_purpose::STANDARD.encode(vec![b'a'; size]);
        let frame = json!({"type": "stdout", "data": {"session_id": session, "data_b64": payload}}).to_string();
        let cpu0 = cpu_secs(pid);
        let t = Instant::now();
        let reader = tokio::spawn(async move {
            let mut got = 0;
            while got < frames {
                match browser.next().await {
                    Some(Ok(Message::Text(t))) if t.contains("\"stdout\"") => got += 1,
                    Some(Ok(_)) => {}
                    _ => panic!("browser socket closed after {got} frames"),
                }
            }
        });
        let (mut sink, mut stream) = conn.split();
        // Like the real connector, honour the relay's flow control: stop while paused.
        let paused = tokio::sync::watch::channel(false);
        let writer = async {
            let mut rx = paused.1.clone();
            for _ in 0..frames {
                if *rx.borrow() {
                    sink.flush().await.unwrap();
                    rx.wait_for(|p| !p).await.unwrap();
                }
                sink.feed(Message::Text(frame.clone().into())).await.unwrap();
            }
            sink.flush().await.unwrap();
        };
        let drain = async {
            while let Some(Ok(m)) = stream.next().await {
                let t = m.to_text().unwrap_or("");
                if t.contains("\"pause\"") {
                    paused.0.send_replace(true);
                } else if t.contains("\"resume\"") {
                    paused.0.send_replace(false);
                }
            }
        };
        tokio::select! {
            _ = async { writer.await; reader.await.unwrap(); } => {}
            _ = drain => panic!("connector socket closed"),
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_secs(pid) - cpu0;
        conn = sink.reunite(stream).unwrap();
        results.push((size, frames as f64 / secs, (frames * size) as f64 / secs / 1e6, cpu));
    }

    let mib = |k: u64| k as f64 / 1024.0;
    println!("\nrelay benchmark ({} idle connectors, {} frames per size)\n", n, frames);
    println!("| figure | ours | reference relay |");
    println!("|---|---:|---:|");
    println!(
        "| RSS idle, just started | {:.1} MiB ({:.1} MiB private, the rest the binary's shared pages) | 63.1 MiB |",
        mib(fresh),
        mib(fresh_anon)
    );
    println!("| RSS idle, after creating {} devices | {:.1} MiB | |", n + 1, mib(idle));
    println!("| RSS with {n} idle connectors | {:.1} MiB | |", mib(loaded));
    println!("| bytes per idle connector | {:.1} KiB | 13.5 KiB settled, 68 KiB fresh |", per / 1024.0);
    println!("| time to connect {n} connectors (hello → hello_ok) | {connect_secs:.1} s | |");
    for (size, fps, mbs, cpu) in &results {
        println!(
            "| stdout {} KiB frames forwarded | {fps:.0} frames/s ({mbs:.0} MB/s), relay CPU {cpu:.2} s for {frames} frames | |",
            size / 1024
        );
    }
    println!(
        "\nratios: idle RSS {:.2}× the reference; per connector {:.2}× the reference's settled figure",
        mib(fresh) / 63.1,
        per / 1024.0 / 13.5
    );
    drop(held);
}
