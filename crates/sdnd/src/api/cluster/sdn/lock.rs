//! `/cluster/sdn/lock`: take, inspect and release the global SDN lock.

use hyper::Method;
use serde_json::{json, Value};

use super::take_lock_token;
use crate::app::App;
use crate::auth::{Caller, Permission, SDN_ALLOCATE, SDN_AUDIT};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;
use crate::sdn::lock::{Intent, LockRecord};
use crate::sdn::{LockUpdate, Mutation};

/// Longest lock lifetime a caller may ask for: one week.
const MAX_TTL: u64 = 7 * 24 * 3600;
const MAX_COMMENT: usize = 256;

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/cluster/sdn/lock", Permission::Path("/sdn", &[SDN_AUDIT, SDN_ALLOCATE]), status),
        Route::new(Method::POST, "/cluster/sdn/lock", Permission::Path("/sdn", &[SDN_ALLOCATE]), acquire),
        Route::new(Method::DELETE, "/cluster/sdn/lock", Permission::Path("/sdn", &[SDN_ALLOCATE]), release),
    ]
}

fn status(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    args.finish()?;
    let record = app.sdn.lock_record()?;
    let now = app.clock.now_ms();
    Ok(match record.filter(|lock| !lock.is_expired(now)) {
        None => json!({ "locked": 0 }),
        Some(lock) => json!({
            "locked": 1,
            "holder": lock.holder,
            "since": lock.since(),
            "expires": lock.expires(),
            "comment": lock.comment,
        }),
    })
}

fn acquire(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let allow_pending = args.take_bool("allow-pending", false);
    let ttl = args.take_u64("ttl", 1, MAX_TTL);
    let comment = args.take_string("comment");
    if let Some(comment) = &comment {
        if comment.chars().count() > MAX_COMMENT || comment.chars().any(char::is_control) {
            args.reject("comment", format!("at most {MAX_COMMENT} characters, one line"));
        }
    }
    args.finish()?;
    let token = app.sdn.mutate(Intent::Acquire, |snapshot, _| {
        if !allow_pending && sdn_config::has_pending_changes(&snapshot.pending, &snapshot.running) {
            return Err(Error::Conflict(
                "there are pending changes: apply or roll them back first, or lock with allow-pending=1".into(),
            ));
        }
        let (record, token) = LockRecord::acquire(caller.auth_id(), app.clock.now_ms(), ttl, comment.clone());
        Ok((Mutation { lock: Some(LockUpdate::Set(record)), ..Mutation::default() }, token))
    })?;
    tracing::info!("SDN lock taken by {}", caller.auth_id());
    Ok(json!(token))
}

fn release(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let force = args.take_bool("force", false);
    args.finish()?;
    app.sdn.mutate(Intent::Release { token: token.as_deref(), force }, |_, _| {
        Ok((Mutation { lock: Some(LockUpdate::Remove), ..Mutation::default() }, ()))
    })?;
    tracing::info!("SDN lock released by {}{}", caller.auth_id(), if force { " (forced)" } else { "" });
    Ok(Value::Null)
}
