//! Route maps and prefix lists (PVE 9.1's `route-maps.cfg` and `prefix-lists.cfg`, as
//! proxmox-ve-config's `sdn::route_map` and `sdn::prefix_list` define them): the property
//! strings of their entries, checked and translated into FRR's words.
//!
//! A route map is a set of objects of [`crate::Kind::RouteMaps`], one per entry, each with the
//! id `MAP_ORDER` and the type `route-map-entry`; its `match` and `set` are lists of property
//! strings `key=KEY[,value=VALUE]`, its `exit-action` one such string, `call` the name of
//! another route map. A prefix list is one object of [`crate::Kind::PrefixLists`] (type
//! `prefix-list`) whose `entries` are property strings
//! `action=permit|deny,prefix=CIDR[,le=N][,ge=N][,seq=N]`.

use std::fmt::Write as _;

use crate::net::{parse_ip, shorten, Cidr};

/// Longest route map or prefix list name (the reference's `[a-zA-Z0-9][a-zA-Z0-9-_]{0,30}[a-zA-Z0-9]?`).
const MAX_NAME: usize = 32;

/// Route map names the generator uses itself.
fn reserved_route_map(name: &str) -> bool {
    name.starts_with("pve_") || matches!(name, "MAP_VTEP_IN" | "MAP_VTEP_OUT" | "correct_src")
}

/// Prefix list names the generator uses itself.
fn reserved_prefix_list(name: &str) -> bool {
    matches!(name, "only_default" | "only_default_v6" | "loopbacks_ips")
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= MAX_NAME
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} ID '{}' contains illegal characters (allowed: [a-zA-Z0-9][a-zA-Z0-9-_]{{0,30}}[a-zA-Z0-9]?)",
            shorten(name)
        ))
    }
}

/// Checks a route map name (`route-map-id`, `call`, a controller's `route-map-in`).
pub fn check_route_map_id(name: &str) -> Result<(), String> {
    check_name("route map", name)?;
    if reserved_route_map(name) {
        return Err(format!(
            "route map ID '{name}' is currently reserved and cannot be used"
        ));
    }
    Ok(())
}

/// Checks a prefix list name.
pub fn check_prefix_list_id(name: &str) -> Result<(), String> {
    check_name("prefix list", name)?;
    if reserved_prefix_list(name) {
        return Err(format!(
            "prefix list ID '{name}' is currently reserved and cannot be used"
        ));
    }
    Ok(())
}

/// Largest route map entry order (FRR's sequence numbers are 1-65535).
pub const MAX_ORDER: u32 = 65535;

/// Splits a route map entry id `MAP_ORDER` (the map name may itself contain `_`).
pub fn split_entry_id(id: &str) -> Result<(&str, u32), String> {
    let bad = || {
        format!(
            "'{}' is not a route map entry id (expected ROUTEMAP_ORDER, e.g. mymap_10)",
            shorten(id)
        )
    };
    let (name, order) = id.rsplit_once('_').ok_or_else(bad)?;
    if order.is_empty() || !order.bytes().all(|b| b.is_ascii_digit()) || order.len() > 5 {
        return Err(bad());
    }
    let order: u32 = order.parse().map_err(|_| bad())?;
    if !(1..=MAX_ORDER).contains(&order) {
        return Err(format!(
            "route map entry order {order} is out of range (allowed: 1-{MAX_ORDER})"
        ));
    }
    check_route_map_id(name)?;
    Ok((name, order))
}

/// A parsed `key=K[,value=V]` property string.
fn key_value(s: &str, what: &str) -> Result<(String, Option<String>), String> {
    let (mut key, mut value) = (None, None);
    for part in s.split(',') {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            format!(
                "invalid {what} '{}': expected key=KEY[,value=VALUE]",
                shorten(s)
            )
        })?;
        let slot = match k.trim() {
            "key" => &mut key,
            "value" => &mut value,
            other => {
                return Err(format!(
                    "invalid {what} '{}': unknown property '{}' (allowed: key, value)",
                    shorten(s),
                    shorten(other)
                ))
            }
        };
        if slot.is_some() {
            return Err(format!(
                "invalid {what} '{}': duplicate property '{}'",
                shorten(s),
                k.trim()
            ));
        }
        *slot = Some(v.trim().to_string());
    }
    let key = key.ok_or_else(|| format!("invalid {what} '{}': 'key' is missing", shorten(s)))?;
    Ok((key, value.filter(|v| !v.is_empty())))
}

/// How a key's value is checked (and normalized for FRR).
#[derive(Clone, Copy)]
enum ValueKind {
    None,
    Ipv4,
    Ipv6,
    AnyIp,
    U32,
    U16,
    Vni,
    RouteType,
    /// FRR's parser takes only a number for `match tag` and `set tag` (proxmox-sdn-types also
    /// allows `untagged`, which FRR refuses).
    Tag,
    Metric,
    Modify,
    PrefixList,
    Peer,
}

/// `(API key, FRR words, value)`.
type KeyDef = (&'static str, &'static str, ValueKind);

const MATCH_KEYS: [KeyDef; 12] = [
    ("route-type", "evpn route-type", ValueKind::RouteType),
    ("vni", "evpn vni", ValueKind::Vni),
    (
        "ip-address-prefix-list",
        "ip address prefix-list",
        ValueKind::PrefixList,
    ),
    (
        "ip6-address-prefix-list",
        "ipv6 address prefix-list",
        ValueKind::PrefixList,
    ),
    (
        "ip-next-hop-prefix-list",
        "ip next-hop prefix-list",
        ValueKind::PrefixList,
    ),
    (
        "ip6-next-hop-prefix-list",
        "ipv6 next-hop prefix-list",
        ValueKind::PrefixList,
    ),
    (
        "ip-next-hop-address",
        "ip next-hop address",
        ValueKind::Ipv4,
    ),
    (
        "ip6-next-hop-address",
        "ipv6 next-hop address",
        ValueKind::Ipv6,
    ),
    ("metric", "metric", ValueKind::U32),
    ("tag", "tag", ValueKind::Tag),
    ("local-preference", "local-preference", ValueKind::U32),
    ("peer", "peer", ValueKind::Peer),
];

const SET_KEYS: [KeyDef; 11] = [
    (
        "ip-next-hop-peer-address",
        "ip next-hop peer-address",
        ValueKind::None,
    ),
    (
        "ip-next-hop-unchanged",
        "ip next-hop unchanged",
        ValueKind::None,
    ),
    ("ip-next-hop", "ip next-hop", ValueKind::Ipv4),
    (
        "ip6-next-hop-peer-address",
        "ipv6 next-hop peer-address",
        ValueKind::None,
    ),
    (
        "ip6-next-hop-prefer-global",
        "ipv6 next-hop prefer-global",
        ValueKind::None,
    ),
    ("ip6-next-hop", "ipv6 next-hop global", ValueKind::Ipv6),
    ("local-preference", "local-preference", ValueKind::Modify),
    ("tag", "tag", ValueKind::Tag),
    ("weight", "weight", ValueKind::U32),
    ("metric", "metric", ValueKind::Metric),
    ("src", "src", ValueKind::AnyIp),
];

const EXIT_KEYS: [KeyDef; 3] = [
    ("on-match-next", "on-match next", ValueKind::None),
    ("on-match-goto", "on-match goto", ValueKind::U16),
    ("continue", "continue", ValueKind::U16),
];

/// One match, set or exit action in FRR's words: `match {frr}[ {value}]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMapItem {
    /// The key as the API names it (`ip-next-hop-prefix-list`).
    pub key: &'static str,
    /// The key as FRR spells it (`ip next-hop prefix-list`).
    pub frr: &'static str,
    /// The value, normalized (addresses as FRR prints them).
    pub value: Option<String>,
}

impl RouteMapItem {
    /// The prefix list a match refers to, if it is a prefix-list match.
    pub fn prefix_list(&self) -> Option<&str> {
        self.key
            .ends_with("-prefix-list")
            .then_some(self.value.as_deref())
            .flatten()
    }

    /// `FRR-WORDS[ VALUE]`.
    pub fn frr_text(&self) -> String {
        match &self.value {
            Some(v) => format!("{} {v}", self.frr),
            None => self.frr.to_string(),
        }
    }
}

fn parse_item(table: &[KeyDef], what: &str, s: &str) -> Result<RouteMapItem, String> {
    if s.contains(['\n', '\r']) {
        return Err("value contains a line feed".into());
    }
    let (key, value) = key_value(s, what)?;
    let Some(&(api, frr, kind)) = table.iter().find(|(k, _, _)| *k == key) else {
        let allowed: Vec<&str> = table.iter().map(|(k, _, _)| *k).collect();
        return Err(format!(
            "unknown {what} key '{}' (allowed: {})",
            shorten(&key),
            allowed.join(", ")
        ));
    };
    let value = check_value(kind, api, value)?;
    Ok(RouteMapItem {
        key: api,
        frr,
        value,
    })
}

fn check_value(
    kind: ValueKind,
    key: &str,
    value: Option<String>,
) -> Result<Option<String>, String> {
    let Some(v) = value else {
        return match kind {
            ValueKind::None => Ok(None),
            _ => Err(format!("'{key}' needs a value")),
        };
    };
    let bad = |allowed: &str| {
        Err(format!(
            "invalid value '{}' for '{key}' (expected {allowed})",
            shorten(&v)
        ))
    };
    let number = |max: u64| v.parse::<u64>().ok().filter(|n| *n <= max);
    match kind {
        ValueKind::None => Err(format!("'{key}' takes no value")),
        ValueKind::Ipv4 => match parse_ip(&v) {
            Ok(ip) if ip.is_ipv4() => Ok(Some(ip.to_string())),
            _ => bad("an IPv4 address"),
        },
        ValueKind::Ipv6 => match parse_ip(&v) {
            Ok(ip) if ip.is_ipv6() => Ok(Some(ip.to_string())),
            _ => bad("an IPv6 address"),
        },
        ValueKind::AnyIp => match parse_ip(&v) {
            Ok(ip) => Ok(Some(ip.to_string())),
            _ => bad("an IP address"),
        },
        ValueKind::U32 => match number(u64::from(u32::MAX)) {
            Some(n) => Ok(Some(n.to_string())),
            None => bad("an integer 0-4294967295"),
        },
        ValueKind::U16 => match number(65535) {
            Some(n) => Ok(Some(n.to_string())),
            None => bad("an entry order 0-65535"),
        },
        ValueKind::Vni => match number(16_777_215).filter(|n| *n >= 1) {
            Some(n) => Ok(Some(n.to_string())),
            None => bad("a VNI 1-16777215"),
        },
        ValueKind::RouteType => match v.as_str() {
            "ead" | "macip" | "multicast" | "es" | "prefix" => Ok(Some(v)),
            _ => bad("one of ead, macip, multicast, es, prefix"),
        },
        ValueKind::Tag => match number(u64::from(u32::MAX)).filter(|n| *n >= 1) {
            Some(n) => Ok(Some(n.to_string())),
            None => bad("an integer 1-4294967295 (FRR has no 'untagged')"),
        },
        ValueKind::Metric => match v.as_str() {
            "rtt" | "+rtt" | "-rtt" | "igp" | "aigp" => Ok(Some(v)),
            _ => modify_number(&v).map_or_else(
                || bad("rtt, +rtt, -rtt, igp, aigp, a number or a signed number"),
                |n| Ok(Some(n)),
            ),
        },
        ValueKind::Modify => modify_number(&v).map_or_else(
            || bad("a number 0-4294967295 or a signed number (+N, -N)"),
            |n| Ok(Some(n)),
        ),
        ValueKind::PrefixList => check_prefix_list_id(&v).map(|_| Some(v)),
        ValueKind::Peer => {
            let ok = !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:%".contains(&b));
            if ok {
                Ok(Some(v))
            } else {
                bad("a peer address, interface or peer group name")
            }
        }
    }
}

/// `N`, `+N` or `-N` as proxmox-sdn-types' `ModifyNumber` prints it.
fn modify_number(v: &str) -> Option<String> {
    if let Some(rest) = v.strip_prefix('+') {
        let n: i32 = rest.parse().ok().filter(|n: &i32| *n >= 0)?;
        return Some(format!("+{n}"));
    }
    if v.starts_with('-') {
        let n: i32 = v.parse().ok()?;
        return Some(if n < 0 {
            n.to_string()
        } else {
            format!("+{n}")
        });
    }
    v.parse::<u32>().ok().map(|n| n.to_string())
}

/// Checks one `match` property string.
pub fn parse_match(s: &str) -> Result<RouteMapItem, String> {
    parse_item(&MATCH_KEYS, "match", s)
}

/// Checks one `set` property string.
pub fn parse_set(s: &str) -> Result<RouteMapItem, String> {
    parse_item(&SET_KEYS, "set", s)
}

/// Checks an `exit-action` property string.
pub fn parse_exit_action(s: &str) -> Result<RouteMapItem, String> {
    parse_item(&EXIT_KEYS, "exit-action", s)
}

/// One entry of a prefix list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixListEntry {
    /// `permit` or `deny`.
    pub action: &'static str,
    pub prefix: Cidr,
    pub le: Option<u32>,
    pub ge: Option<u32>,
    pub seq: Option<u32>,
}

impl PrefixListEntry {
    /// The property string, keys in the order proxmox-ve-config writes them.
    pub fn to_property_string(&self) -> String {
        let mut s = format!("action={},prefix={}", self.action, self.prefix);
        if let Some(le) = self.le {
            let _ = write!(s, ",le={le}");
        }
        if let Some(ge) = self.ge {
            let _ = write!(s, ",ge={ge}");
        }
        if let Some(seq) = self.seq {
            let _ = write!(s, ",seq={seq}");
        }
        s
    }
}

/// Checks one prefix list entry: `prefix`'s length <= `ge` <= `le` <= the family's maximum.
pub fn parse_prefix_entry(s: &str) -> Result<PrefixListEntry, String> {
    if s.contains(['\n', '\r']) {
        return Err("value contains a line feed".into());
    }
    let bad = |why: String| format!("invalid prefix list entry '{}': {why}", shorten(s));
    let (mut action, mut prefix, mut le, mut ge, mut seq) = (None, None, None, None, None);
    for part in s.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| bad("expected action=..,prefix=..[,le=..][,ge=..][,seq=..]".into()))?;
        let (k, v) = (k.trim(), v.trim());
        let dup = || bad(format!("duplicate property '{k}'"));
        match k {
            "action" => {
                let a = match v {
                    "permit" => "permit",
                    "deny" => "deny",
                    _ => {
                        return Err(bad(format!(
                            "action '{}' is not permit or deny",
                            shorten(v)
                        )))
                    }
                };
                if action.replace(a).is_some() {
                    return Err(dup());
                }
            }
            "prefix" => {
                let c = Cidr::parse_any_length(v)
                    .map_err(|e| bad(format!("prefix '{}': {e}", shorten(v))))?;
                if prefix.replace(c).is_some() {
                    return Err(dup());
                }
            }
            "le" | "ge" => {
                let n: u32 =
                    v.parse().ok().filter(|n| *n <= 128).ok_or_else(|| {
                        bad(format!("{k} '{}' is not an integer 0-128", shorten(v)))
                    })?;
                let slot = if k == "le" { &mut le } else { &mut ge };
                if slot.replace(n).is_some() {
                    return Err(dup());
                }
            }
            "seq" => {
                let n: u32 = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    bad(format!(
                        "seq '{}' is not an integer 1-4294967295",
                        shorten(v)
                    ))
                })?;
                if seq.replace(n).is_some() {
                    return Err(dup());
                }
            }
            other => {
                return Err(bad(format!(
                    "unknown property '{}' (allowed: action, prefix, le, ge, seq)",
                    shorten(other)
                )))
            }
        }
    }
    let action = action.ok_or_else(|| bad("'action' is missing".into()))?;
    let prefix = prefix.ok_or_else(|| bad("'prefix' is missing".into()))?;
    let (max, mask) = (
        if prefix.addr().is_ipv4() { 32 } else { 128 },
        u32::from(prefix.prefix()),
    );
    for (name, v) in [("le", le), ("ge", ge)] {
        if let Some(v) = v {
            if v > max {
                return Err(bad(format!("{name} must not be greater than {max}")));
            }
            if v < mask {
                return Err(bad(format!(
                    "{name} must not be less than the prefix length {mask}"
                )));
            }
        }
    }
    if let (Some(le), Some(ge)) = (le, ge) {
        if ge > le {
            return Err(bad(format!("ge ({ge}) must not be greater than le ({le})")));
        }
    }
    Ok(PrefixListEntry {
        action,
        prefix,
        le,
        ge,
        seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_and_set_keys() {
        let m = parse_match("key=ip-next-hop-prefix-list,value=some_list").unwrap();
        assert_eq!(m.frr_text(), "ip next-hop prefix-list some_list");
        assert_eq!(m.prefix_list(), Some("some_list"));
        assert_eq!(
            parse_set("value=192.0.2.100,key=ip-next-hop")
                .unwrap()
                .frr_text(),
            "ip next-hop 192.0.2.100"
        );
        assert_eq!(
            parse_set("key=ip6-next-hop,value=2001:db8::1")
                .unwrap()
                .frr_text(),
            "ipv6 next-hop global 2001:db8::1"
        );
        assert_eq!(
            parse_set("key=metric,value=+rtt").unwrap().frr_text(),
            "metric +rtt"
        );
        assert_eq!(
            parse_set("key=local-preference,value=-12345")
                .unwrap()
                .frr_text(),
            "local-preference -12345"
        );
        assert_eq!(
            parse_set("key=ip-next-hop-unchanged").unwrap().frr_text(),
            "ip next-hop unchanged"
        );
        assert_eq!(
            parse_exit_action("key=on-match-goto,value=1234")
                .unwrap()
                .frr_text(),
            "on-match goto 1234"
        );
        let e = parse_match("key=community,value=x").unwrap_err();
        assert!(
            e.contains("unknown match key 'community'") && e.contains("route-type"),
            "{e}"
        );
        assert!(parse_set("key=ip-next-hop,value=2001:db8::1").is_err());
        assert!(parse_set("key=ip-next-hop-unchanged,value=1").is_err());
        assert!(parse_match("key=vni").is_err());
        assert!(parse_match("key=vni,value=0").is_err());
        assert!(parse_match("key=ip-address-prefix-list,value=only_default").is_err());
        assert!(parse_set("key=tag,value=untagged").is_err());
        assert!(parse_match("key=tag,value=untagged").is_err());
        assert!(parse_match("key=tag,value=7").is_ok());
        assert!(parse_match("key=peer,value=a b").is_err());
    }

    #[test]
    fn prefix_entries() {
        let e = parse_prefix_entry("action=deny,prefix=198.51.100.0/25,ge=25,le=26").unwrap();
        assert_eq!(
            e.to_property_string(),
            "action=deny,prefix=198.51.100.0/25,le=26,ge=25"
        );
        assert!(parse_prefix_entry("action=permit,prefix=192.0.2.0/24,le=23").is_err());
        assert!(parse_prefix_entry("action=permit,prefix=192.0.2.0/24,ge=27,le=25").is_err());
        assert!(parse_prefix_entry("action=permit,prefix=192.0.2.0/24,le=33").is_err());
        assert!(parse_prefix_entry("action=allow,prefix=192.0.2.0/24").is_err());
        assert!(parse_prefix_entry("prefix=192.0.2.0/24").is_err());
        assert!(parse_prefix_entry("action=permit,prefix=2001:db8::/32,le=64,seq=5").is_ok());
    }

    #[test]
    fn ids() {
        assert_eq!(split_entry_id("map-in_99").unwrap(), ("map-in", 99));
        assert_eq!(
            split_entry_id("test_underscore_123").unwrap(),
            ("test_underscore", 123)
        );
        assert!(split_entry_id("map").is_err());
        assert!(split_entry_id("map_0").is_err());
        assert!(split_entry_id("map_65536").is_err());
        assert!(split_entry_id("MAP_VTEP_IN_1").is_err());
        assert!(check_route_map_id("pve_x").is_err());
        assert!(check_prefix_list_id("only_default").is_err());
        assert!(check_prefix_list_id("some_list").is_ok());
        assert!(check_prefix_list_id(&"a".repeat(33)).is_err());
    }
}
