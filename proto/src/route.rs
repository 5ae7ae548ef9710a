//! The relay's view of incoming frames (`serde` feature): only what routing needs is parsed —
//! the type, the session id — borrowing from the received text, so a `stdout` frame can be
//! forwarded as the very bytes that arrived and its base64 payload is never decoded. Errors
//! are sentences for the peer.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
pub struct RawFrame<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
}

/// `stdout` as routed: the session and the payload, both borrowed.
#[derive(Deserialize)]
pub struct OutputRef<'a> {
    #[serde(borrow)]
    pub session_id: Cow<'a, str>,
    #[serde(borrow)]
    pub data_b64: Cow<'a, str>,
}

/// Any frame that names a session.
#[derive(Deserialize)]
pub struct SessionRefRef<'a> {
    #[serde(borrow, default)]
    pub session_id: Option<Cow<'a, str>>,
}

pub fn parse(text: &str) -> Result<RawFrame<'_>, String> {
    serde_json::from_str(text).map_err(|e| {
        if e.is_data() { format!("frame needs a string \"type\" ({e})") } else { "Invalid JSON".to_string() }
    })
}

/// The frame's `data` as `T`, or a sentence saying what is wrong with it.
pub fn data<'a, T: Deserialize<'a>>(frame: &RawFrame<'a>) -> Result<T, String> {
    let raw = frame.data.ok_or_else(|| format!("{} frame has no data", frame.kind))?;
    serde_json::from_str(raw.get()).map_err(|e| format!("bad {} data: {e}", frame.kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_without_copying_the_payload() {
        let text = r#"{"data":{"data_b64":"aGk=","session_id":"s1"},"type":"stdout"}"#;
        let f = parse(text).unwrap();
        assert_eq!(f.kind, "stdout");
        let o: OutputRef = data(&f).unwrap();
        assert_eq!(o.session_id, "s1");
        assert!(matches!(o.data_b64, Cow::Borrowed("aGk=")));
    }

    #[test]
    fn says_what_is_wrong() {
        assert_eq!(parse("{").err().unwrap(), "Invalid JSON");
        assert!(parse(r#"{"type":5}"#).err().unwrap().contains("\"type\""));
        let f = parse(r#"{"type":"stdin"}"#).unwrap();
        assert_eq!(data::<crate::Output>(&f).err().unwrap(), "stdin frame has no data");
        let f = parse(r#"{"type":"stdin","data":{"session_id":"s"}}"#).unwrap();
        assert!(data::<crate::Output>(&f).err().unwrap().contains("data_b64"));
    }
}
