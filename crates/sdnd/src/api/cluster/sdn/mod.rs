//! `/cluster/sdn`: the index, apply (`PUT`) and rollback, plus the object, fabric, route map,
//! prefix list and lock subtrees.

mod audit;
mod changes;
mod dry_run;
mod fabrics;
mod ips;
mod lock;
mod objects;
mod routing;
mod versions;

use hyper::Method;
use serde_json::{json, Value};

use crate::app::App;
use crate::apply::ApplyRequest;
use crate::audit::Actor;
use crate::auth::{Caller, Permission, SDN_ALLOCATE, SDN_AUDIT};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};

pub fn routes() -> Vec<Route> {
    let mut routes = vec![
        Route::index("/cluster/sdn", Permission::Path("/sdn", &[SDN_AUDIT]), "id")
            .annotate(confirm_deadline)
            .returns(Schema::array(Schema::Object(vec![
                Field::required("id", Schema::string(), "a child path"),
                Field::optional(
                    "confirm-deadline",
                    Schema::Integer { min: None, max: None },
                    "on the 'confirm' entry while a confirmed apply awaits confirmation: until when (epoch seconds)",
                ),
            ]))),
        Route::new(Method::PUT, "/cluster/sdn", Permission::Path("/sdn", &[SDN_ALLOCATE]), apply)
            .summary("Apply: the pending configuration becomes the next running version; starts the reload task.")
            .params([
                lock_token_param(),
                release_lock_param(),
                comment_param("kept with the version and in the audit trail"),
                Field::optional(
                    "confirm-timeout",
                    Schema::Integer { min: Some(1), max: Some(MAX_CONFIRM_TIMEOUT as i64) },
                    "seconds to wait for POST /cluster/sdn/confirm before reverting to the version running before",
                ),
                Field::optional("revert-on-failure", Schema::Boolean, "with confirm-timeout: revert at once if a node fails to apply")
                    .default(json!(false)),
            ])
            .returns(Schema::string()),
        Route::new(Method::POST, "/cluster/sdn/rollback", Permission::Path("/sdn", &[SDN_ALLOCATE]), rollback)
            .summary("Throws every pending change away.")
            .params([lock_token_param(), release_lock_param()]),
    ];
    // The object collections first: the index lists them in the order PVE does.
    routes.extend(objects::routes());
    routes.extend(ips::routes());
    routes.extend(fabrics::routes());
    routes.extend(routing::routes());
    routes.extend(lock::routes());
    routes.extend(dry_run::routes());
    routes.extend(versions::routes());
    routes.extend(audit::routes());
    routes.extend(changes::routes());
    routes
}

/// Shows an outstanding confirm window's deadline on the index's `confirm` entry.
fn confirm_deadline(app: &App, listing: &mut Value) -> Result<(), Error> {
    let (Some(window), _) = crate::history::window(app.store.as_ref())? else { return Ok(()) };
    for entry in listing.as_array_mut().into_iter().flatten() {
        if entry["id"] == "confirm" {
            entry["confirm-deadline"] = json!(window.deadline());
        }
    }
    Ok(())
}

/// Longest confirm window: an hour.
const MAX_CONFIRM_TIMEOUT: u64 = 3600;
const MAX_COMMENT: usize = 256;

/// An optional one-line `comment`.
pub(crate) fn comment_param(what: &'static str) -> Field {
    Field::optional("comment", Schema::String { pattern: None, max_length: Some(MAX_COMMENT) }, what)
}

/// Reads `comment`: at most 256 characters, one line.
pub(crate) fn take_comment(args: &mut Args) -> Option<String> {
    let comment = args.take_string("comment")?;
    if comment.chars().count() > MAX_COMMENT || comment.chars().any(char::is_control) {
        args.reject("comment", format!("at most {MAX_COMMENT} characters, one line"));
        return None;
    }
    Some(comment)
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
    let release_lock = args.take_bool("release-lock", true);
    let comment = take_comment(&mut args);
    let confirm_timeout = args.take_u64("confirm-timeout", 1, MAX_CONFIRM_TIMEOUT);
    let revert_on_failure = args.take_bool("revert-on-failure", false);
    if revert_on_failure && confirm_timeout.is_none() {
        args.reject("revert-on-failure", "only with confirm-timeout (a revert needs a confirmed apply)");
    }
    let actor = Actor::new(caller, args.peer());
    args.finish()?;
    let request = ApplyRequest { token: token.as_deref(), release_lock, comment, confirm_timeout, revert_on_failure };
    let upid = crate::apply::apply(app, &actor, &request)?;
    Ok(json!(upid.to_string()))
}

/// `POST /cluster/sdn/rollback`: throws away every pending change.
fn rollback(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let release = args.take_bool("release-lock", true);
    let actor = Actor::new(caller, args.peer());
    args.finish()?;
    crate::apply::rollback(app, &actor, token.as_deref(), release)?;
    Ok(Value::Null)
}
