//! `/nodes` and `/nodes/{node}/...`: the cluster's nodes (those running an sdnd node agent),
//! tasks, and each node's SDN apply state.

mod live;
mod sdn;
pub(super) mod tasks;

use hyper::Method;
use serde_json::{json, Value};

use crate::app::App;
use crate::auth::{Caller, Permission, SDN_AUDIT};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};

pub fn routes() -> Vec<Route> {
    let mut routes = vec![Route::new(Method::GET, "/nodes", Permission::Path("/sdn", &[SDN_AUDIT]), index)
        .summary("The nodes whose SDN agent has registered.")
        .returns(Schema::array(Schema::Object(vec![
            Field::required("node", Schema::string(), ""),
            Field::required("type", Schema::Enum(vec!["node"]), ""),
            Field::required("id", Schema::string(), "`node/NAME`"),
            Field::required("status", Schema::Enum(vec!["online", "offline"]), "whether its agent sends heartbeats"),
            Field::optional("ssl_fingerprint", Schema::string(), "SHA-256 fingerprint of the certificate the node serves"),
        ])))];
    routes.extend(tasks::routes());
    routes.extend(sdn::routes());
    routes.extend(live::routes());
    routes
}

/// Every node whose agent has registered, as PVE lists nodes.
fn index(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    args.finish()?;
    let beats = app.heartbeats()?;
    let now_ms = app.clock.now_ms();
    let nodes: Vec<Value> = app.node_reports()?
        .into_keys()
        .map(|node| {
            let beat = beats.get(&node);
            let liveness = crate::nodes::Liveness::of(beat, now_ms);
            let mut entry = json!({
                "node": node,
                "type": "node",
                "id": format!("node/{node}"),
                "status": liveness.name(),
            });
            if let Some(fingerprint) = beat.and_then(|b| b.fingerprint.as_ref()) {
                entry["ssl_fingerprint"] = json!(fingerprint);
            }
            entry
        })
        .collect();
    Ok(Value::Array(nodes))
}
