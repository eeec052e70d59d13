//! The object collections: `/cluster/sdn/{zones,vnets,controllers,ipams,dns}` and
//! `/cluster/sdn/vnets/{vnet}/subnets`. One set of handlers serves every kind; the config
//! model validates the objects, the lock rule admits the writes.

use hyper::Method;
use serde_json::{json, Map, Value};

use super::take_lock_token;
use crate::app::App;
use crate::auth::{Caller, Permission, SDN_ALLOCATE, SDN_AUDIT};
use crate::http::params::Args;
use crate::error::Error;
use crate::http::router::Route;
use crate::http::shape::Schema;
use crate::sdn::lock::Intent;
use crate::sdn::{Mutation, Snapshot};
use sdn_config::schema::types;
use sdn_config::{Config, Kind};

/// Collection path and object path of each kind, in the order PVE's index lists them.
const PATHS: [(Kind, &str, &str); 6] = [
    (Kind::Vnets, "/cluster/sdn/vnets", "/cluster/sdn/vnets/{vnet}"),
    (Kind::Zones, "/cluster/sdn/zones", "/cluster/sdn/zones/{zone}"),
    (Kind::Subnets, "/cluster/sdn/vnets/{vnet}/subnets", "/cluster/sdn/vnets/{vnet}/subnets/{subnet}"),
    (Kind::Controllers, "/cluster/sdn/controllers", "/cluster/sdn/controllers/{controller}"),
    (Kind::Ipams, "/cluster/sdn/ipams", "/cluster/sdn/ipams/{ipam}"),
    (Kind::Dns, "/cluster/sdn/dns", "/cluster/sdn/dns/{dns}"),
];

pub fn routes() -> Vec<Route> {
    let mut routes = Vec::new();
    for (kind, collection, object) in PATHS {
        // Each object is guarded by its own ACL path, known only once it is looked up.
        let per_object = Permission::PerObject;
        routes.push(
            Route::new(Method::GET, collection, per_object, move |app, caller, args| list(app, caller, kind, args))
                .summary(summary(kind, "List the", "s the caller may see (SDN.Audit or SDN.Allocate on each)."))
                .params(declare::list(kind))
                .returns(Schema::array(declare::object(kind))),
        );
        routes.push(
            Route::new(Method::POST, collection, per_object, move |app, caller, args| create(app, caller, kind, args))
                .summary(summary(kind, "Create a", " in the pending configuration (SDN.Allocate)."))
                .params(declare::create(kind)),
        );
        routes.push(
            Route::new(Method::GET, object, per_object, move |app, caller, args| read(app, caller, kind, args))
                .summary(summary(kind, "Read one", " (SDN.Audit or SDN.Allocate on it)."))
                .params(declare::read(kind))
                .returns(declare::object(kind)),
        );
        routes.push(
            Route::new(Method::PUT, object, per_object, move |app, caller, args| update(app, caller, kind, args))
                .summary(summary(kind, "Change a", " in the pending configuration (SDN.Allocate on it)."))
                .params(declare::update(kind)),
        );
        routes.push(
            Route::new(Method::DELETE, object, per_object, move |app, caller, args| delete(app, caller, kind, args))
                .summary(summary(kind, "Delete a", " from the pending configuration (SDN.Allocate on it)."))
                .params(declare::delete(kind)),
        );
    }
    routes
}

/// `"Create a" + " zone" + rest`, with the noun of `kind`.
fn summary(kind: Kind, verb: &str, rest: &str) -> String {
    format!("{verb} {}{rest}", kind.noun())
}

/// The parameters and answers of the object routes, derived from the config model's schema.
mod declare;

const READ: &[&str] = &[SDN_AUDIT, SDN_ALLOCATE];
const WRITE: &[&str] = &[SDN_ALLOCATE];

/// The properties that are credentials: the NetBox and phpIPAM API tokens, the PowerDNS key.
/// Kept in the store for the plugins, but no GET returns them, to anyone (PVE shows them to
/// whoever may read the object): a read shows the rest of the object, without the property
/// (no placeholder, so a client writing back what it read never replaces the secret with
/// one). An update without the property keeps the stored value.
pub const SECRETS: &[(Kind, &str)] = &[(Kind::Ipams, "token"), (Kind::Dns, "key")];

/// `object` (API JSON, with its pending version if any) without its credentials.
fn redact(kind: Kind, mut object: Value) -> Value {
    for (_, name) in SECRETS.iter().filter(|(k, _)| *k == kind) {
        if let Some(map) = object.as_object_mut() {
            map.remove(*name);
        }
        if let Some(pending) = object.get_mut("pending").and_then(Value::as_object_mut) {
            pending.remove(*name);
        }
    }
    object
}

/// The ACL path guarding an object (API JSON), as in PVE: vnets and their subnets live under
/// their zone, `/sdn/zones/ZONE/VNET`.
fn acl_path(kind: Kind, object: &Value) -> String {
    let get = |name: &str| field(object, name).unwrap_or("");
    match kind {
        Kind::Zones => format!("/sdn/zones/{}", get("zone")),
        Kind::Vnets | Kind::Subnets => format!("/sdn/zones/{}/{}", get("zone"), get("vnet")),
        other => format!("/sdn/{}/{}", other.path_segment(), get(other.id_param())),
    }
}

/// The ACL path a create needs `SDN.Allocate` on.
fn create_path(kind: Kind, config: &Config, params: &Map<String, Value>) -> String {
    let param = |name: &str| params.get(name).and_then(Value::as_str).unwrap_or("");
    match kind {
        Kind::Zones => "/sdn/zones".to_string(),
        Kind::Vnets => format!("/sdn/zones/{}", param("zone")),
        Kind::Subnets => {
            let zone = config.get(Kind::Vnets, param("vnet")).and_then(|v| v.get_str("zone")).unwrap_or("");
            format!("/sdn/zones/{zone}/{}", param("vnet"))
        }
        other => format!("/sdn/{}", other.path_segment()),
    }
}

/// The ACL path an update or delete of an existing object needs `SDN.Allocate` on
/// (the reference guards controllers, ipams and dns on their collection).
fn change_path(kind: Kind, config: &Config, id: &str) -> String {
    match kind {
        Kind::Zones | Kind::Vnets | Kind::Subnets => {
            config.get(kind, id).map(|o| acl_path(kind, &o.to_api_json())).unwrap_or_default()
        }
        other => format!("/sdn/{}", other.path_segment()),
    }
}

/// Which configuration a read looks at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Pending,
    Running,
    /// Running and pending merged, with `state` per object.
    Diff,
}

fn take_view(kind: Kind, args: &mut Args) -> View {
    if !kind.in_running_config() {
        return View::Pending;
    }
    let running = args.take_bool("running", false);
    let pending = args.take_bool("pending", false);
    match (pending, running) {
        (true, _) => View::Diff,
        (false, true) => View::Running,
        (false, false) => View::Pending,
    }
}

/// The objects of `kind` as the view shows them, each with its `digest`.
fn objects(snapshot: &Snapshot, kind: Kind, view: View) -> Vec<Value> {
    let (mut items, digest): (Vec<Value>, String) = match view {
        View::Pending => (
            snapshot.pending.list(kind).map(|o| o.to_api_json()).collect(),
            snapshot.pending.digest(kind),
        ),
        View::Running => (
            snapshot.running.list(kind).map(|o| o.to_api_json()).collect(),
            snapshot.running.digest(kind),
        ),
        View::Diff => (
            sdn_config::pending_view(kind, &snapshot.pending, &snapshot.running),
            snapshot.pending.digest(kind),
        ),
    };
    for item in &mut items {
        if let Value::Object(map) = item {
            map.insert("digest".into(), json!(digest));
        }
    }
    items
}

fn config_of(snapshot: &Snapshot, view: View) -> &Config {
    match view {
        View::Running => &snapshot.running,
        View::Pending | View::Diff => &snapshot.pending,
    }
}

fn field<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    object.get(name).and_then(Value::as_str)
}

/// For subnets: the vnet of the path must exist in the configuration looked at.
fn require_vnet(config: &Config, vnet: &str) -> Result<(), Error> {
    match config.get(Kind::Vnets, vnet) {
        Some(_) => Ok(()),
        None => Err(Error::NotFound(format!("sdn vnet '{vnet}' does not exist"))),
    }
}

/// A subnet is addressed by its id (`ZONE-10.0.0.0-24`) or by its CIDR; returns the id.
fn subnet_id(config: &Config, vnet: &str, given: &str) -> String {
    config.resolve_subnet_id(vnet, given).unwrap_or_else(|| given.to_string())
}

fn list(app: &App, caller: &Caller, kind: Kind, mut args: Args) -> Result<Value, Error> {
    let view = take_view(kind, &mut args);
    let type_filter = args.take_string("type");
    if let Some(name) = type_filter.as_deref().filter(|name| sdn_config::schema::type_def(kind, name).is_none()) {
        // As PVE's schema has it: the filter is one of the kind's types, not any text.
        let names: Vec<&str> = types(kind).iter().map(|t| t.name).collect();
        args.reject("type", format!("value '{name}' does not have a value in the enumeration '{}'", names.join(", ")));
    }
    let vnet = (kind == Kind::Subnets).then(|| args.take_string("vnet")).flatten();
    args.finish()?;
    let snapshot = app.sdn.snapshot()?;
    if let Some(vnet) = &vnet {
        if view != View::Diff {
            require_vnet(config_of(&snapshot, view), vnet)?;
        } else if require_vnet(&snapshot.pending, vnet).is_err() {
            // The pending view also shows the subnets of a vnet deleted since the last apply.
            require_vnet(&snapshot.running, vnet)?;
        }
    }
    let items = objects(&snapshot, kind, view)
        .into_iter()
        .filter(|o| type_filter.as_deref().is_none_or(|t| field(o, "type") == Some(t)))
        .filter(|o| vnet.as_deref().is_none_or(|v| field(o, "vnet") == Some(v)))
        .filter(|o| caller.has_any(&acl_path(kind, o), READ))
        .map(|o| redact(kind, o))
        .collect();
    Ok(Value::Array(items))
}

fn read(app: &App, caller: &Caller, kind: Kind, mut args: Args) -> Result<Value, Error> {
    let view = take_view(kind, &mut args);
    let id_param = kind.id_param();
    let given = args.take_string(id_param).unwrap_or_default();
    let vnet = (kind == Kind::Subnets).then(|| args.take_string("vnet")).flatten();
    args.finish()?;
    let snapshot = app.sdn.snapshot()?;
    let config = config_of(&snapshot, view);
    let id = match &vnet {
        Some(vnet) => subnet_id(config, vnet, &given),
        None => given,
    };
    if !matches!(kind, Kind::Vnets | Kind::Subnets) {
        // The ACL path follows from the id alone: check it before saying whether it exists.
        caller.require(&format!("/sdn/{}/{id}", kind.path_segment()), READ)?;
    }
    let missing = || Error::NotFound(format!("sdn {} '{id}' does not exist", id_param));
    let found = match view {
        View::Diff => sdn_config::pending_entry(kind, &id, &snapshot.pending, &snapshot.running).map(|mut entry| {
            if let Value::Object(map) = &mut entry {
                map.insert("digest".into(), json!(snapshot.pending.digest(kind)));
            }
            entry
        }),
        _ => config.get(kind, &id).map(|o| {
            let mut value = o.to_api_json();
            value["digest"] = json!(config.digest(kind));
            value
        }),
    }
    .ok_or_else(missing)?;
    if let Some(vnet) = &vnet {
        if field(&found, "vnet") != Some(vnet.as_str()) {
            return Err(missing());
        }
    }
    caller.require(&acl_path(kind, &found), READ)?;
    Ok(redact(kind, found))
}

fn create(app: &App, caller: &Caller, kind: Kind, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let params = args.into_rest()?;
    let authorize = |snapshot: &Snapshot| caller.require(&create_path(kind, &snapshot.pending, &params), WRITE);
    let plan = |snapshot: &Snapshot| {
        if kind == Kind::Subnets {
            if let Some(vnet) = params.get("vnet").and_then(Value::as_str) {
                require_vnet(&snapshot.pending, vnet)?;
            }
        }
        Ok(snapshot.pending.plan_create(kind, &params)?)
    };
    verify_service(app, Intent::Change { token: token.as_deref() }, kind, &authorize, &plan)?;
    let external = external_ipam(app, Intent::Change { token: token.as_deref() }, kind, &authorize, &plan)?;
    let dns = match gateway_dns(app, Intent::Change { token: token.as_deref() }, kind, &authorize, &plan) {
        Ok(dns) => dns,
        Err(err) => return Err(external.undo(err)),
    };
    let result = app.sdn.mutate_authorized(Intent::Change { token: token.as_deref() }, authorize, |snapshot, _| {
        let change = plan(snapshot)?;
        Ok((with_ipam(app, snapshot, change)?, ()))
    });
    finish_external(external, dns, result)
}

/// For a NetBox or phpIPAM IPAM and a PowerDNS server being created or changed: the
/// reference's `on_update_hook`, its service asked with the settings the object would be
/// written with (see [`crate::ipam::verify`]), after the caller's rights and the lock rule
/// were checked on the current snapshot, outside the store's transaction. A refusal is a 400
/// naming the field to fix, and nothing is written. A change set's steps are refused instead
/// (see `with_ipam`): the check can't run while the set's transaction is being staged.
fn verify_service(
    app: &App,
    intent: Intent<'_>,
    kind: Kind,
    authorize: &dyn Fn(&Snapshot) -> Result<(), Error>,
    plan: &dyn Fn(&Snapshot) -> Result<sdn_config::Change, Error>,
) -> Result<(), Error> {
    if !matches!(kind, Kind::Ipams | Kind::Dns) || crate::sdn::in_change_set() {
        return Ok(());
    }
    let snapshot = app.sdn.snapshot()?;
    authorize(&snapshot)?;
    app.sdn.admitted(intent)?;
    let change = plan(&snapshot)?;
    match change.object.as_ref() {
        Some(object) if crate::ipam::verify::calls_out(kind, object) => crate::ipam::verify::on_update(kind, object),
        _ => Ok(()),
    }
}

/// For a subnet in a zone with an external IPAM (NetBox): the IPAM's change, made before the
/// configuration's write as the reference's subnet hooks do (after the caller's rights and
/// the change were checked on the current snapshot). The store transaction never waits on it.
fn external_ipam(
    app: &App,
    intent: Intent<'_>,
    kind: Kind,
    authorize: &dyn Fn(&Snapshot) -> Result<(), Error>,
    plan: &dyn Fn(&Snapshot) -> Result<sdn_config::Change, Error>,
) -> Result<crate::ipam::external::SubnetUndo, Error> {
    // A change set's steps never reach an external IPAM (see `with_ipam`).
    if kind != Kind::Subnets || crate::sdn::in_change_set() {
        return Ok(crate::ipam::external::SubnetUndo::Nothing);
    }
    let snapshot = app.sdn.snapshot()?;
    authorize(&snapshot)?;
    let change = plan(&snapshot)?;
    // Refused by the lock before the IPAM is called (the write checks again).
    app.sdn.admitted(intent)?;
    crate::ipam::external::subnet_change(&snapshot.pending, &change)
}

/// For a subnet in a zone with an IPAM and DNS: its gateway's records (`VNET-gw`) follow the
/// gateway, as the reference's subnet hook registers them, before the configuration's write
/// (after the caller's rights and the lock were checked). A change set's steps leave the
/// records alone.
fn gateway_dns(
    app: &App,
    intent: Intent<'_>,
    kind: Kind,
    authorize: &dyn Fn(&Snapshot) -> Result<(), Error>,
    plan: &dyn Fn(&Snapshot) -> Result<sdn_config::Change, Error>,
) -> Result<Option<crate::dns::GatewayRecords>, Error> {
    if kind != Kind::Subnets || crate::sdn::in_change_set() {
        return Ok(None);
    }
    let snapshot = app.sdn.snapshot()?;
    authorize(&snapshot)?;
    let records = crate::dns::GatewayRecords::of_change(&snapshot.pending, &plan(&snapshot)?)?;
    if let Some(records) = &records {
        app.sdn.admitted(intent)?;
        records.apply()?;
    }
    Ok(records)
}

/// The answer of a change whose external IPAM change (and gateway records) were made: taken
/// back if the write failed.
fn finish_external(
    external: crate::ipam::external::SubnetUndo,
    dns: Option<crate::dns::GatewayRecords>,
    result: Result<(), Error>,
) -> Result<Value, Error> {
    match result {
        Ok(()) => {
            if let Some(dns) = dns {
                dns.finish();
            }
            Ok(Value::Null)
        }
        Err(err) => {
            if let Some(dns) = dns {
                dns.undo();
            }
            Err(external.undo(err))
        }
    }
}

/// Splits the object's id (and a subnet's vnet) off the parameters of an update or delete.
fn target(kind: Kind, args: &mut Args) -> (String, Option<String>) {
    let id = args.take_string(kind.id_param()).unwrap_or_default();
    let vnet = (kind == Kind::Subnets).then(|| args.take_string("vnet")).flatten();
    (id, vnet)
}

/// Resolves the object an update or delete addresses in the pending configuration.
fn resolve(snapshot: &Snapshot, kind: Kind, id: &str, vnet: Option<&str>) -> Result<String, Error> {
    let Some(vnet) = vnet else { return Ok(id.to_string()) };
    require_vnet(&snapshot.pending, vnet)?;
    let id = subnet_id(&snapshot.pending, vnet, id);
    let belongs = snapshot.pending.get(kind, &id).is_some_and(|o| o.get_str("vnet") == Some(vnet));
    if belongs {
        Ok(id)
    } else {
        Err(Error::NotFound(format!("sdn subnet '{id}' does not exist in vnet '{vnet}'")))
    }
}

/// Whether the caller may change (update or delete) the object: `SDN.Allocate` on its ACL
/// path, or, for an object that does not exist, on its collection (so that only callers who
/// may change such objects learn whether it exists).
fn may_change(caller: &Caller, snapshot: &Snapshot, kind: Kind, id: &str, vnet: Option<&str>) -> Result<(), Error> {
    match resolve(snapshot, kind, id, vnet) {
        Ok(id) if snapshot.pending.get(kind, &id).is_some() => {
            caller.require(&change_path(kind, &snapshot.pending, &id), WRITE)
        }
        _ => {
            let path = match (kind, vnet.and_then(|v| snapshot.pending.get(Kind::Vnets, v))) {
                (Kind::Zones, _) => format!("/sdn/zones/{id}"),
                (Kind::Subnets, Some(vnet)) => acl_path(Kind::Vnets, &vnet.to_api_json()),
                (Kind::Vnets | Kind::Subnets, _) => "/sdn/zones".to_string(),
                (other, _) => format!("/sdn/{}", other.path_segment()),
            };
            caller.require(&path, WRITE)
        }
    }
}

fn update(app: &App, caller: &Caller, kind: Kind, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let (id, vnet) = target(kind, &mut args);
    let params: Map<String, Value> = args.into_rest()?;
    let authorize = |snapshot: &Snapshot| {
        may_change(caller, snapshot, kind, &id, vnet.as_deref())?;
        if let (Kind::Vnets, Some(zone)) = (kind, params.get("zone").and_then(Value::as_str)) {
            // Moving a vnet needs the right to add to the target zone, too.
            caller.require(&format!("/sdn/zones/{zone}"), WRITE)?;
        }
        Ok(())
    };
    let plan = |snapshot: &Snapshot| {
        let id = resolve(snapshot, kind, &id, vnet.as_deref())?;
        Ok(snapshot.pending.plan_update(kind, &id, &params)?)
    };
    verify_service(app, Intent::Change { token: token.as_deref() }, kind, &authorize, &plan)?;
    let external = external_ipam(app, Intent::Change { token: token.as_deref() }, kind, &authorize, &plan)?;
    let dns = match gateway_dns(app, Intent::Change { token: token.as_deref() }, kind, &authorize, &plan) {
        Ok(dns) => dns,
        Err(err) => return Err(external.undo(err)),
    };
    let result = app.sdn.mutate_authorized(Intent::Change { token: token.as_deref() }, authorize, |snapshot, _| {
        let change = plan(snapshot)?;
        Ok((with_ipam(app, snapshot, change)?, ()))
    });
    finish_external(external, dns, result)
}

fn delete(app: &App, caller: &Caller, kind: Kind, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let (id, vnet) = target(kind, &mut args);
    args.finish()?;
    let authorize = |snapshot: &Snapshot| may_change(caller, snapshot, kind, &id, vnet.as_deref());
    let plan = |snapshot: &Snapshot| {
        let id = resolve(snapshot, kind, &id, vnet.as_deref())?;
        Ok(snapshot.pending.plan_delete(kind, &id)?)
    };
    let external = external_ipam(app, Intent::Change { token: token.as_deref() }, kind, &authorize, &plan)?;
    let dns = match gateway_dns(app, Intent::Change { token: token.as_deref() }, kind, &authorize, &plan) {
        Ok(dns) => dns,
        Err(err) => return Err(external.undo(err)),
    };
    let result = app.sdn.mutate_authorized(Intent::Change { token: token.as_deref() }, authorize, |snapshot, _| {
        let change = plan(snapshot)?;
        Ok((with_ipam(app, snapshot, change)?, ()))
    });
    finish_external(external, dns, result)
}

/// The write of one object change, with what it does to the PVE IPAM (a subnet's
/// registration and gateway) in the same transaction.
fn with_ipam(app: &App, snapshot: &Snapshot, change: sdn_config::Change) -> Result<Mutation, Error> {
    // An external IPAM is called outside the store's transaction, so it could not be taken
    // back when a later step of a change set fails.
    if crate::sdn::in_change_set() && crate::ipam::external::involves_external(&snapshot.pending, &change)? {
        return Err(Error::Conflict(format!(
            "subnet '{}' is in a zone with an external IPAM (NetBox, phpIPAM), which can't take part in a \
             change set's transaction: send this change on its own",
            change.id
        )));
    }
    // Nor can the check of an external IPAM or DNS server (`verify_service`) wait on its
    // service while the set holds the write path.
    if let Some(object) = change.object.as_ref().filter(|o| crate::sdn::in_change_set() && crate::ipam::verify::calls_out(change.kind, o)) {
        return Err(Error::Conflict(format!(
            "{} '{}' of type '{}' is checked against its service before it is written, which can't happen in a \
             change set's transaction: send this change on its own",
            change.kind.noun(),
            change.id,
            object.type_name()
        )));
    }
    let (guards, extra) = app.ipam.plan_subnet_change(&snapshot.pending, &change)?;
    Ok(Mutation { changes: vec![change], extra, guards, ..Mutation::default() })
}
