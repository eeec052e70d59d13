//! The embedded [`Store`] backend: one SQLite file, shared by every process of a node.
//!
//! The server and short-lived commands (`sdnd token add`) open the same file at the same
//! time, so the file runs in WAL mode (readers never wait for the writer), every write runs
//! in a `BEGIN IMMEDIATE` transaction (one writer at a time, guards checked under the same
//! lock as the writes) and `synchronous=FULL` makes every acknowledged commit survive a
//! power loss. Writers that find the file locked wait up to the busy timeout, then report
//! [`StoreError::Unavailable`]; writers of one handle queue in its [`write_gate`] first, and
//! the WAL is checkpointed by a thread of the handle's own, not in a commit
//! ([`checkpoint`]).
//!
//! Schema: `meta` holds the global revision, `kv` the entries, and `changelog` one row per
//! key changed (written or deleted) per revision, so that a watcher on a prefix notices
//! deletes too. The changelog keeps the last [`CHANGELOG_RETAIN`] revisions; a watcher
//! asking about older history is woken at once, since it can no longer be told apart.
//!
//! Expiring entries ([`Op::PutExpiring`]) carry a wall-clock deadline in `kv.expires`
//! (milliseconds since the epoch). Every read and guard treats an entry past its deadline as
//! absent, so expiry needs no background task; the next commit deletes such rows for good
//! and logs the deletion, which is when watchers hear of it.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::types::Value;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

mod checkpoint;
mod write_gate;

use crate::{Commit, Entry, Guard, KeyList, Op, PrefixWatch, Result, Revision, Store, StoreError, Txn};

/// Marks the file as an sdnd store ("SDND"), so a foreign SQLite file is refused.
const APPLICATION_ID: i32 = 0x5344_4e44;
/// The schema this code reads and writes (`PRAGMA user_version`). Version 2 added
/// `kv.expires`; version 3 made `kv` a rowid table with the value last (see [`SCHEMA`]).
/// Older files are upgraded in place on open.
const SCHEMA_VERSION: i32 = 3;
/// How long a writer waits for another process's write transaction before giving up.
const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a waiter looks for commits made through other handles or processes.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How many revisions of changelog are kept for `wait_for_change`.
const CHANGELOG_RETAIN: Revision = 10_000;
/// Connections kept open for reuse; more are opened on demand under load. A serving sdnd has
/// about six waiters (node agent, its query and DHCP threads, the confirm and view watchers)
/// that every commit wakes at once beside the writer: with fewer kept, each commit opened
/// (and re-prepared the statements of) a connection or two.
const MAX_IDLE_CONNECTIONS: usize = 12;

/// Prepared statements kept per connection (see [`SqliteStore::connect`]).
const STATEMENT_CACHE: usize = 48;

/// `kv` is a rowid table with its key in a separate unique index, and the value is its last
/// column: a lookup searches the small index cells and then reads only the columns it asks
/// for. Before (version 2) `kv` was a `WITHOUT ROWID` table, whose B-tree cells hold whole
/// rows: a key search that probed a cell whose row overflows its page (the running
/// configuration, a kept version, a node's files: megabytes at 100,000 vnets) read that whole
/// row to compare keys, so every guard on a key beside one cost milliseconds.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        revision INTEGER NOT NULL,
        compacted INTEGER NOT NULL
    );
    INSERT OR IGNORE INTO meta (id, revision, compacted) VALUES (1, 0, 0);
    CREATE TABLE IF NOT EXISTS kv (
        key TEXT PRIMARY KEY NOT NULL,
        mod_revision INTEGER NOT NULL,
        expires INTEGER,
        value BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS kv_expiring ON kv (expires) WHERE expires IS NOT NULL;
    CREATE TABLE IF NOT EXISTS changelog (
        revision INTEGER NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (revision, key)
    ) WITHOUT ROWID;
";

/// A [`Store`] kept in one SQLite file. Cheap to share behind an `Arc`; every method may be
/// called from any thread.
pub struct SqliteStore {
    path: PathBuf,
    busy_timeout: Duration,
    /// Revisions of changelog kept; [`CHANGELOG_RETAIN`] except in tests of the pruning.
    changelog_retain: Revision,
    poll_interval: Duration,
    /// Idle connections; SQLite connections are not `Sync`, so each call borrows one.
    idle: Mutex<Vec<Connection>>,
    local: LocalCommits,
    /// This handle's writers, one at a time (see [`write_gate`]).
    write_gate: std::sync::Arc<write_gate::WriteGate>,
    checkpointer: checkpoint::Checkpointer,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file and its schema if missing.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        Self::open_with_busy_timeout(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// Like [`SqliteStore::open`], with the time a write waits for another writer before it
    /// fails with [`StoreError::Unavailable`].
    pub fn open_with_busy_timeout(path: &Path, busy_timeout: Duration) -> Result<SqliteStore> {
        let existed = path.exists();
        let write_gate = std::sync::Arc::new(write_gate::WriteGate::default());
        let store = SqliteStore {
            path: path.to_path_buf(),
            busy_timeout,
            changelog_retain: CHANGELOG_RETAIN,
            poll_interval: POLL_INTERVAL,
            idle: Mutex::new(Vec::new()),
            local: LocalCommits::default(),
            checkpointer: checkpoint::Checkpointer::new(path.to_path_buf(), busy_timeout, write_gate.clone()),
            write_gate,
        };
        let mut conn = store.connect()?;
        store.init(&mut conn)?;
        if !existed {
            store.sync_parent_dir()?;
        }
        lock(&store.idle).push(conn);
        Ok(store)
    }

    /// How often a waiter looks for commits of other processes (default 100 ms); commits
    /// through this handle wake waiters at once whatever it is.
    pub fn with_poll_interval(mut self, interval: Duration) -> SqliteStore {
        self.poll_interval = interval;
        self
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens and configures one connection (see [`configured`]).
    fn connect(&self) -> Result<Connection> {
        configured(&self.path, self.busy_timeout).map_err(|(context, e)| self.err(context)(e))
    }

    /// Switches the file to WAL and creates or checks the schema.
    fn init(&self, conn: &mut Connection) -> Result<()> {
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(self.err("switching to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "{}: journal_mode is {mode:?}, the store needs \"wal\" (is it on a filesystem without shared memory support?)",
                self.path.display()
            )));
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err("starting the schema transaction"))?;
        let app_id: i32 = tx
            .query_row("PRAGMA application_id", [], |row| row.get(0))
            .map_err(self.err("reading application_id"))?;
        let version: i32 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(self.err("reading user_version"))?;
        let has_tables: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table')",
                [],
                |row| row.get(0),
            )
            .map_err(self.err("reading the schema"))?;
        if app_id != APPLICATION_ID && (app_id != 0 || has_tables) {
            return Err(StoreError::Backend(format!(
                "{} is not an sdnd store (application_id {app_id:#x}, expected {APPLICATION_ID:#x} or a new file)",
                self.path.display()
            )));
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "{} has store schema version {version}; this sdnd supports up to {SCHEMA_VERSION}",
                self.path.display()
            )));
        }
        if version == 1 {
            tx.execute_batch("ALTER TABLE kv ADD COLUMN expires INTEGER")
                .map_err(self.err("upgrading the schema to version 2"))?;
        }
        if (1..3).contains(&version) {
            // The rows move to the new table in one pass; its index is made by SCHEMA below
            // (the old one goes with the old table).
            tx.execute_batch(
                "ALTER TABLE kv RENAME TO kv_version_2;
                 CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, mod_revision INTEGER NOT NULL, expires INTEGER, value BLOB NOT NULL);
                 INSERT INTO kv (key, mod_revision, expires, value) SELECT key, mod_revision, expires, value FROM kv_version_2;
                 DROP TABLE kv_version_2;",
            )
            .map_err(self.err("upgrading the schema to version 3"))?;
        }
        tx.execute_batch(SCHEMA)
            .map_err(self.err("creating the schema"))?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(self.err("setting application_id"))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(self.err("setting user_version"))?;
        tx.commit().map_err(self.err("committing the schema"))
    }

    /// Makes the new file's directory entry durable; SQLite syncs file contents only.
    fn sync_parent_dir(&self) -> Result<()> {
        let parent = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| {
                StoreError::Backend(format!("syncing directory {}: {e}", parent.display()))
            })
    }

    /// Runs `f` on a pooled connection. A connection left inside a transaction (a failed
    /// rollback) is dropped rather than reused.
    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let pooled = lock(&self.idle).pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let out = f(&mut conn);
        if conn.is_autocommit() {
            let mut idle = lock(&self.idle);
            if idle.len() < MAX_IDLE_CONNECTIONS {
                idle.push(conn);
            }
        }
        out
    }

    /// Maps a SQLite error to a [`StoreError`] naming what was being done.
    fn err(&self, context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |e| {
            let busy = matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            );
            if busy {
                StoreError::Unavailable(format!(
                    "{context}: {} stayed locked by another writer for more than {:?}",
                    self.path.display(),
                    self.busy_timeout
                ))
            } else {
                StoreError::Backend(format!("{context} ({}): {e}", self.path.display()))
            }
        }
    }

    fn guard_holds(&self, conn: &Connection, guard: &Guard, now: i64) -> Result<bool> {
        match guard {
            Guard::ModRevision { key, revision } => {
                let current: Option<Revision> = conn
                    .prepare_cached(
                        "SELECT mod_revision FROM kv WHERE key = ?1 AND (expires IS NULL OR expires > ?2)",
                    )
                    .and_then(|mut st| st.query_row(params![key, now], |row| row.get(0)).optional())
                    .map_err(self.err("checking a mod_revision guard"))?;
                Ok(current.unwrap_or(0) == *revision)
            }
            Guard::Value { key, value } => {
                let current: Option<Vec<u8>> = conn
                    .prepare_cached(
                        "SELECT value FROM kv WHERE key = ?1 AND (expires IS NULL OR expires > ?2)",
                    )
                    .and_then(|mut st| st.query_row(params![key, now], |row| row.get(0)).optional())
                    .map_err(self.err("checking a value guard"))?;
                Ok(current == *value)
            }
        }
    }

    /// Deletes the entries whose deadline passed, logged at `rev` like any deletion.
    /// Deletes the entries whose time ran out (logged as changes of `rev`); how many.
    fn purge_expired(&self, conn: &Connection, now: i64, rev: Revision) -> Result<usize> {
        let expired = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO changelog (revision, key)
                 SELECT ?1, key FROM kv WHERE expires IS NOT NULL AND expires <= ?2",
            )
            .and_then(|mut st| st.execute(params![rev, now]))
            .map_err(self.err("logging expired entries"))?;
        conn.prepare_cached("DELETE FROM kv WHERE expires IS NOT NULL AND expires <= ?1")
            .and_then(|mut st| st.execute([now]))
            .map_err(self.err("deleting expired entries"))?;
        Ok(expired)
    }

    fn apply(&self, conn: &Connection, op: &Op, rev: Revision, now: i64) -> Result<()> {
        match op {
            Op::Put { key, value } => self.upsert(conn, key, value, rev, None),
            Op::PutExpiring { key, value, ttl } => {
                let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
                self.upsert(conn, key, value, rev, Some(now.saturating_add(ttl_ms)))
            }
            Op::Delete { key } => {
                let deleted = conn
                    .prepare_cached("DELETE FROM kv WHERE key = ?1")
                    .and_then(|mut st| st.execute([key]))
                    .map_err(self.err("deleting an entry"))?;
                if deleted > 0 {
                    self.log_change(conn, key, rev)?;
                }
                Ok(())
            }
            Op::DeletePrefix { prefix } => {
                let end = prefix_end(prefix);
                conn.prepare_cached(
                    "INSERT OR IGNORE INTO changelog (revision, key)
                     SELECT ?1, key FROM kv WHERE key >= ?2 AND key < ?3",
                )
                .and_then(|mut st| st.execute(params![rev, prefix, end]))
                .map_err(self.err("logging a prefix deletion"))?;
                conn.prepare_cached("DELETE FROM kv WHERE key >= ?1 AND key < ?2")
                    .and_then(|mut st| st.execute(params![prefix, end]))
                    .map_err(self.err("deleting a prefix"))?;
                Ok(())
            }
        }
    }

    fn upsert(
        &self,
        conn: &Connection,
        key: &str,
        value: &[u8],
        rev: Revision,
        expires: Option<i64>,
    ) -> Result<()> {
        conn.prepare_cached(
            "INSERT INTO kv (key, mod_revision, expires, value) VALUES (?1, ?3, ?4, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                 mod_revision = excluded.mod_revision, expires = excluded.expires",
        )
        .and_then(|mut st| st.execute(params![key, value, rev, expires]))
        .map_err(self.err("writing an entry"))?;
        self.log_change(conn, key, rev)
    }

    fn log_change(&self, conn: &Connection, key: &str, rev: Revision) -> Result<()> {
        conn.prepare_cached("INSERT OR IGNORE INTO changelog (revision, key) VALUES (?1, ?2)")
            .and_then(|mut st| st.execute(params![rev, key]))
            .map_err(self.err("logging a change"))?;
        Ok(())
    }

    /// Reads the current revision and whether a key in `[start, end)` changed after
    /// `after`, in one snapshot.
    fn changed_since(&self, start: &str, end: &Value, after: Revision) -> Result<(Revision, bool)> {
        self.with_conn(|conn| {
            let tx = conn.transaction().map_err(self.err("starting a read transaction"))?;
            let (revision, compacted): (Revision, Revision) = tx
                .prepare_cached("SELECT revision, compacted FROM meta WHERE id = 1")
                .and_then(|mut st| st.query_row([], |row| Ok((row.get(0)?, row.get(1)?))))
                .map_err(self.err("reading the revision"))?;
            if revision <= after {
                return Ok((revision, false));
            }
            if after < compacted {
                return Ok((revision, true));
            }
            let changed: bool = tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM changelog WHERE revision > ?1 AND key >= ?2 AND key < ?3)",
                )
                .and_then(|mut st| st.query_row(params![after, start, end], |row| row.get(0)))
                .map_err(self.err("reading the changelog"))?;
            Ok((revision, changed))
        })
    }
}

impl Store for SqliteStore {
    fn get(&self, key: &str) -> Result<Option<Entry>> {
        self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT value, mod_revision FROM kv WHERE key = ?1 AND (expires IS NULL OR expires > ?2)",
            )
                .and_then(|mut st| {
                    st.query_row(params![key, now_ms()], |row| {
                        Ok(Entry {
                            key: key.to_owned(),
                            value: row.get(0)?,
                            mod_revision: row.get(1)?,
                        })
                    })
                    .optional()
                })
                .map_err(self.err("reading an entry"))
        })
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        self.with_conn(|conn| {
            let tx = conn.transaction().map_err(self.err("starting a read transaction"))?;
            let now = now_ms();
            let mut entries = Vec::with_capacity(keys.len());
            {
                let mut st = tx
                    .prepare_cached(
                        "SELECT value, mod_revision FROM kv WHERE key = ?1 AND (expires IS NULL OR expires > ?2)",
                    )
                    .map_err(self.err("reading entries"))?;
                for key in keys {
                    let entry = st
                        .query_row(params![key, now], |row| {
                            Ok(Entry { key: (*key).to_owned(), value: row.get(0)?, mod_revision: row.get(1)? })
                        })
                        .optional()
                        .map_err(self.err("reading entries"))?;
                    entries.push(entry);
                }
            }
            tx.commit().map_err(self.err("ending a read transaction"))?;
            Ok(entries)
        })
    }

    fn list(&self, prefix: &str) -> Result<(Vec<Entry>, Revision)> {
        self.with_conn(|conn| {
            let tx = conn
                .transaction()
                .map_err(self.err("starting a read transaction"))?;
            let revision: Revision = tx
                .prepare_cached("SELECT revision FROM meta WHERE id = 1")
                .and_then(|mut st| st.query_row([], |row| row.get(0)))
                .map_err(self.err("reading the revision"))?;
            let entries = tx
                .prepare_cached(
                    "SELECT key, value, mod_revision FROM kv WHERE key >= ?1 AND key < ?2
                     AND (expires IS NULL OR expires > ?3) ORDER BY key",
                )
                .and_then(|mut st| {
                    st.query_map(params![prefix, prefix_end(prefix), now_ms()], |row| {
                        Ok(Entry {
                            key: row.get(0)?,
                            value: row.get(1)?,
                            mod_revision: row.get(2)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(self.err("listing entries"))?;
            tx.finish().map_err(self.err("ending a read transaction"))?;
            Ok((entries, revision))
        })
    }

    fn keys(&self, prefix: &str, limit: Option<usize>) -> Result<KeyList> {
        self.with_conn(|conn| {
            let tx = conn.transaction().map_err(self.err("starting a read transaction"))?;
            let (end, now) = (prefix_end(prefix), now_ms());
            let total: i64 = tx
                .prepare_cached(
                    "SELECT count(*) FROM kv WHERE key >= ?1 AND key < ?2 AND (expires IS NULL OR expires > ?3)",
                )
                .and_then(|mut st| st.query_row(params![prefix, end, now], |row| row.get(0)))
                .map_err(self.err("counting entries"))?;
            // SQLite's "no limit" is a negative one.
            let limit = limit.map_or(-1, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
            let keys = tx
                .prepare_cached(
                    "SELECT key, mod_revision FROM kv WHERE key >= ?1 AND key < ?2
                     AND (expires IS NULL OR expires > ?3) ORDER BY key LIMIT ?4",
                )
                .and_then(|mut st| {
                    st.query_map(params![prefix, end, now, limit], |row| Ok((row.get(0)?, row.get(1)?)))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(self.err("listing keys"))?;
            tx.finish().map_err(self.err("ending a read transaction"))?;
            Ok(KeyList { keys, total: usize::try_from(total).unwrap_or(0) })
        })
    }

    fn revision(&self) -> Result<Revision> {
        self.with_conn(|conn| {
            conn.prepare_cached("SELECT revision FROM meta WHERE id = 1")
                .and_then(|mut st| st.query_row([], |row| row.get(0)))
                .map_err(self.err("reading the revision"))
        })
    }

    fn commit(&self, txn: Txn) -> Result<Commit> {
        let passage = self.write_gate.enter(self.busy_timeout).ok_or_else(|| {
            StoreError::Unavailable(format!(
                "starting a write transaction: {} stayed locked by another writer of this process for more than {:?}",
                self.path.display(),
                self.busy_timeout
            ))
        })?;
        let outcome = self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(self.err("starting a write transaction"))?;
            let now = now_ms();
            for guard in &txn.guards {
                if !self.guard_holds(&tx, guard, now)? {
                    // Dropping `tx` rolls back; nothing was written yet anyway.
                    return Ok((Commit::GuardFailed, 0));
                }
            }
            let (current, compacted): (Revision, Revision) = tx
                .prepare_cached("SELECT revision, compacted FROM meta WHERE id = 1")
                .and_then(|mut st| st.query_row([], |row| Ok((row.get(0)?, row.get(1)?))))
                .map_err(self.err("reading the revision"))?;
            let rev = current.checked_add(1).ok_or_else(|| {
                StoreError::Backend(format!(
                    "{}: revision counter exhausted",
                    self.path.display()
                ))
            })?;
            let expired = self.purge_expired(&tx, now, rev)?;
            for op in &txn.ops {
                self.apply(&tx, op, rev, now)?;
            }
            // Prune the oldest changelog revisions: a range delete at the start of the
            // primary key, so it costs the rows removed, not the table size.
            let keep_from = rev.saturating_sub(self.changelog_retain).max(compacted);
            if keep_from > compacted {
                tx.prepare_cached("DELETE FROM changelog WHERE revision <= ?1")
                    .and_then(|mut st| st.execute([keep_from]))
                    .map_err(self.err("pruning the changelog"))?;
            }
            tx.prepare_cached("UPDATE meta SET revision = ?1, compacted = ?2 WHERE id = 1")
                .and_then(|mut st| st.execute([rev, keep_from]))
                .map_err(self.err("bumping the revision"))?;
            tx.commit().map_err(self.err("committing"))?;
            Ok((Commit::Committed(rev), expired))
        })?;
        drop(passage);
        match outcome {
            (Commit::Committed(rev), expired) => {
                self.checkpointer.committed(checkpoint::wal_pages_after_last_commit());
                // What expired is not in the ops: such a commit may touch anything.
                let touched = (expired == 0).then(|| Touched::of(&txn.ops)).flatten();
                self.local.notify(rev, touched);
                Ok(Commit::Committed(rev))
            }
            (other, _) => Ok(other),
        }
    }

    fn changes_through(
        &self,
        prefix: &str,
        after: Revision,
        through: Revision,
    ) -> Result<Option<crate::KeyChanges>> {
        let end = prefix_end(prefix);
        self.with_conn(|conn| {
            let tx = conn.transaction().map_err(self.err("starting a read transaction"))?;
            let compacted: Revision = tx
                .prepare_cached("SELECT compacted FROM meta WHERE id = 1")
                .and_then(|mut st| st.query_row([], |row| row.get(0)))
                .map_err(self.err("reading the revision"))?;
            if after < compacted {
                return Ok(None);
            }
            let keys: Vec<String> = tx
                .prepare_cached(
                    "SELECT DISTINCT key FROM changelog
                     WHERE revision > ?1 AND revision <= ?2 AND key >= ?3 AND key < ?4 ORDER BY key",
                )
                .and_then(|mut st| {
                    st.query_map(params![after, through, prefix, end], |row| row.get(0))?
                        .collect::<rusqlite::Result<_>>()
                })
                .map_err(self.err("reading the changelog"))?;
            let now = now_ms();
            let mut changes = Vec::with_capacity(keys.len());
            for key in keys {
                let entry = tx
                    .prepare_cached(
                        "SELECT value, mod_revision FROM kv WHERE key = ?1 AND (expires IS NULL OR expires > ?2)",
                    )
                    .and_then(|mut st| {
                        st.query_row(params![key, now], |row| {
                            Ok(Entry { key: key.clone(), value: row.get(0)?, mod_revision: row.get(1)? })
                        })
                        .optional()
                    })
                    .map_err(self.err("reading an entry"))?;
                changes.push((key, entry));
            }
            Ok(Some(changes))
        })
    }

    fn wait_for_change(
        &self,
        prefix: &str,
        after: Revision,
        timeout: Duration,
    ) -> Result<Revision> {
        match self.wait_for(prefix, after, timeout)? {
            Waited::Changed(revision) | Waited::Quiet(revision) => Ok(revision),
        }
    }

    fn watch_prefix<'a>(&'a self, prefix: &str) -> Box<dyn PrefixWatch + 'a> {
        Box::new(SqlitePrefixWatch { store: self, prefix: prefix.to_owned(), quiet: None })
    }
}

/// How a wait on the changelog ended.
enum Waited {
    /// Something under the prefix changed, at this revision.
    Changed(Revision),
    /// Nothing under it changed through this revision, within the wait.
    Quiet(Revision),
}

/// A waiter on one prefix that remembers how far its last quiet wait looked: a wait that
/// times out answers its `after` (nothing changed under the prefix, though other commits may
/// have moved the store on), and the next wait from that `after` goes on from where the last
/// one stopped instead of reading the changelog since `after` again.
struct SqlitePrefixWatch<'a> {
    store: &'a SqliteStore,
    prefix: String,
    /// `(after, checked)`: the last quiet wait from `after` found nothing through `checked`.
    quiet: Option<(Revision, Revision)>,
}

impl PrefixWatch for SqlitePrefixWatch<'_> {
    fn wait_for_change(&mut self, after: Revision, timeout: Duration) -> Result<Revision> {
        let from = match self.quiet {
            Some((asked, checked)) if asked == after => checked.max(after),
            _ => after,
        };
        match self.store.wait_for(&self.prefix, from, timeout)? {
            Waited::Changed(revision) => {
                self.quiet = None;
                Ok(revision)
            }
            Waited::Quiet(checked) => {
                self.quiet = Some((after, checked));
                Ok(after)
            }
        }
    }
}

impl SqliteStore {
    /// [`Store::wait_for_change`], telling a change apart from a quiet wait.
    fn wait_for(&self, prefix: &str, after: Revision, timeout: Duration) -> Result<Waited> {
        // `None`: a timeout too large to represent, i.e. wait until a change.
        let deadline = Instant::now().checked_add(timeout);
        let end = prefix_end(prefix);
        // Revisions up to `checked` are known not to touch the prefix: each look reads only
        // the changelog written since the previous one, so a waiter woken by every commit
        // costs the size of that commit, not of everything since `after` (an import of
        // 100,000 objects is one revision of 100,000 rows).
        let mut checked = after;
        // The local commit count at the last look, and when the next look for other
        // processes' commits is due: a wake by a local commit that touched none of the
        // prefix (known from its keys) needs no look, so a commit does not cost every waiter
        // a query.
        let mut looked: Option<u64> = None;
        let mut next_poll = Instant::now();
        loop {
            // Read the local commit count before looking, so a commit landing between the
            // look and the wait still wakes us.
            let seen = self.local.generation();
            let now = Instant::now();
            let must_look = match looked {
                None => true,
                Some(looked) => now >= next_poll || !self.local.untouched_since(looked, seen, prefix),
            };
            // Woken by local commits that tell everything since the last look: no query.
            let known = match looked {
                Some(looked) if must_look && now < next_poll => self.local.known_since(looked, seen, checked, prefix),
                _ => None,
            };
            match known {
                Some(Known::Changed(revision)) => return Ok(Waited::Changed(revision)),
                Some(Known::Unchanged(revision)) => {
                    checked = revision;
                    looked = Some(seen);
                }
                None if must_look => {
                    let (revision, changed) = self.changed_since(prefix, &end, checked)?;
                    if changed {
                        return Ok(Waited::Changed(revision));
                    }
                    checked = checked.max(revision);
                    looked = Some(seen);
                    next_poll = Instant::now() + self.poll_interval;
                }
                None => {}
            }
            let now = Instant::now();
            let until_poll = next_poll.saturating_duration_since(now);
            let wait = match deadline {
                Some(deadline) => {
                    if now >= deadline {
                        return Ok(Waited::Quiet(checked));
                    }
                    (deadline - now).min(until_poll)
                }
                None => until_poll,
            };
            self.local.wait_past(seen, prefix, wait);
        }
    }
}

/// The keys a local commit wrote, for its waiters; `None` from [`Touched::of`]: too many to
/// keep, or unknown (taken to touch everything).
struct Touched {
    keys: Vec<String>,
    /// Prefixes deleted whole.
    prefixes: Vec<String>,
}

/// More keys than this in one commit are not kept (an import): its waiters look.
const TOUCHED_MAX_KEYS: usize = 64;

/// How many local commits are remembered for waiters; a waiter that slept through more looks.
const TOUCHED_KEPT: usize = 32;

impl Touched {
    fn of(ops: &[Op]) -> Option<Touched> {
        if ops.len() > TOUCHED_MAX_KEYS {
            return None;
        }
        let mut touched = Touched { keys: Vec::new(), prefixes: Vec::new() };
        for op in ops {
            match op {
                Op::Put { key, .. } | Op::PutExpiring { key, .. } | Op::Delete { key } => touched.keys.push(key.clone()),
                Op::DeletePrefix { prefix } => touched.prefixes.push(prefix.clone()),
            }
        }
        Some(touched)
    }

    /// Whether this commit may have changed an entry under `prefix`.
    fn touches(&self, prefix: &str) -> bool {
        self.keys.iter().any(|k| k.starts_with(prefix))
            || self.prefixes.iter().any(|p| p.starts_with(prefix) || prefix.starts_with(p.as_str()))
    }
}

/// Wakes waiters of this handle as soon as it commits, telling them what the last few commits
/// touched and at which revisions; commits by other handles and processes are found by
/// polling. A commit wakes only the waiters whose prefix it may have touched: every commit
/// waking every waiter (about six in a serving sdnd) cost a thread switch each on a busy host.
#[derive(Default)]
struct LocalCommits {
    state: Mutex<LocalState>,
}

#[derive(Default)]
struct LocalState {
    generation: u64,
    /// The last [`TOUCHED_KEPT`] commits.
    recent: std::collections::VecDeque<LocalCommit>,
    /// The waiters asleep now, each with the prefix it waits for.
    sleepers: Vec<Sleeper>,
    next_sleeper: u64,
}

struct LocalCommit {
    generation: u64,
    revision: Revision,
    /// What it touched (`None`: anything).
    touched: Option<Touched>,
}

struct Sleeper {
    id: u64,
    prefix: String,
    woken: bool,
    wake: std::sync::Arc<Condvar>,
}

/// What the local commits since a waiter's last look say, when they say everything.
#[derive(Debug, PartialEq, Eq)]
enum Known {
    /// Nothing under the prefix changed up to this revision.
    Unchanged(Revision),
    /// Something under the prefix changed; the revision of the last of these commits.
    Changed(Revision),
}

impl LocalCommits {
    fn generation(&self) -> u64 {
        lock(&self.state).generation
    }

    fn notify(&self, revision: Revision, touched: Option<Touched>) {
        let mut state = lock(&self.state);
        state.generation = state.generation.wrapping_add(1);
        let generation = state.generation;
        for sleeper in &mut state.sleepers {
            if touched.as_ref().is_none_or(|t| t.touches(&sleeper.prefix)) {
                sleeper.woken = true;
                sleeper.wake.notify_one();
            }
        }
        if state.recent.len() == TOUCHED_KEPT {
            state.recent.pop_front();
        }
        state.recent.push_back(LocalCommit { generation, revision, touched });
    }

    /// Whether every local commit after generation `from` up to `to` is remembered and
    /// touched nothing under `prefix`.
    fn untouched_since(&self, from: u64, to: u64, prefix: &str) -> bool {
        if from == to {
            return true;
        }
        let state = lock(&self.state);
        let mut covered = from;
        for commit in &state.recent {
            if commit.generation <= from || commit.generation > to {
                continue;
            }
            if commit.generation != covered.wrapping_add(1) {
                return false;
            }
            match &commit.touched {
                Some(touched) if !touched.touches(prefix) => covered = commit.generation,
                _ => return false,
            }
        }
        covered == to
    }

    /// What happened under `prefix` after revision `checked`, from the local commits after
    /// generation `from` up to `to` alone, if they tell it all: every one is remembered with
    /// its keys, and their revisions follow `checked` without a gap, so nobody else committed
    /// in between. `None`: the store must be asked. (A commit by somebody else after the last
    /// local one is found by the next poll, as without local commits.)
    fn known_since(&self, from: u64, to: u64, checked: Revision, prefix: &str) -> Option<Known> {
        let state = lock(&self.state);
        let mut next_generation = from.wrapping_add(1);
        let mut revision = checked;
        let mut changed = false;
        for commit in &state.recent {
            if commit.generation <= from || commit.generation > to {
                continue;
            }
            if commit.generation != next_generation {
                return None;
            }
            next_generation = next_generation.wrapping_add(1);
            // Committed before the last look read the revision: that look saw it.
            if commit.revision <= checked {
                continue;
            }
            if commit.revision != revision + 1 {
                return None;
            }
            revision = commit.revision;
            changed |= commit.touched.as_ref()?.touches(prefix);
        }
        if next_generation != to.wrapping_add(1) {
            return None;
        }
        Some(if changed { Known::Changed(revision) } else { Known::Unchanged(revision) })
    }

    /// Sleeps until a local commit after `seen` that may touch `prefix`, or `timeout`.
    fn wait_past(&self, seen: u64, prefix: &str, timeout: Duration) {
        let mut state = lock(&self.state);
        if state.generation != seen {
            return;
        }
        let id = state.next_sleeper;
        state.next_sleeper += 1;
        let wake = std::sync::Arc::new(Condvar::new());
        state.sleepers.push(Sleeper { id, prefix: prefix.to_owned(), woken: false, wake: wake.clone() });
        let (mut state, _) = wake
            .wait_timeout_while(state, timeout, |s| !s.sleepers.iter().any(|w| w.id == id && w.woken))
            .unwrap_or_else(PoisonError::into_inner);
        state.sleepers.retain(|w| w.id != id);
    }
}

/// Wall-clock milliseconds since the epoch, the unit of `kv.expires`. A clock before 1970
/// reads as 0, which only makes expiring entries live longer, never vanish early.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Opens and configures one connection; on failure, what was being done. `synchronous`, the
/// busy timeout and the WAL hook are per-connection settings, so every connection gets them.
fn configured(path: &Path, busy_timeout: Duration) -> std::result::Result<Connection, (&'static str, rusqlite::Error)> {
    let conn = Connection::open(path).map_err(|e| ("opening the database", e))?;
    conn.busy_timeout(busy_timeout).map_err(|e| ("setting the busy timeout", e))?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(|e| ("setting synchronous=FULL", e))?;
    // Checkpoints run on the store's own thread, not in the commit that fills the WAL.
    conn.wal_hook(Some(checkpoint::after_commit));
    // Room for every statement this module prepares (about 20): with rusqlite's default
    // of 16 they evicted each other and were parsed again on every commit.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Locks a mutex whose data stays valid even if a holder panicked (a counter, a pool).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The exclusive upper bound of the keys starting with `prefix`, for an index range scan
/// `key >= prefix AND key < end` (no LIKE, so `%` and `_` in keys are plain characters).
///
/// Keys compare as UTF-8 bytes, which orders like code points, so replacing the last
/// character by its successor bounds the range. Without a successor (an empty prefix, or
/// only U+10FFFF) the bound is an empty BLOB: SQLite orders every TEXT value before any
/// BLOB, so the range is then open-ended.
fn prefix_end(prefix: &str) -> Value {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char_successor(last) {
            chars.push(next);
            return Value::Text(chars.into_iter().collect());
        }
    }
    Value::Blob(Vec::new())
}

fn char_successor(c: char) -> Option<char> {
    match c {
        '\u{D7FF}' => Some('\u{E000}'),
        char::MAX => None,
        c => char::from_u32(u32::from(c) + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_bounds() {
        assert_eq!(prefix_end("sdn/"), Value::Text("sdn0".into()));
        assert_eq!(prefix_end("a\u{D7FF}"), Value::Text("a\u{E000}".into()));
        assert_eq!(prefix_end("a\u{10FFFF}"), Value::Text("b".into()));
        assert_eq!(prefix_end(""), Value::Blob(Vec::new()));
        assert_eq!(prefix_end("\u{10FFFF}\u{10FFFF}"), Value::Blob(Vec::new()));
    }

    /// Prefix reads and deletes must be range scans of the key index, not table scans.
    #[test]
    fn prefix_queries_use_the_primary_key_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("s.db")).expect("open");
        let plan = store
            .with_conn(|conn| {
                let mut st = conn
                    .prepare("EXPLAIN QUERY PLAN SELECT key, value, mod_revision FROM kv WHERE key >= ?1 AND key < ?2")
                    .map_err(store.err("explain"))?;
                let rows = st
                    .query_map(params!["a", prefix_end("a")], |row| row.get::<_, String>(3))
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(store.err("explain"))?;
                Ok(rows.join("\n"))
            })
            .expect("plan");
        assert!(
            plan.contains("SEARCH kv USING INDEX sqlite_autoindex_kv_1 (key>? AND key<?)"),
            "{plan}"
        );
    }

    /// A file written by schema version 1 (no `kv.expires`) is upgraded in place on open.
    #[test]
    fn version_1_files_are_upgraded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        {
            let conn = Connection::open(&path).expect("create v1 file");
            conn.execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL, compacted INTEGER NOT NULL);
                 INSERT INTO meta VALUES (1, 7, 0);
                 CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, mod_revision INTEGER NOT NULL) WITHOUT ROWID;
                 INSERT INTO kv VALUES ('old', X'31', 7);
                 CREATE TABLE changelog (revision INTEGER NOT NULL, key TEXT NOT NULL, PRIMARY KEY (revision, key)) WITHOUT ROWID;
                 PRAGMA application_id = 1396985412;
                 PRAGMA user_version = 1;",
            )
            .expect("v1 schema");
        }
        let store = SqliteStore::open(&path).expect("open upgrades");
        let old = store.get("old").expect("get").expect("old entry kept");
        assert_eq!((old.value.as_slice(), old.mod_revision), (&b"1"[..], 7));
        let txn = Txn::new().put_expiring("lock", "x", Duration::from_secs(60));
        assert_eq!(store.commit(txn).expect("commit"), Commit::Committed(8));
        assert!(store.get("lock").expect("get").is_some());
        let version: i32 = store
            .with_conn(|conn| {
                conn.query_row("PRAGMA user_version", [], |row| row.get(0))
                    .map_err(store.err("version"))
            })
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
    }

    /// The table's definition as stored.
    fn kv_definition(store: &SqliteStore) -> String {
        store
            .with_conn(|conn| {
                conn.query_row("SELECT sql FROM sqlite_schema WHERE name = 'kv'", [], |row| row.get(0))
                    .map_err(store.err("schema"))
            })
            .expect("kv definition")
    }

    /// A version 2 file (`kv` without rowid, the value before the revision) is moved to the
    /// rowid table on open, entries, revisions and deadlines kept, and its expiry index made.
    #[test]
    fn version_2_files_are_upgraded_to_the_rowid_table() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let far = now_ms() + 3_600_000;
        {
            let conn = Connection::open(&path).expect("create v2 file");
            conn.execute_batch(&format!(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL, compacted INTEGER NOT NULL);
                 INSERT INTO meta VALUES (1, 9, 0);
                 CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, mod_revision INTEGER NOT NULL, expires INTEGER) WITHOUT ROWID;
                 CREATE INDEX kv_expiring ON kv (expires) WHERE expires IS NOT NULL;
                 INSERT INTO kv VALUES ('a', X'31', 3, NULL), ('b', zeroblob(100000), 8, NULL), ('c', X'33', 9, {far}), ('d', X'34', 5, 1);
                 CREATE TABLE changelog (revision INTEGER NOT NULL, key TEXT NOT NULL, PRIMARY KEY (revision, key)) WITHOUT ROWID;
                 PRAGMA application_id = 1396985412;
                 PRAGMA user_version = 2;"
            ))
            .expect("v2 schema");
        }
        let store = SqliteStore::open(&path).expect("open upgrades");
        assert!(!kv_definition(&store).contains("WITHOUT ROWID"), "{}", kv_definition(&store));
        let read = |key: &str| store.get(key).expect("get").map(|e| (e.value.len(), e.mod_revision));
        assert_eq!(read("a"), Some((1, 3)));
        assert_eq!(read("b"), Some((100_000, 8)));
        assert_eq!(read("c"), Some((1, 9)), "its deadline is still ahead");
        assert_eq!(read("d"), None, "its deadline passed before the upgrade");
        // The expiry index is there again, and the next commit purges what expired.
        assert_eq!(store.commit(Txn::new().put("e", "5")).expect("commit"), Commit::Committed(10));
        let expiring: i64 = store
            .with_conn(|conn| {
                conn.query_row("SELECT count(*) FROM kv INDEXED BY kv_expiring WHERE expires IS NOT NULL", [], |row| row.get(0))
                    .map_err(store.err("count"))
            })
            .expect("expiry index");
        assert_eq!(expiring, 1, "only c still expires");
    }

    fn changelog_bounds(store: &SqliteStore) -> (u64, Option<u64>, Option<u64>) {
        store
            .with_conn(|conn| {
                conn.query_row(
                    "SELECT count(*), min(revision), max(revision) FROM changelog",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .map_err(store.err("counting"))
            })
            .expect("changelog")
    }

    #[test]
    fn changelog_is_pruned_and_old_waiters_wake_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = SqliteStore::open(&dir.path().join("s.db")).expect("open");
        store.changelog_retain = 5;
        for i in 0..20 {
            let txn = Txn::new().put(format!("k/{i}"), "v").put("other", "v");
            assert!(matches!(
                store.commit(txn).expect("commit"),
                Commit::Committed(_)
            ));
        }
        // Revisions 16..=20 kept, two keys each.
        assert_eq!(changelog_bounds(&store), (10, Some(16), Some(20)));
        // Within retained history the answer is exact: nothing under w/ ever changed.
        assert_eq!(
            store
                .changed_since("w/", &prefix_end("w/"), 15)
                .expect("check"),
            (20, false)
        );
        assert_eq!(
            store
                .changed_since("k/", &prefix_end("k/"), 19)
                .expect("check"),
            (20, true)
        );
        // Older history is gone, so a waiter from before it is woken conservatively.
        let start = Instant::now();
        assert_eq!(
            store
                .wait_for_change("w/", 3, Duration::from_secs(10))
                .expect("wait"),
            20
        );
        assert!(start.elapsed() < Duration::from_secs(1));
        // And the changes since then are not known any more; those since 15 are.
        assert_eq!(store.changes_through("k/", 3, 20).expect("read"), None);
        let known = store.changes_through("k/", 15, 20).expect("read").expect("kept");
        let keys: Vec<&str> = known.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["k/15", "k/16", "k/17", "k/18", "k/19"]);
        // Reopening keeps the compaction point.
        drop(store);
        let store = SqliteStore::open(&dir.path().join("s.db")).expect("reopen");
        assert_eq!(
            store
                .changed_since("w/", &prefix_end("w/"), 14)
                .expect("check"),
            (20, true)
        );
        assert_eq!(
            store
                .changed_since("w/", &prefix_end("w/"), 15)
                .expect("check"),
            (20, false)
        );
    }

    fn put(key: &str) -> Op {
        Op::Put { key: key.into(), value: Vec::new() }
    }

    #[test]
    fn a_waiter_knows_which_local_commits_left_its_prefix_alone() {
        let local = LocalCommits::default();
        local.notify(11, Touched::of(&[put("pending/vnets/a"), put("pending/.mark")]));
        local.notify(12, Touched::of(&[Op::DeletePrefix { prefix: "tasks/".into() }]));
        assert!(local.untouched_since(0, 2, "running/"));
        assert!(!local.untouched_since(0, 2, "pending/"));
        // A deleted prefix touches what lies below it and what contains it.
        assert!(!local.untouched_since(1, 2, "tasks/x/"));
        assert!(!local.untouched_since(1, 2, "ta"));
        assert!(local.untouched_since(2, 2, "pending/"), "no commit since: nothing touched");
        // Too many keys, or expired entries (`None`): anything may have changed.
        let many: Vec<Op> = (0..=TOUCHED_MAX_KEYS).map(|i| put(&format!("x/{i}"))).collect();
        local.notify(13, Touched::of(&many));
        assert!(!local.untouched_since(2, 3, "running/"));
        local.notify(14, None);
        assert!(!local.untouched_since(3, 4, "running/"));
        // Commits no longer remembered are never taken as untouched.
        for i in 0..TOUCHED_KEPT as u64 {
            local.notify(15 + i, Touched::of(&[put("other/k")]));
        }
        assert!(local.untouched_since(4 + 1, 4 + TOUCHED_KEPT as u64, "running/"));
        assert!(!local.untouched_since(0, 4 + TOUCHED_KEPT as u64, "running/"));
    }

    #[test]
    fn local_commits_without_a_gap_answer_a_waiter_without_a_query() {
        let local = LocalCommits::default();
        local.notify(11, Touched::of(&[put("sdn/pending/vnets/a")]));
        local.notify(12, Touched::of(&[put("tasks/t1")]));
        // Looked at generation 0 and revision 10: commits 11 and 12 are all there was.
        assert_eq!(local.known_since(0, 2, 10, "sdn/"), Some(Known::Changed(12)));
        assert_eq!(local.known_since(0, 2, 10, "nodes/"), Some(Known::Unchanged(12)));
        // The look already saw revision 11 (it committed before the look read the revision).
        assert_eq!(local.known_since(0, 2, 11, "sdn/"), Some(Known::Unchanged(12)));
        // Somebody else committed 13: a gap before the next local commit means asking.
        local.notify(14, Touched::of(&[put("tasks/t2")]));
        assert_eq!(local.known_since(2, 3, 12, "nodes/"), None);
        // Unknown keys (expired entries, a large commit) mean asking too.
        local.notify(15, None);
        assert_eq!(local.known_since(3, 4, 14, "nodes/"), None);
        // Commits no longer remembered: asking.
        for i in 0..TOUCHED_KEPT as u64 {
            local.notify(16 + i, Touched::of(&[put("other/k")]));
        }
        assert_eq!(local.known_since(0, 4 + TOUCHED_KEPT as u64, 10, "nodes/"), None);
        let last = 4 + TOUCHED_KEPT as u64;
        assert_eq!(local.known_since(last - 1, last, 14 + TOUCHED_KEPT as u64, "nodes/"), Some(Known::Unchanged(15 + TOUCHED_KEPT as u64)));
    }

    #[test]
    fn a_commit_wakes_only_the_waiters_of_what_it_touched() {
        let local = std::sync::Arc::new(LocalCommits::default());
        let sleep = |prefix: &'static str| {
            let local = local.clone();
            std::thread::spawn(move || {
                let start = Instant::now();
                local.wait_past(0, prefix, Duration::from_secs(2));
                start.elapsed()
            })
        };
        let running = sleep("sdn/running/");
        let pending = sleep("sdn/pending/");
        while lock(&local.state).sleepers.len() < 2 {
            std::thread::sleep(Duration::from_millis(1));
        }
        local.notify(1, Touched::of(&[put("sdn/pending/vnets/a")]));
        assert!(pending.join().unwrap() < Duration::from_secs(1), "the pending waiter is woken at once");
        assert!(running.join().unwrap() >= Duration::from_secs(2), "the running waiter sleeps its whole wait");
        assert!(lock(&local.state).sleepers.is_empty());
    }
}
