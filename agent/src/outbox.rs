//! What goes to the relay next, and how much the connector may hold meanwhile.
//!
//! Two sources feed the link's writer (`link.rs`): control frames (`session_started`,
//! `error`, `session_end` on shutdown), which always go first, and each session's PTY output,
//! which waits in that session's own `Output` buffer. The writer takes at most `FRAME` bytes
//! from one session at a time, round-robin, so a session streaming `yes` sends one frame per
//! turn and another session's keystroke echo waits for at most that one frame.
//!
//! A buffer holds at most `LIMIT` bytes. Once full (slow socket, link down, or the relay sent
//! `pause`) its session stops reading the PTY and the kernel blocks the program writing to
//! it, so memory stays flat whatever the shells print. A session's `session_end` rides behind
//! its last output, never ahead of it.

use crate::notify::{Latch, Notify};
use async_tungstenite::tungstenite::Message;
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use privaclaw_proto::{SessionEnd, encode, kind, output_frame};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

/// Output held per session before its PTY is left unread; also what survives a lost link.
pub const LIMIT: usize = 64 << 10;
/// Most PTY bytes in one `stdout` frame (≈ 21.9 KiB of base64).
pub const FRAME: usize = 16 << 10;
/// Control frames answer relay frames one for one; a relay flooding us while the socket is
/// stuck must not grow this without bound.
const CONTROL_MAX: usize = 1024;

/// Standard base64 as browsers' `btoa` writes it; padding optional on input.
pub const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One session's output on its way to the relay.
pub struct Output {
    id: String,
    bytes: RefCell<Vec<u8>>,
    paused: Cell<bool>,
    end: Cell<Option<&'static str>>,
    queued: Cell<bool>,
    room: Notify,
    /// Set once the session's `session_end` has been handed to the link.
    pub delivered: Latch,
}

impl Output {
    pub fn new(id: String) -> Rc<Output> {
        Rc::new(Output {
            id,
            bytes: RefCell::default(),
            paused: Cell::new(false),
            end: Cell::new(None),
            queued: Cell::new(false),
            room: Notify::new(),
            delivered: Latch::new(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Returns when the PTY may be read: not paused, and the buffer has room.
    pub async fn wait_room(&self) {
        while self.paused.get() || self.bytes.borrow().len() >= LIMIT {
            self.room.wait().await;
        }
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.set(paused);
        self.room.notify();
    }

    /// The relay ended the session: what it has not received yet is of no use to anyone.
    pub fn discard(&self) {
        *self.bytes.borrow_mut() = Vec::new();
        self.end.set(None);
    }

    fn next_frame(&self) -> Option<String> {
        let mut bytes = self.bytes.borrow_mut();
        if bytes.is_empty() {
            let reason = self.end.take()?;
            self.delivered.set();
            let end = SessionEnd { session_id: self.id.clone(), reason: Some(reason.to_owned()) };
            return Some(encode(kind::SESSION_END, Some(&end)));
        }
        let n = bytes.len().min(FRAME);
        let frame =
            output_frame(kind::STDOUT, &self.id, n.div_ceil(3) * 4, |buf| BASE64.encode_string(&bytes[..n], buf));
        if n == bytes.len() {
            // An idle session keeps no buffer around.
            *bytes = Vec::new();
        } else {
            bytes.drain(..n);
        }
        self.room.notify();
        Some(frame)
    }

    fn has_more(&self) -> bool {
        !self.bytes.borrow().is_empty() || self.end.get().is_some()
    }
}

#[derive(Default)]
pub struct Outbox {
    control: RefCell<VecDeque<String>>,
    ready: RefCell<VecDeque<Rc<Output>>>,
    ping: Cell<bool>,
    online: Cell<bool>,
    wake: Notify,
}

impl Outbox {
    /// Queues a control frame; while the link is down there is nobody to answer.
    pub fn send(&self, frame: String) {
        let mut control = self.control.borrow_mut();
        if !self.online.get() || control.len() >= CONTROL_MAX {
            crate::log::debug!("dropped an outgoing frame: link down or too many queued");
            return;
        }
        control.push_back(frame);
        self.wake.notify();
    }

    pub fn push_output(&self, out: &Rc<Output>, data: &[u8]) {
        out.bytes.borrow_mut().extend_from_slice(data);
        self.schedule(out);
    }

    /// Queues the session's `session_end` behind whatever output it still has.
    pub fn finish(&self, out: &Rc<Output>, reason: &'static str) {
        out.end.set(Some(reason));
        self.schedule(out);
    }

    fn schedule(&self, out: &Rc<Output>) {
        if !out.queued.replace(true) {
            self.ready.borrow_mut().push_back(out.clone());
        }
        self.wake.notify();
    }

    pub fn ping(&self) {
        self.ping.set(true);
        self.wake.notify();
    }

    /// Link up or down. Control frames queued for a dead link answered frames of that link;
    /// session output stays, to be delivered on the next one.
    pub fn set_online(&self, online: bool) {
        self.online.set(online);
        self.control.borrow_mut().clear();
        self.ping.set(false);
        self.wake.notify();
    }

    pub fn take_control(&self) -> Option<String> {
        self.control.borrow_mut().pop_front()
    }

    /// The next message for the link: control first, then a ping if due, then one frame from
    /// the session whose turn it is.
    pub async fn next(&self) -> Message {
        loop {
            if let Some(frame) = self.take_control() {
                return Message::text(frame);
            }
            if self.ping.replace(false) {
                return Message::Ping(Default::default());
            }
            let turn = self.ready.borrow_mut().pop_front();
            if let Some(out) = turn {
                let frame = out.next_frame();
                out.queued.set(out.has_more());
                if out.has_more() {
                    self.ready.borrow_mut().push_back(out);
                }
                match frame {
                    Some(frame) => return Message::text(frame),
                    None => continue,
                }
            }
            self.wake.wait().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: Message) -> String {
        m.into_text().unwrap().as_str().to_owned()
    }

    #[test]
    fn sessions_take_turns_and_end_follows_output() {
        smol::block_on(async {
            let outbox = Outbox::default();
            outbox.set_online(true);
            let (a, b) = (Output::new("a".into()), Output::new("b".into()));
            outbox.push_output(&a, &vec![b'y'; 3 * FRAME]);
            outbox.push_output(&b, b"echo");
            outbox.finish(&b, kind::reason::EXIT);
            outbox.send("control".into());
            assert_eq!(text(outbox.next().await), "control");
            let mut order = Vec::new();
            for _ in 0..5 {
                order.push(text(outbox.next().await));
            }
            let a_out = r#"{"type":"stdout","data":{"session_id":"a","#;
            assert!(order[0].starts_with(a_out));
            assert_eq!(order[1], r#"{"type":"stdout","data":{"session_id":"b","data_b64":"ZWNobw=="}}"#);
            assert!(order[2].starts_with(a_out));
            assert_eq!(order[3], r#"{"type":"session_end","data":{"session_id":"b","reason":"exit"}}"#);
            assert!(order[4].starts_with(a_out));
            assert!(b.delivered.is_set());
            assert!(a.bytes.borrow().is_empty() && !a.has_more());
        });
    }

    #[test]
    fn full_or_paused_buffers_hold_the_reader_back() {
        smol::block_on(async {
            let outbox = Outbox::default();
            outbox.set_online(true);
            let out = Output::new("s".into());
            outbox.push_output(&out, &vec![0; LIMIT]);
            let held = smol::future::or(
                async {
                    out.wait_room().await;
                    false
                },
                async { true },
            );
            assert!(held.await, "a full buffer must not let the reader go on");
            outbox.next().await;
            out.wait_room().await;
            out.set_paused(true);
            let held = smol::future::or(
                async {
                    out.wait_room().await;
                    false
                },
                async { true },
            );
            assert!(held.await, "a paused session must not be read");
            out.set_paused(false);
            out.wait_room().await;
        });
    }
}
