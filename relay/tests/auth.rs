//! Accounts: sign-up, sign-in, refresh rotation and replay detection, expiry and tampering,
//! logout, password recovery, sign-up modes, and the sign-in rate limit.

use crate::common::*;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

/// The claims of an access token, read without checking it.
fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn sign_in(relay: &Relay, email: &str, password: &str) -> (u16, serde_json::Value) {
    relay
        .call("POST", "/auth/v1/token?grant_type=password", None, Some(json!({"email": email, "password": password})))
        .await
}

#[tokio::test]
async fn sign_up_sign_in_and_read_the_user() {
    let relay = Relay::start().await;
    let u = relay.signup("Dana@Example.com").await;
    assert_eq!(u.email, "dana@example.com", "emails are case-insensitive");
    let (s, v) = sign_in(&relay, "dana@example.com", "pass-word-123").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token_type"], "bearer");
    assert!(v["expires_in"].as_i64().unwrap() <= 900);
    let (s, me) = relay.get("/auth/v1/user", v["access_token"].as_str().unwrap()).await;
    assert_eq!((s, me["email"].as_str()), (200, Some("dana@example.com")));

    let (s, v) = sign_in(&relay, "dana@example.com", "wrong-password").await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    let (s, v) = sign_in(&relay, "nobody@example.com", "pass-word-123").await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "same answer for unknown accounts");

    let (s, v) = relay
        .call("POST", "/auth/v1/signup", None, Some(json!({"email": "dana@example.com", "password": "another-pass"})))
        .await;
    assert_eq!((s, v["error"].as_str()), (422, Some("user_already_exists")));
    let (s, v) = relay
        .call("POST", "/auth/v1/signup", None, Some(json!({"email": "eve@example.com", "password": "short"})))
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("weak_password")));
    let (s, v) = relay
        .call("POST", "/auth/v1/signup", None, Some(json!({"email": "not-an-email", "password": "long-enough"})))
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_email")));
    let (s, v) = relay.call("POST", "/auth/v1/signup", None, Some(json!({"email": 5}))).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_json")));
    assert!(v["message"].as_str().unwrap().contains("wrong fields"));
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id() {
    let relay = Relay::start().await;
    if relay.database_url.is_some() {
        return; // checked on the SQLite file; PostgreSQL runs the same code
    }
    relay.signup("hash@example.com").await;
    let db = relay.dir.path().join("data/privaclaw.db");
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users").fetch_one(&mut conn).await.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("pass-word-123"));
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replay_signs_everyone_out() {
    let relay = Relay::start_with(Opts::default().arg("--refresh-reuse-interval").arg("0")).await;
    let u = relay.signup("frank@example.com").await;
    let refresh = |t: &str| {
        relay.call("POST", "/auth/v1/token?grant_type=refresh_token", None, Some(json!({"refresh_token": t})))
    };
    let (s, v) = refresh(&u.refresh).await;
    assert_eq!(s, 200, "{v}");
    let second = v["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second, u.refresh);
    assert!(relay.get("/auth/v1/user", v["access_token"].as_str().unwrap()).await.0 == 200);

    // The first token again: a replay. It fails, and so does the one issued after it.
    let (s, v) = refresh(&u.refresh).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _) = refresh(&second).await;
    assert_eq!(s, 400, "the replay revoked the account's other refresh tokens");
    let (s, _) = refresh("made-up").await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn expired_tampered_and_foreign_tokens_are_refused() {
    let relay = Relay::start().await;
    let u = relay.signup("gina@example.com").await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let sign_in = claims_of(&u.token)["session_id"].clone();
    let claims = |exp: i64| json!({"sub": u.id, "email": u.email, "exp": exp, "iat": now - 3600, "aud": "authenticated", "role": "authenticated", "session_id": sign_in});
    let sign = |c: serde_json::Value, key: &str| {
        encode(&Header::default(), &c, &EncodingKey::from_secret(key.as_bytes())).unwrap()
    };

    let valid = sign(claims(now + 600), JWT_SECRET);
    assert_eq!(relay.get("/api/v1/projects", &valid).await.0, 200, "a token we sign ourselves is accepted");
    let mut no_sign_in = claims(now + 600);
    no_sign_in.as_object_mut().unwrap().remove("session_id");
    assert_eq!(
        relay.get("/api/v1/projects", &sign(no_sign_in, JWT_SECRET)).await.0,
        401,
        "every token names its sign-in"
    );
    let expired = sign(claims(now - 1), JWT_SECRET);
    let (s, v) = relay.get("/api/v1/projects", &expired).await;
    assert_eq!(s, 401);
    assert!(v["message"].as_str().unwrap().contains("expired"));
    assert_eq!(
        relay.get("/api/v1/projects", &sign(claims(now + 600), "some-other-secret-some-other-secret")).await.0,
        401
    );
    let mut tampered = u.token.clone();
    let dot = tampered.rfind('.').unwrap();
    tampered.replace_range(dot + 1..dot + 5, "AAAA");
    assert_eq!(relay.get("/api/v1/projects", &tampered).await.0, 401);
    let (s, v) = relay.call("GET", "/api/v1/projects", None, None).await;
    assert_eq!((s, v["error"].as_str()), (401, Some("unauthorized")));

    // A browser with an expired token cannot open a terminal either.
    let mut b = Ws::open(&format!("{}/session", relay.ws)).await;
    b.send(json!({"type": "auth", "data": {"token": expired, "session_id": "00000000-0000-0000-0000-000000000000"}}))
        .await;
    assert_eq!(b.expect("error").await["data"]["code"], "auth_failed");
    assert_eq!(b.closed().await, Some(4001));
}

#[tokio::test]
async fn a_token_spent_moments_ago_still_refreshes_once_within_the_reuse_interval() {
    let relay = Relay::start().await; // 10 s by default
    let u = relay.signup("tabs@example.com").await;
    let refresh = |t: &str| {
        relay.call("POST", "/auth/v1/token?grant_type=refresh_token", None, Some(json!({"refresh_token": t})))
    };
    let (s, first) = refresh(&u.refresh).await;
    assert_eq!(s, 200);
    // Another tab still holds the old token: it works, and nobody is signed out.
    let (s, second) = refresh(&u.refresh).await;
    assert_eq!(s, 200, "{second}");
    assert_eq!(refresh(first["refresh_token"].as_str().unwrap()).await.0, 200);
    assert_eq!(refresh(second["refresh_token"].as_str().unwrap()).await.0, 200);
}

#[tokio::test]
async fn logout_revokes_refresh_tokens() {
    let relay = Relay::start().await;
    let u = relay.signup("hal@example.com").await;
    let (s, _) = relay.call("POST", "/auth/v1/logout", Some(&u.token), None).await;
    assert_eq!(s, 204);
    let (s, _) = relay
        .call("POST", "/auth/v1/token?grant_type=refresh_token", None, Some(json!({"refresh_token": u.refresh})))
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn password_recovery_through_the_console_link() {
    let relay = Relay::start().await;
    let u = relay.signup("ivy@example.com").await;
    let (s, _) = relay.call("POST", "/auth/v1/recover", None, Some(json!({"email": "ivy@example.com"}))).await;
    assert_eq!(s, 200);
    let (s, _) = relay.call("POST", "/auth/v1/recover", None, Some(json!({"email": "ghost@example.com"}))).await;
    assert_eq!(s, 200, "unknown emails get the same answer");
    let line = relay.console_line("/reset-password?token=").await;
    let token = line.split("token=").nth(1).unwrap().trim().to_string();
    assert!(!relay.log().contains(&token), "the one-time token is not in the log");

    let (s, v) = relay.call("POST", "/auth/v1/verify", None, Some(json!({"type": "recovery", "token": token}))).await;
    assert_eq!(s, 200, "{v}");
    let t = v["access_token"].as_str().unwrap();
    let (s, _) = relay.call("PUT", "/auth/v1/user", Some(t), Some(json!({"password": "brand-new-pass"}))).await;
    assert_eq!(s, 200);
    assert_eq!(sign_in(&relay, &u.email, "pass-word-123").await.0, 400);
    assert_eq!(sign_in(&relay, &u.email, "brand-new-pass").await.0, 200);
    let (s, v) = relay.call("POST", "/auth/v1/verify", None, Some(json!({"type": "recovery", "token": token}))).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("otp_expired")), "the link works once");
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_address() {
    let relay = Relay::start_with(Opts::default().arg("--login-rate").arg("3")).await;
    relay.signup("jo@example.com").await;
    for _ in 0..3 {
        assert_eq!(sign_in(&relay, "jo@example.com", "wrong-password").await.0, 400);
    }
    let (s, v) = sign_in(&relay, "jo@example.com", "pass-word-123").await;
    assert_eq!((s, v["error"].as_str()), (429, Some("rate_limited")), "even the right password waits");
    assert!(v["message"].as_str().unwrap().contains("wait"));
}

#[tokio::test]
async fn invite_only_relays_accept_sign_ups_through_an_invitation_link_only() {
    let relay = Relay::start_with(Opts::default().arg("--signups").arg("invite")).await;
    let owner = relay.signup("first@example.com").await; // the first account is always allowed
    let signup = |body: serde_json::Value| relay.call("POST", "/auth/v1/signup", None, Some(body));
    let (s, v) = signup(json!({"email": "stranger@example.com", "password": "pass-word-123"})).await;
    assert_eq!((s, v["error"].as_str()), (403, Some("signups_invite_only")));
    let project = relay.project(&owner, "p").await;
    let (_, v) = relay
        .post("/functions/v1/invite-member", &owner.token, json!({"project_id": project, "email": "guest@example.com"}))
        .await;
    assert_eq!(v["status"], "invited");
    let link = v["invite_url"].as_str().unwrap().to_string();
    let token = link.split("token=").nth(1).unwrap();
    // The invited address alone opens nothing (anyone could type it): the link does.
    let (s, _) = signup(json!({"email": "guest@example.com", "password": "pass-word-123"})).await;
    assert_eq!(s, 403, "an invited address is not an invitation");
    let (s, v) =
        signup(json!({"email": "guest@example.com", "password": "pass-word-123", "invite_token": token})).await;
    assert_eq!(s, 200, "{v}");
    let guest = User::from(v);
    let (_, projects) = relay.get("/api/v1/projects", &guest.token).await;
    assert_eq!(projects, json!([]), "signing up joins nothing by itself");
    let (s, joined) = relay.post("/api/v1/invitations/accept", &guest.token, json!({"token": token})).await;
    assert_eq!((s, joined["id"].as_str(), joined["role"].as_str()), (200, Some(project.as_str()), Some("member")));
}

#[tokio::test]
async fn closed_relays_refuse_new_accounts() {
    let relay = Relay::start_with(Opts::default().arg("--signups").arg("closed")).await;
    relay.signup("admin@example.com").await;
    let (s, v) = relay
        .call("POST", "/auth/v1/signup", None, Some(json!({"email": "x@example.com", "password": "pass-word-123"})))
        .await;
    assert_eq!((s, v["error"].as_str()), (403, Some("signups_disabled")));
}
