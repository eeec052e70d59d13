//! The NetBox IPAM, as the reference's `Ipams/NetboxPlugin.pm`: the same HTTP calls (method,
//! path, JSON body, `Authorization: token ...`) against the IPAM's `url`. The addresses live
//! in NetBox only, as in the reference: sdnd keeps no copy that could disagree with it.
//!
//! Every call is bounded by [`super::http::timeout`] (`sdnd serve --ipam-timeout` seconds, default 30 as the
//! reference's user agent), so a NetBox that is down never holds a request past it. Its
//! errors come back as 503 (unreachable, timed out, 5xx) or 409 (NetBox refused the call),
//! both naming NetBox and carrying its message; the token never appears in them.

use std::net::IpAddr;

use sdn_config::{Cidr, DhcpRange, SdnObject};
use serde_json::{json, Map, Value};

use super::http::{context, Api};
use crate::error::Error;

pub struct NetBox {
    api: Api,
}

impl NetBox {
    pub fn from_config(ipam: &SdnObject) -> Result<NetBox, Error> {
        Ok(NetBox { api: Api::new("NetBox IPAM", ipam, ("Authorization", &|token| format!("token {token}")))? })
    }

    /// `verify_api`, the reference's `on_update_hook`: NetBox answers `GET /ipam/aggregates/`.
    pub fn verify(&self) -> Result<(), Error> {
        self.api.verify("/ipam/aggregates/", "token")
    }

    fn request(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value, Error> {
        self.api.request(method, path, body)
    }

    fn first_id(&self, path: &str) -> Result<Option<u64>, Error> {
        let answer = self.request(reqwest::Method::GET, path, None)?;
        Ok(answer.get("results").and_then(Value::as_array).and_then(|r| r.first()).and_then(|r| r.get("id")).and_then(Value::as_u64))
    }

    fn prefix_id(&self, cidr: &Cidr) -> Result<Option<u64>, Error> {
        self.first_id(&format!("/ipam/prefixes/?q={}", cidr.addr()))
    }

    fn range_id(&self, range: &DhcpRange) -> Result<Option<u64>, Error> {
        self.first_id(&format!("/ipam/ip-ranges/?start_address={}&end_address={}", range.start, range.end))
    }

    fn ip_id(&self, ip: IpAddr) -> Result<Option<u64>, Error> {
        self.first_id(&format!("/ipam/ip-addresses/?q={ip}"))
    }

    fn add_range(&self, range: &DhcpRange) -> Result<(), Error> {
        let body = json!({"start_address": range.start.to_string(), "end_address": range.end.to_string()});
        self.request(reqwest::Method::POST, "/ipam/ip-ranges/", Some(&body))
            .map_err(|err| context(err, &format!("could not create ip range {}:{}", range.start, range.end)))?;
        Ok(())
    }

    fn del_range(&self, range: &DhcpRange) -> Result<(), Error> {
        match self.range_id(range)? {
            Some(id) => {
                self.request(reqwest::Method::DELETE, &format!("/ipam/ip-ranges/{id}/"), None)?;
            }
            None => tracing::warn!("could not find id for ip range {}:{}", range.start, range.end),
        }
        Ok(())
    }

    /// `add_subnet`: the prefix, then its DHCP ranges.
    pub fn add_subnet(&self, cidr: &Cidr, ranges: &[DhcpRange]) -> Result<(), Error> {
        if self.prefix_id(cidr)?.is_some() {
            return Err(Error::Conflict(format!("prefix {cidr} already exists in netbox")));
        }
        self.request(reqwest::Method::POST, "/ipam/prefixes/", Some(&json!({"prefix": cidr.to_string()})))
            .map_err(|err| context(err, "error adding subnet to ipam"))?;
        for range in ranges {
            self.add_range(range)?;
        }
        Ok(())
    }

    /// `update_subnet`: the ranges that went away deleted first, then the new ones added.
    pub fn update_subnet(&self, old: &[DhcpRange], new: &[DhcpRange]) -> Result<(), Error> {
        for range in old.iter().filter(|r| !new.contains(r)) {
            self.del_range(range)?;
        }
        for range in new.iter().filter(|r| !old.contains(r)) {
            self.add_range(range)?;
        }
        Ok(())
    }

    /// `del_subnet`: refused while the prefix holds more than its gateway; the gateway, the
    /// ranges, then the prefix deleted.
    pub fn del_subnet(&self, cidr: &Cidr, gateway: Option<IpAddr>, ranges: &[DhcpRange]) -> Result<(), Error> {
        let Some(id) = self.prefix_id(cidr)? else {
            tracing::warn!("could not find id for ip prefix {cidr}");
            return Ok(());
        };
        let children = self.request(reqwest::Method::GET, &format!("/ipam/ip-addresses/?parent={cidr}"), None)?;
        if children.get("results").and_then(Value::as_array).map_or(0, Vec::len) > 1 {
            return Err(Error::Conflict(format!("not deleting prefix {cidr} because it still contains entries")));
        }
        if let Some(gateway) = gateway {
            self.del_ip(gateway)?;
        }
        for range in ranges {
            self.del_range(range)?;
        }
        self.request(reqwest::Method::DELETE, &format!("/ipam/prefixes/{id}/"), None)
            .map_err(|err| context(err, "error deleting subnet from ipam"))?;
        Ok(())
    }

    fn ip_body(cidr: &Cidr, ip: IpAddr, hostname: Option<&str>, mac: Option<&str>, gateway: bool) -> Value {
        let mut body = Map::new();
        body.insert("address".into(), json!(format!("{ip}/{}", cidr.prefix())));
        body.insert("description".into(), description(mac, gateway));
        if let Some(hostname) = hostname.filter(|h| !h.is_empty()) {
            body.insert("dns_name".into(), json!(hostname));
        }
        Value::Object(body)
    }

    /// `add_ip`: a gateway that is already there as a gateway is fine.
    pub fn add_ip(&self, cidr: &Cidr, ip: IpAddr, hostname: Option<&str>, mac: Option<&str>, gateway: bool) -> Result<(), Error> {
        let body = Self::ip_body(cidr, ip, hostname, mac, gateway);
        match self.request(reqwest::Method::POST, "/ipam/ip-addresses/", Some(&body)) {
            Ok(_) => Ok(()),
            Err(err) if gateway && self.is_gateway(ip).unwrap_or(false) => {
                tracing::debug!("gateway {ip} already in NetBox: {err}");
                Ok(())
            }
            Err(err) => Err(context(err, &format!("error add subnet ip to ipam: ip {ip} already exist"))),
        }
    }

    fn is_gateway(&self, ip: IpAddr) -> Result<bool, Error> {
        let answer = self.request(reqwest::Method::GET, &format!("/ipam/ip-addresses/?q={ip}"), None)?;
        let first = answer.get("results").and_then(Value::as_array).and_then(|r| r.first()).cloned();
        Ok(first.and_then(|r| r.get("description").and_then(Value::as_str).map(|d| d == "gateway")).unwrap_or(false))
    }

    /// `update_ip`: the address's entry patched.
    pub fn update_ip(&self, cidr: &Cidr, ip: IpAddr, hostname: Option<&str>, mac: Option<&str>, gateway: bool) -> Result<(), Error> {
        let id = self.ip_id(ip)?.ok_or_else(|| Error::NotFound(format!("could not find id for ip address {ip} in {}", self.api.name)))?;
        let body = Self::ip_body(cidr, ip, hostname, mac, gateway);
        self.request(reqwest::Method::PATCH, &format!("/ipam/ip-addresses/{id}/"), Some(&body))
            .map_err(|err| context(err, &format!("error update ip {ip}")))?;
        Ok(())
    }

    /// The DNS name NetBox has for `ip` (for removing its DNS records with it).
    pub fn hostname_of(&self, ip: IpAddr) -> Result<Option<String>, Error> {
        let answer = self.request(reqwest::Method::GET, &format!("/ipam/ip-addresses/?q={ip}"), None)?;
        let first = answer.get("results").and_then(Value::as_array).and_then(|r| r.first()).cloned();
        Ok(first.and_then(|r| r.get("dns_name").and_then(Value::as_str).map(str::to_string)).filter(|n| !n.is_empty()))
    }

    /// `del_ip`: 404 when NetBox doesn't know the address.
    pub fn del_ip(&self, ip: IpAddr) -> Result<(), Error> {
        let id = self.ip_id(ip)?.ok_or_else(|| Error::NotFound(format!("could not find id for ip {ip} in {}", self.api.name)))?;
        self.request(reqwest::Method::DELETE, &format!("/ipam/ip-addresses/{id}/"), None)
            .map_err(|err| context(err, &format!("error delete ip {ip}")))?;
        Ok(())
    }

    /// `add_next_freeip`: the next free address of the prefix.
    pub fn add_next_freeip(&self, cidr: &Cidr, hostname: Option<&str>, mac: Option<&str>) -> Result<IpAddr, Error> {
        let id =
            self.prefix_id(cidr)?.ok_or_else(|| Error::Conflict(format!("could not find id for prefix {cidr} in {}", self.api.name)))?;
        self.available(&format!("/ipam/prefixes/{id}/available-ips/"), hostname, mac)
            .map_err(|err| context(err, &format!("can't find free ip in subnet {cidr}")))
    }

    /// `add_range_next_freeip`: the next free address of a DHCP range.
    pub fn add_range_next_freeip(&self, range: &DhcpRange, hostname: Option<&str>, mac: Option<&str>) -> Result<IpAddr, Error> {
        let what = format!("{}-{}", range.start, range.end);
        let id =
            self.range_id(range)?.ok_or_else(|| Error::Conflict(format!("could not find id for ip range {what} in {}", self.api.name)))?;
        self.available(&format!("/ipam/ip-ranges/{id}/available-ips/"), hostname, mac)
            .map_err(|err| context(err, &format!("can't find free ip in range {what}")))
    }

    fn available(&self, path: &str, hostname: Option<&str>, mac: Option<&str>) -> Result<IpAddr, Error> {
        let mut body = Map::new();
        body.insert("description".into(), description(mac, false));
        if let Some(hostname) = hostname.filter(|h| !h.is_empty()) {
            body.insert("dns_name".into(), json!(hostname));
        }
        let answer = self.request(reqwest::Method::POST, path, Some(&Value::Object(body)))?;
        // NetBox answers one object, or a list of them when asked for several.
        let first = if answer.is_array() { answer.get(0).cloned().unwrap_or(Value::Null) } else { answer };
        first
            .get("address")
            .and_then(Value::as_str)
            .and_then(|a| a.split('/').next())
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| Error::Unavailable(format!("{} ({path}): no address in the answer", self.api.name)))
    }

    /// `get_ips_from_mac`: the MAC's first IPv4 and IPv6 address.
    pub fn ips_from_mac(&self, mac: &str) -> Result<(Option<IpAddr>, Option<IpAddr>), Error> {
        let answer = self
            .request(reqwest::Method::GET, &format!("/ipam/ip-addresses/?description__ic={mac}"), None)
            .map_err(|err| context(err, &format!("could not query ip address entry for mac {mac}")))?;
        let (mut v4, mut v6) = (None, None);
        for entry in answer.get("results").and_then(Value::as_array).into_iter().flatten() {
            let Some(ip) =
                entry.get("address").and_then(Value::as_str).and_then(|a| a.split('/').next()).and_then(|a| a.parse::<IpAddr>().ok())
            else {
                continue;
            };
            match ip {
                IpAddr::V4(_) if v4.is_none() => v4 = Some(ip),
                IpAddr::V6(_) if v6.is_none() => v6 = Some(ip),
                _ => {}
            }
        }
        Ok((v4, v6))
    }
}

fn description(mac: Option<&str>, gateway: bool) -> Value {
    if gateway {
        json!("gateway")
    } else if let Some(mac) = mac {
        json!(format!("mac:{mac}"))
    } else {
        Value::Null
    }
}
