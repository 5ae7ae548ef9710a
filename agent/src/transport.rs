//! Reaching the relay: URL → TCP → TLS when the scheme asks for it → one byte stream.
//!
//! Pairing (one HTTP/1.1 POST, `pair.rs`) and the link (a WebSocket, `link.rs`) both start
//! here, so there is one TCP/TLS stack in the binary. TLS is rustls with the ring provider and
//! Mozilla's roots compiled in (webpki-roots), plus the certificates of `--ca-file` for relays
//! with a private CA. `ws`/`http` and `wss`/`https` are accepted interchangeably, since the
//! relay's URL is the same origin for its API and its WebSocket.

use crate::http;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_rustls::TlsConnector;
use futures_rustls::client::TlsStream;
use futures_rustls::rustls::crypto::{CryptoProvider, KeyProvider};
use futures_rustls::rustls::pki_types::pem::PemObject;
use futures_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use futures_rustls::rustls::sign::SigningKey;
use futures_rustls::rustls::{self, ClientConfig, RootCertStore};
use ring::digest;
use smol::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use smol::net::TcpStream;
use std::cell::OnceCell;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The relay never sends more than 1 MiB per frame (protocol.md); refuse far bigger ones
/// instead of buffering them. Exceeding this drops the link, which then reconnects.
const MAX_MESSAGE: usize = 2 << 20;
/// tungstenite's default read buffer is 128 KiB; relay frames are mostly small keystrokes.
const READ_BUFFER: usize = 16 << 10;

/// The parts of a `ws://`, `wss://`, `http://` or `https://` URL we connect to.
#[derive(Debug, PartialEq)]
pub struct Endpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let bad = |why: &str| format!("invalid URL {url:?}: {why}");
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "ws" | "http" => false,
            "wss" | "https" => true,
            _ => return Err(bad("expected ws://, wss://, http:// or https://")),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        let (host, port) = match host_port.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
                (host, after.strip_prefix(':'))
            }
            None => match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            },
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("bad port"))?,
            None if tls => 443,
            None => 80,
        };
        let path = match path.strip_prefix('?') {
            Some(_) => format!("/{path}"),
            None if path.is_empty() => "/".to_owned(),
            None => path.to_owned(),
        };
        Ok(Endpoint { tls, host: host.to_owned(), port, path })
    }

    /// The same endpoint with `/suffix` appended to its path (before any query).
    pub fn join(&self, suffix: &str) -> Endpoint {
        let (path, query) = match self.path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.path.as_str(), None),
        };
        let mut joined = format!("{}/{suffix}", path.trim_end_matches('/'));
        if let Some(q) = query {
            joined.push('?');
            joined.push_str(q);
        }
        Endpoint { path: joined, host: self.host.clone(), ..*self }
    }

    /// `host[:port]` as the Host header wants it (the port only when not the default).
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        match (self.tls, self.port) {
            (true, 443) | (false, 80) => host,
            _ => format!("{host}:{}", self.port),
        }
    }
}

/// Trust anchors for TLS, and the client configuration built from them on first use: a relay
/// reached over plain `ws://` never pays for parsing the root store.
pub struct Tls {
    extra_roots: Vec<CertificateDer<'static>>,
    config: OnceCell<Arc<ClientConfig>>,
}

impl Tls {
    /// Reads `ca_file` now, so a wrong path fails at start-up instead of at every reconnect.
    pub fn new(ca_file: Option<&Path>) -> Result<Tls, String> {
        let mut extra_roots = Vec::new();
        if let Some(path) = ca_file {
            let err = |e: &dyn std::fmt::Display| format!("--ca-file {}: {e}", path.display());
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| err(&e))? {
                extra_roots.push(cert.map_err(|e| err(&e))?);
            }
            if extra_roots.is_empty() {
                return Err(err(&"no PEM certificate in it"));
            }
        }
        Ok(Tls { extra_roots, config: OnceCell::new() })
    }

    fn connector(&self) -> io::Result<TlsConnector> {
        if let Some(config) = self.config.get() {
            return Ok(TlsConnector::from(config.clone()));
        }
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for cert in &self.extra_roots {
            roots.add(cert.clone()).map_err(io::Error::other)?;
        }
        let provider =
            Arc::new(CryptoProvider { key_provider: &NoClientKeys, ..rustls::crypto::ring::default_provider() });
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConnector::from(self.config.get_or_init(|| Arc::new(config)).clone()))
    }
}

/// The client never presents a certificate, so it never signs. rustls's default key provider
/// would keep ring's RSA, ECDSA and Ed25519 signing code in the binary: 41 KB.
#[derive(Debug)]
struct NoClientKeys;

impl KeyProvider for NoClientKeys {
    fn load_private_key(&self, _key: PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        Err(rustls::Error::General("no client certificates".into()))
    }
}

/// A connection to the relay, encrypted or not.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

pub async fn connect(endpoint: &Endpoint, tls: &Tls) -> io::Result<Stream> {
    let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port)).await?;
    // Keystrokes and their echo are tiny writes; Nagle would hold them back for an ACK.
    tcp.set_nodelay(true)?;
    if !endpoint.tls {
        return Ok(Stream::Plain(tcp));
    }
    let name =
        ServerName::try_from(endpoint.host.clone()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let stream = tls.connector()?.connect(name, tcp).await?;
    Ok(Stream::Tls(Box::new(stream)))
}

/// Opens the WebSocket at `endpoint` (its scheme may be http(s); it is spoken as ws(s)): the
/// upgrade request by hand (`http.rs`), then tungstenite's framing.
pub async fn websocket(endpoint: &Endpoint, tls: &Tls) -> Result<WebSocketStream<Stream>, String> {
    let mut stream = connect(endpoint, tls).await.map_err(|e| e.to_string())?;
    let nonce = [crate::random::u64().to_le_bytes(), crate::random::u64().to_le_bytes()].concat();
    let key = STANDARD.encode(nonce);
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         User-Agent: relay-connector/{}\r\n\r\n",
        endpoint.path,
        endpoint.authority(),
        env!("CARGO_PKG_VERSION"),
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())?;
    let (head, early_frames) = http::read_head(&mut stream).await.map_err(|e| e.to_string())?;
    if head.status != 101 {
        return Err(format!("the relay answered HTTP {} instead of a WebSocket", head.status));
    }
    let upgraded = head.header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgraded || head.header("sec-websocket-accept") != Some(&accept_key(&key)) {
        return Err("invalid WebSocket handshake from the relay".to_owned());
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    Ok(WebSocketStream::from_partially_read(stream, early_frames, Role::Client, Some(config)).await)
}

/// What the server must answer to `key` (RFC 6455, 4.2.2): proof it speaks WebSocket.
fn accept_key(key: &str) -> String {
    let proof = format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    STANDARD.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, proof.as_bytes()))
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(s).poll_close(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(url: &str) -> Endpoint {
        Endpoint::parse(url).unwrap()
    }

    #[test]
    fn parses_schemes_ports_and_paths() {
        let e = ep("wss://relay.example.com");
        assert_eq!((e.tls, e.host.as_str(), e.port, e.path.as_str()), (true, "relay.example.com", 443, "/"));
        let e = ep("http://127.0.0.1:8080/functions/v1/");
        assert_eq!((e.tls, e.port, e.path.as_str()), (false, 8080, "/functions/v1/"));
        assert_eq!(e.authority(), "127.0.0.1:8080");
        let e = ep("HTTPS://[::1]:8443?x=1#frag");
        assert_eq!((e.host.as_str(), e.port, e.path.as_str()), ("::1", 8443, "/?x=1"));
        assert_eq!(e.authority(), "[::1]:8443");
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("relay.example.com").is_err());
        assert!(Endpoint::parse("ws://:80/").is_err());
    }

    #[test]
    fn accept_key_matches_rfc_6455() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn joins_paths_without_doubling_slashes() {
        assert_eq!(ep("https://r.example/functions/v1/").join("pair-device").path, "/functions/v1/pair-device");
        assert_eq!(ep("wss://r.example").join("connect").path, "/connect");
        assert_eq!(ep("ws://r.example/base?k=v").join("connect").path, "/base/connect?k=v");
    }
}
