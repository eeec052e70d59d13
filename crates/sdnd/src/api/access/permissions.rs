//! `GET /access/permissions`: the caller's privileges per ACL path, in PVE's shape
//! (`{PATH: {PRIV: PROPAGATE}}`), so a client (the web UI) can offer only what it may do.

use std::collections::BTreeSet;

use hyper::Method;
use serde_json::{Map, Value};

use crate::app::App;
use crate::auth::{Caller, Permission};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};

/// Reported even without an ACL entry on them, as PVE reports its top-level paths.
const TOP_PATHS: &[&str] = &["/", "/access", "/nodes", "/sdn", "/sdn/zones", "/sdn/controllers", "/sdn/ipams", "/sdn/dns"];

pub fn routes() -> Vec<Route> {
    vec![Route::new(Method::GET, "/access/permissions", Permission::Authenticated, permissions)
        .summary("The caller's privileges per ACL path: {PATH: {PRIVILEGE: PROPAGATES}}.")
        .params([
            Field::optional("path", Schema::string(), "only this ACL path"),
            Field::optional("userid", Schema::string(), "the caller's own id (sdnd reports only the caller's permissions)"),
        ])
        .returns(Schema::Map(Box::new(Schema::Map(Box::new(Schema::Flag)))))]
}

fn permissions(_: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let path = args.take_string("path");
    let userid = args.take_string("userid");
    if let Some(path) = &path {
        if let Err(why) = crate::auth::acl::check_path(path) {
            args.reject("path", why);
        }
    }
    args.finish()?;
    // PVE lets holders of Sys.Audit on /access ask about others; sdnd answers for the caller.
    if let Some(userid) = userid.filter(|u| *u != caller.auth_id()) {
        return Err(Error::Forbidden(format!(
            "Permission check failed: sdnd reports only the caller's own permissions, not those of '{userid}'"
        )));
    }
    // A path with an ACL entry for the caller is reported even when it grants nothing (NoAccess),
    // so a client never mistakes it for inheriting from above.
    let (paths, always): (BTreeSet<String>, BTreeSet<String>) = match path {
        Some(path) => (BTreeSet::from([path.clone()]), BTreeSet::from([path])),
        None => (TOP_PATHS.iter().map(|p| p.to_string()).chain(caller.acl_paths()).collect(), caller.acl_paths().into_iter().collect()),
    };
    let mut answer = Map::new();
    for path in paths {
        let held = caller.privileges(&path);
        if held.is_empty() && !always.contains(&path) {
            continue;
        }
        // What reaches a child that has no ACL entry of its own is what propagates from here.
        let probe = if path == "/" { "/*".to_string() } else { format!("{path}/*") };
        let inherited = caller.privileges(&probe);
        let privs: Map<String, Value> =
            held.into_iter().map(|p| (p.clone(), Value::from(u8::from(inherited.contains(&p))))).collect();
        answer.insert(path, Value::Object(privs));
    }
    Ok(Value::Object(answer))
}
