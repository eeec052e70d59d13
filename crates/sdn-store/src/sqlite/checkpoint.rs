//! Checkpoints off the write path: the WAL's pages are copied into the database file by a
//! thread of the store's own, not by whichever commit crossed SQLite's threshold.
//!
//! By default SQLite checkpoints inside the commit that brings the WAL to 1,000 pages: that
//! commit copies the pages and syncs the database file and the WAL, two more disk syncs
//! before it is acknowledged, which made every hundredth or so create on a serving sdnd
//! three times as slow as the others (the p99 of `cargo bench -p sdnd --bench mutation`).
//! Never checkpointing is no way out either: the WAL then only grows, and a sync of a file
//! that grew costs more than one of a file overwritten in place (SQLite rewinds the WAL
//! after a complete checkpoint).
//!
//! So every connection reports the WAL's size after each of its commits ([`after_commit`],
//! SQLite's WAL hook, which replaces the automatic checkpoint), and a commit that finds it
//! at [`CHECKPOINT_PAGES`] or more asks the [`Checkpointer`]'s thread for a checkpoint. That
//! runs in two steps. The first copies the pages and syncs the database file beside the
//! writers (a passive checkpoint). Writers that came meanwhile added pages it did not copy,
//! and SQLite rewinds the WAL only after a checkpoint that copied everything; so the second
//! step passes through the [`WriteGate`] and copies the rest while no writer of this handle
//! adds to it: a few pages and one sync, which is all a commit arriving then waits for.
//! Durability is untouched: a commit is durable once its WAL frames are synced, which every
//! commit still waits for.
//!
//! When the WAL can't be rewound (a reader still reads the old pages, or another process
//! writes), the thread is asked again only after [`RETRY_PAGES`] more, not after every
//! commit. Should it fall behind or fail (its errors have nowhere better to go), a commit
//! that finds the WAL at [`BACKSTOP_PAGES`] checkpoints it itself, as SQLite would, so the
//! WAL stays bounded either way.

use std::cell::Cell;
use std::os::raw::c_int;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::hooks::Wal;
use rusqlite::Connection;

use super::lock;
use super::write_gate::WriteGate;

/// The WAL size at which a checkpoint is asked for: SQLite's own automatic threshold.
const CHECKPOINT_PAGES: c_int = 1000;
/// After a checkpoint was asked for, how much more the WAL grows before it is asked again.
const RETRY_PAGES: c_int = CHECKPOINT_PAGES / 4;
/// The WAL size at which a commit checkpoints itself (thread behind or failing).
const BACKSTOP_PAGES: c_int = 10 * CHECKPOINT_PAGES;

thread_local! {
    /// The WAL's size after this thread's last commit, as the hook reported it.
    static WAL_PAGES: Cell<c_int> = const { Cell::new(0) };
}

/// SQLite's WAL hook on every connection of the store (see the module doc): it runs on the
/// committing thread, right after the commit's frames are in the WAL.
pub(super) fn after_commit(wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.with(|cell| cell.set(pages));
    if pages >= BACKSTOP_PAGES {
        wal.checkpoint()?;
    }
    Ok(())
}

/// The WAL's size after the calling thread's last commit (on any store).
pub(super) fn wal_pages_after_last_commit() -> c_int {
    WAL_PAGES.with(Cell::get)
}

/// The store's checkpoint thread, started at the first request; stopped when dropped.
pub(super) struct Checkpointer {
    path: PathBuf,
    busy_timeout: Duration,
    gate: Arc<WriteGate>,
    /// The WAL size from which the next commit asks for a checkpoint.
    ask_from: AtomicI32,
    shared: Mutex<Option<Arc<Shared>>>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    requested: bool,
    stopping: bool,
    /// Checkpoints run so far (for tests).
    done: u64,
}

impl Checkpointer {
    pub(super) fn new(path: PathBuf, busy_timeout: Duration, gate: Arc<WriteGate>) -> Checkpointer {
        Checkpointer { path, busy_timeout, gate, ask_from: AtomicI32::new(CHECKPOINT_PAGES), shared: Mutex::new(None) }
    }

    /// Called after each commit of this handle, with the WAL's size then: asks for a
    /// checkpoint when it is due (see the module doc).
    pub(super) fn committed(&self, pages: c_int) {
        let ask_from = self.ask_from.load(Ordering::Relaxed);
        if pages < ask_from {
            // Rewound since the last ask (or never asked): the next ask at the usual size.
            if pages < ask_from - RETRY_PAGES && ask_from > CHECKPOINT_PAGES {
                self.ask_from.store(CHECKPOINT_PAGES, Ordering::Relaxed);
            }
            return;
        }
        self.ask_from.store(pages + RETRY_PAGES, Ordering::Relaxed);
        self.request();
    }

    /// Asks for a checkpoint soon (one already asked for and not started counts).
    fn request(&self) {
        let mut slot = lock(&self.shared);
        if slot.is_none() {
            let shared = Arc::new(Shared::default());
            let worker = Worker { path: self.path.clone(), busy_timeout: self.busy_timeout, gate: self.gate.clone(), shared: shared.clone() };
            let spawned = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || worker.run());
            // Without the thread, the backstop in `after_commit` keeps the WAL bounded.
            if spawned.is_err() {
                return;
            }
            *slot = Some(shared);
        }
        if let Some(shared) = slot.as_ref() {
            lock(&shared.state).requested = true;
            shared.wake.notify_one();
        }
    }

    /// Checkpoints the thread has run so far.
    #[cfg(test)]
    pub(super) fn done(&self) -> u64 {
        lock(&self.shared).as_ref().map_or(0, |shared| lock(&shared.state).done)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Some(shared) = lock(&self.shared).take() {
            lock(&shared.state).stopping = true;
            shared.wake.notify_one();
        }
    }
}

/// What the checkpoint thread owns.
struct Worker {
    path: PathBuf,
    busy_timeout: Duration,
    gate: Arc<WriteGate>,
    shared: Arc<Shared>,
}

impl Worker {
    fn run(self) {
        let mut conn: Option<Connection> = None;
        while self.next_request() {
            if conn.is_none() {
                conn = super::configured(&self.path, self.busy_timeout).ok();
            }
            // A failure leaves it to the next request (and the backstop).
            if let Some(conn) = &conn {
                let _ = checkpoint(conn, &self.gate, self.busy_timeout);
            }
            lock(&self.shared.state).done += 1;
        }
    }

    /// Waits for a request; `false` when the store is closing.
    fn next_request(&self) -> bool {
        let mut state = lock(&self.shared.state);
        while !state.requested && !state.stopping {
            state = self.shared.wake.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        state.requested = false;
        !state.stopping
    }
}

/// The two steps of the module doc: a passive checkpoint beside the writers, then another
/// while none of this handle's writers can add to the WAL. The first one's own count of what
/// it copied can't tell whether writers added pages after it looked, so the second always
/// runs; after the first it has a few pages to copy.
fn checkpoint(conn: &Connection, gate: &WriteGate, busy_timeout: Duration) -> rusqlite::Result<()> {
    passive(conn)?;
    if let Some(_passage) = gate.enter(busy_timeout) {
        passive(conn)?;
    }
    Ok(())
}

/// One passive checkpoint: it copies what no reader still needs and waits for nobody.
fn passive(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SqliteStore, Store, Txn};
    use std::time::Instant;

    #[test]
    fn commits_leave_the_checkpoints_to_the_thread_which_rewinds_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let (mut largest, mut rewound_at) = (0, None);
        for i in 0..2_000 {
            let txn = Txn::new().put(format!("objects/o{i}"), vec![0x5a; 300]).put("mark", Vec::new());
            store.commit(txn).unwrap();
            let pages = wal_pages_after_last_commit();
            if pages < largest {
                rewound_at = Some(largest);
                break;
            }
            largest = pages;
        }
        let rewound_at = rewound_at.expect("the WAL was rewound within 2,000 commits");
        // SQLite's own checkpoint would have run in the commit that reached 1,000 pages, and
        // the backstop in the one that reached 10,000: the thread did it in between.
        assert!((CHECKPOINT_PAGES..BACKSTOP_PAGES).contains(&rewound_at), "rewound at {rewound_at} pages");
        // The rewind came before the thread counted its checkpoint.
        let counted = Instant::now() + Duration::from_secs(10);
        while store.checkpointer.done() == 0 && Instant::now() < counted {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(store.checkpointer.done() >= 1);
        // What the checkpoint copied is in the database file: a fresh handle reads it all.
        drop(store);
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        assert!(store.get("objects/o0").unwrap().is_some());
    }
}
