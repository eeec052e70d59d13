//! VXLAN zones: a bridge per vnet over a VXLAN interface with static remote peers.

use sdn_config::IpLiteral;

use super::{vnet_bridge_options, Stanzas, VnetCtx};

/// Without an explicit zone MTU the VXLAN overhead (50 bytes) is subtracted from 1500. (The
/// reference means to subtract it from the uplink's MTU, but looks it up at the wrong level of
/// its parsed interfaces, so the uplink MTU never takes effect; the output follows it.)
pub(super) const DEFAULT_MTU: u64 = 1450;

pub(super) fn generate(
    ctx: &VnetCtx,
    peers: Option<&[IpLiteral]>,
    fabric: Option<&str>,
    vxlan_port: Option<u64>,
    stanzas: &mut Stanzas,
) -> Result<(), String> {
    let tag = ctx.vnet.tag.ok_or("missing vxlan tag")?;
    let zone_id = ctx.zone_id;
    let (peers, local_ip): (Vec<String>, Option<String>) = match (peers, fabric) {
        (Some(peers), _) => {
            let peers: Vec<String> = peers.iter().map(|p| p.as_str().to_string()).collect();
            let (ip, _) = ctx.host.local_ip_for_peers(ctx.facts, &peers, None);
            (peers, ip)
        }
        (None, Some(fabric)) => {
            let ip = ctx
                .fabrics
                .node_ip(fabric, &ctx.facts.node)
                .map_err(|e| format!("could not configure VXLAN zone {zone_id}: {e}"))?;
            let peers = ctx
                .fabrics
                .node_ips(fabric)
                .iter()
                .map(|ip| ip.to_string())
                .collect();
            (peers, Some(ip.to_string()))
        }
        (None, None) => {
            return Err(format!(
                "neither peers nor fabric configured for VXLAN zone {zone_id}"
            ))
        }
    };
    let mtu = ctx.zone.mtu.unwrap_or(DEFAULT_MTU);

    let vxlan_iface = format!("vxlan_{}", ctx.vnet_id);
    let mut options = vec![format!("vxlan-id {tag}")];
    for peer in &peers {
        if Some(peer) != local_ip.as_ref() {
            options.push(format!("vxlan_remoteip {peer}"));
        }
    }
    if let Some(port) = vxlan_port {
        options.push(format!("vxlan-port {port}"));
    }
    options.push(format!("mtu {mtu}"));
    stanzas.define(&vxlan_iface, options);

    let mut options = Vec::new();
    vnet_bridge_options(ctx.vnet, &vxlan_iface, Some(mtu), &mut options);
    stanzas.define(ctx.vnet_id, options);
    Ok(())
}
