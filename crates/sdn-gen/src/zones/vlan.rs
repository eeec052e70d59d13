//! VLAN zones: each vnet is a bridge on a VLAN of an existing bridge (Linux or OVS).

use super::{vnet_bridge_options, Stanzas, VnetCtx};

pub(super) fn generate(
    ctx: &VnetCtx,
    bridge: &Option<String>,
    stanzas: &mut Stanzas,
) -> Result<(), String> {
    let bridge = ctx.bridge(bridge)?;
    let tag = ctx.vnet.tag.ok_or("missing vlan tag")?;
    let mtu = ctx.zone.mtu;
    let vnet_id = ctx.vnet_id;
    let mut uplink = format!("ln_{vnet_id}");
    let uplink_peer = format!("pr_{vnet_id}");

    if ctx.bridge_is_ovs(bridge) {
        let mut options = vec![
            "ovs_type OVSIntPort".to_string(),
            format!("ovs_bridge {bridge}"),
        ];
        if let Some(mtu) = mtu {
            options.push(format!("ovs_mtu {mtu}"));
        }
        if ctx.vnet.vlanaware {
            options.push(format!(
                "ovs_options vlan_mode=dot1q-tunnel other_config:qinq-ethtype=802.1q tag={tag}"
            ));
        } else {
            options.push(format!("ovs_options tag={tag}"));
        }
        stanzas.define(&uplink, options);
        // ifupdown2 merges the ovs_ports of repeated stanzas of the OVS bridge.
        stanzas.append(bridge, format!("ovs_ports {uplink}"));
    } else if ctx.bridge_is_vlan_aware(bridge) {
        uplink = format!("{bridge}.{tag}");
    } else {
        let mut bridge_ports = String::new();
        for port in ctx.bridge_ports(bridge) {
            bridge_ports.push_str(&format!(" {port}.{tag}"));
        }
        let mtu_option = mtu.map(|mtu| format!("mtu {mtu}"));
        let veth = |peer: &str| {
            let mut options = vec![
                "link-type veth".to_string(),
                format!("veth-peer-name {peer}"),
            ];
            options.extend(mtu_option.clone());
            options
        };
        stanzas.define(&uplink, veth(&uplink_peer));
        stanzas.define(&uplink_peer, veth(&uplink));
        let mut options = vec![
            format!("bridge_ports {bridge_ports} {uplink_peer}"),
            "bridge_stp off".to_string(),
            "bridge_fd 0".to_string(),
        ];
        options.extend(mtu_option.clone());
        stanzas.define(&format!("{bridge}v{tag}"), options);
    }

    let mut options = Vec::new();
    vnet_bridge_options(ctx.vnet, &uplink, mtu, &mut options);
    stanzas.define(vnet_id, options);
    Ok(())
}
