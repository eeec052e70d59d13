//! Where the SDN state lives in the store. One entry per object keeps a change O(1) in the
//! size of the configuration; the marker entries let a reader tell cheaply whether its cached
//! copy is current.

use sdn_config::Kind;

/// Every pending (current) object lives below this prefix, as `sdn/pending/<kind>/<id>`.
pub const PENDING_PREFIX: &str = "sdn/pending/";
/// Rewritten by every transaction that changes a pending object: its revision identifies the
/// pending configuration. It sorts inside `PENDING_PREFIX`, so one listing reads both.
pub const PENDING_MARK: &str = "sdn/pending/~rev";
/// The running configuration, exactly the `.running-config` JSON text.
pub const RUNNING_CONFIG: &str = "sdn/running/config";
/// The running version number, rewritten with `RUNNING_CONFIG`.
pub const RUNNING_VERSION: &str = "sdn/running/version";
pub const RUNNING_PREFIX: &str = "sdn/running/";
/// The global lock: a hash of its token plus holder metadata. Never returned by any GET.
pub const LOCK: &str = "sdn/lock";

pub fn object(kind: Kind, id: &str) -> String {
    format!("{PENDING_PREFIX}{}/{id}", kind.path_segment())
}

/// A task record (apply), by UPID.
pub fn task(upid: &str) -> String {
    format!("tasks/{upid}")
}

/// A node agent's registration and last apply report.
pub fn node_status(node: &str) -> String {
    format!("nodes/{node}/sdn")
}

pub const NODES_PREFIX: &str = "nodes/";
