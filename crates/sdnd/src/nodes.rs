//! What the node agents report: each node's last apply, the files it published for dry-runs,
//! and where it stands against the running version.

use std::collections::BTreeMap;

use sdn_store::{Store, Txn};

use crate::error::Error;
use crate::layout::{self, DhcpReport, Heartbeat, NodeFiles, NodeReport};

/// Where a node stands against the running version, in the reference's terms
/// (`available` / `pending` / `error`, with the reason where it isn't available).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeState {
    Available,
    Pending(&'static str),
    Error(String),
}

impl NodeState {
    /// `report` is what the node's agent last said, if it ever did.
    pub fn of(report: Option<&NodeReport>, running: u64) -> NodeState {
        match report {
            None => NodeState::Pending("local sdn network configuration is not yet generated, please reload"),
            Some(report) if report.version >= running => NodeState::Available,
            Some(NodeReport { error: Some(error), .. }) => NodeState::Error(error.clone()),
            Some(_) => NodeState::Pending("local sdn network configuration is too old, please reload"),
        }
    }

    /// The state of one zone (`vnet: None`) or one vnet of it on the node: where the applied
    /// version skipped it, it is in error there, with the reason.
    pub fn narrowed(self, report: Option<&NodeReport>, zone: &str, vnet: Option<&str>) -> NodeState {
        if self != NodeState::Available {
            return self;
        }
        let skipped = report.into_iter().flat_map(|r| &r.warnings).find(|w| match vnet {
            None => w.zone.as_deref() == Some(zone),
            Some(vnet) => w.vnet.as_deref() == Some(vnet) || (w.zone.as_deref() == Some(zone) && w.vnet.is_none()),
        });
        match skipped {
            Some(warning) => NodeState::Error(warning.message.clone()),
            None => self,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            NodeState::Available => "available",
            NodeState::Pending(_) => "pending",
            NodeState::Error(_) => "error",
        }
    }

    pub fn message(&self) -> Option<&str> {
        match self {
            NodeState::Available => None,
            NodeState::Pending(why) => Some(why),
            NodeState::Error(why) => Some(why),
        }
    }
}

impl NodeReport {
    /// Whether this node is done with `version`: applied it (or a newer one), or failed trying.
    pub fn outcome(&self, version: u64) -> Option<Result<(), &str>> {
        if self.version >= version {
            Some(Ok(()))
        } else if self.attempted >= version {
            Some(Err(self.error.as_deref().unwrap_or("unknown error")))
        } else {
            None
        }
    }
}

/// The last report of `node`'s agent, if it ever sent one.
pub fn report(store: &dyn Store, node: &str) -> Result<Option<NodeReport>, Error> {
    let Some(entry) = store.get(&layout::node_report(node))? else {
        return Ok(None);
    };
    serde_json::from_slice(&entry.value)
        .map(Some)
        .map_err(|err| Error::Internal(format!("status of node '{node}' is unreadable: {err}")))
}

/// Every registered agent's last report, by node name. A store fault is an error, never
/// "no nodes".
pub fn reports(store: &dyn Store) -> Result<BTreeMap<String, NodeReport>, Error> {
    let (entries, _) = store.list(layout::NODE_REPORTS_PREFIX)?;
    Ok(entries
        .iter()
        .filter_map(|entry| serde_json::from_slice::<NodeReport>(&entry.value).ok())
        .map(|report| (report.node.clone(), report))
        .collect())
}

/// What failed in `node`'s last DHCP pass, if its agent ever reported a failure.
pub fn dhcp(store: &dyn Store, node: &str) -> Result<Option<DhcpReport>, Error> {
    let Some(entry) = store.get(&layout::node_dhcp(node))? else {
        return Ok(None);
    };
    serde_json::from_slice(&entry.value)
        .map(Some)
        .map_err(|err| Error::Internal(format!("DHCP status of node '{node}' is unreadable: {err}")))
}

/// Every node's [`dhcp`] report, by node name.
pub fn dhcps(store: &dyn Store) -> Result<BTreeMap<String, DhcpReport>, Error> {
    let (entries, _) = store.list(layout::NODE_DHCP_PREFIX)?;
    Ok(entries
        .iter()
        .filter_map(|entry| serde_json::from_slice::<DhcpReport>(&entry.value).ok())
        .map(|report| (report.node.clone(), report))
        .collect())
}

impl DhcpReport {
    /// The failures, each `zone Z: cause`.
    pub fn messages(&self) -> Vec<String> {
        self.errors.iter().map(|e| format!("zone {}: {}", e.zone.as_deref().unwrap_or("?"), e.message)).collect()
    }
}

/// `report` with the DHCP failures added to what the node skipped, each naming its zone and
/// saying `dhcp: ...`: [`NodeState::narrowed`] then shows those zones (and their vnets) in
/// error.
pub fn with_dhcp(mut report: NodeReport, dhcp: Option<&DhcpReport>) -> NodeReport {
    for error in dhcp.into_iter().flat_map(|d| &d.errors) {
        report.warnings.push(layout::NodeWarning {
            zone: error.zone.clone(),
            vnet: None,
            message: format!("dhcp: {}", error.message),
        });
    }
    report
}

/// The files `node`'s agent last published; 404 naming the way out if it has none.
pub fn files(store: &dyn Store, node: &str) -> Result<NodeFiles, Error> {
    let entry = store.get(&layout::node_files(node))?.ok_or_else(|| {
        Error::NotFound(format!("node '{node}' has no SDN node agent (start it with 'sdnd serve --node {node}')"))
    })?;
    serde_json::from_slice(&entry.value)
        .map_err(|err| Error::Internal(format!("published files of node '{node}' are unreadable: {err}")))
}

/// Forgets a node: its report and its files (a running agent registers again). Returns
/// whether there was anything to forget.
pub fn remove(store: &dyn Store, node: &str) -> Result<bool, Error> {
    let known = store.get(&layout::node_report(node))?.is_some()
        || store.get(&layout::node_files(node))?.is_some()
        || store.get(&layout::node_heartbeat(node))?.is_some()
        || store.get(&layout::node_dhcp(node))?.is_some()
        || !store.list(&legacy_prefix(node))?.0.is_empty();
    if known {
        store.commit(
            Txn::new()
                .delete(layout::node_report(node))
                .delete(layout::node_files(node))
                .delete(layout::node_heartbeat(node))
                .delete(layout::node_dhcp(node))
                .delete_prefix(legacy_prefix(node)),
        )?;
    }
    Ok(known)
}

/// A node agent sends a heartbeat this often...
pub const HEARTBEAT_INTERVAL_MS: i64 = 5_000;
/// ...and counts as offline once none came for this long.
pub const OFFLINE_AFTER_MS: i64 = 20_000;

/// How long this server must have seen the store answer, without a failure, before it takes
/// a stale heartbeat for a dead agent: while the store is down no agent can send one, so
/// right after an outage every heartbeat is stale although every agent is alive.
pub const OFFLINE_GRACE_MS: i64 = 2 * HEARTBEAT_INTERVAL_MS;

/// Since when this server has seen the store answer without a failure in between, kept by
/// everything that reads the store periodically (apply watchers, the task sweeper).
#[derive(Debug, Default)]
pub struct StoreSight {
    answering_since_ms: std::sync::Mutex<Option<i64>>,
}

impl StoreSight {
    /// Records whether the store just answered.
    pub fn saw(&self, answered: bool, now_ms: i64) {
        let mut since = self.answering_since_ms.lock().unwrap_or_else(|poison| poison.into_inner());
        match (answered, *since) {
            (true, None) => *since = Some(now_ms),
            (true, Some(_)) => {}
            (false, _) => *since = None,
        }
    }

    /// Whether a stale heartbeat means a dead agent: the store has answered for long enough
    /// that a live agent would have sent a fresh one.
    pub fn trusts_heartbeats(&self, now_ms: i64) -> bool {
        let since = *self.answering_since_ms.lock().unwrap_or_else(|poison| poison.into_inner());
        since.is_some_and(|since| now_ms - since >= OFFLINE_GRACE_MS)
    }
}

/// Whether a node's agent is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Online { last_seen_ms: i64 },
    Offline { last_seen_ms: Option<i64> },
}

impl Liveness {
    pub fn of(heartbeat: Option<&Heartbeat>, now_ms: i64) -> Liveness {
        match heartbeat {
            Some(beat) if now_ms - beat.time_ms < OFFLINE_AFTER_MS => Liveness::Online { last_seen_ms: beat.time_ms },
            Some(beat) => Liveness::Offline { last_seen_ms: Some(beat.time_ms) },
            None => Liveness::Offline { last_seen_ms: None },
        }
    }

    pub fn is_online(self) -> bool {
        matches!(self, Liveness::Online { .. })
    }

    /// `online` or `offline`, as PVE names node states.
    pub fn name(self) -> &'static str {
        if self.is_online() {
            "online"
        } else {
            "offline"
        }
    }

    /// When the node was last heard of, epoch seconds.
    pub fn last_seen(self) -> Option<i64> {
        match self {
            Liveness::Online { last_seen_ms } | Liveness::Offline { last_seen_ms: Some(last_seen_ms) } => {
                Some(last_seen_ms.div_euclid(1000))
            }
            Liveness::Offline { last_seen_ms: None } => None,
        }
    }
}

/// Every agent's last heartbeat, by node name.
pub fn heartbeats(store: &dyn Store) -> Result<BTreeMap<String, Heartbeat>, Error> {
    let (entries, _) = store.list(layout::NODE_HEARTBEATS_PREFIX)?;
    Ok(entries
        .iter()
        .filter_map(|entry| serde_json::from_slice::<Heartbeat>(&entry.value).ok())
        .map(|beat| (beat.node.clone(), beat))
        .collect())
}

/// Where earlier versions kept this node's entries.
pub fn legacy_prefix(node: &str) -> String {
    format!("{}{node}/", layout::LEGACY_NODES_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_heartbeats_count_only_once_the_store_has_answered_for_the_grace_period() {
        let sight = StoreSight::default();
        assert!(!sight.trusts_heartbeats(0), "never seen the store answer");
        sight.saw(true, 1_000);
        assert!(!sight.trusts_heartbeats(1_000 + OFFLINE_GRACE_MS - 1));
        sight.saw(true, 5_000);
        assert!(sight.trusts_heartbeats(1_000 + OFFLINE_GRACE_MS), "answering since the first success");
        // An outage starts the grace period again from the first answer after it.
        sight.saw(false, 20_000);
        assert!(!sight.trusts_heartbeats(40_000));
        sight.saw(true, 40_000);
        assert!(!sight.trusts_heartbeats(40_000 + OFFLINE_GRACE_MS - 1));
        assert!(sight.trusts_heartbeats(40_000 + OFFLINE_GRACE_MS));
    }
}
