//! `/access/ticket`: a ticket for a password (or for a still-valid ticket: renewal).

use hyper::Method;
use serde_json::{json, Map, Value};

use crate::app::App;
use crate::auth::{Caller, Permission};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};

pub fn routes() -> Vec<Route> {
    vec![
        // PVE answers GET with null: formatters use it to show a login page.
        Route::new(Method::GET, "/access/ticket", Permission::Public, |_, _, _| Ok(Value::Null))
            .summary("Answers null (formatters show a login page)."),
        Route::new(Method::POST, "/access/ticket", Permission::Public, create)
            .summary("A ticket for a password, or a new one for a still-valid ticket given as the password.")
            .params(login_params())
            .returns(Schema::Object(vec![
                Field::required("username", Schema::string(), ""),
                Field::required("ticket", Schema::string(), "send as the PVEAuthCookie cookie"),
                Field::required("CSRFPreventionToken", Schema::string(), "send as a header with every request but GET"),
                Field::required("cap", Schema::Map(Box::new(Schema::Map(Box::new(Schema::Flag)))), "privileges held, per area"),
            ])),
    ]
}

fn login_params() -> Vec<Field> {
    let ignored = "accepted for compatibility; sdnd has no second factors";
    vec![
        Field::required("username", Schema::string(), "user name, with or without @realm"),
        Field::required("password", Schema::string(), "the password, or a still-valid ticket to renew"),
        Field::optional("realm", Schema::string(), "appended to a username without @realm"),
        Field::optional("new-format", Schema::Boolean, "accepted for compatibility; always the new format").default(json!(true)),
        Field::optional("otp", Schema::string(), ignored),
        Field::optional("path", Schema::string(), ignored),
        Field::optional("privs", Schema::string(), ignored),
        Field::optional("tfa-challenge", Schema::string(), ignored),
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
    // Accepted with PVE's types for compatibility; sdnd has no second factors and always
    // answers in the new format.
    args.take_bool("new-format", true);
    for ignored in ["otp", "path", "privs", "tfa-challenge"] {
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
