//! The node's own files: `/etc/network/interfaces`, then after a NUL byte `frr.conf.local`
//! (absent without one), fed to a fixed configuration that reads both: bridges of vlan and
//! qinq zones, peer and loopback addresses of vxlan zones and controllers, uplink ids, and the
//! merge of the local FRR snippet.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sdn_gen::{GenInput, NodeFacts};
use serde_json::Value;

static RUNNING_CONFIG: LazyLock<Value> = LazyLock::new(|| {
    serde_json::json!({
        "version": 1,
        "zones": {"ids": {
            "evpnz": {"type": "evpn", "controller": "evpnctl", "vrf-vxlan": 1000,
                      "exitnodes": "localhost", "advertise-subnets": 1},
            "vlanz": {"type": "vlan", "bridge": "vmbr0"},
            "qinqz": {"type": "qinq", "bridge": "vmbr1", "tag": 20, "vlan-protocol": "802.1ad"},
            "vxz": {"type": "vxlan", "peers": "192.168.0.1,192.168.0.2,10.0.0.1"}
        }},
        "vnets": {"ids": {
            "evnet": {"type": "vnet", "zone": "evpnz", "tag": 100},
            "vlvnet": {"type": "vnet", "zone": "vlanz", "tag": 10},
            "qvnet": {"type": "vnet", "zone": "qinqz", "tag": 30},
            "vxvnet": {"type": "vnet", "zone": "vxz", "tag": 200}
        }},
        "subnets": {"ids": {
            "evpnz-10.0.0.0-24": {"type": "subnet", "vnet": "evnet", "gateway": "10.0.0.1"}
        }},
        "controllers": {"ids": {
            "evpnctl": {"type": "evpn", "asn": 65000, "peers": "192.168.0.1,192.168.0.2"},
            "bgplocal": {"type": "bgp", "asn": 65000, "node": "localhost", "loopback": "dummy1",
                         "peers": "192.168.0.252"},
            "isisctl": {"type": "isis", "node": "localhost", "isis-domain": "isis1",
                        "isis-ifaces": "eth1", "loopback": "lo",
                        "isis-net": "47.0023.0000.0000.0000.0000.0000.0000.1900.0004.00"}
        }}
    })
});

static FACTS: LazyLock<NodeFacts> = LazyLock::new(|| {
    serde_json::from_value(serde_json::json!({
        "node": "localhost",
        "route-iface": "vmbr0",
        "route-ip": "192.168.0.1",
        "mac": "bc:24:11:1d:69:60",
        "bridge-ports": {"vmbr0": ["eth0"], "vmbr1": ["eth1"]}
    }))
    .expect("fixed facts are valid")
});

fuzz_target!(|data: &[u8]| {
    let (interfaces, frr_local) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], Some(&data[nul + 1..])),
        None => (data, None),
    };
    let interfaces = String::from_utf8_lossy(interfaces);
    let frr_local = frr_local.map(String::from_utf8_lossy);
    let _ = sdn_gen::generate(&GenInput {
        running_config: &RUNNING_CONFIG,
        facts: &FACTS,
        interfaces: &interfaces,
        frr_local: frr_local.as_deref(),
    });
});
