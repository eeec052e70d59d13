//! The external IPAMs (NetBox, phpIPAM), and what a subnet change does to them, as the reference's subnet hooks
//! do: called before the configuration is written, so that a refusal of the IPAM (a prefix
//! that exists, one that still holds addresses, an IPAM that is down) refuses the change and
//! writes nothing. If the write fails afterwards, [`SubnetUndo::undo`] takes the IPAM's change
//! back; if even that fails, the error says so (the two never disagree silently).

use std::net::IpAddr;

use sdn_config::{Change, Cidr, Config, DhcpRange, Kind, SdnObject, Value as PropValue};

use super::netbox::NetBox;
use super::phpipam::PhpIpam;
use super::{registered_gateway, Owner, SubnetRef};
use crate::error::Error;

/// An external IPAM: where a zone's addresses live when its `ipam` is not the PVE one.
pub enum External {
    NetBox(NetBox),
    PhpIpam(PhpIpam),
}

impl External {
    /// The zone's external IPAM (`None`: none, or the PVE IPAM).
    pub fn of_zone(config: &Config, zone: &str) -> Result<Option<External>, Error> {
        let ipam = config.get(Kind::Zones, zone).and_then(|z| z.get_str("ipam")).and_then(|ipam| config.get(Kind::Ipams, ipam));
        match ipam {
            Some(ipam) if ipam.type_name() == "netbox" => Ok(Some(External::NetBox(NetBox::from_config(ipam)?))),
            Some(ipam) if ipam.type_name() == "phpipam" => Ok(Some(External::PhpIpam(PhpIpam::from_config(ipam)?))),
            _ => Ok(None),
        }
    }

    pub fn add_subnet(&self, cidr: &Cidr, ranges: &[DhcpRange]) -> Result<(), Error> {
        match self {
            External::NetBox(n) => n.add_subnet(cidr, ranges),
            External::PhpIpam(p) => p.add_subnet(cidr),
        }
    }

    /// A subnet's DHCP ranges changed (phpIPAM has none: nothing to do, as in the reference).
    pub fn update_subnet(&self, old: &[DhcpRange], new: &[DhcpRange]) -> Result<(), Error> {
        match self {
            External::NetBox(n) => n.update_subnet(old, new),
            External::PhpIpam(_) => Ok(()),
        }
    }

    pub fn del_subnet(&self, cidr: &Cidr, gateway: Option<IpAddr>, ranges: &[DhcpRange]) -> Result<(), Error> {
        match self {
            External::NetBox(n) => n.del_subnet(cidr, gateway, ranges),
            External::PhpIpam(p) => p.del_subnet(cidr),
        }
    }

    pub fn add_ip(&self, cidr: &Cidr, ip: IpAddr, owner: Option<&Owner>, gateway: bool) -> Result<(), Error> {
        let hostname = owner.and_then(|o| o.hostname_in(cidr));
        let (hostname, mac) = (hostname.as_deref(), owner.map(|o| o.mac.as_str()));
        match self {
            External::NetBox(n) => n.add_ip(cidr, ip, hostname, mac, gateway),
            External::PhpIpam(p) => p.add_ip(cidr, ip, hostname, mac, owner.and_then(|o| o.vmid.as_deref()), gateway),
        }
    }

    /// A subnet's gateway, registered with the hostname the reference's subnet hook gives it
    /// (`VNET-gw`, the subnet's `dnszoneprefix` appended).
    fn add_gateway(&self, cidr: &Cidr, (ip, hostname): &Gateway) -> Result<(), Error> {
        match self {
            External::NetBox(n) => n.add_ip(cidr, *ip, Some(hostname), None, true),
            External::PhpIpam(p) => p.add_ip(cidr, *ip, Some(hostname), None, None, true),
        }
    }

    pub fn del_ip(&self, ip: IpAddr) -> Result<(), Error> {
        match self {
            External::NetBox(n) => n.del_ip(ip),
            External::PhpIpam(p) => p.del_ip(ip),
        }
    }

/// The hostname the IPAM has for `ip` (`None`: none, or the IPAM doesn't know the address).
    pub fn hostname_of(&self, ip: IpAddr) -> Result<Option<String>, Error> {
        match self {
            External::NetBox(n) => n.hostname_of(ip),
            External::PhpIpam(p) => p.hostname_of(ip),
        }
    }

        pub fn ips_from_mac(&self, mac: &str) -> Result<(Option<IpAddr>, Option<IpAddr>), Error> {
        match self {
            External::NetBox(n) => n.ips_from_mac(mac),
            External::PhpIpam(p) => p.ips_from_mac(mac),
        }
    }

    fn next_free(&self, cidr: &Cidr, range: &DhcpRange, owner: &Owner) -> Result<IpAddr, Error> {
        match self {
            External::NetBox(n) => n.add_range_next_freeip(range, owner.hostname_in(cidr).as_deref(), Some(&owner.mac)),
            External::PhpIpam(p) => p.next_free(cidr, range, owner.hostname_in(cidr).as_deref(), &owner.mac, owner.vmid.as_deref()),
        }
    }

    /// `add_next_free_cidr` on a vnet of the zone: per address family, the MAC's address if
    /// the IPAM has one, else the next free address of the first of the vnet's subnets (by
    /// id) whose dhcp-range has one. If the second family fails, the first family's new
    /// address is released again, as the reference rolls back.
    pub fn allocate(&self, subnets: &[(SubnetRef, Vec<DhcpRange>)], owner: &Owner) -> Result<Vec<IpAddr>, Error> {
        let families: Vec<bool> = [false, true]
            .into_iter()
            .filter(|v6| subnets.iter().any(|(s, ranges)| s.cidr.addr().is_ipv6() == *v6 && !ranges.is_empty()))
            .collect();
        if families.is_empty() {
            return Err(Error::param("ip", "no subnet of the vnet has a dhcp-range to allocate from: give 'ip'"));
        }
        let (known4, known6) = self.ips_from_mac(&owner.mac)?;
        let mut answer = Vec::new();
        let mut added = Vec::new();
        for v6 in families {
            let known = if v6 { known6 } else { known4 };
            if let Some(ip) = known.filter(|ip| subnets.iter().any(|(s, _)| s.cidr.contains(*ip))) {
                answer.push(ip);
                continue;
            }
            match self.allocate_family(subnets, v6, owner) {
                Ok(ip) => {
                    answer.push(ip);
                    added.push(ip);
                }
                Err(err) => {
                    for ip in added {
                        if let Err(undo) = self.del_ip(ip) {
                            tracing::warn!("external IPAM: {ip} allocated but not released again: {undo}");
                        }
                    }
                    return Err(err);
                }
            }
        }
        Ok(answer)
    }

    fn allocate_family(&self, subnets: &[(SubnetRef, Vec<DhcpRange>)], v6: bool, owner: &Owner) -> Result<IpAddr, Error> {
        let mut last = None;
        for (subnet, ranges) in subnets.iter().filter(|(s, _)| s.cidr.addr().is_ipv6() == v6) {
            for range in ranges {
                match self.next_free(&subnet.cidr, range, owner) {
                    Ok(ip) => return Ok(ip),
                    // A full range (or one the IPAM doesn't know): the next one.
                    Err(err @ Error::Conflict(_)) => last = Some(err),
                    Err(err) => return Err(err),
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::Conflict("no free address in the vnet's dhcp-ranges".into())))
    }
}

/// A subnet's registered gateway and its hostname.
type Gateway = (IpAddr, String);

/// The IPAM change a subnet change made, to take back.
pub enum SubnetUndo {
    Nothing,
    Created { netbox: External, cidr: Cidr, gateway: Option<Gateway>, ranges: Vec<DhcpRange> },
    Deleted { netbox: External, cidr: Cidr, gateway: Option<Gateway>, ranges: Vec<DhcpRange> },
    Updated { netbox: External, cidr: Cidr, old: (Option<Gateway>, Vec<DhcpRange>), new: (Option<Gateway>, Vec<DhcpRange>) },
}

/// The gateway the subnet registers, with its hostname.
fn gateway(subnet: &SdnObject) -> Option<Gateway> {
    let ip = registered_gateway(subnet)?;
    let vnet = subnet.get_str("vnet").unwrap_or_default();
    Some((ip, crate::dns::with_prefix(&format!("{vnet}-gw"), subnet.get_str("dnszoneprefix"))))
}

fn ip_of(gateway: &Option<Gateway>) -> Option<IpAddr> {
    gateway.as_ref().map(|(ip, _)| *ip)
}

fn ranges(subnet: &SdnObject) -> Vec<DhcpRange> {
    subnet.get("dhcp-range").and_then(PropValue::as_ranges).map(<[DhcpRange]>::to_vec).unwrap_or_default()
}

/// The external IPAM a subnet change (planned on `pending`) goes to, with the subnet's CIDR
/// (`None`: not a subnet change, or its zone has none).
fn external_of(pending: &Config, change: &Change) -> Result<Option<(External, Cidr)>, Error> {
    if change.kind != Kind::Subnets {
        return Ok(None);
    }
    let old = pending.get(Kind::Subnets, &change.id);
    let Some(subnet_ref) = change.object.as_ref().or(old).and_then(SubnetRef::of) else {
        return Ok(None);
    };
    Ok(External::of_zone(pending, &subnet_ref.zone)?.map(|external| (external, subnet_ref.cidr)))
}

/// Whether `change` would call an external IPAM.
pub fn involves_external(pending: &Config, change: &Change) -> Result<bool, Error> {
    Ok(external_of(pending, change)?.is_some())
}

/// Applies `change` (planned on `pending`) to the subnet's NetBox IPAM, if its zone has one.
pub fn subnet_change(pending: &Config, change: &Change) -> Result<SubnetUndo, Error> {
    let Some((netbox, cidr)) = external_of(pending, change)? else {
        return Ok(SubnetUndo::Nothing);
    };
    let old = pending.get(Kind::Subnets, &change.id);
    match (old, &change.object) {
        (None, Some(new)) => {
            let (gateway, ranges) = (gateway(new), ranges(new));
            netbox.add_subnet(&cidr, &ranges)?;
            if let Some(gateway) = &gateway {
                if let Err(err) = netbox.add_gateway(&cidr, gateway) {
                    return Err(with_undo(err, netbox.del_subnet(&cidr, None, &ranges)));
                }
            }
            Ok(SubnetUndo::Created { netbox, cidr, gateway, ranges })
        }
        (Some(old), None) => {
            let (gateway, ranges) = (gateway(old), ranges(old));
            netbox.del_subnet(&cidr, ip_of(&gateway), &ranges)?;
            Ok(SubnetUndo::Deleted { netbox, cidr, gateway, ranges })
        }
        (Some(old), Some(new)) => {
            let old = (gateway(old), ranges(old));
            let new = (gateway(new), ranges(new));
            update(&netbox, &cidr, &old, &new)?;
            Ok(SubnetUndo::Updated { netbox, cidr, old, new })
        }
        (None, None) => Ok(SubnetUndo::Nothing),
    }
}

/// A subnet update: its ranges, then its gateway (the old one released, the new one added).
fn update(
    netbox: &External,
    cidr: &Cidr,
    old: &(Option<Gateway>, Vec<DhcpRange>),
    new: &(Option<Gateway>, Vec<DhcpRange>),
) -> Result<(), Error> {
    netbox.update_subnet(&old.1, &new.1)?;
    // As the reference's subnet hook: only a changed gateway address is registered again.
    if ip_of(&old.0) != ip_of(&new.0) {
        if let Some(gateway) = ip_of(&old.0) {
            match netbox.del_ip(gateway) {
                Ok(()) | Err(Error::NotFound(_)) => {}
                Err(err) => return Err(err),
            }
        }
        if let Some(gateway) = &new.0 {
            netbox.add_gateway(cidr, gateway)?;
        }
    }
    Ok(())
}

fn with_undo(err: Error, undo: Result<(), Error>) -> Error {
    match undo {
        Ok(()) => err,
        Err(undo) => {
            tracing::warn!("external IPAM change not taken back: {undo}");
            Error::Unavailable(format!("{err}; and the IPAM's change could not be taken back: {undo}"))
        }
    }
}

impl SubnetUndo {
    /// Takes the IPAM's change back after the configuration write failed with `err`: answers
    /// `err`, saying so if the IPAM now disagrees with the configuration.
    pub fn undo(self, err: Error) -> Error {
        let result = match self {
            SubnetUndo::Nothing => Ok(()),
            SubnetUndo::Created { netbox, cidr, gateway, ranges } => netbox.del_subnet(&cidr, ip_of(&gateway), &ranges),
            SubnetUndo::Deleted { netbox, cidr, gateway, ranges } => netbox.add_subnet(&cidr, &ranges).and_then(|()| match &gateway {
                Some(gateway) => netbox.add_gateway(&cidr, gateway),
                None => Ok(()),
            }),
            SubnetUndo::Updated { netbox, cidr, old, new } => update(&netbox, &cidr, &new, &old),
        };
        with_undo(err, result)
    }
}
