//! `/connect`: connectors and AI nodes. The first frame must be `hello` (device id or node id
//! plus token); then the connector's frames are routed to the sessions of its device: `stdout`
//! fans out (forwarded as received, payload never decoded), `session_started`/`error` go to
//! that session's browsers, `session_end` ends the session, `meta_update` reaches every browser
//! of the device, heartbeats update the node's health.

use super::frames::{self, OutputRef, RawFrame, SessionRefRef};
use super::socket::{self, HANDSHAKE, Peer, Step};
use super::{Alive, Hub, Link, live::Live, outbox::Outbox, replay::decoded_len};
use crate::api::filters::{client_ip, with};
use crate::app::App;
use crate::auth::secrets;
use crate::store;
use privaclaw_proto::{Heartbeat, Hello, HelloOk, SessionEnd, encode, kind};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

pub fn route(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    warp::path!("connect")
        .and(socket::upgrade())
        .and(with(app))
        .and(client_ip(app))
        .map(|up: socket::Upgrade, app: Arc<App>, ip: IpAddr| {
            let hub = app.hub.clone();
            let ping = Duration::from_secs(app.config.ping_interval);
            up.reply("connectors", ConnectorPeer { app, hub, ip, opened: Instant::now(), link: None }, ping)
        })
        .boxed()
}

struct ConnectorPeer {
    app: Arc<App>,
    hub: Arc<Hub>,
    ip: IpAddr,
    opened: Instant,
    link: Option<Arc<Link>>,
}

const AUTH_FAILED: &str = "Auth failed: this device id and token are not valid (the device may have been deleted or \
     paired again). Pair the connector again: relay-connector --pair CODE.";

impl Peer for ConnectorPeer {
    fn deadline(&self) -> Option<Instant> {
        self.link.is_none().then(|| self.opened + HANDSHAKE)
    }

    async fn on_frame(&mut self, out: &Outbox, frame: &RawFrame<'_>, text: &Utf8Bytes) -> Step {
        match self.link.clone() {
            None => self.hello(out, frame).await,
            Some(link) => {
                self.route(&link, frame, text).await;
                Step::Continue
            }
        }
    }

    async fn on_close(&mut self) {
        match &self.link {
            Some(link) => self.hub.unregister(link).await,
            // The reference app's "test connection" opens and closes without a word: fine.
            None => tracing::debug!(ip = %self.ip, "connector socket closed before hello"),
        }
    }
}

impl ConnectorPeer {
    async fn hello(&mut self, out: &Outbox, frame: &RawFrame<'_>) -> Step {
        if frame.kind != kind::HELLO {
            out.send(frames::error("Send hello first", Some("hello_required"), None));
            return Step::Continue;
        }
        let hello: Hello = match frames::data(frame) {
            Ok(h) => h,
            Err(msg) => {
                out.send(frames::error(&msg, Some("bad_frame"), None));
                return Step::Close(kind::close::AUTH_FAILED, "bad hello");
            }
        };
        let (Some(id), Some(token)) = (hello.device_id.or(hello.node_id), hello.token) else {
            out.send(frames::error("Missing device_id or token in hello", Some("auth_failed"), None));
            return Step::Close(kind::close::AUTH_FAILED, "missing device_id or token");
        };
        let device = match self.app.db.device_auth(&id).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "database error during hello");
                out.send(frames::error(
                    "The relay's database is unavailable; retry shortly.",
                    Some("unavailable"),
                    None,
                ));
                return Step::Close(1011, "database unavailable");
            }
        };
        let valid = device
            .as_ref()
            .and_then(|d| d.device_token.as_deref())
            .is_some_and(|stored| secrets::same(stored, &secrets::hash(&token)));
        let Some(device) = device.filter(|_| valid) else {
            tracing::info!(ip = %self.ip, "connector authentication failed");
            out.send(frames::error(AUTH_FAILED, Some("auth_failed"), None));
            return Step::Close(kind::close::AUTH_FAILED, "Auth failed");
        };
        let meta = hello.meta.unwrap_or_default();
        let link = Arc::new(Link {
            id: self.hub.next_id(),
            device_id: device.id,
            project_id: device.project_id,
            name: device.name,
            kind: meta.kind.filter(|k| !k.is_empty() && k.len() <= 32).unwrap_or_else(|| "connector".into()),
            resumable: hello.sessions.is_some(),
            out: out.clone(),
            connected_at: store::now_iso(),
            node: Default::default(),
        });
        let ok = HelloOk { workdir: None, session_grace: Some(self.hub.grace.as_secs()) };
        let ok = encode(kind::HELLO_OK, Some(&ok));
        let alive: Option<Vec<Alive>> = hello.sessions.map(|ids| {
            let offsets = hello.offsets.filter(|o| o.len() == ids.len());
            ids.into_iter().enumerate().map(|(i, id)| Alive { id, offset: offsets.as_ref().map(|o| o[i]) }).collect()
        });
        self.hub.register(link.clone(), alive.as_deref(), ok).await;
        self.link = Some(link);
        Step::Continue
    }

    /// The session a frame names, if it is one of this device's.
    fn own(&self, link: &Link, session_id: &str) -> Option<Arc<Live>> {
        self.hub.live(session_id).filter(|l| l.device_id == link.device_id)
    }

    async fn route(&self, link: &Link, frame: &RawFrame<'_>, text: &Utf8Bytes) {
        match frame.kind.as_ref() {
            kind::STDOUT => match frames::data::<OutputRef>(frame) {
                Ok(o) => match self.own(link, &o.session_id) {
                    Some(live) => {
                        live.output(text.clone(), decoded_len(&o.data_b64));
                        self.hub.trim_replays();
                    }
                    None => tracing::debug!("stdout for a session this device does not have"),
                },
                Err(e) => tracing::debug!(error = %e, "bad stdout frame from a connector"),
            },
            kind::SESSION_STARTED | kind::ERROR => {
                let named = frames::data::<SessionRefRef>(frame).ok().and_then(|r| r.session_id);
                match named.and_then(|id| self.own(link, &id)) {
                    Some(live) => live.broadcast(text.clone()),
                    None if frame.kind == kind::ERROR => {
                        tracing::debug!("connector reported an error")
                    }
                    None => {}
                }
            }
            kind::SESSION_END => {
                if let Ok(end) = frames::data::<SessionEnd>(frame) {
                    let reason = end.reason.filter(|r| !r.is_empty()).unwrap_or_else(|| kind::reason::EXIT.into());
                    if self.own(link, &end.session_id).is_some() || self.owns_row(link, &end.session_id).await {
                        let ending = super::Ending { reason: &reason, status: end.status, by: None };
                        self.hub.end_session(&end.session_id, ending, false).await;
                    }
                }
            }
            kind::META_UPDATE => {
                let mut data = frame
                    .data
                    .and_then(|d| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(d.get()).ok())
                    .unwrap_or_default();
                data.insert("device_id".into(), link.device_id.clone().into());
                let out: Utf8Bytes = serde_json::json!({"type": kind::DEVICE_META, "data": data}).to_string().into();
                for live in self.hub.lives_of(&link.device_id) {
                    live.broadcast(out.clone());
                }
            }
            kind::HEARTBEAT => match frames::data::<Heartbeat>(frame) {
                Ok(hb) => {
                    let health = link.node.beat(hb);
                    let mut event = serde_json::to_value(&health).unwrap_or_default();
                    event["device_id"] = link.device_id.clone().into();
                    event["project_id"] = link.project_id.clone().into();
                    self.app.events.project("node", &link.project_id, event);
                }
                Err(e) => tracing::debug!(error = %e, "bad heartbeat from a node"),
            },
            kind::RESPONSE => match frames::data::<privaclaw_proto::Response>(frame) {
                Ok(r) => link.node.answer(r),
                Err(e) => tracing::debug!(error = %e, "bad response frame from a node"),
            },
            kind::PING => {
                link.out.send(encode(kind::PONG, None));
            }
            other => {
                tracing::debug!(kind = %clip(other), "ignoring a frame type connectors do not send")
            }
        }
    }

    /// A session row of this device that the hub no longer runs (e.g. after a relay restart).
    async fn owns_row(&self, link: &Link, session_id: &str) -> bool {
        matches!(self.app.db.session(session_id).await, Ok(Some(s)) if s.device_id == link.device_id)
    }
}

/// A peer-supplied string, shortened for a log line.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(32) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
