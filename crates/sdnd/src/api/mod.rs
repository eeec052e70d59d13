//! The API tree. Modules mirror the URL paths: `api/cluster/sdn/lock.rs` serves
//! `/cluster/sdn/lock`. Each endpoint is one row of [`routes`]: method, path, privilege, handler.

mod access;
mod cluster;
mod nodes;
mod version;

use crate::http::router::Route;

/// Every endpoint sdnd serves, below `/api2/json` and `/api2/extjs`.
pub fn routes() -> Vec<Route> {
    let mut routes = vec![version::route()];
    routes.extend(access::routes());
    routes.extend(cluster::sdn::routes());
    routes.extend(nodes::routes());
    routes
}
