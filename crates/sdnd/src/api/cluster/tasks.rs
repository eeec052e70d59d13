//! `GET /cluster/tasks`: the cluster's tasks, newest first, those the caller may see.

use hyper::Method;
use serde_json::Value;

use crate::api::nodes::tasks::{may_see, task_list};
use crate::app::App;
use crate::auth::{Caller, Permission};
use crate::error::Error;
use crate::http::params::Args;
use crate::http::router::Route;

/// As PVE: the most recent tasks of every node.
const LIMIT: usize = 1000;

pub fn routes() -> Vec<Route> {
    vec![Route::new(Method::GET, "/cluster/tasks", Permission::Authenticated, list)
        .summary("The cluster's recent tasks (every node), newest first: the caller's own, and each node's with Sys.Audit on it.")
        .returns(task_list())]
}

fn list(app: &App, caller: &Caller, args: Args) -> Result<Value, Error> {
    args.finish()?;
    Ok(Value::Array(
        app.tasks()?
            .into_iter()
            .filter(|(upid, _)| may_see(caller, upid))
            .take(LIMIT)
            .map(|(upid, record)| record.list_entry(&upid))
            .collect(),
    ))
}
