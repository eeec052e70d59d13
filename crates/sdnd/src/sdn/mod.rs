//! The SDN state service: a cached view of the pending and running configuration, kept
//! current against the store, and the single transactional write path every change uses.

pub mod batch;
pub use batch::in_change_set;
pub mod lock;
pub mod watch;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sdn_config::{Change, Config, Kind, Positions, SdnObject};
use sdn_store::{CommitOrRead, Entry, Guard, Op, Revision, Store, Txn};

use crate::clock::Clock;
use crate::error::Error;
use crate::layout;
use lock::{Intent, LockRecord};

/// A consistent view of the configuration at one point in time. Cheap to clone.
#[derive(Clone, Default)]
pub struct Snapshot {
    pub pending: Arc<Config>,
    pub running: Arc<Config>,
    /// 0 when nothing was ever applied.
    pub running_version: u64,
    pending_rev: Revision,
    running_rev: Revision,
}

/// How a planned write changes the lock entry (`None` in [`Mutation::lock`]: not at all).
#[derive(Debug, Clone)]
pub enum LockUpdate {
    Set(LockRecord),
    Remove,
}

/// A planned write, built by a handler from a snapshot and committed by [`Sdn::mutate`].
#[derive(Default)]
pub struct Mutation {
    /// Changes to single pending objects.
    pub changes: Vec<Change>,
    /// Replaces the whole pending configuration (rollback, import).
    pub replace_pending: Option<Config>,
    /// A new running configuration: its version and exact JSON text.
    pub running: Option<(u64, Vec<u8>)>,
    /// That running configuration as [`Config::from_running_config`] reads it, if the plan
    /// has it: the cache takes it at once instead of reading and parsing the text again on
    /// next use (about 0.3 s at 100,000 vnets, paid by whichever request came next).
    pub running_parsed: Option<Config>,
    pub lock: Option<LockUpdate>,
    /// Further entries written in the same transaction (task records, audit records, the
    /// IPAM).
    pub extra: Vec<Op>,
    /// Further guards of the transaction: the entries the plan read (the confirm window an
    /// apply checked, the IPAM entries `extra` was planned from) must be as it read them.
    pub guards: Vec<Guard>,
}

impl Mutation {
    /// Whether this write is what a change set's step may do: change pending objects (with
    /// the entries those changes bring along, such as the IPAM's), nothing else.
    fn only_changes(&self) -> bool {
        self.replace_pending.is_none()
            && self.running.is_none()
            && self.lock.is_none()
            && (!self.changes.is_empty() || (self.extra.is_empty() && self.guards.is_empty()))
    }
}

/// Guards on `key` still having been last written at `revision` (`0`: still absent).
pub fn unchanged(key: impl Into<String>, revision: Revision) -> Guard {
    Guard::ModRevision { key: key.into(), revision }
}

/// How often a transaction is retried when another writer (another node, or a CLI) got in
/// between our read and our commit.
const MAX_ATTEMPTS: usize = 5;

/// The entries a write is guarded on besides its own: the configuration markers, the lock
/// entry and the lock's expiry copy (read in this order).
const GUARDED: [&str; 4] = [layout::PENDING_MARK, layout::RUNNING_VERSION, layout::LOCK, layout::LOCK_EXPIRY];

pub struct Sdn {
    store: Arc<dyn Store>,
    clock: Clock,
    cache: Mutex<Snapshot>,
    /// Serializes this process's writers, so that they queue instead of failing guards.
    writer: Mutex<()>,
    /// The lock entry (possibly expired) and its revision as last read or written here, for
    /// [`Sdn::mutate`]'s first attempt; `None` until known.
    lock_view: Mutex<Option<LockView>>,
    /// The revision of this process's last commit, for the view watcher (see [`watch`]).
    last_own_commit: AtomicU64,
    /// The newest change under `sdn/` the view watcher has been told of, at once (it refreshes
    /// the view only after a pause), and the revision the view is known current through: a
    /// view behind a change the watch told of is read again before a write is planned on it,
    /// instead of failing the write's guards first.
    newest_seen: AtomicU64,
    view_through: AtomicU64,
    /// How often the view watcher refreshed the view (see [`Sdn::refresh_view`]).
    view_refreshes: AtomicU64,
    /// How often the pending and the running configuration were read whole into the view
    /// (not caught up by what changed): what a metric shows of a view that keeps re-reading.
    whole_reads: [AtomicU64; 2],
}

/// How the view was kept current so far (see [`Sdn::view_counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewCounts {
    pub refreshes: u64,
    pub whole_pending_reads: u64,
    pub whole_running_reads: u64,
}

/// A cached marker revision that matches none in the store: that part is read again on next
/// use (after an apply, or a catch-up that failed half-way).
const UNKNOWN: Revision = u64::MAX;

/// Whether a view at `new` may replace the cache's at `cached` (an unknown one always may).
fn not_older(new: Revision, cached: Revision) -> bool {
    cached == UNKNOWN || new >= cached
}

fn lock_mutex<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock can't leave the snapshot half-updated (it is replaced
    // whole), so poisoning carries no meaning here.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Sdn {
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self {
            store,
            clock,
            cache: Mutex::new(Snapshot::default()),
            writer: Mutex::new(()),
            lock_view: Mutex::new(None),
            last_own_commit: AtomicU64::new(0),
            newest_seen: AtomicU64::new(0),
            view_through: AtomicU64::new(0),
            view_refreshes: AtomicU64::new(0),
            whole_reads: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// The current configuration, reloaded from the store only if someone else changed it.
    pub fn snapshot(&self) -> Result<Snapshot, Error> {
        Ok(self.read_current()?.snapshot)
    }

    /// Whether `revision` is that of this process's last commit. One newer may be a commit
    /// under way, whose revision is recorded before the writer lets go: that one is waited
    /// out (an older one is decided without waiting for the writer, which may be in the
    /// middle of the next commit).
    pub(crate) fn is_own_commit(&self, revision: Revision) -> bool {
        let last = self.last_own_commit.load(Ordering::SeqCst);
        if revision <= last {
            return revision == last;
        }
        let _writer = lock_mutex(&self.writer);
        self.last_own_commit.load(Ordering::SeqCst) == revision
    }

    /// Tells the write path of a change under `sdn/` at `revision` (the view watcher, as soon as
    /// its watch does).
    pub(crate) fn saw_change(&self, revision: Revision) {
        self.newest_seen.fetch_max(revision, Ordering::SeqCst);
    }

    /// The newest change under `sdn/` the view watcher has told of.
    pub fn newest_seen(&self) -> Revision {
        self.newest_seen.load(Ordering::SeqCst)
    }

    /// The revision of this process's last commit (0: none yet).
    pub(crate) fn last_own_commit(&self) -> Revision {
        self.last_own_commit.load(Ordering::SeqCst)
    }

    /// Brings the view up to the store (the view watcher, after a change made elsewhere).
    pub(crate) fn refresh_view(&self) -> Result<(), Error> {
        self.view_refreshes.fetch_add(1, Ordering::Relaxed);
        self.read_current().map(drop)
    }

    /// How often the view watcher refreshed the view so far.
    pub fn view_refreshes(&self) -> u64 {
        self.view_refreshes.load(Ordering::Relaxed)
    }

    /// The view's refreshes and whole reads so far.
    pub fn view_counts(&self) -> ViewCounts {
        let [pending, running] = &self.whole_reads;
        ViewCounts {
            refreshes: self.view_refreshes(),
            whole_pending_reads: pending.load(Ordering::Relaxed),
            whole_running_reads: running.load(Ordering::Relaxed),
        }
    }

    /// The configuration as this process last read or wrote it, without asking the store:
    /// possibly stale (what [`Sdn::snapshot`] answers is current).
    pub fn snapshot_cached(&self) -> Snapshot {
        lock_mutex(&self.cache).clone()
    }

    /// The snapshot, the lock entry (possibly expired) with its revision and the lock's expiry
    /// copy, from one read of the marker entries: one round trip on a remote store.
    pub(crate) fn read_current(&self) -> Result<Current, Error> {
        // Whatever the watch told of before this read, the read has.
        let seen = self.newest_seen.load(Ordering::SeqCst);
        let marks = self.store.get_many(&GUARDED)?;
        self.current_from(marks, seen)
    }

    /// [`Sdn::read_current`] from a read of the [`GUARDED`] entries made after the watch had
    /// told of changes up to `seen`.
    fn current_from(&self, marks: Vec<Option<Entry>>, seen: Revision) -> Result<Current, Error> {
        // Marked before the cache shows what was read, so that nobody sees the refreshed view
        // still marked stale (a refresh that fails after this only costs a write a retry).
        self.view_through.fetch_max(seen, Ordering::SeqCst);
        let [pending, running, lock, expiry]: [Option<Entry>; 4] = marks
            .try_into()
            .map_err(|_| Error::Internal("the store answered a read of four entries with another count".into()))?;
        let lock_rev = mod_revision(lock.as_ref());
        let lock = lock.map(|entry| parse_lock(&entry.value)).transpose()?;
        let expiry_rev = mod_revision(expiry.as_ref());
        let expiry = expiry.and_then(|entry| serde_json::from_slice(&entry.value).ok());
        let snapshot = self.refresh(mod_revision(pending.as_ref()), mod_revision(running.as_ref()))?;
        let view = LockView { lock, lock_rev, expiry, expiry_rev };
        *lock_mutex(&self.lock_view) = Some(view.clone());
        Ok(Current { snapshot, view })
    }

    /// The snapshot and lock entry as this process last read or wrote them, without asking
    /// the store; `None` if not known. Possibly stale: a write planned on it is guarded on
    /// exactly these revisions, so staleness costs a retry, never a wrong admission.
    fn cached_view(&self) -> Option<Current> {
        let view = lock_mutex(&self.lock_view).clone()?;
        let snapshot = lock_mutex(&self.cache).clone();
        // After an apply the running configuration is re-read on next use (see after_commit).
        (snapshot.running_rev != UNKNOWN).then_some(Current { snapshot, view })
    }

    /// The cached snapshot, brought up to the given marker revisions.
    fn refresh(&self, pending_rev: Revision, running_rev: Revision) -> Result<Snapshot, Error> {
        let cached = lock_mutex(&self.cache).clone();
        // Revision 0 (never written) matches the empty default snapshot, which is right.
        if pending_rev == cached.pending_rev && running_rev == cached.running_rev {
            return Ok(cached);
        }
        let changes = (pending_rev != cached.pending_rev).then(|| self.pending_changes(&cached, pending_rev)).flatten();
        let base_rev = cached.pending_rev;
        // Our copy goes first, so that the changes apply to the cache's own in place (a copy
        // of a large configuration costs about as much as reading it).
        drop(cached);
        let mut snapshot = match changes.map(|changes| self.apply_to_cache(base_rev, pending_rev, changes)) {
            Some(Some(applied)) => applied?,
            // No changes to go by, or the cache moved on meanwhile (a writer, or a concurrent
            // refresh): read it whole, unless it is now at the marker or past it.
            _ => {
                let mut snapshot = lock_mutex(&self.cache).clone();
                if snapshot.pending_rev == UNKNOWN || snapshot.pending_rev < pending_rev {
                    self.whole_reads[0].fetch_add(1, Ordering::Relaxed);
                    let (pending, rev) = self.load_pending()?;
                    // Sharing the running configuration's parts (see below).
                    snapshot.pending = Arc::new(pending.rebased_on(&snapshot.running, Positions::Own));
                    snapshot.pending_rev = rev;
                }
                snapshot
            }
        };
        if running_rev != snapshot.running_rev {
            self.whole_reads[1].fetch_add(1, Ordering::Relaxed);
            let (running, version, rev) = self.load_running()?;
            // Built on the pending configuration, so that the two share every object that is
            // not a pending change: comparing them (taking the lock, a rollback, whether
            // anything is pending) then costs what differs, not a walk over every object.
            snapshot.running = Arc::new(running.rebased_on(&snapshot.pending, Positions::Base));
            snapshot.running_version = version;
            snapshot.running_rev = rev;
        }
        let mut cache = lock_mutex(&self.cache);
        // A writer may have moved the cache on meanwhile: never put an older view back.
        if not_older(snapshot.pending_rev, cache.pending_rev) && not_older(snapshot.running_rev, cache.running_rev) {
            *cache = snapshot.clone();
        }
        Ok(snapshot)
    }

    /// Applies `changes` (from the cache's marker revision `base_rev` up to `pending_rev`) to
    /// the cached pending configuration in place; `None` if the cache is no longer at
    /// `base_rev`.
    fn apply_to_cache(&self, base_rev: Revision, pending_rev: Revision, changes: sdn_store::KeyChanges) -> Option<Result<Snapshot, Error>> {
        let mut cache = lock_mutex(&self.cache);
        if cache.pending_rev != base_rev {
            return None;
        }
        let mut updated = std::mem::take(&mut *cache);
        let pending = Arc::make_mut(&mut updated.pending);
        let applied = changes
            .into_iter()
            .try_for_each(|(key, entry)| apply_pending_entry(pending, &key, entry.as_ref().map(|e| e.value.as_slice())));
        // Half applied, the cache is at no revision: the next use reads it whole.
        updated.pending_rev = if applied.is_ok() { pending_rev } else { UNKNOWN };
        *cache = updated.clone();
        Some(applied.map(|()| updated))
    }

    /// The pending objects changed since the snapshot's marker revision up to `pending_rev`
    /// (the marker is written with every change to them): what brings a cached configuration
    /// up to a change made elsewhere without reading it whole. `None`: read it whole (nothing
    /// cached yet, or the store's history no longer reaches back).
    fn pending_changes(&self, snapshot: &Snapshot, pending_rev: Revision) -> Option<sdn_store::KeyChanges> {
        if snapshot.pending_rev == 0 || snapshot.pending_rev == UNKNOWN || pending_rev < snapshot.pending_rev {
            return None;
        }
        // A failure here (a replay too large for etcd to send, say) costs a whole read, which
        // reports what is wrong with the store if anything is.
        let changes = match self.store.changes_through(layout::PENDING_PREFIX, snapshot.pending_rev, pending_rev) {
            Ok(changes) => changes,
            Err(err) => {
                tracing::debug!("reading what changed in the pending configuration: {err}; reading it whole");
                None
            }
        };
        // The marker's write at `pending_rev` must be among them, or they are not the whole
        // story (a write that moved the marker without the store reporting it). Its state may
        // be a later one (SQLite tells each key's state now, and another node may have written
        // since): the changes then bring some keys further than `pending_rev`, never back,
        // and the next catch-up from there brings the rest.
        changes.filter(|changes| {
            changes.iter().any(|(key, entry)| key == layout::PENDING_MARK && entry.as_ref().is_some_and(|e| e.mod_revision >= pending_rev))
        })
    }

    fn load_pending(&self) -> Result<(Config, Revision), Error> {
        let (entries, _) = self.store.list(layout::PENDING_PREFIX)?;
        let mut config = Config::default();
        let mut mark = 0;
        for entry in entries {
            if entry.key == layout::PENDING_MARK {
                mark = entry.mod_revision;
                continue;
            }
            apply_pending_entry(&mut config, &entry.key, Some(&entry.value))?;
        }
        Ok((config, mark))
    }

    fn load_running(&self) -> Result<(Config, u64, Revision), Error> {
        let (entries, _) = self.store.list(layout::RUNNING_PREFIX)?;
        let mut config = None;
        let mut rev = 0;
        for entry in entries {
            if entry.key == layout::RUNNING_VERSION {
                rev = entry.mod_revision;
            } else if entry.key == layout::RUNNING_CONFIG {
                config = Some(parse_running(&entry.value)?);
            }
        }
        match config {
            Some((version, config)) => Ok((config, version, rev)),
            None => Ok((Config::default(), 0, rev)),
        }
    }

    /// The exact `.running-config` text, if anything was ever applied.
    pub fn running_config_text(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.store.get(layout::RUNNING_CONFIG)?.map(|e| e.value))
    }

    /// Whether `intent` would be admitted by the lock rule now: for a request that must call
    /// something outside the store before its write (which is admitted again, guarded).
    pub fn admitted(&self, intent: Intent<'_>) -> Result<(), Error> {
        lock::admit(intent, self.lock_record()?.as_ref(), self.clock.now_ms())
    }

    /// The lock entry as stored (possibly expired).
    pub fn lock_record(&self) -> Result<Option<LockRecord>, Error> {
        self.store.get(layout::LOCK)?.map(|entry| parse_lock(&entry.value)).transpose()
    }

    /// The one write path: admits `intent` under the lock rule, lets `plan` build the write from
    /// a current snapshot, and commits it in one transaction guarded on the lock entry and the
    /// configuration being exactly what was checked.
    pub fn mutate<T>(
        &self,
        intent: Intent<'_>,
        plan: impl FnMut(&Snapshot, Option<&LockRecord>) -> Result<(Mutation, T), Error>,
    ) -> Result<T, Error> {
        self.mutate_authorized(intent, |_| Ok(()), plan)
    }

    /// [`Sdn::mutate`] for a change whose privilege depends on the configuration (an object's
    /// ACL path): `authorize` runs on the snapshot before the lock rule, so that a caller
    /// without the privilege learns nothing about the lock (nor about the parameters, which
    /// `plan` checks after it).
    pub fn mutate_authorized<T>(
        &self,
        intent: Intent<'_>,
        authorize: impl Fn(&Snapshot) -> Result<(), Error>,
        mut plan: impl FnMut(&Snapshot, Option<&LockRecord>) -> Result<(Mutation, T), Error>,
    ) -> Result<T, Error> {
        if let Some(staged) = batch::stage_step(intent, &authorize, &mut plan) {
            return staged;
        }
        let _writer = lock_mutex(&self.writer);
        // The first attempt plans on the view this process last saw, so that a change costs
        // one round trip (the commit) instead of two; its guards cover the lock entry and the
        // configuration markers, so a stale view fails them, and the failed commit brings back
        // what they cover for the next attempt (no read of its own). What the stale
        // view refuses (the lock, the privilege, the parameters) is also decided again on a
        // fresh read before it is answered.
        let known_stale = self.newest_seen.load(Ordering::SeqCst) > self.view_through.load(Ordering::SeqCst);
        // The view the next attempt plans on, and whether it is the cached one.
        let mut next = if known_stale { None } else { self.cached_view().map(|view| (view, true)) };
        let mut attempt = 0;
        loop {
            let (current, from_cache) = match next.take() {
                Some(next) => next,
                None if attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                    (self.read_current()?, false)
                }
                None => break,
            };
            let Current { snapshot, view: LockView { lock, lock_rev, expiry, expiry_rev } } = current;
            let now = self.clock.now_ms();
            let planned = authorize(&snapshot).and_then(|()| {
                lock::admit(intent, lock.as_ref(), now)?;
                let live_lock = lock.as_ref().filter(|l| !l.is_expired(now));
                plan(&snapshot, live_lock)
            });
            let (mutation, result) = match planned {
                Ok(planned) => planned,
                Err(_) if from_cache => continue,
                Err(err) => return Err(err),
            };
            let live_lock = lock.as_ref().filter(|l| !l.is_expired(now));

            let mut txn = Txn::new()
                .unchanged(layout::LOCK, lock_rev)
                .unchanged(layout::LOCK_EXPIRY, expiry_rev)
                .unchanged(layout::PENDING_MARK, snapshot.pending_rev)
                .unchanged(layout::RUNNING_VERSION, snapshot.running_rev);
            txn.guards.extend(mutation.guards.iter().cloned());
            let touches_pending = !mutation.changes.is_empty() || mutation.replace_pending.is_some();
            // What a whole replacement writes and deletes, for the log.
            let mut replaced = (0, 0);
            if let Some(config) = &mutation.replace_pending {
                // Only what differs from the pending configuration read above (the guard on
                // its marker makes that read exact): a rollback of a few changes stays a few
                // operations however large the configuration, well inside etcd's default
                // --max-txn-ops, and costs what differs when the two share their parts.
                for kind in Kind::ALL {
                    for pair in snapshot.pending.differences(config, kind) {
                        match pair {
                            // As stored, not object equality: the bytes also carry the section order.
                            (Some(pending), Some(object)) if pending.stores_as(object) => {}
                            (_, Some(object)) => {
                                txn = txn.put(layout::object(kind, object.id()), object.to_store_bytes());
                                replaced.0 += 1;
                            }
                            (Some(gone), None) => {
                                txn = txn.delete(layout::object(kind, gone.id()));
                                replaced.1 += 1;
                            }
                            (None, None) => {}
                        }
                    }
                }
            }
            for change in &mutation.changes {
                let key = layout::object(change.kind, &change.id);
                txn = match &change.object {
                    Some(object) => txn.put(key, object.to_store_bytes()),
                    None => txn.delete(key),
                };
            }
            if touches_pending {
                txn = txn.put(layout::PENDING_MARK, Vec::new());
            }
            if let Some((version, text)) = &mutation.running {
                txn = txn.put(layout::RUNNING_CONFIG, text.clone()).put(layout::RUNNING_VERSION, version.to_string());
            }
            // The lock's expiry copy goes with the lock; an expiry it describes is recorded
            // before the copy is replaced or removed (see `audit::record_expiry`).
            let lock_changes = mutation.lock.is_some() || (lock.is_some() && live_lock.is_none());
            let expired = expiry.as_ref().filter(|copy| lock_changes && now >= copy.expires_ms);
            if let Some(copy) = expired {
                txn.ops.push(crate::audit::expired_record(copy));
            }
            let new_copy = match &mutation.lock {
                Some(LockUpdate::Set(record)) => record.expires_ms.map(|expires_ms| layout::LockExpiry {
                    holder: record.holder.clone(),
                    since_ms: record.since_ms,
                    expires_ms,
                    comment: record.comment.clone(),
                }),
                _ => None,
            };
            // What the expiry copy is after this commit, if it changes (for the lock view).
            let expiry_after = match new_copy {
                Some(copy) => {
                    let value = serde_json::to_vec(&copy).map_err(|e| Error::Internal(e.to_string()))?;
                    txn = txn.put(layout::LOCK_EXPIRY, value);
                    Some(Some(copy))
                }
                None if expiry.is_some() && (expired.is_some() || mutation.lock.is_some()) => {
                    txn = txn.delete(layout::LOCK_EXPIRY);
                    Some(None)
                }
                None => None,
            };
            match &mutation.lock {
                Some(LockUpdate::Set(record)) => {
                    let value = serde_json::to_vec(record).map_err(|e| Error::Internal(e.to_string()))?;
                    // A lock with a ttl also vanishes from the store by itself (an etcd lease),
                    // so a crashed holder's lock ends on every node even if nobody writes.
                    // Whole seconds (etcd leases), rounded up: the entry may outlive the lock by
                    // less than a second, never the other way round.
                    txn = match record.remaining_ms(now) {
                        Some(remaining) => {
                            let ttl = u64::try_from(remaining).unwrap_or(1).div_ceil(1000);
                            txn.put_expiring(layout::LOCK, value, std::time::Duration::from_secs(ttl))
                        }
                        None => txn.put(layout::LOCK, value),
                    };
                }
                Some(LockUpdate::Remove) => txn = txn.delete(layout::LOCK),
                // An expired lock is cleaned up by the next write that passes by.
                None if lock.is_some() && live_lock.is_none() => txn = txn.delete(layout::LOCK),
                None => {}
            }
            txn.ops.extend(mutation.extra);

            let lock_after = match &mutation.lock {
                Some(LockUpdate::Set(record)) => Some(Some(record.clone())),
                Some(LockUpdate::Remove) => Some(None),
                None if lock.is_some() && live_lock.is_none() => Some(None),
                None => None,
            };
            let seen = self.newest_seen.load(Ordering::SeqCst);
            match self.store.commit_or_read(txn, &GUARDED)? {
                // The failed commit read what its guards cover: the next attempt plans on that.
                CommitOrRead::GuardFailed(marks) => {
                    // Our copy first: the refresh then applies what changed to the cache's
                    // configuration in place, instead of copying it whole.
                    drop(snapshot);
                    if attempt < MAX_ATTEMPTS {
                        attempt += 1;
                        next = Some((self.current_from(marks, seen)?, false));
                    }
                }
                CommitOrRead::Committed(revision) => {
                    self.last_own_commit.store(revision, Ordering::SeqCst);
                    // Its guards held the markers at the view's revisions.
                    self.view_through.fetch_max(revision, Ordering::SeqCst);
                    log_committed(&snapshot, &mutation.changes, mutation.replace_pending.as_ref().map(|_| replaced), revision);
                    if lock_after.is_some() || expiry_after.is_some() {
                        let mut view = LockView { lock, lock_rev, expiry, expiry_rev };
                        if let Some(after) = lock_after {
                            view.lock_rev = if after.is_some() { revision } else { 0 };
                            view.lock = after;
                        }
                        if let Some(after) = expiry_after {
                            view.expiry_rev = if after.is_some() { revision } else { 0 };
                            view.expiry = after;
                        }
                        *lock_mutex(&self.lock_view) = Some(view);
                    }
                    let running = mutation.running.map(|(version, _)| (version, mutation.running_parsed));
                    self.after_commit(snapshot, mutation.changes, mutation.replace_pending, running, touches_pending, revision);
                    return Ok(result);
                }
            }
        }
        Err(Error::Conflict(
            "the SDN configuration kept changing concurrently; nothing was written, please retry".into(),
        ))
    }

    /// Brings the cache up to the state just committed without reading it back.
    fn after_commit(
        &self,
        snapshot: Snapshot,
        changes: Vec<Change>,
        replace_pending: Option<Config>,
        running: Option<(u64, Option<Config>)>,
        touches_pending: bool,
        revision: Revision,
    ) {
        // Built before the cache is locked (a walk over every object, which readers need not
        // wait for), on the pending configuration this commit leaves: it shares every object
        // that is not a pending change, as when it is read (see `refresh`).
        let base = replace_pending.as_ref().unwrap_or(&snapshot.pending);
        let running = running.map(|(version, parsed)| (version, parsed.map(|parsed| parsed.rebased_on(base, Positions::Base))));
        let mut cache = lock_mutex(&self.cache);
        // Writers are serialized, so the cache still holds the snapshot we planned against.
        // Dropping our copy first leaves the cache's the only handle, so the changes below
        // apply in place instead of cloning the whole configuration.
        let mut updated = std::mem::take(&mut *cache);
        if updated.pending_rev != snapshot.pending_rev || updated.running_rev != snapshot.running_rev {
            updated = snapshot;
        } else {
            drop(snapshot);
        }
        if let Some(config) = replace_pending {
            updated.pending = Arc::new(config);
        }
        if !changes.is_empty() {
            let pending = Arc::make_mut(&mut updated.pending);
            for change in changes {
                pending.apply(change);
            }
        }
        if touches_pending {
            updated.pending_rev = revision;
        }
        match running {
            Some((version, Some(parsed))) => {
                updated.running = Arc::new(parsed);
                updated.running_version = version;
                updated.running_rev = revision;
            }
            // Re-read on next use.
            Some((_, None)) => updated.running_rev = UNKNOWN,
            None => {}
        }
        *cache = updated;
    }
}

/// One pending store entry's state (`None`: deleted) applied to `config`; the marker is no
/// object and is skipped.
fn apply_pending_entry(config: &mut Config, key: &str, value: Option<&[u8]>) -> Result<(), Error> {
    if key == layout::PENDING_MARK {
        return Ok(());
    }
    let parsed = key
        .strip_prefix(layout::PENDING_PREFIX)
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(segment, id)| Some((Kind::from_path_segment(segment)?, id)));
    let Some((kind, id)) = parsed else {
        return Err(Error::Internal(format!("unexpected store entry '{key}'")));
    };
    match value {
        Some(bytes) => {
            let object = SdnObject::from_store_bytes(kind, bytes)
                .map_err(|err| Error::Internal(format!("store entry '{key}' is unreadable: {err}")))?;
            config.insert(object);
        }
        None => config.apply(sdn_config::Change { kind, id: id.to_string(), object: None }),
    }
    Ok(())
}

/// Logs every committed change to a pending object at info (the request's span names who made
/// it); a whole replacement (rollback, import) as one line with its counts.
fn log_committed(snapshot: &Snapshot, changes: &[Change], replaced: Option<(usize, usize)>, revision: Revision) {
    for change in changes {
        let kind = change.kind.path_segment();
        let action = match (&change.object, snapshot.pending.get(change.kind, &change.id)) {
            (Some(_), None) => "created",
            (Some(_), Some(_)) => "changed",
            (None, _) => "deleted",
        };
        tracing::info!(revision, "SDN {kind} '{}' {action}", change.id);
    }
    if let Some((written, deleted)) = replaced {
        tracing::info!(revision, "SDN pending configuration replaced: {written} object(s) written, {deleted} deleted");
    }
}

/// What [`Sdn::read_current`] read.
pub(crate) struct Current {
    snapshot: Snapshot,
    view: LockView,
}

/// The lock entry (possibly expired) and the lock's expiry copy, with their revisions: what a
/// write is guarded on besides the configuration markers.
#[derive(Clone)]
struct LockView {
    lock: Option<LockRecord>,
    lock_rev: Revision,
    expiry: Option<layout::LockExpiry>,
    expiry_rev: Revision,
}

fn mod_revision(entry: Option<&Entry>) -> Revision {
    entry.map_or(0, |e| e.mod_revision)
}

fn parse_lock(bytes: &[u8]) -> Result<LockRecord, Error> {
    serde_json::from_slice(bytes).map_err(|err| Error::Internal(format!("the stored lock entry is unreadable: {err}")))
}

impl Sdn {
    /// Creates the built-in `pve` IPAM if it is missing, as the reference always has it.
    pub fn ensure_builtin_ipam(&self) -> Result<(), Error> {
        if self.snapshot()?.pending.get(Kind::Ipams, "pve").is_some() {
            return Ok(());
        }
        let params: sdn_config::Params =
            [("ipam", "pve"), ("type", "pve")].into_iter().map(|(k, v)| (k.to_string(), v.into())).collect();
        self.mutate(Intent::Change { token: None }, |snapshot, _| {
            let change = snapshot.pending.plan_create(Kind::Ipams, &params)?;
            Ok((Mutation { changes: vec![change], ..Mutation::default() }, ()))
        })
    }
}

/// Parses stored `.running-config` text.
pub fn parse_running(text: &[u8]) -> Result<(u64, Config), Error> {
    let json: serde_json::Value = serde_json::from_slice(text)
        .map_err(|err| Error::Internal(format!("the running configuration is not valid JSON: {err}")))?;
    Config::from_running_config(&json)
        .map_err(|err| Error::Internal(format!("the running configuration is invalid: {err}")))
}
