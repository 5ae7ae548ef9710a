//! The real `relay-connector` binary against a fake relay (smol + async-tungstenite, server
//! side) and a fake pairing API: what it says, what it survives, how it exits.
//!
//! Nothing here waits for time to pass: every step waits for a frame, a connection or an
//! exit. The deadline around each test only turns a hang into a failure.
#![cfg(unix)]

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
use privaclaw_proto::{Frame, Hello, Output, SessionEnd, SessionRef};
use smol::Timer;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::net::TcpListener;
use smol::stream::StreamExt;
use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_relay-connector");

fn within<T>(test: impl Future<Output = T>) -> T {
    smol::block_on(smol::future::or(test, async {
        Timer::after(Duration::from_secs(90)).await;
        panic!("test timed out");
    }))
}

/// A fresh directory under cargo's scratch space for one test.
fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("relay-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The connector process, killed if a test leaves it running.
struct Connector {
    child: Option<Child>,
    dir: PathBuf,
}

impl Connector {
    /// Starts the connector paired to `relay_url` (config written the way pairing would).
    fn start(relay_url: &str) -> Connector {
        Connector::start_with(relay_url, &[])
    }

    fn start_with(relay_url: &str, args: &[&str]) -> Connector {
        let dir = scratch("run");
        let config = dir.join("config.json");
        std::fs::write(&config, format!(r#"{{"device_id":"dev-1","token":"tok-secret","relay_url":"{relay_url}"}}"#))
            .unwrap();
        let child = Command::new(BIN)
            .args(["--config", config.to_str().unwrap(), "--shell", "/bin/sh", "--name", "test-box", "-v"])
            .args(args)
            .env("HOME", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
            .spawn()
            .unwrap();
        Connector { child: Some(child), dir }
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    fn is_running(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    async fn exit_status(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        smol::unblock(move || child.wait().unwrap()).await
    }

    fn stderr(&self) -> String {
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
trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

struct FakeRelay {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl FakeRelay {
    async fn new() -> FakeRelay {
        FakeRelay { listener: TcpListener::bind("127.0.0.1:0").await.unwrap(), tls: None }
    }

    /// A relay on wss:// whose certificate comes from the test CA (`tests/fixtures/`).
    async fn with_tls() -> FakeRelay {
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

    fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}", self.listener.local_addr().unwrap())
    }

    async fn accept_io(&self) -> std::io::Result<Box<dyn Io>> {
        let (stream, _) = self.listener.accept().await?;
        Ok(match &self.tls {
            Some(tls) => Box::new(tls.accept(stream).await?),
            None => Box::new(stream),
        })
    }

    /// Accepts the connector's next connection and checks its path.
    #[allow(clippy::result_large_err)] // the callback's type is tungstenite's
    async fn accept(&self) -> Link {
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
    async fn accept_hello(&self) -> (Link, Hello) {
        let mut link = self.accept().await;
        let hello: Hello = link.expect("hello").await;
        link.send(r#"{"type":"hello_ok","data":{"session_grace":600}}"#).await;
        (link, hello)
    }
}

struct Link {
    ws: WebSocketStream<Box<dyn Io>>,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
}

impl Link {
    async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    async fn close(&mut self, code: u16) {
        let frame = CloseFrame { code: code.into(), reason: "test".into() };
        self.ws.close(Some(frame)).await.unwrap();
    }

    /// The next text frame as (type, text); control frames are skipped.
    async fn recv(&mut self) -> (String, String) {
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
    async fn expect<T: Deserialize>(&mut self, kind: &str) -> T {
        loop {
            let (k, text) = self.recv().await;
            if k == kind {
                return json::from_str::<Frame<T>>(&text).unwrap().data.unwrap();
            }
        }
    }

    async fn start_session(&mut self, id: &str) {
        self.send(&format!(r#"{{"type":"session_start","data":{{"session_id":"{id}","cols":100,"rows":30}}}}"#)).await;
        let started: SessionRef = self.expect("session_started").await;
        assert_eq!(started.session_id, id);
    }

    async fn type_in(&mut self, id: &str, keys: &str) {
        let b64 = BASE64.encode(keys);
        self.send(&format!(r#"{{"type":"stdin","data":{{"session_id":"{id}","data_b64":"{b64}"}}}}"#)).await;
    }

    /// Reads `id`'s output until it contains `needle`; returns what it read.
    async fn read_until(&mut self, id: &str, needle: &str) -> String {
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

#[test]
fn says_hello_runs_sessions_and_survives_bad_frames() {
    within(async {
        let relay = FakeRelay::new().await;
        let mut connector = Connector::start(&relay.url());
        let (mut link, hello) = relay.accept_hello().await;
        assert_eq!(hello.device_id.as_deref(), Some("dev-1"));
        assert_eq!(hello.token.as_deref(), Some("tok-secret"));
        assert_eq!(hello.sessions, Some(vec![]));
        let meta = hello.meta.unwrap();
        assert_eq!(meta.name.as_deref(), Some("test-box"));
        assert_eq!(meta.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
        assert_eq!(meta.os.as_deref(), Some(std::env::consts::OS));
        assert_eq!(meta.arch.as_deref(), Some(std::env::consts::ARCH));

        link.start_session("s1").await;
        link.type_in("s1", "echo hi-$((6*7))\r").await;
        link.read_until("s1", "hi-42").await;

        let huge = format!(r#"{{"type":"noise","data":{{"pad":"{}"}}}}"#, "A".repeat(1_500_000));
        for junk in [
            "{",
            r#"{"type":"stdin","data":{"session_id":"x","data_b64":"!!"}}"#,
            r#"{"type":"stdin","data":{"session_id":"s1","data_b64":"!!"}}"#,
            r#"{"type":"bogus","data":{}}"#,
            r#"{"type":"resize","data":{"session_id":"s1","cols":"wide"}}"#,
            r#"{"data":{"session_id":"s1"}}"#,
            &huge,
        ] {
            link.send(junk).await;
        }
        let error: privaclaw_proto::ErrorData = link.expect("error").await;
        assert_eq!((error.message.as_str(), error.session_id.as_deref()), ("session_not_found", Some("x")));

        link.start_session("s2").await;
        link.type_in("s2", "echo two-$((6*7))\r").await;
        link.read_until("s2", "two-42").await;
        // The shell holds its own terminal and nothing of the connector's: no socket, pidfd,
        // epoll, eventfd or other session's terminal. (Descriptors the connector itself
        // inherited without close-on-exec, e.g. from a test harness, are not its to close.)
        link.type_in("s2", "ls -l /proc/$$/fd; echo fds-$((6*7))\r").await;
        let listing = link.read_until("s2", "fds-42").await;
        let targets: Vec<&str> = listing.lines().filter_map(|l| l.split_once(" -> ")).map(|(_, t)| t.trim()).collect();
        assert!(targets.iter().any(|t| t.starts_with("/dev/pts/")), "{listing}");
        assert!(
            !targets.iter().any(|t| t.contains("socket:") || t.contains("anon_inode") || t.contains("ptmx")),
            "{listing}"
        );
        let terminals: HashSet<_> = targets.iter().filter(|t| t.starts_with("/dev/pts/")).collect();
        assert_eq!(terminals.len(), 1, "{listing}");
        link.type_in("s1", "echo one-$((6*7))\r").await;
        link.read_until("s1", "one-42").await;
        assert!(connector.is_running());

        // SIGTERM: every live session is reported ended, then the link closes and it exits 0.
        link.send(r#"{"type":"session_end","data":{"session_id":"s1","reason":"user_exit"}}"#).await;
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(connector.pid()).unwrap(),
            rustix::process::Signal::TERM,
        )
        .unwrap();
        let end: SessionEnd = link.expect("session_end").await;
        assert_eq!((end.session_id.as_str(), end.reason.as_deref()), ("s2", Some("shutdown")));
        assert!(connector.exit_status().await.success());
        let stderr = connector.stderr();
        assert!(!stderr.contains("tok-secret"), "the token must never be logged");
        assert!(!stderr.contains("hi-42"), "terminal bytes must never be logged");
    });
}

#[test]
fn keeps_sessions_across_a_lost_link_and_delivers_their_output() {
    within(async {
        let relay = FakeRelay::new().await;
        let _connector = Connector::start(&relay.url());
        let (mut link, _) = relay.accept_hello().await;
        link.start_session("s1").await;
        link.type_in("s1", "echo before-$((6*7)); sleep 1; echo during-$((6*7))\r").await;
        link.read_until("s1", "before-42").await;
        // Far over the frame limit: the connector drops this link (maybe before we finish
        // sending it) and comes back.
        let _ = link.ws.send(Message::text("x".repeat(3 << 20))).await;

        let (mut link, hello) = relay.accept_hello().await;
        assert_eq!(hello.sessions, Some(vec!["s1".to_owned()]));
        link.read_until("s1", "during-42").await;
        link.type_in("s1", "echo after-$((6*7))\r").await;
        link.read_until("s1", "after-42").await;
    });
}

#[test]
fn speaks_wss_to_a_relay_with_a_private_ca() {
    within(async {
        let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ca.pem");
        let relay = FakeRelay::with_tls().await;
        let _connector = Connector::start_with(&relay.url(), &["--ca-file", ca.to_str().unwrap()]);
        let (mut link, hello) = relay.accept_hello().await;
        assert_eq!(hello.device_id.as_deref(), Some("dev-1"));
        link.start_session("s1").await;
        link.type_in("s1", "echo tls-$((6*7))\r").await;
        link.read_until("s1", "tls-42").await;
    });
}

#[test]
fn refuses_a_relay_certificate_it_cannot_verify() {
    within(async {
        let relay = FakeRelay::with_tls().await;
        let connector = Connector::start(&relay.url());
        assert!(relay.accept_io().await.is_err(), "the connector must abort the TLS handshake");
        // The next attempt comes after the failure has been logged.
        let _ = relay.listener.accept().await.unwrap();
        assert!(connector.stderr().contains("UnknownIssuer"), "{}", connector.stderr());
    });
}

#[test]
fn close_4001_exits_3_and_asks_to_pair_again() {
    within(async {
        let relay = FakeRelay::new().await;
        let mut connector = Connector::start(&relay.url());
        let mut link = relay.accept().await;
        let _: Hello = link.expect("hello").await;
        link.send(r#"{"type":"error","data":{"code":"auth_failed","message":"Auth failed"}}"#).await;
        link.close(4001).await;
        assert_eq!(connector.exit_status().await.code(), Some(3));
        assert!(connector.stderr().contains("--pair"));
    });
}

#[test]
fn close_4004_exits_4() {
    within(async {
        let relay = FakeRelay::new().await;
        let mut connector = Connector::start(&relay.url());
        let (mut link, _) = relay.accept_hello().await;
        link.start_session("s1").await;
        link.close(4004).await;
        assert_eq!(connector.exit_status().await.code(), Some(4));
    });
}

#[test]
fn without_a_config_it_asks_for_pairing_and_exits_3() {
    let dir = scratch("noconfig");
    let out = Command::new(BIN).args(["--config", dir.join("missing.json").to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run with --pair CODE first"));
}

#[test]
fn help_and_usage_errors() {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in ["--pair", "--name", "--api", "--config", "--shell", "--ca-file", "--verbose", "--version"] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
    let bad = Command::new(BIN).arg("--frobnicate").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let no_api = Command::new(BIN).args(["--pair", "ABC234"]).output().unwrap();
    assert_eq!(no_api.status.code(), Some(2));
}

/// Serves one HTTP request with `status` and `body`; returns the request as received.
async fn serve_once(listener: &TcpListener, status: &str, body: &str) -> String {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut request = Vec::new();
    let mut buf = [0; 4096];
    let complete = |r: &[u8]| {
        let text = String::from_utf8_lossy(r);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return false;
        };
        let length =
            head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).map_or(0, |v| v.trim().parse().unwrap());
        body.len() >= length
    };
    while !complete(&request) {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "request cut short");
        request.extend_from_slice(&buf[..n]);
    }
    let response =
        format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    stream.write_all(response.as_bytes()).await.unwrap();
    String::from_utf8(request).unwrap()
}

fn pair_command(api: &str, config: &Path) -> smol::process::Command {
    let mut command = smol::process::Command::new(BIN);
    command.args(["--pair", "ABC234", "--name", "box", "--api", api, "--config", config.to_str().unwrap()]);
    command
}

#[test]
fn pairing_saves_the_credentials_owner_only() {
    within(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}/functions/v1", listener.local_addr().unwrap());
        let dir = scratch("pair");
        let config = dir.join("config.json");
        let run = pair_command(&api, &config).output();
        let answer = r#"{"device_id":"dev-9","token":"tok-9","relay_url":"wss://relay.example"}"#;
        let (request, out) = smol::future::zip(serve_once(&listener, "200 OK", answer), run).await;
        let out = out.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        assert!(request.starts_with("POST /functions/v1/pair-device HTTP/1.1\r\n"), "{request}");
        #[derive(Deserialize)]
        struct Body {
            pairing_code: String,
            name: String,
        }
        let body: Body = json::from_str(request.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!((body.pairing_code.as_str(), body.name.as_str()), ("ABC234", "box"));

        #[derive(Deserialize)]
        struct Saved {
            device_id: String,
            token: String,
            relay_url: String,
        }
        let saved: Saved = json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        assert_eq!(
            (saved.device_id.as_str(), saved.token.as_str(), saved.relay_url.as_str()),
            ("dev-9", "tok-9", "wss://relay.example")
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&config).unwrap().permissions().mode() & 0o777, 0o600);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(config.to_str().unwrap()) && stdout.contains("relay-connector"));
    });
}

#[test]
fn a_refused_code_prints_the_relays_message() {
    within(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}/functions/v1", listener.local_addr().unwrap());
        let dir = scratch("refused");
        let config = dir.join("config.json");
        let refusal = r#"{"error":"invalid_code","message":"This pairing code is not valid or has expired."}"#;
        let run = pair_command(&api, &config).output();
        let (_, out) = smol::future::zip(serve_once(&listener, "400 Bad Request", refusal), run).await;
        let out = out.unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("This pairing code is not valid or has expired."), "{stderr}");
        assert!(!config.exists());
    });
}
