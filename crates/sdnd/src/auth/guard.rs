//! Writes authenticated against the access records this process last read, without reading
//! them again: what makes a change one round trip to etcd instead of two.
//!
//! A write request (any method but GET and HEAD) whose caller the cached records admit runs
//! its handler *armed* with the records' generation (the `mod_revision` of
//! [`layout::ACCESS_GENERATION`], which every change to users, tokens, ACLs and roles
//! rewrites). While armed, every commit the handler's thread makes through [`GuardedStore`]
//! is also guarded on that generation, so it commits only if the records that admitted the
//! caller are still the current ones at the commit: a revoked token, a removed ACL, a
//! disabled user can never get a write in, however stale the cache. The first commit that
//! succeeds proves the caller was admitted by the records of its revision and disarms the
//! guard (later commits of the request are as a fresh check at the request's start made them).
//!
//! When the guard fails because the records changed, the commit is refused (nothing was
//! written) and the request is run again from the start, authenticated on a fresh read.
//! A request that commits nothing (a refusal, a bad parameter) has its generation read once
//! at its end: unchanged, its answer stands; changed, it is run again the same way. A commit
//! whose outcome is unknown (the store did not answer) is never run again: its answer stands.
//!
//! A call outside the store (an external IPAM, a DNS server) can't be taken back by a refused
//! commit, so an armed request confirms its generation before each one
//! ([`before_outside_call`]): a revoked caller never reaches another system.
//!
//! A read (GET, HEAD) is armed the same way when it was authenticated on records the access
//! watcher found current a moment ago ([`run_armed_read`]); only its answer, when it committed
//! nothing, stands without a read of the generation at its end: a token revoked elsewhere
//! may go on reading for [`crate::auth::READ_CONFIRMED_WITHIN`] at most, never writing.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Duration;

use sdn_store::{Commit, CommitOrRead, Entry, Guard, Result, Revision, Store, StoreError, Txn};

use crate::layout;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// No armed request on this thread.
    Off,
    /// Commits are guarded on this generation; `rerun`: nothing of the request may have
    /// been written yet.
    Armed { generation: Revision, rerun: bool },
    /// A guarded commit succeeded: the caller was admitted by the records of its revision.
    Proven,
    /// A guarded commit failed because the records changed: nothing was written.
    Stale,
}

thread_local! {
    static STATE: Cell<State> = const { Cell::new(State::Off) };
    /// The store of the armed request on this thread, for [`before_outside_call`].
    static STORE: RefCell<Option<Arc<dyn Store>>> = const { RefCell::new(None) };
    /// Whether [`before_outside_call`] confirmed the generation already: once is enough, as
    /// for a request authenticated on a fresh read at its start.
    static CONFIRMED: Cell<bool> = const { Cell::new(false) };
}

/// Resets the thread's state when an armed run ends, also by a panic (the blocking pool
/// reuses threads).
struct Disarm;

impl Drop for Disarm {
    fn drop(&mut self) {
        STATE.with(|s| s.set(State::Off));
        STORE.with(|s| s.borrow_mut().take());
        CONFIRMED.with(|c| c.set(false));
    }
}

/// Runs `work` armed with `generation`: `Some(answer)` if the answer stands, `None` if the
/// request must be run again on freshly read records (nothing of it was written).
pub fn run_armed<T>(
    store: Arc<dyn Store>,
    generation: Revision,
    work: impl FnOnce() -> T,
) -> Option<T> {
    run(store, generation, |_| true, work)
}

/// [`run_armed`] for a read authenticated on records found current a moment ago (see
/// [`crate::auth::Auth::authenticate_recent`]): what it commits or sends elsewhere is guarded
/// the same way, but a successful answer that committed nothing stands without reading the
/// generation again (that read is what a recently confirmed cache saves). A refusal is
/// confirmed as a write's is: a privilege granted elsewhere a moment ago counts at once.
pub fn run_armed_read<V, E>(
    store: Arc<dyn Store>,
    generation: Revision,
    work: impl FnOnce() -> std::result::Result<V, E>,
) -> Option<std::result::Result<V, E>> {
    run(store, generation, |answer| answer.is_err(), work)
}

fn run<T>(
    store: Arc<dyn Store>,
    generation: Revision,
    confirm_unproven: impl Fn(&T) -> bool,
    work: impl FnOnce() -> T,
) -> Option<T> {
    let _disarm = Disarm;
    STORE.with(|s| *s.borrow_mut() = Some(store.clone()));
    STATE.with(|s| {
        s.set(State::Armed {
            generation,
            rerun: true,
        })
    });
    let answer = work();
    match STATE.with(Cell::get) {
        State::Proven => Some(answer),
        State::Stale => None,
        State::Armed { rerun: false, .. } => Some(answer),
        State::Armed { rerun: true, .. } | State::Off if !confirm_unproven(&answer) => Some(answer),
        State::Armed { rerun: true, .. } | State::Off => {
            // Nothing committed: the answer stands if the records that decided it still do.
            let current = store
                .get(layout::ACCESS_GENERATION)
                .ok()
                .map(|entry| entry.map_or(0, |e| e.mod_revision));
            (current == Some(generation)).then_some(answer)
        }
    }
}

/// Confirms, before the request on this thread calls a system outside the store, that the
/// access records that admitted it are still the current ones (one read; nothing to do for a
/// request authenticated on a fresh read, one whose commit already proved it, or one this
/// confirmed before). Changed: the request must stop before the call; nothing of it was
/// written and it is run again on a fresh read, which answers a revoked caller 401.
pub fn before_outside_call() -> std::result::Result<(), crate::error::Error> {
    let (generation, rerun) = match STATE.with(Cell::get) {
        State::Armed { generation, rerun } => (generation, rerun),
        State::Off | State::Proven | State::Stale => return Ok(()),
    };
    let Some(store) = STORE.with(|s| s.borrow().clone()).filter(|_| !CONFIRMED.with(Cell::get)) else {
        return Ok(());
    };
    let current = store
        .get(layout::ACCESS_GENERATION)
        .map_err(|err| crate::error::Error::Unavailable(format!("the access records can't be read: {err}")))?
        .map_or(0, |e| e.mod_revision);
    if current == generation {
        CONFIRMED.with(|c| c.set(true));
        return Ok(());
    }
    if rerun {
        STATE.with(|s| s.set(State::Stale));
    }
    Err(crate::error::Error::Unavailable(
        "the access records changed while this request was checked against them; nothing was done".into(),
    ))
}

fn armed() -> Option<Revision> {
    match STATE.with(Cell::get) {
        State::Armed { generation, .. } => Some(generation),
        _ => None,
    }
}

/// The app's store: commits made by an armed request are guarded on its access generation.
pub struct GuardedStore {
    inner: Arc<dyn Store>,
}

impl GuardedStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        GuardedStore { inner }
    }
}

impl Store for GuardedStore {
    fn get(&self, key: &str) -> Result<Option<Entry>> {
        self.inner.get(key)
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        self.inner.get_many(keys)
    }

    fn list(&self, prefix: &str) -> Result<(Vec<Entry>, Revision)> {
        self.inner.list(prefix)
    }

    fn keys(&self, prefix: &str, limit: Option<usize>) -> Result<sdn_store::KeyList> {
        self.inner.keys(prefix, limit)
    }

    fn revision(&self) -> Result<Revision> {
        self.inner.revision()
    }

    fn changes_through(
        &self,
        prefix: &str,
        after: Revision,
        through: Revision,
    ) -> Result<Option<sdn_store::KeyChanges>> {
        self.inner.changes_through(prefix, after, through)
    }

    fn commit(&self, txn: Txn) -> Result<Commit> {
        self.commit_or_read(txn, &[]).map(Commit::from)
    }

    fn commit_or_read(&self, mut txn: Txn, keys: &[&str]) -> Result<CommitOrRead> {
        // A request found stale writes nothing more (it is run again on a fresh read), even
        // if its handler went on after the refusal.
        if STATE.with(Cell::get) == State::Stale {
            return Err(StoreError::Unavailable(
                "the access records changed while this request was checked against them; nothing was written".into(),
            ));
        }
        let Some(generation) = armed() else {
            return self.inner.commit_or_read(txn, keys);
        };
        txn.guards.push(Guard::ModRevision {
            key: layout::ACCESS_GENERATION.to_string(),
            revision: generation,
        });
        // The access generation is read with the caller's keys, should a guard fail.
        let mut with_generation = keys.to_vec();
        with_generation.push(layout::ACCESS_GENERATION);
        match self.inner.commit_or_read(txn, &with_generation) {
            Ok(CommitOrRead::Committed(revision)) => {
                STATE.with(|s| s.set(State::Proven));
                Ok(CommitOrRead::Committed(revision))
            }
            Ok(CommitOrRead::GuardFailed(mut entries)) => {
                // The caller's own guards, or ours? Only the second calls for a fresh check.
                let current = entries.pop().flatten().map_or(0, |e| e.mod_revision);
                if current == generation {
                    return Ok(CommitOrRead::GuardFailed(entries));
                }
                // After a commit of unknown outcome the request is not run again: it answers
                // this refusal (still nothing written by this commit).
                if STATE.with(Cell::get)
                    == (State::Armed {
                        generation,
                        rerun: true,
                    })
                {
                    STATE.with(|s| s.set(State::Stale));
                }
                Err(StoreError::Unavailable(
                    "the access records changed while this request was checked against them; nothing was written".into(),
                ))
            }
            Err(err) => {
                // The commit may have landed (then under the guard, so the caller was
                // admitted): never run the request again.
                STATE.with(|s| {
                    s.set(State::Armed {
                        generation,
                        rerun: false,
                    })
                });
                Err(err)
            }
        }
    }

    fn wait_for_change(
        &self,
        prefix: &str,
        after: Revision,
        timeout: Duration,
    ) -> Result<Revision> {
        self.inner.wait_for_change(prefix, after, timeout)
    }

    fn watch_prefix<'a>(&'a self, prefix: &str) -> Box<dyn sdn_store::PrefixWatch + 'a> {
        self.inner.watch_prefix(prefix)
    }

    fn remote(&self) -> bool {
        self.inner.remote()
    }
}
