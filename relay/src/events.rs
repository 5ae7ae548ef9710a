//! Realtime changes pushed to signed-in users: device online/offline, device and session
//! changes, membership changes. Producers publish here; each `/api/v1/events` stream filters
//! by the projects its user belongs to, so nobody sees another project's events. A `revoked`
//! event ends the streams of the sign-ins it names.
//!
//! In a cluster (`--nats`) every event is also handed to the cluster, which publishes it to
//! the other relays; what they publish comes back in through [`Events::local`], so a stream
//! on any relay sees every relay's events.

use crate::store::Scope;
use futures_channel::mpsc;
use serde::Serialize;
use std::sync::{Arc, OnceLock};
use tokio::sync::broadcast;

/// Every event name, so one that arrives from another relay maps back to its `&'static str`.
pub const NAMES: &[&str] =
    &["device_status", "device", "session", "member", "membership", "node", "project", "invitation", "revoked"];

#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// The SSE event name: `device_status`, `device`, `session`, `membership`, `node`.
    #[serde(skip)]
    pub name: &'static str,
    /// Who may see it: members of this project...
    #[serde(skip)]
    pub project_id: Option<String>,
    /// ...or only this user (membership changes).
    #[serde(skip)]
    pub user_id: Option<String>,
    /// For `revoked`: which of the user's sign-ins ended.
    #[serde(skip)]
    pub scope: Option<Scope>,
    #[serde(flatten)]
    pub data: serde_json::Value,
}

#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Arc<Event>>,
    /// Where events also go when this relay is part of a cluster.
    cluster: Arc<OnceLock<mpsc::UnboundedSender<Arc<Event>>>>,
}

impl Default for Events {
    fn default() -> Self {
        Events { tx: broadcast::channel(1024).0, cluster: Arc::default() }
    }
}

impl Events {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// From now on, every event is also sent to `to` (the cluster's publisher).
    pub fn forward(&self, to: mpsc::UnboundedSender<Arc<Event>>) {
        let _ = self.cluster.set(to);
    }

    /// An event for this relay's streams only (it came from another relay).
    pub fn local(&self, event: Arc<Event>) {
        let _ = self.tx.send(event);
    }

    fn send(&self, event: Event) {
        let event = Arc::new(event);
        if let Some(c) = self.cluster.get() {
            let _ = c.unbounded_send(event.clone());
        }
        let _ = self.tx.send(event);
    }

    pub fn project(&self, name: &'static str, project_id: &str, data: serde_json::Value) {
        self.send(Event { name, project_id: Some(project_id.into()), user_id: None, scope: None, data });
    }

    /// Tells one user that their set of projects changed (they should refetch).
    pub fn membership(&self, user_id: &str, project_id: &str) {
        let data = serde_json::json!({ "project_id": project_id });
        self.to_user("membership", user_id, None, data);
    }

    /// Sign-ins of `user_id` in `scope` ended: their streams hear why and close.
    pub fn revoked(&self, user_id: &str, scope: Scope, why: &str) {
        self.to_user("revoked", user_id, Some(scope), serde_json::json!({ "message": why }));
    }

    fn to_user(&self, name: &'static str, user_id: &str, scope: Option<Scope>, data: serde_json::Value) {
        self.send(Event { name, project_id: None, user_id: Some(user_id.into()), scope, data });
    }
}
