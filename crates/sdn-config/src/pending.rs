//! The pending view (`pending=1`): what apply would change, per object, in the reference's shape
//! (`PVE::Network::SDN::pending_config` followed by the API's per-kind formatting).

use std::collections::BTreeSet;

use serde_json::{Map, Value as Json};

use crate::config::{equivalent, Config};
use crate::kind::Kind;
use crate::object::{add_subnet_api_fields, api_value, SdnObject};
use crate::schema::PropType;

/// Running ∪ current for `kind`, sorted by id, each entry an API object with `state`
/// (`new`/`changed`/`deleted`) and `pending` (differing values; removed ones as `"deleted"`)
/// where it differs. Kinds outside the running config are listed as they are.
pub fn pending_view(kind: Kind, current: &Config, running: &Config) -> Vec<Json> {
    if kind == Kind::Fabrics {
        return fabric_pending_view(current, running)
            .into_iter()
            .map(|(_, v)| v)
            .collect();
    }
    if !kind.in_running_config() {
        return current.list(kind).map(SdnObject::to_api_json).collect();
    }
    running
        .pairs(current, kind)
        .filter_map(|(run, cur)| {
            let id = run.or(cur)?.id();
            Some(entry(kind, id, run, cur))
        })
        .collect()
}

/// The entry of [`pending_view`] for the object `id` of `kind`, without building the other
/// entries (a read of one object costs the same however many there are); `None`: it is in
/// neither configuration.
pub fn pending_entry(kind: Kind, id: &str, current: &Config, running: &Config) -> Option<Json> {
    if kind == Kind::Fabrics {
        // A fabric's entry depends on its nodes' entries; fabrics are few.
        return fabric_pending_view(current, running)
            .into_iter()
            .find_map(|(entry_id, entry)| (entry_id == id).then_some(entry));
    }
    if !kind.in_running_config() {
        return current.get(kind, id).map(SdnObject::to_api_json);
    }
    let (run, cur) = (running.get(kind, id), current.get(kind, id));
    (run.is_some() || cur.is_some()).then(|| entry(kind, id, run, cur))
}

fn ty(o: &SdnObject, name: &str) -> PropType {
    o.type_def()
        .prop(name)
        .map_or(PropType::Text { max: 0 }, |p| p.ty)
}

fn entry(kind: Kind, id: &str, run: Option<&SdnObject>, cur: Option<&SdnObject>) -> Json {
    let mut top = Map::new();
    top.insert(kind.id_param().into(), Json::String(id.into()));
    let mut pending = Map::new();
    let mut state: Option<&str> = None;
    if let Some(r) = run {
        top.insert("type".into(), Json::String(r.type_name().into()));
        for (k, v) in r.props() {
            top.insert(k.into(), api_value(ty(r, k), v));
        }
    }
    match (run, cur) {
        (Some(_), None) => state = Some("deleted"),
        (None, Some(c)) => {
            state = Some("new");
            top.insert("type".into(), Json::String(c.type_name().into()));
            for (k, v) in c.props() {
                if k == "vnet" {
                    top.insert(k.into(), api_value(ty(c, k), v));
                } else {
                    pending.insert(k.into(), api_value(ty(c, k), v));
                }
            }
        }
        (Some(r), Some(c)) => {
            if !equivalent(r, c) {
                state = Some("changed");
            }
            // Like the reference, `type` and `vnet` always show the current value at top level.
            top.insert("type".into(), Json::String(c.type_name().into()));
            for (k, _) in r.props() {
                if c.get(k).is_none() && k != "vnet" {
                    pending.insert(k.into(), Json::String("deleted".into()));
                }
            }
            for (k, v) in c.props() {
                let same = r.get(k).is_some_and(|rv| rv.canonical() == v.canonical());
                if k == "vnet" {
                    top.insert(k.into(), api_value(ty(c, k), v));
                } else if !same {
                    pending.insert(k.into(), api_value(ty(c, k), v));
                }
            }
        }
        (None, None) => {}
    }
    if kind == Kind::Subnets {
        add_subnet_api_fields(&mut top, id, run.and_then(|r| r.get("dhcp-range")));
    }
    if let Some(s) = state {
        top.insert("state".into(), Json::String(s.into()));
        top.insert("pending".into(), Json::Object(pending));
    }
    Json::Object(top)
}

/// Fabrics and fabric nodes (API form, see [`SdnObject::to_api_json`]) merged as the reference's
/// `pending_config` merges them: a running object shows its running values with `state`
/// `deleted` or `changed`; a new object has `state` `new` and every value (its `id`,
/// `protocol`, `fabric_id`, ...) in `pending` only. Sorted by object id (`FABRIC`,
/// `FABRIC_NODE`), each with its object id.
pub fn fabric_pending_view(current: &Config, running: &Config) -> Vec<(String, Json)> {
    let api = |o: &SdnObject| match o.to_api_json() {
        Json::Object(m) => m,
        _ => Map::new(),
    };
    let ids: BTreeSet<&str> = running
        .list(Kind::Fabrics)
        .chain(current.list(Kind::Fabrics))
        .map(SdnObject::id)
        .collect();
    let encode = |key: &str, v: &Json| -> String {
        match v {
            Json::Array(items) if key == "interfaces" => {
                let mut l: Vec<String> = items
                    .iter()
                    .map(|i| i.as_str().unwrap_or_default().to_string())
                    .collect();
                l.sort();
                l.join(",")
            }
            Json::String(s) => s.clone(),
            other => other.to_string(),
        }
    };
    let mut out = Vec::new();
    for id in ids {
        let run = running.get(Kind::Fabrics, id).map(api);
        let cur = current.get(Kind::Fabrics, id).map(api);
        let mut top = Map::new();
        let mut pending = Map::new();
        let mut state = None;
        if let Some(run) = &run {
            for (key, value) in run {
                top.insert(key.clone(), value.clone());
                match &cur {
                    None => state = Some("deleted"),
                    Some(cur) => match cur.get(key) {
                        None => {
                            pending.insert(key.clone(), Json::String("deleted".into()));
                            state = Some("changed");
                        }
                        Some(c) if encode(key, c) != encode(key, value) => state = Some("changed"),
                        Some(_) => {}
                    },
                }
            }
        }
        if let Some(cur) = &cur {
            for (key, value) in cur {
                let running_value = run.as_ref().and_then(|r| r.get(key));
                if running_value.is_none_or(|r| encode(key, r) != encode(key, value)) {
                    pending.insert(key.clone(), value.clone());
                }
                if run.is_none() {
                    state = Some("new");
                } else if running_value.is_none() {
                    state = Some("changed");
                }
            }
        }
        if let Some(state) = state {
            top.insert("state".into(), Json::String(state.into()));
            top.insert("pending".into(), Json::Object(pending));
        }
        out.push((id.to_string(), Json::Object(top)));
    }
    out
}

/// How many zones, vnets, subnets, controllers and fabrics differ between current and running
/// (created, changed or deleted): what an apply would change.
pub fn count_pending_changes(current: &Config, running: &Config) -> usize {
    Kind::ALL
        .into_iter()
        .filter(|k| k.in_running_config())
        .map(|kind| current.differences(running, kind).filter(|pair| differs(pair)).count())
        .sum()
}

/// True when any zone, vnet, subnet, controller or fabric differs between current and running.
pub fn has_pending_changes(current: &Config, running: &Config) -> bool {
    Kind::ALL
        .into_iter()
        .filter(|k| k.in_running_config())
        .any(|kind| current.differences(running, kind).any(|pair| differs(&pair)))
}

/// Whether an object (current, running) is a pending change: created, deleted, or changed in
/// more than how its values are written.
fn differs(pair: &(Option<&SdnObject>, Option<&SdnObject>)) -> bool {
    match pair {
        (Some(c), Some(r)) => !equivalent(r, c),
        _ => true,
    }
}
