//! Abuse benchmark (not a test): what a hostile or careless party costs the release relay, in
//! the figures issue 11 measured against the previous build.
//!
//! 1. Sign-in latency while a flood of sign-ups is being hashed, against sign-in latency on
//!    an idle relay in the same run (the previous build: 8–11 s under a flood).
//! 2. Relay memory after one user with a fake connector opens 250 sessions, detaches, and
//!    fills each with 1 MiB of output (the previous build: +313 MiB).
//! 3. Relay memory while a connector that ignores `pause` (as the reference Go connector does)
//!    streams 50 MB to a browser that reads slowly, and the lines lost (the previous build lost
//!    hundreds of thousands; the reference relay grows by 134 MiB per 64 MiB).
//!
//! With BENCH_ROWS=FILE it appends its rows there as tab-separated figure, ours, reference,
//! goal, ratio, met (scripts/bench puts them in bench/results.md).

#[path = "../tests/common/mod.rs"]
mod common;

use base64::Engine;
use common::procfs::status_kib;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

struct Row {
    figure: String,
    ours: String,
    reference: &'static str,
    goal: &'static str,
    ratio: Option<f64>,
    met: Option<bool>,
}

fn print(rows: &[Row]) {
    println!("\n| figure | ours | reference | goal | ratio | goal met |\n|---|---:|---:|---:|---:|:--:|");
    let mut tsv = String::new();
    for r in rows {
        let ratio = r.ratio.map(|x| format!("{x:.2}")).unwrap_or_default();
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        println!("| {} | {} | {} | {} | {ratio} | {met} |", r.figure, r.ours, r.reference, r.goal);
        tsv.push_str(&format!("{}\t{}\t{}\t{}\t{ratio}\t{met}\n", r.figure, r.ours, r.reference, r.goal));
    }
    if let Ok(path) = std::env::var("BENCH_ROWS") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        f.write_all(tsv.as_bytes()).unwrap();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn sign_in_ms(relay: &Relay, email: &str) -> f64 {
    let t = Instant::now();
    relay.sign_in(email).await;
    ms(t.elapsed())
}

/// 1. Sign-ins while a flood of sign-ups is hashed.
async fn sign_in_under_flood(rows: &mut Vec<Row>) {
    // Rate and connection limits would refuse the flood before any hashing: lift them.
    let opts = Opts::default()
        .arg("--signup-rate")
        .arg("1000000")
        .arg("--login-rate")
        .arg("1000000")
        .arg("--max-connections-per-ip")
        .arg("0");
    let relay = Relay::start_with(opts).await;
    relay.signup("regular@example.com").await;
    let mut idle: Vec<f64> = Vec::new();
    for _ in 0..10 {
        idle.push(sign_in_ms(&relay, "regular@example.com").await);
    }
    let flood = 200;
    let (http, url) = (relay.http.clone(), relay.url("/auth/v1/signup"));
    let jobs: Vec<_> = (0..flood)
        .map(|i| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let body = json!({"email": format!("flood{i}@example.com"), "password": "pass-word-123"});
                http.post(url).json(&body).send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut busy: Vec<f64> = Vec::new();
    while !jobs.iter().all(|j| j.is_finished()) && busy.len() < 50 {
        busy.push(sign_in_ms(&relay, "regular@example.com").await);
    }
    let mut statuses = Vec::new();
    for j in jobs {
        statuses.push(j.await.unwrap());
    }
    let refused = statuses.iter().filter(|s| **s == 503).count();
    let (idle_p50, worst) = (median(&mut idle), busy.iter().cloned().fold(0.0, f64::max));
    let busy_p50 = median(&mut busy);
    rows.push(Row {
        figure: format!("sign-in during a flood of {flood} sign-ups, p50 (worst) vs idle p50"),
        ours: format!("{busy_p50:.0} ms ({worst:.0} ms) vs {idle_p50:.0} ms; {refused} sign-ups refused 503"),
        reference: "8 000–11 000 ms (previous build)",
        goal: "worst ≤ 4× idle",
        ratio: Some(busy_p50 / idle_p50),
        met: Some(worst <= 4.0 * idle_p50.max(1.0) + 50.0),
    });
}

/// 2. 250 detached sessions × 1 MiB of output, from one user and a fake connector.
async fn detached_sessions(rows: &mut Vec<Row>) {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let before = status_kib(relay.pid(), "VmRSS:");
    let chunk = "x".repeat(64 * 1024);
    let (mut opened, mut refused) = (0, 0);
    for _ in 0..250 {
        let (st, v) = relay.post("/functions/v1/start-session", &s.owner.token, json!({"device_id": s.device})).await;
        if st == 429 {
            refused += 1;
            continue;
        }
        let id = v["session_id"].as_str().unwrap().to_string();
        drop(relay.browser(&s.owner, &id, &s.device).await);
        s.conn.expect("session_start").await;
        for _ in 0..16 {
            s.conn.send(stdout(&id, &chunk)).await;
        }
        opened += 1;
    }
    // Round trip through the connector socket: every frame before it has been handled.
    s.conn.send(json!({"type": "ping"})).await;
    s.conn.expect("pong").await;
    let grown = status_kib(relay.pid(), "VmRSS:").saturating_sub(before) as f64 / 1024.0;
    rows.push(Row {
        figure: "relay growth: 250 sessions asked for, detached, 1 MiB output each".into(),
        ours: format!("+{grown:.1} MiB ({opened} opened, {refused} refused 429)"),
        reference: "+313 MiB (previous build)",
        goal: "≤ 64 MiB",
        ratio: Some(grown / 313.0),
        met: Some(grown <= 64.0),
    });
}

/// 3. 50 MB from a connector that ignores `pause` to a browser that reads slowly.
async fn reference_connector_to_a_slow_browser(rows: &mut Vec<Row>) {
    const TOTAL: usize = 50_000_000;
    const LINE: usize = 100;
    let relay = Relay::start().await;
    let owner = relay.signup("o@example.com").await;
    let project = relay.project(&owner, "p").await;
    let (device, code) = relay.device(&owner, &project, "old-box").await;
    let creds = relay.pair(&code).await;
    let mut conn = Ws::open(&format!("{}/connect", relay.ws)).await;
    let hello = json!({"device_id": creds.device_id, "token": creds.token, "meta": {"name": "connector"}});
    conn.send(json!({"type": "hello", "data": hello})).await;
    conn.expect("hello_ok").await;
    let session = relay.start_session(&owner, &device).await;
    let mut browser = Ws::open_small(&format!("{}/session", relay.ws)).await;
    browser.send(json!({"type": "auth", "data": {"token": owner.token, "session_id": session}})).await;
    browser.expect("auth_ok").await;
    conn.expect("session_start").await;
    let base = status_kib(relay.pid(), "VmRSS:");
    let (mut tx, rx) = conn.ws.split();
    tokio::spawn(rx.for_each(|_| async {}));
    let writer = tokio::spawn(async move {
        let per_frame = 64 * 1024 / LINE;
        let mut n = 0;
        while n * LINE < TOTAL {
            let chunk: String = (n..n + per_frame).map(|i| format!("{i:010}{}\n", "x".repeat(LINE - 11))).collect();
            n += per_frame;
            tx.send(Message::Text(stdout(&session, &chunk).to_string().into())).await.unwrap();
        }
    });
    let t = Instant::now();
    let (mut got, mut next, mut lost, mut peak) = (0usize, 0usize, 0usize, base);
    let mut pending = Vec::new();
    while got < TOTAL / LINE * LINE {
        let f = match browser.next().await {
            Next::Frame(f) if f["type"] == "stdout" => f,
            Next::Frame(_) => continue,
            Next::Closed(code) => panic!("the browser was cut off ({code:?}) after {got} bytes"),
        };
        let bytes = base64::engine::general_purpose::STANDARD.decode(f["data"]["data_b64"].as_str().unwrap()).unwrap();
        got += bytes.len();
        pending.extend_from_slice(&bytes);
        let whole = pending.len() / LINE * LINE;
        for l in pending[..whole].chunks(LINE) {
            let n: usize = std::str::from_utf8(&l[..10]).unwrap().parse().unwrap();
            lost += n.saturating_sub(next);
            next = n + 1;
        }
        pending.drain(..whole);
        if got % (1 << 20) < bytes.len() {
            peak = peak.max(status_kib(relay.pid(), "VmRSS:"));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    writer.await.unwrap();
    let grown = peak.saturating_sub(base) as f64 / 1024.0;
    let rate = got as f64 / 1e6 / t.elapsed().as_secs_f64();
    rows.push(Row {
        figure: "50 MB from a connector ignoring pause to a slow browser: relay growth, lines lost".into(),
        ours: format!("+{grown:.1} MiB, {lost} lines lost ({rate:.0} MB/s as read)"),
        reference: "+134 MiB per 64 MiB (reference relay); 566 330+ lines lost (previous build)",
        goal: "≤ 8 MiB, 0 lost",
        ratio: Some(grown / 134.0),
        met: Some(grown <= 8.0 && lost == 0),
    });
}

#[tokio::main]
async fn main() {
    println!("abuse benchmark: relay {}", env!("CARGO_BIN_EXE_privaclaw-relay"));
    let mut rows = Vec::new();
    sign_in_under_flood(&mut rows).await;
    detached_sessions(&mut rows).await;
    reference_connector_to_a_slow_browser(&mut rows).await;
    print(&rows);
}
