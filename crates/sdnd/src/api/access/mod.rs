//! `/access/...`: logging in.

mod ticket;

use crate::http::router::Route;

pub fn routes() -> Vec<Route> {
    ticket::routes()
}
