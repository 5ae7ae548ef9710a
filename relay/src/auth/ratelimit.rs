//! Rate limits against guessing and flooding: per client address (sign-in, sign-up, pairing),
//! for everyone together (wrong pairing codes), and per account (failed sign-ins).
//!
//! A relay alone counts in memory. The relays of a cluster count together in the database
//! (`Limiter::shared`, `Failures::shared`), in fixed windows, so a client cannot multiply its
//! budget by the number of relays behind the load balancer; should the database not answer,
//! each relay falls back to its own count.
//!
//! An IPv6 client is keyed by its /64: one host is usually given a whole /64 and can pick any
//! address in it, so keying by address would give it 2^64 budgets.

use crate::store::Db;
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
    per_minute: u32,
    shared: Option<Shared>,
}

/// Where a cluster's relays count together, and under which name.
struct Shared {
    db: Db,
    name: &'static str,
}

impl Limiter {
    /// Allows `per_minute` attempts per address, all of them at once if need be.
    pub fn per_minute(per_minute: u32) -> Limiter {
        Limiter { inner: RateLimiter::keyed(quota(per_minute)), per_minute, shared: None }
    }

    /// Counts in the database, under `name`, with the other relays of the cluster.
    pub fn shared(mut self, db: Option<&Db>, name: &'static str) -> Limiter {
        self.shared = db.map(|db| Shared { db: db.clone(), name });
        self
    }

    /// True if this attempt is allowed.
    pub async fn check(&self, addr: IpAddr) -> bool {
        if let Some(s) = &self.shared
            && let Ok(n) = s.db.hit(&format!("{}:{}", s.name, key(addr)), 60).await
        {
            return n <= i64::from(self.per_minute);
        }
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
    shared: Option<Shared>,
}

impl Failures {
    pub fn new(limit: u32, window: Duration) -> Failures {
        Failures { limit: limit.max(1) as usize, window, seen: Mutex::default(), shared: None }
    }

    /// Counts in the database, under `name`, with the other relays of the cluster.
    pub fn shared(mut self, db: Option<&Db>, name: &'static str) -> Failures {
        self.shared = db.map(|db| Shared { db: db.clone(), name });
        self
    }

    fn shared_key(&self, key: &str) -> Option<(&Db, String, i64)> {
        let s = self.shared.as_ref()?;
        Some((&s.db, format!("{}:{key}", s.name), self.window.as_secs().max(1) as i64))
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while `key` has used up its failures.
    pub async fn blocked(&self, key: &str) -> bool {
        if let Some((db, k, window)) = self.shared_key(key)
            && let Ok(n) = db.hits(&k, window).await
        {
            return n >= self.limit as i64;
        }
        self.seen().get(key).is_some_and(|t| t.len() >= self.limit && t[0].elapsed() < self.window)
    }

    pub async fn fail(&self, key: &str) {
        if let Some((db, k, window)) = self.shared_key(key)
            && db.hit(&k, window).await.is_ok()
        {
            return;
        }
        let mut seen = self.seen();
        let times = seen.entry(key.to_string()).or_default();
        times.push_back(Instant::now());
        while times.len() > self.limit {
            times.pop_front();
        }
    }

    pub async fn clear(&self, key: &str) {
        if let Some((db, k, _)) = self.shared_key(key) {
            let _ = db.forget_hits(&k).await;
        }
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

    #[tokio::test]
    async fn ipv6_is_keyed_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(key(a), key(b));
        assert_ne!(key(a), key(other));
        let l = Limiter::per_minute(2);
        assert!(l.check(a).await && l.check(b).await);
        assert!(!l.check("2001:db8:1:2::77".parse().unwrap()).await, "a third address of the same /64 is over");
        assert!(l.check(other).await);
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(key(v4), v4);
        assert_eq!(key("::ffff:192.0.2.1".parse().unwrap()), v4);
    }

    #[tokio::test]
    async fn failures_block_a_key_until_cleared() {
        let f = Failures::new(3, Duration::from_secs(900));
        for _ in 0..2 {
            f.fail("a@example.com").await;
        }
        assert!(!f.blocked("a@example.com").await);
        f.fail("a@example.com").await;
        assert!(f.blocked("a@example.com").await);
        assert!(!f.blocked("b@example.com").await, "per account");
        f.clear("a@example.com").await;
        assert!(!f.blocked("a@example.com").await);
        let short = Failures::new(1, Duration::ZERO);
        short.fail("x").await;
        assert!(!short.blocked("x").await, "the window passed");
        short.prune();
        assert!(short.seen().is_empty());
    }
}
