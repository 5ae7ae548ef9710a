//! Random secrets (tokens, pairing codes) and the hashes under which they are stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use sha2::{Digest, Sha256};

/// Pairing codes avoid characters people confuse when reading them off a screen: no 0/O, 1/I.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
pub const CODE_LEN: usize = 6;

/// 256 random bits, URL-safe base64.
pub fn token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn pairing_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN).map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char).collect()
}

/// Normalises what a person typed: case and stray spaces or dashes do not matter.
pub fn normalise_code(input: &str) -> String {
    input.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_ascii_uppercase()
}

/// The stored form of a token: hex SHA-256. Tokens are 256-bit random, so a fast hash is
/// enough (no dictionary to attack).
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison of two stored hashes.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_codes_use_the_unambiguous_alphabet() {
        for _ in 0..200 {
            let c = pairing_code();
            assert_eq!(c.len(), CODE_LEN);
            assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{c}");
            assert!(!c.contains(['0', 'O', '1', 'I']));
        }
    }

    #[test]
    fn tokens_are_256_bits_and_unique() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(hash(&a).len(), 64);
        assert!(same(&hash(&a), &hash(&a)));
        assert!(!same(&hash(&a), &hash(&b)));
    }

    #[test]
    fn codes_are_normalised() {
        assert_eq!(normalise_code(" abc-def "), "ABCDEF");
    }
}
