//! Reading relay frames: peek at the envelope's `type`, then parse `data` as the struct
//! that type calls for (`privaclaw-proto`'s messages, with miniserde). Unknown fields are
//! ignored, so a newer relay's additions do not break an older connector. Free-form JSON (a
//! workflow's `params`) is not parsed at all: `raw` finds its text, passed on as it came.

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

/// The JSON text of the value at `path` (object keys, outermost first), as it is in `text`;
/// `None` if a key is missing or the text is not JSON of that shape. Keys are compared as
/// written (a key spelled with escapes does not match).
pub fn raw<'a>(text: &'a str, path: &[&str]) -> Option<&'a str> {
    let b = text.as_bytes();
    let mut at = space(b, 0);
    'path: for key in path {
        if b.get(at) != Some(&b'{') {
            return None;
        }
        at = space(b, at + 1);
        while b.get(at) != Some(&b'}') {
            let end = string_end(b, at)?;
            let name = text.get(at + 1..end - 1)?;
            at = space(b, end);
            if b.get(at) != Some(&b':') {
                return None;
            }
            at = space(b, at + 1);
            if name == *key {
                continue 'path;
            }
            at = space(b, value_end(b, at)?);
            if b.get(at) == Some(&b',') {
                at = space(b, at + 1);
            }
        }
        return None;
    }
    text.get(at..value_end(b, at)?)
}

fn space(b: &[u8], mut at: usize) -> usize {
    while b.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// Where the string starting at `at` (its opening quote) ends, after its closing quote.
fn string_end(b: &[u8], at: usize) -> Option<usize> {
    if b.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    loop {
        match *b.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// Where the value starting at `at` ends.
fn value_end(b: &[u8], at: usize) -> Option<usize> {
    match *b.get(at)? {
        b'"' => string_end(b, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match *b.get(i)? {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            // A number, true, false or null.
            let len =
                b[at..].iter().take_while(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace()).count();
            (len > 0).then_some(at + len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use privaclaw_proto::{Output, SessionStart};

    #[test]
    fn raw_finds_nested_values_as_written() {
        let golden = include_str!("../../proto/golden/relay-workflow.json");
        assert_eq!(raw(golden, &["data", "data", "params"]), Some(r#"{"x":1}"#));
        assert_eq!(raw(golden, &["data", "request_id"]), Some(r#""r4""#));
        let text = r#" { "type" : "workflow", "data": {"skip": [1, {"params": "no"}, "]}\""], "data" :
            {"params" : [ 1.5e3 , "a\"b" , {"k":null} ] , "after": true}} } "#;
        assert_eq!(raw(text, &["data", "data", "params"]), Some(r#"[ 1.5e3 , "a\"b" , {"k":null} ]"#));
        assert_eq!(raw(text, &["data", "data", "after"]), Some("true"));
        assert_eq!(raw(text, &["data", "skip"]), Some(r#"[1, {"params": "no"}, "]}\""]"#));
        assert_eq!(raw(text, &["data", "params"]), None);
        assert_eq!(raw(text, &["type", "x"]), None);
        assert_eq!(raw(r#"{"data":{"data":{}}}"#, &["data", "data", "params"]), None);
        for junk in ["", "{", r#"{"data""#, r#"{"data":{"data":{"params":"#, r#"{"data":[}"#, "[1]", r#"{"a":"\"#] {
            assert_eq!(raw(junk, &["data", "data", "params"]), None, "{junk}");
        }
    }

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
