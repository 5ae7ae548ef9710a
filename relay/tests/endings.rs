//! How sessions end, said exactly: the shell's exit status, who ended it, and a relay that is
//! stopped (SIGTERM) closing every socket with 1012 "relay restarting" — so browsers and
//! connectors come back instead of guessing — and recording its devices' last sighting.

use crate::common::*;
use serde_json::json;

async fn history_row(relay: &Relay, user: &User, session: &str) -> serde_json::Value {
    let (_, rows) = relay.get("/api/v1/sessions", &user.token).await;
    rows.as_array().unwrap().iter().find(|r| r["id"] == session).expect("the session is in the history").clone()
}

#[tokio::test]
async fn an_exited_shell_s_status_and_who_ended_a_session_reach_browsers_and_history() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let (first, mut b) = s.open(&relay).await;
    s.conn.send(json!({"type": "session_end", "data": {"session_id": first, "reason": "exit", "status": 3}})).await;
    let end = b.expect("session_end").await;
    assert_eq!((end["data"]["reason"].as_str(), end["data"]["status"].as_u64()), (Some("exit"), Some(3)));
    let row = history_row(&relay, &s.owner, &first).await;
    assert_eq!((row["end_reason"].as_str(), row["exit_status"].as_i64()), (Some("exit"), Some(3)));

    let member = relay.signup("helper@example.com").await;
    relay.add_member(&s.owner, &s.project, &member).await;
    let (second, mut b) = s.open(&relay).await;
    let (st, _) = relay.post("/functions/v1/end-session", &member.token, json!({"session_id": second})).await;
    assert_eq!(st, 200);
    let end = b.expect("session_end").await;
    assert_eq!(
        (end["data"]["reason"].as_str(), end["data"]["by"].as_str()),
        (Some("user_exit"), Some("helper@example.com"))
    );
    assert_eq!(s.conn.expect("session_end").await["data"]["session_id"], second.as_str(), "the connector is told");
    let row = history_row(&relay, &s.owner, &second).await;
    assert_eq!(row["ended_by_email"], "helper@example.com");
}

#[tokio::test]
async fn a_stopped_relay_says_so_to_every_socket_and_records_when_devices_were_last_seen() {
    let mut relay = Relay::start().await;
    let mut s = relay.setup().await;
    let (_, mut b) = s.open(&relay).await;
    let (_, before) = relay.get(&format!("/api/v1/devices/{}", s.device), &s.owner.token).await;
    let took = relay.terminate().await;
    println!("the relay exited {took:?} after SIGTERM");
    assert_eq!(b.closed().await, Some(1012), "the browser hears the relay is restarting");
    assert_eq!(s.conn.closed().await, Some(1012), "and so does the connector");
    relay.restart();
    let (_, after) = relay.get(&format!("/api/v1/devices/{}", s.device), &s.owner.token).await;
    assert_eq!(after["status"], "offline");
    assert!(
        after["last_seen"].as_str() > before["last_seen"].as_str(),
        "last seen when the relay stopped ({after}), not when it connected ({before})"
    );
}
