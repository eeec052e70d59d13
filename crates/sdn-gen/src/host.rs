//! What the generator knows about the node: the facts it would otherwise ask the kernel, and
//! the node's own `/etc/network/interfaces`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use sdn_config::net::check_word;
use serde::Deserialize;

use crate::error::GenError;

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || format!("\"{s}\" is not a MAC address (expected xx:xx:xx:xx:xx:xx)");
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().filter(|p| p.len() == 2).ok_or_else(err)?;
            *byte = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What the generator would otherwise ask the kernel (the shape of the corpus' `facts.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NodeFacts {
    /// The node's name: decides zone membership, exit nodes, per-node controllers.
    pub node: String,
    /// The interface the node uses to reach remote peers (`ip route get PEER` → `dev`).
    pub route_iface: String,
    /// That interface's address (`ip route get PEER` → `src`), if it has one.
    pub route_ip: Option<IpAddr>,
    /// The MAC address IPv6-only routers derive their router-id from.
    pub mac: Option<Mac>,
    /// The physical ports of each bridge.
    #[serde(default)]
    pub bridge_ports: BTreeMap<String, Vec<String>>,
}

impl NodeFacts {
    /// Checks that names are single words (they end up in generated files); [`crate::generate`]
    /// does this first, callers holding facts from elsewhere can check them on their own.
    pub fn validate(&self) -> Result<(), GenError> {
        let err = |field: &str, reason: String| GenError::field("node facts", field, reason);
        check_word(&self.node).map_err(|r| err("node", r))?;
        if !self.route_iface.is_empty() {
            check_word(&self.route_iface).map_err(|r| err("route-iface", r))?;
        }
        for (bridge, ports) in &self.bridge_ports {
            check_word(bridge).map_err(|r| err("bridge-ports", r))?;
            for port in ports {
                check_word(port).map_err(|r| err("bridge-ports", r))?;
            }
        }
        Ok(())
    }

    /// The local source address and interface towards a remote address (`ip route get`).
    pub(crate) fn local_route(&self) -> (Option<IpAddr>, Option<&str>) {
        let iface = Some(self.route_iface.as_str()).filter(|s| !s.is_empty());
        (self.route_ip, iface)
    }
}

/// One interface of the node's `/etc/network/interfaces`, as far as generation reads it.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostIface {
    /// The IPv4 address without prefix length.
    pub(crate) address: Option<String>,
    pub(crate) is_bridge: bool,
    pub(crate) is_ovs_bridge: bool,
    pub(crate) vlan_aware: bool,
    pub(crate) uplink_id: Option<String>,
}

/// The node's `/etc/network/interfaces`, parsed the way the reference parses it.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostInterfaces {
    pub(crate) ifaces: BTreeMap<String, HostIface>,
}

impl HostInterfaces {
    /// Parses ifupdown2 syntax. Unknown options are ignored; nothing here can fail.
    pub(crate) fn parse(text: &str) -> Self {
        let mut ifaces: BTreeMap<String, HostIface> = BTreeMap::new();
        let mut current: Option<(String, Option<&str>)> = None;
        for raw in text.lines() {
            let line = raw.trim_end();
            let trimmed = line.trim_start();
            if trimmed.starts_with('#') {
                continue;
            }
            let mut words = trimmed.split_whitespace();
            let first = words.next().unwrap_or("");
            if first == "iface" {
                let name = words.next().unwrap_or("");
                let family = words.next().filter(|f| *f == "inet" || *f == "inet6");
                if name.is_empty() {
                    current = None;
                    continue;
                }
                ifaces.entry(name.to_string()).or_default();
                current = Some((name.to_string(), family));
                continue;
            }
            let starts_stanza = matches!(first, "mapping" | "auto" | "source" | "source-directory")
                || first.starts_with("allow-");
            let Some((name, family)) = &current else {
                continue;
            };
            let value = trimmed[first.len()..].trim();
            if starts_stanza || first.is_empty() || value.is_empty() {
                current = None;
                continue;
            }
            let Some(iface) = ifaces.get_mut(name) else {
                continue;
            };
            match first {
                "address" => {
                    let is_v4 = match family {
                        Some("inet") => true,
                        Some(_) => false,
                        None => !value.contains(':'),
                    };
                    if is_v4 {
                        let base = value.split('/').next().unwrap_or(value);
                        iface.address = Some(base.to_string());
                    }
                }
                "bridge-ports" | "bridge_ports" => iface.is_bridge = true,
                "bridge-vlan-aware" | "bridge_vlan_aware" => {
                    iface.vlan_aware = matches!(
                        value.to_ascii_lowercase().as_str(),
                        "yes" | "on" | "1" | "true"
                    )
                }
                "ovs_type" => iface.is_ovs_bridge = value == "OVSBridge",
                "uplink-id" => iface.uplink_id = Some(value.to_string()),
                _ => {}
            }
        }
        for iface in ifaces.values_mut() {
            if iface.is_bridge {
                iface.is_ovs_bridge = false;
            }
        }
        HostInterfaces {
            ifaces,
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&HostIface> {
        self.ifaces.get(name)
    }

    /// The reference refuses to build FRR config when two interfaces share an `uplink-id`.
    pub(crate) fn check_uplinks(&self) -> Result<(), GenError> {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, iface) in &self.ifaces {
            if let Some(id) = &iface.uplink_id {
                if let Some(other) = seen.insert(id, name) {
                    return Err(GenError::field(
                        format!("interface '{name}' of /etc/network/interfaces"),
                        "uplink-id",
                        format!("uplink-id {id} is already defined on {other}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The reference's `find_local_ip_interface_peers`: the local address to reach `peers`
    /// from, preferring the address of `loopback`, then a local address that is itself one of
    /// the peers, and finally the route towards the first peer.
    ///
    /// A deliberate difference: the reference scans with `while (each %$ifaces)` and returns
    /// from inside the loop, so its next lookup resumes after the previous match and, for
    /// every second vnet with the same peers, misses the node's own address, takes the route's
    /// address instead and lists the node itself as a remote (`vxlan_remoteip` to itself), and
    /// an unrelated vnet can move another zone's local address. Here every lookup scans all
    /// interfaces: the same peers always give the same local address.
    pub(crate) fn local_ip_for_peers<'a>(
        &'a self,
        facts: &'a NodeFacts,
        peers: &[String],
        loopback: Option<&'a str>,
    ) -> (Option<String>, Option<&'a str>) {
        if let Some(lo) = loopback {
            if let Some(addr) = self.get(lo).and_then(|i| i.address.clone()) {
                return (Some(addr), Some(lo));
            }
        }
        for peer in peers {
            let found = self.ifaces.iter().find(|(_, iface)| iface.address.as_deref() == Some(peer.as_str()));
            if let Some((name, _)) = found {
                return (Some(peer.clone()), Some(name.as_str()));
            }
        }
        if peers.is_empty() {
            return (None, None);
        }
        let (ip, iface) = facts.local_route();
        (ip.map(|ip| ip.to_string()), iface)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IFACES: &str = "auto lo\niface lo inet loopback\n\nauto vmbr0\niface vmbr0 inet static\n\taddress 192.168.0.1/24\n\tbridge-ports eth0\n\tbridge-vlan-aware yes\n\nauto dummy1\niface dummy1 inet static\n\taddress 10.0.0.1/32\n\tlink-type dummy\n\niface ovs0 inet manual\n\tovs_type OVSBridge\n\niface v6 inet6 static\n\taddress fd00::1/64\n";

    fn facts() -> NodeFacts {
        NodeFacts {
            node: "n".into(),
            route_iface: "vmbr0".into(),
            route_ip: "192.168.0.1".parse().ok(),
            mac: None,
            bridge_ports: BTreeMap::new(),
        }
    }

    #[test]
    fn parses_what_generation_needs() {
        let h = HostInterfaces::parse(IFACES);
        let vmbr0 = h.get("vmbr0").unwrap();
        assert_eq!(vmbr0.address.as_deref(), Some("192.168.0.1"));
        assert!(vmbr0.is_bridge && vmbr0.vlan_aware && !vmbr0.is_ovs_bridge);
        assert!(h.get("ovs0").unwrap().is_ovs_bridge);
        assert_eq!(h.get("v6").unwrap().address, None);
        assert_eq!(
            h.get("dummy1").unwrap().address.as_deref(),
            Some("10.0.0.1")
        );
    }

    #[test]
    fn local_ip_lookup_order() {
        let h = HostInterfaces::parse(IFACES);
        let f = facts();
        let peers = vec!["10.9.9.9".to_string(), "10.0.0.1".to_string()];
        assert_eq!(
            h.local_ip_for_peers(&f, &peers, Some("dummy1")).1,
            Some("dummy1")
        );
        assert_eq!(
            h.local_ip_for_peers(&f, &peers, None),
            (Some("10.0.0.1".into()), Some("dummy1"))
        );
        let remote = vec!["10.9.9.9".to_string()];
        assert_eq!(
            h.local_ip_for_peers(&f, &remote, None),
            (Some("192.168.0.1".into()), Some("vmbr0"))
        );
        assert_eq!(h.local_ip_for_peers(&f, &[], None), (None, None));
    }

    #[test]
    fn the_same_peers_always_give_the_same_local_address() {
        let h = HostInterfaces::parse(IFACES);
        let f = facts();
        let peers = vec!["10.0.0.1".to_string(), "10.9.9.9".to_string()];
        let first = h.local_ip_for_peers(&f, &peers, None);
        assert_eq!(first, (Some("10.0.0.1".into()), Some("dummy1")));
        // The reference's second lookup would miss dummy1 and answer with the route.
        for _ in 0..3 {
            assert_eq!(h.local_ip_for_peers(&f, &peers, None), first);
        }
        let later = vec!["10.9.9.9".to_string(), "10.0.0.1".to_string()];
        assert_eq!(h.local_ip_for_peers(&f, &later, None), first);
        let elsewhere = vec!["10.9.9.9".to_string()];
        assert_eq!(h.local_ip_for_peers(&f, &elsewhere, None), (Some("192.168.0.1".into()), Some("vmbr0")));
    }

    #[test]
    fn duplicate_uplinks_are_refused() {
        let h = HostInterfaces::parse("iface a\n\tuplink-id 1\niface b\n\tuplink-id 1\n");
        assert!(h.check_uplinks().is_err());
    }

    #[test]
    fn mac_parsing() {
        assert_eq!("bc:24:11:1d:69:60".parse::<Mac>().unwrap().0[5], 0x60);
        assert!("bc:24:11:1d:69".parse::<Mac>().is_err());
        assert!("bc:24:11:1d:69:6g".parse::<Mac>().is_err());
    }
}
