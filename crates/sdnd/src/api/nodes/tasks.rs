//! `/nodes/{node}/tasks/{upid}/status` and `.../log`.

use hyper::Method;
use serde_json::{json, Value};

use crate::app::App;
use crate::auth::{Caller, Permission, SYS_AUDIT};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};
use crate::api::node_param;
use crate::tasks::{TaskRecord, Upid};

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/nodes/{node}/tasks/{upid}/status", Permission::PerObject, status)
            .summary("A task's state. Its owner may read it, and whoever holds Sys.Audit on /nodes/{node}.")
            .params([node_param(), upid_param()])
            .returns(Schema::Object(vec![
                Field::required("upid", Schema::string(), ""),
                Field::required("node", Schema::string(), ""),
                Field::required("pid", Schema::Integer { min: Some(0), max: None }, ""),
                Field::required("pstart", Schema::Integer { min: Some(0), max: None }, ""),
                Field::required("starttime", Schema::Integer { min: None, max: None }, ""),
                Field::required("type", Schema::string(), ""),
                Field::required("id", Schema::string(), ""),
                Field::required("user", Schema::string(), ""),
                Field::required("status", Schema::Enum(vec!["running", "stopped"]), ""),
                Field::optional("exitstatus", Schema::string(), "`OK` or the error, once stopped"),
            ])),
        Route::new(Method::GET, "/nodes/{node}/tasks/{upid}/log", Permission::PerObject, log)
            .summary("A task's log lines. Its owner may read it, and whoever holds Sys.Audit on /nodes/{node}.")
            .params([
                node_param(),
                upid_param(),
                Field::optional("start", Schema::int(0, i64::from(u32::MAX)), "first line (0-based)").default(json!(0)),
                Field::optional("limit", Schema::int(0, i64::from(u32::MAX)), "at most this many lines").default(json!(50)),
            ])
            .returns(Schema::array(Schema::Object(vec![
                Field::required("n", Schema::Integer { min: Some(1), max: None }, "line number"),
                Field::required("t", Schema::string(), "text"),
            ]))),
    ]
}

fn upid_param() -> Field {
    Field::required("upid", Schema::string(), "the task's UPID")
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
    let record = app.task(&upid)?;
    Ok((upid, record))
}

fn status(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let found = task(app, caller, &mut args);
    args.finish()?;
    let (upid, record) = found?;
    crate::api::to_json(record.status(&upid))
}

fn log(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let found = task(app, caller, &mut args);
    let start = args.take_u64("start", 0, u64::from(u32::MAX)).unwrap_or(0);
    let limit = args.take_u64("limit", 0, u64::from(u32::MAX)).unwrap_or(50);
    args.finish()?;
    let (_, record) = found?;
    Ok(record.log_json(start as usize, limit as usize))
}
