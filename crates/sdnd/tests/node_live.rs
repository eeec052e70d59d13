//! A node's live status (issue 13's EVPN status, issue 11's fabric status): `ip-vrf`,
//! `mac-vrf`, `bridges` and a fabric's `routes`/`neighbors`/`interfaces`, read by the node's
//! agent from its FRR (here FRR's recorded JSON, replayed: see `tests/frr-output/README.md`)
//! and its kernel, whichever server got the request; clear errors for a node without agent.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{store_args, Client, Server};
use serde_json::{json, Value};

const SDN: &str = "/api2/json/cluster/sdn";
const NODE: &str = "node2";

fn replay() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/frr-output/vtysh-replay")
}

/// A script printing `text` whatever its arguments (standing in for `ip` or `bridge`).
fn printing(dir: &Path, name: &str, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let output = dir.join(format!("{name}.json"));
    std::fs::write(&output, text).unwrap();
    let script = dir.join(name);
    std::fs::write(&script, format!("#!/bin/sh\ncat '{}'\n", output.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

/// The objects FRR's recorded output belongs to: OpenFabric fabric `test` with this node on
/// ens19/ens20, EVPN zone `test` (VRF `vrf_test`) on it and node3, its vnet with VNI 100, a
/// simple zone; applied (node3 has no agent, so the task ends in an error: the running
/// configuration is what counts here).
fn create_objects(client: &Client) {
    client
        .post(
            &format!("{SDN}/fabrics/fabric"),
            &[("id", "test"), ("protocol", "openfabric"), ("ip_prefix", "172.16.6.0/24")],
        )
        .ok();
    let node = json!({"node_id": NODE, "protocol": "openfabric", "ip": "172.16.6.2", "interfaces": ["name=ens19", "name=ens20"]});
    client.json("POST", &format!("{SDN}/fabrics/node/test"), &node).ok();
    client
        .post(
            &format!("{SDN}/controllers"),
            &[("controller", "ctrl"), ("type", "evpn"), ("asn", "65000"), ("fabric", "test")],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/zones"),
            &[
                ("zone", "test"),
                ("type", "evpn"),
                ("controller", "ctrl"),
                ("vrf-vxlan", "1000"),
                ("nodes", "node2,node3"),
            ],
        )
        .ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "vnet1"), ("zone", "test"), ("tag", "100")]).ok();
    client.post(&format!("{SDN}/zones"), &[("zone", "plain"), ("type", "simple")]).ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "pvnet"), ("zone", "plain")]).ok();
    let upid = client.put(SDN, &[]).ok();
    client.wait_task(upid.as_str().unwrap());
}

#[test]
fn evpn_and_fabric_status_come_from_the_nodes_frr_through_any_server() {
    let data = tempfile::tempdir().unwrap();
    let scripts = tempfile::tempdir().unwrap();
    let links = r#"[{"ifname":"vnet1","linkinfo":{"info_kind":"bridge","info_data":{"vlan_filtering":0}}},
        {"ifname":"tap100i0","master":"vnet1","linkinfo":{"info_kind":"tun","info_slave_kind":"bridge"}},
        {"ifname":"vmbr0","linkinfo":{"info_kind":"bridge","info_data":{"vlan_filtering":0}}}]"#;
    let fail_flag = scripts.path().join("frr-down");
    let ip = printing(scripts.path(), "ip", links);
    let bridge = printing(scripts.path(), "bridge", "[]");
    let vtysh = format!("VTYSH_REPLAY_FAIL={} {}", fail_flag.display(), replay().display());
    let server = Server::start_node(
        data.path(),
        NODE,
        &store_args(),
        // node3 never reports: the apply gives up on it soon.
        &["--vtysh", &vtysh, "--ip-command", &ip, "--bridge-command", &bridge, "--apply-timeout", "2"],
    );
    let client = server.client("live");
    create_objects(&client);
    // A second server on the same store, its own agent elsewhere: it answers for node2 too.
    let other = Server::start_node(data.path(), "node9", &store_args(), &["--vtysh", "false"]);
    let other_client = Client::new(&other.base, client_auth(&server));

    for client in [&client, &other_client] {
        let node = format!("/api2/json/nodes/{NODE}/sdn");
        assert_eq!(
            client.get(&format!("{node}/zones/test/ip-vrf"), &[]).ok(),
            json!([
                {"ip": "0.0.0.0/0", "protocol": "kernel", "metric": 8192, "nexthops": []},
                {"ip": "172.16.100.0/24", "protocol": "connected", "metric": 0, "nexthops": ["test"]},
                {"ip": "172.16.100.0/24", "protocol": "kernel", "metric": 0, "nexthops": ["test"]},
                {"ip": "172.16.100.1/32", "protocol": "local", "metric": 0, "nexthops": ["test"]},
                {"ip": "172.16.100.2/32", "protocol": "bgp", "metric": 0, "nexthops": ["172.16.6.1"]},
            ])
        );
        assert_eq!(
            client.get(&format!("{node}/vnets/vnet1/mac-vrf"), &[]).ok(),
            json!([
                {"mac": "bc:24:11:02:45:ae", "ip": "fe80::be24:11ff:fe02:45ae", "nexthop": "172.16.6.1"},
                {"mac": "bc:24:11:02:45:ae", "ip": "172.16.100.2", "nexthop": "172.16.6.1"},
            ])
        );
        assert_eq!(
            client.get(&format!("{node}/fabrics/test/routes"), &[]).ok(),
            json!([{"route": "172.16.6.1/32", "via": ["172.16.6.1"]}, {"route": "172.16.6.3/32", "via": ["172.16.6.3"]}])
        );
        assert_eq!(
            client.get(&format!("{node}/fabrics/test/neighbors"), &[]).ok(),
            json!([{"neighbor": "node1", "status": "Up", "uptime": "33m39s"}, {"neighbor": "node3", "status": "Up", "uptime": "33m34s"}])
        );
        assert_eq!(
            client.get(&format!("{node}/fabrics/test/interfaces"), &[]).ok(),
            json!([
                {"name": "dummy_test", "state": "Up", "type": "Loopback"},
                {"name": "ens19", "state": "Up", "type": "Point-To-Point"},
                {"name": "ens20", "state": "Up", "type": "Point-To-Point"},
            ])
        );
        assert_eq!(
            client.get(&format!("{node}/zones/test/bridges"), &[]).ok(),
            json!([{"name": "vnet1", "vlan_filtering": "0", "ports": [{"name": "tap100i0", "vmid": 100, "index": "net0"}]}])
        );
        let local: Vec<Value> =
            client.get(&format!("{node}/zones/localnetwork/bridges"), &[]).ok().as_array().unwrap().clone();
        assert_eq!(local.iter().map(|b| b["name"].clone()).collect::<Vec<_>>(), [json!("vmbr0"), json!("vnet1")]);
    }

    // The directory indexes, as PVE has them.
    let node = format!("/api2/json/nodes/{NODE}/sdn");
    assert_eq!(
        client.get(&node, &[]).ok(),
        json!([{"name": "fabrics"}, {"name": "vnets"}, {"name": "zones"}, {"name": "status"}])
    );
    assert_eq!(
        client.get(&format!("{node}/zones/test"), &[]).ok(),
        json!([{"subdir": "content"}, {"subdir": "bridges"}, {"subdir": "ip-vrf"}])
    );
    assert_eq!(client.get(&format!("{node}/vnets/vnet1"), &[]).ok(), json!([{"subdir": "mac-vrf"}]));
    assert_eq!(client.get(&format!("{node}/status"), &[]).ok()["node"], NODE, "the summary moved to .../sdn/status");

    // PVE's refusals, naming the field.
    let error = |path: &str, field: &str| {
        let reply = client.get(&format!("{node}/{path}"), &[]).expect(400);
        reply.body["errors"][field].as_str().unwrap_or_else(|| panic!("{path}: {}", reply.body)).to_string()
    };
    assert_eq!(error("zones/plain/ip-vrf", "zone"), "zone is not an EVPN zone");
    assert_eq!(error("zones/nozone/ip-vrf", "zone"), "zone does not exist");
    assert_eq!(error("vnets/pvnet/mac-vrf", "zone"), "zone plain is not an EVPN zone.");
    assert_eq!(error("fabrics/nofab/routes", "fabric"), "fabric 'nofab' is not in the running configuration");
    let ghost = client.get("/api2/json/nodes/ghost/sdn/zones/test/ip-vrf", &[]).expect(404);
    assert!(ghost.message().contains("'ghost'"), "{}", ghost.message());
    // Outside the node list of the zone: PVE's message.
    let wrong = client.get("/api2/json/nodes/node9/sdn/zones/test/ip-vrf", &[]).expect(400);
    assert_eq!(wrong.body["errors"]["zone"], "zone does not exist on node node9");

    // node3 is a node of the configuration without an agent: refused at once, naming it.
    let started = Instant::now();
    let absent = client.get("/api2/json/nodes/node3/sdn/zones/test/ip-vrf", &[]).expect(503);
    assert!(absent.message().contains("node 'node3'") && absent.message().contains("agent"), "{}", absent.message());
    assert!(started.elapsed() < Duration::from_secs(5), "no wait for an agent that is not there");

    // FRR down on the node: unavailable there (503, as an absent agent), with its error, naming the node.
    std::fs::write(&fail_flag, "").unwrap();
    let down = client.get(&format!("{node}/zones/test/ip-vrf"), &[]).expect(503);
    assert!(
        down.message().contains("node 'node2'") && down.message().contains("failed to connect"),
        "{}",
        down.message()
    );

    // A stopped agent: its node is refused once its heartbeats are stale, never a hang.
    drop(server);
    let started = Instant::now();
    let gone = other_client.get(&format!("{node}/zones/test/ip-vrf"), &[]);
    assert_eq!(gone.status, 503, "{:?}", gone.body);
    assert!(gone.message().contains("node 'node2'"), "{}", gone.message());
    assert!(started.elapsed() < Duration::from_secs(12), "bounded by the answer timeout");
}

/// The Authorization header of a token made on `server`'s store.
fn client_auth(server: &Server) -> Option<String> {
    Some(format!("PVEAPIToken={}", server.add_token("root@pam", "live2")))
}
