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
}
