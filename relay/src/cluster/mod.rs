//! Several relays as one (`--nats`): they share PostgreSQL for all state and reach each other
//! through NATS for what is live — frames of sessions that cross relays, realtime events, and
//! the hub's actions that must happen wherever a socket is (access revoked, device removed,
//! session ended, device moved).
//!
//! A session lives on the relay holding its device's connector (its *home*): the replay ring,
//! flow control and permission checks are there. A browser that lands on another relay is
//! proxied (`remote.rs`): that relay forwards its frames to the home, which runs the very same
//! browser endpoint on them. Which relay holds a device is in the `devices` table; which relays
//! are alive, in their leases (`relay_instances`) and in the heartbeats they publish here every
//! second. docs/cluster.md has the picture and the subjects.
//!
//! Subjects: `privaclaw.all` (heartbeats, events, hub actions: every relay),
//! `privaclaw.to.<relay>.open` (a browser to attach), `.g.<from>.<conn>` (a proxied browser's
//! frames, to its home), `.p.<conn>` (the home's frames, to the proxy), `.nodes` (requests for
//! `relay-nodes`), `.cmd` (a command for an AI node held there) and `.r.<id>` (its answer's
//! lines, streamed back; an empty message ends them).

mod remote;

pub use remote::Proxy;

use crate::app::App;
use crate::events::{Event, NAMES};
use crate::hub::NodeInfo;
use crate::hub::nodes::{COMMANDS, CommandError, Line, QUEUE};
use crate::metrics;
use crate::store::Scope;
use async_nats::{Client, ConnectOptions, Message};
use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const ALL: &str = "privaclaw.all";
/// Heartbeats on NATS; a relay not heard for `DEAD_AFTER` is gone (its proxied browsers are
/// sent to reconnect, its guests dropped).
const BEAT: Duration = Duration::from_secs(1);
const DEAD_AFTER: Duration = Duration::from_secs(5);
/// The database lease is renewed this often (it lasts `store::LEASE_SECS`).
const LEASE_EVERY: Duration = Duration::from_secs(5);

/// What every relay hears.
#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Note {
    /// Alive (who is draining is in the database lease; nobody here needs it).
    Beat,
    Event {
        name: String,
        project_id: Option<String>,
        user_id: Option<String>,
        scope: Option<Scope>,
        data: serde_json::Value,
    },
    Revoke {
        user_id: String,
        project_id: Option<String>,
        scope: Scope,
        why: String,
    },
    Evict {
        device_id: String,
    },
    End {
        session_id: String,
        reason: String,
        by: Option<(String, String)>,
    },
    EndOf {
        user_id: String,
        project_id: String,
    },
    /// The sender now holds this device's connector.
    Moved {
        device_id: String,
    },
    /// The sender is leaving the cluster.
    Gone,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    from: String,
    /// Changes when the relay restarts: what the old process had is gone.
    boot: u64,
    note: Note,
}

/// A command for an AI node held by the relay it is sent to; its lines go to `reply`.
#[derive(Serialize, Deserialize)]
struct Command {
    device_id: String,
    command: String,
    args: Option<serde_json::Value>,
    reply: String,
}

/// A browser to attach on its session's home.
#[derive(Serialize, Deserialize)]
struct Open {
    from: String,
    conn: u64,
    auth: String,
}

struct Peer {
    seen: Instant,
    boot: u64,
}

pub struct Cluster {
    pub me: String,
    boot: u64,
    client: Client,
    peers: Mutex<HashMap<String, Peer>>,
    /// Browsers here whose session lives on another relay, by connection id.
    proxies: Mutex<HashMap<u64, Arc<Proxy>>>,
    /// Browsers of other relays attached here: `<relay>.<conn>` → their inbound frames.
    guests: Mutex<HashMap<String, mpsc::UnboundedSender<remote::In>>>,
    /// Answers of AI nodes on other relays being streamed to callers here: id → (relay, lines).
    answers: Mutex<HashMap<String, (String, tokio::sync::mpsc::Sender<Line>)>>,
    /// Notes for every relay, in order, from code that cannot wait.
    notes: mpsc::UnboundedSender<Note>,
    /// Their receiving end, until `start` hands it to the publisher.
    queued: Mutex<Option<mpsc::UnboundedReceiver<Note>>>,
    draining: AtomicBool,
    connected: Arc<AtomicBool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Cluster {
    /// Connects to NATS in the background (retrying forever, as after any later loss), so a
    /// relay starts even while NATS is down: sessions within it work meanwhile.
    pub async fn connect(url: &str, me: String) -> Result<Arc<Cluster>, String> {
        let connected = Arc::new(AtomicBool::new(false));
        let flag = connected.clone();
        let name = me.clone();
        let client = ConnectOptions::new()
            .name(format!("privaclaw-relay {me}"))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(|n| Duration::from_millis((250 * n as u64).min(2000)))
            .event_callback(move |e| {
                let flag = flag.clone();
                let name = name.clone();
                async move {
                    match e {
                        async_nats::Event::Connected => {
                            flag.store(true, Ordering::Release);
                            tracing::info!(instance = %name, "connected to NATS");
                        }
                        async_nats::Event::Disconnected => {
                            flag.store(false, Ordering::Release);
                            metrics::NATS_ERRORS.add(1);
                            tracing::warn!(instance = %name, "lost NATS: sessions across relays pause until it is back; reconnecting");
                        }
                        other => tracing::info!(instance = %name, "NATS: {other}"),
                    }
                }
            })
            .connect(url)
            .await
            .map_err(|e| format!("--nats {url}: {e}"))?;
        let (notes, rx) = mpsc::unbounded();
        let cluster = Arc::new(Cluster {
            me,
            boot: rand::random(),
            client,
            peers: Mutex::default(),
            proxies: Mutex::default(),
            guests: Mutex::default(),
            answers: Mutex::default(),
            notes,
            queued: Mutex::new(Some(rx)),
            draining: AtomicBool::new(false),
            connected,
        });
        Ok(cluster)
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    fn to(&self, relay: &str, rest: &str) -> String {
        format!("privaclaw.to.{relay}.{rest}")
    }

    /// Publishes, counting what is sent and what fails.
    async fn publish(&self, subject: String, payload: Bytes) -> bool {
        match self.client.publish(subject, payload).await {
            Ok(()) => {
                metrics::NATS_SENT.add(1);
                true
            }
            Err(e) => {
                metrics::NATS_ERRORS.add(1);
                tracing::debug!(error = %e, "cannot publish to NATS");
                false
            }
        }
    }

    /// The proxies `f` picks (collected first: closing one takes the map's lock).
    fn proxies(&self, f: impl Fn(&Proxy) -> bool) -> Vec<Arc<Proxy>> {
        lock(&self.proxies).values().filter(|p| f(p)).cloned().collect()
    }

    fn note(&self, note: Note) {
        let _ = self.notes.unbounded_send(note);
    }

    /// Whether `relay` was heard from lately.
    pub fn reachable(&self, relay: &str) -> bool {
        self.is_connected() && lock(&self.peers).get(relay).is_some_and(|p| p.seen.elapsed() < DEAD_AFTER)
    }

    pub fn revoke(&self, user_id: &str, project_id: Option<&str>, scope: &Scope, why: &str) {
        self.note(Note::Revoke {
            user_id: user_id.into(),
            project_id: project_id.map(Into::into),
            scope: scope.clone(),
            why: why.into(),
        });
    }

    pub fn evict(&self, device_id: &str) {
        self.note(Note::Evict { device_id: device_id.into() });
    }

    pub fn end(&self, session_id: &str, reason: &str, by: Option<(&str, &str)>) {
        let by = by.map(|(u, e)| (u.to_string(), e.to_string()));
        self.note(Note::End { session_id: session_id.into(), reason: reason.into(), by });
    }

    pub fn end_of(&self, user_id: &str, project_id: &str) {
        self.note(Note::EndOf { user_id: user_id.into(), project_id: project_id.into() });
    }

    pub fn moved(&self, device_id: &str) {
        self.note(Note::Moved { device_id: device_id.into() });
    }

    /// Draining: every relay hears it with the next heartbeat; browsers proxied from here go
    /// to another relay now.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        for p in self.proxies(|_| true) {
            p.close(privaclaw_proto::kind::close::MOVED);
        }
    }

    /// Leaving for good: the lease is given up and the others are told.
    pub async fn leave(&self, app: &App) {
        if let Err(e) = app.db.leave(&self.me).await {
            tracing::warn!(error = %e, "cannot give up this relay's lease; it runs out by itself");
        }
        sweep_orphans(app).await;
        let env = Envelope { from: self.me.clone(), boot: self.boot, note: Note::Gone };
        let farewell = async {
            if let Ok(json) = serde_json::to_vec(&env) {
                self.publish(ALL.into(), json.into()).await;
            }
            let _ = self.client.flush().await;
        };
        // With NATS away the flush would wait for it forever: the others notice the silence.
        let _ = tokio::time::timeout(Duration::from_secs(2), farewell).await;
    }

    /// Sends a command to the AI node `device_id` held by `relay`; its answer's lines arrive
    /// on the receiver as if the node were connected here.
    pub async fn command(
        &self,
        relay: &str,
        device_id: &str,
        command: &str,
        args: Option<serde_json::Value>,
    ) -> Result<tokio::sync::mpsc::Receiver<Line>, CommandError> {
        let id = crate::store::new_id();
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        lock(&self.answers).insert(id.clone(), (relay.to_string(), tx));
        let reply = self.to(&self.me, &format!("r.{id}"));
        let cmd = Command { device_id: device_id.into(), command: command.into(), args, reply };
        let ask = self.client.request(self.to(relay, "cmd"), serde_json::to_vec(&cmd).unwrap_or_default().into());
        metrics::NATS_REQUESTS.add(1);
        let said = match tokio::time::timeout(Duration::from_secs(2), ask).await {
            Ok(Ok(m)) => m.payload,
            _ => {
                metrics::NATS_ERRORS.add(1);
                Bytes::from_static(b"offline")
            }
        };
        match &said[..] {
            b"ok" => Ok(rx),
            other => {
                lock(&self.answers).remove(&id);
                Err(if other == b"not_a_node" { CommandError::NotANode } else { CommandError::Offline })
            }
        }
    }

    /// `relay-nodes` of the whole cluster: this relay's own, and every other live relay's.
    pub async fn nodes(&self, here: Vec<NodeInfo>, projects: &[String]) -> Vec<NodeInfo> {
        let others: Vec<String> =
            lock(&self.peers).iter().filter(|(_, p)| p.seen.elapsed() < DEAD_AFTER).map(|(id, _)| id.clone()).collect();
        let ask = serde_json::to_vec(projects).unwrap_or_default();
        let asks = others.iter().map(|relay| {
            let req = self.client.request(self.to(relay, "nodes"), ask.clone().into());
            async move {
                metrics::NATS_REQUESTS.add(1);
                match tokio::time::timeout(Duration::from_secs(2), req).await {
                    Ok(Ok(m)) => serde_json::from_slice::<Vec<NodeInfo>>(&m.payload).unwrap_or_default(),
                    _ => {
                        metrics::NATS_ERRORS.add(1);
                        tracing::warn!(relay = %relay, "a relay did not answer for relay-nodes in 2 s; its nodes are left out");
                        Vec::new()
                    }
                }
            }
        });
        let mut all = here;
        for mut v in futures_util::future::join_all(asks).await {
            all.append(&mut v);
        }
        all.sort_by(|a, b| a.name.cmp(&b.name).then(a.device_id.cmp(&b.device_id)));
        all
    }
}

/// Starts the cluster's tasks: the subscriber, the publisher of notes and events, and the
/// heartbeat (NATS every second, the database lease every 5 s, orphaned devices swept).
pub async fn start(app: &Arc<App>, cluster: &Arc<Cluster>) -> Result<(), String> {
    let c = cluster.clone();
    let notes = lock(&c.queued).take().ok_or("the cluster was started twice")?;
    let mine = c.client.subscribe(c.to(&c.me, ">")).await.map_err(|e| format!("NATS subscribe: {e}"))?;
    let all = c.client.subscribe(ALL).await.map_err(|e| format!("NATS subscribe: {e}"))?;
    let (events_tx, events_rx) = mpsc::unbounded();
    app.events.forward(events_tx);
    tokio::spawn(publisher(c.clone(), notes, events_rx));
    tokio::spawn(receive(app.clone(), c.clone(), mine, all));
    tokio::spawn(heartbeat(app.clone(), c));
    Ok(())
}

async fn publisher(c: Arc<Cluster>, notes: mpsc::UnboundedReceiver<Note>, events: mpsc::UnboundedReceiver<Arc<Event>>) {
    let events = events.map(|e| Note::Event {
        name: e.name.into(),
        project_id: e.project_id.clone(),
        user_id: e.user_id.clone(),
        scope: e.scope.clone(),
        data: e.data.clone(),
    });
    let mut all = futures_util::stream::select(notes, events);
    while let Some(note) = all.next().await {
        // While NATS is away, what only matters now (heartbeats, events) is dropped rather
        // than queued without bound; the others' leases and pages catch up when it is back.
        if !c.is_connected() {
            metrics::NATS_ERRORS.add(1);
            continue;
        }
        let env = Envelope { from: c.me.clone(), boot: c.boot, note };
        if let Ok(json) = serde_json::to_vec(&env) {
            c.publish(ALL.into(), json.into()).await;
        }
    }
}

async fn receive(app: Arc<App>, c: Arc<Cluster>, mine: async_nats::Subscriber, all: async_nats::Subscriber) {
    // Hub actions may wait on the database: they run one after another on their own task, in
    // the order they were sent, so the reader never stalls behind them.
    let (work, mut todo) = mpsc::unbounded::<(String, Note)>();
    let a = app.clone();
    tokio::spawn(async move {
        while let Some((from, note)) = todo.next().await {
            apply(&a, &from, note).await;
        }
    });
    let mut both = futures_util::stream::select(mine.map(|m| (false, m)), all.map(|m| (true, m)));
    while let Some((broadcast, m)) = both.next().await {
        metrics::NATS_RECEIVED.add(1);
        if broadcast {
            heard(&app, &c, &work, &m);
        } else {
            direct(&app, &c, m);
        }
    }
}

fn heard(app: &Arc<App>, c: &Arc<Cluster>, work: &mpsc::UnboundedSender<(String, Note)>, m: &Message) {
    let Ok(env) = serde_json::from_slice::<Envelope>(&m.payload) else {
        tracing::debug!("unreadable cluster note ignored");
        return;
    };
    if env.from == c.me {
        return;
    }
    let restarted = {
        let mut peers = lock(&c.peers);
        let p = peers.entry(env.from.clone()).or_insert(Peer { seen: Instant::now(), boot: env.boot });
        p.seen = Instant::now();
        std::mem::replace(&mut p.boot, env.boot) != env.boot
    };
    if restarted || matches!(env.note, Note::Gone) {
        lost(c, &env.from);
        if matches!(env.note, Note::Gone) {
            lock(&c.peers).remove(&env.from);
        }
    }
    match env.note {
        Note::Beat | Note::Gone => {}
        Note::Event { name, project_id, user_id, scope, data } => {
            if let Some(name) = NAMES.iter().find(|n| **n == name) {
                app.events.local(Arc::new(Event { name, project_id, user_id, scope, data }));
            }
        }
        note => {
            let _ = work.unbounded_send((env.from, note));
        }
    }
}

/// Does here what another relay asked every relay to do.
async fn apply(app: &App, from: &str, note: Note) {
    let hub = &app.hub;
    match note {
        Note::Revoke { user_id, project_id, scope, why } => {
            hub.revoke_here(&crate::hub::Revoked {
                user_id: &user_id,
                project_id: project_id.as_deref(),
                scope: &scope,
                why: &why,
            });
        }
        Note::Evict { device_id } => hub.evict_device_here(&device_id).await,
        Note::End { session_id, reason, by } => {
            let by = by.as_ref().map(|(u, e)| (u.as_str(), e.as_str()));
            hub.end_session(&session_id, crate::hub::Ending { reason: &reason, status: None, by }, true).await;
        }
        Note::EndOf { user_id, project_id } => hub.end_sessions_of_here(&user_id, &project_id).await,
        Note::Moved { device_id } => {
            hub.moved_away(&device_id);
            if let Some(c) = &app.cluster {
                for p in c.proxies(|p| p.device_id == device_id && p.home != from) {
                    p.close(privaclaw_proto::kind::close::MOVED);
                }
            }
        }
        Note::Beat | Note::Event { .. } | Note::Gone => {}
    }
}

/// A relay is gone (silent, restarted or left): browsers proxied to it reconnect (their
/// session comes back wherever its connector does), and its browsers attached here are let go.
fn lost(c: &Cluster, relay: &str) {
    // Streams of its nodes' answers end (the caller sees the answer stop).
    lock(&c.answers).retain(|_, (r, _)| r != relay);
    for p in c.proxies(|p| p.home == relay) {
        p.close(privaclaw_proto::kind::close::RESTARTING);
    }
    let prefix = format!("{relay}.");
    for (_, g) in lock(&c.guests).iter().filter(|(k, _)| k.starts_with(&prefix)) {
        let _ = g.unbounded_send(remote::In::Bye);
    }
}

fn direct(app: &Arc<App>, c: &Arc<Cluster>, m: Message) {
    let prefix = c.to(&c.me, "");
    let Some(rest) = m.subject.as_str().strip_prefix(&prefix) else { return };
    let mut parts = rest.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("open"), None, None) => match serde_json::from_slice::<Open>(&m.payload) {
            Ok(open) => remote::open_guest(app.clone(), c.clone(), open),
            Err(_) => tracing::debug!("unreadable open request ignored"),
        },
        (Some("g"), Some(from), Some(conn)) => {
            let key = format!("{from}.{conn}");
            if let Some(g) = lock(&c.guests).get(&key) {
                let _ = g.unbounded_send(remote::In::from_wire(m.payload));
            }
        }
        (Some("p"), Some(conn), None) => {
            let proxy = conn.parse().ok().and_then(|id: u64| lock(&c.proxies).get(&id).cloned());
            if let Some(p) = proxy {
                p.deliver(m.payload);
            }
        }
        (Some("cmd"), None, None) => {
            let (Some(reply), Ok(cmd)) = (m.reply, serde_json::from_slice::<Command>(&m.payload)) else { return };
            tokio::spawn(run_command(app.clone(), c.clone(), cmd, reply.to_string()));
        }
        (Some("r"), Some(id), None) => {
            if m.payload.is_empty() {
                lock(&c.answers).remove(id);
            } else {
                // A caller that stopped reading loses its answer (it ends there), as on the
                // node's own relay; never the relay's memory.
                let mut answers = lock(&c.answers);
                if answers.get(id).is_some_and(|(_, tx)| tx.try_send(Ok(m.payload)).is_err()) {
                    answers.remove(id);
                }
            }
        }
        (Some("nodes"), None, None) => {
            let (Some(reply), Ok(projects)) = (m.reply, serde_json::from_slice::<Vec<String>>(&m.payload)) else {
                return;
            };
            let body = serde_json::to_vec(&app.hub.nodes(&projects)).unwrap_or_default();
            let c = c.clone();
            tokio::spawn(async move { c.publish(reply.to_string(), body.into()).await });
        }
        _ => tracing::debug!(subject = %m.subject, "unknown cluster subject ignored"),
    }
}

/// Runs a command another relay sent for a node held here: says whether the node took it, then
/// streams its answer's lines back, and an empty message at the end.
async fn run_command(app: Arc<App>, c: Arc<Cluster>, cmd: Command, answer: String) {
    let name = COMMANDS.iter().find(|n| **n == cmd.command);
    let sent = match name {
        Some(name) => app.hub.command(&cmd.device_id, name, cmd.args),
        None => Err(CommandError::NotANode),
    };
    let (said, lines): (&'static [u8], _) = match sent {
        Ok((_, lines)) => (b"ok", Some(lines)),
        Err(CommandError::NotANode) => (b"not_a_node", None),
        Err(CommandError::Offline) => (b"offline", None),
    };
    c.publish(answer, Bytes::from_static(said)).await;
    if let Some(mut lines) = lines {
        while let Some(Ok(line)) = lines.recv().await {
            c.publish(cmd.reply.clone(), line).await;
        }
        c.publish(cmd.reply, Bytes::new()).await;
    }
}

async fn heartbeat(app: Arc<App>, c: Arc<Cluster>) {
    let mut tick = tokio::time::interval(BEAT);
    let mut lease_at = Instant::now() - LEASE_EVERY;
    let mut db_ok = true;
    loop {
        tick.tick().await;
        let draining = c.draining.load(Ordering::Acquire);
        c.note(Note::Beat);
        let silent: Vec<String> = {
            let mut peers = lock(&c.peers);
            let gone: Vec<String> =
                peers.iter().filter(|(_, p)| p.seen.elapsed() >= DEAD_AFTER).map(|(id, _)| id.clone()).collect();
            for id in &gone {
                peers.remove(id);
            }
            gone
        };
        for relay in silent {
            tracing::info!(relay = %relay, "relay silent for 5 s: its proxied browsers reconnect elsewhere");
            lost(&c, &relay);
        }
        if lease_at.elapsed() >= LEASE_EVERY {
            lease_at = Instant::now();
            match app.db.beat(&c.me, draining).await {
                Ok(()) if !db_ok => {
                    db_ok = true;
                    tracing::info!("database reachable again: lease renewed");
                }
                Ok(()) => {}
                Err(e) if db_ok => {
                    db_ok = false;
                    tracing::warn!(error = %e, "cannot renew this relay's lease in the database; retrying");
                }
                Err(_) => {}
            }
            if !draining {
                sweep_orphans(&app).await;
                let _ = app.db.prune_hits().await;
            }
        }
    }
}

/// Devices of relays whose lease ran out are shown offline (their connectors reappear,
/// online, wherever they reconnect).
async fn sweep_orphans(app: &App) {
    match app.db.orphans().await {
        Ok(orphans) => {
            for o in orphans {
                tracing::info!(device = %o.id, "device offline: its relay is gone");
                app.events.project(
                    "device_status",
                    &o.project_id,
                    serde_json::json!({"device_id": o.id, "project_id": o.project_id, "status": "offline",
                                       "kind": o.kind, "last_seen": crate::store::now_iso()}),
                );
            }
        }
        Err(e) => tracing::debug!(error = %e, "cannot sweep orphaned devices"),
    }
}
