//! Route maps and prefix lists as configuration objects: the API's mutations (PVE 9.1's
//! `/cluster/sdn/route-maps/entries/...` and `/cluster/sdn/prefix-lists/...`) and the rules
//! tying them to each other and to the controllers that use them.
//!
//! The API names a route map entry by `route-map-id` and `order`; the object's id is
//! `MAP_ORDER`. A prefix list is one object; its entries are addressed by their `seq`.

use serde_json::{Map, Value as Json};

use crate::config::{Change, Config, Params};
use crate::error::{ConfigError, FieldErrors};
use crate::kind::Kind;
use crate::net::shorten;
use crate::object::{SdnObject, MISSING};
use crate::routing::{
    check_prefix_list_id, check_route_map_id, parse_match, parse_prefix_entry, split_entry_id,
    PrefixListEntry, MAX_ORDER,
};

/// The controller properties that name a route map.
const CONTROLLER_ROUTE_MAPS: [&str; 2] = ["route-map-in", "route-map-out"];

fn route_map_of(o: &SdnObject) -> Option<&str> {
    split_entry_id(o.id()).ok().map(|(name, _)| name)
}

impl Config {
    /// The entries of route map `name`, in order.
    pub fn route_map_entries<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a SdnObject> {
        let mut entries: Vec<&SdnObject> = self
            .list(Kind::RouteMaps)
            .filter(|o| route_map_of(o) == Some(name))
            .collect();
        entries.sort_by_key(|o| split_entry_id(o.id()).map_or(0, |(_, order)| order));
        entries.into_iter()
    }

    /// The names of all route maps (maps with at least one entry), sorted.
    pub fn route_map_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .list(Kind::RouteMaps)
            .filter_map(|o| route_map_of(o).map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn route_map_exists(&self, name: &str) -> bool {
        self.list(Kind::RouteMaps)
            .any(|o| route_map_of(o) == Some(name))
    }

    /// Who uses route map `name` (controllers, other route maps' `call`), as a 409 message.
    fn route_map_users(&self, name: &str) -> Option<String> {
        let users: Vec<String> = self
            .list(Kind::Controllers)
            .filter(|c| {
                CONTROLLER_ROUTE_MAPS
                    .iter()
                    .any(|p| c.get_str(p) == Some(name))
            })
            .map(|c| format!("controller {}", c.id()))
            .chain(
                self.list(Kind::RouteMaps)
                    .filter(|o| o.get_str("call") == Some(name) && route_map_of(o) != Some(name))
                    .map(|o| format!("route map entry {}", o.id())),
            )
            .collect();
        (!users.is_empty()).then(|| {
            format!(
                "route map {name} is still referenced by {}",
                users.join(", ")
            )
        })
    }

    /// Which route map entries match on prefix list `id`, as a 409 message.
    fn prefix_list_users(&self, id: &str) -> Option<String> {
        let users: Vec<String> = self
            .list(Kind::RouteMaps)
            .filter(|o| {
                o.get_list("match")
                    .iter()
                    .filter_map(|m| parse_match(m).ok())
                    .any(|m| m.prefix_list() == Some(id))
            })
            .map(|o| format!("route map entry {}", o.id()))
            .collect();
        (!users.is_empty()).then(|| {
            format!(
                "prefix list {id} is still referenced by {}",
                users.join(", ")
            )
        })
    }

    /// Why deleting the object would leave a dangling reference (409), if it would.
    pub(crate) fn routing_conflict(&self, kind: Kind, id: &str) -> Option<String> {
        match kind {
            Kind::RouteMaps => {
                let name = split_entry_id(id).ok()?.0;
                let last = self.route_map_entries(name).all(|o| o.id() == id);
                if last {
                    self.route_map_users(name)
                } else {
                    None
                }
            }
            Kind::PrefixLists => self.prefix_list_users(id),
            _ => None,
        }
    }

    /// A route map entry's `call` and its prefix-list matches must name existing objects.
    pub(crate) fn check_route_map_entry(&self, o: &SdnObject, e: &mut FieldErrors) {
        if let Some(call) = o.get_str("call") {
            if route_map_of(o) == Some(call) {
                e.add("call", format!("route map {call} can't call itself"));
            } else if !self.route_map_exists(call) {
                e.add("call", format!("route map '{call}' does not exist"));
            }
        }
        for m in o.get_list("match") {
            if let Some(list) = parse_match(m)
                .ok()
                .and_then(|m| m.prefix_list().map(str::to_string))
            {
                if self.get(Kind::PrefixLists, &list).is_none() {
                    e.add("match", format!("prefix list '{list}' does not exist"));
                }
            }
        }
    }

    /// A controller's `route-map-in`/`route-map-out` must name existing route maps.
    pub(crate) fn check_controller_route_maps(&self, c: &SdnObject, e: &mut FieldErrors) {
        for p in CONTROLLER_ROUTE_MAPS {
            if let Some(name) = c.get_str(p) {
                if !self.route_map_exists(name) {
                    e.add(p, format!("route map '{name}' does not exist"));
                }
            }
        }
    }

    /// `POST /cluster/sdn/route-maps/entries`: `route-map-id`, `order`, `action`, `match`,
    /// `set`, `call`, `exit-action`.
    pub fn plan_route_map_entry_create(&self, params: &Params) -> Result<Change, ConfigError> {
        let (name, order) = entry_address(params)?;
        let id = format!("{name}_{order}");
        if self.get(Kind::RouteMaps, &id).is_some() {
            return Err(ConfigError::Conflict(format!(
                "route map entry already exists in configuration: {id}"
            )));
        }
        let mut generic = params.clone();
        generic.remove("route-map-id");
        generic.remove("order");
        generic.insert("route-map-id".into(), Json::String(id));
        generic.insert("type".into(), Json::String("route-map-entry".into()));
        self.plan_create(Kind::RouteMaps, &generic)
    }

    /// `PUT /cluster/sdn/route-maps/entries/{route-map-id}/{order}`: properties to set,
    /// `delete` (`set`, `match`, `call`, `exit-action`), `digest`.
    pub fn plan_route_map_entry_update(
        &self,
        name: &str,
        order: &str,
        params: &Params,
    ) -> Result<Change, ConfigError> {
        let id = self.entry_id(name, order)?;
        let mut generic = params.clone();
        generic.remove("route-map-id");
        generic.remove("order");
        self.plan_update(Kind::RouteMaps, &id, &generic)
    }

    /// `DELETE /cluster/sdn/route-maps/entries/{route-map-id}/{order}`; the last entry of a map
    /// still in use can't go (409).
    pub fn plan_route_map_entry_delete(
        &self,
        name: &str,
        order: &str,
    ) -> Result<Change, ConfigError> {
        let id = self.entry_id(name, order)?;
        self.plan_delete(Kind::RouteMaps, &id)
    }

    /// The object id of an existing entry, or 404.
    pub fn entry_id(&self, name: &str, order: &str) -> Result<String, ConfigError> {
        let id = format!("{name}_{order}");
        if split_entry_id(&id).is_err() || self.get(Kind::RouteMaps, &id).is_none() {
            return Err(ConfigError::NotFound(format!(
                "route map entry {}_{} doesn't exist",
                shorten(name),
                shorten(order)
            )));
        }
        Ok(id)
    }

    /// `POST /cluster/sdn/prefix-lists`: `id`, `entries` (entries without `seq` get the next
    /// free one: the highest so far + 5, as FRR numbers them).
    pub fn plan_prefix_list_create(&self, params: &Params) -> Result<Change, ConfigError> {
        let mut generic = params.clone();
        if let Some(Json::String(id)) = params.get("id") {
            check_prefix_list_id(id).map_err(|e| FieldErrors::single("id", e))?;
        }
        if let Some(entries) = params.get("entries") {
            generic.insert("entries".into(), numbered_entries(&[], entries)?);
        }
        generic.insert("type".into(), Json::String("prefix-list".into()));
        self.plan_create(Kind::PrefixLists, &generic)
    }

    /// `PUT /cluster/sdn/prefix-lists/{id}`: `entries` (replaces them all), `delete=entries`,
    /// `digest`.
    pub fn plan_prefix_list_update(
        &self,
        id: &str,
        params: &Params,
    ) -> Result<Change, ConfigError> {
        self.prefix_list(id)?;
        let mut generic = params.clone();
        generic.remove("id");
        if let Some(entries) = params.get("entries") {
            generic.insert("entries".into(), numbered_entries(&[], entries)?);
        }
        self.plan_update(Kind::PrefixLists, id, &generic)
    }

    /// `DELETE /cluster/sdn/prefix-lists/{id}`; refused (409) while a route map matches on it.
    pub fn plan_prefix_list_delete(&self, id: &str) -> Result<Change, ConfigError> {
        self.prefix_list(id)?;
        self.plan_delete(Kind::PrefixLists, id)
    }

    /// A prefix list by id, or 404.
    pub fn prefix_list(&self, id: &str) -> Result<&SdnObject, ConfigError> {
        self.get(Kind::PrefixLists, id).ok_or_else(|| {
            ConfigError::NotFound(format!("prefix list {} doesn't exist", shorten(id)))
        })
    }

    /// The entries of a prefix list, parsed, in stored order.
    pub fn prefix_list_entries(&self, id: &str) -> Result<Vec<PrefixListEntry>, ConfigError> {
        Ok(self
            .prefix_list(id)?
            .get_list("entries")
            .iter()
            .filter_map(|e| parse_prefix_entry(e).ok())
            .collect())
    }

    /// `POST /cluster/sdn/prefix-lists/{id}/entries`: `action`, `prefix`, `le`, `ge`, `seq`.
    pub fn plan_prefix_entry_create(
        &self,
        id: &str,
        params: &Params,
    ) -> Result<Change, ConfigError> {
        let list = self.prefix_list(id)?;
        let existing = list.get_list("entries").to_vec();
        let entry = entry_from_params(params)?;
        let all = numbered_entries(&existing, &Json::Array(vec![Json::String(entry)]))?;
        self.replace_entries(list, all)
    }

    /// `PUT /cluster/sdn/prefix-lists/{id}/entries/{seq}`: `action`, `prefix`, `le`, `ge`,
    /// `seq` (renumbers), `delete` (`le`, `ge`, `seq`: a deleted `seq` takes the next free one).
    pub fn plan_prefix_entry_update(
        &self,
        id: &str,
        seq: &str,
        params: &Params,
    ) -> Result<Change, ConfigError> {
        let list = self.prefix_list(id)?;
        let (pos, old) = self.find_entry(id, seq)?;
        let mut delete = Vec::new();
        match params.get("delete") {
            None => {}
            Some(Json::String(s)) => {
                delete.extend(crate::net::split_list(s).into_iter().map(str::to_string))
            }
            Some(Json::Array(a)) => {
                delete.extend(a.iter().filter_map(Json::as_str).map(str::to_string))
            }
            Some(_) => {
                return Err(FieldErrors::single(
                    "delete",
                    "type check ('string') failed",
                ))
            }
        }
        let mut merged = Map::new();
        merged.insert("action".into(), Json::String(old.action.into()));
        merged.insert("prefix".into(), Json::String(old.prefix.to_string()));
        for (k, v) in [("le", old.le), ("ge", old.ge), ("seq", old.seq)] {
            if let Some(v) = v {
                merged.insert(k.into(), Json::from(v));
            }
        }
        for name in &delete {
            match name.as_str() {
                "le" | "ge" | "seq" => {
                    merged.remove(name);
                }
                other => {
                    return Err(FieldErrors::single(
                        "delete",
                        format!("no such option '{}' (allowed: le, ge, seq)", shorten(other)),
                    ))
                }
            }
        }
        for (k, v) in params {
            match k.as_str() {
                "id" | "delete" | "digest" | "lock-token" => {}
                "action" | "prefix" | "le" | "ge" | "seq" => {
                    if delete.contains(k) {
                        return Err(FieldErrors::single(
                            "delete",
                            format!("cannot set and delete property '{k}' at the same time!"),
                        ));
                    }
                    merged.insert(k.clone(), v.clone());
                }
                other => {
                    return Err(FieldErrors::single(other, crate::object::NOT_IN_SCHEMA));
                }
            }
        }
        let entry = entry_from_params(&merged)?;
        let mut rest = list.get_list("entries").to_vec();
        rest.remove(pos);
        let mut all = numbered_entries(&rest, &Json::Array(vec![Json::String(entry)]))?;
        // Keep the entry where it was.
        if let Json::Array(items) = &mut all {
            let updated = items.pop().unwrap_or(Json::Null);
            items.insert(pos, updated);
        }
        let mut generic = Map::new();
        if let Some(d) = params.get("digest") {
            generic.insert("digest".into(), d.clone());
        }
        generic.insert("entries".into(), all);
        self.plan_update(Kind::PrefixLists, id, &generic)
    }

    /// `DELETE /cluster/sdn/prefix-lists/{id}/entries/{seq}`.
    pub fn plan_prefix_entry_delete(&self, id: &str, seq: &str) -> Result<Change, ConfigError> {
        let list = self.prefix_list(id)?;
        let (pos, _) = self.find_entry(id, seq)?;
        let mut entries = list.get_list("entries").to_vec();
        entries.remove(pos);
        let all = Json::Array(entries.into_iter().map(Json::String).collect());
        self.replace_entries(list, all)
    }

    /// The position and value of the entry with sequence number `seq`, or 404.
    pub fn find_entry(&self, id: &str, seq: &str) -> Result<(usize, PrefixListEntry), ConfigError> {
        let not_found = || {
            ConfigError::NotFound(format!(
                "entry {} in prefix list {} doesn't exist",
                shorten(seq),
                shorten(id)
            ))
        };
        let seq: u32 = seq.parse().map_err(|_| not_found())?;
        self.prefix_list_entries(id)?
            .into_iter()
            .enumerate()
            .find(|(_, e)| e.seq == Some(seq))
            .ok_or_else(not_found)
    }

    fn replace_entries(&self, list: &SdnObject, entries: Json) -> Result<Change, ConfigError> {
        let mut generic = Map::new();
        let empty = entries.as_array().is_some_and(Vec::is_empty);
        if empty {
            generic.insert("delete".into(), Json::String("entries".into()));
        } else {
            generic.insert("entries".into(), entries);
        }
        if empty && list.get("entries").is_none() {
            generic.clear();
        }
        self.plan_update(Kind::PrefixLists, list.id(), &generic)
    }
}

/// `route-map-id` and `order` of a new entry.
fn entry_address(params: &Params) -> Result<(String, u32), ConfigError> {
    let mut e = FieldErrors::new();
    let name = match params.get("route-map-id") {
        Some(Json::String(s)) if !s.is_empty() => match check_route_map_id(s) {
            Ok(()) => Some(s.clone()),
            Err(err) => {
                e.add("route-map-id", err);
                None
            }
        },
        Some(Json::String(_)) | None => {
            e.add("route-map-id", MISSING);
            None
        }
        Some(_) => {
            e.add("route-map-id", "type check ('string') failed");
            None
        }
    };
    let order = match params.get("order") {
        Some(Json::Number(n)) => n.as_u64(),
        Some(Json::String(s))
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.len() <= 10 =>
        {
            s.parse().ok()
        }
        None => {
            e.add("order", MISSING);
            None
        }
        Some(_) => {
            e.add("order", "type check ('integer') failed");
            None
        }
    };
    let order = match order {
        Some(o) if (1..=u64::from(MAX_ORDER)).contains(&o) => Some(o as u32),
        Some(o) => {
            e.add(
                "order",
                format!("value {o} is out of range (allowed: 1-{MAX_ORDER})"),
            );
            None
        }
        None => None,
    };
    e.into_result()?;
    match (name, order) {
        (Some(n), Some(o)) => Ok((n, o)),
        _ => Err(FieldErrors::single("route-map-id", MISSING)),
    }
}

/// One entry as a property string from the entry API's parameters.
fn entry_from_params(params: &Params) -> Result<String, ConfigError> {
    let mut e = FieldErrors::new();
    for key in params.keys() {
        if !["action", "prefix", "le", "ge", "seq"].contains(&key.as_str()) {
            e.add(key.as_str(), crate::object::NOT_IN_SCHEMA);
        }
    }
    let mut parts = Vec::new();
    for key in ["action", "prefix", "le", "ge", "seq"] {
        let text = match params.get(key) {
            None => None,
            Some(Json::String(s)) if s.is_empty() => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(Json::Number(n)) => Some(n.to_string()),
            Some(_) => {
                e.add(key, "type check ('string') failed");
                None
            }
        };
        match text {
            Some(t) if t.contains([',', '=', '\n', '\r']) => {
                e.add(key, format!("invalid value '{}'", shorten(&t)))
            }
            Some(t) => parts.push(format!("{key}={t}")),
            None if matches!(key, "action" | "prefix") => e.add(key, MISSING),
            None => {}
        }
    }
    e.into_result()?;
    let s = parts.join(",");
    parse_prefix_entry(&s).map_err(|err| {
        // The message names the property it is about right after the entry.
        let field = ["le", "ge", "seq", "prefix", "action"]
            .into_iter()
            .find(|k| err.contains(&format!("': {k}")))
            .unwrap_or("prefix");
        FieldErrors::single(field, err)
    })?;
    Ok(s)
}

/// `existing` followed by `new` (an array or one string of property strings), every entry
/// checked, those of `new` without `seq` numbered (highest + 5, as FRR does), all written as
/// proxmox-ve-config writes them. Duplicate sequence numbers are refused.
fn numbered_entries(existing: &[String], new: &Json) -> Result<Json, ConfigError> {
    let items: Vec<String> = match new {
        Json::String(s) if s.is_empty() => Vec::new(),
        Json::String(s) => vec![s.clone()],
        Json::Array(a) => {
            let mut out = Vec::new();
            for item in a {
                match item {
                    Json::String(s) if !s.is_empty() => out.push(s.clone()),
                    Json::String(_) => {}
                    _ => {
                        return Err(FieldErrors::single(
                            "entries",
                            "entries must be property strings",
                        ))
                    }
                }
            }
            out
        }
        _ => {
            return Err(FieldErrors::single(
                "entries",
                "type check ('array') failed",
            ))
        }
    };
    if items.len() > crate::value::MAX_LIST_ITEMS {
        return Err(FieldErrors::single(
            "entries",
            format!(
                "at most {} entries are allowed",
                crate::value::MAX_LIST_ITEMS
            ),
        ));
    }
    let mut parsed: Vec<PrefixListEntry> = Vec::with_capacity(existing.len() + items.len());
    for item in existing {
        parsed.push(parse_prefix_entry(item).map_err(|e| FieldErrors::single("entries", e))?);
    }
    let mut out: Vec<Json> = existing.iter().cloned().map(Json::String).collect();
    for item in &items {
        let mut entry = parse_prefix_entry(item).map_err(|e| FieldErrors::single("entries", e))?;
        match entry.seq {
            Some(seq) if parsed.iter().any(|p| p.seq == Some(seq)) => {
                return Err(FieldErrors::single(
                    "seq",
                    format!("entry with sequence number {seq} already exists"),
                ))
            }
            Some(_) => {}
            None => {
                let highest = parsed.iter().filter_map(|p| p.seq).max();
                entry.seq = Some(highest.map_or(5, |h| h.saturating_add(5)));
            }
        }
        out.push(Json::String(entry.to_property_string()));
        parsed.push(entry);
    }
    Ok(Json::Array(out))
}
