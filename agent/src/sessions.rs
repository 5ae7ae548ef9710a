//! The session table, and what each relay frame does to it.
//!
//! `handle` gets every text frame the link receives (but an AI node's commands), by `type`,
//! parses the typed `data` (`privaclaw-proto`'s structs, with miniserde), and starts, feeds, resizes, pauses,
//! resumes or ends a session. Answers (`session_started`, `error`) go to the outbox. A frame
//! that does not parse, or names a type we do not know, is logged by type and size only and
//! dropped: it never touches another session. Each session runs as its own task on the
//! connector's single-threaded executor (`session.rs`).

use crate::frame;
use crate::log::{debug, info};
use crate::notify::Notify;
use crate::outbox::Outbox;
use crate::pty::{self, Size};
use crate::session::Session;
use miniserde::Deserialize;
use privaclaw_proto::kind::{self, reason};
use privaclaw_proto::{ErrorData, Output, Resize, SessionEnd, SessionRef, SessionStart, ToFields, encode};
use smol::LocalExecutor;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

pub struct Sessions {
    ex: Rc<LocalExecutor<'static>>,
    outbox: Rc<Outbox>,
    shell: PathBuf,
    /// The reference relay's `hello_ok.workdir`: where shells start instead of home.
    workdir: RefCell<Option<PathBuf>>,
    table: RefCell<HashMap<String, Rc<Session>>>,
    running: Cell<usize>,
    finished: Notify,
}

impl Sessions {
    pub fn new(ex: Rc<LocalExecutor<'static>>, outbox: Rc<Outbox>, shell: PathBuf) -> Rc<Sessions> {
        Rc::new(Sessions {
            ex,
            outbox,
            shell,
            workdir: RefCell::default(),
            table: RefCell::default(),
            running: Cell::new(0),
            finished: Notify::new(),
        })
    }

    /// Sessions the relay should carry on with after a reconnect (`hello.sessions`).
    /// With, for each, where a resend of its output would start (`hello.offsets`).
    pub fn ids(&self) -> (Vec<String>, Vec<u64>) {
        self.table.borrow().iter().map(|(id, s)| (id.clone(), s.out.resend_offset())).unzip()
    }

    /// The relay takes resends (`hello_ok.session_grace` says it is ours): every session sends
    /// its kept output again, from where `hello.offsets` said.
    pub fn resend_kept(&self) {
        for session in self.table.borrow().values() {
            session.out.rewind();
        }
    }

    /// Called every ping interval: sessions that sent nothing since forget their kept output.
    pub fn forget_idle(&self) {
        for session in self.table.borrow().values() {
            session.out.forget_if_idle();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.table.borrow().is_empty()
    }

    /// A new link is up: flow control starts over, every session resumed.
    pub fn link_up(&self, workdir: Option<String>) {
        *self.workdir.borrow_mut() = workdir.filter(|w| !w.is_empty()).map(PathBuf::from);
        for session in self.table.borrow().values() {
            session.out.set_paused(false);
        }
    }

    /// Ends every session, first telling the relay why if `reason` is given.
    pub fn end_all(&self, reason: Option<&'static str>) {
        for (id, session) in self.table.borrow_mut().drain() {
            if let Some(reason) = reason {
                self.send(kind::SESSION_END, &end_data(id, reason));
            }
            session.end();
        }
    }

    /// Returns once every session task is over: shells gone and reaped.
    pub async fn all_finished(&self) {
        while self.running.get() > 0 {
            self.finished.wait().await;
        }
    }

    /// Handles a frame from the relay (tests; the link peeks at the type itself).
    #[cfg(all(test, unix))]
    pub fn dispatch(self: &Rc<Self>, text: &str) {
        match frame::kind(text) {
            Some(kind) => self.handle(&kind, text),
            None => info!("ignored a malformed frame ({} bytes)", text.len()),
        }
    }

    /// Handles a frame of type `kind` from the relay.
    pub fn handle(self: &Rc<Self>, kind: &str, text: &str) {
        match kind {
            kind::SESSION_START => with_data(kind, text, |d| self.start(d)),
            kind::STDIN => with_data(kind, text, |d| self.stdin(d)),
            kind::RESIZE => with_data(kind, text, |d| self.resize(d)),
            kind::PAUSE | kind::RESUME => with_data(kind, text, |d| self.pause(d, kind)),
            kind::SESSION_END => with_data(kind, text, |d| self.end(d)),
            kind::ERROR => with_data(kind, text, |d: ErrorData| info!("the relay reported an error: {}", d.message)),
            kind::HELLO_OK => {}
            _ => {
                let shown: String = kind.chars().take(32).collect();
                debug!("ignored a frame of unknown type {shown:?} ({} bytes)", text.len());
            }
        }
    }

    fn get(&self, id: &str) -> Option<Rc<Session>> {
        self.table.borrow().get(id).cloned()
    }

    fn send(&self, kind: &str, data: &dyn ToFields) {
        self.outbox.send(encode(kind, Some(data)));
    }

    fn start(self: &Rc<Self>, d: SessionStart) {
        let size = Size::from_relay(d.cols, d.rows);
        let started = SessionRef { session_id: d.session_id.clone() };
        if let Some(session) = self.get(&d.session_id) {
            // The session runs already: a second start (another browser, a relay that lost
            // track) only resizes it.
            if let Some(size) = size {
                let _ = session.resize(size);
            }
            self.send(kind::SESSION_STARTED, &started);
            return;
        }
        let size = size.unwrap_or(Size::DEFAULT);
        let dir = self.workdir.borrow().clone().filter(|w| w.is_dir()).unwrap_or_else(pty::home_dir);
        match Session::start(d.session_id.clone(), &self.shell, &dir, size) {
            Ok(session) => {
                info!(
                    "session {} started: {} (pid {}), {}x{}",
                    d.session_id,
                    self.shell.display(),
                    session.pid(),
                    size.cols,
                    size.rows
                );
                self.table.borrow_mut().insert(d.session_id, session.clone());
                self.send(kind::SESSION_STARTED, &started);
                self.spawn(session);
            }
            Err(e) => {
                info!("session {}: cannot start {}: {e}", d.session_id, self.shell.display());
                self.send(kind::SESSION_END, &end_data(d.session_id, reason::PTY_ERROR));
            }
        }
    }

    fn spawn(self: &Rc<Self>, session: Rc<Session>) {
        self.running.set(self.running.get() + 1);
        let sessions = self.clone();
        let task = async move {
            session.run(&sessions.outbox).await;
            let mut table = sessions.table.borrow_mut();
            if table.get(session.id()).is_some_and(|s| Rc::ptr_eq(s, &session)) {
                table.remove(session.id());
            }
            drop(table);
            info!("session {} is over", session.id());
            sessions.running.set(sessions.running.get() - 1);
            sessions.finished.notify();
        };
        self.ex.spawn(task).detach();
    }

    fn stdin(&self, d: Output) {
        let Some(session) = self.get(&d.session_id) else {
            return self.not_found(d.session_id);
        };
        if let Err(why) = session.write_input(&d.data_b64) {
            info!("session {}: dropped {} bytes of input: {why}", d.session_id, d.data_b64.len());
        }
    }

    fn resize(&self, d: Resize) {
        let probe = d.probe == Some(true);
        let Some(session) = self.get(&d.session_id) else {
            // A browser probing after a reconnect learns that the shell is gone.
            if probe {
                return self.send(kind::SESSION_END, &end_data(d.session_id, reason::EXIT));
            }
            return self.not_found(d.session_id);
        };
        if let Some(size) = Size::from_relay(d.cols, d.rows) {
            if let Err(e) = session.resize(size) {
                debug!("session {}: resize failed: {e}", d.session_id);
                let error = error_data("resize_failed", d.session_id.clone());
                self.send(kind::ERROR, &error);
            }
        }
        if probe {
            let started = SessionRef { session_id: d.session_id };
            self.send(kind::SESSION_STARTED, &started);
        }
    }

    fn pause(&self, d: SessionRef, kind: &str) {
        if let Some(session) = self.get(&d.session_id) {
            session.out.set_paused(kind == kind::PAUSE);
        }
    }

    fn end(&self, d: SessionEnd) {
        let reason = d.reason.unwrap_or_default();
        // The reference connector's rule: these mean "a tab closed", and the shell stays.
        if reason.is_empty() || reason == reason::BROWSER_DISCONNECTED {
            return;
        }
        if let Some(session) = self.table.borrow_mut().remove(&d.session_id) {
            info!("session {} ended by the relay ({reason})", d.session_id);
            session.end();
        }
    }

    fn not_found(&self, session_id: String) {
        self.send(kind::ERROR, &error_data("session_not_found", session_id));
    }
}

/// Hands the frame's `data` to `f` if it parses as `T`; logs and drops the frame otherwise.
fn with_data<T: Deserialize>(kind: &str, text: &str, f: impl FnOnce(T)) {
    match frame::data(text) {
        Some(data) => f(data),
        None => info!("ignored a {kind} frame with invalid data ({} bytes)", text.len()),
    }
}

fn end_data(session_id: String, reason: &str) -> SessionEnd {
    SessionEnd { session_id, reason: Some(reason.to_owned()), status: None, by: None }
}

fn error_data(message: &str, session_id: String) -> ErrorData {
    ErrorData { message: message.to_owned(), code: None, session_id: Some(session_id) }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::outbox::BASE64;
    use base64::Engine;
    use rustix::process::{Pid, test_kill_process};
    use smol::Timer;
    use std::future::Future;
    use std::time::Duration;

    /// Runs `test` with a session table on its own executor; a hang fails after 60 s.
    fn with_sessions<F: Future<Output = ()>>(test: impl FnOnce(Rc<Sessions>, Rc<Outbox>) -> F) {
        let ex = Rc::new(LocalExecutor::new());
        let outbox = Rc::new(Outbox::default());
        outbox.set_online(true);
        let sessions = Sessions::new(ex.clone(), outbox.clone(), "/bin/sh".into());
        let deadline = async {
            Timer::after(Duration::from_secs(60)).await;
            panic!("test timed out");
        };
        smol::block_on(ex.run(smol::future::or(test(sessions, outbox), deadline)));
    }

    /// The next outgoing frame as (type, session id, decoded stdout or reason).
    async fn next(outbox: &Outbox) -> (String, String, String) {
        let text = outbox.next().await.into_text().unwrap().as_str().to_owned();
        let kind = frame::kind(&text).unwrap();
        let session = frame::data::<SessionRef>(&text).unwrap().session_id;
        let detail = match kind.as_str() {
            kind::STDOUT => {
                let data: Output = frame::data(&text).unwrap();
                String::from_utf8_lossy(&BASE64.decode(data.data_b64).unwrap()).into_owned()
            }
            kind::SESSION_END => frame::data::<SessionEnd>(&text).unwrap().reason.unwrap(),
            kind::ERROR => frame::data::<ErrorData>(&text).unwrap().message,
            _ => String::new(),
        };
        (kind, session, detail)
    }

    fn start(sessions: &Rc<Sessions>, id: &str) {
        sessions.dispatch(&format!(r#"{{"type":"session_start","data":{{"session_id":"{id}","cols":80,"rows":24}}}}"#));
    }

    fn type_in(sessions: &Rc<Sessions>, id: &str, keys: &str) {
        let b64 = BASE64.encode(keys);
        sessions.dispatch(&format!(r#"{{"type":"stdin","data":{{"session_id":"{id}","data_b64":"{b64}"}}}}"#));
    }

    /// Collects stdout per session until every `(session, needle)` has shown up.
    async fn read_until(outbox: &Outbox, wanted: &[(&str, &str)]) -> HashMap<String, String> {
        let mut seen: HashMap<String, String> = HashMap::new();
        while !wanted.iter().all(|(id, needle)| seen.get(*id).is_some_and(|s| s.contains(needle))) {
            let (kind, id, text) = next(outbox).await;
            if kind == kind::STDOUT {
                seen.entry(id).or_default().push_str(&text);
            }
        }
        seen
    }

    #[test]
    fn sessions_are_isolated_and_ending_one_kills_only_its_shell() {
        with_sessions(|sessions, outbox| async move {
            start(&sessions, "a");
            start(&sessions, "b");
            let pid_a = sessions.get("a").unwrap().pid();
            type_in(&sessions, "a", "x=only-a; echo a-$((6*7))\r");
            type_in(&sessions, "b", "echo b-$((6*7)) ${x:-unset}\r");
            let seen = read_until(&outbox, &[("a", "a-42"), ("b", "b-42 unset")]).await;
            assert!(!seen["a"].contains("b-42") && !seen["b"].contains("a-42"));

            sessions.dispatch(r#"{"type":"session_end","data":{"session_id":"a","reason":"user_exit"}}"#);
            while sessions.running.get() > 1 {
                sessions.finished.wait().await;
            }
            let pid_a = Pid::from_raw(pid_a as i32).unwrap();
            assert_eq!(test_kill_process(pid_a), Err(rustix::io::Errno::SRCH), "a's shell is gone and reaped");
            assert_eq!(sessions.ids().0, ["b"]);

            type_in(&sessions, "b", "echo still-$((6*7))\r");
            read_until(&outbox, &[("b", "still-42")]).await;
            sessions.end_all(None);
            sessions.all_finished().await;
        });
    }

    #[test]
    fn a_shell_that_exits_sends_its_last_output_then_session_end() {
        with_sessions(|sessions, outbox| async move {
            start(&sessions, "c");
            assert_eq!(next(&outbox).await.0, kind::SESSION_STARTED);
            type_in(&sessions, "c", "echo bye-$((6*7)); exit\r");
            let mut output = String::new();
            let reason = loop {
                match next(&outbox).await {
                    (kind, _, text) if kind == kind::STDOUT => output.push_str(&text),
                    (kind, id, reason) if kind == kind::SESSION_END => {
                        assert_eq!(id, "c");
                        break reason;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            };
            assert_eq!(reason, "exit");
            assert!(output.contains("bye-42"), "{output:?}");
            sessions.all_finished().await;
            assert!(sessions.is_empty());
        });
    }

    #[test]
    fn unknown_sessions_get_errors_and_probes_get_answers() {
        with_sessions(|sessions, outbox| async move {
            type_in(&sessions, "nope", "ls\r");
            assert_eq!(next(&outbox).await, ("error".into(), "nope".into(), "session_not_found".into()));
            sessions.dispatch(r#"{"type":"resize","data":{"session_id":"nope","cols":10,"rows":10,"probe":true}}"#);
            assert_eq!(next(&outbox).await, ("session_end".into(), "nope".into(), "exit".into()));
            start(&sessions, "d");
            assert_eq!(next(&outbox).await.0, kind::SESSION_STARTED);
            sessions.dispatch(r#"{"type":"resize","data":{"session_id":"d","probe":true}}"#);
            let (kind, id, _) = next(&outbox).await;
            assert_eq!((kind.as_str(), id.as_str()), (kind::SESSION_STARTED, "d"));
            // Tab closed: the shell stays.
            sessions.dispatch(r#"{"type":"session_end","data":{"session_id":"d","reason":"browser_disconnected"}}"#);
            sessions.dispatch(r#"{"type":"session_end","data":{"session_id":"d"}}"#);
            assert_eq!(sessions.ids().0, ["d"]);
            // Garbage changes nothing.
            for junk in
                ["{", "[]", r#"{"type":"stdin","data":{"session_id":"d","data_b64":"!!"}}"#, r#"{"type":"mystery"}"#]
            {
                sessions.dispatch(junk);
            }
            type_in(&sessions, "d", "echo fine-$((6*7))\r");
            read_until(&outbox, &[("d", "fine-42")]).await;
            sessions.end_all(None);
            sessions.all_finished().await;
        });
    }
}
