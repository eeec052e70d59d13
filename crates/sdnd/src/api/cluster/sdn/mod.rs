//! `/cluster/sdn`: the index, apply (`PUT`) and rollback, plus the object, fabric, route map,
//! prefix list and lock subtrees.

mod dry_run;
mod fabrics;
mod lock;
mod objects;
mod routing;

use hyper::Method;
use serde_json::{json, Value};

use crate::app::App;
use crate::auth::{Caller, Permission, SDN_ALLOCATE, SDN_AUDIT};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};

pub fn routes() -> Vec<Route> {
    let mut routes = vec![
        Route::index("/cluster/sdn", Permission::Path("/sdn", &[SDN_AUDIT]), "id"),
        Route::new(Method::PUT, "/cluster/sdn", Permission::Path("/sdn", &[SDN_ALLOCATE]), apply)
            .summary("Apply: the pending configuration becomes the next running version; starts the reload task.")
            .params([lock_token_param(), release_lock_param()])
            .returns(Schema::string()),
        Route::new(Method::POST, "/cluster/sdn/rollback", Permission::Path("/sdn", &[SDN_ALLOCATE]), rollback)
            .summary("Throws every pending change away.")
            .params([lock_token_param(), release_lock_param()]),
    ];
    // The object collections first: the index lists them in the order PVE does.
    routes.extend(objects::routes());
    routes.extend(fabrics::routes());
    routes.extend(routing::routes());
    routes.extend(lock::routes());
    routes.extend(dry_run::routes());
    routes
}

/// The `lock-token` parameter every change takes.
pub(crate) fn lock_token_param() -> Field {
    Field::optional(
        "lock-token",
        Schema::String { pattern: Some("^[!-~]{1,128}$"), max_length: Some(128) },
        "the token of the global SDN lock, when it is held",
    )
}

fn release_lock_param() -> Field {
    Field::optional("release-lock", Schema::Boolean, "release the global lock in the same step").default(json!(true))
}

/// Reads `lock-token`, checking only its shape: whether it is right is the lock rule's call.
pub(crate) fn take_lock_token(args: &mut Args) -> Option<String> {
    let token = args.take_string("lock-token")?;
    if token.is_empty() || token.len() > 128 || !token.chars().all(|c| c.is_ascii_graphic()) {
        args.reject("lock-token", "invalid format - expected a lock token as returned by POST /cluster/sdn/lock");
        return None;
    }
    Some(token)
}

/// `PUT /cluster/sdn`: promotes pending to a new running version and starts the reload task.
fn apply(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let release = args.take_bool("release-lock", true);
    args.finish()?;
    let upid = crate::apply::apply(app, caller, token.as_deref(), release)?;
    Ok(json!(upid.to_string()))
}

/// `POST /cluster/sdn/rollback`: throws away every pending change.
fn rollback(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let release = args.take_bool("release-lock", true);
    args.finish()?;
    crate::apply::rollback(app, caller, token.as_deref(), release)?;
    Ok(Value::Null)
}
