//! The WebSocket plumbing both endpoints share: the HTTP upgrade (with small buffers, so an
//! idle connection costs a few KiB), and the connection loop — a reader that hands each text
//! frame to the endpoint's [`Peer`] (and stops reading while a session holds the connection,
//! see `outbox.rs`), and a writer task that drains the [`Outbox`], batches frames, pings every
//! 15 s and closes a peer it has not heard from in 45 s.
//!
//! The writer is its own task so a peer that stops reading blocks only its own writes: the
//! producers see the queue grow and react, and `Outbox::kill` cuts such a peer off — with a
//! close frame it does receive, once it has read what was already on its way.

use super::frames::RawFrame;
use super::outbox::{self, Inbox, Out, Outbox};
use futures_util::SinkExt;
use futures_util::stream::{SplitSink, StreamExt};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use warp::Filter;
use warp::http::{StatusCode, header};
use warp::reply::Response;

pub type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Pings missed after which a peer is presumed dead (a half-open TCP connection).
const DEAD_AFTER_PINGS: u32 = 3;
/// Frames a browser or connector must send first (`hello`/`auth`) arrive within this.
pub const HANDSHAKE: Duration = Duration::from_secs(10);
/// A batch of queued frames written before one flush.
const BATCH: usize = 256 * 1024;
/// How long a peer cut off for being slow gets to read up to its close frame. It is slow, not
/// gone: a close it never sees looks like a network failure (1006), and it would not know to
/// resume. The socket costs only its buffers meanwhile.
const SLOW_CLOSE: Duration = Duration::from_secs(30);

/// WebSocket connections open now, and the wake-up when the last one closes (shutdown waits
/// for it).
static OPEN: AtomicUsize = AtomicUsize::new(0);
static LAST_CLOSED: Notify = Notify::const_new();

struct Counted;

impl Counted {
    fn new() -> Counted {
        OPEN.fetch_add(1, Ordering::AcqRel);
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if OPEN.fetch_sub(1, Ordering::AcqRel) == 1 {
            LAST_CLOSED.notify_waiters();
        }
    }
}

/// WebSocket connections open now.
pub fn open() -> usize {
    OPEN.load(Ordering::Acquire)
}

/// Resolves when no WebSocket connection is open any more, or after `limit`.
pub async fn all_closed(limit: Duration) {
    let wait = async {
        loop {
            let wake = LAST_CLOSED.notified();
            let mut wake = std::pin::pin!(wake);
            wake.as_mut().enable();
            if OPEN.load(Ordering::Acquire) == 0 {
                return;
            }
            wake.await;
        }
    };
    let _ = tokio::time::timeout(limit, wait).await;
}

/// What the reader should do after a frame.
pub enum Step {
    Continue,
    /// Send what is queued, then close with this code and reason.
    Close(u16, &'static str),
}

/// An endpoint's handling of one connection.
pub trait Peer: Send {
    /// Until when the peer may stay silent (before `hello`/`auth`), if there is a limit.
    fn deadline(&self) -> Option<Instant>;
    /// A frame arrived that parsed as a frame (bad JSON is answered before it gets here).
    fn on_frame(&mut self, out: &Outbox, frame: &RawFrame<'_>, text: &Utf8Bytes) -> impl Future<Output = Step> + Send;
    fn on_close(&mut self) -> impl Future<Output = ()> + Send;
    /// Queue level under which the watcher (if any) hears that the queue drained.
    fn low_water(&self) -> usize {
        0
    }
}

/// The request parts an upgrade needs.
pub struct Upgrade {
    key: Option<String>,
    is_websocket: bool,
    on_upgrade: Option<OnUpgrade>,
}

/// Matches any GET; `Upgrade::reply` answers 426 with a clear message if it is not a
/// WebSocket handshake.
pub fn upgrade() -> impl Filter<Extract = (Upgrade,), Error = warp::Rejection> + Clone {
    warp::get()
        .and(warp::header::optional::<String>("sec-websocket-key"))
        .and(warp::header::optional::<String>("upgrade"))
        .and(warp::header::optional::<String>("sec-websocket-version"))
        .and(warp::ext::optional::<OnUpgrade>())
        .map(|key, upgrade: Option<String>, version: Option<String>, on_upgrade| Upgrade {
            key,
            is_websocket: upgrade.is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
                && version.as_deref() == Some("13"),
            on_upgrade,
        })
}

impl Upgrade {
    /// Completes the handshake and runs `peer` on the socket in its own task, pinging it every
    /// `ping`.
    pub fn reply<P: Peer + 'static>(self, what: &str, peer: P, ping: Duration) -> Response {
        let (Some(key), true, Some(on_upgrade)) = (self.key, self.is_websocket, self.on_upgrade) else {
            let body = serde_json::json!({
                "error": "websocket_required",
                "message": format!("This is the WebSocket endpoint for {what}: connect with a WebSocket client (ws:// or wss://), not plain HTTP."),
            });
            let mut res = warp::reply::json(&body).into_response();
            *res.status_mut() = StatusCode::UPGRADE_REQUIRED;
            return res;
        };
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let config = WebSocketConfig::default()
                        .read_buffer_size(4096)
                        .write_buffer_size(16 * 1024)
                        .max_message_size(Some(2 * super::frames::MAX_FRAME))
                        .max_frame_size(Some(2 * super::frames::MAX_FRAME));
                    let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
                    serve(ws, peer, ping).await;
                }
                Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
            }
        });
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        let mut res = Response::new(Default::default());
        *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = res.headers_mut();
        h.insert(header::CONNECTION, header::HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, header::HeaderValue::from_static("websocket"));
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept.parse().expect("base64 is a valid header value"));
        res
    }
}

use warp::Reply;

/// Runs one connection until either side closes it.
async fn serve<P: Peer>(ws: Ws, mut peer: P, ping: Duration) {
    let _counted = Counted::new();
    let (out, inbox) = outbox::channel();
    let (sink, mut stream) = ws.split();
    let mut writer = tokio::spawn(write_loop(sink, inbox, peer.low_water(), ping));
    // A JoinHandle must not be polled again once it has completed (tokio panics).
    let mut writer_done = false;
    loop {
        let deadline = peer.deadline();
        if out.is_held() {
            tokio::select! {
                _ = out.released() => continue,
                _ = &mut writer => {
                    writer_done = true;
                    break;
                }
            }
        }
        let msg = tokio::select! {
            m = stream.next() => m,
            _ = &mut writer => {
                writer_done = true;
                break;
            }
            _ = sleep_until(deadline) => {
                out.close(privaclaw_proto::kind::close::PROTOCOL, "no hello or auth within 10 seconds");
                break;
            }
        };
        out.heard();
        match msg {
            Some(Ok(Message::Text(text))) => {
                if let Step::Close(code, reason) = handle_text(&mut peer, &out, &text).await {
                    out.close(code, reason);
                    break;
                }
            }
            Some(Ok(Message::Binary(_))) => {
                out.send(super::frames::error(
                    "binary frames are not part of the protocol: send JSON text frames",
                    Some("bad_frame"),
                    None,
                ));
            }
            Some(Ok(Message::Close(_))) | None => break,
            Some(Ok(_)) => {} // ping (answered by tungstenite), pong: liveness only
            Some(Err(e)) => {
                tracing::debug!(error = %e, "websocket read error");
                break;
            }
        }
    }
    Box::pin(peer.on_close()).await;
    // Let the writer deliver a close frame, but never wait on a peer that does not read.
    drop(out);
    if !writer_done && tokio::time::timeout(Duration::from_secs(5), &mut writer).await.is_err() {
        writer.abort();
    }
}

/// One text frame from a peer: from its socket, or a browser's that another relay of the
/// cluster forwards. Too large or not a frame: the peer is told and the frame dropped.
pub async fn handle_text<P: Peer>(peer: &mut P, out: &Outbox, text: &Utf8Bytes) -> Step {
    if text.len() > super::frames::MAX_FRAME {
        let msg = format!("frame of {} bytes refused: the limit is {} bytes", text.len(), super::frames::MAX_FRAME);
        out.send(super::frames::error(&msg, Some("too_large"), None));
        return Step::Continue;
    }
    match super::frames::parse(text) {
        // Boxed: the rare, large futures (hello, database calls) live on the heap only while
        // they run, not in every idle connection's task.
        Ok(frame) => Box::pin(peer.on_frame(out, &frame, text)).await,
        Err(msg) => {
            out.send(super::frames::error(&msg, Some("bad_frame"), None));
            Step::Continue
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

async fn write_loop(mut sink: SplitSink<Ws, Message>, mut inbox: Inbox, low: usize, every: Duration) {
    let mut ping = tokio::time::interval_at((Instant::now() + every).into(), every);
    // How long the close frame may take: a peer killed for being slow gets longer.
    let mut patience = Duration::from_secs(2);
    let close = loop {
        let next = tokio::select! {
            biased;
            reason = inbox.signals.killed() => {
                patience = SLOW_CLOSE;
                break Some(reason);
            }
            o = inbox.rx.recv() => o.ok(),
            _ = ping.tick() => {
                let silent = inbox.signals.silent_for();
                if silent > every * DEAD_AFTER_PINGS {
                    tracing::debug!("peer silent for {}s: closing", silent.as_secs());
                    break None;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break None;
                }
                continue;
            }
        };
        match next {
            None => break Some((1000, "")),
            Some(Out::Close(code, reason)) => break Some((code, reason)),
            Some(Out::Frame(first)) => {
                let mut len = first.len();
                let mut then_close = None;
                let mut batch = vec![first];
                while len < BATCH {
                    match inbox.rx.try_recv() {
                        Ok(Out::Frame(f)) => {
                            len += f.len();
                            batch.push(f);
                        }
                        Ok(Out::Close(code, reason)) => {
                            then_close = Some((code, reason));
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let write = async {
                    for f in batch {
                        sink.feed(Message::Text(f)).await?;
                    }
                    sink.flush().await
                };
                let written = tokio::select! {
                    biased;
                    reason = inbox.signals.killed() => {
                        patience = SLOW_CLOSE;
                        break Some(reason);
                    }
                    r = write => r.is_ok(),
                };
                inbox.signals.sent(len, low);
                if !written {
                    break None;
                }
                if then_close.is_some() {
                    break then_close;
                }
            }
        }
    };
    if let Some((code, reason)) = close {
        // Whatever was mid-write when the writer stopped is finished first (the sink keeps it),
        // then the close frame: the peer reads up to it and learns why.
        let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
        let _ = tokio::time::timeout(patience, sink.send(Message::Close(Some(frame)))).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
}
