//! The `data` object of every frame, one struct per shape.
//!
//! Each struct derives serde's and miniserde's `Deserialize` (behind features) and writes
//! itself through [`crate::json`]. Unknown fields are ignored by both parsers, so either side
//! may add fields without breaking the other; absent `Option` fields are not written.

use crate::json::{Fields, ToFields};

/// Writes one field of a message; implemented for the value types messages use.
pub trait FieldValue {
    fn write(&self, key: &str, f: &mut Fields<'_>);
}

impl FieldValue for String {
    fn write(&self, key: &str, f: &mut Fields<'_>) {
        f.str(key, self)
    }
}
impl FieldValue for bool {
    fn write(&self, key: &str, f: &mut Fields<'_>) {
        f.bool(key, *self)
    }
}
impl FieldValue for u16 {
    fn write(&self, key: &str, f: &mut Fields<'_>) {
        f.num(key, u64::from(*self))
    }
}
impl FieldValue for u64 {
    fn write(&self, key: &str, f: &mut Fields<'_>) {
        f.num(key, *self)
    }
}
impl FieldValue for Vec<String> {
    fn write(&self, key: &str, f: &mut Fields<'_>) {
        f.strs(key, self)
    }
}
impl FieldValue for Vec<u64> {
    fn write(&self, key: &str, f: &mut Fields<'_>) {
        f.nums(key, self)
    }
}
impl<T: FieldValue> FieldValue for Option<T> {
    fn write(&self, key: &str, f: &mut Fields<'_>) {
        if let Some(v) = self {
            v.write(key, f)
        }
    }
}

/// Declares a message struct: both parsers' derives, and a writer for its fields in order.
macro_rules! message {
    ($(#[$m:meta])* pub struct $name:ident { $( $(#[$fm:meta])* pub $field:ident : $ty:ty ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Default)]
        #[cfg_attr(feature = "serde", derive(serde::Deserialize))]
        #[cfg_attr(feature = "miniserde", derive(miniserde::Deserialize))]
        pub struct $name { $( $(#[$fm])* pub $field: $ty ),* }

        impl ToFields for $name {
            fn fields(&self, f: &mut Fields<'_>) {
                $( FieldValue::write(&self.$field, stringify!($field), f); )*
            }
        }

        impl FieldValue for $name {
            fn write(&self, key: &str, f: &mut Fields<'_>) {
                f.obj(key, self)
            }
        }
    };
}

message! {
    /// `hello`, connector → relay. Terminal connectors send `device_id`; OpenClaw nodes send
    /// `node_id` (an alias). `sessions` lists PTYs still alive after a lost link (our extension);
    /// `offsets[i]`, when given, is where in session i's output the connector resends from
    /// after `hello_ok` (all it still holds), so nothing in flight in a relay that died is lost.
    pub struct Hello {
        pub device_id: Option<String>,
        pub node_id: Option<String>,
        pub token: Option<String>,
        pub meta: Option<Meta>,
        pub sessions: Option<Vec<String>>,
        pub offsets: Option<Vec<u64>>,
    }
}

message! {
    /// `hello.data.meta`. The reference connector sends only `name` (always "connector");
    /// OpenClaw nodes send only `kind` ("openclaw").
    pub struct Meta {
        pub name: Option<String>,
        pub version: Option<String>,
        pub os: Option<String>,
        pub arch: Option<String>,
        pub kind: Option<String>,
    }
}

message! {
    /// `hello_ok`, relay → connector. Data is optional; the reference sends `workdir`.
    pub struct HelloOk {
        pub workdir: Option<String>,
        /// Seconds the relay keeps a session whose connector dropped; PTYs should live as long.
        pub session_grace: Option<u64>,
    }
}

message! {
    /// `session_start`: spawn a shell of this size (browser → relay → connector).
    pub struct SessionStart {
        pub session_id: String,
        pub cols: Option<u16>,
        pub rows: Option<u16>,
    }
}

message! {
    /// `session_started`, `pause`, `resume`: frames that only name a session.
    pub struct SessionRef {
        pub session_id: String,
    }
}

message! {
    /// `stdout` (connector → relay → browser) and `stdin` (browser → relay → connector).
    pub struct Output {
        pub session_id: String,
        pub data_b64: String,
    }
}

message! {
    /// `resize`. With `probe: true` the connector answers `session_started` if the PTY exists.
    pub struct Resize {
        pub session_id: String,
        pub cols: Option<u16>,
        pub rows: Option<u16>,
        pub probe: Option<bool>,
    }
}

message! {
    /// `session_end`, either direction. Extensions: `status`, the shell's exit status (with
    /// `reason: "exit"`; 128 + N for a shell killed by signal N); `by`, the email of whoever
    /// ended it (relay → browser, with `reason: "user_exit"`).
    pub struct SessionEnd {
        pub session_id: String,
        pub reason: Option<String>,
        pub status: Option<u16>,
        pub by: Option<String>,
    }
}

message! {
    /// `error`. `session_id` routes a connector's error to that session's browsers.
    pub struct ErrorData {
        pub message: String,
        pub code: Option<String>,
        pub session_id: Option<String>,
    }
}

message! {
    /// `auth`, browser → relay. `cols`/`rows` size a PTY the relay starts; `offset` is how
    /// many output bytes this browser already has, so a resume replays only what it missed;
    /// `join: true` attaches to a session someone else started (they are told).
    pub struct Auth {
        pub token: String,
        pub session_id: String,
        pub device_id: Option<String>,
        pub cols: Option<u16>,
        pub rows: Option<u16>,
        pub offset: Option<u64>,
        pub join: Option<bool>,
    }
}

message! {
    /// `auth_ok`, relay → browser. `offset` is where the replayed output starts; `dropped`
    /// how many bytes the browser asked for that the bounded replay buffer no longer holds.
    pub struct AuthOk {
        pub session_id: Option<String>,
        pub device_id: Option<String>,
        pub resumed: Option<bool>,
        pub offset: Option<u64>,
        pub dropped: Option<u64>,
    }
}

message! {
    /// `device_status`, relay → browser: the session's device went offline or came back.
    pub struct DeviceStatus {
        pub device_id: String,
        pub status: String,
    }
}

message! {
    /// `viewer_joined` / `viewer_left`, relay → browser: someone other than the session's
    /// starter joined it or left. A status line for the people watching, never terminal output.
    pub struct ViewerChange {
        pub session_id: String,
        pub user_id: String,
        pub email: String,
    }
}

message! {
    /// `heartbeat`, AI node → relay, every 15 s.
    pub struct Heartbeat {
        pub node_id: Option<String>,
        pub uptime: Option<u64>,
        pub active_tasks: Option<u64>,
        pub last_error: Option<String>,
        pub connection_state: Option<String>,
    }
}

/// Writes a `stdout`/`stdin` frame whose base64 payload `write_b64` appends in place, so
/// the connector encodes PTY output straight into the frame (`capacity` is a size hint).
pub fn output_frame(kind: &str, session_id: &str, capacity: usize, write_b64: impl FnOnce(&mut String)) -> String {
    let mut buf = String::with_capacity(capacity + session_id.len() + 64);
    buf.push_str("{\"type\":");
    crate::json::push_str(&mut buf, kind);
    buf.push_str(",\"data\":{\"session_id\":");
    crate::json::push_str(&mut buf, session_id);
    buf.push_str(",\"data_b64\":\"");
    write_b64(&mut buf);
    buf.push_str("\"}}");
    buf
}

/// A whole frame with its `data` parsed as `T`: `{"type": …, "data": T}`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "miniserde", derive(miniserde::Deserialize))]
pub struct Frame<T> {
    #[cfg_attr(any(feature = "serde", feature = "miniserde"), serde(rename = "type"))]
    pub kind: String,
    pub data: Option<T>,
}

message! {
    /// `prompt`, `status`, `restart`, `workflow`: relay → AI node. Arguments sit one level down,
    /// in `data.data`, as the OpenClaw skill expects them; a workflow's `params` (free-form JSON)
    /// is read by each side with its own JSON library.
    pub struct Command {
        pub request_id: Option<String>,
        pub data: Option<CommandArgs>,
    }
}

message! {
    pub struct CommandArgs {
        pub prompt: Option<String>,
        pub workflow_id: Option<String>,
    }
}

/// `response`, AI node → relay: `{"type": "response", "data": {"type": "token", …}}`.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "miniserde", derive(miniserde::Deserialize))]
pub struct Response {
    /// `token`, `done`, `status` or `error`.
    #[cfg_attr(any(feature = "serde", feature = "miniserde"), serde(rename = "type"))]
    pub kind: String,
    pub request_id: Option<String>,
    /// A `token`'s text.
    pub content: Option<String>,
    /// An `error`'s sentence.
    pub message: Option<String>,
    // A `status` carries the heartbeat's fields.
    pub node_id: Option<String>,
    pub uptime: Option<u64>,
    pub active_tasks: Option<u64>,
    pub last_error: Option<String>,
    pub connection_state: Option<String>,
}

impl ToFields for Response {
    fn fields(&self, f: &mut Fields<'_>) {
        f.str("type", &self.kind);
        FieldValue::write(&self.request_id, "request_id", f);
        FieldValue::write(&self.content, "content", f);
        FieldValue::write(&self.message, "message", f);
        FieldValue::write(&self.node_id, "node_id", f);
        FieldValue::write(&self.uptime, "uptime", f);
        FieldValue::write(&self.active_tasks, "active_tasks", f);
        FieldValue::write(&self.last_error, "last_error", f);
        FieldValue::write(&self.connection_state, "connection_state", f);
    }
}
