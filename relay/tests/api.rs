//! The HTTP surface as a whole: the OpenAPI document lists every route and every listed route
//! is served; realtime events reach the right people only; health; the web app's shell.

use crate::common::*;
use serde_json::json;

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

#[tokio::test]
async fn device_status_is_pushed_to_project_members_only() {
    let relay = Relay::start().await;
    let owner = relay.signup("own@example.com").await;
    let stranger = relay.signup("str@example.com").await;
    let project = relay.project(&owner, "p").await;
    let (device, code) = relay.device(&owner, &project, "d").await;
    let mut owner_events = Events::open(&relay, &owner.token).await;
    assert_eq!(owner_events.res.headers()["content-type"], "text/event-stream");
    let mut stranger_events = Events::open(&relay, &stranger.token).await;
    owner_events.next("ready").await;
    stranger_events.next("ready").await;

    let creds = relay.pair(&code).await;
    let conn = Ws::connector(&relay, &creds, None).await;
    let on = owner_events.next("device_status").await;
    assert_eq!((on["device_id"].as_str(), on["status"].as_str()), (Some(device.as_str()), Some("online")));
    drop(conn);
    let off = owner_events.next("device_status").await;
    assert_eq!(off["status"], "offline");

    // The stranger's stream saw neither: the next thing it gets is its own project's event.
    let theirs = relay.project(&stranger, "mine").await;
    let m = stranger_events.next("membership").await;
    assert_eq!(m["project_id"], theirs.as_str());
    assert!(!stranger_events.seen.contains("device_status"));
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

#[tokio::test]
async fn a_device_may_be_added_as_an_ai_node_before_it_connects() {
    let relay = Relay::start().await;
    let owner = relay.signup("nodes@example.com").await;
    let project = relay.project(&owner, "p").await;
    let path = format!("/api/v1/projects/{project}/devices");
    let (s, d) = relay.post(&path, &owner.token, json!({"name": "claw", "kind": "openclaw"})).await;
    assert_eq!((s, d["kind"].as_str()), (201, Some("openclaw")));
    let (s, d) = relay.post(&path, &owner.token, json!({"name": "box"})).await;
    assert_eq!((s, d["kind"].as_str()), (201, Some("connector")), "a terminal connector by default");
    let (s, v) = relay.post(&path, &owner.token, json!({"name": "x", "kind": "toaster"})).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_kind")));
}
