//! Command-line flags and environment: everything an operator can set, with `--help` text.
//!
//! `privaclaw-relay` with no arguments is a complete single-host install: it listens on
//! `0.0.0.0:$PORT` (8080), keeps SQLite and its secrets in `./data`, and serves the web app.

use crate::proxy::{Cidr, Proxies};
use clap::{Args, Parser, Subcommand, ValueEnum};
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
    /// Address and port to listen on. Defaults to 0.0.0.0 and $PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,

    /// Port used when --listen is not given: 8080, or 443 with --acme-domain (the ACME CA
    /// checks TLS-ALPN-01 on port 443).
    #[arg(long, env = "PORT", hide_env_values = true)]
    pub port: Option<u16>,

    /// Directory for the SQLite database, the token-signing secret and connector downloads.
    #[arg(long, env = "PRIVACLAW_DATA_DIR", default_value = "data", value_name = "DIR", global = true)]
    pub data_dir: PathBuf,

    /// PostgreSQL URL (postgres://user:pass@host/db). Without it, SQLite in --data-dir is used.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL", global = true)]
    pub database_url: Option<String>,

    /// The URL people and connectors reach this relay at, e.g. https://relay.example.com.
    /// Pairing hands connectors its ws(s):// form; emails, install.sh and download links use
    /// it. Required with SMTP_URL. Without it: the address each client's connection reached
    /// (never its Host header), or a trusted proxy's X-Forwarded-Host.
    #[arg(long, env = "PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Proxies (load balancers) whose X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto
    /// the relay believes, as address blocks: 127.0.0.1/32,10.0.0.0/8. Requests from
    /// elsewhere are taken at their TCP address, whatever their headers say.
    #[arg(long, env = "TRUST_PROXY", value_name = "CIDR,...", value_delimiter = ',')]
    pub trust_proxy: Vec<Cidr>,

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

    /// Serve GET /metrics (Prometheus text, no auth), /healthz and /readyz on this address too,
    /// e.g. 127.0.0.1:9090. Off by default: keep it private.
    #[arg(long, env = "METRICS_LISTEN", value_name = "ADDR:PORT")]
    pub metrics_listen: Option<SocketAddr>,

    /// Join a cluster of relays that share one PostgreSQL database (DATABASE_URL) and reach
    /// each other through this NATS server, e.g. nats://10.0.0.5:4222. Without it the relay
    /// works alone. docs/cluster.md says how to run several behind a load balancer.
    #[arg(long, env = "NATS_URL", value_name = "URL")]
    pub nats: Option<String>,

    /// This relay's name in the cluster: letters, digits, '-' and '_'. Defaults to the host
    /// name and the port, e.g. relay1-8080. Keep it across restarts.
    #[arg(long, env = "INSTANCE_ID", value_name = "NAME")]
    pub instance_id: Option<String>,

    /// Seconds a relay stopping with SIGTERM waits for its connectors and browsers to move to
    /// the other relays of its cluster before it exits anyway.
    #[arg(long, env = "DRAIN_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600), value_name = "SECONDS")]
    pub drain_timeout: u64,

    /// Get and renew an HTTPS certificate for this domain (or several, comma-separated) from
    /// an ACME CA (Let's Encrypt unless --acme-directory), kept in --data-dir/acme. The CA
    /// must reach this relay on port 443 of the domain (TLS-ALPN-01): no other port needed.
    #[arg(long, env = "ACME_DOMAIN", value_name = "DOMAIN,...", value_delimiter = ',', conflicts_with = "tls_cert")]
    pub acme_domain: Vec<String>,

    /// Contact address given to the ACME CA (about expiry or problems with the account).
    #[arg(long, env = "ACME_EMAIL", value_name = "EMAIL", requires = "acme_domain")]
    pub acme_email: Option<String>,

    /// The ACME CA's directory URL.
    #[arg(long, env = "ACME_DIRECTORY", value_name = "URL", default_value = LETS_ENCRYPT, requires = "acme_domain")]
    pub acme_directory: String,

    /// PEM certificates to trust for the ACME CA's own HTTPS (a private CA such as step-ca or
    /// pebble) instead of the public roots.
    #[arg(long, env = "ACME_CA_FILE", value_name = "FILE", requires = "acme_domain")]
    pub acme_ca_file: Option<PathBuf>,

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

    /// Key for encrypting secrets at rest (AI-node configs): any string of at least 32
    /// characters. Defaults to one generated on first start and kept in --data-dir. To rotate,
    /// start with the new key here and the old one in --previous-secrets-keys: every stored
    /// secret is re-encrypted at start.
    #[arg(long, env = "SECRETS_KEY", hide_env_values = true, value_name = "KEY")]
    pub secrets_key: Option<String>,

    /// Former --secrets-key values, still accepted for decrypting while secrets are
    /// re-encrypted under the current key.
    #[arg(long, env = "PREVIOUS_SECRETS_KEYS", hide_env_values = true, value_name = "KEY,...", value_delimiter = ',')]
    pub previous_secrets_keys: Vec<String>,

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

    #[command(flatten)]
    pub limits: Limits,

    /// Without a command, the relay runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `privaclaw-relay` does other than run.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Copy the SQLite database, consistently, and the data directory's secrets (token-signing
    /// secret, secrets key) into one file, while the relay runs. The file holds password
    /// hashes and the signing secret: keep it as private as the data directory.
    Backup {
        /// The backup file to write (it must not exist yet).
        file: PathBuf,
    },
    /// Put a backup made by `backup` into --data-dir. The relay must not be running there.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Replace a database already in --data-dir (it is kept beside, renamed
        /// privaclaw.db.replaced-<unix time>).
        #[arg(long)]
        replace: bool,
    },
}

/// What one person, address or device may use. Every one has a default a normal team never
/// reaches; docs/security.md says why each is what it is.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Limits")]
pub struct Limits {
    /// Sign-in attempts allowed per client address (IPv6: per /64) per minute.
    #[arg(long, env = "LOGIN_RATE", default_value_t = 20, value_name = "PER_MINUTE")]
    pub login_rate: u32,

    /// Failed sign-ins allowed per account in 15 minutes, from all addresses together; then
    /// the account's sign-ins are refused until the window passes (a reset link still works).
    #[arg(long, env = "ACCOUNT_LOGIN_FAILURES", default_value_t = 10, value_name = "COUNT")]
    pub account_login_failures: u32,

    /// Sign-ups and password changes allowed per client address per minute.
    #[arg(long, env = "SIGNUP_RATE", default_value_t = 5, value_name = "PER_MINUTE")]
    pub signup_rate: u32,

    /// Passwords hashed at once (argon2id, 7 MiB each). Sign-ups and password changes use at
    /// most all but one, so sign-ins always find a free hasher.
    #[arg(long, env = "HASH_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=64), value_name = "COUNT")]
    pub hash_concurrency: u32,

    /// Pairing attempts allowed per client address per minute.
    #[arg(long, env = "PAIR_RATE", default_value_t = 10, value_name = "PER_MINUTE")]
    pub pair_rate: u32,

    /// Wrong pairing codes accepted per minute from everyone together; past it, pairing
    /// pauses for everyone until the minute is over. With --pairing-code-ttl this bounds the
    /// chance of guessing a live code (docs/security.md).
    #[arg(long, env = "PAIR_FAILURES", default_value_t = 60, value_name = "PER_MINUTE")]
    pub pair_failures: u32,

    /// Seconds a pairing code stays valid.
    #[arg(long, env = "PAIRING_CODE_TTL", default_value_t = 900, value_parser = clap::value_parser!(u64).range(60..=86400), value_name = "SECONDS")]
    pub pairing_code_ttl: u64,

    /// Open connections allowed per client address (IPv6: per /64); 0 for no limit. Trusted
    /// proxies (--trust-proxy) are not limited.
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value_t = 256, value_name = "COUNT")]
    pub max_connections_per_ip: u32,

    /// Open terminal sessions per user.
    #[arg(long, env = "MAX_SESSIONS_PER_USER", default_value_t = 32, value_name = "COUNT")]
    pub max_sessions_per_user: u32,

    /// Open terminal sessions per device.
    #[arg(long, env = "MAX_SESSIONS_PER_DEVICE", default_value_t = 32, value_name = "COUNT")]
    pub max_sessions_per_device: u32,

    /// Output kept per session for browsers that reconnect, in KiB.
    #[arg(long, env = "REPLAY_PER_SESSION", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(16..=65536), value_name = "KIB")]
    pub replay_per_session: u64,

    /// Output kept for reconnecting browsers across all sessions, in MiB. Past it, the replay
    /// of the session nobody has watched for longest goes first.
    #[arg(long, env = "REPLAY_BUDGET", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1048576), value_name = "MIB")]
    pub replay_budget: u64,

    /// Projects a user may own.
    #[arg(long, env = "MAX_PROJECTS_PER_USER", default_value_t = 100, value_name = "COUNT")]
    pub max_projects_per_user: u32,

    /// Devices (connectors and AI nodes) per project.
    #[arg(long, env = "MAX_DEVICES_PER_PROJECT", default_value_t = 1000, value_name = "COUNT")]
    pub max_devices_per_project: u32,

    /// Members per project, pending invitations included.
    #[arg(long, env = "MAX_MEMBERS_PER_PROJECT", default_value_t = 200, value_name = "COUNT")]
    pub max_members_per_project: u32,

    /// AI-node configurations per user.
    #[arg(long, env = "MAX_SKILL_CONFIGS_PER_USER", default_value_t = 100, value_name = "COUNT")]
    pub max_skill_configs_per_user: u32,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signups {
    Open,
    Invite,
    Closed,
}

/// Let's Encrypt's production directory, the default ACME CA.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

impl Config {
    pub fn listen_addr(&self) -> SocketAddr {
        let port = self.port.unwrap_or(if self.acme_domain.is_empty() { 8080 } else { 443 });
        self.listen.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], port)))
    }

    /// Fills in what other settings imply: with ACME and no --public-url, the public URL is the
    /// first ACME domain (with the port when it is not 443).
    pub fn settle(mut self) -> Config {
        if self.public_url.is_none()
            && let Some(domain) = self.acme_domain.first()
        {
            self.public_url = Some(match self.listen_addr().port() {
                443 => format!("https://{domain}"),
                port => format!("https://{domain}:{port}"),
            });
        }
        self
    }

    /// This relay's name among its cluster's relays: --instance-id, or host name and port.
    pub fn instance_id(&self) -> String {
        if let Some(id) = &self.instance_id {
            return id.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "relay".into());
        let host: String =
            host.trim().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).take(48).collect();
        format!("{host}-{}", self.listen_addr().port())
    }

    /// Whether this relay terminates TLS itself (a certificate given, or one from ACME).
    pub fn serves_tls(&self) -> bool {
        self.tls_cert.is_some() || !self.acme_domain.is_empty()
    }

    pub fn dist_dir(&self) -> PathBuf {
        self.dist_dir.clone().unwrap_or_else(|| self.data_dir.join("dist"))
    }

    pub fn proxies(&self) -> Proxies {
        Proxies(self.trust_proxy.clone())
    }

    /// Settings that cannot work together, refused before anything starts.
    pub fn check(&self) -> Result<(), String> {
        if self.smtp_url.is_some() && self.public_url.is_none() {
            return Err(
                "SMTP_URL is set but --public-url (PUBLIC_URL) is not: links in emails must carry the relay's \
                 real address, not one a client claims. Set --public-url https://relay.example.com"
                    .into(),
            );
        }
        for d in &self.acme_domain {
            let bare = !d.is_empty() && d.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !bare || !d.contains('.') {
                return Err(format!(
                    "--acme-domain {d:?} must be a bare domain name such as relay.example.com: no scheme, port, \
                     path or wildcard (TLS-ALPN-01 cannot validate wildcards)"
                ));
            }
        }
        if self.nats.is_some() && !self.database_url.as_deref().is_some_and(|u| u.starts_with("postgres")) {
            return Err("--nats (NATS_URL) needs PostgreSQL: every relay of a cluster must share one database, and \
                 SQLite is one machine's file. Set DATABASE_URL=postgres://user:pass@host/db on every relay"
                .into());
        }
        if let Some(id) = &self.instance_id
            && !valid_instance_id(id)
        {
            return Err(format!(
                "--instance-id {id:?} must be 1 to 64 letters, digits, '-' or '_' (it is part of NATS subjects)"
            ));
        }
        if let Some(u) = &self.public_url {
            let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://")).unwrap_or("");
            if rest.is_empty() || rest.contains(char::is_whitespace) {
                return Err(format!(
                    "--public-url {u:?} must be an http:// or https:// URL, e.g. https://relay.example.com"
                ));
            }
        }
        Ok(())
    }
}

fn valid_instance_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
