//! Frame type names and WebSocket close codes, shared so neither side spells them twice.
//!
//! The names of the reference protocol are kept; `ping`/`pong` at application level,
//! `pause`/`resume` (flow control), `device_status` and the AI-node frames are extensions
//! that a peer which does not know them ignores.

// Connector → relay
pub const HELLO: &str = "hello";
pub const SESSION_STARTED: &str = "session_started";
pub const STDOUT: &str = "stdout";
pub const META_UPDATE: &str = "meta_update";
pub const HEARTBEAT: &str = "heartbeat";
pub const RESPONSE: &str = "response";

// Relay → connector
pub const HELLO_OK: &str = "hello_ok";
pub const SESSION_START: &str = "session_start";
pub const STDIN: &str = "stdin";
pub const RESIZE: &str = "resize";
/// Flow control: stop reading this session's PTY until `resume` (browser → relay → connector).
pub const PAUSE: &str = "pause";
pub const RESUME: &str = "resume";

// Both directions
pub const SESSION_END: &str = "session_end";
pub const ERROR: &str = "error";

// Browser ↔ relay
pub const AUTH: &str = "auth";
pub const AUTH_OK: &str = "auth_ok";
pub const PING: &str = "ping";
pub const PONG: &str = "pong";
/// The reference relay's name for a connector's `meta_update` forwarded to browsers.
pub const DEVICE_META: &str = "device_meta";
/// The session's device went offline or came back (the session itself carries on).
pub const DEVICE_STATUS: &str = "device_status";
/// Someone joined the session (a project member other than the one who started it), or left.
pub const VIEWER_JOINED: &str = "viewer_joined";
pub const VIEWER_LEFT: &str = "viewer_left";

// Relay → AI node commands (see `shared/spec/openclaw-nodes.md`)
pub const PROMPT: &str = "prompt";
pub const STATUS: &str = "status";
pub const RESTART: &str = "restart";
pub const WORKFLOW: &str = "workflow";

/// `session_end` reasons.
pub mod reason {
    /// The shell exited.
    pub const EXIT: &str = "exit";
    /// A person ended the session (browser or `end-session`).
    pub const USER_EXIT: &str = "user_exit";
    /// The reference app's reason when a tab closes; the PTY is kept (reference behaviour).
    pub const BROWSER_DISCONNECTED: &str = "browser_disconnected";
    /// The connector dropped and could not resume this session.
    pub const CONNECTOR_DISCONNECTED: &str = "connector_disconnected";
    /// Nobody re-attached within the grace period.
    pub const TIMEOUT: &str = "timeout";
    /// The shell could not be started.
    pub const PTY_ERROR: &str = "pty_error";
    /// The connector is shutting down (SIGTERM).
    pub const SHUTDOWN: &str = "shutdown";
    /// The device was deleted or re-paired.
    pub const DEVICE_REMOVED: &str = "device_removed";
    /// The person's access ended (removed from the project, signed out, password changed).
    pub const ACCESS_REVOKED: &str = "access_revoked";
}

/// WebSocket close codes the relay uses (4000–4999 are for applications).
pub mod close {
    /// Bad device token or bad/expired access token. A connector must not retry: re-pair.
    pub const AUTH_FAILED: u16 = 4001;
    /// The session does not exist, has ended, or is not this user's to open.
    pub const SESSION_INVALID: u16 = 4002;
    /// The session's connector is offline.
    pub const CONNECTOR_OFFLINE: u16 = 4003;
    /// The person's access ended while the socket was open. The reference's "connector
    /// offline" code, so an old client stops too rather than retrying; the `error` frame sent
    /// just before (code `access_revoked`) says which it is.
    pub const ACCESS_REVOKED: u16 = 4003;
    /// Another connection authenticated with the same device credentials and replaced this one.
    pub const REPLACED: u16 = 4004;
    /// The session was started by someone else: authenticate again with `join: true` to join
    /// it (they will be told).
    pub const JOIN_REQUIRED: u16 = 4006;
    /// A browser fell too far behind; reconnect with `offset` to resume.
    pub const TOO_SLOW: u16 = 4008;
    /// The relay is restarting (RFC 6455's "service restart"): reconnect; sessions carry on.
    pub const RESTARTING: u16 = 1012;
    /// No `hello`/`auth` within the time allowed, or protocol misuse.
    pub const PROTOCOL: u16 = 4009;
    /// This relay is draining (a rolling upgrade) or the device moved to another relay of the
    /// cluster: reconnect now, without a backoff delay. The load balancer sends you to another
    /// relay; sessions carry on there.
    pub const MOVED: u16 = 4010;
}
