//! `GET /cluster/sdn/audit`: the audit trail, newest first.

use hyper::Method;
use serde_json::Value;

use crate::app::App;
use crate::audit::{self, Filter};
use crate::auth::{Caller, Permission, SDN_AUDIT};
use crate::error::Error;
use crate::http::params::Args;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};

const MAX_LIMIT: u64 = audit::RETENTION as u64;
const DEFAULT_LIMIT: u64 = 500;

pub fn routes() -> Vec<Route> {
    let integer = || Schema::Integer { min: None, max: None };
    let nullable_string = || Schema::nullable(Schema::string());
    vec![Route::new(Method::GET, "/cluster/sdn/audit", Permission::Path("/sdn", &[SDN_AUDIT]), list)
        .summary("Who locked, unlocked, applied, rolled back, restored, confirmed or reverted what, and which change sets ran.")
        .params([
            Field::optional("limit", Schema::Integer { min: Some(1), max: Some(MAX_LIMIT as i64) }, "at most this many records")
                .default(serde_json::json!(DEFAULT_LIMIT)),
            Field::optional("since", Schema::Integer { min: Some(0), max: None }, "only records from this time on (epoch seconds)"),
            Field::optional("user", Schema::String { pattern: None, max_length: Some(256) }, "only this user's or token's records"),
            Field::optional("action", Schema::Enum(audit::ACTIONS.to_vec()), "only records of this action"),
        ])
        .returns(Schema::array(Schema::Object(vec![
            Field::required("time", integer(), "epoch seconds"),
            Field::required("action", Schema::Enum(audit::ACTIONS.to_vec()), ""),
            Field::required("user", Schema::string(), "the user or token id (sdnd: the server by itself)"),
            Field::required("client", Schema::string(), "the client's address"),
            Field::required("comment", nullable_string(), ""),
            Field::required("result", Schema::string(), ""),
            Field::required("version", Schema::nullable(integer()), "the version made or concerned"),
            Field::required("detail", nullable_string(), ""),
        ])))]
}

fn list(app: &App, _: &Caller, mut args: Args) -> Result<Value, Error> {
    let limit = args.take_u64("limit", 1, MAX_LIMIT).unwrap_or(DEFAULT_LIMIT);
    let since = args.take_u64("since", 0, i64::MAX as u64).map(|s| s as i64);
    let user = args.take_string("user");
    let action = args.take_string("action");
    if let Some(action) = action.as_deref().filter(|a| !audit::ACTIONS.contains(a)) {
        args.reject("action", format!("value '{action}' does not have a value in the enumeration '{}'", audit::ACTIONS.join(", ")));
    }
    args.finish()?;
    let filter = Filter { limit: limit as usize, since, user, action };
    crate::api::to_json(app.audit(&filter)?)
}
