//! The current time, as every part of sdnd reads it (lock expiry, tickets, tasks, reports):
//! the system clock when serving, a clock the test moves by hand in tests, so that no test
//! has to sleep to see a lock or a ticket expire.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A source of wall-clock time. Cheap to clone; clones share the same time.
#[derive(Debug, Clone)]
pub struct Clock(Arc<Source>);

#[derive(Debug)]
enum Source {
    System,
    /// Milliseconds since the epoch, moved only by [`Clock::advance`].
    Manual(AtomicI64),
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl Clock {
    /// The machine's clock.
    pub fn system() -> Clock {
        Clock(Arc::new(Source::System))
    }

    /// A clock standing still at `epoch_ms` until [`Clock::advance`] moves it.
    pub fn manual(epoch_ms: i64) -> Clock {
        Clock(Arc::new(Source::Manual(AtomicI64::new(epoch_ms))))
    }

    /// Moves a manual clock forward; the system clock can't be moved (a no-op there).
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(ms) = &*self.0 {
            ms.fetch_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX), Ordering::SeqCst);
        }
    }

    /// Milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        match &*self.0 {
            Source::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Source::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }

    /// Whole seconds since the epoch (what PVE's APIs speak).
    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// This machine's host name (the default node name).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = Clock::manual(1_000_990);
        let shared = clock.clone();
        assert_eq!(clock.now(), 1000);
        shared.advance(Duration::from_millis(10));
        assert_eq!(clock.now_ms(), 1_001_000);
        assert_eq!(clock.now(), 1001);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(Clock::system().now() > 1_577_836_800);
    }
}
