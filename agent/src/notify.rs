//! Wake-ups between the connector's tasks, built on smol's channels.
//!
//! `Notify` says "look again" (more output queued, room freed, input arrived); wake-ups sent
//! while nobody waits collapse into one, so a busy producer never queues more than that.
//! `Latch` says "this happened" once and for good (a session was told to end, its last
//! frame went out); every wait after that returns at once.

use smol::channel::{self, Receiver, Sender};

pub struct Notify {
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl Default for Notify {
    fn default() -> Notify {
        Notify::new()
    }
}

impl Notify {
    pub fn new() -> Notify {
        let (tx, rx) = channel::bounded(1);
        Notify { tx, rx }
    }

    pub fn notify(&self) {
        let _ = self.tx.try_send(());
    }

    pub async fn wait(&self) {
        let _ = self.rx.recv().await;
    }
}

pub struct Latch {
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl Latch {
    pub fn new() -> Latch {
        let (tx, rx) = channel::bounded(1);
        Latch { tx, rx }
    }

    pub fn set(&self) {
        self.tx.close();
    }

    #[cfg(test)]
    pub fn is_set(&self) -> bool {
        self.tx.is_closed()
    }

    /// Returns once `set` has been called (a closed channel answers every `recv` at once).
    pub async fn wait(&self) {
        let _ = self.rx.recv().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_collapse_and_latches_stay_set() {
        smol::block_on(async {
            let n = Notify::new();
            n.notify();
            n.notify();
            n.wait().await;
            assert!(n.rx.is_empty(), "two notifications while idle make one wake-up");
            let l = Latch::new();
            assert!(!l.is_set());
            l.set();
            l.wait().await;
            l.wait().await;
            assert!(l.is_set());
        });
    }
}
