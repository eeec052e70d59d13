//! How a background thread follows the store: it does its pass (reads what it needs), then
//! waits on a watch of the prefix that pass depends on, and passes again only when the watch
//! tells of a change (or its own safety-net timeout runs out). An idle server then costs the
//! store one open watch per thread, not a read a second each.

use std::time::Duration;

use sdn_store::{PrefixWatch, Revision, Store};

/// The pause after a wait that failed (the store out of reach), before the thread's next pass.
const FAILED_WAIT_PAUSE: Duration = Duration::from_secs(1);

/// One thread's watch on one prefix, remembering how far it has followed.
pub struct Follower<'a> {
    store: &'a dyn Store,
    watch: Box<dyn PrefixWatch + 'a>,
    prefix: &'a str,
    /// Every change up to this revision was told of; `None` until the store's revision was read.
    seen: Option<Revision>,
}

impl<'a> Follower<'a> {
    pub fn new(store: &'a dyn Store, prefix: &'a str) -> Self {
        Follower { store, watch: store.watch_prefix(prefix), prefix, seen: None }
    }

    /// Waits up to `timeout` for a change under the prefix after the previous wait; whether
    /// the thread must pass again because something may have changed. The first wait only
    /// reads where to follow from (the store's revision, after the first pass read its state)
    /// and answers yes: a change between that pass and the read is then not missed. A wait that
    /// failed pauses a moment and answers yes.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let waited = match self.seen {
            None => self.store.revision().map(|revision| (revision, true)),
            Some(seen) => self.watch.wait_for_change(seen, timeout).map(|revision| (revision, revision > seen)),
        };
        match waited {
            Ok((revision, changed)) => {
                // Only grows: a wait that found the history compacted answers the store's
                // revision, which must not be waited after again.
                self.seen = Some(self.seen.map_or(revision, |seen| seen.max(revision)));
                changed
            }
            Err(err) => {
                tracing::debug!("watching {}: {err}", self.prefix);
                std::thread::sleep(FAILED_WAIT_PAUSE);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdn_store::Txn;

    #[test]
    fn a_follower_passes_again_only_after_a_change_under_its_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = sdn_store::SqliteStore::open(&dir.path().join("store.db")).unwrap();
        store.commit(Txn::new().put("watched/a", "1")).unwrap();
        let mut follower = Follower::new(&store, "watched/");
        let short = Duration::from_millis(50);
        assert!(follower.wait(short), "the first wait finds where to follow from, and says pass again");
        assert!(!follower.wait(short), "nothing changed");
        store.commit(Txn::new().put("watched/b", "2")).unwrap();
        assert!(follower.wait(short), "a change under the prefix");
        assert!(!follower.wait(short), "told of once");
    }
}
