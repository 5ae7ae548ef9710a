//! The fake relay and the connector process that `relay.rs` and `node.rs` drive.
#![allow(dead_code)] // each test file uses its own part

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::handshake::server::{Request, Response};
use async_tungstenite::tungstenite::protocol::CloseFrame;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_rustls::TlsAcceptor;
use futures_rustls::rustls::pki_types::pem::PemObject;
use futures_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use futures_rustls::rustls::{self, ServerConfig};
use miniserde::{Deserialize, json};
use privaclaw_proto::{Frame, Hello, Output, SessionRef};
use smol::Timer;
use smol::io::{AsyncRead, AsyncWrite};
use smol::net::TcpListener;
use smol::stream::StreamExt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_relay-connector");
/// The heartbeat interval of connectors in node mode, instead of 15 s.
pub const HEARTBEAT_MS: u64 = 50;

pub fn within<T>(test: impl Future<Output = T>) -> T {
    smol::block_on(smol::future::or(test, async {
        Timer::after(Duration::from_secs(90)).await;
        panic!("test timed out");
    }))
}

/// A fresh directory under cargo's scratch space for one test.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("relay-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The connector process, killed if a test leaves it running.
pub struct Connector {
    pub child: Option<Child>,
    pub dir: PathBuf,
}

impl Connector {
    /// Starts the connector paired to `relay_url` (config written the way pairing would).
    pub fn start(relay_url: &str) -> Connector {
        Connector::start_with(relay_url, &[])
    }

    pub fn start_with(relay_url: &str, args: &[&str]) -> Connector {
        Connector::launch(relay_url, args, |_| None)
    }

    /// Starts the connector in AI-node mode, its heartbeat every `HEARTBEAT_MS`. `node` gets
    /// the connector's directory (to put workflows in) and returns the config's `node` object.
    pub fn start_node(relay_url: &str, node: impl FnOnce(&Path) -> String) -> Connector {
        Connector::launch(relay_url, &[], |dir| Some(node(dir)))
    }

    fn launch(relay_url: &str, args: &[&str], node: impl FnOnce(&Path) -> Option<String>) -> Connector {
        let dir = scratch("run");
        let config = dir.join("config.json");
        let node = node(&dir).map_or(String::new(), |node| format!(r#","node":{node}"#));
        let text = format!(r#"{{"device_id":"dev-1","token":"tok-secret","relay_url":"{relay_url}"{node}}}"#);
        std::fs::write(&config, text).unwrap();
        let child = Command::new(BIN)
            .args(["--config", config.to_str().unwrap(), "--shell", "/bin/sh", "--name", "test-box", "-v"])
            .args(args)
            .env("HOME", &dir)
            .env("RELAY_CONNECTOR_HEARTBEAT_MS", HEARTBEAT_MS.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
            .spawn()
            .unwrap();
        Connector { child: Some(child), dir }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    pub async fn exit_status(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        smol::unblock(move || child.wait().unwrap()).await
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap()
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the fake relay's WebSockets run on: plain TCP, or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

pub struct FakeRelay {
    pub listener: TcpListener,
    pub tls: Option<TlsAcceptor>,
}

impl FakeRelay {
    pub async fn new() -> FakeRelay {
        FakeRelay { listener: TcpListener::bind("127.0.0.1:0").await.unwrap(), tls: None }
    }

    /// A relay on wss:// whose certificate comes from the test CA (`tests/fixtures/`).
    pub async fn with_tls() -> FakeRelay {
        let fixture = |name: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
        let chain = CertificateDer::pem_file_iter(fixture("relay.pem")).unwrap().map(Result::unwrap).collect();
        let key = PrivateKeyDer::from_pem_file(fixture("relay.key")).unwrap();
        let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        FakeRelay { tls: Some(TlsAcceptor::from(Arc::new(config))), ..FakeRelay::new().await }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}", self.listener.local_addr().unwrap())
    }

    pub async fn accept_io(&self) -> std::io::Result<Box<dyn Io>> {
        let (stream, _) = self.listener.accept().await?;
        Ok(match &self.tls {
            Some(tls) => Box::new(tls.accept(stream).await?),
            None => Box::new(stream),
        })
    }

    /// Accepts the connector's next connection and checks its path.
    #[allow(clippy::result_large_err)] // the callback's type is tungstenite's
    pub async fn accept(&self) -> Link {
        let stream = self.accept_io().await.unwrap();
        let ws = async_tungstenite::accept_hdr_async(stream, |req: &Request, res: Response| {
            assert_eq!(req.uri().path(), "/connect");
            Ok(res)
        })
        .await
        .unwrap();
        Link { ws }
    }

    /// Accepts a connection and completes hello / hello_ok; returns the hello.
    pub async fn accept_hello(&self) -> (Link, Hello) {
        let mut link = self.accept().await;
        let hello: Hello = link.expect("hello").await;
        link.send(r#"{"type":"hello_ok","data":{"session_grace":600}}"#).await;
        (link, hello)
    }
}

pub struct Link {
    pub ws: WebSocketStream<Box<dyn Io>>,
}

#[derive(Deserialize)]
pub struct Head {
    #[serde(rename = "type")]
    kind: String,
}

impl Link {
    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    pub async fn close(&mut self, code: u16) {
        let frame = CloseFrame { code: code.into(), reason: "test".into() };
        self.ws.close(Some(frame)).await.unwrap();
    }

    /// The next text frame as (type, text); control frames are skipped.
    pub async fn recv(&mut self) -> (String, String) {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let text = text.as_str().to_owned();
                    let head: Head = json::from_str(&text).unwrap();
                    return (head.kind, text);
                }
                Some(Ok(Message::Close(_))) | None => panic!("the connector closed the link"),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("link error: {e}"),
            }
        }
    }

    /// Skips frames until one of `kind`, and returns its data.
    pub async fn expect<T: Deserialize>(&mut self, kind: &str) -> T {
        loop {
            let (k, text) = self.recv().await;
            if k == kind {
                return json::from_str::<Frame<T>>(&text).unwrap().data.unwrap();
            }
        }
    }

    /// Reads until the connector closes the link; returns the text frames that came first
    /// and the close frame's reason.
    pub async fn until_closed(&mut self) -> (Vec<(String, String)>, String) {
        let mut frames = Vec::new();
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let text = text.as_str().to_owned();
                    let head: Head = json::from_str(&text).unwrap();
                    frames.push((head.kind, text));
                }
                Some(Ok(Message::Close(frame))) => {
                    return (frames, frame.map(|f| f.reason.to_string()).unwrap_or_default());
                }
                None => return (frames, String::new()),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("link error: {e}"),
            }
        }
    }

    pub async fn start_session(&mut self, id: &str) {
        self.send(&format!(r#"{{"type":"session_start","data":{{"session_id":"{id}","cols":100,"rows":30}}}}"#)).await;
        let started: SessionRef = self.expect("session_started").await;
        assert_eq!(started.session_id, id);
    }

    pub async fn type_in(&mut self, id: &str, keys: &str) {
        let b64 = BASE64.encode(keys);
        self.send(&format!(r#"{{"type":"stdin","data":{{"session_id":"{id}","data_b64":"{b64}"}}}}"#)).await;
    }

    /// Reads `id`'s output until it contains `needle`; returns what it read.
    pub async fn read_until(&mut self, id: &str, needle: &str) -> String {
        let mut seen = String::new();
        while !seen.contains(needle) {
            let out: Output = self.expect("stdout").await;
            if out.session_id == id {
                seen.push_str(&String::from_utf8_lossy(&BASE64.decode(out.data_b64).unwrap()));
            }
        }
        seen
    }
}
