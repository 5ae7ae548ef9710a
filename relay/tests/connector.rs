//! End to end with the real connector binary: pair, come online, run commands in real shells
//! on real PTYs through the relay, resize, isolation, ending sessions, `exit`, a relay restart,
//! a replayed pairing code, and a deleted device.

use crate::common::*;
use serde_json::json;

impl E2e {
    /// A new session with a browser attached, its shell ready.
    async fn shell(&self, cols: u16, rows: u16) -> (String, Ws) {
        let session = self.relay.start_session(&self.owner, &self.device).await;
        let mut b = Ws::open(&format!("{}/session", self.relay.ws)).await;
        b.send(json!({"type": "auth", "data": {"token": self.owner.token, "session_id": session, "device_id": self.device, "cols": cols, "rows": rows}}))
            .await;
        b.expect("auth_ok").await;
        b.expect("session_started").await;
        (session, b)
    }
}

/// Types `cmd` and returns the output up to the marker line it prints.
async fn run(b: &mut Ws, session: &str, cmd: &str) -> String {
    let marker = format!("done-{}", uuid::Uuid::new_v4().simple());
    b.send(stdin(session, &format!("{cmd}; echo {}-$((1+1))\r", &marker))).await;
    let out = b.output_until(&format!("{marker}-2")).await;
    let end = out.rfind(&format!("{marker}-2")).unwrap();
    out[..end].to_string()
}

#[tokio::test]
async fn pairs_with_a_private_config_and_runs_commands() {
    let t = E2e::start().await;
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(t.agent.config()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(t.agent.config()).unwrap()).unwrap();
    assert_eq!(cfg["device_id"], t.device.as_str());
    assert!(cfg["relay_url"].as_str().unwrap().starts_with("ws://127.0.0.1:"));
    let (_, d) = t.relay.get(&format!("/api/v1/devices/{}", t.device), &t.owner.token).await;
    assert_eq!(d["name"], "box", "pairing without --name keeps the name given in the web app");

    let (session, mut b) = t.shell(80, 24).await;
    assert!(run(&mut b, &session, "echo hello-$((6*7))").await.contains("hello-42"));
    let term = run(&mut b, &session, "echo term=$TERM; tty").await;
    assert!(term.contains("term=xterm-256color"), "{term}");
    assert!(term.contains("/dev/pts/"), "{term}");
    assert!(!t.agent.log().contains("hello-42"), "terminal bytes stay out of the connector's log");

    // Pairing again with --name renames the device.
    let code = t.relay.post(&format!("/api/v1/devices/{}/pairing-code", t.device), &t.owner.token, json!({})).await.1;
    let again = Agent { child: None, dir: tempfile::tempdir().unwrap() };
    let out = again.pair_with(&t.relay, code["pairing_code"].as_str().unwrap(), &["--name", "Kitchen Pi"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, d) = t.relay.get(&format!("/api/v1/devices/{}", t.device), &t.owner.token).await;
    assert_eq!(d["name"], "Kitchen Pi");
}

#[tokio::test]
async fn stty_size_follows_resize() {
    let t = E2e::start().await;
    let (session, mut b) = t.shell(100, 30).await;
    assert!(run(&mut b, &session, "stty size").await.contains("30 100"));
    b.send(json!({"type": "resize", "data": {"session_id": session, "cols": 132, "rows": 43}})).await;
    assert!(run(&mut b, &session, "stty size").await.contains("43 132"));
}

#[tokio::test]
async fn two_sessions_are_isolated() {
    let t = E2e::start().await;
    let (s1, mut b1) = t.shell(80, 24).await;
    let (s2, mut b2) = t.shell(80, 24).await;
    run(&mut b1, &s1, "export ONLY_HERE=one-$((10+1))").await;
    let one = run(&mut b1, &s1, "echo v=$ONLY_HERE; tty").await;
    let two = run(&mut b2, &s2, "echo v=$ONLY_HERE; tty").await;
    assert!(one.contains("v=one-11"), "{one}");
    // The `v=` line (a prompt may precede it): the echoed marker is random and may itself hold
    // "one-11" ("done-11…").
    assert!(two.lines().any(|l| l.trim_end().ends_with("v=")), "{two}");
    let tty = |s: &str| s.lines().find(|l| l.contains("/dev/pts/")).map(|l| l.trim().to_string());
    assert_ne!(tty(&one), tty(&two));
}

#[tokio::test]
async fn ending_a_session_kills_its_shell() {
    let t = E2e::start().await;
    let (session, mut b) = t.shell(80, 24).await;
    let out = run(&mut b, &session, "echo pid=$$").await;
    let pid: u32 = out.split("pid=").last().unwrap().lines().next().unwrap().trim().parse().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let (s, _) = t.relay.post("/functions/v1/end-session", &t.owner.token, json!({"session_id": session})).await;
    assert_eq!(s, 200);
    wait_until("the shell is gone", || async move { !std::path::Path::new(&format!("/proc/{pid}")).exists() }).await;
}

#[tokio::test]
async fn exit_in_the_shell_ends_the_session_for_the_browser() {
    let t = E2e::start().await;
    let (session, mut b) = t.shell(80, 24).await;
    b.send(stdin(&session, "exit 7\r")).await;
    let end = b.expect("session_end").await;
    assert_eq!((end["data"]["reason"].as_str(), end["data"]["status"].as_u64()), (Some("exit"), Some(7)), "{end}");
    let (_, rows) = t.relay.get(&format!("/api/v1/sessions?device_id={}", t.device), &t.owner.token).await;
    assert_eq!((rows[0]["status"].as_str(), rows[0]["exit_status"].as_i64()), (Some("ended"), Some(7)));
}

#[tokio::test]
async fn a_shell_survives_a_relay_restart() {
    let mut t = E2e::start().await;
    let (session, mut b) = t.shell(80, 24).await;
    let before = run(&mut b, &session, "echo pid=$$").await;
    drop(b);
    t.relay.restart();
    let (relay, owner, device) = (&t.relay, &t.owner, &t.device);
    wait_until("the connector is back online", || relay.is_online(owner, device)).await;
    let mut b = t.relay.browser(&t.owner, &session, &t.device).await;
    let after = run(&mut b, &session, "echo pid=$$").await;
    let pid = |s: &str| s.split("pid=").last().and_then(|r| r.lines().next()).map(|p| p.trim().to_string());
    assert_eq!(pid(&before), pid(&after), "the same shell carries on");
}

#[tokio::test]
async fn a_used_pairing_code_is_refused_clearly() {
    let relay = Relay::start().await;
    let owner = relay.signup("again@example.com").await;
    let project = relay.project(&owner, "p").await;
    let (_, code) = relay.device(&owner, &project, "box").await;
    let first = Agent { child: None, dir: tempfile::tempdir().unwrap() };
    assert!(first.pair(&relay, &code).status.success());
    let second = Agent { child: None, dir: tempfile::tempdir().unwrap() };
    let out = second.pair(&relay, &code);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pairing code is not valid"), "{err}");
    assert!(!second.config().exists(), "nothing written on failure");
}

#[tokio::test]
async fn a_deleted_device_s_connector_stops_and_says_to_pair_again() {
    let mut t = E2e::start().await;
    let (s, _) = t.relay.call("DELETE", &format!("/api/v1/devices/{}", t.device), Some(&t.owner.token), None).await;
    assert_eq!(s, 204);
    assert_eq!(t.agent.exit_code().await, Some(3));
    assert!(t.agent.log().to_lowercase().contains("pair"), "{}", t.agent.log());
}

/// Decoded output of the next `stdout` frame.
async fn chunk(b: &mut Ws) -> String {
    use base64::Engine;
    let f = b.expect("stdout").await;
    let bytes = base64::engine::general_purpose::STANDARD.decode(f["data"]["data_b64"].as_str().unwrap()).unwrap();
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn a_relay_killed_mid_stream_loses_no_output() {
    let mut t = E2e::start().await;
    let (session, mut b) = t.shell(80, 24).await;
    // A counter from a shell loop: slow enough that the relay dies while it runs.
    b.send(stdin(&session, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); echo n$i; done; echo end-$((6*7))\r")).await;
    let mut seen = String::new();
    while !seen.contains("\r\nn3000\r\n") {
        seen.push_str(&chunk(&mut b).await);
    }
    t.relay.restart(); // kill -9, mid-stream
    let (relay, owner, device) = (&t.relay, &t.owner, &t.device);
    wait_until("the connector is back", || relay.is_online(owner, device)).await;
    let mut again = Ws::open(&format!("{}/session", t.relay.ws)).await;
    again
        .send(json!({"type": "auth", "data": {"token": t.owner.token, "session_id": session, "offset": seen.len()}}))
        .await;
    assert_eq!(again.expect("auth_ok").await["data"]["offset"], seen.len());
    let mut all = seen;
    while !all.contains("end-42") {
        all.push_str(&chunk(&mut again).await);
    }
    // Typed ahead of the first prompt, the loop's first line follows that prompt ("# n1").
    let counted: Vec<u32> =
        all.split("\r\n").filter_map(|l| l.rsplit(' ').next()?.strip_prefix('n')?.parse().ok()).collect();
    assert_eq!(counted.len(), 20000, "every line once");
    assert!(counted.iter().enumerate().all(|(i, n)| *n as usize == i + 1), "in order, none lost, none doubled");
}
