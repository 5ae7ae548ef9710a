//! The WebSocket hub: who is connected, which sessions run, and where each frame goes.
//!
//! Connectors dial `/connect` and become a [`Link`] (one per device); browsers dial
//! `/session` and attach to a [`Live`] session. Frames flow connector → `Live` (fan-out, replay
//! ring, flow control) → browsers' outboxes, and browser → `Live::to_connector` → the link's
//! outbox. Every destination is an [`outbox::Outbox`]; that is where a frame would instead be
//! published to another relay instance when several share the load.
//!
//! The hub keeps the database's view in step: device presence, session rows, and realtime
//! events. Terminal bytes only ever pass through memory, in amounts the replay budget bounds.
//! When someone's access ends, [`Hub::revoke`] closes their browsers at once.
//!
//! In a cluster (`crate::cluster`) the actions that must reach sockets wherever they are
//! (revoke, evict, end) are also sent to every relay, which does them with the `_here`
//! variants; a connector registering here tells the others it moved.

mod browser;
mod connector;
mod frames;
pub mod live;
pub mod nodes;
pub mod outbox;
pub mod replay;
pub mod socket;

pub use browser::{guest_peer, route as session_route};
pub use connector::route as connect_route;

use crate::cluster::Cluster;
use crate::events::Events;
use crate::store::{self, Db, Scope};
use live::{Live, Upstream};
use outbox::Outbox;
use privaclaw_proto::{SessionEnd, SessionStart, encode, kind};
use replay::Budget;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use utoipa::ToSchema;

/// One connector's live connection.
pub struct Link {
    pub id: u64,
    pub device_id: String,
    pub project_id: String,
    pub name: String,
    /// `connector`, or what an AI node declared in `meta.kind` (`openclaw`, `node`).
    pub kind: String,
    /// It speaks our extensions (its `hello` listed `sessions`): keeps PTYs across a lost
    /// link and understands `pause`/`resume`. The reference Go connector does neither.
    pub resumable: bool,
    pub out: Outbox,
    pub connected_at: String,
    /// An AI node's health and its commands in flight.
    pub node: nodes::NodeState,
}

/// A session a reconnecting connector still runs (`hello.sessions`), and where in its output
/// the connector's resend starts (`hello.offsets`).
pub struct Alive {
    pub id: String,
    pub offset: Option<u64>,
}

/// An entry of `relay-nodes`.
#[derive(Serialize, serde::Deserialize, ToSchema, Clone, Debug)]
pub struct NodeInfo {
    pub device_id: String,
    pub project_id: String,
    pub name: String,
    /// `node` for an AI node, `connector` for a terminal connector.
    pub kind: String,
    /// What the node said it is (`openclaw`, `node`), or `connector`.
    pub agent: String,
    pub connected_at: String,
    pub online: bool,
    #[serde(flatten)]
    pub health: nodes::Health,
}

/// How a session ended: its reason, the shell's exit status (reason `exit`) and who ended it
/// (user id and email; reason `user_exit`).
#[derive(Clone, Copy, Debug)]
pub struct Ending<'a> {
    pub reason: &'a str,
    pub status: Option<u16>,
    pub by: Option<(&'a str, &'a str)>,
}

impl<'a> From<&'a str> for Ending<'a> {
    fn from(reason: &'a str) -> Ending<'a> {
        Ending { reason, status: None, by: None }
    }
}

/// Access that ended: whose, in which project (or all of theirs), which of their sign-ins,
/// and the sentence they are told.
pub struct Revoked<'a> {
    pub user_id: &'a str,
    pub project_id: Option<&'a str>,
    pub scope: &'a Scope,
    pub why: &'a str,
}

pub struct Gauges {
    pub connectors: u64,
    pub sessions: u64,
    pub browsers: u64,
    pub paused: u64,
}

pub struct Hub {
    db: Db,
    events: Events,
    /// This relay's name: devices it holds are recorded with it.
    instance: String,
    cluster: OnceLock<Arc<Cluster>>,
    pub grace: Duration,
    pub replay: Arc<Budget>,
    /// Silence after which an AI node is presumed gone.
    heartbeat_limit: Duration,
    links: Mutex<HashMap<String, Arc<Link>>>,
    sessions: Mutex<HashMap<String, Arc<Live>>>,
    next_id: AtomicU64,
    started: Instant,
    /// Set once the relay is stopping: links that close now are not connectors going away.
    stopping: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Link {
    /// Where this link's sessions send input, and how they pause it.
    pub fn upstream(&self) -> Upstream {
        Upstream { out: self.out.clone(), pausable: self.resumable }
    }
}

impl Hub {
    pub fn new(
        db: Db,
        events: Events,
        instance: String,
        grace: Duration,
        heartbeat_limit: Duration,
        replay: Arc<Budget>,
    ) -> Arc<Hub> {
        Arc::new(Hub {
            db,
            events,
            instance,
            cluster: OnceLock::new(),
            grace,
            replay,
            heartbeat_limit,
            links: Mutex::default(),
            sessions: Mutex::default(),
            next_id: AtomicU64::new(1),
            started: Instant::now(),
            stopping: Default::default(),
        })
    }

    /// From now on, actions and moves are sent to the cluster's other relays too.
    pub fn join(&self, cluster: Arc<Cluster>) {
        let _ = self.cluster.set(cluster);
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Stops saying it is ready (`/readyz` 503) so load balancers send new clients elsewhere,
    /// before the relay stops accepting.
    pub fn stop_advertising(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// What `/metrics` shows of this relay's connections and sessions.
    pub fn gauges(&self) -> Gauges {
        let connectors = lock(&self.links).len() as u64;
        let sessions: Vec<Arc<Live>> = lock(&self.sessions).values().cloned().collect();
        Gauges {
            connectors,
            sessions: sessions.len() as u64,
            browsers: sessions.iter().map(|l| l.viewers() as u64).sum(),
            paused: sessions.iter().filter(|l| l.is_paused()).count() as u64,
        }
    }

    pub fn link(&self, device_id: &str) -> Option<Arc<Link>> {
        lock(&self.links).get(device_id).cloned()
    }

    pub fn is_online(&self, device_id: &str) -> bool {
        lock(&self.links).contains_key(device_id)
    }

    pub fn live(&self, session_id: &str) -> Option<Arc<Live>> {
        lock(&self.sessions).get(session_id).cloned()
    }

    fn lives_of(&self, device_id: &str) -> Vec<Arc<Live>> {
        lock(&self.sessions).values().filter(|l| l.device_id == device_id).cloned().collect()
    }

    /// Connected links of these projects, for `relay-nodes`.
    pub fn nodes(&self, projects: &[String]) -> Vec<NodeInfo> {
        let mut v: Vec<NodeInfo> = lock(&self.links)
            .values()
            .filter(|l| projects.contains(&l.project_id))
            .map(|l| NodeInfo {
                device_id: l.device_id.clone(),
                project_id: l.project_id.clone(),
                name: l.name.clone(),
                kind: if l.is_node() { "node" } else { "connector" }.into(),
                agent: l.kind.clone(),
                connected_at: l.connected_at.clone(),
                online: true,
                health: l.node.health(&l.connected_at),
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.device_id.cmp(&b.device_id)));
        v
    }

    /// A connector said `hello` and was authenticated. First the sessions it still runs that
    /// this process does not know (the relay restarted) are taken back, so that a browser
    /// resuming one as soon as the device shows online finds it instead of starting it anew;
    /// then the link becomes the device's (replacing an older connection), is recorded online
    /// and greeted with `hello_ok` — in that order, so whoever sees the device online can
    /// start a session on it — and the device's sessions are reconciled with the PTYs it has.
    pub async fn register(&self, link: Arc<Link>, alive: Option<&[Alive]>, hello_ok: String) {
        let mut adopted = Vec::new();
        let mut unknown = Vec::new();
        for a in alive.unwrap_or_default() {
            if self.live(&a.id).is_some() {
                continue;
            }
            if self.adopt(&link, a).await { adopted.push(a.id.as_str()) } else { unknown.push(a.id.clone()) }
        }
        if let Some(old) = lock(&self.links).insert(link.device_id.clone(), link.clone()) {
            old.out.close(kind::close::REPLACED, "replaced by a newer connection of this device");
        }
        self.presence(&link, true).await;
        if let Some(c) = self.cluster.get() {
            c.moved(&link.device_id);
        }
        link.out.send(hello_ok);
        let listed = |id: &str| alive.and_then(|a| a.iter().find(|s| s.id == id));
        for live in self.lives_of(&link.device_id) {
            match listed(&live.id) {
                Some(a) => {
                    live.rebind(Some(link.upstream()));
                    if let Some(offset) = a.offset.filter(|_| !adopted.contains(&live.id.as_str())) {
                        live.resend_from(offset);
                    }
                    live.broadcast(device_status(&link.device_id, "online"));
                }
                None => self.end_session(&live.id, privaclaw_proto::kind::reason::CONNECTOR_DISCONNECTED, false).await,
            }
        }
        for session_id in unknown {
            let reason = Some(kind::reason::CONNECTOR_DISCONNECTED.into());
            let end = SessionEnd { session_id, reason, ..SessionEnd::default() };
            link.out.send(encode(kind::SESSION_END, Some(&end)));
        }
    }

    /// A session the connector still runs but this process does not know (the relay
    /// restarted): take it back if its row says it is active on this device. Its output
    /// offsets continue where the connector's resend starts. It has no connector until the
    /// link is greeted (input before `hello_ok` would confuse the connector).
    async fn adopt(&self, link: &Link, a: &Alive) -> bool {
        match self.db.session(&a.id).await {
            Ok(Some(s)) if s.status == "active" && s.device_id == link.device_id => {
                let live = Live::new(s.id.clone(), s.device_id, s.project_id, s.user_id, None, self.replay.clone());
                if let Some(offset) = a.offset {
                    live.resend_from(offset);
                }
                lock(&self.sessions).entry(s.id).or_insert(Arc::new(live));
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up a session to resume; ending it");
                false
            }
        }
    }

    /// A link closed. If a newer connection replaced it, nothing changes; otherwise the device
    /// goes offline and its sessions wait (resumable connector) or end.
    pub async fn unregister(&self, link: &Link) {
        link.node.fail_all("The node disconnected before answering; nothing is replayed, so send the command again.");
        if self.stopping.load(Ordering::Acquire) {
            return;
        }
        {
            let mut links = lock(&self.links);
            match links.get(&link.device_id) {
                Some(cur) if cur.id == link.id => {
                    links.remove(&link.device_id);
                }
                _ => return,
            }
        }
        for live in self.lives_of(&link.device_id) {
            if !live.is_bound_to(&link.out) {
                continue;
            }
            if link.resumable {
                live.rebind(None);
                live.broadcast(device_status(&link.device_id, "offline"));
            } else {
                self.end_session(&live.id, kind::reason::CONNECTOR_DISCONNECTED, false).await;
            }
        }
        self.presence(link, false).await;
    }

    async fn presence(&self, link: &Link, online: bool) {
        let kind = online.then_some(link.kind.as_str());
        match self.db.set_presence(&link.device_id, online, kind, &self.instance).await {
            Ok(changed) if !changed && !online => return, // it is online on another relay now
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, device = %link.device_id, "cannot record device presence"),
        }
        let status = if online { "online" } else { "offline" };
        tracing::info!(device = %link.device_id, kind = %link.kind, "device {status}");
        self.events.project(
            "device_status",
            &link.project_id,
            serde_json::json!({
                "device_id": link.device_id, "project_id": link.project_id, "status": status,
                "kind": link.kind, "last_seen": store::now_iso(),
            }),
        );
    }

    /// The live session for a browser that may open `s`: the running one, or a new one whose
    /// PTY is started now (`cols`×`rows`). `None` if it is not running and its device is
    /// offline.
    pub fn open(&self, s: &store::Session, cols: u16, rows: u16) -> Option<(Arc<Live>, bool)> {
        let mut sessions = lock(&self.sessions);
        if let Some(live) = sessions.get(&s.id) {
            return Some((live.clone(), false));
        }
        let link = self.link(&s.device_id)?;
        let live = Arc::new(Live::new(
            s.id.clone(),
            s.device_id.clone(),
            s.project_id.clone(),
            s.user_id.clone(),
            Some(link.upstream()),
            self.replay.clone(),
        ));
        sessions.insert(s.id.clone(), live.clone());
        drop(sessions);
        let start = SessionStart { session_id: s.id.clone(), cols: Some(cols), rows: Some(rows) };
        link.out.send(encode(kind::SESSION_START, Some(&start)));
        self.events.project(
            "session",
            &s.project_id,
            serde_json::json!({"session_id": s.id, "device_id": s.device_id, "project_id": s.project_id, "status": "active"}),
        );
        Some((live, true))
    }

    /// Ends a session everywhere: browsers get `session_end`, the connector too if
    /// `tell_connector`, the row becomes `ended`. Safe to call more than once.
    pub async fn end_session<'a>(&self, id: &str, end: impl Into<Ending<'a>>, tell_connector: bool) {
        let Ending { reason, status, by } = end.into();
        let data = SessionEnd {
            session_id: id.into(),
            reason: Some(reason.into()),
            status,
            by: by.map(|(_, email)| email.to_string()),
        };
        let frame = encode(kind::SESSION_END, Some(&data));
        let live = lock(&self.sessions).remove(id);
        // The row first: whoever hears that the session ended must find it ended.
        let recorded = self.db.end_session(id, reason, status, by.map(|(user, _)| user)).await;
        let mut where_ = live.as_ref().map(|l| (l.project_id.clone(), l.device_id.clone()));
        if let Some(live) = &live {
            if tell_connector {
                let _ = live.to_connector(frame.clone());
            }
            live.end(Some(frame.into()));
        }
        match recorded {
            Ok(true) => {
                if where_.is_none() {
                    where_ = self.db.session(id).await.ok().flatten().map(|s| (s.project_id, s.device_id));
                }
                if let Some((p, d)) = where_ {
                    self.events.project(
                        "session",
                        &p,
                        serde_json::json!({"session_id": id, "device_id": d, "project_id": p, "status": "ended", "reason": reason,
                                           "exit_status": status, "ended_by": data.by}),
                    );
                }
                tracing::info!(session = %id, %reason, "session ended");
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, session = %id, "cannot record the end of a session"),
        }
    }

    /// `end_session` for a session that may live on another relay (someone ended it through
    /// the API): that relay ends it too.
    pub async fn end_session_everywhere(&self, id: &str, end: Ending<'_>) {
        if let Some(c) = self.cluster.get() {
            c.end(id, end.reason, end.by);
        }
        self.end_session(id, end, true).await;
    }

    /// The device's connector registered on another relay: its old link here (if any) is
    /// closed, and its sessions here are let go without ending — their browsers are told to
    /// reconnect (4010) and find them on the new relay, which took them over.
    pub fn moved_away(&self, device_id: &str) {
        let old = {
            let mut links = lock(&self.links);
            links.remove(device_id)
        };
        if let Some(link) = old {
            link.out.close(kind::close::REPLACED, "replaced by a newer connection of this device");
        }
        let lives: Vec<Arc<Live>> = {
            let mut sessions = lock(&self.sessions);
            let ids: Vec<String> =
                sessions.values().filter(|l| l.device_id == device_id).map(|l| l.id.clone()).collect();
            ids.iter().filter_map(|id| sessions.remove(id)).collect()
        };
        for live in lives {
            live.end_with(None, kind::close::MOVED, "moved: reconnect now");
        }
    }

    /// The device was deleted or re-paired: its connector is told to go (4001) and its
    /// sessions end, on whichever relay they are.
    pub async fn evict_device(&self, device_id: &str) {
        if let Some(c) = self.cluster.get() {
            c.evict(device_id);
        }
        self.evict_device_here(device_id).await;
    }

    pub async fn evict_device_here(&self, device_id: &str) {
        if let Some(link) = lock(&self.links).remove(device_id) {
            let msg =
                "This device was removed or paired again: pair the connector again (relay-connector --pair CODE).";
            link.out.send(frames::error(msg, Some("auth_failed"), None));
            link.out.close(kind::close::AUTH_FAILED, "device removed or re-paired");
        }
        for live in self.lives_of(device_id) {
            self.end_session(&live.id, kind::reason::DEVICE_REMOVED, true).await;
        }
    }

    /// Closes, at once, the browsers of someone whose access ended (`error` frame with
    /// `r.why`, then close 4003), on every relay. Returns how many were closed here.
    pub fn revoke(&self, r: &Revoked<'_>) -> usize {
        if let Some(c) = self.cluster.get() {
            c.revoke(r.user_id, r.project_id, r.scope, r.why);
        }
        self.revoke_here(r)
    }

    pub fn revoke_here(&self, r: &Revoked<'_>) -> usize {
        let lives: Vec<Arc<Live>> =
            lock(&self.sessions).values().filter(|l| r.project_id.is_none_or(|p| p == l.project_id)).cloned().collect();
        let closed: usize =
            lives.iter().map(|l| l.cut(|w| w.user_id == r.user_id && r.scope.covers(&w.sign_in), r.why)).sum();
        if closed > 0 {
            tracing::info!(user = %r.user_id, closed, "access revoked: browsers closed");
        }
        closed
    }

    /// Ends the sessions `user_id` started in `project_id` (they lost access to it), on every
    /// relay.
    pub async fn end_sessions_of(&self, user_id: &str, project_id: &str) {
        if let Some(c) = self.cluster.get() {
            c.end_of(user_id, project_id);
        }
        self.end_sessions_of_here(user_id, project_id).await;
    }

    pub async fn end_sessions_of_here(&self, user_id: &str, project_id: &str) {
        let lives: Vec<Arc<Live>> = lock(&self.sessions)
            .values()
            .filter(|l| l.owner == user_id && l.project_id == project_id)
            .cloned()
            .collect();
        for live in lives {
            self.end_session(&live.id, kind::reason::ACCESS_REVOKED, true).await;
        }
    }

    /// Past the replay budget: empties the replays of the sessions nobody has watched for
    /// longest, then, if that is not enough, of watched ones.
    pub fn trim_replays(&self) {
        if !self.replay.over() {
            return;
        }
        let mut lives: Vec<(Option<Duration>, Arc<Live>)> =
            lock(&self.sessions).values().map(|l| (l.idle_for().0, l.clone())).collect();
        // Unwatched before watched; among the unwatched, the longest unwatched first.
        lives.sort_by_key(|l| std::cmp::Reverse(l.0));
        for (_, live) in lives {
            if !self.replay.over() {
                break;
            }
            live.drop_replay();
            tracing::debug!(session = %live.id, "replay dropped: the replay budget is spent");
        }
    }

    /// The relay is stopping (SIGTERM): every connector and browser is told so with a close
    /// frame (1012 "relay restarting": come back, the sessions carry on), devices are recorded
    /// offline as of now, and this returns once every socket has closed, or after `limit`.
    pub async fn shutdown(&self, limit: Duration) {
        self.stopping.store(true, Ordering::Release);
        const WHY: &str = "relay restarting";
        let links: Vec<Arc<Link>> = lock(&self.links).drain().map(|(_, l)| l).collect();
        for link in &links {
            link.out.close(kind::close::RESTARTING, WHY);
            self.presence(link, false).await;
        }
        self.close_all(WHY, links.len(), limit).await;
    }

    /// A relay of a cluster is stopping (SIGTERM, a rolling upgrade): its connectors are told
    /// to go elsewhere now (4010); as each registers on another relay, that relay takes its
    /// sessions over and the browsers here are sent after them (`moved_away`). Returns once
    /// every socket has closed, or after `limit`, when what is left is closed as `shutdown`
    /// would. The devices stay online meanwhile: they are only changing relays.
    pub async fn drain(&self, limit: Duration) {
        self.stopping.store(true, Ordering::Release);
        let links: Vec<Arc<Link>> = lock(&self.links).drain().map(|(_, l)| l).collect();
        for link in &links {
            link.out.close(kind::close::MOVED, "relay draining: reconnect now");
        }
        tracing::info!(connectors = links.len(), "draining: told every connector to move to another relay");
        // Done when every socket here has closed and every session has gone with its device
        // (browsers forwarded from other relays are not sockets here, but are the sessions').
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline && (socket::open() > 0 || !lock(&self.sessions).is_empty()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left = lock(&self.sessions).len();
        if left > 0 {
            tracing::info!(
                sessions = left,
                "drain time is up: the sessions left resume wherever their connectors return"
            );
        }
        self.close_all("relay restarting", 0, Duration::from_millis(1500)).await;
    }

    /// Closes every browser with 1012 (come back, the session carries on) and waits for the
    /// sockets to close, or `limit`.
    async fn close_all(&self, why: &'static str, connectors: usize, limit: Duration) {
        for live in lock(&self.sessions).values() {
            live.close_viewers(kind::close::RESTARTING, why);
        }
        tracing::info!(connectors, "told every connector and browser the relay is restarting");
        socket::all_closed(limit).await;
    }

    /// Ends sessions nobody came back for within the grace period. Runs forever.
    pub async fn janitor(self: Arc<Hub>, limits: Arc<dyn Fn() + Send + Sync>) {
        let every =
            (self.grace.min(self.heartbeat_limit) / 4).clamp(Duration::from_millis(250), Duration::from_secs(5));
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let lives: Vec<Arc<Live>> = lock(&self.sessions).values().cloned().collect();
            for live in lives {
                match live.idle_for() {
                    (_, Some(away)) if away >= self.grace => {
                        self.end_session(&live.id, kind::reason::CONNECTOR_DISCONNECTED, false).await
                    }
                    (Some(idle), _) if idle >= self.grace => {
                        self.end_session(&live.id, kind::reason::TIMEOUT, true).await
                    }
                    _ => {}
                }
            }
            // Rows nobody opened, or left active by a previous run whose connector never
            // came back for them.
            if self.started.elapsed() >= self.grace {
                let cutoff = store::iso(time::OffsetDateTime::now_utc() - self.grace);
                if let Ok(ids) = self.db.stale_sessions(&cutoff, &self.instance).await {
                    for id in ids.into_iter().filter(|id| self.live(id).is_none()) {
                        self.end_session(&id, kind::reason::TIMEOUT, false).await;
                    }
                }
            }
            limits();
            // AI nodes beat every 15 s: three beats missed and the node is presumed gone.
            let links: Vec<Arc<Link>> = lock(&self.links).values().cloned().collect();
            for link in links.iter().filter(|l| l.is_node() && l.node.silent_for() > self.heartbeat_limit) {
                tracing::info!(device = %link.device_id, "AI node missed its heartbeats: closing");
                link.out.kill(kind::close::PROTOCOL, "no heartbeat");
            }
        }
    }
}

fn device_status(device_id: &str, status: &str) -> Utf8Bytes {
    let d = privaclaw_proto::DeviceStatus { device_id: device_id.into(), status: status.into() };
    encode(kind::DEVICE_STATUS, Some(&d)).into()
}
