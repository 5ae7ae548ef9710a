//! Several relays as one (`--nats`): PostgreSQL, nats-server, three relays and HAProxy on
//! loopback, a real connector and a browser client that resumes from its offset the way the web
//! app does. A session crosses relays; every line of a counter arrives once and in order while
//! the connector's relay is killed with kill -9 and while every relay is upgraded in turn; the
//! shell survives it all; NATS restarts and the cluster recovers by itself; and access that ends
//! on one relay ends on the others at once.
//!
//! They need PostgreSQL, nats-server and haproxy, so `cargo test` skips them and
//! `scripts/test-cluster` (run by `scripts/test`) runs them.

use crate::common::cluster::{Cluster, RETRY};
use crate::common::*;
use base64::Engine;
use serde_json::json;

/// A browser that comes back after its socket closes (1012, 4010, a dead link) through the
/// load balancer, with the offset of what it has, and checks that nothing was dropped.
struct Viewer {
    lb: String,
    token: String,
    session: String,
    ws: Ws,
    text: String,
    offset: u64,
    pub reconnects: usize,
}

impl Viewer {
    /// Attaches through relay `base` (retrying while it says to retry).
    async fn open(base: &str, lb: &str, token: &str, session: &str) -> Viewer {
        let (ws, offset) = attach(base, token, session, 0).await;
        Viewer {
            lb: lb.into(),
            token: token.into(),
            session: session.into(),
            ws,
            text: String::new(),
            offset,
            reconnects: 0,
        }
    }

    /// Leaves its relay for `base` (with its offset).
    async fn move_to(&mut self, base: &str) {
        self.ws = attach(base, &self.token, &self.session, self.offset).await.0;
    }

    async fn line(&mut self, line: &str) {
        self.ws.send(stdin(&self.session, &format!("{line}\n"))).await;
    }

    /// Reads output until `needle` appears after `from` (a position in `text`).
    async fn until(&mut self, from: usize, needle: &str) -> usize {
        loop {
            let start = from.max(self.text.len().saturating_sub(needle.len() + 8));
            if let Some(at) = self.text[from.min(start)..].find(needle) {
                return from.min(start) + at + needle.len();
            }
            match self.ws.next().await {
                Next::Frame(f) if f["type"] == "stdout" => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(f["data"]["data_b64"].as_str().unwrap())
                        .unwrap();
                    self.offset += bytes.len() as u64;
                    self.text.push_str(&String::from_utf8_lossy(&bytes));
                }
                Next::Frame(f) if f["type"] == "session_end" => panic!("the session ended: {f}"),
                Next::Frame(_) => {}
                Next::Closed(code) => {
                    assert!(matches!(code, None | Some(1012) | Some(4010) | Some(1006)), "closed with {code:?}");
                    self.reconnects += 1;
                    self.ws = attach(&self.lb, &self.token, &self.session, self.offset).await.0;
                }
            }
        }
    }
}

/// Opens `/session` on `base` and authenticates with `offset`, retrying while the relays
/// say the device is moving or unreachable; asserts that the relay resumes exactly there.
/// Returns the socket and the offset its output starts at.
async fn attach(base: &str, token: &str, session: &str, offset: u64) -> (Ws, u64) {
    let deadline = tokio::time::Instant::now() + WAIT * 3;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "could not attach to the session again");
        let mut ws = Ws::open(&format!("{base}/session")).await;
        ws.send(json!({"type": "auth", "data": {"token": token, "session_id": session, "offset": offset}})).await;
        loop {
            match ws.next().await {
                // A browser coming back must resume exactly where it was; a new one starts
                // wherever the replay does.
                Next::Frame(f) if f["type"] == "auth_ok" => {
                    if offset > 0 {
                        assert_eq!(f["data"]["offset"], offset, "resumed where it left off: {f}");
                        assert_eq!(f["data"]["dropped"], 0, "nothing dropped: {f}");
                    }
                    return (ws, f["data"]["offset"].as_u64().unwrap());
                }
                Next::Frame(f) if f["type"] == "error" => {
                    let code = f["data"]["code"].as_str().unwrap_or_default().to_string();
                    let retry = ["moved", "cluster_unavailable", "connector_offline", "unavailable"];
                    assert!(retry.contains(&code.as_str()), "refused: {f}");
                }
                Next::Frame(_) => {}
                Next::Closed(_) => break,
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Asserts that `text` holds the lines `prefix1` to `prefix<n>`, each once, in order.
fn assert_counted(text: &str, prefix: &str, n: u32) {
    // The shell's prompt may come after the command's echo, and so before the first line.
    let line = |l: &str| l.trim_end_matches('\r').trim_start_matches("$ ").strip_prefix(prefix)?.parse().ok();
    let got: Vec<u32> = text.split('\n').filter_map(line).collect();
    let first_wrong = got.iter().zip(1..).position(|(g, want)| *g != want);
    assert!(
        got.len() == n as usize && first_wrong.is_none(),
        "{} lines of {n}; the first out of place at index {first_wrong:?}: {:?}; the text begins {:?}",
        got.len(),
        first_wrong.map(|i| &got[i.saturating_sub(2)..(i + 3).min(got.len())]),
        text.chars().take(400).collect::<String>()
    );
}

/// A shell loop printing `prefix1`..`prefix<n>`, pausing 0.2 s every `pause_every` lines, then
/// `END-prefix` (quoted apart so the command's own echo does not contain it).
fn counter(prefix: &str, n: u32, pause_every: u32) -> String {
    format!(
        "i=0; while [ $i -lt {n} ]; do i=$((i+1)); echo {prefix}$i; [ $((i % {pause_every})) -ne 0 ] || sleep 0.2; done; echo \"END\"\"-{prefix}\""
    )
}

/// The shell's PID, as it says it (the command's echo does not contain "PID=").
async fn shell_pid(v: &mut Viewer) -> String {
    let from = v.text.len();
    v.line("echo \"P\"\"ID=$$\"").await;
    let at = v.until(from, "PID=").await;
    let end = v.until(at, "\r\n").await;
    v.text[at..end].trim_end().to_string()
}

/// Relay a alone, an owner, a project and a device whose real connector, dialling the load
/// balancer, therefore lands on relay a; then the other relays. Returns (owner, project,
/// device, connector).
async fn device_on_a(c: &mut Cluster) -> (User, String, String, Agent) {
    connector_bin();
    c.up(0).await;
    let a = &c.relays[0];
    let owner = a.signup("owner@example.com").await;
    let project = a.project(&owner, "cluster").await;
    let (device, code) = a.device(&owner, &project, "box").await;
    let agent = Agent::start(a, &code);
    wait_until("the device is online", || a.is_online(&owner, &device)).await;
    for i in 1..c.relays.len() {
        c.up(i).await;
    }
    (owner, project, device, agent)
}

/// Two relays, both ready.
async fn two_relays() -> Cluster {
    let mut c = Cluster::new(2).await;
    c.up(0).await;
    c.up(1).await;
    c
}

/// An owner, a project and a device paired (its credentials) through `relay`.
async fn paired(relay: &Relay) -> (User, String, String, Creds) {
    let owner = relay.signup("owner@example.com").await;
    let project = relay.project(&owner, "cluster").await;
    let (device, code) = relay.device(&owner, &project, "box").await;
    (owner, project, device, relay.pair(&code).await)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, nats-server and haproxy: scripts/test-cluster runs it"]
async fn a_session_across_relays_survives_kill_9_a_rolling_upgrade_and_a_nats_restart() {
    let mut c = Cluster::new(3).await;
    let (owner, _, device, _agent) = device_on_a(&mut c).await;

    // Started through relay c's API, watched from relay b's event stream, opened on relay c.
    let mut events = Events::open(&c.relays[1], &owner.token).await;
    let session = c.relays[2].start_session(&owner, &device).await;
    let mut v = Viewer::open(&c.relays[2].ws, &c.lb_ws, &owner.token, &session).await;
    let started = events.next("session").await;
    assert_eq!((started["session_id"].as_str(), started["status"].as_str()), (Some(session.as_str()), Some("active")));
    let pid = shell_pid(&mut v).await;
    assert!(pid.parse::<u32>().is_ok(), "the shell said its PID: {pid:?}");

    // kill -9 of the relay holding the connector, in the middle of a counter.
    let from = v.text.len();
    v.line(&counter("L", 20_000, 500)).await;
    v.until(from, "L5000\r\n").await;
    c.relays[0].kill();
    let end = v.until(from, "END-L\r\n").await;
    assert_counted(&v.text[from..end], "L", 20_000);
    assert!(v.reconnects >= 1, "the browser had to come back");
    c.up(0).await;

    // kill -9 of the relay the browser is on: it comes back through another, from its offset.
    // (One browser only: a second one not reading would pause the session, as it should.)
    v.move_to(&c.relays[2].ws).await;
    let (from, before) = (v.text.len(), v.reconnects);
    v.line(&counter("K", 20_000, 500)).await;
    v.until(from, "K5000\r\n").await;
    c.relays[2].kill();
    let end = v.until(from, "END-K\r\n").await;
    assert_counted(&v.text[from..end], "K", 20_000);
    assert!(v.reconnects > before, "the browser had to come back");
    c.up(2).await;

    // A rolling upgrade of all three under another counter: same shell, every line.
    let (from, before) = (v.text.len(), v.reconnects);
    v.line(&counter("M", 20_000, 250)).await;
    for i in 0..3 {
        v.until(from, &format!("M{}\r\n", 2_000 + 5_000 * i)).await;
        c.upgrade(i).await;
    }
    let end = v.until(from, "END-M\r\n").await;
    assert_counted(&v.text[from..end], "M", 20_000);
    assert!(v.reconnects > before, "the browser had to move");
    assert_eq!(shell_pid(&mut v).await, pid, "the same shell throughout");

    // NATS goes away: every relay says so in /readyz, and comes back by itself.
    c.nats.stop();
    for i in 0..3 {
        wait_until("the relay reports NATS unreachable", || async { c.readyz(i).await.1["nats"] == "unreachable" })
            .await;
    }
    // A relay stopped meanwhile still exits (it cannot say goodbye; the others notice).
    let took = c.relays[1].terminate().await;
    assert!(took < WAIT, "relay b took {took:?} to stop without NATS");
    c.nats.start_again().await;
    c.up(1).await;
    for i in 0..3 {
        c.ready(i).await;
    }
    // A browser on every relay (at least two of them through another) sees the same shell.
    for i in 0..3 {
        let mut w = Viewer::open(&c.relays[i].ws, &c.lb_ws, &owner.token, &session).await;
        assert_eq!(shell_pid(&mut w).await, pid, "relay {i} reaches the shell after NATS came back");
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, nats-server and haproxy: scripts/test-cluster runs it"]
async fn access_removed_on_one_relay_ends_on_every_relay_and_tokens_work_on_all() {
    let mut c = Cluster::new(3).await;
    let (owner, project, device, _agent) = device_on_a(&mut c).await;
    let member = c.relays[0].signup("member@example.com").await;
    c.relays[0].add_member(&owner, &project, &member).await;
    // A token signed by relay a works on relay c (one signing secret for the cluster).
    let (status, me) = c.relays[2].get("/auth/v1/user", &member.token).await;
    assert_eq!(status, 200, "{me}");

    let session = c.relays[1].start_session(&owner, &device).await;
    let mut owner_view = Viewer::open(&c.relays[1].ws, &c.lb_ws, &owner.token, &session).await;
    shell_pid(&mut owner_view).await;
    // The member joins from relay c: the session lives on relay a.
    let mut joined = Ws::open(&format!("{}/session", c.relays[2].ws)).await;
    joined.send(json!({"type": "auth", "data": {"token": member.token, "session_id": session, "join": true}})).await;
    joined.expect("auth_ok").await;
    // Somebody who is not a member is refused wherever they land.
    let stranger = c.relays[2].signup("stranger@example.com").await;
    let mut refused = Ws::open(&format!("{}/session", c.relays[2].ws)).await;
    refused.send(json!({"type": "auth", "data": {"token": stranger.token, "session_id": session, "join": true}})).await;
    assert_eq!(refused.expect("error").await["data"]["code"], "session_invalid");

    // The owner removes the member through relay b: the member's browser on relay c closes.
    let (status, body) = c.relays[1]
        .call("DELETE", &format!("/api/v1/projects/{project}/members/{}", member.id), Some(&owner.token), None)
        .await;
    assert!(status == 200 || status == 204, "remove member: {status} {body}");
    let said = joined.expect("error").await;
    assert_eq!(said["data"]["code"], "access_revoked", "{said}");
    assert_eq!(joined.closed().await, Some(4003));
    // The owner's terminal goes on.
    let from = owner_view.text.len();
    owner_view.line("echo still-here").await;
    owner_view.until(from, "still-here\r\n").await;

    // Failed sign-ins count on every relay together: ten wrong passwords spread over three
    // relays block the account on all of them, even with the right password.
    let attempt = |password: &str| json!({"email": "stranger@example.com", "password": password});
    for i in 0..10 {
        let (status, _) =
            c.relays[i % 3].call("POST", "/auth/v1/token?grant_type=password", None, Some(attempt("wrong"))).await;
        assert_eq!(status, 400);
    }
    for r in &c.relays {
        let (status, body) =
            r.call("POST", "/auth/v1/token?grant_type=password", None, Some(attempt("pass-word-123"))).await;
        assert_eq!(status, 429, "{body}");
    }

    // relay-nodes lists the device whichever relay is asked.
    for r in &c.relays {
        let (status, nodes) = r.get("/functions/v1/relay-nodes", &owner.token).await;
        assert_eq!(status, 200);
        let ids: Vec<&str> =
            nodes["nodes"].as_array().unwrap().iter().filter_map(|n| n["device_id"].as_str()).collect();
        assert_eq!(ids, vec![device.as_str()], "{nodes}");
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, nats-server and haproxy: scripts/test-cluster runs it"]
async fn a_browser_that_stops_reading_on_another_relay_pauses_the_session_at_its_home() {
    let c = two_relays().await;
    let a = &c.relays[0];
    let (owner, _, device, creds) = paired(a).await;
    let mut conn = Ws::connector(a, &creds, Some(vec![])).await;
    let session = c.relays[1].start_session(&owner, &device).await;
    // The browser is on relay b, the connector on relay a; the browser reads nothing for now.
    let mut slow = Ws::open_small(&format!("{}/session", c.relays[1].ws)).await;
    slow.send(json!({"type": "auth", "data": {"token": owner.token, "session_id": session}})).await;
    conn.expect("session_start").await;

    // Output until relay a asks the connector to pause: relay b only acknowledges what its
    // browser's socket took, so relay a sees the browser fall behind as if it were its own.
    let chunk = "z".repeat(16 * 1024);
    let mut sent = 0usize;
    let pause = loop {
        assert!(sent < 64 * 1024 * 1024, "no pause after {sent} bytes");
        conn.send(stdout(&session, &chunk)).await;
        sent += chunk.len();
        if let Ok(Some(Ok(m))) =
            tokio::time::timeout(std::time::Duration::ZERO, futures_util::StreamExt::next(&mut conn.ws)).await
        {
            let v: serde_json::Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
            if v["type"] == "pause" {
                break v;
            }
        }
    };
    assert_eq!(pause["data"]["session_id"], session.as_str());
    // Reading again on relay b resumes it on relay a, and nothing was lost on the way.
    let mut got = 0usize;
    let resume = loop {
        tokio::select! {
            f = slow.frame() => if f["type"] == "stdout" { got += 1; },
            f = conn.frame() => if f["type"] == "resume" { break f; },
        }
    };
    assert!(got > 0);
    assert_eq!(resume["data"]["session_id"], session.as_str());
    while got < sent / chunk.len() {
        if slow.frame().await["type"] == "stdout" {
            got += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, nats-server and haproxy: scripts/test-cluster runs it"]
async fn an_ai_node_on_one_relay_is_prompted_through_another() {
    let c = two_relays().await;
    let a = &c.relays[0];
    let (owner, project, device, creds) = paired(a).await;
    let mut node = Ws::open(&format!("{}/connect", a.ws)).await;
    node.send(
        json!({"type": "hello", "data": {"node_id": device, "token": creds.token, "meta": {"kind": "openclaw"}}}),
    )
    .await;
    node.expect("hello_ok").await;

    // Through relay b: the prompt reaches the node on relay a, the tokens come back in order.
    let b = &c.relays[1];
    let body = json!({"type": "prompt", "data": {"prompt": "hello"}});
    let res = b.http.post(b.url(&format!("/api/v1/nodes/{device}/commands"))).bearer_auth(&owner.token).json(&body);
    let mut res = res.send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cmd = node.expect("prompt").await;
    assert_eq!(cmd["data"]["data"]["prompt"], "hello");
    let rid = cmd["data"]["request_id"].as_str().unwrap().to_string();
    for t in ["one ", "two ", "three"] {
        node.send(json!({"type": "response", "data": {"type": "token", "request_id": rid, "content": t}})).await;
    }
    node.send(json!({"type": "response", "data": {"type": "done", "request_id": rid}})).await;
    let mut text = String::new();
    while let Some(chunk) = tokio::time::timeout(WAIT, res.chunk()).await.expect("the answer goes on").unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["type"], "accepted");
    let tokens: String = lines.iter().filter(|l| l["type"] == "token").filter_map(|l| l["content"].as_str()).collect();
    assert_eq!(tokens, "one two three");
    assert_eq!(lines.last().unwrap()["type"], "done");
    // A device that is not a node says so through any relay.
    let (_, code) = a.device(&owner, &project, "box").await;
    let box_creds = a.pair(&code).await;
    let _conn = Ws::connector(a, &box_creds, Some(vec![])).await;
    let (status, said) = b.post(&format!("/api/v1/nodes/{}/commands", box_creds.device_id), &owner.token, body).await;
    assert_eq!((status, said["error"].as_str()), (409, Some("not_a_node")), "{said}");
}
