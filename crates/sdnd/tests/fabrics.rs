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
