//! One terminal session: a shell on a PTY, the pumps that move its bytes, and its end.
//!
//! Data flows: relay `stdin` → `write_input` (decoded into a bounded buffer) → input pump →
//! PTY; PTY → output pump → this session's `Output` (bounded, see `outbox.rs`) → the link.
//! `run` is the session's task and ends in one of two ways. Either the shell exits by itself:
//! its last output, then `session_end {reason: "exit"}`, go out (after a lost link, on the
//! next one). Or someone ends the session (the relay, the grace period, shutdown): the shell
//! is hung up, killed if it lingers, and reaped; nothing more is sent for it.

use crate::notify::{Latch, Notify};
use crate::outbox::{BASE64, End, LIMIT, Outbox, Output};
use crate::pty::{Pty, Size};
use base64::Engine;
use privaclaw_proto::kind::reason;
use smol::Timer;
use smol::future::or;
use std::cell::RefCell;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

/// Bytes read from the PTY at once.
const READ_CHUNK: usize = 16 << 10;
/// Keystrokes and pastes waiting for a shell that does not read; beyond this input is dropped
/// (stopping the link instead would freeze every other session).
const INPUT_LIMIT: usize = 256 << 10;
/// After the shell exits, how long its terminal may stay silent before the rest of its output
/// is given up: a background job may hold the terminal open indefinitely.
const DRAIN_QUIET: Duration = Duration::from_millis(200);

pub struct Session {
    pub out: Rc<Output>,
    pty: Pty,
    input: RefCell<Vec<u8>>,
    input_ready: Notify,
    ended: Latch,
}

impl Session {
    pub fn start(id: String, shell: &Path, dir: &Path, size: Size) -> io::Result<Rc<Session>> {
        Ok(Rc::new(Session {
            pty: Pty::spawn(shell, dir, size)?,
            out: Output::new(id),
            input: RefCell::default(),
            input_ready: Notify::new(),
            ended: Latch::new(),
        }))
    }

    pub fn id(&self) -> &str {
        self.out.id()
    }

    pub fn pid(&self) -> u32 {
        self.pty.pid()
    }

    /// Queues base64 `stdin` data for the shell; refuses it whole if it is not base64 or
    /// would overflow the input buffer.
    pub fn write_input(&self, data_b64: &str) -> Result<(), &'static str> {
        let mut input = self.input.borrow_mut();
        if input.len() + data_b64.len() / 4 * 3 > INPUT_LIMIT {
            return Err("the shell is not reading its input");
        }
        let before = input.len();
        if BASE64.decode_vec(data_b64, &mut input).is_err() {
            // decode_vec may leave a zero-filled tail behind on error.
            input.truncate(before);
            return Err("invalid base64");
        }
        self.input_ready.notify();
        Ok(())
    }

    pub fn resize(&self, size: Size) -> io::Result<()> {
        self.pty.resize(size)
    }

    /// Ends the session: its task hangs the shell up. Output not yet sent is dropped.
    pub fn end(&self) {
        self.out.discard();
        self.ended.set();
    }

    /// The session's task; returns when the shell is gone and, if it exited by itself, its
    /// `session_end` was handed to the link (or the session was ended meanwhile).
    pub async fn run(&self, outbox: &Outbox) {
        let mut chunk = vec![0; READ_CHUNK];
        let exited_by_itself = or(
            async {
                self.ended.wait().await;
                false
            },
            async {
                let pumps = or(self.pump_input(), self.pump_output(outbox, &mut chunk));
                or(self.pty.exited(), pumps).await;
                true
            },
        )
        .await;
        if !exited_by_itself {
            self.pty.terminate().await;
            return;
        }
        self.drain(outbox, &mut chunk).await;
        outbox.finish(&self.out, End::Session(reason::EXIT, self.pty.exit_status()));
        or(self.out.delivered.wait(), self.ended.wait()).await;
    }

    async fn pump_input(&self) {
        loop {
            let data = std::mem::take(&mut *self.input.borrow_mut());
            if data.is_empty() {
                self.input_ready.wait().await;
                continue;
            }
            // Fails only once the terminal is gone; the shell's exit then ends the session.
            let _ = self.pty.write_all(&data).await;
        }
    }

    /// Moves PTY output to the outbox while there is room; never returns (the shell's exit,
    /// not the end of its terminal, ends the session).
    async fn pump_output(&self, outbox: &Outbox, chunk: &mut [u8]) {
        loop {
            self.out.wait_room().await;
            match self.pty.read(chunk).await {
                Ok(n) if n > 0 => outbox.push_output(&self.out, &chunk[..n]),
                _ => std::future::pending().await,
            }
        }
    }

    /// Collects what the shell wrote just before it exited, up to `LIMIT` more bytes.
    async fn drain(&self, outbox: &Outbox, chunk: &mut [u8]) {
        let mut budget = LIMIT;
        while budget > 0 {
            let read = or(async { self.pty.read(chunk).await.ok() }, async {
                Timer::after(DRAIN_QUIET).await;
                None
            });
            match read.await {
                Some(n) if n > 0 => {
                    outbox.push_output(&self.out, &chunk[..n]);
                    budget = budget.saturating_sub(n);
                }
                _ => return,
            }
        }
    }
}
