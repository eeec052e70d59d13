//! SDN fabrics (OpenFabric and OSPF underlays): their interfaces stanzas and FRR config.
//!
//! The fabrics arrive parsed and checked ([`sdn_config::running::Fabric`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sdn_config::running::{Fabric, FabricProtocol as Protocol};
use sdn_config::Cidr;

use crate::error::GenError;
use crate::frr::{
    AccessListRule, Action, FrrConfig, KeyValue, OpenfabricInterface, OspfInterface, RouteMapEntry,
};

/// The fabrics of the running config, with the lookups and outputs generation needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fabrics<'a> {
    fabrics: &'a BTreeMap<String, Fabric>,
}

impl<'a> Fabrics<'a> {
    pub(crate) fn new(fabrics: &'a BTreeMap<String, Fabric>) -> Self {
        Fabrics { fabrics }
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
        for (fabric_id, fabric) in self.fabrics {
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
                        stanza(&mut out, &iface.name, &c.to_string(), false, false);
                    }
                    if let (Some(c), Protocol::Openfabric) = (&iface.ip6, fabric.protocol) {
                        stanza(&mut out, &iface.name, &c.to_string(), true, false);
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
        for (fabric_id, fabric) in self.fabrics {
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
        network: prefix.to_string(),
        is_ipv6,
    }
}

fn add_src_routemap(frr: &mut FrrConfig, name: &str, list: &str, src: IpAddr, seq: u32) {
    let mut entry = RouteMapEntry::new(Action::Permit);
    entry.seq = seq;
    let family = if src.is_ipv6() { "ipv6" } else { "ip" };
    entry
        .matches
        .push(KeyValue::new(format!("{family} address"), list));
    entry.sets.push(KeyValue::new("src", src));
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
    use sdn_config::{Reading, RunningConfig};
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
        let running =
            RunningConfig::from_json(&json!({"fabrics": {"ids": v}}), Reading::Lenient).unwrap();
        let fabrics = Fabrics::new(&running.fabrics);
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
}
