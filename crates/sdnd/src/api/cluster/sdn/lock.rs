//! `/cluster/sdn/lock`: take, inspect and release the global SDN lock.

use hyper::Method;
use serde_json::{json, Value};

use super::{lock_token_param, take_lock_token};
use crate::app::App;
use crate::audit::{self, Actor};
use crate::auth::{Caller, Permission, SDN_ALLOCATE, SDN_AUDIT};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};
use crate::sdn::lock::{Intent, LockRecord};
use sdn_wire::LockStatus;
use crate::sdn::{LockUpdate, Mutation};

/// Longest lock lifetime a caller may ask for: one week.
const MAX_TTL: u64 = 7 * 24 * 3600;
const MAX_COMMENT: usize = 256;

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/cluster/sdn/lock", Permission::Path("/sdn", &[SDN_AUDIT, SDN_ALLOCATE]), status)
            .summary("Whether the global SDN lock is held, by whom and until when (never the token).")
            .returns(Schema::Object(vec![
                Field::required("locked", Schema::Flag, ""),
                Field::optional("holder", Schema::string(), ""),
                Field::optional("since", Schema::Integer { min: None, max: None }, "epoch seconds"),
                Field::optional("expires", Schema::Integer { min: None, max: None }, "epoch seconds"),
                Field::optional("comment", Schema::string(), ""),
                Field::optional("confirm-deadline", Schema::Integer { min: None, max: None }, "while a confirmed apply awaits confirmation: until when (epoch seconds)"),
            ])),
        Route::new(Method::POST, "/cluster/sdn/lock", Permission::Path("/sdn", &[SDN_ALLOCATE]), acquire)
            .summary("Takes the global SDN lock; answers its token.")
            .params([
                Field::optional("allow-pending", Schema::Boolean, "lock even with pending changes").default(json!(false)),
                Field::optional("ttl", Schema::Integer { min: Some(1), max: Some(MAX_TTL as i64) }, "seconds until the lock expires (default: never)"),
                Field::optional("comment", Schema::String { pattern: None, max_length: Some(MAX_COMMENT) }, "one line shown to others"),
            ])
            .returns(Schema::string()),
        Route::new(Method::DELETE, "/cluster/sdn/lock", Permission::Path("/sdn", &[SDN_ALLOCATE]), release)
            .summary("Releases the global SDN lock.")
            .params([
                lock_token_param(),
                Field::optional("force", Schema::Boolean, "release without the token").default(json!(false)),
            ]),
    ]
}

fn status(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    args.finish()?;
    let record = app.sdn.lock_record()?;
    let now = app.clock.now_ms();
    let status = match record.filter(|lock| !lock.is_expired(now)) {
        None => LockStatus::default(),
        Some(lock) => LockStatus {
            locked: true,
            since: Some(lock.since()),
            expires: lock.expires(),
            holder: Some(lock.holder),
            comment: lock.comment,
        },
    };
    let mut answer = crate::api::to_json(status)?;
    if let (Some(window), _) = crate::history::window(app.store.as_ref())? {
        answer["confirm-deadline"] = json!(window.deadline());
    }
    Ok(answer)
}

fn acquire(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let allow_pending = args.take_bool("allow-pending", false);
    let ttl = args.take_u64("ttl", 1, MAX_TTL);
    let comment = args.take_string("comment");
    if let Some(comment) = &comment {
        if comment.chars().count() > MAX_COMMENT || comment.chars().any(char::is_control) {
            args.reject("comment", format!("at most {MAX_COMMENT} characters, one line"));
        }
    }
    let actor = Actor::new(caller, args.peer());
    args.finish()?;
    let token = app.sdn.mutate(Intent::Acquire, |snapshot, _| {
        if !allow_pending && sdn_config::has_pending_changes(&snapshot.pending, &snapshot.running) {
            return Err(Error::Conflict(
                "there are pending changes: apply or roll them back first, or lock with allow-pending=1".into(),
            ));
        }
        let now = app.clock.now_ms();
        let (record, token) = LockRecord::acquire(caller.auth_id(), now, ttl, comment.clone());
        let mut entry = audit::Entry::new(now, "lock", &actor).comment(comment.as_deref());
        if let Some(expires) = record.expires() {
            entry = entry.detail(format!("until {expires}"));
        }
        let mutation = Mutation { lock: Some(LockUpdate::Set(record)), extra: vec![entry.op()], ..Mutation::default() };
        Ok((mutation, token))
    })?;
    tracing::info!("SDN lock taken by {}", caller.auth_id());
    Ok(json!(token))
}

fn release(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let force = args.take_bool("force", false);
    let actor = Actor::new(caller, args.peer());
    args.finish()?;
    app.sdn.mutate(Intent::Release { token: token.as_deref(), force }, |_, lock| {
        let (window, window_rev) = crate::history::window(app.store.as_ref())?;
        if let Some(window) = window.as_ref().filter(|w| !force && w.lock_sha256.is_some()) {
            // Released on confirm or after the revert; forcing it open stays possible.
            return Err(crate::history::awaiting(window));
        }
        let action = if force { "force-unlock" } else { "unlock" };
        // Forcing open a lock nobody holds changes nothing, and records nothing.
        let entry = lock.map(|lock| {
            let detail = format!("lock of {} held since {}", lock.holder, lock.since());
            audit::Entry::new(app.clock.now_ms(), action, &actor).detail(detail).op()
        });
        let mutation = Mutation {
            lock: Some(LockUpdate::Remove),
            extra: entry.into_iter().collect(),
            guards: vec![crate::sdn::unchanged(crate::layout::CONFIRM, window_rev)],
            ..Mutation::default()
        };
        Ok((mutation, ()))
    })?;
    tracing::info!("SDN lock released by {}{}", caller.auth_id(), if force { " (forced)" } else { "" });
    Ok(Value::Null)
}
