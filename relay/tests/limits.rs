//! What one person, address or device can take from the relay is bounded, each by a flag:
//! open sessions per user and per device, replay memory for all sessions together (the
//! longest-unwatched replay goes first), wrong pairing codes from everyone, connections per
//! address, and the relay survives running out of file descriptors. Its files are private,
//! and node tokens are sealed at rest under a key that can be rotated.

use crate::common::procfs::status_kib;
use crate::common::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn open_sessions_are_capped_per_user_and_per_device() {
    let relay = Relay::start_with(
        Opts::default().arg("--max-sessions-per-user").arg("2").arg("--max-sessions-per-device").arg("3"),
    )
    .await;
    let s = relay.setup().await;
    let member = relay.signup("second@example.com").await;
    relay.add_member(&s.owner, &s.project, &member).await;
    let first = relay.start_session(&s.owner, &s.device).await;
    relay.start_session(&s.owner, &s.device).await;
    let (owner_token, member_token) = (s.owner.token.clone(), member.token.clone());
    let start = |token: &str| {
        let token = token.to_string();
        let body = json!({"device_id": s.device});
        let relay = &relay;
        async move { relay.post("/functions/v1/start-session", &token, body).await }
    };
    let (st, v) = start(&owner_token).await;
    assert_eq!((st, v["error"].as_str()), (429, Some("too_many_sessions")), "{v}");
    assert!(v["message"].as_str().unwrap().contains("end one"), "{v}");
    relay.start_session(&member, &s.device).await;
    let (st, v) = start(&member_token).await;
    assert_eq!(st, 429, "the device is full: {v}");
    assert!(v["message"].as_str().unwrap().contains("open sessions of"), "{v}");
    let (st, _) = relay.post("/functions/v1/end-session", &s.owner.token, json!({"session_id": first})).await;
    assert_eq!(st, 200);
    assert_eq!(start(&member_token).await.0, 200, "room again");
}

#[tokio::test]
async fn the_replay_budget_drops_the_longest_unwatched_replay_first_and_bounds_memory() {
    let relay = Relay::start_with(Opts::default().arg("--replay-budget").arg("2")).await;
    let mut s = relay.setup().await;
    let chunk = "x".repeat(64 * 1024);
    let mut sessions = Vec::new();
    for _ in 0..20 {
        let id = relay.start_session(&s.owner, &s.device).await;
        let b = relay.browser(&s.owner, &id, &s.device).await;
        s.conn.expect("session_start").await;
        drop(b);
        sessions.push(id);
    }
    let before = status_kib(relay.pid(), "VmRSS:");
    // 1 MiB of output into each detached session, oldest first: 20 MiB in all, past a 2 MiB budget.
    for id in &sessions {
        for _ in 0..16 {
            s.conn.send(stdout(id, &chunk)).await;
        }
    }
    // The newest session's browser gets all its output: by then the relay has handled every
    // frame sent before (one connector socket, in order).
    let mut newest = Ws::open(&format!("{}/session", relay.ws)).await;
    newest
        .send(json!({"type": "auth", "data": {"token": s.owner.token, "session_id": sessions[19], "offset": 0}}))
        .await;
    let ok = newest.expect("auth_ok").await;
    assert_eq!(ok["data"]["dropped"], 0, "the newest replay is whole: {ok}");
    let mut got = 0;
    while got < 1 << 20 {
        use base64::Engine;
        let f = newest.expect("stdout").await;
        got += base64::engine::general_purpose::STANDARD.decode(f["data"]["data_b64"].as_str().unwrap()).unwrap().len();
    }
    let grown = status_kib(relay.pid(), "VmRSS:").saturating_sub(before);
    assert!(grown < 12 * 1024, "the relay grew by {grown} KiB for 20 MiB of replay under a 2 MiB budget");
    let mut oldest = Ws::open(&format!("{}/session", relay.ws)).await;
    oldest
        .send(json!({"type": "auth", "data": {"token": s.owner.token, "session_id": sessions[0], "offset": 0}}))
        .await;
    let ok = oldest.expect("auth_ok").await;
    assert_eq!(ok["data"]["dropped"], 1 << 20, "the oldest replay went first, and the browser is told: {ok}");
}

#[tokio::test]
async fn wrong_pairing_codes_from_everyone_together_pause_pairing() {
    let relay = Relay::start_with(Opts::default().arg("--pair-failures").arg("3")).await;
    let owner = relay.signup("o@example.com").await;
    let project = relay.project(&owner, "p").await;
    let (_, code) = relay.device(&owner, &project, "d").await;
    let pair_from = |ip: &'static str, code: String| {
        let url = relay.url("/functions/v1/pair-device");
        async move {
            let client =
                reqwest::Client::builder().local_address(ip.parse::<std::net::IpAddr>().unwrap()).build().unwrap();
            let res = client.post(url).json(&json!({"pairing_code": code})).send().await.unwrap();
            (res.status().as_u16(), res.json::<serde_json::Value>().await.unwrap())
        }
    };
    // Each guess from a different address: the per-address limit never trips.
    for ip in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        assert_eq!(pair_from(ip, "ZZZZZZ".into()).await.0, 401);
    }
    let (st, v) = pair_from("127.0.0.5", code.clone()).await;
    assert_eq!((st, v["code"].as_str()), (429, Some("rate_limited")), "{v}");
    assert!(v["error"].as_str().unwrap().contains("too many wrong pairing codes"), "{v}");
}

/// Soft and hard `Max open files` of a process.
fn open_files(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let nums: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    (nums[0], nums[1])
}

async fn connect_from(relay: &Relay, ip: &str) -> tokio::net::TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    sock.connect(relay.base.trim_start_matches("http://").parse().unwrap()).await.unwrap()
}

/// `GET /healthz` on a connection of its own from `ip`; true for a 200.
async fn healthy_from(relay: &Relay, ip: &str) -> bool {
    let mut c = connect_from(relay, ip).await;
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out).await;
    out.starts_with("HTTP/1.1 200")
}

#[tokio::test]
async fn the_open_files_limit_is_raised_and_connections_are_capped_per_address() {
    let relay =
        Relay::start_with(Opts::default().shell("ulimit -Sn 256").arg("--max-connections-per-ip").arg("8")).await;
    let (soft, hard) = open_files(relay.pid());
    assert_eq!(soft, hard, "the soft limit was raised to the hard one");
    assert!(soft > 256);
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(connect_from(&relay, "127.0.0.1").await);
    }
    let mut extra = connect_from(&relay, "127.0.0.1").await;
    let mut answer = String::new();
    let _ = tokio::time::timeout(WAIT, extra.read_to_string(&mut answer)).await.expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 429") && answer.contains("too_many_connections"), "{answer:?}");
    assert!(healthy_from(&relay, "127.0.0.2").await, "another address is served");
    held.pop();
    wait_until("a freed place is usable", || healthy_from(&relay, "127.0.0.1")).await;
}

#[tokio::test]
async fn running_out_of_file_descriptors_is_logged_once_and_survived() {
    let relay =
        Relay::start_with(Opts::default().shell("ulimit -n 128").arg("--max-connections-per-ip").arg("0")).await;
    let mut held = Vec::new();
    for i in 0..200 {
        held.push(connect_from(&relay, &format!("127.0.1.{}", i % 200 + 1)).await);
    }
    let retries = || relay.log().matches("accept retry").count();
    wait_until("the relay retried accepting several times", || {
        let n = retries();
        async move { n >= 5 }
    })
    .await;
    drop(held);
    wait_until("the relay accepts again", || healthy_from(&relay, "127.0.0.1")).await;
    let log = relay.log();
    assert_eq!(log.matches("cannot accept connections").count(), 1, "one warning, not one per attempt");
    assert!(log.contains("accepting connections again"));
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[tokio::test]
async fn the_data_directory_and_its_files_are_private() {
    let mut relay = Relay::start().await;
    if relay.database_url.is_some() {
        return; // the files checked are SQLite's
    }
    let data = relay.dir.path().join("data");
    let private = |files: &[&str]| {
        assert_eq!(mode(&data), 0o700);
        for f in files {
            assert_eq!(mode(&data.join(f)), 0o600, "{f}");
        }
    };
    // A data directory the operator made (world-readable) with no database yet: the database
    // and its WAL and shared-memory files are born private.
    relay.kill();
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    relay.restart();
    relay.signup("files@example.com").await;
    private(&["privaclaw.db", "privaclaw.db-wal", "privaclaw.db-shm", "secrets-key"]);
    assert!(relay.log().contains("made private"), "the operator is told the directory was tightened");
    // Files an older relay left readable are tightened at start.
    relay.kill();
    for f in ["privaclaw.db", "privaclaw.db-wal", "secrets-key"] {
        std::fs::set_permissions(data.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    relay.restart();
    relay.sign_in("files@example.com").await;
    private(&["privaclaw.db", "privaclaw.db-wal", "privaclaw.db-shm", "secrets-key"]);
}

#[tokio::test]
async fn node_tokens_are_sealed_at_rest_and_the_key_rotates() {
    let mut relay = Relay::start().await;
    let u = relay.signup("nodes@example.com").await;
    let secret = "node-token-7f3a9c1e5b";
    let body =
        json!({"node_id": "n1", "name": "Node", "config": {"relay_url": "wss://r.example", "auth_token": secret}});
    let (st, created) = relay.post("/api/v1/skill-configs", &u.token, body).await;
    assert_eq!(st, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let url = relay
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", relay.dir.path().join("data/privaclaw.db").display()));
    sqlx::any::install_default_drivers();
    let stored = || {
        let url = url.clone();
        async move {
            let pool = sqlx::AnyPool::connect(&url).await.unwrap();
            let v: String = sqlx::query_scalar("SELECT config FROM skill_configs").fetch_one(&pool).await.unwrap();
            pool.close().await;
            v
        }
    };
    let sealed = stored().await;
    assert!(sealed.starts_with("sealed:v1:") && !sealed.contains(secret), "{sealed}");
    if relay.database_url.is_none() {
        for f in ["privaclaw.db", "privaclaw.db-wal"] {
            let bytes = std::fs::read(relay.dir.path().join("data").join(f)).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{f} holds the token");
        }
    }
    let read = |relay: &Relay, token: &str| {
        let (relay_url, token, id) = (relay.url(&format!("/api/v1/skill-configs/{id}")), token.to_string(), id.clone());
        let http = relay.http.clone();
        async move {
            let _ = id;
            http.get(relay_url).bearer_auth(token).send().await.unwrap().json::<serde_json::Value>().await.unwrap()
        }
    };
    assert_eq!(read(&relay, &u.token).await["config"]["auth_token"], secret);

    // Rotation: the new key in --secrets-key, the old one in --previous-secrets-keys.
    let old = std::fs::read_to_string(relay.dir.path().join("data/secrets-key")).unwrap();
    let new = "a-brand-new-secrets-key-of-40-characters!";
    relay.kill();
    relay.restart_with(&["--secrets-key", new, "--previous-secrets-keys", &old]);
    let u = relay.sign_in("nodes@example.com").await;
    assert_eq!(read(&relay, &u.token).await["config"]["auth_token"], secret);
    let resealed = stored().await;
    assert_ne!(resealed.split(':').nth(2), sealed.split(':').nth(2), "sealed under the new key at start");
    // The old key can go now; without the new one, the relay says which key it lacks.
    relay.kill();
    relay.restart_with(&["--secrets-key", new]);
    let u = relay.sign_in("nodes@example.com").await;
    assert_eq!(read(&relay, &u.token).await["config"]["auth_token"], secret);
    relay.kill();
    let said = relay.start_failing(&[]);
    assert!(said.contains("--previous-secrets-keys"), "{said}");
}
