//! Secrets at rest. AI-node configurations hold the nodes' `auth_token`s, so the database keeps
//! them sealed with XChaCha20-Poly1305 under a key that is not in the database: generated into
//! the data directory on first start, or given as `--secrets-key` (several relays must share
//! it). Each sealed value names its key (a short fingerprint), so after a rotation the old
//! key, given in `--previous-secrets-keys`, still opens what it sealed until the relay has
//! sealed everything again under the new one (it does so at start).
//!
//! The row's id is bound in as associated data: a sealed value copied into another row (say,
//! another user's) does not open there.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::Rng;
use sha2::{Digest, Sha256};

const PREFIX: &str = "sealed:v1:";

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl Key {
    fn new(material: &[u8]) -> Key {
        let key = Sha256::digest([b"privaclaw secrets key\0", material].concat());
        let id = hex::encode(&Sha256::digest([b"privaclaw key id\0", &key[..]].concat())[..4]);
        Key { id, cipher: XChaCha20Poly1305::new(&key) }
    }
}

pub struct Sealer {
    current: Key,
    previous: Vec<Key>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Unsealed {
    /// Sealed under the current key.
    Current(String),
    /// Stored before sealing existed, or under a previous key: seal it again.
    Stale(String),
}

impl Sealer {
    /// `current` and `previous` are key material of any length (a generated key, or what the
    /// operator gave); each is hashed into a 256-bit key.
    pub fn new(current: &[u8], previous: &[&[u8]]) -> Sealer {
        Sealer { current: Key::new(current), previous: previous.iter().map(|m| Key::new(m)).collect() }
    }

    pub fn seal(&self, plaintext: &str, bound_to: &str) -> String {
        let nonce: [u8; 24] = rand::rng().random();
        let sealed = self
            .current
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext.as_bytes(), aad: bound_to.as_bytes() })
            .expect("sealing a short value cannot fail");
        format!("{PREFIX}{}:{}", self.current.id, STANDARD.encode([&nonce[..], &sealed].concat()))
    }

    /// The plaintext of a stored value: sealed by a key this relay has, or plain text stored
    /// before sealing existed. An error says which key is missing.
    pub fn open(&self, stored: &str, bound_to: &str) -> Result<Unsealed, String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(Unsealed::Stale(stored.to_string()));
        };
        let (id, body) = rest.split_once(':').ok_or("a sealed value is malformed")?;
        let key = std::iter::once(&self.current).chain(&self.previous).find(|k| k.id == id).ok_or_else(|| {
            format!("a secret is sealed with key {id}, which this relay was not given (--previous-secrets-keys)")
        })?;
        let raw = STANDARD.decode(body).map_err(|_| "a sealed value is malformed")?;
        if raw.len() < 24 {
            return Err("a sealed value is malformed".into());
        }
        let (nonce, sealed) = raw.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().expect("split at 24");
        let plain = key
            .cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: bound_to.as_bytes() })
            .map_err(|_| format!("a secret sealed with key {id} does not open: it was altered or moved"))?;
        let text = String::from_utf8(plain).map_err(|_| "a sealed value is not text")?;
        Ok(if key.id == self.current.id { Unsealed::Current(text) } else { Unsealed::Stale(text) })
    }
}

impl Unsealed {
    pub fn text(self) -> String {
        match self {
            Unsealed::Current(t) | Unsealed::Stale(t) => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_binds_to_its_row() {
        let s = Sealer::new(b"key one", &[]);
        let sealed = s.seal(r#"{"auth_token":"hunter22"}"#, "row-1");
        assert!(sealed.starts_with("sealed:v1:") && !sealed.contains("hunter22"), "{sealed}");
        assert_ne!(sealed, s.seal(r#"{"auth_token":"hunter22"}"#, "row-1"), "a fresh nonce each time");
        assert_eq!(s.open(&sealed, "row-1").unwrap(), Unsealed::Current(r#"{"auth_token":"hunter22"}"#.into()));
        assert!(s.open(&sealed, "row-2").unwrap_err().contains("altered or moved"));
        let mut tampered = sealed.clone();
        tampered.replace_range(sealed.len() - 6..sealed.len() - 2, "AAAA");
        assert!(s.open(&tampered, "row-1").is_err());
        assert_eq!(s.open("{}", "row-1").unwrap(), Unsealed::Stale("{}".into()), "plain text from before");
    }

    #[test]
    fn a_rotated_key_still_opens_what_it_sealed() {
        let old = Sealer::new(b"key one", &[]);
        let sealed = old.seal("secret", "r");
        let new = Sealer::new(b"key two", &[b"key one"]);
        assert_eq!(new.open(&sealed, "r").unwrap(), Unsealed::Stale("secret".into()));
        let resealed = new.seal("secret", "r");
        assert_eq!(new.open(&resealed, "r").unwrap(), Unsealed::Current("secret".into()));
        let without = Sealer::new(b"key two", &[]);
        assert!(without.open(&sealed, "r").unwrap_err().contains("--previous-secrets-keys"));
    }
}
