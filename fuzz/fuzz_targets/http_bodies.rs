//! Request bodies of the HTTP API, deserialized as the relay does and passed through the
//! validators that guard the database, and the forwarding headers a trusted proxy sends:
//! nothing may panic, and no header bends the relay's origin into something else.
#![no_main]

use libfuzzer_sys::fuzz_target;
use privaclaw_relay::api::{NameBody, auth, functions, name, profile, skills, team};
use privaclaw_relay::proxy::Proxies;

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    serde_json::from_slice(bytes).ok()
}

fuzz_target!(|bytes: &[u8]| {
    if let Some(b) = body::<NameBody>(bytes) {
        if let Ok(n) = name(&b.name, "project") {
            assert!(!n.is_empty() && n.chars().count() <= 100);
        }
    }
    if let Some(c) = body::<auth::Credentials>(bytes) {
        if let Ok(e) = auth::normalise_email(&c.email.0) {
            assert!(e.contains('@') && !e.contains(char::is_whitespace));
        }
    }
    let _ = body::<auth::TokenRequest>(bytes);
    let _ = body::<auth::UserUpdate>(bytes);
    let _ = body::<auth::VerifyRequest>(bytes);
    let _ = body::<functions::PairRequest>(bytes);
    let _ = body::<functions::InviteRequest>(bytes);
    let _ = body::<profile::ProfileUpdate>(bytes);
    if let Some(c) = body::<skills::SkillConfigBody>(bytes) {
        let _ = skills::validate(c.skill_slug.as_deref().unwrap_or("privaclaw"), &c);
    }
    let _ = body::<team::InvitationToken>(bytes);
    if let Ok(header) = std::str::from_utf8(bytes) {
        let proxy = Proxies(vec!["10.0.0.0/8".parse().unwrap()]);
        let _ = proxy.client("10.0.0.1".parse().unwrap(), Some(header));
        let local = "192.0.2.1:8080".parse().unwrap();
        let origin = proxy.origin("10.0.0.1".parse().unwrap(), local, false, Some(header), Some(header));
        let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or("");
        assert!(!authority.is_empty() && !authority.contains(['/', '?', '#', '@', ' ']), "{origin}");
    }
});
