//! AI-node mode of the real `relay-connector` binary against the fake relay: the relay's
//! golden command frames in, heartbeats and responses out, terminal sessions alongside on the
//! same link, and `restart` running the connector again.
//!
//! As in `relay.rs`, nothing waits for time to pass: every step waits for a frame, a
//! connection or an exit (heartbeats come every `HEARTBEAT_MS`, a test knob).
#![cfg(unix)]

mod common;

use common::*;
use privaclaw_proto::{Frame, Heartbeat, Response, SessionEnd, encode, kind};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// A stand-in model: reads the prompt on stdin, answers on stdout.
const MODEL: &str = r#"#!/bin/sh
prompt=$(cat)
case $prompt in
    fail) echo 'loading weights' >&2; echo 'model crashed' >&2; exit 3 ;;
    count) seq 1 20000 ;;
    *) printf 'you said: %s' "$prompt" ;;
esac
"#;

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto/golden").join(format!("{name}.json"));
    std::fs::read_to_string(path).unwrap().trim_end().to_owned()
}

fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `workflows/wf-1` echoes its params; `model.sh` answers prompts.
fn node_files(dir: &Path, with_prompt: bool) -> String {
    let workflows = dir.join("workflows");
    std::fs::create_dir(&workflows).unwrap();
    executable(&workflows.join("wf-1"), "#!/bin/sh\nprintf 'params: '; cat\n");
    let workflows = format!(r#""workflows":"{}""#, workflows.display());
    if !with_prompt {
        return format!("{{{workflows}}}");
    }
    let model = dir.join("model.sh");
    executable(&model, MODEL);
    format!(r#"{{"prompt":["/bin/sh","{}"],{workflows}}}"#, model.display())
}

fn command(kind: &str, id: &str, args: &str) -> String {
    format!(r#"{{"type":"{kind}","data":{{"request_id":"{id}","data":{args}}}}}"#)
}

fn prompt(id: &str, text: &str) -> String {
    let args = privaclaw_proto::CommandArgs { prompt: Some(text.to_owned()), workflow_id: None };
    encode(kind::PROMPT, Some(&privaclaw_proto::Command { request_id: Some(id.to_owned()), data: Some(args) }))
}

/// Reads `response` frames (skipping others) until `id` ends: its text, and its last response.
async fn answer(link: &mut Link, id: &str) -> (String, Response) {
    let mut text = String::new();
    loop {
        let r: Response = link.expect("response").await;
        assert_eq!(r.request_id.as_deref(), Some(id), "{r:?}");
        match r.kind.as_str() {
            "token" => text.push_str(r.content.as_deref().unwrap()),
            _ => return (text, r),
        }
    }
}

#[test]
fn answers_the_golden_commands_beside_terminal_sessions() {
    within(async {
        let relay = FakeRelay::new().await;
        let mut connector = Connector::start_node(&relay.url(), |dir| node_files(dir, true));
        let (mut link, hello) = relay.accept_hello().await;
        assert_eq!(hello.device_id.as_deref(), Some("dev-1"));
        assert_eq!(hello.meta.unwrap().kind.as_deref(), Some("node"));

        let beat: Heartbeat = link.expect("heartbeat").await;
        assert_eq!(beat.node_id.as_deref(), Some("dev-1"));
        assert_eq!((beat.active_tasks, beat.last_error.as_deref()), (Some(0), None));
        assert_eq!(beat.connection_state.as_deref(), Some("online"));
        assert!(beat.uptime.is_some());

        // A terminal session on the same link.
        link.start_session("s1").await;
        link.type_in("s1", "echo before-$((6*7))\r").await;
        link.read_until("s1", "before-42").await;

        link.send(&golden("relay-prompt")).await;
        let (text, end) = answer(&mut link, "r1").await;
        assert_eq!((text.as_str(), end.kind.as_str()), ("you said: Hi", "done"));

        link.send(&golden("relay-workflow")).await;
        let (text, end) = answer(&mut link, "r4").await;
        assert_eq!((text.as_str(), end.kind.as_str()), ("params: {\"x\":1}\n", "done"));

        link.send(&golden("relay-status")).await;
        let status: Response = link.expect("response").await;
        assert_eq!((status.kind.as_str(), status.request_id.as_deref()), ("status", Some("r2")));
        assert_eq!(status.node_id.as_deref(), Some("dev-1"));
        assert_eq!((status.active_tasks, status.connection_state.as_deref()), (Some(0), Some("online")));

        // A long answer and the session's echo share the link: both arrive, each in order.
        link.send(&prompt("r5", "count")).await;
        link.type_in("s1", "echo during-$((6*7))\r").await;
        let (mut counted, mut echoed, mut tokens) = (String::new(), String::new(), 0);
        let mut done = false;
        while !done || !echoed.contains("during-42") {
            let (kind, text) = link.recv().await;
            match kind.as_str() {
                "response" => {
                    let r = data::<Response>(&text);
                    assert_eq!(r.request_id.as_deref(), Some("r5"));
                    match r.kind.as_str() {
                        "token" => {
                            let content = r.content.unwrap();
                            assert!(content.len() <= 4096, "{}", content.len());
                            counted.push_str(&content);
                            tokens += 1;
                        }
                        other => {
                            assert_eq!(other, "done");
                            done = true;
                        }
                    }
                }
                "stdout" => echoed.push_str(&session_text(&text)),
                _ => {}
            }
        }
        let expected: String = (1..=20000).map(|i| format!("{i}\n")).collect();
        assert_eq!(counted, expected);
        assert!(tokens >= expected.len() / 4096, "{tokens} tokens");

        // Errors, each with its request id.
        link.send(&prompt("r6", "fail")).await;
        let (text, end) = answer(&mut link, "r6").await;
        assert_eq!((text.as_str(), end.kind.as_str()), ("", "error"));
        assert_eq!(end.message.as_deref(), Some("exit status 3: model crashed"));
        let beat: Heartbeat = link.expect("heartbeat").await;
        assert_eq!(beat.last_error.as_deref(), Some("exit status 3: model crashed"));
        for (id, workflow, why) in [
            ("r7", "nope", "unknown workflow \"nope\""),
            ("r8", "../workflows/wf-1", "invalid workflow id"),
            ("r9", "/bin/sh", "invalid workflow id"),
        ] {
            link.send(&command("workflow", id, &format!(r#"{{"workflow_id":"{workflow}","params":{{}}}}"#))).await;
            let (_, end) = answer(&mut link, id).await;
            assert_eq!(end.kind, "error");
            assert!(end.message.as_deref().unwrap().starts_with(why), "{:?}", end.message);
        }
        link.send(&prompt("r10", "secret-prompt-text")).await;
        assert_eq!(answer(&mut link, "r10").await.0, "you said: secret-prompt-text");

        link.type_in("s1", "echo after-$((6*7))\r").await;
        link.read_until("s1", "after-42").await;
        assert!(connector.is_running());
        let stderr = connector.stderr();
        for secret in ["secret-prompt-text", "you said", "\"x\":1", "model crashed", "tok-secret"] {
            assert!(!stderr.contains(secret), "{secret:?} in the log:\n{stderr}");
        }
        assert!(stderr.contains("request r1 done"), "{stderr}");
    });
}

#[test]
fn a_dropped_link_stops_running_commands() {
    within(async {
        let relay = FakeRelay::new().await;
        // The model and its `sleep` hold a FIFO's write end: its reader sees EOF once both
        // are gone.
        let fifo = scratch("fifo").join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&fifo)
            .unwrap();
        let mut reader = smol::Async::new(reader).unwrap();
        let _connector = Connector::start_node(&relay.url(), |dir| {
            let model = dir.join("hang.sh");
            executable(&model, &format!("#!/bin/sh\nexec 3>'{}'\necho started\nsleep 1000\n", fifo.display()));
            format!(r#"{{"prompt":["{}"]}}"#, model.display())
        });
        let (mut link, _) = relay.accept_hello().await;
        link.send(&prompt("r1", "hello")).await;
        let token: Response = link.expect("response").await;
        assert_eq!(token.content.as_deref(), Some("started\n"));
        // Over the frame limit: the connector drops the link (and comes back).
        let _ = link.ws.send(async_tungstenite::tungstenite::Message::text("x".repeat(3 << 20))).await;
        let mut rest = Vec::new();
        smol::io::AsyncReadExt::read_to_end(&mut reader, &mut rest).await.unwrap();
        assert!(rest.is_empty(), "EOF: the model and its sleep are gone");
        // The relay failed r1 when the node dropped; the node does not carry it over.
        let (mut link, _) = relay.accept_hello().await;
        link.send(&golden("relay-status")).await;
        let status: Response = link.expect("response").await;
        assert_eq!((status.kind.as_str(), status.request_id.as_deref()), ("status", Some("r2")));
        assert_eq!(status.active_tasks, Some(0));
    });
}

#[test]
fn without_a_prompt_it_refuses_prompts_and_restart_runs_it_again() {
    within(async {
        let relay = FakeRelay::new().await;
        let mut connector = Connector::start_node(&relay.url(), |dir| node_files(dir, false));
        let pid = connector.pid();
        let (mut link, hello) = relay.accept_hello().await;
        assert_eq!(hello.meta.unwrap().kind.as_deref(), Some("node"));
        let fds_before = open_fds(pid);
        assert!(fds_before > 3 || !cfg!(target_os = "linux"), "{fds_before}");
        link.send(&golden("relay-prompt")).await;
        let (_, end) = answer(&mut link, "r1").await;
        assert_eq!(end.kind, "error");
        assert_eq!(end.message.as_deref(), Some("this node does not answer prompts (no node.prompt in its config)"));

        link.start_session("s1").await;
        link.send(&golden("relay-restart")).await;
        let (frames, reason) = link.until_closed().await;
        assert_eq!(reason, "restart");
        let responses: Vec<Response> = frames.iter().filter(|(k, _)| k == "response").map(|(_, t)| data(t)).collect();
        assert_eq!(responses.len(), 1);
        assert_eq!((responses[0].kind.as_str(), responses[0].request_id.as_deref()), ("done", Some("r3")));
        let ends: Vec<SessionEnd> = frames.iter().filter(|(k, _)| k == "session_end").map(|(_, t)| data(t)).collect();
        assert_eq!(ends.len(), 1);
        assert_eq!((ends[0].session_id.as_str(), ends[0].reason.as_deref()), ("s1", Some("shutdown")));

        // The same process (exec), started over: no sessions kept, a node again.
        let (mut link, hello) = relay.accept_hello().await;
        assert_eq!(hello.sessions, Some(vec![]));
        assert_eq!(hello.meta.unwrap().kind.as_deref(), Some("node"));
        assert_eq!(connector.pid(), pid);
        assert!(connector.is_running());
        assert!(connector.stderr().contains("restarting"));
        assert_eq!(open_fds(pid), fds_before, "nothing of the first run survives the exec");
        link.send(&golden("relay-workflow")).await;
        assert_eq!(answer(&mut link, "r4").await.0, "params: {\"x\":1}\n");
    });
}

/// How many descriptors the process has open (Linux), e.g. to see none leak through exec.
fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// A frame's `data`, parsed.
fn data<T: miniserde::Deserialize>(text: &str) -> T {
    miniserde::json::from_str::<Frame<T>>(text).unwrap().data.unwrap()
}

/// The text of a `stdout` frame.
fn session_text(text: &str) -> String {
    use base64::Engine;
    let out: privaclaw_proto::Output = data(text);
    String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(out.data_b64).unwrap()).into_owned()
}
