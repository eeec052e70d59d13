//! The whole configuration of one cluster (pending or running) and the validated mutations on it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::OnceLock;

use imbl::{OrdMap, OrdSet};
use serde_json::{Map, Value as Json};
use sha1::{Digest, Sha1};

use crate::error::{ConfigError, FieldErrors};
use crate::kind::Kind;
use crate::net::{self, shorten, Cidr};
use crate::object::{SdnObject, SubnetId, MISSING, NOT_IN_SCHEMA};
use crate::schema::{self, MAX_VLAN_TAG};
use crate::section;
use crate::value::Value;

/// Raw API parameters as the client sent them (see the crate docs).
pub type Params = Map<String, Json>;

/// One validated mutation: `Some(object)` creates or replaces, `None` deletes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub kind: Kind,
    pub id: String,
    pub object: Option<SdnObject>,
}

#[derive(Clone, Debug, Default)]
struct ObjMap {
    objects: OrdMap<String, Stored>,
    next_seq: u64,
    /// The objects' digest sum, once asked for; every change keeps it current from then on.
    digest: OnceLock<DigestSum>,
}

/// An object as its kind's map holds it: equal to another only when stored alike (content
/// and file position), so that a diff of two maps ([`Config::differences`]) finds every
/// difference any caller cares about, whichever notion of equality it then applies.
#[derive(Clone, Debug)]
struct Stored(SdnObject);

impl PartialEq for Stored {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 && self.0.seq == other.0.seq
    }
}

/// Where the objects of [`Config::rebased_on`]'s result take their file positions from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positions {
    /// Their own: only objects stored alike (content and position) are taken from the base.
    Own,
    /// The base's, for every object equal in content to the base's: for a running
    /// configuration, whose positions carry no meaning (its JSON has none).
    Base,
}

/// What a kind's `digest` is made of: each object's SHA-1 (of its stored form, which holds
/// every property and the section order) summed in two lanes (mod 2^128 and mod 2^32), and
/// the count. A sum, unlike a hash of the whole file, is kept by adding the object a change
/// writes and subtracting the one it replaces: O(1) per change at any size, where hashing
/// the file costs a serialization of every object of the kind on every read and update.
#[derive(Clone, Copy, Debug, Default)]
struct DigestSum {
    low: u128,
    high: u32,
    count: u64,
}

impl DigestSum {
    fn of<'a>(objects: impl Iterator<Item = &'a SdnObject>) -> DigestSum {
        let mut sum = DigestSum::default();
        objects.for_each(|o| sum.add(o));
        sum
    }

    fn lanes(object: &SdnObject) -> (u128, u32) {
        let hash: [u8; 20] = Sha1::digest(object.to_store_bytes()).into();
        let (mut low, mut high) = ([0u8; 16], [0u8; 4]);
        low.copy_from_slice(&hash[..16]);
        high.copy_from_slice(&hash[16..]);
        (u128::from_le_bytes(low), u32::from_le_bytes(high))
    }

    fn add(&mut self, object: &SdnObject) {
        let (low, high) = Self::lanes(object);
        self.low = self.low.wrapping_add(low);
        self.high = self.high.wrapping_add(high);
        self.count += 1;
    }

    fn subtract(&mut self, object: &SdnObject) {
        let (low, high) = Self::lanes(object);
        self.low = self.low.wrapping_sub(low);
        self.high = self.high.wrapping_sub(high);
        self.count -= 1;
    }

    /// 40 hex digits, as the reference's digests.
    fn hex(&self) -> String {
        let mut hasher = Sha1::new();
        hasher.update(self.low.to_le_bytes());
        hasher.update(self.high.to_le_bytes());
        hasher.update(self.count.to_le_bytes());
        hex::encode(hasher.finalize())
    }
}

/// Every object of every kind, with the indexes the cross-object rules need so that a single
/// mutation costs O(log n) rather than a scan of all vnets or subnets.
///
/// The maps are persistent (they share their unchanged parts between copies): a change to a
/// configuration that a reader still holds copies the path to what changed, not the whole
/// configuration, so it costs the same at 10 vnets as at 100,000.
#[derive(Clone, Debug, Default)]
pub struct Config {
    maps: [ObjMap; Kind::ALL.len()],
    vnets_by_zone: OrdMap<String, OrdSet<String>>,
    vnets_by_tag: OrdMap<i64, OrdSet<String>>,
    subnets_by_vnet: OrdMap<String, OrdSet<String>>,
}

/// Equal objects (file positions aside), as [`SdnObject`]'s own equality.
impl PartialEq for Config {
    fn eq(&self, other: &Self) -> bool {
        Kind::ALL.iter().all(|&k| {
            self.len(k) == other.len(k)
                && self.differences(other, k).all(|pair| matches!(pair, (Some(a), Some(b)) if a == b))
        })
    }
}

impl Eq for Config {}

/// The reference's answer to a stale `digest`.
pub const DIGEST_MISMATCH: &str =
    "detected modified configuration - file changed by other user? Try again.";

/// The Proxmox OUI the reference uses as default MAC prefix.
const MAC_PREFIX: [u8; 3] = [0xBC, 0x24, 0x11];

impl Config {
    pub fn new() -> Config {
        Config::default()
    }

    pub fn get(&self, kind: Kind, id: &str) -> Option<&SdnObject> {
        self.maps[kind.index()].objects.get(id).map(|stored| &stored.0)
    }

    /// The objects of `kind`, sorted by id (the order the API lists them in).
    pub fn list(&self, kind: Kind) -> impl Iterator<Item = &SdnObject> {
        self.maps[kind.index()].objects.values().map(|stored| &stored.0)
    }

    /// Every object of `kind` in either configuration, by id in order, with its state in each
    /// (`(Some, None)`: only in `self`): one walk over both, without a lookup per object.
    pub fn pairs<'a>(&'a self, other: &'a Config, kind: Kind) -> impl Iterator<Item = (Option<&'a SdnObject>, Option<&'a SdnObject>)> + 'a {
        let mut mine = self.maps[kind.index()].objects.iter().peekable();
        let mut theirs = other.maps[kind.index()].objects.iter().peekable();
        std::iter::from_fn(move || {
            let order = match (mine.peek(), theirs.peek()) {
                (None, None) => return None,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((a, _)), Some((b, _))) => a.cmp(b),
            };
            Some(match order {
                std::cmp::Ordering::Less => (mine.next().map(|(_, o)| &o.0), None),
                std::cmp::Ordering::Greater => (None, theirs.next().map(|(_, o)| &o.0)),
                std::cmp::Ordering::Equal => (mine.next().map(|(_, o)| &o.0), theirs.next().map(|(_, o)| &o.0)),
            })
        })
    }

    /// The objects of `kind` stored differently in `self` and `other` (in content or file
    /// position; `(Some, None)`: only in `self`), by id in order: the pairs of
    /// [`Config::pairs`] that are not stored alike, without visiting what the two share.
    /// Two configurations derived from one another (a copy and its changes, or one
    /// [`Config::rebased_on`] the other) share every unchanged part, so this costs what
    /// differs, not the size of the configuration.
    pub fn differences<'a>(&'a self, other: &'a Config, kind: Kind) -> impl Iterator<Item = (Option<&'a SdnObject>, Option<&'a SdnObject>)> + 'a {
        use imbl::ordmap::DiffItem;
        self.maps[kind.index()].objects.diff(&other.maps[kind.index()].objects).map(|item| match item {
            DiffItem::Remove(_, mine) => (Some(&mine.0), None),
            DiffItem::Add(_, theirs) => (None, Some(&theirs.0)),
            DiffItem::Update { old: (_, mine), new: (_, theirs) } => (Some(&mine.0), Some(&theirs.0)),
        })
    }

    /// This configuration built as `base` with what differs changed: equal to `self`, but
    /// sharing every unchanged part with `base`, so that [`Config::differences`] between the
    /// two (and between their later copies) costs only what differs. One walk over both;
    /// for a configuration read whole, so that comparing it with the other one it is kept
    /// beside (pending and running) stops costing a walk over every object.
    pub fn rebased_on(&self, base: &Config, positions: Positions) -> Config {
        if self.is_empty() || base.is_empty() {
            // Nothing to share (nothing applied yet, say): building on the base would cost a
            // walk and a removal or insertion per object for the same result.
            return self.clone();
        }
        let mut rebased = base.clone();
        for kind in Kind::ALL {
            let mut changes = Vec::new();
            for pair in base.pairs(self, kind) {
                match pair {
                    (Some(theirs), Some(mine)) if theirs == mine && (positions == Positions::Base || theirs.seq == mine.seq) => {}
                    (_, Some(mine)) => changes.push(Change { kind, id: mine.id.clone(), object: Some(mine.clone()) }),
                    (Some(gone), None) => changes.push(Change { kind, id: gone.id.clone(), object: None }),
                    (None, None) => {}
                }
            }
            changes.into_iter().for_each(|change| rebased.apply(change));
            // Positions to come continue after `self`'s (and after the base's taken over).
            let next_seq = &mut rebased.maps[kind.index()].next_seq;
            *next_seq = match positions {
                Positions::Own => self.maps[kind.index()].next_seq,
                Positions::Base => (*next_seq).max(self.maps[kind.index()].next_seq),
            };
        }
        rebased
    }

    pub fn len(&self, kind: Kind) -> usize {
        self.maps[kind.index()].objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.maps.iter().all(|m| m.objects.is_empty())
    }

    /// The vnets of a zone, sorted by id.
    pub fn vnets_in_zone<'a>(&'a self, zone: &str) -> impl Iterator<Item = &'a SdnObject> + 'a {
        self.vnets_by_zone
            .get(zone)
            .into_iter()
            .flatten()
            .filter_map(|id| self.get(Kind::Vnets, id))
    }

    /// Every node the configuration names: zone members, exit nodes, controllers' nodes.
    pub fn named_nodes(&self) -> BTreeSet<String> {
        let mut nodes = BTreeSet::new();
        for zone in self.list(Kind::Zones) {
            nodes.extend(zone.get_list("nodes").iter().cloned());
            nodes.extend(zone.get_list("exitnodes").iter().cloned());
            nodes.extend(zone.get_str("exitnodes-primary").map(str::to_string));
        }
        for controller in self.list(Kind::Controllers) {
            nodes.extend(controller.get_str("node").map(str::to_string));
        }
        nodes
    }

    /// Whether a zone reaches `node`: a zone without a `nodes` list spans every node.
    pub fn zone_spans_node(zone: &SdnObject, node: &str) -> bool {
        let members = zone.get_list("nodes");
        members.is_empty() || members.iter().any(|member| member == node)
    }

    /// The subnets of a vnet, sorted by id.
    pub fn subnets_of_vnet<'a>(&'a self, vnet: &str) -> impl Iterator<Item = &'a SdnObject> + 'a {
        self.subnets_by_vnet
            .get(vnet)
            .into_iter()
            .flatten()
            .filter_map(|id| self.get(Kind::Subnets, id))
    }

    /// The subnets whose id says they belong to `zone`, sorted by id.
    pub fn subnets_in_zone<'a>(&'a self, zone: &str) -> impl Iterator<Item = &'a SdnObject> + 'a {
        let prefix = format!("{zone}-");
        self.maps[Kind::Subnets.index()]
            .objects
            .range(prefix.clone()..)
            .take_while(move |(id, _)| id.starts_with(&prefix))
            .map(|(_, o)| &o.0)
    }

    /// Maps what a client may use to name a subnet of `vnet` (its id, or its CIDR as in
    /// `10.0.0.0/24`) to the subnet's id. The reference only accepts the id; the CIDR form is
    /// an sdnd convenience.
    pub fn resolve_subnet_id(&self, vnet: &str, id_or_cidr: &str) -> Option<String> {
        if self.get(Kind::Subnets, id_or_cidr).is_some() {
            return Some(id_or_cidr.to_string());
        }
        let cidr: Cidr = id_or_cidr.parse().ok()?;
        let zone = self.get(Kind::Vnets, vnet)?.get_str("zone")?;
        let id = SubnetId::new(zone, cidr).to_string();
        self.get(Kind::Subnets, &id).map(|_| id)
    }

    /// Adds or replaces an object (loading from the store or a file). Objects without a file
    /// position are placed after all others.
    pub fn insert(&mut self, mut object: SdnObject) {
        let kind = object.kind();
        self.remove(kind, &object.id.clone());
        let map = &mut self.maps[kind.index()];
        if object.seq == 0 {
            object.seq = map.next_seq.max(1);
        }
        map.next_seq = map.next_seq.max(object.seq.saturating_add(1));
        if let Some(sum) = map.digest.get_mut() {
            sum.add(&object);
        }
        self.index_add(&object);
        self.maps[kind.index()]
            .objects
            .insert(object.id.clone(), Stored(object));
    }

    fn remove(&mut self, kind: Kind, id: &str) -> Option<SdnObject> {
        let map = &mut self.maps[kind.index()];
        let Stored(old) = map.objects.remove(id)?;
        if let Some(sum) = map.digest.get_mut() {
            sum.subtract(&old);
        }
        self.index_remove(&old);
        Some(old)
    }

    fn index_add(&mut self, o: &SdnObject) {
        match o.kind() {
            Kind::Vnets => {
                if let Some(zone) = o.get_str("zone") {
                    self.vnets_by_zone
                        .entry(zone.to_string())
                        .or_default()
                        .insert(o.id.clone());
                }
                if let Some(tag) = o.get_int("tag") {
                    self.vnets_by_tag
                        .entry(tag)
                        .or_default()
                        .insert(o.id.clone());
                }
            }
            Kind::Subnets => {
                if let Some(vnet) = o.get_str("vnet") {
                    self.subnets_by_vnet
                        .entry(vnet.to_string())
                        .or_default()
                        .insert(o.id.clone());
                }
            }
            _ => {}
        }
    }

    fn index_remove(&mut self, o: &SdnObject) {
        fn drop_from<K: Ord + Clone>(m: &mut OrdMap<K, OrdSet<String>>, key: &K, id: &str) {
            if let Some(set) = m.get_mut(key) {
                set.remove(id);
                if set.is_empty() {
                    m.remove(key);
                }
            }
        }
        match o.kind() {
            Kind::Vnets => {
                if let Some(zone) = o.get_str("zone") {
                    drop_from(&mut self.vnets_by_zone, &zone.to_string(), &o.id);
                }
                if let Some(tag) = o.get_int("tag") {
                    drop_from(&mut self.vnets_by_tag, &tag, &o.id);
                }
            }
            Kind::Subnets => {
                if let Some(vnet) = o.get_str("vnet") {
                    drop_from(&mut self.subnets_by_vnet, &vnet.to_string(), &o.id);
                }
            }
            _ => {}
        }
    }

    /// Applies a change computed by one of the `plan_*` methods.
    pub fn apply(&mut self, change: Change) {
        match change.object {
            Some(obj) => self.insert(obj),
            None => {
                self.remove(change.kind, &change.id);
            }
        }
    }

    /// Validates a create request; see the crate docs for the parameters of each kind.
    pub fn plan_create(&self, kind: Kind, params: &Params) -> Result<Change, ConfigError> {
        let mut errors = FieldErrors::new();
        let id_param = kind.id_param();
        let raw_id = match params.get(id_param) {
            Some(Json::String(s)) if !s.is_empty() => Some(s.as_str()),
            Some(Json::String(_)) | None => {
                errors.add(id_param, MISSING);
                None
            }
            Some(_) => {
                errors.add(id_param, "type check ('string') failed");
                None
            }
        };
        let type_name = match (params.get("type"), kind) {
            (Some(Json::String(s)), _) => s.clone(),
            (None, Kind::Vnets | Kind::Subnets) => schema::types(kind)[0].name.to_string(),
            (None, _) => {
                errors.add("type", MISSING);
                String::new()
            }
            (Some(_), _) => {
                errors.add("type", "type check ('string') failed");
                String::new()
            }
        };
        let mut values = Map::new();
        for (k, v) in params {
            if k != id_param && k != "type" {
                values.insert(k.clone(), v.clone());
            }
        }
        let id = match (kind, raw_id) {
            (Kind::Subnets, Some(raw)) => match self.subnet_id_for_create(raw, &values) {
                Ok(id) => Some(id),
                Err(e) => {
                    for (k, v) in e.0 {
                        errors.add(k, v);
                    }
                    None
                }
            },
            (_, raw) => raw.map(str::to_string),
        };
        let built =
            SdnObject::from_values(kind, id.as_deref().unwrap_or("xx"), &type_name, &values);
        let mut obj = match built {
            Ok(o) => Some(o),
            Err(ConfigError::Invalid(e)) => {
                for (k, v) in e.0 {
                    // The placeholder id's own checks are meaningless when the id was missing.
                    if id.is_some() || k != id_param {
                        errors.add(k, v);
                    }
                }
                None
            }
            Err(other) => return Err(other),
        };
        errors.into_result()?;
        let (Some(id), Some(obj)) = (id, obj.as_mut()) else {
            return Err(FieldErrors::single(id_param, MISSING));
        };
        if self.get(kind, &id).is_some() {
            return Err(ConfigError::Conflict(format!(
                "sdn {} object ID '{id}' already defined",
                kind.noun()
            )));
        }
        fill_defaults(obj);
        self.check_rules(obj, None)?;
        let mut obj = obj.clone();
        obj.seq = self.maps[kind.index()].next_seq.max(1);
        Ok(Change {
            kind,
            id,
            object: Some(obj),
        })
    }

    /// For subnet creation: the `subnet` parameter is a CIDR, the id is derived from the vnet's zone.
    fn subnet_id_for_create(
        &self,
        raw: &str,
        values: &Map<String, Json>,
    ) -> Result<String, FieldErrors> {
        let mut errors = FieldErrors::new();
        let cidr = match raw.parse::<Cidr>() {
            Ok(c) => Some(c),
            Err(e) => {
                errors.add("subnet", e);
                None
            }
        };
        let zone = match values.get("vnet") {
            Some(Json::String(vnet)) => match self.get(Kind::Vnets, vnet) {
                Some(v) => v.get_str("zone"),
                None => {
                    errors.add("vnet", format!("vnet '{}' does not exist", shorten(vnet)));
                    None
                }
            },
            Some(_) => {
                errors.add("vnet", "type check ('string') failed");
                None
            }
            None => {
                errors.add("vnet", MISSING);
                None
            }
        };
        match (cidr, zone) {
            (Some(c), Some(z)) => Ok(SubnetId::new(z, c).to_string()),
            _ => {
                if errors.is_empty() {
                    errors.add("vnet", format!("vnet of subnet {raw} has no zone"));
                }
                Err(errors)
            }
        }
    }

    /// Validates an update: `delete` lists properties to remove, `digest` must match if given.
    pub fn plan_update(
        &self,
        kind: Kind,
        id: &str,
        params: &Params,
    ) -> Result<Change, ConfigError> {
        let old = self.get(kind, id).ok_or_else(|| not_found(kind, id))?;
        if let Some(d) = params.get("digest") {
            match d {
                Json::String(d) if d.is_empty() || *d == self.digest(kind) => {}
                Json::String(_) => return Err(ConfigError::Conflict(DIGEST_MISMATCH.into())),
                _ => {
                    return Err(FieldErrors::single(
                        "digest",
                        "type check ('string') failed",
                    ))
                }
            }
        }
        let tdef = old.type_def();
        let mut errors = FieldErrors::new();
        let mut set: BTreeMap<&'static str, Option<Value>> = BTreeMap::new();
        for (k, v) in params {
            match k.as_str() {
                "digest" | "delete" => continue,
                "type" => {
                    if v.as_str() != Some(old.type_name()) {
                        errors.add(
                            "type",
                            format!(
                                "can't change the type of {} '{id}' (it is '{}')",
                                kind.noun(),
                                old.type_name()
                            ),
                        );
                    }
                    continue;
                }
                _ => {}
            }
            if k == kind.id_param() {
                let given = v.as_str().unwrap_or_default();
                let same = given == id
                    || (kind == Kind::Subnets
                        && old
                            .get_str("vnet")
                            .and_then(|vnet| self.resolve_subnet_id(vnet, given))
                            .is_some_and(|resolved| resolved == id));
                if !same {
                    errors.add(
                        k.as_str(),
                        format!("does not match the {} being updated ('{id}')", kind.noun()),
                    );
                }
                continue;
            }
            let Some(p) = tdef.prop(k) else {
                errors.add(k.as_str(), NOT_IN_SCHEMA);
                continue;
            };
            match Value::from_json(p.ty, v) {
                Ok(val) => {
                    set.insert(p.name, val);
                }
                Err(e) => errors.add(k.as_str(), e),
            }
        }
        if kind == Kind::Subnets {
            if let (Some(Some(Value::Str(new))), Some(cur)) = (set.get("vnet"), old.get_str("vnet"))
            {
                if new != cur {
                    errors.add("vnet", format!("subnet '{id}' belongs to vnet '{cur}'; a subnet can't move to another vnet"));
                }
            }
        }
        if params
            .get("delete")
            .and_then(Json::as_str)
            .is_some_and(|d| d.len() > 4096)
        {
            errors.add("delete", "value may only be 4096 characters long");
        }
        let delete: Vec<String> = match params.get("delete") {
            None => Vec::new(),
            Some(Json::String(s)) => net::split_list(s).into_iter().map(str::to_string).collect(),
            Some(Json::Array(a)) => a
                .iter()
                .filter_map(Json::as_str)
                .flat_map(|s| {
                    net::split_list(s)
                        .into_iter()
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .collect(),
            Some(_) => {
                errors.add("delete", "type check ('string') failed");
                Vec::new()
            }
        };
        let mut new = old.clone();
        for name in &delete {
            match tdef.prop(name) {
                None => errors.add("delete", format!("no such option '{}'", shorten(name))),
                Some(p) if p.required => errors.add(
                    "delete",
                    format!("unable to delete required option '{name}'"),
                ),
                Some(p) if matches!(set.get(p.name), Some(Some(_))) => errors.add(
                    "delete",
                    format!("cannot set and delete property '{name}' at the same time!"),
                ),
                Some(p) => {
                    new.props.remove(p.name);
                }
            }
        }
        for (name, val) in set {
            match val {
                Some(v) => {
                    new.props.insert(name, v);
                }
                // An empty value unsets, as writing '' does in the reference.
                None if tdef.prop(name).is_some_and(|p| p.required) => errors.add(name, MISSING),
                None => {
                    new.props.remove(name);
                }
            }
        }
        errors.into_result()?;
        fill_defaults(&mut new);
        self.check_rules(&new, Some(old))?;
        Ok(Change {
            kind,
            id: id.to_string(),
            object: Some(new),
        })
    }

    /// Validates a delete: objects still referenced can't go.
    pub fn plan_delete(&self, kind: Kind, id: &str) -> Result<Change, ConfigError> {
        if self.get(kind, id).is_none() {
            return Err(not_found(kind, id));
        }
        let used_by_zone = |props: &[&str]| {
            self.list(Kind::Zones)
                .find(|z| props.iter().any(|p| z.get_str(p) == Some(id)))
                .map(|z| z.id().to_string())
        };
        let conflict = match kind {
            Kind::Zones => {
                // Every vnet, so one delete attempt tells what has to go first.
                let mut vnets: Vec<&str> = self.vnets_in_zone(id).map(|v| v.id()).collect();
                vnets.sort_unstable();
                match vnets.as_slice() {
                    [] => None,
                    [one] => Some(format!("zone {id} is used by vnet {one}")),
                    many => Some(format!("zone {id} is used by vnets {}", many.join(", "))),
                }
            }
            Kind::Vnets => self
                .subnets_of_vnet(id)
                .next()
                .map(|s| format!("can't delete vnet {id}: subnet {} still exists", s.id())),
            Kind::Controllers => used_by_zone(&["controller"])
                .or_else(|| {
                    self.list(Kind::Zones)
                        .find(|z| z.get_list("secondary-controllers").iter().any(|c| c == id))
                        .map(|z| z.id().to_string())
                })
                .map(|z| format!("controller {id} is used by zone {z}")),
            Kind::Ipams => {
                used_by_zone(&["ipam"]).map(|z| format!("ipam {id} is used by zone {z}"))
            }
            Kind::Dns => used_by_zone(&["dns", "reversedns"])
                .map(|z| format!("dns server {id} is used by zone {z}")),
            Kind::Subnets => None,
            Kind::Fabrics => self.fabric_users(id),
            Kind::RouteMaps | Kind::PrefixLists => self.routing_conflict(kind, id),
        };
        match conflict {
            Some(msg) => Err(ConfigError::Conflict(msg)),
            None => Ok(Change {
                kind,
                id: id.to_string(),
                object: None,
            }),
        }
    }

    /// Checks every cross-object rule over the whole configuration, e.g. after importing files
    /// or a running config (which are only checked object by object). Errors are keyed
    /// `KIND.ID.FIELD` (`vnets.v1.tag`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut all = FieldErrors::new();
        // The fabric rules span all fabrics: checked once, not once per fabric object.
        if let Err(ConfigError::Invalid(e)) = self.check_fabric_set(None) {
            for (field, msg) in e.0 {
                all.add(format!("fabrics.{field}"), msg);
            }
        }
        for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Fabrics) {
            for obj in self.list(kind) {
                if let Err(ConfigError::Invalid(e)) = self.check_rules(obj, None) {
                    for (field, msg) in e.0 {
                        all.add(format!("{kind}.{}.{field}", obj.id()), msg);
                    }
                }
            }
        }
        all.into_result()
    }

    fn check_rules(&self, new: &SdnObject, old: Option<&SdnObject>) -> Result<(), ConfigError> {
        let mut e = FieldErrors::new();
        match new.kind() {
            Kind::Zones => self.check_zone(new, old, &mut e),
            Kind::Vnets => self.check_vnet(new, old, &mut e),
            Kind::Subnets => self.check_subnet(new, &mut e),
            Kind::Controllers => {
                self.check_controller(new, &mut e);
                self.check_controller_route_maps(new, &mut e);
            }
            Kind::RouteMaps => self.check_route_map_entry(new, &mut e),
            Kind::Ipams | Kind::Dns | Kind::PrefixLists => {}
            Kind::Fabrics => return self.check_fabric_set(Some(new)),
        }
        e.into_result()
    }

    fn exists(&self, kind: Kind, id: &str) -> bool {
        self.get(kind, id).is_some()
    }

    fn check_zone(&self, z: &SdnObject, old: Option<&SdnObject>, e: &mut FieldErrors) {
        for p in ["dns", "reversedns"] {
            if let Some(d) = z.get_str(p) {
                if !self.exists(Kind::Dns, d) {
                    e.add(p, format!("dns server '{d}' does not exist"));
                }
            }
        }
        if z.get("dnszone").is_some() && z.get("dns").is_none() {
            e.add("dnszone", "missing dns server");
        }
        if let Some(i) = z.get_str("ipam") {
            if !self.exists(Kind::Ipams, i) {
                e.add("ipam", format!("ipam '{i}' does not exist"));
            }
        }
        if let Some(old) = old {
            if old.get_str("ipam") != z.get_str("ipam")
                && self.subnets_in_zone(z.id()).next().is_some()
            {
                e.add(
                    "ipam",
                    "can't change ipam if a subnet is already defined in this zone",
                );
            }
        }
        match z.type_name() {
            "evpn" => {
                if let Some(c) = z.get_str("controller") {
                    match self.get(Kind::Controllers, c) {
                        None => e.add("controller", format!("controller '{c}' does not exist")),
                        Some(ctl) if ctl.type_name() != "evpn" => e.add(
                            "controller",
                            format!("controller '{c}' is not an evpn controller"),
                        ),
                        Some(_) => {}
                    }
                }
                for secondary in z.get_list("secondary-controllers") {
                    match self.get(Kind::Controllers, secondary) {
                        None => e.add(
                            "secondary-controllers",
                            format!("controller '{secondary}' does not exist"),
                        ),
                        Some(ctl) if ctl.type_name() != "evpn" => e.add(
                            "secondary-controllers",
                            format!("controller '{secondary}' is not an evpn controller"),
                        ),
                        Some(_) if z.get_str("controller") == Some(secondary.as_str()) => e.add(
                            "secondary-controllers",
                            format!("controller '{secondary}' is already the zone's controller"),
                        ),
                        Some(_) => {}
                    }
                }
                if let Some(vrf) = z.get_int("vrf-vxlan") {
                    if let Some(other) = self
                        .list(Kind::Zones)
                        .find(|o| o.id() != z.id() && o.get_int("vrf-vxlan") == Some(vrf))
                    {
                        e.add(
                            "vrf-vxlan",
                            format!("vrf-vxlan {vrf} is already declared in zone {}", other.id()),
                        );
                    }
                }
            }
            "vxlan" => {
                check_peers_or_fabric(z, e);
                self.check_fabric_ref(z, e);
            }
            _ => {}
        }
    }

    fn check_vnet(&self, v: &SdnObject, old: Option<&SdnObject>, e: &mut FieldErrors) {
        let Some(zone_id) = v.get_str("zone") else {
            return;
        };
        let Some(zone) = self.get(Kind::Zones, zone_id) else {
            e.add("zone", format!("zone '{zone_id}' does not exist"));
            return;
        };
        let has_subnets = self.subnets_of_vnet(v.id()).next().is_some();
        if let Some(old) = old {
            if old.get_str("zone") != Some(zone_id) && has_subnets {
                e.add("zone", "can't change zone if subnets exist");
            }
        }
        if v.get_bool("vlanaware") {
            if has_subnets {
                e.add("vlanaware", "vlanaware vnet is not compatible with subnets");
            } else if zone.type_name() == "evpn" {
                e.add("vlanaware", "vlanaware option can't be enabled with evpn");
            }
        }
        let tag = v.get_int("tag");
        let others_with_tag = |t: i64| {
            self.vnets_by_tag
                .get(&t)
                .into_iter()
                .flatten()
                .filter(|id| id.as_str() != v.id())
                .filter_map(|id| self.get(Kind::Vnets, id))
        };
        match zone.type_name() {
            "simple" => {
                if tag.is_some() {
                    e.add("tag", "vlan tag is not allowed on simple zone");
                }
            }
            ty @ ("vlan" | "qinq") => match tag {
                None if ty == "vlan" => e.add("tag", "missing vlan tag"),
                None => {
                    if let Some(o) = self
                        .vnets_in_zone(zone_id)
                        .find(|o| o.id() != v.id() && o.get("tag").is_none())
                    {
                        e.add(
                            "tag",
                            format!(
                                "tag-less vnet already exists in zone {zone_id} vnet {}",
                                o.id()
                            ),
                        );
                    }
                }
                Some(t) if t > MAX_VLAN_TAG => {
                    e.add("tag", format!("vlan tag max value is {MAX_VLAN_TAG}"))
                }
                Some(t) => {
                    if let Some(o) = others_with_tag(t).find(|o| o.get_str("zone") == Some(zone_id))
                    {
                        e.add(
                            "tag",
                            format!("tag {t} already exist in zone {zone_id} vnet {}", o.id()),
                        );
                    }
                }
            },
            _ => match tag {
                None => e.add("tag", "missing vxlan tag"),
                Some(t) => {
                    let clash = others_with_tag(t).find(|o| {
                        o.get_str("zone")
                            .and_then(|z| self.get(Kind::Zones, z))
                            .is_some_and(|z| matches!(z.type_name(), "vxlan" | "evpn"))
                    });
                    if let Some(o) = clash {
                        e.add(
                            "tag",
                            format!(
                                "vxlan tag {t} already exist in vnet {} in zone {}",
                                o.id(),
                                o.get_str("zone").unwrap_or("")
                            ),
                        );
                    }
                }
            },
        }
    }

    fn check_subnet(&self, s: &SdnObject, e: &mut FieldErrors) {
        let Some(sid) = s.subnet_id() else { return };
        let cidr = sid.cidr;
        if let Some(vnet_id) = s.get_str("vnet") {
            match self.get(Kind::Vnets, vnet_id) {
                None => e.add("vnet", format!("vnet '{vnet_id}' does not exist")),
                Some(v) if v.get_bool("vlanaware") => {
                    e.add("vnet", "you can't add a subnet on a vlanaware vnet")
                }
                Some(v) if v.get_str("zone") != Some(sid.zone.as_str()) => e.add(
                    "vnet",
                    format!(
                        "vnet '{vnet_id}' is in zone '{}', not in zone '{}'",
                        v.get_str("zone").unwrap_or(""),
                        sid.zone
                    ),
                ),
                Some(_) => {}
            }
        }
        if let Some(gw) = s.get_str("gateway").and_then(|g| net::parse_ip(g).ok()) {
            let point_to_point = gw.is_ipv4() && cidr.prefix() == 32;
            if !cidr.contains(gw) && !point_to_point {
                e.add("gateway", format!("{gw} is not in subnet {cidr}"));
            }
        }
        if let Some(ranges) = s.get("dhcp-range").and_then(Value::as_ranges) {
            let mut seen: Vec<(IpAddr, IpAddr)> = Vec::with_capacity(ranges.len());
            for r in ranges {
                let msg = if r.start.is_ipv4() != r.end.is_ipv4() {
                    Some(format!(
                        "start-address {} and end-address {} are of different IP families",
                        r.start, r.end
                    ))
                } else if r.start > r.end {
                    Some(format!(
                        "start-address {} must be smaller than end-address {}",
                        r.start, r.end
                    ))
                } else if !cidr.contains(r.start) {
                    Some(format!("start-address {} is not in subnet {cidr}", r.start))
                } else if !cidr.contains(r.end) {
                    Some(format!("end-address {} is not in subnet {cidr}", r.end))
                } else if seen.iter().any(|(a, b)| r.start <= *b && *a <= r.end) {
                    Some("dhcp ranges must not overlap".to_string())
                } else {
                    None
                };
                if let Some(m) = msg {
                    e.add("dhcp-range", m);
                    return;
                }
                seen.push((r.start, r.end));
            }
        }
    }

    fn check_controller(&self, c: &SdnObject, e: &mut FieldErrors) {
        let others = || {
            self.list(Kind::Controllers)
                .filter(|o| o.id() != c.id() && o.type_name() == c.type_name())
        };
        match c.type_name() {
            "evpn" => {
                // Several EVPN controllers (PVE 9.1): each with its own peer group, and one
                // ASN for the BGP instance of every node they share.
                let group = |o: &SdnObject| o.get_str("peer-group-name").unwrap_or("VTEP").to_string();
                if let Some(o) = others().find(|o| group(o) == group(c)) {
                    e.add(
                        "peer-group-name",
                        format!(
                            "cannot have two controllers with same peer-group-name configured ({}; '{}' has it)",
                            group(c),
                            o.id()
                        ),
                    );
                }
                let shares_node = |o: &SdnObject| match (o.get("nodes"), c.get("nodes")) {
                    (None, _) | (_, None) => true,
                    _ => o.get_list("nodes").iter().any(|n| c.get_list("nodes").contains(n)),
                };
                if let Some(o) = others()
                    .find(|o| shares_node(o) && o.get_int("asn") != c.get_int("asn"))
                {
                    e.add(
                        "asn",
                        format!(
                            "all EVPN controllers on a node must have the same ASN configured ('{}' has {})",
                            o.id(),
                            o.get_int("asn").unwrap_or_default()
                        ),
                    );
                }
                check_peers_or_fabric(c, e);
                self.check_fabric_ref(c, e);
            }
            ty => {
                let node = c.get_str("node");
                if let Some(o) = others().find(|o| o.get_str("node") == node) {
                    e.add(
                        "node",
                        format!("only 1 {ty} controller can be defined per node ('{}' exists on node {})", o.id(), node.unwrap_or("")),
                    );
                }
            }
        }
    }

    /// Changes whenever the objects of `kind` change (a property, an object added or removed,
    /// the section order), and is the same for the same objects however they were loaded.
    /// The reference hashes the file's text; the API only promises that it changes with the
    /// objects (a client sends back what it read), and a sum kept by every change costs
    /// nothing per read or update (see [`DigestSum`]).
    pub fn digest(&self, kind: Kind) -> String {
        let map = &self.maps[kind.index()];
        map.digest.get_or_init(|| DigestSum::of(map.objects.values().map(|stored| &stored.0))).hex()
    }

    /// The `kind`'s section-config file, byte-exact with the reference's writer.
    pub fn to_section_config(&self, kind: Kind) -> String {
        if kind == Kind::Fabrics {
            return section::write_fabrics(self.list(kind));
        }
        if matches!(kind, Kind::RouteMaps | Kind::PrefixLists) {
            return section::write_rust_sections(self.list(kind));
        }
        let mut objs: Vec<&SdnObject> = self.list(kind).collect();
        objs.sort_by(|a, b| a.seq.cmp(&b.seq).then_with(|| a.id.cmp(&b.id)));
        section::write(objs.into_iter())
    }

    /// Parses a section-config file, checking every object (errors name section and property).
    /// Cross-object rules are not checked: files may come from a cluster in any state.
    pub fn parse_section_config(kind: Kind, text: &str) -> Result<Vec<SdnObject>, ConfigError> {
        section::parse(kind, text)
    }

    /// The running-config JSON (`/etc/pve/sdn/.running-config`) of this config's zones, vnets,
    /// subnets, controllers and fabrics, with the given version.
    pub fn to_running_config(&self, version: u64) -> Json {
        let mut root = Map::new();
        root.insert("version".into(), Json::from(version));
        for kind in Kind::ALL.into_iter().filter(|k| k.in_running_config()) {
            let ids: Map<String, Json> = self
                .list(kind)
                .map(|o| (o.id().to_string(), Json::Object(o.to_raw_json())))
                .collect();
            let mut section = Map::new();
            section.insert("ids".into(), Json::Object(ids));
            root.insert(kind.path_segment().into(), Json::Object(section));
        }
        Json::Object(root)
    }

    /// Parses a running config in any form the reference and its test data use. A missing
    /// version reads as 0 (never applied).
    pub fn from_running_config(json: &Json) -> Result<(u64, Config), ConfigError> {
        let mut errors = FieldErrors::new();
        let Some(root) = json.as_object() else {
            return Err(FieldErrors::single(
                "running-config",
                "must be a JSON object",
            ));
        };
        let version = match root.get("version") {
            None | Some(Json::Null) => 0,
            Some(Json::Number(n)) => n.as_u64().unwrap_or_else(|| {
                errors.add("version", "must be a non-negative integer");
                0
            }),
            Some(Json::String(s)) => s.parse().unwrap_or_else(|_| {
                errors.add("version", "must be a non-negative integer");
                0
            }),
            Some(_) => {
                errors.add("version", "must be a non-negative integer");
                0
            }
        };
        let mut cfg = Config::new();
        for kind in Kind::ALL.into_iter().filter(|k| k.in_running_config()) {
            let seg = kind.path_segment();
            // A section without ids has no objects; one that is not an object is corrupt, and
            // reading it as empty would drop every object of the kind.
            let ids = match root.get(seg).map(|s| (s, s.get("ids"))) {
                None | Some((Json::Null, _)) | Some((Json::Object(_), None)) => continue,
                Some((_, Some(Json::Object(ids)))) => ids,
                Some(_) => {
                    errors.add(seg, "expected {\"ids\": {...}}");
                    continue;
                }
            };
            for (id, raw) in ids {
                let Some(obj) = raw.as_object() else {
                    errors.add(format!("{seg}.{id}"), "must be an object");
                    continue;
                };
                let type_name = match obj.get("type") {
                    Some(Json::String(t)) => t.clone(),
                    None if !matches!(kind, Kind::Zones | Kind::Controllers | Kind::Fabrics) => {
                        schema::types(kind)[0].name.to_string()
                    }
                    _ => {
                        errors.add(format!("{seg}.{id}.type"), MISSING);
                        continue;
                    }
                };
                let mut values = obj.clone();
                values.remove("type");
                // The reference repeats a fabric's, route map entry's or prefix list's id
                // inside it.
                if matches!(kind, Kind::Fabrics | Kind::RouteMaps | Kind::PrefixLists) {
                    match values.remove("id") {
                        Some(Json::String(inner)) if inner != *id => {
                            errors.add(
                                format!("{seg}.{id}.id"),
                                format!("'{inner}' differs from the entry's key"),
                            );
                            continue;
                        }
                        _ => {}
                    }
                }
                match SdnObject::from_values(kind, id, &type_name, &values) {
                    Ok(o) => cfg.insert(o),
                    Err(ConfigError::Invalid(e)) => {
                        for (k, v) in e.0 {
                            errors.add(format!("{seg}.{id}.{k}"), v);
                        }
                    }
                    Err(other) => errors.add(format!("{seg}.{id}"), other.to_string()),
                }
            }
        }
        errors.into_result()?;
        Ok((version, cfg))
    }
}

fn not_found(kind: Kind, id: &str) -> ConfigError {
    ConfigError::NotFound(format!(
        "sdn {} '{}' does not exist",
        kind.noun(),
        shorten(id)
    ))
}

fn check_peers_or_fabric(o: &SdnObject, e: &mut FieldErrors) {
    if o.get("peers").is_some() == o.get("fabric").is_some() {
        e.add("peers", "must have exactly one of peers / fabric defined");
        e.add("fabric", "must have exactly one of peers / fabric defined");
    }
}

/// Values the reference fills in when a client leaves them out. The reference picks a random
/// anycast MAC for EVPN zones; sdnd derives it from the zone id so every node and every replay
/// of the same request agree.
fn fill_defaults(o: &mut SdnObject) {
    if o.kind() == Kind::Zones && o.type_name() == "evpn" && o.get("mac").is_none() {
        let h = Sha1::digest(format!("sdnd evpn anycast mac {}", o.id()).as_bytes());
        let b = [
            MAC_PREFIX[0],
            MAC_PREFIX[1],
            MAC_PREFIX[2],
            h[0],
            h[1],
            h[2],
        ];
        let mac = b
            .iter()
            .map(|x| format!("{x:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        o.props.insert("mac", Value::Str(mac));
    }
}

/// Whether two objects are the same for the pending view (values compared as the reference's
/// `encode_value` renders them: lists as sorted sets).
pub(crate) fn equivalent(a: &SdnObject, b: &SdnObject) -> bool {
    // Equal values are equivalent: only differing ones need their canonical forms (built anew
    // for each comparison), so comparing two equal configurations allocates nothing.
    if std::ptr::eq(a.tdef, b.tdef) && a.props == b.props {
        return true;
    }
    a.type_name() == b.type_name()
        && a.props.len() == b.props.len()
        && a.props.iter().all(|(k, v)| {
            b.props
                .get(k)
                .is_some_and(|w| w.canonical() == v.canonical())
        })
}
