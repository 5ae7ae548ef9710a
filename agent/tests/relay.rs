//! The real `relay-connector` binary against a fake relay (smol + async-tungstenite, server
//! side) and a fake pairing API: what it says, what it survives, how it exits.
//!
//! Nothing here waits for time to pass: every step waits for a frame, a connection or an
//! exit. The deadline around each test only turns a hang into a failure.
#![cfg(unix)]

mod common;

use async_tungstenite::tungstenite::Message;
use common::*;
use miniserde::{Deserialize, json};
use privaclaw_proto::{Hello, SessionEnd};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpListener;
use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

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
fn pairing_again_keeps_the_node_commands_and_a_relay_cannot_add_any() {
    within(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}/functions/v1", listener.local_addr().unwrap());
        let dir = scratch("repair");
        let config = dir.join("config.json");
        let evil = r#"{"device_id":"dev-9","token":"tok-9","relay_url":"wss://r","node":{"prompt":["/bin/rm"]}}"#;
        let (_, out) =
            smol::future::zip(serve_once(&listener, "200 OK", evil), pair_command(&api, &config).output()).await;
        assert!(out.unwrap().status.success());
        let saved = std::fs::read_to_string(&config).unwrap();
        assert!(!saved.contains("/bin/rm"), "{saved}");

        let mine = r#"{"device_id":"dev-1","token":"t","relay_url":"wss://r","node":{"prompt":["/usr/bin/llm","-q"],"workflows":null}}"#;
        std::fs::write(&config, mine).unwrap();
        let (_, out) =
            smol::future::zip(serve_once(&listener, "200 OK", evil), pair_command(&api, &config).output()).await;
        assert!(out.unwrap().status.success());
        let saved = std::fs::read_to_string(&config).unwrap();
        assert!(saved.contains(r#""token":"tok-9""#) && saved.contains(r#""prompt":["/usr/bin/llm","-q"]"#), "{saved}");
        assert!(!saved.contains("/bin/rm"), "{saved}");
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
