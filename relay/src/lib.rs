//! `privaclaw-relay`: the relay and control plane of PrivaClaw in one process.
//!
//! Connectors on remote machines dial out to `/connect`; people's browsers open `/session`;
//! the [`hub`] joins the two and forwards terminal frames in memory, never storing them. Around
//! it: the HTTP [`api`] (accounts, projects, devices, pairing, teams, session history, realtime
//! events), the embedded [`web`] app, and the [`store`] (SQLite by default, PostgreSQL when
//! `DATABASE_URL` says so). [`server`] wires them together on one listening socket.

#![forbid(unsafe_code)]

pub mod acme;
pub mod api;
pub mod app;
pub mod auth;
pub mod backup;
pub mod cluster;
pub mod config;
pub mod events;
pub mod files;
pub mod hub;
pub mod mail;
pub mod metrics;
pub mod proxy;
pub mod server;
pub mod store;
pub mod tls;
pub mod web;
