//! The FRR configuration: a typed tree (the structure of proxmox-frr's `FrrConfig`), filled by
//! the controllers, the fabrics and the merge of `frr.conf.local`, and rendered once by
//! [`render`].
//!
//! Maps are keyed by the rendered name: the reference serializes its tree into a template
//! engine whose maps iterate in key order, so every section comes out sorted by name.

pub(crate) mod controllers;
pub(crate) mod local;
mod render;
pub(crate) mod routing;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

pub(crate) use render::render;

/// The key of the default BGP instance in [`Bgp::vrf_router`].
pub(crate) const DEFAULT_VRF: &str = "default";

#[derive(Debug, Default)]
pub(crate) struct FrrConfig {
    pub(crate) bgp: Bgp,
    pub(crate) isis: Isis,
    pub(crate) openfabric: Openfabric,
    pub(crate) ospf: Ospf,
    pub(crate) ip_routes: Vec<IpRoute>,
    /// Keyed by protocol name (`bgp`, `openfabric`, `ospf`).
    pub(crate) protocol_routemaps: BTreeMap<&'static str, ProtocolRouteMap>,
    pub(crate) routemaps: BTreeMap<String, Vec<RouteMapEntry>>,
    pub(crate) access_lists: BTreeMap<String, Vec<AccessListRule>>,
    pub(crate) prefix_lists: BTreeMap<String, Vec<PrefixListRule>>,
    /// Verbatim lines, rendered after the prefix lists.
    pub(crate) custom_frr_config: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Bgp {
    /// BGP instances by VRF name; [`DEFAULT_VRF`] is the default instance.
    pub(crate) vrf_router: BTreeMap<String, BgpRouter>,
    pub(crate) vrfs: BTreeMap<String, Vrf>,
    /// `bgp extcommunity-list` by name.
    pub(crate) ext_community_lists: BTreeMap<String, ExtCommunityList>,
}

/// A `bgp extcommunity-list`: `expanded` entries are regular expressions, `standard` ones
/// `rt VALUE`.
#[derive(Debug)]
pub(crate) struct ExtCommunityList {
    pub(crate) expanded: bool,
    pub(crate) entries: Vec<(Action, String)>,
}

#[derive(Debug, Default)]
pub(crate) struct Vrf {
    pub(crate) vni: Option<u64>,
    pub(crate) ip_routes: Vec<IpRoute>,
    pub(crate) custom_frr_config: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct BgpRouter {
    pub(crate) asn: u32,
    pub(crate) router_id: Ipv4Addr,
    pub(crate) coalesce_time: Option<u32>,
    pub(crate) default_ipv4_unicast: Option<bool>,
    pub(crate) hard_administrative_reset: Option<bool>,
    pub(crate) graceful_restart_notification: Option<bool>,
    pub(crate) disable_ebgp_connected_route_check: bool,
    pub(crate) bestpath_as_path_multipath_relax: bool,
    pub(crate) neighbor_groups: Vec<NeighborGroup>,
    pub(crate) address_families: AddressFamilies,
    pub(crate) custom_frr_config: Vec<String>,
}

impl BgpRouter {
    pub(crate) fn new(asn: u32, router_id: Ipv4Addr) -> Self {
        BgpRouter {
            asn,
            router_id,
            coalesce_time: None,
            default_ipv4_unicast: None,
            hard_administrative_reset: None,
            graceful_restart_notification: None,
            disable_ebgp_connected_route_check: false,
            bestpath_as_path_multipath_relax: false,
            neighbor_groups: Vec::new(),
            address_families: AddressFamilies::default(),
            custom_frr_config: Vec::new(),
        }
    }
}

#[derive(Debug)]
pub(crate) enum RemoteAs {
    External,
    Asn(u32),
}

impl fmt::Display for RemoteAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteAs::External => f.write_str("external"),
            RemoteAs::Asn(asn) => write!(f, "{asn}"),
        }
    }
}

#[derive(Debug)]
pub(crate) struct NeighborGroup {
    pub(crate) name: String,
    pub(crate) bfd: bool,
    pub(crate) remote_as: RemoteAs,
    pub(crate) local_as: Option<LocalAs>,
    pub(crate) ips: Vec<IpAddr>,
    pub(crate) ebgp_multihop: Option<u64>,
    pub(crate) update_source: Option<String>,
}

/// `neighbor GROUP local-as ASN MODE`.
#[derive(Debug)]
pub(crate) struct LocalAs {
    pub(crate) asn: u32,
    pub(crate) mode: &'static str,
}

#[derive(Debug, Default)]
pub(crate) struct AddressFamilies {
    pub(crate) ipv4_unicast: Option<UnicastAf>,
    pub(crate) ipv6_unicast: Option<UnicastAf>,
    pub(crate) l2vpn_evpn: Option<L2vpnEvpnAf>,
}

/// What every address family has.
#[derive(Debug, Default)]
pub(crate) struct AfCommon {
    pub(crate) import_vrf: Vec<String>,
    pub(crate) neighbors: Vec<AfNeighbor>,
    pub(crate) custom_frr_config: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct AfNeighbor {
    pub(crate) name: String,
    pub(crate) soft_reconfiguration_inbound: bool,
    pub(crate) route_map_in: Option<String>,
    pub(crate) route_map_out: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct UnicastAf {
    pub(crate) common: AfCommon,
    /// Prefixes announced with `network`.
    pub(crate) networks: Vec<String>,
    /// Protocols redistributed (only `connected` is generated).
    pub(crate) redistribute: Vec<&'static str>,
}

#[derive(Debug, Default)]
pub(crate) struct L2vpnEvpnAf {
    pub(crate) common: AfCommon,
    pub(crate) advertise_all_vni: bool,
    pub(crate) autort_as: Option<u32>,
    pub(crate) default_originate: Vec<&'static str>,
    pub(crate) advertise_ipv4_unicast: bool,
    pub(crate) advertise_ipv6_unicast: bool,
    pub(crate) route_targets: Option<RouteTargets>,
}

#[derive(Debug, Default)]
pub(crate) struct RouteTargets {
    pub(crate) import: Vec<String>,
    pub(crate) export: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Isis {
    pub(crate) router: BTreeMap<String, IsisRouter>,
    pub(crate) interfaces: BTreeMap<String, IsisInterface>,
}

#[derive(Debug)]
pub(crate) struct IsisRouter {
    pub(crate) net: String,
    pub(crate) log_adjacency_changes: bool,
    /// IS-IS levels for redistributing connected IPv4 and IPv6 routes.
    pub(crate) redistribute_connected: Option<(&'static str, &'static str)>,
    pub(crate) custom_frr_config: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct IsisInterface {
    pub(crate) domain: String,
    pub(crate) is_ipv4: bool,
    pub(crate) is_ipv6: bool,
    pub(crate) custom_frr_config: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Openfabric {
    /// Routers by fabric id, with their NET.
    pub(crate) router: BTreeMap<String, String>,
    pub(crate) interfaces: BTreeMap<String, OpenfabricInterface>,
}

#[derive(Debug, Default)]
pub(crate) struct OpenfabricInterface {
    pub(crate) fabric_id: String,
    pub(crate) passive: bool,
    pub(crate) hello_interval: Option<u64>,
    pub(crate) csnp_interval: Option<u64>,
    pub(crate) hello_multiplier: Option<u64>,
    pub(crate) is_ipv4: bool,
    pub(crate) is_ipv6: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Ospf {
    pub(crate) router_id: Option<Ipv4Addr>,
    pub(crate) interfaces: BTreeMap<String, OspfInterface>,
}

#[derive(Debug, Default)]
pub(crate) struct OspfInterface {
    pub(crate) area: String,
    pub(crate) passive: bool,
    pub(crate) point_to_point: bool,
}

#[derive(Debug)]
pub(crate) struct IpRoute {
    pub(crate) is_ipv6: bool,
    pub(crate) prefix: String,
    /// A next-hop address or an interface (`null0`).
    pub(crate) via: String,
    pub(crate) vrf: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct ProtocolRouteMap {
    pub(crate) v4: Option<String>,
    pub(crate) v6: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Permit,
    Deny,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Permit => "permit",
            Action::Deny => "deny",
        })
    }
}

#[derive(Debug)]
pub(crate) struct RouteMapEntry {
    pub(crate) seq: u32,
    pub(crate) action: Action,
    pub(crate) matches: Vec<KeyValue>,
    pub(crate) sets: Vec<KeyValue>,
    pub(crate) call: Option<String>,
    pub(crate) exit_action: Option<KeyValue>,
}

impl RouteMapEntry {
    pub(crate) fn new(action: Action) -> Self {
        RouteMapEntry {
            seq: 1,
            action,
            matches: Vec::new(),
            sets: Vec::new(),
            call: None,
            exit_action: None,
        }
    }
}

/// One `match`, `set` or exit action of a route map entry, as proxmox-frr's templates render
/// them: FRR's words (`ip address prefix-list`) and an optional value.
#[derive(Debug)]
pub(crate) struct KeyValue {
    pub(crate) key: String,
    pub(crate) value: Option<String>,
}

impl KeyValue {
    pub(crate) fn new(key: impl Into<String>, value: impl ToString) -> Self {
        KeyValue {
            key: key.into(),
            value: Some(value.to_string()),
        }
    }
}

impl From<&sdn_config::running::RouteMapItem> for KeyValue {
    fn from(item: &sdn_config::running::RouteMapItem) -> Self {
        KeyValue {
            key: item.frr.to_string(),
            value: item.value.clone(),
        }
    }
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)?;
        match &self.value {
            Some(v) => write!(f, " {v}"),
            None => Ok(()),
        }
    }
}

#[derive(Debug)]
pub(crate) struct AccessListRule {
    pub(crate) action: Action,
    pub(crate) network: String,
    pub(crate) is_ipv6: bool,
}

#[derive(Debug)]
pub(crate) struct PrefixListRule {
    pub(crate) seq: Option<u32>,
    pub(crate) action: Action,
    pub(crate) network: String,
    pub(crate) le: Option<u32>,
    pub(crate) ge: Option<u32>,
    pub(crate) is_ipv6: bool,
}
