//! The property schema of every object type, transcribed from the reference's plugins, and the
//! id formats of every kind.

use crate::kind::Kind;

/// How a property's value is checked and represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropType {
    /// An integer within an inclusive range.
    Int { min: i64, max: i64 },
    /// A boolean, written `0`/`1`.
    Bool,
    /// One of a fixed set of strings.
    Enum(&'static [&'static str]),
    /// Free text without control characters, at most `max` characters.
    Text { max: usize },
    /// The id of another object of the given kind.
    Ref(Kind),
    /// A bridge or loopback interface name.
    Bridge,
    /// A VNet alias (the reference's `[\(\)-_.\w\d\s]{0,256}`).
    Alias,
    /// One cluster node name.
    Node,
    /// A list of node names (`a,b` or `["a","b"]`; `{"a":1}` in the running config).
    NodeList,
    /// One IP address.
    Ip,
    /// A list of IP addresses.
    IpList,
    /// A unicast MAC address.
    Mac,
    /// A DNS name.
    DnsName,
    /// A list of BGP route targets `ASN:NN`.
    RouteTargetList,
    /// An SDN fabric id.
    FabricId,
    /// A list of interface names.
    IfaceList,
    /// An IS-IS network entity title.
    IsisNet,
    /// A SHA-256 certificate fingerprint.
    Fingerprint,
    /// Repeated `start-address=IP,end-address=IP` ranges.
    DhcpRanges,
    /// An IP prefix (`ADDRESS/LENGTH`, host bits allowed as in the reference) of one family.
    Prefix { v6: bool },
    /// One IP address of one family.
    Addr { v6: bool },
    /// An OSPF area: a 32-bit number or a dotted quad.
    OspfArea,
    /// A fabric node's interfaces: property strings `name=IFACE,...`, one per interface, kept
    /// as given and in order; the keys allowed depend on the protocol.
    FabricInterfaces { ospf: bool },
    /// A list of property strings of a route map entry or a prefix list, one per line in the
    /// section file, kept as given and in order (see [`crate::routing`]).
    PropStrings(PropStrings),
    /// A route map entry's `exit-action` property string.
    ExitAction,
    /// The name of a route map (not an entry id).
    RouteMapName,
    /// PVE's `pve-configid`: `[a-zA-Z][a-zA-Z0-9_-]*`, at most 64 characters.
    ConfigId,
    /// A list of controller ids (an array in the running config, one line per item in the
    /// section file).
    ControllerList,
}

/// Which property strings a [`PropType::PropStrings`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropStrings {
    /// A route map entry's `match` (`key=..,value=..`).
    Match,
    /// A route map entry's `set` (`key=..,value=..`).
    Set,
    /// A prefix list's `entries` (`action=..,prefix=..[,le=..][,ge=..][,seq=..]`).
    PrefixEntries,
}

impl PropType {
    /// Whether values of this type are lists (rendered comma-separated).
    pub fn is_list(self) -> bool {
        matches!(
            self,
            PropType::NodeList
                | PropType::IpList
                | PropType::RouteTargetList
                | PropType::IfaceList
                | PropType::ControllerList
        )
    }
}

/// One property of one object type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PropDef {
    pub name: &'static str,
    pub ty: PropType,
    pub required: bool,
}

/// One object type (`zone` type `evpn`, `vnet`, `subnet`, controller `bgp`, ...).
#[derive(Debug, PartialEq, Eq)]
pub struct TypeDef {
    pub kind: Kind,
    pub name: &'static str,
    pub props: &'static [PropDef],
}

impl TypeDef {
    pub fn prop(&self, name: &str) -> Option<&'static PropDef> {
        self.props.iter().find(|p| p.name == name)
    }
}

const fn opt(name: &'static str, ty: PropType) -> PropDef {
    PropDef {
        name,
        ty,
        required: false,
    }
}

const fn req(name: &'static str, ty: PropType) -> PropDef {
    PropDef {
        name,
        ty,
        required: true,
    }
}

/// VLAN tags and VNIs share one range in the vnet schema; zone types narrow it.
pub const MAX_VNI: i64 = 16_777_215;
/// The largest VLAN tag the reference accepts on vlan/qinq vnets.
pub const MAX_VLAN_TAG: i64 = 4096;

const MTU: PropDef = opt("mtu", PropType::Int { min: 1, max: 65535 });
const NODES: PropDef = opt("nodes", PropType::NodeList);
const IPAM: PropDef = opt("ipam", PropType::Ref(Kind::Ipams));
const DNS: PropDef = opt("dns", PropType::Ref(Kind::Dns));
const REVERSEDNS: PropDef = opt("reversedns", PropType::Ref(Kind::Dns));
const DNSZONE: PropDef = opt("dnszone", PropType::DnsName);
const BRIDGE: PropDef = req("bridge", PropType::Bridge);
const NO_MAC_LEARNING: PropDef = opt("bridge-disable-mac-learning", PropType::Bool);
// The reference allows 65536; a UDP port cannot be, so sdnd stops at 65535.
const VXLAN_PORT: PropDef = opt("vxlan-port", PropType::Int { min: 1, max: 65535 });
const FINGERPRINT: PropDef = opt("fingerprint", PropType::Fingerprint);
const URL: PropDef = req("url", PropType::Text { max: 2048 });
const LOOPBACK: PropDef = opt("loopback", PropType::Bridge);
const ROUTE_MAP_IN: PropDef = opt("route-map-in", PropType::RouteMapName);
const ROUTE_MAP_OUT: PropDef = opt("route-map-out", PropType::RouteMapName);
const CTRL_NODE: PropDef = req("node", PropType::Node);
const ASN: PropDef = req(
    "asn",
    PropType::Int {
        min: 0,
        max: 4_294_967_295,
    },
);

static ZONE_TYPES: [TypeDef; 5] = [
    TypeDef {
        kind: Kind::Zones,
        name: "evpn",
        props: &[
            req("controller", PropType::Ref(Kind::Controllers)),
            req(
                "vrf-vxlan",
                PropType::Int {
                    min: 1,
                    max: MAX_VNI,
                },
            ),
            opt("advertise-subnets", PropType::Bool),
            NO_MAC_LEARNING,
            opt("disable-arp-nd-suppression", PropType::Bool),
            DNS,
            DNSZONE,
            opt("exitnodes", PropType::NodeList),
            opt("exitnodes-local-routing", PropType::Bool),
            opt("exitnodes-primary", PropType::Node),
            IPAM,
            opt("mac", PropType::Mac),
            MTU,
            NODES,
            REVERSEDNS,
            opt("rt-import", PropType::RouteTargetList),
            opt("secondary-controllers", PropType::ControllerList),
            VXLAN_PORT,
        ],
    },
    TypeDef {
        kind: Kind::Zones,
        name: "qinq",
        props: &[
            BRIDGE,
            req(
                "tag",
                PropType::Int {
                    min: 0,
                    max: MAX_VLAN_TAG,
                },
            ),
            NO_MAC_LEARNING,
            DNS,
            DNSZONE,
            IPAM,
            MTU,
            NODES,
            REVERSEDNS,
            opt("vlan-protocol", PropType::Enum(&["802.1q", "802.1ad"])),
        ],
    },
    TypeDef {
        kind: Kind::Zones,
        name: "simple",
        props: &[
            opt("dhcp", PropType::Enum(&["dnsmasq"])),
            DNS,
            DNSZONE,
            IPAM,
            MTU,
            NODES,
            REVERSEDNS,
        ],
    },
    TypeDef {
        kind: Kind::Zones,
        name: "vlan",
        props: &[
            BRIDGE,
            NO_MAC_LEARNING,
            DNS,
            DNSZONE,
            IPAM,
            MTU,
            NODES,
            REVERSEDNS,
        ],
    },
    TypeDef {
        kind: Kind::Zones,
        name: "vxlan",
        props: &[
            DNS,
            DNSZONE,
            opt("fabric", PropType::FabricId),
            IPAM,
            MTU,
            NODES,
            opt("peers", PropType::IpList),
            REVERSEDNS,
            VXLAN_PORT,
        ],
    },
];

static VNET_TYPES: [TypeDef; 1] = [TypeDef {
    kind: Kind::Vnets,
    name: "vnet",
    props: &[
        req("zone", PropType::Ref(Kind::Zones)),
        opt("alias", PropType::Alias),
        opt("isolate-ports", PropType::Bool),
        opt(
            "tag",
            PropType::Int {
                min: 1,
                max: MAX_VNI,
            },
        ),
        opt("vlanaware", PropType::Bool),
    ],
}];

static SUBNET_TYPES: [TypeDef; 1] = [TypeDef {
    kind: Kind::Subnets,
    name: "subnet",
    props: &[
        req("vnet", PropType::Ref(Kind::Vnets)),
        opt("dhcp-dns-server", PropType::Ip),
        opt("dhcp-range", PropType::DhcpRanges),
        opt("dnszoneprefix", PropType::DnsName),
        opt("gateway", PropType::Ip),
        opt("snat", PropType::Bool),
    ],
}];

static CONTROLLER_TYPES: [TypeDef; 3] = [
    TypeDef {
        kind: Kind::Controllers,
        name: "bgp",
        props: &[
            ASN,
            CTRL_NODE,
            req("peers", PropType::IpList),
            opt("bgp-multipath-as-path-relax", PropType::Bool),
            opt("ebgp", PropType::Bool),
            opt("ebgp-multihop", PropType::Int { min: 1, max: 255 }),
            LOOPBACK,
            ROUTE_MAP_IN,
            ROUTE_MAP_OUT,
        ],
    },
    TypeDef {
        kind: Kind::Controllers,
        name: "evpn",
        props: &[
            ASN,
            opt("bgp-mode", PropType::Enum(&["auto", "external", "internal"])),
            opt("ebgp-multihop", PropType::Int { min: 1, max: 255 }),
            opt("fabric", PropType::FabricId),
            NODES,
            opt("peer-group-name", PropType::ConfigId),
            opt("peers", PropType::IpList),
            ROUTE_MAP_IN,
            ROUTE_MAP_OUT,
        ],
    },
    TypeDef {
        kind: Kind::Controllers,
        name: "isis",
        props: &[
            req("isis-domain", PropType::Text { max: 256 }),
            req("isis-ifaces", PropType::IfaceList),
            req("isis-net", PropType::IsisNet),
            CTRL_NODE,
            LOOPBACK,
        ],
    },
];

static IPAM_TYPES: [TypeDef; 3] = [
    TypeDef {
        kind: Kind::Ipams,
        name: "netbox",
        props: &[req("token", PropType::Text { max: 4096 }), URL, FINGERPRINT],
    },
    TypeDef {
        kind: Kind::Ipams,
        name: "phpipam",
        props: &[
            req(
                "section",
                PropType::Int {
                    min: 0,
                    max: i32::MAX as i64,
                },
            ),
            req("token", PropType::Text { max: 4096 }),
            URL,
            FINGERPRINT,
        ],
    },
    TypeDef {
        kind: Kind::Ipams,
        name: "pve",
        props: &[],
    },
];

static DNS_TYPES: [TypeDef; 1] = [TypeDef {
    kind: Kind::Dns,
    name: "powerdns",
    props: &[
        req("key", PropType::Text { max: 4096 }),
        URL,
        FINGERPRINT,
        opt("reversemaskv6", PropType::Int { min: 0, max: 128 }),
        opt(
            "ttl",
            PropType::Int {
                min: 0,
                max: i32::MAX as i64,
            },
        ),
    ],
}];

const FABRIC_PREFIX: PropDef = opt("ip_prefix", PropType::Prefix { v6: false });
const FABRIC_PREFIX6: PropDef = opt("ip6_prefix", PropType::Prefix { v6: true });
const NODE_IP: PropDef = opt("ip", PropType::Addr { v6: false });
const NODE_IP6: PropDef = opt("ip6", PropType::Addr { v6: true });
const FABRIC_INTERVAL: PropType = PropType::Int { min: 1, max: 600 };

/// Fabrics and fabric nodes, as PVE 9 (proxmox-ve-config) defines them. Which of `ip` and
/// `ip_prefix` a node or fabric needs is a rule across the fabric (see `running::fabric`).
static FABRIC_TYPES: [TypeDef; 4] = [
    TypeDef {
        kind: Kind::Fabrics,
        name: "openfabric_fabric",
        props: &[
            opt("csnp_interval", FABRIC_INTERVAL),
            opt("hello_interval", FABRIC_INTERVAL),
            FABRIC_PREFIX6,
            FABRIC_PREFIX,
        ],
    },
    TypeDef {
        kind: Kind::Fabrics,
        name: "openfabric_node",
        props: &[
            opt("interfaces", PropType::FabricInterfaces { ospf: false }),
            NODE_IP,
            NODE_IP6,
        ],
    },
    TypeDef {
        kind: Kind::Fabrics,
        name: "ospf_fabric",
        props: &[req("area", PropType::OspfArea), FABRIC_PREFIX],
    },
    TypeDef {
        kind: Kind::Fabrics,
        name: "ospf_node",
        props: &[
            opt("interfaces", PropType::FabricInterfaces { ospf: true }),
            NODE_IP,
        ],
    },
];

/// The fabric protocols of the API (`protocol`), each with its fabric and node type names.
pub const FABRIC_PROTOCOLS: [(&str, &str, &str); 2] = [
    ("openfabric", "openfabric_fabric", "openfabric_node"),
    ("ospf", "ospf_fabric", "ospf_node"),
];

/// A route map entry (`route-map-entry: MAP_ORDER` in `route-maps.cfg`).
static ROUTE_MAP_TYPES: [TypeDef; 1] = [TypeDef {
    kind: Kind::RouteMaps,
    name: "route-map-entry",
    props: &[
        req("action", PropType::Enum(&["permit", "deny"])),
        opt("call", PropType::RouteMapName),
        opt("exit-action", PropType::ExitAction),
        opt("match", PropType::PropStrings(PropStrings::Match)),
        opt("set", PropType::PropStrings(PropStrings::Set)),
    ],
}];

/// A prefix list (`prefix-list: ID` in `prefix-lists.cfg`).
static PREFIX_LIST_TYPES: [TypeDef; 1] = [TypeDef {
    kind: Kind::PrefixLists,
    name: "prefix-list",
    props: &[opt(
        "entries",
        PropType::PropStrings(PropStrings::PrefixEntries),
    )],
}];

/// The fabric protocols PVE 9.1 has that sdnd does not implement yet (proxmox-ve-config's
/// `bgp_fabric`/`bgp_node` and `wireguard_fabric`/`wireguard_node`): refused by name, never
/// accepted silently.
pub const UNSUPPORTED_FABRIC_PROTOCOLS: [&str; 2] = ["bgp", "wireguard"];

/// The message for a fabric protocol of [`UNSUPPORTED_FABRIC_PROTOCOLS`].
pub fn unsupported_fabric_protocol(protocol: &str) -> String {
    let supported: Vec<&str> = FABRIC_PROTOCOLS.iter().map(|(p, _, _)| *p).collect();
    format!(
        "fabric protocol '{protocol}' is not supported by sdnd (supported: {})",
        supported.join(", ")
    )
}

/// Every type of a kind, sorted by name.
pub fn types(kind: Kind) -> &'static [TypeDef] {
    match kind {
        Kind::Zones => &ZONE_TYPES,
        Kind::Vnets => &VNET_TYPES,
        Kind::Subnets => &SUBNET_TYPES,
        Kind::Controllers => &CONTROLLER_TYPES,
        Kind::Ipams => &IPAM_TYPES,
        Kind::Dns => &DNS_TYPES,
        Kind::Fabrics => &FABRIC_TYPES,
        Kind::RouteMaps => &ROUTE_MAP_TYPES,
        Kind::PrefixLists => &PREFIX_LIST_TYPES,
    }
}

/// The type called `name` within `kind`.
pub fn type_def(kind: Kind, name: &str) -> Option<&'static TypeDef> {
    types(kind).iter().find(|t| t.name == name)
}

/// The message the reference gives for a value outside an enumeration.
pub(crate) fn enum_message(value: &str, allowed: &[&str]) -> String {
    format!(
        "value '{}' does not have a value in the enumeration '{}'",
        crate::net::shorten(value),
        allowed.join(", ")
    )
}

/// Checks an object id of `kind` (subnets: see [`crate::SubnetId`]; fabrics:
/// `[a-zA-Z0-9][a-zA-Z0-9-]{0,6}[a-zA-Z0-9]`, fabric nodes `FABRIC_NODE`).
///
/// zone, vnet: `[a-zA-Z][a-zA-Z0-9]*[a-zA-Z0-9]`, 2-8 characters; controller:
/// `[a-zA-Z][a-zA-Z0-9_-]*[a-zA-Z0-9]`, 2-64; ipam, dns: `[a-zA-Z][a-zA-Z0-9]*[a-zA-Z0-9]`,
/// at least 2 (the reference sets no maximum; sdnd refuses more than 64).
pub fn check_id(kind: Kind, id: &str) -> Result<(), String> {
    if kind == Kind::Subnets {
        return crate::object::SubnetId::parse(id).map(|_| ());
    }
    if kind == Kind::RouteMaps {
        return crate::routing::split_entry_id(id).map(|_| ());
    }
    if kind == Kind::PrefixLists {
        return crate::routing::check_prefix_list_id(id);
    }
    if kind == Kind::Fabrics {
        // `FABRIC` or, for a node, `FABRIC_NODE`.
        let (fabric, node) = match id.split_once('_') {
            Some((fabric, node)) => (fabric, Some(node)),
            None => (id, None),
        };
        crate::net::check_fabric_id(fabric)?;
        return node.map_or(Ok(()), crate::net::check_node_name);
    }
    let (max, extra, pattern): (usize, &[u8], &str) = match kind {
        Kind::Zones | Kind::Vnets => (8, b"", "[a-zA-Z][a-zA-Z0-9]*[a-zA-Z0-9]"),
        Kind::Controllers => (64, b"_-", "[a-zA-Z][a-zA-Z0-9_-]*[a-zA-Z0-9]"),
        _ => (64, b"", "[a-zA-Z][a-zA-Z0-9]*[a-zA-Z0-9]"),
    };
    let b = id.as_bytes();
    if b.len() > max {
        return Err(format!("value may only be {max} characters long"));
    }
    if b.len() < 2 {
        return Err("value must be at least 2 characters long".into());
    }
    let ok = b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("value does not match the regex pattern {pattern}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for kind in Kind::ALL {
            let ts = types(kind);
            assert!(ts.windows(2).all(|w| w[0].name < w[1].name), "{kind}");
            for t in ts {
                assert_eq!(t.kind, kind);
                let mut names: Vec<_> = t.props.iter().map(|p| p.name).collect();
                names.sort();
                names.dedup();
                assert_eq!(names.len(), t.props.len(), "{}", t.name);
            }
        }
        assert!(type_def(Kind::Zones, "faucet").is_none());
        assert!(
            type_def(Kind::Zones, "evpn")
                .unwrap()
                .prop("controller")
                .unwrap()
                .required
        );
    }

    #[test]
    fn ids() {
        assert!(check_id(Kind::Zones, "myzone").is_ok());
        assert!(check_id(Kind::Zones, "z")
            .unwrap_err()
            .contains("at least 2"));
        assert!(check_id(Kind::Zones, "zone12345")
            .unwrap_err()
            .contains("8 characters"));
        assert!(check_id(Kind::Vnets, "1vnet").is_err());
        assert!(check_id(Kind::Vnets, "vnet-1").is_err());
        assert!(check_id(Kind::Controllers, "my-ctrl_1").is_ok());
        assert!(check_id(Kind::Controllers, "my-ctrl-").is_err());
        assert!(check_id(Kind::Ipams, "pve").is_ok());
        assert!(check_id(Kind::Ipams, "my-ipam").is_err());
        assert!(check_id(Kind::Dns, &"d".repeat(65)).is_err());
        assert!(check_id(Kind::Subnets, "myzone-10.0.0.0-24").is_ok());
        assert!(check_id(Kind::Subnets, "myzone-10.0.0.0/24").is_err());
    }
}
