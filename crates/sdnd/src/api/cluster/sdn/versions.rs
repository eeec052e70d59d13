//! `/cluster/sdn/versions`: the kept versions, their comparison and restore, and
//! `/cluster/sdn/confirm` for a confirmed apply.

use hyper::Method;
use serde_json::{json, Value};

use super::{comment_param, dry_run, lock_token_param, take_comment, take_lock_token};
use crate::app::App;
use crate::audit::Actor;
use crate::auth::{Caller, Permission, SDN_ALLOCATE, SDN_AUDIT, SYS_AUDIT};
use crate::error::Error;
use crate::history;
use crate::http::params::Args;
use crate::http::router::Route;
use crate::http::shape::{Field, Schema};

fn integer() -> Schema {
    Schema::Integer { min: None, max: None }
}

fn version_param() -> Field {
    Field::required("version", Schema::Integer { min: Some(0), max: None }, "a kept version (GET /cluster/sdn/versions)")
}

pub fn routes() -> Vec<Route> {
    let audit = Permission::Path("/sdn", &[SDN_AUDIT, SDN_ALLOCATE]);
    let entry = || {
        vec![
            Field::required("version", integer(), ""),
            Field::required("time", integer(), "when it was applied, epoch seconds"),
            Field::required("user", Schema::string(), "who applied it (sdnd: a revert by itself)"),
            Field::required("upid", Schema::string(), "the apply task"),
            Field::optional("comment", Schema::string(), ""),
            Field::required("confirmed", Schema::Flag, "false while awaiting confirmation, and once reverted"),
        ]
    };
    let change = Schema::Object(vec![
        Field::required("kind", Schema::string(), "zones, vnets, subnets, controllers, fabrics...; file for a node's file"),
        Field::required("id", Schema::string(), "the object's id, or the file's path"),
        Field::required("state", Schema::string(), "new, changed or deleted"),
        Field::optional("before", Schema::nullable(Schema::Any), "the object before (null when new)"),
        Field::optional("after", Schema::nullable(Schema::Any), "the object after (null when deleted)"),
        Field::optional("node", Schema::string(), "for a file: the node"),
        Field::optional("diff", Schema::string(), "for a file: the unified diff"),
    ]);
    let mut one = entry();
    one.retain(|field| !matches!(field.name, "upid" | "comment" | "confirmed"));
    one.push(Field::required("config", Schema::Any, "the version's running configuration, in the reference's running-config JSON"));
    vec![
        Route::new(Method::GET, "/cluster/sdn/versions", audit, list)
            .summary("The kept versions, newest first.")
            .returns(Schema::array(Schema::Object(entry()))),
        Route::new(Method::GET, "/cluster/sdn/versions/{version}", audit, read)
            .summary("One kept version with its running configuration.")
            .params([version_param()])
            .returns(Schema::Object(one)),
        Route::new(Method::GET, "/cluster/sdn/versions/{version}/diff", audit, diff)
            .summary("The object-level changes from this version to another (or pending); with node, that node's file diffs too.")
            .params([
                version_param(),
                Field::optional("to", Schema::string(), "another version, or 'pending' (default: the running version)"),
                Field::optional("node", Schema::string(), "also diff the files this node renders (needs Sys.Audit on /nodes/{node})"),
            ])
            .returns(Schema::array(change)),
        Route::new(Method::POST, "/cluster/sdn/versions/{version}/restore", Permission::Path("/sdn", &[SDN_ALLOCATE]), restore)
            .summary("Makes pending equal to this version's configuration (apply then makes it running as a new version).")
            .params([
                version_param(),
                lock_token_param(),
                Field::optional("allow-pending", Schema::Boolean, "restore even over pending changes").default(json!(false)),
                comment_param("kept in the audit trail"),
            ]),
        Route::new(Method::GET, "/cluster/sdn/confirm", audit, window)
            .summary("The confirmed apply awaiting confirmation, if any.")
            .returns(Schema::nullable(Schema::Object(vec![
                Field::required("version", integer(), "the version awaiting confirmation"),
                Field::required("previous", integer(), "the version reverted to unless confirmed"),
                Field::required("confirm-deadline", integer(), "epoch seconds"),
                Field::required("upid", Schema::string(), "the apply task"),
                Field::required("user", Schema::string(), ""),
                Field::required("locked", Schema::Flag, "whether confirming takes the lock's token"),
                Field::required("revert-on-failure", Schema::Flag, ""),
            ]))),
        Route::new(Method::POST, "/cluster/sdn/confirm", Permission::Path("/sdn", &[SDN_ALLOCATE]), confirm)
            .summary("Confirms the outstanding confirmed apply: its version stays; the lock is released if the apply asked.")
            .params([lock_token_param()])
            .returns(integer()),
    ]
}

fn take_version(args: &mut Args) -> u64 {
    args.take_u64("version", 0, u64::MAX).unwrap_or(0)
}

fn list(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    args.finish()?;
    let versions = history::list(app.store.as_ref())?;
    Ok(Value::Array(
        versions
            .into_iter()
            .map(|meta| {
                let mut entry = json!({
                    "version": meta.version,
                    "time": meta.time,
                    "user": meta.user,
                    "upid": meta.upid,
                    "confirmed": u8::from(meta.confirmed),
                });
                if let Some(comment) = meta.comment {
                    entry["comment"] = json!(comment);
                }
                entry
            })
            .collect(),
    ))
}

fn read(app: &App, _: &Caller, mut args: Args) -> Result<Value, Error> {
    let version = take_version(&mut args);
    args.finish()?;
    let (meta, _) = history::meta(app.store.as_ref(), version)?;
    let text = history::config_text(app.store.as_ref(), version)?;
    let config: Value = serde_json::from_slice(&text)
        .map_err(|err| Error::Internal(format!("the configuration of version {version} is unreadable: {err}")))?;
    Ok(json!({ "version": meta.version, "time": meta.time, "user": meta.user, "config": config }))
}

/// What a diff compares with.
enum Side {
    Version(u64),
    Pending,
    Running,
}

impl Side {
    fn label(&self) -> String {
        match self {
            Side::Version(version) => format!("version {version}"),
            Side::Pending => "pending".into(),
            Side::Running => "running".into(),
        }
    }
}

fn diff(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let version = take_version(&mut args);
    let to = match args.take_string("to").as_deref() {
        None => Side::Running,
        Some("pending") => Side::Pending,
        Some(other) => match other.parse::<u64>() {
            Ok(version) => Side::Version(version),
            Err(_) => {
                args.reject("to", "expected a version number or 'pending'");
                Side::Running
            }
        },
    };
    let node = args.take_string("node");
    args.finish()?;
    if let Some(node) = &node {
        caller.require(&format!("/nodes/{node}"), &[SYS_AUDIT])?;
    }
    let store = app.store.as_ref();
    let from = app.versions.get(store, version)?;
    let snapshot = app.sdn.snapshot()?;
    let (target, target_version) = match &to {
        Side::Version(other) => (app.versions.get(store, *other)?, *other),
        Side::Pending => (snapshot.pending.clone(), snapshot.running_version),
        Side::Running => (snapshot.running.clone(), snapshot.running_version),
    };
    let mut changes = history::object_diff(&from, &target);
    if let Some(node) = &node {
        let files = app.node_files(node)?;
        let before = dry_run::render(&from, version, &files, node, &format!("version {version}"))?;
        let after = dry_run::render(&target, target_version, &files, node, &to.label())?;
        let (old_label, new_label) = (format!("version {version}"), to.label());
        let pairs = [
            ("/etc/frr/frr.conf", before.frr.as_deref(), after.frr.as_deref().unwrap_or("")),
            ("/etc/network/interfaces.d/sdn", Some(before.interfaces.as_str()), after.interfaces.as_str()),
        ];
        for (path, old, new) in pairs {
            let headers = (format!("{path} ({old_label})"), format!("{path} ({new_label})"));
            if let Some(text) = dry_run::unified_between(old, new, &headers.0, &headers.1) {
                changes.push(json!({ "kind": "file", "id": path, "node": node, "state": "changed", "diff": text }));
            }
        }
    }
    Ok(Value::Array(changes))
}

fn restore(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let version = take_version(&mut args);
    let token = take_lock_token(&mut args);
    let allow_pending = args.take_bool("allow-pending", false);
    let comment = take_comment(&mut args);
    let actor = Actor::new(caller, args.peer());
    args.finish()?;
    history::restore(app, &actor, token.as_deref(), version, allow_pending, comment.as_deref())?;
    Ok(Value::Null)
}

fn window(app: &App, _: &Caller, args: Args) -> Result<Value, Error> {
    args.finish()?;
    let (window, _) = history::window(app.store.as_ref())?;
    Ok(window.map_or(Value::Null, |window| {
        json!({
            "version": window.version,
            "previous": window.previous,
            "confirm-deadline": window.deadline(),
            "upid": window.upid,
            "user": window.user,
            "locked": u8::from(window.lock_sha256.is_some()),
            "revert-on-failure": u8::from(window.revert_on_failure),
        })
    }))
}

fn confirm(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let actor = Actor::new(caller, args.peer());
    args.finish()?;
    Ok(json!(history::confirm(app, &actor, token.as_deref())?))
}
