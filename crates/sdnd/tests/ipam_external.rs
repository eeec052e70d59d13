//! The external IPAMs. NetBox: the HTTP calls of the reference's `NetboxPlugin.pm` (checked
//! against the requests its tests record, `tests/ipam-expected/netbox/`), and over the API a NetBox
//! zone's subnets registered and released with their gateway and DHCP ranges, addresses
//! mapped, moved, deleted and allocated from the ranges, NetBox's refusals and failures
//! answered as clear errors naming it, a NetBox that hangs cut off at the timeout, and a
//! configuration write that fails taking the IPAM's change back.
//!
//! phpIPAM: the calls of `PhpIpamPlugin.pm` (`tests/ipam-expected/phpipam/`), and a zone
//! with it over the API.
//!
//! Each IPAM is played by a small HTTP server of the test's own on a loopback port, keeping
//! prefixes, IP ranges and addresses as NetBox does and recording every request.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::http_stub;
use common::recorded::{self, assert_same, Request};
use common::{Client, InProcess};
use serde_json::{json, Value};

const SDN: &str = "/api2/json/cluster/sdn";
const IPS: &str = "/api2/json/cluster/sdn/vnets/v1/ips";
const TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Default)]
struct State {
    next_id: u64,
    prefixes: Vec<(u64, String)>,
    ranges: Vec<(u64, Ipv4Addr, Ipv4Addr)>,
    /// id, address (with its mask), description, dns name.
    ips: Vec<(u64, String, Value, Option<String>)>,
    requests: Vec<Request>,
}

type Handler = fn(&mut State, &str, &str, &str) -> (u16, Value);

struct FakeNetBox {
    port: u16,
    /// Serves HTTPS.
    tls: bool,
    state: Arc<Mutex<State>>,
    /// Answer every call with a 500.
    failing: Arc<AtomicBool>,
    /// Never answer.
    hanging: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl FakeNetBox {
    fn start() -> FakeNetBox {
        Self::start_with(handle, &format!("token {TOKEN}"))
    }

    fn start_with(handler: Handler, credential: &str) -> FakeNetBox {
        Self::start_serving(handler, credential, None)
    }

    /// NetBox over HTTPS with this certificate and key (`url` then says `https`).
    fn start_tls(identity: Arc<rustls::ServerConfig>) -> FakeNetBox {
        Self::start_serving(handle, &format!("token {TOKEN}"), Some(identity))
    }

    fn start_serving(handler: Handler, credential: &str, tls: Option<Arc<rustls::ServerConfig>>) -> FakeNetBox {
        let credential = credential.to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let fake = FakeNetBox {
            port,
            tls: tls.is_some(),
            state: Arc::default(),
            failing: Arc::default(),
            hanging: Arc::default(),
            stop: Arc::default(),
        };
        let (state, failing, hanging, stop) = (
            fake.state.clone(),
            fake.failing.clone(),
            fake.hanging.clone(),
            fake.stop.clone(),
        );
        http_stub::accept_until(listener, stop, move |stream| match tls.clone() {
            None => serve(stream, &state, &failing, &hanging, handler, &credential),
            Some(config) => {
                let connection = rustls::ServerConnection::new(config).unwrap();
                serve(rustls::StreamOwned::new(connection, stream), &state, &failing, &hanging, handler, &credential)
            }
        });
        fake
    }

    fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/api", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    fn clear(&self) {
        self.state.lock().unwrap().requests.clear();
    }

    fn ips(&self) -> Vec<(String, Value, Option<String>)> {
        let mut ips: Vec<_> = self
            .state
            .lock()
            .unwrap()
            .ips
            .iter()
            .map(|(_, a, d, n)| (a.clone(), d.clone(), n.clone()))
            .collect();
        ips.sort_by(|a, b| a.0.cmp(&b.0));
        ips
    }

    fn prefixes(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .prefixes
            .iter()
            .map(|(_, p)| p.clone())
            .collect()
    }

    fn ranges(&self) -> usize {
        self.state.lock().unwrap().ranges.len()
    }
}

impl Drop for FakeNetBox {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        http_stub::wake(self.port);
    }
}

fn serve(stream: impl Read + Write, state: &Mutex<State>, failing: &AtomicBool, hanging: &AtomicBool, handler: Handler, credential: &str) {
    let mut reader = BufReader::new(stream);
    while let Some(request) = http_stub::read_request(&mut reader) {
        if hanging.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_secs(15));
            return;
        }
        let path = request.target.strip_prefix("/api").unwrap_or(&request.target).to_string();
        // NetBox's `Authorization: token T`, phpIPAM's `token: T`.
        let authorization = match request.header("authorization") {
            "" => request.header("token"),
            given => given,
        }
        .to_string();
        let (status, answer) = {
            let mut state = state.lock().unwrap();
            state.requests.push(Request {
                method: request.method.clone(),
                path: path.clone(),
                body: request.body.clone(),
                credential: authorization.clone(),
                content_type: request.header("content-type").to_string(),
            });
            if failing.load(Ordering::SeqCst) {
                (500, json!({"detail": "the database is down"}))
            } else if authorization != credential {
                (403, json!({"detail": "Invalid token"}))
            } else {
                handler(&mut state, &request.method, &path, &request.body)
            }
        };
        if !http_stub::write_response(reader.get_mut(), status, &answer.to_string()) {
            return;
        }
    }
}

fn query<'a>(path: &'a str, name: &str) -> Option<&'a str> {
    path.split_once('?')?
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

fn cidr(text: &str) -> (u32, u32) {
    let (addr, len) = text.split_once('/').unwrap();
    let len: u32 = len.parse().unwrap();
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    (u32::from(addr.parse::<Ipv4Addr>().unwrap()) & mask, mask)
}

fn ip_json(id: u64, address: &str, description: &Value, dns: &Option<String>) -> Value {
    json!({"id": id, "address": address, "description": description, "dns_name": dns.clone().unwrap_or_default(), "family": {"value": 4}})
}

/// NetBox's API, as far as the plugin uses it.
fn handle(state: &mut State, method: &str, path: &str, body: &str) -> (u16, Value) {
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap()
    };
    let base = path.split('?').next().unwrap();
    let segments: Vec<&str> = base.trim_matches('/').split('/').collect();
    let results = |list: Vec<Value>| (200, json!({"count": list.len(), "results": list}));
    match (method, segments.as_slice()) {
        // The check before a NetBox IPAM is written (`verify_api`).
        ("GET", ["ipam", "aggregates"]) => results(Vec::new()),
        ("GET", ["ipam", "prefixes"]) => {
            let q = query(path, "q").unwrap_or("");
            results(
                state
                    .prefixes
                    .iter()
                    .filter(|(_, p)| p.starts_with(&format!("{q}/")))
                    .map(|(id, p)| json!({"id": id, "prefix": p}))
                    .collect(),
            )
        }
        ("POST", ["ipam", "prefixes"]) => {
            let prefix = body["prefix"].as_str().unwrap().to_string();
            if state.prefixes.iter().any(|(_, p)| *p == prefix) {
                return (400, json!({"prefix": ["duplicate prefix"]}));
            }
            state.next_id += 1;
            let id = state.next_id;
            state.prefixes.push((id, prefix.clone()));
            (201, json!({"id": id, "prefix": prefix}))
        }
        ("DELETE", ["ipam", "prefixes", id]) => {
            let before = state.prefixes.len();
            state.prefixes.retain(|(i, _)| i.to_string() != *id);
            if before == state.prefixes.len() {
                (404, json!({"detail": "Not found."}))
            } else {
                (204, Value::Null)
            }
        }
        ("GET", ["ipam", "ip-ranges"]) => {
            let (start, end) = (
                query(path, "start_address").unwrap_or(""),
                query(path, "end_address").unwrap_or(""),
            );
            results(
                state
                    .ranges
                    .iter()
                    .filter(|(_, s, e)| s.to_string() == start && e.to_string() == end)
                    .map(|(id, _, _)| json!({"id": id}))
                    .collect(),
            )
        }
        ("POST", ["ipam", "ip-ranges"]) => {
            state.next_id += 1;
            let id = state.next_id;
            let start = body["start_address"].as_str().unwrap().parse().unwrap();
            let end = body["end_address"].as_str().unwrap().parse().unwrap();
            state.ranges.push((id, start, end));
            (201, json!({"id": id}))
        }
        ("DELETE", ["ipam", "ip-ranges", id]) => {
            state.ranges.retain(|(i, _, _)| i.to_string() != *id);
            (204, Value::Null)
        }
        ("POST", ["ipam", kind @ ("prefixes" | "ip-ranges"), id, "available-ips"]) => {
            let (first, last, mask) = if *kind == "prefixes" {
                let Some((_, prefix)) = state.prefixes.iter().find(|(i, _)| i.to_string() == *id)
                else {
                    return (404, json!({"detail": "Not found."}));
                };
                let (network, mask) = cidr(prefix);
                (network + 1, (network | !mask) - 1, mask)
            } else {
                let Some((_, start, end)) =
                    state.ranges.iter().find(|(i, _, _)| i.to_string() == *id)
                else {
                    return (404, json!({"detail": "Not found."}));
                };
                let mask = state
                    .prefixes
                    .iter()
                    .map(|(_, p)| cidr(p))
                    .find(|(n, m)| u32::from(*start) & m == *n)
                    .map_or(u32::MAX << 8, |(_, m)| m);
                (u32::from(*start), u32::from(*end), mask)
            };
            let len = mask.count_ones();
            let used = |a: u32| {
                state.ips.iter().any(|(_, addr, _, _)| {
                    addr.split('/').next() == Some(&Ipv4Addr::from(a).to_string())
                })
            };
            let Some(free) = (first..=last).find(|a| !used(*a)) else {
                return (
                    409,
                    json!({"detail": "Insufficient space is available to accommodate the requested number of IPs"}),
                );
            };
            state.next_id += 1;
            let id = state.next_id;
            let address = format!("{}/{len}", Ipv4Addr::from(free));
            let dns = body["dns_name"].as_str().map(str::to_string);
            state.ips.push((
                id,
                address.clone(),
                body["description"].clone(),
                dns.clone(),
            ));
            (201, ip_json(id, &address, &body["description"], &dns))
        }
        ("GET", ["ipam", "ip-addresses"]) => {
            let list = state.ips.iter().filter(|(_, address, description, _)| {
                if let Some(q) = query(path, "q") {
                    address.starts_with(&format!("{q}/"))
                } else if let Some(mac) = query(path, "description__ic") {
                    description
                        .as_str()
                        .is_some_and(|d| d.to_lowercase().contains(&mac.to_lowercase()))
                } else if let Some(parent) = query(path, "parent") {
                    let (network, mask) = cidr(parent);
                    u32::from(
                        address
                            .split('/')
                            .next()
                            .unwrap()
                            .parse::<Ipv4Addr>()
                            .unwrap(),
                    ) & mask
                        == network
                } else {
                    true
                }
            });
            results(list.map(|(id, a, d, n)| ip_json(*id, a, d, n)).collect())
        }
        ("POST", ["ipam", "ip-addresses"]) => {
            let address = body["address"].as_str().unwrap().to_string();
            if state.ips.iter().any(|(_, a, _, _)| *a == address) {
                return (
                    400,
                    json!({"address": [format!("Duplicate IP address found in global table: {address}")]}),
                );
            }
            state.next_id += 1;
            let id = state.next_id;
            let dns = body["dns_name"].as_str().map(str::to_string);
            state.ips.push((
                id,
                address.clone(),
                body["description"].clone(),
                dns.clone(),
            ));
            (201, ip_json(id, &address, &body["description"], &dns))
        }
        ("PATCH", ["ipam", "ip-addresses", id]) => {
            let Some(entry) = state
                .ips
                .iter_mut()
                .find(|(i, _, _, _)| i.to_string() == *id)
            else {
                return (404, json!({"detail": "Not found."}));
            };
            entry.1 = body["address"].as_str().unwrap().to_string();
            entry.2 = body["description"].clone();
            entry.3 = body["dns_name"].as_str().map(str::to_string);
            let (i, a, d, n) = entry.clone();
            (200, ip_json(i, &a, &d, &n))
        }
        ("DELETE", ["ipam", "ip-addresses", id]) => {
            let before = state.ips.len();
            state.ips.retain(|(i, _, _, _)| i.to_string() != *id);
            if before == state.ips.len() {
                (404, json!({"detail": "Not found."}))
            } else {
                (204, Value::Null)
            }
        }
        _ => (404, json!({"detail": format!("no route {method} {path}")})),
    }
}

/// The request a reference test recorded: method, path after the IPAM's url, body, headers.
fn expected(name: &str) -> Request {
    expected_of("netbox", "http://localhost:8000/api", "authorization", name)
}

fn expected_of(plugin: &str, url: &str, auth: &str, name: &str) -> Request {
    recorded::expected(&format!("ipam-expected/{plugin}/expected.{name}"), url, auth)
}

fn netbox_config(url: &str) -> sdn_config::SdnObject {
    ipam_config(json!({"ipam": "netbox", "type": "netbox", "url": url, "token": TOKEN}))
}

fn ipam_config(params: Value) -> sdn_config::SdnObject {
    let config = sdn_config::Config::default();
    config
        .plan_create(sdn_config::Kind::Ipams, params.as_object().unwrap())
        .unwrap()
        .object
        .unwrap()
}

#[test]
fn the_plugin_sends_the_references_requests() {
    let fake = FakeNetBox::start();
    let netbox = sdnd::ipam::netbox::NetBox::from_config(&netbox_config(&fake.url())).unwrap();
    let cidr: sdn_config::Cidr = "10.0.0.0/24".parse().unwrap();
    let ip = "10.0.0.1".parse().unwrap();
    let mac = "da:65:8f:18:9b:6f";

    netbox.add_subnet(&cidr, &[]).unwrap();
    let requests = fake.requests();
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("GET", "/ipam/prefixes/?q=10.0.0.0")
    );
    assert_same(requests.last().unwrap(), &expected("add_subnet"));
    assert_eq!(fake.prefixes(), ["10.0.0.0/24"]);
    // The prefix exists now: refused, naming it.
    let err = netbox.add_subnet(&cidr, &[]).unwrap_err();
    assert!(
        err.to_string()
            .contains("prefix 10.0.0.0/24 already exists in netbox"),
        "{err}"
    );

    fake.clear();
    netbox
        .add_ip(&cidr, ip, Some("myhostname"), None, true)
        .unwrap();
    assert_same(&fake.requests()[0], &expected("add_ip"));
    // The gateway again: NetBox refuses the duplicate, but it is the gateway already.
    netbox
        .add_ip(&cidr, ip, Some("myhostname"), None, true)
        .unwrap();

    fake.clear();
    netbox
        .update_ip(&cidr, ip, Some("myhostname"), Some(mac), true)
        .unwrap();
    let requests = fake.requests();
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("GET", "/ipam/ip-addresses/?q=10.0.0.1")
    );
    // The fake numbers objects from 1 in creation order: the prefix is 1, the address 2.
    let mut want = expected("update_ip");
    want.path = want.path.replace("/1/", "/2/");
    assert_same(&requests[1], &want);

    fake.clear();
    netbox.del_ip(ip).unwrap();
    let mut want = expected("del_ip");
    want.path = want.path.replace("/1/", "/2/");
    assert_same(&fake.requests()[1], &want);
    assert!(fake.ips().is_empty());
    let err = netbox.del_ip(ip).unwrap_err();
    assert!(matches!(err, sdnd::Error::NotFound(_)), "{err:?}");

    fake.clear();
    netbox
        .add_ip(&cidr, ip, Some("myhostname"), Some(mac), false)
        .unwrap();
    assert_same(&fake.requests()[0], &expected("add_ip_notgateway"));
    // A duplicate that isn't a gateway: NetBox's refusal, named.
    let err = netbox
        .add_ip(&cidr, ip, None, Some(mac), false)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, sdnd::Error::Conflict(_))
            && text.contains("NetBox")
            && text.contains("Duplicate IP address"),
        "{text}"
    );
    assert!(!text.contains(TOKEN));

    fake.clear();
    assert_eq!(
        netbox
            .add_next_freeip(&cidr, Some("myhostname"), Some(mac))
            .unwrap(),
        "10.0.0.2".parse::<std::net::IpAddr>().unwrap()
    );
    assert_same(&fake.requests()[1], &expected("add_next_freeip"));
    assert_eq!(netbox.ips_from_mac(mac).unwrap(), (Some(ip), None));
}

fn apply(client: &Client) {
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
}

fn mac(n: usize) -> String {
    format!("bc:24:11:00:00:{n:02x}")
}

#[test]
fn a_netbox_zone_over_the_api() {
    let fake = FakeNetBox::start();
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let client = server.client("nb");
    client
        .post(
            &format!("{SDN}/ipams"),
            &[
                ("ipam", "nb"),
                ("type", "netbox"),
                ("url", &fake.url()),
                ("token", TOKEN),
            ],
        )
        .ok();
    // Checked with NetBox before it was written, as the reference's `verify_api`.
    let checked: Vec<(String, String, String)> = fake
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path, r.credential))
        .collect();
    assert_eq!(
        checked,
        [("GET".to_string(), "/ipam/aggregates/".to_string(), format!("token {TOKEN}"))]
    );
    fake.clear();
    client
        .post(
            &format!("{SDN}/zones"),
            &[("zone", "z1"), ("type", "simple"), ("ipam", "nb")],
        )
        .ok();
    client
        .post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1")])
        .ok();

    // The subnet, its range and its gateway are registered in NetBox with the subnet.
    let range = "start-address=10.0.0.10,end-address=10.0.0.11";
    client
        .post(
            &format!("{SDN}/vnets/v1/subnets"),
            &[
                ("subnet", "10.0.0.0/24"),
                ("type", "subnet"),
                ("gateway", "10.0.0.1"),
                ("dhcp-range", range),
            ],
        )
        .ok();
    let calls: Vec<(String, String)> = fake
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET", "/ipam/prefixes/?q=10.0.0.0"),
            ("POST", "/ipam/prefixes/"),
            ("POST", "/ipam/ip-ranges/"),
            ("POST", "/ipam/ip-addresses/"),
        ]
        .map(|(m, p)| (m.to_string(), p.to_string()))
    );
    assert_same(&fake.requests()[1], &expected("add_subnet"));
    // The gateway with the hostname the reference's subnet hook gives it (`VNET-gw`).
    assert_eq!(
        fake.ips(),
        [("10.0.0.1/24".to_string(), json!("gateway"), Some("v1-gw".to_string()))]
    );

    // A change of the subnet follows its gateway and ranges there (old range deleted first).
    let subnet_path = format!("{SDN}/vnets/v1/subnets/z1-10.0.0.0-24");
    fake.clear();
    client.put(&subnet_path, &[("gateway", "10.0.0.254"), ("dhcp-range", "start-address=10.0.0.20,end-address=10.0.0.21")]).ok();
    assert_eq!(fake.ips(), [("10.0.0.254/24".to_string(), json!("gateway"), Some("v1-gw".to_string()))]);
    assert_eq!(fake.state.lock().unwrap().ranges.iter().map(|r| (r.1.to_string(), r.2.to_string())).collect::<Vec<_>>(), [("10.0.0.20".to_string(), "10.0.0.21".to_string())]);
    let calls: Vec<String> = fake.requests().into_iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    let deleted = calls.iter().position(|c| c.starts_with("DELETE /ipam/ip-ranges/")).expect("the old range deleted");
    let added = calls.iter().position(|c| c == "POST /ipam/ip-ranges/").expect("the new range added");
    assert!(deleted < added, "{calls:?}");
    client.put(&subnet_path, &[("gateway", "10.0.0.1"), ("dhcp-range", range)]).ok();
    assert_eq!(fake.ips(), [("10.0.0.1/24".to_string(), json!("gateway"), Some("v1-gw".to_string()))]);
    // A dnszoneprefix: the hostnames NetBox gets carry it, as the reference's Subnets.pm hands
    // them over; the gateway, unchanged, is not registered again (as the reference's hook).
    client.put(&subnet_path, &[("dnszoneprefix", "lab")]).ok();
    assert_eq!(fake.ips(), [("10.0.0.1/24".to_string(), json!("gateway"), Some("v1-gw".to_string()))]);
    apply(&client);

    // Allocation from the range; the same MAC keeps its address; a full range: NetBox's 409.
    let allocate = |n: usize| {
        client.post(
            IPS,
            &[
                ("zone", "z1"),
                ("mac", &mac(n)),
                ("hostname", &format!("vm{n}")),
            ],
        )
    };
    assert_eq!(allocate(1).ok(), json!({"ip": "10.0.0.10"}));
    assert_eq!(allocate(1).ok(), json!({"ip": "10.0.0.10"}));
    assert_eq!(allocate(2).ok(), json!({"ip": "10.0.0.11"}));
    let full = allocate(3).expect(409);
    assert!(
        full.message().contains("NetBox") && full.message().contains("Insufficient space"),
        "{}",
        full.message()
    );
    assert!(fake.ips().contains(&(
        "10.0.0.10/24".to_string(),
        json!(format!("mac:{}", mac(1))),
        Some("vm1.lab".to_string())
    )), "{:?}", fake.ips());

    // A mapping with an address; a duplicate; one outside the vnet's subnets (nothing asked).
    client
        .post(
            IPS,
            &[("zone", "z1"), ("mac", &mac(4)), ("ip", "10.0.0.50")],
        )
        .ok();
    let duplicate = client
        .post(
            IPS,
            &[("zone", "z1"), ("mac", &mac(5)), ("ip", "10.0.0.50")],
        )
        .expect(409);
    assert!(
        duplicate.message().contains("NetBox"),
        "{}",
        duplicate.message()
    );
    fake.clear();
    client
        .post(IPS, &[("zone", "z1"), ("mac", &mac(5)), ("ip", "10.9.0.5")])
        .expect(400);
    assert!(fake.requests().is_empty());

    // PUT moves the MAC's address; DELETE releases it; an unknown address: 404.
    client
        .put(
            IPS,
            &[("zone", "z1"), ("mac", &mac(4)), ("ip", "10.0.0.51")],
        )
        .ok();
    let ips: Vec<String> = fake.ips().into_iter().map(|(a, _, _)| a).collect();
    assert_eq!(
        ips,
        [
            "10.0.0.1/24",
            "10.0.0.10/24",
            "10.0.0.11/24",
            "10.0.0.51/24"
        ]
    );
    client
        .delete(
            IPS,
            &[("zone", "z1"), ("mac", &mac(4)), ("ip", "10.0.0.51")],
        )
        .ok();
    client
        .delete(
            IPS,
            &[("zone", "z1"), ("mac", &mac(4)), ("ip", "10.0.0.51")],
        )
        .expect(404);

    // The subnet can't go while it holds addresses; then it goes with its gateway and range.
    let subnet = format!("{SDN}/vnets/v1/subnets/z1-10.0.0.0-24");
    let refused = client.delete(&subnet, &[]).expect(409);
    assert!(
        refused.message().contains("still contains entries"),
        "{}",
        refused.message()
    );
    client.get(&subnet, &[]).ok();
    for n in [1, 2] {
        let ip = format!("10.0.0.{}", 9 + n);
        client
            .delete(IPS, &[("zone", "z1"), ("mac", &mac(n)), ("ip", &ip)])
            .ok();
    }
    client.delete(&subnet, &[]).ok();
    assert!(fake.prefixes().is_empty() && fake.ips().is_empty() && fake.ranges() == 0);
    client.get(&subnet, &[]).expect(404);

    // A configuration write that fails (the SDN lock is held) takes NetBox's change back.
    client
        .post(&format!("{SDN}/lock"), &[("allow-pending", "1")])
        .ok();
    client
        .post(
            &format!("{SDN}/vnets/v1/subnets"),
            &[
                ("subnet", "10.2.0.0/24"),
                ("type", "subnet"),
                ("gateway", "10.2.0.1"),
            ],
        )
        .expect_not(200);
    assert!(
        fake.prefixes().is_empty() && fake.ips().is_empty(),
        "{:?} {:?}",
        fake.prefixes(),
        fake.ips()
    );
    client
        .delete(&format!("{SDN}/lock"), &[("force", "1")])
        .ok();

    // NetBox failing: a 503 naming it, and nothing written.
    fake.failing.store(true, Ordering::SeqCst);
    let down = client
        .post(
            &format!("{SDN}/vnets/v1/subnets"),
            &[("subnet", "10.1.0.0/24"), ("type", "subnet")],
        )
        .expect(503);
    assert!(
        down.message().contains("NetBox IPAM 'nb'")
            && down.message().contains("the database is down"),
        "{}",
        down.message()
    );
    assert!(!down.message().contains(TOKEN));
    client
        .get(&format!("{SDN}/vnets/v1/subnets/z1-10.1.0.0-24"), &[])
        .expect(404);
    fake.failing.store(false, Ordering::SeqCst);

    // NetBox hanging: cut off at the timeout.
    client
        .post(
            &format!("{SDN}/vnets/v1/subnets"),
            &[
                ("subnet", "10.3.0.0/24"),
                ("type", "subnet"),
                (
                    "dhcp-range",
                    "start-address=10.3.0.10,end-address=10.3.0.20",
                ),
            ],
        )
        .ok();
    apply(&client);
    // What `sdnd serve --ipam-timeout 1` sets (see the test of the flag below).
    sdnd::ipam::http::set_timeout(Duration::from_secs(1));
    fake.hanging.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let hung = client
        .post(IPS, &[("zone", "z1"), ("mac", &mac(6))])
        .expect(503);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        hung.message().contains("NetBox") && hung.message().contains("timed out"),
        "{}",
        hung.message()
    );
}

const PHP_TOKEN: &str = "JPHkPSLB4O_XL-GQz4qtEFmNpx-99Htw";

/// phpIPAM's API, as far as the plugin uses it: `{code, success, data|id|message}` answers.
fn handle_phpipam(state: &mut State, method: &str, path: &str, body: &str) -> (u16, Value) {
    let body: Value = if body.is_empty() { Value::Null } else { serde_json::from_str(body).unwrap() };
    let path = path.strip_prefix("/apiadmin").unwrap_or(path);
    let segments: Vec<&str> = path.trim_matches('/').splitn(3, '/').collect();
    let not_found = |what: &str| (404, json!({"code": 404, "success": false, "message": format!("No {what} found")}));
    let entry = |(id, address, fields, _): &(u64, String, Value, Option<String>)| {
        let mut e = fields.clone();
        e["id"] = json!(id);
        e["ip"] = json!(address.split('/').next().unwrap());
        e
    };
    let ip_of = |i: &(u64, String, Value, Option<String>)| i.1.split('/').next().unwrap().to_string();
    match (method, segments.as_slice()) {
        // The check before a phpIPAM IPAM is written (`verify_api`): its section.
        ("GET", ["sections", "1"]) => (200, json!({"code": 200, "success": true, "data": {"id": "1", "name": "Customers"}})),
        ("GET", ["sections", _]) => not_found("sections"),
        ("GET", ["subnets", "cidr", cidr]) => match state.prefixes.iter().find(|(_, p)| p == cidr) {
            Some((id, p)) => (200, json!({"code": 200, "success": true, "data": [{"id": id, "subnet": p}]})),
            None => not_found("subnets"),
        },
        ("POST", ["subnets"]) => {
            assert_eq!(body["sectionId"], json!(1));
            state.next_id += 1;
            let id = state.next_id;
            state.prefixes.push((id, format!("{}/{}", body["subnet"].as_str().unwrap(), body["mask"].as_str().unwrap())));
            (201, json!({"code": 201, "success": true, "id": id}))
        }
        ("GET", ["addresses", "search", ip]) => {
            let found: Vec<Value> = state.ips.iter().filter(|i| ip_of(i) == *ip).map(entry).collect();
            if found.is_empty() { not_found("addresses") } else { (200, json!({"code": 200, "success": true, "data": found})) }
        }
        ("GET", ["addresses", "search_mac", mac]) => {
            let found: Vec<Value> = state.ips.iter().filter(|i| i.2["mac"].as_str() == Some(*mac)).map(entry).collect();
            if found.is_empty() { not_found("addresses") } else { (200, json!({"code": 200, "success": true, "data": found})) }
        }
        ("POST", ["addresses"]) => {
            let ip = body["ip"].as_str().unwrap().to_string();
            if state.ips.iter().any(|i| ip_of(i) == ip) {
                return (409, json!({"code": 409, "success": false, "message": "IP address already exists"}));
            }
            let Some((_, prefix)) = state.prefixes.iter().find(|(id, _)| json!(id) == body["subnetId"]).cloned() else { return not_found("subnets") };
            let len = prefix.split('/').nth(1).unwrap().to_string();
            state.next_id += 1;
            let id = state.next_id;
            state.ips.push((id, format!("{ip}/{len}"), body, None));
            (201, json!({"code": 201, "success": true, "id": id}))
        }
        ("POST", ["addresses", "first_free", rest]) => {
            let id = rest.trim_end_matches('/');
            let Some((_, prefix)) = state.prefixes.iter().find(|(i, _)| i.to_string() == id).cloned() else { return not_found("subnets") };
            let (network, mask) = cidr(&prefix);
            let used = |a: u32| state.ips.iter().any(|i| ip_of(i) == Ipv4Addr::from(a).to_string());
            let Some(free) = (network + 1..(network | !mask)).find(|a| !used(*a)) else { return not_found("free addresses") };
            state.next_id += 1;
            let ip_id = state.next_id;
            let ip = Ipv4Addr::from(free).to_string();
            state.ips.push((ip_id, format!("{ip}/{}", mask.count_ones()), body, None));
            (201, json!({"code": 201, "success": true, "data": ip}))
        }
        ("PATCH", ["addresses", id]) => {
            let Some(entry) = state.ips.iter_mut().find(|i| i.0.to_string() == *id) else { return not_found("addresses") };
            for (k, v) in body.as_object().unwrap() {
                entry.2[k] = v.clone();
            }
            (200, json!({"code": 200, "success": true}))
        }
        ("DELETE", ["addresses", id]) => {
            let before = state.ips.len();
            state.ips.retain(|i| i.0.to_string() != *id);
            if before == state.ips.len() { not_found("addresses") } else { (200, json!({"code": 200, "success": true})) }
        }
        _ => (400, json!({"code": 400, "success": false, "message": format!("no route {method} {path}")})),
    }
}

/// A phpIPAM request as the reference recorded it, its path after `.../api/apiadmin`.
fn expected_php(name: &str) -> Request {
    expected_of("phpipam", "https://localhost/api/apiadmin", "token", name)
}

/// A request the fake recorded, its path after `/api/apiadmin`.
fn php_request(fake: &FakeNetBox, n: usize) -> Request {
    let mut r = fake.requests()[n].clone();
    r.path = r.path.trim_start_matches("/apiadmin").to_string();
    r
}

#[test]
fn the_phpipam_plugin_sends_the_references_requests() {
    let fake = FakeNetBox::start_with(handle_phpipam, PHP_TOKEN);
    let url = format!("http://127.0.0.1:{}/api/apiadmin", fake.port);
    let config = ipam_config(json!({"ipam": "phpipam", "type": "phpipam", "url": url, "token": PHP_TOKEN, "section": 1}));
    let php = sdnd::ipam::phpipam::PhpIpam::from_config(&config).unwrap();
    let cidr: sdn_config::Cidr = "10.0.0.0/24".parse().unwrap();
    let ip = "10.0.0.1".parse().unwrap();
    let mac = "da:65:8f:18:9b:6f";

    php.add_subnet(&cidr).unwrap();
    let first = php_request(&fake, 0);
    assert_eq!((first.method.as_str(), first.path.as_str()), ("GET", "/subnets/cidr/10.0.0.0/24"));
    assert_same(&php_request(&fake, 1), &expected_php("add_subnet"));
    // Known already: nothing created.
    fake.clear();
    php.add_subnet(&cidr).unwrap();
    assert_eq!(fake.requests().len(), 1);

    fake.clear();
    php.add_ip(&cidr, ip, Some("myhostname"), Some(mac), Some("mydescription"), true).unwrap();
    assert_same(&php_request(&fake, 1), &expected_php("add_ip"));
    // The gateway again: phpIPAM refuses the duplicate, but it is the gateway already.
    php.add_ip(&cidr, ip, Some("myhostname"), Some(mac), Some("mydescription"), true).unwrap();

    fake.clear();
    php.update_ip(ip, Some("myhostname"), Some(mac), Some("mydescription"), true).unwrap();
    // The fake numbers objects from 1 in creation order: the subnet is 1, the address 2.
    let mut want = expected_php("update_ip");
    want.path = want.path.replace("/1", "/2");
    assert_same(&php_request(&fake, 1), &want);

    fake.clear();
    php.del_ip(ip).unwrap();
    let mut want = expected_php("del_ip");
    want.path = want.path.replace("/1", "/2");
    assert_same(&php_request(&fake, 1), &want);
    assert!(matches!(php.del_ip(ip).unwrap_err(), sdnd::Error::NotFound(_)));

    fake.clear();
    php.add_ip(&cidr, ip, Some("myhostname"), Some(mac), Some("mydescription"), false).unwrap();
    assert_same(&php_request(&fake, 1), &expected_php("add_ip_notgateway"));
    let err = php.add_ip(&cidr, ip, None, Some(mac), None, false).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, sdnd::Error::Conflict(_)) && text.contains("phpIPAM IPAM 'phpipam'") && text.contains("IP address already exists"), "{text}");
    assert!(!text.contains(PHP_TOKEN));

    fake.clear();
    let free = php.add_next_freeip(&cidr, Some("myhostname"), Some(mac), Some("mydescription")).unwrap();
    assert_eq!(free, "10.0.0.2".parse::<std::net::IpAddr>().unwrap());
    assert_same(&php_request(&fake, 1), &expected_php("add_next_freeip"));
    assert_eq!(php.ips_from_mac(mac).unwrap(), (Some(ip), None));
}

#[test]
fn a_phpipam_zone_over_the_api() {
    let fake = FakeNetBox::start_with(handle_phpipam, PHP_TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let client = server.client("php");
    let url = format!("http://127.0.0.1:{}/api/apiadmin", fake.port);
    client.post(&format!("{SDN}/ipams"), &[("ipam", "php"), ("type", "phpipam"), ("url", &url), ("token", PHP_TOKEN), ("section", "1")]).ok();
    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple"), ("ipam", "php")]).ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1")]).ok();
    let range = "start-address=10.0.0.10,end-address=10.0.0.11";
    client.post(&format!("{SDN}/vnets/v1/subnets"), &[("subnet", "10.0.0.0/24"), ("type", "subnet"), ("gateway", "10.0.0.1"), ("dhcp-range", range)]).ok();
    assert_eq!(fake.prefixes(), ["10.0.0.0/24"]);
    let gateway = fake.ips();
    assert_eq!(gateway.len(), 1);
    assert_eq!((gateway[0].0.as_str(), &gateway[0].1["is_gateway"]), ("10.0.0.1/24", &json!(1)));
    apply(&client);

    // phpIPAM has no ranges: the subnet's first free address, as the reference.
    assert_eq!(client.post(IPS, &[("zone", "z1"), ("mac", &mac(1)), ("vmid", "101")]).ok(), json!({"ip": "10.0.0.2"}));
    assert_eq!(client.post(IPS, &[("zone", "z1"), ("mac", &mac(1))]).ok(), json!({"ip": "10.0.0.2"}));
    client.post(IPS, &[("zone", "z1"), ("mac", &mac(2)), ("ip", "10.0.0.50")]).ok();
    let duplicate = client.post(IPS, &[("zone", "z1"), ("mac", &mac(3)), ("ip", "10.0.0.50")]).expect(409);
    assert!(duplicate.message().contains("phpIPAM IPAM 'php'"), "{}", duplicate.message());
    client.put(IPS, &[("zone", "z1"), ("mac", &mac(2)), ("ip", "10.0.0.51")]).ok();
    let ips: Vec<String> = fake.ips().into_iter().map(|(a, _, _)| a).collect();
    assert_eq!(ips, ["10.0.0.1/24", "10.0.0.2/24", "10.0.0.51/24"]);
    client.delete(IPS, &[("zone", "z1"), ("mac", &mac(2)), ("ip", "10.0.0.51")]).ok();
    client.delete(IPS, &[("zone", "z1"), ("mac", &mac(2)), ("ip", "10.0.0.51")]).expect(404);

    // Deleting the subnet leaves it in phpIPAM, as the reference does.
    client.delete(&format!("{SDN}/vnets/v1/subnets/z1-10.0.0.0-24"), &[]).ok();
    assert_eq!(fake.prefixes(), ["10.0.0.0/24"]);

    // phpIPAM failing: a 503 naming it, nothing written.
    fake.failing.store(true, Ordering::SeqCst);
    let down = client.post(&format!("{SDN}/vnets/v1/subnets"), &[("subnet", "10.1.0.0/24"), ("type", "subnet")]).expect(503);
    assert!(down.message().contains("phpIPAM IPAM 'php'"), "{}", down.message());
    client.get(&format!("{SDN}/vnets/v1/subnets/z1-10.1.0.0-24"), &[]).expect(404);
}

/// A self-signed certificate for 127.0.0.1 as a TLS server's identity, and its fingerprint
/// (`AA:BB:...`).
fn self_signed() -> (Arc<rustls::ServerConfig>, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let der = certified.cert.der().clone();
    let fingerprint = sdnd::http::tls::fingerprint(&der);
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .unwrap();
    (Arc::new(config), fingerprint)
}

#[test]
fn fingerprint_pins_exactly_the_ipams_certificate() {
    let (identity, right) = self_signed();
    let fake = FakeNetBox::start_tls(identity);
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let client = server.client("nb");
    let ipams = format!("{SDN}/ipams");

    // The format is checked on create and update, naming the property; nothing is written.
    for bad in ["AB:CD", "not a fingerprint", &vec!["zz"; 32].join(":"), &format!("{right}:00")] {
        let params = [("ipam", "nb"), ("type", "netbox"), ("url", &fake.url()), ("token", TOKEN), ("fingerprint", bad)];
        let refused = client.post(&ipams, &params).expect(400);
        assert!(refused.body["errors"]["fingerprint"].is_string(), "{bad}: {}", refused.body);
    }
    client.get(&format!("{ipams}/nb"), &[]).expect(404);
    let params = [("ipam", "nb"), ("type", "netbox"), ("url", &fake.url()), ("token", TOKEN), ("fingerprint", &right)];
    client.post(&ipams, &params).ok();
    let refused = client.put(&format!("{ipams}/nb"), &[("fingerprint", "AB")]).expect(400);
    assert!(refused.body["errors"]["fingerprint"].is_string(), "{}", refused.body);
    assert_eq!(client.get(&format!("{ipams}/nb"), &[]).ok()["fingerprint"], right.as_str());

    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple"), ("ipam", "nb")]).ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1")]).ok();
    let subnet = |cidr: &str, gateway: &str| {
        client.post(&format!("{SDN}/vnets/v1/subnets"), &[("subnet", cidr), ("type", "subnet"), ("gateway", gateway)])
    };
    let subnets = || client.get(&format!("{SDN}/vnets/v1/subnets"), &[]).ok().as_array().unwrap().len();

    // The right fingerprint: the self-signed certificate is accepted.
    subnet("10.0.0.0/24", "10.0.0.1").ok();
    assert_eq!(fake.prefixes(), ["10.0.0.0/24"]);
    assert_eq!(subnets(), 1);

    // Another: refused when it is given (the check before the write), naming the fingerprint
    // and the mismatch; nothing reaches NetBox, the former one is kept.
    let wrong = format!("00:{}", &right[3..]);
    let wrong = if wrong == right { format!("11:{}", &right[3..]) } else { wrong };
    fake.clear();
    let refused = client.put(&format!("{ipams}/nb"), &[("fingerprint", &wrong)]).expect(400);
    let message = refused.body["errors"]["fingerprint"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("certificate fingerprint mismatch"), "{}", refused.body);
    assert!(message.contains(&right) && message.contains(&wrong), "names both: {message}");
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    assert_eq!(client.get(&format!("{ipams}/nb"), &[]).ok()["fingerprint"], right.as_str());
    // A NetBox whose certificate is no longer the pinned one: its calls are refused the same
    // way, nothing is written.
    let stale = ipam_config(json!({"ipam": "nb", "type": "netbox", "url": fake.url(), "token": TOKEN, "fingerprint": wrong}));
    let netbox = sdnd::ipam::netbox::NetBox::from_config(&stale).unwrap();
    let cidr: sdn_config::Cidr = "10.0.1.0/24".parse().unwrap();
    let err = netbox.add_subnet(&cidr, &[]).unwrap_err();
    assert!(matches!(err, sdnd::Error::Unavailable(_)) && err.to_string().contains("certificate fingerprint mismatch"), "{err}");
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    assert_eq!(fake.prefixes(), ["10.0.0.0/24"]);

    // None: the usual trust, which a self-signed certificate doesn't pass: refused, the
    // fingerprint named as what to set.
    let refused = client.put(&format!("{ipams}/nb"), &[("delete", "fingerprint")]).expect(400);
    let message = refused.body["errors"]["fingerprint"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("certificate") && !message.contains("fingerprint mismatch"), "{}", refused.body);
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    assert_eq!(client.get(&format!("{ipams}/nb"), &[]).ok()["fingerprint"], right.as_str());
    assert_eq!(subnets(), 1);

    // And the right one again: accepted.
    client.put(&format!("{ipams}/nb"), &[("fingerprint", &right.to_lowercase())]).ok();
    subnet("10.0.1.0/24", "10.0.1.1").ok();
    assert_eq!(fake.prefixes(), ["10.0.0.0/24", "10.0.1.0/24"]);
    assert_eq!(subnets(), 2);
}

/// A server started with `extra` flags (and the environment the test has set), a NetBox zone
/// on a NetBox that never answers: what creating a subnet says.
fn timeout_reached(fake: &FakeNetBox, name: &str, extra: &[&str]) -> (String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    // Each on a store of its own (on etcd: a prefix of its own).
    let store = sdnd_testkit::store_args_for(name);
    let server = common::Server::start_node(dir.path(), sdnd_testkit::NODE, &store, extra);
    let client = server.client("nb");
    // A NetBox that never answers is refused as the IPAM's url, once the timeout is reached.
    let params = [("ipam", "nb"), ("type", "netbox"), ("url", &fake.url()), ("token", TOKEN)];
    let refused = client.post(&format!("{SDN}/ipams"), &params).expect(400);
    assert!(refused.body["errors"]["url"].to_string().contains("timed out"), "{}", refused.body);
    // Accepted while it answers, then it stops answering.
    fake.hanging.store(false, Ordering::SeqCst);
    client.post(&format!("{SDN}/ipams"), &params).ok();
    fake.hanging.store(true, Ordering::SeqCst);
    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple"), ("ipam", "nb")]).ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1")]).ok();
    let started = Instant::now();
    let reply = client.post(&format!("{SDN}/vnets/v1/subnets"), &[("subnet", "10.0.0.0/24"), ("type", "subnet")]).expect(503);
    let elapsed = started.elapsed();
    client.get(&format!("{SDN}/vnets/v1/subnets/z1-10.0.0.0-24"), &[]).expect(404);
    (reply.message(), elapsed)
}

fn sdnd_serve_fails(args: &[&str], env: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(common::SDND);
    command.arg("serve").arg("--data-dir").arg(dir.path()).args(["--listen", "127.0.0.1:0"]).args(args);
    command.env("SDND_CONFIG", sdnd_testkit::NO_CONFIG).env_remove("SDND_IPAM_TIMEOUT");
    if let Some(value) = env {
        command.env("SDND_IPAM_TIMEOUT", value);
    }
    let out = command.output().unwrap();
    assert!(!out.status.success(), "{args:?} {env:?} was accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_ipam_timeout_comes_from_the_flag_the_environment_or_the_file() {
    // Out of range or not a number: refused at start, naming the flag (or the variable) and
    // what is allowed.
    for bad in ["0", "601", "soon"] {
        let said = sdnd_serve_fails(&["--ipam-timeout", bad], None);
        assert!(said.contains("--ipam-timeout") && said.contains("from 1 to 600"), "{bad}: {said}");
        let said = sdnd_serve_fails(&[], Some(bad));
        assert!(said.contains("SDND_IPAM_TIMEOUT") && said.contains("from 1 to 600"), "{bad}: {said}");
    }
    let conf = tempfile::tempdir().unwrap();
    let file = conf.path().join("sdnd.toml");
    std::fs::write(&file, "ipam-timeout = 0\n").unwrap();
    let said = sdnd_serve_fails(&["--config", file.to_str().unwrap()], None);
    assert!(said.contains("--ipam-timeout") && said.contains("from 1 to 600"), "{said}");
    let help = std::process::Command::new(common::SDND).args(["serve", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--ipam-timeout <SECONDS>"));

    // Flags over the environment over the file; each bounds a NetBox that never answers.
    let fake = FakeNetBox::start();
    fake.hanging.store(true, Ordering::SeqCst);
    std::fs::write(&file, "ipam-timeout = 3\n").unwrap();
    let config = ["--config", file.to_str().unwrap()];
    std::env::set_var("SDND_IPAM_TIMEOUT", "2");
    let (said, took) = timeout_reached(&fake, "flag", &[&config[..], &["--ipam-timeout", "1"]].concat());
    assert!(said.contains("timed out after 1s") && took < Duration::from_secs(2), "{said} {took:?}");
    let (said, took) = timeout_reached(&fake, "env", &config);
    assert!(said.contains("timed out after 2s") && took < Duration::from_secs(3), "{said} {took:?}");
    std::env::remove_var("SDND_IPAM_TIMEOUT");
    std::fs::write(&file, "ipam-timeout = 1.5\n").unwrap();
    let (said, took) = timeout_reached(&fake, "file", &config);
    assert!(said.contains("timed out after 1.5s") && took >= Duration::from_millis(1500), "{said} {took:?}");
}

/// The reference's `on_update_hook` (`verify_api`): a NetBox or phpIPAM IPAM is created or
/// changed only if its service answers with the settings it would be written with; refused,
/// a 400 names the object, the field to fix and the service's error, and nothing is written.
#[test]
fn an_ipam_is_checked_with_its_service_before_it_is_written() {
    let netbox = FakeNetBox::start();
    let php = FakeNetBox::start_with(handle_phpipam, PHP_TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let client = server.client("nb");
    let ipams = format!("{SDN}/ipams");
    let error = |reply: &common::Reply, field: &str| reply.body["errors"][field].as_str().unwrap_or_default().to_string();

    // A wrong token: the token named, with NetBox's answer, never the token itself.
    let refused = client.post(&ipams, &[("ipam", "nb"), ("type", "netbox"), ("url", &netbox.url()), ("token", "wrong-token")]).expect(400);
    let said = error(&refused, "token");
    assert!(said.starts_with(&format!("can't connect to NetBox API at {}: NetBox IPAM 'nb'", netbox.url())), "{}", refused.body);
    assert!(said.contains("403") && said.contains("Invalid token") && !said.contains("wrong-token"), "{said}");
    client.get(&format!("{ipams}/nb"), &[]).expect(404);
    // Nothing listening at the url: the url named.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://127.0.0.1:{}/api", closed.local_addr().unwrap().port());
    drop(closed);
    let refused = client.post(&ipams, &[("ipam", "nb"), ("type", "netbox"), ("url", &down), ("token", TOKEN)]).expect(400);
    assert!(error(&refused, "url").starts_with(&format!("can't connect to NetBox API at {down}: NetBox IPAM 'nb'")), "{}", refused.body);
    client.get(&format!("{ipams}/nb"), &[]).expect(404);

    // Right: written; a change is checked with the stored token when it gives none.
    netbox.clear();
    client.post(&ipams, &[("ipam", "nb"), ("type", "netbox"), ("url", &netbox.url()), ("token", TOKEN)]).ok();
    let refused = client.put(&format!("{ipams}/nb"), &[("url", &down)]).expect(400);
    assert!(error(&refused, "url").contains("NetBox IPAM 'nb'"), "{}", refused.body);
    let refused = client.put(&format!("{ipams}/nb"), &[("token", "wrong-token")]).expect(400);
    assert!(error(&refused, "token").contains("Invalid token"), "{}", refused.body);
    assert_eq!(client.get(&format!("{ipams}/nb"), &[]).ok()["url"], netbox.url());
    client.put(&format!("{ipams}/nb"), &[("url", &format!("{}/", netbox.url()))]).ok();
    let checks: Vec<(String, String)> = netbox.requests().into_iter().map(|r| (r.path, r.credential)).collect();
    let (right, wrong) = (format!("token {TOKEN}"), "token wrong-token".to_string());
    let aggregates = "/ipam/aggregates/".to_string();
    assert_eq!(checks, [(aggregates.clone(), right.clone()), (aggregates.clone(), wrong), (aggregates, right)]);
    // The change that works with the stored token is the one the store has.
    client.put(&format!("{ipams}/nb"), &[("url", &netbox.url())]).ok();

    // phpIPAM: its section is asked for.
    let php_url = format!("{}/apiadmin", php.url());
    let php_params = |section| [("ipam", "php"), ("type", "phpipam"), ("url", php_url.as_str()), ("token", PHP_TOKEN), ("section", section)];
    let refused = client.post(&ipams, &php_params("7")).expect(400);
    let said = error(&refused, "url");
    assert!(said.starts_with("can't connect to phpIPAM API at") && said.contains("phpIPAM IPAM 'php' (GET /sections/7)"), "{}", refused.body);
    assert!(said.contains("No sections found"), "{said}");
    client.get(&format!("{ipams}/php"), &[]).expect(404);
    php.clear();
    client.post(&ipams, &php_params("1")).ok();
    let asked: Vec<(String, String)> = php.requests().into_iter().map(|r| (r.method, r.path)).collect();
    assert_eq!(asked, [("GET".to_string(), "/apiadmin/sections/1".to_string())]);

    // Not in a change set (the check can't wait inside its transaction): refused, nothing written.
    let steps = json!([{"method": "PUT", "path": "/cluster/sdn/ipams/nb", "params": {"url": netbox.url()}}]);
    let refused = client.post(&format!("{SDN}/changes"), &[("steps", &steps.to_string())]).expect(409);
    assert!(refused.message().contains("ipam 'nb' of type 'netbox'") && refused.message().contains("on its own"), "{}", refused.message());
    // The PVE IPAM calls out to nothing: a change set may create one.
    let steps = json!([{"method": "POST", "path": "/cluster/sdn/ipams", "params": {"ipam": "pve2", "type": "pve"}}]);
    client.post(&format!("{SDN}/changes"), &[("steps", &steps.to_string())]).ok();

    // The SDN lock held by someone else: refused before NetBox is asked.
    client.post(&format!("{SDN}/lock"), &[("allow-pending", "1")]).ok();
    netbox.clear();
    let other = server.client("other");
    other.put(&format!("{ipams}/nb"), &[("url", &netbox.url())]).expect_not(200);
    assert!(netbox.requests().is_empty(), "{:?}", netbox.requests());
}
