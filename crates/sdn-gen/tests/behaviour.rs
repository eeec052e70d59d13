//! Generator rules beyond what the corpus covers: node filtering, skipped vnets, when an FRR
//! config exists, exit-node variants, error reporting.

use serde_json::{json, Value};

use sdn_config::{Reading, RunningConfig, RunningConfigError};
use sdn_gen::{generate, GenError, GenInput, GenOutput, NodeFacts};

const INTERFACES: &str =
    "auto vmbr0\niface vmbr0 inet static\n\taddress 192.168.0.1/24\n\tbridge-ports eth0\n";

fn facts(node: &str) -> NodeFacts {
    serde_json::from_value(json!({
        "node": node, "route-iface": "vmbr0", "route-ip": "192.168.0.1",
        "mac": "bc:24:11:1d:69:60", "bridge-ports": {"vmbr0": ["eth0"]}
    }))
    .expect("facts")
}

/// Reads `config` as the reference's files are read, then generates `node`'s files.
fn run(config: &Value, node: &str, local: Option<&str>) -> Result<GenOutput, GenError> {
    let facts = facts(node);
    let running = RunningConfig::from_json(config, Reading::Lenient)?;
    generate(&GenInput {
        running_config: &running,
        facts: &facts,
        interfaces: INTERFACES,
        frr_local: local,
    })
}

fn evpn(zone: Value) -> Value {
    json!({
        "version": 3,
        "controllers": {"ids": {"ctl": {"type": "evpn", "asn": "65000", "peers": "192.168.0.1,192.168.0.2"}}},
        "zones": {"ids": {"z": zone}},
        "vnets": {"ids": {"v": {"zone": "z", "tag": 100}}},
        "subnets": {"ids": {"z-10.0.0.0-24": {"vnet": "v", "gateway": "10.0.0.1"},
                            "other-10.9.0.0-16": {"vnet": "w", "gateway": "10.9.0.1"}}}
    })
}

#[test]
fn zones_limited_to_other_nodes_are_not_generated() {
    let config = json!({
        "version": 1,
        "zones": {"ids": {"a": {"type": "simple", "nodes": "node1"}, "b": {"type": "simple", "nodes": {"node2": 1}}}},
        "vnets": {"ids": {"va": {"zone": "a"}, "vb": {"zone": "b"}}}
    });
    let out = run(&config, "node1", None).unwrap();
    assert!(out.interfaces.contains("auto va\n"));
    assert!(!out.interfaces.contains("auto vb\n"));
    assert_eq!(out.frr, None);
}

#[test]
fn vnets_that_cannot_be_generated_are_skipped_with_a_warning() {
    let config = json!({
        "version": 2,
        "zones": {"ids": {"x": {"type": "vxlan", "peers": "192.168.0.1,192.168.0.2"}}},
        "vnets": {"ids": {"notag": {"zone": "x"}, "nozone": {"zone": "missing"}, "ok": {"zone": "x", "tag": 5}}}
    });
    let out = run(&config, "node1", None).unwrap();
    assert_eq!(
        out.interfaces,
        "#version:2\n\nauto ok\niface ok\n\tbridge_ports vxlan_ok\n\tbridge_stp off\n\tbridge_fd 0\n\tmtu 1450\n\nauto vxlan_ok\niface vxlan_ok\n\tvxlan-id 5\n\tvxlan_remoteip 192.168.0.2\n\tmtu 1450\n"
    );
    assert_eq!(out.warnings.len(), 2, "{:?}", out.warnings);
    assert!(out
        .warnings
        .iter()
        .any(|w| w.vnet.as_deref() == Some("notag") && w.message.contains("missing vxlan tag")));
    assert!(out
        .warnings
        .iter()
        .any(|w| w.vnet.as_deref() == Some("nozone") && w.zone.as_deref() == Some("missing")));
}

#[test]
fn vlan_zone_on_a_plain_bridge_builds_a_vlan_bridge() {
    let config = json!({
        "version": 1,
        "zones": {"ids": {"vz": {"type": "vlan", "bridge": "vmbr0", "mtu": 1400}}},
        "vnets": {"ids": {"vn": {"zone": "vz", "tag": "20", "alias": "tenant a"}}}
    });
    let out = run(&config, "node1", None).unwrap();
    assert!(out.interfaces.contains("auto vmbr0v20\niface vmbr0v20\n\tbridge_ports  eth0.20 pr_vn\n\tbridge_stp off\n\tbridge_fd 0\n\tmtu 1400\n"));
    assert!(out.interfaces.contains("auto vn\niface vn\n\tbridge_ports ln_vn\n\tbridge_stp off\n\tbridge_fd 0\n\tmtu 1400\n\talias tenant a\n"));

    let missing = json!({
        "zones": {"ids": {"vz": {"type": "vlan", "bridge": "vmbr9"}}},
        "vnets": {"ids": {"vn": {"zone": "vz", "tag": 20}}}
    });
    let out = run(&missing, "node1", None).unwrap();
    assert!(out
        .warnings
        .iter()
        .any(|w| w.zone.as_deref() == Some("vz") && w.vnet.as_deref() == Some("vn") && w.message.contains("can't find bridge vmbr9")));
}

#[test]
fn frr_exists_with_controllers_fabrics_or_a_local_file() {
    let simple = json!({"zones": {"ids": {}}, "vnets": {"ids": {}}});
    assert_eq!(run(&simple, "node1", None).unwrap().frr, None);
    let frr = run(
        &simple,
        "node1",
        Some("router ospf\n ospf router-id 1.1.1.1\nexit\n"),
    )
    .unwrap()
    .frr
    .expect("frr.conf.local alone makes an FRR config");
    assert_eq!(
        frr,
        "frr version 10.4.1\nfrr defaults datacenter\nhostname node1\nlog syslog informational\nservice integrated-vtysh-config\nrouter ospf\n ospf router-id 1.1.1.1\nexit\n!\n!\nline vty\n!\n"
    );
    assert!(run(
        &evpn(json!({"type": "evpn", "controller": "ctl", "vrf-vxlan": 10})),
        "node1",
        None
    )
    .unwrap()
    .frr
    .is_some());
}

#[test]
fn secondary_exit_node_announces_default_with_worse_metric() {
    let zone = json!({"type": "evpn", "controller": "ctl", "vrf-vxlan": 10,
                      "exitnodes": "node1,node2", "exitnodes-primary": "node2",
                      "rt-import": "65000:5"});
    let frr = run(&evpn(zone), "node1", None).unwrap().frr.unwrap();
    assert!(frr.contains(
        "!\nroute-map MAP_VTEP_OUT permit 1\n match ip address prefix-list only_default\n set metric 200\nexit\n!\nroute-map MAP_VTEP_OUT permit 2\n match ipv6 address prefix-list only_default_v6\n set metric 200\nexit\n!\nroute-map MAP_VTEP_OUT permit 3\nexit\n"
    ), "{frr}");
    // The other zone's subnet is null-routed in this zone's VRF on exit nodes.
    assert!(
        frr.contains("vrf vrf_z\n vni 10\n ip route 10.9.0.0/16 null0\nexit-vrf\n"),
        "{frr}"
    );
    assert!(frr.contains("  route-target import 65000:5\n"), "{frr}");
    assert!(frr.contains("  import vrf vrf_z\n"), "{frr}");
}

#[test]
fn advertise_subnets_on_non_exit_nodes() {
    let zone =
        json!({"type": "evpn", "controller": "ctl", "vrf-vxlan": 10, "advertise-subnets": 1});
    let out = run(&evpn(zone), "node1", None).unwrap();
    let frr = out.frr.unwrap();
    assert!(frr.contains(" address-family l2vpn evpn\n  advertise ipv4 unicast\n  advertise ipv6 unicast\n exit-address-family\n"), "{frr}");
    assert!(out
        .interfaces
        .contains("post-up ip route add vrf vrf_z unreachable default metric 4278198272"));
}

#[test]
fn ipv6_only_underlay_derives_router_id_from_mac_or_fails() {
    let mut config = evpn(json!({"type": "evpn", "controller": "ctl", "vrf-vxlan": 10}));
    config["controllers"]["ids"]["ctl"]["peers"] = json!("fd00::1,fd00::2");
    let mut facts = facts("node1");
    facts.route_ip = "fd00::9".parse().ok();
    let running = RunningConfig::from_json(&config, Reading::Lenient).unwrap();
    let input = |facts: &NodeFacts| {
        generate(&GenInput {
            running_config: &running,
            facts,
            interfaces: INTERFACES,
            frr_local: None,
        })
    };
    let frr = input(&facts).unwrap().frr.unwrap();
    assert!(frr.contains(" bgp router-id 17.29.105.96\n"), "{frr}");
    facts.mac = None;
    let err = input(&facts).unwrap_err().to_string();
    assert!(
        err.contains("controller ctl") && err.contains("router-id"),
        "{err}"
    );
}

#[test]
fn malformed_values_name_object_and_field() {
    let config =
        json!({"zones": {"ids": {"z": {"type": "vlan", "bridge": "vmbr0", "mtu": "big"}}}});
    let err = run(&config, "node1", None).unwrap_err().to_string();
    assert!(err.contains("zone 'z'") && err.contains("'mtu'"), "{err}");
    let config = json!({"zones": []});
    assert!(run(&config, "node1", None).is_err());
    let config = json!({"vnets": {"ids": {"v": {"zone": "z", "alias": "a\nauto evil"}}}});
    let err = run(&config, "node1", None).unwrap_err().to_string();
    assert!(err.contains("'alias'"), "{err}");
}

/// What an error names: the object and, for a bad value, the field.
type Named<'a> = (&'a str, Option<&'a str>);

fn named(err: &GenError) -> Named<'_> {
    match err {
        GenError::Field { object, field, .. }
        | GenError::Config(RunningConfigError::Field { object, field, .. }) => {
            (object, Some(field))
        }
        GenError::Shape { object, .. }
        | GenError::Config(RunningConfigError::Shape { object, .. }) => (object, None),
    }
}

#[test]
fn hostile_input_never_panics() {
    // Each config either generates, or fails with an error naming the object (and the field,
    // when one value is at fault); nothing panics.
    let cases: [(Value, Option<Named>); 8] = [
        (json!(null), Some(("running config", None))),
        (
            json!({"version": -1}),
            Some(("running config", Some("version"))),
        ),
        (
            json!({"subnets": {"ids": {"--": {}}}}),
            Some(("subnet '--'", None)),
        ),
        (
            json!({"subnets": {"ids": {"z-10.0.0.0-99": {}}}}),
            Some(("subnet 'z-10.0.0.0-99'", None)),
        ),
        (
            json!({"controllers": {"ids": {"c": {"type": "bgp", "asn": 99999999999u64}}}}),
            Some(("controller 'c'", Some("asn"))),
        ),
        (
            json!({"fabrics": {"ids": {"f_n": {"type": "ospf_node"}}}}),
            Some(("fabric entry 'f_n'", Some("fabric_id"))),
        ),
        (
            json!({"fabrics": {"ids": {"f": {"type": "ospf_fabric"}, "f_node1": {"type": "ospf_node", "interfaces": ["name=e1"]}}}}),
            Some(("fabric 'f' node 'node1'", None)),
        ),
        (
            json!({"zones": {"ids": {"z": {"type": "evpn", "controller": "c"}}}, "vnets": {"ids": {"v": {"zone": "z", "tag": 1}}},
                   "controllers": {"ids": {"c": {"type": "evpn", "asn": 1, "peers": "10.0.0.1"}}}}),
            None,
        ),
    ];
    for (config, expected) in &cases {
        let result = run(
            config,
            "node1",
            Some("route-map\nrouter bgp\n address-family\nexit-address-family\nvrf\n"),
        );
        match (&result, expected) {
            (Ok(_), None) => {}
            (Err(err), Some(want)) => assert_eq!(named(err), *want, "{config}: {err}"),
            _ => panic!("{config}: expected {expected:?}, got {result:?}"),
        }
    }
}
