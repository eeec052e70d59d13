//! PVE 9 fabrics (issue 11): `fabrics.cfg` import and export, fabrics as pending/running
//! objects carried into the running config by apply, the node agent's output for an EVPN
//! controller on an OpenFabric underlay (corpus case `evpn/openfabric_fabric`).

mod common;

use std::path::{Path, PathBuf};

use common::{store_args, Server, SDND};
use serde_json::Value;

const SDN: &str = "/api2/json/cluster/sdn";
const NODE: &str = "localhost";

fn case() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/pve-zones/evpn/openfabric_fabric")
}

/// The case's fabric as PVE 9 writes `fabrics.cfg` (proxmox-section-config's writer).
const FABRICS_CFG: &str = "openfabric_fabric: test
\thello_interval 1
\tip_prefix 172.20.3.0/24

openfabric_node: test_localhost
\tinterfaces name=ens20
\tinterfaces name=ens21
\tip 172.20.3.1

openfabric_node: test_pathfinder
\tinterfaces name=ens20
\tinterfaces name=ens21
\tip 172.20.3.2

openfabric_node: test_raider
\tinterfaces name=ens21
\tinterfaces name=ens20
\tip 172.20.3.3
";

const ZONES_CFG: &str = "evpn: evpn
\tcontroller ctrl
\tvrf-vxlan 100
\tipam pve
\tmac BC:24:11:3B:39:34

";

const CONTROLLERS_CFG: &str = "evpn: ctrl
\tasn 65000
\tfabric test

";

fn sdnd(args: &[&str], data: &Path) -> std::process::Output {
    std::process::Command::new(SDND)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .args(store_args())
        .env("SDND_LOG", "warn")
        .output()
        .unwrap()
}

#[track_caller]
fn sdnd_ok(args: &[&str], data: &Path) {
    let out = sdnd(args, data);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The node agent's folder of node `localhost` with the case's facts and host interfaces.
fn case_node_dir(data: &Path) -> PathBuf {
    let dir = data.join(format!("node-{NODE}"));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["facts.json", "interfaces"] {
        std::fs::copy(case().join(file), dir.join(file)).unwrap();
    }
    dir
}

/// The cluster of the case as PVE 9 has it on disk after applying: the zone and controller
/// files, `fabrics.cfg` and the running config; the vnet and its subnet are left to the test.
fn write_import_dir(dir: &Path) {
    std::fs::write(dir.join("zones.cfg"), ZONES_CFG).unwrap();
    std::fs::write(dir.join("controllers.cfg"), CONTROLLERS_CFG).unwrap();
    std::fs::write(dir.join("fabrics.cfg"), FABRICS_CFG).unwrap();
    std::fs::copy(case().join("running-config.json"), dir.join(".running-config")).unwrap();
}

fn running_fabric_ids(export_dir: &Path) -> Vec<String> {
    let text = std::fs::read(export_dir.join(".running-config")).unwrap();
    let json: Value = serde_json::from_slice(&text).unwrap();
    json["fabrics"]["ids"].as_object().map(|ids| ids.keys().cloned().collect()).unwrap_or_default()
}

#[track_caller]
fn assert_case_output(node_dir: &Path, version: u64) {
    let expected_sdn = std::fs::read_to_string(case().join("expected/sdn")).unwrap();
    let expected_sdn = expected_sdn.replacen("#version:1", &format!("#version:{version}"), 1);
    let sdn = std::fs::read_to_string(node_dir.join("sdn")).unwrap();
    assert_eq!(sdn, expected_sdn, "the interfaces file");
    let frr = std::fs::read_to_string(node_dir.join("frr.conf")).unwrap();
    assert_eq!(frr, std::fs::read_to_string(case().join("expected/frr.conf")).unwrap(), "frr.conf");
}

/// The reported loss: import a PVE 9 cluster with an OpenFabric underlay, create a vnet,
/// apply: the new running version must still hold the fabric and its nodes.
#[test]
fn import_create_vnet_apply_keeps_the_fabric_underlay() {
    let import = tempfile::tempdir().unwrap();
    write_import_dir(import.path());
    let data = tempfile::tempdir().unwrap();
    sdnd_ok(&["import", "--from", import.path().to_str().unwrap()], data.path());

    // Export straight after the import: fabrics.cfg comes back byte for byte.
    let first = tempfile::tempdir().unwrap();
    sdnd_ok(&["export", "--to", first.path().to_str().unwrap()], data.path());
    assert_eq!(std::fs::read_to_string(first.path().join("fabrics.cfg")).unwrap(), FABRICS_CFG);
    let before = running_fabric_ids(first.path());
    assert_eq!(before, ["test", "test_localhost", "test_pathfinder", "test_raider"]);

    let node_dir = case_node_dir(data.path());
    let server = Server::start_node(data.path(), NODE, &store_args(), &[]);
    let client = server.client("fabrics");
    client.post(&format!("{SDN}/vnets"), &[("vnet", "vnet0"), ("zone", "evpn"), ("tag", "123456")]).ok();
    client
        .post(&format!("{SDN}/vnets/vnet0/subnets"), &[("subnet", "10.123.123.0/24"), ("type", "subnet"), ("gateway", "10.123.123.1")])
        .ok();
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
    assert_case_output(&node_dir, 2);
    drop(server);

    let second = tempfile::tempdir().unwrap();
    sdnd_ok(&["export", "--to", second.path().to_str().unwrap()], data.path());
    assert_eq!(running_fabric_ids(second.path()), before, "the applied version still has the fabric and its nodes");
    let running: Value = serde_json::from_slice(&std::fs::read(second.path().join(".running-config")).unwrap()).unwrap();
    let imported: Value = serde_json::from_slice(&std::fs::read(case().join("running-config.json")).unwrap()).unwrap();
    assert_eq!(running["fabrics"], imported["fabrics"], "the fabrics section as the reference writes it");
    assert_eq!(std::fs::read_to_string(second.path().join("fabrics.cfg")).unwrap(), FABRICS_CFG);
}

/// A controller naming a fabric that `fabrics.cfg` does not have: the import is refused,
/// naming both, and nothing is imported.
#[test]
fn import_refuses_a_reference_to_a_missing_fabric() {
    let import = tempfile::tempdir().unwrap();
    write_import_dir(import.path());
    std::fs::remove_file(import.path().join("fabrics.cfg")).unwrap();
    std::fs::remove_file(import.path().join(".running-config")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = sdnd(&["import", "--from", import.path().to_str().unwrap()], data.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fabric 'test'") && stderr.contains("controller 'ctrl'"), "{stderr}");

    // A broken fabrics.cfg is refused with the section and field named.
    write_import_dir(import.path());
    std::fs::write(import.path().join("fabrics.cfg"), FABRICS_CFG.replace("ip 172.20.3.3", "ip 172.20.4.3")).unwrap();
    let out = sdnd(&["import", "--from", import.path().to_str().unwrap()], data.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fabrics.ip") && stderr.contains("172.20.4.3") && stderr.contains("test_raider"), "{stderr}");
    let export = tempfile::tempdir().unwrap();
    sdnd_ok(&["export", "--to", export.path().to_str().unwrap()], data.path());
    assert!(!export.path().join("zones.cfg").exists(), "nothing was imported");
}

/// Creates the objects of the case through the API (the nodes' interfaces once as repeated
/// form parameters, once as a JSON array).
fn create_case_objects(client: &common::Client) {
    client
        .post(&format!("{SDN}/fabrics/fabric"), &[("id", "test"), ("protocol", "openfabric"), ("ip_prefix", "172.20.3.0/24"), ("hello_interval", "1")])
        .ok();
    client
        .post(
            &format!("{SDN}/fabrics/node/test"),
            &[("node_id", "localhost"), ("protocol", "openfabric"), ("ip", "172.20.3.1"), ("interfaces", "name=ens20"), ("interfaces", "name=ens21")],
        )
        .ok();
    for (node, ip, interfaces) in [("pathfinder", "172.20.3.2", ["name=ens20", "name=ens21"]), ("raider", "172.20.3.3", ["name=ens21", "name=ens20"])] {
        let body = serde_json::json!({"node_id": node, "protocol": "openfabric", "ip": ip, "interfaces": interfaces});
        client.json("POST", &format!("{SDN}/fabrics/node/test"), &body).ok();
    }
    client.post(&format!("{SDN}/controllers"), &[("controller", "ctrl"), ("type", "evpn"), ("asn", "65000"), ("fabric", "test")]).ok();
    client
        .post(
            &format!("{SDN}/zones"),
            &[("zone", "evpn"), ("type", "evpn"), ("controller", "ctrl"), ("vrf-vxlan", "100"), ("ipam", "pve"), ("mac", "BC:24:11:3B:39:34")],
        )
        .ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "vnet0"), ("zone", "evpn"), ("tag", "123456")]).ok();
    client
        .post(&format!("{SDN}/vnets/vnet0/subnets"), &[("subnet", "10.123.123.0/24"), ("type", "subnet"), ("gateway", "10.123.123.1")])
        .ok();
}

/// The corpus case built through the API: the agent writes exactly the case's files.
#[test]
fn the_corpus_case_built_through_the_api() {
    let data = tempfile::tempdir().unwrap();
    let node_dir = case_node_dir(data.path());
    let server = Server::start_node(data.path(), NODE, &store_args(), &[]);
    let client = server.client("fabrics");
    create_case_objects(&client);
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
    assert_case_output(&node_dir, 1);
    drop(server);
    let export = tempfile::tempdir().unwrap();
    sdnd_ok(&["export", "--to", export.path().to_str().unwrap()], data.path());
    assert_eq!(std::fs::read_to_string(export.path().join("fabrics.cfg")).unwrap(), FABRICS_CFG);
    let running: Value = serde_json::from_slice(&std::fs::read(export.path().join(".running-config")).unwrap()).unwrap();
    let case: Value = serde_json::from_slice(&std::fs::read(case().join("running-config.json")).unwrap()).unwrap();
    assert_eq!(running["fabrics"], case["fabrics"]);
}

#[track_caller]
fn field_error(reply: common::Reply, field: &str) -> String {
    let reply = reply.expect(400);
    reply.body["errors"][field].as_str().unwrap_or_else(|| panic!("no error for {field}: {}", reply.body)).to_string()
}

#[test]
fn the_fabrics_api() {
    let data = tempfile::tempdir().unwrap();
    let _ = case_node_dir(data.path());
    let server = Server::start_node(data.path(), NODE, &store_args(), &[]);
    let client = server.client("fabrics");
    let index = client.get(&format!("{SDN}/fabrics"), &[]).ok();
    assert_eq!(index, serde_json::json!([{"subdir": "fabric"}, {"subdir": "node"}, {"subdir": "all"}]));
    let sdn_index = client.get(SDN, &[]).ok();
    assert!(sdn_index.as_array().unwrap().iter().any(|e| e["id"] == "fabrics"), "{sdn_index}");
    create_case_objects(&client);

    let fabric = client.get(&format!("{SDN}/fabrics/fabric/test"), &[]).ok();
    assert_eq!(fabric["id"], "test");
    assert_eq!(fabric["protocol"], "openfabric");
    assert_eq!(fabric["ip_prefix"], "172.20.3.0/24");
    assert_eq!(fabric["hello_interval"], 1);
    let digest = fabric["digest"].as_str().unwrap().to_string();
    let node = client.get(&format!("{SDN}/fabrics/node/test/raider"), &[]).ok();
    assert_eq!(node["fabric_id"], "test");
    assert_eq!(node["node_id"], "raider");
    assert_eq!(node["interfaces"], serde_json::json!(["name=ens21", "name=ens20"]), "as given, in order");
    let all = client.get(&format!("{SDN}/fabrics/all"), &[]).ok();
    assert_eq!(all["fabrics"].as_array().unwrap().len(), 1);
    assert_eq!(all["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(client.get(&format!("{SDN}/fabrics/node"), &[]).ok().as_array().unwrap().len(), 3);
    assert_eq!(client.get(&format!("{SDN}/fabrics/node/test"), &[]).ok().as_array().unwrap().len(), 3);
    client.get(&format!("{SDN}/fabrics/node/nope"), &[]).expect(404);
    client.get(&format!("{SDN}/fabrics/fabric/nope"), &[]).expect(404);

    // Pending until applied: new, then nothing, then changed.
    let pending = client.get(&format!("{SDN}/fabrics/fabric"), &[("pending", "1")]).ok();
    assert_eq!(pending[0]["state"], "new", "{pending}");
    assert_eq!(pending[0]["pending"]["id"], "test");
    assert_eq!(client.get(&format!("{SDN}/fabrics/fabric"), &[("running", "1")]).ok(), serde_json::json!([]));
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
    let pending = client.get(&format!("{SDN}/fabrics/all"), &[("pending", "1")]).ok();
    assert!(pending["fabrics"][0].get("state").is_none(), "{pending}");
    client
        .put(&format!("{SDN}/fabrics/fabric/test"), &[("protocol", "openfabric"), ("hello_interval", "2"), ("csnp_interval", "5"), ("digest", &digest)])
        .ok();
    let pending = client.get(&format!("{SDN}/fabrics/fabric"), &[("pending", "1")]).ok();
    assert_eq!(pending[0]["state"], "changed", "{pending}");
    assert_eq!(pending[0]["hello_interval"], 1);
    assert_eq!(pending[0]["pending"]["hello_interval"], 2);
    let running = client.get(&format!("{SDN}/fabrics/fabric"), &[("running", "1")]).ok();
    assert_eq!(running[0]["hello_interval"], 1);
    assert!(running[0].get("digest").is_none());
    client.put(&format!("{SDN}/fabrics/fabric/test"), &[("protocol", "openfabric"), ("delete", "csnp_interval")]).ok();
    assert!(client.get(&format!("{SDN}/fabrics/fabric/test"), &[]).ok().get("csnp_interval").is_none());
    client.put(&format!("{SDN}/fabrics/fabric/test"), &[("protocol", "openfabric"), ("hello_interval", "3"), ("digest", &digest)]).expect(409);

    // Every refusal names the field; nothing is written.
    let before = client.get(&format!("{SDN}/fabrics/all"), &[]).ok();
    let post_fabric = |params: &[(&str, &str)]| client.post(&format!("{SDN}/fabrics/fabric"), params);
    let msg = field_error(post_fabric(&[("id", "f2"), ("protocol", "bgpx"), ("ip_prefix", "10.9.0.0/24")]), "protocol");
    assert!(msg.contains("bgpx") && msg.contains("openfabric, ospf"), "{msg}");
    let msg = field_error(post_fabric(&[("id", "f2"), ("protocol", "openfabric"), ("ip_prefix", "172.20.0.0/16")]), "ip_prefix");
    assert!(msg.contains("overlaps"), "{msg}");
    field_error(post_fabric(&[("id", "f2"), ("protocol", "openfabric"), ("area", "0"), ("ip_prefix", "10.9.0.0/24")]), "area");
    field_error(post_fabric(&[("id", "f2"), ("protocol", "openfabric"), ("hello_interval", "601"), ("ip_prefix", "10.9.0.0/24")]), "hello_interval");
    field_error(post_fabric(&[("id", "f_2"), ("protocol", "openfabric"), ("ip_prefix", "10.9.0.0/24")]), "id");
    field_error(post_fabric(&[("id", "f2"), ("protocol", "openfabric")]), "ip_prefix");
    field_error(client.put(&format!("{SDN}/fabrics/fabric/test"), &[("hello_interval", "3")]), "protocol");
    field_error(client.put(&format!("{SDN}/fabrics/fabric/test"), &[("protocol", "ospf"), ("area", "0")]), "protocol");
    let post_node = |fabric: &str, params: &[(&str, &str)]| client.post(&format!("{SDN}/fabrics/node/{fabric}"), params);
    let msg = field_error(post_node("test", &[("node_id", "n4"), ("protocol", "openfabric"), ("ip", "10.1.1.1")]), "ip");
    assert!(msg.contains("outside"), "{msg}");
    let msg = field_error(post_node("test", &[("node_id", "n4"), ("protocol", "openfabric"), ("ip", "172.20.3.9"), ("interfaces", "name=ens20,cost=1")]), "interfaces");
    assert!(msg.contains("cost"), "{msg}");
    field_error(post_node("test", &[("node_id", "n4"), ("protocol", "ospf"), ("ip", "172.20.3.9")]), "protocol");
    post_node("nope", &[("node_id", "n4"), ("protocol", "openfabric"), ("ip", "172.20.3.9")]).expect(404);
    post_node("test", &[("node_id", "raider"), ("protocol", "openfabric"), ("ip", "172.20.3.9")]).expect(409);
    assert_eq!(client.get(&format!("{SDN}/fabrics/all"), &[]).ok(), before, "nothing half-written");

    // The rules across fabrics: an interface in two fabrics, two OSPF fabrics on one area.
    post_fabric(&[("id", "f2"), ("protocol", "openfabric"), ("ip_prefix", "10.9.0.0/24")]).ok();
    let msg = field_error(post_node("f2", &[("node_id", "localhost"), ("protocol", "openfabric"), ("ip", "10.9.0.1"), ("interfaces", "name=ens20")]), "interfaces");
    assert!(msg.contains("ens20") && msg.contains("test_localhost") && msg.contains("'f2'"), "{msg}");
    post_node("f2", &[("node_id", "localhost"), ("protocol", "openfabric"), ("ip", "10.9.0.1"), ("interfaces", "name=ens22")]).ok();
    post_fabric(&[("id", "o1"), ("protocol", "ospf"), ("area", "1"), ("ip_prefix", "10.10.0.0/24")]).ok();
    let msg = field_error(post_fabric(&[("id", "o2"), ("protocol", "ospf"), ("area", "0.0.0.1"), ("ip_prefix", "10.11.0.0/24")]), "area");
    assert!(msg.contains("o1"), "{msg}");

    // References: a zone naming a missing fabric; deleting a fabric in use.
    let msg = field_error(client.post(&format!("{SDN}/zones"), &[("zone", "vx"), ("type", "vxlan"), ("fabric", "nofab")]), "fabric");
    assert!(msg.contains("nofab") && msg.contains("vx"), "{msg}");
    client.post(&format!("{SDN}/zones"), &[("zone", "vx"), ("type", "vxlan"), ("fabric", "f2")]).ok();
    let reply = client.delete(&format!("{SDN}/fabrics/fabric/test"), &[]).expect(409);
    assert!(reply.message().contains("controller ctrl"), "{}", reply.body);
    let reply = client.delete(&format!("{SDN}/fabrics/fabric/f2"), &[]).expect(409);
    assert!(reply.message().contains("zone vx"), "{}", reply.body);
    client.delete(&format!("{SDN}/zones/vx"), &[]).ok();
    client.delete(&format!("{SDN}/fabrics/fabric/f2"), &[]).ok();
    client.get(&format!("{SDN}/fabrics/node/f2/localhost"), &[]).expect(404);
    assert!(!client.get(&format!("{SDN}/fabrics/node"), &[]).ok().to_string().contains("\"f2\""), "the fabric's nodes went with it");

    // Node update and delete.
    client.json("PUT", &format!("{SDN}/fabrics/node/test/raider"), &serde_json::json!({"protocol": "openfabric", "interfaces": ["name=ens21,hello_multiplier=3"]})).ok();
    assert_eq!(client.get(&format!("{SDN}/fabrics/node/test/raider"), &[]).ok()["interfaces"], serde_json::json!(["name=ens21,hello_multiplier=3"]));
    client.delete(&format!("{SDN}/fabrics/node/test/raider"), &[]).ok();
    client.delete(&format!("{SDN}/fabrics/node/test/raider"), &[]).expect(404);
    let pending = client.get(&format!("{SDN}/fabrics/node"), &[("pending", "1")]).ok();
    let raider = pending.as_array().unwrap().iter().find(|n| n["node_id"] == "raider").expect("the deleted node is listed");
    assert_eq!(raider["state"], "deleted");
}

/// Fabric changes go through the lock rule, privileges first.
#[test]
fn fabric_changes_obey_the_lock_and_the_acl() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let client = server.client("fabrics");
    let token = client.post(&format!("{SDN}/lock"), &[]).ok();
    let token = token.as_str().unwrap();
    let create = [("id", "f1"), ("protocol", "openfabric"), ("ip_prefix", "10.9.0.0/24")];
    client.post(&format!("{SDN}/fabrics/fabric"), &create).expect(423);
    let mut with_token = create.to_vec();
    with_token.push(("lock-token", token));
    client.post(&format!("{SDN}/fabrics/fabric"), &with_token).ok();
    client.post(&format!("{SDN}/fabrics/node/f1"), &[("node_id", "n1"), ("protocol", "openfabric"), ("ip", "10.9.0.1")]).expect(423);
    client.post(&format!("{SDN}/fabrics/node/f1"), &[("node_id", "n1"), ("protocol", "openfabric"), ("ip", "10.9.0.1"), ("lock-token", token)]).ok();
    client.delete(&format!("{SDN}/fabrics/fabric/f1"), &[]).expect(423);
    client.delete(&format!("{SDN}/lock"), &[("lock-token", token)]).ok();

    // Without privileges: 403 before the lock or the parameters are looked at.
    let mut add = std::process::Command::new(SDND)
        .args(["user", "add", "nobody@pve", "--password-stdin", "--data-dir"])
        .arg(data.path())
        .args(store_args())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut add.stdin.take().unwrap(), b"a long enough password\n").unwrap();
    assert!(add.wait().unwrap().success());
    let user = common::add_token(data.path(), "nobody@pve", "tok");
    let stranger = client.with_auth(Some(user));
    stranger.post(&format!("{SDN}/fabrics/fabric"), &[("id", "f2"), ("protocol", "nope")]).expect(403);
    stranger.put(&format!("{SDN}/fabrics/fabric/f1"), &[("protocol", "openfabric")]).expect(403);
    stranger.delete(&format!("{SDN}/fabrics/node/f1/n1"), &[]).expect(403);
    stranger.get(&format!("{SDN}/fabrics/fabric/f1"), &[]).expect(403);
    assert_eq!(stranger.get(&format!("{SDN}/fabrics/all"), &[]).ok(), serde_json::json!({"fabrics": [], "nodes": []}));
}
