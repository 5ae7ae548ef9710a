//! Command-line flags and environment: everything an operator can set, with `--help` text.
//!
//! `privaclaw-relay` with no arguments is a complete single-host install: it listens on
//! `0.0.0.0:$PORT` (8080), keeps SQLite and its secrets in `./data`, and serves the web app.

use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "privaclaw-relay",
    version,
    about = "PrivaClaw relay: browser terminals for machines that dial out to it.",
    long_about = "PrivaClaw relay: the WebSocket hub (/connect for connectors, /session for \
browsers), accounts, projects, devices, pairing, teams, session history, realtime events, the \
HTTP API (/api/v1, /functions/v1, /auth/v1) and the web app, in one process.\n\n\
With no arguments it listens on 0.0.0.0:$PORT (default 8080), keeps an SQLite database and its \
secrets in ./data, and needs nothing else."
)]
pub struct Config {
    /// Address and port to listen on. Defaults to 0.0.0.0 and $PORT (or 8080).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,

    /// Port used when --listen is not given.
    #[arg(long, env = "PORT", default_value_t = 8080, hide_env_values = true)]
    pub port: u16,

    /// Directory for the SQLite database, the token-signing secret and connector downloads.
    #[arg(long, env = "PRIVACLAW_DATA_DIR", default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// PostgreSQL URL (postgres://user:pass@host/db). Without it, SQLite in --data-dir is used.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// The URL people and connectors reach this relay at, e.g. https://relay.example.com.
    /// Pairing hands connectors its ws(s):// form; links in emails use it. Defaults to
    /// http://<listen address>.
    #[arg(long, env = "PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Who may create an account: anyone (open), only people with a pending invitation
    /// (invite), or nobody (closed). The first account can always be created.
    #[arg(long, env = "SIGNUPS", value_enum, default_value_t = Signups::Open)]
    pub signups: Signups,

    /// PEM certificate chain for serving HTTPS/WSS directly (else run behind a TLS proxy).
    #[arg(long, env = "TLS_CERT", requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "TLS_KEY", requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// Secret for signing access tokens. Defaults to one generated on first start and kept in
    /// --data-dir.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, value_name = "SECRET")]
    pub jwt_secret: Option<String>,

    /// Lifetime of access tokens, in seconds. Refresh tokens last 30 days and rotate on use.
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value_t = 900, value_name = "SECONDS")]
    pub access_token_ttl: u64,

    /// Seconds during which a refresh token already exchanged still works once more (a tab
    /// that closed mid-refresh); after that, presenting it signs the account out everywhere.
    #[arg(long, env = "REFRESH_REUSE_INTERVAL", default_value_t = 10, value_name = "SECONDS")]
    pub refresh_reuse_interval: u64,

    /// SMTP server for confirmation, reset and invitation emails, e.g.
    /// smtps://user:pass@mail.example.com. Without it accounts are confirmed at sign-up and
    /// links are printed on the console.
    #[arg(long, env = "SMTP_URL", hide_env_values = true, value_name = "URL")]
    pub smtp_url: Option<String>,

    /// Sender address for emails.
    #[arg(long, env = "SMTP_FROM", default_value = "PrivaClaw <noreply@localhost>")]
    pub smtp_from: String,

    /// How long a session waits for a browser or a connector to come back, in seconds.
    #[arg(long, env = "SESSION_GRACE", default_value_t = 600, value_name = "SECONDS")]
    pub session_grace: u64,

    /// Sign-in attempts allowed per client address per minute.
    #[arg(long, env = "LOGIN_RATE", default_value_t = 20, value_name = "PER_MINUTE")]
    pub login_rate: u32,

    /// Pairing attempts allowed per client address per minute.
    #[arg(long, env = "PAIR_RATE", default_value_t = 10, value_name = "PER_MINUTE")]
    pub pair_rate: u32,

    /// Seconds between WebSocket pings to connectors and browsers; a peer silent for three
    /// intervals is dropped (and a connector marked offline). Keep it below any proxy's idle
    /// timeout (often 60 s).
    #[arg(long, env = "PING_INTERVAL", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600), value_name = "SECONDS")]
    pub ping_interval: u64,

    /// Seconds without a heartbeat after which an AI node is presumed gone (they beat every
    /// 15 s).
    #[arg(long, env = "HEARTBEAT_TIMEOUT", default_value_t = 45, value_parser = clap::value_parser!(u64).range(1..=3600), value_name = "SECONDS")]
    pub heartbeat_timeout: u64,

    /// Seconds a client may take to send a request's headers (and an idle keep-alive
    /// connection may stay open) before the relay closes the connection.
    #[arg(long, env = "HEADER_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600), value_name = "SECONDS")]
    pub header_timeout: u64,

    /// Directory of connector binaries served by /functions/v1/download-connector and
    /// /install.sh. Defaults to <data-dir>/dist.
    #[arg(long, env = "DIST_DIR", value_name = "DIR")]
    pub dist_dir: Option<PathBuf>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signups {
    Open,
    Invite,
    Closed,
}

impl Config {
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], self.port)))
    }

    pub fn dist_dir(&self) -> PathBuf {
        self.dist_dir.clone().unwrap_or_else(|| self.data_dir.join("dist"))
    }
}
