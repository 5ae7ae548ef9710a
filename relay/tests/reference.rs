//! Nothing is lost with connectors that do not do flow control the relay's way. The reference
//! Go connector ignores `pause`: the relay never sends it one, and instead stops reading its
//! socket while a browser is behind, so TCP holds the connector back — every byte arrives,
//! once, in order, and the relay's memory stays flat. A browser cut off for falling behind a
//! connector that ignores `pause` anyway hears 4008, and resumes from its offset.

use crate::common::procfs::status_kib;
use crate::common::*;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::sync::{Arc, Mutex};
use tokio_tungstenite::tungstenite::Message;

const TOTAL: usize = 50_000_000;
const LINE: usize = 100;

/// The counter's line `n`: its number, padding, a newline; `LINE` bytes.
fn line(n: usize) -> String {
    format!("{n:010}{}\n", "x".repeat(LINE - 11))
}

/// A relay, an owner and a session, with a connector (`sessions` in hello or not) that has
/// been told to start the session, and the session's browser with a tiny receive buffer.
async fn streaming(resumable: bool) -> (Relay, User, String, Ws, Ws) {
    let relay = Relay::start().await;
    let owner = relay.signup("o@example.com").await;
    let project = relay.project(&owner, "p").await;
    let (device, code) = relay.device(&owner, &project, "old-box").await;
    let creds = relay.pair(&code).await;
    let mut conn = Ws::open(&format!("{}/connect", relay.ws)).await;
    let mut hello = json!({"device_id": creds.device_id, "token": creds.token, "meta": {"name": "connector"}});
    if resumable {
        hello["sessions"] = json!([]);
    }
    conn.send(json!({"type": "hello", "data": hello})).await;
    conn.expect("hello_ok").await;
    let session = relay.start_session(&owner, &device).await;
    let mut browser = Ws::open_small(&format!("{}/session", relay.ws)).await;
    browser.send(json!({"type": "auth", "data": {"token": owner.token, "session_id": session}})).await;
    browser.expect("auth_ok").await;
    conn.expect("session_start").await;
    (relay, owner, session, conn, browser)
}

/// Sends `stdout` frames of the counter until `total` bytes, as fast as the socket takes them,
/// while recording the type of every frame the relay sends back.
fn flood(conn: Ws, session: String, total: usize) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Vec<String>>>) {
    let (mut tx, mut rx) = conn.ws.split();
    let heard: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = heard.clone();
    tokio::spawn(async move {
        while let Some(Ok(Message::Text(t))) = rx.next().await {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            log.lock().unwrap().push(v["type"].as_str().unwrap_or("").to_string());
        }
    });
    let writer = tokio::spawn(async move {
        let per_frame = 64 * 1024 / LINE;
        let mut n = 0;
        while n * LINE < total {
            let chunk: String = (n..n + per_frame).map(line).collect();
            n += per_frame;
            let frame = stdout(&session, &chunk).to_string();
            tx.send(Message::Text(frame.into())).await.expect("the relay keeps the connector's socket");
        }
    });
    (writer, heard)
}

#[tokio::test]
async fn a_connector_that_ignores_pause_is_held_back_by_tcp_and_loses_nothing() {
    let (relay, _owner, session, conn, mut browser) = streaming(false).await;
    let base = status_kib(relay.pid(), "VmRSS:");
    let (writer, heard) = flood(conn, session, TOTAL);
    let (mut next, mut pending, mut got, mut peak) = (0usize, Vec::<u8>::new(), 0usize, base);
    while got < TOTAL / LINE * LINE {
        let f = browser.expect("stdout").await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(f["data"]["data_b64"].as_str().unwrap()).unwrap();
        got += bytes.len();
        pending.extend_from_slice(&bytes);
        let whole = pending.len() / LINE * LINE;
        for l in pending[..whole].chunks(LINE) {
            let n: usize = std::str::from_utf8(&l[..10]).unwrap().parse().unwrap();
            assert_eq!(n, next, "line {next} arrived as {n}: lost, doubled or reordered");
            next += 1;
        }
        pending.drain(..whole);
        // A slow browser: it takes a breath after every MiB, and the relay must hold the
        // connector back meanwhile rather than buffer for it.
        if got % (1 << 20) < bytes.len() {
            peak = peak.max(status_kib(relay.pid(), "VmRSS:"));
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    writer.await.unwrap();
    assert_eq!(next * LINE, got);
    let grown = peak - base;
    assert!(grown <= 8 * 1024, "the relay grew by {grown} KiB while streaming {TOTAL} bytes to a slow browser");
    let heard = heard.lock().unwrap().clone();
    assert!(!heard.iter().any(|t| t == "pause" || t == "resume"), "sent frames the connector does not know: {heard:?}");
}

#[tokio::test]
async fn a_browser_cut_off_for_falling_behind_hears_4008_and_resumes_from_its_offset() {
    // A connector that says it knows `pause` (it lists sessions) but ignores it.
    let (relay, owner, session, conn, mut browser) = streaming(true).await;
    let (writer, _) = flood(conn, session.clone(), 8 << 20);
    writer.await.unwrap();
    wait_until("the relay cut the browser off", || {
        let cut = relay.log().contains("browser too slow");
        async move { cut }
    })
    .await;
    // It reads slowly what was already on its way, then must find the close that says why.
    let mut offset = 0u64;
    let code = loop {
        match browser.next().await {
            Next::Frame(f) if f["type"] == "stdout" => {
                offset += base64::engine::general_purpose::STANDARD
                    .decode(f["data"]["data_b64"].as_str().unwrap())
                    .unwrap()
                    .len() as u64;
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            Next::Frame(_) => {}
            Next::Closed(code) => break code,
        }
    };
    assert_eq!(code, Some(4008), "a browser cut for being slow is told so, not dropped (1006)");
    let mut back = Ws::open(&format!("{}/session", relay.ws)).await;
    back.send(json!({"type": "auth", "data": {"token": owner.token, "session_id": session, "offset": offset}})).await;
    let ok = back.expect("auth_ok").await;
    let (from, dropped) = (ok["data"]["offset"].as_u64().unwrap(), ok["data"]["dropped"].as_u64().unwrap());
    assert_eq!(
        from.max(offset),
        offset + dropped,
        "it resumes where it stopped, minus what the replay no longer holds"
    );
}
