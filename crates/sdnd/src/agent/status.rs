//! The agent's answers to status queries: it runs FRR's `vtysh -c '... json'` (and `ip` and
//! `bridge` for bridges) and turns their JSON into the shapes of PVE's node status API, the
//! way PVE does it (`pve-rs`'s `sdn/status.rs` and `PVE::API2::Network::SDN::Nodes::*`).
//!
//! The conversions are pure functions of the commands' output, so that tests can feed them
//! FRR's recorded output.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::node_query::NodeQuery;

/// The commands the agent runs, each a shell command line its arguments are appended to.
#[derive(Debug, Clone)]
pub struct StatusCommands {
    /// FRR's shell (`vtysh`); run as `VTYSH -c 'show ... json'`.
    pub vtysh: String,
    /// iproute2's `ip`; run as `IP -details -json link show`.
    pub ip: String,
    /// iproute2's `bridge`; run as `BRIDGE -json vlan show`.
    pub bridge: String,
}

impl Default for StatusCommands {
    fn default() -> Self {
        StatusCommands { vtysh: "vtysh".into(), ip: "ip".into(), bridge: "bridge".into() }
    }
}

/// How long one command may run before it is killed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(8);
/// The most output read from one command.
const MAX_OUTPUT: u64 = 64 << 20;

/// Answers one query on this node.
pub fn answer(commands: &StatusCommands, query: &NodeQuery) -> Result<Value, String> {
    let vtysh = |command: &str| run(&commands.vtysh, &["-c", command]);
    match query {
        NodeQuery::IpVrf { vrf } => l3vpn_routes(vrf, &vtysh(&format!("show ip route vrf {vrf} json"))?),
        NodeQuery::MacVrf { vni } => l2vpn_routes(&vtysh(&format!("show bgp l2vpn evpn route vni {vni} type 2 json"))?),
        NodeQuery::FabricRoutes { fabric, protocol, interfaces } => {
            let outputs = match protocol.as_str() {
                "openfabric" => {
                    vec![vtysh("show ip route openfabric json")?, vtysh("show ipv6 route openfabric json")?]
                }
                "ospf" => vec![vtysh("show ip route ospf json")?],
                other => return Err(format!("fabric protocol '{other}' has no status")),
            };
            fabric_routes(fabric, interfaces, &outputs)
        }
        NodeQuery::FabricNeighbors { fabric, protocol, interfaces } => match protocol.as_str() {
            "openfabric" => openfabric_neighbors(fabric, &vtysh("show openfabric neighbor detail json")?),
            "ospf" => ospf_neighbors(fabric, interfaces, &vtysh("show ip ospf neighbor json")?),
            other => Err(format!("fabric protocol '{other}' has no status")),
        },
        NodeQuery::FabricInterfaces { fabric, protocol, interfaces } => match protocol.as_str() {
            "openfabric" => openfabric_interfaces(fabric, &vtysh("show openfabric interface json")?),
            "ospf" => ospf_interfaces(fabric, interfaces, &vtysh("show ip ospf interface json")?),
            other => Err(format!("fabric protocol '{other}' has no status")),
        },
        NodeQuery::Bridges { bridges: names } => {
            let links = run(&commands.ip, &["-details", "-json", "link", "show"])?;
            let vlans = run(&commands.bridge, &["-json", "vlan", "show"])?;
            bridges(names.as_deref(), &links, &vlans)
        }
    }
}

/// FRR's route tables of a fabric protocol (`show ip(v6) route PROTOCOL json`); a command that
/// fails counts as no routes.
pub fn route_tables(commands: &StatusCommands, protocol: &str) -> Vec<String> {
    let shows: &[&str] = match protocol {
        "openfabric" => &["show ip route openfabric json", "show ipv6 route openfabric json"],
        "ospf" => &["show ip route ospf json"],
        _ => &[],
    };
    shows.iter().filter_map(|show| run(&commands.vtysh, &["-c", show]).ok()).collect()
}

/// Runs `command` (a shell command line) with `args` appended, no shell parsing of the
/// arguments; its standard output, or why it failed.
fn run(command: &str, args: &[&str]) -> Result<String, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("{command} \"$@\""))
        .arg("sh")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running '{command}': {e}"))?;
    let line = format!("{command} {}", args.join(" "));
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stdout).take(MAX_OUTPUT).read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stderr).take(64 << 10).read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("'{line}' did not finish within {}s", COMMAND_TIMEOUT.as_secs()));
            }
            Err(e) => return Err(format!("waiting for '{line}': {e}")),
        }
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("'{line}' failed ({status}): {}", String::from_utf8_lossy(&err).trim()));
    }
    String::from_utf8(out).map_err(|_| format!("'{line}' printed something that is not UTF-8"))
}

/// Parses a command's JSON; empty output (a daemon that is not running) is `default`.
fn parse(what: &str, text: &str, default: Value) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(default);
    }
    serde_json::from_str(text).map_err(|e| format!("error parsing {what}: {e}"))
}

fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn flag(value: &Value, key: &str) -> bool {
    value.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// A route table's prefixes in the order PVE lists them (by address, then length; IPv4 first).
fn by_prefix(table: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = table.iter().collect();
    let key = |prefix: &str| {
        let (addr, len) = prefix.split_once('/').unwrap_or((prefix, ""));
        (addr.parse::<IpAddr>().ok(), len.parse::<u8>().unwrap_or(0))
    };
    entries.sort_by(|(a, _), (b, _)| key(a).cmp(&key(b)).then_with(|| a.cmp(b)));
    entries
}

/// `GET /nodes/{node}/sdn/zones/{zone}/ip-vrf` from `show ip route vrf VRF json`: every
/// installed route of the VRF with its nexthops (address, else interface; duplicates left out).
pub fn l3vpn_routes(vrf: &str, output: &str) -> Result<Value, String> {
    let table = parse("l3vpn routes", output, json!({}))?;
    let table = table.as_object().ok_or("error parsing l3vpn routes: not an object")?;
    let mut result = Vec::new();
    for (prefix, routes) in by_prefix(table) {
        for route in routes.as_array().into_iter().flatten() {
            if str_of(route, "vrfName") != Some(vrf) || !flag(route, "installed") {
                continue;
            }
            let nexthops: Vec<&str> = route["nexthops"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|nh| !flag(nh, "duplicate"))
                .filter_map(|nh| str_of(nh, "ip").or_else(|| str_of(nh, "interfaceName")))
                .collect();
            result.push(json!({
                "ip": prefix,
                "protocol": str_of(route, "protocol").unwrap_or_default(),
                "metric": route["metric"].as_i64().unwrap_or(0),
                "nexthops": nexthops,
            }));
        }
    }
    Ok(Value::Array(result))
}

/// `GET /nodes/{node}/sdn/vnets/{vnet}/mac-vrf` from `show bgp l2vpn evpn route vni VNI type 2
/// json`: the best path of every MAC/IP route, with its first nexthop.
pub fn l2vpn_routes(output: &str) -> Result<Value, String> {
    let table = parse("l2vpn routes", output, json!({}))?;
    let table = table.as_object().ok_or("error parsing l2vpn routes: not an object")?;
    let mut result = Vec::new();
    // numPrefix and numPaths sit among the routes; only objects are routes. PVE lists them
    // in the order of their prefixes' text.
    let sorted: BTreeMap<&String, &Value> = table.iter().filter(|(_, v)| v.is_object()).collect();
    for route in sorted.into_values() {
        for path in route["paths"].as_array().into_iter().flatten().filter_map(Value::as_array).flatten() {
            if !flag(path, "bestpath") {
                continue;
            }
            let nexthop = path["nexthops"].as_array().and_then(|n| n.first()).and_then(|n| str_of(n, "ip"));
            if let (Some(mac), Some(ip), Some(nexthop)) = (str_of(path, "mac"), str_of(path, "ip"), nexthop) {
                result.push(json!({ "mac": mac.to_ascii_lowercase(), "ip": ip, "nexthop": nexthop }));
            }
        }
    }
    Ok(Value::Array(result))
}

/// The interfaces that tie FRR's output to a fabric on this node: its configured ones and its
/// loopback dummy.
fn fabric_interfaces(fabric: &str, interfaces: &[String]) -> BTreeSet<String> {
    interfaces.iter().cloned().chain([format!("dummy_{fabric}")]).collect()
}

/// `GET /nodes/{node}/sdn/fabrics/{fabric}/routes` from `show ip(v6) route PROTOCOL json`: the
/// routes one of whose installed nexthops leaves through an interface of the fabric, with
/// every nexthop (address, else interface, else `unreachable`).
pub fn fabric_routes(fabric: &str, interfaces: &[String], outputs: &[String]) -> Result<Value, String> {
    let names = fabric_interfaces(fabric, interfaces);
    let mut table = Map::new();
    for output in outputs {
        if let Value::Object(routes) = parse("fabric routes", output, json!({}))? {
            table.extend(routes);
        }
    }
    let mut result = Vec::new();
    for (prefix, routes) in by_prefix(&table) {
        let routes: Vec<&Value> = routes.as_array().into_iter().flatten().collect();
        let ours = routes.iter().filter(|r| flag(r, "installed")).any(|route| {
            route["nexthops"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|nh| str_of(nh, "interfaceName").is_some_and(|name| names.contains(name)))
        });
        if !ours {
            continue;
        }
        let via: Vec<&str> = routes
            .iter()
            .flat_map(|r| r["nexthops"].as_array().into_iter().flatten())
            .filter_map(|nh| {
                str_of(nh, "ip")
                    .or_else(|| str_of(nh, "interfaceName"))
                    .or_else(|| flag(nh, "unreachable").then_some("unreachable"))
            })
            .collect();
        result.push(json!({ "route": prefix, "via": via }));
    }
    Ok(Value::Array(result))
}

/// OpenFabric's areas are the fabrics: the circuits of area `fabric`.
fn openfabric_circuits<'a>(fabric: &str, parsed: &'a Value) -> impl Iterator<Item = &'a Value> + 'a {
    let fabric = fabric.to_string();
    parsed["areas"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |area| str_of(area, "area") == Some(fabric.as_str()))
        .flat_map(|area| area["circuits"].as_array().into_iter().flatten())
}

/// `.../neighbors` of an OpenFabric fabric, from `show openfabric neighbor detail json`.
pub fn openfabric_neighbors(fabric: &str, output: &str) -> Result<Value, String> {
    let parsed = parse("openfabric neighbors", output, json!({ "areas": [] }))?;
    let neighbors: Vec<Value> = openfabric_circuits(fabric, &parsed)
        .filter_map(|circuit| {
            let adj = str_of(circuit, "adj")?;
            let interface = circuit.get("interface")?;
            let state = str_of(interface, "state")?;
            Some(json!({
                "neighbor": adj,
                "status": state,
                "uptime": str_of(interface, "last-ago").unwrap_or_default(),
            }))
        })
        .collect();
    Ok(Value::Array(neighbors))
}

/// `.../neighbors` of an OSPF fabric, from `show ip ospf neighbor json`: per neighbor, the first
/// adjacency over an interface of the fabric.
pub fn ospf_neighbors(fabric: &str, interfaces: &[String], output: &str) -> Result<Value, String> {
    let names = fabric_interfaces(fabric, interfaces);
    let parsed = parse("ospf neighbors", output, json!({ "neighbors": {} }))?;
    let mut result = Vec::new();
    for adjacencies in parsed["neighbors"].as_object().into_iter().flat_map(Map::values) {
        let found = adjacencies.as_array().into_iter().flatten().find(|n| {
            str_of(n, "ifaceName").and_then(|name| name.split_once(':')).is_some_and(|(iface, _)| names.contains(iface))
        });
        if let Some(n) = found {
            result.push(json!({
                "neighbor": str_of(n, "ifaceAddress").unwrap_or_default(),
                "status": str_of(n, "nbrState").unwrap_or_default(),
                "uptime": str_of(n, "upTime").unwrap_or_default(),
            }));
        }
    }
    Ok(Value::Array(result))
}

/// `.../interfaces` of an OpenFabric fabric, from `show openfabric interface json`.
pub fn openfabric_interfaces(fabric: &str, output: &str) -> Result<Value, String> {
    let parsed = parse("openfabric interfaces", output, json!({ "areas": [] }))?;
    let interfaces: Vec<Value> = openfabric_circuits(fabric, &parsed)
        .filter_map(|circuit| {
            let interface = circuit.get("interface")?;
            let ty = match str_of(interface, "type") {
                Some("p2p") => "Point-To-Point",
                Some("lan") => "Broadcast",
                Some("loopback") => "Loopback",
                _ => "Unknown",
            };
            Some(json!({
                "name": str_of(interface, "name")?,
                "state": str_of(interface, "state").unwrap_or("Unknown"),
                "type": ty,
            }))
        })
        .collect();
    Ok(Value::Array(interfaces))
}

/// `.../interfaces` of an OSPF fabric, from `show ip ospf interface json`.
pub fn ospf_interfaces(fabric: &str, interfaces: &[String], output: &str) -> Result<Value, String> {
    let names = fabric_interfaces(fabric, interfaces);
    let parsed = parse("ospf interfaces", output, json!({ "interfaces": {} }))?;
    let mut result = Vec::new();
    let listed: BTreeMap<&String, &Value> = parsed["interfaces"].as_object().into_iter().flatten().collect();
    for (name, interface) in listed {
        if !names.contains(name.as_str()) {
            continue;
        }
        let ty = match str_of(interface, "networkType") {
            Some("POINTOPOINT") => "Point-To-Point",
            Some("BROADCAST") => "Broadcast",
            Some("NBMA") => "NBMA",
            Some("POINTOMULTIPOINT") => "Point-To-Multipoint",
            Some("VIRTUALLINK") => "Virtual Link",
            Some("LOOPBACK") => "Loopback",
            _ => "Null",
        };
        let state = if flag(interface, "ifUp") { "up" } else { "down" };
        result.push(json!({ "name": name, "state": state, "type": ty }));
    }
    Ok(Value::Array(result))
}

/// `GET /nodes/{node}/sdn/zones/{zone}/bridges` from `ip -details -json link show` and `bridge
/// -json vlan show`: each of the `names` bridges that exists (`None`: every bridge), with its
/// member ports (the guest and NIC a port belongs to, and for VLAN-aware bridges its VLANs).
pub fn bridges(names: Option<&[String]>, links: &str, vlans: &str) -> Result<Value, String> {
    let links = parse("ip link details", links, json!([]))?;
    let vlans = parse("bridge vlan information", vlans, json!([]))?;
    let links = links.as_array().ok_or("error parsing ip link details: not an array")?;
    let vlans: BTreeMap<&str, &Value> =
        vlans.as_array().into_iter().flatten().filter_map(|entry| Some((str_of(entry, "ifname")?, entry))).collect();
    let mut result: BTreeMap<&str, Value> = BTreeMap::new();
    for link in links {
        let Some(name) = str_of(link, "ifname") else { continue };
        let wanted = match names {
            Some(names) => names.iter().any(|n| n == name),
            None => str_of(&link["linkinfo"], "info_kind") == Some("bridge"),
        };
        if wanted {
            let filtering = link["linkinfo"]["info_data"]["vlan_filtering"].clone();
            let filtering = match filtering {
                Value::Number(n) => n.to_string(),
                Value::Null => "0".to_string(),
                other => other.to_string(),
            };
            result.insert(name, json!({ "name": name, "vlan_filtering": filtering, "ports": [] }));
        }
    }
    for link in links {
        let (Some(ifname), Some(master)) = (str_of(link, "ifname"), str_of(link, "master")) else { continue };
        if str_of(&link["linkinfo"], "info_slave_kind") != Some("bridge") {
            continue;
        }
        let Some(bridge) = result.get_mut(master) else { continue };
        let mut port = json!({ "name": ifname });
        if let Some((vmid, index)) = guest_port(ifname) {
            port["vmid"] = json!(vmid);
            port["index"] = json!(format!("net{index}"));
        }
        if bridge["vlan_filtering"] == "1" {
            let mut allowed = Vec::new();
            for vlan in vlans.get(ifname).and_then(|v| v["vlans"].as_array()).into_iter().flatten() {
                let id = vlan["vlan"].as_u64();
                let pvid = vlan["flags"].as_array().is_some_and(|f| f.iter().any(|f| f == "PVID"));
                match (id, vlan["vlanEnd"].as_u64()) {
                    (Some(id), _) if pvid => port["primary_vlan"] = json!(id),
                    (Some(id), Some(end)) => allowed.push(format!("{id}-{end}")),
                    (Some(id), None) => allowed.push(id.to_string()),
                    _ => {}
                }
            }
            port["vlans"] = json!(allowed);
        }
        if let Some(ports) = bridge["ports"].as_array_mut() {
            ports.push(port);
        }
    }
    Ok(Value::Array(result.into_values().collect()))
}

/// The guest and NIC index of a guest's port (`tap100i0`, `veth100i0`, `fwpr100p0`).
fn guest_port(ifname: &str) -> Option<(u64, u64)> {
    for (prefix, separator) in [("tap", 'i'), ("veth", 'i'), ("fwpr", 'p')] {
        if let Some(rest) = ifname.strip_prefix(prefix) {
            let (vmid, index) = rest.split_once(separator)?;
            if !vmid.is_empty() && !index.is_empty() && vmid.bytes().chain(index.bytes()).all(|b| b.is_ascii_digit()) {
                return Some((vmid.parse().ok()?, index.parse().ok()?));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    //! FRR's JSON as `pve-rs` records it in its own tests (`pve-rs/src/sdn/status.rs` in
    //! proxmox-perl-rs, captured from FRR on PVE 9), and PVE's answers for it from there.
    use super::*;

    fn output(command: &str) -> String {
        let name = command.replace(' ', "_");
        let path = format!("{}/tests/frr-output/{name}.json", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ip_vrf_lists_the_installed_routes_of_the_zones_vrf() {
        let routes = l3vpn_routes("vrf_test", &output("show ip route vrf vrf_test json")).unwrap();
        assert_eq!(
            routes,
            json!([
                {"ip": "0.0.0.0/0", "protocol": "kernel", "metric": 8192, "nexthops": []},
                {"ip": "172.16.100.0/24", "protocol": "connected", "metric": 0, "nexthops": ["test"]},
                {"ip": "172.16.100.0/24", "protocol": "kernel", "metric": 0, "nexthops": ["test"]},
                {"ip": "172.16.100.1/32", "protocol": "local", "metric": 0, "nexthops": ["test"]},
                {"ip": "172.16.100.2/32", "protocol": "bgp", "metric": 0, "nexthops": ["172.16.6.1"]},
            ])
        );
        assert_eq!(l3vpn_routes("vrf_other", &output("show ip route vrf vrf_test json")).unwrap(), json!([]));
        assert_eq!(l3vpn_routes("vrf_test", "").unwrap(), json!([]), "FRR not running: nothing");
        assert!(l3vpn_routes("vrf_test", "% Unknown command").unwrap_err().contains("l3vpn routes"));
    }

    #[test]
    fn mac_vrf_lists_the_best_paths() {
        let routes = l2vpn_routes(&output("show bgp l2vpn evpn route vni 100 type 2 json")).unwrap();
        assert_eq!(
            routes,
            json!([
                {"mac": "bc:24:11:02:45:ae", "ip": "fe80::be24:11ff:fe02:45ae", "nexthop": "172.16.6.1"},
                {"mac": "bc:24:11:02:45:ae", "ip": "172.16.100.2", "nexthop": "172.16.6.1"},
            ])
        );
    }

    #[test]
    fn openfabric_status_per_area() {
        let neighbors = output("show openfabric neighbor detail json");
        assert_eq!(
            openfabric_neighbors("test", &neighbors).unwrap(),
            json!([
                {"neighbor": "node1", "status": "Up", "uptime": "33m39s"},
                {"neighbor": "node3", "status": "Up", "uptime": "33m34s"},
            ])
        );
        assert_eq!(
            openfabric_neighbors("test1", &neighbors).unwrap(),
            json!([
                {"neighbor": "node1", "status": "Up", "uptime": "56s"},
                {"neighbor": "node3", "status": "Up", "uptime": "1m2s"},
            ])
        );
        assert_eq!(
            openfabric_interfaces("test1", &output("show openfabric interface json")).unwrap(),
            json!([
                {"name": "dummy_test1", "state": "Up", "type": "Loopback"},
                {"name": "ens21", "state": "Up", "type": "Point-To-Point"},
                {"name": "ens22", "state": "Up", "type": "Point-To-Point"},
            ])
        );
        let routes = [output("show ip route openfabric json"), String::new()];
        assert_eq!(
            fabric_routes("test", &names(&["ens19", "ens20"]), &routes).unwrap(),
            json!([{"route": "172.16.6.1/32", "via": ["172.16.6.1"]}, {"route": "172.16.6.3/32", "via": ["172.16.6.3"]}])
        );
        assert_eq!(
            fabric_routes("test1", &names(&["ens21", "ens22"]), &routes).unwrap(),
            json!([{"route": "172.16.7.1/32", "via": ["172.16.7.1"]}, {"route": "172.16.7.3/32", "via": ["172.16.7.3"]}])
        );
    }

    #[test]
    fn ospf_status_by_the_fabrics_interfaces() {
        let neighbors = output("show ip ospf neighbor json");
        assert_eq!(
            ospf_neighbors("test", &names(&["ens19", "ens20"]), &neighbors).unwrap(),
            json!([
                {"neighbor": "172.16.6.1", "status": "Full/-", "uptime": "8m29s"},
                {"neighbor": "172.16.6.3", "status": "Full/-", "uptime": "8m32s"},
            ])
        );
        assert_eq!(
            ospf_neighbors("test1", &names(&["ens21", "ens22"]), &neighbors).unwrap(),
            json!([
                {"neighbor": "172.16.7.1", "status": "Full/-", "uptime": "1m28s"},
                {"neighbor": "172.16.7.3", "status": "Full/-", "uptime": "1m32s"},
            ])
        );
        assert_eq!(
            ospf_interfaces("test", &names(&["ens19", "ens20"]), &output("show ip ospf interface json")).unwrap(),
            json!([
                {"name": "dummy_test", "state": "up", "type": "Broadcast"},
                {"name": "ens19", "state": "up", "type": "Point-To-Point"},
                {"name": "ens20", "state": "up", "type": "Point-To-Point"},
            ])
        );
        assert_eq!(
            fabric_routes("test1", &names(&["ens21", "ens22"]), &[output("show ip route ospf json")]).unwrap(),
            json!([{"route": "172.16.7.1/32", "via": ["172.16.7.1"]}, {"route": "172.16.7.3/32", "via": ["172.16.7.3"]}])
        );
    }

    #[test]
    fn bridges_with_their_guest_ports_and_vlans() {
        let links = r#"[
            {"ifname":"vnet1","linkinfo":{"info_kind":"bridge","info_data":{"vlan_filtering":1}}},
            {"ifname":"vmbr0","linkinfo":{"info_kind":"bridge","info_data":{"vlan_filtering":0}}},
            {"ifname":"tap100i0","master":"vnet1","linkinfo":{"info_kind":"tun","info_slave_kind":"bridge"}},
            {"ifname":"vxlan_vnet1","master":"vnet1","linkinfo":{"info_kind":"vxlan","info_slave_kind":"bridge"}},
            {"ifname":"eth0","master":"vmbr0","linkinfo":{"info_slave_kind":"bridge"}},
            {"ifname":"lo"}
        ]"#;
        let vlans = r#"[{"ifname":"tap100i0","vlans":[{"vlan":10,"flags":["PVID","Egress Untagged"]},{"vlan":20,"vlanEnd":30},{"vlan":40}]}]"#;
        let zone = bridges(Some(&names(&["vnet1", "missing"])), links, vlans).unwrap();
        assert_eq!(
            zone,
            json!([{"name": "vnet1", "vlan_filtering": "1", "ports": [
                {"name": "tap100i0", "vmid": 100, "index": "net0", "primary_vlan": 10, "vlans": ["20-30", "40"]},
                {"name": "vxlan_vnet1", "vlans": []},
            ]}])
        );
        let all = bridges(None, links, vlans).unwrap();
        let listed: Vec<&str> = all.as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
        assert_eq!(listed, ["vmbr0", "vnet1"]);
        assert_eq!(all[0]["ports"], json!([{"name": "eth0"}]));
    }

    #[test]
    fn commands_get_their_arguments_unparsed_and_bounded() {
        let printed = run("printf '%s|'", &["-c", "show ip route vrf vrf_x json; rm -rf /"]).unwrap();
        assert_eq!(printed, "-c|show ip route vrf vrf_x json; rm -rf /|");
        assert!(run("false", &[]).unwrap_err().contains("failed"));
    }
}
