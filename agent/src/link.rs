//! The link to the relay: connect, say hello, carry frames both ways, come back after a loss.
//!
//! One connection at a time. It opens with `hello` (credentials, meta, and the sessions still
//! alive from an earlier link) and waits for `hello_ok`. Then, until the socket fails, the
//! reader hands every frame to `sessions.rs`, the writer drains `outbox.rs`, and the pinger
//! asks for a WebSocket ping every `PING_EVERY`. A link that stays silent for
//! `SILENCE_LIMIT` is dead (half-open TCP) and dropped. After a loss the sessions keep
//! running, their output buffered, for the relay's grace period, and the link retries with
//! `backoff.rs`. Close codes 4001 and 4004 stop the connector instead: no retry could succeed.
//! Close 4010 (a relay of a cluster draining) reconnects at once: another relay is ready.
//!
//! In AI-node mode (`node/`) the same link also carries the relay's commands, which the
//! reader hands to the node, and a `heartbeat` every 15 s after `hello_ok`. A lost link
//! stops the node's running requests; a `restart` command ends the link like a shutdown.

use crate::backoff::Backoff;
use crate::config::Config;
use crate::frame;
use crate::log::{debug, info};
use crate::node::Node;
use crate::notify::Latch;
use crate::outbox::Outbox;
use crate::sessions::Sessions;
use crate::transport::{self, Endpoint, Stream, Tls};
use async_tungstenite::WebSocketReceiver;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use privaclaw_proto::kind::{self, close, reason};
use privaclaw_proto::{ErrorData, Hello, HelloOk, Meta, encode};
use smol::Timer;
use smol::future::{or, yield_now};
use smol::stream::StreamExt;
use std::rc::Rc;
use std::time::{Duration, Instant};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// The relay must answer `hello` (it allows itself 10 s to receive it).
const HELLO_TIMEOUT: Duration = Duration::from_secs(20);
/// The relay pings every 20 s; our pings make sure something flows in both directions.
const PING_EVERY: Duration = Duration::from_secs(15);
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// A link that lasted this long was healthy: its loss starts the backoff over.
const STABLE: Duration = Duration::from_secs(30);
/// How long the relay keeps sessions of a lost connector when `hello_ok` does not say.
const DEFAULT_GRACE: Duration = Duration::from_secs(600);
/// How long shutdown waits to tell the relay that the sessions end.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the connector stops.
pub enum Stop {
    /// SIGTERM or SIGINT.
    Shutdown,
    /// Close 4001: the relay no longer accepts these credentials.
    RePair,
    /// Close 4004: another connector with the same credentials took over.
    Replaced,
    /// An AI node's `restart` command: run the connector again.
    Restart,
}

enum Outcome {
    Lost(String),
    /// Close 4010: this relay is draining (a rolling upgrade); another is ready now.
    Moved,
    Stop(Stop),
}

/// `{relay_url}/connect`; a relay URL that already ends in `/connect` is taken as it is.
pub fn connect_endpoint(relay_url: &str) -> Result<Endpoint, String> {
    let endpoint = Endpoint::parse(relay_url)?;
    let path = endpoint.path.split('?').next().unwrap_or_default();
    Ok(if path.trim_end_matches('/').ends_with("/connect") { endpoint } else { endpoint.join("connect") })
}

pub struct Link<'a> {
    pub endpoint: Endpoint,
    pub config: &'a Config,
    /// `hello.meta.name`.
    pub name: String,
    pub tls: &'a Tls,
    pub sessions: &'a Rc<Sessions>,
    /// AI-node mode, if the config has a `node` object.
    pub node: Option<&'a Rc<Node>>,
    pub outbox: &'a Outbox,
    pub shutdown: &'a Latch,
}

impl Link<'_> {
    pub async fn run(&self) -> Stop {
        let mut backoff = Backoff::default();
        let mut grace = DEFAULT_GRACE;
        let mut lost_at = Instant::now();
        loop {
            let connect = async {
                let timeout = async {
                    Timer::after(CONNECT_TIMEOUT).await;
                    Err("timed out".to_owned())
                };
                Some(or(transport::websocket(&self.endpoint, self.tls), timeout).await)
            };
            let stopped = async {
                self.shutdown.wait().await;
                None
            };
            match or(connect, stopped).await {
                None => return Stop::Shutdown,
                Some(Err(e)) => info!("cannot reach the relay at {}: {e}", self.endpoint.authority()),
                Some(Ok(ws)) => {
                    let (outcome, up_since) = self.serve(ws, &mut grace).await;
                    match outcome {
                        Outcome::Stop(stop) => return stop,
                        Outcome::Lost(why) => info!("lost the relay: {why}"),
                        // Once per working link, so a relay that keeps saying it cannot make
                        // this loop spin.
                        Outcome::Moved if up_since.is_some() => {
                            info!("the relay is draining: reconnecting at once");
                            lost_at = Instant::now();
                            continue;
                        }
                        Outcome::Moved => info!("the relay is draining"),
                    }
                    if let Some(up_since) = up_since {
                        if up_since.elapsed() >= STABLE {
                            backoff.reset();
                        }
                        lost_at = Instant::now();
                    }
                }
            }
            if lost_at.elapsed() >= grace && !self.sessions.is_empty() {
                info!("the relay has been away longer than the session grace period: ending sessions");
                self.sessions.end_all(None);
            }
            let delay = backoff.next_delay();
            debug!("reconnecting in {} ms", delay.as_millis());
            let waited = async {
                Timer::after(delay).await;
                false
            };
            if or(waited, async {
                self.shutdown.wait().await;
                true
            })
            .await
            {
                return Stop::Shutdown;
            }
        }
    }

    /// One connection, from `hello` to its end. Returns how it ended and, if `hello_ok`
    /// came, when.
    async fn serve(
        &self,
        ws: async_tungstenite::WebSocketStream<Stream>,
        grace: &mut Duration,
    ) -> (Outcome, Option<Instant>) {
        let (mut tx, mut rx) = ws.split();
        if let Err(e) = tx.send(Message::text(self.hello())).await {
            return (Outcome::Lost(e.to_string()), None);
        }
        let stopped = async {
            self.shutdown.wait().await;
            Err(Outcome::Stop(Stop::Shutdown))
        };
        let hello_ok = match or(self.await_hello_ok(&mut rx), stopped).await {
            Ok(ok) => ok,
            Err(outcome) => return (outcome, None),
        };
        // Only our relay answers with `session_grace`, and only it skips what a resend repeats.
        if hello_ok.session_grace.is_some() {
            self.sessions.resend_kept();
        }
        *grace = hello_ok.session_grace.map_or(DEFAULT_GRACE, Duration::from_secs);
        self.sessions.link_up(hello_ok.workdir);
        self.outbox.set_online(true);
        let up_since = Instant::now();
        info!("connected to {} as device {}", self.endpoint.authority(), self.config.device_id);

        let reader = async {
            loop {
                match next_message(&mut rx, SILENCE_LIMIT).await {
                    Ok(Message::Text(text)) => self.dispatch(&text),
                    Ok(Message::Close(frame)) => return closed(frame, false),
                    Ok(_) => {}
                    Err(why) => return Outcome::Lost(why),
                }
                // Let the writer and the sessions run between frames of a burst.
                yield_now().await;
            }
        };
        let writer = async {
            loop {
                let message = self.outbox.next().await;
                if let Err(e) = tx.send(message).await {
                    return Outcome::Lost(e.to_string());
                }
                yield_now().await;
            }
        };
        let pinger = async {
            loop {
                Timer::after(PING_EVERY).await;
                self.outbox.ping();
                self.sessions.forget_idle();
            }
        };
        // Node mode: a heartbeat every interval, and `restart` ends the link.
        let node = async {
            let Some(node) = self.node else {
                return std::future::pending().await;
            };
            let restart = async {
                node.restart.wait().await;
                Outcome::Stop(Stop::Restart)
            };
            let heartbeat = async {
                loop {
                    Timer::after(node.heartbeat_every()).await;
                    self.outbox.send(node.heartbeat());
                }
            };
            or(restart, heartbeat).await
        };
        let stopped = async {
            self.shutdown.wait().await;
            Outcome::Stop(Stop::Shutdown)
        };
        let outcome = or(stopped, or(node, or(reader, or(writer, pinger)))).await;

        // The relay has failed the requests in flight already; their processes go.
        if let Some(node) = self.node {
            node.end_all();
        }
        if let Outcome::Stop(stop @ (Stop::Shutdown | Stop::Restart)) = &outcome {
            self.sessions.end_all(Some(reason::SHUTDOWN));
            let farewell = async {
                while let Some(frame) = self.outbox.take_control() {
                    tx.send(Message::text(frame)).await?;
                }
                let why = if matches!(stop, Stop::Restart) { "restart" } else { "shutdown" };
                let bye = CloseFrame { code: CloseCode::Normal, reason: why.into() };
                tx.close(Some(bye)).await
            };
            let timeout = async {
                Timer::after(FAREWELL_TIMEOUT).await;
                Ok(())
            };
            let _ = or(farewell, timeout).await;
        }
        self.outbox.set_online(false);
        (outcome, Some(up_since))
    }

    fn hello(&self) -> String {
        let (ids, offsets) = self.sessions.ids();
        let hello = Hello {
            device_id: Some(self.config.device_id.clone()),
            node_id: None,
            token: Some(self.config.token.clone()),
            meta: Some(Meta {
                name: Some(self.name.clone()),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
                os: Some(std::env::consts::OS.to_owned()),
                arch: Some(std::env::consts::ARCH.to_owned()),
                kind: self.node.map(|_| "node".to_owned()),
            }),
            sessions: Some(ids),
            offsets: Some(offsets),
        };
        encode(kind::HELLO, Some(&hello))
    }

    /// Hands a relay frame to the node (its commands) or to the sessions (everything else).
    fn dispatch(&self, text: &str) {
        let Some(kind) = frame::kind(text) else {
            info!("ignored a malformed frame ({} bytes)", text.len());
            return;
        };
        match (kind.as_str(), self.node) {
            (kind::PROMPT | kind::WORKFLOW | kind::STATUS | kind::RESTART, Some(node)) => node.dispatch(&kind, text),
            _ => self.sessions.handle(&kind, text),
        }
    }

    async fn await_hello_ok(&self, rx: &mut WebSocketReceiver<Stream>) -> Result<HelloOk, Outcome> {
        // The relay sends `error {code: "auth_failed"}` before closing with 4001; should the
        // close frame get lost, the error alone must still stop us.
        let mut refused = false;
        loop {
            let text = match next_message(rx, HELLO_TIMEOUT).await {
                Ok(Message::Text(text)) => text,
                Ok(Message::Close(frame)) => return Err(closed(frame, refused)),
                Ok(_) => continue,
                Err(why) => {
                    return Err(match refused {
                        true => Outcome::Stop(Stop::RePair),
                        false => Outcome::Lost(why),
                    });
                }
            };
            match frame::kind(&text).as_deref() {
                // `data` is optional (the reference relay sends `workdir`, ours `session_grace`).
                Some(kind::HELLO_OK) => return Ok(frame::data(&text).unwrap_or_default()),
                Some(kind::ERROR) => {
                    let error: ErrorData = frame::data(&text).unwrap_or_default();
                    info!("the relay refused hello: {}", error.message);
                    refused |= error.code.as_deref() == Some("auth_failed");
                }
                _ => debug!("ignored a frame before hello_ok ({} bytes)", text.len()),
            }
        }
    }
}

/// The next message, or why there is none: an error, the end of the stream, or `silence`.
async fn next_message(rx: &mut WebSocketReceiver<Stream>, silence: Duration) -> Result<Message, String> {
    let next = async {
        match rx.next().await {
            Some(Ok(message)) => Ok(message),
            Some(Err(e)) => Err(e.to_string()),
            None => Err("connection closed".to_owned()),
        }
    };
    let quiet = async {
        Timer::after(silence).await;
        Err(format!("nothing heard for {} s", silence.as_secs()))
    };
    or(next, quiet).await
}

fn closed(frame: Option<CloseFrame>, refused: bool) -> Outcome {
    let code = frame.as_ref().map(|f| u16::from(f.code));
    match code {
        Some(close::AUTH_FAILED) => Outcome::Stop(Stop::RePair),
        Some(close::REPLACED) => Outcome::Stop(Stop::Replaced),
        Some(close::MOVED) => Outcome::Moved,
        _ if refused => Outcome::Stop(Stop::RePair),
        Some(code) => Outcome::Lost(format!("closed by the relay (code {code})")),
        None => Outcome::Lost("closed by the relay".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_url_is_derived_from_the_relay_url() {
        let path = |url: &str| connect_endpoint(url).unwrap().path;
        assert_eq!(path("wss://relay.example"), "/connect");
        assert_eq!(path("https://relay.example/"), "/connect");
        assert_eq!(path("ws://127.0.0.1:9/connect"), "/connect");
        assert_eq!(path("wss://relay.example/r1"), "/r1/connect");
    }
}
