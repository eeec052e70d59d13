//! The PowerDNS server, as the reference's `Dns/PowerdnsPlugin.pm`: the same HTTP calls
//! (method, path, JSON body, `X-API-Key`) against the DNS object's `url` (PowerDNS's
//! `.../api/v1/servers/localhost`), bounded by [`crate::ipam::http::timeout`] like the external
//! IPAMs' calls. Its errors name PowerDNS and carry its message, never the key.

use std::net::IpAddr;

use sdn_config::{Cidr, SdnObject};
use serde_json::{json, Value};

use crate::error::Error;
use crate::ipam::http::{context, Api};

/// The records' TTL when the DNS object sets none, as the reference.
pub const DEFAULT_TTL: i64 = 14400;

pub struct PowerDns {
    api: Api,
    /// The configured TTL as the reference sends it: the configuration's text (a JSON string,
    /// which PowerDNS reads as a number), or [`DEFAULT_TTL`] as a number.
    ttl: Value,
    reversemaskv6: Option<i64>,
}

impl PowerDns {
    pub fn from_config(dns: &SdnObject) -> Result<PowerDns, Error> {
        if dns.type_name() != "powerdns" {
            return Err(Error::NotImplemented(format!(
                "dns '{}' is of type '{}': this sdnd registers records in PowerDNS only",
                dns.id(),
                dns.type_name()
            )));
        }
        let api = Api::new("PowerDNS", dns, ("X-API-Key", &|key| key.to_string()))?;
        let ttl = match dns.get_int("ttl") {
            Some(ttl) if ttl != 0 => json!(ttl.to_string()),
            _ => json!(DEFAULT_TTL),
        };
        Ok(PowerDns {
            api,
            ttl,
            reversemaskv6: dns.get_int("reversemaskv6").filter(|m| *m != 0),
        })
    }

    /// The reference's `on_update_hook`: PowerDNS answers a GET of the `url` itself.
    pub fn verify(&self) -> Result<(), Error> {
        self.api.verify("", "key")
    }

    /// "PowerDNS 'id'", for messages.
    pub fn name(&self) -> &str {
        &self.api.name
    }

    fn patch(&self, zone: &str, rrset: Value) -> Result<(), Error> {
        self.api.request(
            reqwest::Method::PATCH,
            &format!("/zones/{zone}"),
            Some(&json!({ "rrsets": [rrset] })),
        )?;
        Ok(())
    }

    /// `get_zone_content` and `get_zone_rrset`: the zone's rrset of `name` (DNS names are
    /// case-insensitive: PowerDNS answers them in lowercase) and `kind`.
    fn rrset(&self, zone: &str, name: &str, kind: &str) -> Result<Option<Value>, Error> {
        let path = format!("/zones/{zone}");
        let content = self
            .api
            .request(reqwest::Method::GET, &path, None)
            .map_err(|err| context(err, &format!("can't read zone {zone}")))?;
        let Some(rrsets) = content.get("rrsets").and_then(Value::as_array) else {
            return Err(Error::Unavailable(format!(
                "can't read zone {zone}: {} (GET {path}): the answer has no 'rrsets' list",
                self.name()
            )));
        };
        Ok(rrsets
            .iter()
            .find(|r| {
                r.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
                    && r.get("type").and_then(Value::as_str) == Some(kind)
            })
            .cloned())
    }

    /// `add_a_record`: `hostname.zone.` gets `ip` added to its A (AAAA) rrset; the rrset's
    /// other addresses are kept, and an address it has already is left alone.
    pub fn add_a_record(&self, zone: &str, hostname: &str, ip: IpAddr) -> Result<(), Error> {
        let kind = record_type(ip);
        let fqdn = format!("{hostname}.{zone}.");
        let existing = self.rrset(zone, &fqdn, kind)?;
        let mut records = Vec::new();
        for record in records_of(existing.as_ref()) {
            if same_address(record, ip) {
                return Ok(());
            }
            records.push(record.clone());
        }
        records.push(
            json!({"content": ip.to_string(), "disabled": false, "name": fqdn, "type": kind}),
        );
        let rrset = json!({"name": fqdn, "type": kind, "ttl": self.ttl, "changetype": "REPLACE", "records": records});
        self.patch(zone, rrset)
            .map_err(|err| context(err, &format!("error add {fqdn} to zone {zone}")))
    }

    /// `add_ptr_record`: the address's PTR record in the reverse `zone`, pointing to
    /// `hostname.` (the rrset replaced).
    pub fn add_ptr_record(&self, zone: &str, hostname: &str, ip: IpAddr) -> Result<(), Error> {
        let name = reverse_name(ip);
        let record = json!({"content": format!("{hostname}."), "disabled": false, "name": name, "type": "PTR"});
        let rrset = json!({"name": name, "type": "PTR", "ttl": self.ttl, "changetype": "REPLACE", "records": [record]});
        self.patch(zone, rrset)
            .map_err(|err| context(err, &format!("error add {name} to zone {zone}")))
    }

    /// `del_a_record`: `ip` removed from `hostname.zone.`'s A (AAAA) rrset; the rrset is kept
    /// with the other addresses (and its TTL), or deleted when it was the last. Nothing is
    /// sent when the rrset doesn't have the address.
    pub fn del_a_record(&self, zone: &str, hostname: &str, ip: IpAddr) -> Result<(), Error> {
        let kind = record_type(ip);
        let fqdn = format!("{hostname}.{zone}.");
        let existing = self.rrset(zone, &fqdn, kind)?;
        let records = records_of(existing.as_ref());
        let remaining: Vec<Value> = records
            .iter()
            .filter(|r| !same_address(r, ip))
            .cloned()
            .collect();
        if remaining.len() == records.len() {
            return Ok(());
        }
        let rrset = if remaining.is_empty() {
            json!({"name": fqdn, "type": kind, "changetype": "DELETE", "records": []})
        } else {
            let ttl = existing
                .as_ref()
                .and_then(|r| r.get("ttl"))
                .filter(|t| !t.is_null())
                .cloned()
                .unwrap_or_else(|| self.ttl.clone());
            json!({"name": fqdn, "type": kind, "ttl": ttl, "changetype": "REPLACE", "records": remaining})
        };
        self.patch(zone, rrset)
            .map_err(|err| context(err, &format!("error delete {fqdn} from zone {zone}")))
    }

    /// `del_ptr_record`: the address's PTR rrset deleted from the reverse `zone`.
    pub fn del_ptr_record(&self, zone: &str, ip: IpAddr) -> Result<(), Error> {
        let name = reverse_name(ip);
        let rrset = json!({"name": name, "type": "PTR", "changetype": "DELETE", "records": []});
        self.patch(zone, rrset)
            .map_err(|err| context(err, &format!("error delete {name} from zone {zone}")))
    }

    /// `verify_zone`: the zone exists on the server.
    pub fn verify_zone(&self, zone: &str) -> Result<(), Error> {
        self.api
            .request(
                reqwest::Method::GET,
                &format!("/zones/{zone}?rrsets=false"),
                None,
            )
            .map_err(|err| context(err, &format!("can't read zone {zone}")))?;
        Ok(())
    }

    /// `on_update_hook`: the API answers at the DNS object's url.
    pub fn check_api(&self) -> Result<(), Error> {
        self.api
            .request(reqwest::Method::GET, "", None)
            .map_err(|err| context(err, "dns api error"))?;
        Ok(())
    }

    /// `get_reversedns_zone`: the reverse zone `ip` of the subnet `cidr` has its PTR record in
    /// (`None`: none, as for a public IPv4 subnet smaller than a /24).
    ///
    /// As the reference: a private IPv4 subnet (RFC 1918) uses PowerDNS's built-in zones
    /// (`10.in-addr.arpa.`, `16-31.172.in-addr.arpa.`, `168.192.in-addr.arpa.`), a public one
    /// up to a /24 the /24's zone of the address. IPv6 uses the zone of the subnet's network
    /// on its prefix, or on `reversemaskv6` when set (the reference checks `reversemaskv6` but
    /// then names the zone from the subnet's prefix; sdnd does what the option documents:
    /// "force a different netmask for the ipv6 reverse zone name"); a mask that is not a
    /// multiple of 4 is refused.
    pub fn reverse_zone(&self, cidr: &Cidr, ip: IpAddr) -> Result<Option<String>, Error> {
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                let network = match cidr.network().addr() {
                    IpAddr::V4(n) => n,
                    IpAddr::V6(_) => return Ok(None),
                };
                if is_rfc1918(network, cidr.prefix()) {
                    Ok(match a {
                        192 => Some("168.192.in-addr.arpa.".to_string()),
                        172 => Some("16-31.172.in-addr.arpa.".to_string()),
                        10 => Some("10.in-addr.arpa.".to_string()),
                        _ => None,
                    })
                } else if cidr.prefix() <= 24 {
                    Ok(Some(format!("{c}.{b}.{a}.in-addr.arpa.")))
                } else {
                    Ok(None)
                }
            }
            IpAddr::V6(_) => {
                let mask = self.reversemaskv6.unwrap_or(i64::from(cidr.prefix()));
                if mask % 4 != 0 || !(0..=128).contains(&mask) {
                    return Err(Error::Conflict(format!(
                        "{}: reverse dns zone mask need to be a multiple of 4 (is {mask}; set 'reversemaskv6')",
                        self.name()
                    )));
                }
                let IpAddr::V6(v6) = ip else { return Ok(None) };
                // The first `mask` bits of the address are the network's.
                let nibbles = nibbles(v6);
                let used = &nibbles[..(mask / 4) as usize];
                let mut labels: Vec<String> = used.iter().rev().map(|n| format!("{n:x}")).collect();
                labels.push("ip6.arpa.".to_string());
                Ok(Some(labels.join(".")))
            }
        }
    }
}

fn record_type(ip: IpAddr) -> &'static str {
    if ip.is_ipv6() {
        "AAAA"
    } else {
        "A"
    }
}

fn records_of(rrset: Option<&Value>) -> &[Value] {
    rrset
        .and_then(|r| r.get("records"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Whether a record's content is `ip` (PowerDNS may write an IPv6 address differently).
fn same_address(record: &Value, ip: IpAddr) -> bool {
    let Some(content) = record.get("content").and_then(Value::as_str) else {
        return false;
    };
    content == ip.to_string() || content.parse::<IpAddr>().is_ok_and(|c| c == ip)
}

fn is_rfc1918(network: std::net::Ipv4Addr, prefix: u8) -> bool {
    let [a, b, ..] = network.octets();
    (a == 10 && prefix >= 8)
        || (a == 172 && (16..32).contains(&b) && prefix >= 12)
        || (a == 192 && b == 168 && prefix >= 16)
}

fn nibbles(ip: std::net::Ipv6Addr) -> Vec<u8> {
    ip.octets().iter().flat_map(|o| [o >> 4, o & 0xf]).collect()
}

/// The address's name in the reverse tree (`Net::IP::reverse_ip`): `1.0.0.10.in-addr.arpa.`,
/// or the 32 nibbles of an IPv6 address under `ip6.arpa.`.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa.")
        }
        IpAddr::V6(v6) => {
            let mut labels: Vec<String> =
                nibbles(v6).iter().rev().map(|n| format!("{n:x}")).collect();
            labels.push("ip6.arpa.".to_string());
            labels.join(".")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdns(extra: &[(&str, &str)]) -> PowerDns {
        let mut params = serde_json::Map::new();
        for (k, v) in [
            ("dns", "pdns"),
            ("type", "powerdns"),
            ("url", "http://127.0.0.1:1/api/v1/servers/localhost"),
            ("key", "k"),
        ]
        .iter()
        .chain(extra)
        {
            params.insert(k.to_string(), json!(v));
        }
        let object = sdn_config::Config::default()
            .plan_create(sdn_config::Kind::Dns, &params)
            .unwrap()
            .object
            .unwrap();
        PowerDns::from_config(&object).unwrap()
    }

    #[test]
    fn reverse_names_are_the_references() {
        assert_eq!(
            reverse_name("10.0.0.1".parse().unwrap()),
            "1.0.0.10.in-addr.arpa."
        );
        assert_eq!(
            reverse_name("2001:4860:4860::8888".parse().unwrap()),
            "8.8.8.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.8.4.0.6.8.4.1.0.0.2.ip6.arpa."
        );
    }

    #[test]
    fn reverse_zones_are_the_references() {
        let p = pdns(&[]);
        let zone =
            |cidr: &str, ip: &str| p.reverse_zone(&cidr.parse().unwrap(), ip.parse().unwrap());
        assert_eq!(
            zone("10.0.0.0/24", "10.0.0.5").unwrap().as_deref(),
            Some("10.in-addr.arpa.")
        );
        assert_eq!(
            zone("172.20.0.0/16", "172.20.1.5").unwrap().as_deref(),
            Some("16-31.172.in-addr.arpa.")
        );
        assert_eq!(
            zone("192.168.3.0/24", "192.168.3.7").unwrap().as_deref(),
            Some("168.192.in-addr.arpa.")
        );
        assert_eq!(
            zone("203.0.113.0/24", "203.0.113.9").unwrap().as_deref(),
            Some("113.0.203.in-addr.arpa.")
        );
        // The reference names /24 zones for every public prefix up to a /24.
        assert_eq!(
            zone("198.51.0.0/16", "198.51.100.9").unwrap().as_deref(),
            Some("100.51.198.in-addr.arpa.")
        );
        assert_eq!(zone("203.0.113.0/26", "203.0.113.9").unwrap(), None);
        assert_eq!(
            zone("2001:db8::/64", "2001:db8::5").unwrap().as_deref(),
            Some("0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.")
        );
        assert_eq!(
            zone("2001:db8:ab::/48", "2001:db8:ab::5")
                .unwrap()
                .as_deref(),
            Some("b.a.0.0.8.b.d.0.1.0.0.2.ip6.arpa.")
        );
        let err = zone("2001:db8::/62", "2001:db8::5").unwrap_err();
        assert!(err.to_string().contains("multiple of 4"), "{err}");
        let p = pdns(&[("reversemaskv6", "48")]);
        let zone = p.reverse_zone(
            &"2001:db8:ab:cd::/64".parse().unwrap(),
            "2001:db8:ab:cd::5".parse().unwrap(),
        );
        assert_eq!(
            zone.unwrap().as_deref(),
            Some("b.a.0.0.8.b.d.0.1.0.0.2.ip6.arpa.")
        );
    }

    #[test]
    fn the_ttl_is_the_references() {
        assert_eq!(pdns(&[]).ttl, json!(14400));
        assert_eq!(pdns(&[("ttl", "3600")]).ttl, json!("3600"));
    }
}
