//! One running prompt or workflow: its process, the pumps that move its bytes, and its end.
//!
//! Data flows: the command's input (prompt text, workflow params) → the process's stdin,
//! which is then closed; its stdout → this request's `Output` (bounded, see `outbox.rs`) →
//! `token` responses; its stderr → a small tail kept for the error message. `run` returns
//! how the request went once the process has exited and its pipes are drained. A process
//! that exits while something it started keeps a pipe open is not waited for beyond a short
//! quiet spell. If the task is ended first (the link dropped, shutdown, restart), its process
//! group is stopped and nothing more is sent for it.

use super::process::{self, Pipes, Process};
use crate::notify::Latch;
use crate::outbox::{Outbox, Output};
use smol::Timer;
use smol::future::{or, zip};
use smol::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Bytes read from a pipe at once.
const READ_CHUNK: usize = 16 << 10;
/// The end of stderr kept for the error message.
const STDERR_TAIL: usize = 1 << 10;
/// Most characters of stderr's last line in an error message.
const STDERR_LINE: usize = 300;
/// After the process exits, how long its pipes may stay silent before they are given up:
/// something it started in the background may hold them open indefinitely.
const DRAIN_QUIET: Duration = Duration::from_millis(200);

pub struct Task {
    pub out: Rc<Output>,
    ended: Latch,
}

impl Task {
    pub fn new(request_id: String) -> Rc<Task> {
        Rc::new(Task { out: Output::request(request_id), ended: Latch::new() })
    }

    pub fn id(&self) -> &str {
        self.out.id()
    }

    /// Ends the task: its process group is stopped; output not yet sent is dropped.
    pub fn end(&self) {
        self.out.discard();
        self.ended.set();
    }

    pub async fn ended(&self) {
        self.ended.wait().await
    }

    /// Runs the process to its end, `input` on its stdin. `None` if the task was ended
    /// first; else `Ok` if it succeeded, or how it failed and the last line of its stderr.
    pub async fn run(
        &self,
        process: Process,
        pipes: Pipes,
        input: Vec<u8>,
        outbox: &Outbox,
    ) -> Option<Result<(), (String, String)>> {
        let exited = Latch::new();
        let tail = RefCell::new(Vec::new());
        let Pipes { mut stdin, mut stdout, mut stderr } = pipes;
        let feed = async {
            // A process that does not read its input gets it closed when it exits.
            let write = async {
                let _ = stdin.write_all(&input).await;
                let _ = stdin.flush().await;
            };
            or(write, exited.wait()).await;
            drop(stdin);
        };
        let out = async {
            let mut chunk = vec![0; READ_CHUNK];
            loop {
                self.out.wait_room().await;
                match read(&mut stdout, &mut chunk, &exited).await {
                    0 => return,
                    n => outbox.push_output(&self.out, &chunk[..n]),
                }
            }
        };
        let err = async {
            let mut chunk = vec![0; STDERR_TAIL];
            loop {
                match read(&mut stderr, &mut chunk, &exited).await {
                    0 => return,
                    n => {
                        let mut tail = tail.borrow_mut();
                        tail.extend_from_slice(&chunk[..n]);
                        let excess = tail.len().saturating_sub(STDERR_TAIL);
                        tail.drain(..excess);
                    }
                }
            }
        };
        let wait = async {
            let ended = process.wait().await;
            exited.set();
            ended
        };
        let work = zip(wait, zip(feed, zip(out, err)));
        let ended = or(
            async {
                self.ended.wait().await;
                None
            },
            async { Some(work.await.0) },
        )
        .await;
        let Some(ended) = ended else {
            process.stop().await;
            return None;
        };
        Some(match process::failure(ended) {
            None => Ok(()),
            Some(why) => Err((why, last_line(&tail.borrow()))),
        })
    }
}

/// Reads from a pipe; 0 at its end, on an error, or once the process has exited and the pipe
/// stays quiet for `DRAIN_QUIET`.
async fn read(pipe: &mut (impl AsyncRead + Unpin), buf: &mut [u8], exited: &Latch) -> usize {
    let quiet = async {
        exited.wait().await;
        Timer::after(DRAIN_QUIET).await;
        0
    };
    or(async { pipe.read(buf).await.unwrap_or(0) }, quiet).await
}

/// The last non-empty line of `tail`, at most `STDERR_LINE` characters.
fn last_line(tail: &[u8]) -> String {
    let text = String::from_utf8_lossy(tail);
    let line = text.trim_end().rsplit('\n').next().unwrap_or_default().trim();
    match line.char_indices().nth(STDERR_LINE) {
        Some((cut, _)) => {
            let mut line = line[..cut].to_owned();
            line.push('…');
            line
        }
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_of_stderr_is_trimmed_and_bounded() {
        assert_eq!(last_line(b""), "");
        assert_eq!(last_line(b"one\ntwo\n\n  \n"), "two");
        assert_eq!(last_line(b"  only \r\n"), "only");
        let long = "é".repeat(400);
        let line = last_line(long.as_bytes());
        assert_eq!(line.chars().count(), STDERR_LINE + 1);
        assert!(line.ends_with('…'));
    }
}
