//! The one typed running configuration: what `/etc/pve/sdn/.running-config` holds, as far as
//! the node files are generated from it.
//!
//! [`RunningConfig::from_json`] reads it in one of two ways ([`Reading`]): strictly, as
//! sdn-config writes it ([`crate::Config::to_running_config`]), or leniently, in every form the
//! reference's files and hand-written test data use. Either way it is strict about meaning: a tag
//! that is not a number, a gateway that is not an IP address or a name with whitespace is an
//! error naming the object and the field. Missing required properties are not errors here: the
//! reference skips the affected vnet with a warning, and so does the generator.

mod fabric;
mod props;

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::net::{check_word, split_list, IpLiteral};
use crate::routing::{self, split_entry_id};
pub use crate::routing::{PrefixListEntry, RouteMapItem};
use props::Props;

pub(crate) use fabric::{check_fabrics, check_interface};
pub use fabric::{Fabric, FabricInterface, FabricNode, FabricProtocol};

/// Largest VXLAN network identifier (24 bit).
const MAX_VNI: u64 = 16_777_215;

/// Which value forms [`RunningConfig::from_json`] accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// The forms sdn-config writes: integers as numbers, booleans as `0`/`1` (or JSON
    /// booleans), node lists as `{"node": 1}` maps, other lists as comma separated strings.
    Strict,
    /// Also numbers as strings, strings as numbers, booleans as `"1"`/`"yes"`/`"on"` and lists as
    /// arrays: the forms of the reference's files.
    Lenient,
}

/// Why a running config cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunningConfigError {
    /// A property of an object has a value that cannot be interpreted.
    Field {
        /// The object, e.g. `zone 'myzone'`.
        object: String,
        /// The property name as it appears in the input.
        field: String,
        /// What was found and what is allowed.
        reason: String,
    },
    /// A part of the input does not have the required shape.
    Shape {
        /// The object or section, e.g. `running config section 'zones'`.
        object: String,
        /// What is wrong.
        reason: String,
    },
}

impl RunningConfigError {
    pub(crate) fn field(object: impl Into<String>, field: &str, reason: impl Into<String>) -> Self {
        RunningConfigError::Field {
            object: object.into(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn shape(object: impl Into<String>, reason: impl Into<String>) -> Self {
        RunningConfigError::Shape {
            object: object.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for RunningConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunningConfigError::Field {
                object,
                field,
                reason,
            } => write!(f, "{object}: invalid value for '{field}': {reason}"),
            RunningConfigError::Shape { object, reason } => write!(f, "{object}: {reason}"),
        }
    }
}

impl std::error::Error for RunningConfigError {}

/// The whole applied configuration, as far as node file generation needs it.
#[derive(Clone, Debug, Default)]
pub struct RunningConfig {
    /// The running version; written into the first line of the interfaces file.
    pub version: Option<u64>,
    /// `None` when the section is absent (never applied), which the reference distinguishes.
    pub zones: Option<BTreeMap<String, Zone>>,
    /// `None` when the section is absent.
    pub vnets: Option<BTreeMap<String, Vnet>>,
    /// Every subnet by id (`ZONE-NETWORK-MASK`); private so that `subnets_by_vnet` stays in
    /// step with it.
    subnets: BTreeMap<String, Subnet>,
    /// Subnet ids by vnet, each list ordered by id: generation looks subnets up per vnet.
    subnets_by_vnet: BTreeMap<String, Vec<String>>,
    /// `None` when the section is absent.
    pub controllers: Option<BTreeMap<String, Controller>>,
    /// The fabrics by id, with their nodes; empty when there are none.
    pub fabrics: BTreeMap<String, Fabric>,
    /// The route maps by name, each with its entries in order; empty when there are none.
    pub route_maps: BTreeMap<String, Vec<RouteMapEntry>>,
    /// The prefix lists by id, each with its entries in stored order.
    pub prefix_lists: BTreeMap<String, Vec<PrefixListEntry>>,
}

/// One entry of a route map.
#[derive(Clone, Debug)]
pub struct RouteMapEntry {
    /// Its sequence number in the route map.
    pub order: u32,
    /// `permit` or `deny`.
    pub action: String,
    pub matches: Vec<RouteMapItem>,
    pub sets: Vec<RouteMapItem>,
    /// The route map this entry calls.
    pub call: Option<String>,
    pub exit_action: Option<RouteMapItem>,
}

/// A zone: the properties every type shares plus the type-specific ones.
#[derive(Clone, Debug)]
pub struct Zone {
    /// Nodes the zone is limited to; `None` means every node.
    pub nodes: Option<Vec<String>>,
    /// MTU of the zone's vnet bridges.
    pub mtu: Option<u64>,
    /// The controller (id) that announces the zone.
    pub controller: Option<String>,
    /// The DHCP server of its subnets (`dnsmasq`), if any.
    pub dhcp: Option<String>,
    /// What the type of the zone adds.
    pub kind: ZoneKind,
}

/// The type of a zone with its type-specific properties.
#[derive(Clone, Debug)]
pub enum ZoneKind {
    /// `simple`: local bridges only.
    Simple,
    /// `vlan`: vnets are VLANs on a bridge.
    Vlan {
        /// The bridge the VLANs live on.
        bridge: Option<String>,
    },
    /// `qinq`: vnets are customer VLANs inside a service VLAN.
    Qinq {
        /// The bridge the VLANs live on.
        bridge: Option<String>,
        /// The service VLAN.
        tag: Option<u64>,
        /// `802.1q` or `802.1ad`.
        vlan_protocol: Option<String>,
    },
    /// `vxlan`: vnets are VXLAN tunnels to the peers.
    Vxlan {
        /// The tunnel endpoints.
        peers: Option<Vec<IpLiteral>>,
        /// The fabric (id) whose nodes are the tunnel endpoints, instead of `peers`.
        fabric: Option<String>,
        /// The UDP port of the tunnels.
        vxlan_port: Option<u64>,
    },
    /// `evpn`: VXLAN with a BGP EVPN control plane.
    Evpn(EvpnZone),
    /// A type without interfaces output (e.g. `faucet`), with its type name.
    Other(String),
}

/// The properties of an EVPN zone.
#[derive(Clone, Debug)]
pub struct EvpnZone {
    /// The VNI of the zone's VRF.
    pub vrf_vxlan: Option<u64>,
    /// Nodes that route between the zone and the outside.
    pub exitnodes: Vec<String>,
    /// The exit node preferred by the others.
    pub exitnodes_primary: Option<String>,
    /// Whether exit nodes route to the zone from their own host.
    pub exitnodes_local_routing: bool,
    /// Whether subnets are announced as prefixes (type-5 routes).
    pub advertise_subnets: bool,
    /// Whether ARP/ND suppression is off on the vnet bridges.
    pub disable_arp_nd_suppression: bool,
    /// Route targets imported into the VRF.
    pub rt_import: Vec<String>,
    /// Further EVPN controllers (ids) that announce the zone's routes (PVE 9.1).
    pub secondary_controllers: Vec<String>,
    /// The UDP port of the tunnels.
    pub vxlan_port: Option<u64>,
    /// Anycast MAC of the vnet bridges.
    pub mac: Option<String>,
}

impl Zone {
    /// Whether the zone is deployed on `node`.
    pub fn on_node(&self, node: &str) -> bool {
        self.nodes
            .as_ref()
            .is_none_or(|nodes| nodes.iter().any(|n| n == node))
    }
}

/// A vnet.
#[derive(Clone, Debug)]
pub struct Vnet {
    /// The zone (id) of the vnet.
    pub zone: Option<String>,
    /// VLAN id or VNI, depending on the zone type.
    pub tag: Option<u64>,
    /// A description, written as a comment.
    pub alias: Option<String>,
    /// Whether the vnet bridge is VLAN aware.
    pub vlanaware: bool,
    /// MAC of the vnet bridge.
    pub mac: Option<String>,
}

/// A subnet of a vnet.
#[derive(Clone, Debug)]
pub struct Subnet {
    /// The zone named in the subnet id (`ZONE-NETWORK-MASK`).
    pub zone: String,
    /// The network address as written in the id.
    pub network: IpLiteral,
    /// The prefix length from the id.
    pub mask: u8,
    /// The vnet (id) the subnet belongs to.
    pub vnet: Option<String>,
    /// The gateway address, as written.
    pub gateway: Option<IpLiteral>,
    /// Whether traffic leaving the subnet is source-NATed.
    pub snat: bool,
}

impl Subnet {
    /// `NETWORK/MASK`, as the reference builds it from the id.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.network, self.mask)
    }
}

/// A controller with its type-specific properties.
#[derive(Clone, Debug)]
pub enum Controller {
    /// `evpn`: the BGP EVPN sessions between the nodes.
    Evpn {
        /// The AS number.
        asn: Option<u32>,
        /// The BGP peers.
        peers: Option<Vec<IpLiteral>>,
        /// The fabric (id) whose nodes are the peers, instead of `peers`.
        fabric: Option<String>,
        /// The newer options (PVE 9.1).
        options: EvpnOptions,
    },
    /// `bgp`: a node's BGP sessions to the underlay.
    Bgp(BgpController),
    /// `isis`: a node's IS-IS underlay.
    Isis(IsisController),
    /// A controller type without FRR output (e.g. `faucet`).
    Other,
}

/// The EVPN controller options PVE 9.1 added.
#[derive(Clone, Debug, Default)]
pub struct EvpnOptions {
    /// The nodes the controller is configured on; `None` means every node.
    pub nodes: Option<Vec<String>>,
    /// The peer group's name, when not the default `VTEP`.
    pub peer_group_name: Option<String>,
    /// `auto` (also when unset), `external` or `internal`.
    pub bgp_mode: Option<String>,
    /// The TTL of multihop eBGP sessions (with `bgp-mode` `external`).
    pub ebgp_multihop: Option<u64>,
    /// The route map the routes from the peers go through.
    pub route_map_in: Option<String>,
    /// The route map the routes to the peers go through.
    pub route_map_out: Option<String>,
}

/// The properties of a `bgp` controller.
#[derive(Clone, Debug)]
pub struct BgpController {
    /// The node the controller belongs to.
    pub node: Option<String>,
    /// The AS number.
    pub asn: Option<u32>,
    /// The BGP peers.
    pub peers: Vec<IpLiteral>,
    /// Whether the sessions are external BGP.
    pub ebgp: bool,
    /// The TTL of multihop eBGP sessions.
    pub ebgp_multihop: Option<u64>,
    /// The interface whose address is the router-id and source.
    pub loopback: Option<String>,
    /// Whether multipath may mix AS paths.
    pub multipath_relax: bool,
    /// The route map the routes from the peers go through.
    pub route_map_in: Option<String>,
    /// The route map the routes to the peers go through.
    pub route_map_out: Option<String>,
}

/// The properties of an `isis` controller.
#[derive(Clone, Debug)]
pub struct IsisController {
    /// The node the controller belongs to.
    pub node: Option<String>,
    /// The IS-IS domain (FRR's router name).
    pub domain: Option<String>,
    /// The network entity title.
    pub net: Option<String>,
    /// The interfaces IS-IS runs on.
    pub ifaces: Vec<String>,
    /// The interface whose address is announced.
    pub loopback: Option<String>,
}

impl RunningConfig {
    /// Reads the JSON of `.running-config`.
    ///
    /// The fabrics section is always read leniently: sdn-config carries it through as it was
    /// read, so it may be in the reference's forms even in a config sdn-config wrote.
    pub fn from_json(value: &Value, reading: Reading) -> Result<Self, RunningConfigError> {
        let root = match value {
            Value::Object(map) => map,
            _ => {
                return Err(RunningConfigError::shape(
                    "running config",
                    "must be a JSON object",
                ))
            }
        };
        let version = match root.get("version") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.is_u64() => n.as_u64(),
            Some(Value::String(s)) if reading == Reading::Lenient && is_decimal_u64(s) => {
                s.parse().ok()
            }
            Some(other) => {
                return Err(RunningConfigError::field(
                    "running config",
                    "version",
                    format!("expected a non-negative integer, got {other}"),
                ))
            }
        };
        let subnets: BTreeMap<String, Subnet> =
            section(root, "subnets", "subnet", reading, parse_subnet)?.unwrap_or_default();
        let mut subnets_by_vnet: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, subnet) in &subnets {
            if let Some(vnet) = &subnet.vnet {
                subnets_by_vnet
                    .entry(vnet.clone())
                    .or_default()
                    .push(id.clone());
            }
        }
        let zones = section(root, "zones", "zone", reading, parse_zone)?;
        let vnets = section(root, "vnets", "vnet", reading, parse_vnet)?;
        let controllers = section(root, "controllers", "controller", reading, parse_controller)?;
        let fabrics = match ids(root, "fabrics")? {
            Some(ids) => fabric::parse(ids)?,
            None => BTreeMap::new(),
        };
        let route_maps = match ids(root, "route-maps")? {
            Some(ids) => parse_route_maps(ids, reading)?,
            None => BTreeMap::new(),
        };
        let prefix_lists = match ids(root, "prefix-lists")? {
            Some(ids) => parse_prefix_lists(ids, reading)?,
            None => BTreeMap::new(),
        };
        Ok(RunningConfig {
            version,
            zones,
            vnets,
            subnets,
            subnets_by_vnet,
            controllers,
            fabrics,
            route_maps,
            prefix_lists,
        })
    }

    /// Reads `.running-config` text (see [`RunningConfig::from_json`]).
    pub fn from_slice(bytes: &[u8], reading: Reading) -> Result<Self, RunningConfigError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|err| {
            RunningConfigError::shape("running config", format!("is not valid JSON: {err}"))
        })?;
        RunningConfig::from_json(&value, reading)
    }

    /// Every subnet by id (`ZONE-NETWORK-MASK`).
    pub fn subnets(&self) -> &BTreeMap<String, Subnet> {
        &self.subnets
    }

    /// The subnets of `vnet`, ordered by subnet id.
    pub fn vnet_subnets<'s>(&'s self, vnet: &'s str) -> impl Iterator<Item = &'s Subnet> {
        self.subnets_by_vnet
            .get(vnet)
            .into_iter()
            .flatten()
            .filter_map(|id| self.subnets.get(id))
    }
}

/// Digits only, within `u64`.
fn is_decimal_u64(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u64>().is_ok()
}

/// The `ids` map of a section, `None` if the section is absent.
fn ids<'a>(
    root: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<&'a serde_json::Map<String, Value>>, RunningConfigError> {
    let object = format!("running config section '{name}'");
    match root.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(section)) => match section.get("ids") {
            None | Some(Value::Null) => Ok(Some(empty_map())),
            Some(Value::Object(ids)) => Ok(Some(ids)),
            Some(_) => Err(RunningConfigError::shape(object, "'ids' must be an object")),
        },
        Some(_) => Err(RunningConfigError::shape(
            object,
            "must be an object with 'ids'",
        )),
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
    reading: Reading,
    parse: fn(&str, &Props) -> Result<T, RunningConfigError>,
) -> Result<Option<BTreeMap<String, T>>, RunningConfigError> {
    let Some(ids) = ids(root, name)? else {
        return Ok(None);
    };
    let mut out = BTreeMap::new();
    for (id, value) in ids {
        let props = Props::new(format!("{label} '{}'", id.escape_debug()), value, reading)?;
        check_word(id)
            .map_err(|reason| RunningConfigError::shape(props.object().to_string(), reason))?;
        out.insert(id.clone(), parse(id, &props)?);
    }
    Ok(Some(out))
}

fn ip_list(p: &Props, field: &str) -> Result<Option<Vec<IpLiteral>>, RunningConfigError> {
    let Some(items) = p.list(field)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|item| {
            IpLiteral::parse(item).map_err(|_| {
                p.err(
                    field,
                    format!("\"{item}\" is not an IP address (expected a list of IP addresses)"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|v| if v.is_empty() { None } else { Some(v) })
}

fn asn(p: &Props) -> Result<Option<u32>, RunningConfigError> {
    Ok(p.uint("asn", u64::from(u32::MAX))?
        .and_then(|v| u32::try_from(v).ok()))
}

fn parse_zone(_id: &str, p: &Props) -> Result<Zone, RunningConfigError> {
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
            // An array, as sdn-config and the reference write it (or a list in one string);
            // each item is split like every other list, as the configuration model reads it.
            secondary_controllers: p
                .list_raw("secondary-controllers")?
                .iter()
                .flat_map(|item| split_list(item))
                .map(|id| {
                    check_word(id).map_err(|reason| p.err("secondary-controllers", reason))?;
                    Ok(id.to_string())
                })
                .collect::<Result<_, RunningConfigError>>()?,
            vxlan_port: p.uint("vxlan-port", 65535)?,
            mac: p.word("mac")?,
        }),
        _ => ZoneKind::Other(ty),
    };
    Ok(Zone {
        nodes: p.list("nodes")?,
        mtu: p.uint("mtu", 65535)?,
        controller: p.word("controller")?,
        dhcp: p.word("dhcp")?,
        kind,
    })
}

fn parse_vnet(_id: &str, p: &Props) -> Result<Vnet, RunningConfigError> {
    Ok(Vnet {
        zone: p.word("zone")?,
        tag: p.uint("tag", MAX_VNI + 1)?,
        alias: p.line("alias")?,
        vlanaware: p.flag("vlanaware")?,
        mac: p.word("mac")?,
    })
}

fn parse_subnet(id: &str, p: &Props) -> Result<Subnet, RunningConfigError> {
    let bad_id = || {
        RunningConfigError::shape(
            p.object(),
            "the id must have the form ZONE-NETWORK-PREFIXLENGTH (e.g. myzone-10.0.0.0-24)",
        )
    };
    let mut parts = id.split('-');
    let (Some(zone), Some(network), Some(mask)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad_id());
    };
    let network = IpLiteral::parse(network).map_err(|_| bad_id())?;
    let max = if network.is_ipv6() { 128 } else { 32 };
    let mask: u8 = mask.parse().ok().filter(|m| *m <= max).ok_or_else(bad_id)?;
    let gateway = match p.word("gateway")? {
        None => None,
        Some(text) => Some(
            IpLiteral::parse(&text)
                .map_err(|_| p.err("gateway", format!("\"{text}\" is not an IP address")))?,
        ),
    };
    Ok(Subnet {
        zone: zone.to_string(),
        network,
        mask,
        vnet: p.word("vnet")?,
        gateway,
        snat: p.flag("snat")?,
    })
}

fn parse_controller(_id: &str, p: &Props) -> Result<Controller, RunningConfigError> {
    let ty = p.word("type")?.unwrap_or_default();
    Ok(match ty.as_str() {
        "evpn" => Controller::Evpn {
            asn: asn(p)?,
            peers: ip_list(p, "peers")?,
            fabric: p.word("fabric")?,
            options: EvpnOptions {
                nodes: p.list("nodes")?,
                peer_group_name: p.word("peer-group-name")?,
                bgp_mode: p.word("bgp-mode")?,
                ebgp_multihop: p.uint("ebgp-multihop", 255)?,
                route_map_in: route_map_name(p, "route-map-in")?,
                route_map_out: route_map_name(p, "route-map-out")?,
            },
        },
        "bgp" => Controller::Bgp(BgpController {
            node: p.word("node")?,
            asn: asn(p)?,
            peers: ip_list(p, "peers")?.unwrap_or_default(),
            ebgp: p.flag("ebgp")?,
            ebgp_multihop: p.uint("ebgp-multihop", 255)?,
            loopback: p.word("loopback")?,
            multipath_relax: p.flag("bgp-multipath-as-path-relax")?,
            route_map_in: route_map_name(p, "route-map-in")?,
            route_map_out: route_map_name(p, "route-map-out")?,
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

fn route_map_name(p: &Props, field: &str) -> Result<Option<String>, RunningConfigError> {
    let Some(name) = p.word(field)? else {
        return Ok(None);
    };
    routing::check_route_map_id(&name).map_err(|reason| p.err(field, reason))?;
    Ok(Some(name))
}

fn parse_route_maps(
    ids: &serde_json::Map<String, Value>,
    reading: Reading,
) -> Result<BTreeMap<String, Vec<RouteMapEntry>>, RunningConfigError> {
    let mut out: BTreeMap<String, Vec<RouteMapEntry>> = BTreeMap::new();
    for (id, value) in ids {
        let p = Props::new(format!("route map entry '{}'", id.escape_debug()), value, reading)?;
        let (name, order) =
            split_entry_id(id).map_err(|reason| RunningConfigError::shape(p.object(), reason))?;
        let items = |field: &str, parse: fn(&str) -> Result<RouteMapItem, String>| {
            p.list_raw(field)?
                .iter()
                .map(|s| parse(s).map_err(|reason| p.err(field, reason)))
                .collect::<Result<Vec<_>, _>>()
        };
        let action = match p.word("action")?.as_deref() {
            Some(a @ ("permit" | "deny")) => a.to_string(),
            other => {
                return Err(p.err(
                    "action",
                    format!("expected permit or deny, got {}", other.unwrap_or("nothing")),
                ))
            }
        };
        let exit_action = match p.line("exit-action")? {
            Some(s) => Some(routing::parse_exit_action(&s).map_err(|r| p.err("exit-action", r))?),
            None => None,
        };
        let entry = RouteMapEntry {
            order,
            action,
            matches: items("match", routing::parse_match)?,
            sets: items("set", routing::parse_set)?,
            call: route_map_name(&p, "call")?,
            exit_action,
        };
        let entries = out.entry(name.to_string()).or_default();
        let at = entries.partition_point(|e| e.order <= order);
        entries.insert(at, entry);
    }
    Ok(out)
}

fn parse_prefix_lists(
    ids: &serde_json::Map<String, Value>,
    reading: Reading,
) -> Result<BTreeMap<String, Vec<PrefixListEntry>>, RunningConfigError> {
    let mut out = BTreeMap::new();
    for (id, value) in ids {
        let p = Props::new(format!("prefix list '{}'", id.escape_debug()), value, reading)?;
        routing::check_prefix_list_id(id)
            .map_err(|reason| RunningConfigError::shape(p.object(), reason))?;
        let entries = p
            .list_raw("entries")?
            .iter()
            .map(|s| routing::parse_prefix_entry(s).map_err(|reason| p.err("entries", reason)))
            .collect::<Result<Vec<_>, _>>()?;
        out.insert(id.clone(), entries);
    }
    Ok(out)
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
        let cfg = RunningConfig::from_json(&v, Reading::Lenient).unwrap();
        assert_eq!(cfg.version, Some(3));
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
        let err = RunningConfig::from_json(&v, Reading::Lenient)
            .unwrap_err()
            .to_string();
        assert!(err.contains("vnet 'v1'") && err.contains("'tag'"), "{err}");

        let v = json!({"subnets": {"ids": {"z-10.0.0.0-24": {"gateway": "10.0.0.300"}}}});
        let err = RunningConfig::from_json(&v, Reading::Lenient)
            .unwrap_err()
            .to_string();
        assert!(err.contains("gateway"), "{err}");

        let v = json!({"subnets": {"ids": {"z-10.0.0.0": {}}}});
        assert!(RunningConfig::from_json(&v, Reading::Lenient).is_err());

        let v = json!({"zones": {"ids": {"bad id": {"type": "simple"}}}});
        assert!(RunningConfig::from_json(&v, Reading::Lenient).is_err());
    }
}
