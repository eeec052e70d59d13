//! `POST /cluster/sdn/changes`: a change set, many steps in one transaction, all or nothing.
//!
//! Every step goes through the route that serves it alone (the same privilege check,
//! parameter check and handler, see [`crate::http::run_route`]); the core stages what the
//! handlers write and commits it once ([`crate::sdn::Sdn::change_set`]).

use std::sync::OnceLock;

use hyper::Method;
use serde_json::{Map, Value};

use super::{lock_token_param, take_lock_token};
use crate::app::App;
use crate::audit::{self, Actor};
use crate::auth::{Caller, Permission};
use crate::error::Error;
use crate::http::params::Args;
use crate::http::router::{Lookup, Route, Router};
use crate::http::shape::{Field, Schema};
use crate::sdn::lock::Intent;

/// The most steps one change set may have.
pub const MAX_STEPS: usize = 10_000;
const PREFIX: &str = "/cluster/sdn/";
const PATH: &str = "/cluster/sdn/changes";

pub fn routes() -> Vec<Route> {
    // Each step is checked against its own route's privilege, as if it came alone.
    vec![Route::new(Method::POST, PATH, Permission::Authenticated, changes)
        .summary("Runs every step (a change of the pending configuration) in one transaction: all are made or none is.")
        .params([
            Field::required(
                "steps",
                Schema::AnyOf(vec![Schema::array(Schema::Any), Schema::string()]),
                "a JSON array (or, form-encoded, a JSON string) of {\"method\": POST|PUT|DELETE, \"path\": \"/cluster/sdn/...\", \"params\": {...}}",
            ),
            lock_token_param(),
        ])
        .returns(Schema::Integer { min: Some(0), max: None })]
}

/// The API's routes, for looking the steps up (the same table the server dispatches on).
fn router() -> &'static Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(|| Router::new(crate::api::routes()))
}

/// One step, checked for its shape.
struct Step {
    method: Method,
    path: String,
    params: Map<String, Value>,
}

impl Step {
    fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

fn parse_steps(value: Value) -> Result<Vec<Step>, Error> {
    let value = match value {
        Value::String(text) => serde_json::from_str(&text)
            .map_err(|err| Error::param("steps", format!("not a JSON array of steps: {err}")))?,
        other => other,
    };
    let Value::Array(items) = value else {
        return Err(Error::param("steps", "expected a JSON array of steps"));
    };
    if items.len() > MAX_STEPS {
        return Err(Error::param("steps", format!("at most {MAX_STEPS} steps (got {})", items.len())));
    }
    items.into_iter().enumerate().map(|(i, item)| parse_step(i, item)).collect()
}

fn parse_step(i: usize, item: Value) -> Result<Step, Error> {
    let field = |name: &str| format!("steps[{i}].{name}");
    let Value::Object(mut map) = item else {
        return Err(Error::param(&format!("steps[{i}]"), "expected an object with method, path and params"));
    };
    let method = match map.remove("method") {
        Some(Value::String(m)) if m.eq_ignore_ascii_case("POST") => Method::POST,
        Some(Value::String(m)) if m.eq_ignore_ascii_case("PUT") => Method::PUT,
        Some(Value::String(m)) if m.eq_ignore_ascii_case("DELETE") => Method::DELETE,
        _ => return Err(Error::param(&field("method"), "expected POST, PUT or DELETE")),
    };
    let path = match map.remove("path") {
        Some(Value::String(path)) => path,
        _ => return Err(Error::param(&field("path"), "expected a path below /cluster/sdn/")),
    };
    let path = path.strip_prefix("/api2/json").unwrap_or(&path).to_string();
    if !path.starts_with(PREFIX) || path.trim_end_matches('/') == PATH {
        return Err(Error::param(&field("path"), format!("'{path}' is not a path below /cluster/sdn/ a change set may change")));
    }
    let params = match map.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(params)) => params,
        Some(_) => return Err(Error::param(&field("params"), "expected an object of parameters")),
    };
    if let Some(name) = map.keys().next() {
        return Err(Error::param(&field(name), "unknown field: a step has method, path and params"));
    }
    Ok(Step { method, path, params })
}

/// Runs one step through its route, its errors named after the step.
fn run_step(app: &App, caller: &Caller, peer: std::net::SocketAddr, token: Option<&str>, i: usize, step: &Step) -> Result<(), Error> {
    let name = format!("steps[{i}]");
    let segments: Option<Vec<String>> =
        step.path.split('/').filter(|s| !s.is_empty()).map(crate::http::decode_segment).collect();
    let Some(segments) = segments else {
        return Err(Error::param(&format!("{name}.path"), "malformed path (not UTF-8 once decoded)"));
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (route, captured) = match router().lookup(&step.method, &segments) {
        Lookup::Found(route, captured) => (route, captured),
        Lookup::NotFound | Lookup::WrongMethod => {
            return Err(Error::param(&format!("{name}.path"), format!("no such change: '{}'", step.describe())))
        }
    };
    let mut values = step.params.clone();
    for (key, value) in captured {
        if values.get(&key).is_some_and(|given| given != &value) {
            return Err(Error::param(&format!("{name}.params.{key}"), "the value in the path and the parameter differ"));
        }
        values.insert(key, value);
    }
    if let (Some(token), true) = (token, route.param("lock-token").is_some()) {
        values.entry("lock-token").or_insert_with(|| Value::String(token.to_string()));
    }
    crate::http::run_route(app, caller, route, values, peer).map(drop).map_err(|err| named(err, &name, step))
}

/// `err` of step `name`, naming the step, its path and (for parameters) the field.
fn named(err: Error, name: &str, step: &Step) -> Error {
    let what = step.describe();
    let prefix = |message: String| format!("{name} ({what}): {message}");
    match err {
        Error::BadParams(errors) => Error::BadParams(
            errors.into_iter().map(|(field, message)| (format!("{name}.params.{field}"), format!("{what}: {message}"))).collect(),
        ),
        Error::Unauthenticated(m) => Error::Unauthenticated(prefix(m)),
        Error::LoginFailed(m) => Error::LoginFailed(prefix(m)),
        Error::Forbidden(m) => Error::Forbidden(prefix(m)),
        Error::NotFound(m) => Error::NotFound(prefix(m)),
        Error::NotImplemented(m) => Error::NotImplemented(prefix(m)),
        Error::Conflict(m) => Error::Conflict(prefix(m)),
        Error::Locked(m) => Error::Locked(prefix(m)),
        Error::TooManyRequests { message, retry_after } => Error::TooManyRequests { message: prefix(message), retry_after },
        Error::Unavailable(m) => Error::Unavailable(m),
        Error::Internal(m) => Error::Internal(m),
    }
}

fn changes(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let steps = args.take_value("steps");
    if steps.is_none() {
        args.reject("steps", "property is missing and it is not optional");
    }
    let peer = args.peer();
    let actor = Actor::new(caller, peer);
    args.finish()?;
    let steps = parse_steps(steps.unwrap_or(Value::Null))?;
    let token = token.as_deref();
    let count = app.sdn.change_set(
        Intent::Change { token },
        || {
            for (i, step) in steps.iter().enumerate() {
                run_step(app, caller, peer, token, i, step)?;
            }
            Ok(steps.len())
        },
        |count| {
            let mut paths: Vec<String> = steps.iter().take(20).map(Step::describe).collect();
            if *count > paths.len() {
                paths.push(format!("and {} more", count - paths.len()));
            }
            let detail = format!("{count} step(s): {}", paths.join(", "));
            vec![audit::Entry::new(app.clock.now_ms(), "changes", &actor).detail(detail).op()]
        },
    )?;
    tracing::info!("change set of {count} step(s) made by {}", actor.user);
    Ok(Value::from(count))
}
