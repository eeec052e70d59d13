//! Network value types shared by the model: CIDR prefixes and the textual checks the reference's
//! JSON-schema formats perform (node names, MACs, DNS names, interface names, route targets, ...).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP prefix such as `10.0.0.0/24` or `fd00::/64`.
///
/// The reference accepts prefix lengths 8..=32 (IPv4) and 8..=128 (IPv6); so does this type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Builds a prefix, refusing lengths the reference refuses.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, String> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if !(8..=max).contains(&prefix) {
            return Err(format!(
                "prefix length {prefix} is out of range (allowed: 8-{max})"
            ));
        }
        Ok(Cidr { addr, prefix })
    }

    /// The address as written, host bits included.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The same prefix with the host bits cleared (`10.0.0.5/24` -> `10.0.0.0/24`).
    pub fn network(&self) -> Cidr {
        Cidr {
            addr: mask_addr(self.addr, self.prefix),
            prefix: self.prefix,
        }
    }

    /// Whether `ip` lies inside this prefix (addresses of the other family never do).
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4()
            && mask_addr(ip, self.prefix) == mask_addr(self.addr, self.prefix)
    }
}

fn mask_addr(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            IpAddr::V6((bits & mask).into())
        }
    }
}

impl Cidr {
    /// Parses `ADDRESS/LENGTH` with any length the family allows (0-32, 0-128), as the
    /// reference's typed CIDRs (fabric prefixes, interface addresses) do; host bits are kept.
    pub fn parse_any_length(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = split_cidr(s)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!(
                "value does not look like a valid CIDR network: prefix length {prefix} is out of range (allowed: 0-{max})"
            ));
        }
        Ok(Cidr { addr, prefix })
    }

    /// Whether the two prefixes share an address (one contains the other).
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
}

/// `ADDRESS/LENGTH` with a decimal length of at most three digits, not yet range-checked.
fn split_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let bad = || "value does not look like a valid CIDR network".to_string();
    let (addr, len) = s.split_once('/').ok_or_else(bad)?;
    let addr = parse_ip(addr).map_err(|_| bad())?;
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let prefix: u8 = len.parse().map_err(|_| bad())?;
    Ok((addr, prefix))
}

/// The reference's `cidr` format: prefix lengths 8 and up (see [`Cidr::new`]).
impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = split_cidr(s)?;
        Cidr::new(addr, prefix)
            .map_err(|e| format!("value does not look like a valid CIDR network: {e}"))
    }
}

/// An IP address together with the text it was written as.
///
/// The reference prints addresses exactly as configured (`fd00:0::1` stays so), so the text is
/// kept for output while the parsed address is used for every decision (family, comparisons).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpLiteral {
    addr: IpAddr,
    text: String,
}

impl IpLiteral {
    /// Parses an address, keeping `text` as written.
    pub fn parse(text: &str) -> Result<IpLiteral, String> {
        Ok(IpLiteral {
            addr: parse_ip(text)?,
            text: text.to_string(),
        })
    }

    /// An address that was never written: its text is the canonical form.
    pub fn from_addr(addr: IpAddr) -> IpLiteral {
        IpLiteral {
            addr,
            text: addr.to_string(),
        }
    }

    /// The parsed address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is an IPv6 address.
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }
}

impl fmt::Display for IpLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Parses an IPv4 or IPv6 address the way the reference's `ip` format accepts it.
pub fn parse_ip(s: &str) -> Result<IpAddr, String> {
    // Rust's parser refuses leading zeros and zone ids, like the reference's regexes.
    IpAddr::from_str(s).map_err(|_| "value does not look like a valid IP address".to_string())
}

/// 1 to `max` ASCII letters, digits and hyphens, starting and ending with a letter or digit.
fn is_hyphenated_word(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// `pve-node`: a cluster node name.
pub fn check_node_name(s: &str) -> Result<(), String> {
    if is_hyphenated_word(s, 63) {
        Ok(())
    } else {
        Err(format!(
            "value '{}' does not look like a valid node name",
            shorten(s)
        ))
    }
}

/// `mac-addr`: a unicast MAC address (I/G bit clear), as the reference checks it.
pub fn check_mac(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split(':').collect();
    let hex2 = |p: &str| p.len() == 2 && p.bytes().all(|c| c.is_ascii_hexdigit());
    let ok = parts.len() == 6
        && parts.iter().all(|p| hex2(p))
        && matches!(
            parts[0].as_bytes()[1].to_ascii_lowercase(),
            b'0' | b'2' | b'4' | b'6' | b'8' | b'a' | b'c' | b'e'
        );
    if ok {
        Ok(())
    } else {
        Err("value does not look like a valid unicast MAC address".into())
    }
}

/// `dns-name`: dot-separated labels of letters, digits and inner hyphens.
pub fn check_dns_name(s: &str) -> Result<(), String> {
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    if s.len() <= 253 && s.split('.').all(label_ok) {
        Ok(())
    } else {
        Err("value does not look like a valid DNS name".into())
    }
}

/// `pve-iface`: a network interface name (`eth0`, `bond0.100`, `ens18:1`).
pub fn check_iface(s: &str) -> Result<(), String> {
    let bad = || format!("invalid network interface name '{}'", shorten(s));
    let (name, suffix) = match s.find([':', '.']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let b = name.as_bytes();
    let name_ok = (2..=21).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    let suffix_ok = suffix
        .is_none_or(|x| !x.is_empty() && x.len() <= 9 && x.bytes().all(|c| c.is_ascii_digit()));
    if name_ok && suffix_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// A Linux bridge or loopback interface name (the generator writes it into interface files, so
/// only the characters the kernel and ifupdown2 accept, at most 15 of them).
pub fn check_bridge_name(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 15
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid interface name '{}' (1-15 characters: letters, digits, '-', '_', '.')",
            shorten(s)
        ))
    }
}

/// `pve-sdn-bgp-rt`: a route target `ASN:NN`, both parts 0..=4294967295.
pub fn check_route_target(s: &str) -> Result<(), String> {
    let num_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 10
            && p.bytes().all(|c| c.is_ascii_digit())
            && p.parse::<u64>().is_ok_and(|n| n <= u64::from(u32::MAX))
    };
    match s.split_once(':') {
        Some((a, b)) if num_ok(a) && num_ok(b) => Ok(()),
        _ => Err(format!(
            "value '{}' does not look like a valid bgp route-target",
            shorten(s)
        )),
    }
}

/// `pve-sdn-fabric-id`: 1-8 letters, digits and inner hyphens.
pub fn check_fabric_id(s: &str) -> Result<(), String> {
    if is_hyphenated_word(s, 8) {
        Ok(())
    } else {
        Err(format!(
            "Fabric ID '{}' contains illegal characters",
            shorten(s)
        ))
    }
}

/// `pve-sdn-isis-net`: an IS-IS network entity title such as `49.0001.1921.6800.1002.00`.
pub fn check_isis_net(s: &str) -> Result<(), String> {
    let bad = || "value does not look like a valid isis net".to_string();
    if !(20..=50).contains(&s.len()) {
        return Err(bad());
    }
    let parts: Vec<&str> = s.split('.').collect();
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|c| c.is_ascii_hexdigit());
    let n = parts.len();
    let ok = (5..=11).contains(&n)
        && hex(parts[0], 2)
        && hex(parts[n - 1], 2)
        && parts[1..n - 1].iter().all(|p| hex(p, 4));
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// `fingerprint-sha256`: 32 colon-separated hex bytes.
pub fn check_fingerprint(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() == 32
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_hexdigit()))
    {
        Ok(())
    } else {
        Err("value does not match the regex pattern ([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}".into())
    }
}

/// Splits a list the way the reference's `PVE::Tools::split_list` does: a text containing NUL
/// bytes on NUL only (empty items kept, trailing ones dropped, as Perl's `split`), any other
/// text on runs of commas, semicolons and whitespace.
pub fn split_list(s: &str) -> Vec<&str> {
    if s.contains('\0') {
        let mut items: Vec<&str> = s.split('\0').collect();
        while items.last().is_some_and(|item| item.is_empty()) {
            items.pop();
        }
        return items;
    }
    s.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|x| !x.is_empty())
        .collect()
}

/// A single word: what the generator writes as one token into its files (a name, a MAC, a
/// protocol), so nothing that would break their line or word structure.
pub fn check_word(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("must not be empty".into());
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "\"{}\" must be a single word without whitespace or control characters",
            v.escape_debug()
        ));
    }
    Ok(())
}

/// Cuts a value for quoting in a message so a huge input cannot make a huge error.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push_str("...");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parse_and_contains() {
        let c: Cidr = "10.0.0.5/24".parse().unwrap();
        assert_eq!(c.network().to_string(), "10.0.0.0/24");
        assert!(c.contains("10.0.0.255".parse().unwrap()));
        assert!(!c.contains("10.0.1.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        let v6: Cidr = "FD00:0::1/64".parse().unwrap();
        assert_eq!(v6.network().to_string(), "fd00::/64");
        for bad in [
            "10.0.0.0",
            "10.0.0.0/7",
            "10.0.0.0/33",
            "x/24",
            "10.0.0.0/",
            "::/129",
            "10.0.0.0/+8",
            "010.0.0.0/24",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        let any = Cidr::parse_any_length("fd77:0::1/127").unwrap();
        assert_eq!(any.to_string(), "fd77::1/127");
        assert!(Cidr::parse_any_length("0.0.0.0/0")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        assert!(Cidr::parse_any_length("10.0.0.0/33").is_err());
        let wide = Cidr::parse_any_length("10.0.0.0/7").unwrap();
        assert!(wide.overlaps(&"10.1.0.0/16".parse().unwrap()));
        assert!(!wide.overlaps(&"12.0.0.0/8".parse().unwrap()));
        let host: Cidr = "1.2.3.4/32".parse().unwrap();
        assert!(host.contains("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn formats() {
        assert!(check_node_name("pve-1").is_ok());
        assert!(check_node_name("-pve").is_err());
        assert!(check_node_name("pve_1").is_err());
        assert!(check_mac("BC:24:11:3B:39:34").is_ok());
        assert!(check_mac("01:24:11:3B:39:34").is_err(), "multicast bit set");
        assert!(check_mac("BC:24:11:3B:39").is_err());
        assert!(check_dns_name("example.com").is_ok());
        assert!(check_dns_name("exa_mple.com").is_err());
        assert!(check_dns_name("example..com").is_err());
        assert!(check_iface("eth0").is_ok());
        assert!(check_iface("bond0.100").is_ok());
        assert!(check_iface("e").is_err());
        assert!(check_iface("0eth").is_err());
        assert!(check_route_target("65000:100").is_ok());
        assert!(check_route_target("4294967296:1").is_err());
        assert!(check_route_target("65000").is_err());
        assert!(check_fabric_id("test").is_ok());
        assert!(check_fabric_id("toolongid").is_err());
        assert!(check_isis_net("47.0023.0000.0000.0000.0000.0000.0000.1900.0004.00").is_ok());
        assert!(check_isis_net("49.0001.1921.6800.1002.00").is_ok());
        assert!(check_isis_net("49.001.1921.6800.1002.00").is_err());
        assert!(check_fingerprint(&vec!["aB"; 32].join(":")).is_ok());
        assert!(check_fingerprint(&vec!["aB"; 31].join(":")).is_err());
        assert!(check_bridge_name("vmbr0").is_ok());
        assert!(check_bridge_name("a bridge").is_err());
        assert!(check_bridge_name("averyveryverylongbridge").is_err());
        assert_eq!(split_list(" a, b;c  d,,"), ["a", "b", "c", "d"]);
        assert_eq!(split_list("a,b\0\0c\0\0"), ["a,b", "", "c"]);
        assert_eq!(split_list(""), Vec::<&str>::new());
        assert_eq!(shorten(&"x".repeat(100)).len(), 67);
    }
}
