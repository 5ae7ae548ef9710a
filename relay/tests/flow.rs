//! The whole path end to end: sign-up → project → device → pair-device → a connector says
//! hello → start-session → a browser authenticates → stdin reaches the connector → stdout
//! reaches the browser → end-session; plus session resume, several viewers, and link loss.

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn full_flow_from_signup_to_end_session() {
    let relay = Relay::start().await;
    let owner = relay.signup("alice@example.com").await;
    let project = relay.project(&owner, "Home Lab").await;
    let (device, code) = relay.device(&owner, &project, "pi").await;
    assert_eq!(code.len(), 6);

    let creds = relay.pair(&code).await;
    assert_eq!(creds.device_id, device);
    let mut conn = Ws::connector(&relay, &creds, None).await;
    let (_, d) = relay.get(&format!("/api/v1/devices/{device}"), &owner.token).await;
    assert_eq!(d["status"], "online");
    assert_eq!(d["paired"], true);

    let session = relay.start_session(&owner, &device).await;
    let mut browser = Ws::open(&format!("{}/session", relay.ws)).await;
    browser
        .send(json!({"type": "auth", "data": {"token": owner.token, "session_id": session, "device_id": device, "cols": 100, "rows": 30}}))
        .await;
    let start = conn.expect("session_start").await;
    assert_eq!(start["data"]["session_id"], session.as_str());
    assert_eq!((start["data"]["cols"].as_u64(), start["data"]["rows"].as_u64()), (Some(100), Some(30)));
    let ok = browser.expect("auth_ok").await;
    assert_eq!(ok["data"]["resumed"], false);

    conn.send(json!({"type": "session_started", "data": {"session_id": session}})).await;
    browser.expect("session_started").await;

    browser.send(stdin(&session, "echo hello-$((6*7))\r")).await;
    let got = conn.expect("stdin").await;
    assert_eq!(got["data"]["data_b64"], b64("echo hello-$((6*7))\r"));

    conn.send(stdout(&session, "hello-42\r\n")).await;
    assert!(browser.output_until("hello-42").await.contains("hello-42"));

    browser.send(json!({"type": "ping"})).await;
    browser.expect("pong").await;

    let (s, v) = relay.post("/functions/v1/end-session", &owner.token, json!({"session_id": session})).await;
    assert_eq!((s, v), (200, json!({"ok": true})));
    let end = conn.expect("session_end").await;
    assert_eq!(end["data"]["session_id"], session.as_str());
    let end = browser.expect("session_end").await;
    assert_eq!(end["data"]["reason"], "user_exit");
    assert_eq!(browser.closed().await, Some(1000));

    let (_, rows) = relay.get(&format!("/api/v1/projects/{project}/sessions"), &owner.token).await;
    assert_eq!(rows[0]["id"], session.as_str());
    assert_eq!(rows[0]["status"], "ended");
    assert!(rows[0]["ended_at"].is_string());
    assert_eq!(rows[0]["user_email"], "alice@example.com");
}

#[tokio::test]
async fn the_relay_never_stores_or_logs_terminal_bytes() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let (session, mut b) = s.open(&relay).await;
    b.send(stdin(&session, "secret-keystrokes-4711")).await;
    s.conn.expect("stdin").await;
    s.conn.send(stdout(&session, "secret-output-0815")).await;
    b.output_until("secret-output-0815").await;
    drop(b);
    let log = relay.log();
    for needle in [
        "secret-keystrokes-4711",
        "secret-output-0815",
        &b64("secret-keystrokes-4711"),
        &b64("secret-output-0815"),
        &s.owner.token,
        &s.creds.token,
        "pass-word-123",
    ] {
        assert!(!log.contains(needle), "the log contains {needle:?}");
    }
    assert!(log.contains("browser attached"), "the log is being written");
    let db = std::fs::read(relay.dir.path().join("data/privaclaw.db")).unwrap_or_default();
    let wal = std::fs::read(relay.dir.path().join("data/privaclaw.db-wal")).unwrap_or_default();
    for blob in [db, wal] {
        let text = String::from_utf8_lossy(&blob);
        assert!(!text.contains("secret-output-0815") && !text.contains(&b64("secret-output-0815")));
    }
}

#[tokio::test]
async fn a_browser_that_comes_back_gets_what_it_missed() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let (session, mut b) = s.open(&relay).await;
    s.conn.send(stdout(&session, "first-")).await;
    let seen = b.output_until("first-").await;
    drop(b);

    // Output produced while nobody watches is kept for the next browser.
    s.conn.send(stdout(&session, "while-away")).await;
    s.conn.send(json!({"type": "ping"})).await;
    s.conn.expect("pong").await; // the relay has handled both frames

    let mut again = Ws::open(&format!("{}/session", relay.ws)).await;
    again
        .send(json!({"type": "auth", "data": {"token": s.owner.token, "session_id": session, "device_id": s.device, "offset": seen.len()}}))
        .await;
    let ok = again.expect("auth_ok").await;
    assert_eq!(ok["data"]["resumed"], true);
    assert_eq!(ok["data"]["offset"], seen.len());
    assert_eq!(ok["data"]["dropped"], 0);
    let replay = again.output_until("while-away").await;
    assert_eq!(replay, "while-away", "only what it missed, once");

    // A reload (no offset) gets everything still held.
    let mut reload = relay.browser(&s.owner, &session, &s.device).await;
    assert_eq!(reload.output_until("while-away").await, "first-while-away");
    // The PTY was started once.
    s.conn.send(json!({"type": "ping"})).await;
    let next = s.conn.frame().await;
    assert_eq!(next["type"], "pong", "no second session_start: {next}");
}

#[tokio::test]
async fn several_browsers_watch_one_session() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let member = relay.signup("bob@example.com").await;
    relay.add_member(&s.owner, &s.project, &member).await;
    let session = relay.start_session(&s.owner, &s.device).await;
    let mut a = relay.browser(&s.owner, &session, &s.device).await;
    let mut b = relay.join(&member, &session).await;
    assert_eq!(a.expect("viewer_joined").await["data"]["email"], "bob@example.com", "the owner sees who joined");
    s.conn.expect("session_start").await;
    s.conn.send(stdout(&session, "shared-screen")).await;
    assert!(a.output_until("shared-screen").await.ends_with("shared-screen"));
    assert!(b.output_until("shared-screen").await.ends_with("shared-screen"));
    b.send(stdin(&session, "from-bob")).await;
    assert_eq!(s.conn.expect("stdin").await["data"]["data_b64"], b64("from-bob"));
}

#[tokio::test]
async fn a_browser_session_start_is_a_resize_once_running() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let session = relay.start_session(&s.owner, &s.device).await;
    let mut b = relay.browser(&s.owner, &session, &s.device).await;
    assert_eq!(s.conn.expect("session_start").await["data"]["cols"], 80);
    b.send(json!({"type": "session_start", "data": {"session_id": session, "cols": 120, "rows": 40}})).await;
    let r = s.conn.frame().await;
    assert_eq!(r["type"], "resize");
    assert_eq!((r["data"]["cols"].as_u64(), r["data"]["rows"].as_u64()), (Some(120), Some(40)));
}

#[tokio::test]
async fn shell_exit_ends_the_session_for_browsers() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let (session, mut b) = s.open(&relay).await;
    s.conn.send(json!({"type": "session_end", "data": {"reason": "exit", "session_id": session}})).await;
    assert_eq!(b.expect("session_end").await["data"]["reason"], "exit");
    assert_eq!(b.closed().await, Some(1000));
    let (_, rows) = relay.get(&format!("/api/v1/sessions?device_id={}&status=ended", s.device), &s.owner.token).await;
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["end_reason"], "exit");
    // A browser cannot open an ended session.
    let mut late = Ws::open(&format!("{}/session", relay.ws)).await;
    late.send(json!({"type": "auth", "data": {"token": s.owner.token, "session_id": session}})).await;
    assert_eq!(late.expect("error").await["data"]["code"], "session_invalid");
    assert_eq!(late.closed().await, Some(4002));
}

#[tokio::test]
async fn sessions_survive_a_resumable_connector_reconnecting() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let keep = relay.start_session(&s.owner, &s.device).await;
    let lose = relay.start_session(&s.owner, &s.device).await;
    let mut b_keep = relay.browser(&s.owner, &keep, &s.device).await;
    let mut b_lose = relay.browser(&s.owner, &lose, &s.device).await;
    s.conn.expect("session_start").await;
    s.conn.expect("session_start").await;
    drop(s.conn);
    assert_eq!(b_keep.expect("device_status").await["data"]["status"], "offline");
    b_lose.expect("device_status").await;

    // It comes back still running only one of the two PTYs.
    let mut conn = Ws::connector(&relay, &s.creds, Some(vec![keep.clone()])).await;
    assert_eq!(b_keep.expect("device_status").await["data"]["status"], "online");
    assert_eq!(b_lose.expect("session_end").await["data"]["reason"], "connector_disconnected");
    b_keep.send(stdin(&keep, "still-here")).await;
    assert_eq!(conn.expect("stdin").await["data"]["session_id"], keep.as_str());
    conn.send(stdout(&keep, "yes")).await;
    b_keep.output_until("yes").await;
}

#[tokio::test]
async fn a_reference_connector_dropping_ends_its_sessions() {
    let relay = Relay::start().await;
    let owner = relay.signup("carol@example.com").await;
    let project = relay.project(&owner, "p").await;
    let (device, code) = relay.device(&owner, &project, "d").await;
    let creds = relay.pair(&code).await;
    let mut conn = Ws::connector(&relay, &creds, None).await; // no `sessions`: the Go connector
    let session = relay.start_session(&owner, &device).await;
    let mut b = relay.browser(&owner, &session, &device).await;
    conn.expect("session_start").await;
    drop(conn);
    assert_eq!(b.expect("session_end").await["data"]["reason"], "connector_disconnected");
    // Once offline, no new session can start.
    let (st, v) = relay.post("/functions/v1/start-session", &owner.token, json!({"device_id": device})).await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"], "device_offline");
}

#[tokio::test]
async fn relay_restart_keeps_a_running_session() {
    let mut relay = Relay::start().await;
    let mut s = relay.setup().await;
    let session = relay.start_session(&s.owner, &s.device).await;
    let b = relay.browser(&s.owner, &session, &s.device).await;
    s.conn.expect("session_start").await;
    drop(b);
    relay.restart();
    assert!(matches!(s.conn.next().await, Next::Closed(_)));
    // The connector comes back and lists its PTY: the session carries on.
    let mut conn = Ws::connector(&relay, &s.creds, Some(vec![session.clone()])).await;
    let mut b = relay.browser(&s.owner, &session, &s.device).await;
    b.send(stdin(&session, "after-restart")).await;
    assert_eq!(conn.expect("stdin").await["data"]["data_b64"], b64("after-restart"));
    conn.send(stdout(&session, "ok-after-restart")).await;
    b.output_until("ok-after-restart").await;
}

#[tokio::test]
async fn a_second_connection_replaces_the_first_cleanly() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let mut second = Ws::connector(&relay, &s.creds, Some(vec![])).await;
    assert_eq!(s.conn.closed().await, Some(4004));
    let session = relay.start_session(&s.owner, &s.device).await;
    let _b = relay.browser(&s.owner, &session, &s.device).await;
    assert_eq!(second.expect("session_start").await["data"]["session_id"], session.as_str());
    let (_, d) = relay.get(&format!("/api/v1/devices/{}", s.device), &s.owner.token).await;
    assert_eq!(d["status"], "online", "the replaced link going away does not mark the device offline");
}

#[tokio::test]
async fn deleting_a_device_disconnects_its_connector_for_good() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let (st, _) = relay.call("DELETE", &format!("/api/v1/devices/{}", s.device), Some(&s.owner.token), None).await;
    assert_eq!(st, 204);
    assert_eq!(s.conn.expect("error").await["data"]["code"], "auth_failed");
    assert_eq!(s.conn.closed().await, Some(4001));
    let mut again = Ws::open(&format!("{}/connect", relay.ws)).await;
    again.send(json!({"type": "hello", "data": {"device_id": s.creds.device_id, "token": s.creds.token}})).await;
    assert_eq!(again.expect("error").await["data"]["code"], "auth_failed");
    assert_eq!(again.closed().await, Some(4001));
}

/// Sends a connector `hello` listing `session` and where its resend starts.
async fn reconnect(relay: &Relay, creds: &Creds, session: &str, offset: u64) -> Ws {
    let mut c = Ws::open(&format!("{}/connect", relay.ws)).await;
    c.send(json!({"type": "hello", "data": {"device_id": creds.device_id, "token": creds.token, "sessions": [session], "offsets": [offset]}}))
        .await;
    c.expect("hello_ok").await;
    c
}

#[tokio::test]
async fn output_a_dead_relay_held_is_resent_by_the_connector() {
    let mut relay = Relay::start().await;
    let mut s = relay.setup().await;
    let (session, mut b) = s.open(&relay).await;
    s.conn.send(stdout(&session, "aaaa")).await;
    s.conn.send(stdout(&session, "bbbb")).await;
    assert_eq!(b.output_until("bbbb").await, "aaaabbbb");
    drop(b);
    s.conn.send(stdout(&session, "cccc")).await; // reaches the relay, never a browser
    s.conn.send(json!({"type": "ping"})).await;
    s.conn.expect("pong").await;
    relay.restart(); // kill -9: "cccc" dies with it
    // The connector still holds its output from byte 4 on, and resends it.
    let mut c = reconnect(&relay, &s.creds, &session, 4).await;
    for part in ["bbbb", "cccc", "dddd"] {
        c.send(stdout(&session, part)).await;
    }
    let mut back = Ws::open(&format!("{}/session", relay.ws)).await;
    back.send(json!({"type": "auth", "data": {"token": s.owner.token, "session_id": session, "offset": 8}})).await;
    assert_eq!(back.expect("auth_ok").await["data"]["offset"], 8);
    assert_eq!(back.output_until("dddd").await, "ccccdddd", "nothing lost, nothing twice");
}

#[tokio::test]
async fn a_resend_after_a_lost_link_is_not_shown_twice() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let (session, mut b) = s.open(&relay).await;
    s.conn.send(stdout(&session, "aaaa")).await;
    s.conn.send(stdout(&session, "bbbb")).await;
    assert_eq!(b.output_until("bbbb").await, "aaaabbbb");
    drop(s.conn);
    b.expect("device_status").await;
    let mut c = reconnect(&relay, &s.creds, &session, 2).await;
    for part in ["aabb", "bb", "cccc"] {
        c.send(stdout(&session, part)).await;
    }
    assert_eq!(b.output_until("cccc").await, "cccc", "the relay already had bytes 2..8");
}
