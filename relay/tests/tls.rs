//! The relay serving HTTPS and WSS itself (`--tls-cert`/`--tls-key`), with the connector
//! trusting its private CA (`--ca-file`): pairing over https://, the link over wss://.

use crate::common::*;
use serde_json::json;

fn fixture(name: &str) -> String {
    format!("{}/../agent/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn pairing_and_the_link_work_over_tls() {
    let mut relay = Relay::start_with(
        Opts::default().arg("--tls-cert").arg(&fixture("relay.pem")).arg("--tls-key").arg(&fixture("relay.key")),
    )
    .await;
    assert!(relay.base.starts_with("https://127.0.0.1:"), "{}", relay.base);
    let ca = reqwest::Certificate::from_pem(&std::fs::read(fixture("ca.pem")).unwrap()).unwrap();
    relay.http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .pool_idle_timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap();

    let owner = relay.signup("tls@example.com").await;
    let project = relay.project(&owner, "tls").await;
    let (device, code) = relay.device(&owner, &project, "box").await;
    let mut agent = Agent { child: None, dir: tempfile::tempdir().unwrap() };
    let out = agent.pair_with(&relay, &code, &["--ca-file", &fixture("ca.pem")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(agent.config()).unwrap()).unwrap();
    assert!(cfg["relay_url"].as_str().unwrap().starts_with("wss://127.0.0.1:"), "{cfg}");
    agent.run_with(&["--ca-file", &fixture("ca.pem")]);
    wait_until("the device is online over wss", || relay.is_online(&owner, &device)).await;

    // Without the private CA the connector refuses the relay's certificate.
    let stranger = Agent { child: None, dir: tempfile::tempdir().unwrap() };
    let (_, d) = relay.post(&format!("/api/v1/devices/{device}/pairing-code"), &owner.token, json!({})).await;
    let out = stranger.pair(&relay, d["pairing_code"].as_str().unwrap());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).to_lowercase().contains("certificate"));
}
