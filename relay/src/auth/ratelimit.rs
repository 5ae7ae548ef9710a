//! Per-client-address rate limits for sign-in and pairing (brute-force protection).

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;

pub struct Limiter {
    inner: DefaultKeyedRateLimiter<IpAddr>,
}

impl Limiter {
    /// Allows `per_minute` attempts per address, all of them at once if need be.
    pub fn per_minute(per_minute: u32) -> Limiter {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap();
        Limiter { inner: RateLimiter::keyed(Quota::per_minute(n).allow_burst(n)) }
    }

    /// True if this attempt is allowed.
    pub fn check(&self, addr: IpAddr) -> bool {
        self.inner.check_key(&addr).is_ok()
    }

    /// Forgets addresses whose budget is full again, so the table does not grow forever.
    pub fn prune(&self) {
        self.inner.retain_recent();
    }
}
