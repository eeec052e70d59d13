//! Renders an [`FrrConfig`] into `frr.conf` text, line for line what the reference's
//! templates (proxmox-frr-templates) produce, wrapped in the reference's fixed header/footer.

use std::fmt::Write as _;

use super::{
    AfCommon, BgpRouter, FrrConfig, IpRoute, UnicastAf, DEFAULT_VRF,
};

/// The complete `frr.conf` for `hostname`.
pub(crate) fn render(config: &FrrConfig, hostname: &str) -> String {
    let mut body = String::new();
    bgpd(&mut body, config);
    isisd(&mut body, config);
    prefix_lists(&mut body, config);
    for line in &config.custom_frr_config {
        line_out(&mut body, line);
    }
    fabricd(&mut body, config);
    ospfd(&mut body, config);
    access_lists(&mut body, config);
    route_maps(&mut body, config);
    for route in &config.ip_routes {
        body.push_str("!\n");
        ip_route(&mut body, "", route);
    }
    protocol_routemaps(&mut body, config);

    let mut out = format!(
        "frr version 10.4.1\nfrr defaults datacenter\nhostname {hostname}\nlog syslog informational\nservice integrated-vtysh-config\n"
    );
    // The reference splits the rendered text into lines and joins them again.
    for line in body.lines() {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("!\nline vty\n!\n");
    out
}

fn line_out(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

fn ip_route(out: &mut String, indent: &str, route: &IpRoute) {
    let family = if route.is_ipv6 { "ipv6" } else { "ip" };
    let _ = write!(out, "{indent}{family} route {} {}", route.prefix, route.via);
    if let Some(vrf) = &route.vrf {
        let _ = write!(out, " {vrf}");
    }
    out.push('\n');
}

fn bgpd(out: &mut String, config: &FrrConfig) {
    for (name, vrf) in &config.bgp.vrfs {
        let _ = write!(out, "!\nvrf {name}\n");
        if let Some(vni) = vrf.vni {
            let _ = writeln!(out, " vni {vni}");
        }
        for route in &vrf.ip_routes {
            ip_route(out, " ", route);
        }
        for line in &vrf.custom_frr_config {
            line_out(out, line);
        }
        out.push_str("exit-vrf\n");
    }
    for (vrf, router) in &config.bgp.vrf_router {
        if vrf == DEFAULT_VRF {
            let _ = write!(out, "!\nrouter bgp {}\n", router.asn);
        } else {
            let _ = write!(out, "!\nrouter bgp {} vrf {vrf}\n", router.asn);
        }
        bgp_router(out, router);
        out.push_str("exit\n");
    }
    for (name, list) in &config.bgp.ext_community_lists {
        out.push_str("!\n");
        let kind = if list.expanded { "expanded" } else { "standard" };
        for (action, entry) in &list.entries {
            let _ = writeln!(out, "bgp extcommunity-list {kind} {name} {action} {entry}");
        }
    }
}

fn bgp_router(out: &mut String, r: &BgpRouter) {
    let _ = writeln!(out, " bgp router-id {}", r.router_id);
    if r.hard_administrative_reset == Some(false) {
        out.push_str(" no bgp hard-administrative-reset\n");
    }
    if r.default_ipv4_unicast == Some(false) {
        out.push_str(" no bgp default ipv4-unicast\n");
    }
    if let Some(time) = r.coalesce_time.filter(|t| *t != 0) {
        let _ = writeln!(out, " coalesce-time {time}");
    }
    if r.graceful_restart_notification == Some(false) {
        out.push_str(" no bgp graceful-restart notification\n");
    }
    if r.disable_ebgp_connected_route_check {
        out.push_str(" bgp disable-ebgp-connected-route-check\n");
    }
    if r.bestpath_as_path_multipath_relax {
        out.push_str(" bgp bestpath as-path multipath-relax\n");
    }
    for group in &r.neighbor_groups {
        let name = &group.name;
        let _ = write!(
            out,
            " neighbor {name} peer-group\n neighbor {name} remote-as {}\n",
            group.remote_as
        );
        if let Some(local) = &group.local_as {
            let _ = writeln!(out, " neighbor {name} local-as {} {}", local.asn, local.mode);
        }
        if group.bfd {
            let _ = writeln!(out, " neighbor {name} bfd");
        }
        if let Some(hops) = group.ebgp_multihop.filter(|h| *h != 0) {
            let _ = writeln!(out, " neighbor {name} ebgp-multihop {hops}");
        }
        if let Some(source) = &group.update_source {
            let _ = writeln!(out, " neighbor {name} update-source {source}");
        }
        for ip in &group.ips {
            let _ = writeln!(out, " neighbor {ip} peer-group {name}");
        }
    }
    for line in &r.custom_frr_config {
        line_out(out, line);
    }
    let afs = &r.address_families;
    if let Some(af) = &afs.ipv4_unicast {
        unicast_af(out, "ipv4", af);
    }
    if let Some(af) = &afs.ipv6_unicast {
        unicast_af(out, "ipv6", af);
    }
    if let Some(af) = &afs.l2vpn_evpn {
        out.push_str(" !\n address-family l2vpn evpn\n");
        af_common(out, &af.common);
        if af.advertise_all_vni {
            out.push_str("  advertise-all-vni\n");
        }
        if let Some(asn) = af.autort_as.filter(|a| *a != 0) {
            let _ = writeln!(out, "  autort as {asn}");
        }
        for family in &af.default_originate {
            let _ = writeln!(out, "  default-originate {family}");
        }
        if af.advertise_ipv4_unicast {
            out.push_str("  advertise ipv4 unicast\n");
        }
        if af.advertise_ipv6_unicast {
            out.push_str("  advertise ipv6 unicast\n");
        }
        if let Some(rt) = &af.route_targets {
            for target in &rt.import {
                let _ = writeln!(out, "  route-target import {target}");
            }
            for target in &rt.export {
                let _ = writeln!(out, "  route-target export {target}");
            }
        }
        for line in &af.common.custom_frr_config {
            line_out(out, line);
        }
        out.push_str(" exit-address-family\n");
    }
}

fn unicast_af(out: &mut String, family: &str, af: &UnicastAf) {
    let _ = write!(out, " !\n address-family {family} unicast\n");
    for network in &af.networks {
        let _ = writeln!(out, "  network {network}");
    }
    af_common(out, &af.common);
    for protocol in &af.redistribute {
        let _ = writeln!(out, "  redistribute {protocol}");
    }
    for line in &af.common.custom_frr_config {
        line_out(out, line);
    }
    out.push_str(" exit-address-family\n");
}

fn af_common(out: &mut String, common: &AfCommon) {
    for vrf in &common.import_vrf {
        let _ = writeln!(out, "  import vrf {vrf}");
    }
    for n in &common.neighbors {
        let _ = writeln!(out, "  neighbor {} activate", n.name);
        if n.soft_reconfiguration_inbound {
            let _ = writeln!(out, "  neighbor {} soft-reconfiguration inbound", n.name);
        }
        if let Some(map) = &n.route_map_in {
            let _ = writeln!(out, "  neighbor {} route-map {map} in", n.name);
        }
        if let Some(map) = &n.route_map_out {
            let _ = writeln!(out, "  neighbor {} route-map {map} out", n.name);
        }
    }
}

fn interface_header(out: &mut String, name: &str) {
    let _ = write!(out, "!\ninterface {name}\n");
}

fn isisd(out: &mut String, config: &FrrConfig) {
    for (name, router) in &config.isis.router {
        let _ = write!(out, "!\nrouter isis {name}\n net {}\n", router.net);
        if let Some((v4, v6)) = router.redistribute_connected {
            let _ = writeln!(out, " redistribute ipv4 connected {v4}");
            let _ = writeln!(out, " redistribute ipv6 connected {v6}");
        }
        if router.log_adjacency_changes {
            out.push_str(" log-adjacency-changes\n");
        }
        for line in &router.custom_frr_config {
            line_out(out, line);
        }
        out.push_str("exit\n");
    }
    for (name, iface) in &config.isis.interfaces {
        interface_header(out, name);
        if !iface.domain.is_empty() && iface.is_ipv4 {
            let _ = writeln!(out, " ip router isis {}", iface.domain);
        }
        if !iface.domain.is_empty() && iface.is_ipv6 {
            let _ = writeln!(out, " ipv6 router isis {}", iface.domain);
        }
        for line in &iface.custom_frr_config {
            line_out(out, line);
        }
        out.push_str("exit\n");
    }
}

fn prefix_lists(out: &mut String, config: &FrrConfig) {
    for (name, rules) in &config.prefix_lists {
        out.push_str("!\n");
        for rule in rules {
            let family = if rule.is_ipv6 { "ipv6" } else { "ip" };
            let _ = write!(out, "{family} prefix-list {name} ");
            if let Some(seq) = rule.seq.filter(|s| *s != 0) {
                let _ = write!(out, "seq {seq} ");
            }
            let _ = write!(out, "{} {}", rule.action, rule.network);
            if let Some(le) = rule.le.filter(|l| *l != 0) {
                let _ = write!(out, " le {le}");
            }
            if let Some(ge) = rule.ge.filter(|g| *g != 0) {
                let _ = write!(out, " ge {ge}");
            }
            out.push('\n');
        }
    }
}

fn fabricd(out: &mut String, config: &FrrConfig) {
    for (name, net) in &config.openfabric.router {
        let _ = write!(out, "!\nrouter openfabric {name}\n net {net}\nexit\n");
    }
    for (name, iface) in &config.openfabric.interfaces {
        interface_header(out, name);
        if iface.is_ipv4 {
            let _ = writeln!(out, " ip router openfabric {}", iface.fabric_id);
        }
        if iface.is_ipv6 {
            let _ = writeln!(out, " ipv6 router openfabric {}", iface.fabric_id);
        }
        if iface.passive {
            out.push_str(" openfabric passive\n");
        }
        if let Some(v) = iface.hello_interval.filter(|v| *v != 0) {
            let _ = writeln!(out, " openfabric hello-interval {v}");
        }
        if let Some(v) = iface.hello_multiplier.filter(|v| *v != 0) {
            let _ = writeln!(out, " openfabric hello-multiplier {v}");
        }
        if let Some(v) = iface.csnp_interval.filter(|v| *v != 0) {
            let _ = writeln!(out, " openfabric csnp-interval {v}");
        }
        out.push_str("exit\n");
    }
}

fn ospfd(out: &mut String, config: &FrrConfig) {
    if let Some(id) = config.ospf.router_id {
        let _ = write!(out, "!\nrouter ospf\n ospf router-id {id}\nexit\n");
    }
    for (name, iface) in &config.ospf.interfaces {
        interface_header(out, name);
        let _ = writeln!(out, " ip ospf area {}", iface.area);
        if iface.passive {
            out.push_str(" ip ospf passive\n");
        }
        if iface.point_to_point {
            out.push_str(" ip ospf network point-to-point\n");
        }
        out.push_str("exit\n");
    }
}

fn access_lists(out: &mut String, config: &FrrConfig) {
    for (name, rules) in &config.access_lists {
        out.push_str("!\n");
        for rule in rules {
            let family = if rule.is_ipv6 { "ipv6 " } else { "" };
            let _ = writeln!(
                out,
                "{family}access-list {name} {} {}",
                rule.action, rule.network
            );
        }
    }
}

fn route_maps(out: &mut String, config: &FrrConfig) {
    for (name, entries) in &config.routemaps {
        for entry in entries {
            let _ = write!(out, "!\nroute-map {name} {} {}\n", entry.action, entry.seq);
            for m in &entry.matches {
                let _ = writeln!(out, " match {m}");
            }
            for set in &entry.sets {
                let _ = writeln!(out, " set {set}");
            }
            if let Some(call) = &entry.call {
                let _ = writeln!(out, " call {call}");
            }
            if let Some(exit) = &entry.exit_action {
                let _ = writeln!(out, " {exit}");
            }
            out.push_str("exit\n");
        }
    }
}

fn protocol_routemaps(out: &mut String, config: &FrrConfig) {
    for (protocol, maps) in &config.protocol_routemaps {
        out.push_str("!\n");
        if let Some(v4) = &maps.v4 {
            let _ = writeln!(out, "ip protocol {protocol} route-map {v4}");
        }
        if let Some(v6) = &maps.v6 {
            let _ = write!(out, "!\nipv6 protocol {protocol} route-map {v6}\n");
        }
    }
}
