//! Rate limits against guessing and flooding: per client address (sign-in, sign-up, pairing),
//! for everyone together (wrong pairing codes), and per account (failed sign-ins).
//!
//! An IPv6 client is keyed by its /64: one host is usually given a whole /64 and can pick any
//! address in it, so keying by address would give it 2^64 budgets.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The key an address is limited under: IPv4 as it is, IPv6 by its /64.
pub fn key(ip: IpAddr) -> IpAddr {
    match crate::proxy::canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64))),
        v4 => v4,
    }
}

fn quota(per_minute: u32) -> Quota {
    let n = NonZeroU32::new(per_minute.max(1)).expect("at least one");
    Quota::per_minute(n).allow_burst(n)
}

pub struct Limiter {
    inner: DefaultKeyedRateLimiter<IpAddr>,
}

impl Limiter {
    /// Allows `per_minute` attempts per address, all of them at once if need be.
    pub fn per_minute(per_minute: u32) -> Limiter {
        Limiter { inner: RateLimiter::keyed(quota(per_minute)) }
    }

    /// True if this attempt is allowed.
    pub fn check(&self, addr: IpAddr) -> bool {
        self.inner.check_key(&key(addr)).is_ok()
    }

    /// Forgets addresses whose budget is full again, so the table does not grow forever.
    pub fn prune(&self) {
        self.inner.retain_recent();
    }
}

/// Failures per key (an account's email; "" for a budget everyone shares) in a sliding window:
/// once `limit` of them fall within `window`, the key is blocked until the oldest one leaves
/// the window. A success may clear a key.
pub struct Failures {
    limit: usize,
    window: Duration,
    seen: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Failures {
    pub fn new(limit: u32, window: Duration) -> Failures {
        Failures { limit: limit.max(1) as usize, window, seen: Mutex::default() }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while `key` has used up its failures.
    pub fn blocked(&self, key: &str) -> bool {
        self.seen().get(key).is_some_and(|t| t.len() >= self.limit && t[0].elapsed() < self.window)
    }

    pub fn fail(&self, key: &str) {
        let mut seen = self.seen();
        let times = seen.entry(key.to_string()).or_default();
        times.push_back(Instant::now());
        while times.len() > self.limit {
            times.pop_front();
        }
    }

    pub fn clear(&self, key: &str) {
        self.seen().remove(key);
    }

    /// Forgets keys whose failures have all left the window.
    pub fn prune(&self) {
        let window = self.window;
        self.seen().retain(|_, t| t.back().is_some_and(|last| last.elapsed() < window));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(key(a), key(b));
        assert_ne!(key(a), key(other));
        let l = Limiter::per_minute(2);
        assert!(l.check(a) && l.check(b));
        assert!(!l.check("2001:db8:1:2::77".parse().unwrap()), "a third address of the same /64 is over");
        assert!(l.check(other));
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(key(v4), v4);
        assert_eq!(key("::ffff:192.0.2.1".parse().unwrap()), v4);
    }

    #[test]
    fn failures_block_a_key_until_cleared() {
        let f = Failures::new(3, Duration::from_secs(900));
        for _ in 0..2 {
            f.fail("a@example.com");
        }
        assert!(!f.blocked("a@example.com"));
        f.fail("a@example.com");
        assert!(f.blocked("a@example.com"));
        assert!(!f.blocked("b@example.com"), "per account");
        f.clear("a@example.com");
        assert!(!f.blocked("a@example.com"));
        let short = Failures::new(1, Duration::ZERO);
        short.fail("x");
        assert!(!short.blocked("x"), "the window passed");
        short.prune();
        assert!(short.seen().is_empty());
    }
}
