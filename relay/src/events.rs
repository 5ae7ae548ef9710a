//! Realtime changes pushed to signed-in users: device online/offline, device and session
//! changes, membership changes. Producers publish here; each `/api/v1/events` stream filters
//! by the projects its user belongs to, so nobody sees another project's events.

use serde::Serialize;
use std::sync::Arc;
use tokio::sync::broadcast;

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
    #[serde(flatten)]
    pub data: serde_json::Value,
}

#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Events { tx: broadcast::channel(1024).0 }
    }
}

impl Events {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    pub fn project(&self, name: &'static str, project_id: &str, data: serde_json::Value) {
        let _ = self.tx.send(Arc::new(Event { name, project_id: Some(project_id.into()), user_id: None, data }));
    }

    /// Tells one user that their set of projects changed (they should refetch).
    pub fn membership(&self, user_id: &str, project_id: &str) {
        let data = serde_json::json!({ "project_id": project_id });
        let _ =
            self.tx.send(Arc::new(Event { name: "membership", project_id: None, user_id: Some(user_id.into()), data }));
    }
}
