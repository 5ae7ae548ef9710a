//! A browser on one relay (the *proxy*) whose session lives on another (its *home*).
//!
//! The proxy checks the browser's `auth` as usual, finds the device held elsewhere, and sends
//! the `auth` frame to the home (`open`). The home runs the browser endpoint itself on a
//! *guest*: the same checks again, `auth_ok`, the replay and live output, input to the
//! connector. The guest's outbox is drained by a publisher instead of a socket, and its bytes
//! stay counted until the proxy says its browser's socket took them (`ack`), so a browser that
//! stops reading fills its queue on the home exactly as if it were attached there: the session
//! pauses at the same marks and the browser is cut off (4008) at the same limit, and neither
//! relay holds more than that for it.
//!
//! Frames each way carry a sequence number: NATS keeps order but may drop on a lost link, and a
//! gap closes the browser (1012), which resumes from its offset and gets the missing bytes from
//! the replay — never a hole in a terminal.

use super::{Cluster, Open, lock};
use crate::app::App;
use crate::hub::live::LOW;
use crate::hub::outbox::{self, Drain, Out, Outbox};
use crate::hub::socket::{self, Peer, Step};
use bytes::{BufMut, Bytes, BytesMut};
use futures_channel::mpsc;
use futures_util::StreamExt;
use privaclaw_proto::kind::close;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Utf8Bytes;

// A message is one kind byte, a number, and for frames the frame's text.
const FRAME: u8 = b'f'; // number: sequence
const ACK: u8 = b'a'; // number: bytes of frames the proxy's browser has been sent so far
const CLOSE: u8 = b'x'; // number: close code, after the frames before it
const KILL: u8 = b'k'; // number: close code, at once
const BYE: u8 = b'b'; // the browser went away

/// A proxy acknowledges at least this much at a time (or whatever is left when its queue is
/// empty), so acks cost one small message per 16 KiB of output.
const ACK_EVERY: u64 = 16 * 1024;
/// A publish NATS cannot take in this long ends the guest (NATS is down).
const PUBLISH_PATIENCE: Duration = Duration::from_secs(5);

fn wire(kind: u8, n: u64, body: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(9 + body.len());
    b.put_u8(kind);
    b.put_u64(n);
    b.put_slice(body);
    b.freeze()
}

/// A message from the other relay.
pub enum In {
    Frame(u64, Utf8Bytes),
    Ack(u64),
    Close(u16),
    Kill(u16),
    Bye,
    Bad,
}

impl In {
    pub fn from_wire(b: Bytes) -> In {
        if b.len() < 9 {
            return In::Bad;
        }
        let n = u64::from_be_bytes(b[1..9].try_into().expect("eight bytes"));
        match b[0] {
            FRAME => Utf8Bytes::try_from(b.slice(9..)).map_or(In::Bad, |t| In::Frame(n, t)),
            ACK => In::Ack(n),
            CLOSE => In::Close(n as u16),
            KILL => In::Kill(n as u16),
            BYE => In::Bye,
            _ => In::Bad,
        }
    }
}

/// The reason sent with a close code that came from another relay: the `error` frame before
/// it says the rest.
fn reason(code: u16) -> &'static str {
    match code {
        close::AUTH_FAILED => "auth failed",
        close::SESSION_INVALID => "session invalid",
        close::CONNECTOR_OFFLINE => "connector offline or access revoked",
        close::JOIN_REQUIRED => "join required",
        close::TOO_SLOW => "too slow: reconnect with offset to resume",
        close::RESTARTING => "relay restarting",
        close::MOVED => "moved: reconnect now",
        close::PROTOCOL => "protocol error",
        1000 => "session ended",
        _ => "closed",
    }
}

/// A browser here, attached to a session on another relay.
pub struct Proxy {
    pub conn: u64,
    pub home: String,
    pub device_id: String,
    cluster: Arc<Cluster>,
    /// The browser's queue; taken when the proxy ends (it watches the queue: a cycle).
    out: Mutex<Option<Outbox>>,
    next_in: AtomicU64,
    next_out: AtomicU64,
    /// Bytes of the home's frames put in the browser's queue, and acknowledged to the home.
    delivered: AtomicU64,
    acked: AtomicU64,
}

impl Proxy {
    /// Asks `home` to attach this browser with its `auth` frame. `None` if NATS refused.
    pub async fn start(
        cluster: &Arc<Cluster>,
        conn: u64,
        home: String,
        device_id: String,
        out: &Outbox,
        auth: &Utf8Bytes,
    ) -> Option<Arc<Proxy>> {
        let p = Arc::new(Proxy {
            conn,
            home,
            device_id,
            cluster: cluster.clone(),
            out: Mutex::new(Some(out.clone())),
            next_in: AtomicU64::new(0),
            next_out: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            acked: AtomicU64::new(0),
        });
        lock(&cluster.proxies).insert(conn, p.clone());
        out.watch(p.clone());
        let open = Open { from: cluster.me.clone(), conn, auth: auth.to_string() };
        let json = serde_json::to_vec(&open).unwrap_or_default();
        if !cluster.publish(cluster.to(&p.home, "open"), json.into()).await {
            p.detach();
            return None;
        }
        Some(p)
    }

    fn subject(&self) -> String {
        self.cluster.to(&self.home, &format!("g.{}.{}", self.cluster.me, self.conn))
    }

    /// A frame from the browser, for its session's home.
    pub async fn forward(&self, text: &Utf8Bytes) {
        let seq = self.next_out.fetch_add(1, Ordering::AcqRel);
        self.cluster.publish(self.subject(), wire(FRAME, seq, text.as_bytes())).await;
    }

    /// The browser went away: the home lets its guest go.
    pub async fn bye(&self) {
        self.detach();
        self.cluster.publish(self.subject(), wire(BYE, 0, &[])).await;
    }

    /// What the home sent.
    pub fn deliver(&self, payload: Bytes) {
        let Some(out) = lock(&self.out).clone() else { return };
        match In::from_wire(payload) {
            In::Frame(seq, text) => {
                if seq != self.next_in.fetch_add(1, Ordering::AcqRel) {
                    tracing::warn!(relay = %self.home, "frames from another relay were lost on the way: the browser resumes from its offset");
                    self.close(close::RESTARTING);
                    return;
                }
                let len = text.len() as u64;
                out.send(text);
                self.delivered.fetch_add(len, Ordering::AcqRel);
            }
            In::Close(code) => self.close(code),
            In::Kill(code) => {
                if let Some(out) = self.detach() {
                    out.kill(code, reason(code));
                }
            }
            _ => {}
        }
    }

    /// Closes the browser (after what is queued) with `code`; the proxy ends.
    pub fn close(&self, code: u16) {
        if let Some(out) = self.detach() {
            out.close(code, reason(code));
        }
    }

    fn detach(&self) -> Option<Outbox> {
        lock(&self.cluster.proxies).remove(&self.conn);
        lock(&self.out).take()
    }
}

impl Drain for Proxy {
    fn drained(&self) {}

    /// The browser's socket took some bytes: past `ACK_EVERY`, or once its queue is empty,
    /// the home hears how much (a running total, so acks may overtake each other).
    fn sent(&self) {
        let Some(queued) = lock(&self.out).as_ref().map(|o| o.queued() as u64) else { return };
        let done = self.delivered.load(Ordering::Acquire).saturating_sub(queued);
        let last = self.acked.load(Ordering::Acquire);
        if done > last && (done - last >= ACK_EVERY || queued == 0) {
            self.acked.fetch_max(done, Ordering::AcqRel);
            let (c, subject) = (self.cluster.clone(), self.subject());
            tokio::spawn(async move { c.publish(subject, wire(ACK, done, &[])).await });
        }
    }
}

/// A browser of another relay to attach here: its guest runs until either side ends it.
pub(super) fn open_guest(app: Arc<App>, c: Arc<Cluster>, open: Open) {
    let key = format!("{}.{}", open.from, open.conn);
    let (tx, rx) = mpsc::unbounded();
    lock(&c.guests).insert(key.clone(), tx);
    tokio::spawn(async move {
        let subject = c.to(&open.from, &format!("p.{}", open.conn));
        guest(crate::hub::guest_peer(app), c.clone(), subject, open.auth.into(), rx).await;
        lock(&c.guests).remove(&key);
    });
}

/// Runs the browser endpoint `peer` for a browser of another relay: `auth` first, then what
/// arrives on `rx`; what it sends goes back on `subject`.
pub async fn guest<P: Peer>(
    mut peer: P,
    c: Arc<Cluster>,
    subject: String,
    auth: Utf8Bytes,
    mut rx: mpsc::UnboundedReceiver<In>,
) {
    let (out, inbox) = outbox::channel();
    let signals = inbox.signals.clone();
    let mut writer = tokio::spawn(write(c, subject, inbox));
    let mut writer_done = false;
    let (mut acked, mut expect) = (0u64, 0u64);
    let mut step = socket::handle_text(&mut peer, &out, &auth).await;
    while let Step::Continue = step {
        let msg = tokio::select! {
            m = rx.next() => m,
            _ = &mut writer => {
                writer_done = true;
                break;
            }
        };
        step = match msg {
            Some(In::Frame(seq, text)) if seq == expect => {
                expect += 1;
                socket::handle_text(&mut peer, &out, &text).await
            }
            Some(In::Frame(..)) => Step::Close(close::RESTARTING, "relay restarting"),
            Some(In::Ack(total)) => {
                if total > acked {
                    signals.sent((total - acked) as usize, LOW);
                    acked = total;
                }
                Step::Continue
            }
            Some(In::Bye) | None => break,
            Some(_) => Step::Continue,
        };
    }
    if let Step::Close(code, reason) = step {
        out.close(code, reason);
    }
    Box::pin(peer.on_close()).await;
    drop(out);
    if !writer_done && tokio::time::timeout(Duration::from_secs(5), &mut writer).await.is_err() {
        writer.abort();
    }
}

/// Drains a guest's queue to its proxy. Bytes stay counted until the proxy acknowledges them.
async fn write(c: Arc<Cluster>, subject: String, mut inbox: outbox::Inbox) {
    let mut seq = 0u64;
    loop {
        let next = tokio::select! {
            biased;
            (code, _) = inbox.signals.killed() => {
                c.publish(subject, wire(KILL, code.into(), &[])).await;
                return;
            }
            o = inbox.rx.recv() => o.ok(),
        };
        match next {
            None => return,
            Some(Out::Frame(f)) => {
                let sent =
                    tokio::time::timeout(PUBLISH_PATIENCE, c.publish(subject.clone(), wire(FRAME, seq, f.as_bytes())));
                seq += 1;
                if !matches!(sent.await, Ok(true)) {
                    return;
                }
            }
            Some(Out::Close(code, _)) => {
                c.publish(subject, wire(CLOSE, code.into(), &[])).await;
                return;
            }
        }
    }
}
