//! Faults: a connector killed outright, a link that goes silent without a FIN (a half-open
//! TCP connection), a client that sends its headers too slowly, and PostgreSQL restarting
//! under the relay.

use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::RwLock;

/// The PostgreSQL restart must not pull the database from under this file's other tests.
static DATABASE: RwLock<()> = RwLock::const_new(());

#[tokio::test]
async fn a_killed_connector_goes_offline_and_its_browsers_are_told() {
    let _db = DATABASE.read().await;
    connector_bin();
    let relay = Relay::start().await;
    let owner = relay.signup("k@example.com").await;
    let project = relay.project(&owner, "p").await;
    let (device, code) = relay.device(&owner, &project, "box").await;
    let mut agent = Agent::start(&relay, &code);
    wait_until("online", || relay.is_online(&owner, &device)).await;
    let session = relay.start_session(&owner, &device).await;
    let mut b = relay.browser(&owner, &session, &device).await;
    b.expect("session_started").await;
    agent.child.as_mut().unwrap().kill().unwrap(); // SIGKILL: no goodbye
    assert_eq!(b.expect("device_status").await["data"]["status"], "offline");
    wait_until("the device shows offline", || async { !relay.is_online(&owner, &device).await }).await;
}

/// A TCP proxy that forwards until told to go silent, then holds both sockets open without
/// passing a byte: what a dead NAT or an unplugged cable looks like to both ends.
async fn blackhole_proxy(target: String, silent: tokio::sync::watch::Receiver<bool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(&target).await.unwrap();
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        let pump = |mut from: tokio::net::tcp::OwnedReadHalf,
                    mut to: tokio::net::tcp::OwnedWriteHalf,
                    silent: tokio::sync::watch::Receiver<bool>| async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = from.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                if !*silent.borrow() {
                    let _ = to.write_all(&buf[..n]).await;
                }
            }
        };
        tokio::join!(pump(cr, sw, silent.clone()), pump(sr, cw, silent));
    });
    addr
}

#[tokio::test]
async fn a_silent_link_is_detected_by_keepalive() {
    let _db = DATABASE.read().await;
    let relay = Relay::start_with(Opts::default().arg("--ping-interval").arg("1")).await;
    let owner = relay.signup("s@example.com").await;
    let project = relay.project(&owner, "p").await;
    let (device, code) = relay.device(&owner, &project, "box").await;
    let creds = relay.pair(&code).await;
    let (go_silent, silent) = tokio::sync::watch::channel(false);
    let proxy = blackhole_proxy(relay.base.trim_start_matches("http://").to_string(), silent).await;
    let mut c = Ws::open(&format!("ws://{proxy}/connect")).await;
    c.send(serde_json::json!({"type": "hello", "data": {"device_id": creds.device_id, "token": creds.token, "sessions": []}})).await;
    c.expect("hello_ok").await;
    assert!(relay.is_online(&owner, &device).await);
    go_silent.send_replace(true);
    // No FIN reaches the relay; only its pings going unanswered can tell.
    wait_until("the relay drops the silent connector", || async { !relay.is_online(&owner, &device).await }).await;
    assert!(relay.log().contains("peer silent for"), "dropped by the keepalive, not by a close");
}

#[tokio::test]
async fn slow_headers_are_cut_off_and_others_are_served() {
    let _db = DATABASE.read().await;
    let relay = Relay::start_with(Opts::default().arg("--header-timeout").arg("1")).await;
    let mut slow = TcpStream::connect(relay.base.trim_start_matches("http://")).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    assert_eq!(relay.call("GET", "/healthz", None, None).await.0, 200, "others are served meanwhile");
    let mut buf = [0u8; 256];
    let n =
        tokio::time::timeout(WAIT, slow.read(&mut buf)).await.expect("the relay closes the connection").unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn the_relay_recovers_when_postgresql_restarts() {
    let _db = DATABASE.write().await;
    let Ok(restart) = std::env::var("TEST_PG_RESTART") else { return }; // the PostgreSQL pass only
    let relay = Relay::start().await;
    if relay.database_url.is_none() {
        return;
    }
    let owner = relay.signup("pg@example.com").await;
    relay.project(&owner, "before").await;
    let status = std::process::Command::new("sh").arg("-c").arg(&restart).status().unwrap();
    assert!(status.success(), "restarting PostgreSQL failed");
    // The pool reconnects: requests succeed again without restarting the relay.
    wait_until("requests succeed again", || async {
        relay.call("POST", "/api/v1/projects", Some(&owner.token), Some(serde_json::json!({"name": "after"}))).await.0
            == 201
    })
    .await;
    let (_, projects) = relay.get("/api/v1/projects", &owner.token).await;
    assert_eq!(projects.as_array().unwrap().len(), 2);
    let (s, _) = relay.call("GET", "/healthz", None, None).await;
    assert_eq!(s, 200);
}
