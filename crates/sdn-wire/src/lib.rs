//! sdn-wire: the values sdnd's server and its clients (`sdnctl`) both speak, typed once.
//!
//! A PVE task id ([`Upid`]), the secret [`LockToken`], and the answers of
//! `GET /cluster/sdn/lock` ([`LockStatus`]), `GET /nodes/{node}/tasks/{upid}/status`
//! ([`TaskStatus`]) and the per-node SDN state ([`SdnStatus`]). No logic beyond reading and
//! writing them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A PVE task id: `UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{type}:{id}:{user}:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid {
    /// The node that runs the task, where its status is read.
    pub node: String,
    pub pid: u32,
    /// The process's start time in clock ticks since boot.
    pub pstart: u64,
    /// Epoch seconds.
    pub starttime: i64,
    pub task_type: String,
    pub id: String,
    /// `USER@REALM` or `USER@REALM!TOKENID`.
    pub user: String,
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
            self.node, self.pid, self.pstart, self.starttime, self.task_type, self.id, self.user
        )
    }
}

impl FromStr for Upid {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = || format!("'{text}' is not a task id (UPID:NODE:PID:PSTART:STARTTIME:TYPE:ID:USER:)");
        let fields: Vec<&str> = text.split(':').collect();
        if fields.len() != 9 || fields[0] != "UPID" || !fields[8].is_empty() || fields[1].is_empty() {
            return Err(invalid());
        }
        let hex = |s: &str| {
            if s.len() >= 8 && s.len() <= 16 && s.chars().all(|c| c.is_ascii_hexdigit()) {
                u64::from_str_radix(s, 16).ok()
            } else {
                None
            }
        };
        Ok(Upid {
            node: fields[1].to_string(),
            pid: hex(fields[2]).and_then(|v| u32::try_from(v).ok()).ok_or_else(invalid)?,
            pstart: hex(fields[3]).ok_or_else(invalid)?,
            starttime: hex(fields[4]).and_then(|v| i64::try_from(v).ok()).ok_or_else(invalid)?,
            task_type: fields[5].to_string(),
            id: fields[6].to_string(),
            user: fields[7].to_string(),
        })
    }
}

impl Serialize for Upid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Upid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// The secret a `POST /cluster/sdn/lock` returns; every change under the lock carries it.
/// Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct LockToken(String);

impl LockToken {
    /// A new random token: a version 4 UUID (122 random bits, the shape clients know).
    pub fn generate() -> LockToken {
        LockToken(uuid::Uuid::new_v4().to_string())
    }

    /// A token as a client received it.
    pub fn new(token: impl Into<String>) -> Self {
        LockToken(token.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LockToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockToken(***)")
    }
}

/// `GET /cluster/sdn/lock`: who holds the global SDN lock, since and until when (epoch
/// seconds), and why. Never the token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockStatus {
    #[serde(serialize_with = "as_01", deserialize_with = "truthy")]
    pub locked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Whether a task still runs, as `/status` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskRunState {
    Running,
    Stopped,
}

/// `GET /nodes/{node}/tasks/{upid}/status`, field for field as PVE answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub upid: Upid,
    pub node: String,
    pub pid: u32,
    pub pstart: u64,
    pub starttime: i64,
    #[serde(rename = "type")]
    pub task_type: String,
    pub id: String,
    pub user: String,
    pub status: TaskRunState,
    /// `OK` or the error, once stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exitstatus: Option<String>,
}

impl TaskStatus {
    /// The status of `upid`, running or stopped with `exitstatus`.
    pub fn new(upid: &Upid, exitstatus: Option<String>) -> TaskStatus {
        TaskStatus {
            upid: upid.clone(),
            node: upid.node.clone(),
            pid: upid.pid,
            pstart: upid.pstart,
            starttime: upid.starttime,
            task_type: upid.task_type.clone(),
            id: upid.id.clone(),
            user: upid.user.clone(),
            status: if exitstatus.is_some() { TaskRunState::Stopped } else { TaskRunState::Running },
            exitstatus,
        }
    }
}

/// A node's (or one of its zones' or vnets') SDN state, in the reference's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdnStatus {
    /// The running version is applied there.
    Available,
    /// Not applied there yet.
    Pending,
    /// The node's last apply failed.
    Error,
}

impl SdnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SdnStatus::Available => "available",
            SdnStatus::Pending => "pending",
            SdnStatus::Error => "error",
        }
    }
}

fn as_01<S: Serializer>(value: &bool, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u8(u8::from(*value))
}

/// PVE booleans: `1`/`0`, `true`/`false`, or their strings.
fn truthy<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::Number(n) => n.as_u64().is_some_and(|n| n != 0),
        serde_json::Value::String(s) => matches!(s.as_str(), "1" | "true"),
        _ => false,
    })
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
        assert_eq!(text.parse::<Upid>().unwrap(), upid);
        assert_eq!(serde_json::to_value(&upid).unwrap(), serde_json::json!(text));
        for bad in ["UPID:x:1:2:3:a:b:c", "UPID:pve1:ZZZZZZZZ:003C4D5E:674F1A2B:t:i:u:", "UPID:pve1:1", "", "UPID::00000001:00000002:00000003:t::u:"] {
            assert!(bad.parse::<Upid>().is_err(), "{bad}");
        }
    }

    #[test]
    fn lock_status_reads_pve_booleans_and_never_has_a_token_field() {
        let status: LockStatus = serde_json::from_str(r#"{"locked":1,"holder":"root@pam","since":5}"#).unwrap();
        assert!(status.locked && status.holder.as_deref() == Some("root@pam") && status.since == Some(5));
        assert!(!serde_json::from_str::<LockStatus>(r#"{"locked":"0"}"#).unwrap().locked);
        assert_eq!(serde_json::to_value(LockStatus::default()).unwrap(), serde_json::json!({"locked": 0}));
    }

    #[test]
    fn task_status_has_pve_fields() {
        let upid: Upid = "UPID:n:00000001:00000002:00000003:t:7:u@pam:".parse().unwrap();
        let value = serde_json::to_value(TaskStatus::new(&upid, Some("OK".into()))).unwrap();
        assert_eq!(value["type"], "t");
        assert_eq!(value["status"], "stopped");
        assert_eq!(value["exitstatus"], "OK");
        assert_eq!(value["upid"], upid.to_string());
        let running = serde_json::to_value(TaskStatus::new(&upid, None)).unwrap();
        assert_eq!(running["status"], "running");
        assert!(running.get("exitstatus").is_none());
    }

    #[test]
    fn tokens_are_random_and_hidden_from_debug() {
        let (a, b) = (LockToken::generate(), LockToken::generate());
        assert_ne!(a, b);
        assert_eq!(uuid::Uuid::parse_str(a.as_str()).unwrap().get_version(), Some(uuid::Version::Random));
        assert!(!format!("{a:?}").contains(a.as_str()));
    }
}
