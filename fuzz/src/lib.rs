//! What several fuzz targets share: a small valid configuration that touches every zone and
//! controller type, with the ids the generation cases use (`myzone`, `myvnet`, `evpnctl`, ...)
//! so that the seeds derived from those cases address existing objects.

use serde_json::{json, Value};

/// The running-config JSON of the fixed configuration.
pub fn running_config() -> Value {
    json!({
        "version": 1,
        "zones": {"ids": {
            "myzone": {"type": "evpn", "controller": "evpnctl", "vrf-vxlan": 1000,
                       "exitnodes": "localhost", "advertise-subnets": 1, "ipam": "pve"},
            "vlanz": {"type": "vlan", "bridge": "vmbr0"},
            "qinqz": {"type": "qinq", "bridge": "vmbr1", "tag": 20, "vlan-protocol": "802.1ad"},
            "vxz": {"type": "vxlan", "peers": "192.168.0.1,192.168.0.2,10.0.0.1"},
            "simplez": {"type": "simple", "dhcp": "dnsmasq", "ipam": "pve"}
        }},
        "vnets": {"ids": {
            "myvnet": {"type": "vnet", "zone": "myzone", "tag": 100},
            "vlvnet": {"type": "vnet", "zone": "vlanz", "tag": 10},
            "qvnet": {"type": "vnet", "zone": "qinqz", "tag": 30},
            "vxvnet": {"type": "vnet", "zone": "vxz", "tag": 200},
            "svnet": {"type": "vnet", "zone": "simplez"}
        }},
        "subnets": {"ids": {
            "myzone-10.0.0.0-24": {"type": "subnet", "vnet": "myvnet", "gateway": "10.0.0.1"},
            "simplez-192.168.10.0-24": {"type": "subnet", "vnet": "svnet", "gateway": "192.168.10.1",
                "snat": 1, "dhcp-range": ["start-address=192.168.10.100,end-address=192.168.10.200"]},
            "simplez-fd00:10::-64": {"type": "subnet", "vnet": "svnet", "gateway": "fd00:10::1"}
        }},
        "controllers": {"ids": {
            "evpnctl": {"type": "evpn", "asn": 65000, "peers": "192.168.0.1,192.168.0.2"},
            "localhost": {"type": "bgp", "asn": 65000, "node": "localhost", "loopback": "dummy1",
                          "peers": "192.168.0.252"},
            "isisctl": {"type": "isis", "node": "localhost", "isis-domain": "isis1",
                        "isis-ifaces": "eth1", "loopback": "lo",
                        "isis-net": "47.0023.0000.0000.0000.0000.0000.0000.1900.0004.00"}
        }}
    })
}

/// The IPAMs and DNS servers of the fixed configuration (not part of a running config).
pub const IPAMS_CFG: &str = "pve: pve\n\nnetbox: netbox\n\ttoken abc\n\turl https://netbox.example/api\n\n";
pub const DNS_CFG: &str = "powerdns: pdns\n\tkey secret\n\turl http://127.0.0.1:8081/api/v1/servers/localhost\n\n";

/// The facts of the node `localhost` the fixed configuration is generated for.
pub fn facts() -> Value {
    json!({
        "node": "localhost",
        "route-iface": "vmbr0",
        "route-ip": "192.168.0.1",
        "mac": "bc:24:11:1d:69:60",
        "bridge-ports": {"vmbr0": ["eth0"], "vmbr1": ["eth1"]}
    })
}

/// Splits `data` at its first NUL byte; without one, all of it is the first part.
pub fn split_nul(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], Some(&data[nul + 1..])),
        None => (data, None),
    }
}
