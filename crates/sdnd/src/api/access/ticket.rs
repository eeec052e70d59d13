//! `/access/ticket`: a ticket for a password (or for a still-valid ticket: renewal).

use hyper::Method;
use serde_json::{json, Map, Value};

use crate::app::App;
use crate::auth::{Caller, Permission};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;

pub fn routes() -> Vec<Route> {
    vec![
        // PVE answers GET with null: formatters use it to show a login page.
        Route::new(Method::GET, "/access/ticket", Permission::Public, |_, _, _| Ok(Value::Null)),
        Route::new(Method::POST, "/access/ticket", Permission::Public, create),
    ]
}

/// The capabilities PVE returns with a ticket; sdnd only has SDN ones to show.
fn capabilities(caller: &Caller) -> Value {
    let sdn: Map<String, Value> = caller.privileges("/sdn").into_iter().map(|p| (p, json!(1))).collect();
    json!({ "sdn": sdn, "access": {}, "dc": {}, "nodes": {}, "storage": {}, "vms": {}, "mapping": {} })
}

fn create(app: &App, _: &Caller, mut args: Args) -> Result<Value, Error> {
    let username = args.take_string("username");
    let password = args.take_string("password");
    let realm = args.take_string("realm");
    // Accepted for compatibility; sdnd has no second factors and always uses the new format.
    for ignored in ["new-format", "otp", "path", "privs", "tfa-challenge"] {
        args.take_string(ignored);
    }
    let peer = args.peer();
    if username.is_none() {
        args.reject("username", "property is missing and it is not optional");
    }
    if password.is_none() {
        args.reject("password", "property is missing and it is not optional");
    }
    args.finish()?;
    let mut username = username.unwrap_or_default();
    if let Some(realm) = realm.filter(|_| !username.contains('@')) {
        username = format!("{username}@{realm}");
    }
    let (user, ticket, csrf, caller) = app.auth.login(&username, &password.unwrap_or_default(), peer)?;
    Ok(json!({
        "username": user.as_str(),
        "ticket": ticket,
        "CSRFPreventionToken": csrf,
        "cap": capabilities(&caller),
    }))
}
