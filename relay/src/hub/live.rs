//! One running terminal session inside the relay: the browsers watching it, its replay ring,
//! the connector link it goes to, and flow control between them.
//!
//! Output from the connector is fanned out to every browser's outbox and kept in the ring.
//! When a browser falls behind (its queue passes `HIGH`) or asks for it (`pause`), the relay
//! pauses this session: it sends `pause` for it to a connector that understands that frame,
//! which stops reading that PTY; a connector that does not (the reference Go connector) has
//! its socket's reads held instead (see `outbox.rs`). When every browser is below `LOW` again,
//! `resume` (or the hold is released). A browser whose queue passes `HARD` anyway is closed
//! with 4008 and can resume from the ring.
//!
//! Each browser is someone: the session's owner, or a project member who joined it on purpose
//! (`auth.join`), whom the others are told about. When someone's access ends, `cut` closes
//! their browsers.
use super::outbox::Outbox;
use super::replay::{Budget, Replay, Ring};
use crate::metrics;
use privaclaw_proto::{SessionRef, ViewerChange, encode, kind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Utf8Bytes;

pub const HIGH: usize = 256 * 1024;
pub const LOW: usize = 64 * 1024;
pub const HARD: usize = 4 * 1024 * 1024;

pub struct Live {
    pub id: String,
    pub device_id: String,
    pub project_id: String,
    /// The user who started the session; anyone else attaches only by joining it.
    pub owner: String,
    /// Mirror of `State::paused`, so browser writers can check it without the lock.
    paused: AtomicBool,
    state: Mutex<State>,
}

/// The connector a session's input goes to, and whether it understands `pause`.
#[derive(Clone)]
pub struct Upstream {
    pub out: Outbox,
    pub pausable: bool,
}

/// The person at a browser.
#[derive(Clone, Debug)]
pub struct Who {
    pub user_id: String,
    pub email: String,
    /// The sign-in (auth session) whose token opened this browser's socket.
    pub sign_in: String,
    /// Attached to someone else's session.
    pub joined: bool,
}

struct State {
    viewers: Vec<Viewer>,
    ring: Ring,
    /// The connector; `None` while a resumable connector is away.
    link: Option<Upstream>,
    paused: bool,
    /// The connection whose reads this session holds (a pause for a connector without `pause`).
    holding: Option<Outbox>,
    ended: bool,
    idle_since: Option<Instant>,
    link_lost_since: Option<Instant>,
    /// Bytes of a connector's resend that this relay already holds: dropped as they arrive.
    skip: u64,
}

struct Viewer {
    id: u64,
    out: Outbox,
    paused: bool,
    who: Who,
    /// Output this browser already has that the relay has not been sent again yet (it came
    /// back before the connector's resend after a relay restart caught up): dropped for it
    /// alone as it arrives.
    ahead: u64,
}

/// Why a frame for the connector was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkError {
    Offline,
    Busy,
    Ended,
}

/// A connector link that reads nothing does not get more input queued than this.
const LINK_LIMIT: usize = 1024 * 1024;

impl Live {
    pub fn new(
        id: String,
        device_id: String,
        project_id: String,
        owner: String,
        link: Option<Upstream>,
        budget: Arc<Budget>,
    ) -> Live {
        Live {
            id,
            device_id,
            project_id,
            owner,
            paused: AtomicBool::new(false),
            state: Mutex::new(State {
                viewers: Vec::new(),
                ring: Ring::new(budget),
                link_lost_since: link.is_none().then(Instant::now),
                link,
                paused: false,
                holding: None,
                ended: false,
                idle_since: Some(Instant::now()),
                skip: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connector resends this session's output from `offset` on (it reconnected): what
    /// this relay already holds of it is skipped, what it never got is taken.
    pub fn resend_from(&self, offset: u64) {
        let mut st = self.lock();
        st.skip = st.ring.end().saturating_sub(offset);
        st.ring.skip_to(offset);
    }

    /// Connector output: keep it for resume and fan it out.
    pub fn output(&self, frame: Utf8Bytes, bytes: u64) {
        let mut st = self.lock();
        if st.ended {
            return;
        }
        metrics::OUTPUT_FRAMES.add(1);
        metrics::OUTPUT_BYTES.add(bytes);
        let Some((frame, bytes)) = self.past(&mut st.skip, frame, bytes) else { return };
        st.ring.push(frame.clone(), bytes);
        let mut gone = Vec::new();
        st.viewers.retain_mut(|v| {
            let frame = match v.ahead {
                0 => frame.clone(),
                _ => match self.past(&mut v.ahead, frame.clone(), bytes) {
                    Some((tail, _)) => tail,
                    None => return true,
                },
            };
            let q = v.out.send(frame);
            if q > HARD {
                // Its queue will not drain: cut it off now rather than after 4 MiB more.
                tracing::debug!(session = %self.id, "browser too slow: cut off (4008)");
                metrics::SLOW_BROWSERS_CUT.add(1);
                v.out.kill(kind::close::TOO_SLOW, "too slow: reconnect with offset to resume");
            }
            let keep = q != 0 && q <= HARD;
            if !keep {
                gone.push(v.who.clone());
            }
            keep
        });
        self.left(&mut st, &gone);
        self.flow(&mut st);
    }

    /// What is left of `bytes` of output once `skip` bytes are dropped from its front (and
    /// `skip` counted down): all of it, a tail, or nothing.
    fn past(&self, skip: &mut u64, frame: Utf8Bytes, bytes: u64) -> Option<(Utf8Bytes, u64)> {
        match *skip {
            0 => Some((frame, bytes)),
            n if n >= bytes => {
                *skip -= bytes;
                None
            }
            n => {
                *skip = 0;
                self.tail(&frame, n).map(|tail| (tail, bytes - n))
            }
        }
    }

    /// The part of a `stdout` frame after its first `skip` bytes, as a frame of its own. Only
    /// at a resend's seam: the one time the relay decodes a payload.
    fn tail(&self, frame: &Utf8Bytes, skip: u64) -> Option<Utf8Bytes> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let o: privaclaw_proto::Output =
            privaclaw_proto::route::parse(frame).ok().and_then(|f| privaclaw_proto::route::data(&f).ok())?;
        let bytes = b64.decode(o.data_b64).ok()?;
        let rest = bytes.get(skip as usize..)?;
        Some(
            privaclaw_proto::output_frame(kind::STDOUT, &self.id, rest.len() * 4 / 3 + 4, |buf| {
                b64.encode_string(rest, buf)
            })
            .into(),
        )
    }

    /// Any other frame every browser of the session should see.
    pub fn broadcast(&self, frame: Utf8Bytes) {
        for v in &self.lock().viewers {
            v.out.send(frame.clone());
        }
    }

    /// Adds a browser. Under one lock: `first` (the `auth_ok`) and the replay are queued
    /// before any live frame can reach this browser, so nothing is lost or doubled. Someone
    /// joining is announced to the others, and is told who else joined before them.
    pub fn attach(
        &self,
        viewer: u64,
        who: Who,
        out: Outbox,
        first: impl FnOnce(&Replay) -> Utf8Bytes,
        from: Option<u64>,
    ) -> bool {
        let mut st = self.lock();
        if st.ended {
            return false;
        }
        let mut replay = st.ring.since(from);
        if replay.cut > 0 {
            let (head, cut) = (replay.frames.remove(0), replay.cut);
            replay.frames.insert(0, self.tail(&head, cut).unwrap_or(head));
            replay.offset += std::mem::take(&mut replay.cut);
        }
        // The browser has more than the relay holds yet: it resumed before the connector's
        // resend reached its offset. It gets what follows its offset, not those bytes again.
        let ahead = from.map_or(0, |f| f.saturating_sub(replay.offset));
        replay.offset += ahead;
        out.send(first(&replay));
        // Whether the device is there right now: a page that reconnected may have missed it
        // going away or coming back.
        let status = if st.link.is_some() { "online" } else { "offline" };
        let d = privaclaw_proto::DeviceStatus { device_id: self.device_id.clone(), status: status.into() };
        out.send(encode(kind::DEVICE_STATUS, Some(&d)));
        for f in replay.frames {
            out.send(f);
        }
        for v in st.viewers.iter().filter(|v| v.who.joined && v.who.user_id != who.user_id) {
            out.send(self.change(kind::VIEWER_JOINED, &v.who));
        }
        if who.joined {
            let news = self.change(kind::VIEWER_JOINED, &who);
            for v in &st.viewers {
                v.out.send(news.clone());
            }
        }
        st.viewers.push(Viewer { id: viewer, out, paused: false, who, ahead });
        st.idle_since = None;
        self.flow(&mut st);
        true
    }

    fn change(&self, k: &str, who: &Who) -> Utf8Bytes {
        let c = ViewerChange { session_id: self.id.clone(), user_id: who.user_id.clone(), email: who.email.clone() };
        encode(k, Some(&c)).into()
    }

    /// Tells the browsers still here that these joined people left.
    fn left(&self, st: &mut State, gone: &[Who]) {
        for who in gone.iter().filter(|w| w.joined) {
            // Another browser of the same person still watching: they have not left.
            if st.viewers.iter().any(|v| v.who.user_id == who.user_id) {
                continue;
            }
            let news = self.change(kind::VIEWER_LEFT, who);
            for v in &st.viewers {
                v.out.send(news.clone());
            }
        }
        if st.viewers.is_empty() && st.idle_since.is_none() {
            st.idle_since = Some(Instant::now());
        }
    }

    pub fn detach(&self, viewer: u64) {
        let mut st = self.lock();
        let gone = Self::remove(&mut st, |v| v.id == viewer);
        self.left(&mut st, &gone);
        self.flow(&mut st);
    }

    fn remove(st: &mut State, matches: impl Fn(&Viewer) -> bool) -> Vec<Who> {
        let mut gone = Vec::new();
        st.viewers.retain(|v| {
            let hit = matches(v);
            if hit {
                gone.push(v.who.clone());
            }
            !hit
        });
        gone
    }

    /// Closes the browsers of people whose access ended: each hears `why` in an `error`
    /// frame, then the close 4003 "access revoked". Returns how many were closed.
    pub fn cut(&self, matches: impl Fn(&Who) -> bool, why: &str) -> usize {
        let mut st = self.lock();
        let frame = crate::hub::frames::error(why, Some(kind::reason::ACCESS_REVOKED), Some(&self.id));
        let mut closed = 0;
        for v in st.viewers.iter().filter(|v| matches(&v.who)) {
            v.out.send(frame.clone());
            v.out.close(kind::close::ACCESS_REVOKED, "access revoked");
            closed += 1;
        }
        let gone = Self::remove(&mut st, |v| matches(&v.who));
        self.left(&mut st, &gone);
        self.flow(&mut st);
        closed
    }

    /// A browser's own `pause`/`resume`.
    pub fn set_viewer_paused(&self, viewer: u64, paused: bool) {
        let mut st = self.lock();
        if let Some(v) = st.viewers.iter_mut().find(|v| v.id == viewer) {
            v.paused = paused;
        }
        self.flow(&mut st);
    }

    /// Called by a browser's writer when its queue drained below `LOW`.
    pub fn drained(&self) {
        if self.paused.load(Ordering::Acquire) {
            let mut st = self.lock();
            self.flow(&mut st);
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Decides pause/resume from the browsers' state (with hysteresis) and tells the connector.
    fn flow(&self, st: &mut State) {
        let asked = st.viewers.iter().any(|v| v.paused);
        let want = if st.paused {
            asked || st.viewers.iter().any(|v| v.out.queued() > LOW)
        } else {
            asked || st.viewers.iter().any(|v| v.out.queued() > HIGH)
        };
        if want == st.paused {
            return;
        }
        st.paused = want;
        self.paused.store(want, Ordering::Release);
        match &st.link {
            Some(up) if up.pausable => {
                let k = if want { kind::PAUSE } else { kind::RESUME };
                up.out.send(encode(k, Some(&SessionRef { session_id: self.id.clone() })));
            }
            Some(up) if want => {
                up.out.hold();
                st.holding = Some(up.out.clone());
            }
            _ => Self::unhold(st),
        }
    }

    fn unhold(st: &mut State) {
        if let Some(held) = st.holding.take() {
            held.release();
        }
    }

    /// Queues a frame for the connector.
    pub fn to_connector(&self, frame: impl Into<Utf8Bytes>) -> Result<(), LinkError> {
        let st = self.lock();
        if st.ended {
            return Err(LinkError::Ended);
        }
        let link = st.link.as_ref().ok_or(LinkError::Offline)?;
        if link.out.queued() > LINK_LIMIT {
            metrics::INPUT_DROPPED.add(1);
            return Err(LinkError::Busy);
        }
        let frame = frame.into();
        metrics::INPUT_FRAMES.add(1);
        metrics::INPUT_BYTES.add(frame.len() as u64);
        link.out.send(frame);
        Ok(())
    }

    /// Binds the session to a (new) connector link, or marks its connector away (`None`).
    /// A new link starts resumed; pause is re-sent if browsers are still behind.
    pub fn rebind(&self, link: Option<Upstream>) {
        let mut st = self.lock();
        Self::unhold(&mut st);
        st.link_lost_since = if link.is_none() { Some(Instant::now()) } else { None };
        st.link = link;
        st.paused = false;
        self.paused.store(false, Ordering::Release);
        self.flow(&mut st);
    }

    /// True if `link` is this session's current connector link.
    pub fn is_bound_to(&self, link: &Outbox) -> bool {
        self.lock().link.as_ref().is_some_and(|l| l.out.same(link))
    }

    /// Ends the session here: later frames are dropped. Returns false if it had already ended.
    /// `last` (e.g. the `session_end` frame) goes to every browser, whose sockets then close.
    pub fn end(&self, last: Option<Utf8Bytes>) -> bool {
        self.end_with(last, 1000, "session ended")
    }

    /// `end`, closing the browsers with `code` (the session moved to another relay: they
    /// reconnect and find it there).
    pub fn end_with(&self, last: Option<Utf8Bytes>, code: u16, reason: &'static str) -> bool {
        let mut st = self.lock();
        if st.ended {
            return false;
        }
        st.ended = true;
        Self::unhold(&mut st);
        for v in st.viewers.drain(..) {
            if let Some(f) = &last {
                v.out.send(f.clone());
            }
            v.out.close(code, reason);
        }
        true
    }

    /// Closes every browser's socket with `code` and `reason`, the session itself going on (the
    /// relay is restarting: they come back and resume).
    pub fn close_viewers(&self, code: u16, reason: &'static str) {
        for v in &self.lock().viewers {
            v.out.close(code, reason);
        }
    }

    /// How long nobody has watched, and how long the connector has been away.
    pub fn idle_for(&self) -> (Option<Duration>, Option<Duration>) {
        let st = self.lock();
        (st.idle_since.map(|t| t.elapsed()), st.link_lost_since.map(|t| t.elapsed()))
    }

    /// Lets go of the replay (the relay's replay budget is spent); a browser that comes back
    /// hears how much it missed.
    pub fn drop_replay(&self) {
        self.lock().ring.clear();
    }

    pub(super) fn viewers(&self) -> usize {
        self.lock().viewers.len()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        Self::unhold(&mut self.lock());
    }
}

#[cfg(test)]
mod tests {
    use super::super::outbox::{Out, channel};
    use super::super::replay::Budget;
    use super::*;

    fn new_live(link: Option<Outbox>) -> Live {
        let up = link.map(|out| Upstream { out, pausable: true });
        Live::new("s".into(), "d".into(), "p".into(), "owner".into(), up, Budget::new(1 << 20, u64::MAX))
    }

    fn who(user: &str, joined: bool) -> Who {
        Who { user_id: user.into(), email: format!("{user}@example.com"), sign_in: format!("{user}-signin"), joined }
    }

    fn frame(n: usize) -> Utf8Bytes {
        Utf8Bytes::from("x".repeat(n))
    }

    fn kinds(inbox: &mut super::super::outbox::Inbox) -> Vec<String> {
        let mut v = Vec::new();
        while let Ok(Out::Frame(f)) = inbox.rx.try_recv() {
            inbox.signals.sent(f.len(), 0);
            v.push(f.as_str().to_string());
        }
        v
    }

    #[test]
    fn slow_browser_pauses_its_session_and_resumes_when_drained() {
        let (link, mut link_in) = channel();
        let live = new_live(Some(link));
        let (b, mut b_in) = channel();
        assert!(live.attach(1, who("owner", false), b, |_| Utf8Bytes::from_static("ok"), None));
        live.output(frame(HIGH + 1), 1);
        assert!(live.is_paused());
        let sent = kinds(&mut link_in);
        assert_eq!(sent.len(), 1);
        assert!(sent[0].contains("\"pause\"") && sent[0].contains("\"s\""));
        // The browser reads everything: below LOW, so the next check resumes.
        assert_eq!(kinds(&mut b_in).len(), 3, "auth_ok, device_status, output");
        live.drained();
        assert!(!live.is_paused());
        assert!(kinds(&mut link_in)[0].contains("\"resume\""));
    }

    #[test]
    fn hopeless_browser_is_dropped_and_others_keep_receiving() {
        let live = new_live(None);
        let (slow, slow_in) = channel();
        let (fast, mut fast_in) = channel();
        live.attach(1, who("owner", false), slow, |_| Utf8Bytes::from_static("ok"), None);
        live.attach(2, who("owner", false), fast, |_| Utf8Bytes::from_static("ok"), None);
        kinds(&mut fast_in);
        for _ in 0..5 {
            live.output(frame(HARD / 4), 1);
            kinds(&mut fast_in);
        }
        assert_eq!(live.viewers(), 1, "the stalled browser was let go");
        use futures_util::FutureExt;
        let killed = slow_in.signals.killed().now_or_never();
        assert_eq!(killed.map(|k| k.0), Some(privaclaw_proto::kind::close::TOO_SLOW));
        live.output(frame(10), 1);
        assert_eq!(kinds(&mut fast_in).len(), 1);
    }

    #[test]
    fn attach_replays_before_live_output() {
        let live = new_live(None);
        live.output(Utf8Bytes::from_static("one"), 3);
        let (b, mut b_in) = channel();
        live.attach(1, who("owner", false), b, |r| Utf8Bytes::from(format!("auth_ok@{}", r.offset)), Some(0));
        live.output(Utf8Bytes::from_static("two"), 3);
        let offline = r#"{"type":"device_status","data":{"device_id":"d","status":"offline"}}"#;
        assert_eq!(kinds(&mut b_in), vec!["auth_ok@0", offline, "one", "two"]);
    }

    fn stdout(text: &str) -> (Utf8Bytes, u64) {
        use base64::Engine;
        let f = privaclaw_proto::output_frame(kind::STDOUT, "s", 16, |b| {
            base64::engine::general_purpose::STANDARD.encode_string(text, b)
        });
        (f.into(), text.len() as u64)
    }

    fn text_of(frames: &[String]) -> String {
        use base64::Engine;
        frames
            .iter()
            .filter_map(|f| {
                let v: serde_json::Value = serde_json::from_str(f).ok()?;
                let b = base64::engine::general_purpose::STANDARD.decode(v["data"]["data_b64"].as_str()?).ok()?;
                Some(String::from_utf8(b).unwrap())
            })
            .collect()
    }

    #[test]
    fn a_resend_after_a_reconnect_is_neither_lost_nor_doubled() {
        let live = new_live(None);
        let (b, mut b_in) = channel();
        live.attach(1, who("owner", false), b, |_| Utf8Bytes::from_static("ok"), None);
        for part in ["0123", "4567"] {
            let (f, n) = stdout(part);
            live.output(f, n);
        }
        // The connector comes back and resends from byte 2: "234567" again, then "89".
        live.resend_from(2);
        for part in ["23", "4567", "89"] {
            let (f, n) = stdout(part);
            live.output(f, n);
        }
        assert_eq!(text_of(&kinds(&mut b_in)), "0123456789");
        // A relay that restarted knows nothing: a resend from byte 6 starts its offsets there.
        let fresh = new_live(None);
        fresh.resend_from(6);
        let (f, n) = stdout("6789");
        fresh.output(f, n);
        let (b, mut b_in) = channel();
        fresh.attach(1, who("owner", false), b, |r| Utf8Bytes::from(format!("at {}", r.offset)), Some(8));
        let got = kinds(&mut b_in);
        assert_eq!(got[0], "at 8", "the browser had 8 bytes; the replay's one frame (6..10) is cut");
        assert_eq!(text_of(&got[2..]), "89");
        let (b, mut b_in) = channel();
        fresh.attach(2, who("owner", false), b, |r| Utf8Bytes::from(format!("at {}", r.offset)), Some(6));
        assert_eq!(text_of(&kinds(&mut b_in)), "6789");
        // A browser back before the resend reached its offset (it has 13 bytes, the relay 10):
        // it is told 13 and gets what follows, while the others get everything.
        let (c, mut c_in) = channel();
        fresh.attach(3, who("owner", false), c, |r| Utf8Bytes::from(format!("at {}", r.offset)), Some(13));
        assert_eq!(kinds(&mut c_in)[0], "at 13");
        for part in ["ab", "cdef", "g"] {
            let (f, n) = stdout(part);
            fresh.output(f, n);
        }
        assert_eq!(text_of(&kinds(&mut c_in)), "defg");
        assert_eq!(text_of(&kinds(&mut b_in)), "abcdefg");
    }

    #[test]
    fn input_is_refused_while_the_connector_is_away() {
        let live = new_live(None);
        assert_eq!(live.to_connector("x"), Err(LinkError::Offline));
        let (link, _keep) = channel();
        live.rebind(Some(Upstream { out: link, pausable: true }));
        assert_eq!(live.to_connector("x"), Ok(()));
        assert!(live.end(None));
        assert_eq!(live.to_connector("x"), Err(LinkError::Ended));
    }

    #[test]
    fn a_connector_without_pause_has_its_reads_held_instead() {
        let (link, mut link_in) = channel();
        let live = Live::new(
            "s".into(),
            "d".into(),
            "p".into(),
            "o".into(),
            Some(Upstream { out: link.clone(), pausable: false }),
            Budget::new(1 << 20, u64::MAX),
        );
        let (b, mut b_in) = channel();
        live.attach(1, who("o", false), b, |_| Utf8Bytes::from_static("ok"), None);
        live.output(frame(HIGH + 1), 1);
        assert!(live.is_paused() && link.is_held(), "reads held");
        assert!(kinds(&mut link_in).is_empty(), "no pause frame for a connector that does not know it");
        kinds(&mut b_in);
        live.drained();
        assert!(!live.is_paused() && !link.is_held(), "released once the browser caught up");
        live.output(frame(HIGH + 1), 1);
        assert!(link.is_held());
        drop(live);
        assert!(!link.is_held(), "a session that goes away lets go of its hold");
    }

    #[test]
    fn joining_is_announced_and_cut_closes_only_whose_access_ended() {
        let session = new_live(None);
        let (o, mut o_in) = channel();
        let (j, mut j_in) = channel();
        session.attach(1, who("owner", false), o, |_| Utf8Bytes::from_static("ok"), None);
        session.attach(2, who("bob", true), j, |_| Utf8Bytes::from_static("ok"), None);
        let told = kinds(&mut o_in);
        assert!(told.iter().any(|f| f.contains("viewer_joined") && f.contains("bob@example.com")), "{told:?}");
        assert_eq!(session.cut(|w| w.user_id == "bob", "Your access ended."), 1);
        assert_eq!(session.viewers(), 1);
        let bob = kinds(&mut j_in);
        assert!(bob.last().unwrap().contains("access_revoked"), "{bob:?}");
        let told = kinds(&mut o_in);
        assert!(told.iter().any(|f| f.contains("viewer_left")), "{told:?}");
        assert_eq!(session.cut(|w| w.user_id == "bob", "again"), 0);
    }
}
