//! The cluster-wide configuration store of sdnd.
//!
//! A store is a versioned key-value map with etcd-like semantics and nothing SDN-specific:
//! every committed transaction gets the next global *revision*, every entry remembers the
//! revision that last modified it (`mod_revision`), and a transaction commits all of its
//! operations or none, and only if all of its guards hold. That is enough to build the lock
//! rule on top: read the lock entry, check the token, commit the change guarded on the lock
//! entry's revision being unchanged.
//!
//! Backends implement [`Store`]: [`SqliteStore`] (one file, the embedded default) and, in
//! a multi-node cluster, [`EtcdStore`]. Every acknowledged commit is durable.

mod etcd;
mod sqlite;

pub use etcd::{EtcdOptions, EtcdStore, EtcdTls};
pub use sqlite::SqliteStore;

use std::time::Duration;

/// How many operations a batch of deletes or reads keeps to per transaction, so that it works
/// on an etcd with default settings (`--max-txn-ops` is 128 there). Writes of a whole
/// configuration are larger and need a larger setting; sweeps and prunes never do.
pub const TXN_BATCH: usize = 100;

/// A global, monotonically increasing revision number. `0` means "never written".
pub type Revision = u64;

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: Vec<u8>,
    /// The revision of the transaction that last wrote this entry.
    pub mod_revision: Revision,
}

/// What [`Store::keys`] answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyList {
    /// Keys with their `mod_revision`, in key order.
    pub keys: Vec<(String, Revision)>,
    /// How many keys there are under the prefix, also beyond the limit.
    pub total: usize,
}

impl KeyList {
    /// The keys of listed `entries`, the first `limit` of them (see [`Store::keys`]).
    pub fn of(entries: Vec<Entry>, limit: Option<usize>) -> KeyList {
        let total = entries.len();
        let keys = entries
            .into_iter()
            .take(limit.unwrap_or(usize::MAX))
            .map(|entry| (entry.key, entry.mod_revision))
            .collect();
        KeyList { keys, total }
    }
}

/// Keys with their state after some changes (`None`: deleted); see [`Store::changes_through`].
pub type KeyChanges = Vec<(String, Option<Entry>)>;

/// A precondition of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// The key's `mod_revision` equals the given revision; `0` means the key must be absent.
    ModRevision { key: String, revision: Revision },
    /// The key's current value equals the given bytes (`None`: the key must be absent).
    Value { key: String, value: Option<Vec<u8>> },
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put {
        key: String,
        value: Vec<u8>,
    },
    Delete {
        key: String,
    },
    /// Deletes every key starting with `prefix`.
    DeletePrefix {
        prefix: String,
    },
    /// Writes an entry that vanishes by itself `ttl` after the commit (a lock held by a
    /// client that may crash). Until then it is an ordinary entry; once expired, every read
    /// and guard sees it as absent. etcd attaches a lease; SQLite stores the deadline.
    PutExpiring {
        key: String,
        value: Vec<u8>,
        ttl: Duration,
    },
}

/// An atomic, guarded multi-entry write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    pub guards: Vec<Guard>,
    pub ops: Vec<Op>,
}

impl Txn {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn guard(mut self, guard: Guard) -> Self {
        self.guards.push(guard);
        self
    }

    /// Guards on `key` still having been last written at `revision` (`0`: still absent).
    pub fn unchanged(self, key: impl Into<String>, revision: Revision) -> Self {
        self.guard(Guard::ModRevision {
            key: key.into(),
            revision,
        })
    }

    pub fn put(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.ops.push(Op::Put {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// Puts an entry that expires `ttl` after the commit (see [`Op::PutExpiring`]).
    pub fn put_expiring(
        mut self,
        key: impl Into<String>,
        value: impl Into<Vec<u8>>,
        ttl: Duration,
    ) -> Self {
        self.ops.push(Op::PutExpiring {
            key: key.into(),
            value: value.into(),
            ttl,
        });
        self
    }

    pub fn delete(mut self, key: impl Into<String>) -> Self {
        self.ops.push(Op::Delete { key: key.into() });
        self
    }

    pub fn delete_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.ops.push(Op::DeletePrefix {
            prefix: prefix.into(),
        });
        self
    }
}

/// What happened to a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Every guard held; all operations are durable at this revision.
    Committed(Revision),
    /// A guard failed; nothing was written.
    GuardFailed,
}

/// What happened to a transaction committed with [`Store::commit_or_read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOrRead {
    /// Every guard held; all operations are durable at this revision.
    Committed(Revision),
    /// A guard failed and nothing was written; the entries asked for, as read after the
    /// failure (one slot per key, in order, as [`Store::get_many`] answers).
    GuardFailed(Vec<Option<Entry>>),
}

impl From<CommitOrRead> for Commit {
    /// The outcome without what was read.
    fn from(outcome: CommitOrRead) -> Commit {
        match outcome {
            CommitOrRead::Committed(revision) => Commit::Committed(revision),
            CommitOrRead::GuardFailed(_) => Commit::GuardFailed,
        }
    }
}

/// Why a store operation failed. None of these mean a half-written state.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend can't be reached or has no quorum right now; retrying later may succeed.
    #[error("configuration store unavailable: {0}")]
    Unavailable(String),
    /// The backend failed (I/O error, corrupt file, ...).
    #[error("configuration store error: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The backend-independent store interface. Calls block; async callers run them on a
/// blocking thread.
pub trait Store: Send + Sync + 'static {
    /// Reads one entry.
    fn get(&self, key: &str) -> Result<Option<Entry>>;

    /// Reads several entries at once, from one consistent snapshot and (where the backend is
    /// remote) in one round trip. The answer has one slot per key, in order.
    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        keys.iter().map(|key| self.get(key)).collect()
    }

    /// Reads every entry whose key starts with `prefix`, ordered by key, together with the
    /// store revision the read reflects (a consistent snapshot).
    fn list(&self, prefix: &str) -> Result<(Vec<Entry>, Revision)>;

    /// The keys under `prefix` with their `mod_revision`, in key order, without their values:
    /// the first `limit` of them (`None`: all; `Some(0)`: none, just the count), and how many
    /// there are in all. What a sweep over a large prefix that needs only keys costs: on etcd
    /// a keys-only (or count-only) range, not every value.
    fn keys(&self, prefix: &str, limit: Option<usize>) -> Result<KeyList> {
        let (entries, _) = self.list(prefix)?;
        Ok(KeyList::of(entries, limit))
    }

    /// The current global revision (the revision of the last commit).
    fn revision(&self) -> Result<Revision>;

    /// Commits `txn` atomically and durably if all of its guards hold.
    fn commit(&self, txn: Txn) -> Result<Commit>;

    /// [`Store::commit`], and if a guard fails, the entries `keys` as they are then: where the
    /// backend is remote, in the same round trip. A writer whose guards failed has to read
    /// what they guard before it tries again.
    fn commit_or_read(&self, txn: Txn, keys: &[&str]) -> Result<CommitOrRead> {
        match self.commit(txn)? {
            Commit::Committed(revision) => Ok(CommitOrRead::Committed(revision)),
            Commit::GuardFailed => Ok(CommitOrRead::GuardFailed(self.get_many(keys)?)),
        }
    }

    /// Blocks until an entry under `prefix` is written with a revision greater than `after`,
    /// or `timeout` passes. Returns the store's revision at wake-up. Changes made by other
    /// processes sharing the backend are seen too (possibly with a short delay).
    fn wait_for_change(&self, prefix: &str, after: Revision, timeout: Duration)
        -> Result<Revision>;

    /// The entries under `prefix` written after revision `after` up to `through`, each with
    /// its state as of `through` or later (`None`: deleted), in key order; `Ok(None)` if the
    /// store no longer knows (its history since `after` was compacted away): read the prefix
    /// whole. The caller must know that an entry under `prefix` was written at `through` (a
    /// marker written with every change there): etcd replays its history up to that write.
    /// What a cache of a large prefix needs to catch up with a change made elsewhere without
    /// reading the whole prefix.
    fn changes_through(
        &self,
        prefix: &str,
        after: Revision,
        through: Revision,
    ) -> Result<Option<KeyChanges>> {
        let _ = (prefix, after, through);
        Ok(None)
    }

    /// Whether a call costs a round trip over the network (etcd), not a local read: what a
    /// caller may spend a cache, and a bounded staleness, to save.
    fn remote(&self) -> bool {
        false
    }

    /// A waiter on `prefix` for a thread that waits again and again: the same answers as
    /// [`Store::wait_for_change`], cheaper where the backend can keep what it needs between
    /// waits (etcd: one watch stream for all the waits, instead of a watch created and
    /// cancelled around each one).
    fn watch_prefix<'a>(&'a self, prefix: &str) -> Box<dyn PrefixWatch + 'a> {
        Box::new(EachWait {
            store: self,
            prefix: prefix.to_owned(),
        })
    }
}

/// Waits for changes under one prefix; see [`Store::watch_prefix`].
pub trait PrefixWatch {
    /// [`Store::wait_for_change`] on the watch's prefix, except that a wait that times out
    /// with nothing changed under the prefix may answer `after` itself instead of the store's
    /// revision (which other prefixes' commits move). SQLite's and etcd's watches do whenever
    /// they know nothing changed, so that an answer past `after` means the prefix may have.
    fn wait_for_change(&mut self, after: Revision, timeout: Duration) -> Result<Revision>;
}

/// A [`PrefixWatch`] that keeps nothing between waits.
struct EachWait<'a, S: ?Sized> {
    store: &'a S,
    prefix: String,
}

impl<S: Store + ?Sized> PrefixWatch for EachWait<'_, S> {
    fn wait_for_change(&mut self, after: Revision, timeout: Duration) -> Result<Revision> {
        self.store.wait_for_change(&self.prefix, after, timeout)
    }
}
