//! `GET /cluster/status`: the cluster and its nodes, as PVE answers it (one `cluster` entry,
//! then one `node` entry per node: those that run an SDN agent and those the running
//! configuration names, offline until their agent registers, as `/nodes` lists them).

use hyper::Method;
use serde_json::{json, Value};

use crate::app::App;
use crate::auth::{Caller, Permission, SYS_AUDIT};
use crate::error::Error;
use crate::http::params::Args;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};
use crate::nodes::Liveness;

/// The name sdnd's clusters go by (PVE's is the corosync cluster name).
const CLUSTER_NAME: &str = "sdnd";

pub fn routes() -> Vec<Route> {
    vec![Route::new(Method::GET, "/cluster/status", Permission::Path("/", &[SYS_AUDIT]), status)
        .summary("The cluster (`version`: its running SDN version) and one entry per node: with an SDN agent or named by the running configuration.")
        .returns(Schema::array(Schema::Object(vec![
            Field::required("type", Schema::Enum(vec!["cluster", "node"]), ""),
            Field::required("id", Schema::string(), "`cluster` or `node/NAME`"),
            Field::required("name", Schema::string(), ""),
            Field::optional("nodes", Schema::Integer { min: Some(0), max: None }, "cluster: how many nodes"),
            Field::optional("quorate", Schema::Flag, "cluster: whether the store answers"),
            Field::optional("version", Schema::Integer { min: Some(0), max: None }, "cluster: the running SDN version"),
            Field::optional("ip", Schema::string(), "node: its address towards the other nodes"),
            Field::optional("level", Schema::string(), "node: subscription level (always empty)"),
            Field::optional("local", Schema::Flag, "node: whether it is the node that answered"),
            Field::optional("nodeid", Schema::Integer { min: Some(1), max: None }, "node: its number in the cluster"),
            Field::optional("online", Schema::Flag, "node: whether its agent sends heartbeats (0 for a named node that never registered)"),
        ])))]
}

fn status(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    args.finish()?;
    let snapshot = app.sdn.snapshot()?;
    let reports = app.node_reports()?;
    // A node the configuration names is a node of the cluster even before (or without) an
    // agent: listed offline, never silently missing.
    let mut nodes: std::collections::BTreeSet<String> = reports.into_keys().collect();
    nodes.extend(snapshot.running.named_nodes());
    let beats = app.heartbeats()?;
    let now_ms = app.clock.now_ms();
    let mut entries = vec![json!({
        "type": "cluster",
        "id": "cluster",
        "name": CLUSTER_NAME,
        "nodes": nodes.len(),
        "quorate": 1,
        "version": snapshot.running_version,
    })];
    for (nodeid, node) in nodes.iter().enumerate() {
        let online = Liveness::of(beats.get(node), now_ms).is_online();
        let mut entry = json!({
            "type": "node",
            "id": format!("node/{node}"),
            "name": node,
            "level": "",
            "local": u8::from(*node == app.node),
            "nodeid": nodeid + 1,
            "online": u8::from(online),
        });
        let ip = app.node_files(node).ok().and_then(|files| files.facts.get("route-ip").and_then(Value::as_str).map(str::to_string));
        if let Some(ip) = ip {
            entry["ip"] = json!(ip);
        }
        entries.push(entry);
    }
    Ok(Value::Array(entries))
}
