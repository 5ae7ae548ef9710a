//! The shared state every request and connection handler gets: database, hub, keys,
//! mailer, rate limits and the operator's configuration.

use crate::auth::{jwt::Keys, ratelimit::Limiter};
use crate::config::Config;
use crate::events::Events;
use crate::hub::Hub;
use crate::mail::Mailer;
use crate::store::Db;
use std::sync::Arc;

pub struct App {
    pub config: Config,
    pub db: Db,
    pub hub: Arc<Hub>,
    pub events: Events,
    pub keys: Keys,
    pub mailer: Mailer,
    pub login_limit: Arc<Limiter>,
    pub pair_limit: Arc<Limiter>,
}

impl App {
    /// The relay's public origin (`https://relay.example.com`): `--public-url` if set, else what
    /// the client used to reach us (its `Host` header), so a relay that was never told its
    /// name still hands out addresses that work for the machine that asked.
    pub fn public_url(&self, host: Option<&str>) -> String {
        if let Some(u) = &self.config.public_url {
            return u.trim_end_matches('/').to_string();
        }
        let scheme = if self.config.tls_cert.is_some() { "https" } else { "http" };
        match host {
            Some(h) if !h.is_empty() => format!("{scheme}://{h}"),
            _ => format!("{scheme}://{}", self.config.listen_addr()),
        }
    }

    /// The WebSocket form of the public URL, which connectors keep as `relay_url`.
    pub fn relay_ws_url(&self, host: Option<&str>) -> String {
        let u = self.public_url(host);
        if let Some(rest) = u.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = u.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            u
        }
    }
}
