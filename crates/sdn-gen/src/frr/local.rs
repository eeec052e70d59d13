//! Merging the operator's `frr.conf.local` into the generated configuration.
//!
//! The rules are the reference's (`PVE::Network::SDN::Frr::append_local_config`):
//! - a block that also exists in the generated config (the same `router bgp ASN [vrf V]`,
//!   `router isis NAME`, `vrf NAME`, an IS-IS `interface`, or an address family of a generated
//!   BGP router) gets the local lines appended to it;
//! - any other block is copied verbatim to the free-form part of the config;
//! - `route-map` entries are never merged: they are appended after the generated entries of the
//!   same route-map and every route-map is renumbered 1, 2, ...;
//! - `access-list`, `ip[v6] prefix-list` and `bgp community-list` lines are copied verbatim;
//! - lines outside any block and lines containing `!` are dropped.

use std::collections::BTreeMap;

use super::{FrrConfig, DEFAULT_VRF};

/// Where the lines of the current block go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Section {
    /// Outside any block: the reference collects these and never writes them.
    Discard,
    Custom,
    IsisRouter(String),
    BgpRouter(String),
    AddressFamily(String, Family),
    Vrf(String),
    IsisInterface(String),
    RouteMap(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Ipv4Unicast,
    Ipv6Unicast,
    L2vpnEvpn,
}

/// One item of a route-map in merge order.
enum RouteMapItem {
    /// The generated entries of this route-map.
    Generated,
    /// A line from `frr.conf.local`.
    Line(String),
}

/// The generated BGP instance for `vrf`, if its ASN is `asn`.
fn bgp_router_matches(config: &FrrConfig, vrf: &str, asn: &str) -> bool {
    config
        .bgp
        .vrf_router
        .get(vrf)
        .is_some_and(|r| r.asn.to_string() == asn)
}

fn family_exists(config: &FrrConfig, vrf: &str, family: Family) -> bool {
    let Some(router) = config.bgp.vrf_router.get(vrf) else {
        return false;
    };
    let afs = &router.address_families;
    match family {
        Family::Ipv4Unicast => afs.ipv4_unicast.is_some(),
        Family::Ipv6Unicast => afs.ipv6_unicast.is_some(),
        Family::L2vpnEvpn => afs.l2vpn_evpn.is_some(),
    }
}

/// Merges `local` into `config` and numbers all route-map entries.
pub(crate) fn merge(config: &mut FrrConfig, local: Option<&str>) {
    let mut routemaps: BTreeMap<String, Vec<RouteMapItem>> = config
        .routemaps
        .keys()
        .map(|name| (name.clone(), vec![RouteMapItem::Generated]))
        .collect();

    if let Some(local) = local.filter(|l| !l.is_empty()) {
        parse_into(config, local, &mut routemaps);
    }

    for (name, items) in routemaps {
        let mut seq = 1;
        for item in items {
            match item {
                RouteMapItem::Generated => {
                    for entry in config.routemaps.get_mut(&name).into_iter().flatten() {
                        entry.seq = seq;
                        seq += 1;
                    }
                }
                RouteMapItem::Line(line) => match parse_route_map(&line) {
                    Some((name, action, _)) => {
                        config
                            .custom_frr_config
                            .push(format!("route-map {name} {action} {seq}"));
                        seq += 1;
                    }
                    None => config.custom_frr_config.push(line),
                },
            }
        }
    }
}

fn parse_into(
    config: &mut FrrConfig,
    local: &str,
    routemaps: &mut BTreeMap<String, Vec<RouteMapItem>>,
) {
    let mut section = Section::Discard;
    // The reference keeps the current BGP router across blocks until an `exit`.
    let mut bgp: Option<(String, String)> = None;
    let mut new_block = false;
    let mut new_af_block = false;

    for raw in local.split('\n') {
        let line = raw.trim_end();
        if line.is_empty() {
            continue;
        }

        if let Some(name) = after(line, "router isis ") {
            if config.isis.router.contains_key(name) {
                section = Section::IsisRouter(name.to_string());
            } else {
                new_block = true;
                config.custom_frr_config.push(format!("router isis {name}"));
                section = Section::Custom;
            }
        } else if let Some((asn, vrf)) = parse_router_bgp(line) {
            let vrf_key = vrf.unwrap_or(DEFAULT_VRF).to_string();
            bgp = Some((asn.to_string(), vrf_key.clone()));
            if bgp_router_matches(config, &vrf_key, asn) {
                section = Section::BgpRouter(vrf_key);
            } else {
                new_block = true;
                config.custom_frr_config.push(match vrf {
                    Some(vrf) => format!("router bgp {asn} vrf {vrf}"),
                    None => format!("router bgp {asn}"),
                });
                section = Section::Custom;
            }
        } else if let Some(name) = after(line, "router ") {
            new_block = true;
            config.custom_frr_config.push(format!("router {name}"));
            section = Section::Custom;
        } else if let Some(name) = after(line, "vrf ") {
            if config.bgp.vrfs.contains_key(name) {
                section = Section::Vrf(name.to_string());
            } else {
                new_block = true;
                config.custom_frr_config.push(format!("vrf {name}"));
                section = Section::Custom;
            }
        } else if let Some(name) = after(line, "interface ") {
            if config.isis.interfaces.contains_key(name) {
                section = Section::IsisInterface(name.to_string());
            } else {
                new_block = true;
                config.custom_frr_config.push(format!("interface {name}"));
                section = Section::Custom;
            }
        } else if after(line, "bgp community-list ").is_some() {
            config.custom_frr_config.push(line.to_string());
        } else if let Some(family_text) = address_family(line) {
            let family = match family_text.replace(' ', "_").as_str() {
                "ipv4_unicast" => Some(Family::Ipv4Unicast),
                "ipv6_unicast" => Some(Family::Ipv6Unicast),
                "l2vpn_evpn" => Some(Family::L2vpnEvpn),
                _ => None,
            };
            let header = format!(" address-family {family_text}");
            match &bgp {
                Some((asn, vrf)) if bgp_router_matches(config, vrf, asn) => {
                    match family.filter(|f| family_exists(config, vrf, *f)) {
                        Some(family) => section = Section::AddressFamily(vrf.clone(), family),
                        None => {
                            new_af_block = true;
                            section = Section::BgpRouter(vrf.clone());
                            push(config, &section, header);
                        }
                    }
                }
                _ => {
                    new_af_block = true;
                    config.custom_frr_config.push(header);
                    section = Section::Custom;
                }
            }
        } else if let Some((name, _, _)) = parse_route_map(line) {
            new_block = true;
            routemaps
                .entry(name.to_string())
                .or_default()
                .push(RouteMapItem::Line(line.to_string()));
            section = Section::RouteMap(name.to_string());
        } else if is_list_line(line) {
            config.custom_frr_config.push(line.to_string());
        } else if line.ends_with("exit-address-family") {
            if new_af_block {
                push_to(config, routemaps, &section, line.to_string());
                section = Section::Custom;
            } else {
                section = match &bgp {
                    Some((_, vrf)) if config.bgp.vrf_router.contains_key(vrf) => {
                        Section::BgpRouter(vrf.clone())
                    }
                    _ => Section::Discard,
                };
            }
            new_af_block = false;
        } else if line.starts_with("exit") {
            if new_block {
                push_to(config, routemaps, &section, line.to_string());
                push_to(config, routemaps, &section, "!".to_string());
            }
            section = Section::Discard;
            bgp = None;
            new_block = false;
        } else if line.contains('!') {
            continue;
        } else {
            push_to(config, routemaps, &section, line.to_string());
        }
    }
}

/// `PREFIX` followed by at least one character: the rest.
fn after<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.strip_prefix(prefix).filter(|rest| !rest.is_empty())
}

/// `router bgp ASN [vrf NAME]`.
fn parse_router_bgp(line: &str) -> Option<(&str, Option<&str>)> {
    let rest = line.strip_prefix("router bgp ")?;
    let asn_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (asn, tail) = rest.split_at(asn_end);
    if asn.is_empty() {
        return None;
    }
    if tail.is_empty() {
        return Some((asn, None));
    }
    let vrf = tail.strip_prefix(" vrf ").filter(|v| !v.is_empty())?;
    Some((asn, Some(vrf)))
}

/// `... address-family FAMILY` anywhere in the line: FAMILY.
fn address_family(line: &str) -> Option<&str> {
    let pos = line.find("address-family ")?;
    let family = &line[pos + "address-family ".len()..];
    (!family.is_empty()).then_some(family)
}

/// `route-map NAME permit|deny SEQ...`, taking the last `permit|deny SEQ` like the reference's
/// greedy pattern does.
fn parse_route_map(line: &str) -> Option<(&str, &str, &str)> {
    let rest = line.strip_prefix("route-map ")?;
    let mut best = None;
    for action in ["permit", "deny"] {
        let needle = format!(" {action} ");
        let mut from = 0;
        while let Some(pos) = rest[from..].find(&needle) {
            let at = from + pos;
            let after = &rest[at + needle.len()..];
            let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if at > 0 && digits > 0 && best.is_none_or(|(b, _, _)| at > b) {
                best = Some((at, action, &after[..digits]));
            }
            from = at + 1;
        }
    }
    best.map(|(at, action, seq)| (&rest[..at], action, seq))
}

/// `access-list NAME seq N RULE` and `ip[v6] prefix-list NAME seq N RULE`.
fn is_list_line(line: &str) -> bool {
    let (rest, rule_required) = if let Some(rest) = line.strip_prefix("access-list ") {
        (rest, true)
    } else if let Some(rest) = line
        .strip_prefix("ip prefix-list ")
        .or_else(|| line.strip_prefix("ipv6 prefix-list "))
    {
        (rest, false)
    } else {
        return false;
    };
    let mut from = 0;
    while let Some(pos) = rest[from..].find(" seq ") {
        let at = from + pos;
        let after = &rest[at + " seq ".len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if at > 0 && digits > 0 {
            if let Some(rule) = after[digits..].strip_prefix(' ') {
                if !rule_required || !rule.is_empty() {
                    return true;
                }
            }
        }
        from = at + 1;
    }
    false
}

fn push_to(
    config: &mut FrrConfig,
    routemaps: &mut BTreeMap<String, Vec<RouteMapItem>>,
    section: &Section,
    line: String,
) {
    if let Section::RouteMap(name) = section {
        routemaps
            .entry(name.clone())
            .or_default()
            .push(RouteMapItem::Line(line));
    } else {
        push(config, section, line);
    }
}

fn push(config: &mut FrrConfig, section: &Section, line: String) {
    let target = match section {
        Section::Discard | Section::RouteMap(_) => return,
        Section::Custom => &mut config.custom_frr_config,
        Section::IsisRouter(name) => match config.isis.router.get_mut(name) {
            Some(router) => &mut router.custom_frr_config,
            None => return,
        },
        Section::BgpRouter(vrf) => match config.bgp.vrf_router.get_mut(vrf) {
            Some(router) => &mut router.custom_frr_config,
            None => return,
        },
        Section::AddressFamily(vrf, family) => {
            let Some(router) = config.bgp.vrf_router.get_mut(vrf) else {
                return;
            };
            let afs = &mut router.address_families;
            let common = match family {
                Family::Ipv4Unicast => afs.ipv4_unicast.as_mut().map(|af| &mut af.common),
                Family::Ipv6Unicast => afs.ipv6_unicast.as_mut().map(|af| &mut af.common),
                Family::L2vpnEvpn => afs.l2vpn_evpn.as_mut().map(|af| &mut af.common),
            };
            match common {
                Some(common) => &mut common.custom_frr_config,
                None => return,
            }
        }
        Section::Vrf(name) => {
            &mut config
                .bgp
                .vrfs
                .entry(name.clone())
                .or_default()
                .custom_frr_config
        }
        Section::IsisInterface(name) => match config.isis.interfaces.get_mut(name) {
            Some(iface) => &mut iface.custom_frr_config,
            None => return,
        },
    };
    target.push(line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frr::{Action, BgpRouter, RouteMapEntry};

    #[test]
    fn router_bgp_header() {
        assert_eq!(parse_router_bgp("router bgp 65000"), Some(("65000", None)));
        assert_eq!(
            parse_router_bgp("router bgp 65000 vrf vrf_a"),
            Some(("65000", Some("vrf_a")))
        );
        assert_eq!(parse_router_bgp("router bgp 65000 vrf"), None);
        assert_eq!(parse_router_bgp("router bgp 65000 view x"), None);
    }

    #[test]
    fn route_map_header_takes_last_action() {
        assert_eq!(
            parse_route_map("route-map A permit 10"),
            Some(("A", "permit", "10"))
        );
        assert_eq!(
            parse_route_map("route-map A deny 1 permit 20"),
            Some(("A deny 1", "permit", "20"))
        );
        assert_eq!(parse_route_map("route-map A permit"), None);
    }

    #[test]
    fn list_lines() {
        assert!(is_list_line("access-list f seq 5 permit any"));
        assert!(!is_list_line("access-list f permit any"));
        assert!(is_list_line("ip prefix-list P seq 10 permit 10.0.0.0/8"));
        assert!(is_list_line("ipv6 prefix-list P seq 10 "));
    }

    #[test]
    fn merges_into_existing_router_and_renumbers_route_maps() {
        let mut config = FrrConfig::default();
        let mut router = BgpRouter::new(65000, "10.0.0.1".parse().unwrap());
        router.address_families.l2vpn_evpn = Some(Default::default());
        config.bgp.vrf_router.insert(DEFAULT_VRF.into(), router);
        config
            .routemaps
            .insert("MAP".into(), vec![RouteMapEntry::new(Action::Permit)]);
        let local = "ip nht resolve-via-default\n!\nrouter bgp 65000\n neighbor X remote-as 1 ! x\n neighbor Y remote-as 2\n address-family l2vpn evpn\n  advertise-svi-ip\n exit-address-family\nexit\n!\nroute-map MAP permit 7\n set metric 1\nexit\nrouter bgp 65001\n bgp router-id 1.1.1.1\nexit\n";
        merge(&mut config, Some(local));
        let router = &config.bgp.vrf_router[DEFAULT_VRF];
        assert_eq!(router.custom_frr_config, vec![" neighbor Y remote-as 2"]);
        let evpn = router.address_families.l2vpn_evpn.as_ref().unwrap();
        assert_eq!(evpn.common.custom_frr_config, vec!["  advertise-svi-ip"]);
        assert_eq!(config.routemaps["MAP"][0].seq, 1);
        assert_eq!(
            config.custom_frr_config,
            vec![
                "router bgp 65001",
                " bgp router-id 1.1.1.1",
                "exit",
                "!",
                "route-map MAP permit 2",
                " set metric 1",
                "exit",
                "!"
            ]
        );
    }
}
