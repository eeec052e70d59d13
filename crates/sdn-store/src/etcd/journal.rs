//! Recent events under one prefix, read by a watch that a task keeps open, so that
//! [`crate::Store::changes_through`] is answered from memory: etcd serves a watch from a
//! past revision only from its sync loop, every 100 ms, but a live watch as the change
//! commits. The first call for a prefix starts the task from its own `after`; calls the
//! journal can't answer (from before what it holds, or not arrived within their wait) are
//! answered by a replay, as without it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use etcd_client::{EventType, KeyValue, WatchClient, WatchOptions};

use crate::Revision;

/// At most this many events, and about this many bytes of keys and values, are kept; older
/// ones are dropped (a caller asking from before them is answered by a replay).
const MAX_EVENTS: usize = 100_000;
const MAX_BYTES: usize = 32 << 20;

pub(super) struct Journal {
    state: Mutex<State>,
    grown: Condvar,
}

struct State {
    /// Every event under the prefix after `from` up to `reached` is in `events`, in order.
    from: Revision,
    reached: Revision,
    events: VecDeque<(Revision, Vec<u8>, Option<KeyValue>)>,
    bytes: usize,
    /// Whether a task is reading a watch into it.
    following: bool,
}

/// Each changed key's last state (`None`: deleted).
pub(super) type Changes = BTreeMap<Vec<u8>, Option<KeyValue>>;

/// What the journal says of the changes after one revision up to another.
pub(super) enum Answer {
    Changes(Changes),
    /// It holds nothing that old, or the events did not arrive within the wait: ask etcd.
    Unknown,
    /// No task follows the prefix: start one ([`Journal::start_following`]) and ask again.
    NotFollowed,
}

impl Journal {
    /// An empty journal, complete up to `from`.
    pub(super) fn new(from: Revision) -> Journal {
        Journal {
            state: Mutex::new(State {
                from,
                reached: from,
                events: VecDeque::new(),
                bytes: 0,
                following: false,
            }),
            grown: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The changes after `after` up to `through`, waiting until `deadline` for the events up
    /// to `through` to arrive.
    pub(super) fn changes(&self, after: Revision, through: Revision, deadline: Instant) -> Answer {
        let mut state = self.lock();
        loop {
            if after < state.from {
                return Answer::Unknown;
            }
            if state.reached >= through {
                let first = state
                    .events
                    .partition_point(|(revision, ..)| *revision <= after);
                let changes = state
                    .events
                    .range(first..)
                    .take_while(|(revision, ..)| *revision <= through)
                    .map(|(_, key, kv)| (key.clone(), kv.clone()))
                    .collect();
                return Answer::Changes(changes);
            }
            if !state.following {
                return Answer::NotFollowed;
            }
            let now = Instant::now();
            if now >= deadline {
                return Answer::Unknown;
            }
            state = self
                .grown
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Marks the journal followed and answers the revision its task must watch from; `None`
    /// if a task already follows it.
    pub(super) fn start_following(&self) -> Option<Revision> {
        let mut state = self.lock();
        if state.following {
            return None;
        }
        state.following = true;
        Some(state.reached)
    }

    /// No task follows it any more (it failed, or could not start); after compaction
    /// (`Some`: the oldest revision still watchable) it starts over, empty, from there.
    pub(super) fn stopped(&self, compacted: Option<Revision>) {
        let mut state = self.lock();
        state.following = false;
        if let Some(oldest) = compacted {
            let from = oldest.saturating_sub(1).max(state.reached);
            *state = State {
                from,
                reached: from,
                events: VecDeque::new(),
                bytes: 0,
                following: false,
            };
        }
        self.grown.notify_all();
    }

    fn record(&self, events: &[etcd_client::Event]) {
        let mut state = self.lock();
        for event in events {
            let Some(kv) = event.kv() else { continue };
            let revision = super::to_revision(kv.mod_revision());
            let entry = match event.event_type() {
                EventType::Put => Some(kv.clone()),
                EventType::Delete => None,
            };
            state.bytes += kv.key().len() + entry.as_ref().map_or(0, |kv| kv.value().len());
            state.events.push_back((revision, kv.key().to_vec(), entry));
            state.reached = state.reached.max(revision);
        }
        while state.events.len() > MAX_EVENTS || state.bytes > MAX_BYTES {
            let Some((revision, key, entry)) = state.events.pop_front() else {
                break;
            };
            state.bytes -= key.len() + entry.as_ref().map_or(0, |kv| kv.value().len());
            // Events of this revision still kept are no longer a whole revision.
            state.from = state.from.max(revision);
        }
        self.grown.notify_all();
    }
}

/// Reads a watch on `[start, end)` from after `from` into `journal` until the watch fails,
/// is compacted away, or stays silent for `quiet` twice over (a progress request in between
/// gets no answer); then marks the journal unfollowed, and the next caller starts another
/// task from where this one stopped.
pub(super) async fn follow(
    journal: Arc<Journal>,
    mut client: WatchClient,
    start: Vec<u8>,
    end: Vec<u8>,
    from: Revision,
    quiet: Duration,
) {
    let outcome: Result<Option<Revision>, ()> = async {
        let options = WatchOptions::new()
            .with_range(end)
            .with_start_revision(i64::try_from(from.saturating_add(1)).unwrap_or(i64::MAX));
        let mut stream = tokio::time::timeout(quiet, client.watch(start, Some(options)))
            .await
            .map_err(drop)?
            .map_err(drop)?;
        loop {
            let message = super::next_message(&mut stream, quiet, || {
                super::WatchFailure::Ended(String::new())
            })
            .await
            .map_err(drop)?;
            let Some(response) = message else {
                return Err(());
            };
            if response.compact_revision() > 0 {
                return Ok(Some(super::to_revision(response.compact_revision())));
            }
            if response.canceled() {
                return Err(());
            }
            journal.record(response.events());
        }
    }
    .await;
    journal.stopped(outcome.ok().flatten());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_answers_only_what_it_holds_whole() {
        let journal = Journal::new(10);
        assert!(matches!(
            journal.changes(9, 12, Instant::now()),
            Answer::Unknown
        ));
        assert!(matches!(
            journal.changes(10, 12, Instant::now()),
            Answer::NotFollowed
        ));
        assert_eq!(journal.start_following(), Some(10));
        assert_eq!(journal.start_following(), None);
        // Followed, but revision 12 has not arrived: the wait ends at its deadline.
        assert!(matches!(
            journal.changes(10, 12, Instant::now()),
            Answer::Unknown
        ));
        journal.stopped(Some(50));
        assert!(matches!(
            journal.changes(10, 60, Instant::now()),
            Answer::Unknown
        ));
        assert!(matches!(
            journal.changes(49, 60, Instant::now()),
            Answer::NotFollowed
        ));
        assert_eq!(journal.start_following(), Some(49));
    }
}
