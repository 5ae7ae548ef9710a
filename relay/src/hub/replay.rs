//! The bounded replay buffer of one session: the newest output frames, up to
//! `--replay-per-session` of terminal bytes, kept in memory only, so a browser that reconnects
//! (or reloads) gets what it missed. Frames are stored as forwarded (base64 JSON text),
//! indexed by the byte offset of their output within the session, so a browser that says "I
//! have N bytes" gets exactly the rest.
//!
//! All rings count the memory they hold against one [`Budget`] (`--replay-budget`); past it
//! the hub empties the rings of the sessions nobody has watched for longest.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// The replay limits and the memory all rings hold together.
pub struct Budget {
    /// Terminal bytes one ring keeps.
    pub per_session: u64,
    /// Frame bytes all rings may hold together.
    pub total: u64,
    used: AtomicU64,
}

impl Budget {
    pub fn new(per_session: u64, total: u64) -> Arc<Budget> {
        Arc::new(Budget { per_session, total, used: AtomicU64::new(0) })
    }

    /// Frame bytes held by every ring now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    pub fn over(&self) -> bool {
        self.used() > self.total
    }
}

pub struct Ring {
    frames: VecDeque<(u64, u64, Utf8Bytes)>,
    /// Terminal bytes held.
    held: u64,
    /// Terminal bytes the session has produced so far.
    end: u64,
    budget: Arc<Budget>,
}

impl Drop for Ring {
    fn drop(&mut self) {
        self.clear();
    }
}

/// What a resuming browser gets.
pub struct Replay {
    pub frames: Vec<Utf8Bytes>,
    /// Output offset of the first replayed byte.
    pub offset: u64,
    /// Bytes the browser asked for that are no longer held.
    pub dropped: u64,
    /// Bytes at the front of the first frame the browser already has (its offset fell inside
    /// that frame, as after a connector's resend re-cut the output): to be cut off.
    pub cut: u64,
}

impl Ring {
    pub fn new(budget: Arc<Budget>) -> Ring {
        Ring { frames: VecDeque::new(), held: 0, end: 0, budget }
    }

    pub fn push(&mut self, frame: Utf8Bytes, bytes: u64) {
        self.budget.used.fetch_add(frame.len() as u64, Ordering::AcqRel);
        self.frames.push_back((self.end, bytes, frame));
        self.end += bytes;
        self.held += bytes;
        while self.held > self.budget.per_session && self.frames.len() > 1 {
            self.pop();
        }
    }

    fn pop(&mut self) {
        let (_, b, f) = self.frames.pop_front().expect("non-empty");
        self.held -= b;
        self.budget.used.fetch_sub(f.len() as u64, Ordering::AcqRel);
    }

    /// Lets go of everything held (the budget needs it elsewhere); offsets carry on.
    pub fn clear(&mut self) {
        while !self.frames.is_empty() {
            self.pop();
        }
    }

    /// Bytes of output produced so far (the offset of the next byte).
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Output up to `offset` was lost (a relay restart): the next byte is at `offset`.
    pub fn skip_to(&mut self, offset: u64) {
        self.end = self.end.max(offset);
    }

    fn start(&self) -> u64 {
        self.frames.front().map_or(self.end, |f| f.0)
    }

    /// Frames from output offset `from` on (everything held when `None`).
    pub fn since(&self, from: Option<u64>) -> Replay {
        let start = self.start();
        let want = from.unwrap_or(start).clamp(start, self.end);
        // The first frame that ends after `want`: it may begin before it.
        let first = self.frames.iter().position(|(off, len, _)| off + len > want).unwrap_or(self.frames.len());
        let frames: Vec<Utf8Bytes> = self.frames.iter().skip(first).map(|(_, _, f)| f.clone()).collect();
        let offset = self.frames.get(first).map_or(self.end, |f| f.0);
        Replay {
            frames,
            offset,
            dropped: from.map_or(0, |f| start.saturating_sub(f)),
            cut: want.saturating_sub(offset),
        }
    }
}

/// Terminal bytes carried by a base64 string, without decoding it.
pub fn decoded_len(b64: &str) -> u64 {
    let pad = b64.bytes().rev().take_while(|&b| b == b'=').count() as u64;
    (b64.len() as u64 / 4 * 3).saturating_sub(pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Utf8Bytes {
        Utf8Bytes::from(s.to_string())
    }

    #[test]
    fn decoded_length_matches_base64() {
        assert_eq!(decoded_len(""), 0);
        assert_eq!(decoded_len("YQ=="), 1);
        assert_eq!(decoded_len("YWI="), 2);
        assert_eq!(decoded_len("YWJj"), 3);
    }

    fn ring() -> Ring {
        Ring::new(Budget::new(LIMIT, u64::MAX))
    }

    const LIMIT: u64 = 1024 * 1024;

    #[test]
    fn replays_from_an_offset_and_reports_drops() {
        let mut r = ring();
        r.push(f("a"), 10);
        r.push(f("b"), 20);
        r.push(f("c"), 30);
        let all = r.since(None);
        assert_eq!((all.frames.len(), all.offset, all.dropped), (3, 0, 0));
        let rest = r.since(Some(10));
        assert_eq!(rest.frames, vec![f("b"), f("c")]);
        assert_eq!(rest.offset, 10);
        let none = r.since(Some(60));
        assert!(none.frames.is_empty());
        assert_eq!(none.offset, 60);
        let inside = r.since(Some(15));
        assert_eq!((inside.frames.len(), inside.offset, inside.cut), (2, 10, 5), "from inside frame b");
    }

    #[test]
    fn keeps_at_most_the_limit_and_drops_oldest() {
        let mut r = ring();
        for _ in 0..5 {
            r.push(f("x"), LIMIT / 2);
        }
        assert!(r.held <= LIMIT);
        let rep = r.since(Some(0));
        assert_eq!(rep.frames.len(), 2);
        assert_eq!(rep.offset, 3 * LIMIT / 2);
        assert_eq!(rep.dropped, 3 * LIMIT / 2);
    }

    #[test]
    fn every_ring_counts_against_the_budget_until_it_lets_go() {
        let budget = Budget::new(LIMIT, 10);
        let mut a = Ring::new(budget.clone());
        let mut b = Ring::new(budget.clone());
        a.push(f("12345"), 3);
        b.push(f("123456"), 4);
        assert_eq!(budget.used(), 11);
        assert!(budget.over());
        a.clear();
        assert_eq!((budget.used(), a.end()), (6, 3), "cleared, offsets kept");
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}
