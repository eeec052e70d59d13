//! `/nodes/{node}/...`: tasks, and each node's SDN apply state.

mod sdn;
mod tasks;

use crate::http::router::Route;

pub fn routes() -> Vec<Route> {
    let mut routes = tasks::routes();
    routes.extend(sdn::routes());
    routes
}
