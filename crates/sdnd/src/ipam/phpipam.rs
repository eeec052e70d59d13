//! The phpIPAM IPAM, as the reference's `Ipams/PhpIpamPlugin.pm`: the same HTTP calls
//! (method, path, JSON body, `Token` header) against the IPAM's `url`, in its `section`. As in
//! the reference, phpIPAM has no DHCP ranges: an allocation takes the first free address of
//! the subnet; and a subnet deleted in sdnd is left in phpIPAM (the reference's `del_subnet`
//! only looks it up), so that addresses recorded there are never lost with it.

use std::net::IpAddr;

use sdn_config::{Cidr, DhcpRange, SdnObject};
use serde_json::{json, Map, Value};

use super::http::{context, Api};
use crate::error::Error;

pub struct PhpIpam {
    api: Api,
    section: Value,
}

fn first(answer: Option<Value>) -> Option<Value> {
    answer?.get("data").and_then(Value::as_array).and_then(|d| d.first()).cloned()
}

impl PhpIpam {
    pub fn from_config(ipam: &SdnObject) -> Result<PhpIpam, Error> {
        let section = ipam.get("section").and_then(sdn_config::Value::as_int).map_or(Value::Null, |n| json!(n));
        Ok(PhpIpam { api: Api::new("phpIPAM IPAM", ipam, ("Token", &|token| token.to_string()))?, section })
    }

    /// `verify_api`, the reference's `on_update_hook`: phpIPAM answers `GET /sections/SECTION`.
    pub fn verify(&self) -> Result<(), Error> {
        self.api.verify(&format!("/sections/{}", self.section), "token")
    }

    fn prefix_id(&self, cidr: &Cidr) -> Result<Option<Value>, Error> {
        Ok(first(self.api.lookup(&format!("/subnets/cidr/{cidr}"))?).and_then(|d| d.get("id").cloned()))
    }

    fn ip_entry(&self, ip: IpAddr) -> Result<Option<Value>, Error> {
        first(self.api.lookup(&format!("/addresses/search/{ip}"))?).map_or(Ok(None), |d| Ok(Some(d)))
    }

/// The hostname phpIPAM has for `ip` (for removing its DNS records with it).
    pub fn hostname_of(&self, ip: IpAddr) -> Result<Option<String>, Error> {
        Ok(self.ip_entry(ip)?.and_then(|d| d.get("hostname").and_then(Value::as_str).map(str::to_string)).filter(|n| !n.is_empty()))
    }

        fn ip_id(&self, ip: IpAddr) -> Result<Option<Value>, Error> {
        Ok(self.ip_entry(ip)?.and_then(|d| d.get("id").cloned()))
    }

    /// `add_subnet`: the subnet created in the section unless phpIPAM has it.
    pub fn add_subnet(&self, cidr: &Cidr) -> Result<(), Error> {
        if self.prefix_id(cidr)?.is_some() {
            return Ok(());
        }
        let body = json!({"subnet": cidr.addr().to_string(), "mask": cidr.prefix().to_string(), "sectionId": self.section});
        self.api.request(reqwest::Method::POST, "/subnets/", Some(&body)).map_err(|err| context(err, "error add subnet to ipam"))?;
        Ok(())
    }

    /// `del_subnet`: looked up, and left in phpIPAM, as the reference does.
    pub fn del_subnet(&self, cidr: &Cidr) -> Result<(), Error> {
        self.prefix_id(cidr)?;
        Ok(())
    }

    fn ip_body(
        ip: Option<IpAddr>,
        subnet_id: Option<Value>,
        hostname: Option<&str>,
        mac: Option<&str>,
        description: Option<&str>,
        gateway: bool,
    ) -> Value {
        let mut body = Map::new();
        if let Some(ip) = ip {
            body.insert("ip".into(), json!(ip.to_string()));
        }
        if let Some(id) = subnet_id {
            body.insert("subnetId".into(), id);
        }
        body.insert("hostname".into(), json!(hostname));
        body.insert("description".into(), json!(description));
        if gateway {
            body.insert("is_gateway".into(), json!(1));
        }
        if let Some(mac) = mac {
            body.insert("mac".into(), json!(mac));
        }
        Value::Object(body)
    }

    /// `add_ip`: a gateway phpIPAM has as a gateway already is fine.
    pub fn add_ip(
        &self,
        cidr: &Cidr,
        ip: IpAddr,
        hostname: Option<&str>,
        mac: Option<&str>,
        description: Option<&str>,
        gateway: bool,
    ) -> Result<(), Error> {
        let subnet_id = self.prefix_id(cidr)?.ok_or_else(|| Error::Conflict(format!("{}: subnet {cidr} not found", self.api.name)))?;
        let body = Self::ip_body(Some(ip), Some(subnet_id), hostname, mac, description, gateway);
        match self.api.request(reqwest::Method::POST, "/addresses/", Some(&body)) {
            Ok(_) => Ok(()),
            Err(err) if gateway && self.is_gateway(ip).unwrap_or(false) => {
                tracing::debug!("gateway {ip} already in phpIPAM: {err}");
                Ok(())
            }
            Err(err) => Err(context(err, &format!("error add subnet ip to ipam: ip {ip} already exist"))),
        }
    }

    fn is_gateway(&self, ip: IpAddr) -> Result<bool, Error> {
        let flag = self.ip_entry(ip)?.and_then(|d| d.get("is_gateway").cloned()).unwrap_or(Value::Null);
        Ok(flag == json!(1) || flag == json!("1") || flag == json!(true))
    }

    /// `update_ip`: the address's entry patched.
    pub fn update_ip(
        &self,
        ip: IpAddr,
        hostname: Option<&str>,
        mac: Option<&str>,
        description: Option<&str>,
        gateway: bool,
    ) -> Result<(), Error> {
        let id = self.ip_id(ip)?.ok_or_else(|| Error::NotFound(format!("can't find ip address {ip} in {}", self.api.name)))?;
        let body = Self::ip_body(None, None, hostname, mac, description, gateway);
        self.api
            .request(reqwest::Method::PATCH, &format!("/addresses/{}", id_text(&id)), Some(&body))
            .map_err(|err| context(err, &format!("ipam: error update subnet ip {ip}")))?;
        Ok(())
    }

    /// `del_ip`: 404 when phpIPAM doesn't know the address.
    pub fn del_ip(&self, ip: IpAddr) -> Result<(), Error> {
        let id = self.ip_id(ip)?.ok_or_else(|| Error::NotFound(format!("IP '{ip}' does not exist in {}", self.api.name)))?;
        self.api
            .request(reqwest::Method::DELETE, &format!("/addresses/{}", id_text(&id)), None)
            .map_err(|err| context(err, &format!("error delete ip {ip}")))?;
        Ok(())
    }

    /// `add_next_freeip` (and `add_range_next_freeip`, which searches the whole subnet).
    pub fn add_next_freeip(
        &self,
        cidr: &Cidr,
        hostname: Option<&str>,
        mac: Option<&str>,
        description: Option<&str>,
    ) -> Result<IpAddr, Error> {
        let what = format!("can't find free ip in subnet {cidr}");
        let id = self.prefix_id(cidr)?.ok_or_else(|| Error::Conflict(format!("{what}: {}: subnet not found", self.api.name)))?;
        let body = Self::ip_body(None, None, hostname, mac, description, false);
        let answer = self
            .api
            .request(reqwest::Method::POST, &format!("/addresses/first_free/{}/", id_text(&id)), Some(&body))
            .map_err(|err| context(err, &what))?;
        answer
            .get("data")
            .and_then(Value::as_str)
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| Error::Unavailable(format!("{what}: {}: no address in the answer", self.api.name)))
    }

    /// The MAC's first IPv4 and IPv6 address (`addresses/search_mac`; the reference leaves
    /// the parsing of the answer unimplemented: its `data` is the list of address entries).
    pub fn ips_from_mac(&self, mac: &str) -> Result<(Option<IpAddr>, Option<IpAddr>), Error> {
        let answer = self.api.lookup(&format!("/addresses/search_mac/{mac}"))?;
        let (mut v4, mut v6) = (None, None);
        for entry in answer.as_ref().and_then(|a| a.get("data")).and_then(Value::as_array).into_iter().flatten() {
            match entry.get("ip").and_then(Value::as_str).and_then(|ip| ip.parse::<IpAddr>().ok()) {
                Some(ip @ IpAddr::V4(_)) if v4.is_none() => v4 = Some(ip),
                Some(ip @ IpAddr::V6(_)) if v6.is_none() => v6 = Some(ip),
                _ => {}
            }
        }
        Ok((v4, v6))
    }

    /// The next free address for a vnet's allocation: phpIPAM has no ranges, the subnet's.
    pub fn next_free(
        &self,
        cidr: &Cidr,
        _range: &DhcpRange,
        hostname: Option<&str>,
        mac: &str,
        vmid: Option<&str>,
    ) -> Result<IpAddr, Error> {
        self.add_next_freeip(cidr, hostname, Some(mac), vmid)
    }
}

fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
