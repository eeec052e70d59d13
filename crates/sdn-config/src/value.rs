//! Typed property values: parsing from API parameters, section-config text and the running
//! config, and rendering back into each of those forms.

use std::fmt;
use std::net::IpAddr;

use serde_json::Value as Json;

use crate::net::{self, shorten};
use crate::schema::{check_id, enum_message, PropType};

/// Longest list (nodes, peers, route targets, interfaces, DHCP ranges) accepted.
pub const MAX_LIST_ITEMS: usize = 1024;

/// A checked property value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Bool(bool),
    /// Any single string-like value (text, ids, IPs, MACs, names), validated for its type.
    Str(String),
    /// A list, in the order given, without duplicates.
    List(Vec<String>),
    /// DHCP ranges of a subnet, in the order given.
    Ranges(Vec<DhcpRange>),
}

/// One `start-address=IP,end-address=IP` range of a subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DhcpRange {
    pub start: IpAddr,
    pub end: IpAddr,
}

impl fmt::Display for DhcpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "start-address={},end-address={}", self.start, self.end)
    }
}

impl DhcpRange {
    /// Parses the reference's property-string form (keys in any order).
    pub fn parse(s: &str) -> Result<DhcpRange, String> {
        let (mut start, mut end) = (None, None);
        for part in s.split(',') {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                format!("invalid dhcp range '{}': expected key=value", shorten(s))
            })?;
            let slot = match k.trim() {
                "start-address" => &mut start,
                "end-address" => &mut end,
                other => {
                    return Err(format!(
                        "invalid dhcp range key '{}' (allowed: start-address, end-address)",
                        shorten(other)
                    ))
                }
            };
            if slot.is_some() {
                return Err(format!("duplicate key '{}' in dhcp range", k.trim()));
            }
            *slot = Some(net::parse_ip(v.trim())?);
        }
        match (start, end) {
            (Some(start), Some(end)) => Ok(DhcpRange { start, end }),
            (None, _) => Err("dhcp range is missing start-address".into()),
            (_, None) => Err("dhcp range is missing end-address".into()),
        }
    }

    fn from_json(v: &Json) -> Result<DhcpRange, String> {
        match v {
            Json::String(s) => DhcpRange::parse(s),
            Json::Object(m) => {
                let get = |k: &str| -> Result<IpAddr, String> {
                    match m.get(k) {
                        Some(Json::String(s)) => net::parse_ip(s),
                        Some(_) => Err(format!("{k} must be a string")),
                        None => Err(format!("dhcp range is missing {k}")),
                    }
                };
                if let Some(k) = m
                    .keys()
                    .find(|k| *k != "start-address" && *k != "end-address")
                {
                    return Err(format!(
                        "invalid dhcp range key '{}' (allowed: start-address, end-address)",
                        shorten(k)
                    ));
                }
                Ok(DhcpRange {
                    start: get("start-address")?,
                    end: get("end-address")?,
                })
            }
            _ => Err("dhcp range must be a string 'start-address=IP,end-address=IP'".into()),
        }
    }

    /// The API's parsed form `{"start-address": ..., "end-address": ...}`.
    pub fn to_json(&self) -> Json {
        let mut m = serde_json::Map::new();
        m.insert("start-address".into(), Json::String(self.start.to_string()));
        m.insert("end-address".into(), Json::String(self.end.to_string()));
        Json::Object(m)
    }
}

impl Value {
    /// Parses a value from any form a client or a stored file may carry. `Ok(None)` means an empty
    /// value, which the reference treats as "not set".
    pub fn from_json(ty: PropType, v: &Json) -> Result<Option<Value>, String> {
        match (ty, v) {
            (_, Json::Null) => Ok(None),
            (PropType::Bool, Json::Bool(b)) => Ok(Some(Value::Bool(*b))),
            (PropType::Bool, Json::Number(n)) => match n.as_u64() {
                Some(0) => Ok(Some(Value::Bool(false))),
                Some(1) => Ok(Some(Value::Bool(true))),
                _ => Err(format!("type check ('boolean') failed - got '{n}'")),
            },
            (PropType::Int { .. }, Json::Number(n)) => match n.as_i64() {
                Some(i) => int_in_range(ty, i).map(Some),
                None => Err(format!(
                    "type check ('integer') failed - got '{}'",
                    shorten(&n.to_string())
                )),
            },
            (_, Json::String(s)) => Value::from_text(ty, s),
            (_, Json::Number(n)) if !matches!(ty, PropType::Bool | PropType::Int { .. }) => {
                Value::from_text(ty, &n.to_string())
            }
            (PropType::DhcpRanges, Json::Array(items)) => {
                if items.len() > MAX_LIST_ITEMS {
                    return Err(format!("at most {MAX_LIST_ITEMS} ranges are allowed"));
                }
                let ranges = items
                    .iter()
                    .map(DhcpRange::from_json)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((!ranges.is_empty()).then_some(Value::Ranges(ranges)))
            }
            (PropType::PropStrings(which), Json::Array(items)) => {
                if items.len() > MAX_LIST_ITEMS {
                    return Err(format!("at most {MAX_LIST_ITEMS} items are allowed"));
                }
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Json::String(s) if !s.is_empty() => out.push(s.clone()),
                        Json::String(_) => {}
                        _ => return Err("items must be property strings".into()),
                    }
                }
                prop_strings_value(which, out)
            }
            (PropType::FabricInterfaces { ospf }, Json::Array(items)) => {
                if items.len() > MAX_LIST_ITEMS {
                    return Err(format!("at most {MAX_LIST_ITEMS} interfaces are allowed"));
                }
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Json::String(s) if !s.is_empty() => out.push(s.clone()),
                        Json::String(_) => {}
                        _ => {
                            return Err(
                                "interfaces must be property strings 'name=IFACE,...'".into()
                            )
                        }
                    }
                }
                interfaces_value(ospf, out)
            }
            (t, Json::Array(items)) if t.is_list() => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Json::String(s) => {
                            out.extend(net::split_list(s).into_iter().map(str::to_string))
                        }
                        _ => return Err("list items must be strings".into()),
                    }
                }
                list_value(t, out)
            }
            // The running config stores node lists as {"node": 1}.
            (t, Json::Object(m)) if t.is_list() => list_value(t, m.keys().cloned().collect()),
            (t, other) => Err(format!(
                "type check ('{}') failed - got {}",
                type_word(t),
                json_type_name(other)
            )),
        }
    }

    /// Parses a value from text (a form value or a section-config line).
    pub fn from_text(ty: PropType, s: &str) -> Result<Option<Value>, String> {
        if s.is_empty() {
            return Ok(None);
        }
        if s.contains(['\n', '\r']) {
            return Err("value contains a line feed".into());
        }
        match ty {
            PropType::Int { .. } => {
                let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
                if digits.is_empty()
                    || digits.len() > 18
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(format!(
                        "type check ('integer') failed - got '{}'",
                        shorten(s)
                    ));
                }
                let i: i64 = s
                    .parse()
                    .map_err(|_| format!("type check ('integer') failed - got '{}'", shorten(s)))?;
                int_in_range(ty, i).map(Some)
            }
            PropType::Bool => match s.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(Some(Value::Bool(true))),
                "0" | "false" | "no" | "off" => Ok(Some(Value::Bool(false))),
                _ => Err(format!(
                    "type check ('boolean') failed - got '{}'",
                    shorten(s)
                )),
            },
            PropType::Enum(allowed) => {
                if allowed.contains(&s) {
                    Ok(Some(Value::Str(s.to_string())))
                } else {
                    Err(enum_message(s, allowed))
                }
            }
            PropType::Text { max } => {
                check_plain(s, max)?;
                Ok(Some(Value::Str(s.to_string())))
            }
            PropType::Ref(kind) => {
                check_id(kind, s)
                    .map_err(|e| format!("invalid {} id '{}': {e}", kind.noun(), shorten(s)))?;
                Ok(Some(Value::Str(s.to_string())))
            }
            PropType::Alias => {
                check_alias(s)?;
                Ok(Some(Value::Str(s.to_string())))
            }
            PropType::Bridge => single(s, net::check_bridge_name),
            PropType::Node => single(s, net::check_node_name),
            PropType::Ip => single(s, |x| net::parse_ip(x).map(|_| ())),
            PropType::Mac => single(s, net::check_mac),
            PropType::DnsName => single(s, net::check_dns_name),
            PropType::FabricId => single(s, net::check_fabric_id),
            PropType::IsisNet => single(s, net::check_isis_net),
            PropType::Fingerprint => single(s, net::check_fingerprint),
            PropType::DhcpRanges => Ok(Some(Value::Ranges(vec![DhcpRange::parse(s)?]))),
            PropType::Prefix { v6 } => {
                let family = if v6 { "IPv6" } else { "IPv4" };
                match net::Cidr::parse_any_length(s) {
                    Ok(c) if c.addr().is_ipv6() == v6 => Ok(Some(Value::Str(s.to_string()))),
                    _ => Err(format!(
                        "invalid format - '{}' is not an {family} prefix ADDRESS/LENGTH",
                        shorten(s)
                    )),
                }
            }
            PropType::Addr { v6 } => {
                let family = if v6 { "IPv6" } else { "IPv4" };
                match net::parse_ip(s) {
                    Ok(ip) if ip.is_ipv6() == v6 => Ok(Some(Value::Str(s.to_string()))),
                    _ => Err(format!(
                        "invalid format - '{}' is not an {family} address",
                        shorten(s)
                    )),
                }
            }
            PropType::OspfArea => {
                if s.parse::<u32>().is_ok() || s.parse::<std::net::Ipv4Addr>().is_ok() {
                    Ok(Some(Value::Str(s.to_string())))
                } else {
                    Err(format!(
                        "invalid format - OSPF area '{}' must be a 32-bit number or an IPv4 address",
                        shorten(s)
                    ))
                }
            }
            PropType::FabricInterfaces { ospf } => interfaces_value(ospf, vec![s.to_string()]),
            PropType::PropStrings(which) => prop_strings_value(which, vec![s.to_string()]),
            PropType::ExitAction => {
                crate::routing::parse_exit_action(s)?;
                Ok(Some(Value::Str(s.to_string())))
            }
            PropType::RouteMapName => single(s, crate::routing::check_route_map_id),
            PropType::ConfigId => single(s, check_config_id),
            PropType::NodeList
            | PropType::IpList
            | PropType::RouteTargetList
            | PropType::ControllerList
            | PropType::IfaceList => list_value(
                ty,
                net::split_list(s).into_iter().map(str::to_string).collect(),
            ),
        }
    }

    /// The value as one section-config / API string (lists comma-separated in stored order).
    pub fn to_text(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
            Value::Str(s) => s.clone(),
            Value::List(l) => l.join(","),
            Value::Ranges(r) => r
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// The form the reference compares values in (`encode_value`): lists sorted, then joined.
    pub fn canonical(&self) -> String {
        match self {
            Value::List(l) => {
                let mut l = l.clone();
                l.sort();
                l.join(",")
            }
            Value::Ranges(r) => {
                let mut l: Vec<String> = r.iter().map(ToString::to_string).collect();
                l.sort();
                l.join(",")
            }
            other => other.to_text(),
        }
    }

    /// The running-config / raw JSON form: integers and booleans as numbers, node lists as
    /// `{"node":1}` maps, other lists as the comma-separated string, ranges as strings.
    pub fn to_raw_json(&self, ty: PropType) -> Json {
        match self {
            Value::Int(i) => Json::from(*i),
            Value::Bool(b) => Json::from(u8::from(*b)),
            Value::Str(s) => Json::String(s.clone()),
            Value::List(l) if ty == PropType::NodeList => {
                Json::Object(l.iter().map(|n| (n.clone(), Json::from(1))).collect())
            }
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
            Value::Ranges(r) => {
                Json::Array(r.iter().map(|x| Json::String(x.to_string())).collect())
            }
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_ranges(&self) -> Option<&[DhcpRange]> {
        match self {
            Value::Ranges(r) => Some(r),
            _ => None,
        }
    }
}

fn single(s: &str, check: impl Fn(&str) -> Result<(), String>) -> Result<Option<Value>, String> {
    check(s).map_err(|e| format!("invalid format - {e}"))?;
    Ok(Some(Value::Str(s.to_string())))
}

fn int_in_range(ty: PropType, i: i64) -> Result<Value, String> {
    if let PropType::Int { min, max } = ty {
        if i < min {
            return Err(format!("value must have a minimum value of {min}"));
        }
        if i > max {
            return Err(format!("value must have a maximum value of {max}"));
        }
    }
    Ok(Value::Int(i))
}

fn list_value(ty: PropType, items: Vec<String>) -> Result<Option<Value>, String> {
    if items.len() > MAX_LIST_ITEMS {
        return Err(format!("at most {MAX_LIST_ITEMS} list entries are allowed"));
    }
    let check: fn(&str) -> Result<(), String> = match ty {
        PropType::NodeList => net::check_node_name,
        PropType::IpList => |x| net::parse_ip(x).map(|_| ()),
        PropType::RouteTargetList => net::check_route_target,
        PropType::ControllerList => |x| check_id(crate::Kind::Controllers, x),
        _ => net::check_iface,
    };
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        check(&item).map_err(|e| format!("invalid format - {e}"))?;
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok((!out.is_empty()).then_some(Value::List(out)))
}

/// A fabric node's interfaces: each property string checked for the protocol, each interface
/// named once.
fn interfaces_value(ospf: bool, items: Vec<String>) -> Result<Option<Value>, String> {
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    for item in &items {
        if item.contains(['\n', '\r']) {
            return Err("value contains a line feed".into());
        }
        let name = crate::running::check_interface(item, ospf)?;
        if names.contains(&name) {
            return Err(format!("interface {name} is listed twice"));
        }
        names.push(name);
    }
    Ok((!items.is_empty()).then_some(Value::List(items)))
}

/// Route map matches and sets, prefix list entries: each property string checked, kept as
/// given and in order.
fn prop_strings_value(
    which: crate::schema::PropStrings,
    items: Vec<String>,
) -> Result<Option<Value>, String> {
    use crate::schema::PropStrings;
    for item in &items {
        match which {
            PropStrings::Match => crate::routing::parse_match(item).map(|_| ())?,
            PropStrings::Set => crate::routing::parse_set(item).map(|_| ())?,
            PropStrings::PrefixEntries => crate::routing::parse_prefix_entry(item).map(|_| ())?,
        }
    }
    if which == PropStrings::PrefixEntries {
        let mut seqs: Vec<u32> = items
            .iter()
            .filter_map(|i| crate::routing::parse_prefix_entry(i).ok()?.seq)
            .collect();
        seqs.sort_unstable();
        if let Some(w) = seqs.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("entry with sequence number {} already exists", w[0]));
        }
    }
    Ok((!items.is_empty()).then_some(Value::List(items)))
}

/// PVE's `pve-configid` format.
fn check_config_id(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphabetic()
        && b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid configuration ID '{}' (allowed: [a-zA-Z][a-zA-Z0-9_-]*, at most 64 characters)",
            shorten(s)
        ))
    }
}

/// Free text must survive a section-config round trip: no control characters and no
/// surrounding whitespace (the file format trims it).
fn check_plain(s: &str, max: usize) -> Result<(), String> {
    if s.chars().count() > max {
        return Err(format!("value may only be {max} characters long"));
    }
    if s.chars().any(char::is_control) {
        return Err("value must not contain control characters".into());
    }
    if s.trim() != s {
        return Err("value must not begin or end with whitespace".into());
    }
    Ok(())
}

fn check_alias(s: &str) -> Result<(), String> {
    check_plain(s, 256)?;
    // The reference's class `[\(\)-_.\w\d\s]`: note `\)-_` is the range ')'..='_'.
    let ok = s.chars().all(|c| {
        c == '('
            || (')'..='_').contains(&c)
            || c == '.'
            || c == ' '
            || c.is_alphanumeric()
            || c == '_'
    });
    if ok {
        Ok(())
    } else {
        Err("value does not match the regex pattern [\\(\\)-_.\\w\\d\\s]{0,256}".into())
    }
}

fn type_word(t: PropType) -> &'static str {
    match t {
        PropType::Int { .. } => "integer",
        PropType::Bool => "boolean",
        PropType::DhcpRanges | PropType::FabricInterfaces { .. } | PropType::PropStrings(_) => {
            "array"
        }
        _ => "string",
    }
}

fn json_type_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const INT: PropType = PropType::Int { min: 1, max: 4096 };

    #[test]
    fn ints() {
        assert_eq!(
            Value::from_json(INT, &json!("100")).unwrap(),
            Some(Value::Int(100))
        );
        assert_eq!(
            Value::from_json(INT, &json!(100)).unwrap(),
            Some(Value::Int(100))
        );
        assert_eq!(
            Value::from_json(INT, &json!("+7")).unwrap(),
            Some(Value::Int(7))
        );
        assert!(Value::from_json(INT, &json!("0"))
            .unwrap_err()
            .contains("minimum value of 1"));
        assert!(Value::from_json(INT, &json!(4097))
            .unwrap_err()
            .contains("maximum value of 4096"));
        assert!(Value::from_json(INT, &json!("1e3"))
            .unwrap_err()
            .contains("integer"));
        assert!(Value::from_json(INT, &json!(1.5)).is_err());
        assert!(Value::from_json(INT, &json!("99999999999999999999999")).is_err());
        assert!(Value::from_json(INT, &json!(true)).is_err());
        assert_eq!(Value::from_json(INT, &json!("")).unwrap(), None);
    }

    #[test]
    fn bools() {
        for (v, b) in [
            (json!("1"), true),
            (json!("0"), false),
            (json!(true), true),
            (json!(false), false),
            (json!(1), true),
            (json!(0), false),
            (json!("true"), true),
        ] {
            assert_eq!(
                Value::from_json(PropType::Bool, &v).unwrap(),
                Some(Value::Bool(b)),
                "{v}"
            );
        }
        assert!(Value::from_json(PropType::Bool, &json!(2)).is_err());
        assert!(Value::from_json(PropType::Bool, &json!("maybe")).is_err());
        assert_eq!(Value::Bool(true).to_raw_json(PropType::Bool), json!(1));
    }

    #[test]
    fn lists() {
        let a = Value::from_json(PropType::NodeList, &json!("b,a"))
            .unwrap()
            .unwrap();
        let b = Value::from_json(PropType::NodeList, &json!(["b", "a", "b"]))
            .unwrap()
            .unwrap();
        let c = Value::from_json(PropType::NodeList, &json!({"b": 1, "a": 1}))
            .unwrap()
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.to_text(), "b,a");
        assert_eq!(a.canonical(), "a,b");
        assert_eq!(a.to_raw_json(PropType::NodeList), json!({"b": 1, "a": 1}));
        assert!(Value::from_json(PropType::NodeList, &json!("a,b_c")).is_err());
        assert!(Value::from_json(PropType::IpList, &json!("10.0.0.1,300.0.0.1")).is_err());
        assert_eq!(
            Value::from_json(PropType::IpList, &json!([])).unwrap(),
            None
        );
        assert!(Value::from_json(PropType::IpList, &json!([1])).is_err());
        let many: Vec<String> = (0..2000).map(|i| format!("n{i}")).collect();
        assert!(Value::from_json(PropType::NodeList, &json!(many)).is_err());
        assert!(Value::from_json(PropType::RouteTargetList, &json!("65000:1 65000:2")).is_ok());
    }

    #[test]
    fn strings() {
        assert!(Value::from_text(PropType::Text { max: 4 }, "abcde").is_err());
        assert!(Value::from_text(PropType::Text { max: 10 }, " a").is_err());
        assert!(Value::from_text(PropType::Text { max: 10 }, "a\tb").is_err());
        assert!(Value::from_text(PropType::Text { max: 10 }, "a\nb").is_err());
        assert!(
            Value::from_text(PropType::Alias, "My VNet (prod) #1").is_err(),
            "# is outside the class"
        );
        assert!(Value::from_text(PropType::Alias, "My VNet (prod) 1/2").is_ok());
        assert!(Value::from_text(PropType::Alias, &"a".repeat(257)).is_err());
        assert!(
            Value::from_text(PropType::Enum(&["802.1q", "802.1ad"]), "802.1x")
                .unwrap_err()
                .contains("enumeration '802.1q, 802.1ad'")
        );
        assert!(Value::from_text(PropType::Ip, "10.0.0.256").is_err());
        assert!(Value::from_text(PropType::Ref(crate::Kind::Zones), "bad-zone").is_err());
        assert_eq!(
            Value::from_json(PropType::Text { max: 9 }, &json!(42)).unwrap(),
            Some(Value::Str("42".into()))
        );
    }

    #[test]
    fn ranges() {
        let r = DhcpRange::parse("end-address=10.0.0.20,start-address=10.0.0.10").unwrap();
        assert_eq!(
            r.to_string(),
            "start-address=10.0.0.10,end-address=10.0.0.20"
        );
        assert!(DhcpRange::parse("start-address=10.0.0.10").is_err());
        assert!(DhcpRange::parse("start-address=10.0.0.10,end-address=x").is_err());
        assert!(DhcpRange::parse("start-address=1.1.1.1,end-address=1.1.1.2,foo=1").is_err());
        let v = Value::from_json(
            PropType::DhcpRanges,
            &json!([{"start-address": "10.0.0.1", "end-address": "10.0.0.2"}, "start-address=10.0.0.5,end-address=10.0.0.6"]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(v.as_ranges().unwrap().len(), 2);
        assert_eq!(
            r.to_json(),
            json!({"start-address": "10.0.0.10", "end-address": "10.0.0.20"})
        );
    }
}
