//! One SDN object: its kind, id, type and checked properties.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value as Json};

use crate::error::{ConfigError, FieldErrors};
use crate::kind::Kind;
use crate::net::{shorten, Cidr};
use crate::schema::{self, check_id, PropType, TypeDef};
use crate::value::Value;

/// The id of a subnet, `ZONE-ADDR-PREFIXLEN` (`myzone-10.0.0.0-24`, `myzone-fd00::-64`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubnetId {
    pub zone: String,
    pub cidr: Cidr,
}

impl SubnetId {
    /// Parses an id as the reference splits it (zone ids cannot contain `-`).
    pub fn parse(id: &str) -> Result<SubnetId, String> {
        let bad = || {
            format!(
                "invalid subnet id '{}' (expected ZONE-ADDRESS-PREFIXLEN)",
                shorten(id)
            )
        };
        let (zone, rest) = id.split_once('-').ok_or_else(bad)?;
        let (addr, len) = rest.rsplit_once('-').ok_or_else(bad)?;
        check_id(Kind::Zones, zone).map_err(|e| format!("{}: zone {e}", bad()))?;
        let cidr: Cidr = format!("{addr}/{len}")
            .parse()
            .map_err(|e| format!("{}: {e}", bad()))?;
        Ok(SubnetId {
            zone: zone.to_string(),
            cidr,
        })
    }

    /// The id of the subnet `cidr` (normalized to its network address) in `zone`.
    pub fn new(zone: &str, cidr: Cidr) -> SubnetId {
        SubnetId {
            zone: zone.to_string(),
            cidr: cidr.network(),
        }
    }
}

impl fmt::Display for SubnetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{}",
            self.zone,
            self.cidr.addr(),
            self.cidr.prefix()
        )
    }
}

/// A checked SDN object. Equality ignores the position it has in its file.
#[derive(Clone, Debug)]
pub struct SdnObject {
    pub(crate) tdef: &'static TypeDef,
    pub(crate) id: String,
    pub(crate) props: BTreeMap<&'static str, Value>,
    /// Position in the section-config file: the reference writes sections in creation order.
    pub(crate) seq: u64,
}

impl PartialEq for SdnObject {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.tdef, other.tdef) && self.id == other.id && self.props == other.props
    }
}

impl Eq for SdnObject {}

impl SdnObject {
    /// Builds an object from raw values (API parameters, running-config or store JSON), checking
    /// every value and that required ones are present; no cross-object checks.
    /// Keys that are not properties of the type are errors. Field errors name the property.
    pub fn from_values(
        kind: Kind,
        id: &str,
        type_name: &str,
        values: &Map<String, Json>,
    ) -> Result<SdnObject, ConfigError> {
        let mut errors = FieldErrors::new();
        if let Err(e) = check_id(kind, id) {
            errors.add(kind.id_param(), e);
        }
        let tdef = match schema::type_def(kind, type_name) {
            Some(t) => t,
            None => {
                let unsupported = type_name
                    .rsplit_once('_')
                    .map(|(p, _)| p)
                    .filter(|p| kind == Kind::Fabrics && schema::UNSUPPORTED_FABRIC_PROTOCOLS.contains(p));
                if let Some(protocol) = unsupported {
                    errors.add("type", schema::unsupported_fabric_protocol(protocol));
                    return Err(ConfigError::Invalid(errors));
                }
                let names: Vec<&str> = schema::types(kind).iter().map(|t| t.name).collect();
                errors.add("type", schema::enum_message(type_name, &names));
                return Err(ConfigError::Invalid(errors));
            }
        };
        let mut props = BTreeMap::new();
        for (k, v) in values {
            match tdef.prop(k) {
                Some(p) => match Value::from_json(p.ty, v) {
                    Ok(Some(val)) => {
                        props.insert(p.name, val);
                    }
                    Ok(None) => {}
                    Err(e) => errors.add(k.as_str(), e),
                },
                None => errors.add(k.as_str(), NOT_IN_SCHEMA),
            }
        }
        if kind == Kind::Fabrics && id.contains('_') != tdef.name.ends_with("_node") {
            errors.add(
                "id",
                format!(
                    "'{}' is not the id of a {}: fabrics are 'FABRIC', nodes 'FABRIC_NODE'",
                    shorten(id),
                    tdef.name
                ),
            );
        }
        for p in tdef.props.iter().filter(|p| p.required) {
            if !props.contains_key(p.name) && !errors.0.contains_key(p.name) {
                errors.add(p.name, MISSING);
            }
        }
        errors.into_result()?;
        Ok(SdnObject {
            tdef,
            id: id.to_string(),
            props,
            seq: 0,
        })
    }

    pub fn kind(&self) -> Kind {
        self.tdef.kind
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn type_name(&self) -> &str {
        self.tdef.name
    }

    /// The schema of this object's type.
    pub fn type_def(&self) -> &'static TypeDef {
        self.tdef
    }

    /// A property's value, if set.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.props.get(name)
    }

    /// Every set property, sorted by name.
    pub fn props(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.props.iter().map(|(k, v)| (*k, v))
    }

    /// A string-like property (ids, names, addresses, text).
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    pub fn get_int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_int)
    }

    /// A boolean property; unset reads as false, as in the reference.
    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name).and_then(Value::as_bool).unwrap_or(false)
    }

    /// A list property; unset reads as empty.
    pub fn get_list(&self, name: &str) -> &[String] {
        self.get(name).and_then(Value::as_list).unwrap_or(&[])
    }

    /// For subnets: the zone and prefix encoded in the id.
    pub fn subnet_id(&self) -> Option<SubnetId> {
        (self.kind() == Kind::Subnets)
            .then(|| SubnetId::parse(&self.id).ok())
            .flatten()
    }

    fn prop_type(&self, name: &str) -> PropType {
        self.tdef
            .prop(name)
            .map_or(PropType::Text { max: 0 }, |p| p.ty)
    }

    /// The properties as the running config stores them, with `type` (and, for fabrics and
    /// fabric nodes, `id`, as the reference writes them).
    pub fn to_raw_json(&self) -> Map<String, Json> {
        let mut m = Map::new();
        if matches!(
            self.kind(),
            Kind::Fabrics | Kind::RouteMaps | Kind::PrefixLists
        ) {
            m.insert("id".into(), Json::String(self.id.clone()));
        }
        m.insert("type".into(), Json::String(self.tdef.name.into()));
        for (k, v) in &self.props {
            m.insert((*k).into(), v.to_raw_json(self.prop_type(k)));
        }
        m
    }

    /// The API representation (see the crate docs); `digest` is added by the caller.
    pub fn to_api_json(&self) -> Json {
        let mut m = Map::new();
        if self.kind() == Kind::Fabrics {
            add_fabric_api_fields(&mut m, &self.id, self.tdef.name);
        } else {
            m.insert(self.kind().id_param().into(), Json::String(self.id.clone()));
            m.insert("type".into(), Json::String(self.tdef.name.into()));
        }
        for (k, v) in &self.props {
            m.insert((*k).into(), api_value(self.prop_type(k), v));
        }
        if self.kind() == Kind::Subnets {
            add_subnet_api_fields(&mut m, &self.id, self.get("dhcp-range"));
        }
        Json::Object(m)
    }

    /// Whether both are stored as the same bytes ([`SdnObject::to_store_bytes`], which also
    /// carry the section order), without serializing either when their fields already say so.
    pub fn stores_as(&self, other: &SdnObject) -> bool {
        (self == other && self.seq == other.seq) || self.to_store_bytes() == other.to_store_bytes()
    }

    /// Compact, stable serialization for the store; [`SdnObject::from_store_bytes`] inverts it.
    pub fn to_store_bytes(&self) -> Vec<u8> {
        let mut props = Map::new();
        for (k, v) in &self.props {
            let raw = match v {
                Value::List(l) => Json::Array(l.iter().cloned().map(Json::String).collect()),
                Value::Bool(b) => Json::Bool(*b),
                other => other.to_raw_json(self.prop_type(k)),
            };
            props.insert((*k).into(), raw);
        }
        let mut m = Map::new();
        m.insert("id".into(), Json::String(self.id.clone()));
        m.insert("type".into(), Json::String(self.tdef.name.into()));
        m.insert("seq".into(), Json::from(self.seq));
        m.insert("props".into(), Json::Object(props));
        // Serializing a Map of plain values cannot fail.
        serde_json::to_vec(&Json::Object(m)).unwrap_or_default()
    }

    pub fn from_store_bytes(kind: Kind, bytes: &[u8]) -> Result<SdnObject, ConfigError> {
        let corrupt = |what: &str| {
            FieldErrors::single(
                kind.id_param(),
                format!("stored {} entry is corrupt: {what}", kind.noun()),
            )
        };
        let v: Json = serde_json::from_slice(bytes).map_err(|e| corrupt(&e.to_string()))?;
        let id = v
            .get("id")
            .and_then(Json::as_str)
            .ok_or_else(|| corrupt("no id"))?;
        let ty = v
            .get("type")
            .and_then(Json::as_str)
            .ok_or_else(|| corrupt("no type"))?;
        let seq = v
            .get("seq")
            .and_then(Json::as_u64)
            .ok_or_else(|| corrupt("no seq"))?;
        let props = v
            .get("props")
            .and_then(Json::as_object)
            .ok_or_else(|| corrupt("no props"))?;
        let mut obj = SdnObject::from_values(kind, id, ty, props)?;
        obj.seq = seq;
        Ok(obj)
    }
}

pub(crate) const NOT_IN_SCHEMA: &str =
    "property is not defined in schema and the schema does not allow additional properties";
pub(crate) const MISSING: &str = "property is missing and it is not optional";

/// A value as the API returns it: lists joined (node lists sorted, like the reference's
/// `encode_value`), ranges as strings (subnets replace them with parsed objects).
pub(crate) fn api_value(ty: PropType, v: &Value) -> Json {
    match v {
        Value::List(_) if ty == PropType::NodeList => Json::String(v.canonical()),
        Value::List(l)
            if matches!(
                ty,
                PropType::FabricInterfaces { .. }
                    | PropType::PropStrings(_)
                    | PropType::ControllerList
            ) =>
        {
            Json::Array(l.iter().cloned().map(Json::String).collect())
        }
        Value::List(l) => Json::String(l.join(",")),
        other => other.to_raw_json(ty),
    }
}

/// A fabric's API identity, as PVE 9 shows it: `id` and `protocol` for a fabric, `fabric_id`,
/// `node_id` and `protocol` for a node (the section's `type` without its `_fabric`/`_node`).
pub(crate) fn add_fabric_api_fields(m: &mut Map<String, Json>, id: &str, type_name: &str) {
    let protocol = type_name
        .rsplit_once('_')
        .map_or(type_name, |(protocol, _)| protocol);
    match id.split_once('_') {
        Some((fabric, node)) => {
            m.insert("fabric_id".into(), Json::String(fabric.into()));
            m.insert("node_id".into(), Json::String(node.into()));
        }
        None => {
            m.insert("id".into(), Json::String(id.into()));
        }
    }
    m.insert("protocol".into(), Json::String(protocol.into()));
}

/// The fields the reference's subnet API adds from the id, and `dhcp-range` parsed into objects.
pub(crate) fn add_subnet_api_fields(m: &mut Map<String, Json>, id: &str, ranges: Option<&Value>) {
    m.insert("id".into(), Json::String(id.into()));
    if let Some((zone, rest)) = id.split_once('-') {
        if let Some((network, mask)) = rest.rsplit_once('-') {
            m.insert("cidr".into(), Json::String(format!("{network}/{mask}")));
            m.insert("zone".into(), Json::String(zone.into()));
            m.insert("network".into(), Json::String(network.into()));
            m.insert("mask".into(), Json::String(mask.into()));
        }
    }
    let parsed = ranges
        .and_then(Value::as_ranges)
        .map(|r| r.iter().map(|x| x.to_json()).collect())
        .unwrap_or_default();
    m.insert("dhcp-range".into(), Json::Array(parsed));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(kind: Kind, id: &str, ty: &str, v: Json) -> Result<SdnObject, ConfigError> {
        SdnObject::from_values(kind, id, ty, v.as_object().unwrap())
    }

    #[test]
    fn subnet_ids() {
        let s = SubnetId::parse("myzone-10.0.0.0-24").unwrap();
        assert_eq!(s.zone, "myzone");
        assert_eq!(s.cidr.to_string(), "10.0.0.0/24");
        assert_eq!(s.to_string(), "myzone-10.0.0.0-24");
        let v6 = SubnetId::parse("z1-fd00::-64").unwrap();
        assert_eq!(v6.cidr.prefix(), 64);
        assert!(SubnetId::parse("myzone-10.0.0.0").is_err());
        assert!(SubnetId::parse("my_zone-10.0.0.0-24").is_err());
        assert_eq!(
            SubnetId::new("z1", "10.1.2.3/16".parse().unwrap()).to_string(),
            "z1-10.1.0.0-16"
        );
    }

    #[test]
    fn unknown_missing_and_bad_values() {
        let e = obj(
            Kind::Zones,
            "z1",
            "vlan",
            json!({"peers": "10.0.0.1", "mtu": "x"}),
        )
        .unwrap_err();
        let f = e.field_errors().unwrap();
        assert_eq!(f.get("peers"), Some(NOT_IN_SCHEMA));
        assert_eq!(f.get("bridge"), Some(MISSING));
        assert!(f.get("mtu").unwrap().contains("integer"));
        let e = obj(Kind::Zones, "z1", "foo", json!({})).unwrap_err();
        assert!(e
            .field_errors()
            .unwrap()
            .get("type")
            .unwrap()
            .contains("evpn, qinq, simple, vlan, vxlan"));
        let e = obj(Kind::Zones, "toolongzone", "simple", json!({})).unwrap_err();
        assert!(e.field_errors().unwrap().get("zone").is_some());
    }

    #[test]
    fn api_json_and_store_round_trip() {
        let z = obj(
            Kind::Zones,
            "z1",
            "evpn",
            json!({"controller": "ctl", "vrf-vxlan": "100", "exitnodes": "pve2,pve1", "advertise-subnets": "1", "rt-import": "65000:2,65000:1"}),
        )
        .unwrap();
        assert_eq!(
            z.to_api_json(),
            json!({"zone": "z1", "type": "evpn", "advertise-subnets": 1, "controller": "ctl", "exitnodes": "pve1,pve2", "rt-import": "65000:2,65000:1", "vrf-vxlan": 100})
        );
        let back = SdnObject::from_store_bytes(Kind::Zones, &z.to_store_bytes()).unwrap();
        assert_eq!(back, z);
        assert_eq!(back.get_list("exitnodes"), ["pve2", "pve1"]);
        assert!(SdnObject::from_store_bytes(Kind::Zones, b"{").is_err());
        assert!(SdnObject::from_store_bytes(
            Kind::Zones,
            br#"{"id":"z1","type":"simple","props":{}}"#
        )
        .is_err());
    }

    #[test]
    fn subnet_api_json() {
        let s = obj(
            Kind::Subnets,
            "z1-10.0.0.0-24",
            "subnet",
            json!({"vnet": "v1", "gateway": "10.0.0.1", "snat": true, "dhcp-range": ["start-address=10.0.0.10,end-address=10.0.0.20"]}),
        )
        .unwrap();
        assert_eq!(
            s.to_api_json(),
            json!({"subnet": "z1-10.0.0.0-24", "type": "subnet",
                "dhcp-range": [{"start-address": "10.0.0.10", "end-address": "10.0.0.20"}],
                "gateway": "10.0.0.1", "snat": 1, "vnet": "v1",
                "id": "z1-10.0.0.0-24", "cidr": "10.0.0.0/24", "zone": "z1", "network": "10.0.0.0", "mask": "24"})
        );
        let back = SdnObject::from_store_bytes(Kind::Subnets, &s.to_store_bytes()).unwrap();
        assert_eq!(back, s);
    }
}
