//! `/access/users`: the users (read), and each user's API tokens, as PVE's
//! `/access/users/{userid}/token/{tokenid}` (list, read, create, update, delete). A user
//! manages its own tokens (logged in as itself, not with a token); for anyone else's it takes
//! `User.Modify` on `/access/groups`, and `Sys.Audit` there to read them, as in PVE.

use hyper::Method;
use serde_json::{json, Value};

use crate::app::App;
use crate::auth::records::{self, TokenRecord, TokenUpdate, UserRecord};
use crate::auth::{Caller, Permission, TokenName, UserId, SYS_AUDIT};
use crate::error::Error;
use crate::http::params::Args;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};

const USER_MODIFY: &str = "User.Modify";
const GROUPS: &str = "/access/groups";
/// PVE's `pve-userid` and token name formats.
const USERID_PATTERN: &str = r"^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+$";
const TOKENID_PATTERN: &str = r"^[A-Za-z][A-Za-z0-9.\-_]+$";

pub fn routes() -> Vec<Route> {
    let userid = || Field::required("userid", Schema::pattern(USERID_PATTERN), "USER@REALM");
    let tokenid = || Field::required("tokenid", Schema::pattern(TOKENID_PATTERN), "the token's name");
    let token_props = || {
        vec![
            Field::optional("comment", Schema::String { pattern: None, max_length: Some(256) }, ""),
            Field::optional("expire", Schema::Integer { min: Some(0), max: None }, "epoch seconds; 0: never"),
            Field::optional("privsep", Schema::Boolean, "only the token's own ACL, intersected with its user's"),
        ]
    };
    let token_info = || {
        Schema::Object(vec![
            Field::optional("comment", Schema::string(), ""),
            Field::required("expire", Schema::Integer { min: Some(0), max: None }, "epoch seconds; 0: never"),
            Field::required("privsep", Schema::Flag, ""),
        ])
    };
    let user_entry = || {
        Schema::Object(vec![
            Field::required("userid", Schema::string(), ""),
            Field::required("enable", Schema::Flag, ""),
            Field::required("expire", Schema::Integer { min: Some(0), max: None }, "epoch seconds; 0: never"),
            Field::required("realm-type", Schema::Enum(vec!["pam", "pve"]), ""),
            Field::optional("comment", Schema::string(), ""),
            Field::optional("tokens", Schema::array(Schema::Object(vec![Field::required("tokenid", Schema::string(), "")])), "with full=1"),
        ])
    };
    let mut create = vec![userid(), tokenid()];
    create.extend(token_props());
    let mut update = create.clone();
    update.push(Field::optional("delete", Schema::string(), "comma-separated properties to reset (comment)"));
    vec![
        Route::new(Method::GET, "/access/users", Permission::Authenticated, list_users)
            .summary("The users: all with User.Modify or Sys.Audit on /access/groups, else the caller itself.")
            .params([
                Field::optional("enabled", Schema::Boolean, "only enabled (1) or disabled (0) users"),
                Field::optional("full", Schema::Boolean, "with each user's tokens").default(json!(false)),
            ])
            .returns(Schema::array(user_entry())),
        Route::new(Method::GET, "/access/users/{userid}", Permission::Authenticated, read_user)
            .summary("One user.")
            .params([userid()])
            .returns(user_entry()),
        Route::new(Method::GET, "/access/users/{userid}/token", Permission::Authenticated, list_tokens)
            .summary("The user's API tokens.")
            .params([userid()])
            .returns(Schema::array(Schema::Object(vec![
                Field::required("tokenid", Schema::string(), ""),
                Field::optional("comment", Schema::string(), ""),
                Field::required("expire", Schema::Integer { min: Some(0), max: None }, ""),
                Field::required("privsep", Schema::Flag, ""),
            ]))),
        Route::new(Method::GET, "/access/users/{userid}/token/{tokenid}", Permission::Authenticated, read_token)
            .summary("One API token.")
            .params([userid(), tokenid()])
            .returns(token_info()),
        Route::new(Method::POST, "/access/users/{userid}/token/{tokenid}", Permission::Authenticated, create_token)
            .summary("Creates an API token; its secret is in `value`, shown only here.")
            .params(create)
            .returns(Schema::Object(vec![
                Field::required("full-tokenid", Schema::string(), "USER@REALM!TOKENID"),
                Field::required("info", token_info(), ""),
                Field::required("value", Schema::string(), "the secret"),
            ])),
        Route::new(Method::PUT, "/access/users/{userid}/token/{tokenid}", Permission::Authenticated, update_token)
            .summary("Changes an API token's comment, expiry or privilege separation.")
            .params(update)
            .returns(token_info()),
        Route::new(Method::DELETE, "/access/users/{userid}/token/{tokenid}", Permission::Authenticated, delete_token)
            .summary("Deletes an API token and its ACL entries.")
            .params([userid(), tokenid()])
            .returns(Schema::Null),
    ]
}

/// The user the path names, parsed.
fn target(args: &mut Args) -> Option<UserId> {
    let text = args.take_string("userid").unwrap_or_default();
    match UserId::parse(&text) {
        Ok(user) => Some(user),
        Err(why) => {
            args.reject("userid", why);
            None
        }
    }
}

fn token_name(args: &mut Args) -> Option<TokenName> {
    let text = args.take_string("tokenid").unwrap_or_default();
    match TokenName::parse(&text) {
        Ok(token) => Some(token),
        Err(why) => {
            args.reject("tokenid", why);
            None
        }
    }
}

/// Whether the caller is `user` itself, logged in as the user (a token is not its user).
fn is_self(caller: &Caller, user: &UserId) -> bool {
    caller.user().is_some_and(|(me, with_token)| me == user && !with_token)
}

/// Reading: oneself, or Sys.Audit / User.Modify on /access/groups.
fn may_read(caller: &Caller, user: &UserId) -> Result<(), Error> {
    let own = caller.user().is_some_and(|(me, _)| me == user);
    if own { Ok(()) } else { caller.require(GROUPS, &[SYS_AUDIT, USER_MODIFY]) }
}

/// Changing tokens: oneself (not with a token), or User.Modify on /access/groups.
fn may_change(caller: &Caller, user: &UserId) -> Result<(), Error> {
    if is_self(caller, user) { Ok(()) } else { caller.require(GROUPS, &[USER_MODIFY]) }
}

fn user_json(id: &str, record: &UserRecord, tokens: Option<Vec<String>>) -> Value {
    let realm = if id.ends_with("@pam") { "pam" } else { "pve" };
    let mut entry = json!({ "userid": id, "enable": u8::from(record.enable), "expire": record.expire, "realm-type": realm });
    if let Some(comment) = &record.comment {
        entry["comment"] = json!(comment);
    }
    if let Some(tokens) = tokens {
        entry["tokens"] = Value::Array(tokens.into_iter().map(|t| json!({ "tokenid": t })).collect());
    }
    entry
}

fn token_info(record: &TokenRecord) -> Value {
    let mut info = json!({ "expire": record.expire, "privsep": u8::from(record.privsep) });
    if let Some(comment) = &record.comment {
        info["comment"] = json!(comment);
    }
    info
}

fn list_users(_: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let enabled = args.take_optional_bool("enabled");
    let full = args.take_bool("full", false);
    args.finish()?;
    let everyone = caller.has_any(GROUPS, &[SYS_AUDIT, USER_MODIFY]);
    let me = caller.user().map(|(me, _)| me.to_string());
    let users: Vec<Value> = caller
        .access()
        .users()
        .into_iter()
        .filter(|(id, _)| everyone || me.as_deref() == Some(id.as_str()))
        .filter(|(_, record)| enabled.is_none_or(|wanted| record.enable == wanted))
        .map(|(id, record)| {
            let tokens = full.then(|| UserId::parse(&id).map(|u| caller.access().tokens_of(&u).into_keys().collect()).unwrap_or_default());
            user_json(&id, &record, tokens)
        })
        .collect();
    Ok(Value::Array(users))
}

fn read_user(_: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let user = target(&mut args);
    args.finish()?;
    let user = parsed(user)?;
    may_read(caller, &user)?;
    let record = caller.access().users().remove(user.as_str()).ok_or_else(|| no_user(&user))?;
    Ok(user_json(user.as_str(), &record, Some(caller.access().tokens_of(&user).into_keys().collect())))
}

fn list_tokens(_: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let user = target(&mut args);
    args.finish()?;
    let user = parsed(user)?;
    may_read(caller, &user)?;
    if !caller.access().users().contains_key(user.as_str()) {
        return Err(no_user(&user));
    }
    let tokens = caller.access().tokens_of(&user).into_iter().map(|(name, record)| {
        let mut entry = token_info(&record);
        entry["tokenid"] = json!(name);
        entry
    });
    Ok(Value::Array(tokens.collect()))
}

fn read_token(_: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let (user, token) = (target(&mut args), token_name(&mut args));
    args.finish()?;
    let (user, token) = (parsed(user)?, parsed(token)?);
    may_read(caller, &user)?;
    let record = caller.access().tokens_of(&user).remove(token.as_str()).ok_or_else(|| no_token(&user, &token))?;
    Ok(token_info(&record))
}

fn create_token(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let (user, token) = (target(&mut args), token_name(&mut args));
    let comment = args.take_string("comment");
    let expire = args.take_u64("expire", 0, i64::MAX as u64).map_or(0, |e| e as i64);
    // PVE's default: privilege separation on.
    let privsep = args.take_bool("privsep", true);
    args.finish()?;
    let (user, token) = (parsed(user)?, parsed(token)?);
    may_change(caller, &user)?;
    let store = app.store.as_ref();
    let secret = records::add_token(store, &user, &token, privsep, expire, comment.clone(), app.clock.now()).map_err(Error::Conflict)?;
    tracing::info!("API token {user}!{} created by {}", token.as_str(), caller.auth_id());
    let info = TokenRecord { secret_sha256: String::new(), privsep, expire, created: 0, comment };
    Ok(json!({ "full-tokenid": format!("{user}!{}", token.as_str()), "info": token_info(&info), "value": secret }))
}

fn update_token(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let (user, token) = (target(&mut args), token_name(&mut args));
    let comment = args.take_string("comment");
    let expire = args.take_u64("expire", 0, i64::MAX as u64).map(|e| e as i64);
    let privsep = args.take_optional_bool("privsep");
    let delete = args.take_list("delete").unwrap_or_default();
    for name in &delete {
        if name != "comment" {
            args.reject("delete", format!("'{name}' can't be deleted (only: comment)"));
        }
    }
    args.finish()?;
    let (user, token) = (parsed(user)?, parsed(token)?);
    may_change(caller, &user)?;
    let comment = match (comment, delete.iter().any(|d| d == "comment")) {
        (Some(_), true) => return Err(Error::param("delete", "'comment' is set and deleted at once")),
        (Some(text), false) => Some(Some(text)),
        (None, true) => Some(None),
        (None, false) => None,
    };
    let record = records::update_token(app.store.as_ref(), &user, &token, TokenUpdate { privsep, expire, comment })
        .map_err(|why| if why.starts_with("no such") { Error::NotFound(why) } else { Error::Conflict(why) })?;
    tracing::info!("API token {user}!{} changed by {}", token.as_str(), caller.auth_id());
    Ok(token_info(&record))
}

fn delete_token(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let (user, token) = (target(&mut args), token_name(&mut args));
    args.finish()?;
    let (user, token) = (parsed(user)?, parsed(token)?);
    may_change(caller, &user)?;
    records::delete_token(app.store.as_ref(), &user, &token)
        .map_err(|why| if why.starts_with("no such") { Error::NotFound(why) } else { Error::Conflict(why) })?;
    tracing::info!("API token {user}!{} deleted by {}", token.as_str(), caller.auth_id());
    Ok(Value::Null)
}

fn no_user(user: &UserId) -> Error {
    Error::NotFound(format!("no such user ('{user}')"))
}

fn no_token(user: &UserId, token: &TokenName) -> Error {
    Error::NotFound(format!("no such token '{}' for user '{user}'", token.as_str()))
}

/// An id that parsed (`Args::finish` has already refused the request if it did not).
fn parsed<T>(value: Option<T>) -> Result<T, Error> {
    value.ok_or_else(|| Error::Internal("an id was refused but the request went on".into()))
}
