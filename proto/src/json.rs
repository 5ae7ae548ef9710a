//! The one JSON writer both sides use to put frames on the wire.
//!
//! Parsing is left to each side's library (serde in the relay, miniserde in the connector),
//! but writing is shared: it skips absent optional fields (miniserde cannot), keeps key order
//! stable (`type` first, so a router can look at it early), and lets the connector write a
//! base64 payload straight into the frame without an intermediate copy.

/// Something that can write the fields of a frame's `data` object.
pub trait ToFields {
    fn fields(&self, f: &mut Fields<'_>);
}

/// Writes `"key":value` pairs of one JSON object into a string.
pub struct Fields<'a> {
    buf: &'a mut String,
    first: bool,
}

impl<'a> Fields<'a> {
    fn key(&mut self, key: &str) {
        if !self.first {
            self.buf.push(',');
        }
        self.first = false;
        push_str(self.buf, key);
        self.buf.push(':');
    }

    pub fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        push_str(self.buf, value);
    }

    pub fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    pub fn num(&mut self, key: &str, value: u64) {
        self.key(key);
        self.buf.push_str(&value.to_string());
    }

    pub fn opt_num(&mut self, key: &str, value: Option<u64>) {
        if let Some(v) = value {
            self.num(key, v);
        }
    }

    pub fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
    }

    pub fn null(&mut self, key: &str) {
        self.key(key);
        self.buf.push_str("null");
    }

    /// A value that is already JSON (e.g. command parameters passed through untouched).
    pub fn raw(&mut self, key: &str, json: &str) {
        self.key(key);
        self.buf.push_str(json);
    }

    pub fn strs(&mut self, key: &str, values: &[String]) {
        self.key(key);
        self.buf.push('[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            push_str(self.buf, v);
        }
        self.buf.push(']');
    }

    pub fn nums(&mut self, key: &str, values: &[u64]) {
        self.key(key);
        self.buf.push('[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            self.buf.push_str(&v.to_string());
        }
        self.buf.push(']');
    }

    pub fn obj(&mut self, key: &str, value: &dyn ToFields) {
        self.key(key);
        write_object(self.buf, value);
    }

    /// A field whose value the caller writes itself, inside quotes (a base64 payload).
    pub fn str_with(&mut self, key: &str, write: impl FnOnce(&mut String)) {
        self.key(key);
        self.buf.push('"');
        write(self.buf);
        self.buf.push('"');
    }
}

fn write_object(buf: &mut String, value: &dyn ToFields) {
    buf.push('{');
    value.fields(&mut Fields { buf, first: true });
    buf.push('}');
}

/// `{"type":kind}` or `{"type":kind,"data":{…}}`.
pub fn encode(kind: &str, data: Option<&dyn ToFields>) -> String {
    let mut buf = String::with_capacity(64);
    buf.push_str("{\"type\":");
    push_str(&mut buf, kind);
    if let Some(d) = data {
        buf.push_str(",\"data\":");
        write_object(&mut buf, d);
    }
    buf.push('}');
    buf
}

/// Appends `s` as a JSON string literal.
pub fn push_str(buf: &mut String, s: &str) {
    buf.reserve(s.len() + 2);
    buf.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        buf.push_str(&s[start..i]);
        if esc.is_empty() {
            buf.push_str(&format!("\\u{b:04x}"));
        } else {
            buf.push_str(esc);
        }
        start = i + 1;
    }
    buf.push_str(&s[start..]);
    buf.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
    }

    #[test]
    fn frame_without_data_has_only_type() {
        assert_eq!(encode("pong", None), r#"{"type":"pong"}"#);
    }
}
