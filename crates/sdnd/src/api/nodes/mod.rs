//! `/nodes` and `/nodes/{node}/...`: the cluster's nodes (those running an sdnd node agent),
//! tasks, and each node's SDN apply state.

mod sdn;
mod tasks;

use hyper::Method;
use serde_json::{json, Value};

use crate::app::App;
use crate::auth::{Caller, Permission, SDN_AUDIT};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;

pub fn routes() -> Vec<Route> {
    let mut routes = vec![Route::new(Method::GET, "/nodes", Permission::Path("/sdn", &[SDN_AUDIT]), index)];
    routes.extend(tasks::routes());
    routes.extend(sdn::routes());
    routes
}

/// Every node whose agent has registered, as PVE lists nodes.
fn index(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    args.finish()?;
    let nodes: Vec<Value> = crate::nodes::reports(app.store.as_ref())?
        .into_keys()
        .map(|node| json!({ "node": node, "type": "node", "id": format!("node/{node}") }))
        .collect();
    Ok(Value::Array(nodes))
}
