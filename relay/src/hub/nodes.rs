//! AI nodes on the hub: their health (from heartbeats), and the commands people send them.
//!
//! A command from the web app gets a fresh `request_id`, goes to the node's link, and waits in
//! the link's table of requests; the node's `response` frames are turned into lines of the
//! requester's NDJSON stream as they arrive, in order, and `done`, `status` or `error` ends it.
//! When the link goes, every request still waiting ends with an error: nodes never replay.
//! Prompt text and tokens only pass through memory.

use super::{Hub, Link, lock};
use bytes::Bytes;
use privaclaw_proto::{Heartbeat, Response};
use serde::Serialize;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use utoipa::ToSchema;

/// A request nobody finished within this is failed.
pub const REQUEST_LIMIT: Duration = Duration::from_secs(600);
/// Lines waiting for a requester that does not read; beyond it the request is abandoned.
pub const QUEUE: usize = 1024;

/// What a node last reported in a heartbeat.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, ToSchema)]
pub struct Health {
    pub last_heartbeat: Option<String>,
    pub uptime: Option<u64>,
    pub active_tasks: Option<u64>,
    pub last_error: Option<String>,
    pub connection_state: Option<String>,
}

pub type Line = Result<Bytes, Infallible>;

/// A node link's health and requests in flight.
pub struct NodeState {
    health: Mutex<Health>,
    heard: Mutex<Instant>,
    requests: Mutex<HashMap<String, mpsc::Sender<Line>>>,
}

impl Default for NodeState {
    fn default() -> Self {
        NodeState { health: Mutex::default(), heard: Mutex::new(Instant::now()), requests: Mutex::default() }
    }
}

/// The commands a node takes (as `Hub::command` names them).
pub const COMMANDS: &[&str] = &["prompt", "workflow", "status", "restart"];

/// Why a command could not be sent.
#[derive(Debug, PartialEq, Eq)]
pub enum CommandError {
    Offline,
    NotANode,
}

fn line(v: serde_json::Value) -> Line {
    let mut s = v.to_string();
    s.push('\n');
    Ok(Bytes::from(s))
}

impl NodeState {
    /// Records a heartbeat; returns the health to publish.
    pub fn beat(&self, hb: Heartbeat) -> Health {
        *lock(&self.heard) = Instant::now();
        let mut h = lock(&self.health);
        *h = Health {
            last_heartbeat: Some(crate::store::now_iso()),
            uptime: hb.uptime,
            active_tasks: hb.active_tasks,
            last_error: hb.last_error,
            connection_state: hb.connection_state,
        };
        h.clone()
    }

    /// The latest health; before the first heartbeat, "last heard" is when it connected.
    pub fn health(&self, connected_at: &str) -> Health {
        let mut h = lock(&self.health).clone();
        h.last_heartbeat.get_or_insert_with(|| connected_at.to_string());
        h
    }

    pub fn silent_for(&self) -> Duration {
        lock(&self.heard).elapsed()
    }

    /// Routes a node's `response` to its requester.
    pub fn answer(&self, r: Response) {
        let Some(id) = r.request_id.as_deref() else { return };
        let (out, last) = match r.kind.as_str() {
            "token" => (serde_json::json!({"type": "token", "content": r.content.unwrap_or_default()}), false),
            "done" => (serde_json::json!({"type": "done"}), true),
            "error" => (
                serde_json::json!({"type": "error", "message": r.message.unwrap_or_else(|| "the node reported an error".into())}),
                true,
            ),
            "status" => (
                serde_json::json!({"type": "status", "node_id": r.node_id, "uptime": r.uptime, "active_tasks": r.active_tasks,
                                   "last_error": r.last_error, "connection_state": r.connection_state}),
                true,
            ),
            _ => return,
        };
        let mut requests = lock(&self.requests);
        let Some(tx) = requests.get(id) else { return };
        // A requester that stopped reading loses its request, never the node's other ones.
        if tx.try_send(line(out)).is_err() || last {
            requests.remove(id);
        }
    }

    /// Ends every request in flight with `why`.
    pub fn fail_all(&self, why: &str) {
        for (_, tx) in lock(&self.requests).drain() {
            let _ = tx.try_send(line(serde_json::json!({"type": "error", "message": why})));
        }
    }

    fn fail(&self, id: &str, why: &str) {
        if let Some(tx) = lock(&self.requests).remove(id) {
            let _ = tx.try_send(line(serde_json::json!({"type": "error", "message": why})));
        }
    }
}

impl Link {
    /// Whether the other end is an AI node (it said so in `hello.meta.kind`).
    pub fn is_node(&self) -> bool {
        self.kind != "connector"
    }
}

impl Hub {
    /// Sends a command (`prompt`, `status`, `restart`, `workflow`) to a device's node now;
    /// returns its request id and the stream of NDJSON lines that will answer it.
    pub fn command(
        self: &std::sync::Arc<Self>,
        device_id: &str,
        command: &'static str,
        args: Option<serde_json::Value>,
    ) -> Result<(String, mpsc::Receiver<Line>), CommandError> {
        let link = self.link(device_id).ok_or(CommandError::Offline)?;
        if !link.is_node() {
            return Err(CommandError::NotANode);
        }
        let id = crate::store::new_id();
        let (tx, rx) = mpsc::channel(QUEUE);
        let _ = tx.try_send(line(serde_json::json!({"type": "accepted", "request_id": id})));
        lock(&link.node.requests).insert(id.clone(), tx);
        let mut data = serde_json::json!({"request_id": id});
        if let Some(a) = args {
            data["data"] = a;
        }
        link.out.send(serde_json::json!({"type": command, "data": data}).to_string());
        tracing::info!(device = %device_id, request = %id, %command, "command sent to a node");
        let hub = self.clone();
        let (device, rid) = (device_id.to_string(), id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(REQUEST_LIMIT).await;
            if let Some(link) = hub.link(&device) {
                link.node.fail(&rid, "The node did not finish within 10 minutes.");
            }
        });
        Ok((id, rx))
    }
}
