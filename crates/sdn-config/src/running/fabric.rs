//! SDN fabrics (OpenFabric and OSPF underlays) of the running config.
//!
//! The running config holds fabrics as section-config entries: `TYPE_fabric` entries named by
//! the fabric id and `TYPE_node` entries named `FABRIC_NODE`. Node interfaces are property
//! strings such as `name=ens19,ip=172.16.3.10/31`. Reading refuses what the reference refuses
//! (a node address outside its fabric, overlapping fabrics, ...): it then writes no file at all.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

use super::props::Props;
use super::{Reading, RunningConfigError};
use crate::net::{check_word, Cidr};

/// The routing protocol of a fabric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FabricProtocol {
    /// OpenFabric (IS-IS for fabrics).
    Openfabric,
    /// OSPFv2.
    Ospf,
}

impl FabricProtocol {
    /// The protocol of an entry type, and whether the entry is a node (else a fabric).
    fn from_type(ty: &str) -> Option<(FabricProtocol, bool)> {
        match ty {
            "openfabric_fabric" => Some((FabricProtocol::Openfabric, false)),
            "openfabric_node" => Some((FabricProtocol::Openfabric, true)),
            "ospf_fabric" => Some((FabricProtocol::Ospf, false)),
            "ospf_node" => Some((FabricProtocol::Ospf, true)),
            _ => None,
        }
    }
}

/// One fabric with its nodes.
#[derive(Clone, Debug)]
pub struct Fabric {
    /// The routing protocol.
    pub protocol: FabricProtocol,
    /// The IPv4 prefix the node addresses come from.
    pub ip_prefix: Option<Cidr>,
    /// The IPv6 prefix the node addresses come from.
    pub ip6_prefix: Option<Cidr>,
    /// The OSPF area (a number or a dotted quad).
    pub area: Option<String>,
    /// OpenFabric hello interval, in seconds.
    pub hello_interval: Option<u64>,
    /// OpenFabric CSNP interval, in seconds.
    pub csnp_interval: Option<u64>,
    /// The fabric's nodes by node name.
    pub nodes: BTreeMap<String, FabricNode>,
}

/// One node of a fabric.
#[derive(Clone, Debug)]
pub struct FabricNode {
    /// The node's IPv4 address (router-id, dummy interface).
    pub ip: Option<Ipv4Addr>,
    /// The node's IPv6 address.
    pub ip6: Option<Ipv6Addr>,
    /// The interfaces the fabric runs on.
    pub interfaces: Vec<FabricInterface>,
}

/// One interface of a fabric node.
#[derive(Clone, Debug)]
pub struct FabricInterface {
    /// The interface name.
    pub name: String,
    /// Its IPv4 address with prefix length; none: unnumbered.
    pub ip: Option<Cidr>,
    /// Its IPv6 address with prefix length.
    pub ip6: Option<Cidr>,
    /// OpenFabric hello multiplier.
    pub hello_multiplier: Option<u64>,
}

fn parse_cidr(p: &Props, field: &str, want_v6: bool) -> Result<Option<Cidr>, RunningConfigError> {
    let Some(text) = p.word(field)? else {
        return Ok(None);
    };
    match Cidr::parse_any_length(&text) {
        Ok(c) if c.addr().is_ipv6() == want_v6 => Ok(Some(c)),
        _ => Err(RunningConfigError::field(
            p.object(),
            field,
            format!(
                "\"{text}\" is not an {} prefix",
                if want_v6 { "IPv6" } else { "IPv4" }
            ),
        )),
    }
}

fn parse_addr<T: std::str::FromStr>(
    p: &Props,
    field: &str,
    what: &str,
) -> Result<Option<T>, RunningConfigError> {
    let Some(text) = p.word(field)? else {
        return Ok(None);
    };
    text.parse().map(Some).map_err(|_| {
        RunningConfigError::field(
            p.object(),
            field,
            format!("\"{text}\" is not an {what} address"),
        )
    })
}

/// The reference refuses the whole fabric config (so generates nothing) when a node's address
/// does not fit its fabric: an address without the fabric having that family's prefix, a prefix
/// without the node having an address of that family, an address outside the prefix, or an
/// openfabric node with no address at all.
fn check_node_addresses(
    object: &str,
    fabric_id: &str,
    fabric: &Fabric,
    node: &FabricNode,
) -> Result<(), RunningConfigError> {
    let pairs = [
        (
            "ip",
            "ip_prefix",
            fabric.ip_prefix.as_ref(),
            node.ip.map(IpAddr::from),
        ),
        (
            "ip6",
            "ip6_prefix",
            fabric.ip6_prefix.as_ref(),
            node.ip6.map(IpAddr::from),
        ),
    ];
    for (field, prefix_field, prefix, addr) in pairs {
        match (prefix, addr) {
            (None, Some(addr)) => {
                return Err(RunningConfigError::field(
                    object,
                    field,
                    format!(
                        "fabric '{fabric_id}' has no {prefix_field} for the node address {addr}"
                    ),
                ))
            }
            (Some(prefix), None) => {
                return Err(RunningConfigError::field(
                    object,
                    field,
                    format!(
                        "missing: fabric '{fabric_id}' has {prefix_field} {}",
                        prefix
                    ),
                ))
            }
            (Some(prefix), Some(addr)) if !prefix.contains(addr) => {
                return Err(RunningConfigError::field(
                    object,
                    field,
                    format!(
                        "{addr} is outside {prefix_field} {} of fabric '{fabric_id}'",
                        prefix
                    ),
                ))
            }
            _ => {}
        }
    }
    if fabric.protocol == FabricProtocol::Openfabric && node.ip.is_none() && node.ip6.is_none() {
        return Err(RunningConfigError::field(
            object,
            "ip",
            "missing: an openfabric node needs ip or ip6",
        ));
    }
    Ok(())
}

/// The reference's checks across fabrics: prefixes of one family don't overlap, OSPF fabrics
/// use different areas, and an interface of a node serves one fabric only.
fn check_across_fabrics(fabrics: &BTreeMap<String, Fabric>) -> Result<(), RunningConfigError> {
    let object = |id: &str| format!("fabric entry '{}'", id.escape_debug());
    let all: Vec<(&String, &Fabric)> = fabrics.iter().collect();
    for (i, (first_id, first)) in all.iter().enumerate() {
        for (id, fabric) in &all[i + 1..] {
            let pairs = [
                (&first.ip_prefix, &fabric.ip_prefix, "IPv4"),
                (&first.ip6_prefix, &fabric.ip6_prefix, "IPv6"),
            ];
            for (theirs, ours, family) in pairs {
                if let (Some(theirs), Some(ours)) = (theirs, ours) {
                    if ours.overlaps(theirs) {
                        let field = if family == "IPv4" {
                            "ip_prefix"
                        } else {
                            "ip6_prefix"
                        };
                        return Err(RunningConfigError::field(
                            object(id),
                            field,
                            format!(
                                "{family} prefix {} overlaps with {family} prefix {} of fabric '{first_id}'",
                                ours, theirs
                            ),
                        ));
                    }
                }
            }
        }
    }
    let mut areas: BTreeMap<String, &str> = BTreeMap::new();
    for (id, fabric) in fabrics {
        let Some(area) = fabric
            .area
            .as_deref()
            .filter(|_| fabric.protocol == FabricProtocol::Ospf)
        else {
            continue;
        };
        // An area is a number or a dotted quad, and 1 is 0.0.0.1.
        let key = match area.parse::<u32>() {
            Ok(number) => Ipv4Addr::from(number).to_string(),
            Err(_) => area.to_string(),
        };
        if let Some(other) = areas.insert(key, id) {
            return Err(RunningConfigError::field(
                object(id),
                "area",
                format!("OSPF area {area} is also the area of fabric '{other}'"),
            ));
        }
    }
    let mut used: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for (id, fabric) in fabrics {
        for (node, fabric_node) in &fabric.nodes {
            for interface in &fabric_node.interfaces {
                if let Some(other) = used.insert((node, &interface.name), id) {
                    return Err(RunningConfigError::field(
                        format!(
                            "fabric entry '{}_{}'",
                            id.escape_debug(),
                            node.escape_debug()
                        ),
                        "interfaces",
                        format!(
                            "interface {} of node '{node}' is in fabric '{other}' too",
                            interface.name
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Parses one `name=IFACE,ip=CIDR,...` interface property string.
fn parse_interface(object: &str, text: &str) -> Result<FabricInterface, RunningConfigError> {
    let err = |reason: String| RunningConfigError::field(object, "interfaces", reason);
    let mut iface = FabricInterface {
        name: String::new(),
        ip: None,
        ip6: None,
        hello_multiplier: None,
    };
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or(("name", part));
        match key {
            "name" => {
                check_word(value).map_err(err)?;
                iface.name = value.to_string();
            }
            "ip" | "ip6" => {
                let cidr = Cidr::parse_any_length(value)
                    .ok()
                    .filter(|c| c.addr().is_ipv6() == (key == "ip6"))
                    .ok_or_else(|| err(format!("\"{value}\" is not a valid {key} prefix")))?;
                if key == "ip" {
                    iface.ip = Some(cidr);
                } else {
                    iface.ip6 = Some(cidr);
                }
            }
            "hello_multiplier" | "hello-multiplier" => {
                iface.hello_multiplier =
                    Some(value.parse().map_err(|_| {
                        err(format!("hello_multiplier \"{value}\" is not a number"))
                    })?);
            }
            _ => {}
        }
    }
    if iface.name.is_empty() {
        return Err(err(format!("\"{text}\" has no interface name")));
    }
    Ok(iface)
}

/// Checks one interface property string as the API and `fabrics.cfg` carry it: `name=IFACE`
/// (at most 15 characters) plus, for OpenFabric, `hello_multiplier` (2-100), `ip` and `ip6`;
/// for OSPF, `ip`. Returns the interface name.
pub(crate) fn check_interface(text: &str, ospf: bool) -> Result<String, String> {
    let allowed: &[&str] = if ospf {
        &["name", "ip"]
    } else {
        &["name", "hello_multiplier", "ip", "ip6"]
    };
    let mut seen: Vec<&str> = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let key = part.split_once('=').map_or("name", |(key, _)| key);
        if !allowed.contains(&key) {
            return Err(format!(
                "invalid interface '{}': unknown key '{key}' (allowed: {})",
                crate::net::shorten(text),
                allowed.join(", ")
            ));
        }
        if seen.contains(&key) {
            return Err(format!(
                "invalid interface '{}': duplicate key '{key}'",
                crate::net::shorten(text)
            ));
        }
        seen.push(key);
    }
    let iface = parse_interface("interface", text).map_err(|err| match err {
        RunningConfigError::Field { reason, .. } | RunningConfigError::Shape { reason, .. } => {
            format!("invalid interface: {reason}")
        }
    })?;
    if iface.name.len() > 15 {
        return Err(format!(
            "invalid interface: name '{}' is longer than 15 characters",
            iface.name
        ));
    }
    if let Some(m) = iface.hello_multiplier.filter(|m| !(2..=100).contains(m)) {
        return Err(format!(
            "invalid interface: hello_multiplier {m} is outside 2-100"
        ));
    }
    Ok(iface.name)
}

/// Checks a whole set of fabrics (the `fabrics.ids` form of the running config) with every
/// rule of [`parse`]: what the API and `fabrics.cfg` import refuse.
pub(crate) fn check_fabrics(ids: &Map<String, Value>) -> Result<(), RunningConfigError> {
    parse(ids).map(|_| ())
}

/// Parses the `fabrics.ids` section of the running config.
pub(crate) fn parse(
    ids: &Map<String, Value>,
) -> Result<BTreeMap<String, Fabric>, RunningConfigError> {
    let mut fabrics = BTreeMap::new();
    let mut nodes = Vec::new();
    for (id, value) in ids {
        // Carried through as it was read (see `RunningConfig::from_json`): always lenient.
        let p = Props::new(
            format!("fabric entry '{}'", id.escape_debug()),
            value,
            Reading::Lenient,
        )?;
        check_word(id).map_err(|r| RunningConfigError::shape(p.object(), r))?;
        let ty = p.word("type")?.unwrap_or_default();
        let Some((protocol, is_node)) = FabricProtocol::from_type(&ty) else {
            return Err(RunningConfigError::field(
                p.object(),
                "type",
                format!("unknown fabric entry type \"{ty}\" (expected openfabric_fabric, openfabric_node, ospf_fabric or ospf_node)"),
            ));
        };
        if is_node {
            let (fabric, node) = id.split_once('_').ok_or_else(|| {
                RunningConfigError::shape(p.object(), "a node id must have the form FABRIC_NODE")
            })?;
            let mut interfaces = Vec::new();
            for text in p.list_raw("interfaces")? {
                interfaces.push(parse_interface(p.object(), &text)?);
            }
            nodes.push((
                fabric.to_string(),
                node.to_string(),
                protocol,
                p.object().to_string(),
                FabricNode {
                    ip: parse_addr(&p, "ip", "IPv4")?,
                    ip6: parse_addr(&p, "ip6", "IPv6")?,
                    interfaces,
                },
            ));
        } else {
            fabrics.insert(
                id.clone(),
                Fabric {
                    protocol,
                    ip_prefix: parse_cidr(&p, "ip_prefix", false)?,
                    ip6_prefix: parse_cidr(&p, "ip6_prefix", true)?,
                    area: p.word("area")?,
                    hello_interval: p.uint("hello_interval", 600)?,
                    csnp_interval: p.uint("csnp_interval", 600)?,
                    nodes: BTreeMap::new(),
                },
            );
        }
    }
    for (fabric_id, node_id, protocol, object, node) in nodes {
        let fabric = fabrics.get_mut(&fabric_id).ok_or_else(|| {
            RunningConfigError::field(
                &object,
                "fabric_id",
                format!("fabric '{fabric_id}' does not exist"),
            )
        })?;
        if fabric.protocol != protocol {
            return Err(RunningConfigError::field(
                object,
                "type",
                format!("the node's protocol does not match fabric '{fabric_id}'"),
            ));
        }
        check_node_addresses(&object, &fabric_id, fabric, &node)?;
        let same_ip = |other: &FabricNode| node.ip.is_some() && other.ip == node.ip;
        let same_ip6 = |other: &FabricNode| node.ip6.is_some() && other.ip6 == node.ip6;
        if let Some((other, _)) = fabric.nodes.iter().find(|(_, o)| same_ip(o) || same_ip6(o)) {
            let field = if fabric.nodes.values().any(same_ip) {
                "ip"
            } else {
                "ip6"
            };
            return Err(RunningConfigError::field(
                object,
                field,
                format!("fabric '{fabric_id}' contains nodes with duplicated IPs (node '{other}' has it too)"),
            ));
        }
        fabric.nodes.insert(node_id, node);
    }
    for (id, fabric) in &fabrics {
        if fabric.protocol == FabricProtocol::Openfabric
            && fabric.ip_prefix.is_none()
            && fabric.ip6_prefix.is_none()
        {
            return Err(RunningConfigError::field(
                format!("fabric entry '{}'", id.escape_debug()),
                "ip_prefix",
                "missing: an openfabric fabric needs ip_prefix or ip6_prefix",
            ));
        }
    }
    check_across_fabrics(&fabrics)?;
    Ok(fabrics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_nodes_and_interfaces() {
        let v = json!({
            "f": {"type": "ospf_fabric", "area": "0", "ip_prefix": "10.0.0.0/24"},
            "f_n1": {"type": "ospf_node", "ip": "10.0.0.1", "interfaces": ["name=eth1,ip=10.1.0.1/31", "name=eth2"]},
            "f_n2": {"type": "ospf_node", "ip": "10.0.0.2"}
        });
        let fabrics = parse(v.as_object().unwrap()).unwrap();
        let f = &fabrics["f"];
        assert_eq!(f.protocol, FabricProtocol::Ospf);
        assert_eq!(f.nodes["n1"].ip, Some(Ipv4Addr::new(10, 0, 0, 1)));
        let eth1 = &f.nodes["n1"].interfaces[0];
        assert_eq!(
            eth1.ip.map(|c| c.to_string()).as_deref(),
            Some("10.1.0.1/31")
        );
        assert!(f.nodes["n1"].interfaces[1].ip.is_none());
    }

    #[test]
    fn node_addresses_must_fit_the_fabric() {
        let fabric = |node: serde_json::Value| {
            let mut v = json!({"f": {"type": "openfabric_fabric", "ip_prefix": "10.0.0.0/24"}});
            v["f_n1"] = node;
            parse(v.as_object().unwrap())
        };
        assert!(fabric(json!({"type": "openfabric_node", "ip": "10.0.0.1"})).is_ok());
        assert!(fabric(json!({"type": "openfabric_node", "ip": "10.0.1.1"})).is_err());
        assert!(fabric(json!({"type": "openfabric_node", "ip6": "fd00::1"})).is_err());
        assert!(fabric(json!({"type": "openfabric_node", "interfaces": []})).is_err());
        let v = json!({
            "f": {"type": "ospf_fabric", "area": "0", "ip_prefix": "10.0.0.0/24"},
            "f_n1": {"type": "ospf_node", "ip": "10.0.0.1"},
            "f_n2": {"type": "ospf_node", "ip": "10.0.0.1"}
        });
        assert!(parse(v.as_object().unwrap()).is_err());
        let v = json!({"f": {"type": "openfabric_fabric"}});
        assert!(parse(v.as_object().unwrap()).is_err());
    }

    #[test]
    fn fabrics_must_not_collide() {
        let parse = |v: serde_json::Value| parse(v.as_object().unwrap());
        let two = |a: serde_json::Value, b: serde_json::Value| parse(json!({"a": a, "b": b}));
        let of = |prefix: &str| json!({"type": "openfabric_fabric", "ip_prefix": prefix});
        assert!(two(of("10.0.0.0/24"), of("10.0.1.0/24")).is_ok());
        let err = two(of("10.0.0.0/16"), of("10.0.1.0/24"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("overlaps"), "{err}");
        assert!(two(of("10.0.1.0/24"), of("10.0.0.0/16")).is_err());
        let of6 = |prefix: &str| json!({"type": "openfabric_fabric", "ip6_prefix": prefix});
        assert!(two(of6("fd00::/64"), of6("fd00:0:0:0:1::/80")).is_err());
        assert!(two(of("10.0.0.0/24"), of6("fd00::/64")).is_ok());

        let ospf = |area: &str, prefix: &str| json!({"type": "ospf_fabric", "area": area, "ip_prefix": prefix});
        assert!(two(ospf("0", "10.0.0.0/24"), ospf("1", "10.0.1.0/24")).is_ok());
        let err = two(ospf("1", "10.0.0.0/24"), ospf("0.0.0.1", "10.0.1.0/24"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("area"), "{err}");

        let v = json!({
            "a": of("10.0.0.0/24"), "b": of("10.0.1.0/24"),
            "a_n1": {"type": "openfabric_node", "ip": "10.0.0.1", "interfaces": ["name=eth1"]},
            "b_n1": {"type": "openfabric_node", "ip": "10.0.1.1", "interfaces": ["name=eth1"]}
        });
        let err = parse(v).unwrap_err().to_string();
        assert!(err.contains("eth1") && err.contains("too"), "{err}");
    }

    #[test]
    fn node_of_unknown_fabric_is_refused() {
        let v = json!({"g_n1": {"type": "ospf_node", "ip": "10.0.0.1"}});
        assert!(parse(v.as_object().unwrap()).is_err());
    }
}
