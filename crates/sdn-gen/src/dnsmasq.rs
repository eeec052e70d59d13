//! The DHCP server's files of every zone with `dhcp=dnsmasq`, byte for byte what the reference's
//! `Dhcp.pm` and `Dhcp/Dnsmasq.pm` write: per zone `00-default.conf`, one `10-<vnet>.conf` per
//! vnet with subnets, the `ethers` file of MAC-to-address reservations (from the IPAM), the
//! instance's `/etc/default/dnsmasq.<zone>` and its D-Bus policy.
//!
//! Pure: the caller passes the configuration, the directory the files will live in (it is
//! written into them) and each zone's reservations, and writes the files.

use std::collections::BTreeMap;
use std::net::IpAddr;

use sdn_config::{Config, Kind};

use crate::Warning;

/// Where the reference keeps the leases (not configurable there either).
const LEASE_ROOT: &str = "/var/lib/misc";
/// The reference's MTU for a zone that sets none.
const DEFAULT_MTU: i64 = 1500;

/// One MAC's reserved addresses in a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub mac: String,
    pub ip4: Option<IpAddr>,
    pub ip6: Option<IpAddr>,
}

/// The files of one zone's dnsmasq instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsmasqZone {
    pub zone: String,
    /// File name (in the zone's directory) -> text: `00-default.conf`, `10-<vnet>.conf`,
    /// `ethers`.
    pub files: BTreeMap<String, String>,
    /// The text of `/etc/default/dnsmasq.<zone>`.
    pub default_file: String,
    /// The text of `/etc/dbus-1/system.d/dnsmasq.<zone>.conf`.
    pub dbus_policy: String,
}

/// The dnsmasq files of every zone of `config` with `dhcp=dnsmasq` that is deployed on `node`,
/// in zone order. `root` is the directory holding the zones' directories (the reference's
/// `/etc/dnsmasq.d`); `reservations` holds each zone's MAC-to-address mappings.
pub fn generate(
    config: &Config,
    node: &str,
    root: &str,
    reservations: &BTreeMap<String, Vec<Reservation>>,
    warnings: &mut Vec<Warning>,
) -> Vec<DnsmasqZone> {
    let mut out = Vec::new();
    for zone in config.list(Kind::Zones) {
        if zone.get_str("dhcp") != Some("dnsmasq") || !Config::zone_spans_node(zone, node) {
            continue;
        }
        let zone_id = zone.id();
        let dir = format!("{}/{zone_id}", root.trim_end_matches('/'));
        let mtu = zone.get_int("mtu").unwrap_or(DEFAULT_MTU);
        let mut files = BTreeMap::new();
        files.insert("00-default.conf".to_string(), default_conf(zone_id, &dir, mtu));
        let mut vnets: Vec<_> = config.vnets_in_zone(zone_id).collect();
        vnets.sort_by(|a, b| a.id().cmp(b.id()));
        for vnet in vnets {
            let mut lines = Vec::new();
            let mut subnets: Vec<_> = config.subnets_of_vnet(vnet.id()).collect();
            subnets.sort_by(|a, b| a.id().cmp(b.id()));
            for subnet in subnets {
                let Some(id) = subnet.subnet_id() else { continue };
                if id.zone != zone_id {
                    continue;
                }
                let network = id.cidr.addr();
                let gateway = subnet.get_str("gateway");
                if network.is_ipv6() && gateway.is_none() {
                    warnings.push(Warning {
                        zone: Some(zone_id.to_string()),
                        vnet: Some(vnet.id().to_string()),
                        message: format!("Could not configure subnet {}: No gateway configured for subnet {}", subnet.id(), subnet.id()),
                    });
                    continue;
                }
                let mask = if network.is_ipv4() { dotted_mask(id.cidr.prefix()) } else { id.cidr.prefix().to_string() };
                let tag = subnet.id();
                lines.push(format!("dhcp-range=set:{tag},{network},static,{mask},infinite"));
                // As the reference: `option6` for IPv6, `option` for IPv4 with a gateway, and
                // nothing (an empty word) for IPv4 without one.
                let option = match (network.is_ipv6(), gateway) {
                    (true, _) => "option6",
                    (false, Some(gateway)) => {
                        lines.push(format!("dhcp-option=tag:{tag},option:router,{gateway}"));
                        "option"
                    }
                    (false, None) => "",
                };
                if let Some(dns) = subnet.get_str("dhcp-dns-server") {
                    lines.push(format!("dhcp-option=tag:{tag},{option}:dns-server,{dns}"));
                }
            }
            if lines.is_empty() {
                continue;
            }
            lines.push(format!("interface={}", vnet.id()));
            files.insert(format!("10-{}.conf", vnet.id()), lines.join("\n") + "\n");
        }
        files.insert("ethers".to_string(), ethers(reservations.get(zone_id).map(Vec::as_slice).unwrap_or(&[])));
        out.push(DnsmasqZone {
            zone: zone_id.to_string(),
            files,
            default_file: format!(
                "CONFIG_DIR='{dir},*.conf'\nDNSMASQ_OPTS=\"--conf-file=/dev/null --enable-dbus=uk.org.thekelleys.dnsmasq.{zone_id}\"\n"
            ),
            dbus_policy: dbus_policy(zone_id),
        });
    }
    out
}

/// The `ethers` reservations, one MAC a line (`MAC[,IPv4][,[IPv6]]`), sorted by MAC.
pub fn ethers(reservations: &[Reservation]) -> String {
    let mut sorted: Vec<&Reservation> = reservations.iter().filter(|r| r.ip4.is_some() || r.ip6.is_some()).collect();
    sorted.sort_by(|a, b| a.mac.cmp(&b.mac));
    let mut out = String::new();
    for reservation in sorted {
        out.push_str(&reservation.mac);
        if let Some(ip4) = reservation.ip4 {
            out.push_str(&format!(",{ip4}"));
        }
        if let Some(ip6) = reservation.ip6 {
            out.push_str(&format!(",[{ip6}]"));
        }
        out.push('\n');
    }
    out
}

fn dotted_mask(prefix: u8) -> String {
    let mask: u32 = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
    std::net::Ipv4Addr::from(mask).to_string()
}

fn default_conf(zone: &str, dir: &str, mtu: i64) -> String {
    format!(
        r#"except-interface=lo
enable-ra
quiet-ra
bind-dynamic
no-hosts
dhcp-leasefile={LEASE_ROOT}/dnsmasq.{zone}.leases
dhcp-hostsfile={dir}/ethers
dhcp-ignore=tag:!known

dhcp-option=26,{mtu}
ra-param=*,mtu:{mtu},0

# Send an empty WPAD option. This may be REQUIRED to get windows 7 to behave.
dhcp-option=252,"\n"

# Send microsoft-specific option to tell windows to release the DHCP lease
# when it shuts down. Note the "i" flag, to tell dnsmasq to send the
# value as a four-byte integer - that's what microsoft wants.
dhcp-option=vendor:MSFT,2,1i

# If a DHCP client claims that its name is "wpad", ignore that.
# This fixes a security hole. see CERT Vulnerability VU#598349
dhcp-name-match=set:wpad-ignore,wpad
dhcp-ignore-names=tag:wpad-ignore
"#
    )
}

fn dbus_policy(zone: &str) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
        <policy user="root">
                <allow own="uk.org.thekelleys.dnsmasq.{zone}"/>
                <allow send_destination="uk.org.thekelleys.dnsmasq.{zone}"/>
        </policy>
        <policy user="dnsmasq">
                <allow own="uk.org.thekelleys.dnsmasq.{zone}"/>
                <allow send_destination="uk.org.thekelleys.dnsmasq.{zone}"/>
        </policy>
        <policy context="default">
                <deny own="uk.org.thekelleys.dnsmasq.{zone}"/>
                <deny send_destination="uk.org.thekelleys.dnsmasq.{zone}"/>
        </policy>
</busconfig>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let zones = "simple: dhcpz\n\tipam pve\n\tdhcp dnsmasq\n\tmtu 1400\n\nsimple: plain\n\tipam pve\n\n";
        let vnets = "vnet: v1\n\tzone dhcpz\n\nvnet: v2\n\tzone dhcpz\n\nvnet: v3\n\tzone plain\n\n";
        let subnets = "subnet: dhcpz-10.0.0.0-24\n\tvnet v1\n\tdhcp-dns-server 10.0.0.53\n\tdhcp-range start-address=10.0.0.10,end-address=10.0.0.20\n\tgateway 10.0.0.1\n\n\
                       subnet: dhcpz-fd00::-64\n\tvnet v1\n\tgateway fd00::1\n\tdhcp-dns-server fd00::53\n\n\
                       subnet: dhcpz-10.9.0.0-16\n\tvnet v2\n\n\
                       subnet: dhcpz-fd09::-64\n\tvnet v2\n\n";
        let mut config = Config::default();
        for (kind, text) in [(Kind::Zones, zones), (Kind::Vnets, vnets), (Kind::Subnets, subnets)] {
            for object in Config::parse_section_config(kind, text).unwrap() {
                config.insert(object);
            }
        }
        config
    }

    #[test]
    fn the_files_of_a_dhcp_zone_as_the_reference_writes_them() {
        let reservations = BTreeMap::from([(
            "dhcpz".to_string(),
            vec![
                Reservation { mac: "bc:24:11:00:00:02".into(), ip4: Some("10.0.0.11".parse().unwrap()), ip6: None },
                Reservation { mac: "bc:24:11:00:00:01".into(), ip4: Some("10.0.0.10".parse().unwrap()), ip6: Some("fd00::10".parse().unwrap()) },
            ],
        )]);
        let mut warnings = Vec::new();
        let zones = generate(&config(), "node1", "/etc/dnsmasq.d", &reservations, &mut warnings);
        assert_eq!(zones.len(), 1);
        let zone = &zones[0];
        assert_eq!(zone.files.keys().collect::<Vec<_>>(), ["00-default.conf", "10-v1.conf", "10-v2.conf", "ethers"]);
        assert_eq!(
            zone.files["10-v1.conf"],
            "dhcp-range=set:dhcpz-10.0.0.0-24,10.0.0.0,static,255.255.255.0,infinite\n\
             dhcp-option=tag:dhcpz-10.0.0.0-24,option:router,10.0.0.1\n\
             dhcp-option=tag:dhcpz-10.0.0.0-24,option:dns-server,10.0.0.53\n\
             dhcp-range=set:dhcpz-fd00::-64,fd00::,static,64,infinite\n\
             dhcp-option=tag:dhcpz-fd00::-64,option6:dns-server,fd00::53\n\
             interface=v1\n"
        );
        // IPv6 without a gateway is skipped (with the reference's warning); IPv4 is kept.
        assert_eq!(zone.files["10-v2.conf"], "dhcp-range=set:dhcpz-10.9.0.0-16,10.9.0.0,static,255.255.0.0,infinite\ninterface=v2\n");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].message.contains("No gateway configured for subnet dhcpz-fd09::-64"));
        assert_eq!(zone.files["ethers"], "bc:24:11:00:00:01,10.0.0.10,[fd00::10]\nbc:24:11:00:00:02,10.0.0.11\n");
        let default = &zone.files["00-default.conf"];
        assert!(default.contains("dhcp-hostsfile=/etc/dnsmasq.d/dhcpz/ethers\n"));
        assert!(default.contains("dhcp-option=26,1400\nra-param=*,mtu:1400,0\n"));
        assert!(default.contains("dhcp-option=252,\"\\n\"\n"));
        assert_eq!(
            zone.default_file,
            "CONFIG_DIR='/etc/dnsmasq.d/dhcpz,*.conf'\nDNSMASQ_OPTS=\"--conf-file=/dev/null --enable-dbus=uk.org.thekelleys.dnsmasq.dhcpz\"\n"
        );
        assert!(zone.dbus_policy.contains("<allow own=\"uk.org.thekelleys.dnsmasq.dhcpz\"/>"));
    }
}
