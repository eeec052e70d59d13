pub mod sdn;
mod tasks;

use crate::http::router::Route;

/// The routes below `/cluster` other than `/cluster/sdn`.
pub fn routes() -> Vec<Route> {
    tasks::routes()
}
