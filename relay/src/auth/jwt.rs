//! Short-lived HS256 access tokens, shaped like GoTrue's so Supabase-style clients work, and
//! the derivation of a refresh token's successor. Both are keyed by the token-signing secret.

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
    /// The sign-in this token belongs to; the token dies with it (sign-out, password change).
    pub session_id: String,
}

pub struct Keys {
    successor: hmac::Hmac<sha2::Sha256>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub ttl: i64,
}

const AUDIENCE: &str = "authenticated";

impl Keys {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Keys {
        use hmac::Mac;
        Keys {
            successor: hmac::Hmac::new_from_slice(&[b"privaclaw refresh successor\0", secret].concat())
                .expect("HMAC takes keys of any length"),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl: ttl_secs as i64,
        }
    }

    pub fn issue(&self, user_id: &str, email: &str, session_id: &str) -> String {
        let now = crate::store::now_unix();
        let claims = Claims {
            sub: user_id.into(),
            email: email.into(),
            iat: now,
            exp: now + self.ttl,
            aud: AUDIENCE.into(),
            role: AUDIENCE.into(),
            session_id: session_id.into(),
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

    /// The refresh token that replaces `token` when it is spent: a keyed hash of it, so a
    /// token presented twice (two tabs, a lost answer) gets the same successor both times and
    /// nobody without the secret can compute it.
    pub fn successor(&self, token: &str) -> String {
        use base64::Engine;
        use hmac::Mac;
        let mut mac = self.successor.clone();
        mac.update(token.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let k = Keys::new(b"secret-one", 60);
        let t = k.issue("u1", "a@example.com", "s1");
        let claims = k.verify(&t).unwrap();
        assert_eq!((claims.sub.as_str(), claims.session_id.as_str()), ("u1", "s1"));
        assert!(Keys::new(b"secret-two", 60).verify(&t).is_none(), "other key");
        let mut tampered = t.clone();
        tampered.replace_range(t.len() - 3.., "AAA");
        assert!(k.verify(&tampered).is_none(), "tampered signature");
        let expired = Keys { ttl: -10, ..Keys::new(b"secret-one", 60) }.issue("u1", "a@example.com", "s1");
        assert!(k.verify(&expired).is_none(), "expired");
    }

    #[test]
    fn successors_are_stable_keyed_and_distinct() {
        let k = Keys::new(b"secret-one", 60);
        let s = k.successor("token-a");
        assert_eq!(s, k.successor("token-a"), "the same token always has the same successor");
        assert_eq!(s.len(), 43, "256 bits");
        assert_ne!(s, k.successor("token-b"));
        assert_ne!(s, Keys::new(b"secret-two", 60).successor("token-a"), "keyed by the secret");
    }
}
