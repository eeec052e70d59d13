//! Proxmox Datacenter Manager's calls against a real server with a node agent, in PDM's
//! conventions (`/api2/extjs`, every path segment and query value percent-encoded with
//! `NON_ALPHANUMERIC`, JSON bodies with real types, a task polled every 3 seconds), each
//! answer checked field by field against the `pve-api-types` struct PDM parses it into
//! (required fields present, every field of its type). FRR's output is replayed from
//! `tests/frr-output` (see its README).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{store_args, Client, Server};
use serde_json::{json, Value};

const NODE: &str = "node2";

/// A field's type as `pve-api-types` declares it (with `proxmox_serde::perl` readers: an
/// integer is a JSON integer, a bool is a JSON bool or 0/1).
#[derive(Clone, Copy)]
enum T {
    Str,
    Int,
    Num,
    Bool,
    Enum(&'static [&'static str]),
    StrArray,
}

/// Checks `value` against a struct: `(field, type, required)`.
#[track_caller]
fn check(what: &str, value: &Value, fields: &[(&str, T, bool)]) {
    let object = value.as_object().unwrap_or_else(|| panic!("{what}: not an object: {value}"));
    for (name, ty, required) in fields {
        let Some(field) = object.get(*name) else {
            assert!(!required, "{what}: required field '{name}' missing in {value}");
            continue;
        };
        let ok = match ty {
            T::Str => field.is_string(),
            T::Int => field.is_i64() || field.is_u64(),
            T::Num => field.is_number(),
            T::Bool => field.is_boolean() || field == 0 || field == 1,
            T::Enum(values) => field.as_str().is_some_and(|s| values.contains(&s)),
            T::StrArray => field.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        };
        assert!(ok, "{what}: field '{name}' has the wrong type: {field} in {value}");
    }
}

#[track_caller]
fn check_all(what: &str, list: &Value, fields: &[(&str, T, bool)]) -> Vec<Value> {
    let list = list.as_array().unwrap_or_else(|| panic!("{what}: not an array: {list}"));
    for item in list {
        check(what, item, fields);
    }
    list.clone()
}

/// `percent_encode(s, NON_ALPHANUMERIC)`, as PDM's client encodes path segments and values.
fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// The data of an extjs answer, after checking its envelope.
#[track_caller]
fn data(reply: common::Reply) -> Value {
    assert_eq!(reply.status, 200, "{} {}", reply.reason, reply.body);
    assert!(reply.body["success"] == 1 || reply.body["success"] == true, "extjs envelope: {}", reply.body);
    reply.body["data"].clone()
}

const NODE_INDEX: &[(&str, T, bool)] = &[
    ("node", T::Str, true),
    ("status", T::Enum(&["online", "offline", "unknown"]), true),
    ("ssl_fingerprint", T::Str, false),
    ("cpu", T::Num, false),
    ("level", T::Str, false),
    ("maxcpu", T::Int, false),
    ("maxmem", T::Int, false),
    ("mem", T::Int, false),
    ("uptime", T::Int, false),
];

const CLUSTER_RESOURCE: &[(&str, T, bool)] = &[
    ("id", T::Str, true),
    ("type", T::Enum(&["node", "storage", "pool", "qemu", "lxc", "openvz", "sdn", "network"]), true),
    ("cpu", T::Num, false),
    ("level", T::Str, false),
    ("maxcpu", T::Num, false),
    ("maxmem", T::Int, false),
    ("mem", T::Int, false),
    ("network", T::Str, false),
    ("network-type", T::Enum(&["fabric", "zone"]), false),
    ("node", T::Str, false),
    ("protocol", T::Str, false),
    ("sdn", T::Str, false),
    ("status", T::Str, false),
    ("uptime", T::Int, false),
    ("zone-type", T::Str, false),
];

const TASK_STATUS: &[(&str, T, bool)] = &[
    ("exitstatus", T::Str, false),
    ("id", T::Str, true),
    ("node", T::Str, true),
    ("pid", T::Int, true),
    ("pstart", T::Int, true),
    ("starttime", T::Int, true),
    ("status", T::Enum(&["running", "stopped"]), true),
    ("type", T::Str, true),
    ("upid", T::Str, true),
    ("user", T::Str, true),
];

const TASK_LIST: &[(&str, T, bool)] = &[
    ("endtime", T::Int, false),
    ("id", T::Str, true),
    ("node", T::Str, true),
    ("pid", T::Int, true),
    ("pstart", T::Int, true),
    ("starttime", T::Int, true),
    ("status", T::Str, false),
    ("type", T::Str, true),
    ("upid", T::Str, true),
    ("user", T::Str, true),
];

fn replay() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/frr-output/vtysh-replay").display().to_string()
}

#[test]
fn pdm_drives_sdnd_end_to_end() {
    let data_dir = tempfile::tempdir().unwrap();
    let server = Server::start_node(data_dir.path(), NODE, &store_args(), &["--vtysh", &replay()]);
    let root = server.client("pdm-setup");
    let api = "/api2/extjs";

    // Adding the remote: version, node list (with the fingerprint PDM pins), cluster status.
    check(
        "version",
        &data(root.get(&format!("{api}/version"), &[])),
        &[("version", T::Str, true), ("release", T::Str, true)],
    );
    let nodes = check_all("nodes", &data(root.get(&format!("{api}/nodes"), &[])), NODE_INDEX);
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(nodes[0]["ssl_fingerprint"], server.fingerprint.as_str());
    assert_eq!(nodes[0]["status"], "online");
    for field in ["uptime", "cpu", "maxcpu", "mem", "maxmem"] {
        assert!(nodes[0].get(field).is_some(), "the agent reports {field}: {}", nodes[0]);
    }
    let status = data(root.get(&format!("{api}/cluster/status"), &[]));
    check_all(
        "cluster status",
        &status,
        &[
            ("id", T::Str, true),
            ("name", T::Str, true),
            ("type", T::Enum(&["cluster", "node"]), true),
            ("ip", T::Str, false),
            ("level", T::Str, false),
            ("local", T::Bool, false),
            ("nodeid", T::Int, false),
            ("nodes", T::Int, false),
            ("online", T::Bool, false),
            ("quorate", T::Bool, false),
            ("version", T::Int, false),
        ],
    );

    // PDM's own token, created over the API, works at once.
    let token = data(root.json(
        "POST",
        &format!("{api}/access/users/{}/token/{}", enc("root@pam"), enc("pdm-remote")),
        &json!({"privsep": false, "comment": "PDM"}),
    ));
    check("token", &token, &[("full-tokenid", T::Str, true), ("value", T::Str, true)]);
    assert_eq!(token["full-tokenid"], "root@pam!pdm-remote");
    let pdm = Client::new(
        &server.base,
        Some(format!("PVEAPIToken={}={}", token["full-tokenid"].as_str().unwrap(), token["value"].as_str().unwrap())),
    );

    // The underlay and controller exist already (made by the cluster's admin).
    pdm.json(
        "POST",
        &format!("{api}/cluster/sdn/fabrics/fabric"),
        &json!({"id": "test", "protocol": "openfabric", "ip_prefix": "172.16.6.0/24"}),
    );
    data(pdm.json(
        "POST",
        &format!("{api}/cluster/sdn/fabrics/node/test"),
        &json!({"node_id": NODE, "protocol": "openfabric", "ip": "172.16.6.2", "interfaces": ["name=ens19", "name=ens20"]}),
    ));
    data(pdm.json(
        "POST",
        &format!("{api}/cluster/sdn/controllers"),
        &json!({"controller": "ctrl", "type": "evpn", "asn": 65000, "fabric": "test"}),
    ));
    let upid = data(pdm.json("PUT", &format!("{api}/cluster/sdn"), &json!({})));
    poll_task(&pdm, upid.as_str().unwrap());

    // PDM's SDN flow: lock, create a zone and a vnet with the token, apply and release.
    let lock = data(pdm.json("POST", &format!("{api}/cluster/sdn/lock"), &json!({"allow-pending": false})));
    let lock = lock.as_str().expect("the lock token").to_string();
    data(pdm.json(
        "POST",
        &format!("{api}/cluster/sdn/zones"),
        &json!({"zone": "test", "type": "evpn", "controller": "ctrl", "vrf-vxlan": 1000, "lock-token": lock}),
    ));
    data(pdm.json(
        "POST",
        &format!("{api}/cluster/sdn/vnets"),
        &json!({"vnet": "vnet1", "zone": "test", "tag": 100, "lock-token": lock}),
    ));
    let upid = data(pdm.json("PUT", &format!("{api}/cluster/sdn"), &json!({"lock-token": lock, "release-lock": true})));
    let upid = upid.as_str().unwrap().to_string();
    assert_eq!(poll_task(&pdm, &upid)["exitstatus"], "OK");

    // The task shows up in the lists PDM reads.
    let tasks = check_all(
        "tasks",
        &data(pdm.get(&format!("{api}/nodes/{}/tasks?limit=50&source={}", enc(NODE), enc("all")), &[])),
        TASK_LIST,
    );
    assert!(tasks.iter().any(|t| t["upid"] == upid.as_str()), "{tasks:?}");
    let cluster_tasks = data(pdm.get(&format!("{api}/cluster/tasks"), &[]));
    assert!(cluster_tasks.as_array().unwrap().iter().any(|t| t["upid"] == upid.as_str()));

    // Resources: the node, the zones and the fabric (whose status the agent reports from
    // FRR's routes once it has looked).
    let deadline = Instant::now() + Duration::from_secs(30);
    let resources = loop {
        let resources =
            check_all("resources", &data(pdm.get(&format!("{api}/cluster/resources"), &[])), CLUSTER_RESOURCE);
        let fabric = resources.iter().find(|r| r["network-type"] == "fabric").cloned();
        if fabric.as_ref().is_some_and(|f| f["status"] != "unknown") || Instant::now() > deadline {
            break resources;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let by_id = |id: &str| {
        resources.iter().find(|r| r["id"] == id).cloned().unwrap_or_else(|| panic!("no {id} in {resources:?}"))
    };
    assert_eq!(by_id(&format!("node/{NODE}"))["status"], "online");
    assert_eq!(
        by_id(&format!("network/{NODE}/zone/test")),
        json!({"id": "network/node2/zone/test", "type": "network", "network-type": "zone", "network": "test", "node": NODE, "status": "available", "zone-type": "evpn"})
    );
    assert_eq!(by_id(&format!("network/{NODE}/zone/localnetwork"))["status"], "ok");
    assert_eq!(
        by_id(&format!("network/{NODE}/fabric/test")),
        json!({"id": "network/node2/fabric/test", "type": "network", "network-type": "fabric", "network": "test", "protocol": "openfabric", "node": NODE, "status": "ok"}),
        "FRR has routes through ens19/ens20"
    );
    let sdn = check_all(
        "resources (sdn)",
        &data(pdm.get(&format!("{api}/cluster/resources?type={}", enc("sdn")), &[])),
        CLUSTER_RESOURCE,
    );
    assert_eq!(
        sdn,
        vec![
            json!({"id": "sdn/node2/test", "type": "sdn", "sdn": "test", "node": NODE, "status": "available", "zone-type": "evpn"})
        ]
    );
    let only_nodes = data(pdm.get(&format!("{api}/cluster/resources?type=node"), &[]));
    assert!(only_nodes.as_array().unwrap().iter().all(|r| r["type"] == "node"));
    assert_eq!(data(pdm.get(&format!("{api}/cluster/resources?type=vm"), &[])), json!([]));

    // The EVPN panel: ip-vrf and mac-vrf, typed as PDM reads them.
    let ip_vrf = data(pdm.get(&format!("{api}/nodes/{}/sdn/zones/{}/ip-vrf", enc(NODE), enc("test")), &[]));
    let ip_vrf = check_all(
        "ip-vrf",
        &ip_vrf,
        &[("ip", T::Str, true), ("metric", T::Int, true), ("nexthops", T::StrArray, true), ("protocol", T::Str, true)],
    );
    assert_eq!(ip_vrf.len(), 5);
    let mac_vrf = data(pdm.get(&format!("{api}/nodes/{}/sdn/vnets/{}/mac-vrf", enc(NODE), enc("vnet1")), &[]));
    let mac_vrf =
        check_all("mac-vrf", &mac_vrf, &[("ip", T::Str, true), ("mac", T::Str, true), ("nexthop", T::Str, true)]);
    for entry in &mac_vrf {
        entry["ip"].as_str().unwrap().parse::<std::net::IpAddr>().expect("ip");
        entry["nexthop"].as_str().unwrap().parse::<std::net::IpAddr>().expect("nexthop");
        let mac = entry["mac"].as_str().unwrap();
        assert!(mac.len() == 17 && mac.split(':').all(|b| b.len() == 2 && u8::from_str_radix(b, 16).is_ok()), "{mac}");
    }

    // A failing change set: lock, create, roll back and release.
    let lock = data(pdm.json("POST", &format!("{api}/cluster/sdn/lock"), &json!({"allow-pending": false})))
        .as_str()
        .unwrap()
        .to_string();
    data(pdm.json(
        "POST",
        &format!("{api}/cluster/sdn/vnets"),
        &json!({"vnet": "vnet2", "zone": "test", "tag": 101, "lock-token": lock}),
    ));
    assert_eq!(
        data(pdm.json(
            "POST",
            &format!("{api}/cluster/sdn/rollback"),
            &json!({"lock-token": lock, "release-lock": true})
        )),
        Value::Null
    );
    let pending = data(pdm.get(&format!("{api}/cluster/sdn/vnets?pending=1"), &[]));
    assert!(pending.as_array().unwrap().iter().all(|v| v["vnet"] != "vnet2"), "rolled back: {pending}");
    // Release with the token PDM holds, percent-encoded in the query.
    let lock = data(pdm.json("POST", &format!("{api}/cluster/sdn/lock"), &json!({"allow-pending": false})))
        .as_str()
        .unwrap()
        .to_string();
    data(pdm.delete(&format!("{api}/cluster/sdn/lock?{}={}", enc("lock-token"), enc(&lock)), &[]));

    // What this server lacks answers 501, so PDM can tell it apart from a bad request (in the
    // extjs body, as PVE's formatter puts it; the HTTP status is 200 there).
    let missing = pdm.get(&format!("{api}/cluster/sdn/xyz"), &[]).expect(200);
    assert_eq!(missing.body["success"], 0);
    assert_eq!(missing.body["status"], 501, "{}", missing.body);
    assert_eq!(missing.body["message"], "Method 'GET /cluster/sdn/xyz' not implemented");
    // A refusal of the lock keeps its status too.
    let lock = data(pdm.json("POST", &format!("{api}/cluster/sdn/lock"), &json!({"allow-pending": false})))
        .as_str()
        .unwrap()
        .to_string();
    let refused =
        pdm.json("POST", &format!("{api}/cluster/sdn/vnets"), &json!({"vnet": "vnet3", "zone": "test", "tag": 102}));
    assert_eq!(refused.body["status"], 423, "{}", refused.body);
    data(pdm.delete(&format!("{api}/cluster/sdn/lock?{}={}", enc("lock-token"), enc(&lock)), &[]));
}

/// Polls a task every 3 seconds, as PDM does, until it stops; its last status.
fn poll_task(client: &Client, upid: &str) -> Value {
    let node = upid.split(':').nth(1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = data(client.get(&format!("/api2/extjs/nodes/{}/tasks/{}/status", enc(node), enc(upid)), &[]));
        check("task status", &status, TASK_STATUS);
        if status["status"] == "stopped" {
            return status;
        }
        assert!(Instant::now() < deadline, "task {upid} did not stop");
        std::thread::sleep(Duration::from_secs(3));
    }
}

fn admin(data_dir: &Path, args: &[&str]) {
    let out = std::process::Command::new(common::SDND)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .args(store_args())
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `GET /nodes` lists the nodes the configuration names besides the registered ones, and
/// `GET /cluster/resources` shows each caller what PVE would show them.
#[test]
fn nodes_and_resources_follow_the_configuration_and_the_callers_privileges() {
    let data_dir = tempfile::tempdir().unwrap();
    let d = data_dir.path();
    let server = Server::start_node(d, NODE, &store_args(), &["--apply-timeout", "1"]);
    let root = server.client("root");
    let sdn = "/api2/json/cluster/sdn";
    root.post(&format!("{sdn}/zones"), &[("zone", "za"), ("type", "simple")]).ok();
    root.post(
        &format!("{sdn}/zones"),
        &[("zone", "zb"), ("type", "vlan"), ("bridge", "vmbr0"), ("nodes", "node2,node3")],
    )
    .ok();
    root.post(
        &format!("{sdn}/fabrics/fabric"),
        &[("id", "fab"), ("protocol", "openfabric"), ("ip_prefix", "10.9.0.0/24")],
    )
    .ok();
    root.post(
        &format!("{sdn}/fabrics/node/fab"),
        &[("node_id", NODE), ("protocol", "openfabric"), ("ip", "10.9.0.2"), ("interfaces", "name=ens19")],
    )
    .ok();
    let upid = root.put(sdn, &[]).ok();
    root.wait_task(upid.as_str().unwrap());

    let nodes = root.get("/api2/json/nodes", &[]).ok();
    let listed: Vec<(&str, &str)> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["node"].as_str().unwrap(), n["status"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [(NODE, "online"), ("node3", "unknown")], "node3 is named by zone zb and never registered");
    let status = root.get("/api2/json/cluster/status", &[]).ok();
    let members: Vec<(&str, i64)> = status
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "node")
        .map(|e| (e["name"].as_str().unwrap(), e["online"].as_i64().unwrap()))
        .collect();
    assert_eq!(members, [(NODE, 1), ("node3", 0)], "/cluster/status lists the same nodes as /nodes: {status}");
    assert_eq!(status[0]["nodes"], 2, "{status}");
    check_all("nodes", &nodes, NODE_INDEX);

    admin(d, &["user", "add", "bob@pve"]);
    admin(d, &["acl", "modify", "/sdn/zones/zb", "--users", "bob@pve", "--roles", "PVEAuditor"]);
    admin(d, &["acl", "modify", "/sdn", "--users", "bob@pve", "--roles", "PVEAuditor", "--propagate", "0"]);
    let bob = Client::new(&server.base, Some(common::add_token(d, "bob@pve", "ui")));
    let all = root.get("/api2/json/cluster/resources", &[]).ok();
    let ids = |list: &Value| {
        list.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&all),
        [
            "node/node2",
            "node/node3",
            "network/node2/zone/localnetwork",
            "network/node2/zone/za",
            "network/node2/zone/zb",
            "network/node2/fabric/fab",
        ]
    );
    let theirs = bob.get("/api2/json/cluster/resources", &[]).ok();
    assert_eq!(ids(&theirs), ["node/node2", "node/node3", "network/node2/zone/zb"], "only the zone bob may audit");
    let node = &theirs[0];
    assert!(node.get("mem").is_none() && node.get("maxmem").is_none(), "no load figures without Sys.Audit: {node}");
    assert!(all[0].get("maxmem").is_some(), "root sees them: {}", all[0]);
    let legacy = bob.get("/api2/json/cluster/resources", &[("type", "sdn")]).ok();
    assert_eq!(
        legacy,
        json!([{"id": "sdn/node2/zb", "type": "sdn", "sdn": "zb", "node": NODE, "status": "available", "zone-type": "vlan"}])
    );
    let bad = root.get("/api2/json/cluster/resources", &[("type", "network")]).expect(400);
    assert!(bad.body["errors"]["type"].is_string(), "{}", bad.body);
}
