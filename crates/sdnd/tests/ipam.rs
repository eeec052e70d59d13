//! The PVE IPAM over the API: a subnet's gateway registered and released with the subnet,
//! IP mappings added, moved and deleted as the reference's `Ips.pm` does, the next free address
//! of a dhcp-range allocated, a full range refused, racing allocations never sharing an
//! address, kill -9 never losing an acknowledged allocation, and `sdnd import`/`export` of the
//! reference's state file.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use common::{Client, Server};
use serde_json::{json, Value};

const SDN: &str = "/api2/json/cluster/sdn";
const IPS: &str = "/api2/json/cluster/sdn/vnets/v1/ips";

/// A zone with the PVE IPAM and dnsmasq, a vnet and a subnet whose dhcp-range is `range`
/// (`start-end`), applied.
fn setup(client: &Client, range: (&str, &str)) {
    setup_subnet(client, "10.0.0.0/24", range);
}

fn setup_subnet(client: &Client, cidr: &str, range: (&str, &str)) {
    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple"), ("ipam", "pve"), ("dhcp", "dnsmasq")]).ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1")]).ok();
    let range = format!("start-address={},end-address={}", range.0, range.1);
    client
        .post(&format!("{SDN}/vnets/v1/subnets"), &[("subnet", cidr), ("type", "subnet"), ("gateway", "10.0.0.1"), ("dhcp-range", &range)])
        .ok();
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
}

fn status(client: &Client) -> Vec<Value> {
    let mut entries = client.get(&format!("{SDN}/ipams/pve/status"), &[]).ok().as_array().unwrap().clone();
    entries.sort_by_key(|e| e["ip"].as_str().unwrap().parse::<std::net::IpAddr>().unwrap());
    entries
}

fn mac(n: usize) -> String {
    format!("bc:24:11:00:{:02x}:{:02x}", n / 256, n % 256)
}

fn allocate(client: &Client, n: usize) -> common::Reply {
    client.post(IPS, &[("zone", "z1"), ("mac", &mac(n)), ("vmid", &(100 + n).to_string())])
}

#[test]
fn mappings_allocations_and_the_subnet_lifecycle_as_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client("ipam");
    setup(&client, ("10.0.0.10", "10.0.0.12"));

    // The gateway was registered with the subnet.
    assert_eq!(
        status(&client),
        [json!({"zone": "z1", "vnet": "v1", "subnet": "10.0.0.0/24", "ip": "10.0.0.1", "gateway": 1})]
    );

    // A mapping with an address, as the reference; then allocations from the range.
    client.post(IPS, &[("zone", "z1"), ("mac", "BC:24:11:AA:BB:CC"), ("ip", "10.0.0.50")]).ok();
    assert_eq!(allocate(&client, 1).ok(), json!({"ip": "10.0.0.10"}));
    assert_eq!(allocate(&client, 2).ok(), json!({"ip": "10.0.0.11"}));
    // The same MAC again keeps its address.
    assert_eq!(allocate(&client, 1).ok(), json!({"ip": "10.0.0.10"}));
    let entries = status(&client);
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[1], json!({"zone": "z1", "vnet": "v1", "subnet": "10.0.0.0/24", "ip": "10.0.0.10", "mac": "bc:24:11:00:00:01", "vmid": 101}));
    assert_eq!(entries[3]["mac"], "bc:24:11:aa:bb:cc");

    // Bad input: a clear 4xx naming the field, nothing changed.
    for (params, status, field) in [
        (vec![("zone", "z1"), ("mac", "bc:24:11:aa:bb:cd"), ("ip", "10.0.0.50")], 409, None),
        (vec![("zone", "z1"), ("mac", "bc:24:11:aa:bb:cd"), ("ip", "10.9.0.5")], 400, Some("ip")),
        (vec![("zone", "z1"), ("mac", "bc:24:11:aa:bb:cd"), ("ip", "10.0.0.300")], 400, Some("ip")),
        (vec![("zone", "z1"), ("mac", "bc:24:11:aa:bb:cd"), ("ip", "fd00::5")], 400, Some("ip")),
        (vec![("zone", "z1"), ("mac", "01:24:11:aa:bb:cd")], 400, Some("mac")),
        (vec![("zone", "z1"), ("mac", "nonsense")], 400, Some("mac")),
        (vec![("zone", "z1"), ("mac", "bc:24:11:aa:bb:cd"), ("vmid", "abc")], 400, Some("vmid")),
        (vec![("zone", "z2"), ("mac", "bc:24:11:aa:bb:cd")], 400, Some("zone")),
        (vec![("zone", "z1")], 400, Some("mac")),
        (vec![("mac", "bc:24:11:aa:bb:cd")], 400, Some("zone")),
    ] {
        let reply = client.post(IPS, &params).expect(status);
        if let Some(field) = field {
            assert!(reply.body["errors"][field].is_string(), "{params:?}: {}", reply.body);
        }
    }
    assert_eq!(status(&client).len(), 4);
    // A range whose start is after its end: refused, and nothing reaches the IPAM.
    let reply = client
        .post(
            &format!("{SDN}/vnets/v1/subnets"),
            &[("subnet", "10.0.7.0/24"), ("type", "subnet"), ("gateway", "10.0.7.1"), ("dhcp-range", "start-address=10.0.7.20,end-address=10.0.7.10")],
        )
        .expect(400);
    assert!(reply.body["errors"]["dhcp-range"].is_string(), "{}", reply.body);
    let dump = tempfile::tempdir().unwrap();
    server_export(&server, dump.path());
    let state = std::fs::read_to_string(dump.path().join("pve-ipam-state.json")).unwrap();
    assert!(!state.contains("10.0.7"), "{state}");

    // The last free address, then a full range.
    assert_eq!(allocate(&client, 3).ok(), json!({"ip": "10.0.0.12"}));
    let full = allocate(&client, 4).expect(409);
    assert!(full.message().contains("free"), "{}", full.message());

    // PUT moves the MAC's address; DELETE releases one, which the next allocation finds.
    client.put(IPS, &[("zone", "z1"), ("mac", &mac(2)), ("ip", "10.0.0.60"), ("vmid", "202")]).ok();
    let moved: Vec<Value> = status(&client).into_iter().filter(|e| e["mac"] == mac(2).as_str()).collect();
    assert_eq!(moved, [json!({"zone": "z1", "vnet": "v1", "subnet": "10.0.0.0/24", "ip": "10.0.0.60", "mac": mac(2), "vmid": 202})]);
    client.put(IPS, &[("zone", "z1"), ("mac", &mac(2)), ("ip", "10.0.0.50")]).expect(409);
    // The same address again: only the VM id changes, and the MAC keeps its address.
    client.put(IPS, &[("zone", "z1"), ("mac", &mac(2)), ("ip", "10.0.0.60"), ("vmid", "303")]).ok();
    let again: Vec<Value> = status(&client).into_iter().filter(|e| e["mac"] == mac(2).as_str()).collect();
    assert_eq!(again, [json!({"zone": "z1", "vnet": "v1", "subnet": "10.0.0.0/24", "ip": "10.0.0.60", "mac": mac(2), "vmid": 303})]);
    assert_eq!(allocate(&client, 2).ok(), json!({"ip": "10.0.0.60"}), "the MAC index still knows the address");
    assert_eq!(allocate(&client, 4).ok(), json!({"ip": "10.0.0.11"}));
    client.delete(IPS, &[("zone", "z1"), ("mac", &mac(1)), ("ip", "10.0.0.10")]).ok();
    client.delete(IPS, &[("zone", "z1"), ("mac", &mac(1)), ("ip", "10.0.0.10")]).expect(404);
    assert_eq!(allocate(&client, 5).ok(), json!({"ip": "10.0.0.10"}));

    // A subnet with allocations can't be deleted; once only the gateway is left it can, and
    // the gateway goes with it.
    let refused = client.delete(&format!("{SDN}/vnets/v1/subnets/z1-10.0.0.0-24"), &[]).expect(409);
    assert!(refused.message().contains("not empty"), "{}", refused.message());
    for entry in status(&client).iter().filter(|e| e["gateway"] != 1) {
        let ip = entry["ip"].as_str().unwrap();
        client.delete(IPS, &[("zone", "z1"), ("mac", entry["mac"].as_str().unwrap()), ("ip", ip)]).ok();
    }
    assert_eq!(status(&client).len(), 1);
    client.delete(&format!("{SDN}/vnets/v1/subnets/z1-10.0.0.0-24"), &[]).ok();
    let dump = tempfile::tempdir().unwrap();
    server_export(&server, dump.path());
    let state: Value = serde_json::from_slice(&std::fs::read(dump.path().join("pve-ipam-state.json")).unwrap()).unwrap();
    assert!(state["zones"]["z1"]["subnets"].get("10.0.0.0/24").is_none(), "{state}");
}

/// A subnet created and rolled back leaves nothing in the IPAM; one deleted and rolled back
/// has its gateway again.
#[test]
fn rollback_leaves_the_ipam_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client("ipam");
    setup(&client, ("10.0.0.10", "10.0.0.12"));
    client.post(&format!("{SDN}/vnets/v1/subnets"), &[("subnet", "10.0.1.0/24"), ("type", "subnet"), ("gateway", "10.0.1.1")]).ok();
    client.delete(&format!("{SDN}/vnets/v1/subnets/z1-10.0.0.0-24"), &[]).ok();
    client.post(&format!("{SDN}/rollback"), &[]).ok();
    let dump = tempfile::tempdir().unwrap();
    server_export(&server, dump.path());
    let state: Value = serde_json::from_slice(&std::fs::read(dump.path().join("pve-ipam-state.json")).unwrap()).unwrap();
    assert_eq!(state, json!({"zones": {"z1": {"subnets": {"10.0.0.0/24": {"ips": {"10.0.0.1": {"gateway": 1}}}}}}}));
}

/// Runs an sdnd command (on the server's store, unless it is `generate`).
fn sdnd(server: &Server, args: &[&str]) -> String {
    let mut command = std::process::Command::new(sdnd_testkit::sdnd_beside_current_exe());
    command.args(args);
    if args[0] != "generate" {
        command.arg("--data-dir").arg(&server.data_dir).args(&server.store);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "sdnd {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn server_export(server: &Server, to: &std::path::Path) {
    sdnd(server, &["export", "--to", to.to_str().unwrap()]);
}

#[test]
fn racing_allocations_never_share_an_address_and_lose_none() {
    const THREADS: usize = 8;
    const EACH: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client("ipam");
    // 24 addresses for 40 requests, sent to two server processes sharing the store: the
    // guards, not one process's writer queue, keep them apart.
    setup(&client, ("10.0.0.100", "10.0.0.123"));
    let second = Server::start_node(dir.path(), "node2", &server.store, &[]);
    let second_client = Client::new(&second.base, Some(format!("PVEAPIToken={}", server.add_token("root@pam", "second"))));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let client = if t % 2 == 0 { client.clone() } else { second_client.clone() };
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|i| {
                        let reply = allocate(&client, 1 + t * EACH + i);
                        match reply.status {
                            200 => Some(reply.data()["ip"].as_str().unwrap().to_string()),
                            409 => None,
                            other => panic!("allocation answered {other}: {}", reply.body),
                        }
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let got: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap()).flatten().collect();
    let distinct: BTreeSet<&String> = got.iter().collect();
    assert_eq!(got.len(), 24, "every address handed out: {got:?}");
    assert_eq!(distinct.len(), got.len(), "an address was handed out twice: {got:?}");
    let listed: BTreeSet<String> =
        status(&client).iter().filter(|e| e["gateway"] != 1).map(|e| e["ip"].as_str().unwrap().to_string()).collect();
    assert_eq!(listed, got.iter().cloned().collect::<BTreeSet<_>>());
}

#[test]
fn kill_9_during_allocations_loses_no_acknowledged_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let client = server.client("ipam");
    setup_subnet(&client, "10.0.0.0/16", ("10.0.0.10", "10.0.255.250"));
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let writer = {
        let (client, acked) = (client.clone(), acked.clone());
        std::thread::spawn(move || {
            for n in 1.. {
                let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| allocate(&client, n)));
                match reply {
                    Ok(reply) if reply.status == 200 => {
                        acked.lock().unwrap().push((mac(n), reply.data()["ip"].as_str().unwrap().to_string()))
                    }
                    _ => return,
                }
            }
            unreachable!()
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(700));
    server.kill();
    let _ = writer.join();
    server.restart();
    let client = server.client("after");
    let acked = acked.lock().unwrap().clone();
    assert!(!acked.is_empty(), "no allocation was acknowledged before the kill");
    let after: BTreeSet<(String, String)> = status(&client)
        .iter()
        .filter(|e| e["gateway"] != 1)
        .map(|e| (e["mac"].as_str().unwrap().to_string(), e["ip"].as_str().unwrap().to_string()))
        .collect();
    for allocation in &acked {
        assert!(after.contains(allocation), "acknowledged {allocation:?} lost after kill -9");
    }
    // Whatever was in flight is either wholly there or not at all: allocating goes on.
    allocate(&client, 60_000).ok();
}

#[test]
fn import_and_export_the_reference_state_in_either_place() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client("ipam");
    setup(&client, ("10.0.0.10", "10.0.0.12"));
    let export = tempfile::tempdir().unwrap();
    server_export(&server, export.path());

    // The reference before 2024 kept the state in /etc/pve/priv/ipam.db, beside /etc/pve/sdn.
    let legacy = tempfile::tempdir().unwrap();
    let sdn_dir = legacy.path().join("sdn");
    std::fs::create_dir_all(legacy.path().join("priv")).unwrap();
    std::fs::create_dir_all(&sdn_dir).unwrap();
    for name in ["zones.cfg", "vnets.cfg", "subnets.cfg", ".running-config"] {
        std::fs::copy(export.path().join(name), sdn_dir.join(name)).unwrap();
    }
    let old = json!({"zones": {"z1": {"subnets": {"10.0.0.0/24": {"ips": {
        "10.0.0.1": {"gateway": 1},
        "10.0.0.10": {"mac": "BC:24:11:00:00:09", "hostname": "vm9", "vmid": "109"},
        "10.0.0.11": {"mac": "bc:24:11:00:00:0a", "hostname": null, "vmid": null},
    }}}}}});
    std::fs::write(legacy.path().join("priv/ipam.db"), old.to_string()).unwrap();
    let said = sdnd(&server, &["import", "--from", sdn_dir.to_str().unwrap()]);
    assert!(said.contains("3 address(es)"), "{said}");

    let entries = status(&client);
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[1], json!({"zone": "z1", "vnet": "v1", "subnet": "10.0.0.0/24", "ip": "10.0.0.10", "mac": "bc:24:11:00:00:09", "hostname": "vm9", "vmid": 109}));
    // The imported MACs keep their addresses; the range's last free one is next.
    assert_eq!(client.post(IPS, &[("zone", "z1"), ("mac", "bc:24:11:00:00:09")]).ok(), json!({"ip": "10.0.0.10"}));
    assert_eq!(allocate(&client, 1).ok(), json!({"ip": "10.0.0.12"}));

    // Exported as the newest reference has it.
    let again = tempfile::tempdir().unwrap();
    server_export(&server, again.path());
    let state: Value = serde_json::from_slice(&std::fs::read(again.path().join("pve-ipam-state.json")).unwrap()).unwrap();
    assert_eq!(state["zones"]["z1"]["subnets"]["10.0.0.0/24"]["ips"]["10.0.0.11"], json!({"mac": "bc:24:11:00:00:0a"}));
    assert_eq!(state["zones"]["z1"]["subnets"]["10.0.0.0/24"]["ips"]["10.0.0.12"], json!({"mac": mac(1), "vmid": "101"}));

    // An unreadable state file changes nothing.
    std::fs::write(sdn_dir.join("pve-ipam-state.json"), b"{\"zones\": {\"z1\": {\"subnets\": {\"10.0.0.0/24\": {\"ips\": {\"10.0.0.7\": {\"vmid\": \"x\"}}}}}}}").unwrap();
    let output = std::process::Command::new(sdnd_testkit::sdnd_beside_current_exe())
        .args(["import", "--from", sdn_dir.to_str().unwrap(), "--data-dir"])
        .arg(&server.data_dir)
        .args(&server.store)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("pve-ipam-state.json"), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(status(&client).len(), 4);
}

/// Waits up to 10 seconds for `path` to hold text that `done` accepts.
fn wait_for_file(path: &std::path::Path, done: impl Fn(&str) -> bool) -> String {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(path) {
            if done(&text) {
                return text;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{} did not reach the expected content: {:?}", path.display(), std::fs::read_to_string(path));
}

/// Debian's dnsmasq checks the zone's configuration (as its `dnsmasq@ZONE` unit reads it).
fn dnsmasq_accepts(zone_dir: &std::path::Path) {
    let dnsmasq = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"].into_iter().find(|p| std::path::Path::new(p).exists());
    let dnsmasq = dnsmasq.expect("dnsmasq is not installed (scripts/test installs dnsmasq-base)");
    let output = std::process::Command::new(dnsmasq)
        .arg("--test")
        .arg("--conf-file=/dev/null")
        .arg(format!("--conf-dir={},*.conf", zone_dir.display()))
        .output()
        .unwrap();
    assert!(output.status.success(), "dnsmasq --test: {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
}

#[test]
fn dnsmasq_files_follow_the_ipam_without_an_apply() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client("ipam");
    setup(&client, ("10.0.0.10", "10.0.0.12"));
    let zone_dir = common::node_dir(dir.path()).join("dnsmasq.d/z1");
    let vnet = wait_for_file(&zone_dir.join("10-v1.conf"), |_| true);
    assert_eq!(
        vnet,
        "dhcp-range=set:z1-10.0.0.0-24,10.0.0.0,static,255.255.255.0,infinite\n\
         dhcp-option=tag:z1-10.0.0.0-24,option:router,10.0.0.1\n\
         interface=v1\n"
    );
    // The agent writes a zone's files one after the other: each is waited for.
    let default = wait_for_file(&zone_dir.join("00-default.conf"), |_| true);
    assert!(default.contains(&format!("dhcp-hostsfile={}/ethers\n", zone_dir.display())), "{default}");
    assert_eq!(wait_for_file(&zone_dir.join("ethers"), |_| true), "");
    dnsmasq_accepts(&zone_dir);

    // An allocation and a mapping reach ethers without an apply.
    assert_eq!(allocate(&client, 1).ok(), json!({"ip": "10.0.0.10"}));
    client.post(IPS, &[("zone", "z1"), ("mac", "bc:24:11:aa:bb:cc"), ("ip", "10.0.0.50")]).ok();
    let ethers = wait_for_file(&zone_dir.join("ethers"), |t| t.lines().count() == 2);
    assert_eq!(ethers, format!("{},10.0.0.10\nbc:24:11:aa:bb:cc,10.0.0.50\n", mac(1)));
    client.delete(IPS, &[("zone", "z1"), ("mac", "bc:24:11:aa:bb:cc"), ("ip", "10.0.0.50")]).ok();
    wait_for_file(&zone_dir.join("ethers"), |t| t == format!("{},10.0.0.10\n", mac(1)));
    dnsmasq_accepts(&zone_dir);

    // A second subnet (IPv6, with a DNS server) after an apply; a vnet without subnets has no file.
    client
        .post(
            &format!("{SDN}/vnets/v1/subnets"),
            &[("subnet", "fd00::/64"), ("type", "subnet"), ("gateway", "fd00::1"), ("dhcp-dns-server", "fd00::53"), ("dhcp-range", "start-address=fd00::10,end-address=fd00::20")],
        )
        .ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "v2"), ("zone", "z1")]).ok();
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
    let vnet = wait_for_file(&zone_dir.join("10-v1.conf"), |t| t.contains("fd00"));
    assert!(vnet.ends_with("dhcp-range=set:z1-fd00::-64,fd00::,static,64,infinite\ndhcp-option=tag:z1-fd00::-64,option6:dns-server,fd00::53\ninterface=v1\n"), "{vnet}");
    assert!(!zone_dir.join("10-v2.conf").exists());
    // The dual-stack vnet: the MAC keeps its IPv4 address and gets an IPv6 one.
    assert_eq!(allocate(&client, 1).ok(), json!({"ip": "10.0.0.10", "ip6": "fd00::10"}));
    wait_for_file(&zone_dir.join("ethers"), |t| t == format!("{},10.0.0.10,[fd00::10]\n", mac(1)));
    dnsmasq_accepts(&zone_dir);

    // `sdnd generate` renders the same files from the exported running config and IPAM state.
    let export = tempfile::tempdir().unwrap();
    server_export(&server, export.path());
    let node = common::node_dir(dir.path());
    let out = tempfile::tempdir().unwrap();
    let dnsmasq_root = node.join("dnsmasq.d");
    sdnd(
        &server,
        &[
            "generate",
            "--running-config", export.path().join(".running-config").to_str().unwrap(),
            "--facts", node.join("facts.json").to_str().unwrap(),
            "--interfaces", node.join("interfaces").to_str().unwrap(),
            "--out", out.path().to_str().unwrap(),
            "--dnsmasq-out", out.path().join("dnsmasq").to_str().unwrap(),
            "--dnsmasq-dir", dnsmasq_root.to_str().unwrap(),
            "--ipam-state", export.path().join("pve-ipam-state.json").to_str().unwrap(),
        ],
    );
    for name in ["00-default.conf", "10-v1.conf", "ethers"] {
        let generated = std::fs::read_to_string(out.path().join("dnsmasq/z1").join(name)).unwrap();
        assert_eq!(generated, std::fs::read_to_string(zone_dir.join(name)).unwrap(), "{name}");
    }
    let default = std::fs::read_to_string(out.path().join("dnsmasq/default/dnsmasq.z1")).unwrap();
    assert_eq!(default, format!("CONFIG_DIR='{},*.conf'\nDNSMASQ_OPTS=\"--conf-file=/dev/null --enable-dbus=uk.org.thekelleys.dnsmasq.z1\"\n", zone_dir.display()));
}

/// The status lists only what the caller may see on `/sdn/zones/ZONE/VNET`; mapping needs
/// `SDN.Allocate` there.
#[test]
fn status_and_mappings_follow_the_acls() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client("ipam");
    setup(&client, ("10.0.0.10", "10.0.0.12"));
    allocate(&client, 1).ok();
    sdnd(&server, &["user", "add", "audrey@pve"]);
    sdnd(&server, &["user", "add", "otto@pve"]);
    sdnd(&server, &["acl", "modify", "/sdn/zones/z1", "--users", "audrey@pve", "--roles", "PVEAuditor"]);
    sdnd(&server, &["acl", "modify", "/sdn/zones/other", "--users", "otto@pve", "--roles", "PVESDNAdmin"]);
    let as_user = |user: &str| Client::new(&server.base, Some(format!("PVEAPIToken={}", server.add_token(user, "tk"))));
    let audrey = as_user("audrey@pve");
    let otto = as_user("otto@pve");
    assert_eq!(status(&audrey).len(), 2);
    assert_eq!(status(&otto), Vec::<Value>::new());
    audrey.post(IPS, &[("zone", "z1"), ("mac", &mac(7))]).expect(403);
    otto.post(IPS, &[("zone", "z1"), ("mac", &mac(7))]).expect(403);
    assert_eq!(status(&client).len(), 2);
    client.get(&format!("{SDN}/ipams/nosuch/status"), &[]).expect(404);
}

#[test]
fn a_change_set_registers_its_subnets_gateways_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client("ipam");
    let changes = format!("{SDN}/changes");
    let steps = json!([
        {"method": "POST", "path": "/cluster/sdn/zones", "params": {"zone": "z1", "type": "simple", "ipam": "pve", "dhcp": "dnsmasq"}},
        {"method": "POST", "path": "/cluster/sdn/vnets", "params": {"vnet": "v1", "zone": "z1"}},
        {"method": "POST", "path": "/cluster/sdn/vnets/v1/subnets",
         "params": {"subnet": "10.0.0.0/24", "type": "subnet", "gateway": "10.0.0.1"}},
    ]);
    client.json("POST", &changes, &json!({"steps": steps})).ok();
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
    // The status shows the running configuration's zones: the gateway came with the set.
    assert_eq!(
        status(&client),
        [json!({"zone": "z1", "vnet": "v1", "subnet": "10.0.0.0/24", "ip": "10.0.0.1", "gateway": 1})]
    );

    // A later step fails: the subnet of the first step is not made, nor its gateway registered.
    let steps = json!([
        {"method": "POST", "path": "/cluster/sdn/vnets/v1/subnets",
         "params": {"subnet": "10.1.0.0/24", "type": "subnet", "gateway": "10.1.0.1"}},
        {"method": "POST", "path": "/cluster/sdn/vnets", "params": {"vnet": "v2", "zone": "z1", "tag": "many"}},
    ]);
    client.json("POST", &changes, &json!({"steps": steps})).expect(400);
    assert_eq!(client.get(&format!("{SDN}/vnets/v1/subnets"), &[]).ok().as_array().unwrap().len(), 1);
    // Nothing of it was registered: the same subnet alone registers its gateway once.
    client
        .post(&format!("{SDN}/vnets/v1/subnets"), &[("subnet", "10.1.0.0/24"), ("type", "subnet"), ("gateway", "10.1.0.1")])
        .ok();
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
    let ips: Vec<Value> = status(&client).iter().map(|e| e["ip"].clone()).collect();
    assert_eq!(ips, [json!("10.0.0.1"), json!("10.1.0.1")]);
}

/// As the reference's `Subnets.pm` hands a hostname to the IPAM: with the subnet's
/// `dnszoneprefix` appended. The IPAM status and the exported state (the reference's
/// `pve-ipam-state.json`, as PVE writes it) show `vm1.lab`; a subnet without a prefix keeps the
/// name as given; the gateway has none (the PVE IPAM keeps `gateway` only); `ethers` has no
/// names.
#[test]
fn a_hostname_is_kept_with_its_subnets_dnszoneprefix() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client("ipam");
    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple"), ("ipam", "pve"), ("dhcp", "dnsmasq")]).ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1")]).ok();
    let subnets = [
        ("10.0.0.0/24", "10.0.0.1", "start-address=10.0.0.10,end-address=10.0.0.20", Some("lab")),
        ("fd00::/64", "fd00::1", "start-address=fd00::10,end-address=fd00::20", None),
    ];
    for (cidr, gateway, range, prefix) in subnets {
        let mut params = vec![("subnet", cidr), ("type", "subnet"), ("gateway", gateway), ("dhcp-range", range)];
        params.extend(prefix.map(|p| ("dnszoneprefix", p)));
        client.post(&format!("{SDN}/vnets/v1/subnets"), &params).ok();
    }
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");

    let allocated = client.post(IPS, &[("zone", "z1"), ("mac", &mac(1)), ("hostname", "vm1"), ("vmid", "101")]).ok();
    assert_eq!(allocated, json!({"ip": "10.0.0.10", "ip6": "fd00::10"}));
    client.post(IPS, &[("zone", "z1"), ("mac", &mac(2)), ("ip", "10.0.0.50"), ("hostname", "vm2")]).ok();
    let names: Vec<(String, Value)> =
        status(&client).iter().map(|e| (e["ip"].as_str().unwrap().to_string(), e.get("hostname").cloned().unwrap_or(Value::Null))).collect();
    let expected = [("10.0.0.1", Value::Null), ("10.0.0.10", json!("vm1.lab")), ("10.0.0.50", json!("vm2.lab")), ("fd00::1", Value::Null), ("fd00::10", json!("vm1"))];
    assert_eq!(names, expected.map(|(ip, name)| (ip.to_string(), name)));
    // A move keeps the name.
    client.put(IPS, &[("zone", "z1"), ("mac", &mac(2)), ("ip", "10.0.0.60")]).ok();
    let moved: Vec<Value> = status(&client).into_iter().filter(|e| e["mac"] == mac(2).as_str()).collect();
    assert_eq!(moved, [json!({"zone": "z1", "vnet": "v1", "subnet": "10.0.0.0/24", "ip": "10.0.0.60", "mac": mac(2), "hostname": "vm2.lab"})]);

    let dump = tempfile::tempdir().unwrap();
    server_export(&server, dump.path());
    let state: Value = serde_json::from_slice(&std::fs::read(dump.path().join("pve-ipam-state.json")).unwrap()).unwrap();
    let ips = |cidr: &str| state["zones"]["z1"]["subnets"][cidr]["ips"].clone();
    assert_eq!(ips("10.0.0.0/24")["10.0.0.10"], json!({"mac": mac(1), "hostname": "vm1.lab", "vmid": "101"}), "{state}");
    assert_eq!(ips("10.0.0.0/24")["10.0.0.60"], json!({"mac": mac(2), "hostname": "vm2.lab"}), "{state}");
    assert_eq!(ips("10.0.0.0/24")["10.0.0.1"], json!({"gateway": 1}), "{state}");
    assert_eq!(ips("fd00::/64")["fd00::10"], json!({"mac": mac(1), "hostname": "vm1", "vmid": "101"}), "{state}");

    let zone_dir = common::node_dir(dir.path()).join("dnsmasq.d/z1");
    let want = format!("{},10.0.0.10,[fd00::10]\n{},10.0.0.60\n", mac(1), mac(2));
    assert_eq!(wait_for_file(&zone_dir.join("ethers"), |t| t == want), want);
}
