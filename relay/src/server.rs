//! Start-up and the accept loop: open the database, load or create the signing secret, build
//! the routes, and serve HTTP/1.1 (optionally TLS) with WebSocket upgrades until SIGTERM.
//!
//! We run hyper ourselves rather than `warp::serve` to put the client's address on each
//! request (rate limits), bound how long a client may take to send its headers (slowloris),
//! and terminate TLS when `--tls-cert` is given.

use crate::api::{self, filters::ClientAddr};
use crate::app::App;
use crate::auth::{jwt::Keys, ratelimit::Limiter};
use crate::config::Config;
use crate::events::Events;
use crate::hub::{self, Hub};
use crate::mail::Mailer;
use crate::store::Db;
use crate::web;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;
use warp::Filter;

pub async fn run(config: Config) -> Result<(), String> {
    create_private_dir(&config.data_dir)?;
    let db = Db::open(config.database_url.as_deref(), &config.data_dir).await?;
    db.reset_presence().await.map_err(|e| format!("cannot reset device presence: {e}"))?;
    let secret = match &config.jwt_secret {
        Some(s) if s.len() >= 32 => s.as_bytes().to_vec(),
        Some(_) => return Err("JWT_SECRET must be at least 32 characters".into()),
        None => load_or_create_secret(&config.data_dir.join("jwt-secret"))?,
    };
    let events = Events::default();
    let hub = Hub::new(
        db.clone(),
        events.clone(),
        Duration::from_secs(config.session_grace),
        Duration::from_secs(config.heartbeat_timeout),
    );
    let app = Arc::new(App {
        keys: Keys::new(&secret, config.access_token_ttl),
        mailer: Mailer::new(config.smtp_url.as_deref(), &config.smtp_from)?,
        login_limit: Arc::new(Limiter::per_minute(config.login_rate)),
        pair_limit: Arc::new(Limiter::per_minute(config.pair_rate)),
        db,
        hub: hub.clone(),
        events,
        config,
    });
    tokio::spawn(hub.janitor(vec![app.login_limit.clone(), app.pair_limit.clone()]));

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

    let tls = match (&app.config.tls_cert, &app.config.tls_key) {
        (Some(c), Some(k)) => Some(tls_acceptor(c, k)?),
        _ => None,
    };
    let addr = app.config.listen_addr();
    let listener = TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Tests and scripts read this line to learn the port when started with port 0.
    println!("privaclaw-relay listening on {scheme}://{local}");
    tracing::info!(database = ?app.db.backend(), data_dir = %app.config.data_dir.display(), "relay ready");

    let header_timeout = Duration::from_secs(app.config.header_timeout);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let svc = warp::service(routes.clone());
        let tls = tls.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ClientAddr(peer));
                let mut svc = svc.clone();
                async move { svc.call(req).await }
            });
            let mut http = http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(header_timeout).max_buf_size(64 * 1024);
            let served = match tls {
                None => http.serve_connection(TokioIo::new(tcp), svc).with_upgrades().await,
                Some(acceptor) => match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => http.serve_connection(TokioIo::new(stream), svc).with_upgrades().await,
                    _ => return,
                },
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    tracing::info!("shutting down");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))
}

/// The token-signing secret, generated once and kept (mode 0600) in the data directory.
fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(s) = std::fs::read(path) {
        return Ok(s);
    }
    let secret = crate::auth::secrets::token();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(secret.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(secret.into_bytes())
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    use tokio_rustls::rustls::{self, pki_types::CertificateDer, pki_types::PrivateKeyDer, pki_types::pem::PemObject};
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read the certificate chain {}: {e}", cert.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("cannot read the private key {}: {e}", key.display()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the TLS certificate and key do not work together: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}
