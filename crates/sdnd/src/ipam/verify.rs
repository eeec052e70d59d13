//! The reference's `on_update_hook` of the IPAMs and DNS servers (`API2/Network/SDN/Ipams.pm`,
//! `Dns.pm`): a NetBox, phpIPAM or PowerDNS object is created or changed over the API only
//! if its service answers with the settings it would be written with, so that a wrong `url`,
//! `token` or `key` is refused when it is given, not at the first allocation.
//!
//! Called by the handlers after the caller's rights and the lock rule were checked, before
//! the write and outside the store's transaction. Offline operations (`sdnd import`,
//! restore, rollback) never call it: they don't reach the services.

use sdn_config::{Kind, SdnObject};

use super::netbox::NetBox;
use super::phpipam::PhpIpam;
use crate::dns::powerdns::PowerDns;
use crate::error::Error;

/// Whether `object` is checked against its service before it is written.
pub fn calls_out(kind: Kind, object: &SdnObject) -> bool {
    matches!((kind, object.type_name()), (Kind::Ipams, "netbox" | "phpipam") | (Kind::Dns, "powerdns"))
}

/// The service's check of `object` as it would be written: Ok, or a 400 naming the field to
/// fix (`url`, `token`, `key`, `fingerprint`) with the object and the service's error.
pub fn on_update(kind: Kind, object: &SdnObject) -> Result<(), Error> {
    match (kind, object.type_name()) {
        (Kind::Ipams, "netbox") => NetBox::from_config(object)?.verify(),
        (Kind::Ipams, "phpipam") => PhpIpam::from_config(object)?.verify(),
        (Kind::Dns, "powerdns") => PowerDns::from_config(object)?.verify(),
        _ => Ok(()),
    }
}
