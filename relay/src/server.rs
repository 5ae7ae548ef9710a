//! Start-up and the accept loop: open the database, load or create the signing secret and the
//! secrets key, build the routes, and serve HTTP/1.1 (optionally TLS) with WebSocket upgrades
//! until SIGTERM.
//!
//! We run hyper ourselves rather than `warp::serve` to put the connection's addresses on each
//! request (rate limits, links), bound how long a client may take to send its headers
//! (slowloris) and how many connections one address may hold, and terminate TLS when
//! `--tls-cert` or `--acme-domain` is given (`tls.rs`).

use crate::api::{self, filters::Conn};
use crate::app::{App, Limits};
use crate::auth::{jwt::Keys, password::Hasher, seal::Sealer};
use crate::config::Config;
use crate::events::Events;
use crate::files;
use crate::hub::{self, Hub, replay::Budget};
use crate::mail::Mailer;
use crate::store::Db;
use crate::tls::Tls;
use crate::web;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tower_service::Service;
use warp::Filter;

pub async fn run(config: Config) -> Result<(), String> {
    config.check()?;
    let config = config.settle();
    raise_open_files_limit();
    files::private_dir(&config.data_dir)?;
    // Held until the process ends: `restore` must not write under a running relay.
    let _lock = match config.database_url {
        None => Some(files::lock_data_dir(&config.data_dir)?),
        Some(_) => None,
    };
    let db = Db::open(config.database_url.as_deref(), &config.data_dir).await?;
    let instance = config.instance_id();
    let clustered = config.nats.is_some();
    db.reset_presence(clustered.then_some(instance.as_str()))
        .await
        .map_err(|e| format!("cannot reset device presence: {e}"))?;
    let secret = match &config.jwt_secret {
        Some(s) if s.len() >= 32 => s.as_bytes().to_vec(),
        Some(_) => return Err("JWT_SECRET must be at least 32 characters".into()),
        None => shared_secret(&config, &db, "jwt-secret").await?,
    };
    warn_about_pairing(&config.limits);
    let sealer = sealer(&config, &db).await?;
    let resealed = db.reseal_skill_configs(&sealer).await?;
    if resealed > 0 {
        tracing::info!(count = resealed, "skill configs sealed under the current secrets key");
    }
    let events = Events::default();
    let l = &config.limits;
    let hub = Hub::new(
        db.clone(),
        events.clone(),
        instance.clone(),
        Duration::from_secs(config.session_grace),
        Duration::from_secs(config.heartbeat_timeout),
        Budget::new(l.replay_per_session * 1024, l.replay_budget * 1024 * 1024),
    );
    let cluster = match &config.nats {
        Some(url) => Some(crate::cluster::Cluster::connect(url, instance.clone()).await?),
        None => None,
    };
    let app = Arc::new(App {
        cluster: cluster.clone(),
        keys: Keys::new(&secret, config.access_token_ttl),
        sealer,
        hasher: Hasher::new(l.hash_concurrency as usize),
        mailer: Mailer::new(config.smtp_url.as_deref(), &config.smtp_from)?,
        limits: Limits::new(l, config.nats.is_some().then_some(&db)),
        proxies: config.proxies(),
        db,
        hub: hub.clone(),
        events,
        config,
    });
    if let Some(c) = &cluster {
        hub.join(c.clone());
        crate::cluster::start(&app, c).await?;
        tracing::info!(instance = %instance, "clustered: sessions and events cross relays over NATS");
    }
    let pruned = app.clone();
    tokio::spawn(hub.janitor(Arc::new(move || pruned.limits.prune())));

    let routes = hub::connect_route(&app)
        .or(hub::session_route(&app))
        .unify()
        .or(api::routes(&app))
        .unify()
        .or(web::routes())
        .unify()
        .recover(
            |r: warp::Rejection| async move { Ok::<_, Infallible>(api::recover(&r).unwrap_or_else(api::not_found)) },
        )
        .unify();
    // RFC 9110: a 405 says which methods the path does accept.
    let routes = warp::path::full().and(routes).map(|path: warp::path::FullPath, mut res: warp::reply::Response| {
        if res.status() == warp::http::StatusCode::METHOD_NOT_ALLOWED {
            let allow = api::openapi::allowed_methods(path.as_str()).unwrap_or_else(|| "GET".into());
            res.headers_mut().insert("allow", allow.parse().expect("method names are valid header text"));
        }
        res
    });

    let tls = Tls::from_config(&app.config)?;
    let addr = app.config.listen_addr();
    let listener = TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Tests and scripts read this line to learn the port when started with port 0.
    println!("privaclaw-relay listening on {scheme}://{local}");
    tracing::info!(database = ?app.db.backend(), data_dir = %app.config.data_dir.display(), "relay ready");
    if tls.is_none() {
        warn_about_plain_http(&app.config, local);
    }
    if let Some(addr) = app.config.metrics_listen {
        let listener =
            TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr} (--metrics-listen): {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        println!("privaclaw-relay metrics on http://{local}/metrics");
        tokio::spawn(warp::serve(crate::metrics::routes(&app)).incoming(listener).run());
    }

    let header_timeout = Duration::from_secs(app.config.header_timeout);
    let per_ip = Counts::new(app.config.limits.max_connections_per_ip);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    // Out of file descriptors: said once when it starts and once when it is over, not per
    // failed accept (which would be thousands of lines a second).
    let mut starved = false;
    // In a cluster, SIGTERM first makes /readyz fail while the relay still accepts, so the load
    // balancer's checks (every few hundred ms, docs/cluster.md) stop sending new clients here
    // before the connectors told to move go looking for another relay.
    let mut notice: Option<tokio::time::Instant> = None;
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown, if notice.is_none() => {
                if app.cluster.is_none() {
                    break;
                }
                app.hub.stop_advertising();
                notice = Some(tokio::time::Instant::now() + DRAIN_NOTICE);
                continue;
            }
            _ = tokio::time::sleep_until(notice.unwrap_or_else(tokio::time::Instant::now)), if notice.is_some() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    if !starved {
                        tracing::warn!(error = %e, limit = open_files_limit(), "cannot accept connections (out of file descriptors?): retrying until some close");
                        starved = true;
                    } else {
                        tracing::debug!("accept retry");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if std::mem::take(&mut starved) {
            tracing::info!("accepting connections again");
        }
        let ip = crate::auth::ratelimit::key(peer.ip());
        // A trusted proxy carries many clients' connections: it is not counted.
        let slot = match app.proxies.trusts(peer.ip()) {
            true => None,
            false => match per_ip.take(ip) {
                Some(slot) => Some(slot),
                None => {
                    refuse(tcp);
                    continue;
                }
            },
        };
        let local = tcp.local_addr().unwrap_or(addr);
        let _ = tcp.set_nodelay(true);
        let svc = warp::service(routes.clone());
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(Conn { peer, local });
                let mut svc = svc.clone();
                async move { svc.call(req).await }
            });
            let mut http = http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(header_timeout).max_buf_size(64 * 1024);
            let served = match tls {
                None => http.serve_connection(TokioIo::new(tcp), svc).with_upgrades().await,
                Some(tls) => match tls.accept(tcp).await {
                    Some(stream) => http.serve_connection(TokioIo::new(stream), svc).with_upgrades().await,
                    None => return,
                },
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    tracing::info!("shutting down");
    match &app.cluster {
        Some(c) => {
            c.drain();
            app.hub.drain(Duration::from_secs(app.config.drain_timeout)).await;
            c.leave(&app).await;
        }
        None => app.hub.shutdown(Duration::from_millis(1500)).await,
    }
    Ok(())
}

/// How long a relay of a cluster goes on accepting after SIGTERM, not ready.
const DRAIN_NOTICE: Duration = Duration::from_secs(1);

/// Open connections per client address (IPv6: per /64), against `--max-connections-per-ip`.
#[derive(Clone)]
struct Counts {
    max: u32,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// One connection's place in its address's count, given back when the connection ends.
struct Slot {
    counts: Counts,
    ip: IpAddr,
}

impl Counts {
    fn new(max: u32) -> Counts {
        Counts { max, open: Arc::default() }
    }

    fn take(&self, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if self.max != 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot { counts: self.clone(), ip })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Turns away a connection over its address's limit with a short answer, if the socket takes
/// it at once (it never waits for a client).
fn refuse(tcp: tokio::net::TcpStream) {
    const BODY: &str = r#"{"error":"too_many_connections","message":"Too many open connections from your address: close some, then try again."}"#;
    let answer = format!(
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tcp.try_write(answer.as_bytes());
    tracing::debug!("connection refused: too many from one address");
}

/// Raises the soft limit on open files to the hard limit: each connector and browser holds a
/// socket, and the usual soft default (1024) would stop a relay at about a thousand.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(limit = n, "open-files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-files limit"),
    }
}

fn open_files_limit() -> u64 {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(soft, _)| soft)
}

/// Guesses checked during one pairing code's life past which the chance of guessing it
/// exceeds 10^-6 (32^6 codes; docs/security.md has the arithmetic).
const GUESSES_FOR_ONE_IN_A_MILLION: u64 = 1073;

fn warn_about_pairing(l: &crate::config::Limits) {
    let guesses = u64::from(l.pair_failures) * l.pairing_code_ttl.div_ceil(60);
    if guesses >= GUESSES_FOR_ONE_IN_A_MILLION {
        tracing::warn!(
            guesses,
            "--pair-failures and --pairing-code-ttl let {guesses} wrong codes be tried while one code lives: \
             more than 1 in a million chance of guessing it; lower one of them (docs/security.md)"
        );
    }
}

/// The relay hands out shells: said at start when it serves plain HTTP where that is likely a
/// mistake, with what to do.
fn warn_about_plain_http(config: &Config, local: std::net::SocketAddr) {
    if !config.trust_proxy.is_empty() {
        return; // a TLS proxy in front is configured
    }
    const FIX: &str = "get a certificate with --acme-domain relay.example.com --acme-email you@example.com \
        (port 443 reachable from the internet), give one with --tls-cert/--tls-key, or put the relay behind \
        a TLS proxy and set --trust-proxy to the proxy's address (docs/deploy.md)";
    match &config.public_url {
        Some(url) if url.starts_with("https://") => {
            tracing::warn!("--public-url is {url} but this relay serves plain HTTP and trusts no proxy: {FIX}")
        }
        _ if !local.ip().is_loopback() => tracing::warn!(
            "serving plain HTTP on {local}: passwords, tokens and terminals cross the network unencrypted. \
             Fine on localhost or a trusted LAN; for anything else {FIX}"
        ),
        _ => {}
    }
}

/// The key that seals secrets at rest: `--secrets-key`, or one generated into the data dir.
async fn sealer(config: &Config, db: &Db) -> Result<Sealer, String> {
    let current = match &config.secrets_key {
        Some(k) if k.len() >= 32 => k.as_bytes().to_vec(),
        Some(_) => return Err("SECRETS_KEY must be at least 32 characters".into()),
        None => shared_secret(config, db, "secrets-key").await?,
    };
    let previous: Vec<&[u8]> = config.previous_secrets_keys.iter().map(|k| k.as_bytes()).collect();
    Ok(Sealer::new(&current, &previous))
}

/// A secret the operator did not set: kept in the data directory by a relay alone, in the
/// shared database by a cluster's relays (so a token one of them signed is good on all).
async fn shared_secret(config: &Config, db: &Db, name: &str) -> Result<Vec<u8>, String> {
    if config.nats.is_none() {
        return files::load_or_create_secret(&config.data_dir.join(name));
    }
    let value = db
        .cluster_secret(name, &crate::auth::secrets::token())
        .await
        .map_err(|e| format!("cannot read or store the cluster's {name} in the database: {e}"))?;
    Ok(value.into_bytes())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
