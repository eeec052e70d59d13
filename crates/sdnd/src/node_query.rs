//! Asking a node's agent about its live state (FRR's routes and neighbors, its bridges):
//! whichever sdnd server got the request writes a query for that node into the store, the
//! node's agent (watching for queries addressed to it) answers beside it, and the server
//! waits for the answer for a bounded time. A node whose agent is gone is refused at once,
//! naming it; one that does not answer in time is refused after the wait, naming it too.

use std::time::{Duration, Instant};

use sdn_store::{Store, Txn};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::Clock;
use crate::error::Error;
use crate::layout::{self, NodeAnswerRecord, NodeQueryRecord};
use crate::nodes::Liveness;

/// What a server may ask a node's agent. Each carries what the agent needs from the
/// configuration, so that the agent only reads its own FRR and kernel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "query", rename_all = "kebab-case")]
pub enum NodeQuery {
    /// The routes of an EVPN zone's VRF (`vrf_<zone>`).
    IpVrf {
        vrf: String,
    },
    /// The EVPN type-2 routes (MAC/IP) of a vnet's VNI.
    MacVrf {
        vni: i64,
    },
    /// A fabric's routes on this node; `interfaces`: the fabric's interfaces here.
    FabricRoutes {
        fabric: String,
        protocol: String,
        interfaces: Vec<String>,
    },
    FabricNeighbors {
        fabric: String,
        protocol: String,
        interfaces: Vec<String>,
    },
    FabricInterfaces {
        fabric: String,
        protocol: String,
        interfaces: Vec<String>,
    },
    /// These bridges (a zone's vnets; `None`: every bridge) and their ports.
    Bridges {
        bridges: Option<Vec<String>>,
    },
}

/// How long a server waits for an agent's answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a query and its answer stay in the store at most.
pub const QUERY_TTL: Duration = Duration::from_secs(60);
/// Queries that may wait for one node at once; more are refused rather than queued.
pub const MAX_WAITING: usize = 32;

impl crate::app::App {
    /// Asks `node`'s agent `query` and waits up to `timeout` for its answer (see [`ask`]).
    pub fn ask_node(&self, node: &str, query: NodeQuery, timeout: Duration) -> Result<Value, Error> {
        ask(self.store.as_ref(), &self.clock, node, query, timeout)
    }
}

/// Asks `node`'s agent `query` and waits up to `timeout` for its answer.
pub fn ask(store: &dyn Store, clock: &Clock, node: &str, query: NodeQuery, timeout: Duration) -> Result<Value, Error> {
    // The answer may take seconds: not on the runtime's worker.
    crate::blocking::off_worker(|| ask_and_wait(store, clock, node, query, timeout))
}

fn ask_and_wait(store: &dyn Store, clock: &Clock, node: &str, query: NodeQuery, timeout: Duration) -> Result<Value, Error> {
    let beat = crate::nodes::heartbeats(store)?.remove(node);
    if let Liveness::Offline { last_seen_ms } = Liveness::of(beat.as_ref(), clock.now_ms()) {
        return Err(Error::Unavailable(match last_seen_ms {
            Some(ms) => format!(
                "node '{node}': its SDN agent is offline (last heartbeat {}s ago), so its live status cannot be read",
                (clock.now_ms() - ms).div_euclid(1000)
            ),
            None => format!("node '{node}' runs no SDN agent (start it with 'sdnd serve --node {node}'), so its live status cannot be read"),
        }));
    }
    let (waiting, _) = store.list(&layout::node_queries(node))?;
    if waiting.len() >= MAX_WAITING {
        return Err(Error::Unavailable(format!(
            "node '{node}' has {} status queries waiting already; try again",
            waiting.len()
        )));
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let record = NodeQueryRecord { asked_ms: clock.now_ms(), query };
    let bytes = serde_json::to_vec(&record).map_err(|e| Error::Internal(format!("encoding a node query: {e}")))?;
    let answer_key = layout::node_answer(node, &id);
    let query_key = layout::node_query(node, &id);
    let mut seen = match store.commit(Txn::new().put_expiring(query_key.clone(), bytes, QUERY_TTL))? {
        sdn_store::Commit::Committed(revision) => revision,
        sdn_store::Commit::GuardFailed => return Err(Error::Internal("an unguarded commit failed".into())),
    };
    let deadline = Instant::now() + timeout;
    let forget = || {
        if let Err(err) = store.commit(Txn::new().delete(query_key.clone()).delete(answer_key.clone())) {
            tracing::warn!("removing the status query for node '{node}': {err}");
        }
    };
    loop {
        if let Some(entry) = store.get(&answer_key)? {
            forget();
            let answer: NodeAnswerRecord = serde_json::from_slice(&entry.value)
                .map_err(|e| Error::Internal(format!("the answer of node '{node}' is unreadable: {e}")))?;
            return match answer {
                NodeAnswerRecord::Ok(value) => Ok(value),
                // The node's own service (FRR, iproute2) failed it: unavailable on that node,
                // as a stopped agent is.
                NodeAnswerRecord::Error(message) => Err(Error::Unavailable(format!("node '{node}': {message}"))),
            };
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            forget();
            return Err(Error::Unavailable(format!(
                "node '{node}' did not answer within {}s (its SDN agent is busy or cannot reach the store)",
                timeout.as_secs()
            )));
        }
        seen = store.wait_for_change(&answer_key, seen, left.min(Duration::from_millis(500)))?.max(seen);
    }
}

/// The queries waiting for `node`, oldest first, with their ids.
pub fn waiting(store: &dyn Store, node: &str) -> Result<(Vec<(String, NodeQueryRecord)>, sdn_store::Revision), Error> {
    let prefix = layout::node_queries(node);
    let (entries, revision) = store.list(&prefix)?;
    let mut queries: Vec<(String, NodeQueryRecord)> = entries
        .iter()
        .filter_map(|entry| {
            let id = entry.key.strip_prefix(&prefix)?.to_string();
            let record = serde_json::from_slice(&entry.value).ok()?;
            Some((id, record))
        })
        .collect();
    queries.sort_by_key(|(_, record)| record.asked_ms);
    Ok((queries, revision))
}

/// Publishes the agent's answer to query `id`.
pub fn answer(store: &dyn Store, node: &str, id: &str, answer: &NodeAnswerRecord) -> Result<(), Error> {
    let bytes = serde_json::to_vec(answer).map_err(|e| Error::Internal(format!("encoding an answer: {e}")))?;
    store.commit(Txn::new().put_expiring(layout::node_answer(node, id), bytes, QUERY_TTL))?;
    Ok(())
}
