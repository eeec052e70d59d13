//! `/cluster/sdn/vnets/{vnet}/ips` (IP mappings, as the reference's `Ips.pm`, plus allocation
//! of the next free address) and `/cluster/sdn/ipams/{ipam}/status` (the PVE IPAM's entries).
//! The addresses' subnets are looked up in the running configuration and the vnet's zone in the
//! pending one, as the reference does; the state lives in [`crate::ipam`].

use std::net::IpAddr;

use hyper::Method;
use serde_json::{json, Map, Value};

use crate::app::App;
use crate::auth::{Caller, Permission, SDN_ALLOCATE, SDN_AUDIT};
use crate::error::Error;
use crate::http::params::Args;
use crate::http::router::Route;
use crate::http::shape::{id_schema, Field, Schema};
use crate::dns::{also, Place, ZoneDns};
use crate::ipam::{self, external::External, state::parse_vmid, Owner, SubnetRef};
use sdn_config::{Cidr, Config, DhcpRange, Kind, Value as PropValue};

const IPS: &str = "/cluster/sdn/vnets/{vnet}/ips";
const WRITE: Permission = Permission::Path("/sdn/zones/{zone}/{vnet}", &[SDN_ALLOCATE]);

pub fn routes() -> Vec<Route> {
    let common = || {
        vec![
            Field::required("vnet", id_schema(Kind::Vnets), "the vnet"),
            Field::required("zone", id_schema(Kind::Zones), "the vnet's zone"),
            Field::required("mac", Schema::string(), "the MAC address (unicast)"),
        ]
    };
    let ip = |description: &str| Field::optional("ip", Schema::string(), description.to_string());
    let mut post = common();
    post.extend([
        ip("the IP address to associate with the MAC address; without it, the next free address of the vnet's dhcp-range is allocated"),
        Field::optional("vmid", Schema::int(100, 999_999_999), "the VM the address is for"),
        Field::optional("hostname", Schema::String { pattern: None, max_length: Some(253) }, "the guest's host name"),
    ]);
    let mut put = common();
    put.extend([
        Field::required("ip", Schema::string(), "the IP address to associate with the MAC address"),
        Field::optional("vmid", Schema::int(100, 999_999_999), "the VM the address is for"),
    ]);
    let mut delete = common();
    delete.push(Field::required("ip", Schema::string(), "the IP address to delete"));
    vec![
        Route::new(Method::POST, IPS, WRITE, create)
            .summary("Create an IP mapping in a vnet, or allocate the next free address of its dhcp-range (SDN.Allocate).")
            .params(post)
            .returns(Schema::nullable(Schema::Object(vec![
                Field::required("ip", Schema::string(), "the allocated address (IPv4 if the vnet has both families)"),
                Field::optional("ip6", Schema::string(), "the allocated IPv6 address, on a dual-stack vnet"),
            ]))),
        Route::new(Method::PUT, IPS, WRITE, update)
            .summary("Update an IP mapping in a vnet: the MAC's address of that family moves to `ip` (SDN.Allocate).")
            .params(put),
        Route::new(Method::DELETE, IPS, WRITE, delete_ip)
            .summary("Delete an IP mapping in a vnet (SDN.Allocate).")
            .params(delete),
        Route::new(Method::GET, "/cluster/sdn/ipams/{ipam}/status", Permission::PerObject, status)
            .summary("List the PVE IPAM's entries the caller may see (SDN.Audit or SDN.Allocate on /sdn/zones/ZONE/VNET).")
            .params([Field::required("ipam", id_schema(Kind::Ipams), "the IPAM")])
            .returns(Schema::array(Schema::Object(vec![
                Field::required("zone", Schema::string(), ""),
                Field::required("vnet", Schema::string(), ""),
                Field::required("subnet", Schema::string(), "the subnet's CIDR"),
                Field::required("ip", Schema::string(), ""),
                Field::optional("mac", Schema::string(), ""),
                Field::optional("hostname", Schema::string(), ""),
                Field::optional("vmid", Schema::Integer { min: None, max: None }, ""),
                Field::optional("gateway", Schema::Flag, "1 for the subnet's gateway"),
            ]))),
    ]
}

/// The parameters every mapping call takes.
struct Target {
    vnet: String,
    zone: String,
    mac: String,
}

fn take_target(args: &mut Args) -> Target {
    let vnet = args.take_string("vnet").unwrap_or_default();
    let zone = args.take_string("zone").unwrap_or_else(|| {
        args.reject("zone", "property is missing and it is not optional");
        String::new()
    });
    let mac = match args.take_string("mac") {
        Some(mac) => {
            if let Err(err) = sdn_config::net::check_mac(&mac) {
                args.reject("mac", err);
            }
            mac.to_ascii_lowercase()
        }
        None => {
            args.reject("mac", "property is missing and it is not optional");
            String::new()
        }
    };
    Target { vnet, zone, mac }
}

fn take_ip(args: &mut Args, required: bool) -> Option<IpAddr> {
    match args.take_string("ip") {
        Some(text) => match sdn_config::net::parse_ip(&text) {
            Ok(ip) => Some(ip),
            Err(err) => {
                args.reject("ip", err);
                None
            }
        },
        None if required => {
            args.reject("ip", "property is missing and it is not optional");
            None
        }
        None => None,
    }
}

fn take_vmid(args: &mut Args) -> Option<String> {
    let text = args.take_string("vmid")?;
    match parse_vmid(&text) {
        Ok(n) => Some(n.to_string()),
        Err(err) => {
            args.reject("vmid", err);
            None
        }
    }
}

/// A vnet's subnets with their DHCP ranges, and the external IPAM of its zone (if any).
type VnetSubnets = (Vec<(SubnetRef, Vec<DhcpRange>)>, Option<External>);

/// The vnet's subnets in the running configuration, sorted by id, with their DHCP ranges,
/// after checking that the vnet exists, is in `zone`, and that the zone uses the PVE IPAM
/// (`None`) or an external one (NetBox, phpIPAM).
fn vnet_subnets(app: &App, target: &Target) -> Result<VnetSubnets, Error> {
    let snapshot = app.sdn.snapshot()?;
    let vnet = snapshot
        .pending
        .get(Kind::Vnets, &target.vnet)
        .ok_or_else(|| Error::NotFound(format!("sdn vnet '{}' does not exist", target.vnet)))?;
    let zone = vnet.get_str("zone").unwrap_or("");
    if zone != target.zone {
        return Err(Error::param("zone", format!("vnet '{}' is in zone '{zone}'", target.vnet)));
    }
    let external = require_ipam(&snapshot.pending, zone)?;
    Ok((subnets_of(&snapshot.running, &target.vnet), external))
}

fn subnets_of(config: &Config, vnet: &str) -> Vec<(SubnetRef, Vec<DhcpRange>)> {
    let mut subnets: Vec<_> = config
        .subnets_of_vnet(vnet)
        .filter_map(|subnet| {
            let ranges = subnet.get("dhcp-range").and_then(PropValue::as_ranges).map(<[DhcpRange]>::to_vec).unwrap_or_default();
            Some((subnet.id().to_string(), SubnetRef::of(subnet)?, ranges))
        })
        .collect();
    subnets.sort_by(|a, b| a.0.cmp(&b.0));
    subnets.into_iter().map(|(_, subnet, ranges)| (subnet, ranges)).collect()
}

fn require_ipam(config: &Config, zone: &str) -> Result<Option<External>, Error> {
    let ipam = config.get(Kind::Zones, zone).and_then(|z| z.get_str("ipam"));
    if let Some(external) = External::of_zone(config, zone)? {
        return Ok(Some(external));
    }
    match ipam {
        None => Err(Error::param("zone", format!("zone '{zone}' has no IPAM: set its 'ipam' to manage addresses"))),
        Some(_) if ipam::zone_uses_pve_ipam(config, zone) => Ok(None),
        Some(other) => Err(Error::NotImplemented(format!(
            "zone '{zone}' uses the IPAM '{other}': this sdnd manages addresses in the PVE, NetBox and phpIPAM IPAMs only"
        ))),
    }
}

/// The subnet of the vnet `ip` lies in (the first by id, as the reference's `find_ip_subnet`).
fn subnet_of_ip(subnets: &[(SubnetRef, Vec<DhcpRange>)], vnet: &str, ip: IpAddr) -> Result<SubnetRef, Error> {
    subnets
        .iter()
        .find(|(subnet, _)| subnet.cidr.contains(ip))
        .map(|(subnet, _)| subnet.clone())
        .ok_or_else(|| Error::param("ip", format!("can't find any subnet for ip {ip} in vnet '{vnet}' (running configuration)")))
}

fn create(app: &App, _: &Caller, mut args: Args) -> Result<Value, Error> {
    let target = take_target(&mut args);
    let ip = take_ip(&mut args, false);
    let vmid = take_vmid(&mut args);
    let hostname = args.take_string("hostname");
    if let Some(name) = &hostname {
        if let Err(err) = sdn_config::net::check_dns_name(name) {
            args.reject("hostname", err);
        }
    }
    args.finish()?;
    let (subnets, external) = vnet_subnets(app, &target)?;
    let dnszoneprefixes = dnszoneprefixes(app, &target.zone, &subnets)?;
    let owner = Owner { mac: target.mac.clone(), hostname, vmid, dnszoneprefixes };
    // The zone's DNS, when there is a hostname to register (as the reference, which
    // registers nothing without one).
    let dns = match &owner.hostname {
        Some(hostname) => zone_dns(app, &target.zone)?.map(|(dns, running)| (dns, running, hostname.as_str())),
        None => None,
    };
    match ip {
        Some(ip) => {
            let subnet = subnet_of_ip(&subnets, &target.vnet, ip)?;
            let place = dns.as_ref().map(|(_, running, _)| Place::of(running, &target.zone, &subnet.cidr));
            if let (Some((dns, ..)), Some(place)) = (&dns, &place) {
                dns.verify(Some((place, ip)))?;
            }
            match &external {
                Some(netbox) => netbox.add_ip(&subnet.cidr, ip, Some(&owner), false)?,
                None => app.ipam.add_ip(&subnet, ip, &owner)?,
            }
            if let (Some((dns, _, hostname)), Some(place)) = (&dns, &place) {
                if let Err(err) = dns.add(place, &place.hostname(hostname), ip) {
                    let undo = match &external {
                        Some(netbox) => netbox.del_ip(ip),
                        None => app.ipam.del_ip(&subnet, ip),
                    };
                    return Err(released(err, &[ip], undo));
                }
            }
            Ok(Value::Null)
        }
        None => {
            if let Some((dns, ..)) = &dns {
                // As the reference, the forward zone only: the reverse one depends on the address.
                dns.verify(None)?;
            }
            let before: Vec<IpAddr> = match (&dns, &external) {
                (None, _) => Vec::new(),
                (Some(_), Some(netbox)) => {
                    let (v4, v6) = netbox.ips_from_mac(&target.mac)?;
                    v4.into_iter().chain(v6).collect()
                }
                (Some(_), None) => {
                    let macs = app.ipam.ips_of_mac(&target.zone, &target.mac)?;
                    [false, true].iter().filter_map(|v6| macs.get(*v6)?.parse().ok()).collect()
                }
            };
            let ips = match &external {
                Some(netbox) => netbox.allocate(&subnets, &owner)?,
                None => app.ipam.allocate(&subnets, &owner)?,
            };
            if let Some((dns, running, hostname)) = &dns {
                register_allocated(app, dns, running, hostname, &target, &subnets, external.as_ref(), &ips, &before)?;
            }
            let mut answer = Map::new();
            for ip in &ips {
                let name = if answer.contains_key("ip") { "ip6" } else { "ip" };
                answer.insert(name.into(), json!(ip.to_string()));
            }
            Ok(Value::Object(answer))
        }
    }
}

/// The `dnszoneprefix` of the vnet's subnets (of the running configuration, as the subnets
/// are), for the hostname the IPAM keeps ([`Owner::hostname_in`]).
fn dnszoneprefixes(app: &App, zone: &str, subnets: &[(SubnetRef, Vec<DhcpRange>)]) -> Result<Vec<(Cidr, String)>, Error> {
    let running = app.sdn.snapshot()?.running;
    Ok(subnets.iter().filter_map(|(s, _)| Some((s.cidr, Place::of(&running, zone, &s.cidr).prefix?))).collect())
}

/// The DNS of `zone` in the pending configuration (as the reference reads the zone), with the
/// running configuration the subnets (and their `dnszoneprefix`) are looked up in.
fn zone_dns(app: &App, zone: &str) -> Result<Option<(ZoneDns, std::sync::Arc<Config>)>, Error> {
    let snapshot = app.sdn.snapshot()?;
    Ok(ZoneDns::of_zone(&snapshot.pending, zone)?.map(|dns| (dns, snapshot.running)))
}

/// The records of freshly allocated addresses, as the reference's `add_next_free_ip`: if one
/// can't be registered, the records made so far are removed and the addresses this call
/// allocated (not those the MAC had already) released again.
#[allow(clippy::too_many_arguments)]
fn register_allocated(
    app: &App,
    dns: &ZoneDns,
    running: &Config,
    hostname: &str,
    target: &Target,
    subnets: &[(SubnetRef, Vec<DhcpRange>)],
    external: Option<&External>,
    ips: &[IpAddr],
    before: &[IpAddr],
) -> Result<(), Error> {
    let mut added: Vec<(Place, IpAddr)> = Vec::new();
    for ip in ips {
        let subnet = subnet_of_ip(subnets, &target.vnet, *ip)?;
        let place = Place::of(running, &target.zone, &subnet.cidr);
        if let Err(err) = dns.add(&place, &place.hostname(hostname), *ip) {
            let fresh: Vec<IpAddr> = ips.iter().copied().filter(|ip| !before.contains(ip)).collect();
            for (place, ip) in added.iter().filter(|(_, ip)| fresh.contains(ip)) {
                dns.del_or_warn(place, Some(&place.hostname(hostname)), *ip);
            }
            let mut undo = Ok(());
            for ip in &fresh {
                let result = match external {
                    Some(netbox) => netbox.del_ip(*ip),
                    None => subnet_of_ip(subnets, &target.vnet, *ip).and_then(|subnet| app.ipam.del_ip(&subnet, *ip)),
                };
                if let Err(e) = result {
                    undo = Err(e);
                }
            }
            return Err(released(err, &fresh, undo));
        }
        added.push((place, *ip));
    }
    Ok(())
}

/// A DNS error after the IPAM took the addresses: says that they were released again, or
/// that they could not be (the IPAM keeps them without their records).
fn released(err: Error, ips: &[IpAddr], undo: Result<(), Error>) -> Error {
    let list = ips.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", ");
    match undo {
        Ok(()) if ips.is_empty() => also(err, "nothing was allocated"),
        Ok(()) => also(err, &format!("the address {list} was released again, nothing was allocated")),
        Err(undo) => {
            tracing::warn!("the address {list} is in the IPAM without its DNS records: {undo}");
            let more = format!("and the address {list} could not be released again (the IPAM keeps it without DNS records): {undo}");
            match also(err, &more) {
                Error::Conflict(m) => Error::Unavailable(m),
                other => other,
            }
        }
    }
}

fn update(app: &App, _: &Caller, mut args: Args) -> Result<Value, Error> {
    let target = take_target(&mut args);
    let ip = take_ip(&mut args, true);
    let vmid = take_vmid(&mut args);
    args.finish()?;
    let ip = ip.ok_or_else(|| Error::param("ip", "property is missing and it is not optional"))?;
    let (subnets, external) = vnet_subnets(app, &target)?;
    let subnet = subnet_of_ip(&subnets, &target.vnet, ip)?;
    if let Some(netbox) = external {
        let dns = zone_dns(app, &target.zone)?;
        return update_external(&netbox, dns.as_ref().map(|(d, r)| (d, r.as_ref())), vmid, &subnets, &target, &subnet, ip);
    }
    let macs = app.ipam.ips_of_mac(&target.zone, &target.mac)?;
    let old = match macs.get(ip.is_ipv6()).and_then(|old| old.parse::<IpAddr>().ok()) {
        Some(old) => Some((subnet_of_ip(&subnets, &target.vnet, old)?, old)),
        None => None,
    };
    let owner = Owner { mac: target.mac.clone(), vmid, ..Owner::default() };
    let moved = match &old {
        Some((old_subnet, old_ip)) if *old_ip != ip => zone_dns(app, &target.zone)?.map(|(dns, running)| (dns, running, old_subnet, *old_ip)),
        _ => None,
    };
    let Some((dns, running, old_subnet, old_ip)) = moved else {
        app.ipam.update_ip(&subnet, old, ip, &owner)?;
        return Ok(Value::Null);
    };
    // The address moves: its records follow it (its hostname stays with the mapping).
    let former = app.ipam.record(old_subnet, old_ip)?.unwrap_or_default();
    let (old_place, place) = (Place::of(&running, &target.zone, &old_subnet.cidr), Place::of(&running, &target.zone, &subnet.cidr));
    dns.verify(Some((&old_place, old_ip)))?;
    dns.verify(Some((&place, ip)))?;
    // The hostname goes along, with the new subnet's `dnszoneprefix` instead of the former's.
    let given = former.hostname.as_deref().map(|h| old_place.given(h).to_string());
    let prefixes = |place: &Place| place.prefix.clone().map(|p| vec![(place.cidr, p)]).unwrap_or_default();
    let owner = Owner { hostname: given.clone(), dnszoneprefixes: prefixes(&place), ..owner };
    app.ipam.update_ip(&subnet, old.clone(), ip, &owner)?;
    dns.del_or_warn(&old_place, former.hostname.as_deref(), old_ip);
    let (Some(hostname), Some(given)) = (former.hostname.as_deref(), given) else { return Ok(Value::Null) };
    if let Err(err) = dns.add(&place, &place.hostname(&given), ip) {
        // Back to the former address, with its records.
        let back = Owner { mac: target.mac.clone(), hostname: Some(given), vmid: former.vmid.clone(), dnszoneprefixes: prefixes(&old_place) };
        let undo = app.ipam.update_ip(old_subnet, Some((subnet.clone(), ip)), old_ip, &back);
        if undo.is_ok() {
            dns.restore(&old_place, hostname, old_ip);
            return Err(also(err, &format!("the mapping is back on {old_ip}")));
        }
        let undo = undo.err().map(|e| e.to_string()).unwrap_or_default();
        tracing::warn!("the mapping of {} is on {ip} without its DNS records: {undo}", target.mac);
        return Err(match also(err, &format!("and the mapping could not be moved back to {old_ip} (it is on {ip}, without DNS records): {undo}")) {
            Error::Conflict(m) => Error::Unavailable(m),
            other => other,
        });
    }
    Ok(Value::Null)
}

fn delete_ip(app: &App, _: &Caller, mut args: Args) -> Result<Value, Error> {
    let target = take_target(&mut args);
    let ip = take_ip(&mut args, true);
    args.finish()?;
    let ip = ip.ok_or_else(|| Error::param("ip", "property is missing and it is not optional"))?;
    let (subnets, external) = vnet_subnets(app, &target)?;
    let subnet = subnet_of_ip(&subnets, &target.vnet, ip)?;
    // As the reference's `del_ip`: the zones verified first, the records removed after the
    // address (the A record when the PVE IPAM knows the hostname; a failure only warns).
    let dns = zone_dns(app, &target.zone)?;
    let place = dns.as_ref().map(|(_, running)| Place::of(running, &target.zone, &subnet.cidr));
    if let (Some((dns, _)), Some(place)) = (&dns, &place) {
        dns.verify(Some((place, ip)))?;
    }
    let hostname = match external {
        Some(netbox) => {
            let hostname = match &dns {
                Some(_) => netbox.hostname_of(ip)?,
                None => None,
            };
            netbox.del_ip(ip)?;
            hostname
        }
        None => {
            let hostname = match &dns {
                Some(_) => app.ipam.record(&subnet, ip)?.and_then(|r| r.hostname),
                None => None,
            };
            app.ipam.del_ip(&subnet, ip)?;
            hostname
        }
    };
    if let (Some((dns, _)), Some(place)) = (&dns, &place) {
        dns.del_or_warn(place, hostname.as_deref(), ip);
    }
    Ok(Value::Null)
}

/// `PUT .../ips` in an external IPAM, as the reference's `Ips.pm`: the MAC's old address of
/// that family deleted, the new one added, and the old one added back if that fails.
/// With DNS, as the reference's `del_ip` and `add_ip` without a hostname: the zones verified
/// first, and the former address's records removed after the move (the new one has no
/// hostname to register).
fn update_external(
    netbox: &External,
    dns: Option<(&ZoneDns, &Config)>,
    vmid: Option<String>,
    subnets: &[(SubnetRef, Vec<DhcpRange>)],
    target: &Target,
    subnet: &SubnetRef,
    ip: IpAddr,
) -> Result<Value, Error> {
    let (old4, old6) = netbox.ips_from_mac(&target.mac)?;
    let old = if ip.is_ipv6() { old6 } else { old4 };
    let mut records = None;
    if let (Some((dns, running)), Some(old)) = (dns, old) {
        let old_cidr = subnet_of_ip(subnets, &target.vnet, old).map(|s| s.cidr).unwrap_or(subnet.cidr);
        let old_place = Place::of(running, &target.zone, &old_cidr);
        dns.verify(Some((&old_place, old)))?;
        dns.verify(Some((&Place::of(running, &target.zone, &subnet.cidr), ip)))?;
        records = Some((dns, old_place, netbox.hostname_of(old)?));
    }
    if let Some(old) = old {
        netbox.del_ip(old)?;
    }
    let owner = Owner { mac: target.mac.clone(), vmid, ..Owner::default() };
    if let Err(err) = netbox.add_ip(&subnet.cidr, ip, Some(&owner), false) {
        if let Some(old) = old {
            let old_subnet = subnet_of_ip(subnets, &target.vnet, old).map(|s| s.cidr).unwrap_or(subnet.cidr);
            if let Err(undo) = netbox.add_ip(&old_subnet, old, Some(&owner), false) {
                return Err(Error::Unavailable(format!("{err}; and the former address {old} could not be added back: {undo}")));
            }
        }
        return Err(err);
    }
    if let (Some((dns, place, hostname)), Some(old)) = (records, old) {
        dns.del_or_warn(&place, hostname.as_deref(), old);
    }
    Ok(Value::Null)
}

/// `GET /cluster/sdn/ipams/{ipam}/status`: as the reference, the entries of the zones of the
/// running configuration that use this IPAM and have `dhcp` set, each with the vnet whose
/// subnet holds it.
fn status(app: &App, caller: &Caller, mut args: Args) -> Result<Value, Error> {
    let id = args.take_string("ipam").unwrap_or_default();
    args.finish()?;
    let snapshot = app.sdn.snapshot()?;
    let ipam = snapshot
        .pending
        .get(Kind::Ipams, &id)
        .ok_or_else(|| Error::NotFound(format!("sdn ipam '{id}' does not exist")))?;
    if ipam.type_name() != "pve" {
        return Err(Error::param("ipam", "Currently only PVE IPAM is supported!"));
    }
    let running = &snapshot.running;
    let mut out = Vec::new();
    for allocation in app.ipam.allocations()? {
        let Some(zone) = running.get(Kind::Zones, &allocation.zone) else { continue };
        if zone.get_str("ipam") != Some(id.as_str()) || zone.get_str("dhcp").is_none() {
            continue;
        }
        let vnet = running
            .subnets_in_zone(&allocation.zone)
            .filter(|s| SubnetRef::of(s).is_some_and(|r| r.cidr == allocation.cidr))
            .find_map(|s| s.get_str("vnet").map(str::to_string));
        let Some(vnet) = vnet else { continue };
        if !caller.has_any(&format!("/sdn/zones/{}/{vnet}", allocation.zone), &[SDN_AUDIT, SDN_ALLOCATE]) {
            continue;
        }
        let mut entry = Map::new();
        entry.insert("zone".into(), json!(allocation.zone));
        entry.insert("vnet".into(), json!(vnet));
        entry.insert("subnet".into(), json!(allocation.cidr.to_string()));
        entry.insert("ip".into(), json!(allocation.ip.to_string()));
        let record = allocation.record;
        if record.gateway {
            entry.insert("gateway".into(), json!(1));
        }
        if let Some(mac) = record.mac {
            entry.insert("mac".into(), json!(mac));
        }
        if let Some(hostname) = record.hostname {
            entry.insert("hostname".into(), json!(hostname));
        }
        if let Some(vmid) = record.vmid {
            entry.insert("vmid".into(), vmid.parse::<u64>().map(|n| json!(n)).unwrap_or(json!(vmid)));
        }
        out.push(Value::Object(entry));
    }
    Ok(Value::Array(out))
}
