//! DNS records for the IPAM's addresses, as the reference's `Subnets.pm` registers them: a
//! zone's `dns` server gets `HOSTNAME[.DNSZONEPREFIX].DNSZONE` with the address (A or AAAA),
//! its `reversedns` server the address's PTR record in the reverse zone. The only server type
//! is PowerDNS ([`powerdns`]).
//!
//! The calls go to the DNS server, outside the store's transactions. The callers (the
//! `/cluster/sdn/vnets/{vnet}/ips` handlers) do as the reference: they verify the zones before
//! the IPAM changes, add the records after it, and release the address again when that fails;
//! removing records after an address is released only warns. A subnet change
//! ([`GatewayRecords`], called by the subnet handlers after the rights and the lock were
//! checked) registers the gateway as `VNET-gw` before the configuration is written, and
//! removes the former gateway's records after.

pub mod powerdns;

use std::net::IpAddr;

use sdn_config::{Cidr, Config, Kind};

use crate::error::Error;
use powerdns::PowerDns;

/// A zone's DNS settings (`dns`, `dnszone`, `reversedns`).
pub struct ZoneDns {
    /// The forward server and the zone its records go in (`dns` with `dnszone`).
    forward: Option<(PowerDns, String)>,
    /// The reverse server (`reversedns`).
    reverse: Option<PowerDns>,
    dnszone: Option<String>,
}

/// Where one address's records go: its subnet, and the subnet's `dnszoneprefix`.
#[derive(Debug, Clone)]
pub struct Place {
    pub cidr: Cidr,
    pub prefix: Option<String>,
}

/// The hostname as the reference's `Subnets.pm` hands it to the IPAM and the DNS server:
/// with the subnet's `dnszoneprefix` appended (`vm1` in a subnet with `lab`: `vm1.lab`). The
/// IPAM keeps it so (the PVE IPAM's `hostname`, NetBox's `dns_name`, phpIPAM's `hostname`),
/// and the records are named after it (`vm1.lab.DNSZONE.`).
pub fn with_prefix(hostname: &str, prefix: Option<&str>) -> String {
    match prefix.filter(|p| !p.is_empty()) {
        Some(prefix) => format!("{hostname}.{prefix}"),
        None => hostname.to_string(),
    }
}

impl Place {
    /// `hostname` as the IPAM keeps it in this subnet (see [`with_prefix`]).
    pub fn hostname(&self, hostname: &str) -> String {
        with_prefix(hostname, self.prefix.as_deref())
    }

    /// The hostname as given, of one the IPAM keeps for an address of this subnet: without
    /// its `dnszoneprefix` (for an address moved to another subnet, which has its own).
    pub fn given<'a>(&self, stored: &'a str) -> &'a str {
        match self.prefix.as_deref().filter(|p| !p.is_empty()) {
            Some(prefix) => stored.strip_suffix(prefix).and_then(|s| s.strip_suffix('.')).unwrap_or(stored),
            None => stored,
        }
    }

    /// The subnet of `config` with the prefix `cidr` in `zone`.
    pub fn of(config: &Config, zone: &str, cidr: &Cidr) -> Place {
        let prefix = config
            .subnets_in_zone(zone)
            .find(|s| {
                s.subnet_id()
                    .is_some_and(|id| id.cidr.network() == cidr.network())
            })
            .and_then(|s| s.get_str("dnszoneprefix"))
            .map(str::to_string);
        Place {
            cidr: *cidr,
            prefix,
        }
    }
}

impl ZoneDns {
    /// The DNS settings of `zone` in `config`; `None` when it has neither `dns` nor
    /// `reversedns`.
    pub fn of_zone(config: &Config, zone: &str) -> Result<Option<ZoneDns>, Error> {
        let Some(zone_object) = config.get(Kind::Zones, zone) else {
            return Ok(None);
        };
        let server = |property: &str| -> Result<Option<PowerDns>, Error> {
            let Some(id) = zone_object.get_str(property) else {
                return Ok(None);
            };
            let object = config.get(Kind::Dns, id).ok_or_else(|| {
                Error::Conflict(format!(
                    "zone '{zone}': its {property} '{id}' does not exist"
                ))
            })?;
            PowerDns::from_config(object).map(Some)
        };
        let (dns, reverse) = (server("dns")?, server("reversedns")?);
        if dns.is_none() && reverse.is_none() {
            return Ok(None);
        }
        // A final dot would double in the names.
        let dnszone = zone_object
            .get_str("dnszone")
            .map(|z| z.trim_end_matches('.').to_string())
            .filter(|z| !z.is_empty());
        let forward = dns.zip(dnszone.clone());
        Ok(Some(ZoneDns {
            forward,
            reverse,
            dnszone,
        }))
    }

    fn reverse_zone(
        &self,
        place: &Place,
        ip: IpAddr,
    ) -> Result<Option<(&PowerDns, String)>, Error> {
        match &self.reverse {
            Some(server) => Ok(server
                .reverse_zone(&place.cidr, ip)?
                .map(|zone| (server, zone))),
            None => Ok(None),
        }
    }

    /// `verify_dns_zone` before an IPAM change: the forward zone exists, and the reverse zone
    /// of the address (`None`: not known yet, as before an allocation).
    pub fn verify(&self, reverse: Option<(&Place, IpAddr)>) -> Result<(), Error> {
        if let Some((server, zone)) = &self.forward {
            server.verify_zone(zone)?;
        }
        if let Some((place, ip)) = reverse {
            if let Some((server, zone)) = self.reverse_zone(place, ip)? {
                server.verify_zone(&zone)?;
            }
        }
        Ok(())
    }

    /// `add_dns_record` and `add_dns_ptr_record`: the A (AAAA) record, then the PTR record.
    /// If the PTR record fails, the A record is taken back (and the error says if it could
    /// not be). `hostname` is the one the IPAM keeps, its subnet's `dnszoneprefix` appended
    /// ([`Place::hostname`]): the records' name before the zone.
    pub fn add(&self, place: &Place, hostname: &str, ip: IpAddr) -> Result<(), Error> {
        let name = hostname;
        let reverse = self.reverse_zone(place, ip)?;
        if let Some((server, zone)) = &self.forward {
            server.add_a_record(zone, name, ip)?;
        }
        if let (Some((server, reverse_zone)), Some(dnszone)) = (&reverse, &self.dnszone) {
            if let Err(err) = server.add_ptr_record(reverse_zone, &format!("{name}.{dnszone}"), ip)
            {
                if let Some((forward, zone)) = &self.forward {
                    if let Err(undo) = forward.del_a_record(zone, name, ip) {
                        return Err(also(
                            err,
                            &format!("and its A record stays in {}: {undo}", forward.name()),
                        ));
                    }
                }
                return Err(err);
            }
        }
        Ok(())
    }

    /// Puts records back that were removed (after a change failed): the A (AAAA) and the PTR
    /// record each tried, failures logged.
    pub fn restore(&self, place: &Place, hostname: &str, ip: IpAddr) {
        let name = hostname;
        if let Some((server, zone)) = &self.forward {
            if let Err(err) = server.add_a_record(zone, name, ip) {
                tracing::warn!("the A record of {ip} was not added back: {err}");
            }
        }
        let reverse = match self.reverse_zone(place, ip) {
            Ok(reverse) => reverse,
            Err(err) => return tracing::warn!("the PTR record of {ip} was not added back: {err}"),
        };
        if let (Some((server, reverse_zone)), Some(dnszone)) = (reverse, &self.dnszone) {
            if let Err(err) = server.add_ptr_record(&reverse_zone, &format!("{name}.{dnszone}"), ip)
            {
                tracing::warn!("the PTR record of {ip} was not added back: {err}");
            }
        }
    }

    /// `del_dns_record` and `del_dns_ptr_record`: the address out of the A (AAAA) rrset of
    /// `hostname` (when known), and its PTR record. Both are tried; the first error answered.
    pub fn del(&self, place: &Place, hostname: Option<&str>, ip: IpAddr) -> Result<(), Error> {
        let mut first = None;
        if let (Some((server, zone)), Some(hostname)) = (&self.forward, hostname) {
            first = server
                .del_a_record(zone, hostname, ip)
                .err();
        }
        match self.reverse_zone(place, ip) {
            Ok(Some((server, zone))) => {
                if let Err(err) = server.del_ptr_record(&zone, ip) {
                    first.get_or_insert(err);
                }
            }
            Ok(None) => {}
            Err(err) => {
                first.get_or_insert(err);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// [`ZoneDns::del`] after the address was released: a failure is logged, as the
    /// reference warns.
    pub fn del_or_warn(&self, place: &Place, hostname: Option<&str>, ip: IpAddr) {
        if let Err(err) = self.del(place, hostname, ip) {
            tracing::warn!("the DNS records of {ip} were not removed: {err}");
        }
    }
}

/// `err` with `more` after its message, its status kept.
pub fn also(err: Error, more: &str) -> Error {
    match err {
        Error::Unavailable(m) => Error::Unavailable(format!("{m}; {more}")),
        Error::Conflict(m) => Error::Conflict(format!("{m}; {more}")),
        Error::NotFound(m) => Error::NotFound(format!("{m}; {more}")),
        Error::Internal(m) => Error::Internal(format!("{m}; {more}")),
        Error::NotImplemented(m) => Error::NotImplemented(format!("{m}; {more}")),
        other => other,
    }
}

/// What a subnet change does to its gateway's records, as the reference's subnet hook
/// registers the gateway with the hostname `VNET-gw` (in a zone with an IPAM): a new gateway
/// gets them, a former one (the gateway changed or removed, the subnet deleted) loses them.
pub struct GatewayRecords {
    dns: ZoneDns,
    hostname: String,
    remove: Option<(Place, IpAddr)>,
    add: Option<(Place, IpAddr)>,
}

impl GatewayRecords {
    /// The records `change` (planned on `pending`) moves; `None`: not a subnet change, its
    /// zone has no IPAM or no DNS, or its gateway stays.
    pub fn of_change(
        pending: &Config,
        change: &sdn_config::Change,
    ) -> Result<Option<GatewayRecords>, Error> {
        if change.kind != Kind::Subnets {
            return Ok(None);
        }
        let old = pending.get(Kind::Subnets, &change.id);
        let Some(subnet) = change.object.as_ref().or(old) else {
            return Ok(None);
        };
        let Some(id) = subnet.subnet_id() else {
            return Ok(None);
        };
        let has_ipam = pending
            .get(Kind::Zones, &id.zone)
            .is_some_and(|z| z.get_str("ipam").is_some());
        let Some(dns) = (if has_ipam {
            ZoneDns::of_zone(pending, &id.zone)?
        } else {
            None
        }) else {
            return Ok(None);
        };
        let gateway = |object: Option<&sdn_config::SdnObject>| {
            let object = object?;
            let ip = crate::ipam::registered_gateway(object)?;
            let prefix = object.get_str("dnszoneprefix").map(str::to_string);
            Some((
                Place {
                    cidr: id.cidr.network(),
                    prefix,
                },
                ip,
            ))
        };
        let (before, after) = (gateway(old), gateway(change.object.as_ref()));
        let same = |a: &Option<(Place, IpAddr)>, b: &Option<(Place, IpAddr)>| match (a, b) {
            (Some((pa, ia)), Some((pb, ib))) => ia == ib && pa.prefix == pb.prefix,
            (None, None) => true,
            _ => false,
        };
        if same(&before, &after) {
            return Ok(None);
        }
        let hostname = format!("{}-gw", subnet.get_str("vnet").unwrap_or_default());
        Ok(Some(GatewayRecords {
            dns,
            hostname,
            remove: before,
            add: after,
        }))
    }

    /// Before the change is written: the zones of the new gateway's records verified and the
    /// records added (a failure refuses the change).
    pub fn apply(&self) -> Result<(), Error> {
        if let Some((place, ip)) = &self.add {
            self.dns.verify(Some((place, *ip)))?;
            self.dns.add(place, &place.hostname(&self.hostname), *ip)?;
        }
        Ok(())
    }

    /// After the change was written: the former gateway's records removed (a failure only
    /// logged, as the reference warns).
    pub fn finish(&self) {
        if let Some((place, ip)) = &self.remove {
            if self.add.as_ref().is_some_and(|(_, new)| new == ip) {
                // The same address under another name: its PTR record is the new one already.
                if let Some((server, zone)) = &self.dns.forward {
                    let name = place.hostname(&self.hostname);
                    if let Err(err) = server.del_a_record(zone, &name, *ip) {
                        tracing::warn!(
                            "the former record of the gateway {ip} was not removed: {err}"
                        );
                    }
                }
            } else {
                self.dns.del_or_warn(place, Some(&place.hostname(&self.hostname)), *ip);
            }
        }
    }

    /// After the write failed: the records [`GatewayRecords::apply`] added removed again
    /// (logged if that fails).
    pub fn undo(&self) {
        if let Some((place, ip)) = &self.add {
            self.dns.del_or_warn(place, Some(&place.hostname(&self.hostname)), *ip);
            if let Some((former, former_ip)) =
                self.remove.as_ref().filter(|(_, former)| former == ip)
            {
                // The same address under another name: its former PTR record back.
                self.dns.restore(former, &former.hostname(&self.hostname), *former_ip);
            }
        }
    }
}
