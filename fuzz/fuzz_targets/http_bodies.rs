//! Request bodies of the HTTP API, deserialized as the relay does and passed through the
//! validators that guard the database: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use privaclaw_relay::api::{NameBody, auth, functions, name, profile, skills};

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
});
