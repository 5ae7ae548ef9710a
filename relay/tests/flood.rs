//! Flow control end to end with the real connector, real shells and real PTYs: a browser that
//! stops reading holds back only the program writing to its own terminal (the relay pauses
//! that session, the connector stops reading that PTY, the kernel blocks `yes`), memory stays
//! bounded on both sides, another session of the same connector carries on, and the stream
//! resumes once the browser reads again. Also: a whole run leaves no password, token or
//! terminal byte in the relay's or the connector's log.
//!
//! No test sleeps to synchronise: each waits for a condition, bounded by `WAIT`.

use crate::common::procfs::{children_named, status_kib, wchar};
use crate::common::*;
use base64::Engine;
use serde_json::{Value, json};
use std::cell::Cell;
use std::time::{Duration, Instant};

/// Reads `stdout` frames until `bytes` of output arrived or the output contains `needle`;
/// returns the byte count. Panics if the socket closes.
async fn read_output(b: &mut Ws, bytes: u64, needle: Option<&str>) -> u64 {
    let mut total = 0u64;
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let f = b.expect("stdout").await;
        let data = base64::engine::general_purpose::STANDARD.decode(f["data"]["data_b64"].as_str().unwrap()).unwrap();
        total += data.len() as u64;
        if let Some(needle) = needle.map(str::as_bytes) {
            tail.extend_from_slice(&data);
            if tail.windows(needle.len()).any(|w| w == needle) {
                return total;
            }
            tail.drain(..tail.len().saturating_sub(needle.len()));
        }
        if total >= bytes {
            return total;
        }
    }
}

/// Output that passes through the relay on its way to a browser that does not read: the
/// connector's buffer, socket buffers, and the relay's queue up to its pause threshold. Far
/// less than this, whatever the machine; without flow control `yes` writes this much in a
/// second or two.
const HELD_AT_MOST: u64 = 16 << 20;

/// A session running `yes` whose browser (a tiny receive buffer) never reads, once `yes` is
/// held back: it wrote nothing for a full second. Were flow control broken it would never
/// stop, and this wait would time out. Returns the session, its browser and `yes`'s pid.
async fn stalled_yes(t: &E2e) -> (String, Ws, u32) {
    let agent_pid = t.agent.child.as_ref().unwrap().id();
    let session = t.relay.start_session(&t.owner, &t.device).await;
    let mut slow = Ws::open_small(&format!("{}/session", t.relay.ws)).await;
    slow.send(json!({"type": "auth", "data": {"token": t.owner.token, "session_id": session, "device_id": t.device}}))
        .await;
    slow.expect("auth_ok").await;
    slow.expect("session_started").await;
    slow.send(stdin(&session, "exec yes flood\r")).await;
    wait_until("yes runs", || async { children_named(agent_pid, "yes").len() == 1 }).await;
    let yes = children_named(agent_pid, "yes")[0];
    let seen = Cell::new((u64::MAX, Instant::now()));
    wait_until("yes is held back", || {
        let w = wchar(yes);
        let (before, since) = seen.get();
        if w != before {
            seen.set((w, Instant::now()));
        }
        let held = w == before && since.elapsed() >= Duration::from_secs(1);
        async move { held }
    })
    .await;
    (session, slow, yes)
}

#[tokio::test]
async fn a_stalled_browser_pauses_its_own_session_and_no_other() {
    let t = E2e::start().await;
    let agent_pid = t.agent.child.as_ref().unwrap().id();
    let relay_before = status_kib(t.relay.pid(), "VmRSS:");

    // Session A: nobody reads it, so the relay pauses A, the connector leaves A's PTY
    // unread, and `yes` blocks.
    let (_, mut slow, yes) = stalled_yes(&t).await;
    let stalled = wchar(yes);
    assert!(stalled < HELD_AT_MOST, "yes wrote {stalled} bytes into a session nobody reads");
    let agent_rss = status_kib(agent_pid, "VmRSS:");
    assert!(agent_rss < 16 * 1024, "the connector holds {agent_rss} KiB");
    let relay_growth = status_kib(t.relay.pid(), "VmRSS:").saturating_sub(relay_before);
    assert!(relay_growth < 32 * 1024, "the relay grew by {relay_growth} KiB for one stalled browser");

    // Session B of the same connector is not held up: typed input echoes, bulk output flows.
    let b_id = t.relay.start_session(&t.owner, &t.device).await;
    let mut b = t.relay.browser(&t.owner, &b_id, &t.device).await;
    b.expect("session_started").await;
    b.send(stdin(&b_id, "echo b-$((6*7))\r")).await;
    b.output_until("b-42").await;
    b.send(stdin(&b_id, "head -c 3000000 /dev/zero | tr '\\0' b; echo; echo bulk-$((6*7))\r")).await;
    let got = read_output(&mut b, u64::MAX, Some("bulk-42")).await;
    assert!(got >= 3_000_000, "session B got {got} bytes");
    let still = wchar(yes);
    assert!(still < HELD_AT_MOST, "A's yes went on writing ({still} bytes) while B ran");

    // The stalled browser reads again: A's stream continues well past what was held back.
    let read = read_output(&mut slow, 8 << 20, None).await;
    assert!(read >= 8 << 20);
    wait_until("yes writes again", || async { wchar(yes) > stalled + (1 << 20) }).await;
    assert!(status_kib(agent_pid, "VmRSS:") < 16 * 1024, "the connector stays small once A flows again");
}

/// Every way `s` can show up inside a longer base64 text: one encoding per alignment.
fn base64_forms(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    (0..3)
        .map(|k| {
            let n = (b.len() - k) / 3 * 3;
            base64::engine::general_purpose::STANDARD.encode(&b[k..k + n])
        })
        .collect()
}

#[tokio::test]
async fn a_whole_run_logs_no_password_token_or_terminal_bytes() {
    let t = E2e::start().await;
    let relay = &t.relay;
    // Password sign-in and a refresh, so the token endpoints run too.
    let (s, login) = relay
        .call(
            "POST",
            "/auth/v1/token?grant_type=password",
            None,
            Some(json!({"email": t.owner.email, "password": "pass-word-123"})),
        )
        .await;
    assert_eq!(s, 200, "{login}");
    let (s, refreshed) = relay
        .call(
            "POST",
            "/auth/v1/token?grant_type=refresh_token",
            None,
            Some(json!({"refresh_token": login["refresh_token"]})),
        )
        .await;
    assert_eq!(s, 200, "{refreshed}");
    let token = refreshed["access_token"].as_str().unwrap().to_string();

    // A session: typed input, its echo and the command's output, a resize, a resume, the end.
    let session = relay.start_session(&t.owner, &t.device).await;
    let mut b = Ws::open(&format!("{}/session", relay.ws)).await;
    b.send(json!({"type": "auth", "data": {"token": token, "session_id": session, "device_id": t.device}})).await;
    b.expect("auth_ok").await;
    b.expect("session_started").await;
    let typed = "echo zq-terminal-$((6*7))-secret-out";
    b.send(stdin(&session, &format!("{typed}\r"))).await;
    let printed = "zq-terminal-42-secret-out";
    b.output_until(printed).await;
    b.send(json!({"type": "resize", "data": {"session_id": session, "cols": 100, "rows": 30}})).await;
    drop(b);
    let mut again = relay.browser(&t.owner, &session, &t.device).await;
    again.output_until(printed).await; // the replay
    again.send(json!({"type": "session_end", "data": {"session_id": session, "reason": "user_exit"}})).await;
    again.expect("session_end").await;
    let (_, rows) = relay.get(&format!("/api/v1/sessions?device_id={}", t.device), &t.owner.token).await;
    assert_eq!(rows[0]["status"], "ended", "{rows}");

    let config: Value = serde_json::from_str(&std::fs::read_to_string(t.agent.config()).unwrap()).unwrap();
    let device_token = config["token"].as_str().unwrap().to_string();
    let mut secrets: Vec<(String, String)> = vec![
        ("the password".into(), "pass-word-123".into()),
        ("the JWT secret".into(), JWT_SECRET.into()),
        ("an access token".into(), t.owner.token.clone()),
        ("an access token".into(), login["access_token"].as_str().unwrap().into()),
        ("an access token".into(), token.clone()),
        ("a refresh token".into(), t.owner.refresh.clone()),
        ("a refresh token".into(), login["refresh_token"].as_str().unwrap().into()),
        ("a refresh token".into(), refreshed["refresh_token"].as_str().unwrap().into()),
        ("the device token".into(), device_token),
        ("the pairing code".into(), t.code.clone()),
        ("typed input".into(), "zq-terminal-$((6*7))".into()),
        ("terminal output".into(), printed.into()),
    ];
    for s in [typed, printed] {
        for form in base64_forms(s) {
            secrets.push(("terminal bytes in base64".into(), form));
        }
    }
    let (relay_log, agent_log) = (relay.log(), t.agent.log());
    assert!(relay_log.contains("browser attached"), "the relay's log is being written");
    assert!(agent_log.contains("connected to"), "the connector's log is being written: {agent_log}");
    for (what, secret) in &secrets {
        assert!(!secret.is_empty());
        for (name, log) in [("relay", &relay_log), ("connector", &agent_log)] {
            assert!(!log.contains(secret.as_str()), "the {name} log contains {what} ({secret:.12}…)");
        }
    }
}

/// A browser socket that is never read must not keep the relay from noticing it closed:
/// closing it mid-stream frees the session's flow control (the connector resumes).
#[tokio::test]
async fn closing_a_stalled_browser_lets_the_session_run_on() {
    let t = E2e::start().await;
    let (a, slow, yes) = stalled_yes(&t).await;
    let stalled = wchar(yes);
    // The tab goes away without reading: nobody watches, so nothing holds the session back
    // (its output goes to the replay ring only).
    drop(slow);
    wait_until("yes writes again", || async { wchar(yes) > stalled + (4 << 20) }).await;
    // A browser coming back gets the recent output and a live stream.
    let mut back = t.relay.browser(&t.owner, &a, &t.device).await;
    let got = read_output(&mut back, 2 << 20, None).await;
    assert!(got >= 2 << 20);
}
