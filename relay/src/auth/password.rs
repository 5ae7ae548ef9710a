//! argon2id password hashing, run off the async workers (it is deliberately slow).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 256;

pub async fn hash(password: String) -> String {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .expect("argon2 with default parameters cannot fail")
            .to_string()
    })
    .await
    .expect("hashing task panicked")
}

/// Checks `password` against a stored hash. With no hash (unknown account) it still does the
/// work, so response times do not reveal which emails have accounts.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY.clone());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && stored != *DUMMY
    })
    .await
    .unwrap_or(false)
}

static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(b"not a password", &salt).unwrap().to_string()
});

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let a = super::hash("correct horse".into()).await;
        let b = super::hash("correct horse".into()).await;
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(super::verify("correct horse".into(), Some(a.clone())).await);
        assert!(!super::verify("wrong horse".into(), Some(a)).await);
        assert!(!super::verify("not a password".into(), None).await);
    }
}
