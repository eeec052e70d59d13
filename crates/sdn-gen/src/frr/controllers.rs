//! FRR configuration of the controllers (evpn, bgp, isis), their zones and vnets, following
//! the reference's controller plugins.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use sdn_config::running::{
    BgpController, Controller, EvpnOptions, EvpnZone, IsisController, RunningConfig, Zone,
    ZoneKind,
};
use sdn_config::IpLiteral;

use crate::error::GenError;
use crate::fabrics::Fabrics;
use crate::host::{HostInterfaces, NodeFacts};

use super::{
    Action, AfNeighbor, BgpRouter, ExtCommunityList, FrrConfig, IpRoute, IsisRouter, KeyValue, L2vpnEvpnAf,
    LocalAs, NeighborGroup, PrefixListRule, RemoteAs, RouteMapEntry, RouteTargets, UnicastAf,
    DEFAULT_VRF,
};

/// What the controllers see of the node and the config.
pub(crate) struct Ctx<'a> {
    pub(crate) cfg: &'a RunningConfig,
    pub(crate) facts: &'a NodeFacts,
    pub(crate) host: &'a HostInterfaces,
    pub(crate) fabrics: &'a Fabrics<'a>,
    pub(crate) warnings: &'a mut Vec<crate::Warning>,
}

/// How an EVPN controller reaches its peers from this node.
struct Underlay {
    peers: Vec<IpLiteral>,
    loopback: Option<String>,
    local_ip: Option<String>,
    router_id: Ipv4Addr,
}

impl Ctx<'_> {
    fn node(&self) -> &str {
        &self.facts.node
    }

    /// The bgp (or isis) controller of this node, the first by id if there are several.
    fn bgp_controller(&self) -> Option<&BgpController> {
        self.cfg
            .controllers
            .iter()
            .flatten()
            .find_map(|(_, c)| match c {
                Controller::Bgp(b) if b.node.as_deref() == Some(self.node()) => Some(b),
                _ => None,
            })
    }

    fn isis_controller(&self) -> Option<&IsisController> {
        self.cfg
            .controllers
            .iter()
            .flatten()
            .find_map(|(_, c)| match c {
                Controller::Isis(i) if i.node.as_deref() == Some(self.node()) => Some(i),
                _ => None,
            })
    }

    /// The reference's `get_router_id`: an IPv4 address is used as is, otherwise the last four
    /// bytes of the interface MAC.
    fn router_id(&self, object: &str, ip: Option<&str>) -> Result<Ipv4Addr, GenError> {
        if let Some(v4) = ip.and_then(|ip| ip.parse::<Ipv4Addr>().ok()) {
            return Ok(v4);
        }
        let mac = self.facts.mac.ok_or_else(|| {
            GenError::field(object, "router-id", "can't autofind a router-id value from ip or mac (the node has no IPv4 address towards the peers and no MAC in its facts)")
        })?;
        if mac.0 == [0; 6] {
            return Err(GenError::field(
                object,
                "router-id",
                "the interface has a zero MAC address, so no BGP router-id can be derived; use a dummy interface or an IPv4 address",
            ));
        }
        Ok(Ipv4Addr::new(mac.0[2], mac.0[3], mac.0[4], mac.0[5]))
    }

    /// Resolves the underlay of an EVPN controller; `None` (with a warning) when it has none.
    fn evpn_underlay(
        &mut self,
        object: &str,
        zone: Option<&str>,
        peers: &Option<Vec<IpLiteral>>,
        fabric: &Option<String>,
        prefer_fabric: bool,
    ) -> Result<Option<Underlay>, GenError> {
        let use_fabric = fabric.is_some() && (prefer_fabric || peers.is_none());
        if let (true, Some(fabric)) = (use_fabric, fabric) {
            return match self.fabrics.node_ip(fabric, self.node()) {
                Ok(ip) => Ok(Some(Underlay {
                    peers: self
                        .fabrics
                        .node_ips(fabric)
                        .into_iter()
                        .map(|ip| IpLiteral::from_addr(IpAddr::V4(ip)))
                        .collect(),
                    loopback: Some(format!("dummy_{fabric}")),
                    local_ip: Some(ip.to_string()),
                    router_id: ip,
                })),
                Err(reason) => {
                    self.warnings.push(crate::Warning {
                        zone: zone.map(str::to_string),
                        vnet: None,
                        message: format!("could not configure EVPN {object}: {reason}"),
                    });
                    Ok(None)
                }
            };
        }
        let Some(peers) = peers else {
            self.warnings.push(crate::Warning {
                zone: zone.map(str::to_string),
                vnet: None,
                message: format!("neither fabric nor peers configured for EVPN {object}"),
            });
            return Ok(None);
        };
        let loopback = match (self.bgp_controller(), self.isis_controller()) {
            (Some(bgp), _) => bgp.loopback.clone(),
            (None, Some(isis)) => isis.loopback.clone(),
            (None, None) => None,
        };
        let texts: Vec<String> = peers.iter().map(|p| p.as_str().to_string()).collect();
        let (local_ip, _) = self
            .host
            .local_ip_for_peers(self.facts, &texts, loopback.as_deref());
        let router_id = self.router_id(object, local_ip.as_deref())?;
        Ok(Some(Underlay {
            peers: peers.clone(),
            loopback,
            local_ip,
            router_id,
        }))
    }
}

/// Adds the FRR configuration of all controllers, zones and vnets to `frr`.
pub(crate) fn generate(ctx: &mut Ctx, frr: &mut FrrConfig) -> Result<(), GenError> {
    let cfg = ctx.cfg;
    if cfg.vnets.is_none() && cfg.zones.is_none() && cfg.controllers.is_none() {
        return Ok(());
    }
    ctx.host.check_uplinks()?;

    for (id, controller) in cfg.controllers.iter().flatten() {
        match controller {
            Controller::Evpn {
                asn,
                peers,
                fabric,
                options,
            } => evpn_controller(ctx, frr, id, *asn, peers, fabric, options)?,
            Controller::Bgp(bgp) => bgp_controller(ctx, frr, id, bgp)?,
            Controller::Isis(isis) => isis_controller(ctx, frr, isis),
            Controller::Other => {}
        }
    }

    for (zone_id, zone) in cfg.zones.iter().flatten() {
        let Some(Controller::Evpn {
            asn,
            peers,
            fabric,
            options,
        }) = controller_of(cfg, zone)
        else {
            continue;
        };
        if let ZoneKind::Evpn(evpn) = &zone.kind {
            let maps = vtep_route_maps(options);
            evpn_zone(ctx, frr, zone_id, evpn, *asn, peers, fabric, &maps)?;
        }
    }

    for (vnet_id, vnet) in cfg.vnets.iter().flatten() {
        let Some((zone_id, zone)) = vnet
            .zone
            .as_deref()
            .and_then(|z| Some((z, cfg.zones.as_ref()?.get(z)?)))
        else {
            continue;
        };
        if let (Some(Controller::Evpn { .. }), ZoneKind::Evpn(evpn)) =
            (controller_of(cfg, zone), &zone.kind)
        {
            evpn_vnet(ctx, frr, zone_id, evpn, vnet_id);
        }
    }
    route_target_filters(cfg, frr);
    Ok(())
}

/// Whether there are several EVPN controllers: then each announces only the routes of its
/// zones (the reference's `skip_route_target_filtering` is the opposite).
fn filters_route_targets(cfg: &RunningConfig) -> bool {
    cfg.controllers
        .iter()
        .flat_map(|c| c.values())
        .filter(|c| matches!(c, Controller::Evpn { .. }))
        .count()
        > 1
}

/// With several EVPN controllers, one `bgp extcommunity-list pve_controller_ID` per controller
/// with the route targets of the zones (and their vnets) it announces, as primary or
/// secondary controller; `MAP_VTEP_OUT*` matches on it. A controller without zones gets a list
/// that denies everything (FRR has no empty lists).
fn route_target_filters(cfg: &RunningConfig, frr: &mut FrrConfig) {
    if !filters_route_targets(cfg) {
        return;
    }
    struct Allowed {
        expanded: bool,
        targets: Vec<String>,
    }
    let empty = || Allowed {
        expanded: false,
        targets: Vec::new(),
    };
    let mut allowed: BTreeMap<String, Allowed> = BTreeMap::new();
    for (id, controller) in cfg.controllers.iter().flatten() {
        if matches!(controller, Controller::Evpn { .. }) {
            allowed.insert(id.clone(), empty());
        }
    }
    for zone in cfg.zones.iter().flat_map(|z| z.values()) {
        let (Some(primary), ZoneKind::Evpn(evpn)) = (zone.controller.as_deref(), &zone.kind) else {
            continue;
        };
        let targets = if evpn.rt_import.is_empty() {
            vec![format!(".*:{}", evpn.vrf_vxlan.map(|v| v.to_string()).unwrap_or_default())]
        } else {
            evpn.rt_import.clone()
        };
        for id in std::iter::once(primary).chain(evpn.secondary_controllers.iter().map(String::as_str)) {
            let entry = allowed.entry(id.to_string()).or_insert_with(empty);
            if evpn.rt_import.is_empty() {
                entry.expanded = true;
            }
            entry.targets.extend(targets.iter().cloned());
        }
    }
    for vnet in cfg.vnets.iter().flat_map(|v| v.values()) {
        let Some(zone) = vnet.zone.as_deref().and_then(|z| cfg.zones.as_ref()?.get(z)) else {
            continue;
        };
        let (Some(primary), ZoneKind::Evpn(evpn)) = (zone.controller.as_deref(), &zone.kind) else {
            continue;
        };
        if !evpn.rt_import.is_empty() {
            continue;
        }
        let target = format!(".*:{}", vnet.tag.map(|t| t.to_string()).unwrap_or_default());
        let primary_exists = cfg.controllers.as_ref().is_some_and(|c| c.contains_key(primary));
        let ids = primary_exists
            .then_some(primary)
            .into_iter()
            .chain(evpn.secondary_controllers.iter().map(String::as_str));
        for id in ids {
            allowed
                .entry(id.to_string())
                .or_insert_with(empty)
                .targets
                .push(target.clone());
        }
    }
    for (id, list) in allowed {
        let value = if list.targets.is_empty() {
            ExtCommunityList {
                expanded: false,
                entries: vec![(Action::Deny, "rt 0:0".into())],
            }
        } else {
            let entries = list
                .targets
                .iter()
                .map(|t| {
                    let entry = if list.expanded {
                        format!("^RT:{t}$")
                    } else {
                        format!("rt {t}")
                    };
                    (Action::Permit, entry)
                })
                .collect();
            ExtCommunityList {
                expanded: list.expanded,
                entries,
            }
        };
        frr.bgp
            .ext_community_lists
            .insert(format!("pve_controller_{id}"), value);
    }
}

fn controller_of<'c>(cfg: &'c RunningConfig, zone: &Zone) -> Option<&'c Controller> {
    cfg.controllers.as_ref()?.get(zone.controller.as_deref()?)
}

/// The names of the route maps an EVPN controller's peer group goes through:
/// `MAP_VTEP_IN`/`MAP_VTEP_OUT`, suffixed with the peer group's name when one is set.
fn vtep_route_maps(options: &EvpnOptions) -> (String, String) {
    match &options.peer_group_name {
        Some(name) => (format!("MAP_VTEP_IN_{name}"), format!("MAP_VTEP_OUT_{name}")),
        None => ("MAP_VTEP_IN".into(), "MAP_VTEP_OUT".into()),
    }
}

/// The ASN of the node's default BGP instance (the reference's `get_default_router_asn`): the
/// BGP controller's when the EVPN controller is in `auto` mode, else the EVPN controller's,
/// else the BGP controller's.
fn default_router_asn(ctx: &Ctx) -> Option<u32> {
    let bgp = ctx.bgp_controller();
    let mut auto_asn = None;
    let mut evpn_asn = None;
    for controller in ctx.cfg.controllers.iter().flat_map(|c| c.values()) {
        let Controller::Evpn { asn, options, .. } = controller else {
            continue;
        };
        if options
            .nodes
            .as_ref()
            .is_some_and(|nodes| !nodes.iter().any(|n| n == ctx.node()))
        {
            continue;
        }
        evpn_asn = evpn_asn.or(*asn);
        if options.bgp_mode.as_deref().unwrap_or("auto") == "auto" {
            if let Some(bgp) = bgp {
                auto_asn = auto_asn.or(bgp.asn);
            }
        }
    }
    auto_asn.or(evpn_asn).or_else(|| bgp.and_then(|b| b.asn))
}

fn evpn_controller(
    ctx: &mut Ctx,
    frr: &mut FrrConfig,
    id: &str,
    controller_asn: Option<u32>,
    peers: &Option<Vec<IpLiteral>>,
    fabric: &Option<String>,
    options: &EvpnOptions,
) -> Result<(), GenError> {
    if options
        .nodes
        .as_ref()
        .is_some_and(|nodes| !nodes.iter().any(|n| n == ctx.node()))
    {
        return Ok(());
    }
    let object = format!("controller {id}");
    let Some(underlay) = ctx.evpn_underlay(&object, None, peers, fabric, true)? else {
        return Ok(());
    };
    let mode = options.bgp_mode.as_deref().unwrap_or("auto");
    let mut asn = controller_asn;
    let ebgp;
    let mut autort_as = None;
    match ctx.bgp_controller() {
        Some(bgp) if mode == "auto" => {
            ebgp = controller_asn != bgp.asn;
            if bgp.asn.is_some() {
                asn = bgp.asn;
            }
            if ebgp {
                autort_as = controller_asn;
            }
        }
        _ => ebgp = mode == "external",
    }
    let Some(asn) = asn else {
        return Ok(());
    };
    let router_asn = default_router_asn(ctx).unwrap_or(asn);

    let router = frr
        .bgp
        .vrf_router
        .entry(DEFAULT_VRF.to_string())
        .or_insert_with(|| {
            let mut r = BgpRouter::new(router_asn, underlay.router_id);
            r.default_ipv4_unicast = Some(false);
            r.hard_administrative_reset = Some(false);
            r.graceful_restart_notification = Some(false);
            r.coalesce_time = Some(1000);
            r
        });
    let local_as = if asn != router.asn {
        if !ebgp {
            return Err(GenError::field(
                &object,
                "asn",
                format!(
                    "cannot use ASN {asn} for an iBGP session: the node's BGP instance has ASN {}",
                    router.asn
                ),
            ));
        }
        Some(LocalAs {
            asn,
            mode: "no-prepend replace-as",
        })
    } else {
        None
    };
    let group = options.peer_group_name.clone().unwrap_or_else(|| "VTEP".into());
    let local_ip = underlay.local_ip.as_deref();
    let ebgp_multihop = match mode {
        "auto" => (ebgp && underlay.loopback.is_some()).then_some(10),
        "external" => options.ebgp_multihop.filter(|_| ebgp),
        _ => None,
    };
    router.neighbor_groups.push(NeighborGroup {
        name: group.clone(),
        bfd: true,
        remote_as: if ebgp {
            RemoteAs::External
        } else {
            RemoteAs::Asn(asn)
        },
        local_as,
        ips: underlay
            .peers
            .iter()
            .filter(|p| Some(p.as_str()) != local_ip)
            .map(|p| p.addr())
            .collect(),
        ebgp_multihop,
        update_source: if mode == "auto" {
            underlay.loopback.clone()
        } else {
            None
        },
    });
    let (map_in, map_out) = vtep_route_maps(options);
    let evpn = router
        .address_families
        .l2vpn_evpn
        .get_or_insert_with(|| L2vpnEvpnAf {
            advertise_all_vni: true,
            ..Default::default()
        });
    evpn.common.neighbors.push(AfNeighbor {
        name: group,
        route_map_in: Some(map_in.clone()),
        route_map_out: Some(map_out.clone()),
        ..Default::default()
    });
    if autort_as.is_some() {
        evpn.autort_as = autort_as;
    }
    let filtering = filters_route_targets(ctx.cfg);
    for (map, call, out) in [
        (map_in, &options.route_map_in, false),
        (map_out, &options.route_map_out, true),
    ] {
        frr.routemaps.entry(map).or_insert_with(|| {
            let mut entry = RouteMapEntry::new(Action::Permit);
            entry.call = call.clone();
            // Outgoing routes: only the zones of this controller, when there are several.
            if out && call.is_none() && filtering {
                entry
                    .matches
                    .push(KeyValue::new("extcommunity", format!("pve_controller_{id} any")));
            }
            vec![entry]
        });
    }
    Ok(())
}

/// Numeric order of an address, IPv4 before IPv6 of the same value like `Net::IP::intip`.
fn int_ip(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(*v4)),
        IpAddr::V6(v6) => u128::from(*v6),
    }
}

fn default_only_match(ipv6: bool) -> KeyValue {
    if ipv6 {
        KeyValue::new("ipv6 address prefix-list", "only_default_v6")
    } else {
        KeyValue::new("ip address prefix-list", "only_default")
    }
}

#[allow(clippy::too_many_arguments)]
fn evpn_zone(
    ctx: &mut Ctx,
    frr: &mut FrrConfig,
    zone_id: &str,
    zone: &EvpnZone,
    controller_asn: Option<u32>,
    peers: &Option<Vec<IpLiteral>>,
    fabric: &Option<String>,
    (map_in, map_out): &(String, String),
) -> Result<(), GenError> {
    let object = format!("zone {zone_id}");
    let Some(underlay) = ctx.evpn_underlay(&object, Some(zone_id), peers, fabric, true)? else {
        return Ok(());
    };
    let mut asn = controller_asn;
    let mut autort_as = None;
    if let Some(bgp) = ctx.bgp_controller() {
        let ebgp = controller_asn != bgp.asn;
        if bgp.asn.is_some() {
            asn = bgp.asn;
        }
        if ebgp {
            autort_as = controller_asn;
        }
    }
    let (Some(vrf_vxlan), Some(asn)) = (zone.vrf_vxlan, asn) else {
        return Ok(());
    };
    let vrf = format!("vrf_{zone_id}");
    let is_gateway = zone.exitnodes.iter().any(|n| n == ctx.node());

    let mut vrf_router = BgpRouter::new(default_router_asn(ctx).unwrap_or(asn), underlay.router_id);
    vrf_router.hard_administrative_reset = Some(false);
    vrf_router.graceful_restart_notification = Some(false);

    let bgp_vrf = frr.bgp.vrfs.entry(vrf.clone()).or_default();
    bgp_vrf.vni = Some(vrf_vxlan);
    bgp_vrf.ip_routes.clear();

    if is_gateway {
        // Null routes for the other zones' subnets keep traffic between zones from being
        // routed through the exit node.
        let mut by_network: BTreeMap<&str, (IpAddr, u8)> = BTreeMap::new();
        for subnet in ctx.cfg.subnets().values() {
            if subnet.vnet.is_some() && subnet.zone != zone_id {
                by_network.insert(
                    subnet.network.as_str(),
                    (subnet.network.addr(), subnet.mask),
                );
            }
        }
        let mut networks: Vec<(&str, IpAddr, u8)> = by_network
            .into_iter()
            .map(|(text, (ip, mask))| (text, ip, mask))
            .collect();
        networks.sort_by(|a, b| int_ip(&a.1).cmp(&int_ip(&b.1)).then(a.0.cmp(b.0)));
        for (text, ip, mask) in networks {
            bgp_vrf.ip_routes.push(IpRoute {
                is_ipv6: ip.is_ipv6(),
                prefix: format!("{text}/{mask}"),
                via: "null0".into(),
                vrf: None,
            });
        }
    }

    let afs = &mut vrf_router.address_families;
    if let Some(autort) = autort_as.filter(|a| *a != vrf_router.asn) {
        afs.l2vpn_evpn
            .get_or_insert_with(Default::default)
            .route_targets = Some(RouteTargets {
            import: vec![format!("{autort}:{vrf_vxlan}")],
            export: vec![format!("{autort}:{vrf_vxlan}")],
        });
    }

    if is_gateway {
        for (name, ipv6, network) in [
            ("only_default", false, "0.0.0.0/0"),
            ("only_default_v6", true, "::/0"),
        ] {
            frr.prefix_lists.entry(name.to_string()).or_insert_with(|| {
                vec![PrefixListRule {
                    seq: Some(1),
                    action: Action::Permit,
                    network: network.into(),
                    le: None,
                    ge: None,
                    is_ipv6: ipv6,
                }]
            });
        }
        let primary = zone.exitnodes_primary.as_deref();
        if primary.is_none_or(|p| p == ctx.node()) {
            // The primary exit node ignores default routes announced by the other exit nodes.
            let entries = frr.routemaps.entry(map_in.clone()).or_default();
            for ipv6 in [true, false] {
                let mut entry = RouteMapEntry::new(Action::Deny);
                entry.matches.push(default_only_match(ipv6));
                entries.insert(0, entry);
            }
        } else {
            // Secondary exit nodes announce their default route with a worse metric.
            let entries = frr.routemaps.entry(map_out.clone()).or_default();
            for ipv6 in [true, false] {
                let mut entry = RouteMapEntry::new(Action::Permit);
                entry.matches.push(default_only_match(ipv6));
                entry.sets.push(KeyValue::new("metric", 200));
                entries.insert(0, entry);
            }
        }

        if !zone.exitnodes_local_routing {
            if let Some(main) = frr.bgp.vrf_router.get_mut(DEFAULT_VRF) {
                let main_afs = &mut main.address_families;
                for af in [&mut main_afs.ipv4_unicast, &mut main_afs.ipv6_unicast] {
                    af.get_or_insert_with(Default::default)
                        .common
                        .import_vrf
                        .push(vrf.clone());
                }
            }
            redistribute_connected(afs);
        }
        afs.l2vpn_evpn
            .get_or_insert_with(Default::default)
            .default_originate = vec!["ipv4", "ipv6"];
    } else if zone.advertise_subnets {
        redistribute_connected(afs);
        let evpn = afs.l2vpn_evpn.get_or_insert_with(Default::default);
        evpn.advertise_ipv4_unicast = true;
        evpn.advertise_ipv6_unicast = true;
    }

    if !zone.rt_import.is_empty() {
        afs.l2vpn_evpn
            .get_or_insert_with(Default::default)
            .route_targets
            .get_or_insert_with(Default::default)
            .import
            .extend(zone.rt_import.iter().cloned());
    }

    frr.bgp.vrf_router.insert(vrf, vrf_router);
    Ok(())
}

fn redistribute_connected(afs: &mut super::AddressFamilies) {
    for af in [&mut afs.ipv4_unicast, &mut afs.ipv6_unicast] {
        af.get_or_insert_with(UnicastAf::default)
            .redistribute
            .push("connected");
    }
}

/// Exit nodes with local routing reach the zone's subnets through the cross-VRF veth pair.
fn evpn_vnet(ctx: &Ctx, frr: &mut FrrConfig, zone_id: &str, zone: &EvpnZone, vnet_id: &str) {
    if !zone.exitnodes_local_routing || !zone.exitnodes.iter().any(|n| n == ctx.node()) {
        return;
    }
    for subnet in ctx.cfg.vnet_subnets(vnet_id) {
        let is_ipv6 = subnet.network.is_ipv6();
        frr.ip_routes.push(IpRoute {
            is_ipv6,
            prefix: subnet.cidr(),
            via: if is_ipv6 { "fe80::2" } else { "10.255.255.2" }.into(),
            vrf: Some(format!("xvrf_{zone_id}")),
        });
    }
}

fn bgp_controller(
    ctx: &mut Ctx,
    frr: &mut FrrConfig,
    id: &str,
    bgp: &BgpController,
) -> Result<(), GenError> {
    let Some(asn) = bgp.asn else {
        return Ok(());
    };
    if bgp.node.as_deref() != Some(ctx.node()) {
        return Ok(());
    }
    let object = format!("controller {id}");
    let peers: Vec<String> = bgp.peers.iter().map(|p| p.as_str().to_string()).collect();
    let (local_ip, _) = ctx
        .host
        .local_ip_for_peers(ctx.facts, &peers, bgp.loopback.as_deref());
    let router_id = ctx.router_id(&object, local_ip.as_deref())?;
    let local_addr: Option<IpAddr> = local_ip.as_deref().and_then(|ip| ip.parse().ok());

    let router = frr
        .bgp
        .vrf_router
        .entry(DEFAULT_VRF.to_string())
        .or_insert_with(|| {
            let mut r = BgpRouter::new(asn, router_id);
            r.default_ipv4_unicast = Some(false);
            r.coalesce_time = Some(1000);
            r
        });
    if bgp.loopback.is_some() && bgp.ebgp {
        router.disable_ebgp_connected_route_check = true;
    }
    if bgp.multipath_relax {
        router.bestpath_as_path_multipath_relax = true;
    }

    if !bgp.peers.is_empty() {
        router.neighbor_groups.push(NeighborGroup {
            name: "BGP".into(),
            bfd: true,
            remote_as: if bgp.ebgp {
                RemoteAs::External
            } else {
                RemoteAs::Asn(asn)
            },
            local_as: None,
            ips: bgp.peers.iter().map(|p| p.addr()).collect(),
            ebgp_multihop: bgp.ebgp_multihop.filter(|_| bgp.ebgp),
            update_source: None,
        });
        let ipv6 = local_addr.is_some_and(|ip| ip.is_ipv6());
        let afs = &mut router.address_families;
        let af = if ipv6 {
            &mut afs.ipv6_unicast
        } else {
            &mut afs.ipv4_unicast
        };
        let af = af.get_or_insert_with(|| UnicastAf {
            common: super::AfCommon {
                neighbors: vec![AfNeighbor {
                    name: "BGP".into(),
                    soft_reconfiguration_inbound: true,
                    route_map_in: bgp.route_map_in.clone(),
                    route_map_out: bgp.route_map_out.clone(),
                }],
                ..Default::default()
            },
            ..Default::default()
        });
        if bgp.loopback.is_some() {
            let ip = local_addr.ok_or_else(|| {
                GenError::field(
                    &object,
                    "loopback",
                    "no local IP address found to announce (the loopback interface has no IPv4 address)",
                )
            })?;
            af.networks
                .push(format!("{ip}/{}", if ipv6 { 128 } else { 32 }));
        }
    }

    if bgp.loopback.is_some() {
        let ip = local_addr.ok_or_else(|| {
            GenError::field(
                &object,
                "loopback",
                "no local IP address found to use as route source",
            )
        })?;
        frr.prefix_lists.insert(
            "loopbacks_ips".into(),
            vec![PrefixListRule {
                seq: Some(10),
                action: Action::Permit,
                network: "0.0.0.0/0".into(),
                le: Some(32),
                ge: None,
                is_ipv6: false,
            }],
        );
        frr.protocol_routemaps.entry("bgp").or_default().v4 = Some("correct_src".into());
        let mut entry = RouteMapEntry::new(Action::Permit);
        entry
            .matches
            .push(KeyValue::new("ip address prefix-list", "loopbacks_ips"));
        entry.sets.push(KeyValue::new("src", ip));
        frr.routemaps
            .entry("correct_src".into())
            .or_default()
            .push(entry);
    }
    Ok(())
}

fn isis_controller(ctx: &Ctx, frr: &mut FrrConfig, isis: &IsisController) {
    let (Some(domain), Some(net)) = (&isis.domain, &isis.net) else {
        return;
    };
    if isis.ifaces.is_empty() || isis.node.as_deref() != Some(ctx.node()) {
        return;
    }
    let router = frr
        .isis
        .router
        .entry(domain.clone())
        .or_insert_with(|| IsisRouter {
            net: net.clone(),
            log_adjacency_changes: true,
            redistribute_connected: None,
            custom_frr_config: Vec::new(),
        });
    router.net = net.clone();
    router.log_adjacency_changes = true;
    router.redistribute_connected = Some(("level-1", "level-1"));
    for iface in &isis.ifaces {
        let entry = frr.isis.interfaces.entry(iface.clone()).or_default();
        entry.domain = domain.clone();
        entry.is_ipv4 = true;
        entry.is_ipv6 = false;
    }
}
