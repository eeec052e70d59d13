//! `/cluster/sdn/fabrics`: PVE 9's fabrics (`fabric`, `fabric/{id}`) and fabric nodes
//! (`node`, `node/{fabric_id}`, `node/{fabric_id}/{node_id}`), and `all` (both at once).
//!
//! Fabrics and nodes are objects of the configuration like zones: pending until applied,
//! `running=1` and `pending=1` views, `digest`, `lock-token`, every change through
//! [`crate::sdn::Sdn::mutate_authorized`]. ACL paths as in PVE: `/sdn/fabrics/{id}` for a
//! fabric and its nodes, plus `/nodes/{node_id}` for a node (`Sys.Audit`/`Sys.Modify`).

use hyper::Method;
use serde_json::{json, Map, Value};

use super::{lock_token_param, take_lock_token};
use crate::app::App;
use crate::auth::{Caller, Permission, SDN_ALLOCATE, SDN_AUDIT, SYS_AUDIT, SYS_MODIFY};
use crate::error::Error;
use crate::http::params::Args;
use crate::http::router::Route;
use crate::http::shape::{prop_input, Field, Schema};
use crate::sdn::lock::Intent;
use crate::sdn::{Mutation, Snapshot};
use sdn_config::{Change, Config, Kind};

const READ: &[&str] = &[SDN_AUDIT, SDN_ALLOCATE];
const WRITE: &[&str] = &[SDN_ALLOCATE];
const NODE_READ: &[&str] = &[SYS_AUDIT, SYS_MODIFY];
const NODE_WRITE: &[&str] = &[SYS_MODIFY];

pub fn routes() -> Vec<Route> {
    let per_object = Permission::PerObject;
    // Route order is the index's order: fabric, node, all (as PVE lists them).
    vec![
        Route::index("/cluster/sdn/fabrics", Permission::Path("/sdn/fabrics", &[SDN_AUDIT]), "subdir"),
        Route::new(Method::GET, "/cluster/sdn/fabrics/fabric", per_object, list_fabrics)
            .summary("The fabrics the caller may see (SDN.Audit or SDN.Allocate on /sdn/fabrics/{id}).")
            .params(view_params())
            .returns(Schema::array(Schema::Any)),
        Route::new(Method::POST, "/cluster/sdn/fabrics/fabric", per_object, create_fabric)
            .summary("Creates a fabric (SDN.Allocate on /sdn/fabrics).")
            .params(fabric_params(Some("id"), true))
            .returns(Schema::Null),
        Route::new(Method::GET, "/cluster/sdn/fabrics/fabric/{id}", per_object, read_fabric)
            .summary("One fabric.")
            .params([id_field("id", "the fabric's id")].into_iter().chain(view_params()).collect::<Vec<_>>())
            .returns(Schema::Any),
        Route::new(Method::PUT, "/cluster/sdn/fabrics/fabric/{id}", per_object, update_fabric)
            .summary("Changes a fabric (`protocol` is required, as in PVE).")
            .params(fabric_params(Some("id"), false))
            .returns(Schema::Null),
        Route::new(Method::DELETE, "/cluster/sdn/fabrics/fabric/{id}", per_object, delete_fabric)
            .summary("Deletes a fabric and its nodes (409 while a zone or controller uses it).")
            .params([id_field("id", "the fabric's id"), lock_token_param()])
            .returns(Schema::Null),
        Route::new(Method::GET, "/cluster/sdn/fabrics/node", per_object, list_all_nodes)
            .summary("Every fabric's nodes the caller may see.")
            .params(view_params())
            .returns(Schema::array(Schema::Any)),
        Route::new(Method::GET, "/cluster/sdn/fabrics/node/{fabric_id}", per_object, list_nodes)
            .summary("One fabric's nodes.")
            .params([id_field("fabric_id", "the fabric's id")].into_iter().chain(view_params()).collect::<Vec<_>>())
            .returns(Schema::array(Schema::Any)),
        Route::new(Method::POST, "/cluster/sdn/fabrics/node/{fabric_id}", per_object, create_node)
            .summary("Adds a node to a fabric.")
            .params(node_params(true))
            .returns(Schema::Null),
        Route::new(Method::GET, "/cluster/sdn/fabrics/node/{fabric_id}/{node_id}", per_object, read_node)
            .summary("One fabric node.")
            .params(
                [id_field("fabric_id", "the fabric's id"), id_field("node_id", "the node's name")]
                    .into_iter()
                    .chain(view_params())
                    .collect::<Vec<_>>(),
            )
            .returns(Schema::Any),
        Route::new(Method::PUT, "/cluster/sdn/fabrics/node/{fabric_id}/{node_id}", per_object, update_node)
            .summary("Changes a fabric node (`protocol` is required, as in PVE).")
            .params(node_params(false))
            .returns(Schema::Null),
        Route::new(Method::DELETE, "/cluster/sdn/fabrics/node/{fabric_id}/{node_id}", per_object, delete_node)
            .summary("Removes a node from a fabric.")
            .params([id_field("fabric_id", "the fabric's id"), id_field("node_id", "the node's name"), lock_token_param()])
            .returns(Schema::Null),
        Route::new(Method::GET, "/cluster/sdn/fabrics/all", per_object, list_all)
            .summary("Every fabric and fabric node the caller may see: {fabrics, nodes}.")
            .params(view_params())
            .returns(Schema::Object(vec![
                Field::required("fabrics", Schema::array(Schema::Any), ""),
                Field::required("nodes", Schema::array(Schema::Any), ""),
            ])),
    ]
}

fn id_field(name: &'static str, what: &str) -> Field {
    Field::required(name, Schema::String { pattern: None, max_length: Some(128) }, what)
}

fn view_params() -> Vec<Field> {
    vec![
        Field::optional("running", Schema::Boolean, "the running configuration instead of the pending one").default(json!(false)),
        Field::optional("pending", Schema::Boolean, "running and pending merged, with `state` per object").default(json!(false)),
    ]
}

/// The properties of the fabric types (`*_fabric`) or the node types (`*_node`), from the
/// config model's schema, each declared once.
fn type_props(nodes: bool) -> Vec<Field> {
    let suffix = if nodes { "_node" } else { "_fabric" };
    let mut fields: Vec<Field> = Vec::new();
    for tdef in sdn_config::schema::types(Kind::Fabrics).iter().filter(|t| t.name.ends_with(suffix)) {
        for prop in tdef.props {
            if !fields.iter().any(|f| f.name == prop.name) {
                let of = tdef.name.trim_end_matches(suffix);
                fields.push(Field::optional(prop.name, prop_input(prop.ty), of.to_string()));
            }
        }
    }
    fields
}

fn protocol_field(required: bool) -> Field {
    let field = Field::optional("protocol", Schema::Enum(vec!["openfabric", "ospf"]), "the fabric's protocol");
    Field { required, ..field }
}

fn change_fields(create: bool) -> Vec<Field> {
    let mut fields = Vec::new();
    if !create {
        fields.push(Field::optional(
            "delete",
            Schema::AnyOf(vec![Schema::String { pattern: None, max_length: Some(4096) }, Schema::array(Schema::string())]),
            "properties to remove, comma-separated",
        ));
        fields.push(Field::optional("digest", Schema::String { pattern: None, max_length: Some(64) }, "refuse the change (409) unless the configuration still has this digest"));
    }
    fields.push(lock_token_param());
    fields
}

fn fabric_params(id: Option<&'static str>, create: bool) -> Vec<Field> {
    let mut fields: Vec<Field> = id.map(|name| id_field(name, "the fabric's id")).into_iter().collect();
    fields.push(protocol_field(true));
    fields.extend(type_props(false).into_iter().filter(|f| f.name != "id"));
    fields.extend(change_fields(create));
    fields
}

fn node_params(create: bool) -> Vec<Field> {
    let mut fields = vec![id_field("fabric_id", "the fabric's id"), id_field("node_id", "the node's name"), protocol_field(true)];
    fields.extend(type_props(true).into_iter().filter(|f| !["fabric_id", "node_id"].contains(&f.name)));
    fields.extend(change_fields(create));
    fields
}

fn fabric_path(fabric_id: &str) -> String {
    format!("/sdn/fabrics/{fabric_id}")
}

fn node_path(node_id: &str) -> String {
    format!("/nodes/{node_id}")
}

/// Which configuration a list looks at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Pending,
    Running,
    /// Running and pending merged, with `state` per object.
    Diff,
}

fn take_view(args: &mut Args) -> View {
    let running = args.take_bool("running", false);
    let pending = args.take_bool("pending", false);
    match (pending, running) {
        (true, _) => View::Diff,
        (false, true) => View::Running,
        (false, false) => View::Pending,
    }
}

/// One fabric or node as a list shows it, with the fabric and node it concerns.
struct Entry {
    fabric_id: String,
    /// `None` for a fabric.
    node_id: Option<String>,
    value: Value,
}

/// Every fabric and node in the view, sorted by object id; with `digest` except when
/// showing the running configuration (as PVE does).
fn entries(snapshot: &Snapshot, view: View) -> Vec<Entry> {
    let digest = snapshot.pending.digest(Kind::Fabrics);
    let items: Vec<(String, Value)> = match view {
        View::Pending => snapshot.pending.list(Kind::Fabrics).map(|o| (o.id().to_string(), o.to_api_json())).collect(),
        View::Running => snapshot.running.list(Kind::Fabrics).map(|o| (o.id().to_string(), o.to_api_json())).collect(),
        View::Diff => sdn_config::fabric_pending_view(&snapshot.pending, &snapshot.running),
    };
    items
        .into_iter()
        .map(|(id, mut value)| {
            if view != View::Running {
                if let Value::Object(map) = &mut value {
                    map.insert("digest".into(), json!(digest));
                }
            }
            let (fabric_id, node_id) = match id.split_once('_') {
                Some((fabric, node)) => (fabric.to_string(), Some(node.to_string())),
                None => (id, None),
            };
            Entry { fabric_id, node_id, value }
        })
        .collect()
}

/// Whether the caller may see the entry: the fabric's ACL path, and for a node its node's.
fn visible(caller: &Caller, entry: &Entry) -> bool {
    caller.has_any(&fabric_path(&entry.fabric_id), READ)
        && entry.node_id.as_deref().is_none_or(|node| caller.has_any(&node_path(node), NODE_READ))
}

fn visible_values(caller: &Caller, entries: Vec<Entry>, nodes: bool) -> Vec<Value> {
    entries
        .into_iter()
        .filter(|e| e.node_id.is_some() == nodes && visible(caller, e))
        .map(|e| e.value)
        .collect()
}

fn list_fabrics(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let view = take_view(&mut args);
    args.finish()?;
    let snapshot = app.sdn.snapshot()?;
    Ok(Value::Array(visible_values(caller, entries(&snapshot, view), false)))
}

fn list_all_nodes(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let view = take_view(&mut args);
    args.finish()?;
    let snapshot = app.sdn.snapshot()?;
    Ok(Value::Array(visible_values(caller, entries(&snapshot, view), true)))
}

fn list_all(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let view = take_view(&mut args);
    args.finish()?;
    let snapshot = app.sdn.snapshot()?;
    let all = entries(&snapshot, view);
    let (nodes, fabrics): (Vec<Entry>, Vec<Entry>) = all.into_iter().partition(|e| e.node_id.is_some());
    Ok(json!({
        "fabrics": visible_values(caller, fabrics, false),
        "nodes": visible_values(caller, nodes, true),
    }))
}

fn list_nodes(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let view = take_view(&mut args);
    let fabric_id = args.take_string("fabric_id").unwrap_or_default();
    args.finish()?;
    caller.require(&fabric_path(&fabric_id), &[SDN_AUDIT])?;
    let snapshot = app.sdn.snapshot()?;
    let exists = match view {
        View::Pending => snapshot.pending.fabric(&fabric_id).is_some(),
        View::Running => snapshot.running.fabric(&fabric_id).is_some(),
        View::Diff => snapshot.pending.fabric(&fabric_id).is_some() || snapshot.running.fabric(&fabric_id).is_some(),
    };
    if !exists {
        return Err(fabric_not_found(&fabric_id));
    }
    let mine = entries(&snapshot, view).into_iter().filter(|e| e.fabric_id == fabric_id).collect();
    Ok(Value::Array(visible_values(caller, mine, true)))
}

fn fabric_not_found(id: &str) -> Error {
    Error::NotFound(format!("sdn fabric '{id}' does not exist"))
}

/// The object as the API shows it, with the pending configuration's digest.
fn with_digest(config: &Config, object: &sdn_config::SdnObject) -> Value {
    let mut value = object.to_api_json();
    value["digest"] = json!(config.digest(Kind::Fabrics));
    value
}

fn read_fabric(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let id = args.take_string("id").unwrap_or_default();
    args.finish()?;
    caller.require(&fabric_path(&id), READ)?;
    let snapshot = app.sdn.snapshot()?;
    let fabric = snapshot.pending.fabric(&id).ok_or_else(|| fabric_not_found(&id))?;
    Ok(with_digest(&snapshot.pending, fabric))
}

fn read_node(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let fabric_id = args.take_string("fabric_id").unwrap_or_default();
    let node_id = args.take_string("node_id").unwrap_or_default();
    args.finish()?;
    caller.require(&fabric_path(&fabric_id), READ)?;
    caller.require(&node_path(&node_id), NODE_READ)?;
    let snapshot = app.sdn.snapshot()?;
    snapshot.pending.fabric(&fabric_id).ok_or_else(|| fabric_not_found(&fabric_id))?;
    let node = snapshot
        .pending
        .get(Kind::Fabrics, &format!("{fabric_id}_{node_id}"))
        .ok_or_else(|| Error::NotFound(format!("node '{node_id}' is not in sdn fabric '{fabric_id}'")))?;
    Ok(with_digest(&snapshot.pending, node))
}

/// Commits `plan`'s changes under the lock rule, after `authorize` (privileges first).
fn change(
    app: &App,
    token: Option<&str>,
    authorize: impl Fn(&Snapshot) -> Result<(), Error>,
    plan: impl Fn(&Config) -> Result<Vec<Change>, Error>,
) -> Result<Value, Error> {
    app.sdn.mutate_authorized(Intent::Change { token }, authorize, |snapshot, _| {
        let changes = plan(&snapshot.pending)?;
        Ok((Mutation { changes, ..Mutation::default() }, ()))
    })?;
    Ok(Value::Null)
}

fn create_fabric(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let params = args.into_rest()?;
    change(
        app,
        token.as_deref(),
        |_| caller.require("/sdn/fabrics", WRITE),
        |config| Ok(vec![config.plan_fabric_create(&params)?]),
    )
}

fn update_fabric(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let id = args.take_string("id").unwrap_or_default();
    let params = args.into_rest()?;
    change(
        app,
        token.as_deref(),
        |_| caller.require(&fabric_path(&id), WRITE),
        |config| Ok(vec![config.plan_fabric_update(&id, &params)?]),
    )
}

fn delete_fabric(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let id = args.take_string("id").unwrap_or_default();
    args.finish()?;
    // Deleting a fabric deletes its nodes: that needs the right to change each node, too.
    let authorize = |snapshot: &Snapshot| {
        caller.require(&fabric_path(&id), WRITE)?;
        for node in snapshot.pending.nodes_of_fabric(&id) {
            let node_id = node.id().split_once('_').map_or("", |(_, n)| n);
            caller.require(&node_path(node_id), NODE_WRITE)?;
        }
        Ok(())
    };
    change(app, token.as_deref(), authorize, |config| Ok(config.plan_fabric_delete(&id)?))
}

/// The privileges a node change needs: `SDN.Allocate` on the fabric, `Sys.Modify` on the node.
fn may_change_node(caller: &Caller, fabric_id: &str, node_id: &str) -> Result<(), Error> {
    caller.require(&fabric_path(fabric_id), WRITE)?;
    caller.require(&node_path(node_id), NODE_WRITE)
}

fn create_node(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let fabric_id = args.take_string("fabric_id").unwrap_or_default();
    let params: Map<String, Value> = args.into_rest()?;
    let node_id = params.get("node_id").and_then(Value::as_str).unwrap_or_default().to_string();
    change(
        app,
        token.as_deref(),
        |_| may_change_node(caller, &fabric_id, &node_id),
        |config| Ok(vec![config.plan_node_create(&fabric_id, &params)?]),
    )
}

fn update_node(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let fabric_id = args.take_string("fabric_id").unwrap_or_default();
    let node_id = args.take_string("node_id").unwrap_or_default();
    let params = args.into_rest()?;
    change(
        app,
        token.as_deref(),
        |_| may_change_node(caller, &fabric_id, &node_id),
        |config| Ok(vec![config.plan_node_update(&fabric_id, &node_id, &params)?]),
    )
}

fn delete_node(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let fabric_id = args.take_string("fabric_id").unwrap_or_default();
    let node_id = args.take_string("node_id").unwrap_or_default();
    args.finish()?;
    change(
        app,
        token.as_deref(),
        |_| may_change_node(caller, &fabric_id, &node_id),
        |config| Ok(vec![config.plan_node_delete(&fabric_id, &node_id)?]),
    )
}
