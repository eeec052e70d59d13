//! What the generator needs to know about this node, read from the kernel at render time:
//! the interface and address used to reach the peers, its MAC, and each bridge's ports.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use sdn_config::running::{Controller, ZoneKind};
use sdn_config::{IpLiteral, RunningConfig};
use serde_json::{json, Value};

/// The underlay peers named in a running configuration (controllers' and vxlan zones' `peers`).
pub fn peers(running: &RunningConfig) -> Vec<IpAddr> {
    let controllers = running.controllers.iter().flatten().filter_map(|(_, c)| match c {
        Controller::Evpn { peers, .. } => peers.as_deref(),
        Controller::Bgp(bgp) => Some(bgp.peers.as_slice()),
        Controller::Isis(_) | Controller::Other => None,
    });
    let zones = running.zones.iter().flatten().filter_map(|(_, z)| match &z.kind {
        ZoneKind::Vxlan { peers, .. } => peers.as_deref(),
        _ => None,
    });
    let mut found: Vec<IpAddr> = controllers.chain(zones).flatten().map(IpLiteral::addr).collect();
    found.sort();
    found.dedup();
    found
}

/// Local addresses per interface (`ip -j addr show`).
fn local_addresses() -> BTreeMap<IpAddr, String> {
    let Some(Value::Array(links)) = ip_json(&["addr", "show"]) else { return BTreeMap::new() };
    let mut map = BTreeMap::new();
    for link in links {
        let Some(name) = link["ifname"].as_str() else { continue };
        for addr in link["addr_info"].as_array().into_iter().flatten() {
            if let Some(ip) = addr["local"].as_str().and_then(|s| s.parse().ok()) {
                map.insert(ip, name.to_string());
            }
        }
    }
    map
}

fn ip_json(args: &[&str]) -> Option<Value> {
    let out = Command::new("ip").arg("-j").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The interface and source address this node reaches `peers` with: a local address that is
/// itself a peer wins, else the kernel's route to the first peer (as the reference does).
fn route_to(peers: &[IpAddr]) -> (Option<String>, Option<IpAddr>) {
    let local = local_addresses();
    if let Some((ip, iface)) = peers.iter().find_map(|p| local.get(p).map(|iface| (*p, iface.clone()))) {
        return (Some(iface), Some(ip));
    }
    let Some(first) = peers.first() else { return (None, None) };
    let Some(Value::Array(routes)) = ip_json(&["route", "get", &first.to_string()]) else { return (None, None) };
    let Some(route) = routes.first() else { return (None, None) };
    (
        route["dev"].as_str().map(str::to_string),
        route["prefsrc"].as_str().and_then(|s| s.parse().ok()),
    )
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Each Linux bridge's ports, from sysfs.
fn bridge_ports(sys_class_net: &Path) -> BTreeMap<String, Vec<String>> {
    let mut bridges = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(sys_class_net) else { return bridges };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(ports) = std::fs::read_dir(entry.path().join("brif")) else { continue };
        let mut ports: Vec<String> = ports.flatten().map(|p| p.file_name().to_string_lossy().into_owned()).collect();
        ports.sort();
        bridges.insert(name, ports);
    }
    bridges
}

/// Reads this node's facts from the kernel, in the generator's `facts.json` shape.
pub fn from_kernel(node: &str, running: &RunningConfig) -> Value {
    let (iface, ip) = route_to(&peers(running));
    let sys = Path::new("/sys/class/net");
    let mac = iface.as_ref().and_then(|i| read_trimmed(&sys.join(i).join("address")));
    json!({
        "node": node,
        "route-iface": iface.unwrap_or_default(),
        "route-ip": ip.map(|ip| ip.to_string()),
        "mac": mac,
        "bridge-ports": bridge_ports(sys),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdn_config::Reading;

    #[test]
    fn peers_from_every_form() {
        let running = json!({
            "controllers": {"ids": {"c": {"type": "evpn", "peers": "10.0.0.2,10.0.0.1"}}},
            "zones": {"ids": {
                "v": {"type": "vxlan", "peers": ["10.0.0.3", "10.0.0.1"]},
                "s": {"type": "simple"}
            }}
        });
        let running = RunningConfig::from_json(&running, Reading::Lenient).unwrap();
        let want: Vec<IpAddr> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(peers(&running), want);
    }

    #[test]
    fn kernel_facts_have_the_generator_shape() {
        let facts = from_kernel("n1", &RunningConfig::default());
        assert_eq!(facts["node"], "n1");
        assert!(facts["bridge-ports"].is_object());
        let parsed: Result<sdn_gen::NodeFacts, _> = serde_json::from_value(facts);
        assert!(parsed.is_ok(), "{parsed:?}");
    }
}
