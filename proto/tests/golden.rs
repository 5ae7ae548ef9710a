//! Every golden frame parses to the same value with serde (the relay's parser) and miniserde
//! (the connector's), and the shared writer puts the same JSON back on the wire.

use privaclaw_proto::*;
use std::fmt::Debug;
use std::path::Path;

const D: &str = "3f2c8e1a-5b7d-4c9e-8f10-2a3b4c5d6e7f";
const S: &str = "9d8c7b6a-5f4e-4d3c-9b2a-1f0e2d3c4b5a";

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Nulls and absent keys mean the same on our wire: compare without them.
fn strip_nulls(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect()
        }
        other => other,
    }
}

/// Parses `name` both ways, checks kind and data, then re-encodes and compares.
fn check<T>(name: &str, kind: &str, expected: Option<T>)
where
    T: Debug + PartialEq + ToFields + serde::de::DeserializeOwned + miniserde::Deserialize,
{
    let text = golden(name);
    let by_serde: Frame<T> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} serde: {e}"));
    let by_mini: Frame<T> = miniserde::json::from_str(&text).unwrap_or_else(|e| panic!("{name} miniserde: {e}"));
    assert_eq!(by_serde.kind, kind, "{name}");
    assert_eq!(by_serde.data, expected, "{name} (serde)");
    assert_eq!(by_mini, by_serde, "{name} (miniserde disagrees with serde)");

    let written = encode(kind, expected.as_ref().map(|d| d as &dyn ToFields));
    let ours: serde_json::Value = serde_json::from_str(&written).expect("writer emits JSON");
    let theirs: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(strip_nulls(ours), strip_nulls(theirs), "{name}: writer output differs");
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn connector_to_relay() {
    let hello = |name: &str| Hello {
        device_id: Some(s(D)),
        token: Some(s("device-token")),
        meta: Some(Meta { name: Some(s(name)), ..Meta::default() }),
        ..Hello::default()
    };
    check("connector-hello", kind::HELLO, Some(hello("My Server")));
    check("connector-hello-reference-go", kind::HELLO, Some(hello("connector")));
    check(
        "connector-hello-resume",
        kind::HELLO,
        Some(Hello {
            meta: Some(Meta {
                name: Some(s("pi-kitchen")),
                version: Some(s("0.1.0")),
                os: Some(s("linux")),
                arch: Some(s("armv7")),
                kind: Some(s("node")),
            }),
            sessions: Some(vec![s(S)]),
            offsets: Some(vec![1_048_576]),
            ..hello("")
        }),
    );
    check("connector-session_started", kind::SESSION_STARTED, Some(SessionRef { session_id: s(S) }));
    check("connector-stdout", kind::STDOUT, Some(Output { session_id: s(S), data_b64: s("aGVsbG8tNDINCg==") }));
    check(
        "connector-stdout-reference-go",
        kind::STDOUT,
        Some(Output { session_id: s(S), data_b64: s("G1s/MjAwNGgkIA==") }),
    );
    let end = |reason: &str| SessionEnd { session_id: s(S), reason: Some(s(reason)), ..SessionEnd::default() };
    check("connector-session_end", kind::SESSION_END, Some(end("exit")));
    check("connector-session_end-status", kind::SESSION_END, Some(SessionEnd { status: Some(2), ..end("exit") }));
    check(
        "connector-error-session",
        kind::ERROR,
        Some(ErrorData { message: s("session_not_found"), code: None, session_id: Some(s(S)) }),
    );
}

#[test]
fn relay_to_connector() {
    check::<HelloOk>("relay-hello_ok", kind::HELLO_OK, None);
    check(
        "relay-hello_ok-reference-workdir",
        kind::HELLO_OK,
        Some(HelloOk { workdir: Some(s("")), session_grace: None }),
    );
    check("relay-hello_ok-grace", kind::HELLO_OK, Some(HelloOk { workdir: None, session_grace: Some(600) }));
    check(
        "relay-session_start",
        kind::SESSION_START,
        Some(SessionStart { session_id: s(S), cols: Some(120), rows: Some(40) }),
    );
    check("relay-stdin", kind::STDIN, Some(Output { session_id: s(S), data_b64: s("bHMgLWxhDQ==") }));
    check(
        "relay-resize",
        kind::RESIZE,
        Some(Resize { session_id: s(S), cols: Some(120), rows: Some(40), probe: None }),
    );
    check(
        "relay-session_end",
        kind::SESSION_END,
        Some(SessionEnd { session_id: s(S), reason: Some(s("user_disconnect")), ..SessionEnd::default() }),
    );
    check(
        "relay-session_end-by",
        kind::SESSION_END,
        Some(SessionEnd {
            session_id: s(S),
            reason: Some(s("user_exit")),
            by: Some(s("bob@example.com")),
            ..SessionEnd::default()
        }),
    );
    check("relay-pause", kind::PAUSE, Some(SessionRef { session_id: s(S) }));
    check("relay-resume", kind::RESUME, Some(SessionRef { session_id: s(S) }));
}

#[test]
fn browser_and_relay() {
    check(
        "browser-auth",
        kind::AUTH,
        Some(Auth { token: s("supabase-jwt"), session_id: s(S), device_id: Some(s(D)), ..Auth::default() }),
    );
    check(
        "browser-auth-resume",
        kind::AUTH,
        Some(Auth {
            token: s("eyJhbGciOiJIUzI1NiJ9.e30.sig"),
            session_id: s(S),
            device_id: Some(s(D)),
            cols: Some(132),
            rows: Some(43),
            offset: Some(1_048_576),
            join: None,
        }),
    );
    check(
        "browser-auth-join",
        kind::AUTH,
        Some(Auth {
            token: s("eyJhbGciOiJIUzI1NiJ9.e30.sig"),
            session_id: s(S),
            device_id: Some(s(D)),
            join: Some(true),
            ..Auth::default()
        }),
    );
    check(
        "browser-resize-probe",
        kind::RESIZE,
        Some(Resize { session_id: s(S), cols: Some(80), rows: Some(24), probe: Some(true) }),
    );
    check::<SessionRef>("browser-ping", kind::PING, None);
    check::<SessionRef>("relay-pong", kind::PONG, None);
    check::<AuthOk>("relay-auth_ok", kind::AUTH_OK, None);
    check(
        "relay-auth_ok-resume",
        kind::AUTH_OK,
        Some(AuthOk {
            session_id: Some(s(S)),
            device_id: Some(s(D)),
            resumed: Some(true),
            offset: Some(1000),
            dropped: Some(0),
        }),
    );
    check("relay-error", kind::ERROR, Some(ErrorData { message: s("Send auth first"), code: None, session_id: None }));
    check(
        "relay-error-coded",
        kind::ERROR,
        Some(ErrorData {
            message: format!("frame names session other-id, but this socket is for {S}"),
            code: Some(s("wrong_session")),
            session_id: Some(s(S)),
        }),
    );
    check("relay-device_status", kind::DEVICE_STATUS, Some(DeviceStatus { device_id: s(D), status: s("offline") }));
    let bob = ViewerChange {
        session_id: s(S),
        user_id: s("5e6f7a8b-1c2d-4e3f-9a0b-c1d2e3f4a5b6"),
        email: s("bob@example.com"),
    };
    check("relay-viewer_joined", kind::VIEWER_JOINED, Some(bob.clone()));
    check("relay-viewer_left", kind::VIEWER_LEFT, Some(bob));
    check(
        "relay-error-access_revoked",
        kind::ERROR,
        Some(ErrorData {
            message: s("You were removed from this project: ask its owner to invite you again."),
            code: Some(s("access_revoked")),
            session_id: Some(s(S)),
        }),
    );
}

#[test]
fn ai_nodes() {
    check(
        "node-hello",
        kind::HELLO,
        Some(Hello {
            node_id: Some(s("my-server-01")),
            token: Some(s("your-device-token-here")),
            meta: Some(Meta { kind: Some(s("openclaw")), ..Meta::default() }),
            ..Hello::default()
        }),
    );
    check(
        "node-heartbeat",
        kind::HEARTBEAT,
        Some(Heartbeat {
            node_id: Some(s("n1")),
            uptime: Some(3600),
            active_tasks: Some(2),
            last_error: None,
            connection_state: Some(s("online")),
        }),
    );
}

#[test]
fn ai_node_commands_and_responses() {
    let cmd = |id: &str, args: Option<CommandArgs>| Command { request_id: Some(s(id)), data: args };
    let args = |prompt: Option<&str>, workflow: Option<&str>| CommandArgs {
        prompt: prompt.map(s),
        workflow_id: workflow.map(s),
    };
    check("relay-prompt", kind::PROMPT, Some(cmd("r1", Some(args(Some("Hi"), None)))));
    check("relay-status", kind::STATUS, Some(cmd("r2", None)));
    check("relay-restart", kind::RESTART, Some(cmd("r3", None)));
    // `params` is free-form JSON that each side reads with its own library: not in the struct.
    let wf = golden("relay-workflow");
    let by_serde: Frame<Command> = serde_json::from_str(&wf).unwrap();
    let by_mini: Frame<Command> = miniserde::json::from_str(&wf).unwrap();
    assert_eq!(by_serde.data, Some(cmd("r4", Some(args(None, Some("wf-1"))))));
    assert_eq!(by_mini, by_serde);

    let response = |t: &str| Response { kind: s(t), request_id: Some(s("r1")), ..Response::default() };
    check("node-response-token", kind::RESPONSE, Some(Response { content: Some(s("Hello")), ..response("token") }));
    check("node-response-done", kind::RESPONSE, Some(response("done")));
    check(
        "node-response-error",
        kind::RESPONSE,
        Some(Response { message: Some(s("model crashed")), ..response("error") }),
    );
    check(
        "node-response-status",
        kind::RESPONSE,
        Some(Response {
            request_id: Some(s("r2")),
            node_id: Some(s("n1")),
            uptime: Some(3600),
            active_tasks: Some(2),
            connection_state: Some(s("online")),
            ..response("status")
        }),
    );
}

/// Frames the reference sends that no struct of ours describes still parse as frames.
#[test]
fn unknown_data_is_ignored() {
    #[derive(Debug, PartialEq, Default, serde::Deserialize, miniserde::Deserialize)]
    struct Nothing {}
    let text = golden("connector-meta_update");
    let a: Frame<Nothing> = serde_json::from_str(&text).unwrap();
    let b: Frame<Nothing> = miniserde::json::from_str(&text).unwrap();
    assert_eq!(a.kind, kind::META_UPDATE);
    assert_eq!(a, b);
}

#[test]
fn output_frame_matches_encode() {
    let fast = output_frame(kind::STDOUT, S, 16, |b| b.push_str("aGVsbG8tNDINCg=="));
    let slow = encode(kind::STDOUT, Some(&Output { session_id: s(S), data_b64: s("aGVsbG8tNDINCg==") }));
    assert_eq!(fast, slow);
}

/// Every golden file is used by a test above (a file nobody reads proves nothing).
#[test]
fn every_golden_file_is_checked() {
    let me = include_str!("golden.rs");
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let stem = name.trim_end_matches(".json");
        assert!(me.contains(&format!("\"{stem}\"")), "golden/{name} is not checked by any test");
    }
}
