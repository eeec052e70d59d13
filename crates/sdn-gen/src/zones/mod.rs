//! The interfaces snippet (`/etc/network/interfaces.d/sdn`): one stanza per generated
//! interface, built by the zone type of each vnet and rendered once, sorted by name.

mod evpn;
mod qinq;
mod simple;
mod vlan;
mod vxlan;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sdn_config::running::{Controller, RunningConfig, Subnet, Vnet, Zone, ZoneKind};

use crate::fabrics::Fabrics;
use crate::Warning;
use crate::host::{HostInterfaces, NodeFacts};

/// The stanzas of the interfaces snippet, keyed (and therefore rendered) by interface name.
#[derive(Debug, Default)]
pub(crate) struct Stanzas {
    ifaces: BTreeMap<String, Vec<String>>,
}

impl Stanzas {
    /// Sets the options of `name` unless an earlier vnet already defined it; shared interfaces
    /// (a zone's VRF, a QinQ zone bridge) are therefore defined by the first vnet.
    pub(crate) fn define(&mut self, name: &str, options: Vec<String>) {
        self.ifaces.entry(name.to_string()).or_insert(options);
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.ifaces.contains_key(name)
    }

    /// Appends options to `name` (ifupdown2 merges repeated stanzas of a bridge).
    pub(crate) fn append(&mut self, name: &str, option: String) {
        self.ifaces
            .entry(name.to_string())
            .or_default()
            .push(option);
    }

    pub(crate) fn options_mut(&mut self, name: &str) -> &mut Vec<String> {
        self.ifaces.entry(name.to_string()).or_default()
    }

    fn render(&self, version: Option<u64>) -> String {
        let mut out = match version {
            Some(version) => format!("#version:{version}\n"),
            None => "#version:\n".to_string(),
        };
        for (name, options) in &self.ifaces {
            let _ = write!(out, "\nauto {name}\niface {name}\n");
            for option in options {
                let _ = writeln!(out, "\t{option}");
            }
        }
        out
    }
}

/// Everything a zone type needs to generate one vnet.
pub(crate) struct VnetCtx<'a> {
    pub(crate) cfg: &'a RunningConfig,
    pub(crate) facts: &'a NodeFacts,
    pub(crate) host: &'a HostInterfaces,
    pub(crate) fabrics: &'a Fabrics<'a>,
    pub(crate) zone_id: &'a str,
    pub(crate) zone: &'a Zone,
    pub(crate) vnet_id: &'a str,
    pub(crate) vnet: &'a Vnet,
    pub(crate) controller: Option<&'a Controller>,
}

impl VnetCtx<'_> {
    pub(crate) fn subnets(&self) -> impl Iterator<Item = &Subnet> {
        self.cfg.vnet_subnets(self.vnet_id)
    }

    /// The bridge a vlan/qinq zone attaches to, which must exist on the node.
    pub(crate) fn bridge<'b>(&self, bridge: &'b Option<String>) -> Result<&'b str, String> {
        let bridge = bridge.as_deref().ok_or("missing bridge")?;
        if self.host.get(bridge).is_none() && !self.facts.bridge_ports.contains_key(bridge) {
            return Err(format!("can't find bridge {bridge}"));
        }
        Ok(bridge)
    }

    pub(crate) fn bridge_is_vlan_aware(&self, bridge: &str) -> bool {
        self.host.get(bridge).is_some_and(|i| i.vlan_aware)
    }

    pub(crate) fn bridge_is_ovs(&self, bridge: &str) -> bool {
        self.host.get(bridge).is_some_and(|i| i.is_ovs_bridge)
    }

    pub(crate) fn bridge_ports(&self, bridge: &str) -> &[String] {
        self.facts
            .bridge_ports
            .get(bridge)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// The bridge options a vlan-aware vnet adds.
fn vlan_aware_options(vnet: &Vnet, options: &mut Vec<String>) {
    if vnet.vlanaware {
        options.push("bridge-vlan-aware yes".into());
        options.push("bridge-vids 2-4094".into());
    }
}

/// The lines every vnet bridge starts with, whatever its zone type: ports, no STP, vlan
/// awareness, MTU and alias.
pub(crate) fn vnet_bridge_options(
    vnet: &Vnet,
    ports: &str,
    mtu: Option<impl std::fmt::Display>,
    options: &mut Vec<String>,
) {
    options.push(format!("bridge_ports {ports}"));
    options.push("bridge_stp off".into());
    options.push("bridge_fd 0".into());
    vlan_aware_options(vnet, options);
    if let Some(mtu) = mtu {
        options.push(format!("mtu {mtu}"));
    }
    if let Some(alias) = &vnet.alias {
        options.push(format!("alias {alias}"));
    }
}

/// The SNAT rules of a subnet whose traffic leaves through the node's default route.
pub(crate) fn snat_options(facts: &NodeFacts, cidr: &str, ipv6: bool, options: &mut Vec<String>) {
    let (Some(out_ip), Some(out_iface)) = facts.local_route() else {
        return;
    };
    let iptables = if ipv6 { "ip6tables" } else { "iptables" };
    options.push(format!(
        "post-up {iptables} -t nat -A POSTROUTING -s '{cidr}' -o {out_iface} -j SNAT --to-source {out_ip}"
    ));
    options.push(format!(
        "post-down {iptables} -t nat -D POSTROUTING -s '{cidr}' -o {out_iface} -j SNAT --to-source {out_ip}"
    ));
    options.push(format!(
        "post-up {iptables} -t raw -I PREROUTING -i fwbr+ -j CT --zone 1"
    ));
    options.push(format!(
        "post-down {iptables} -t raw -D PREROUTING -i fwbr+ -j CT --zone 1"
    ));
}

/// Generates the interfaces snippet, or `None` when the config has neither zones nor vnets.
/// Vnets that cannot be generated are skipped with a warning, like the reference does.
pub(crate) fn generate(
    cfg: &RunningConfig,
    facts: &NodeFacts,
    host: &HostInterfaces,
    fabrics: &Fabrics<'_>,
    warnings: &mut Vec<Warning>,
) -> Option<String> {
    if cfg.vnets.is_none() && cfg.zones.is_none() {
        return None;
    }
    let no_zones = BTreeMap::new();
    let zones = cfg.zones.as_ref().unwrap_or(&no_zones);
    let mut stanzas = Stanzas::default();
    for (vnet_id, vnet) in cfg.vnets.iter().flatten() {
        let Some(zone_id) = vnet.zone.as_deref() else {
            warnings.push(Warning {
                zone: None,
                vnet: Some(vnet_id.clone()),
                message: format!("can't generate vnet '{vnet_id}': no zone assigned!"),
            });
            continue;
        };
        let Some(zone) = zones.get(zone_id) else {
            warnings.push(Warning {
                zone: Some(zone_id.to_string()),
                vnet: Some(vnet_id.clone()),
                message: format!("can't generate vnet '{vnet_id}': zone {zone_id} don't exist"),
            });
            continue;
        };
        if !zone.on_node(&facts.node) {
            continue;
        }
        let controller = zone
            .controller
            .as_deref()
            .and_then(|c| cfg.controllers.as_ref()?.get(c));
        let ctx = VnetCtx {
            cfg,
            facts,
            host,
            fabrics,
            zone_id,
            zone,
            vnet_id,
            vnet,
            controller,
        };
        let result = match &zone.kind {
            ZoneKind::Simple => {
                simple::generate(&ctx, &mut stanzas);
                Ok(())
            }
            ZoneKind::Vlan { bridge } => vlan::generate(&ctx, bridge, &mut stanzas),
            ZoneKind::Qinq {
                bridge,
                tag,
                vlan_protocol,
            } => qinq::generate(&ctx, bridge, *tag, vlan_protocol.as_deref(), &mut stanzas),
            ZoneKind::Vxlan {
                peers,
                fabric,
                vxlan_port,
            } => vxlan::generate(
                &ctx,
                peers.as_deref(),
                fabric.as_deref(),
                *vxlan_port,
                &mut stanzas,
            ),
            ZoneKind::Evpn(evpn) => evpn::generate(&ctx, evpn, &mut stanzas),
            ZoneKind::Other(ty) => Err(format!("zone type '{ty}' is not supported")),
        };
        if let Err(err) = result {
            warnings.push(Warning {
                zone: Some(zone_id.to_string()),
                vnet: Some(vnet_id.clone()),
                message: format!("zone {zone_id} : vnet {vnet_id} : {err}"),
            });
        }
    }
    Some(stanzas.render(cfg.version))
}
