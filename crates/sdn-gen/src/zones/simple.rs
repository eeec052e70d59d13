//! Simple zones: a plain bridge per vnet, with the subnet gateways as addresses.

use super::{snat_options, vnet_bridge_options, Stanzas, VnetCtx};

pub(super) fn generate(ctx: &VnetCtx, stanzas: &mut Stanzas) {
    if stanzas.contains(ctx.vnet_id) {
        return;
    }
    let mut options = Vec::new();
    let mut addresses: Vec<&str> = Vec::new();
    let (mut forward_v4, mut forward_v6) = (false, false);
    for subnet in ctx.subnets() {
        let cidr = subnet.cidr();
        if let Some(gw) = &subnet.gateway {
            if !addresses.contains(&gw.as_str()) {
                options.push(format!("address {gw}/{}", subnet.mask));
                addresses.push(gw.as_str());
            }
        }
        // The reference decides the IP version by the gateway; no gateway counts as IPv4.
        let ipv6 = subnet.gateway.as_ref().is_some_and(|gw| gw.is_ipv6());
        if subnet.gateway.is_some() {
            if ipv6 {
                forward_v6 = true;
            } else {
                forward_v4 = true;
            }
        }
        if subnet.mask == 32 && !ipv6 {
            options.push(format!("up ip route add {cidr} dev {}", ctx.vnet_id));
        }
        if subnet.snat {
            snat_options(ctx.facts, &cidr, ipv6, &mut options);
        }
    }
    if let Some(mac) = &ctx.vnet.mac {
        options.push(format!("hwaddress {mac}"));
    }
    vnet_bridge_options(ctx.vnet, "none", ctx.zone.mtu, &mut options);
    if forward_v4 {
        options.push("ip-forward on".into());
    }
    if forward_v6 {
        options.push("ip6-forward on".into());
    }
    stanzas.define(ctx.vnet_id, options);
}
