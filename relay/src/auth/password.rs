//! argon2id password hashing, on one dedicated thread (it is deliberately slow and large).
//!
//! We drive argon2 with our own working area instead of its `hash_password`, for memory: glibc
//! serves repeated multi-MiB requests from the thread's heap after the first one and keeps
//! every one of them (measured: 57 MiB resident after 20 sign-ins). A buffer reserved above
//! glibc's largest mmap threshold (32 MiB) is always a fresh mapping that `free` unmaps, and
//! only the pages argon2 touches are ever resident.

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{LazyLock, Mutex, mpsc};
use tokio::sync::oneshot;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 256;

/// glibc never serves an allocation this large from a heap (`DEFAULT_MMAP_THRESHOLD_MAX`).
const ALWAYS_MAPPED: usize = 32 * 1024 * 1024 + 4096;

/// argon2id with 7 MiB and 5 passes: one of OWASP's equivalent recommended settings, the one
/// with the least memory, so a small relay host is not pushed around by a burst of sign-ins.
fn params() -> Params {
    Params::new(7 * 1024, 5, 1, None).expect("valid argon2 parameters")
}

fn compute(
    password: &[u8],
    alg: Algorithm,
    ver: Version,
    params: &Params,
    salt: Salt<'_>,
) -> argon2::password_hash::Result<Output> {
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf)?;
    let mut blocks: Vec<Block> = Vec::with_capacity(params.block_count().max(ALWAYS_MAPPED / size_of::<Block>()));
    blocks.resize(params.block_count(), Block::default());
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    Output::init_with(len, |out| {
        Ok(Argon2::new(alg, ver, params.clone()).hash_password_into_with_memory(password, salt, out, &mut blocks)?)
    })
}

fn hash_now(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    let params = params();
    let output = compute(password.as_bytes(), Algorithm::Argon2id, Version::V0x13, &params, salt.as_salt())
        .expect("argon2 with fixed parameters and a generated salt cannot fail");
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).expect("parameters fit a PHC string"),
        salt: Some(salt.as_salt()),
        hash: Some(output),
    }
    .to_string()
}

/// Checks against a stored PHC string, with the parameters it was made with.
fn verify_now(password: &str, stored: &str) -> bool {
    let check = || -> argon2::password_hash::Result<bool> {
        let parsed = PasswordHash::new(stored)?;
        let alg = Algorithm::try_from(parsed.algorithm)?;
        let ver = parsed.version.map(Version::try_from).transpose()?.unwrap_or_default();
        let params = Params::try_from(&parsed)?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return Ok(false) };
        // `Output`'s equality is constant-time.
        Ok(compute(password.as_bytes(), alg, ver, &params, salt)? == expected)
    };
    check().unwrap_or(false)
}

type Job = Box<dyn FnOnce() + Send>;

/// One hash at a time on one thread: whatever arrives, memory stays bounded.
static HASHER: LazyLock<Mutex<mpsc::Sender<Job>>> = LazyLock::new(|| {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("argon2".into())
        .spawn(move || rx.into_iter().for_each(|job| job()))
        .expect("a thread for password hashing");
    Mutex::new(tx)
});

async fn on_hasher<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    HASHER.lock().unwrap_or_else(|e| e.into_inner()).send(job).expect("the hashing thread never stops");
    rx.await.expect("the hashing thread never stops")
}

pub async fn hash(password: String) -> String {
    on_hasher(move || hash_now(&password)).await
}

/// Checks `password` against a stored hash. With no hash (unknown account) it still does the
/// work, so response times do not reveal which emails have accounts.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    on_hasher(move || match stored {
        Some(s) => verify_now(&password, &s),
        None => {
            verify_now(&password, &DUMMY);
            false
        }
    })
    .await
}

static DUMMY: LazyLock<String> = LazyLock::new(|| hash_now("not a password"));

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let a = super::hash("correct horse".into()).await;
        let b = super::hash("correct horse".into()).await;
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{a}");
        assert!(super::verify("correct horse".into(), Some(a.clone())).await);
        assert!(!super::verify("wrong horse".into(), Some(a)).await);
        assert!(!super::verify("not a password".into(), None).await);
    }

    #[test]
    fn hashes_made_by_the_argon2_crate_still_verify() {
        use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
        let salt = SaltString::generate(&mut OsRng);
        let made = argon2::Argon2::default().hash_password(b"old password", &salt).unwrap();
        assert!(super::verify_now("old password", &made.to_string()));
        assert!(!super::verify_now("other", &made.to_string()));
    }
}
