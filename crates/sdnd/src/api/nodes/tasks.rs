//! `/nodes/{node}/tasks/{upid}/status` and `.../log`.

use hyper::Method;
use serde_json::Value;

use crate::app::App;
use crate::auth::{Caller, Permission, SYS_AUDIT};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;
use crate::tasks::{TaskRecord, Upid};

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/nodes/{node}/tasks/{upid}/status", Permission::PerObject, status),
        Route::new(Method::GET, "/nodes/{node}/tasks/{upid}/log", Permission::PerObject, log),
    ]
}

/// Reads the task the path names; the node in the path must be the UPID's. Its owner may read
/// it, and so may whoever holds Sys.Audit on the node (as in PVE).
fn task(app: &App, caller: &Caller, args: &mut Args) -> Result<(Upid, TaskRecord), Error> {
    let node = args.take_string("node").unwrap_or_default();
    let text = args.take_string("upid").unwrap_or_default();
    let upid: Upid = text.parse().map_err(|err: String| Error::param("upid", err))?;
    if upid.node != node {
        return Err(Error::param("upid", format!("task belongs to node '{}', not '{node}'", upid.node)));
    }
    // A user owns its own tasks and those of its tokens; a token only its own.
    let caller_id = caller.auth_id();
    let task_user = upid.user.split('!').next().unwrap_or_default();
    let owner = upid.user == caller_id || task_user == caller_id;
    if !owner {
        caller.require(&format!("/nodes/{node}"), &[SYS_AUDIT])?;
    }
    let record = crate::tasks::read(app.store.as_ref(), &upid)?;
    Ok((upid, record))
}

fn status(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let found = task(app, caller, &mut args);
    args.finish()?;
    let (upid, record) = found?;
    Ok(record.status_json(&upid))
}

fn log(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let found = task(app, caller, &mut args);
    let start = args.take_u64("start", 0, u64::from(u32::MAX)).unwrap_or(0);
    let limit = args.take_u64("limit", 0, u64::from(u32::MAX)).unwrap_or(50);
    args.finish()?;
    let (_, record) = found?;
    Ok(record.log_json(start as usize, limit as usize))
}
