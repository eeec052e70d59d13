//! What the node agents report: each node's last apply, the files it published for dry-runs,
//! and where it stands against the running version.

use std::collections::BTreeMap;

use sdn_store::{Store, Txn};

use crate::error::Error;
use crate::layout::{self, NodeFiles, NodeReport};

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
        || !store.list(&legacy_prefix(node))?.0.is_empty();
    if known {
        store.commit(
            Txn::new()
                .delete(layout::node_report(node))
                .delete(layout::node_files(node))
                .delete_prefix(legacy_prefix(node)),
        )?;
    }
    Ok(known)
}

/// Where earlier versions kept this node's entries.
pub fn legacy_prefix(node: &str) -> String {
    format!("{}{node}/", layout::LEGACY_NODES_PREFIX)
}
