//! Every frame kind the connector accepts, parsed with miniserde as the connector does: no
//! input may panic, and what parses must re-encode to JSON that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use privaclaw_proto::{ErrorData, Frame, HelloOk, Output, Resize, SessionEnd, SessionRef, SessionStart, ToFields, encode};

fn round_trip<T>(text: &str)
where
    T: miniserde::Deserialize + ToFields + PartialEq + std::fmt::Debug,
{
    let Ok(frame) = miniserde::json::from_str::<Frame<T>>(text) else { return };
    let again = encode(&frame.kind, frame.data.as_ref().map(|d| d as &dyn ToFields));
    let back: Frame<T> = miniserde::json::from_str(&again).expect("our own output parses");
    assert_eq!(back.data, frame.data);
}

fuzz_target!(|text: &str| {
    round_trip::<Output>(text);
    round_trip::<SessionStart>(text);
    round_trip::<Resize>(text);
    round_trip::<SessionEnd>(text);
    round_trip::<SessionRef>(text);
    round_trip::<HelloOk>(text);
    round_trip::<ErrorData>(text);
});
