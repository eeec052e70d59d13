//! Recent events under one prefix, read by a watch that a task keeps open, so that
//! [`crate::Store::changes_through`] is answered from memory (etcd serves a watch from a
//! past revision only from its sync loop, every 100 ms, but a live watch as the change
//! commits), and so that [`crate::Store::watch_prefix`] waiters wait on it instead of on a
//! watch stream of their own. The first call for a prefix starts the task from its own
//! `after`; calls the journal can't answer (from before what it holds, or not arrived within
//! their wait) are answered by a replay, as without it.
//!
//! One journal serves both: the write path's view watcher waits on the journal of `sdn/`,
//! and the changes of `sdn/pending/` it then asks for come from that same journal, so etcd
//! sends each change to a server once, not once per stream. A journal keeps the keys and
//! values only of the prefixes changes were asked of (from the first ask on; that one is
//! answered by a replay), so waiting on `sdn/` does not keep every applied configuration in
//! memory. A journal nobody asked for within [`IDLE_STOP`] stops following (a later call
//! starts it again from where it was).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use etcd_client::{EventType, KeyValue, WatchClient, WatchOptions};

use crate::Revision;

/// At most this many events, and about this many bytes of keys and values, are kept; older
/// ones are dropped (a caller asking from before them is answered by a replay).
const MAX_EVENTS: usize = 100_000;
const MAX_BYTES: usize = 32 << 20;
/// A journal with no waiter that nobody asked for this long stops its watch.
pub(super) const IDLE_STOP: Duration = Duration::from_secs(60);

pub(super) struct Journal {
    /// The key range it follows, `[start, end)`.
    pub(super) start: Vec<u8>,
    pub(super) end: Vec<u8>,
    state: Mutex<State>,
    grown: Condvar,
}

struct State {
    /// Every event under a kept prefix after `from` (and after that prefix's own revision in
    /// `kept`) up to `reached` is in `events`, in order.
    from: Revision,
    reached: Revision,
    /// The prefixes whose events are kept, each complete after its revision.
    kept: Vec<(Vec<u8>, Revision)>,
    events: VecDeque<(Revision, Vec<u8>, Option<KeyValue>)>,
    bytes: usize,
    /// Whether a task is reading a watch into it.
    following: bool,
    /// When it was last asked, and how many wait on it now (see [`Journal::idle`]).
    asked: Instant,
    waiting: usize,
    /// When its task last heard from the member (a quiet watch hears a progress report every
    /// attempt deadline or two).
    heard: Option<Instant>,
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

/// What a wait on the journal ended with ([`Journal::wait_past`]).
pub(super) enum Wait {
    /// Something under the prefix changed after the wait's revision, through this one.
    Changed(Revision),
    /// Nothing changed; when the journal's task last heard from its member.
    TimedOut { heard: Option<Instant> },
    /// No task follows the prefix: start one and wait again.
    NotFollowed,
}

impl Journal {
    /// An empty journal of `[start, end)`, complete up to `from`; keeping the events of its
    /// whole range (`keep`: for changes to be asked of), or none until asked.
    pub(super) fn new(start: Vec<u8>, end: Vec<u8>, from: Revision, keep: bool) -> Journal {
        let kept = if keep { vec![(start.clone(), from)] } else { Vec::new() };
        Journal {
            start,
            end,
            state: Mutex::new(State {
                from,
                reached: from,
                kept,
                events: VecDeque::new(),
                bytes: 0,
                following: false,
                asked: Instant::now(),
                waiting: 0,
                heard: None,
            }),
            grown: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The changes of the keys starting with `under` (the journal's prefix, or a longer one)
    /// after `after` up to `through`, waiting until `deadline` for the events up to `through`
    /// to arrive.
    pub(super) fn changes(&self, under: &[u8], after: Revision, through: Revision, deadline: Instant) -> Answer {
        let mut state = self.lock();
        state.asked = Instant::now();
        loop {
            let complete_after = state.kept.iter().filter(|(prefix, _)| under.starts_with(prefix)).map(|(_, since)| *since).min();
            let Some(complete_after) = complete_after else {
                // Kept from now on: the next ask is answered from memory.
                let since = state.reached;
                state.kept.push((under.to_vec(), since));
                return Answer::Unknown;
            };
            if after < state.from.max(complete_after) {
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
                    .filter(|(_, key, _)| key.starts_with(under))
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

    /// Waits until `deadline` for a change under the prefix after `after`. A wait from before
    /// what the journal holds is answered at once, as a change through the newest event it
    /// knows of: it can't tell whether one was missed.
    pub(super) fn wait_past(&self, after: Revision, deadline: Instant) -> Wait {
        let mut state = self.lock();
        state.asked = Instant::now();
        state.waiting += 1;
        let outcome = loop {
            if after < state.from || state.reached > after {
                break Wait::Changed(state.reached.max(after.saturating_add(1)));
            }
            if !state.following {
                break Wait::NotFollowed;
            }
            let now = Instant::now();
            if now >= deadline {
                break Wait::TimedOut { heard: state.heard };
            }
            state = self
                .grown
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        state.waiting -= 1;
        state.asked = Instant::now();
        outcome
    }

    /// Whether nobody waits on the journal and nobody asked it for `quiet`: its task may stop.
    fn idle(&self, quiet: Duration) -> bool {
        let state = self.lock();
        state.waiting == 0 && state.asked.elapsed() >= quiet
    }

    /// Whether a task reads a watch into it.
    pub(super) fn followed(&self) -> bool {
        self.lock().following
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
            state.from = from;
            state.reached = from;
            state.events.clear();
            state.bytes = 0;
            for (_, since) in &mut state.kept {
                *since = (*since).max(from);
            }
        }
        self.grown.notify_all();
    }

    /// Takes in one message of the watch: its events, and that the member answered.
    fn record(&self, events: &[etcd_client::Event]) {
        let mut state = self.lock();
        state.heard = Some(Instant::now());
        for event in events {
            let Some(kv) = event.kv() else { continue };
            let revision = super::to_revision(kv.mod_revision());
            state.reached = state.reached.max(revision);
            if !state.kept.iter().any(|(prefix, _)| kv.key().starts_with(prefix)) {
                continue;
            }
            let entry = match event.event_type() {
                EventType::Put => Some(kv.clone()),
                EventType::Delete => None,
            };
            state.bytes += kv.key().len() + entry.as_ref().map_or(0, |kv| kv.value().len());
            state.events.push_back((revision, kv.key().to_vec(), entry));
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

/// How a task following a journal ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ended {
    /// The watch failed or its member stopped answering: follow on another member.
    Failed,
    /// The history it was to start from was compacted away, or nobody used the journal for
    /// [`IDLE_STOP`].
    Stopped,
}

/// Reads a watch on the journal's range from after `from` into it until the watch fails,
/// is compacted away, stays silent for `quiet` twice over (a progress request in between
/// gets no answer), or the journal is idle for `idle`; then marks the journal unfollowed,
/// and the next caller starts another task from where this one stopped.
pub(super) async fn follow(
    journal: Arc<Journal>,
    mut client: WatchClient,
    from: Revision,
    quiet: Duration,
    idle: Duration,
) -> Ended {
    // `Ok(None)`: went idle; `Ok(Some(oldest))`: compacted; `Err`: failed.
    let outcome: Result<Option<Revision>, ()> = async {
        let options = WatchOptions::new()
            .with_range(journal.end.clone())
            .with_start_revision(i64::try_from(from.saturating_add(1)).unwrap_or(i64::MAX));
        let mut stream = tokio::time::timeout(quiet, client.watch(journal.start.clone(), Some(options)))
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
            // A quiet watch still gets a progress report every `quiet` or two, so this is
            // looked at even while nothing changes.
            if journal.idle(idle) {
                return Ok(None);
            }
        }
    }
    .await;
    journal.stopped(outcome.ok().flatten());
    if outcome.is_err() {
        Ended::Failed
    } else {
        Ended::Stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_answers_only_what_it_holds_whole() {
        let journal = Journal::new(b"j/".to_vec(), b"j0".to_vec(), 10, true);
        assert!(matches!(
            journal.changes(b"j/", 9, 12, Instant::now()),
            Answer::Unknown
        ));
        assert!(matches!(
            journal.changes(b"j/", 10, 12, Instant::now()),
            Answer::NotFollowed
        ));
        assert_eq!(journal.start_following(), Some(10));
        assert_eq!(journal.start_following(), None);
        // Followed, but revision 12 has not arrived: the wait ends at its deadline.
        assert!(matches!(
            journal.changes(b"j/", 10, 12, Instant::now()),
            Answer::Unknown
        ));
        journal.stopped(Some(50));
        assert!(matches!(
            journal.changes(b"j/", 10, 60, Instant::now()),
            Answer::Unknown
        ));
        assert!(matches!(
            journal.changes(b"j/", 49, 60, Instant::now()),
            Answer::NotFollowed
        ));
        assert_eq!(journal.start_following(), Some(49));
    }

    #[test]
    fn a_prefix_is_kept_from_its_first_ask_on() {
        // A journal waited on: it keeps no events until changes are asked of a prefix.
        let journal = Journal::new(b"j/".to_vec(), b"j0".to_vec(), 10, false);
        assert_eq!(journal.start_following(), Some(10));
        assert!(matches!(journal.changes(b"j/p/", 10, 10, Instant::now()), Answer::Unknown), "not kept yet");
        // Kept after 10 now: answered (nothing changed through 10).
        assert!(matches!(journal.changes(b"j/p/", 10, 10, Instant::now()), Answer::Changes(changes) if changes.is_empty()));
        assert!(matches!(journal.changes(b"j/p/", 9, 10, Instant::now()), Answer::Unknown), "from before it was kept");
        assert!(matches!(journal.changes(b"j/q/", 10, 10, Instant::now()), Answer::Unknown), "another prefix");
        // After compaction, complete only from where it starts over.
        journal.stopped(Some(21));
        assert!(matches!(journal.changes(b"j/p/", 15, 20, Instant::now()), Answer::Unknown));
    }
}
