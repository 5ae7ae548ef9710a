//! Logging to stderr: `info!` always, `debug!` only with `-v`.
//!
//! A service manager (systemd, OpenRC) timestamps and stores stderr, so a line is just
//! `relay-connector: <message>`. Nothing here ever receives terminal bytes or the device
//! token: callers log sizes, session ids and relay messages only.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Writes one line; a closed stderr must not take the connector down (eprintln! would panic).
pub fn line(args: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "relay-connector: {args}");
}

macro_rules! info {
    ($($arg:tt)*) => { $crate::log::line(format_args!($($arg)*)) };
}

macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::log::verbose() {
            $crate::log::line(format_args!($($arg)*))
        }
    };
}

pub(crate) use {debug, info};
