//! `/cluster/sdn`: the index, apply (`PUT`) and rollback, plus the object and lock subtrees.

mod dry_run;
mod lock;
mod objects;

use hyper::Method;
use serde_json::{json, Value};

use crate::app::App;
use crate::auth::{Caller, Permission, SDN_ALLOCATE, SDN_AUDIT};
use crate::http::params::Args;
use crate::http::reply::ApiError;
use crate::http::router::Route;
use crate::sdn::lock::Intent;
use crate::sdn::{LockUpdate, Mutation};
use sdn_config::Kind;

pub fn routes() -> Vec<Route> {
    let mut routes = vec![
        Route::new(Method::GET, "/cluster/sdn", Permission::Path("/sdn", &[SDN_AUDIT]), index),
        Route::new(Method::PUT, "/cluster/sdn", Permission::Path("/sdn", &[SDN_ALLOCATE]), apply),
        Route::new(Method::POST, "/cluster/sdn/rollback", Permission::Path("/sdn", &[SDN_ALLOCATE]), rollback),
    ];
    routes.extend(dry_run::routes());
    routes.extend(lock::routes());
    routes.extend(objects::routes());
    routes
}

fn index(_: &App, _: &Caller, args: Args) -> Result<Value, ApiError> {
    args.finish()?;
    Ok(json!(["vnets", "zones", "controllers", "ipams", "dns", "fabrics"]
        .iter()
        .map(|id| json!({ "id": id }))
        .collect::<Vec<_>>()))
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
fn apply(app: &App, caller: &Caller, mut args: Args) -> Result<Value, ApiError> {
    let token = take_lock_token(&mut args);
    let release = args.take_bool("release-lock", true);
    args.finish()?;
    let upid = app.sdn.mutate(Intent::Change { token: token.as_deref() }, |snapshot, _| {
        let version = snapshot.running_version + 1;
        let running = snapshot.pending.to_running_config(version);
        let text = serde_json::to_vec(&running).map_err(|e| ApiError::Internal(e.to_string()))?;
        let (upid, record) = crate::apply::start_task(app, caller, version, snapshot.pending.named_nodes().into_iter().collect());
        let mutation = Mutation {
            running: Some((version, text)),
            lock: (token.is_some() && release).then_some(LockUpdate::Remove),
            extra: vec![record],
            ..Mutation::default()
        };
        Ok((mutation, (upid, version)))
    })?;
    crate::apply::watch_task(app, upid.0.clone(), upid.1);
    Ok(json!(upid.0.to_string()))
}

/// `POST /cluster/sdn/rollback`: throws away every pending change.
fn rollback(app: &App, _: &Caller, mut args: Args) -> Result<Value, ApiError> {
    let token = take_lock_token(&mut args);
    let release = args.take_bool("release-lock", true);
    args.finish()?;
    app.sdn.mutate(Intent::Change { token: token.as_deref() }, |snapshot, _| {
        // ipams and dns are not part of the running configuration: they stay as they are.
        let mut restored = (*snapshot.running).clone();
        // An object the pending changes left alone keeps its place in the pending files, so
        // the rollback writes only what the changes touched.
        for kind in Kind::ALL.into_iter().filter(|kind| kind.in_running_config()) {
            for object in snapshot.running.list(kind) {
                if let Some(kept) = snapshot.pending.get(kind, object.id()).filter(|pending| *pending == object) {
                    restored.insert(kept.clone());
                }
            }
        }
        for kind in [Kind::Ipams, Kind::Dns] {
            for object in snapshot.pending.list(kind) {
                restored.insert(object.clone());
            }
        }
        let mutation = Mutation {
            replace_pending: Some(restored),
            lock: (token.is_some() && release).then_some(LockUpdate::Remove),
            ..Mutation::default()
        };
        Ok((mutation, ()))
    })?;
    Ok(Value::Null)
}
