//! Any text a connector or browser may send goes through the relay's routing parse; none of it
//! may panic, and a borrowed routing field must be a slice of the input (the relay forwards the
//! original text on the strength of it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;
use privaclaw_proto::route::{OutputRef, SessionRefRef, data, parse};
use privaclaw_proto::{Auth, Heartbeat, Hello, Output, Resize, SessionEnd, SessionRef, SessionStart};

fuzz_target!(|text: &str| {
    let Ok(frame) = parse(text) else { return };
    if let Ok(o) = data::<OutputRef>(&frame) {
        for field in [&o.session_id, &o.data_b64] {
            if let Cow::Borrowed(s) = field {
                assert!(text.contains(s));
            }
        }
    }
    let _ = data::<SessionRefRef>(&frame);
    let _ = data::<Hello>(&frame);
    let _ = data::<Auth>(&frame);
    let _ = data::<Output>(&frame);
    let _ = data::<Resize>(&frame);
    let _ = data::<SessionStart>(&frame);
    let _ = data::<SessionEnd>(&frame);
    let _ = data::<SessionRef>(&frame);
    let _ = data::<Heartbeat>(&frame);
});
