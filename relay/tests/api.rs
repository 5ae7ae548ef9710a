//! The HTTP surface as a whole: the OpenAPI document lists every route and every listed route
//! is served; realtime events reach the right people only; health; the web app's shell.

mod common;
use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

#[tokio::test]
async fn every_path_in_the_openapi_document_is_served() {
    let relay = Relay::start().await;
    let u = relay.signup("doc@example.com").await;
    let (s, doc) = relay.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 25, "{} paths", paths.len());
    let fake = "00000000-0000-0000-0000-000000000000";
    for (path, ops) in paths {
        let url = path.replace("{id}", fake).replace("{user_id}", fake).replace("{invitation_id}", fake);
        for method in ops.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            if url == "/api/v1/events" {
                continue; // a stream: covered below
            }
            let secured = ops[method.to_lowercase()]["security"].is_array();
            // Anonymous: secured routes say 401; nothing is missing (404 with "No such endpoint").
            let (s, v) = relay.call(&method, &url, None, Some(json!({}))).await;
            if secured {
                assert_eq!(s, 401, "{method} {url} without a token: {v}");
            }
            let (s, v) = relay.call(&method, &url, Some(&u.token), Some(json!({}))).await;
            assert!(
                s != 405 && v["message"] != "No such endpoint: see /api/v1/openapi.json for the API.",
                "{method} {url}: {s} {v}"
            );
            assert!(s < 500, "{method} {url}: {s} {v}");
        }
    }
    let (s, v) = relay.call("GET", "/api/v1/nothing-here", Some(&u.token), None).await;
    assert_eq!((s, v["error"].as_str()), (404, Some("not_found")));
}

/// Reads server-sent events until one named `name`; returns its data.
async fn next_event(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
    name: &str,
) -> Value {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let ev = block.lines().find_map(|l| l.strip_prefix("event:")).map(str::trim);
            let data = block.lines().find_map(|l| l.strip_prefix("data:")).map(str::trim);
            if ev == Some(name) {
                return serde_json::from_str(data.unwrap()).unwrap();
            }
        }
        let chunk =
            tokio::time::timeout(WAIT, stream.next()).await.expect("an event within the wait").unwrap().unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn device_status_is_pushed_to_project_members_only() {
    let relay = Relay::start().await;
    let owner = relay.signup("own@example.com").await;
    let stranger = relay.signup("str@example.com").await;
    let project = relay.project(&owner, "p").await;
    let (device, code) = relay.device(&owner, &project, "d").await;
    let open = |t: &str| relay.http.get(relay.url("/api/v1/events")).bearer_auth(t.to_string()).send();
    let res = open(&owner.token).await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut owner_events = res.bytes_stream();
    let mut stranger_events = open(&stranger.token).await.unwrap().bytes_stream();
    let (mut ob, mut sb) = (String::new(), String::new());
    next_event(&mut owner_events, &mut ob, "ready").await;
    next_event(&mut stranger_events, &mut sb, "ready").await;

    let creds = relay.pair(&code).await;
    let conn = Ws::connector(&relay, &creds, None).await;
    let on = next_event(&mut owner_events, &mut ob, "device_status").await;
    assert_eq!((on["device_id"].as_str(), on["status"].as_str()), (Some(device.as_str()), Some("online")));
    drop(conn);
    let off = next_event(&mut owner_events, &mut ob, "device_status").await;
    assert_eq!(off["status"], "offline");

    // The stranger's stream saw neither: the next thing it gets is its own project's event.
    let theirs = relay.project(&stranger, "mine").await;
    let m = next_event(&mut stranger_events, &mut sb, "membership").await;
    assert_eq!(m["project_id"], theirs.as_str());
    assert!(!sb.contains("device_status"));
    assert_eq!(relay.call("GET", "/api/v1/events", None, None).await.0, 401);
}

#[tokio::test]
async fn health_and_the_web_app_shell() {
    let relay = Relay::start().await;
    let (s, v) = relay.call("GET", "/healthz", None, None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
    for path in ["/", "/dashboard", "/project/abc", "/terminal/a/b", "/auth"] {
        let res = relay.http.get(relay.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let csp = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'")
                && !csp.contains("script-src 'self' 'unsafe-inline'")
                && csp.contains("frame-ancestors 'none'")
        );
        assert_eq!(res.headers()["x-frame-options"], "DENY");
    }
    let res = relay.http.get(relay.url("/no-such-file.js")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let relay = Relay::start().await;
    let big = json!({"email": "x".repeat(100_000), "password": "pass-word-123"});
    let (s, v) = relay.call("POST", "/auth/v1/signup", None, Some(big)).await;
    assert_eq!((s, v["error"].as_str()), (413, Some("too_large")));
}
