//! What monitoring sees: `/metrics` (Prometheus text) only on `--metrics-listen`, `/healthz`
//! and `/readyz` on both ports, and API-like paths that answer JSON 404s, never the web app.

use crate::common::*;

/// The value of an unlabelled metric in Prometheus text.
fn value(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_count_what_flows_and_stay_off_the_main_port() {
    let relay = Relay::start_with(Opts::default().arg("--metrics-listen").arg("127.0.0.1:0")).await;
    let line = relay.console_line("privaclaw-relay metrics on ").await;
    let metrics_url = line.rsplit(' ').next().unwrap().to_string();
    let scrape = || async {
        let res = reqwest::get(&metrics_url).await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        res.text().await.unwrap()
    };
    let before = scrape().await;
    assert_eq!(value(&before, "privaclaw_connectors"), 0);
    assert!(before.contains("# TYPE privaclaw_output_bytes_total counter"));

    let mut s = relay.setup().await;
    let (session, mut browser) = s.open(&relay).await;
    s.conn.send(serde_json::json!({"type": "session_started", "data": {"session_id": session}})).await;
    browser.send(stdin(&session, "ls\r")).await;
    s.conn.expect("stdin").await;
    s.conn.send(stdout(&session, "0123456789")).await;
    browser.output_until("0123456789").await;

    let now = scrape().await;
    assert_eq!(value(&now, "privaclaw_connectors"), 1);
    assert_eq!(value(&now, "privaclaw_sessions"), 1);
    assert_eq!(value(&now, "privaclaw_browsers"), 1);
    assert_eq!(value(&now, "privaclaw_output_bytes_total"), 10);
    assert_eq!(value(&now, "privaclaw_output_frames_total"), 1);
    assert_eq!(value(&now, "privaclaw_input_frames_total"), 1, "the stdin frame");
    assert!(value(&now, "privaclaw_input_bytes_total") > 0);
    assert!(value(&now, "privaclaw_db_pool_connections") >= 1);
    // Neither terminal bytes nor who is connected appear in it.
    assert!(!now.contains("0123456789") && !now.contains(&s.device));

    // The health routes answer on the metrics port too.
    let base = metrics_url.trim_end_matches("/metrics");
    assert_eq!(reqwest::get(format!("{base}/readyz")).await.unwrap().status(), 200);

    // On the main port /metrics is not served: a JSON 404, not the web app.
    let res = relay.http.get(relay.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
}

#[tokio::test]
async fn health_readiness_and_api_like_paths() {
    let relay = Relay::start().await;
    let (s, v) = relay.call("GET", "/healthz", None, None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
    let (s, v) = relay.call("GET", "/readyz", None, None).await;
    assert_eq!((s, v["status"].as_str(), v["database"].as_str()), (200, Some("ready"), Some("ok")), "{v}");
    for path in ["/readyz/x", "/api/v2/projects", "/metrics", "/healthz/deep", "/functions/v1/nope"] {
        let res = relay.http.get(relay.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
        let ct = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("application/json"), "{path}: {ct}");
    }
    // Without a metrics port, nothing says where metrics are.
    assert!(!relay.console().contains("metrics on"));
}
