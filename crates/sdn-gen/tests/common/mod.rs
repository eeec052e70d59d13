//! Large generated configurations, shared by the benchmark and the parser checks.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use sdn_gen::NodeFacts;

/// The shared generation corpus (`../shared/corpus/pve-zones`); `SDN_GEN_CORPUS` points
/// elsewhere (e.g. at a modified copy, to see the tests fail).
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os("SDN_GEN_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/pve-zones"),
    }
}

/// The reference's own generator fixtures that the shared corpus leaves out, converted by
/// `scripts/convert-reference-case.pl` (see its README.md).
pub fn reference_cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference-cases")
}

/// Every case directory (`<root>/<type>/<case>/` with a running-config.json), sorted.
pub fn case_dirs(root: &Path) -> Vec<PathBuf> {
    let types = fs::read_dir(root).unwrap_or_else(|e| panic!("reading {}: {e}", root.display()));
    let mut cases: Vec<PathBuf> = types
        .flatten()
        .filter(|ty| ty.path().is_dir())
        .flat_map(|ty| fs::read_dir(ty.path()).into_iter().flatten().flatten())
        .map(|case| case.path())
        .filter(|case| case.join("running-config.json").is_file())
        .collect();
    cases.sort();
    cases
}

/// The node the large configurations are generated for.
pub fn facts() -> NodeFacts {
    serde_json::from_value(json!({
        "node": "node1",
        "route-iface": "vmbr0",
        "route-ip": "10.0.0.1",
        "mac": "bc:24:11:1d:69:60",
        "bridge-ports": {"vmbr0": ["eth0"]}
    }))
    .expect("valid facts")
}

/// The node's own interfaces file: a plain (not vlan-aware) bridge, so every vlan vnet needs
/// a veth pair and a VLAN bridge (the most output per vnet).
pub const INTERFACES: &str = "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet manual\n\nauto vmbr0\niface vmbr0 inet static\n\taddress 10.0.0.1/24\n\tgateway 10.0.0.254\n\tbridge-ports eth0\n\tbridge-stp off\n\tbridge-fd 0\n";

/// `evpn_vnets` vnets spread over `evpn_zones` EVPN zones of one controller, each vnet with an
/// IPv4 subnet and gateway; plus `vlan_vnets` vnets in one VLAN zone. The node is an exit node
/// of every tenth zone.
pub fn config(evpn_zones: usize, evpn_vnets: usize, vlan_vnets: usize) -> Value {
    let mut zones = Map::new();
    let mut vnets = Map::new();
    let mut subnets = Map::new();
    for z in 0..evpn_zones {
        let mut zone = json!({"type": "evpn", "controller": "evpnctl", "vrf-vxlan": 10_000 + z,
                              "ipam": "pve", "mac": "BC:24:11:00:00:01"});
        if z % 10 == 0 {
            zone["exitnodes"] = json!({"node1": 1});
        }
        zones.insert(format!("zone{z}"), zone);
    }
    for v in 0..evpn_vnets {
        let zone = format!("zone{}", v % evpn_zones.max(1));
        let (a, b) = (v / 256, v % 256);
        vnets.insert(
            format!("ev{v}"),
            json!({"type": "vnet", "zone": zone, "tag": 100_000 + v}),
        );
        subnets.insert(
            format!("{zone}-10.{a}.{b}.0-24"),
            json!({"type": "subnet", "vnet": format!("ev{v}"), "gateway": format!("10.{a}.{b}.1")}),
        );
    }
    if vlan_vnets > 0 {
        zones.insert(
            "vlanz".into(),
            json!({"type": "vlan", "bridge": "vmbr0", "ipam": "pve"}),
        );
    }
    for v in 0..vlan_vnets {
        vnets.insert(
            format!("vl{v}"),
            json!({"type": "vnet", "zone": "vlanz", "tag": (v % 4094) + 1}),
        );
    }
    let mut config = json!({
        "version": 7,
        "zones": {"ids": zones},
        "vnets": {"ids": vnets},
        "subnets": {"ids": subnets},
    });
    if evpn_zones > 0 {
        config["controllers"] = json!({"ids": {"evpnctl": {
            "type": "evpn", "asn": 65000, "peers": "10.0.0.1,10.0.0.2,10.0.0.3"
        }}});
    }
    config
}

/// [`config`]'s EVPN zones and vnets with the controller on an OpenFabric underlay of
/// `fabric_nodes` nodes (`node1` is the local one) instead of a peer list.
pub fn fabric_config(fabric_nodes: usize, evpn_zones: usize, evpn_vnets: usize) -> Value {
    let mut config = config(evpn_zones, evpn_vnets, 0);
    let mut ids = Map::new();
    ids.insert(
        "uf".into(),
        json!({"id": "uf", "type": "openfabric_fabric", "ip_prefix": "10.200.0.0/16", "hello_interval": 1}),
    );
    for n in 1..=fabric_nodes {
        let id = format!("uf_node{n}");
        ids.insert(
            id.clone(),
            json!({"id": id, "type": "openfabric_node", "ip": format!("10.200.{}.{}", n / 256, n % 256),
                   "interfaces": ["name=ens20", "name=ens21"]}),
        );
    }
    config["fabrics"] = json!({ "ids": ids });
    config["controllers"] = json!({"ids": {"evpnctl": {"type": "evpn", "asn": 65000, "fabric": "uf"}}});
    config
}
