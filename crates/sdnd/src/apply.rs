//! The apply task: created in the same transaction as the new running version, finished once
//! every node has reported that version (or failed, or the timeout passed).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sdn_store::{Op, Store, Txn};

use crate::app::App;
use crate::auth::Caller;
use crate::sdn::keys;
use crate::tasks::{TaskRecord, Upid};

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
}

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
    fn outcome(&self, version: u64) -> Option<Result<(), &str>> {
        if self.version >= version {
            Some(Ok(()))
        } else if self.attempted >= version {
            Some(Err(self.error.as_deref().unwrap_or("unknown error")))
        } else {
            None
        }
    }
}

/// Builds the UPID and the task record's store write for a new apply of `version`, which
/// waits for every registered node agent and for every node in `named` (the nodes the
/// configuration names).
pub fn start_task(app: &App, caller: &Caller, version: u64, named: Vec<String>) -> (Upid, Op) {
    let upid = Upid {
        node: app.node.clone(),
        pid: std::process::id(),
        pstart: app.pstart,
        starttime: crate::now(),
        task_type: "reloadnetworkall".into(),
        id: version.to_string(),
        user: caller.auth_id(),
    };
    let mut record = TaskRecord::start(&upid, format!("applying SDN configuration version {version}"));
    record.nodes = named;
    let op = Op::Put { key: keys::task(&upid.to_string()), value: encode(&record) };
    (upid, op)
}

fn encode(record: &TaskRecord) -> Vec<u8> {
    serde_json::to_vec(record).unwrap_or_default()
}

/// Follows the apply task of `version` on a background thread until it can be finished.
pub fn watch_task(app: &App, upid: Upid, version: u64) {
    let store = app.store.clone();
    let timeout = app.apply_timeout;
    let spawned = std::thread::Builder::new()
        .name("apply-task".into())
        .spawn(move || finish_task(store, upid, version, timeout));
    if let Err(err) = spawned {
        tracing::error!("could not start the apply task watcher: {err}");
    }
}

/// Restarts the watchers of this node's tasks that were still running when it stopped.
pub fn resume_tasks(app: &App) {
    let Ok((entries, _)) = app.store.list("tasks/") else { return };
    for entry in entries {
        let Ok(record) = serde_json::from_slice::<TaskRecord>(&entry.value) else { continue };
        let Ok(upid) = record.upid.parse::<Upid>() else { continue };
        if record.exitstatus.is_none() && upid.node == app.node {
            let version = upid.id.parse().unwrap_or(0);
            watch_task(app, upid, version);
        }
    }
}

/// The nodes an apply waits for: every registered node agent.
fn reports(store: &dyn Store) -> BTreeMap<String, NodeReport> {
    let Ok((entries, _)) = store.list(keys::NODES_PREFIX) else { return BTreeMap::new() };
    entries
        .iter()
        .filter_map(|entry| serde_json::from_slice::<NodeReport>(&entry.value).ok())
        .map(|report| (report.node.clone(), report))
        .collect()
}

/// The outcome per node: every registered agent and every node the configuration names.
/// `None` for a named node that never registered.
fn outcomes(store: &dyn Store, named: &[String]) -> BTreeMap<String, Option<NodeReport>> {
    let mut all: BTreeMap<String, Option<NodeReport>> = named.iter().map(|n| (n.clone(), None)).collect();
    for (node, report) in reports(store) {
        all.insert(node, Some(report));
    }
    all
}

fn finish_task(store: Arc<dyn Store>, upid: Upid, version: u64, timeout: Duration) {
    let key = keys::task(&upid.to_string());
    let mut record = match store.get(&key) {
        Ok(Some(entry)) => serde_json::from_slice(&entry.value).unwrap_or_else(|_| TaskRecord::start(&upid, String::new())),
        _ => TaskRecord::start(&upid, String::new()),
    };
    let deadline = Instant::now() + timeout;
    let mut revision = 0;
    let outcome = loop {
        let nodes = outcomes(store.as_ref(), &record.nodes);
        let done = nodes.values().all(|r| r.as_ref().is_some_and(|r| r.outcome(version).is_some()));
        if done || Instant::now() >= deadline {
            break nodes;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        match store.wait_for_change(keys::NODES_PREFIX, revision, remaining.min(Duration::from_secs(5))) {
            Ok(rev) => revision = rev,
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };

    let mut failed = Vec::new();
    if outcome.is_empty() {
        record.log.push("no node agent is registered; nodes render this version when their agent starts".into());
    }
    for (node, report) in &outcome {
        let line = match report.as_ref().and_then(|r| r.outcome(version)) {
            Some(Ok(())) => format!("{node}: applied version {version}"),
            Some(Err(error)) => {
                failed.push(node.clone());
                format!("{node}: failed to apply version {version}: {error}")
            }
            None if report.is_none() => {
                failed.push(node.clone());
                format!("{node}: named in the configuration, but no node agent has ever reported from it")
            }
            None => {
                failed.push(node.clone());
                format!("{node}: did not report version {version} within {}s", timeout.as_secs())
            }
        };
        record.log.push(line);
    }
    record.exitstatus = Some(if failed.is_empty() {
        "OK".to_string()
    } else {
        format!("{} node(s) did not apply version {version}: {}", failed.len(), failed.join(", "))
    });
    record.endtime = Some(crate::now());
    if let Err(err) = store.commit(Txn::new().put(key, encode(&record))) {
        tracing::error!("could not record the end of task {upid}: {err}");
    }
}
