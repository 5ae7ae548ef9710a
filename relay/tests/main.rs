//! The relay's integration tests, one module per subject, compiled into one test binary (one
//! link instead of one per file). Every test starts the real `privaclaw-relay` binary through
//! the one harness in `common/`, and drives it as connectors and browsers do: over real
//! sockets, with the real `relay-connector` where a connector is needed.
//!
//! `cargo test -p privaclaw-relay --test relay connector::` runs one module (scripts/test-delivery
//! runs `connector::` against each cross-built connector); the cluster tests are ignored
//! unless scripts/test-cluster runs them with PostgreSQL, NATS and HAProxy.

mod common;

mod access;
mod acme;
mod api;
mod auth;
mod backup;
mod cluster;
mod connector;
mod downloads;
mod endings;
mod faults;
mod flood;
mod flow;
mod limits;
mod nodes;
mod observability;
mod pairing;
mod permissions;
mod reference;
mod robustness;
mod sign_ins;
mod tls;
