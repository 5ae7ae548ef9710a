//! AI nodes, with a client that speaks exactly as the published OpenClaw skill does
//! (shared/spec/openclaw-nodes.md): hello with node_id/token/meta.kind, heartbeats, commands
//! with request ids in `data`, answers wrapped in `response` frames, no replay.

use crate::common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

/// A paired device and an OpenClaw-style node connected as it.
async fn node(relay: &Relay) -> (User, String, Creds, Ws) {
    let owner = relay.signup("claw@example.com").await;
    let project = relay.project(&owner, "agents").await;
    let (device, code) = relay.device(&owner, &project, "claw-box").await;
    let creds = relay.pair(&code).await;
    let mut n = Ws::open(&format!("{}/connect", relay.ws)).await;
    // Exactly the skill's first frame: node_id (not device_id), token, meta.kind.
    n.send_text(&format!(
        r#"{{"type":"hello","data":{{"node_id":"{}","token":"{}","meta":{{"kind":"openclaw"}}}}}}"#,
        device, creds.token
    ))
    .await;
    n.expect("hello_ok").await;
    (owner, device, creds, n)
}

/// Sends a command; returns the NDJSON lines of the answer as they come.
async fn command(
    relay: &Relay,
    token: &str,
    device: &str,
    body: Value,
) -> (u16, impl futures_util::Stream<Item = Value>) {
    let res = relay
        .http
        .post(relay.url(&format!("/api/v1/nodes/{device}/commands")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let mut buf = String::new();
    let lines = res.bytes_stream().flat_map(move |chunk| {
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap_or_default()));
        let mut out = Vec::new();
        while let Some(i) = buf.find('\n') {
            let l: String = buf.drain(..=i).collect();
            out.push(serde_json::from_str::<Value>(&l).unwrap_or(Value::String(l)));
        }
        futures_util::stream::iter(out)
    });
    (status, lines)
}

async fn next(lines: &mut (impl futures_util::Stream<Item = Value> + Unpin)) -> Value {
    tokio::time::timeout(WAIT, lines.next()).await.expect("a line within the wait").expect("the stream goes on")
}

#[tokio::test]
async fn the_unchanged_skill_is_prompted_and_streams_tokens_in_order() {
    let relay = Relay::start().await;
    let (owner, device, _, mut n) = node(&relay).await;
    n.send_text(&format!(r#"{{"type":"heartbeat","data":{{"node_id":"{device}","uptime":3600,"active_tasks":2,"last_error":null,"connection_state":"online"}}}}"#)).await;
    n.send(json!({"type": "ping"})).await;
    n.expect("pong").await;
    let (_, nodes) = relay.get("/functions/v1/relay-nodes", &owner.token).await;
    let me = &nodes["nodes"][0];
    assert_eq!((me["kind"].as_str(), me["agent"].as_str()), (Some("node"), Some("openclaw")));
    assert_eq!(
        (me["uptime"].as_u64(), me["active_tasks"].as_u64(), me["online"].as_bool()),
        (Some(3600), Some(2), Some(true))
    );

    let (status, mut lines) =
        command(&relay, &owner.token, &device, json!({"type": "prompt", "data": {"prompt": "secret-prompt-text"}}))
            .await;
    assert_eq!(status, 200);
    let accepted = next(&mut lines).await;
    assert_eq!(accepted["type"], "accepted");
    let cmd = n.expect("prompt").await;
    let rid = cmd["data"]["request_id"].as_str().unwrap().to_string();
    assert_eq!(rid, accepted["request_id"].as_str().unwrap());
    assert_eq!(cmd["data"]["data"]["prompt"], "secret-prompt-text");
    for t in ["secret-", "token-", "stream"] {
        n.send(json!({"type": "response", "data": {"type": "token", "request_id": rid, "content": t}})).await;
    }
    n.send(json!({"type": "response", "data": {"type": "done", "request_id": rid}})).await;
    let mut got = String::new();
    loop {
        let l = next(&mut lines).await;
        match l["type"].as_str() {
            Some("token") => got.push_str(l["content"].as_str().unwrap()),
            Some("done") => break,
            other => panic!("unexpected {other:?}: {l}"),
        }
    }
    assert_eq!(got, "secret-token-stream");
    let log = relay.log();
    assert!(
        !log.contains("secret-prompt-text") && !log.contains("secret-token"),
        "prompts and tokens stay out of the log"
    );
}

#[tokio::test]
async fn status_workflow_and_errors() {
    let relay = Relay::start().await;
    let (owner, device, _, mut n) = node(&relay).await;
    let (_, mut lines) = command(&relay, &owner.token, &device, json!({"type": "status"})).await;
    next(&mut lines).await;
    let rid = n.expect("status").await["data"]["request_id"].as_str().unwrap().to_string();
    n.send(json!({"type": "response", "data": {"type": "status", "request_id": rid, "node_id": device, "uptime": 5, "active_tasks": 0, "last_error": null, "connection_state": "online"}})).await;
    let s = next(&mut lines).await;
    assert_eq!((s["type"].as_str(), s["uptime"].as_u64()), (Some("status"), Some(5)));

    let (_, mut lines) = command(
        &relay,
        &owner.token,
        &device,
        json!({"type": "workflow", "data": {"workflow_id": "wf-1", "params": {"x": 1}}}),
    )
    .await;
    next(&mut lines).await;
    let wf = n.expect("workflow").await;
    assert_eq!(wf["data"]["data"], json!({"workflow_id": "wf-1", "params": {"x": 1}}));
    let rid = wf["data"]["request_id"].as_str().unwrap();
    n.send(json!({"type": "response", "data": {"type": "error", "request_id": rid, "message": "workflow failed"}}))
        .await;
    let e = next(&mut lines).await;
    assert_eq!((e["type"].as_str(), e["message"].as_str()), (Some("error"), Some("workflow failed")));
    assert!(tokio::time::timeout(WAIT, lines.next()).await.unwrap().is_none(), "an error ends the stream");

    let (s, v) = relay.post(&format!("/api/v1/nodes/{device}/commands"), &owner.token, json!({"type": "prompt"})).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_command")));
}

#[tokio::test]
async fn a_node_dropping_mid_prompt_fails_the_request_and_offline_nodes_refuse_at_once() {
    let relay = Relay::start().await;
    let (owner, device, _, mut n) = node(&relay).await;
    let (_, mut lines) =
        command(&relay, &owner.token, &device, json!({"type": "prompt", "data": {"prompt": "long one"}})).await;
    next(&mut lines).await;
    let rid = n.expect("prompt").await["data"]["request_id"].as_str().unwrap().to_string();
    n.send(json!({"type": "response", "data": {"type": "token", "request_id": rid, "content": "partial"}})).await;
    assert_eq!(next(&mut lines).await["content"], "partial");
    drop(n);
    let e = next(&mut lines).await;
    assert_eq!(e["type"], "error");
    assert!(e["message"].as_str().unwrap().contains("disconnected"));
    wait_until("the node is offline", || async { !relay.is_online(&owner, &device).await }).await;
    let (s, v) = relay.post(&format!("/api/v1/nodes/{device}/commands"), &owner.token, json!({"type": "status"})).await;
    assert_eq!((s, v["error"].as_str()), (409, Some("node_offline")));
}

#[tokio::test]
async fn restart_is_for_owners() {
    let relay = Relay::start().await;
    let (owner, device, _, mut n) = node(&relay).await;
    let member = relay.signup("helper@example.com").await;
    let (_, project) = relay.get(&format!("/api/v1/devices/{device}"), &owner.token).await;
    relay.add_member(&owner, project["project_id"].as_str().unwrap(), &member).await;
    let (s, v) =
        relay.post(&format!("/api/v1/nodes/{device}/commands"), &member.token, json!({"type": "restart"})).await;
    assert_eq!((s, v["error"].as_str()), (403, Some("forbidden")));
    let stranger = relay.signup("nobody@example.com").await;
    assert_eq!(
        relay.post(&format!("/api/v1/nodes/{device}/commands"), &stranger.token, json!({"type": "status"})).await.0,
        404
    );
    let (status, mut lines) = command(&relay, &member.token, &device, json!({"type": "status"})).await;
    assert_eq!(status, 200, "members may ask");
    next(&mut lines).await;
    n.expect("status").await;
    let (_, mut lines) = command(&relay, &owner.token, &device, json!({"type": "restart"})).await;
    next(&mut lines).await;
    let rid = n.expect("restart").await["data"]["request_id"].as_str().unwrap().to_string();
    n.send(json!({"type": "response", "data": {"type": "done", "request_id": rid}})).await;
    assert_eq!(next(&mut lines).await["type"], "done");
}

#[tokio::test]
async fn a_node_that_stops_beating_goes_offline_and_terminal_connectors_take_no_commands() {
    let relay = Relay::start_with(Opts::default().arg("--heartbeat-timeout").arg("1")).await;
    let (owner, device, _, _n) = node(&relay).await; // connected, but never beats
    wait_until("the silent node is offline", || async { !relay.is_online(&owner, &device).await }).await;
    let s = relay.setup().await;
    let (st, v) =
        relay.post(&format!("/api/v1/nodes/{}/commands", s.device), &s.owner.token, json!({"type": "status"})).await;
    assert_eq!((st, v["error"].as_str()), (409, Some("not_a_node")));
}

#[tokio::test]
async fn relay_connector_is_a_node_on_the_same_link_as_its_terminals() {
    connector_bin();
    let relay = Relay::start().await;
    let owner = relay.signup("rc-node@example.com").await;
    let project = relay.project(&owner, "lab").await;
    let (device, code) = relay.device(&owner, &project, "gpu-box").await;
    let mut agent = Agent { child: None, dir: tempfile::tempdir().unwrap() };
    assert!(agent.pair(&relay, &code).status.success());
    // Declare what the node may run: a "model" that upper-cases its prompt, and one workflow.
    let flows = agent.dir.path().join("workflows");
    std::fs::create_dir(&flows).unwrap();
    let greet = flows.join("greet");
    std::fs::write(&greet, "#!/bin/sh\nprintf 'params: '; cat\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&greet, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(agent.config()).unwrap()).unwrap();
    cfg["node"] = json!({"prompt": ["/bin/sh", "-c", "tr a-z A-Z"], "workflows": flows});
    std::fs::write(agent.config(), cfg.to_string()).unwrap();
    agent.run();
    wait_until("the node is online", || relay.is_online(&owner, &device)).await;
    let (_, nodes) = relay.get("/functions/v1/relay-nodes", &owner.token).await;
    assert_eq!((nodes["nodes"][0]["kind"].as_str(), nodes["nodes"][0]["agent"].as_str()), (Some("node"), Some("node")));

    let answer = |body: Value| {
        let relay = &relay;
        let token = owner.token.clone();
        let device = device.clone();
        async move {
            let (status, mut lines) = command(relay, &token, &device, body).await;
            assert_eq!(status, 200);
            let mut text = String::new();
            loop {
                let l = next(&mut lines).await;
                match l["type"].as_str() {
                    Some("token") => text.push_str(l["content"].as_str().unwrap()),
                    Some("accepted") => {}
                    Some(_) => return (text, l),
                    None => panic!("{l}"),
                }
            }
        }
    };
    let (text, end) = answer(json!({"type": "prompt", "data": {"prompt": "hello node"}})).await;
    assert_eq!((text.as_str(), end["type"].as_str()), ("HELLO NODE", Some("done")));
    let (text, end) = answer(json!({"type": "workflow", "data": {"workflow_id": "greet", "params": {"x": 1}}})).await;
    assert!(text.starts_with("params: {\"x\":1}"), "{text}");
    assert_eq!(end["type"], "done");
    let (_, end) = answer(json!({"type": "workflow", "data": {"workflow_id": "../../bin/sh"}})).await;
    assert_eq!(end["type"], "error", "no path traversal: {end}");
    let (_, end) = answer(json!({"type": "status"})).await;
    assert_eq!(end["type"], "status");
    assert!(end["uptime"].is_u64());

    // The same connector still serves terminals.
    let session = relay.start_session(&owner, &device).await;
    let mut b = relay.browser(&owner, &session, &device).await;
    b.expect("session_started").await;
    b.send(stdin(&session, "echo still-$((40+2))\r")).await;
    b.output_until("still-42").await;
}
