mod resources;
pub mod sdn;
mod status;
mod tasks;

use crate::http::router::Route;

/// The routes below `/cluster` other than `/cluster/sdn`.
pub fn routes() -> Vec<Route> {
    let mut routes = status::routes();
    routes.extend(tasks::routes());
    routes.extend(resources::routes());
    routes
}
