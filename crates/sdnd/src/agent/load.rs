//! What the agent sends with its heartbeats besides being alive: the node's load (uptime, CPU,
//! memory, as PVE's node list shows them) and the status of each fabric it is in (PVE's
//! `ok` / `not ok`: whether FRR has routes through the fabric's interfaces).

use std::collections::BTreeMap;

use sdn_config::running::FabricProtocol;
use sdn_config::RunningConfig;
use serde_json::Value;

use crate::layout::NodeStats;

/// Reads the node's load from `/proc`; the CPU figure is the share of busy time since the
/// previous reading (0 on the first).
#[derive(Debug, Default)]
pub struct LoadReader {
    previous: Option<(u64, u64)>,
}

impl LoadReader {
    pub fn read(&mut self) -> Option<NodeStats> {
        let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
        let uptime = uptime.split_whitespace().next()?.parse::<f64>().ok()? as i64;
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let (cpu, maxcpu) = self.cpu(&stat)?;
        let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
        let (mem, maxmem) = memory(&meminfo)?;
        Some(NodeStats { uptime, cpu, maxcpu, mem, maxmem })
    }

    /// CPU utilization since the last call and the number of CPUs, from `/proc/stat`.
    fn cpu(&mut self, stat: &str) -> Option<(f64, i64)> {
        let mut lines = stat.lines();
        let total_line = lines.next()?.strip_prefix("cpu ")?;
        let fields: Vec<u64> = total_line.split_whitespace().filter_map(|f| f.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal (guest time is in user already)
        let total: u64 = fields.iter().take(8).sum();
        let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
        let cpus =
            lines.filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)).count();
        let usage = match self.previous.replace((idle, total)) {
            Some((idle0, total0)) if total > total0 => {
                let busy = (total - total0).saturating_sub(idle.saturating_sub(idle0));
                busy as f64 / (total - total0) as f64
            }
            _ => 0.0,
        };
        Some((usage, cpus.max(1) as i64))
    }
}

/// Used and total memory in bytes, from `/proc/meminfo` (used: total less available).
fn memory(meminfo: &str) -> Option<(i64, i64)> {
    let field = |name: &str| -> Option<i64> {
        let line = meminfo.lines().find(|l| l.starts_with(name))?;
        let kib: i64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:").or_else(|| field("MemFree:"))?;
    Some((total - available, total))
}

/// The fabrics `node` is in: (fabric, protocol, its interfaces on the node).
pub fn member_fabrics(running: &RunningConfig, node: &str) -> Vec<(String, String, Vec<String>)> {
    running
        .fabrics
        .iter()
        .filter_map(|(id, fabric)| {
            let member = fabric.nodes.get(node)?;
            let protocol = match fabric.protocol {
                FabricProtocol::Openfabric => "openfabric",
                FabricProtocol::Ospf => "ospf",
            };
            Some((id.clone(), protocol.to_string(), member.interfaces.iter().map(|i| i.name.clone()).collect()))
        })
        .collect()
}

/// PVE's status of each fabric: `ok` if one of FRR's routes of its protocol leaves through
/// one of its interfaces (`routes`: protocol -> route tables as FRR prints them).
pub fn fabric_status(
    fabrics: &[(String, String, Vec<String>)],
    routes: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, String> {
    fabrics
        .iter()
        .map(|(id, protocol, interfaces)| {
            let has_routes =
                routes.get(protocol).into_iter().flatten().any(|output| {
                    let Ok(Value::Object(table)) = serde_json::from_str::<Value>(output) else { return false };
                    table.values().flat_map(|r| r.as_array().into_iter().flatten()).any(|route| {
                        route["nexthops"].as_array().into_iter().flatten().any(|nh| {
                            nh["interfaceName"].as_str().is_some_and(|name| interfaces.iter().any(|i| i == name))
                        })
                    })
                });
            (id.clone(), if has_routes { "ok" } else { "not ok" }.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cpu_usage_between_two_readings() {
        let mut reader = LoadReader::default();
        let first =
            "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\ncpu1 50 0 50 400 0 0 0 0 0 0\nintr 1\n";
        assert_eq!(reader.cpu(first), Some((0.0, 2)));
        let second = "cpu  150 0 150 900 0 0 0 0 0 0\ncpu0 75 0 75 450 0 0 0 0 0 0\ncpu1 75 0 75 450 0 0 0 0 0 0\n";
        assert_eq!(reader.cpu(second), Some((0.5, 2)));
        assert_eq!(
            memory("MemTotal:  1000 kB\nMemFree: 100 kB\nMemAvailable:  400 kB\n"),
            Some((600 * 1024, 1000 * 1024))
        );
        assert!(LoadReader::default().read().is_some(), "this Linux host's /proc reads");
    }

    #[test]
    fn fabric_status_by_routes_through_its_interfaces() {
        let running = json!({"fabrics": {"ids": {
            "f1": {"type": "openfabric_fabric", "id": "f1", "ip_prefix": "10.0.0.0/24"},
            "f1_n1": {"type": "openfabric_node", "id": "f1_n1", "ip": "10.0.0.1", "interfaces": ["name=ens19", "name=ens20,hello_multiplier=2"]},
            "f2": {"type": "ospf_fabric", "id": "f2", "area": "0", "ip_prefix": "10.1.0.0/24"},
            "f2_n1": {"type": "ospf_node", "id": "f2_n1", "ip": "10.1.0.1", "interfaces": ["name=ens21"]},
            "f3": {"type": "ospf_fabric", "id": "f3", "area": "1", "ip_prefix": "10.2.0.0/24"},
            "f3_n2": {"type": "ospf_node", "id": "f3_n2", "ip": "10.2.0.2", "interfaces": ["name=ens22"]},
        }}});
        let running = RunningConfig::from_json(&running, sdn_config::Reading::Strict).unwrap();
        let fabrics = member_fabrics(&running, "n1");
        assert_eq!(fabrics.len(), 2, "{fabrics:?}");
        assert_eq!(fabrics[0], ("f1".into(), "openfabric".into(), vec!["ens19".into(), "ens20".into()]));
        let routes = BTreeMap::from([(
            "openfabric".to_string(),
            vec![r#"{"10.0.0.2/32":[{"nexthops":[{"ip":"10.0.0.2","interfaceName":"ens20"}]}]}"#.to_string()],
        )]);
        let status = fabric_status(&fabrics, &routes);
        assert_eq!(status["f1"], "ok");
        assert_eq!(status["f2"], "not ok");
    }
}
