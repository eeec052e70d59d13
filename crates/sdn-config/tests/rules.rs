//! Property checks of every type and every cross-object rule, through plan_create/update/delete.

mod common;

use common::*;
use sdn_config::{Config, ConfigError, Kind, DIGEST_MISMATCH};
use serde_json::json;

const NOT_IN_SCHEMA: &str =
    "property is not defined in schema and the schema does not allow additional properties";
const MISSING: &str = "property is missing and it is not optional";

#[test]
fn zone_properties_per_type() {
    let mut c = base();
    create(
        &mut c,
        Kind::Fabrics,
        json!({"id": "fab1", "type": "openfabric_fabric", "ip_prefix": "10.99.0.0/24"}),
    );
    // Every optional property of every zone type is accepted.
    let ok = [
        json!({"zone": "s2", "type": "simple", "dhcp": "dnsmasq", "mtu": "1450", "nodes": "pve1,pve2", "dns": "pdns", "reversedns": "pdns", "dnszone": "example.com", "ipam": "pve"}),
        json!({"zone": "v2", "type": "vlan", "bridge": "vmbr1", "bridge-disable-mac-learning": "1", "mtu": 9000, "nodes": ["pve1"]}),
        json!({"zone": "q2", "type": "qinq", "bridge": "vmbr1", "tag": "20", "vlan-protocol": "802.1ad", "bridge-disable-mac-learning": true}),
        json!({"zone": "x2", "type": "vxlan", "fabric": "fab1", "vxlan-port": 4790}),
        json!({"zone": "e2", "type": "evpn", "controller": "evpnctl", "vrf-vxlan": "1001", "exitnodes": "pve1,pve2", "exitnodes-local-routing": 1,
               "exitnodes-primary": "pve1", "advertise-subnets": "1", "disable-arp-nd-suppression": "0", "bridge-disable-mac-learning": "1",
               "rt-import": "65000:1,65001:2", "vxlan-port": "4789", "mac": "BC:24:11:00:00:01", "mtu": 1450}),
    ];
    for p in ok {
        c.plan_create(Kind::Zones, &params(p.clone()))
            .unwrap_or_else(|e| panic!("{p}: {e}"));
    }
    // Properties of other types are refused as unknown.
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "s3", "type": "simple", "bridge": "vmbr0"})),
    );
    assert_eq!(field_err(r, "bridge"), NOT_IN_SCHEMA);
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "v3", "type": "vlan", "bridge": "vmbr0", "dhcp": "dnsmasq"})),
    );
    assert_eq!(field_err(r, "dhcp"), NOT_IN_SCHEMA);
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "v3", "type": "vlan", "bridge": "vmbr0", "foo": "1"})),
    );
    assert_eq!(field_err(r, "foo"), NOT_IN_SCHEMA);
    // Required properties.
    let r = c.plan_create(Kind::Zones, &params(json!({"zone": "v3", "type": "vlan"})));
    assert_eq!(field_err(r, "bridge"), MISSING);
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "q3", "type": "qinq", "bridge": "vmbr0"})),
    );
    assert_eq!(field_err(r, "tag"), MISSING);
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "e3", "type": "evpn", "vrf-vxlan": 5})),
    );
    assert_eq!(field_err(r, "controller"), MISSING);
    let r = c.plan_create(Kind::Zones, &params(json!({"zone": "e3"})));
    assert_eq!(field_err(r, "type"), MISSING);
    let r = c.plan_create(Kind::Zones, &params(json!({"type": "simple"})));
    assert_eq!(field_err(r, "zone"), MISSING);
    // Type checks.
    let bad = [
        (json!({"zone": "s3", "type": "simple", "mtu": "big"}), "mtu"),
        (
            json!({"zone": "s3", "type": "simple", "dhcp": "kea"}),
            "dhcp",
        ),
        (
            json!({"zone": "s3", "type": "simple", "nodes": "pve_1"}),
            "nodes",
        ),
        (
            json!({"zone": "s3", "type": "simple", "dnszone": "bad zone"}),
            "dnszone",
        ),
        (
            json!({"zone": "q3", "type": "qinq", "bridge": "vmbr0", "tag": 10, "vlan-protocol": "802.1x"}),
            "vlan-protocol",
        ),
        (
            json!({"zone": "v3", "type": "vlan", "bridge": "vmbr0", "bridge-disable-mac-learning": "2"}),
            "bridge-disable-mac-learning",
        ),
        (
            json!({"zone": "x3", "type": "vxlan", "peers": "10.0.0.300"}),
            "peers",
        ),
        (
            json!({"zone": "x3", "type": "vxlan", "peers": "10.0.0.3", "vxlan-port": 70000}),
            "vxlan-port",
        ),
        (
            json!({"zone": "e3", "type": "evpn", "controller": "evpnctl", "vrf-vxlan": 16777216}),
            "vrf-vxlan",
        ),
        (
            json!({"zone": "e3", "type": "evpn", "controller": "evpnctl", "vrf-vxlan": 5, "mac": "01:00:00:00:00:01"}),
            "mac",
        ),
        (
            json!({"zone": "e3", "type": "evpn", "controller": "evpnctl", "vrf-vxlan": 5, "rt-import": "65000"}),
            "rt-import",
        ),
        (
            json!({"zone": "e3", "type": "evpn", "controller": "evpnctl", "vrf-vxlan": 5, "exitnodes-primary": "a,b"}),
            "exitnodes-primary",
        ),
        (
            json!({"zone": "e3", "type": "evpn", "controller": "evpnctl", "vrf-vxlan": 5, "advertise-subnets": "yesplease"}),
            "advertise-subnets",
        ),
        (json!({"zone": "s-3", "type": "simple"}), "zone"),
        (json!({"zone": "s", "type": "simple"}), "zone"),
        (json!({"zone": "zonezone9", "type": "simple"}), "zone"),
        (json!({"zone": "s3", "type": "faucet"}), "type"),
    ];
    for (p, field) in bad {
        let r = c.plan_create(Kind::Zones, &params(p.clone()));
        assert!(
            matches!(r, Err(ConfigError::Invalid(ref e)) if e.get(field).is_some()),
            "{p}: {r:?}"
        );
    }
}

#[test]
fn zone_references() {
    let c = base();
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "s3", "type": "simple", "ipam": "nope"})),
    );
    assert!(field_err(r, "ipam").contains("does not exist"));
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "s3", "type": "simple", "dns": "nope"})),
    );
    assert!(field_err(r, "dns").contains("does not exist"));
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "s3", "type": "simple", "reversedns": "nope"})),
    );
    assert!(field_err(r, "reversedns").contains("does not exist"));
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "s3", "type": "simple", "dnszone": "example.com"})),
    );
    assert_eq!(field_err(r, "dnszone"), "missing dns server");
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "e3", "type": "evpn", "controller": "nope", "vrf-vxlan": 5})),
    );
    assert!(field_err(r, "controller").contains("does not exist"));
    // vrf-vxlan unique.
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "e3", "type": "evpn", "controller": "evpnctl", "vrf-vxlan": 1000})),
    );
    assert!(field_err(r, "vrf-vxlan").contains("evpn1"));
    // vxlan: exactly one of peers / fabric.
    let r = c.plan_create(Kind::Zones, &params(json!({"zone": "x3", "type": "vxlan"})));
    assert!(field_err(r, "peers").contains("exactly one"));
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "x3", "type": "vxlan", "peers": "10.0.0.1", "fabric": "f1"})),
    );
    assert!(field_err(r, "fabric").contains("exactly one"));
    // Evpn controller must be an evpn controller.
    let mut c = c;
    create(
        &mut c,
        Kind::Controllers,
        json!({"controller": "bgp1", "type": "bgp", "node": "pve1", "asn": 65001, "peers": "10.1.1.1"}),
    );
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "e3", "type": "evpn", "controller": "bgp1", "vrf-vxlan": 5})),
    );
    assert!(field_err(r, "controller").contains("not an evpn controller"));
    // Duplicate id.
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "simple1", "type": "simple"})),
    );
    assert!(conflict(r).contains("already defined"));
}

#[test]
fn evpn_zone_gets_a_stable_anycast_mac() {
    let c = base();
    let z = c.get(Kind::Zones, "evpn1").unwrap();
    let mac = z.get_str("mac").unwrap();
    assert!(mac.starts_with("BC:24:11:"), "{mac}");
    assert!(sdn_config::net::check_mac(mac).is_ok());
    assert_eq!(
        base().get(Kind::Zones, "evpn1").unwrap().get_str("mac"),
        Some(mac)
    );
    let explicit = c
        .plan_create(Kind::Zones, &params(json!({"zone": "e9", "type": "evpn", "controller": "evpnctl", "vrf-vxlan": 9, "mac": "A2:1D:CB:1A:C0:8B"})))
        .unwrap();
    assert_eq!(
        explicit.object.unwrap().get_str("mac"),
        Some("A2:1D:CB:1A:C0:8B")
    );
}

#[test]
fn vnet_tags_per_zone_type() {
    let mut c = base();
    // simple: no tag.
    create(
        &mut c,
        Kind::Vnets,
        json!({"vnet": "s1", "zone": "simple1", "alias": "web (prod)", "isolate-ports": 1}),
    );
    let r = c.plan_create(
        Kind::Vnets,
        &params(json!({"vnet": "s2", "zone": "simple1", "tag": 5})),
    );
    assert_eq!(
        field_err(r, "tag"),
        "vlan tag is not allowed on simple zone"
    );
    // vlan: tag required, <= 4096, unique within the zone.
    let r = c.plan_create(Kind::Vnets, &params(json!({"vnet": "v1", "zone": "vlan1"})));
    assert_eq!(field_err(r, "tag"), "missing vlan tag");
    let r = c.plan_create(
        Kind::Vnets,
        &params(json!({"vnet": "v1", "zone": "vlan1", "tag": 4097})),
    );
    assert!(field_err(r, "tag").contains("4096"));
    create(
        &mut c,
        Kind::Vnets,
        json!({"vnet": "v1", "zone": "vlan1", "tag": "100", "vlanaware": "1"}),
    );
    let r = c.plan_create(
        Kind::Vnets,
        &params(json!({"vnet": "v2", "zone": "vlan1", "tag": 100})),
    );
    assert!(field_err(r, "tag").contains("already exist"));
    // The same VLAN tag in another zone is fine.
    create(
        &mut c,
        Kind::Vnets,
        json!({"vnet": "q1", "zone": "qinq1", "tag": 100}),
    );
    // qinq: tag optional, one tag-less vnet per zone.
    create(&mut c, Kind::Vnets, json!({"vnet": "q2", "zone": "qinq1"}));
    let r = c.plan_create(Kind::Vnets, &params(json!({"vnet": "q3", "zone": "qinq1"})));
    assert!(field_err(r, "tag").contains("tag-less vnet already exists"));
    let r = c.plan_create(
        Kind::Vnets,
        &params(json!({"vnet": "q3", "zone": "qinq1", "tag": 5000})),
    );
    assert!(field_err(r, "tag").contains("4096"));
    // vxlan / evpn: tag required, unique across all vxlan and evpn zones.
    let r = c.plan_create(
        Kind::Vnets,
        &params(json!({"vnet": "x1", "zone": "vxlan1"})),
    );
    assert_eq!(field_err(r, "tag"), "missing vxlan tag");
    create(
        &mut c,
        Kind::Vnets,
        json!({"vnet": "x1", "zone": "vxlan1", "tag": 100}),
    );
    let r = c.plan_create(
        Kind::Vnets,
        &params(json!({"vnet": "e1", "zone": "evpn1", "tag": 100})),
    );
    assert!(field_err(r, "tag").contains("vnet x1"));
    let r = c.plan_create(
        Kind::Vnets,
        &params(json!({"vnet": "e1", "zone": "evpn1", "tag": 16777216})),
    );
    assert!(field_err(r, "tag").contains("maximum"));
    create(
        &mut c,
        Kind::Vnets,
        json!({"vnet": "e1", "zone": "evpn1", "tag": 200}),
    );
    let r = c.plan_create(
        Kind::Vnets,
        &params(json!({"vnet": "e2", "zone": "evpn1", "tag": 201, "vlanaware": 1})),
    );
    assert!(field_err(r, "vlanaware").contains("evpn"));
    // Updating a vnet to its own tag is not a clash with itself.
    update(
        &mut c,
        Kind::Vnets,
        "x1",
        json!({"tag": 100, "alias": "same"}),
    );
    // Other checks.
    let r = c.plan_create(
        Kind::Vnets,
        &params(json!({"vnet": "n1", "zone": "nozone", "tag": 1})),
    );
    assert!(field_err(r, "zone").contains("does not exist"));
    let r = c.plan_create(Kind::Vnets, &params(json!({"vnet": "n1"})));
    assert_eq!(field_err(r, "zone"), MISSING);
    let r = c.plan_create(
        Kind::Vnets,
        &params(json!({"vnet": "n1", "zone": "simple1", "alias": "a#b"})),
    );
    field_err(r, "alias");
    let r = c.plan_create(
        Kind::Vnets,
        &params(json!({"vnet": "n1", "zone": "simple1", "type": "other"})),
    );
    field_err(r, "type");
    let r = c.plan_create(
        Kind::Vnets,
        &params(json!({"vnet": "n1", "zone": "simple1", "tag": 0})),
    );
    field_err(r, "tag");
    let r = c.plan_create(
        Kind::Vnets,
        &params(json!({"vnet": "s1", "zone": "simple1"})),
    );
    assert!(conflict(r).contains("already defined"));
}

#[test]
fn subnets() {
    let mut c = base();
    create(
        &mut c,
        Kind::Vnets,
        json!({"vnet": "v1", "zone": "simple1"}),
    );
    create(
        &mut c,
        Kind::Vnets,
        json!({"vnet": "aware", "zone": "vlan1", "tag": 5, "vlanaware": 1}),
    );
    let ch = create(
        &mut c,
        Kind::Subnets,
        json!({"subnet": "10.0.0.7/24", "vnet": "v1", "gateway": "10.0.0.1", "snat": 1, "dnszoneprefix": "adm",
               "dhcp-range": ["start-address=10.0.0.10,end-address=10.0.0.20", "start-address=10.0.0.30,end-address=10.0.0.40"],
               "dhcp-dns-server": "10.0.0.1"}),
    );
    assert_eq!(ch.id, "simple1-10.0.0.0-24");
    assert!(c.get(Kind::Subnets, "simple1-10.0.0.0-24").is_some());
    assert_eq!(
        c.resolve_subnet_id("v1", "10.0.0.0/24").as_deref(),
        Some("simple1-10.0.0.0-24")
    );
    assert_eq!(
        c.resolve_subnet_id("v1", "simple1-10.0.0.0-24").as_deref(),
        Some("simple1-10.0.0.0-24")
    );
    assert_eq!(c.resolve_subnet_id("v1", "10.9.0.0/24"), None);
    // IPv6, and an IPv4 /32 whose gateway lies outside (point-to-point).
    let v6 = create(
        &mut c,
        Kind::Subnets,
        json!({"subnet": "FD00:0:0::/64", "vnet": "v1", "gateway": "fd00::1"}),
    );
    assert_eq!(v6.id, "simple1-fd00::-64");
    create(
        &mut c,
        Kind::Subnets,
        json!({"subnet": "192.0.2.5/32", "vnet": "v1", "gateway": "192.0.2.1"}),
    );
    let r = c.plan_create(
        Kind::Subnets,
        &params(json!({"subnet": "10.0.0.0/24", "vnet": "v1"})),
    );
    assert!(conflict(r).contains("already defined"));
    let try_subnet = |p| c.plan_create(Kind::Subnets, &params(p));
    assert!(field_err(
        try_subnet(json!({"subnet": "10.1.0.0/24", "vnet": "v1", "gateway": "10.2.0.1"})),
        "gateway"
    )
    .contains("not in subnet"));
    field_err(
        try_subnet(json!({"subnet": "fd01::/64", "vnet": "v1", "gateway": "fd02::1"})),
        "gateway",
    );
    field_err(
        try_subnet(json!({"subnet": "10.1.0.0/24", "vnet": "v1", "gateway": "fd02::1"})),
        "gateway",
    );
    assert!(field_err(
        try_subnet(json!({"subnet": "10.1.0.0/24", "vnet": "nonet"})),
        "vnet"
    )
    .contains("does not exist"));
    assert_eq!(
        field_err(try_subnet(json!({"subnet": "10.1.0.0/24"})), "vnet"),
        MISSING
    );
    field_err(
        try_subnet(json!({"subnet": "10.1.0.0", "vnet": "v1"})),
        "subnet",
    );
    field_err(
        try_subnet(json!({"subnet": "10.1.0.0/4", "vnet": "v1"})),
        "subnet",
    );
    assert!(field_err(
        try_subnet(json!({"subnet": "10.1.0.0/24", "vnet": "aware"})),
        "vnet"
    )
    .contains("vlanaware"));
    let range =
        |r: &str| try_subnet(json!({"subnet": "10.1.0.0/24", "vnet": "v1", "dhcp-range": r}));
    assert!(field_err(
        range("start-address=10.1.0.20,end-address=10.1.0.10"),
        "dhcp-range"
    )
    .contains("smaller"));
    assert!(field_err(
        range("start-address=10.2.0.20,end-address=10.2.0.30"),
        "dhcp-range"
    )
    .contains("not in subnet"));
    assert!(field_err(
        range("start-address=10.1.0.20,end-address=10.2.0.30"),
        "dhcp-range"
    )
    .contains("end-address"));
    field_err(range("start-address=10.1.0.20"), "dhcp-range");
    let overlap = try_subnet(json!({"subnet": "10.1.0.0/24", "vnet": "v1",
        "dhcp-range": ["start-address=10.1.0.10,end-address=10.1.0.20", "start-address=10.1.0.20,end-address=10.1.0.30"]}));
    assert_eq!(
        field_err(overlap, "dhcp-range"),
        "dhcp ranges must not overlap"
    );
    field_err(
        try_subnet(
            json!({"subnet": "10.1.0.0/24", "vnet": "v1", "dhcp-dns-server": "dns.example"}),
        ),
        "dhcp-dns-server",
    );
    field_err(
        try_subnet(json!({"subnet": "10.1.0.0/24", "vnet": "v1", "snat": "x"})),
        "snat",
    );
    field_err(
        try_subnet(json!({"subnet": "10.1.0.0/24", "vnet": "v1", "mtu": 1})),
        "mtu",
    );

    // Subnets block: vlanaware on their vnet, moving their vnet, deleting their vnet, ipam change.
    let r = c.plan_update(Kind::Vnets, "v1", &params(json!({"vlanaware": 1})));
    assert!(field_err(r, "vlanaware").contains("subnets"));
    create(
        &mut c,
        Kind::Zones,
        json!({"zone": "simple2", "type": "simple"}),
    );
    let r = c.plan_update(Kind::Vnets, "v1", &params(json!({"zone": "simple2"})));
    assert!(field_err(r, "zone").contains("subnets exist"));
    assert!(conflict(c.plan_delete(Kind::Vnets, "v1")).contains("subnet"));
    let r = c.plan_update(Kind::Zones, "simple1", &params(json!({"delete": "ipam"})));
    assert!(field_err(r, "ipam").contains("can't change ipam"));
    // Subnet update: gateway checked against the subnet, vnet can't change.
    let r = c.plan_update(
        Kind::Subnets,
        "simple1-10.0.0.0-24",
        &params(json!({"vnet": "v1", "gateway": "10.9.9.9"})),
    );
    field_err(r, "gateway");
    create(
        &mut c,
        Kind::Vnets,
        json!({"vnet": "v2", "zone": "simple1"}),
    );
    let r = c.plan_update(
        Kind::Subnets,
        "simple1-10.0.0.0-24",
        &params(json!({"vnet": "v2"})),
    );
    field_err(r, "vnet");
    update(
        &mut c,
        Kind::Subnets,
        "simple1-10.0.0.0-24",
        json!({"vnet": "v1", "subnet": "simple1-10.0.0.0-24", "delete": "dhcp-range,snat"}),
    );
    let s = c.get(Kind::Subnets, "simple1-10.0.0.0-24").unwrap();
    assert!(s.get("dhcp-range").is_none() && s.get("snat").is_none());
    // The path may name the subnet by its CIDR.
    update(
        &mut c,
        Kind::Subnets,
        "simple1-10.0.0.0-24",
        json!({"subnet": "10.0.0.0/24", "gateway": "10.0.0.1"}),
    );
    let r = c.plan_update(
        Kind::Subnets,
        "simple1-10.0.0.0-24",
        &params(json!({"subnet": "10.0.1.0/24"})),
    );
    field_err(r, "subnet");
    let r = c.plan_create(
        Kind::Subnets,
        &params(json!({"subnet": "10.1.0.0/24", "vnet": 5})),
    );
    assert!(field_err(r, "vnet").contains("string"));
    // Deleting every subnet frees the vnet.
    for id in [
        "simple1-10.0.0.0-24",
        "simple1-fd00::-64",
        "simple1-192.0.2.5-32",
    ] {
        let ch = c.plan_delete(Kind::Subnets, id).unwrap();
        c.apply(ch);
    }
    update(&mut c, Kind::Zones, "simple1", json!({"delete": "ipam"}));
    let ch = c.plan_delete(Kind::Vnets, "v1").unwrap();
    c.apply(ch);
    assert!(c.get(Kind::Vnets, "v1").is_none());
}

#[test]
fn controllers() {
    let mut c = base();
    let r = c.plan_create(
        Kind::Controllers,
        &params(json!({"controller": "evpn2", "type": "evpn", "asn": 65000, "peers": "10.0.0.1"})),
    );
    // PVE 9.1 allows several EVPN controllers, each with its own peer group.
    assert!(field_err(r, "peer-group-name").contains("same peer-group-name"));
    c.plan_create(
        Kind::Controllers,
        &params(json!({"controller": "evpn2", "type": "evpn", "asn": 65000, "peers": "10.0.0.1", "peer-group-name": "other"})),
    )
    .unwrap();
    let r = c.plan_create(
        Kind::Controllers,
        &params(json!({"controller": "bgp1", "type": "bgp", "node": "pve1", "asn": 65000})),
    );
    assert_eq!(field_err(r, "peers"), MISSING);
    create(
        &mut c,
        Kind::Controllers,
        json!({"controller": "bgp1", "type": "bgp", "node": "pve1", "asn": "4294967295", "peers": "10.1.1.1, 10.1.1.2",
        "ebgp": 1, "ebgp-multihop": 3, "loopback": "dummy1", "bgp-multipath-as-path-relax": "1"}),
    );
    assert_eq!(
        c.get(Kind::Controllers, "bgp1").unwrap().get_list("peers"),
        ["10.1.1.1", "10.1.1.2"]
    );
    let r = c.plan_create(Kind::Controllers, &params(json!({"controller": "bgp2", "type": "bgp", "node": "pve1", "asn": 1, "peers": "10.1.1.1"})));
    assert!(field_err(r, "node").contains("bgp1"));
    create(
        &mut c,
        Kind::Controllers,
        json!({"controller": "bgp2", "type": "bgp", "node": "pve2", "asn": 1, "peers": "10.1.1.1"}),
    );
    let r = c.plan_create(Kind::Controllers, &params(json!({"controller": "bgp3", "type": "bgp", "node": "pve3", "asn": 4294967296u64, "peers": "10.1.1.1"})));
    field_err(r, "asn");
    create(
        &mut c,
        Kind::Controllers,
        json!({"controller": "isis1", "type": "isis", "node": "pve1", "isis-domain": "isis1",
        "isis-net": "49.0001.1921.6800.1002.00", "isis-ifaces": "eth0,eth1", "loopback": "lo"}),
    );
    let r = c.plan_create(
        Kind::Controllers,
        &params(
            json!({"controller": "isis2", "type": "isis", "node": "pve1", "isis-domain": "d",
        "isis-net": "49.0001.1921.6800.1003.00", "isis-ifaces": "eth0"}),
        ),
    );
    field_err(r, "node");
    let r = c.plan_create(
        Kind::Controllers,
        &params(
            json!({"controller": "isis2", "type": "isis", "node": "pve2", "isis-domain": "d",
        "isis-net": "49.1", "isis-ifaces": "eth0"}),
        ),
    );
    field_err(r, "isis-net");
    let r = c.plan_create(
        Kind::Controllers,
        &params(json!({"controller": "c1", "type": "evpn", "asn": 1, "node": "pve1"})),
    );
    assert_eq!(field_err(r, "node"), NOT_IN_SCHEMA);
    let r = c.plan_create(Kind::Controllers, &params(json!({"controller": "-c1", "type": "bgp", "node": "pve1", "asn": 1, "peers": "10.0.0.1"})));
    field_err(r, "controller");
    // In use by a zone: can't be deleted; unused ones can.
    assert!(conflict(c.plan_delete(Kind::Controllers, "evpnctl")).contains("evpn1"));
    c.plan_delete(Kind::Controllers, "bgp2").unwrap();
    assert!(matches!(
        c.plan_delete(Kind::Controllers, "nope"),
        Err(ConfigError::NotFound(_))
    ));
    // Evpn controller: peers or fabric, not both.
    let r = c.plan_update(
        Kind::Controllers,
        "evpnctl",
        &params(json!({"fabric": "f1"})),
    );
    field_err(r, "fabric");
    // A fabric that does not exist is refused, naming the fabric and the controller.
    let r = c.plan_update(
        Kind::Controllers,
        "evpnctl",
        &params(json!({"fabric": "f1", "delete": "peers"})),
    );
    let msg = field_err(r, "fabric");
    assert!(msg.contains("'f1'") && msg.contains("evpnctl"), "{msg}");
    create(
        &mut c,
        Kind::Fabrics,
        json!({"id": "f1", "type": "ospf_fabric", "area": "0", "ip_prefix": "10.98.0.0/24"}),
    );
    update(
        &mut c,
        Kind::Controllers,
        "evpnctl",
        json!({"fabric": "f1", "delete": "peers"}),
    );
    // Now the fabric is in use: deleting it names its user.
    let msg = conflict(c.plan_delete(Kind::Fabrics, "f1"));
    assert!(msg.contains("controller evpnctl"), "{msg}");
}

#[test]
fn ipams_and_dns() {
    let mut c = base();
    let fp = vec!["AB"; 32].join(":");
    create(
        &mut c,
        Kind::Ipams,
        json!({"ipam": "netbox", "type": "netbox", "url": "https://netbox/api", "token": "tok", "fingerprint": fp}),
    );
    create(
        &mut c,
        Kind::Ipams,
        json!({"ipam": "php", "type": "phpipam", "url": "https://php/api", "token": "tok", "section": "3"}),
    );
    let r = c.plan_create(
        Kind::Ipams,
        &params(
            json!({"ipam": "php2", "type": "phpipam", "url": "https://php/api", "token": "tok"}),
        ),
    );
    assert_eq!(field_err(r, "section"), MISSING);
    let r = c.plan_create(
        Kind::Ipams,
        &params(json!({"ipam": "p2", "type": "pve", "url": "x"})),
    );
    assert_eq!(field_err(r, "url"), NOT_IN_SCHEMA);
    let r = c.plan_create(Kind::Ipams, &params(json!({"ipam": "nb2", "type": "netbox", "url": "u", "token": "t", "fingerprint": "AB:CD"})));
    field_err(r, "fingerprint");
    let r = c.plan_create(
        Kind::Ipams,
        &params(json!({"ipam": "nb2", "type": "netbox", "url": "u", "token": "x".repeat(5000)})),
    );
    field_err(r, "token");
    let r = c.plan_create(
        Kind::Dns,
        &params(json!({"dns": "d2", "type": "powerdns", "url": "u", "key": "k", "ttl": "x"})),
    );
    field_err(r, "ttl");
    create(
        &mut c,
        Kind::Dns,
        json!({"dns": "d2", "type": "powerdns", "url": "u", "key": "k", "ttl": 3600, "reversemaskv6": 64}),
    );
    let r = c.plan_create(
        Kind::Dns,
        &params(
            json!({"dns": "d3", "type": "powerdns", "url": "u", "key": "k", "reversev6mask": 64}),
        ),
    );
    field_err(r, "reversev6mask");
    // Used by a zone: refused.
    assert!(conflict(c.plan_delete(Kind::Ipams, "pve")).contains("simple1"));
    update(
        &mut c,
        Kind::Zones,
        "simple1",
        json!({"dns": "pdns", "dnszone": "example.com"}),
    );
    assert!(conflict(c.plan_delete(Kind::Dns, "pdns")).contains("simple1"));
    c.plan_delete(Kind::Dns, "d2").unwrap();
}

#[test]
fn deletes_and_not_found() {
    let mut c = base();
    create(
        &mut c,
        Kind::Vnets,
        json!({"vnet": "v1", "zone": "simple1"}),
    );
    assert_eq!(
        conflict(c.plan_delete(Kind::Zones, "simple1")),
        "zone simple1 is used by vnet v1"
    );
    for vnet in ["v3", "v2"] {
        create(
            &mut c,
            Kind::Vnets,
            json!({"vnet": vnet, "zone": "simple1"}),
        );
    }
    assert_eq!(
        conflict(c.plan_delete(Kind::Zones, "simple1")),
        "zone simple1 is used by vnets v1, v2, v3",
        "every vnet in the zone is named"
    );
    for vnet in ["v3", "v2"] {
        let ch = c.plan_delete(Kind::Vnets, vnet).unwrap();
        c.apply(ch);
    }
    let ch = c.plan_delete(Kind::Vnets, "v1").unwrap();
    assert_eq!(ch.object, None);
    c.apply(ch);
    let ch = c.plan_delete(Kind::Zones, "simple1").unwrap();
    c.apply(ch);
    assert!(c.get(Kind::Zones, "simple1").is_none());
    for kind in Kind::ALL {
        assert!(
            matches!(c.plan_delete(kind, "nothere"), Err(ConfigError::NotFound(ref m)) if m.contains("does not exist"))
        );
        assert!(matches!(
            c.plan_update(kind, "nothere", &params(json!({}))),
            Err(ConfigError::NotFound(_))
        ));
    }
}

#[test]
fn update_semantics() {
    let mut c = base();
    // type can't change; the same type may be repeated.
    let r = c.plan_update(Kind::Zones, "vlan1", &params(json!({"type": "qinq"})));
    field_err(r, "type");
    update(
        &mut c,
        Kind::Zones,
        "vlan1",
        json!({"type": "vlan", "zone": "vlan1", "mtu": 1400, "nodes": "b,a"}),
    );
    assert_eq!(
        c.get(Kind::Zones, "vlan1").unwrap().get_int("mtu"),
        Some(1400)
    );
    // Unknown, required, set+delete.
    let r = c.plan_update(Kind::Zones, "vlan1", &params(json!({"peers": "10.0.0.1"})));
    assert_eq!(field_err(r, "peers"), NOT_IN_SCHEMA);
    let r = c.plan_update(Kind::Zones, "vlan1", &params(json!({"delete": "bridge"})));
    assert!(field_err(r, "delete").contains("required"));
    let r = c.plan_update(
        Kind::Zones,
        "vlan1",
        &params(json!({"delete": "mtu", "mtu": 1500})),
    );
    assert!(field_err(r, "delete").contains("at the same time"));
    let r = c.plan_update(Kind::Zones, "vlan1", &params(json!({"delete": "foo"})));
    assert!(field_err(r, "delete").contains("no such option"));
    let r = c.plan_update(Kind::Zones, "vlan1", &params(json!({"bridge": ""})));
    assert_eq!(field_err(r, "bridge"), MISSING);
    let r = c.plan_update(
        Kind::Zones,
        "vlan1",
        &params(json!({"delete": "mtu,".repeat(2000)})),
    );
    assert!(field_err(r, "delete").contains("4096"));
    // delete as array and as comma list; empty value unsets.
    update(&mut c, Kind::Zones, "vlan1", json!({"delete": ["mtu"]}));
    assert!(c.get(Kind::Zones, "vlan1").unwrap().get("mtu").is_none());
    update(&mut c, Kind::Zones, "vlan1", json!({"nodes": ""}));
    assert!(c.get(Kind::Zones, "vlan1").unwrap().get("nodes").is_none());
    // digest: stale refused with Conflict, current accepted.
    let stale = c.digest(Kind::Zones);
    update(
        &mut c,
        Kind::Zones,
        "vlan1",
        json!({"mtu": 1300, "digest": stale.clone()}),
    );
    let r = c.plan_update(
        Kind::Zones,
        "vlan1",
        &params(json!({"mtu": 1200, "digest": stale})),
    );
    assert_eq!(conflict(r), DIGEST_MISMATCH);
    // The id in the parameters must be the object's.
    let r = c.plan_update(Kind::Zones, "vlan1", &params(json!({"zone": "other"})));
    field_err(r, "zone");
    // create refuses update-only parameters.
    let r = c.plan_create(
        Kind::Zones,
        &params(json!({"zone": "s9", "type": "simple", "delete": "mtu"})),
    );
    assert_eq!(field_err(r, "delete"), NOT_IN_SCHEMA);
}

#[test]
fn plan_does_not_mutate_and_apply_keeps_indexes() {
    let mut c = base();
    let before = c.clone();
    let ch = c
        .plan_create(
            Kind::Vnets,
            &params(json!({"vnet": "x1", "zone": "vxlan1", "tag": 7})),
        )
        .unwrap();
    assert_eq!(c, before);
    c.apply(ch);
    // Changing the tag frees the old one for others.
    update(&mut c, Kind::Vnets, "x1", json!({"tag": 8}));
    create(
        &mut c,
        Kind::Vnets,
        json!({"vnet": "x2", "zone": "vxlan1", "tag": 7}),
    );
    let r = c.plan_create(
        Kind::Vnets,
        &params(json!({"vnet": "x3", "zone": "evpn1", "tag": 8})),
    );
    field_err(r, "tag");
    // Re-inserting an object replaces it and its index entries.
    let x1 = c.get(Kind::Vnets, "x1").unwrap().clone();
    c.insert(x1);
    assert_eq!(c.vnets_in_zone("vxlan1").count(), 2);
}

#[test]
fn create_is_fast_next_to_many_vnets() {
    let mut c = Config::new();
    create(
        &mut c,
        Kind::Zones,
        json!({"zone": "zz", "type": "vxlan", "peers": "10.0.0.1"}),
    );
    for i in 1..=10_000 {
        let ch = c
            .plan_create(
                Kind::Vnets,
                &params(json!({"vnet": format!("v{i}"), "zone": "zz", "tag": i})),
            )
            .unwrap();
        c.apply(ch);
    }
    let p = params(json!({"vnet": "new1", "zone": "zz", "tag": 20000}));
    let time = |c: &Config| {
        let start = std::time::Instant::now();
        for _ in 0..200 {
            c.plan_create(Kind::Vnets, &p).unwrap();
        }
        start.elapsed() / 200
    };
    let per_call = time(&c);
    let mut small = Config::new();
    create(
        &mut small,
        Kind::Zones,
        json!({"zone": "zz", "type": "vxlan", "peers": "10.0.0.1"}),
    );
    for i in 1..=10 {
        create(
            &mut small,
            Kind::Vnets,
            json!({"vnet": format!("v{i}"), "zone": "zz", "tag": i}),
        );
    }
    println!(
        "plan_create next to 10,000 vnets: {per_call:?}, next to 10: {:?}",
        time(&small)
    );
    // Generous bound for unoptimized builds on a busy machine; a scan over 10,000 vnets with
    // zone lookups would take several times longer.
    assert!(
        per_call < std::time::Duration::from_micros(400),
        "{per_call:?}"
    );
}

/// The configuration's maps share their unchanged parts between copies (a reader's copy
/// costs a change nothing): a copy taken before changes must still show the configuration as
/// it was, objects and the indexes the rules use alike, and the rules must judge each copy by
/// its own content.
#[test]
fn a_copy_taken_before_changes_keeps_what_it_held() {
    let mut c = base();
    create(&mut c, Kind::Vnets, json!({"vnet": "held", "zone": "vlan1", "tag": 10}));
    create(&mut c, Kind::Subnets, json!({"vnet": "held", "subnet": "10.1.0.0/24", "type": "subnet"}));
    let copy = c.clone();

    create(&mut c, Kind::Vnets, json!({"vnet": "added", "zone": "vlan1", "tag": 11}));
    let subnet = c.list(Kind::Subnets).next().unwrap().id().to_string();
    let change = c.plan_delete(Kind::Subnets, &subnet).unwrap();
    c.apply(change);
    let change = c.plan_delete(Kind::Vnets, "held").unwrap();
    c.apply(change);

    let names = |config: &Config| config.vnets_in_zone("vlan1").map(|v| v.id().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&copy), ["held"]);
    assert_eq!(names(&c), ["added"]);
    assert_eq!(copy.subnets_of_vnet("held").count(), 1);
    assert_eq!(c.subnets_of_vnet("held").count(), 0);
    assert!(copy.get(Kind::Vnets, "added").is_none());
    // Tag 10 is taken in the copy only, tag 11 in the changed configuration only.
    let tag = |config: &Config, name: &str, tag: i64| {
        config.plan_create(Kind::Vnets, &params(json!({"vnet": name, "zone": "vlan1", "tag": tag})))
    };
    assert!(tag(&copy, "again", 10).is_err());
    assert!(tag(&c, "again", 10).is_ok());
    assert!(tag(&copy, "again", 11).is_ok());
    assert!(tag(&c, "again", 11).is_err());
    assert_ne!(copy, c);
}

/// A kind's digest changes with its objects and only with them, and the digest kept current
/// by each change is the one its objects give when loaded afresh, in any order.
#[test]
fn the_digest_changes_with_the_objects_and_only_with_them() {
    let mut c = base();
    let zones = c.digest(Kind::Zones);
    let before = c.digest(Kind::Vnets);
    create(&mut c, Kind::Vnets, json!({"vnet": "d1", "zone": "vlan1", "tag": 20}));
    let created = c.digest(Kind::Vnets);
    assert_ne!(created, before);
    update(&mut c, Kind::Vnets, "d1", json!({"alias": "renamed"}));
    let updated = c.digest(Kind::Vnets);
    assert_ne!(updated, created);
    update(&mut c, Kind::Vnets, "d1", json!({"delete": "alias"}));
    assert_eq!(c.digest(Kind::Vnets), created, "the same objects again, the same digest");
    let change = c.plan_delete(Kind::Vnets, "d1").unwrap();
    c.apply(change);
    assert_eq!(c.digest(Kind::Vnets), before);
    assert_eq!(c.digest(Kind::Zones), zones, "a vnet's changes leave the zones' digest alone");

    // Changes of every kind, some before the digest was first asked for.
    create(&mut c, Kind::Vnets, json!({"vnet": "d2", "zone": "vlan1", "tag": 21}));
    create(&mut c, Kind::Subnets, json!({"vnet": "d2", "subnet": "10.2.0.0/24", "type": "subnet"}));
    update(&mut c, Kind::Zones, "vlan1", json!({"mtu": 1400}));
    let kept: Vec<String> = Kind::ALL.iter().map(|&kind| c.digest(kind)).collect();
    for reversed in [false, true] {
        let mut fresh = Config::new();
        for &kind in Kind::ALL.iter() {
            let mut objects: Vec<_> = c.list(kind).cloned().collect();
            if reversed {
                objects.reverse();
            }
            objects.into_iter().for_each(|o| fresh.insert(o));
        }
        let computed: Vec<String> = Kind::ALL.iter().map(|&kind| fresh.digest(kind)).collect();
        assert_eq!(computed, kept, "loaded afresh (reversed: {reversed})");
    }

    // The section order is part of what the digest covers, as in the reference's files.
    let load = |text: &str| {
        let mut config = Config::new();
        Config::parse_section_config(Kind::Vnets, text).unwrap().into_iter().for_each(|o| config.insert(o));
        config.digest(Kind::Vnets)
    };
    assert_ne!(
        load("vnet: va\n\tzone zz\n\nvnet: vb\n\tzone zz\n\n"),
        load("vnet: vb\n\tzone zz\n\nvnet: va\n\tzone zz\n\n")
    );
}
