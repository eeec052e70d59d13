//! The store layout: every key sdnd writes and every record stored under it, in one file.
//!
//! One entry per SDN object keeps a change O(1) in the size of the configuration; the marker
//! entries let a reader tell cheaply whether its cached copy is current. Node agents publish
//! their reports and their files under prefixes of their own, so that whoever waits for reports
//! (an apply task) is not woken by a node republishing its files.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use sdn_config::Kind;

// --- The SDN configuration -------------------------------------------------------------

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
/// The global lock, a [`LockRecord`]. Never returned by any GET.
pub const LOCK: &str = "sdn/lock";

/// The key of one pending object.
pub fn object(kind: Kind, id: &str) -> String {
    format!("{PENDING_PREFIX}{}/{id}", kind.path_segment())
}

/// The stored lock: who holds it and a hash of its secret token (the token itself is only
/// ever in the response that created it). Times are epoch milliseconds, so that a one-second
/// lock lasts a second whenever within a second it was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredLock")]
pub struct LockRecord {
    pub token_sha256: String,
    pub holder: String,
    pub since_ms: i64,
    pub expires_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A lock record as stored by this or an earlier version (which kept whole seconds in
/// `since` and `expires`).
#[derive(Deserialize)]
struct StoredLock {
    token_sha256: String,
    holder: String,
    since_ms: Option<i64>,
    expires_ms: Option<i64>,
    since: Option<i64>,
    expires: Option<i64>,
    comment: Option<String>,
}

impl From<StoredLock> for LockRecord {
    fn from(stored: StoredLock) -> Self {
        LockRecord {
            token_sha256: stored.token_sha256,
            holder: stored.holder,
            since_ms: stored.since_ms.or(stored.since.map(|s| s.saturating_mul(1000))).unwrap_or(0),
            expires_ms: stored.expires_ms.or(stored.expires.map(|s| s.saturating_mul(1000))),
            comment: stored.comment,
        }
    }
}

// --- History, confirm windows, audit ------------------------------------------------------

/// What is known of each applied version, as `sdn/versions/meta/<version, 20 digits>`: small,
/// so that listing the history does not read the configurations.
pub const VERSIONS_META_PREFIX: &str = "sdn/versions/meta/";
/// Each applied version's running-config JSON text, as `sdn/versions/config/<version>`.
pub const VERSIONS_CONFIG_PREFIX: &str = "sdn/versions/config/";

pub fn version_meta(version: u64) -> String {
    format!("{VERSIONS_META_PREFIX}{version:020}")
}

pub fn version_config(version: u64) -> String {
    format!("{VERSIONS_CONFIG_PREFIX}{version:020}")
}

/// One applied version, without its configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionMeta {
    pub version: u64,
    /// When it was applied, epoch seconds.
    pub time: i64,
    /// Who applied it (user or token id; `sdnd` for a revert by itself).
    pub user: String,
    /// The apply task that made it.
    pub upid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// False while a confirmed apply of it awaits confirmation, and for good if it was
    /// reverted.
    pub confirmed: bool,
}

/// The outstanding confirmed apply, if any. Its deadline is in the store, so that a restart or
/// another node keeps it.
pub const CONFIRM: &str = "sdn/confirm";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConfirmWindow {
    /// The version that awaits confirmation.
    pub version: u64,
    /// The version that was running before, reverted to unless confirmed (0: nothing was).
    pub previous: u64,
    /// Epoch milliseconds after which sdnd reverts by itself.
    pub deadline_ms: i64,
    /// The apply task of `version`.
    pub upid: String,
    pub user: String,
    /// The token hash of the lock the apply was made under, if it was: that lock is kept until
    /// the confirm (which takes its token) or the revert, and released then.
    pub lock_sha256: Option<String>,
    /// Release the lock on confirm (the apply's `release-lock`).
    pub release_lock: bool,
    /// Revert at once when a node reports a failed apply of `version`.
    pub revert_on_failure: bool,
}

impl ConfirmWindow {
    /// The deadline in epoch seconds, rounded up: never earlier than the revert.
    pub fn deadline(&self) -> i64 {
        self.deadline_ms.div_euclid(1000) + i64::from(self.deadline_ms.rem_euclid(1000) != 0)
    }
}

/// A copy of a lock's expiry, written with every lock that has a ttl and removed with it: the
/// lock entry itself may vanish by itself (an etcd lease), and this lets sdnd still record
/// that the lock expired.
pub const LOCK_EXPIRY: &str = "sdn/lock-expiry";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockExpiry {
    pub holder: String,
    pub since_ms: i64,
    pub expires_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The audit trail, as `audit/<epoch ms, 16 digits>-<random>-<n>`: key order is time order.
pub const AUDIT_PREFIX: &str = "audit/";

pub fn audit(time_ms: i64, unique: &str, n: usize) -> String {
    format!("{AUDIT_PREFIX}{:016}-{unique}-{n:03}", time_ms.max(0))
}

/// One audit record. Never holds a lock token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditRecord {
    /// Epoch seconds.
    pub time: i64,
    /// `lock`, `unlock`, `force-unlock`, `expire`, `apply`, `rollback`, `restore`, `confirm`,
    /// `revert` or `changes`.
    pub action: String,
    /// The user or token id (`sdnd` for what the server did by itself).
    pub user: String,
    /// The client's address (empty for what the server did by itself).
    pub client: String,
    pub comment: Option<String>,
    /// `ok`: records are written only with the change they record.
    pub result: String,
    /// The version the action made or concerns.
    pub version: Option<u64>,
    pub detail: Option<String>,
}

// --- Tasks -------------------------------------------------------------------------------

pub const TASKS_PREFIX: &str = "tasks/";

/// A task record (apply), by UPID.
pub fn task(upid: &str) -> String {
    format!("{TASKS_PREFIX}{upid}")
}

/// What the store keeps per task.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TaskRecord {
    pub upid: String,
    /// `None` while running; `OK` or an error message once stopped.
    pub exitstatus: Option<String>,
    pub endtime: Option<i64>,
    pub log: Vec<String>,
    /// The nodes an apply task waits for besides the registered agents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
}

// --- Nodes ---------------------------------------------------------------------------------

/// Each node agent's [`NodeReport`], as `node-reports/<node>`.
pub const NODE_REPORTS_PREFIX: &str = "node-reports/";
/// Each node agent's [`NodeFiles`], as `node-files/<node>`.
pub const NODE_FILES_PREFIX: &str = "node-files/";
/// Where earlier versions kept both (`nodes/<node>/sdn`, `nodes/<node>/files`); an agent
/// moves its own entries out of there when it starts.
pub const LEGACY_NODES_PREFIX: &str = "nodes/";

pub fn node_report(node: &str) -> String {
    format!("{NODE_REPORTS_PREFIX}{node}")
}

pub fn node_files(node: &str) -> String {
    format!("{NODE_FILES_PREFIX}{node}")
}

/// What a node agent reports about itself (also its registration: `version` 0 before its
/// first apply).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeReport {
    pub node: String,
    /// The running version this node last applied successfully.
    pub version: u64,
    /// The version of its last attempt (equal to `version` unless that attempt failed).
    pub attempted: u64,
    /// When it last attempted (epoch seconds).
    pub time: i64,
    /// Why the last attempt failed, if it did.
    pub error: Option<String>,
    /// What the last attempt skipped (the rest of the node's files was written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<NodeWarning>,
}

/// Something a node's generation skipped: which zone or vnet did not reach it, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeWarning {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vnet: Option<String>,
    pub message: String,
}

impl From<&sdn_gen::Warning> for NodeWarning {
    fn from(warning: &sdn_gen::Warning) -> Self {
        NodeWarning { zone: warning.zone.clone(), vnet: warning.vnet.clone(), message: warning.message.clone() }
    }
}

/// Each node agent's [`DhcpReport`], as `node-dhcp/<node>`: rewritten by its DHCP side when
/// what failed there changes.
pub const NODE_DHCP_PREFIX: &str = "node-dhcp/";

pub fn node_dhcp(node: &str) -> String {
    format!("{NODE_DHCP_PREFIX}{node}")
}

/// What failed in a node's last DHCP pass (its dnsmasq files not written, its dnsmasq not
/// reloaded), one entry per zone (`zone` always set); empty once a pass succeeded.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DhcpReport {
    pub node: String,
    #[serde(default)]
    pub errors: Vec<NodeWarning>,
}

/// Each node agent's [`Heartbeat`], as `node-heartbeats/<node>`: rewritten every few seconds
/// while the agent lives, under a prefix nobody waits on.
pub const NODE_HEARTBEATS_PREFIX: &str = "node-heartbeats/";

pub fn node_heartbeat(node: &str) -> String {
    format!("{NODE_HEARTBEATS_PREFIX}{node}")
}

/// A node agent's sign of life.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    pub node: String,
    /// When it was sent, epoch milliseconds (of the node's clock).
    pub time_ms: i64,
    /// The SHA-256 fingerprint of the certificate this node's API serves, if it serves one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The node's load, as PVE's node lists show it (where the agent could read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<NodeStats>,
    /// Each fabric of the node: `ok` while FRR has routes through its interfaces, else
    /// `not ok` (PVE's fabric status).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fabrics: BTreeMap<String, String>,
}

/// A node's uptime, CPU and memory, as PVE reports them for a node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeStats {
    /// Seconds since boot.
    pub uptime: i64,
    /// CPU utilization since the previous heartbeat, 0..1.
    pub cpu: f64,
    pub maxcpu: i64,
    /// Used memory, bytes.
    pub mem: i64,
    pub maxmem: i64,
}

/// What a node publishes so that any API node can compute its dry-run diff.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeFiles {
    pub facts: Value,
    pub host_interfaces: String,
    pub frr_local: Option<String>,
    pub current_interfaces: Option<String>,
    pub current_frr: Option<String>,
}

/// Status queries for a node's agent (its FRR's routes, neighbors, ...), as
/// `node-queries/<node>/<id>`: a [`NodeQueryRecord`] the agent answers under
/// `node-answers/<node>/<id>` with a [`NodeAnswerRecord`]. Both expire by themselves, so
/// that a server that gave up waiting leaves nothing behind.
pub const NODE_QUERIES_PREFIX: &str = "node-queries/";
pub const NODE_ANSWERS_PREFIX: &str = "node-answers/";

/// Where `node`'s queries wait.
pub fn node_queries(node: &str) -> String {
    format!("{NODE_QUERIES_PREFIX}{node}/")
}

pub fn node_query(node: &str, id: &str) -> String {
    format!("{NODE_QUERIES_PREFIX}{node}/{id}")
}

pub fn node_answer(node: &str, id: &str) -> String {
    format!("{NODE_ANSWERS_PREFIX}{node}/{id}")
}

/// A question for one node's agent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeQueryRecord {
    /// When it was asked, epoch milliseconds (of the asking server's clock).
    pub asked_ms: i64,
    pub query: crate::node_query::NodeQuery,
}

/// The agent's answer: the API's answer data, or why it could not be had.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum NodeAnswerRecord {
    Ok(Value),
    Error(String),
}

// --- Access control ------------------------------------------------------------------------
// The rules that read these records live in `auth`.

pub const USERS_PREFIX: &str = "access/users/";
pub const TOKENS_PREFIX: &str = "access/tokens/";
pub const ACLS_PREFIX: &str = "access/acl/";
pub const ROLES_PREFIX: &str = "access/roles/";
/// The cluster's ticket signing key (random bytes, created on first use).
pub const TICKET_KEY: &str = "access/ticket-key";
/// Rewritten in the same transaction as every change to users, tokens, ACLs and roles, so a
/// server may keep its parsed access data for as long as this entry's revision stays put.
pub const ACCESS_GENERATION: &str = "access-generation";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserRecord {
    pub enable: bool,
    /// Epoch seconds after which the account is refused; 0 = never.
    pub expire: i64,
    /// Argon2id PHC string; `None`: no password login.
    pub password_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRecord {
    /// SHA-256 of the secret (a random UUID: no slow hash needed).
    pub secret_sha256: String,
    /// Privilege separation: the token's own ACL, intersected with its user's privileges.
    pub privsep: bool,
    /// 0 = never.
    pub expire: i64,
    pub created: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoleRecord {
    pub privs: BTreeSet<String>,
}

/// Who an ACL entry is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Subject {
    /// `USER@REALM`
    User(String),
    /// `USER@REALM!TOKENID`
    Token(String),
}

/// One ACL entry: roles granted to a subject on a path, each with its propagate flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    pub path: String,
    pub subject: Subject,
    pub roles: BTreeMap<String, bool>,
}

// --- The PVE IPAM ----------------------------------------------------------------------------
// The reference's `sdn/pve-ipam-state.json` (zone -> subnet -> address), one entry per subnet
// and per address so that an allocation costs the same however many addresses are taken. It is
// not part of the pending or running configuration: like the reference's file, it changes when
// a subnet is created or deleted and when an address is allocated, never on apply. The rules
// that read and write these entries live in `ipam`.

/// Everything of the PVE IPAM; the node agents watch it (their `ethers` files follow it).
pub const IPAM_PREFIX: &str = "ipam/pve/";
/// The registered subnets, as `ipam/pve/subnets/<zone>/<network>-<prefixlen>`, each a
/// [`IpamSubnetRecord`]. Rewritten by every change of the subnet's addresses, so that a
/// transaction guarded on it sees every change made to the subnet since it read it.
pub const IPAM_SUBNETS_PREFIX: &str = "ipam/pve/subnets/";
/// Each allocated address, as `ipam/pve/ips/<zone>/<network>-<prefixlen>/<address>`, an
/// [`IpRecord`].
pub const IPAM_IPS_PREFIX: &str = "ipam/pve/ips/";
/// Where the next allocation in a DHCP range starts looking, as
/// `ipam/pve/next/<zone>/<network>-<prefixlen>/<start>-<end>` (the address as text).
pub const IPAM_NEXT_PREFIX: &str = "ipam/pve/next/";
/// Each MAC's addresses in a zone, as `ipam/pve/macs/<zone>/<mac>`, an `ipam::MacRecord`
/// (the reference's `mac-cache.json`).
pub const IPAM_MACS_PREFIX: &str = "ipam/pve/macs/";

/// The key part of a subnet: `<zone>/<network>-<prefixlen>`.
pub fn ipam_subnet_part(zone: &str, cidr: &sdn_config::Cidr) -> String {
    let network = cidr.network();
    format!("{zone}/{}-{}", network.addr(), network.prefix())
}

pub fn ipam_subnet(zone: &str, cidr: &sdn_config::Cidr) -> String {
    format!("{IPAM_SUBNETS_PREFIX}{}", ipam_subnet_part(zone, cidr))
}

/// The prefix of every address of one subnet.
pub fn ipam_ips_of(zone: &str, cidr: &sdn_config::Cidr) -> String {
    format!("{IPAM_IPS_PREFIX}{}/", ipam_subnet_part(zone, cidr))
}

pub fn ipam_ip(zone: &str, cidr: &sdn_config::Cidr, ip: std::net::IpAddr) -> String {
    format!("{}{ip}", ipam_ips_of(zone, cidr))
}

/// The prefix of every range cursor of one subnet.
pub fn ipam_next_of(zone: &str, cidr: &sdn_config::Cidr) -> String {
    format!("{IPAM_NEXT_PREFIX}{}/", ipam_subnet_part(zone, cidr))
}

pub fn ipam_next(zone: &str, cidr: &sdn_config::Cidr, start: std::net::IpAddr, end: std::net::IpAddr) -> String {
    format!("{}{start}-{end}", ipam_next_of(zone, cidr))
}

pub fn ipam_mac(zone: &str, mac: &str) -> String {
    format!("{IPAM_MACS_PREFIX}{zone}/{}", mac.to_ascii_lowercase())
}

/// A registered subnet of the PVE IPAM.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IpamSubnetRecord {
    pub zone: String,
    /// `10.0.0.0/24`, as the reference's state file keys it.
    pub cidr: String,
    /// How many changes its addresses have seen (what makes each change rewrite this entry).
    #[serde(default)]
    pub changes: u64,
}

/// One allocated address: the subnet's gateway, or a guest's (any of MAC, hostname, VM id).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IpRecord {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gateway: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// As the reference keeps it: text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmid: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_records_of_earlier_versions_read_in_milliseconds() {
        let old = r#"{"token_sha256":"ab","holder":"root@pam","since":1000,"expires":1060}"#;
        let lock: LockRecord = serde_json::from_str(old).unwrap();
        assert_eq!((lock.since_ms, lock.expires_ms), (1_000_000, Some(1_060_000)));
        let again: LockRecord = serde_json::from_str(&serde_json::to_string(&lock).unwrap()).unwrap();
        assert_eq!(again, lock);
    }
}
