//! The PrivaClaw wire protocol, defined once for the relay and the connector.
//!
//! Every WebSocket frame is a JSON text message `{"type": "<kind>", "data": {...}}`. The
//! relay (serde) and the connector (miniserde) parse the same structs from [`messages`],
//! each with its own library, behind the `serde` and `miniserde` features. Both sides write
//! frames with the one dependency-free writer in [`json`], so what goes on the wire is the
//! same whoever sends it. Golden files in `proto/golden/` (made from the reference's
//! examples and from what the reference implementation really sends) keep both parsers and
//! the writer honest; see `tests/golden.rs`.
//!
//! Data flows: connector → relay (`hello`, `stdout`, …) → browser, and browser → relay
//! (`auth`, `stdin`, …) → connector. [`kind`] names every frame type and close code.

#![forbid(unsafe_code)]

pub mod json;
pub mod kind;
pub mod messages;
#[cfg(feature = "serde")]
pub mod route;

pub use json::{Fields, ToFields, encode};
pub use messages::*;
