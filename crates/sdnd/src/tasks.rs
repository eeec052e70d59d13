//! Tasks: PVE's UPIDs and the records behind `/nodes/{node}/tasks/{upid}/...`.

use serde_json::{json, Value};

use sdn_store::Store;

use crate::error::Error;
pub use crate::layout::TaskRecord;
use crate::layout;

/// The record of the task `upid`; 404 if there is none.
pub fn read(store: &dyn Store, upid: &Upid) -> Result<TaskRecord, Error> {
    let text = upid.to_string();
    let entry = store.get(&layout::task(&text))?.ok_or_else(|| Error::NotFound(format!("no such task '{text}'")))?;
    serde_json::from_slice(&entry.value)
        .map_err(|err| Error::Internal(format!("task record of '{text}' is unreadable: {err}")))
}

/// A PVE task id: `UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{type}:{id}:{user}:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid {
    pub node: String,
    pub pid: u32,
    pub pstart: u64,
    pub starttime: i64,
    pub task_type: String,
    pub id: String,
    pub user: String,
}

impl std::fmt::Display for Upid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
            self.node, self.pid, self.pstart, self.starttime, self.task_type, self.id, self.user
        )
    }
}

impl std::str::FromStr for Upid {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = || format!("unable to parse UPID '{text}'");
        let fields: Vec<&str> = text.split(':').collect();
        if fields.len() != 9 || fields[0] != "UPID" || !fields[8].is_empty() || fields[1].is_empty() {
            return Err(invalid());
        }
        let hex = |s: &str, width: usize| {
            if s.len() >= width && s.chars().all(|c| c.is_ascii_hexdigit()) {
                u64::from_str_radix(s, 16).ok()
            } else {
                None
            }
        };
        Ok(Upid {
            node: fields[1].to_string(),
            pid: hex(fields[2], 8).and_then(|v| u32::try_from(v).ok()).ok_or_else(invalid)?,
            pstart: hex(fields[3], 8).ok_or_else(invalid)?,
            starttime: hex(fields[4], 8).and_then(|v| i64::try_from(v).ok()).ok_or_else(invalid)?,
            task_type: fields[5].to_string(),
            id: fields[6].to_string(),
            user: fields[7].to_string(),
        })
    }
}

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

    /// The `/status` answer.
    pub fn status_json(&self, upid: &Upid) -> Value {
        let mut status = json!({
            "upid": self.upid,
            "node": upid.node,
            "pid": upid.pid,
            "pstart": upid.pstart,
            "starttime": upid.starttime,
            "type": upid.task_type,
            "id": upid.id,
            "user": upid.user,
            "status": if self.exitstatus.is_some() { "stopped" } else { "running" },
        });
        if let Some(exit) = &self.exitstatus {
            status["exitstatus"] = json!(exit);
        }
        status
    }

    /// The `/log` answer: lines numbered from 1, `start` lines skipped, at most `limit`.
    pub fn log_json(&self, start: usize, limit: usize) -> Value {
        let last = self.exitstatus.as_ref().map(|exit| match exit.as_str() {
            "OK" => "TASK OK".to_string(),
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
    fn upid_round_trips_in_pve_format() {
        let upid = Upid {
            node: "pve1".into(),
            pid: 0x1a2b,
            pstart: 0x3c4d5e,
            starttime: 0x674f1a2b,
            task_type: "reloadnetworkall".into(),
            id: "7".into(),
            user: "root@pam!ci".into(),
        };
        let text = upid.to_string();
        assert_eq!(text, "UPID:pve1:00001A2B:003C4D5E:674F1A2B:reloadnetworkall:7:root@pam!ci:");
        assert_eq!(text.split(':').count(), 9);
        assert_eq!(text.parse::<Upid>().unwrap(), upid);
        assert!("UPID:x:1:2:3:a:b:c".parse::<Upid>().is_err());
        assert!("UPID:pve1:ZZZZZZZZ:003C4D5E:674F1A2B:t:i:u:".parse::<Upid>().is_err());
    }

    #[test]
    fn log_ends_with_task_status() {
        let upid: Upid = "UPID:n:00000001:00000002:00000003:t::u:".parse().unwrap();
        let mut record = TaskRecord::start(&upid, "start".into());
        record.exitstatus = Some("OK".into());
        assert_eq!(record.log_json(0, 50), json!([{"n":1,"t":"start"},{"n":2,"t":"TASK OK"}]));
        record.exitstatus = Some("node n2 failed".into());
        assert_eq!(record.log_json(1, 50), json!([{"n":2,"t":"TASK ERROR: node n2 failed"}]));
        assert_eq!(record.status_json(&upid)["status"], "stopped");
    }
}
