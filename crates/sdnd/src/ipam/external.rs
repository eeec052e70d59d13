//! What a subnet change does to an external IPAM (NetBox), as the reference's subnet hooks
//! do: called before the configuration is written, so that a refusal of the IPAM (a prefix
//! that exists, one that still holds addresses, an IPAM that is down) refuses the change and
//! writes nothing. If the write fails afterwards, [`SubnetUndo::undo`] takes the IPAM's change
//! back; if even that fails, the error says so (the two never disagree silently).

use std::net::IpAddr;

use sdn_config::{Change, Cidr, Config, DhcpRange, Kind, SdnObject, Value as PropValue};

use super::netbox::NetBox;
use super::{registered_gateway, zone_netbox, SubnetRef};
use crate::error::Error;

/// The IPAM change a subnet change made, to take back.
pub enum SubnetUndo {
    Nothing,
    Created {
        netbox: NetBox,
        cidr: Cidr,
        gateway: Option<IpAddr>,
        ranges: Vec<DhcpRange>,
    },
    Deleted {
        netbox: NetBox,
        cidr: Cidr,
        gateway: Option<IpAddr>,
        ranges: Vec<DhcpRange>,
    },
    Updated {
        netbox: NetBox,
        cidr: Cidr,
        old: (Option<IpAddr>, Vec<DhcpRange>),
        new: (Option<IpAddr>, Vec<DhcpRange>),
    },
}

fn ranges(subnet: &SdnObject) -> Vec<DhcpRange> {
    subnet
        .get("dhcp-range")
        .and_then(PropValue::as_ranges)
        .map(<[DhcpRange]>::to_vec)
        .unwrap_or_default()
}

/// Applies `change` (planned on `pending`) to the subnet's NetBox IPAM, if its zone has one.
pub fn subnet_change(pending: &Config, change: &Change) -> Result<SubnetUndo, Error> {
    if change.kind != Kind::Subnets {
        return Ok(SubnetUndo::Nothing);
    }
    let old = pending.get(Kind::Subnets, &change.id);
    let Some(subnet) = change.object.as_ref().or(old) else {
        return Ok(SubnetUndo::Nothing);
    };
    let Some(subnet_ref) = SubnetRef::of(subnet) else {
        return Ok(SubnetUndo::Nothing);
    };
    let Some(ipam) = zone_netbox(pending, &subnet_ref.zone) else {
        return Ok(SubnetUndo::Nothing);
    };
    let netbox = NetBox::from_config(ipam)?;
    let cidr = subnet_ref.cidr;
    match (old, &change.object) {
        (None, Some(new)) => {
            let (gateway, ranges) = (registered_gateway(new), ranges(new));
            netbox.add_subnet(&cidr, &ranges)?;
            if let Some(gateway) = gateway {
                if let Err(err) = netbox.add_ip(&cidr, gateway, None, None, true) {
                    return Err(with_undo(err, netbox.del_subnet(&cidr, None, &ranges)));
                }
            }
            Ok(SubnetUndo::Created {
                netbox,
                cidr,
                gateway,
                ranges,
            })
        }
        (Some(old), None) => {
            let (gateway, ranges) = (registered_gateway(old), ranges(old));
            netbox.del_subnet(&cidr, gateway, &ranges)?;
            Ok(SubnetUndo::Deleted {
                netbox,
                cidr,
                gateway,
                ranges,
            })
        }
        (Some(old), Some(new)) => {
            let old = (registered_gateway(old), ranges(old));
            let new = (registered_gateway(new), ranges(new));
            update(&netbox, &cidr, &old, &new)?;
            Ok(SubnetUndo::Updated {
                netbox,
                cidr,
                old,
                new,
            })
        }
        (None, None) => Ok(SubnetUndo::Nothing),
    }
}

/// A subnet update: its ranges, then its gateway (the old one released, the new one added).
fn update(
    netbox: &NetBox,
    cidr: &Cidr,
    old: &(Option<IpAddr>, Vec<DhcpRange>),
    new: &(Option<IpAddr>, Vec<DhcpRange>),
) -> Result<(), Error> {
    netbox.update_subnet(&old.1, &new.1)?;
    if old.0 != new.0 {
        if let Some(gateway) = old.0 {
            match netbox.del_ip(gateway) {
                Ok(()) | Err(Error::NotFound(_)) => {}
                Err(err) => return Err(err),
            }
        }
        if let Some(gateway) = new.0 {
            netbox.add_ip(cidr, gateway, None, None, true)?;
        }
    }
    Ok(())
}

fn with_undo(err: Error, undo: Result<(), Error>) -> Error {
    match undo {
        Ok(()) => err,
        Err(undo) => {
            tracing::warn!("external IPAM change not taken back: {undo}");
            Error::Unavailable(format!(
                "{err}; and the IPAM's change could not be taken back: {undo}"
            ))
        }
    }
}

impl SubnetUndo {
    /// Takes the IPAM's change back after the configuration write failed with `err`: answers
    /// `err`, saying so if the IPAM now disagrees with the configuration.
    pub fn undo(self, err: Error) -> Error {
        let result = match self {
            SubnetUndo::Nothing => Ok(()),
            SubnetUndo::Created {
                netbox,
                cidr,
                gateway,
                ranges,
            } => netbox.del_subnet(&cidr, gateway, &ranges),
            SubnetUndo::Deleted {
                netbox,
                cidr,
                gateway,
                ranges,
            } => netbox
                .add_subnet(&cidr, &ranges)
                .and_then(|()| match gateway {
                    Some(gateway) => netbox.add_ip(&cidr, gateway, None, None, true),
                    None => Ok(()),
                }),
            SubnetUndo::Updated {
                netbox,
                cidr,
                old,
                new,
            } => update(&netbox, &cidr, &new, &old),
        };
        with_undo(err, result)
    }
}
