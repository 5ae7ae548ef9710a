//! What an operator's monitoring reads: `GET /metrics` in Prometheus text format, served
//! without auth only on `--metrics-listen` (off by default: it reveals activity, so it belongs
//! on a private address), and `GET /healthz` (the process answers) and `GET /readyz` (the
//! database answers and the relay is not stopping; 503 otherwise), on the main port and the
//! metrics port. Counters are process-wide atomics bumped on the forwarding path (one relaxed
//! add per frame); gauges are read from the hub and the database pool when scraped.

use crate::app::App;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use warp::{Filter, filters::BoxedFilter};

/// A monotonically increasing count.
pub struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// `stdout` frames from connectors, and their terminal bytes (decoded).
pub static OUTPUT_FRAMES: Counter = Counter::new();
pub static OUTPUT_BYTES: Counter = Counter::new();
/// Frames from browsers forwarded to connectors (input, resize), and their size on the wire.
pub static INPUT_FRAMES: Counter = Counter::new();
pub static INPUT_BYTES: Counter = Counter::new();
/// Input refused because the connector's queue was full (the browser is told to retry).
pub static INPUT_DROPPED: Counter = Counter::new();
/// Browsers cut off (4008) because their queue would not drain; they resume from the replay.
pub static SLOW_BROWSERS_CUT: Counter = Counter::new();
/// NATS messages published and received, requests to other relays, and failures (a publish
/// refused, a request unanswered, a lost connection, a note dropped while disconnected).
pub static NATS_SENT: Counter = Counter::new();
pub static NATS_RECEIVED: Counter = Counter::new();
pub static NATS_REQUESTS: Counter = Counter::new();
pub static NATS_ERRORS: Counter = Counter::new();

/// `/healthz` and `/readyz`.
pub fn health_routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    let app = app.clone();
    let healthz = warp::path!("healthz").and(warp::get()).map(|| {
        let body = serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")});
        warp::reply::json(&body).into_response()
    });
    let readyz = warp::path!("readyz").and(warp::get()).then(move || {
        let app = app.clone();
        async move { ready(&app).await }
    });
    healthz.or(readyz).unify().boxed()
}

async fn ready(app: &App) -> Response {
    let database = app.db.ping().await;
    let stopping = app.hub.is_stopping();
    let nats = app.cluster.as_ref().map(|c| c.is_connected());
    let (status, message) = match (database, stopping, nats) {
        (_, true, _) => (StatusCode::SERVICE_UNAVAILABLE, "The relay is stopping: send new clients elsewhere."),
        (false, ..) => (StatusCode::SERVICE_UNAVAILABLE, "The database does not answer; the relay retries by itself."),
        (_, _, Some(false)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "NATS does not answer: sessions on this relay work, sessions across relays do not; it reconnects by itself.",
        ),
        _ => (StatusCode::OK, "Ready."),
    };
    let mut body = serde_json::json!({
        "status": if status == StatusCode::OK { "ready" } else { "not_ready" },
        "database": if database { "ok" } else { "unreachable" },
        "draining": stopping,
        "message": message,
    });
    if let Some(up) = nats {
        body["nats"] = (if up { "ok" } else { "unreachable" }).into();
    }
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

/// `/metrics` plus the health routes, for the `--metrics-listen` port.
pub fn routes(app: &Arc<App>) -> BoxedFilter<(Response,)> {
    let a = app.clone();
    let metrics = warp::path!("metrics").and(warp::get()).map(move || {
        let mut res = Response::new(render(&a).into());
        res.headers_mut().insert("content-type", "text/plain; version=0.0.4; charset=utf-8".parse().expect("valid"));
        res
    });
    metrics.or(health_routes(app)).unify().boxed()
}

fn render(app: &App) -> String {
    let g = app.hub.gauges();
    let (pool_size, pool_idle) = app.db.pool_stats();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    metric("privaclaw_connectors", "gauge", "Connectors and AI nodes connected to this relay.", g.connectors);
    metric("privaclaw_sessions", "gauge", "Terminal sessions this relay holds (attached or waiting).", g.sessions);
    metric("privaclaw_browsers", "gauge", "Browser sockets attached to sessions.", g.browsers);
    metric("privaclaw_sessions_paused", "gauge", "Sessions paused because a browser is behind.", g.paused);
    metric("privaclaw_output_frames_total", "counter", "Output frames from connectors.", OUTPUT_FRAMES.get());
    metric("privaclaw_output_bytes_total", "counter", "Terminal output bytes from connectors.", OUTPUT_BYTES.get());
    metric(
        "privaclaw_input_frames_total",
        "counter",
        "Frames from browsers forwarded to connectors.",
        INPUT_FRAMES.get(),
    );
    metric(
        "privaclaw_input_bytes_total",
        "counter",
        "Bytes of frames from browsers forwarded to connectors.",
        INPUT_BYTES.get(),
    );
    metric(
        "privaclaw_input_dropped_total",
        "counter",
        "Input refused: the connector's queue was full.",
        INPUT_DROPPED.get(),
    );
    metric(
        "privaclaw_slow_browsers_cut_total",
        "counter",
        "Browsers cut off for not reading.",
        SLOW_BROWSERS_CUT.get(),
    );
    if app.cluster.is_some() {
        metric("privaclaw_nats_sent_total", "counter", "NATS messages published.", NATS_SENT.get());
        metric("privaclaw_nats_received_total", "counter", "NATS messages received.", NATS_RECEIVED.get());
        metric("privaclaw_nats_requests_total", "counter", "Requests to other relays over NATS.", NATS_REQUESTS.get());
        metric(
            "privaclaw_nats_errors_total",
            "counter",
            "NATS publishes refused, requests unanswered, links lost.",
            NATS_ERRORS.get(),
        );
        let up = app.cluster.as_ref().is_some_and(|c| c.is_connected());
        metric("privaclaw_nats_connected", "gauge", "1 while this relay is connected to NATS.", up as u64);
    }
    metric("privaclaw_db_pool_connections", "gauge", "Database connections open.", pool_size);
    metric("privaclaw_db_pool_idle", "gauge", "Database connections idle.", pool_idle);
    out
}
