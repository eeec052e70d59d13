//! The PVE IPAM's data, without I/O: the reference's state file (`sdn/pve-ipam-state.json`,
//! formerly `priv/ipam.db`) as a typed value, and the address arithmetic allocation needs.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::layout::IpRecord;

/// The whole state as the reference's file holds it: zone -> subnet CIDR -> address -> record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpamDb {
    pub zones: BTreeMap<String, BTreeMap<String, BTreeMap<String, IpRecord>>>,
}

impl IpamDb {
    /// Reads the reference's JSON (either file: they share one format). Every zone, subnet and
    /// address is checked, so that nothing unreadable reaches the store.
    pub fn parse(text: &[u8]) -> Result<IpamDb, String> {
        let text = std::str::from_utf8(text).map_err(|_| "not UTF-8 text".to_string())?;
        if text.trim().is_empty() {
            return Ok(IpamDb::default());
        }
        let json: Value = serde_json::from_str(text).map_err(|err| format!("not valid JSON: {err}"))?;
        let mut db = IpamDb::default();
        let Some(zones) = json.get("zones") else { return Ok(db) };
        let zones = zones.as_object().ok_or("'zones' is not an object")?;
        for (zone, zone_value) in zones {
            sdn_config::schema::check_id(sdn_config::Kind::Zones, zone).map_err(|err| format!("zone '{zone}': {err}"))?;
            let subnets = db.zones.entry(zone.clone()).or_default();
            let Some(subnet_map) = zone_value.get("subnets") else { continue };
            let subnet_map = subnet_map.as_object().ok_or_else(|| format!("zone '{zone}': 'subnets' is not an object"))?;
            for (cidr, subnet_value) in subnet_map {
                let parsed: sdn_config::Cidr = cidr.parse().map_err(|err| format!("zone '{zone}': subnet '{cidr}': {err}"))?;
                let ips = subnets.entry(parsed.network().to_string()).or_default();
                let Some(ip_map) = subnet_value.get("ips") else { continue };
                let ip_map = ip_map.as_object().ok_or_else(|| format!("subnet '{cidr}': 'ips' is not an object"))?;
                for (ip, record) in ip_map {
                    let addr = sdn_config::net::parse_ip(ip).map_err(|err| format!("subnet '{cidr}': '{ip}': {err}"))?;
                    if !parsed.contains(addr) {
                        return Err(format!("subnet '{cidr}': address '{ip}' is not in the subnet"));
                    }
                    let record = IpRecord::from_reference(record).map_err(|err| format!("subnet '{cidr}': '{ip}': {err}"))?;
                    ips.insert(addr.to_string(), record);
                }
            }
        }
        Ok(db)
    }

    /// The state file's text, as the reference writes it (without its `null`s).
    pub fn to_json(&self) -> Value {
        let zones: Map<String, Value> = self
            .zones
            .iter()
            .map(|(zone, subnets)| {
                let subnets: Map<String, Value> = subnets
                    .iter()
                    .map(|(cidr, ips)| {
                        let ips: Map<String, Value> =
                            ips.iter().map(|(ip, record)| (ip.clone(), record.to_reference())).collect();
                        (cidr.clone(), json!({ "ips": ips }))
                    })
                    .collect();
                (zone.clone(), json!({ "subnets": subnets }))
            })
            .collect();
        json!({ "zones": zones })
    }
}

impl IpRecord {
    /// One address's record as the reference's file has it: `{"gateway":1}` or any of `mac`,
    /// `hostname`, `vmid` (a string or a number; `null` where the reference wrote undef).
    pub fn from_reference(value: &Value) -> Result<IpRecord, String> {
        let map = value.as_object().ok_or("the record is not an object")?;
        let text = |name: &str| -> Result<Option<String>, String> {
            match map.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(format!("'{name}' is not a string")),
            }
        };
        let gateway = match map.get("gateway") {
            None | Some(Value::Null) => false,
            Some(Value::Number(n)) => n.as_u64() == Some(1),
            Some(Value::String(s)) => s == "1",
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("'gateway' is not 1".into()),
        };
        let mac = text("mac")?;
        if let Some(mac) = &mac {
            sdn_config::net::check_mac(mac)?;
        }
        let vmid = text("vmid")?;
        if let Some(vmid) = &vmid {
            parse_vmid(vmid)?;
        }
        Ok(IpRecord { gateway, mac: mac.map(|m| m.to_ascii_lowercase()), hostname: text("hostname")?, vmid })
    }

    pub fn to_reference(&self) -> Value {
        let mut map = Map::new();
        if self.gateway {
            map.insert("gateway".into(), json!(1));
        }
        for (name, value) in [("mac", &self.mac), ("hostname", &self.hostname), ("vmid", &self.vmid)] {
            if let Some(value) = value {
                map.insert(name.into(), json!(value));
            }
        }
        Value::Object(map)
    }
}

/// A VM id as PVE's `pve-vmid` format has it: 100 to 999999999.
pub fn parse_vmid(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if (100..=999_999_999).contains(&n) => Ok(n),
        _ => Err(format!("value '{}' does not look like a valid VM ID (100-999999999)", shorten(text))),
    }
}

/// At most 40 characters of `text`, for messages.
pub fn shorten(text: &str) -> String {
    if text.chars().count() <= 40 { text.to_string() } else { format!("{}...", text.chars().take(40).collect::<String>()) }
}

/// The MAC-to-address index entry of one zone (the reference's `mac-cache.json` entry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<String>,
}

impl MacRecord {
    pub fn get(&self, v6: bool) -> Option<&str> {
        if v6 { self.ip6.as_deref() } else { self.ip4.as_deref() }
    }

    pub fn set(&mut self, v6: bool, ip: Option<String>) {
        if v6 {
            self.ip6 = ip;
        } else {
            self.ip4 = ip;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ip4.is_none() && self.ip6.is_none()
    }
}

/// An address as a number, for walking ranges of either family.
pub fn to_number(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address `n` of the family of `like`.
pub fn from_number(n: u128, like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// The addresses to try, in order, for the next free one of the range `start..=end`: from
/// `hint` (the address after the last one handed out, if it lies in the range) to the end, then
/// from the start up to the hint. Every address that is free comes up once, and the first free
/// one after a sequence of allocations is found at once, so an allocation's cost does not grow
/// with the number of addresses already taken.
pub fn scan_order(start: IpAddr, end: IpAddr, hint: Option<IpAddr>) -> impl Iterator<Item = IpAddr> {
    let (s, e) = (to_number(start), to_number(end));
    let h = hint
        .filter(|h| h.is_ipv4() == start.is_ipv4())
        .map(to_number)
        .filter(|h| (s..=e).contains(h))
        .unwrap_or(s);
    (h..=e).chain(s..h).map(move |n| from_number(n, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_scan_starts_at_the_hint_and_wraps() {
        let order: Vec<String> = scan_order(ip("10.0.0.10"), ip("10.0.0.13"), Some(ip("10.0.0.12")))
            .map(|a| a.to_string())
            .collect();
        assert_eq!(order, ["10.0.0.12", "10.0.0.13", "10.0.0.10", "10.0.0.11"]);
        let outside: Vec<IpAddr> = scan_order(ip("10.0.0.10"), ip("10.0.0.11"), Some(ip("10.0.0.99"))).collect();
        assert_eq!(outside, [ip("10.0.0.10"), ip("10.0.0.11")]);
        let v6: Vec<String> = scan_order(ip("fd00::fffe"), ip("fd00::1:0"), None).map(|a| a.to_string()).collect();
        assert_eq!(v6, ["fd00::fffe", "fd00::ffff", "fd00::1:0"]);
    }

    #[test]
    fn the_reference_state_file_reads_and_writes_back() {
        let text = br#"{"zones":{"z1":{"subnets":{"10.0.0.0/24":{"ips":{"10.0.0.1":{"gateway":1},
            "10.0.0.10":{"mac":"BC:24:11:00:00:01","hostname":"vm1","vmid":"100"},
            "10.0.0.11":{"mac":"bc:24:11:00:00:02","hostname":null,"vmid":101}}}}}}}"#;
        let db = IpamDb::parse(text).unwrap();
        let ips = &db.zones["z1"]["10.0.0.0/24"];
        assert!(ips["10.0.0.1"].gateway);
        assert_eq!(ips["10.0.0.10"].mac.as_deref(), Some("bc:24:11:00:00:01"));
        assert_eq!(ips["10.0.0.11"].vmid.as_deref(), Some("101"));
        assert_eq!(ips["10.0.0.11"].hostname, None);
        let again = IpamDb::parse(db.to_json().to_string().as_bytes()).unwrap();
        assert_eq!(again, db);
        assert_eq!(IpamDb::parse(b"").unwrap(), IpamDb::default());
    }

    #[test]
    fn unreadable_state_is_refused_with_its_place() {
        for (text, needle) in [
            (&br#"{"zones":{"z1":{"subnets":{"10.0.0.0/33":{"ips":{}}}}}}"#[..], "10.0.0.0/33"),
            (br#"{"zones":{"z1":{"subnets":{"10.0.0.0/24":{"ips":{"10.0.1.1":{}}}}}}}"#, "not in the subnet"),
            (br#"{"zones":{"z1":{"subnets":{"10.0.0.0/24":{"ips":{"10.0.0.5":{"mac":"xx"}}}}}}}"#, "10.0.0.5"),
            (br#"{"zones":{"z1":{"subnets":{"10.0.0.0/24":{"ips":{"10.0.0.5":{"vmid":"abc"}}}}}}}"#, "VM ID"),
            (b"{not json", "JSON"),
        ] {
            let err = IpamDb::parse(text).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }
}
