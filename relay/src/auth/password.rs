//! argon2id password hashing on a small bounded pool (it is deliberately slow and large).
//!
//! `Hasher` runs at most N hashes at once on tokio's blocking threads. Sign-ups and password
//! changes may take at most N - 1 of them, so a flood of sign-ups can never make a sign-in wait
//! behind it; and no more than a few jobs per hasher may wait, in each class apart (a flood of
//! sign-ups must not use up the sign-ins' places either), so a flood is refused (503) rather
//! than queued without end.
//!
//! We drive argon2 with our own working area instead of its `hash_password`, for memory: glibc
//! serves repeated multi-MiB requests from the thread's heap after the first one and keeps
//! every one of them (measured: 57 MiB resident after 20 sign-ins). A buffer reserved above
//! glibc's largest mmap threshold (32 MiB) is always a fresh mapping that `free` unmaps, and
//! only the pages argon2 touches are ever resident.

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

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

/// Too many hashes are waiting already; the caller should say "busy, retry".
#[derive(Debug)]
pub struct Busy;

pub struct Hasher {
    /// Every hash holds one of these while it runs.
    all: Semaphore,
    /// Sign-ups and password changes also hold one of these: one fewer than `all`.
    bulk: Semaphore,
    /// Jobs waiting for a hasher: sign-ins, and sign-ups with password changes.
    waiting: [AtomicUsize; 2],
    max_waiting: usize,
}

/// Jobs allowed to wait per hasher before new ones are refused: with 2 hashers and ~30 ms a
/// hash, the last sign-up waits about 2 s; the rest of a flood is told to retry.
const WAIT_PER_HASHER: usize = 32;

impl Hasher {
    /// `concurrency` hashes at once (at least 2: one is kept for sign-ins).
    pub fn new(concurrency: usize) -> Hasher {
        let n = concurrency.max(2);
        Hasher {
            all: Semaphore::new(n),
            bulk: Semaphore::new(n - 1),
            waiting: [AtomicUsize::new(0), AtomicUsize::new(0)],
            max_waiting: n * WAIT_PER_HASHER,
        }
    }

    async fn run<T: Send + 'static>(&self, bulk: bool, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Busy> {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let queue = &self.waiting[usize::from(bulk)];
        if queue.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            queue.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let waiting = Waiting(queue);
        let _bulk = if bulk { Some(self.bulk.acquire().await.expect("never closed")) } else { None };
        let _one = self.all.acquire().await.expect("never closed");
        drop(waiting);
        Ok(tokio::task::spawn_blocking(f).await.expect("argon2 does not panic"))
    }

    /// Hashes a new password (sign-up, password change).
    pub async fn hash(&self, password: String) -> Result<String, Busy> {
        self.run(true, move || hash_now(&password)).await
    }

    /// Checks `password` against a stored hash. With no hash (unknown account) it still does
    /// the work, so response times do not reveal which emails have accounts.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, Busy> {
        self.run(false, move || match stored {
            Some(s) => verify_now(&password, &s),
            None => {
                verify_now(&password, &DUMMY);
                false
            }
        })
        .await
    }

    /// The work of a hash, for a request that must take as long as one that hashes.
    pub async fn waste(&self, password: String) -> Result<(), Busy> {
        self.hash(password).await.map(drop)
    }
}

static DUMMY: LazyLock<String> = LazyLock::new(|| hash_now("not a password"));

#[cfg(test)]
mod tests {
    use super::Hasher;

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let h = Hasher::new(2);
        let a = h.hash("correct horse".into()).await.unwrap();
        let b = h.hash("correct horse".into()).await.unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{a}");
        assert!(h.verify("correct horse".into(), Some(a.clone())).await.unwrap());
        assert!(!h.verify("wrong horse".into(), Some(a)).await.unwrap());
        assert!(!h.verify("not a password".into(), None).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_hashes_leaves_a_hasher_for_sign_ins_and_is_refused_past_its_queue() {
        let h = std::sync::Arc::new(Hasher::new(2));
        // Sign-ups fill their one hasher and the queue behind it.
        let flood: Vec<_> = (0..super::WAIT_PER_HASHER)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move { h.hash(format!("password {i}")).await })
            })
            .collect();
        tokio::task::yield_now().await;
        let stored = super::hash_now("mine");
        // A sign-in does not wait for the flood: it is done while sign-ups are still queued.
        assert!(h.verify("mine".into(), Some(stored)).await.unwrap());
        let done = flood.iter().filter(|j| j.is_finished()).count();
        assert!(done < flood.len() / 2, "the sign-in waited for {done} sign-ups");
        let refused = |jobs: Vec<tokio::task::JoinHandle<Result<String, super::Busy>>>| async {
            futures_util::future::join_all(jobs).await.into_iter().filter(|r| r.as_ref().unwrap().is_err()).count()
        };
        assert_eq!(refused(flood).await, 0, "the flood fit the queue");
        // A bigger flood than the queue holds: the rest is refused at once, not queued, and a
        // sign-in still finds its place.
        let jobs: Vec<_> = (0..super::WAIT_PER_HASHER * 5)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move { h.hash(format!("password {i}")).await })
            })
            .collect();
        tokio::task::yield_now().await;
        let stored = super::hash_now("again");
        assert!(h.verify("again".into(), Some(stored)).await.is_ok(), "sign-ins have places of their own");
        assert!(refused(jobs).await >= super::WAIT_PER_HASHER * 2);
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
