//! Frame limits and the `error` frames the relay sends; parsing is `privaclaw_proto::route`.

pub use privaclaw_proto::route::{OutputRef, RawFrame, SessionRefRef, data, parse};
use privaclaw_proto::{ErrorData, encode, kind};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Frames larger than this are refused with an error (the socket allows a little more, so
/// the sender hears why instead of being cut off).
pub const MAX_FRAME: usize = 1024 * 1024;

pub fn error(message: &str, code: Option<&str>, session_id: Option<&str>) -> Utf8Bytes {
    let e = ErrorData { message: message.into(), code: code.map(Into::into), session_id: session_id.map(Into::into) };
    encode(kind::ERROR, Some(&e)).into()
}
