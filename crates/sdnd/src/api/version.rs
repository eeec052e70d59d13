//! `GET /version`: clients call it first to test their credentials.

use hyper::Method;
use serde_json::json;

use crate::auth::Permission;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};

pub fn route() -> Route {
    Route::new(Method::GET, "/version", Permission::Authenticated, |_, _, args| {
        args.finish()?;
        Ok(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "release": env!("CARGO_PKG_VERSION"),
            "repoid": option_env!("SDND_REPOID").unwrap_or("sdnd"),
        }))
    })
    .summary("The server's version; clients call it first to test their credentials.")
    .returns(Schema::Object(vec![
        Field::required("version", Schema::string(), ""),
        Field::required("release", Schema::string(), ""),
        Field::required("repoid", Schema::string(), ""),
    ]))
}
