//! The shared state every request and connection handler gets: database, hub, keys, password
//! hasher, mailer, rate limits and the operator's configuration.

use crate::auth::password::Hasher;
use crate::auth::ratelimit::{Failures, Limiter};
use crate::auth::{jwt::Keys, seal::Sealer};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::events::Events;
use crate::hub::Hub;
use crate::mail::Mailer;
use crate::proxy::Proxies;
use crate::store::{Db, DbResult, Scope};
use std::sync::Arc;
use std::time::Duration;

pub struct App {
    pub config: Config,
    pub proxies: Proxies,
    pub db: Db,
    pub hub: Arc<Hub>,
    pub events: Events,
    pub keys: Keys,
    pub sealer: Sealer,
    pub hasher: Hasher,
    pub mailer: Mailer,
    pub limits: Limits,
    /// The other relays, when this one is part of a cluster (`--nats`).
    pub cluster: Option<Arc<Cluster>>,
}

/// The rate limits, one of each.
pub struct Limits {
    pub login: Limiter,
    pub signup: Limiter,
    pub pair: Limiter,
    /// Failed sign-ins per account (by email).
    pub account_failures: Failures,
    /// Wrong pairing codes, everyone together (one key).
    pub pair_failures: Failures,
}

/// Window of the per-account sign-in failure limit.
pub const ACCOUNT_FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

impl Limits {
    /// `shared`: the database the relays of a cluster count in together.
    pub fn new(l: &crate::config::Limits, shared: Option<&Db>) -> Limits {
        Limits {
            login: Limiter::per_minute(l.login_rate).shared(shared, "login"),
            signup: Limiter::per_minute(l.signup_rate).shared(shared, "signup"),
            pair: Limiter::per_minute(l.pair_rate).shared(shared, "pair"),
            account_failures: Failures::new(l.account_login_failures, ACCOUNT_FAILURE_WINDOW)
                .shared(shared, "account-failures"),
            pair_failures: Failures::new(l.pair_failures, Duration::from_secs(60)).shared(shared, "pair-failures"),
        }
    }

    /// Forgets what no longer limits anyone (the janitor calls this).
    pub fn prune(&self) {
        for l in [&self.login, &self.signup, &self.pair] {
            l.prune();
        }
        self.account_failures.prune();
        self.pair_failures.prune();
    }
}

impl App {
    /// Whether the device's connector is connected, here or to another live relay.
    pub async fn online(&self, device_id: &str) -> bool {
        self.hub.is_online(device_id)
            || (self.cluster.is_some() && matches!(self.db.holder(device_id).await, Ok(Some(_))))
    }

    /// Ends sign-ins of `user_id` in `scope` everywhere at once: their tokens stop working,
    /// their open terminals and event streams are closed.
    pub async fn revoke_sign_ins(&self, user_id: &str, scope: Scope, why: &'static str) -> DbResult<()> {
        self.db.revoke_sign_ins(user_id, &scope).await?;
        self.signed_out(user_id, scope, why);
        Ok(())
    }

    /// Closes what sign-ins of `user_id` in `scope` still have open (their database rows are
    /// already revoked): terminals and event streams.
    pub fn signed_out(&self, user_id: &str, scope: Scope, why: &'static str) {
        self.hub.revoke(&crate::hub::Revoked { user_id, project_id: None, scope: &scope, why });
        self.events.revoked(user_id, scope, why);
    }
}
