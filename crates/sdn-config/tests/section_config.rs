//! Section-config files: byte-exact round trips of files in the reference's format, and errors
//! that name section and property.

mod common;

use common::*;
use sdn_config::{Config, ConfigError, Kind};
use serde_json::json;

const ZONES: &str = "evpn: evpn1
\tcontroller evpnctl
\tvrf-vxlan 1000
\tadvertise-subnets 1
\texitnodes pve1,pve2
\texitnodes-primary pve1
\tipam pve
\tmac BC:24:11:3B:39:34
\trt-import 65000:1,65000:2

vlan: vlan1
\tbridge vmbr0
\tipam pve
\tmtu 9000
\tnodes pve2,pve1

qinq: qinq1
\tbridge vmbr0
\ttag 10
\tbridge-disable-mac-learning 1
\tvlan-protocol 802.1ad

simple: simple1
\tdhcp dnsmasq
\tdns pdns
\tdnszone example.com
\tipam pve

vxlan: vxlan1
\tpeers 192.168.0.1,192.168.0.2
\tvxlan-port 4790

";

const VNETS: &str = "vnet: v2
\tzone vlan1
\talias web servers (prod)
\ttag 100
\tvlanaware 1

vnet: v1
\tzone simple1
\tisolate-ports 1

";

const SUBNETS: &str = "subnet: simple1-10.0.0.0-24
\tvnet v1
\tdhcp-dns-server 10.0.0.53
\tdhcp-range start-address=10.0.0.10,end-address=10.0.0.20
\tdhcp-range start-address=10.0.0.30,end-address=10.0.0.40
\tdnszoneprefix adm
\tgateway 10.0.0.1
\tsnat 1

subnet: simple1-fd00::-64
\tvnet v1
\tgateway fd00::1

";

const CONTROLLERS: &str = "evpn: evpnctl
\tasn 65000
\tpeers 192.168.0.1,192.168.0.2,192.168.0.3

bgp: bgppve1
\tasn 65001
\tnode pve1
\tpeers 172.16.0.254,172.17.0.254
\tbgp-multipath-as-path-relax 1
\tebgp 1
\tebgp-multihop 3
\tloopback dummy1

isis: isis1
\tisis-domain isis1
\tisis-ifaces eth1,eth0
\tisis-net 47.0023.0000.0000.0000.0000.0000.0000.1900.0004.00
\tnode pve1
\tloopback dummy1

";

const IPAMS: &str = "pve: pve

netbox: netbox
\ttoken 0123456789abcdef
\turl https://netbox.example/api

phpipam: phpipam
\tsection 1
\ttoken abcdef
\turl https://phpipam.example/api/app

";

const DNS: &str = "powerdns: pdns
\tkey secret
\turl http://127.0.0.1:8081/api/v1/servers/localhost
\treversemaskv6 64
\tttl 3600

";

fn files() -> [(Kind, &'static str); 6] {
    [
        (Kind::Zones, ZONES),
        (Kind::Vnets, VNETS),
        (Kind::Subnets, SUBNETS),
        (Kind::Controllers, CONTROLLERS),
        (Kind::Ipams, IPAMS),
        (Kind::Dns, DNS),
    ]
}

fn load() -> Config {
    let mut cfg = Config::new();
    for (kind, text) in files() {
        for obj in
            Config::parse_section_config(kind, text).unwrap_or_else(|e| panic!("{kind}: {e}"))
        {
            cfg.insert(obj);
        }
    }
    cfg
}

#[test]
fn reference_files_round_trip_byte_exact() {
    let cfg = load();
    for (kind, text) in files() {
        assert_eq!(cfg.to_section_config(kind), text, "{kind}");
        let digest = cfg.digest(kind);
        assert!(
            digest.len() == 40 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
            "digest of {kind}: {digest}"
        );
        // parse(write(x)) == x
        let again = Config::parse_section_config(kind, &cfg.to_section_config(kind)).unwrap();
        let orig: Vec<_> = cfg.list(kind).cloned().collect();
        let mut again_sorted = again.clone();
        again_sorted.sort_by(|a, b| a.id().cmp(b.id()));
        assert_eq!(again_sorted, orig, "{kind}");
    }
    assert_eq!(
        cfg.to_section_config(Kind::Zones).lines().next(),
        Some("evpn: evpn1")
    );
    assert_eq!(Config::new().to_section_config(Kind::Zones), "");
}

#[test]
fn new_objects_are_appended_and_deleted_ones_leave_the_rest_in_place() {
    let mut cfg = load();
    let before = cfg.digest(Kind::Vnets);
    create(
        &mut cfg,
        Kind::Vnets,
        json!({"vnet": "aa", "zone": "simple1"}),
    );
    let text = cfg.to_section_config(Kind::Vnets);
    assert_eq!(text, format!("{VNETS}vnet: aa\n\tzone simple1\n\n"));
    assert_ne!(cfg.digest(Kind::Vnets), before);
    let ch = cfg.plan_delete(Kind::Vnets, "v2").unwrap();
    cfg.apply(ch);
    assert_eq!(
        cfg.to_section_config(Kind::Vnets),
        "vnet: v1\n\tzone simple1\n\tisolate-ports 1\n\nvnet: aa\n\tzone simple1\n\n"
    );
    // An update keeps the object's position.
    update(&mut cfg, Kind::Vnets, "v1", json!({"alias": "first"}));
    assert!(cfg
        .to_section_config(Kind::Vnets)
        .starts_with("vnet: v1\n\tzone simple1\n\talias first\n"));
    // Objects restored from the store keep their position too.
    let mut restored = Config::new();
    for o in cfg.list(Kind::Vnets) {
        restored.insert(
            sdn_config::SdnObject::from_store_bytes(Kind::Vnets, &o.to_store_bytes()).unwrap(),
        );
    }
    assert_eq!(
        restored.to_section_config(Kind::Vnets),
        cfg.to_section_config(Kind::Vnets)
    );
}

#[test]
fn reader_accepts_what_the_reference_reader_accepts() {
    let text = "# comment\nsimple: s1\n\tipam pve\n  # indented comment\n \t\n\nVLAN:   v1  \n   bridge    vmbr0   \n\tbridge-disable-mac-learning\n\n\n";
    let objs = Config::parse_section_config(Kind::Zones, text).unwrap();
    assert_eq!(objs.len(), 2);
    assert_eq!(objs[1].type_name(), "vlan");
    assert_eq!(objs[1].get_str("bridge"), Some("vmbr0"));
    assert!(
        objs[1].get_bool("bridge-disable-mac-learning"),
        "a bare boolean key means 1"
    );
}

fn errors(kind: Kind, text: &str) -> std::collections::BTreeMap<String, String> {
    match Config::parse_section_config(kind, text) {
        Err(ConfigError::Invalid(e)) => e.0,
        other => panic!("expected errors, got {other:?}"),
    }
}

#[test]
fn errors_name_section_and_property() {
    let e = errors(
        Kind::Zones,
        "vlan: v1\n\tbridge vmbr0\n\tmtu abc\n\tpeers 10.0.0.1\n\nevpn: e1\n\tvrf-vxlan 5\n",
    );
    assert!(e["v1.mtu"].contains("integer"), "{e:?}");
    assert!(e["v1.peers"].contains("not defined in schema"), "{e:?}");
    assert!(e["e1.controller"].contains("missing"), "{e:?}");
    let e = errors(Kind::Zones, "vlan: v1\n\tbridge vmbr0\n\tbridge vmbr1\n");
    assert!(e["v1.bridge"].contains("duplicate attribute"), "{e:?}");
    let e = errors(Kind::Zones, "foo: v1\n\tbridge vmbr0\n");
    assert!(e["v1.type"].contains("enumeration"), "{e:?}");
    let e = errors(Kind::Zones, "simple: s1\n\nsimple: s1\n");
    assert!(e["s1"].contains("duplicate"), "{e:?}");
    let e = errors(Kind::Zones, "not a header\n");
    assert!(e.contains_key("line 1"), "{e:?}");
    let e = errors(Kind::Vnets, "vnet: v1\nzone z1\n");
    assert!(e["v1"].contains("line 2"), "{e:?}");
    let e = errors(Kind::Vnets, "vnet: v1\n\tzone\n");
    assert!(e["v1.zone"].contains("undefined"), "{e:?}");
    let e = errors(Kind::Subnets, "subnet: z1-10.0.0.0/24\n\tvnet v1\n");
    assert!(e.contains_key("z1-10.0.0.0/24.subnet"), "{e:?}");
}

#[test]
fn validate_checks_cross_object_rules_of_imported_files() {
    let cfg = load();
    cfg.validate().unwrap_or_else(|e| panic!("{e}"));
    // Files from elsewhere may break rules the API would have enforced.
    let mut bad = load();
    let vnets = "vnet: v1\n\tzone simple1\n\ttag 5\n\nvnet: v2\n\tzone nozone\n\n";
    for o in Config::parse_section_config(Kind::Vnets, vnets).unwrap() {
        bad.insert(o);
    }
    match bad.validate() {
        Err(ConfigError::Invalid(e)) => {
            assert!(e.get("vnets.v1.tag").is_some(), "{e}");
            assert!(e.get("vnets.v2.zone").is_some(), "{e}");
            assert!(e.get("subnets.simple1-10.0.0.0-24.vnet").is_none(), "{e}");
        }
        other => panic!("{other:?}"),
    }
}
