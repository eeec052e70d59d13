//! The audit trail: who took, released, forced or lost the lock, who applied, rolled back,
//! restored, confirmed or reverted what, and which change sets ran. A record is written as one
//! more operation of the transaction that makes the change it records, so there is no change
//! without its record (and no record of a change that did not happen).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sdn_store::{Commit, Op, Store, Txn};

use crate::auth::Caller;
use crate::error::Error;
use crate::layout::{self, AuditRecord, LockExpiry};

/// The actions a record may name.
pub const ACTIONS: [&str; 10] =
    ["lock", "unlock", "force-unlock", "expire", "apply", "rollback", "restore", "confirm", "revert", "changes"];

/// How many records are kept; older ones are pruned.
pub const RETENTION: usize = 10_000;

/// The user name of what the server does by itself (a revert, an expiry).
pub const SERVER: &str = "sdnd";

/// Who asked for a change: the user or token id and the client's address.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: String,
    pub client: String,
}

impl Actor {
    pub fn new(caller: &Caller, peer: std::net::SocketAddr) -> Self {
        Actor { user: caller.auth_id(), client: peer.ip().to_string() }
    }

    /// The server itself.
    pub fn server() -> Self {
        Actor { user: SERVER.into(), client: String::new() }
    }
}

/// Makes the keys of records written in the same millisecond distinct (across nodes too: the
/// random part differs per process).
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn unique() -> String {
    static PROCESS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let process = *PROCESS.get_or_init(|| {
        let mut bytes = [0u8; 4];
        let _ = getrandom::fill(&mut bytes);
        u32::from_ne_bytes(bytes)
    });
    format!("{process:08x}{:012x}", SEQUENCE.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff_ffff)
}

/// A record being built; [`Entry::op`] turns it into the store write.
pub struct Entry {
    time_ms: i64,
    record: AuditRecord,
}

impl Entry {
    pub fn new(time_ms: i64, action: &str, actor: &Actor) -> Self {
        Entry {
            time_ms,
            record: AuditRecord {
                time: time_ms.div_euclid(1000),
                action: action.into(),
                user: actor.user.clone(),
                client: actor.client.clone(),
                comment: None,
                result: "ok".into(),
                version: None,
                detail: None,
            },
        }
    }

    pub fn comment(mut self, comment: Option<&str>) -> Self {
        self.record.comment = comment.map(str::to_string);
        self
    }

    pub fn version(mut self, version: u64) -> Self {
        self.record.version = Some(version);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.record.detail = Some(detail.into());
        self
    }

    /// The write that stores this record.
    pub fn op(self) -> Op {
        let key = layout::audit(self.time_ms, &unique(), 0);
        Op::Put { key, value: serde_json::to_vec(&self.record).unwrap_or_default() }
    }
}

/// What `GET /cluster/sdn/audit` filters on.
#[derive(Debug, Default)]
pub struct Filter {
    pub limit: usize,
    /// Epoch seconds: only records at or after.
    pub since: Option<i64>,
    pub user: Option<String>,
    pub action: Option<String>,
}

/// The records matching `filter`, newest first.
pub fn list(store: &dyn Store, filter: &Filter) -> Result<Vec<AuditRecord>, Error> {
    let (entries, _) = store.list(layout::AUDIT_PREFIX)?;
    let records = entries
        .iter()
        .rev()
        .filter_map(|entry| serde_json::from_slice::<AuditRecord>(&entry.value).ok())
        .take_while(|record| filter.since.is_none_or(|since| record.time >= since))
        .filter(|record| filter.user.as_deref().is_none_or(|user| record.user == user))
        .filter(|record| filter.action.as_deref().is_none_or(|action| record.action == action))
        .take(filter.limit)
        .collect();
    Ok(records)
}

/// The write that records the expiry of the lock its expiry copy describes.
pub fn expired_record(expiry: &LockExpiry) -> Op {
    let detail = format!("held since {}", expiry.since_ms.div_euclid(1000));
    Entry::new(expiry.expires_ms, "expire", &Actor { user: expiry.holder.clone(), client: String::new() })
        .comment(expiry.comment.as_deref())
        .detail(detail)
        .op()
}

/// How often a server looks at a lock with a ttl, whose expiry is due by the clock (no
/// watch tells of it).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// How often the trail is pruned (and the lock looked at when its watch tells nothing).
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Starts the thread that records locks that expired while nobody wrote (their entry may have
/// vanished by itself) and keeps the trail within [`RETENTION`]. While no lock with a ttl is
/// held it waits on a watch of the lock's expiry copy, so an idle server costs the store no
/// read a second.
pub fn spawn_sweeper(store: std::sync::Arc<dyn Store>, clock: crate::Clock) {
    let spawned = std::thread::Builder::new().name("audit-sweeper".into()).spawn(move || {
        let mut follower = crate::follow::Follower::new(store.as_ref(), layout::LOCK_EXPIRY);
        let mut pruned: Option<std::time::Instant> = None;
        loop {
            let expiring = record_expiry(store.as_ref(), clock.now_ms()).unwrap_or_else(|err| {
                tracing::debug!("looking for an expired lock: {err}");
                true
            });
            if pruned.is_none_or(|at| at.elapsed() >= PRUNE_INTERVAL) {
                pruned = Some(std::time::Instant::now());
                if let Err(err) = prune(store.as_ref(), RETENTION) {
                    tracing::debug!("pruning the audit trail: {err}");
                }
            }
            let next_prune = pruned.map_or(Duration::ZERO, |at| PRUNE_INTERVAL.saturating_sub(at.elapsed()));
            let wait = if expiring { SWEEP_INTERVAL } else { next_prune.max(SWEEP_INTERVAL) };
            follower.wait(wait);
        }
    });
    if let Err(err) = spawned {
        tracing::error!("could not start the audit sweeper: {err}");
    }
}

/// Records the expiry of a lock whose ttl passed, once (the write is guarded on the expiry
/// copy being unchanged, so of several servers only one records it), and removes the lock
/// entry if it is still there. Whether a lock with a ttl is still to expire (or may be: an
/// expiry copy this could not read).
pub fn record_expiry(store: &dyn Store, now_ms: i64) -> Result<bool, Error> {
    let [expiry, lock]: [Option<sdn_store::Entry>; 2] = store
        .get_many(&[layout::LOCK_EXPIRY, layout::LOCK])?
        .try_into()
        .map_err(|_| Error::Internal("the store answered a read of two entries with another count".into()))?;
    let Some(expiry_entry) = expiry else { return Ok(false) };
    let Ok(copy) = serde_json::from_slice::<LockExpiry>(&expiry_entry.value) else { return Ok(false) };
    if now_ms < copy.expires_ms {
        return Ok(true);
    }
    let mut txn = Txn::new().unchanged(layout::LOCK_EXPIRY, expiry_entry.mod_revision);
    if let Some(lock) = lock {
        let record = serde_json::from_slice::<layout::LockRecord>(&lock.value).ok();
        if record.is_some_and(|record| record.is_expired(now_ms)) {
            txn = txn.unchanged(layout::LOCK, lock.mod_revision).delete(layout::LOCK);
        }
    }
    txn.ops.push(expired_record(&copy));
    txn = txn.delete(layout::LOCK_EXPIRY);
    match store.commit(txn)? {
        Commit::Committed(_) => {
            tracing::info!("SDN lock of {} expired", copy.holder);
            Ok(false)
        }
        // The copy changed meanwhile: look again soon.
        Commit::GuardFailed => Ok(true),
    }
}

/// Deletes the oldest records beyond `keep` (their keys sort by time). A trail within bounds
/// costs a count, not a read of every record.
fn prune(store: &dyn Store, keep: usize) -> Result<(), Error> {
    let excess = store.keys(layout::AUDIT_PREFIX, Some(0))?.total.saturating_sub(keep);
    if excess == 0 {
        return Ok(());
    }
    let oldest = store.keys(layout::AUDIT_PREFIX, Some(excess))?.keys;
    for chunk in oldest.chunks(sdn_store::TXN_BATCH) {
        let mut txn = Txn::new();
        for (key, _) in chunk {
            txn = txn.delete(key.clone());
        }
        store.commit(txn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_the_newest_records_and_leaves_a_trail_within_bounds_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = sdn_store::SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let actor = Actor::server();
        // Older first; more than one batch beyond what is kept.
        for batch in 0..5 {
            let ops = (0..60).map(|i| Entry::new(1_000 + batch * 60 + i, "changes", &actor).op()).collect();
            store.commit(Txn { guards: vec![], ops }).unwrap();
        }
        prune(&store, 120).unwrap();
        let kept = list(&store, &Filter { limit: 1_000, ..Filter::default() }).unwrap();
        assert_eq!(kept.len(), 120);
        // The 120 newest of the 300: written at 1,180..1,299 ms.
        let (entries, _) = store.list(layout::AUDIT_PREFIX).unwrap();
        assert!(entries.first().unwrap().key.starts_with(&format!("{}{:016}", layout::AUDIT_PREFIX, 1_180)));
        let revision = store.revision().unwrap();
        prune(&store, 120).unwrap();
        assert_eq!(store.revision().unwrap(), revision, "within bounds: nothing written");
    }
}
