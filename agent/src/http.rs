//! The little HTTP/1.1 the connector speaks: one request out, one response head in.
//!
//! Two exchanges need it: pairing (`POST /pair-device`, `pair.rs`) and the WebSocket upgrade
//! (`GET /connect`, `transport.rs`). Written here rather than taken from hyper or from
//! tungstenite's `handshake` feature: the latter alone brings the `http`, `httparse`, `sha1`
//! and `data-encoding` crates, about 50 KB of the release binary for two fixed exchanges.

use smol::io::{AsyncRead, AsyncReadExt};
use std::io;

/// Bigger response heads than this are not from a relay.
const MAX_HEAD: usize = 16 << 10;

pub struct Head {
    pub status: u16,
    lines: String,
}

impl Head {
    /// The value of header `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.lines
            .split("\r\n")
            .filter_map(|line| line.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim())
    }
}

/// Reads a response head; returns it with whatever bytes came after it.
pub async fn read_head(stream: &mut (impl AsyncRead + Unpin)) -> io::Result<(Head, Vec<u8>)> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0; 1024];
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Err(bad("HTTP response head too long"));
        }
        match stream.read(&mut chunk).await? {
            0 => return Err(bad("connection closed before an HTTP response")),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let rest = buf.split_off(end + 4);
    buf.truncate(end);
    let text = String::from_utf8(buf).map_err(|_| bad("HTTP response head is not text"))?;
    let (status_line, lines) = text.split_once("\r\n").unwrap_or((&text, ""));
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|s| s.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("not an HTTP response"))?;
    let lines = lines.to_owned();
    Ok((Head { status, lines }, rest))
}

/// Joins the chunks of a `Transfer-Encoding: chunked` body.
pub fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&raw[..eol]).ok()?.split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(raw.get(eol + 2..eol + 2 + size)?);
        raw = raw.get(eol + 4 + size..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &[u8]) -> io::Result<(Head, Vec<u8>)> {
        smol::block_on(read_head(&mut &raw[..]))
    }

    #[test]
    fn reads_status_headers_and_what_follows() {
        let (h, rest) = head(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nsec-websocket-accept:  abc= \r\n\r\n\x81\x02hi",
        )
        .unwrap();
        assert_eq!(h.status, 101);
        assert_eq!(h.header("Sec-WebSocket-Accept"), Some("abc="));
        assert_eq!(h.header("upgrade"), Some("websocket"));
        assert_eq!(h.header("Content-Length"), None);
        assert_eq!(rest, b"\x81\x02hi");
        assert!(head(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }

    #[test]
    fn joins_chunks() {
        assert_eq!(dechunk(b"3\r\n{\"a\r\n4;x=y\r\n\":1}\r\n0\r\n\r\n").unwrap(), b"{\"a\":1}");
        assert_eq!(dechunk(b"5\r\nab"), None);
    }
}
