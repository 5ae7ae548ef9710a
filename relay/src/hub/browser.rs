//! `/session`: browsers. The first frame must be `auth` (access token, session id); the
//! token's sign-in must be active, the session active and its device in one of the user's
//! projects, and a session someone else started is attached to only with `join: true` (they
//! are told, and the history records it). Then the browser gets `auth_ok`, the replay of what
//! it missed, and live output; its `stdin`/`resize` go to the connector, for its own session
//! only. The socket is closed (4003) as soon as its person's access ends.
//!
//! In a cluster, a session whose device is held by another relay is reached through it: this
//! socket becomes a proxy (`cluster/remote.rs`) and that relay runs this same endpoint, as a
//! *guest*, on the frames forwarded to it.

use super::frames::{self, RawFrame};
use super::live::{self, LinkError, Live, Who};
use super::outbox::{Drain, Outbox};
use super::socket::{self, HANDSHAKE, Peer, Step};
use crate::api::filters::with;
use crate::app::App;
use crate::cluster::Proxy;
use base64::Engine;
use privaclaw_proto::{Auth, AuthOk, Output, Resize, SessionEnd, SessionRef, SessionStart, encode, kind};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

pub fn route(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    warp::path!("session")
        .and(socket::upgrade())
        .and(with(app))
        .map(|up: socket::Upgrade, app: Arc<App>| {
            let viewer = app.hub.next_id();
            let ping = Duration::from_secs(app.config.ping_interval);
            up.reply("browsers", BrowserPeer::new(app, viewer, false), ping)
        })
        .boxed()
}

/// The endpoint for a browser that another relay of the cluster forwards here.
pub fn guest_peer(app: Arc<App>) -> impl socket::Peer {
    let viewer = app.hub.next_id();
    BrowserPeer::new(app, viewer, true)
}

struct BrowserPeer {
    app: Arc<App>,
    viewer: u64,
    opened: Instant,
    live: Option<Arc<Live>>,
    /// Who authenticated: user id and email (who ended the session, if they do).
    person: Option<(String, String)>,
    /// The session lives on another relay: frames go there.
    remote: Option<Arc<Proxy>>,
    /// Another relay forwards this browser (so it is never forwarded on again).
    guest: bool,
}

impl BrowserPeer {
    fn new(app: Arc<App>, viewer: u64, guest: bool) -> BrowserPeer {
        BrowserPeer { app, viewer, opened: Instant::now(), live: None, person: None, remote: None, guest }
    }
}

impl Drain for Live {
    fn drained(&self) {
        Live::drained(self)
    }
}

/// Terminal sizes outside this range are refused.
const MAX_DIM: u16 = 1000;

impl Peer for BrowserPeer {
    fn deadline(&self) -> Option<Instant> {
        (self.live.is_none() && self.remote.is_none()).then(|| self.opened + HANDSHAKE)
    }

    fn low_water(&self) -> usize {
        live::LOW
    }

    async fn on_frame(&mut self, out: &Outbox, frame: &RawFrame<'_>, text: &Utf8Bytes) -> Step {
        if let Some(proxy) = &self.remote {
            proxy.forward(text).await;
            return Step::Continue;
        }
        match self.live.clone() {
            None => self.auth(out, frame, text).await,
            Some(live) => self.route(out, &live, frame, text).await,
        }
    }

    async fn on_close(&mut self) {
        if let Some(live) = &self.live {
            live.detach(self.viewer);
        }
        if let Some(proxy) = &self.remote {
            proxy.bye().await;
        }
    }
}

const UNAVAILABLE: &str = "The relay's database is unavailable; retry shortly.";

fn fail(out: &Outbox, code: u16, err: &'static str, message: &str) -> Step {
    out.send(frames::error(message, Some(err), None));
    Step::Close(code, err)
}

impl BrowserPeer {
    async fn auth(&mut self, out: &Outbox, frame: &RawFrame<'_>, text: &Utf8Bytes) -> Step {
        use kind::close;
        if frame.kind == kind::PING {
            out.send(encode(kind::PONG, None));
            return Step::Continue;
        }
        if frame.kind != kind::AUTH {
            out.send(frames::error("Send auth first", Some("auth_required"), None));
            return Step::Continue;
        }
        let auth: Auth = match frames::data(frame) {
            Ok(a) => a,
            Err(msg) => {
                return fail(
                    out,
                    close::AUTH_FAILED,
                    "auth_failed",
                    &format!("{msg}: auth needs token and session_id"),
                );
            }
        };
        let user = match crate::api::filters::authenticate(&self.app, &auth.token).await {
            Ok(u) => u,
            Err(e) if e.status == warp::http::StatusCode::UNAUTHORIZED => {
                return fail(out, close::AUTH_FAILED, "auth_failed", &format!("Auth failed: {}", e.message));
            }
            Err(_) => return fail(out, 1011, "unavailable", UNAVAILABLE),
        };
        let invalid =
            "Session invalid: it does not exist, has ended, or is not in one of your projects. Start a new session.";
        let session = match self.app.db.session(&auth.session_id).await {
            Ok(Some(s)) if s.status == "active" => s,
            Ok(_) => return fail(out, close::SESSION_INVALID, "session_invalid", invalid),
            Err(e) => {
                tracing::error!(error = %e, "database error during auth");
                return fail(out, 1011, "unavailable", UNAVAILABLE);
            }
        };
        match self.app.db.role(&session.project_id, &user.id).await {
            Ok(Some(_)) => {}
            Ok(None) => return fail(out, close::SESSION_INVALID, "session_invalid", invalid),
            Err(_) => return fail(out, 1011, "unavailable", UNAVAILABLE),
        }
        let joined = session.user_id != user.id;
        if joined && auth.join != Some(true) {
            let starter = match self.app.db.user_by_id(&session.user_id).await {
                Ok(Some(u)) => u.email,
                _ => "another member".into(),
            };
            let msg = format!(
                "This session was started by {starter}. To join it, authenticate again with \"join\": true; {starter} will see that you joined."
            );
            return fail(out, close::JOIN_REQUIRED, "join_required", &msg);
        }
        if auth.device_id.as_deref().is_some_and(|d| !d.is_empty() && d != session.device_id) {
            return fail(
                out,
                close::SESSION_INVALID,
                "session_invalid",
                "Session invalid: device_id does not match this session's device.",
            );
        }
        let cols = auth.cols.filter(|c| (1..=MAX_DIM).contains(c)).unwrap_or(80);
        let rows = auth.rows.filter(|r| (1..=MAX_DIM).contains(r)).unwrap_or(24);
        let Some((live, created)) = self.app.hub.open(&session, cols, rows) else {
            return self.elsewhere(out, &session.device_id, text).await;
        };
        out.watch(live.clone());
        let ok = |r: &super::replay::Replay| -> Utf8Bytes {
            let data = AuthOk {
                session_id: Some(session.id.clone()),
                device_id: Some(session.device_id.clone()),
                resumed: Some(!created),
                offset: Some(r.offset),
                dropped: Some(r.dropped),
            };
            encode(kind::AUTH_OK, Some(&data)).into()
        };
        let who = Who { user_id: user.id.clone(), email: user.email.clone(), sign_in: user.session_id.clone(), joined };
        if !live.attach(self.viewer, who, out.clone(), ok, auth.offset) {
            return fail(out, close::SESSION_INVALID, "session_invalid", invalid);
        }
        self.live = Some(live.clone());
        self.person = Some((user.id.clone(), user.email.clone()));
        // Access may have ended while we were checking it: the revocation then found no
        // browser to close. Looked up again now that this one is attached, either the check
        // or the revocation sees it.
        let still = self.app.db.sign_in_active(&user.session_id, &user.id).await.unwrap_or(false)
            && matches!(self.app.db.role(&session.project_id, &user.id).await, Ok(Some(_)));
        if !still {
            live.cut(|w| w.sign_in == user.session_id, "Your access to this session ended: sign in again.");
            return Step::Continue;
        }
        if joined && let Err(e) = self.app.db.record_join(&session.id, &user.id).await {
            tracing::warn!(error = %e, "cannot record who joined a session");
        }
        tracing::info!(session = %session.id, user = %user.id, resumed = !created, joined, "browser attached");
        Step::Continue
    }

    /// The session is not here and its device's connector is not connected here: through the
    /// relay that holds it, if another relay of the cluster does; else the device is offline.
    async fn elsewhere(&mut self, out: &Outbox, device_id: &str, auth: &Utf8Bytes) -> Step {
        use kind::close;
        let holder = match &self.app.cluster {
            Some(c) => self.app.db.holder(device_id).await.ok().flatten().filter(|h| *h != c.me).map(|h| (c, h)),
            None => None,
        };
        let Some((cluster, home)) = holder else {
            return fail(
                out,
                close::CONNECTOR_OFFLINE,
                "connector_offline",
                "Connector offline: the device is not connected. Start relay-connector on it, then reconnect.",
            );
        };
        if self.guest {
            // It moved on while the browser was being forwarded here: the browser retries.
            return fail(out, close::MOVED, "moved", "The device just moved to another relay: reconnect now.");
        }
        if !cluster.reachable(&home) {
            return fail(
                out,
                1013,
                "cluster_unavailable",
                &format!(
                    "The device is connected to another relay of this cluster ({home}), which cannot be reached right now: retry in a few seconds."
                ),
            );
        }
        match Proxy::start(cluster, self.viewer, home, device_id.to_string(), out, auth).await {
            Some(proxy) => {
                self.remote = Some(proxy);
                Step::Continue
            }
            None => fail(
                out,
                1013,
                "cluster_unavailable",
                "The relays of this cluster cannot reach each other right now (NATS): retry in a few seconds.",
            ),
        }
    }

    /// Refuses a frame naming another session than this socket's.
    fn mine(&self, out: &Outbox, live: &Live, named: &str) -> bool {
        if named == live.id {
            return true;
        }
        let msg = format!("This socket is for session {}; a frame named another session and was dropped.", live.id);
        out.send(frames::error(&msg, Some("wrong_session"), Some(&live.id)));
        false
    }

    fn forward(&self, out: &Outbox, live: &Live, frame: impl Into<Utf8Bytes>) {
        let why = match live.to_connector(frame) {
            Ok(()) => return,
            Err(LinkError::Offline) => (
                "device_offline",
                "The device is offline: this input was not delivered. It will be accepted again when the device reconnects.",
            ),
            Err(LinkError::Busy) => {
                ("busy", "The device is not keeping up: this input was dropped. Try again in a moment.")
            }
            Err(LinkError::Ended) => ("session_ended", "The session has ended."),
        };
        out.send(frames::error(why.1, Some(why.0), Some(&live.id)));
    }

    async fn route(&mut self, out: &Outbox, live: &Arc<Live>, frame: &RawFrame<'_>, text: &Utf8Bytes) -> Step {
        let bad = |msg: String| {
            out.send(frames::error(&msg, Some("bad_frame"), Some(&live.id)));
            Step::Continue
        };
        match frame.kind.as_ref() {
            kind::PING => {
                out.send(encode(kind::PONG, None));
            }
            kind::STDIN => match frames::data::<Output>(frame) {
                Ok(o) if self.mine(out, live, &o.session_id) => {
                    if base64::engine::general_purpose::STANDARD.decode(&o.data_b64).is_err() {
                        return bad("stdin data_b64 is not valid base64".into());
                    }
                    self.forward(out, live, text.clone());
                }
                Ok(_) => {}
                Err(msg) => return bad(msg),
            },
            kind::RESIZE | kind::SESSION_START => {
                let r = if frame.kind == kind::RESIZE {
                    frames::data::<Resize>(frame)
                } else {
                    frames::data::<SessionStart>(frame).map(|s| Resize {
                        session_id: s.session_id,
                        cols: s.cols,
                        rows: s.rows,
                        probe: None,
                    })
                };
                match r {
                    Ok(r) if self.mine(out, live, &r.session_id) => {
                        let ok = |d: Option<u16>| d.is_some_and(|d| (1..=MAX_DIM).contains(&d));
                        if !ok(r.cols) || !ok(r.rows) {
                            return bad(format!("{} needs cols and rows between 1 and {MAX_DIM}", frame.kind));
                        }
                        // The PTY already runs (the relay started it on auth): a browser's own
                        // session_start is a resize.
                        self.forward(out, live, encode(kind::RESIZE, Some(&r)));
                    }
                    Ok(_) => {}
                    Err(msg) => return bad(msg),
                }
            }
            kind::SESSION_END => match frames::data::<SessionEnd>(frame) {
                Ok(e) if self.mine(out, live, &e.session_id) => {
                    let reason = e.reason.unwrap_or_default();
                    if reason.is_empty() || reason == kind::reason::BROWSER_DISCONNECTED {
                        return Step::Close(1000, "detached");
                    }
                    let (user, email) = self.person.clone().unwrap_or_default();
                    let ending = super::Ending { reason: &reason, status: None, by: Some((&user, &email)) };
                    self.app.hub.end_session(&live.id, ending, true).await;
                }
                Ok(_) => {}
                Err(msg) => return bad(msg),
            },
            kind::PAUSE | kind::RESUME => match frames::data::<SessionRef>(frame) {
                Ok(r) if self.mine(out, live, &r.session_id) => {
                    live.set_viewer_paused(self.viewer, frame.kind == kind::PAUSE)
                }
                Ok(_) => {}
                Err(msg) => return bad(msg),
            },
            other => {
                let shown: String = other.chars().take(32).collect();
                out.send(frames::error(&format!("unknown message type '{shown}'"), Some("unknown_type"), None));
            }
        }
        Step::Continue
    }
}
