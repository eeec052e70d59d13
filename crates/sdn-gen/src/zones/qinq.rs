//! QinQ zones: a vlan-aware zone bridge on a service VLAN, vnets on customer VLANs of it.

use super::{vnet_bridge_options, Stanzas, VnetCtx};

pub(super) fn generate(
    ctx: &VnetCtx,
    bridge: &Option<String>,
    stag: Option<u64>,
    vlan_protocol: Option<&str>,
    stanzas: &mut Stanzas,
) -> Result<(), String> {
    let bridge = ctx.bridge(bridge)?;
    let stag = stag.ok_or("missing service vlan tag")?;
    let mtu = ctx.zone.mtu;
    let zone_id = ctx.zone_id;
    let notag_uplink = format!("ln_{zone_id}");
    let notag_uplink_peer = format!("pr_{zone_id}");
    let zone_bridge = format!("z_{zone_id}");

    let vnet_bridge_ports = match ctx.vnet.tag {
        Some(ctag) => format!("{zone_bridge}.{ctag}"),
        None => notag_uplink_peer.clone(),
    };

    let mut zone_bridge_ports = String::new();
    if ctx.bridge_is_ovs(bridge) {
        let protocol = vlan_protocol.unwrap_or("802.1q");
        let svlan = format!("sv_{zone_id}");
        let mut options = vec![
            "ovs_type OVSIntPort".to_string(),
            format!("ovs_bridge {bridge}"),
        ];
        if let Some(mtu) = mtu {
            options.push(format!("ovs_mtu {mtu}"));
        }
        options.push(format!(
            "ovs_options vlan_mode=dot1q-tunnel tag={stag} other_config:qinq-ethtype={protocol}"
        ));
        stanzas.define(&svlan, options);

        // The reference keeps one `ovs_ports` line as the bridge's first option and adds each
        // zone's port to it once.
        let bridge_options = stanzas.options_mut(bridge);
        if bridge_options.first().is_none_or(|first| first.is_empty()) {
            if bridge_options.is_empty() {
                bridge_options.push("ovs_ports".into());
            } else {
                bridge_options[0] = "ovs_ports".into();
            }
        }
        if !bridge_options[0].split(' ').any(|port| port == svlan) {
            bridge_options[0].push(' ');
            bridge_options[0].push_str(&svlan);
        }
        zone_bridge_ports = svlan;
    } else if ctx.bridge_is_vlan_aware(bridge) {
        zone_bridge_ports = format!("{bridge}.{stag}");
        if let Some(protocol) = vlan_protocol {
            stanzas.define(bridge, vec![format!("bridge-vlan-protocol {protocol}")]);
            stanzas.define(
                &zone_bridge_ports,
                vec![format!("vlan-protocol {protocol}")],
            );
        }
    } else if let Some(port) = ctx.bridge_ports(bridge).first() {
        let svlan = format!("sv_{zone_id}");
        let mut options = vec![format!("vlan-raw-device {port}"), format!("vlan-id {stag}")];
        if let Some(protocol) = vlan_protocol {
            options.push(format!("vlan-protocol {protocol}"));
        }
        stanzas.define(&svlan, options);
        zone_bridge_ports = svlan;
    }

    stanzas.define(
        &notag_uplink,
        vec![
            "link-type veth".into(),
            format!("veth-peer-name {notag_uplink_peer}"),
        ],
    );
    stanzas.define(
        &notag_uplink_peer,
        vec![
            "link-type veth".into(),
            format!("veth-peer-name {notag_uplink}"),
        ],
    );

    let mut options = Vec::new();
    if let Some(mtu) = mtu {
        options.push(format!("mtu {mtu}"));
    }
    options.push("bridge-stp off".into());
    options.push(format!("bridge-ports {zone_bridge_ports} {notag_uplink}"));
    options.push("bridge-fd 0".into());
    options.push("bridge-vlan-aware yes".into());
    options.push("bridge-vids 2-4094".into());
    stanzas.define(&zone_bridge, options);

    let mut options = Vec::new();
    vnet_bridge_options(ctx.vnet, &vnet_bridge_ports, mtu, &mut options);
    stanzas.define(ctx.vnet_id, options);
    Ok(())
}
