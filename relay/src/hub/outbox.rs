//! A connection's send queue: unbounded in frames, but its byte count is visible to the
//! producers, so each can decide what to do when a peer falls behind (pause the session,
//! refuse input, let a hopeless browser go) instead of the relay growing without bound.
//!
//! Frames are `Utf8Bytes` (reference-counted): a connector's `stdout` frame is forwarded to
//! several browsers and kept in the replay ring without being copied.
//!
//! The other direction has a brake too: sessions can `hold` a connection's reads. A connector
//! that does not understand `pause` (the reference Go connector) is paused this way: the relay
//! stops reading its socket, TCP's window closes, and its writes to us block, which stops it
//! reading its PTYs — nothing lost, nothing buffered here.
//!
//! This is the seam for scale-out: for a browser attached through another relay of the cluster
//! the queue is drained by a publisher to NATS instead of a socket, and its bytes count until
//! that relay says it wrote them (`cluster/remote.rs`); producers only see `Outbox::send`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
// futures' channel allocates per message; tokio's preallocates a block of 32 slots (1.3 KiB),
// which thousands of idle connectors would each carry for nothing.
use futures_channel::mpsc;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

pub enum Out {
    Frame(Utf8Bytes),
    /// Close the socket with this code and reason after the frames queued before it.
    Close(u16, &'static str),
}

/// Told when a connection's queue has drained (flow control resumes on it).
pub trait Drain: Send + Sync {
    fn drained(&self);
    /// Bytes left the queue (whether or not it drained): a relay forwarding for another
    /// relay tells it how far its browser has read.
    fn sent(&self) {}
}

struct Shared {
    queued: AtomicUsize,
    /// Set by `kill`: close now, without waiting for queued frames.
    kill: Notify,
    kill_reason: Mutex<Option<(u16, &'static str)>>,
    watch: OnceLock<Arc<dyn Drain>>,
    /// Sessions that want this connection's reads stopped, and the wake-up when none does.
    holds: AtomicUsize,
    released: Notify,
    /// When the peer was last heard from (ms since `epoch`): silence means a dead peer, unless
    /// we are the ones not listening.
    epoch: Instant,
    heard: AtomicU64,
}

#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Out>,
    shared: Arc<Shared>,
}

pub struct Inbox {
    pub rx: mpsc::UnboundedReceiver<Out>,
    pub signals: Signals,
}

/// The writer's side of the queue's counters and kill switch (apart from `rx`, so both can be
/// awaited at once).
#[derive(Clone)]
pub struct Signals(Arc<Shared>);

pub fn channel() -> (Outbox, Inbox) {
    let (tx, rx) = mpsc::unbounded();
    let shared = Arc::new(Shared {
        queued: AtomicUsize::new(0),
        kill: Notify::new(),
        kill_reason: Mutex::new(None),
        watch: OnceLock::new(),
        holds: AtomicUsize::new(0),
        released: Notify::new(),
        epoch: Instant::now(),
        heard: AtomicU64::new(0),
    });
    (Outbox { tx, shared: shared.clone() }, Inbox { rx, signals: Signals(shared) })
}

impl Outbox {
    /// Queues a frame; returns the bytes now waiting (0 if the connection is gone).
    pub fn send(&self, frame: impl Into<Utf8Bytes>) -> usize {
        let frame = frame.into();
        let len = frame.len();
        let before = self.shared.queued.fetch_add(len, Ordering::AcqRel);
        if self.tx.unbounded_send(Out::Frame(frame)).is_err() {
            self.shared.queued.fetch_sub(len, Ordering::AcqRel);
            return 0;
        }
        before + len
    }

    /// Closes after everything queued so far has been sent.
    pub fn close(&self, code: u16, reason: &'static str) {
        let _ = self.tx.unbounded_send(Out::Close(code, reason));
    }

    /// Closes now, dropping what is queued (a peer that stopped reading).
    pub fn kill(&self, code: u16, reason: &'static str) {
        *self.shared.kill_reason.lock().unwrap_or_else(|e| e.into_inner()) = Some((code, reason));
        self.shared.kill.notify_one();
    }

    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    pub fn same(&self, other: &Outbox) -> bool {
        self.tx.same_receiver(&other.tx)
    }

    /// Registers who to tell when this queue drains (once per connection).
    pub fn watch(&self, w: Arc<dyn Drain>) {
        let _ = self.shared.watch.set(w);
    }

    /// Asks the connection to stop reading from its peer (until every hold is released).
    pub fn hold(&self) {
        self.shared.holds.fetch_add(1, Ordering::AcqRel);
    }

    pub fn release(&self) {
        if self.shared.holds.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.heard();
            self.shared.released.notify_waiters();
        }
    }

    pub fn is_held(&self) -> bool {
        self.shared.holds.load(Ordering::Acquire) > 0
    }

    /// Resolves when no hold is left.
    pub async fn released(&self) {
        loop {
            let wake = self.shared.released.notified();
            let mut wake = std::pin::pin!(wake);
            // Registered before the check, so a release in between still wakes us.
            wake.as_mut().enable();
            if !self.is_held() {
                return;
            }
            wake.await;
        }
    }

    /// Records that the peer just said something.
    pub fn heard(&self) {
        self.shared.heard.store(self.shared.epoch.elapsed().as_millis() as u64, Ordering::Release);
    }
}

impl Signals {
    /// Records that `len` bytes left the queue, telling the watcher when it drains below `low`.
    pub fn sent(&self, len: usize, low: usize) {
        let before = self.0.queued.fetch_sub(len, Ordering::AcqRel);
        let Some(w) = self.0.watch.get() else { return };
        if before >= low && before - len < low {
            w.drained();
        }
        w.sent();
    }

    /// How long the peer has been silent; zero while its reads are held (it cannot be heard).
    pub fn silent_for(&self) -> Duration {
        if self.0.holds.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        let heard = Duration::from_millis(self.0.heard.load(Ordering::Acquire));
        self.0.epoch.elapsed().saturating_sub(heard)
    }

    /// Resolves when `Outbox::kill` was called; yields its close code and reason.
    pub async fn killed(&self) -> (u16, &'static str) {
        self.0.kill.notified().await;
        self.0.kill_reason.lock().unwrap_or_else(|e| e.into_inner()).unwrap_or((1011, "closed"))
    }
}
