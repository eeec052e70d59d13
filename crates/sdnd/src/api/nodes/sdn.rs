//! `GET /nodes/{node}/sdn`: what a node's agent last reported.

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
    vec![Route::new(Method::GET, "/nodes/{node}/sdn", Permission::Path("/sdn", &[SDN_AUDIT]), status)]
}

fn status(app: &App, _: &Caller, mut args: Args) -> Result<Value, ApiError> {
    let node = args.take_string("node").unwrap_or_default();
    args.finish()?;
    let entry = app
        .store
        .get(&keys::node_status(&node))?
        .ok_or_else(|| ApiError::NotFound(format!("node '{node}' has no SDN agent registered")))?;
    let report: NodeReport = serde_json::from_slice(&entry.value)
        .map_err(|err| ApiError::Internal(format!("status of node '{node}' is unreadable: {err}")))?;
    let running = app.sdn.snapshot()?.running_version;
    Ok(json!({
        "node": report.node,
        "version": report.version,
        "running-version": running,
        "attempted": report.attempted,
        "time": report.time,
        "status": match (&report.error, report.version >= running) {
            (Some(_), _) => "error",
            (None, true) => "available",
            (None, false) => "pending",
        },
        "error": report.error,
    }))
}
