//! The API tree. Modules mirror the URL paths: `api/cluster/sdn/lock.rs` serves
//! `/cluster/sdn/lock`. Each endpoint is one row of [`routes`]: method, path, privilege, handler.

mod access;
mod cluster;
mod nodes;
mod version;

use crate::error::Error;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};

/// A typed answer as the JSON a handler returns.
fn to_json<T: serde::Serialize>(answer: T) -> Result<serde_json::Value, Error> {
    serde_json::to_value(answer).map_err(|err| Error::Internal(format!("encoding the answer: {err}")))
}

/// The `{node}` placeholder.
fn node_param() -> Field {
    Field::required("node", Schema::string(), "the node's name")
}

/// Every endpoint sdnd serves, below `/api2/json` and `/api2/extjs`.
pub fn routes() -> Vec<Route> {
    let mut routes = vec![version::route()];
    routes.extend(access::routes());
    routes.extend(cluster::sdn::routes());
    routes.extend(cluster::routes());
    routes.extend(nodes::routes());
    routes
}
