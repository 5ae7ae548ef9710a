//! Reading relay frames: peek at the envelope's `type`, then parse `data` as the struct
//! that type calls for (`privaclaw-proto`'s messages, with miniserde). Unknown fields are
//! ignored, so a newer relay's additions do not break an older connector.

use miniserde::{Deserialize, json};
use privaclaw_proto::Frame;

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
}

/// The frame's `type`, if the text is a JSON object that has one.
pub fn kind(text: &str) -> Option<String> {
    json::from_str::<Head>(text).ok().map(|head| head.kind)
}

/// The frame's `data` as `T`, if present and well-formed.
pub fn data<T: Deserialize>(text: &str) -> Option<T> {
    json::from_str::<Frame<T>>(text).ok()?.data
}

#[cfg(test)]
mod tests {
    use super::*;
    use privaclaw_proto::{Output, SessionStart};

    #[test]
    fn peeks_the_type_then_parses_the_data() {
        let text = r#"{"data":{"data_b64":"aGk=","session_id":"s","extra":[1,{"x":null}]},"type":"stdin"}"#;
        assert_eq!(kind(text).as_deref(), Some("stdin"));
        let d: Output = data(text).unwrap();
        assert_eq!((d.session_id.as_str(), d.data_b64.as_str()), ("s", "aGk="));
        assert_eq!(kind("{"), None);
        assert_eq!(kind(r#"{"data":{}}"#), None);
        assert!(data::<SessionStart>(r#"{"type":"session_start"}"#).is_none());
        assert!(data::<SessionStart>(r#"{"type":"session_start","data":{"cols":80}}"#).is_none());
    }
}
