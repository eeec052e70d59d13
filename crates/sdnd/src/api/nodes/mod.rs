//! `/nodes` and `/nodes/{node}/...`: the cluster's nodes (those running an sdnd node agent),
//! tasks, and each node's SDN apply state.

mod sdn;
mod tasks;

use hyper::Method;
use serde_json::{json, Value};

use crate::app::App;
use crate::apply::NodeReport;
use crate::auth::{Caller, Permission, SDN_AUDIT};
use crate::http::params::Args;
use crate::http::reply::ApiError;
use crate::http::router::Route;
use crate::sdn::keys;

pub fn routes() -> Vec<Route> {
    let mut routes = vec![Route::new(Method::GET, "/nodes", Permission::Path("/sdn", &[SDN_AUDIT]), index)];
    routes.extend(tasks::routes());
    routes.extend(sdn::routes());
    routes
}

/// Every node whose agent has registered, as PVE lists nodes.
fn index(app: &App, _: &Caller, args: Args) -> Result<Value, ApiError> {
    args.finish()?;
    let (entries, _) = app.store.list(keys::NODES_PREFIX)?;
    let nodes: Vec<Value> = entries
        .iter()
        .filter(|e| e.key.ends_with("/sdn"))
        .filter_map(|e| serde_json::from_slice::<NodeReport>(&e.value).ok())
        .map(|report| json!({ "node": report.node, "type": "node", "id": format!("node/{}", report.node) }))
        .collect();
    Ok(Value::Array(nodes))
}
