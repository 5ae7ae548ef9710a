//! Short-lived HS256 access tokens, shaped like GoTrue's so Supabase-style clients work.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    pub email: String,
    pub exp: i64,
    pub iat: i64,
    pub aud: String,
    pub role: String,
}

pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub ttl: i64,
}

const AUDIENCE: &str = "authenticated";

impl Keys {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Keys {
        Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl: ttl_secs as i64,
        }
    }

    pub fn issue(&self, user_id: &str, email: &str) -> String {
        let now = crate::store::now_unix();
        let claims = Claims {
            sub: user_id.into(),
            email: email.into(),
            iat: now,
            exp: now + self.ttl,
            aud: AUDIENCE.into(),
            role: AUDIENCE.into(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).expect("HS256 signing cannot fail")
    }

    /// The claims of a valid, unexpired token signed by us; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&[AUDIENCE]);
        v.leeway = 0;
        decode::<Claims>(token, &self.decoding, &v).ok().map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let k = Keys::new(b"secret-one", 60);
        let t = k.issue("u1", "a@example.com");
        assert_eq!(k.verify(&t).unwrap().sub, "u1");
        assert!(Keys::new(b"secret-two", 60).verify(&t).is_none(), "other key");
        let mut tampered = t.clone();
        tampered.replace_range(t.len() - 3.., "AAA");
        assert!(k.verify(&tampered).is_none(), "tampered signature");
        let expired = Keys { ttl: -10, ..Keys::new(b"secret-one", 60) }.issue("u1", "a@example.com");
        assert!(k.verify(&expired).is_none(), "expired");
    }
}
