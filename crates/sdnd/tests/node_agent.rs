//! The node agent: apply renders this node's files and reports; dry-run diffs against them;
//! a failing reload fails the apply task and names the node.

mod common;

use common::{node_dir, Server};

const SDN: &str = "/api2/json/cluster/sdn";

#[test]
fn apply_renders_node_files_and_dry_run_diffs_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client("agent");
    let files = node_dir(dir.path());

    client.post(&format!("{SDN}/zones"), &[("zone", "zvlan"), ("type", "vlan"), ("bridge", "vmbr0")]).ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "vnet1"), ("zone", "zvlan"), ("tag", "100")]).ok();

    let dry = client.get(&format!("{SDN}/dry-run"), &[("node", "testnode")]).ok();
    let diff = dry["interfaces-diff"].as_str().expect("a pending vnet changes the interfaces file");
    assert!(diff.contains("+auto vnet1"), "{diff}");
    client.get(&format!("{SDN}/dry-run"), &[("node", "nosuchnode")]).expect(404);
    client.get(&format!("{SDN}/dry-run"), &[]).expect(400);

    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
    let rendered = std::fs::read_to_string(files.join("sdn")).expect("the agent wrote the interfaces file");
    assert!(rendered.contains("auto vnet1"), "{rendered}");
    let log = client.get(&format!("/api2/json/nodes/testnode/tasks/{}/log", upid.as_str().unwrap()), &[]).ok();
    assert!(log.to_string().contains("testnode: applied version 1"), "{log}");

    let nodes = client.get("/api2/json/nodes", &[]).ok();
    assert_eq!(nodes[0]["node"], "testnode");
    assert_eq!(nodes[0]["id"], "node/testnode");
    assert_eq!(nodes[0]["status"], "online");
    assert_eq!(nodes[0]["ssl_fingerprint"], server.fingerprint.as_str(), "the certificate that node serves");
    let status = client.get("/api2/json/nodes/testnode/sdn/status", &[]).ok();
    assert_eq!(status["version"], 1);
    assert_eq!(status["status"], "available");

    // The reference's per-node status paths.
    let zones = client.get("/api2/json/nodes/testnode/sdn/zones", &[]).ok();
    assert_eq!(zones, serde_json::json!([{"zone": "zvlan", "status": "available"}]));
    let index = client.get("/api2/json/nodes/testnode/sdn/zones/zvlan", &[]).ok();
    assert_eq!(index, serde_json::json!([{"subdir": "content"}, {"subdir": "bridges"}, {"subdir": "ip-vrf"}]));
    let content = client.get("/api2/json/nodes/testnode/sdn/zones/zvlan/content", &[]).ok();
    assert_eq!(content, serde_json::json!([{"vnet": "vnet1", "status": "available"}]));
    client.get("/api2/json/nodes/testnode/sdn/zones/nozone/content", &[]).expect(404);
    client.get("/api2/json/nodes/nosuchnode/sdn/zones", &[]).expect(404);

    // Nothing pending any more: the dry-run shows no difference.
    let dry = client.get(&format!("{SDN}/dry-run"), &[("node", "testnode")]).ok();
    assert!(dry["interfaces-diff"].is_null(), "{dry}");
}

#[test]
fn apply_waits_for_every_node_the_configuration_names() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--apply-timeout", "2"]);
    let client = server.client("agent");
    client.post(&format!("{SDN}/zones"), &[("zone", "zs"), ("type", "simple"), ("nodes", "testnode,ghost")]).ok();
    let upid = client.put(SDN, &[]).ok();
    let exit = client.wait_task(upid.as_str().unwrap());
    assert!(exit.contains("ghost") && !exit.contains("testnode"), "{exit}");
    let log = client.get(&format!("/api2/json/nodes/testnode/tasks/{}/log", upid.as_str().unwrap()), &[]).ok();
    let log = log.to_string();
    assert!(log.contains("testnode: applied version 1"), "{log}");
    assert!(log.contains("ghost: named in the configuration"), "{log}");

    // A named node that never reported has its zones pending, saying why; the one that
    // applied has them available; a zone that doesn't reach a node isn't listed for it.
    client.post(&format!("{SDN}/zones"), &[("zone", "zother"), ("type", "simple"), ("nodes", "testnode")]).ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "zs")]).ok();
    let upid = client.put(SDN, &[]).ok();
    client.wait_task(upid.as_str().unwrap());
    let ghost = client.get("/api2/json/nodes/ghost/sdn/zones", &[]).ok();
    assert_eq!(ghost[0]["zone"], "zs");
    assert_eq!(ghost[0]["status"], "pending");
    assert!(ghost[0]["statusmsg"].as_str().unwrap().contains("not yet generated"), "{ghost}");
    let content = client.get("/api2/json/nodes/ghost/sdn/zones/zs/content", &[]).ok();
    assert_eq!(content[0]["status"], "pending");
    assert!(content[0]["statusmsg"].as_str().unwrap().contains("not yet generated"), "{content}");
    client.get("/api2/json/nodes/ghost/sdn/zones/zother/content", &[]).expect(404);
    let here = client.get("/api2/json/nodes/testnode/sdn/zones", &[]).ok();
    assert_eq!(here, serde_json::json!([{"zone": "zother", "status": "available"}, {"zone": "zs", "status": "available"}]));
}

#[test]
fn a_node_that_left_can_be_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let client = server.client("agent");
    client.post(&format!("{SDN}/zones"), &[("zone", "zs"), ("type", "simple")]).ok();
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
    server.kill();

    let remove = |node: &str| {
        std::process::Command::new(common::SDND)
            .args(["node", "remove", node])
            .args(common::store_args())
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    assert!(remove("testnode").status.success());
    let again = remove("testnode");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not registered"));
    assert!(!remove("bad name!").status.success());
}

#[test]
fn a_failing_reload_fails_the_task_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--reload-interfaces", "echo reload refused >&2; exit 3"]);
    let client = server.client("agent");
    client.post(&format!("{SDN}/zones"), &[("zone", "zs"), ("type", "simple")]).ok();
    let upid = client.put(SDN, &[]).ok();
    let exit = client.wait_task(upid.as_str().unwrap());
    assert!(exit.contains("testnode"), "{exit}");
    let log = client.get(&format!("/api2/json/nodes/testnode/tasks/{}/log", upid.as_str().unwrap()), &[]).ok();
    assert!(log.to_string().contains("reload refused"), "{log}");
    let status = client.get("/api2/json/nodes/testnode/sdn/status", &[]).ok();
    assert_eq!(status["status"], "error");
    let zones = client.get("/api2/json/nodes/testnode/sdn/zones", &[]).ok();
    assert_eq!(zones[0]["zone"], "zs");
    assert_eq!(zones[0]["status"], "error");
    assert!(zones[0]["statusmsg"].as_str().unwrap().contains("reload refused"), "the node's error: {zones}");
    // Still serving.
    client.get(&format!("{SDN}/zones"), &[]).ok();
}
