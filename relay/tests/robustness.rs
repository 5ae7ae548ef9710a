//! Bad input gets a clear error and loses nothing: malformed JSON, unknown types, wrong types,
//! invalid base64, oversized frames, unknown or foreign session ids, hello without fields — and
//! every other session keeps working. Also: the slow-browser bound and the reference Go
//! connector's own frames.

use crate::common::*;
use serde_json::json;

/// Two sessions on one connector, each with its browser.
struct Two {
    _relay: Relay,
    s: Setup,
    a: String,
    b: String,
    ba: Ws,
    bb: Ws,
}

async fn two() -> Two {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let a = relay.start_session(&s.owner, &s.device).await;
    let b = relay.start_session(&s.owner, &s.device).await;
    let ba = relay.browser(&s.owner, &a, &s.device).await;
    let bb = relay.browser(&s.owner, &b, &s.device).await;
    s.conn.expect("session_start").await;
    s.conn.expect("session_start").await;
    Two { _relay: relay, s, a, b, ba, bb }
}

impl Two {
    /// Session B still works both ways.
    async fn b_still_works(&mut self) {
        self.bb.send(stdin(&self.b, "b-alive")).await;
        assert_eq!(self.s.conn.expect("stdin").await["data"]["session_id"], self.b.as_str());
        self.s.conn.send(stdout(&self.b, "b-ok")).await;
        self.bb.output_until("b-ok").await;
    }
}

#[tokio::test]
async fn a_browser_s_bad_frames_get_errors_and_nothing_breaks() {
    let mut t = two().await;
    let cases = [
        ("{not json".to_string(), "Invalid JSON"),
        (json!({"type": 7}).to_string(), "\"type\""),
        (json!({"type": "launch_missiles"}).to_string(), "unknown message type"),
        (json!({"type": "stdin"}).to_string(), "has no data"),
        (json!({"type": "stdin", "data": {"session_id": t.a, "data_b64": 5}}).to_string(), "bad stdin data"),
        (json!({"type": "stdin", "data": {"session_id": t.a, "data_b64": "!!!"}}).to_string(), "not valid base64"),
        (json!({"type": "resize", "data": {"session_id": t.a, "cols": 0, "rows": 24}}).to_string(), "between 1 and"),
        (
            json!({"type": "resize", "data": {"session_id": t.a, "cols": 70000, "rows": 24}}).to_string(),
            "bad resize data",
        ),
        (json!({"type": "stdin", "data": {"session_id": t.b, "data_b64": "aGk="}}).to_string(), "another session"),
        (
            json!({"type": "stdin", "data": {"session_id": "no-such-session", "data_b64": "aGk="}}).to_string(),
            "another session",
        ),
        ("x".repeat(1_100_000), "limit is 1048576 bytes"),
    ];
    for (frame, says) in &cases {
        t.ba.send_text(frame).await;
        let e = t.ba.expect("error").await;
        let msg = e["data"]["message"].as_str().unwrap();
        assert!(msg.contains(says), "{frame:.60} → {msg}");
    }
    t.ba.send(json!({"type": "ping"})).await;
    t.ba.expect("pong").await;
    t.ba.send(stdin(&t.a, "a-fine")).await;
    assert_eq!(t.s.conn.expect("stdin").await["data"]["data_b64"], b64("a-fine"), "no bad frame reached the connector");
    t.b_still_works().await;
}

#[tokio::test]
async fn a_connector_s_bad_frames_are_ignored_and_nothing_breaks() {
    let mut t = two().await;
    for frame in [
        "{".to_string(),
        json!({"type": "stdout"}).to_string(),
        json!({"type": "stdout", "data": {"session_id": 5}}).to_string(),
        json!({"type": "stdout", "data": {"session_id": "unknown", "data_b64": "aGk="}}).to_string(),
        json!({"type": "session_end", "data": {"session_id": "unknown"}}).to_string(),
        json!({"type": "whatever", "data": [1, 2]}).to_string(),
        "y".repeat(1_100_000),
    ] {
        t.s.conn.send_text(&frame).await;
    }
    t.s.conn.send(json!({"type": "ping"})).await;
    let mut errors = Vec::new();
    loop {
        let f = t.s.conn.frame().await;
        match f["type"].as_str() {
            Some("pong") => break,
            Some("error") => errors.push(f["data"]["message"].as_str().unwrap().to_string()),
            _ => panic!("unexpected {f}"),
        }
    }
    assert!(errors.iter().any(|e| e == "Invalid JSON") && errors.iter().any(|e| e.contains("limit is")), "{errors:?}");
    t.s.conn.send(stdout(&t.a, "a-ok")).await;
    t.ba.output_until("a-ok").await;
    t.b_still_works().await;
}

#[tokio::test]
async fn hello_without_fields_is_refused_with_a_reason() {
    let relay = Relay::start().await;
    for hello in [
        json!({"type": "hello"}),
        json!({"type": "hello", "data": {}}),
        json!({"type": "hello", "data": {"device_id": "x"}}),
    ] {
        let mut c = Ws::open(&format!("{}/connect", relay.ws)).await;
        c.send(hello.clone()).await;
        let e = c.expect("error").await;
        assert!(!e["data"]["message"].as_str().unwrap().is_empty());
        assert_eq!(c.closed().await, Some(4001), "{hello}");
    }
    // Anything before hello is answered, and the socket stays for a proper hello.
    let mut c = Ws::open(&format!("{}/connect", relay.ws)).await;
    c.send(json!({"type": "stdout"})).await;
    assert_eq!(c.expect("error").await["data"]["message"], "Send hello first");
    // A browser that talks before auth.
    let mut b = Ws::open(&format!("{}/session", relay.ws)).await;
    b.send(json!({"type": "stdin"})).await;
    assert_eq!(b.expect("error").await["data"]["message"], "Send auth first");
    b.send_text("nope").await;
    assert_eq!(b.expect("error").await["data"]["message"], "Invalid JSON");
}

#[tokio::test]
async fn plain_http_on_a_websocket_path_says_what_it_is() {
    let relay = Relay::start().await;
    let (s, v) = relay.call("GET", "/connect", None, None).await;
    assert_eq!((s, v["error"].as_str()), (426, Some("websocket_required")));
}

#[tokio::test]
async fn a_browser_that_stops_reading_pauses_only_its_own_session() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let slow_id = relay.start_session(&s.owner, &s.device).await;
    let other = relay.start_session(&s.owner, &s.device).await;
    let mut slow = Ws::open_small(&format!("{}/session", relay.ws)).await;
    slow.send(json!({"type": "auth", "data": {"token": s.owner.token, "session_id": slow_id}})).await;
    let mut fast = relay.browser(&s.owner, &other, &s.device).await;
    s.conn.expect("session_start").await;
    s.conn.expect("session_start").await;

    // Stream into the stalled browser's session until the relay asks the connector to pause.
    let chunk = "z".repeat(16 * 1024);
    let mut sent = 0usize;
    let pause = loop {
        assert!(sent < 256 * 1024 * 1024, "no pause after {sent} bytes");
        s.conn.send(stdout(&slow_id, &chunk)).await;
        sent += chunk.len();
        if let Ok(Some(Ok(m))) =
            tokio::time::timeout(std::time::Duration::ZERO, futures_util::StreamExt::next(&mut s.conn.ws)).await
        {
            let v: serde_json::Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
            if v["type"] == "pause" {
                break v;
            }
        }
    };
    assert_eq!(pause["data"]["session_id"], slow_id.as_str());
    // The other session of the same connector is untouched.
    fast.send(stdin(&other, "other-alive")).await;
    assert_eq!(s.conn.expect("stdin").await["data"]["session_id"], other.as_str());
    s.conn.send(stdout(&other, "other-ok")).await;
    fast.output_until("other-ok").await;
    // Reading again resumes the session.
    let mut got = 0;
    let resume = loop {
        tokio::select! {
            f = slow.frame() => { if f["type"] == "stdout" { got += 1; } }
            f = s.conn.frame() => { if f["type"] == "resume" { break f; } }
        }
    };
    assert!(got > 0);
    assert_eq!(resume["data"]["session_id"], slow_id.as_str());
}

#[tokio::test]
async fn the_reference_go_connector_is_understood() {
    let relay = Relay::start().await;
    let owner = relay.signup("go@example.com").await;
    let project = relay.project(&owner, "p").await;
    let (device, code) = relay.device(&owner, &project, "d").await;
    let creds = relay.pair(&code).await;
    // Exactly its frames: sorted keys, meta.name "connector", no sessions.
    let mut c = Ws::open(&format!("{}/connect", relay.ws)).await;
    c.send_text(&format!(
        r#"{{"type":"hello","data":{{"device_id":"{}","meta":{{"name":"connector"}},"token":"{}"}}}}"#,
        creds.device_id, creds.token
    ))
    .await;
    c.expect("hello_ok").await;
    c.send_text(r#"{"type":"meta_update","data":{"shell_probe_detail":"","shell_probe_ok":true,"shell_probe_shell":"/bin/bash"}}"#).await;
    let session = relay.start_session(&owner, &device).await;
    let mut b = relay.browser(&owner, &session, &device).await;
    c.expect("session_start").await;
    c.send_text(&format!(r#"{{"type":"session_started","data":{{"session_id":"{session}"}}}}"#)).await;
    b.expect("session_started").await;
    c.send_text(&format!(r#"{{"type":"stdout","data":{{"data_b64":"{}","session_id":"{session}"}}}}"#, b64("go-out")))
        .await;
    b.output_until("go-out").await;
    c.send_text(&format!(r#"{{"type":"error","data":{{"message":"session_not_found","session_id":"{session}"}}}}"#))
        .await;
    assert_eq!(b.expect("error").await["data"]["message"], "session_not_found");
    c.send_text(r#"{"type":"meta_update","data":{"shell_probe_ok":false}}"#).await;
    let m = b.expect("device_meta").await;
    assert_eq!(
        (m["data"]["device_id"].as_str(), m["data"]["shell_probe_ok"].as_bool()),
        (Some(device.as_str()), Some(false))
    );
    c.send_text(&format!(r#"{{"type":"session_end","data":{{"reason":"exit","session_id":"{session}"}}}}"#)).await;
    assert_eq!(b.expect("session_end").await["data"]["reason"], "exit");
    let (_, nodes) = relay.get("/functions/v1/relay-nodes", &owner.token).await;
    assert_eq!(nodes["nodes"][0]["device_id"], device.as_str());
    assert_eq!(nodes["nodes"][0]["kind"], "connector");
    assert_eq!(nodes["nodes"][0]["online"], true);
}

#[tokio::test]
async fn sockets_that_open_and_close_without_a_word_are_harmless() {
    let relay = Relay::start().await;
    for _ in 0..5 {
        let mut c = Ws::open(&format!("{}/connect", relay.ws)).await;
        c.ws.close(None).await.unwrap();
    }
    let s = relay.setup().await;
    drop(s);
    assert!(!relay.log().contains("ERROR"), "{}", relay.log());
}
