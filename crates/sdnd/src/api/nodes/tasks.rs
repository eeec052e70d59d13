//! `/nodes/{node}/tasks` (the node's task list), `/nodes/{node}/tasks/{upid}/status` and
//! `.../log`; `/cluster/tasks` lists every node's tasks the same way.

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
        Route::new(Method::GET, "/nodes/{node}/tasks", Permission::PerObject, node_tasks)
            .summary("The node's tasks, newest first: the caller's own, and all of them with Sys.Audit on /nodes/{node}.")
            .params([
                node_param(),
                Field::optional("start", Schema::int(0, i64::from(u32::MAX)), "skip this many").default(json!(0)),
                Field::optional("limit", Schema::int(0, i64::from(u32::MAX)), "at most this many").default(json!(50)),
                Field::optional("since", Schema::Integer { min: Some(0), max: None }, "started at or after (epoch seconds)"),
                Field::optional("until", Schema::Integer { min: Some(0), max: None }, "started at or before (epoch seconds)"),
                Field::optional("source", Schema::Enum(vec!["archive", "active", "all"]), "finished, running or both")
                    .default(json!("archive")),
                Field::optional("typefilter", Schema::string(), "only tasks of this type"),
                Field::optional("userfilter", Schema::string(), "only tasks of users containing this"),
                Field::optional(
                    "statusfilter",
                    Schema::AnyOf(vec![Schema::string(), Schema::array(Schema::string())]),
                    "only tasks whose status is one of these (ok, warning, error, unknown), comma-separated",
                ),
                Field::optional("errors", Schema::Boolean, "only tasks that ended with an error").default(json!(false)),
                Field::optional("vmid", Schema::Integer { min: Some(100), max: Some(999_999_999) }, "only tasks of this guest"),
            ])
            .returns(task_list()),
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

/// A task list's entries, as PVE's `/nodes/{node}/tasks` and `/cluster/tasks` have them.
pub(crate) fn task_list() -> Schema {
    Schema::array(Schema::Object(vec![
        Field::required("upid", Schema::string(), ""),
        Field::required("node", Schema::string(), ""),
        Field::required("pid", Schema::Integer { min: Some(0), max: None }, ""),
        Field::required("pstart", Schema::Integer { min: Some(0), max: None }, ""),
        Field::required("starttime", Schema::Integer { min: None, max: None }, ""),
        Field::required("type", Schema::string(), ""),
        Field::required("id", Schema::string(), ""),
        Field::required("user", Schema::string(), ""),
        Field::optional("status", Schema::string(), "the exit status, once stopped"),
        Field::optional("endtime", Schema::Integer { min: None, max: None }, "once stopped"),
    ]))
}

/// Whether the caller may see a task of `upid`: its own (a user also sees its tokens'), or
/// any with Sys.Audit on the task's node, as in PVE.
pub(crate) fn may_see(caller: &Caller, upid: &Upid) -> bool {
    let caller_id = caller.auth_id();
    let task_user = upid.user.split('!').next().unwrap_or_default();
    upid.user == caller_id || task_user == caller_id || caller.has_any(&format!("/nodes/{}", upid.node), &[SYS_AUDIT])
}

/// `GET /nodes/{node}/tasks`, with PVE's filters.
fn node_tasks(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let node = args.take_string("node").unwrap_or_default();
    let start = args.take_u64("start", 0, u64::from(u32::MAX)).unwrap_or(0) as usize;
    let limit = args.take_u64("limit", 0, u64::from(u32::MAX)).unwrap_or(50) as usize;
    let since = args.take_u64("since", 0, i64::MAX as u64).map(|s| s as i64);
    let until = args.take_u64("until", 0, i64::MAX as u64).map(|s| s as i64);
    let source = args.take_string("source").unwrap_or_else(|| "archive".into());
    if !matches!(source.as_str(), "archive" | "active" | "all") {
        args.reject("source", "value must be one of archive, active, all");
    }
    let typefilter = args.take_string("typefilter");
    let userfilter = args.take_string("userfilter").map(|u| u.to_lowercase());
    let statusfilter: Option<Vec<String>> = args.take_list("statusfilter");
    for status in statusfilter.iter().flatten() {
        if !matches!(status.as_str(), "ok" | "warning" | "error" | "unknown") {
            args.reject("statusfilter", format!("'{status}': value must be ok, warning, error or unknown"));
        }
    }
    let errors = args.take_bool("errors", false);
    let vmid = args.take_u64("vmid", 100, 999_999_999);
    args.finish()?;
    let entries: Vec<Value> = app
        .tasks()?
        .into_iter()
        .filter(|(upid, _)| upid.node == node && may_see(caller, upid))
        .filter(|(_, record)| match source.as_str() {
            "active" => record.exitstatus.is_none(),
            "archive" => record.exitstatus.is_some(),
            _ => true,
        })
        .filter(|(upid, _)| since.is_none_or(|since| upid.starttime >= since) && until.is_none_or(|until| upid.starttime <= until))
        .filter(|(upid, _)| typefilter.as_deref().is_none_or(|t| upid.task_type == t))
        .filter(|(upid, _)| userfilter.as_deref().is_none_or(|u| upid.user.to_lowercase().contains(u)))
        .filter(|(_, record)| statusfilter.as_ref().is_none_or(|wanted| wanted.iter().any(|s| s == record.status_class())))
        .filter(|(_, record)| !errors || record.status_class() == "error")
        // sdnd's tasks belong to no guest.
        .filter(|_| vmid.is_none())
        .skip(start)
        .take(limit)
        .map(|(upid, record)| record.list_entry(&upid))
        .collect();
    Ok(Value::Array(entries))
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
