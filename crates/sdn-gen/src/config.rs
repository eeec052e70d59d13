//! The running config, parsed into the typed inputs of the generator.
//!
//! Only what generation reads is kept. Parsing is lenient about value forms (see
//! [`crate::lenient`]) and strict about meaning: a tag that is not a number, a gateway that is
//! not an IP address or a name with whitespace is an error naming the object and the field.
//! Missing required properties are not errors here: the reference skips the affected vnet with
//! a warning, and so does the generator.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde_json::Value;

use crate::error::GenError;
use crate::lenient::{check_word, Props};

/// Largest VXLAN network identifier (24 bit).
const MAX_VNI: u64 = 16_777_215;

/// An IP address together with the text it was written as.
///
/// The reference prints addresses exactly as configured, so the text is kept for output while
/// the parsed address is used for every decision (IPv4 or IPv6, comparisons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ip {
    pub(crate) addr: IpAddr,
    text: String,
}

impl Ip {
    pub(crate) fn parse(text: &str) -> Option<Ip> {
        text.parse().ok().map(|addr| Ip {
            addr,
            text: text.to_string(),
        })
    }

    pub(crate) fn from_addr(addr: IpAddr) -> Ip {
        Ip {
            addr,
            text: addr.to_string(),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }
}

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The whole applied configuration, as far as node file generation needs it.
#[derive(Debug, Default)]
pub(crate) struct RunningConfig<'a> {
    /// Written into the first line of the interfaces file.
    pub(crate) version: Option<String>,
    /// `None` when the section is absent (never applied), which the reference distinguishes.
    pub(crate) zones: Option<BTreeMap<String, Zone>>,
    pub(crate) vnets: Option<BTreeMap<String, Vnet>>,
    pub(crate) subnets: BTreeMap<String, Subnet>,
    /// Subnet ids by vnet, each list ordered by id: generation looks subnets up per vnet.
    subnets_by_vnet: BTreeMap<String, Vec<String>>,
    pub(crate) controllers: Option<BTreeMap<String, Controller>>,
    /// The raw `fabrics.ids` section; interpreted by [`crate::fabrics`].
    pub(crate) fabrics: Option<&'a serde_json::Map<String, Value>>,
}

/// A zone: the properties every type shares plus the type-specific ones.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    /// Nodes the zone is limited to; `None` means every node.
    pub(crate) nodes: Option<Vec<String>>,
    pub(crate) mtu: Option<u64>,
    pub(crate) controller: Option<String>,
    pub(crate) kind: ZoneKind,
}

#[derive(Debug, Clone)]
pub(crate) enum ZoneKind {
    Simple,
    Vlan {
        bridge: Option<String>,
    },
    Qinq {
        bridge: Option<String>,
        /// The service VLAN.
        tag: Option<u64>,
        vlan_protocol: Option<String>,
    },
    Vxlan {
        peers: Option<Vec<Ip>>,
        fabric: Option<String>,
        vxlan_port: Option<u64>,
    },
    Evpn(EvpnZone),
    /// A type this generator has no interfaces output for (e.g. `faucet`).
    Other(String),
}

#[derive(Debug, Clone)]
pub(crate) struct EvpnZone {
    pub(crate) vrf_vxlan: Option<u64>,
    pub(crate) exitnodes: Vec<String>,
    pub(crate) exitnodes_primary: Option<String>,
    pub(crate) exitnodes_local_routing: bool,
    pub(crate) advertise_subnets: bool,
    pub(crate) disable_arp_nd_suppression: bool,
    pub(crate) rt_import: Vec<String>,
    pub(crate) vxlan_port: Option<u64>,
    /// Anycast MAC of the vnet bridges.
    pub(crate) mac: Option<String>,
}

impl Zone {
    /// Whether the zone is deployed on `node`.
    pub(crate) fn on_node(&self, node: &str) -> bool {
        self.nodes
            .as_ref()
            .is_none_or(|nodes| nodes.iter().any(|n| n == node))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Vnet {
    pub(crate) zone: Option<String>,
    /// VLAN id or VNI, depending on the zone type.
    pub(crate) tag: Option<u64>,
    pub(crate) alias: Option<String>,
    pub(crate) vlanaware: bool,
    pub(crate) mac: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Subnet {
    /// The zone named in the subnet id (`ZONE-NETWORK-MASK`).
    pub(crate) zone: String,
    pub(crate) network: IpAddr,
    /// The network address as written in the id.
    pub(crate) network_text: String,
    pub(crate) mask: u8,
    pub(crate) vnet: Option<String>,
    pub(crate) gateway: Option<Ip>,
    pub(crate) snat: bool,
}

impl Subnet {
    /// `NETWORK/MASK`, as the reference builds it from the id.
    pub(crate) fn cidr(&self) -> String {
        format!("{}/{}", self.network_text, self.mask)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Controller {
    Evpn {
        asn: Option<u32>,
        peers: Option<Vec<Ip>>,
        fabric: Option<String>,
    },
    Bgp(BgpController),
    Isis(IsisController),
    /// A controller type without FRR output here (e.g. `faucet`).
    Other,
}

#[derive(Debug, Clone)]
pub(crate) struct BgpController {
    pub(crate) node: Option<String>,
    pub(crate) asn: Option<u32>,
    pub(crate) peers: Vec<Ip>,
    pub(crate) ebgp: bool,
    pub(crate) ebgp_multihop: Option<u64>,
    pub(crate) loopback: Option<String>,
    pub(crate) multipath_relax: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct IsisController {
    pub(crate) node: Option<String>,
    pub(crate) domain: Option<String>,
    pub(crate) net: Option<String>,
    pub(crate) ifaces: Vec<String>,
    pub(crate) loopback: Option<String>,
}

impl<'a> RunningConfig<'a> {
    /// Parses the JSON of `.running-config`.
    pub(crate) fn parse(value: &'a Value) -> Result<Self, GenError> {
        let root = match value {
            Value::Object(map) => map,
            _ => return Err(GenError::shape("running config", "must be a JSON object")),
        };
        let version = match root.get("version") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.is_u64() => Some(n.to_string()),
            Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Some(s.clone())
            }
            Some(other) => {
                return Err(GenError::field(
                    "running config",
                    "version",
                    format!("expected a non-negative integer, got {other}"),
                ))
            }
        };
        let subnets: BTreeMap<String, Subnet> =
            section(root, "subnets", "subnet", parse_subnet)?.unwrap_or_default();
        let mut subnets_by_vnet: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, subnet) in &subnets {
            if let Some(vnet) = &subnet.vnet {
                subnets_by_vnet
                    .entry(vnet.clone())
                    .or_default()
                    .push(id.clone());
            }
        }
        Ok(RunningConfig {
            version,
            zones: section(root, "zones", "zone", parse_zone)?,
            vnets: section(root, "vnets", "vnet", parse_vnet)?,
            subnets,
            subnets_by_vnet,
            controllers: section(root, "controllers", "controller", parse_controller)?,
            fabrics: ids(root, "fabrics")?,
        })
    }

    /// The subnets of `vnet`, ordered by subnet id.
    pub(crate) fn vnet_subnets<'s>(&'s self, vnet: &'s str) -> impl Iterator<Item = &'s Subnet> {
        self.subnets_by_vnet
            .get(vnet)
            .into_iter()
            .flatten()
            .filter_map(|id| self.subnets.get(id))
    }
}

/// The `ids` map of a section, `None` if the section is absent.
fn ids<'a>(
    root: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<&'a serde_json::Map<String, Value>>, GenError> {
    let object = format!("running config section '{name}'");
    match root.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(section)) => match section.get("ids") {
            None | Some(Value::Null) => Ok(Some(empty_map())),
            Some(Value::Object(ids)) => Ok(Some(ids)),
            Some(_) => Err(GenError::shape(object, "'ids' must be an object")),
        },
        Some(_) => Err(GenError::shape(object, "must be an object with 'ids'")),
    }
}

fn empty_map() -> &'static serde_json::Map<String, Value> {
    static EMPTY: std::sync::OnceLock<serde_json::Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(serde_json::Map::new)
}

fn section<T>(
    root: &serde_json::Map<String, Value>,
    name: &str,
    label: &str,
    parse: fn(&str, &Props) -> Result<T, GenError>,
) -> Result<Option<BTreeMap<String, T>>, GenError> {
    let Some(ids) = ids(root, name)? else {
        return Ok(None);
    };
    let mut out = BTreeMap::new();
    for (id, value) in ids {
        let props = Props::new(format!("{label} '{}'", id.escape_debug()), value)?;
        check_word(id).map_err(|reason| GenError::shape(props.object().to_string(), reason))?;
        out.insert(id.clone(), parse(id, &props)?);
    }
    Ok(Some(out))
}

fn ip_list(p: &Props, field: &str) -> Result<Option<Vec<Ip>>, GenError> {
    let Some(items) = p.list(field)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|item| {
            Ip::parse(item).ok_or_else(|| {
                GenError::field(
                    p.object(),
                    field,
                    format!("\"{item}\" is not an IP address (expected a list of IP addresses)"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|v| if v.is_empty() { None } else { Some(v) })
}

fn asn(p: &Props) -> Result<Option<u32>, GenError> {
    Ok(p.uint("asn", u64::from(u32::MAX))?
        .and_then(|v| u32::try_from(v).ok()))
}

fn parse_zone(_id: &str, p: &Props) -> Result<Zone, GenError> {
    let ty = p.word("type")?.unwrap_or_default();
    let kind = match ty.as_str() {
        "simple" => ZoneKind::Simple,
        "vlan" => ZoneKind::Vlan {
            bridge: p.word("bridge")?,
        },
        "qinq" => ZoneKind::Qinq {
            bridge: p.word("bridge")?,
            tag: p.uint("tag", 4094)?,
            vlan_protocol: p.word("vlan-protocol")?,
        },
        "vxlan" => ZoneKind::Vxlan {
            peers: ip_list(p, "peers")?,
            fabric: p.word("fabric")?,
            vxlan_port: p.uint("vxlan-port", 65535)?,
        },
        "evpn" => ZoneKind::Evpn(EvpnZone {
            vrf_vxlan: p.uint("vrf-vxlan", MAX_VNI)?,
            exitnodes: p.list("exitnodes")?.unwrap_or_default(),
            exitnodes_primary: p.word("exitnodes-primary")?,
            exitnodes_local_routing: p.flag("exitnodes-local-routing")?,
            advertise_subnets: p.flag("advertise-subnets")?,
            disable_arp_nd_suppression: p.flag("disable-arp-nd-suppression")?,
            rt_import: p.list("rt-import")?.unwrap_or_default(),
            vxlan_port: p.uint("vxlan-port", 65535)?,
            mac: p.word("mac")?,
        }),
        _ => ZoneKind::Other(ty),
    };
    Ok(Zone {
        nodes: p.list("nodes")?,
        mtu: p.uint("mtu", 65535)?,
        controller: p.word("controller")?,
        kind,
    })
}

fn parse_vnet(_id: &str, p: &Props) -> Result<Vnet, GenError> {
    Ok(Vnet {
        zone: p.word("zone")?,
        tag: p.uint("tag", MAX_VNI + 1)?,
        alias: p.line("alias")?,
        vlanaware: p.flag("vlanaware")?,
        mac: p.word("mac")?,
    })
}

fn parse_subnet(id: &str, p: &Props) -> Result<Subnet, GenError> {
    let bad_id = || {
        GenError::shape(
            p.object(),
            "the id must have the form ZONE-NETWORK-PREFIXLENGTH (e.g. myzone-10.0.0.0-24)",
        )
    };
    let mut parts = id.split('-');
    let (Some(zone), Some(network_text), Some(mask)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_id());
    };
    let network: IpAddr = network_text.parse().map_err(|_| bad_id())?;
    let max = if network.is_ipv6() { 128 } else { 32 };
    let mask: u8 = mask.parse().ok().filter(|m| *m <= max).ok_or_else(bad_id)?;
    let gateway = match p.word("gateway")? {
        None => None,
        Some(text) => Some(Ip::parse(&text).ok_or_else(|| {
            GenError::field(
                p.object(),
                "gateway",
                format!("\"{text}\" is not an IP address"),
            )
        })?),
    };
    Ok(Subnet {
        zone: zone.to_string(),
        network,
        network_text: network_text.to_string(),
        mask,
        vnet: p.word("vnet")?,
        gateway,
        snat: p.flag("snat")?,
    })
}

fn parse_controller(_id: &str, p: &Props) -> Result<Controller, GenError> {
    let ty = p.word("type")?.unwrap_or_default();
    Ok(match ty.as_str() {
        "evpn" => Controller::Evpn {
            asn: asn(p)?,
            peers: ip_list(p, "peers")?,
            fabric: p.word("fabric")?,
        },
        "bgp" => Controller::Bgp(BgpController {
            node: p.word("node")?,
            asn: asn(p)?,
            peers: ip_list(p, "peers")?.unwrap_or_default(),
            ebgp: p.flag("ebgp")?,
            ebgp_multihop: p.uint("ebgp-multihop", 255)?,
            loopback: p.word("loopback")?,
            multipath_relax: p.flag("bgp-multipath-as-path-relax")?,
        }),
        "isis" => Controller::Isis(IsisController {
            node: p.word("node")?,
            domain: p.word("isis-domain")?,
            net: p.word("isis-net")?,
            ifaces: p.list("isis-ifaces")?.unwrap_or_default(),
            loopback: p.word("loopback")?,
        }),
        _ => Controller::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_lenient_forms() {
        let v = json!({
            "version": "3",
            "zones": {"ids": {"z1": {"type": "evpn", "vrf-vxlan": "1000", "exitnodes": {"n1": 1},
                                      "nodes": "n1,n2", "rt-import": "65000:1,65000:2"}}},
            "vnets": {"ids": {"v1": {"zone": "z1", "tag": 100, "vlanaware": "1"}}},
            "subnets": {"ids": {"z1-10.0.0.0-24": {"vnet": "v1", "gateway": "10.0.0.1", "snat": 1}}},
            "controllers": {"ids": {"c": {"type": "evpn", "asn": "65000", "peers": ["10.0.0.1", "10.0.0.2"]}}}
        });
        let cfg = RunningConfig::parse(&v).unwrap();
        assert_eq!(cfg.version.as_deref(), Some("3"));
        let zone = &cfg.zones.as_ref().unwrap()["z1"];
        assert!(zone.on_node("n2") && !zone.on_node("n3"));
        let ZoneKind::Evpn(evpn) = &zone.kind else {
            panic!("not evpn")
        };
        assert_eq!(evpn.vrf_vxlan, Some(1000));
        assert_eq!(evpn.exitnodes, vec!["n1"]);
        assert_eq!(evpn.rt_import.len(), 2);
        let vnet = &cfg.vnets.as_ref().unwrap()["v1"];
        assert!(vnet.vlanaware && vnet.tag == Some(100));
        let subnet = &cfg.subnets["z1-10.0.0.0-24"];
        assert_eq!(
            (subnet.zone.as_str(), subnet.cidr().as_str()),
            ("z1", "10.0.0.0/24")
        );
        assert!(subnet.snat);
        let Controller::Evpn { asn, peers, .. } = &cfg.controllers.as_ref().unwrap()["c"] else {
            panic!("not evpn")
        };
        assert_eq!(*asn, Some(65000));
        assert_eq!(peers.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn errors_name_object_and_field() {
        let v = json!({"vnets": {"ids": {"v1": {"zone": "z", "tag": "ten"}}}});
        let err = RunningConfig::parse(&v).unwrap_err().to_string();
        assert!(err.contains("vnet 'v1'") && err.contains("'tag'"), "{err}");

        let v = json!({"subnets": {"ids": {"z-10.0.0.0-24": {"gateway": "10.0.0.300"}}}});
        let err = RunningConfig::parse(&v).unwrap_err().to_string();
        assert!(err.contains("gateway"), "{err}");

        let v = json!({"subnets": {"ids": {"z-10.0.0.0": {}}}});
        assert!(RunningConfig::parse(&v).is_err());

        let v = json!({"zones": {"ids": {"bad id": {"type": "simple"}}}});
        assert!(RunningConfig::parse(&v).is_err());
    }
}
