//! SDN fabrics (OpenFabric and OSPF underlays): their interfaces stanzas and FRR config.
//!
//! The running config holds fabrics as section-config entries: `TYPE_fabric` entries named by
//! the fabric id and `TYPE_node` entries named `FABRIC_NODE`. Node interfaces are property
//! strings such as `name=ens19,ip=172.16.3.10/31`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use crate::error::GenError;
use crate::frr::{
    AccessListRule, Action, FrrConfig, ListRef, OpenfabricInterface, OspfInterface, RouteMapEntry,
    RouteMapMatch, RouteMapSet,
};
use crate::lenient::{check_word, Props};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Openfabric,
    Ospf,
}

impl Protocol {
    fn from_type(ty: &str) -> Option<(Protocol, bool)> {
        match ty {
            "openfabric_fabric" => Some((Protocol::Openfabric, false)),
            "openfabric_node" => Some((Protocol::Openfabric, true)),
            "ospf_fabric" => Some((Protocol::Ospf, false)),
            "ospf_node" => Some((Protocol::Ospf, true)),
            _ => None,
        }
    }
}

/// An IP prefix with its host bits kept (an interface address), and its text in canonical form:
/// the reference parses fabric prefixes into typed CIDRs and prints them back, so
/// `fd77:0::1/127` comes out as `fd77::1/127`.
#[derive(Debug, Clone)]
struct Cidr {
    addr: IpAddr,
    len: u8,
    text: String,
}

impl Cidr {
    fn parse(text: &str) -> Option<Cidr> {
        let (addr, len) = text.split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        let len: u8 = len.parse().ok()?;
        let max = if addr.is_ipv6() { 128 } else { 32 };
        (len <= max).then(|| Cidr {
            addr,
            len,
            text: format!("{addr}/{len}"),
        })
    }

    /// Whether `addr` lies in this prefix (same family, same leading `len` bits).
    fn contains(&self, addr: IpAddr) -> bool {
        let (a, b, bits) = match (self.addr, addr) {
            (IpAddr::V4(p), IpAddr::V4(a)) => (u128::from(u32::from(p)), u128::from(u32::from(a)), 32),
            (IpAddr::V6(p), IpAddr::V6(a)) => (u128::from(p), u128::from(a), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.len);
        shift >= bits || (a >> shift) == (b >> shift)
    }

    /// Whether the two prefixes share an address (one contains the other).
    fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
}

#[derive(Debug)]
struct Fabric {
    protocol: Protocol,
    ip_prefix: Option<Cidr>,
    ip6_prefix: Option<Cidr>,
    area: Option<String>,
    hello_interval: Option<u64>,
    csnp_interval: Option<u64>,
    nodes: BTreeMap<String, FabricNode>,
}

#[derive(Debug)]
struct FabricNode {
    ip: Option<Ipv4Addr>,
    ip6: Option<Ipv6Addr>,
    interfaces: Vec<FabricInterface>,
}

#[derive(Debug)]
struct FabricInterface {
    name: String,
    ip: Option<Cidr>,
    ip6: Option<Cidr>,
    hello_multiplier: Option<u64>,
}

/// All fabrics of the running config.
#[derive(Debug, Default)]
pub(crate) struct Fabrics {
    fabrics: BTreeMap<String, Fabric>,
}

fn parse_cidr(p: &Props, field: &str, want_v6: bool) -> Result<Option<Cidr>, GenError> {
    let Some(text) = p.word(field)? else {
        return Ok(None);
    };
    match Cidr::parse(&text) {
        Some(c) if c.addr.is_ipv6() == want_v6 => Ok(Some(c)),
        _ => Err(GenError::field(
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
) -> Result<Option<T>, GenError> {
    let Some(text) = p.word(field)? else {
        return Ok(None);
    };
    text.parse().map(Some).map_err(|_| {
        GenError::field(
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
) -> Result<(), GenError> {
    let pairs = [
        ("ip", "ip_prefix", fabric.ip_prefix.as_ref(), node.ip.map(IpAddr::from)),
        ("ip6", "ip6_prefix", fabric.ip6_prefix.as_ref(), node.ip6.map(IpAddr::from)),
    ];
    for (field, prefix_field, prefix, addr) in pairs {
        match (prefix, addr) {
            (None, Some(addr)) => {
                return Err(GenError::field(
                    object,
                    field,
                    format!("fabric '{fabric_id}' has no {prefix_field} for the node address {addr}"),
                ))
            }
            (Some(prefix), None) => {
                return Err(GenError::field(
                    object,
                    field,
                    format!("missing: fabric '{fabric_id}' has {prefix_field} {}", prefix.text),
                ))
            }
            (Some(prefix), Some(addr)) if !prefix.contains(addr) => {
                return Err(GenError::field(
                    object,
                    field,
                    format!("{addr} is outside {prefix_field} {} of fabric '{fabric_id}'", prefix.text),
                ))
            }
            _ => {}
        }
    }
    if fabric.protocol == Protocol::Openfabric && node.ip.is_none() && node.ip6.is_none() {
        return Err(GenError::shape(object, "an openfabric node needs ip or ip6"));
    }
    Ok(())
}

/// Parses one `name=IFACE,ip=CIDR,...` interface property string.
/// The reference's checks across fabrics: prefixes of one family don't overlap, OSPF fabrics
/// use different areas, and an interface of a node serves one fabric only.
fn check_across_fabrics(fabrics: &BTreeMap<String, Fabric>) -> Result<(), GenError> {
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
                        return Err(GenError::shape(
                            object(id),
                            format!(
                                "{family} prefix {} overlaps with {family} prefix {} of fabric '{first_id}'",
                                ours.text, theirs.text
                            ),
                        ));
                    }
                }
            }
        }
    }
    let mut areas: BTreeMap<String, &str> = BTreeMap::new();
    for (id, fabric) in fabrics {
        let Some(area) = fabric.area.as_deref().filter(|_| fabric.protocol == Protocol::Ospf) else {
            continue;
        };
        // An area is a number or a dotted quad, and 1 is 0.0.0.1.
        let key = match area.parse::<u32>() {
            Ok(number) => Ipv4Addr::from(number).to_string(),
            Err(_) => area.to_string(),
        };
        if let Some(other) = areas.insert(key, id) {
            return Err(GenError::field(
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
                    return Err(GenError::shape(
                        format!("fabric entry '{}_{}'", id.escape_debug(), node.escape_debug()),
                        format!("interface {} of node '{node}' is in fabric '{other}' too", interface.name),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn parse_interface(object: &str, text: &str) -> Result<FabricInterface, GenError> {
    let err = |reason: String| GenError::field(object, "interfaces", reason);
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
                let cidr = Cidr::parse(value)
                    .filter(|c| c.addr.is_ipv6() == (key == "ip6"))
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

impl Fabrics {
    /// Parses the `fabrics.ids` section of the running config.
    pub(crate) fn parse(ids: Option<&serde_json::Map<String, Value>>) -> Result<Self, GenError> {
        let mut fabrics = BTreeMap::new();
        let mut nodes = Vec::new();
        for (id, value) in ids.into_iter().flatten() {
            let p = Props::new(format!("fabric entry '{}'", id.escape_debug()), value)?;
            check_word(id).map_err(|r| GenError::shape(p.object(), r))?;
            let ty = p.word("type")?.unwrap_or_default();
            let Some((protocol, is_node)) = Protocol::from_type(&ty) else {
                return Err(GenError::field(
                    p.object(),
                    "type",
                    format!("unknown fabric entry type \"{ty}\" (expected openfabric_fabric, openfabric_node, ospf_fabric or ospf_node)"),
                ));
            };
            if is_node {
                let (fabric, node) = id.split_once('_').ok_or_else(|| {
                    GenError::shape(p.object(), "a node id must have the form FABRIC_NODE")
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
                GenError::shape(&object, format!("fabric '{fabric_id}' does not exist"))
            })?;
            if fabric.protocol != protocol {
                return Err(GenError::field(
                    object,
                    "type",
                    format!("the node's protocol does not match fabric '{fabric_id}'"),
                ));
            }
            check_node_addresses(&object, &fabric_id, fabric, &node)?;
            if fabric.nodes.values().any(|other| {
                (node.ip.is_some() && other.ip == node.ip)
                    || (node.ip6.is_some() && other.ip6 == node.ip6)
            }) {
                return Err(GenError::shape(
                    object,
                    format!("fabric '{fabric_id}' contains nodes with duplicated IPs"),
                ));
            }
            fabric.nodes.insert(node_id, node);
        }
        for (id, fabric) in &fabrics {
            if fabric.protocol == Protocol::Openfabric
                && fabric.ip_prefix.is_none()
                && fabric.ip6_prefix.is_none()
            {
                return Err(GenError::shape(
                    format!("fabric entry '{}'", id.escape_debug()),
                    "an openfabric fabric needs ip_prefix or ip6_prefix",
                ));
            }
        }
        check_across_fabrics(&fabrics)?;
        Ok(Fabrics { fabrics })
    }

    /// The IPv4 address of `node` in `fabric`; the error says why there is none.
    pub(crate) fn node_ip(&self, fabric_id: &str, node: &str) -> Result<Ipv4Addr, String> {
        let fabric = self
            .fabrics
            .get(fabric_id)
            .ok_or_else(|| format!("fabric '{fabric_id}' does not exist"))?;
        let entry = fabric
            .nodes
            .get(node)
            .ok_or_else(|| format!("node '{node}' is not part of fabric '{fabric_id}'"))?;
        entry
            .ip
            .ok_or_else(|| format!("Node {node} requires an IP in the fabric {fabric_id}"))
    }

    /// The IPv4 addresses of all nodes of `fabric`, ordered by node name.
    pub(crate) fn node_ips(&self, fabric_id: &str) -> Vec<Ipv4Addr> {
        self.fabrics
            .get(fabric_id)
            .map(|f| f.nodes.values().filter_map(|n| n.ip).collect())
            .unwrap_or_default()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.fabrics.is_empty()
    }

    /// The interfaces stanzas of `node`'s fabric interfaces (appended to the sdn file).
    pub(crate) fn interfaces(&self, node: &str) -> Result<String, GenError> {
        fn stanza(out: &mut String, name: &str, cidr: &str, ipv6: bool, dummy: bool) {
            let family = if ipv6 { "inet6" } else { "inet" };
            let _ = write!(
                out,
                "\nauto {name}\niface {name} {family} static\n\taddress {cidr}\n"
            );
            if dummy {
                out.push_str("\tlink-type dummy\n");
            }
            out.push_str("\tip-forward 1\n");
        }
        let mut out = String::new();
        for (fabric_id, fabric) in &self.fabrics {
            let Some(n) = fabric.nodes.get(node) else {
                continue;
            };
            let dummy = format!("dummy_{fabric_id}");
            if let Some(ip) = n.ip {
                stanza(&mut out, &dummy, &format!("{ip}/32"), false, true);
            }
            if let Some(ip6) = n.ip6 {
                stanza(&mut out, &dummy, &format!("{ip6}/128"), true, true);
            }
            for iface in &n.interfaces {
                let numbered = match fabric.protocol {
                    Protocol::Openfabric => iface.ip.is_some() || iface.ip6.is_some(),
                    Protocol::Ospf => iface.ip.is_some(),
                };
                if numbered {
                    if let Some(c) = &iface.ip {
                        stanza(&mut out, &iface.name, &c.text, false, false);
                    }
                    if let (Some(c), Protocol::Openfabric) = (&iface.ip6, fabric.protocol) {
                        stanza(&mut out, &iface.name, &c.text, true, false);
                    }
                    continue;
                }
                // Unnumbered: the node address lets ARP pick a source address.
                let ip: IpAddr = match (n.ip, n.ip6, fabric.protocol) {
                    (Some(ip), _, _) => ip.into(),
                    (None, Some(ip6), Protocol::Openfabric) => ip6.into(),
                    _ => {
                        return Err(GenError::shape(
                            format!("fabric '{fabric_id}' node '{node}'"),
                            "an unnumbered interface needs an IPv4 (or, for OpenFabric, IPv6) node address",
                        ))
                    }
                };
                let len = if ip.is_ipv6() { 128 } else { 32 };
                stanza(
                    &mut out,
                    &iface.name,
                    &format!("{ip}/{len}"),
                    ip.is_ipv6(),
                    false,
                );
            }
        }
        Ok(out)
    }

    /// Adds the FRR configuration of `node`'s fabrics (the reference's `build_fabric`).
    pub(crate) fn build_frr(&self, node: &str, frr: &mut FrrConfig) -> Result<(), GenError> {
        let mut seq = 100;
        let mut net: Option<String> = None;
        let mut ospf_router_id: Option<Ipv4Addr> = None;
        for (fabric_id, fabric) in &self.fabrics {
            let Some(n) = fabric.nodes.get(node) else {
                continue;
            };
            let object = format!("fabric '{fabric_id}' node '{node}'");
            match fabric.protocol {
                Protocol::Openfabric => {
                    if net.is_none() {
                        net = match (n.ip, n.ip6) {
                            (Some(ip), _) => Some(net_from_ipv4(ip)),
                            (None, Some(ip6)) => Some(net_from_ipv6(ip6)),
                            (None, None) => None,
                        };
                    }
                    let net = net
                        .clone()
                        .ok_or_else(|| GenError::shape(&object, "no IPv4 or IPv6 set for node"))?;
                    frr.openfabric.router.insert(fabric_id.clone(), net);
                    frr.openfabric.interfaces.insert(
                        format!("dummy_{fabric_id}"),
                        OpenfabricInterface {
                            fabric_id: fabric_id.clone(),
                            passive: true,
                            is_ipv4: n.ip.is_some(),
                            is_ipv6: n.ip6.is_some(),
                            ..Default::default()
                        },
                    );
                    for iface in &n.interfaces {
                        frr.openfabric.interfaces.insert(
                            iface.name.clone(),
                            OpenfabricInterface {
                                fabric_id: fabric_id.clone(),
                                passive: false,
                                hello_interval: fabric.hello_interval,
                                csnp_interval: fabric.csnp_interval,
                                hello_multiplier: iface.hello_multiplier,
                                is_ipv4: n.ip.is_some(),
                                is_ipv6: n.ip6.is_some(),
                            },
                        );
                    }
                    let v4_list = format!("pve_openfabric_{fabric_id}_ips");
                    let v6_list = format!("pve_openfabric_{fabric_id}_ip6s");
                    if let Some(prefix) = &fabric.ip_prefix {
                        frr.access_lists
                            .insert(v4_list.clone(), vec![permit(prefix, false)]);
                    }
                    if let Some(prefix) = &fabric.ip6_prefix {
                        frr.access_lists
                            .insert(v6_list.clone(), vec![permit(prefix, true)]);
                    }
                    if let Some(ip) = n.ip {
                        add_src_routemap(frr, "pve_openfabric", &v4_list, ip.into(), seq);
                        seq += 10;
                        frr.protocol_routemaps.entry("openfabric").or_default().v4 =
                            Some("pve_openfabric".into());
                    }
                    if let Some(ip6) = n.ip6 {
                        add_src_routemap(frr, "pve_openfabric6", &v6_list, ip6.into(), seq);
                        seq += 10;
                        frr.protocol_routemaps.entry("openfabric").or_default().v6 =
                            Some("pve_openfabric6".into());
                    }
                }
                Protocol::Ospf => {
                    let ip = n.ip.ok_or_else(|| {
                        GenError::field(&object, "ip", "an OSPF node must have an IPv4 address")
                    })?;
                    let area = fabric.area.clone().ok_or_else(|| {
                        GenError::field(
                            format!("fabric '{fabric_id}'"),
                            "area",
                            "an OSPF fabric needs an area",
                        )
                    })?;
                    let prefix = fabric.ip_prefix.as_ref().ok_or_else(|| {
                        GenError::field(
                            format!("fabric '{fabric_id}'"),
                            "ip_prefix",
                            "an OSPF fabric needs an IPv4 prefix",
                        )
                    })?;
                    let router_id = *ospf_router_id.get_or_insert(ip);
                    frr.ospf.router_id.get_or_insert(router_id);
                    frr.ospf.interfaces.insert(
                        format!("dummy_{fabric_id}"),
                        OspfInterface {
                            area: area.clone(),
                            passive: true,
                            point_to_point: false,
                        },
                    );
                    for iface in &n.interfaces {
                        frr.ospf.interfaces.insert(
                            iface.name.clone(),
                            OspfInterface {
                                area: area.clone(),
                                passive: false,
                                point_to_point: iface.ip.is_none(),
                            },
                        );
                    }
                    let list = format!("pve_ospf_{fabric_id}_ips");
                    frr.access_lists
                        .insert(list.clone(), vec![permit(prefix, false)]);
                    add_src_routemap(frr, "pve_ospf", &list, ip.into(), seq);
                    seq += 10;
                    frr.protocol_routemaps.entry("ospf").or_default().v4 = Some("pve_ospf".into());
                }
            }
        }
        Ok(())
    }
}

fn permit(prefix: &Cidr, is_ipv6: bool) -> AccessListRule {
    AccessListRule {
        action: Action::Permit,
        network: prefix.text.clone(),
        is_ipv6,
    }
}

fn add_src_routemap(frr: &mut FrrConfig, name: &str, list: &str, src: IpAddr, seq: u32) {
    let mut entry = RouteMapEntry::new(Action::Permit);
    entry.seq = seq;
    entry.matches.push(RouteMapMatch {
        ipv6: src.is_ipv6(),
        list: ListRef::AccessList(list.to_string()),
    });
    entry.sets.push(RouteMapSet::Src(src));
    frr.routemaps
        .entry(name.to_string())
        .or_default()
        .push(entry);
}

/// The IS-IS style NET derived from a node's IPv4 address (`49.0001.SYSTEM-ID.00`).
fn net_from_ipv4(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!(
        "49.0001.{:03}{:01}.{:02}{:02}.{:01}{:03}.00",
        o[0],
        o[1] / 100,
        o[1] % 100,
        o[2] / 10,
        o[2] % 10,
        o[3]
    )
}

/// The NET derived from the last three segments of a node's IPv6 address.
fn net_from_ipv6(ip: Ipv6Addr) -> String {
    let s = ip.segments();
    format!("49.0001.{:04x}.{:04x}.{:04x}.00", s[5], s[6], s[7])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn net_derivation() {
        assert_eq!(
            net_from_ipv4("172.20.3.1".parse().unwrap()),
            "49.0001.1720.2000.3001.00"
        );
        assert_eq!(
            net_from_ipv4("10.255.123.45".parse().unwrap()),
            "49.0001.0102.5512.3045.00"
        );
        assert_eq!(
            net_from_ipv6("fd00::1:2:3".parse().unwrap()),
            "49.0001.0001.0002.0003.00"
        );
    }

    #[test]
    fn parse_and_lookup() {
        let v = json!({
            "f": {"type": "ospf_fabric", "area": "0", "ip_prefix": "10.0.0.0/24"},
            "f_n1": {"type": "ospf_node", "ip": "10.0.0.1", "interfaces": ["name=eth1,ip=10.1.0.1/31", "name=eth2"]},
            "f_n2": {"type": "ospf_node", "ip": "10.0.0.2"}
        });
        let fabrics = Fabrics::parse(v.as_object()).unwrap();
        assert_eq!(
            fabrics.node_ip("f", "n1").unwrap(),
            Ipv4Addr::new(10, 0, 0, 1)
        );
        assert!(fabrics.node_ip("f", "n3").is_err());
        assert_eq!(fabrics.node_ips("f").len(), 2);
        let text = fabrics.interfaces("n1").unwrap();
        assert!(text.contains("auto eth2\niface eth2 inet static\n\taddress 10.0.0.1/32\n"));
        let mut frr = FrrConfig::default();
        fabrics.build_frr("n1", &mut frr).unwrap();
        assert!(frr.ospf.interfaces["eth2"].point_to_point);
        assert!(!frr.ospf.interfaces["eth1"].point_to_point);
    }

    #[test]
    fn prefixes_print_canonically_and_contain() {
        let c = Cidr::parse("fd77:0::1/127").unwrap();
        assert_eq!(c.text, "fd77::1/127");
        assert!(c.contains("fd77::0".parse().unwrap()));
        assert!(!c.contains("fd77::2".parse().unwrap()));
        let c = Cidr::parse("10.0.0.0/0").unwrap();
        assert!(c.contains("192.0.2.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.1/32").unwrap().contains("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn node_addresses_must_fit_the_fabric() {
        let fabric = |node: serde_json::Value| {
            let mut v = json!({"f": {"type": "openfabric_fabric", "ip_prefix": "10.0.0.0/24"}});
            v["f_n1"] = node;
            Fabrics::parse(v.as_object())
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
        assert!(Fabrics::parse(v.as_object()).is_err());
        let v = json!({"f": {"type": "openfabric_fabric"}});
        assert!(Fabrics::parse(v.as_object()).is_err());
    }

    #[test]
    fn fabrics_must_not_collide() {
        let parse = |v: serde_json::Value| Fabrics::parse(v.as_object());
        let two = |a: serde_json::Value, b: serde_json::Value| parse(json!({"a": a, "b": b}));
        let of = |prefix: &str| json!({"type": "openfabric_fabric", "ip_prefix": prefix});
        assert!(two(of("10.0.0.0/24"), of("10.0.1.0/24")).is_ok());
        let err = two(of("10.0.0.0/16"), of("10.0.1.0/24")).unwrap_err().to_string();
        assert!(err.contains("overlaps"), "{err}");
        assert!(two(of("10.0.1.0/24"), of("10.0.0.0/16")).is_err());
        let of6 = |prefix: &str| json!({"type": "openfabric_fabric", "ip6_prefix": prefix});
        assert!(two(of6("fd00::/64"), of6("fd00:0:0:0:1::/80")).is_err());
        assert!(two(of("10.0.0.0/24"), of6("fd00::/64")).is_ok());

        let ospf = |area: &str, prefix: &str| json!({"type": "ospf_fabric", "area": area, "ip_prefix": prefix});
        assert!(two(ospf("0", "10.0.0.0/24"), ospf("1", "10.0.1.0/24")).is_ok());
        let err = two(ospf("1", "10.0.0.0/24"), ospf("0.0.0.1", "10.0.1.0/24")).unwrap_err().to_string();
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
        assert!(Fabrics::parse(v.as_object()).is_err());
    }
}
