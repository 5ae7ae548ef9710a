//! Randomness that needs no secrecy (reconnect jitter, the WebSocket handshake nonce): std's
//! per-process random SipHash keys, rather than a `rand` crate.

use std::hash::{BuildHasher, RandomState};
use std::time::Instant;

/// Each call builds new keys from the process's random seed, so successive values differ.
pub fn u64() -> u64 {
    RandomState::new().hash_one(Instant::now())
}
