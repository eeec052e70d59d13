//! EVPN zones: per vnet a bridge over a VXLAN interface, per zone a VRF with its L3 VNI, and
//! on exit nodes with local routing a veth pair between the VRF and the default table.

use sdn_config::running::{Controller, EvpnZone};

use super::vxlan::DEFAULT_MTU;
use super::{snat_options, Stanzas, VnetCtx};

/// The VRF's unreachable default route: lowest priority, so any real default route wins.
const UNREACHABLE_METRIC: u64 = 4_278_198_272;

pub(super) fn generate(
    ctx: &VnetCtx,
    zone: &EvpnZone,
    stanzas: &mut Stanzas,
) -> Result<(), String> {
    let tag = ctx.vnet.tag.ok_or("missing vxlan tag")?;
    // The reference takes the peers (or fabric) of whatever controller the zone names.
    let no_fabric = None;
    let (peers, fabric) = match ctx.controller {
        Some(Controller::Evpn { peers, fabric, .. }) => (peers.as_deref(), fabric),
        Some(Controller::Bgp(bgp)) => (
            Some(bgp.peers.as_slice()).filter(|p| !p.is_empty()),
            &no_fabric,
        ),
        Some(Controller::Isis(_) | Controller::Other) => (None, &no_fabric),
        None => return Err("missing controller".into()),
    };
    let zone_id = ctx.zone_id;
    let node = ctx.facts.node.as_str();

    let local_ip = match (peers, fabric) {
        (Some(peers), _) => {
            // Unlike the controller, the zone falls back to the IS-IS loopback when the bgp
            // controller has none.
            let node_controllers = || ctx.cfg.controllers.iter().flatten().map(|(_, c)| c);
            let loopback = node_controllers()
                .find_map(|c| match c {
                    Controller::Bgp(b) if b.node.as_deref() == Some(node) => b.loopback.as_deref(),
                    _ => None,
                })
                .or_else(|| {
                    node_controllers().find_map(|c| match c {
                        Controller::Isis(i) if i.node.as_deref() == Some(node) => {
                            i.loopback.as_deref()
                        }
                        _ => None,
                    })
                });
            let texts: Vec<String> = peers.iter().map(|p| p.as_str().to_string()).collect();
            ctx.host.local_ip_for_peers(ctx.facts, &texts, loopback).0
        }
        (None, Some(fabric)) => Some(
            ctx.fabrics
                .node_ip(fabric, node)
                .map_err(|e| format!("could not configure EVPN zone {zone_id}: {e}"))?
                .to_string(),
        ),
        (None, None) => {
            return Err("neither fabric nor peers configured for EVPN controller".into())
        }
    };

    let is_gateway = zone.exitnodes.iter().any(|n| n == node);
    let mtu = ctx.zone.mtu.unwrap_or(DEFAULT_MTU);
    let vxlan_options = |vni: u64| {
        let mut options = vec![format!("vxlan-id {vni}")];
        if let Some(ip) = &local_ip {
            options.push(format!("vxlan-local-tunnelip {ip}"));
        }
        if let Some(port) = zone.vxlan_port {
            options.push(format!("vxlan-port {port}"));
        }
        options.push("bridge-learning off".into());
        if !zone.disable_arp_nd_suppression {
            options.push("bridge-arp-nd-suppress on".into());
        }
        options.push(format!("mtu {mtu}"));
        options
    };

    let vxlan_iface = format!("vxlan_{}", ctx.vnet_id);
    stanzas.define(&vxlan_iface, vxlan_options(tag));

    let mut options = Vec::new();
    let mut addresses: Vec<&str> = Vec::new();
    let (mut ipv4, mut ipv6) = (false, false);
    let (mut forward_v4, mut forward_v6) = (false, false);
    for subnet in ctx.subnets() {
        if let Some(gw) = &subnet.gateway {
            if !addresses.contains(&gw.as_str()) {
                options.push(format!("address {gw}/{}", subnet.mask));
                addresses.push(gw.as_str());
            }
        }
        // The reference decides the IP version by the gateway; no gateway counts as IPv4.
        let is_v6 = subnet.gateway.as_ref().is_some_and(|gw| gw.is_ipv6());
        if is_v6 {
            ipv6 = true;
            forward_v6 |= subnet.gateway.is_some();
        } else {
            ipv4 = true;
            forward_v4 |= subnet.gateway.is_some();
        }
        if subnet.snat && is_gateway {
            snat_options(ctx.facts, &subnet.cidr(), is_v6, &mut options);
        }
    }
    let vrf = format!("vrf_{zone_id}");
    if let Some(mac) = &zone.mac {
        options.push(format!("hwaddress {mac}"));
    }
    options.push(format!("bridge_ports {vxlan_iface}"));
    options.push("bridge_stp off".into());
    options.push("bridge_fd 0".into());
    options.push(format!("mtu {mtu}"));
    if let Some(alias) = &ctx.vnet.alias {
        options.push(format!("alias {alias}"));
    }
    if forward_v4 {
        options.push("ip-forward on".into());
    }
    if forward_v6 {
        options.push("ip6-forward on".into());
    }
    if ipv4 || ipv6 {
        options.push("arp-accept on".into());
    }
    options.push(format!("vrf {vrf}"));
    stanzas.define(ctx.vnet_id, options);

    // Only exit nodes route out of the VRF; elsewhere an unreachable default ends lookups.
    let route_action = if is_gateway { "del" } else { "add" };
    stanzas.define(
        &vrf,
        vec![
            "vrf-table auto".into(),
            format!(
                "post-up ip route {route_action} vrf {vrf} unreachable default metric {UNREACHABLE_METRIC}"
            ),
        ],
    );

    if let Some(vrf_vxlan) = zone.vrf_vxlan {
        let l3vni_iface = format!("vrfvx_{zone_id}");
        stanzas.define(&l3vni_iface, vxlan_options(vrf_vxlan));
        stanzas.define(
            &format!("vrfbr_{zone_id}"),
            vec![
                format!("bridge-ports {l3vni_iface}"),
                "bridge_stp off".into(),
                "bridge_fd 0".into(),
                format!("mtu {mtu}"),
                format!("vrf {vrf}"),
            ],
        );
    }

    if is_gateway && zone.exitnodes_local_routing {
        let xvrf = format!("xvrf_{zone_id}");
        let xvrfp = format!("xvrfp_{zone_id}");
        let veth_mtu = mtu + 50;
        let mut options = vec![
            "link-type veth".to_string(),
            "address 10.255.255.1/30".into(),
        ];
        if ipv6 {
            options.push("address fe80::1/126".into());
        }
        options.push(format!("veth-peer-name {xvrfp}"));
        options.push(format!("mtu {veth_mtu}"));
        stanzas.define(&xvrf, options);

        let mut options = vec![
            "link-type veth".to_string(),
            "address 10.255.255.2/30".into(),
        ];
        if ipv6 {
            options.push("address fe80::2/126".into());
        }
        options.push(format!("veth-peer-name {xvrf}"));
        options.push(format!("vrf {vrf}"));
        options.push(format!("mtu {veth_mtu}"));
        stanzas.define(&xvrfp, options);
    }
    Ok(())
}
