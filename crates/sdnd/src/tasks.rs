//! Tasks: PVE's UPIDs and the records behind `/nodes/{node}/tasks/{upid}/...`.

use serde_json::{json, Value};
use sdn_wire::TaskStatus;

use sdn_store::Store;

use crate::error::Error;
pub use crate::layout::TaskRecord;
use crate::layout;

/// Every task record with its UPID, newest first.
pub fn list(store: &dyn Store) -> Result<Vec<(Upid, TaskRecord)>, Error> {
    let (entries, _) = store.list(layout::TASKS_PREFIX)?;
    let mut tasks: Vec<(Upid, TaskRecord)> = entries
        .iter()
        .filter_map(|entry| serde_json::from_slice::<TaskRecord>(&entry.value).ok())
        .filter_map(|record| Some((record.upid.parse::<Upid>().ok()?, record)))
        .collect();
    tasks.sort_by(|(a, _), (b, _)| b.starttime.cmp(&a.starttime).then_with(|| b.to_string().cmp(&a.to_string())));
    Ok(tasks)
}

/// How many finished tasks of each node are kept; older ones are pruned. PVE's task index
/// rotates at about a thousand entries too.
pub const RETENTION: usize = 1_000;

/// The UPIDs under [`layout::TASKS_PREFIX`] with their store key and its revision, from a
/// keys-only listing: what a sweep over the tasks needs before it reads any record.
pub fn keys(store: &dyn Store) -> Result<Vec<(Upid, String, sdn_store::Revision)>, Error> {
    let listed = store.keys(layout::TASKS_PREFIX, None)?;
    Ok(listed
        .keys
        .into_iter()
        .filter_map(|(key, revision)| Some((key.strip_prefix(layout::TASKS_PREFIX)?.parse::<Upid>().ok()?, key, revision)))
        .collect())
}

/// Deletes the oldest finished tasks of `node` beyond `keep`; a running task stays, however
/// old. Each delete is guarded on the record being as read.
pub fn prune(store: &dyn Store, node: &str, keep: usize) -> Result<(), Error> {
    let mut mine: Vec<_> = keys(store)?.into_iter().filter(|(upid, ..)| upid.node == node).collect();
    let Some(excess) = mine.len().checked_sub(keep).filter(|excess| *excess > 0) else {
        return Ok(());
    };
    mine.sort_by_key(|(upid, ..)| upid.starttime);
    for chunk in mine[..excess].chunks(sdn_store::TXN_BATCH) {
        let keys: Vec<&str> = chunk.iter().map(|(_, key, _)| key.as_str()).collect();
        let mut txn = sdn_store::Txn::new();
        for entry in store.get_many(&keys)?.into_iter().flatten() {
            let finished = serde_json::from_slice::<TaskRecord>(&entry.value).is_ok_and(|record| record.exitstatus.is_some());
            if finished {
                txn = txn.unchanged(entry.key.clone(), entry.mod_revision).delete(entry.key);
            }
        }
        // A record changed meanwhile fails the guard: it is looked at again next time.
        if !txn.ops.is_empty() {
            store.commit(txn)?;
        }
    }
    Ok(())
}

/// The record of the task `upid`; 404 if there is none.
pub fn read(store: &dyn Store, upid: &Upid) -> Result<TaskRecord, Error> {
    let text = upid.to_string();
    let entry = store.get(&layout::task(&text))?.ok_or_else(|| Error::NotFound(format!("no such task '{text}'")))?;
    serde_json::from_slice(&entry.value)
        .map_err(|err| Error::Internal(format!("task record of '{text}' is unreadable: {err}")))
}

pub use sdn_wire::Upid;

/// This process's start time in clock ticks since boot, as PVE puts it in UPIDs.
pub fn process_start_ticks() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Field 22; skip past the command name, which may contain spaces.
            let after_comm = stat.rsplit_once(')')?.1;
            after_comm.split_whitespace().nth(19)?.parse().ok()
        })
        .unwrap_or(0)
}

impl TaskRecord {
    pub fn start(upid: &Upid, first_line: String) -> Self {
        Self { upid: upid.to_string(), exitstatus: None, endtime: None, log: vec![first_line], nodes: Vec::new() }
    }

    /// One entry of a task list, as PVE's `/nodes/{node}/tasks` has it: `status` (the exit
    /// status) and `endtime` only once the task stopped.
    pub fn list_entry(&self, upid: &Upid) -> Value {
        let mut entry = json!({
            "upid": self.upid,
            "node": upid.node,
            "pid": upid.pid,
            "pstart": upid.pstart,
            "starttime": upid.starttime,
            "type": upid.task_type,
            "id": upid.id,
            "user": upid.user,
        });
        if let Some(exit) = &self.exitstatus {
            entry["status"] = json!(exit);
        }
        if let Some(end) = self.endtime {
            entry["endtime"] = json!(end);
        }
        entry
    }

    /// PVE's status classes: `ok`, `warning`, `error`, or `unknown` while it runs.
    pub fn status_class(&self) -> &'static str {
        match self.exitstatus.as_deref() {
            None => "unknown",
            Some("OK") => "ok",
            Some(exit) if exit.starts_with("WARNINGS: ") => "warning",
            Some(_) => "error",
        }
    }

    /// The `/status` answer.
    pub fn status(&self, upid: &Upid) -> TaskStatus {
        TaskStatus::new(upid, self.exitstatus.clone())
    }

    /// The `/log` answer: lines numbered from 1, `start` lines skipped, at most `limit`.
    pub fn log_json(&self, start: usize, limit: usize) -> Value {
        let last = self.exitstatus.as_ref().map(|exit| match exit.as_str() {
            "OK" => "TASK OK".to_string(),
            warnings if warnings.starts_with("WARNINGS: ") => format!("TASK {warnings}"),
            error => format!("TASK ERROR: {error}"),
        });
        let lines = self.log.iter().chain(last.as_ref());
        let numbered = lines.enumerate().skip(start).take(limit);
        Value::Array(numbered.map(|(i, line)| json!({ "n": i + 1, "t": line })).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ends_with_task_status() {
        let upid: Upid = "UPID:n:00000001:00000002:00000003:t::u:".parse().unwrap();
        let mut record = TaskRecord::start(&upid, "start".into());
        record.exitstatus = Some("OK".into());
        assert_eq!(record.log_json(0, 50), json!([{"n":1,"t":"start"},{"n":2,"t":"TASK OK"}]));
        record.exitstatus = Some("node n2 failed".into());
        assert_eq!(record.log_json(1, 50), json!([{"n":2,"t":"TASK ERROR: node n2 failed"}]));
        assert_eq!(record.status(&upid).status, sdn_wire::TaskRunState::Stopped);
    }

    /// Writes a task of `node` started at `starttime`, finished or still running.
    fn task(store: &dyn Store, node: &str, starttime: i64, finished: bool) -> String {
        let upid = format!("UPID:{node}:00000001:00000002:{starttime:08X}:reloadnetworkall:{starttime}:root@pam:");
        let mut record = TaskRecord::start(&upid.parse().unwrap(), "start".into());
        if finished {
            record.exitstatus = Some("OK".into());
        }
        let key = layout::task(&upid);
        store.commit(sdn_store::Txn::new().put(key.clone(), serde_json::to_vec(&record).unwrap())).unwrap();
        key
    }

    #[test]
    fn pruning_drops_a_nodes_oldest_finished_tasks_and_keeps_running_ones_and_other_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let store = sdn_store::SqliteStore::open(&dir.path().join("s.db")).unwrap();
        // Started in the order of their start times, not of their keys (pid and pstart equal).
        let running = task(&store, "a", 100, false);
        let a: Vec<String> = [500, 200, 400, 300, 600].into_iter().map(|t| task(&store, "a", t, true)).collect();
        let b: Vec<String> = [50, 60, 70].into_iter().map(|t| task(&store, "b", t, true)).collect();
        prune(&store, "a", 3).unwrap();
        let left: Vec<String> = store.keys(layout::TASKS_PREFIX, None).unwrap().keys.into_iter().map(|(key, _)| key).collect();
        // The three oldest of `a` are the running one (kept), 200 and 300 (pruned).
        let mut kept = vec![running, a[0].clone(), a[2].clone(), a[4].clone()];
        kept.extend(b);
        kept.sort();
        assert_eq!(left, kept);
        let revision = store.revision().unwrap();
        prune(&store, "a", 4).unwrap();
        assert_eq!(store.revision().unwrap(), revision, "within bounds: nothing written");
    }
}
