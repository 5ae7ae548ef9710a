//! Sign-ins end when they should: a password change or reset ends every other sign-in (its
//! tokens, terminals and event streams) and needs the current password or a fresh reset link;
//! a used reset link takes the others with it; a refresh token presented twice yields one
//! successor. Guessing and flooding are bounded (sign-up and password-change rates, failed
//! sign-ins per account, IPv6 by /64, a bounded hashing pool). Nothing reveals who has an
//! account, and no link is built from what a client claims the relay's address is.

use crate::common::smtp::Smtp;
use crate::common::*;
use serde_json::{Value, json};

async fn password_grant(relay: &Relay, email: &str, password: &str) -> (u16, Value) {
    relay
        .call("POST", "/auth/v1/token?grant_type=password", None, Some(json!({"email": email, "password": password})))
        .await
}

async fn refresh(relay: &Relay, token: &str) -> (u16, Value) {
    relay.call("POST", "/auth/v1/token?grant_type=refresh_token", None, Some(json!({"refresh_token": token}))).await
}

/// A request with headers of the test's choosing.
async fn call_with(
    relay: &Relay,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = relay.http.request(method.parse().unwrap(), relay.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn a_password_change_ends_every_other_sign_in_at_once_and_needs_the_current_password() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let laptop = relay.sign_in(&s.owner.email).await; // a second sign-in: the stolen one
    let session = relay.start_session(&laptop, &s.device).await;
    let mut open = relay.browser(&laptop, &session, &s.device).await;
    s.conn.expect("session_start").await;
    let mut events = Events::open(&relay, &laptop.token).await;
    events.next("ready").await;

    let put = |body: Value| relay.call("PUT", "/auth/v1/user", Some(&s.owner.token), Some(body));
    let (st, v) = put(json!({"password": "brand-new-pass"})).await;
    assert_eq!((st, v["error"].as_str()), (400, Some("current_password_required")), "{v}");
    let (st, v) = put(json!({"password": "brand-new-pass", "current_password": "not-it-at-all"})).await;
    assert_eq!((st, v["error"].as_str()), (400, Some("wrong_password")), "{v}");
    let (st, v) = put(json!({"password": "brand-new-pass", "current_password": "pass-word-123"})).await;
    assert_eq!(st, 200, "{v}");

    // The other sign-in is over everywhere, right now.
    assert_eq!(open.expect("error").await["data"]["code"], "access_revoked");
    assert_eq!(open.closed().await, Some(4003));
    let revoked = events.next("revoked").await;
    assert!(revoked["message"].as_str().unwrap().contains("password"), "{revoked}");
    assert!(events.next_of(&["nothing"]).await.is_none(), "the event stream ends");
    assert_eq!(relay.get("/api/v1/projects", &laptop.token).await.0, 401, "its access token");
    assert_eq!(refresh(&relay, &laptop.refresh).await.0, 400, "its refresh token");
    let mut again = Ws::open(&format!("{}/session", relay.ws)).await;
    again.send(json!({"type": "auth", "data": {"token": laptop.token, "session_id": session}})).await;
    assert_eq!(again.closed().await, Some(4001), "no resume");

    // The sign-in that changed it carries on.
    assert_eq!(relay.get("/api/v1/projects", &s.owner.token).await.0, 200);
    assert_eq!(refresh(&relay, &s.owner.refresh).await.0, 200);
    assert_eq!(password_grant(&relay, &s.owner.email, "brand-new-pass").await.0, 200);
}

#[tokio::test]
async fn a_used_reset_link_ends_the_other_sign_ins_and_the_other_links() {
    let relay = Relay::start().await;
    let u = relay.signup("ivy@example.com").await;
    let recover = || relay.call("POST", "/auth/v1/recover", None, Some(json!({"email": "ivy@example.com"})));
    assert_eq!(recover().await.0, 200);
    let first = relay.console_line("/reset-password?token=").await;
    assert_eq!(recover().await.0, 200);
    let mut links = Vec::new();
    wait_until("two reset links", || {
        links = relay.console().lines().filter(|l| l.contains("/reset-password?token=")).map(String::from).collect();
        let two = links.len() == 2;
        async move { two }
    })
    .await;
    let token = |l: &str| l.split("token=").nth(1).unwrap().trim().to_string();
    assert_eq!(links[0], first);
    let verify = |t: String| relay.call("POST", "/auth/v1/verify", None, Some(json!({"type": "recovery", "token": t})));
    let (st, v) = verify(token(&links[1])).await;
    assert_eq!(st, 200, "{v}");
    let reset = User::from(v);
    let (st, v) = verify(token(&links[0])).await;
    assert_eq!((st, v["error"].as_str()), (400, Some("otp_expired")), "the older link died with the newer one's use");

    // A fresh reset sign-in sets the password without the old one, once.
    let (st, _) =
        relay.call("PUT", "/auth/v1/user", Some(&reset.token), Some(json!({"password": "after-reset-1"}))).await;
    assert_eq!(st, 200);
    assert_eq!(refresh(&relay, &u.refresh).await.0, 400, "the sign-in from before the reset is over");
    assert_eq!(relay.get("/auth/v1/user", &u.token).await.0, 401);
    let (st, v) =
        relay.call("PUT", "/auth/v1/user", Some(&reset.token), Some(json!({"password": "after-reset-2"}))).await;
    assert_eq!((st, v["error"].as_str()), (400, Some("current_password_required")), "a reset link sets one password");
    assert_eq!(password_grant(&relay, &u.email, "after-reset-1").await.0, 200);
}

#[tokio::test]
async fn a_refresh_token_presented_twice_within_the_interval_yields_one_successor() {
    let relay = Relay::start().await;
    let u = relay.signup("tabs@example.com").await;
    let (a, b) = tokio::join!(refresh(&relay, &u.refresh), refresh(&relay, &u.refresh));
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
    assert_eq!(a.1["refresh_token"], b.1["refresh_token"], "the same successor, not two");
    let (st, third) = refresh(&relay, &u.refresh).await;
    assert_eq!(st, 200);
    assert_eq!(third["refresh_token"], a.1["refresh_token"]);
    // The one successor rotates on as usual.
    let (st, next) = refresh(&relay, a.1["refresh_token"].as_str().unwrap()).await;
    assert_eq!(st, 200);
    assert_ne!(next["refresh_token"], a.1["refresh_token"]);
}

#[tokio::test]
async fn logging_out_ends_that_sign_in_s_terminal_and_no_other() {
    let relay = Relay::start().await;
    let mut s = relay.setup().await;
    let phone = relay.sign_in(&s.owner.email).await;
    let session = relay.start_session(&s.owner, &s.device).await;
    let mut desk = relay.browser(&s.owner, &session, &s.device).await;
    s.conn.expect("session_start").await;
    let mut mobile = relay.browser(&phone, &session, &s.device).await;
    let (st, _) =
        relay.call("POST", "/auth/v1/logout", Some(&phone.token), Some(json!({"refresh_token": phone.refresh}))).await;
    assert_eq!(st, 204);
    assert_eq!(mobile.expect("error").await["data"]["code"], "access_revoked");
    assert_eq!(mobile.closed().await, Some(4003));
    desk.send(json!({"type": "ping"})).await;
    desk.expect("pong").await;
    assert_eq!(relay.get("/api/v1/projects", &s.owner.token).await.0, 200, "the other sign-in stays");
    assert_eq!(relay.get("/api/v1/projects", &phone.token).await.0, 401);
}

#[tokio::test]
async fn sign_ups_and_password_changes_are_rate_limited_per_address() {
    let relay = Relay::start_with(Opts::default().arg("--signup-rate").arg("2")).await;
    relay.signup("one@example.com").await;
    relay.signup("two@example.com").await;
    let body = json!({"email": "three@example.com", "password": "pass-word-123"});
    let (st, v) = relay.call("POST", "/auth/v1/signup", None, Some(body)).await;
    assert_eq!((st, v["error"].as_str()), (429, Some("rate_limited")), "{v}");
    let u = relay.sign_in("one@example.com").await;
    let change = json!({"password": "another-pass", "current_password": "pass-word-123"});
    let (st, _) = relay.call("PUT", "/auth/v1/user", Some(&u.token), Some(change)).await;
    assert_eq!(st, 429, "the same address's budget");
}

#[tokio::test]
async fn failed_sign_ins_lock_the_account_from_every_address_and_ipv6_is_one_address_per_64() {
    let relay = Relay::start_with(
        Opts::default().arg("--trust-proxy").arg("127.0.0.1/32").arg("--account-login-failures").arg("3"),
    )
    .await;
    relay.signup("target@example.com").await;
    relay.signup("bystander@example.com").await;
    let from = |ip: &str, email: &str, password: &str| {
        let headers = [("x-forwarded-for".to_string(), ip.to_string())];
        let body = json!({"email": email, "password": password});
        let relay = &relay;
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            call_with(relay, "POST", "/auth/v1/token?grant_type=password", &h, Some(body)).await
        }
    };
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(from(ip, "target@example.com", "guess-guess").await.0, 400);
    }
    let (st, v) = from("198.51.100.4", "target@example.com", "pass-word-123").await;
    assert_eq!((st, v["error"].as_str()), (429, Some("rate_limited")), "locked, even with the right password: {v}");
    assert!(v["message"].as_str().unwrap().contains("reset the password"), "{v}");
    assert_eq!(from("198.51.100.4", "bystander@example.com", "pass-word-123").await.0, 200, "per account");

    // The per-address limit (20 a minute) counts a whole IPv6 /64 as one address.
    let mut last = 0;
    for i in 1..=21 {
        last = from(&format!("2001:db8:aa:bb::{i:x}"), "bystander@example.com", "pass-word-123").await.0;
    }
    assert_eq!(last, 429, "21 addresses of one /64 share one budget");
    assert_eq!(from("2001:db8:aa:cc::1", "bystander@example.com", "pass-word-123").await.0, 200);
}

#[tokio::test]
async fn a_sign_in_does_not_wait_behind_a_sign_up_flood() {
    let relay = Relay::start_with(Opts::default().arg("--signup-rate").arg("1000")).await;
    relay.signup("regular@example.com").await;
    let http = relay.http.clone();
    let url = relay.url("/auth/v1/signup");
    let flood: Vec<_> = (0..12)
        .map(|i| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let body = json!({"email": format!("flood{i}@example.com"), "password": "pass-word-123"});
                http.post(url).json(&body).send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    // Once one sign-up is through, every one of them has long been waiting at the relay.
    wait_until("a sign-up of the flood is done", || {
        let done = flood.iter().any(|j| j.is_finished());
        async move { done }
    })
    .await;
    let (st, _) = password_grant(&relay, "regular@example.com", "pass-word-123").await;
    let done = flood.iter().filter(|j| j.is_finished()).count();
    assert_eq!(st, 200);
    assert!(done <= 6, "the sign-in waited for {done} of 12 sign-ups to be hashed first");
    for j in flood {
        assert_eq!(j.await.unwrap(), 200, "the flood is served too, in its turn");
    }
}

#[tokio::test]
async fn recovery_answers_at_once_even_when_the_mail_server_hangs() {
    let smtp = Smtp::stalled().await;
    let relay = Relay::start_with(
        Opts::default().env("SMTP_URL", &smtp.url).arg("--public-url").arg("https://relay.example.com"),
    )
    .await;
    let body = json!({"email": "slow@example.com", "password": "pass-word-123"});
    let (st, v) = tokio::time::timeout(WAIT, relay.call("POST", "/auth/v1/signup", None, Some(body)))
        .await
        .expect("sign-up waited for the mail server");
    assert_eq!(st, 200, "{v}");
    for email in ["slow@example.com", "nobody@example.com"] {
        let (st, _) =
            tokio::time::timeout(WAIT, relay.call("POST", "/auth/v1/recover", None, Some(json!({"email": email}))))
                .await
                .expect("recover waited for the mail server");
        assert_eq!(st, 200);
    }
}

#[tokio::test]
async fn signing_up_with_a_taken_address_looks_like_a_new_sign_up_and_mails_the_owner() {
    let smtp = Smtp::start().await;
    let relay = Relay::start_with(
        Opts::default().env("SMTP_URL", &smtp.url).arg("--public-url").arg("https://relay.example.com"),
    )
    .await;
    let signup = || {
        relay.call(
            "POST",
            "/auth/v1/signup",
            None,
            Some(json!({"email": "kim@example.com", "password": "pass-word-123"})),
        )
    };
    let (st, new) = signup().await;
    assert_eq!(st, 200, "{new}");
    let mail = smtp.mail("kim@example.com", "/auth/v1/verify?type=signup&token=").await;
    assert!(mail.text.contains("https://relay.example.com/auth/v1/verify"), "links use --public-url: {}", mail.text);
    let link = mail.text.lines().find(|l| l.contains("verify?type=signup")).unwrap().trim().to_string();
    let token = link.split("token=").nth(1).unwrap();
    let (st, _) = relay.call("POST", "/auth/v1/verify", None, Some(json!({"type": "signup", "token": token}))).await;
    assert_eq!(st, 200);

    let (st, taken) = signup().await;
    assert_eq!(st, 200, "no 'already exists' for a stranger to read: {taken}");
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&taken), keys(&new));
    assert_eq!(keys(&taken["user"]), keys(&new["user"]));
    assert!(taken["access_token"].is_null());
    smtp.mail("kim@example.com", "already has one").await;
}

#[tokio::test]
async fn links_are_built_from_the_public_url_or_the_address_reached_never_the_host_header() {
    let relay = Relay::start().await;
    let here = relay.base.clone();
    let evil = [("host", "evil.example"), ("x-forwarded-host", "evil.example"), ("x-forwarded-proto", "https")];
    let (_, script) = call_with(&relay, "GET", "/install.sh", &evil, None).await;
    let script = script.as_str().unwrap();
    assert!(script.contains(&here) && !script.contains("evil"), "install.sh names the address reached");
    relay.signup("lee@example.com").await;
    let (st, _) = call_with(&relay, "POST", "/auth/v1/recover", &evil, Some(json!({"email": "lee@example.com"}))).await;
    assert_eq!(st, 200);
    let line = relay.console_line("/reset-password?token=").await;
    assert!(line.contains(&here) && !line.contains("evil"), "{line}");
    let owner = relay.sign_in("lee@example.com").await;
    let project = relay.project(&owner, "p").await;
    let (_, code) = relay.device(&owner, &project, "d").await;
    let (_, paired) =
        call_with(&relay, "POST", "/functions/v1/pair-device", &evil, Some(json!({"pairing_code": code}))).await;
    assert_eq!(paired["relay_url"], here.replacen("http", "ws", 1));

    // Behind a proxy the operator trusts, its forwarded host and scheme count.
    let proxied = Relay::start_with(Opts::default().arg("--trust-proxy").arg("127.0.0.0/8")).await;
    let fwd = [("x-forwarded-host", "relay.example.com"), ("x-forwarded-proto", "https")];
    let (_, script) = call_with(&proxied, "GET", "/install.sh", &fwd, None).await;
    assert!(script.as_str().unwrap().contains("https://relay.example.com"));
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let sign_in_from = |relay: &Relay, ip: &'static str| {
        let relay_http = relay.http.clone();
        let url = relay.url("/auth/v1/token?grant_type=password");
        async move {
            let body = json!({"email": "x@example.com", "password": "wrong-wrong"});
            relay_http.post(url).header("x-forwarded-for", ip).json(&body).send().await.unwrap().status().as_u16()
        }
    };
    let direct = Relay::start_with(Opts::default().arg("--login-rate").arg("1")).await;
    assert_eq!(sign_in_from(&direct, "203.0.113.1").await, 400);
    assert_eq!(sign_in_from(&direct, "203.0.113.2").await, 429, "a header anyone can write changes nothing");
    let proxied =
        Relay::start_with(Opts::default().arg("--login-rate").arg("1").arg("--trust-proxy").arg("127.0.0.1")).await;
    assert_eq!(sign_in_from(&proxied, "203.0.113.1").await, 400);
    assert_eq!(sign_in_from(&proxied, "203.0.113.2").await, 400, "two clients behind the proxy");
    assert_eq!(sign_in_from(&proxied, "203.0.113.1").await, 429);
}

#[tokio::test]
async fn email_without_a_public_url_is_refused_at_start() {
    let said = Relay::refuses(Opts::default().env("SMTP_URL", "smtp://127.0.0.1:1")).await;
    assert!(said.contains("--public-url"), "{said}");
}
