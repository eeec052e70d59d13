//! `/access/...`: logging in, and what the caller may do.

mod permissions;
mod ticket;
mod users;

use crate::http::router::Route;

pub fn routes() -> Vec<Route> {
    let mut routes = ticket::routes();
    routes.extend(permissions::routes());
    routes.extend(users::routes());
    routes
}
