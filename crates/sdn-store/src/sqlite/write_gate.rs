//! One writer of a store handle at a time, handed over the moment the last one ends.
//!
//! SQLite lets one connection write at a time and makes the others wait in its busy
//! handler, which sleeps 1, 2, 5, 10... ms between tries: a commit that met another of the
//! same process by a fraction of a millisecond waited a millisecond or more. Writers of one
//! handle queue here instead; writers of other processes still meet in SQLite's lock. The
//! checkpoint thread passes through it too, for the short last step of a checkpoint (see
//! [`super::checkpoint`]).

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::lock;

#[derive(Default)]
pub(super) struct WriteGate {
    busy: Mutex<bool>,
    free: Condvar,
}

/// Passage through the gate; the next writer goes when it is dropped.
pub(super) struct Passage<'a>(&'a WriteGate);

impl WriteGate {
    /// Waits for the writer before to end, at most `timeout`; `None` if it did not.
    pub(super) fn enter(&self, timeout: Duration) -> Option<Passage<'_>> {
        let deadline = Instant::now() + timeout;
        let mut busy = lock(&self.busy);
        while *busy {
            let left = deadline.checked_duration_since(Instant::now()).filter(|left| !left.is_zero())?;
            busy = self.free.wait_timeout(busy, left).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
        *busy = true;
        Some(Passage(self))
    }
}

impl Drop for Passage<'_> {
    fn drop(&mut self) {
        *lock(&self.0.busy) = false;
        self.0.free.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_waits_for_the_one_before_and_gives_up_after_its_timeout() {
        let gate = WriteGate::default();
        let first = gate.enter(Duration::from_secs(1)).expect("a free gate");
        assert!(gate.enter(Duration::from_millis(20)).is_none(), "the gate is taken");
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| gate.enter(Duration::from_secs(5)).map(drop).is_some());
            std::thread::sleep(Duration::from_millis(20));
            drop(first);
            assert!(waiter.join().unwrap(), "handed over when the first writer ended");
        });
        assert!(gate.enter(Duration::ZERO).is_some(), "free again");
    }
}
