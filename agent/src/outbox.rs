//! What goes to the relay next, and how much the connector may hold meanwhile.
//!
//! Two sources feed the link's writer (`link.rs`): control frames (`session_started`,
//! `error`, `session_end` on shutdown, an AI node's `heartbeat` and short `response`s), which
//! always go first, and streams: each session's PTY output and each node request's stdout,
//! which wait in their own `Output` buffer. The writer takes at most `FRAME` bytes from one
//! stream at a time, round-robin, so a session streaming `yes` sends one frame per turn and
//! another session's keystroke echo waits for at most that one frame.
//!
//! A buffer holds at most `LIMIT` bytes. Once full (slow socket, link down, or the relay sent
//! `pause`) its session stops reading the PTY, or its request its process's stdout, and the
//! kernel blocks the program writing to it, so memory stays flat whatever they print. A
//! stream's last frame (`session_end`; a request's `done` or `error`) rides behind its last
//! output, never ahead of it.
//!
//! A session also keeps the last `KEEP` bytes it already handed to the link. When a link is
//! lost, whatever the relay held of them (its queue to a browser) may be lost with it if the
//! relay died; so on reconnect the session says where this kept output starts
//! (`hello.offsets`) and, if the relay understands it, sends it again first: the relay drops
//! what it already has. A session idle for a ping interval forgets what it kept: by then it
//! has long reached the browser (or the relay's own replay buffer).
//!
//! A session's bytes go out as base64 `stdout` frames. A request's go out as text, in
//! `response` frames of type `token` of at most `TOKEN` bytes, cut between UTF-8 characters:
//! an incomplete character waits for its last bytes, and bytes that are not UTF-8 become
//! U+FFFD.

use crate::notify::{Latch, Notify};
use async_tungstenite::tungstenite::Message;
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use privaclaw_proto::{Response, SessionEnd, encode, kind, output_frame};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

/// Output held per session before its PTY is left unread; also what survives a lost link.
pub const LIMIT: usize = 64 << 10;
/// Output already sent that a session keeps for a resend after a lost link: more than a relay
/// queues for a browser before it pauses the session (256 KiB).
pub const KEEP: usize = 256 << 10;
/// Most PTY bytes in one `stdout` frame (≈ 21.9 KiB of base64).
pub const FRAME: usize = 16 << 10;
/// Most bytes of a request's output in one `token` response.
pub const TOKEN: usize = 4 << 10;
/// Control frames answer relay frames one for one; a relay flooding us while the socket is
/// stuck must not grow this without bound.
const CONTROL_MAX: usize = 1024;

/// Standard base64 as browsers' `btoa` writes it; padding optional on input.
pub const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How a stream ends: its last frame.
pub enum End {
    /// A session's `session_end` with this reason (and the shell's exit status, if known).
    Session(&'static str, Option<u16>),
    /// A request's `done`.
    Done,
    /// A request's `error` with this message.
    Failed(String),
}

/// One session's output, or one node request's, on its way to the relay.
pub struct Output {
    /// The session id, or the request id.
    id: String,
    /// A node request (`response` frames), not a session (`stdout` frames).
    request: bool,
    bytes: RefCell<Vec<u8>>,
    /// A session's output already sent, kept for a resend (see the module comment).
    kept: RefCell<VecDeque<u8>>,
    /// The output offset of the first kept byte.
    kept_from: Cell<u64>,
    /// Output went out since the last `forget_if_idle`.
    active: Cell<bool>,
    paused: Cell<bool>,
    end: RefCell<Option<End>>,
    queued: Cell<bool>,
    room: Notify,
    /// Set once the last frame (`session_end`, `done`, `error`) has been handed to the link.
    pub delivered: Latch,
}

impl Output {
    /// A session's output.
    pub fn new(id: String) -> Rc<Output> {
        Output::with_kind(id, false)
    }

    /// A node request's output.
    pub fn request(request_id: String) -> Rc<Output> {
        Output::with_kind(request_id, true)
    }

    fn with_kind(id: String, request: bool) -> Rc<Output> {
        Rc::new(Output {
            id,
            request,
            bytes: RefCell::default(),
            kept: RefCell::default(),
            kept_from: Cell::new(0),
            active: Cell::new(false),
            paused: Cell::new(false),
            end: RefCell::new(None),
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

    /// The relay ended the session, or the link of a request is gone: what the relay has
    /// not received yet is of no use to anyone.
    pub fn discard(&self) {
        *self.bytes.borrow_mut() = Vec::new();
        *self.end.borrow_mut() = None;
    }

    fn next_frame(&self) -> Option<String> {
        let mut bytes = self.bytes.borrow_mut();
        let (frame, n) = if self.request {
            let (text, n) = take_text(&bytes, TOKEN, self.end.borrow().is_some());
            if n == 0 {
                return self.end_frame();
            }
            let token = Response { content: Some(text), ..self.response("token") };
            (encode(kind::RESPONSE, Some(&token)), n)
        } else {
            if bytes.is_empty() {
                return self.end_frame();
            }
            let n = bytes.len().min(FRAME);
            let frame =
                output_frame(kind::STDOUT, &self.id, n.div_ceil(3) * 4, |buf| BASE64.encode_string(&bytes[..n], buf));
            (frame, n)
        };
        if !self.request {
            self.keep(&bytes[..n]);
        }
        if n == bytes.len() {
            // An idle stream keeps no buffer around.
            *bytes = Vec::new();
        } else {
            bytes.drain(..n);
        }
        self.room.notify();
        Some(frame)
    }

    fn keep(&self, sent: &[u8]) {
        let mut kept = self.kept.borrow_mut();
        // Room first, then the new bytes: the deque never holds more than KEEP, so its
        // capacity stays at KEEP instead of doubling to 2 × KEEP (20 flooding sessions held
        // 5 MiB more that way).
        let over = (kept.len() + sent.len()).saturating_sub(KEEP);
        let dropped = over.min(kept.len());
        kept.drain(..dropped);
        kept.extend(&sent[sent.len().saturating_sub(KEEP)..]);
        self.kept_from.set(self.kept_from.get() + over as u64);
        self.active.set(true);
    }

    /// Where in this session's output a resend would start (`hello.offsets`).
    pub fn resend_offset(&self) -> u64 {
        self.kept_from.get()
    }

    /// Puts the kept output back in front of what waits to be sent: the relay asked for it
    /// from `resend_offset` on.
    pub fn rewind(&self) {
        let kept = std::mem::take(&mut *self.kept.borrow_mut());
        if kept.is_empty() {
            return;
        }
        let mut bytes = self.bytes.borrow_mut();
        let rest = std::mem::take(&mut *bytes);
        bytes.extend(kept);
        bytes.extend(rest);
    }

    /// Drops the kept output if nothing went out since the last call.
    pub fn forget_if_idle(&self) {
        if !self.active.replace(false) {
            let mut kept = self.kept.borrow_mut();
            self.kept_from.set(self.kept_from.get() + kept.len() as u64);
            *kept = VecDeque::new();
        }
    }

    fn end_frame(&self) -> Option<String> {
        let end = self.end.borrow_mut().take()?;
        self.delivered.set();
        Some(match end {
            End::Session(reason, status) => {
                let end = SessionEnd { session_id: self.id.clone(), reason: Some(reason.to_owned()), status, by: None };
                encode(kind::SESSION_END, Some(&end))
            }
            End::Done => encode(kind::RESPONSE, Some(&self.response("done"))),
            End::Failed(message) => {
                encode(kind::RESPONSE, Some(&Response { message: Some(message), ..self.response("error") }))
            }
        })
    }

    fn response(&self, kind: &str) -> Response {
        Response { kind: kind.to_owned(), request_id: Some(self.id.clone()), ..Response::default() }
    }

    /// Whether `next_frame` has something to say: for a request, an incomplete UTF-8
    /// character alone waits for the rest of its bytes.
    fn has_more(&self) -> bool {
        let bytes = self.bytes.borrow();
        let sendable = match self.request {
            false => !bytes.is_empty(),
            // Any four bytes hold a whole character or a byte that cannot start one.
            true if bytes.len() >= 4 => true,
            true => match std::str::from_utf8(&bytes) {
                Ok(text) => !text.is_empty(),
                Err(e) => e.valid_up_to() > 0 || e.error_len().is_some(),
            },
        };
        sendable || self.end.borrow().is_some()
    }
}

/// Takes up to `max` bytes from the front of `bytes` as text, cut between characters; bytes
/// that are not UTF-8 become U+FFFD. An incomplete character at the end of `bytes` waits for
/// its last bytes, unless `last` (no more are coming). Returns the text and the bytes used.
pub fn take_text(bytes: &[u8], max: usize, last: bool) -> (String, usize) {
    let window = &bytes[..bytes.len().min(max)];
    let cut = window.len() < bytes.len();
    let mut text = String::with_capacity(window.len());
    let mut used = 0;
    while used < window.len() {
        let (valid, rest) = match std::str::from_utf8(&window[used..]) {
            Ok(valid) => (valid, None),
            Err(e) => {
                let valid = std::str::from_utf8(&window[used..used + e.valid_up_to()]).unwrap_or_default();
                (valid, Some(e.error_len()))
            }
        };
        text.push_str(valid);
        used += valid.len();
        match rest {
            None => {}
            Some(Some(invalid)) => {
                text.push(char::REPLACEMENT_CHARACTER);
                used += invalid;
            }
            // The window ends inside a character.
            Some(None) => {
                if last && !cut {
                    text.push(char::REPLACEMENT_CHARACTER);
                    used = window.len();
                }
                break;
            }
        }
    }
    (text, used)
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

    /// Queues the stream's last frame behind whatever output it still has.
    pub fn finish(&self, out: &Rc<Output>, end: End) {
        *out.end.borrow_mut() = Some(end);
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
            outbox.finish(&b, End::Session(kind::reason::EXIT, None));
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
    fn sent_output_is_kept_for_a_resend_and_forgotten_when_idle() {
        smol::block_on(async {
            let outbox = Outbox::default();
            outbox.set_online(true);
            let out = Output::new("s".into());
            outbox.push_output(&out, &vec![b'a'; KEEP + FRAME]);
            for _ in 0..(KEEP / FRAME + 1) {
                outbox.next().await;
            }
            assert_eq!(out.resend_offset(), FRAME as u64, "the oldest bytes beyond KEEP are let go");
            assert!(out.kept.borrow().capacity() <= KEEP, "what is kept never takes more than KEEP");
            outbox.push_output(&out, b"tail");
            out.rewind();
            assert_eq!(out.bytes.borrow().len(), KEEP + 4, "kept, then what was still waiting");
            assert!(out.bytes.borrow().ends_with(b"aaaatail"));
            assert_eq!(out.resend_offset(), FRAME as u64);
            // Sent again: kept again. A quiet interval later it is forgotten.
            while out.has_more() {
                outbox.next().await;
            }
            out.forget_if_idle();
            assert_eq!(out.resend_offset(), (FRAME + 4) as u64, "active since the last look: the last KEEP bytes");
            out.forget_if_idle();
            assert_eq!(out.resend_offset(), (KEEP + FRAME + 4) as u64, "idle: nothing kept");
        });
    }

    #[test]
    fn text_is_cut_between_characters() {
        let all = |b: &[u8], max, last| take_text(b, max, last);
        assert_eq!(all(b"hello", 4, false), ("hell".into(), 4));
        // "é" is C3 A9: a window or a buffer ending between them keeps the C3 back.
        assert_eq!(all("aé".as_bytes(), 2, false), ("a".into(), 1));
        assert_eq!(all(b"a\xC3", 8, false), ("a".into(), 1));
        assert_eq!(all(b"\xC3", 8, false), (String::new(), 0));
        assert_eq!(all(b"a\xC3", 8, true), ("a\u{FFFD}".into(), 2), "nothing more is coming");
        assert_eq!(all(b"a\xFFb\xC3\xA9", 8, false), ("a\u{FFFD}bé".into(), 5), "not UTF-8: U+FFFD");
        assert_eq!(all("😀😀".as_bytes(), 6, false), ("😀".into(), 4));

        let outbox = Outbox::default();
        outbox.set_online(true);
        let out = Output::request("r1".into());
        outbox.push_output(&out, b"ok \xE2\x82");
        let token = r#"{"type":"response","data":{"type":"token","request_id":"r1","content":"ok "}}"#;
        smol::block_on(async { assert_eq!(text(outbox.next().await), token) });
        assert!(!out.has_more(), "an incomplete character alone waits");
        outbox.push_output(&out, b"\xAC");
        outbox.finish(&out, End::Failed("boom".into()));
        smol::block_on(async {
            assert_eq!(text(outbox.next().await), token.replace("ok ", "€"));
            let error = r#"{"type":"response","data":{"type":"error","request_id":"r1","message":"boom"}}"#;
            assert_eq!(text(outbox.next().await), error);
        });
        assert!(out.delivered.is_set());
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
