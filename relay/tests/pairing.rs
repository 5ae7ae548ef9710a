//! Pairing codes: single use, regeneration invalidates the old code, expiry after
//! `--pairing-code-ttl` (15 minutes), clear refusals the reference connector prints too, and
//! rate limits against guessing: per address, and for everyone together.

use crate::common::*;
use serde_json::json;

async fn pair_raw(relay: &Relay, code: &str) -> (u16, serde_json::Value) {
    relay.call("POST", "/functions/v1/pair-device", None, Some(json!({"pairing_code": code, "name": "box"}))).await
}

#[tokio::test]
async fn a_code_pairs_once_and_a_replay_is_refused_clearly() {
    let relay = Relay::start().await;
    let owner = relay.signup("o@example.com").await;
    let project = relay.project(&owner, "p").await;
    let (device, code) = relay.device(&owner, &project, "router").await;
    assert!(code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) && !code.contains(['0', 'O', '1', 'I']));

    let (s, v) = pair_raw(&relay, &code.to_lowercase()).await;
    assert_eq!(s, 200, "codes are case-insensitive: {v}");
    assert_eq!(v["device_id"], device.as_str());
    assert!(v["relay_url"].as_str().unwrap().starts_with("ws://127.0.0.1:"), "{v}");
    assert_eq!(v["token"].as_str().unwrap().len(), 43, "256-bit token");

    let (s, v) = pair_raw(&relay, &code).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_pairing_code")));
    assert!(v["message"].as_str().unwrap().contains("Generate a new code"), "{v}");
    // The reference connector prints only `error`: it carries the sentence too.
    assert_eq!(v["error"], v["message"]);
    let (_, d) = relay.get(&format!("/api/v1/devices/{device}"), &owner.token).await;
    assert_eq!((d["paired"].as_bool(), d["name"].as_str()), (Some(true), Some("box")));
    assert!(d["pairing_code"].is_null(), "a used code is gone");

    let (s, v) = pair_raw(&relay, "ABC").await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_pairing_code")));
    assert!(v["error"].as_str().unwrap().contains("6 characters"), "{v}");
    let (s, _) = relay.call("POST", "/functions/v1/pair-device", None, Some(json!({"name": "x"}))).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn regenerating_invalidates_the_old_code_and_re_pairing_the_old_token() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let (_, d) = relay.post(&format!("/api/v1/devices/{}/pairing-code", s.device), &s.owner.token, json!({})).await;
    let first = d["pairing_code"].as_str().unwrap().to_string();
    let (_, d) = relay.post(&format!("/api/v1/devices/{}/pairing-code", s.device), &s.owner.token, json!({})).await;
    let second = d["pairing_code"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    assert_eq!(pair_raw(&relay, &first).await.0, 401);
    let fresh = relay.pair(&second).await;
    // The connector holding the old token is told to re-pair and is cut off.
    assert_eq!(s.conn.expect("error").await["data"]["code"], "auth_failed");
    assert_eq!(s.conn.closed().await, Some(4001));
    Ws::connector(&relay, &fresh, None).await;
}

#[tokio::test]
async fn codes_expire_after_their_time_to_live() {
    let relay = Relay::start().await;
    let owner = relay.signup("o@example.com").await;
    let project = relay.project(&owner, "p").await;
    let (_, d) = relay.post(&format!("/api/v1/projects/{project}/devices"), &owner.token, json!({"name": "d"})).await;
    let exp = d["pairing_code_expires_at"].as_i64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((exp - now - 15 * 60).abs() < 60, "expires in 15 minutes: {exp} vs {now}");
    // Age the code in the database, as a day passing would.
    let url = relay
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", relay.dir.path().join("data/privaclaw.db").display()));
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE devices SET pairing_code_expires_at = $1").bind(now - 1).execute(&pool).await.unwrap();
    let (s, v) = pair_raw(&relay, d["pairing_code"].as_str().unwrap()).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_pairing_code")));
    assert!(v["error"].as_str().unwrap().contains("older than 15 minutes"), "{v}");
}

#[tokio::test]
async fn guessing_codes_is_rate_limited() {
    let relay = Relay::start_with(Opts::default().arg("--pair-rate").arg("5")).await;
    for _ in 0..5 {
        assert_eq!(pair_raw(&relay, "ZZZZZZ").await.0, 401);
    }
    let (s, v) = pair_raw(&relay, "ZZZZZZ").await;
    assert_eq!((s, v["code"].as_str()), (429, Some("rate_limited")));
}
