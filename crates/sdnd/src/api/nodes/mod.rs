//! `/nodes` and `/nodes/{node}/...`: the cluster's nodes (those running an sdnd node agent),
//! tasks, and each node's SDN apply state.

mod live;
mod sdn;
pub(super) mod tasks;

use hyper::Method;
use serde_json::{json, Value};

use crate::app::App;
use crate::auth::{Caller, Permission, SDN_AUDIT, SYS_AUDIT};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};

pub fn routes() -> Vec<Route> {
    let mut routes = vec![Route::new(Method::GET, "/nodes", Permission::Path("/sdn", &[SDN_AUDIT]), index)
        .summary("The cluster's nodes: those whose SDN agent registered and those the configuration names (load figures with Sys.Audit on /nodes/NODE).")
        .returns(Schema::array(Schema::Object(node_fields())))];
    routes.extend(tasks::routes());
    routes.extend(sdn::routes());
    routes.extend(live::routes());
    routes
}

/// A node's fields, in `GET /nodes` and the `node` entries of `GET /cluster/resources`.
pub(crate) fn node_fields() -> Vec<Field> {
    let int = || Schema::Integer { min: Some(0), max: None };
    vec![
        Field::required("node", Schema::string(), ""),
        Field::required("type", Schema::Enum(vec!["node"]), ""),
        Field::required("id", Schema::string(), "`node/NAME`"),
        Field::required("status", Schema::Enum(vec!["online", "offline", "unknown"]), "whether its agent sends heartbeats (`unknown`: it never registered)"),
        Field::optional("ssl_fingerprint", Schema::string(), "SHA-256 fingerprint of the certificate the node serves"),
        Field::optional("level", Schema::string(), "subscription level (always empty)"),
        Field::optional("uptime", int(), "seconds since boot"),
        Field::optional("cpu", Schema::Number, "CPU utilization, 0..1"),
        Field::optional("maxcpu", int(), "number of CPUs"),
        Field::optional("mem", int(), "used memory, bytes"),
        Field::optional("maxmem", int(), "memory, bytes"),
    ]
}

/// Every node of the cluster (registered agents and the nodes the running configuration
/// names), as PVE lists nodes: the load figures only for a caller with Sys.Audit on the
/// node, and the current ones only while the node is online.
pub(crate) fn node_entries(app: &App, caller: &Caller) -> Result<Vec<Value>, Error> {
    let beats = app.heartbeats()?;
    let now_ms = app.clock.now_ms();
    let mut nodes: std::collections::BTreeSet<String> = app.node_reports()?.into_keys().collect();
    let registered = nodes.clone();
    nodes.extend(app.sdn.snapshot()?.running.named_nodes());
    Ok(nodes
        .into_iter()
        .map(|node| {
            let beat = beats.get(&node);
            let liveness = crate::nodes::Liveness::of(beat, now_ms);
            let status = if registered.contains(&node) { liveness.name() } else { "unknown" };
            let mut entry = json!({
                "node": node,
                "type": "node",
                "id": format!("node/{node}"),
                "status": status,
                "level": "",
            });
            if let Some(fingerprint) = beat.and_then(|b| b.fingerprint.as_ref()) {
                entry["ssl_fingerprint"] = json!(fingerprint);
            }
            if let Some(stats) = beat.and_then(|b| b.stats.as_ref()) {
                if caller.has_any(&format!("/nodes/{node}"), &[SYS_AUDIT]) {
                    entry["maxcpu"] = json!(stats.maxcpu);
                    entry["maxmem"] = json!(stats.maxmem);
                    if liveness.is_online() {
                        entry["uptime"] = json!(stats.uptime);
                        entry["cpu"] = json!(stats.cpu);
                        entry["mem"] = json!(stats.mem);
                    }
                }
            }
            entry
        })
        .collect())
}

/// `GET /nodes`.
fn index(app: &App, caller: &Caller, args: Args) -> Result<Value, Error> {
    args.finish()?;
    Ok(Value::Array(node_entries(app, caller)?))
}
