//! `/cluster/sdn/route-maps` and `/cluster/sdn/prefix-lists`: PVE 9.1's route maps (listed by
//! name; their entries under `entries`, `entries/{route-map-id}`,
//! `entries/{route-map-id}/{order}`) and prefix lists (`{id}`, `{id}/entries`,
//! `{id}/entries/{url_seq}`).
//!
//! Both are objects of the configuration like zones: pending until applied, `running=1` and
//! `pending=1` views, `digest`, `lock-token`, every change through
//! [`crate::sdn::Sdn::mutate_authorized`]. ACL paths as in PVE: `/sdn/route-maps/{id}` and
//! `/sdn/prefix-lists/{id}`; creating needs `SDN.Allocate` on `/sdn/route-maps` or
//! `/sdn/prefix-lists`.

use hyper::Method;
use serde_json::{json, Value};

use super::{lock_token_param, take_lock_token};
use crate::app::App;
use crate::auth::{Caller, Permission, SDN_ALLOCATE, SDN_AUDIT};
use crate::error::Error;
use crate::http::params::Args;
use crate::http::router::Route;
use crate::http::shape::{prop_input, Field, Schema};
use crate::sdn::lock::Intent;
use crate::sdn::{Mutation, Snapshot};
use sdn_config::routing::{split_entry_id, MAX_ORDER};
use sdn_config::{Change, Config, Kind};

const READ: &[&str] = &[SDN_AUDIT, SDN_ALLOCATE];
const WRITE: &[&str] = &[SDN_ALLOCATE];

const MAPS: &str = "/cluster/sdn/route-maps";
const ENTRIES: &str = "/cluster/sdn/route-maps/entries";
const MAP: &str = "/cluster/sdn/route-maps/entries/{route-map-id}";
const ENTRY: &str = "/cluster/sdn/route-maps/entries/{route-map-id}/{order}";
const LISTS: &str = "/cluster/sdn/prefix-lists";
const LIST: &str = "/cluster/sdn/prefix-lists/{id}";
const LIST_ENTRIES: &str = "/cluster/sdn/prefix-lists/{id}/entries";
const LIST_ENTRY: &str = "/cluster/sdn/prefix-lists/{id}/entries/{url_seq}";

/// Lists answer with `pending=1` in the reference's pending form (changed values under
/// `pending`, with `state`), so their items are not declared field by field.
pub fn routes() -> Vec<Route> {
    let per_object = Permission::PerObject;
    vec![
        Route::new(Method::GET, MAPS, per_object, list_route_maps)
            .summary("The route maps (by name) the caller may see (SDN.Audit or SDN.Allocate on /sdn/route-maps/{id}).")
            .params([running_param()])
            .returns(Schema::array(Schema::Object(vec![Field::required("id", Schema::string(), "the route map's name")]))),
        Route::new(Method::GET, ENTRIES, per_object, list_all_entries)
            .summary("Every route map entry the caller may see.")
            .params(view_params())
            .returns(Schema::array(Schema::Any)),
        Route::new(Method::POST, ENTRIES, per_object, create_entry)
            .summary("Creates a route map entry (SDN.Allocate on /sdn/route-maps).")
            .params(entry_params(true))
            .returns(Schema::Null),
        Route::new(Method::GET, MAP, per_object, list_map_entries)
            .summary("The entries of one route map, in order.")
            .params([map_id_field()].into_iter().chain(view_params()).collect::<Vec<_>>())
            .returns(Schema::array(Schema::Any)),
        Route::new(Method::GET, ENTRY, per_object, read_entry)
            .summary("One route map entry.")
            .params([map_id_field(), order_field()])
            .returns(entry_shape()),
        Route::new(Method::PUT, ENTRY, per_object, update_entry)
            .summary("Changes a route map entry.")
            .params(entry_params(false))
            .returns(Schema::Null),
        Route::new(Method::DELETE, ENTRY, per_object, delete_entry)
            .summary("Deletes a route map entry (409 for the last entry of a route map still in use).")
            .params([map_id_field(), order_field(), lock_token_param()])
            .returns(Schema::Null),
        Route::new(Method::GET, LISTS, per_object, list_prefix_lists)
            .summary("The prefix lists the caller may see (SDN.Audit or SDN.Allocate on /sdn/prefix-lists/{id}).")
            .params(view_params())
            .returns(Schema::array(Schema::Any)),
        Route::new(Method::POST, LISTS, per_object, create_prefix_list)
            .summary("Creates a prefix list (SDN.Allocate on /sdn/prefix-lists).")
            .params(list_params(true))
            .returns(Schema::Null),
        Route::new(Method::GET, LIST, per_object, read_prefix_list)
            .summary("One prefix list.")
            .params([list_id_field()])
            .returns(list_shape()),
        Route::new(Method::PUT, LIST, per_object, update_prefix_list)
            .summary("Changes a prefix list (`entries` replaces all its entries).")
            .params(list_params(false))
            .returns(Schema::Null),
        Route::new(Method::DELETE, LIST, per_object, delete_prefix_list)
            .summary("Deletes a prefix list (409 while a route map entry matches on it).")
            .params([list_id_field(), lock_token_param()])
            .returns(Schema::Null),
        Route::new(Method::GET, LIST_ENTRIES, per_object, list_prefix_entries)
            .summary("The entries of one prefix list.")
            .params([list_id_field()])
            .returns(Schema::array(prefix_entry_shape())),
        Route::new(Method::POST, LIST_ENTRIES, per_object, create_prefix_entry)
            .summary("Adds an entry to a prefix list (without `seq`: the highest so far + 5).")
            .params(prefix_entry_params(true))
            .returns(Schema::Null),
        Route::new(Method::GET, LIST_ENTRY, per_object, read_prefix_entry)
            .summary("One prefix list entry.")
            .params([list_id_field(), seq_field()])
            .returns(prefix_entry_shape()),
        Route::new(Method::PUT, LIST_ENTRY, per_object, update_prefix_entry)
            .summary("Changes a prefix list entry.")
            .params(prefix_entry_params(false))
            .returns(Schema::Null),
        Route::new(Method::DELETE, LIST_ENTRY, per_object, delete_prefix_entry)
            .summary("Removes an entry from a prefix list.")
            .params([list_id_field(), seq_field(), lock_token_param()])
            .returns(Schema::Null),
    ]
}

const NAME_PATTERN: &str = "^[a-zA-Z0-9][a-zA-Z0-9_-]{0,30}[a-zA-Z0-9]?$";

fn map_id_field() -> Field {
    Field::required(
        "route-map-id",
        Schema::pattern(NAME_PATTERN),
        "the route map's name",
    )
}

fn order_field() -> Field {
    Field::required(
        "order",
        Schema::int(1, i64::from(MAX_ORDER)),
        "the entry's position in the route map",
    )
}

fn list_id_field() -> Field {
    Field::required("id", Schema::pattern(NAME_PATTERN), "the prefix list's id")
}

/// The entry's sequence number in the path: `url_seq`, as PVE 9.1 names it, so that an
/// update can take a new `seq`.
fn seq_field() -> Field {
    Field::required(
        "url_seq",
        Schema::int(1, i64::from(u32::MAX)),
        "the entry's sequence number",
    )
}

fn running_param() -> Field {
    Field::optional(
        "running",
        Schema::Boolean,
        "the running configuration instead of the pending one",
    )
    .default(json!(false))
}

fn view_params() -> Vec<Field> {
    vec![
        running_param(),
        Field::optional(
            "pending",
            Schema::Boolean,
            "running and pending merged, with `state` per object",
        )
        .default(json!(false)),
    ]
}

fn digest_field() -> Field {
    Field::optional(
        "digest",
        Schema::String {
            pattern: None,
            max_length: Some(64),
        },
        "refuse the change (409) unless the configuration still has this digest",
    )
}

fn delete_field(allowed: &str) -> Field {
    Field::optional(
        "delete",
        Schema::AnyOf(vec![
            Schema::String {
                pattern: None,
                max_length: Some(4096),
            },
            Schema::array(Schema::string()),
        ]),
        format!("properties to remove ({allowed})"),
    )
}

/// The properties of a type, from the config model's schema.
fn type_fields(kind: Kind) -> Vec<Field> {
    sdn_config::schema::types(kind)[0]
        .props
        .iter()
        .map(|p| {
            let field = Field::optional(p.name, prop_input(p.ty), "");
            Field {
                required: p.required,
                ..field
            }
        })
        .collect()
}

fn entry_params(create: bool) -> Vec<Field> {
    let mut fields = vec![map_id_field(), order_field()];
    fields.extend(type_fields(Kind::RouteMaps).into_iter().map(|f| {
        if create {
            f
        } else {
            Field {
                required: false,
                ..f
            }
        }
    }));
    if !create {
        fields.push(delete_field("set, match, call, exit-action"));
    }
    fields.push(digest_field());
    fields.push(lock_token_param());
    fields
}

fn entry_shape() -> Schema {
    Schema::Object(vec![
        Field::required("route-map-id", Schema::string(), "the route map's name"),
        Field::required(
            "order",
            Schema::int(1, i64::from(MAX_ORDER)),
            "the entry's position",
        ),
        Field::required("action", Schema::Enum(vec!["permit", "deny"]), ""),
        Field::required("match", Schema::array(Schema::string()), ""),
        Field::required("set", Schema::array(Schema::string()), ""),
        Field::optional("call", Schema::string(), ""),
        Field::optional("exit-action", Schema::string(), ""),
        Field::optional("digest", Schema::string(), ""),
    ])
}

fn list_params(create: bool) -> Vec<Field> {
    let mut fields = vec![list_id_field()];
    fields.extend(type_fields(Kind::PrefixLists));
    if !create {
        fields.push(delete_field("entries"));
    }
    fields.push(digest_field());
    fields.push(lock_token_param());
    fields
}

fn list_shape() -> Schema {
    Schema::Object(vec![
        Field::required("id", Schema::string(), "the prefix list's id"),
        Field::optional(
            "entries",
            Schema::array(Schema::string()),
            "action=..,prefix=..[,le=..][,ge=..],seq=..",
        ),
        Field::optional("digest", Schema::string(), ""),
    ])
}

fn prefix_entry_params(create: bool) -> Vec<Field> {
    let mut fields = vec![list_id_field()];
    if !create {
        fields.push(seq_field());
    }
    let action = Field::optional("action", Schema::Enum(vec!["permit", "deny"]), "");
    let prefix = Field::optional("prefix", Schema::string(), "a CIDR");
    fields.push(Field {
        required: create,
        ..action
    });
    fields.push(Field {
        required: create,
        ..prefix
    });
    fields.push(Field::optional(
        "le",
        Schema::int(0, 128),
        "match prefix lengths up to this",
    ));
    fields.push(Field::optional(
        "ge",
        Schema::int(0, 128),
        "match prefix lengths from this",
    ));
    fields.push(Field::optional(
        "seq",
        Schema::int(1, i64::from(u32::MAX)),
        "the entry's (new) sequence number",
    ));
    if !create {
        fields.push(delete_field("le, ge, seq"));
        fields.push(digest_field());
    }
    fields.push(lock_token_param());
    fields
}

fn prefix_entry_shape() -> Schema {
    Schema::Object(vec![
        Field::required("action", Schema::Enum(vec!["permit", "deny"]), ""),
        Field::required("prefix", Schema::string(), ""),
        Field::optional("le", Schema::int(0, 128), ""),
        Field::optional("ge", Schema::int(0, 128), ""),
        Field::optional("seq", Schema::int(1, i64::from(u32::MAX)), ""),
    ])
}

/// The `route-map-id` of the path, refused (400) unless it is a route map name.
fn take_map_id(args: &mut Args) -> String {
    let name = args.take_string("route-map-id").unwrap_or_default();
    if let Err(e) = sdn_config::routing::check_route_map_id(&name) {
        args.reject("route-map-id", e);
    }
    name
}

fn map_path(name: &str) -> String {
    format!("/sdn/route-maps/{name}")
}

fn list_path(id: &str) -> String {
    format!("/sdn/prefix-lists/{id}")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Pending,
    Running,
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

/// The objects of `kind` in the view, as the generic API shows them; with `digest` except
/// for the running configuration.
fn objects(snapshot: &Snapshot, kind: Kind, view: View) -> Vec<Value> {
    let digest = snapshot.pending.digest(kind);
    let mut items: Vec<Value> = match view {
        View::Pending => snapshot
            .pending
            .list(kind)
            .map(|o| o.to_api_json())
            .collect(),
        View::Running => snapshot
            .running
            .list(kind)
            .map(|o| o.to_api_json())
            .collect(),
        View::Diff => sdn_config::pending_view(kind, &snapshot.pending, &snapshot.running),
    };
    if view != View::Running {
        for item in &mut items {
            item["digest"] = json!(digest);
        }
    }
    items
}

/// A route map entry as PVE 9.1 shows it: `route-map-id` (the map's name), `order`, `match`
/// and `set` (empty arrays when unset), `action`, `call`, `exit-action`.
fn entry_value(mut value: Value) -> Option<(String, u32, Value)> {
    let id = value.get("route-map-id")?.as_str()?.to_string();
    let (name, order) = split_entry_id(&id).ok()?;
    let map = value.as_object_mut()?;
    map.remove("type");
    map.insert("route-map-id".into(), json!(name));
    map.insert("order".into(), json!(order));
    for list in ["match", "set"] {
        map.entry(list).or_insert_with(|| json!([]));
    }
    Some((name.to_string(), order, value))
}

fn entries_in(snapshot: &Snapshot, view: View) -> Vec<(String, u32, Value)> {
    let mut entries: Vec<(String, u32, Value)> = objects(snapshot, Kind::RouteMaps, view)
        .into_iter()
        .filter_map(entry_value)
        .collect();
    entries.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    entries
}

fn list_route_maps(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let running = args.take_bool("running", false);
    args.finish()?;
    let snapshot = app.sdn.snapshot()?;
    let config = if running {
        &snapshot.running
    } else {
        &snapshot.pending
    };
    Ok(Value::Array(
        config
            .route_map_names()
            .into_iter()
            .filter(|name| caller.has_any(&map_path(name), READ))
            .map(|name| json!({ "id": name }))
            .collect(),
    ))
}

fn list_all_entries(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let view = take_view(&mut args);
    args.finish()?;
    let snapshot = app.sdn.snapshot()?;
    Ok(Value::Array(
        entries_in(&snapshot, view)
            .into_iter()
            .filter(|(name, _, _)| caller.has_any(&map_path(name), READ))
            .map(|(_, _, v)| v)
            .collect(),
    ))
}

fn list_map_entries(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let view = take_view(&mut args);
    let name = take_map_id(&mut args);
    args.finish()?;
    caller.require(&map_path(&name), READ)?;
    let snapshot = app.sdn.snapshot()?;
    Ok(Value::Array(
        entries_in(&snapshot, view)
            .into_iter()
            .filter(|(n, _, _)| *n == name)
            .map(|(_, _, v)| v)
            .collect(),
    ))
}

fn read_entry(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let name = take_map_id(&mut args);
    let order = args.take_string("order").unwrap_or_default();
    args.finish()?;
    caller.require(&map_path(&name), READ)?;
    let snapshot = app.sdn.snapshot()?;
    let id = snapshot.pending.entry_id(&name, &order)?;
    let object = snapshot
        .pending
        .get(Kind::RouteMaps, &id)
        .ok_or_else(|| Error::NotFound(format!("route map entry {id} doesn't exist")))?;
    let mut value = object.to_api_json();
    value["digest"] = json!(snapshot.pending.digest(Kind::RouteMaps));
    entry_value(value)
        .map(|(_, _, v)| v)
        .ok_or_else(|| Error::NotFound(format!("route map entry {id} doesn't exist")))
}

/// Commits `plan`'s change under the lock rule, after `authorize` (privileges first).
fn change(
    app: &App,
    token: Option<&str>,
    authorize: impl Fn(&Snapshot) -> Result<(), Error>,
    plan: impl Fn(&Config) -> Result<Change, Error>,
) -> Result<Value, Error> {
    app.sdn
        .mutate_authorized(Intent::Change { token }, authorize, |snapshot, _| {
            let change = plan(&snapshot.pending)?;
            Ok((
                Mutation {
                    changes: vec![change],
                    ..Mutation::default()
                },
                (),
            ))
        })?;
    Ok(Value::Null)
}

fn create_entry(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let params = args.into_rest()?;
    change(
        app,
        token.as_deref(),
        |_| caller.require("/sdn/route-maps", WRITE),
        |config| Ok(config.plan_route_map_entry_create(&params)?),
    )
}

fn update_entry(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let name = take_map_id(&mut args);
    let order = args.take_string("order").unwrap_or_default();
    let params = args.into_rest()?;
    change(
        app,
        token.as_deref(),
        |_| caller.require(&map_path(&name), WRITE),
        |config| Ok(config.plan_route_map_entry_update(&name, &order, &params)?),
    )
}

fn delete_entry(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let name = take_map_id(&mut args);
    let order = args.take_string("order").unwrap_or_default();
    args.finish()?;
    change(
        app,
        token.as_deref(),
        |_| caller.require(&map_path(&name), WRITE),
        |config| Ok(config.plan_route_map_entry_delete(&name, &order)?),
    )
}

/// A prefix list as PVE 9.1 shows it: `id` and `entries` (absent when empty).
fn list_value(mut value: Value) -> Value {
    if let Some(map) = value.as_object_mut() {
        map.remove("type");
    }
    value
}

fn list_prefix_lists(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let view = take_view(&mut args);
    args.finish()?;
    let snapshot = app.sdn.snapshot()?;
    Ok(Value::Array(
        objects(&snapshot, Kind::PrefixLists, view)
            .into_iter()
            .filter(|v| {
                v.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| caller.has_any(&list_path(id), READ))
            })
            .map(list_value)
            .collect(),
    ))
}

fn read_prefix_list(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let id = args.take_string("id").unwrap_or_default();
    args.finish()?;
    caller.require(&list_path(&id), &[SDN_AUDIT])?;
    let snapshot = app.sdn.snapshot()?;
    let list = snapshot.pending.prefix_list(&id)?;
    let mut value = list_value(list.to_api_json());
    value["digest"] = json!(snapshot.pending.digest(Kind::PrefixLists));
    Ok(value)
}

fn create_prefix_list(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let params = args.into_rest()?;
    change(
        app,
        token.as_deref(),
        |_| caller.require("/sdn/prefix-lists", WRITE),
        |config| Ok(config.plan_prefix_list_create(&params)?),
    )
}

fn update_prefix_list(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let id = args.take_string("id").unwrap_or_default();
    let params = args.into_rest()?;
    change(
        app,
        token.as_deref(),
        |_| caller.require(&list_path(&id), WRITE),
        |config| Ok(config.plan_prefix_list_update(&id, &params)?),
    )
}

fn delete_prefix_list(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let id = args.take_string("id").unwrap_or_default();
    args.finish()?;
    change(
        app,
        token.as_deref(),
        |_| caller.require(&list_path(&id), WRITE),
        |config| Ok(config.plan_prefix_list_delete(&id)?),
    )
}

fn entry_json(e: &sdn_config::routing::PrefixListEntry) -> Value {
    let mut v = json!({ "action": e.action, "prefix": e.prefix.to_string() });
    for (k, n) in [("le", e.le), ("ge", e.ge), ("seq", e.seq)] {
        if let Some(n) = n {
            v[k] = json!(n);
        }
    }
    v
}

fn list_prefix_entries(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let id = args.take_string("id").unwrap_or_default();
    args.finish()?;
    caller.require(&list_path(&id), &[SDN_AUDIT])?;
    let snapshot = app.sdn.snapshot()?;
    Ok(Value::Array(
        snapshot
            .pending
            .prefix_list_entries(&id)?
            .iter()
            .map(entry_json)
            .collect(),
    ))
}

fn read_prefix_entry(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let id = args.take_string("id").unwrap_or_default();
    let seq = args.take_string("url_seq").unwrap_or_default();
    args.finish()?;
    caller.require(&list_path(&id), &[SDN_AUDIT])?;
    let snapshot = app.sdn.snapshot()?;
    let (_, entry) = snapshot.pending.find_entry(&id, &seq)?;
    Ok(entry_json(&entry))
}

fn create_prefix_entry(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let id = args.take_string("id").unwrap_or_default();
    let params = args.into_rest()?;
    change(
        app,
        token.as_deref(),
        |_| caller.require(&list_path(&id), WRITE),
        |config| Ok(config.plan_prefix_entry_create(&id, &params)?),
    )
}

fn update_prefix_entry(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let id = args.take_string("id").unwrap_or_default();
    let seq = args.take_string("url_seq").unwrap_or_default();
    let params = args.into_rest()?;
    change(
        app,
        token.as_deref(),
        |_| caller.require(&list_path(&id), WRITE),
        |config| Ok(config.plan_prefix_entry_update(&id, &seq, &params)?),
    )
}

fn delete_prefix_entry(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let token = take_lock_token(&mut args);
    let id = args.take_string("id").unwrap_or_default();
    let seq = args.take_string("url_seq").unwrap_or_default();
    args.finish()?;
    change(
        app,
        token.as_deref(),
        |_| caller.require(&list_path(&id), WRITE),
        |config| Ok(config.plan_prefix_entry_delete(&id, &seq)?),
    )
}
