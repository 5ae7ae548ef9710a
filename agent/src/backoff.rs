//! How long to wait before the next attempt to reach the relay.
//!
//! 1, 2, 4, 8, 16, then 30 s for every further attempt, each plus up to a quarter of itself
//! at random so a relay restart is not met by every connector in the same second. The link
//! resets the schedule after a connection that stayed up, so a single drop on a healthy link
//! is retried after about a second.

use std::time::Duration;

const STEPS_SECS: [u64; 6] = [1, 2, 4, 8, 16, 30];

#[derive(Default)]
pub struct Backoff {
    attempt: usize,
}

impl Backoff {
    pub fn next_delay(&mut self) -> Duration {
        let base_ms = STEPS_SECS[self.attempt.min(STEPS_SECS.len() - 1)] * 1000;
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis(base_ms + crate::random::u64() % (base_ms / 4 + 1))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_thirty_seconds_with_bounded_jitter() {
        let mut b = Backoff::default();
        for base in [1, 2, 4, 8, 16, 30, 30, 30] {
            let d = b.next_delay().as_millis() as u64;
            assert!(d >= base * 1000 && d <= base * 1250, "{d} ms for a {base} s step");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(1250));
    }
}
