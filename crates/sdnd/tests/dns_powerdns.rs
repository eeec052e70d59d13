//! PowerDNS: the HTTP calls of the reference's `PowerdnsPlugin.pm` (checked against the
//! requests its tests record, `tests/dns-expected/powerdns/`), and over the API the forward
//! and reverse records of a zone with `dns`/`reversedns` following its addresses: added with an
//! address mapped or allocated with a hostname, merged into the hostname's rrset, moved with a
//! `PUT`, removed with a `DELETE`; a zone PowerDNS doesn't have, a PowerDNS refusing, answering
//! garbage or down: a clear error naming it, and nothing left allocated.
//!
//! PowerDNS is played by a small HTTP server of the test's own on a loopback port, keeping
//! zones and their rrsets as PowerDNS does and recording every request.

mod common;

use std::collections::BTreeMap;
use std::io::BufReader;
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::http_stub;
use common::recorded::{self, assert_same, Request};
use common::{Client, InProcess};
use serde_json::{json, Value};

const SDN: &str = "/api2/json/cluster/sdn";
const IPS: &str = "/api2/json/cluster/sdn/vnets/v1/ips";
/// The part of the url before the API's paths, as the reference's test configuration has it.
const BASE: &str = "/api/v1/servers/localhost";
/// The key of the reference's test configuration.
const KEY: &str = "1234";
/// The key the API tests configure (distinctive, to be looked for in messages).
const API_KEY: &str = "pdns-api-key-5f3c9e";

#[derive(Default)]
struct State {
    /// Zone name (without the final dot) -> its rrsets.
    zones: BTreeMap<String, Vec<Value>>,
    /// Refuse rrsets whose name is outside the zone, as PowerDNS does.
    check_names: bool,
    /// The key PowerDNS accepts.
    key: String,
    /// PATCHes of this zone are refused.
    refuse_patch: Option<String>,
    requests: Vec<Request>,
    /// The NetBox IPAM the same server plays under `/netbox` (for a zone with both).
    netbox: NetBox,
}

#[derive(Default)]
struct NetBox {
    next_id: u64,
    prefixes: Vec<(u64, String)>,
    ranges: Vec<(u64, Ipv4Addr, Ipv4Addr)>,
    /// id, address with its mask, description, dns name.
    ips: Vec<(u64, String, Value, String)>,
}

struct FakePowerDns {
    port: u16,
    state: Arc<Mutex<State>>,
    /// Answer every call with a 200 that is not JSON.
    garbage: Arc<AtomicBool>,
    /// Never answer.
    hanging: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl FakePowerDns {
    fn start(zones: &[&str]) -> FakePowerDns {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = State {
            zones: zones
                .iter()
                .map(|z| (z.trim_end_matches('.').to_string(), Vec::new()))
                .collect(),
            check_names: true,
            key: KEY.to_string(),
            ..State::default()
        };
        let fake = FakePowerDns {
            port,
            state: Arc::new(Mutex::new(state)),
            garbage: Arc::default(),
            hanging: Arc::default(),
            stop: Arc::default(),
        };
        let (state, garbage, hanging, stop) = (
            fake.state.clone(),
            fake.garbage.clone(),
            fake.hanging.clone(),
            fake.stop.clone(),
        );
        http_stub::accept_until(listener, stop, move |stream| serve(stream, &state, &garbage, &hanging));
        fake
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}{BASE}", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    fn calls(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    fn clear(&self) {
        self.state.lock().unwrap().requests.clear();
    }

    /// The contents of the rrset `name`/`kind` of `zone`, sorted (empty: no rrset).
    fn contents(&self, zone: &str, name: &str, kind: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        let mut contents: Vec<String> = state.zones[zone.trim_end_matches('.')]
            .iter()
            .filter(|r| r["name"] == name && r["type"] == kind)
            .flat_map(|r| {
                r["records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["content"].as_str().unwrap().to_string())
            })
            .collect();
        contents.sort();
        contents
    }

    /// Every rrset of every zone, as `zone name type`, sorted.
    fn rrsets(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        let mut rrsets: Vec<String> = state
            .zones
            .iter()
            .flat_map(|(zone, rrsets)| {
                rrsets.iter().map(move |r| {
                    format!(
                        "{zone} {} {}",
                        r["name"].as_str().unwrap(),
                        r["type"].as_str().unwrap()
                    )
                })
            })
            .collect();
        rrsets.sort();
        rrsets
    }

    fn set_rrset(&self, zone: &str, rrset: Value) {
        self.state
            .lock()
            .unwrap()
            .zones
            .get_mut(zone)
            .unwrap()
            .push(rrset);
    }
}

impl Drop for FakePowerDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        http_stub::wake(self.port);
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>, garbage: &AtomicBool, hanging: &AtomicBool) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = http_stub::read_request(&mut reader) {
        let (method, body) = (request.method.as_str(), request.body.as_str());
        if let Some(path) = request.target.strip_prefix("/netbox") {
            let (status, answer) = handle_netbox(&mut state.lock().unwrap().netbox, method, path, body);
            if !http_stub::write_response(&mut writer, status, &answer.to_string()) {
                return;
            }
            continue;
        }
        if hanging.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_secs(15));
            return;
        }
        let path = request.target.strip_prefix(BASE).unwrap_or("/not-under-the-url").to_string();
        let key = request.header("x-api-key").to_string();
        let (status, answer) = {
            let mut state = state.lock().unwrap();
            state.requests.push(Request {
                method: method.to_string(),
                path: path.clone(),
                body: body.to_string(),
                credential: key.clone(),
                content_type: request.header("content-type").to_string(),
            });
            if garbage.load(Ordering::SeqCst) {
                (200, "<html>an unrelated proxy page</html>".to_string())
            } else if key != state.key {
                (401, "Unauthorized".to_string())
            } else {
                let (status, answer) = handle(&mut state, method, &path, body);
                (status, answer.to_string())
            }
        };
        if !http_stub::write_response(&mut writer, status, &answer) {
            return;
        }
    }
}

/// PowerDNS's API, as far as the plugin uses it.
fn handle(state: &mut State, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    if method == "GET" && base.is_empty() {
        return (
            200,
            json!({"type": "Server", "id": "localhost", "daemon_type": "authoritative"}),
        );
    }
    let Some(zone) = base.strip_prefix("/zones/") else {
        return (404, json!({"error": "Not Found"}));
    };
    let zone = zone.trim_end_matches('.').to_string();
    let (check_names, refused) = (
        state.check_names,
        state.refuse_patch.as_deref() == Some(zone.as_str()),
    );
    let Some(rrsets) = state.zones.get_mut(&zone) else {
        return (
            404,
            json!({"error": format!("Could not find domain '{zone}.'")}),
        );
    };
    match method {
        "GET" if query == "rrsets=false" => {
            (200, json!({"name": format!("{zone}."), "kind": "Native"}))
        }
        "GET" => (
            200,
            json!({"name": format!("{zone}."), "kind": "Native", "rrsets": rrsets}),
        ),
        "PATCH" => {
            if refused {
                return (422, json!({"error": "the zone is read-only"}));
            }
            let body: Value = serde_json::from_str(body).unwrap();
            for rrset in body["rrsets"].as_array().unwrap() {
                let name = rrset["name"].as_str().unwrap();
                if check_names && !name.ends_with(&format!(".{zone}.")) {
                    return (
                        422,
                        json!({"error": format!("RRset {name} IN {}: Name is out of zone", rrset["type"].as_str().unwrap())}),
                    );
                }
                rrsets.retain(|r| !(r["name"] == rrset["name"] && r["type"] == rrset["type"]));
                match rrset["changetype"].as_str().unwrap() {
                    "REPLACE" => rrsets.push(json!({
                        "name": rrset["name"], "type": rrset["type"], "ttl": rrset["ttl"], "records": rrset["records"],
                    })),
                    "DELETE" => {}
                    other => return (422, json!({"error": format!("changetype {other} unknown")})),
                }
            }
            (204, Value::Null)
        }
        _ => (405, json!({"error": "Method Not Allowed"})),
    }
}

/// NetBox's API, as far as its plugin uses it for a zone's IPv4 subnet with a DHCP range.
fn handle_netbox(netbox: &mut NetBox, method: &str, path: &str, body: &str) -> (u16, Value) {
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap()
    };
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("")
            .to_string()
    };
    let segments: Vec<&str> = base.trim_matches('/').split('/').collect();
    let results = |list: Vec<Value>| (200, json!({"count": list.len(), "results": list}));
    let ip_json = |(id, address, description, dns): &(u64, String, Value, String)| json!({"id": id, "address": address, "description": description, "dns_name": dns});
    netbox.next_id += 1;
    let id = netbox.next_id;
    match (method, segments.as_slice()) {
        // The check before a NetBox IPAM is written (`verify_api`).
        ("GET", ["ipam", "aggregates"]) => results(Vec::new()),
        ("GET", ["ipam", "prefixes"]) => {
            let q = param("q");
            results(
                netbox
                    .prefixes
                    .iter()
                    .filter(|(_, p)| p.starts_with(&format!("{q}/")))
                    .map(|(id, p)| json!({"id": id, "prefix": p}))
                    .collect(),
            )
        }
        ("POST", ["ipam", "prefixes"]) => {
            netbox
                .prefixes
                .push((id, body["prefix"].as_str().unwrap().to_string()));
            (201, json!({"id": id}))
        }
        ("GET", ["ipam", "ip-ranges"]) => {
            let (start, end) = (param("start_address"), param("end_address"));
            results(
                netbox
                    .ranges
                    .iter()
                    .filter(|(_, s, e)| s.to_string() == start && e.to_string() == end)
                    .map(|(id, ..)| json!({"id": id}))
                    .collect(),
            )
        }
        ("POST", ["ipam", "ip-ranges"]) => {
            let (start, end) = (
                body["start_address"].as_str().unwrap(),
                body["end_address"].as_str().unwrap(),
            );
            netbox
                .ranges
                .push((id, start.parse().unwrap(), end.parse().unwrap()));
            (201, json!({"id": id}))
        }
        ("POST", ["ipam", "ip-ranges", range, "available-ips"]) => {
            let Some((_, start, end)) = netbox
                .ranges
                .iter()
                .find(|(i, ..)| i.to_string() == *range)
                .cloned()
            else {
                return (404, json!({"detail": "Not found."}));
            };
            let used = |a: u32| {
                netbox.ips.iter().any(|(_, address, ..)| {
                    address.split('/').next() == Some(&Ipv4Addr::from(a).to_string())
                })
            };
            let Some(free) = (u32::from(start)..=u32::from(end)).find(|a| !used(*a)) else {
                return (409, json!({"detail": "Insufficient space is available"}));
            };
            let entry = (
                id,
                format!("{}/24", Ipv4Addr::from(free)),
                body["description"].clone(),
                body["dns_name"].as_str().unwrap_or("").to_string(),
            );
            netbox.ips.push(entry.clone());
            (201, ip_json(&entry))
        }
        ("GET", ["ipam", "ip-addresses"]) => {
            let (q, mac) = (param("q"), param("description__ic"));
            results(
                netbox
                    .ips
                    .iter()
                    .filter(|(_, address, description, _)| {
                        (!q.is_empty() && address.starts_with(&format!("{q}/")))
                            || (!mac.is_empty()
                                && description.as_str().is_some_and(|d| d.contains(&mac)))
                    })
                    .map(ip_json)
                    .collect(),
            )
        }
        ("POST", ["ipam", "ip-addresses"]) => {
            let address = body["address"].as_str().unwrap().to_string();
            if netbox.ips.iter().any(|(_, a, ..)| *a == address) {
                return (400, json!({"address": ["Duplicate IP address"]}));
            }
            let entry = (
                id,
                address,
                body["description"].clone(),
                body["dns_name"].as_str().unwrap_or("").to_string(),
            );
            netbox.ips.push(entry.clone());
            (201, ip_json(&entry))
        }
        ("DELETE", ["ipam", "ip-addresses", ip]) => {
            netbox.ips.retain(|(i, ..)| i.to_string() != *ip);
            (204, Value::Null)
        }
        _ => (404, json!({"detail": format!("no route {method} {path}")})),
    }
}

/// The request a reference test recorded: method, path after the server's url, body, headers.
fn expected(name: &str) -> Request {
    recorded::expected(&format!("dns-expected/powerdns/expected.{name}"), &format!("http://localhost:8881{BASE}"), "x-api-key")
}

fn dns_object(params: Value) -> sdn_config::SdnObject {
    let config = sdn_config::Config::default();
    config
        .plan_create(sdn_config::Kind::Dns, params.as_object().unwrap())
        .unwrap()
        .object
        .unwrap()
}

fn record(ip: &str, kind: &str) -> Value {
    json!({"content": ip, "disabled": false, "name": "myhostname.domain.com.", "type": kind})
}

#[test]
fn the_plugin_sends_the_references_requests() {
    let fake = FakePowerDns::start(&["domain.com"]);
    // The reference's test gives the plugin the forward zone for the PTR records too.
    fake.state.lock().unwrap().check_names = false;
    // Its configuration, `dns-expected/powerdns/dns_config`.
    let config = dns_object(
        json!({"dns": "powerdns", "type": "powerdns", "url": fake.url(), "key": KEY, "ttl": "3600"}),
    );
    let pdns = sdnd::dns::powerdns::PowerDns::from_config(&config).unwrap();
    let (zone, hostname, fqdn) = ("domain.com", "myhostname", "myhostname.domain.com.");

    for (version, ip, ip2, kind) in [
        ("ipv4", "10.0.0.1", "127.0.0.1", "A"),
        (
            "ipv6",
            "2001:4860:4860::8888",
            "2001:4860:4860::8844",
            "AAAA",
        ),
    ] {
        let addr: IpAddr = ip.parse().unwrap();
        fake.clear();
        pdns.add_a_record(zone, hostname, addr).unwrap();
        let requests = fake.requests();
        assert_eq!(requests.len(), 2, "{requests:?}");
        assert_eq!(
            (requests[0].method.as_str(), requests[0].path.as_str()),
            ("GET", "/zones/domain.com")
        );
        assert_same(&requests[1], &expected(&format!("add_a_record.{version}")));
        assert_eq!(fake.contents(zone, fqdn, kind), [ip]);
        // The address is in the rrset already: nothing changes.
        fake.clear();
        pdns.add_a_record(zone, hostname, addr).unwrap();
        assert_eq!(fake.calls(), ["GET /zones/domain.com"]);

        fake.clear();
        pdns.add_ptr_record(zone, hostname, addr).unwrap();
        assert_same(
            &fake.requests()[0],
            &expected(&format!("add_ptr_record.{version}")),
        );
        fake.clear();
        pdns.del_ptr_record(zone, addr).unwrap();
        assert_same(
            &fake.requests()[0],
            &expected(&format!("del_ptr_record.{version}")),
        );

        // The rrset holds just this address: deleted.
        fake.clear();
        pdns.del_a_record(zone, hostname, addr).unwrap();
        assert_eq!(fake.requests().len(), 2);
        assert_same(
            &fake.requests()[1],
            &expected(&format!("del_a_record.{version}")),
        );
        assert!(fake.contents(zone, fqdn, kind).is_empty());
        // Not there: nothing sent after the lookup.
        fake.clear();
        pdns.del_a_record(zone, hostname, addr).unwrap();
        assert_eq!(fake.calls(), ["GET /zones/domain.com"]);

        // With a second address: the other one stays, with the rrset's TTL.
        fake.set_rrset(zone, json!({"name": fqdn, "type": kind, "ttl": "3600", "records": [record(ip, kind), record(ip2, kind)]}));
        fake.clear();
        pdns.del_a_record(zone, hostname, addr).unwrap();
        assert_same(
            &fake.requests()[1],
            &expected(&format!("del_a_multiple_record.{version}")),
        );
        assert_eq!(fake.contents(zone, fqdn, kind), [ip2]);
        // And adding it back merges it into the rrset.
        fake.clear();
        pdns.add_a_record(zone, hostname, addr).unwrap();
        assert_same(
            &fake.requests()[1],
            &expected(&format!("add_a_multiple_record.{version}")),
        );
        let mut both = vec![ip.to_string(), ip2.to_string()];
        both.sort();
        assert_eq!(fake.contents(zone, fqdn, kind), both);
        fake.state
            .lock()
            .unwrap()
            .zones
            .get_mut(zone)
            .unwrap()
            .clear();
    }

    fake.clear();
    pdns.verify_zone(zone).unwrap();
    assert_same(&fake.requests()[0], &expected("verify_zone"));
    // A zone PowerDNS doesn't have: refused, naming PowerDNS, the zone and its message.
    let err = pdns.verify_zone("other.com").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, sdnd::Error::Conflict(_)), "{err:?}");
    assert!(
        text.contains("can't read zone other.com")
            && text.contains("PowerDNS 'powerdns'")
            && text.contains("Could not find domain"),
        "{text}"
    );
    pdns.check_api().unwrap();

    // A wrong key: PowerDNS's refusal, and never the key itself in the message.
    let wrong = dns_object(
        json!({"dns": "powerdns", "type": "powerdns", "url": fake.url(), "key": "secret-wrong-key"}),
    );
    let err = sdnd::dns::powerdns::PowerDns::from_config(&wrong)
        .unwrap()
        .verify_zone(zone)
        .unwrap_err();
    assert!(
        err.to_string().contains("401") && !err.to_string().contains("secret-wrong-key"),
        "{err}"
    );

    // Garbage where the zone's rrsets should be: a clear error naming PowerDNS.
    fake.garbage.store(true, Ordering::SeqCst);
    let err = pdns
        .add_a_record(zone, hostname, "10.0.0.1".parse().unwrap())
        .unwrap_err();
    assert!(
        matches!(err, sdnd::Error::Unavailable(_))
            && err.to_string().contains("PowerDNS 'powerdns'"),
        "{err:?}"
    );
}

fn apply(client: &Client) {
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
}

fn mac(n: usize) -> String {
    format!("bc:24:11:00:00:{n:02x}")
}

const V4_REVERSE: &str = "10.in-addr.arpa.";
const V6_REVERSE: &str = "0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";

/// The records of the gateway of the IPv4 subnet of [`setup`], as the reference's subnet hook
/// registers them (`VNET-gw`).
const GATEWAY: [&str; 2] = [
    "10.in-addr.arpa 1.0.0.10.in-addr.arpa. PTR",
    "example.com v1-gw.lab.example.com. A",
];

/// The PVE IPAM's addresses, as `ip mac hostname`.
fn ipam(client: &Client) -> Vec<String> {
    let mut entries: Vec<String> = client
        .get(&format!("{SDN}/ipams/pve/status"), &[])
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["gateway"].is_null())
        .map(|e| {
            format!(
                "{} {} {}",
                e["ip"].as_str().unwrap(),
                e["mac"].as_str().unwrap_or(""),
                e["hostname"].as_str().unwrap_or("")
            )
        })
        .collect();
    entries.sort();
    entries
}

/// A dual-stack zone with the PVE IPAM, dnsmasq and PowerDNS for both directions; the IPv4
/// subnet with the `dnszoneprefix` "lab".
fn setup(fake: &FakePowerDns) -> (tempfile::TempDir, InProcess, Client) {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let client = server.client("dns");
    fake.state.lock().unwrap().key = API_KEY.to_string();
    client
        .post(
            &format!("{SDN}/dns"),
            &[
                ("dns", "pdns"),
                ("type", "powerdns"),
                ("url", &fake.url()),
                ("key", API_KEY),
            ],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/zones"),
            &[
                ("zone", "z1"),
                ("type", "simple"),
                ("ipam", "pve"),
                ("dhcp", "dnsmasq"),
                ("dns", "pdns"),
                ("reversedns", "pdns"),
                ("dnszone", "example.com"),
            ],
        )
        .ok();
    client
        .post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1")])
        .ok();
    client
        .post(
            &format!("{SDN}/vnets/v1/subnets"),
            &[
                ("subnet", "10.0.0.0/24"),
                ("type", "subnet"),
                ("gateway", "10.0.0.1"),
                ("dnszoneprefix", "lab"),
                (
                    "dhcp-range",
                    "start-address=10.0.0.10,end-address=10.0.0.12",
                ),
            ],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/vnets/v1/subnets"),
            &[
                ("subnet", "fd00::/64"),
                ("type", "subnet"),
                ("dhcp-range", "start-address=fd00::10,end-address=fd00::12"),
            ],
        )
        .ok();
    apply(&client);
    (dir, server, client)
}

#[test]
fn records_follow_the_addresses_over_the_api() {
    let fake = FakePowerDns::start(&["example.com", V4_REVERSE, V6_REVERSE]);
    let (_dir, _server, client) = setup(&fake);
    // The subnet's gateway got its records with the subnet.
    assert_eq!(fake.rrsets(), GATEWAY);
    assert_eq!(
        fake.contents("example.com", "v1-gw.lab.example.com.", "A"),
        ["10.0.0.1"]
    );
    assert_eq!(
        fake.contents(V4_REVERSE, "1.0.0.10.in-addr.arpa.", "PTR"),
        ["v1-gw.lab.example.com."]
    );
    fake.clear();

    // An allocation with a hostname: both addresses get their records, with the reference's
    // calls in its order (the forward zone verified first).
    let allocated = client
        .post(
            IPS,
            &[("zone", "z1"), ("mac", &mac(1)), ("hostname", "vm1")],
        )
        .ok();
    assert_eq!(allocated, json!({"ip": "10.0.0.10", "ip6": "fd00::10"}));
    assert_eq!(
        fake.calls(),
        [
            "GET /zones/example.com?rrsets=false",
            "GET /zones/example.com",
            "PATCH /zones/example.com",
            "PATCH /zones/10.in-addr.arpa.",
            "GET /zones/example.com",
            "PATCH /zones/example.com",
            &format!("PATCH /zones/{V6_REVERSE}"),
        ]
    );
    let patch: Value = serde_json::from_str(&fake.requests()[2].body).unwrap();
    assert_eq!(
        patch,
        json!({"rrsets": [{"name": "vm1.lab.example.com.", "type": "A", "ttl": 14400, "changetype": "REPLACE",
            "records": [{"content": "10.0.0.10", "disabled": false, "name": "vm1.lab.example.com.", "type": "A"}]}]})
    );
    assert_eq!(
        fake.contents("example.com", "vm1.lab.example.com.", "A"),
        ["10.0.0.10"]
    );
    assert_eq!(
        fake.contents("example.com", "vm1.example.com.", "AAAA"),
        ["fd00::10"]
    );
    assert_eq!(
        fake.contents(V4_REVERSE, "10.0.0.10.in-addr.arpa.", "PTR"),
        ["vm1.lab.example.com."]
    );
    let ptr6 = "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
    assert_eq!(fake.contents(V6_REVERSE, ptr6, "PTR"), ["vm1.example.com."]);

    // Deleting the subnet is refused while it holds addresses: its gateway's records, removed
    // before the write, are put back.
    let subnet = format!("{SDN}/vnets/v1/subnets/z1-10.0.0.0-24");
    client.delete(&subnet, &[]).expect(409);
    assert_eq!(
        fake.contents("example.com", "v1-gw.lab.example.com.", "A"),
        ["10.0.0.1"]
    );
    assert_eq!(
        fake.contents(V4_REVERSE, "1.0.0.10.in-addr.arpa.", "PTR"),
        ["v1-gw.lab.example.com."]
    );

    // A second address for the same hostname joins its rrset; deleting it keeps the first.
    client
        .post(
            IPS,
            &[
                ("zone", "z1"),
                ("mac", &mac(2)),
                ("ip", "10.0.0.50"),
                ("hostname", "vm1"),
            ],
        )
        .ok();
    assert_eq!(
        fake.contents("example.com", "vm1.lab.example.com.", "A"),
        ["10.0.0.10", "10.0.0.50"]
    );
    assert_eq!(
        fake.contents(V4_REVERSE, "50.0.0.10.in-addr.arpa.", "PTR"),
        ["vm1.lab.example.com."]
    );
    client
        .delete(
            IPS,
            &[("zone", "z1"), ("mac", &mac(2)), ("ip", "10.0.0.50")],
        )
        .ok();
    assert_eq!(
        fake.contents("example.com", "vm1.lab.example.com.", "A"),
        ["10.0.0.10"]
    );
    assert!(fake
        .contents(V4_REVERSE, "50.0.0.10.in-addr.arpa.", "PTR")
        .is_empty());

    // Without a hostname there is nothing to register: PowerDNS is not asked.
    fake.clear();
    client
        .post(
            IPS,
            &[("zone", "z1"), ("mac", &mac(3)), ("ip", "10.0.0.60")],
        )
        .ok();
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());

    // PUT moves the MAC's address: its records follow it.
    client
        .put(
            IPS,
            &[("zone", "z1"), ("mac", &mac(1)), ("ip", "10.0.0.20")],
        )
        .ok();
    assert_eq!(
        fake.contents("example.com", "vm1.lab.example.com.", "A"),
        ["10.0.0.20"]
    );
    assert!(fake
        .contents(V4_REVERSE, "10.0.0.10.in-addr.arpa.", "PTR")
        .is_empty());
    assert_eq!(
        fake.contents(V4_REVERSE, "20.0.0.10.in-addr.arpa.", "PTR"),
        ["vm1.lab.example.com."]
    );

    // DELETE releases the addresses and removes their records.
    client
        .delete(
            IPS,
            &[("zone", "z1"), ("mac", &mac(1)), ("ip", "10.0.0.20")],
        )
        .ok();
    client
        .delete(IPS, &[("zone", "z1"), ("mac", &mac(1)), ("ip", "fd00::10")])
        .ok();
    client
        .delete(
            IPS,
            &[("zone", "z1"), ("mac", &mac(3)), ("ip", "10.0.0.60")],
        )
        .ok();
    assert_eq!(fake.rrsets(), GATEWAY);
    assert!(ipam(&client).is_empty(), "{:?}", ipam(&client));

    // The gateway's records follow its name (the subnet's dnszoneprefix) and the gateway
    // when the subnet changes, and go with the subnet.
    client.put(&subnet, &[("dnszoneprefix", "dc")]).ok();
    assert!(fake
        .contents("example.com", "v1-gw.lab.example.com.", "A")
        .is_empty());
    assert_eq!(
        fake.contents("example.com", "v1-gw.dc.example.com.", "A"),
        ["10.0.0.1"]
    );
    assert_eq!(
        fake.contents(V4_REVERSE, "1.0.0.10.in-addr.arpa.", "PTR"),
        ["v1-gw.dc.example.com."]
    );
    client.put(&subnet, &[("gateway", "10.0.0.254")]).ok();
    assert_eq!(
        fake.contents("example.com", "v1-gw.dc.example.com.", "A"),
        ["10.0.0.254"]
    );
    assert!(fake
        .contents(V4_REVERSE, "1.0.0.10.in-addr.arpa.", "PTR")
        .is_empty());
    assert_eq!(
        fake.contents(V4_REVERSE, "254.0.0.10.in-addr.arpa.", "PTR"),
        ["v1-gw.dc.example.com."]
    );
    client.delete(&subnet, &[]).ok();
    assert!(fake.rrsets().is_empty(), "{:?}", fake.rrsets());
}

#[test]
fn a_failing_powerdns_leaves_nothing_allocated() {
    let fake = FakePowerDns::start(&["example.com", V4_REVERSE, V6_REVERSE]);
    let (_dir, _server, client) = setup(&fake);

    // The reverse zone is missing: refused before the IPAM is touched.
    let reverse = V4_REVERSE.trim_end_matches('.').to_string();
    let saved = fake.state.lock().unwrap().zones.remove(&reverse).unwrap();
    let refused = client
        .post(
            IPS,
            &[
                ("zone", "z1"),
                ("mac", &mac(1)),
                ("ip", "10.0.0.50"),
                ("hostname", "vm1"),
            ],
        )
        .expect(409);
    let message = refused.message();
    assert!(
        message.contains("PowerDNS 'pdns'") && message.contains("can't read zone 10.in-addr.arpa."),
        "{message}"
    );
    assert!(ipam(&client).is_empty());
    // Nor is a subnet whose gateway's PTR record can't be registered: nothing written.
    let refused = client
        .post(
            &format!("{SDN}/vnets/v1/subnets"),
            &[
                ("subnet", "10.1.0.0/24"),
                ("type", "subnet"),
                ("gateway", "10.1.0.1"),
            ],
        )
        .expect(409);
    assert!(
        refused
            .message()
            .contains("can't read zone 10.in-addr.arpa."),
        "{}",
        refused.message()
    );
    client
        .get(&format!("{SDN}/vnets/v1/subnets/z1-10.1.0.0-24"), &[])
        .expect(404);
    fake.state
        .lock()
        .unwrap()
        .zones
        .insert(reverse.clone(), saved);
    assert_eq!(fake.rrsets(), GATEWAY);

    // PowerDNS refuses the PTR record after the address was allocated: the A record is taken
    // back, the addresses released again, and the error says so.
    fake.state.lock().unwrap().refuse_patch = Some(V4_REVERSE.trim_end_matches('.').into());
    let refused = client
        .post(
            IPS,
            &[("zone", "z1"), ("mac", &mac(1)), ("hostname", "vm1")],
        )
        .expect(409);
    let message = refused.message();
    assert!(
        message.contains("PowerDNS 'pdns'")
            && message.contains("the zone is read-only")
            && message.contains("released again"),
        "{message}"
    );
    assert!(ipam(&client).is_empty(), "{:?}", ipam(&client));
    assert_eq!(fake.rrsets(), GATEWAY);
    let refused = client
        .post(
            IPS,
            &[
                ("zone", "z1"),
                ("mac", &mac(1)),
                ("ip", "10.0.0.50"),
                ("hostname", "vm1"),
            ],
        )
        .expect(409);
    assert!(
        refused.message().contains("released again"),
        "{}",
        refused.message()
    );
    assert!(ipam(&client).is_empty());
    fake.state.lock().unwrap().refuse_patch = None;
    // The released address is the one the next allocation gets.
    assert_eq!(
        client
            .post(
                IPS,
                &[("zone", "z1"), ("mac", &mac(1)), ("hostname", "vm1")]
            )
            .ok(),
        json!({"ip": "10.0.0.10", "ip6": "fd00::10"})
    );
    // The IPAM keeps the hostname with the subnet's dnszoneprefix, as the reference's
    // Subnets.pm hands it over (the IPv6 subnet has none).
    assert_eq!(
        ipam(&client),
        [
            format!("10.0.0.10 {} vm1.lab", mac(1)),
            format!("fd00::10 {} vm1", mac(1))
        ]
    );

    // A move whose new PTR record PowerDNS refuses: the mapping goes back, with its A record.
    fake.state.lock().unwrap().refuse_patch = Some(reverse.clone());
    let refused = client
        .put(
            IPS,
            &[("zone", "z1"), ("mac", &mac(1)), ("ip", "10.0.0.30")],
        )
        .expect(409);
    assert!(
        refused
            .message()
            .contains("the mapping is back on 10.0.0.10"),
        "{}",
        refused.message()
    );
    fake.state.lock().unwrap().refuse_patch = None;
    assert_eq!(
        ipam(&client),
        [
            format!("10.0.0.10 {} vm1.lab", mac(1)),
            format!("fd00::10 {} vm1", mac(1))
        ]
    );
    assert_eq!(
        fake.contents("example.com", "vm1.lab.example.com.", "A"),
        ["10.0.0.10"]
    );

    // Garbage for an answer: a 503 naming PowerDNS, nothing allocated.
    fake.garbage.store(true, Ordering::SeqCst);
    let garbage = client
        .post(
            IPS,
            &[("zone", "z1"), ("mac", &mac(2)), ("hostname", "vm2")],
        )
        .expect(503);
    assert!(
        garbage.message().contains("PowerDNS 'pdns'") && !garbage.message().contains(API_KEY),
        "{}",
        garbage.message()
    );
    let garbage = client
        .post(
            IPS,
            &[
                ("zone", "z1"),
                ("mac", &mac(2)),
                ("ip", "10.0.0.51"),
                ("hostname", "vm2"),
            ],
        )
        .expect(503);
    assert!(
        garbage.message().contains("PowerDNS 'pdns'"),
        "{}",
        garbage.message()
    );
    // A release needs the zones verified first, as in the reference: refused, the address kept.
    client
        .delete(
            IPS,
            &[("zone", "z1"), ("mac", &mac(1)), ("ip", "10.0.0.10")],
        )
        .expect(503);
    fake.garbage.store(false, Ordering::SeqCst);
    assert_eq!(ipam(&client).len(), 2);

    // A url nothing listens at is refused when it is given (the reference's
    // `on_update_hook`), naming the url and the object, without the key; the former is kept.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let down_url = format!(
        "http://127.0.0.1:{}{BASE}",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let refused = client
        .put(&format!("{SDN}/dns/pdns"), &[("url", &down_url)])
        .expect(400);
    let said = refused.body["errors"]["url"].as_str().unwrap_or_default().to_string();
    assert!(
        said.starts_with(&format!("can't connect to PowerDNS API at {down_url}: PowerDNS 'pdns'"))
            && !refused.body.to_string().contains(API_KEY),
        "{}",
        refused.body
    );
    assert_eq!(client.get(&format!("{SDN}/dns/pdns"), &[]).ok()["url"], fake.url());
    // A key PowerDNS refuses: the key named, never shown.
    let refused = client
        .put(&format!("{SDN}/dns/pdns"), &[("key", "secret-wrong-key")])
        .expect(400);
    let said = refused.body["errors"]["key"].as_str().unwrap_or_default().to_string();
    assert!(
        said.contains("PowerDNS 'pdns' (GET ): invalid response from server: 401")
            && !refused.body.to_string().contains("secret-wrong-key"),
        "{}",
        refused.body
    );

    // PowerDNS down once the url was accepted: a 503 naming it, nothing allocated, no key.
    let going = FakePowerDns::start(&["example.com", V4_REVERSE]);
    going.state.lock().unwrap().key = API_KEY.to_string();
    client
        .put(&format!("{SDN}/dns/pdns"), &[("url", &going.url())])
        .ok();
    drop(going);
    let down = client
        .post(
            IPS,
            &[("zone", "z1"), ("mac", &mac(2)), ("hostname", "vm2")],
        )
        .expect(503);
    assert!(
        down.message().contains("PowerDNS 'pdns'") && !down.message().contains(API_KEY),
        "{}",
        down.message()
    );
    assert_eq!(ipam(&client).len(), 2);
    // Without a hostname the address is the IPAM's alone, and works with PowerDNS down.
    client
        .post(
            IPS,
            &[("zone", "z1"), ("mac", &mac(2)), ("ip", "10.0.0.51")],
        )
        .ok();
    assert_eq!(ipam(&client).len(), 3);
}

#[test]
fn a_netbox_zone_with_powerdns() {
    let fake = FakePowerDns::start(&["example.com", V4_REVERSE]);
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let client = server.client("dns");
    let netbox_url = format!("http://127.0.0.1:{}/netbox", fake.port);
    client
        .post(
            &format!("{SDN}/ipams"),
            &[
                ("ipam", "nb"),
                ("type", "netbox"),
                ("url", &netbox_url),
                ("token", "nb-token"),
            ],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/dns"),
            &[
                ("dns", "pdns"),
                ("type", "powerdns"),
                ("url", &fake.url()),
                ("key", KEY),
                ("ttl", "600"),
            ],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/zones"),
            &[
                ("zone", "z1"),
                ("type", "simple"),
                ("ipam", "nb"),
                ("dns", "pdns"),
                ("reversedns", "pdns"),
                ("dnszone", "example.com"),
            ],
        )
        .ok();
    client
        .post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1")])
        .ok();
    client
        .post(
            &format!("{SDN}/vnets/v1/subnets"),
            &[
                ("subnet", "10.0.0.0/24"),
                ("type", "subnet"),
                ("gateway", "10.0.0.1"),
                (
                    "dhcp-range",
                    "start-address=10.0.0.10,end-address=10.0.0.12",
                ),
            ],
        )
        .ok();
    apply(&client);
    assert_eq!(
        fake.contents("example.com", "v1-gw.example.com.", "A"),
        ["10.0.0.1"]
    );
    let netbox_ips = |fake: &FakePowerDns| -> Vec<String> {
        let state = fake.state.lock().unwrap();
        let mut ips: Vec<String> = state
            .netbox
            .ips
            .iter()
            .map(|(_, a, _, dns)| format!("{a} {dns}"))
            .collect();
        ips.sort();
        ips
    };

    // Allocated in NetBox with its DNS name, and registered in PowerDNS with the object's TTL.
    assert_eq!(
        client
            .post(
                IPS,
                &[("zone", "z1"), ("mac", &mac(1)), ("hostname", "vm1")]
            )
            .ok(),
        json!({"ip": "10.0.0.10"})
    );
    assert_eq!(netbox_ips(&fake), ["10.0.0.1/24 v1-gw", "10.0.0.10/24 vm1"]);
    assert_eq!(
        fake.contents("example.com", "vm1.example.com.", "A"),
        ["10.0.0.10"]
    );
    assert_eq!(
        fake.contents(V4_REVERSE, "10.0.0.10.in-addr.arpa.", "PTR"),
        ["vm1.example.com."]
    );
    let patch = fake
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&patch.body).unwrap()["rrsets"][0]["ttl"],
        json!("600")
    );

    // PowerDNS refusing the PTR record: the address goes back to NetBox's free ones.
    fake.state.lock().unwrap().refuse_patch = Some(V4_REVERSE.trim_end_matches('.').into());
    let refused = client
        .post(
            IPS,
            &[("zone", "z1"), ("mac", &mac(2)), ("hostname", "vm2")],
        )
        .expect(409);
    assert!(
        refused.message().contains("PowerDNS 'pdns'")
            && refused.message().contains("10.0.0.11 was released again"),
        "{}",
        refused.message()
    );
    assert_eq!(netbox_ips(&fake), ["10.0.0.1/24 v1-gw", "10.0.0.10/24 vm1"]);
    assert!(fake
        .contents("example.com", "vm2.example.com.", "A")
        .is_empty());
    fake.state.lock().unwrap().refuse_patch = None;

    // The release takes the hostname NetBox has for the address, and its records go.
    client
        .delete(
            IPS,
            &[("zone", "z1"), ("mac", &mac(1)), ("ip", "10.0.0.10")],
        )
        .ok();
    assert_eq!(netbox_ips(&fake), ["10.0.0.1/24 v1-gw"]);
    assert!(fake
        .contents("example.com", "vm1.example.com.", "A")
        .is_empty());
    assert!(fake
        .contents(V4_REVERSE, "10.0.0.10.in-addr.arpa.", "PTR")
        .is_empty());

    // A move in NetBox: the former address's records go (its mapping loses the hostname, as
    // in the reference, so the new address has none to register).
    assert_eq!(
        client
            .post(
                IPS,
                &[("zone", "z1"), ("mac", &mac(3)), ("hostname", "vm3")]
            )
            .ok(),
        json!({"ip": "10.0.0.10"})
    );
    assert_eq!(
        fake.contents("example.com", "vm3.example.com.", "A"),
        ["10.0.0.10"]
    );
    client
        .put(
            IPS,
            &[("zone", "z1"), ("mac", &mac(3)), ("ip", "10.0.0.50")],
        )
        .ok();
    assert_eq!(netbox_ips(&fake), ["10.0.0.1/24 v1-gw", "10.0.0.50/24 "]);
    assert!(fake
        .contents("example.com", "vm3.example.com.", "A")
        .is_empty());
    assert!(fake
        .contents(V4_REVERSE, "10.0.0.10.in-addr.arpa.", "PTR")
        .is_empty());

    // The SDN lock held by someone else: a subnet change is refused before PowerDNS is asked.
    client
        .post(&format!("{SDN}/lock"), &[("allow-pending", "1")])
        .ok();
    fake.clear();
    client
        .put(
            &format!("{SDN}/vnets/v1/subnets/z1-10.0.0.0-24"),
            &[("gateway", "10.0.0.254")],
        )
        .expect_not(200);
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(
        fake.contents("example.com", "v1-gw.example.com.", "A"),
        ["10.0.0.1"]
    );
}

#[test]
fn a_hanging_powerdns_is_cut_off_at_the_timeout() {
    sdnd::ipam::http::set_timeout(Duration::from_secs(1));
    let fake = FakePowerDns::start(&["example.com", V4_REVERSE, V6_REVERSE]);
    let (_dir, _server, client) = setup(&fake);
    fake.hanging.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let hung = client
        .post(
            IPS,
            &[("zone", "z1"), ("mac", &mac(1)), ("hostname", "vm1")],
        )
        .expect(503);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        hung.message().contains("PowerDNS 'pdns'") && hung.message().contains("timed out"),
        "{}",
        hung.message()
    );
    assert!(ipam(&client).is_empty());
}
