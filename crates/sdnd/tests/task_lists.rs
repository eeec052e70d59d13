//! Task lists as PVE has them (`/nodes/{node}/tasks` with its filters, `/cluster/tasks`), the
//! way Proxmox Datacenter Manager reads them: every name and value percent-encoded, JSON
//! bodies with real types, `/api2/extjs` envelopes.

mod common;

use common::{Client, Server};
use serde_json::{json, Value};

const SDN: &str = "/api2/json/cluster/sdn";

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|t| t["upid"].as_str().unwrap().to_string()).collect()
}

#[test]
fn apply_tasks_are_listed_and_filtered_as_pve_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client("ci");
    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple")]).ok();
    let first = client.put(SDN, &[]).ok().as_str().unwrap().to_string();
    assert_eq!(client.wait_task(&first), "OK");
    client.post(&format!("{SDN}/zones"), &[("zone", "vl1"), ("type", "vlan"), ("bridge", "vmbr9")]).ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "vl10"), ("zone", "vl1"), ("tag", "10")]).ok();
    let second = client.put(SDN, &[]).ok().as_str().unwrap().to_string();
    assert_eq!(client.wait_task(&second), "WARNINGS: 1");

    let all = client.get("/api2/json/nodes/testnode/tasks", &[]).ok();
    assert_eq!(ids(&all), [second.clone(), first.clone()], "newest first");
    let entry = &all[1];
    for field in ["upid", "node", "pid", "pstart", "starttime", "type", "id", "user", "status", "endtime"] {
        assert!(entry.get(field).is_some(), "{field} missing: {entry}");
    }
    assert_eq!(entry["type"], "reloadnetworkall");
    assert_eq!(entry["status"], "OK");
    assert!(entry["pid"].is_u64() && entry["starttime"].is_i64(), "numbers as numbers: {entry}");

    let get = |params: &[(&str, &str)]| ids(&client.get("/api2/json/nodes/testnode/tasks", params).ok());
    assert_eq!(get(&[("limit", "1")]), vec![second.clone()]);
    assert_eq!(get(&[("start", "1"), ("limit", "1")]), vec![first.clone()]);
    assert_eq!(get(&[("statusfilter", "warning")]), vec![second.clone()]);
    assert_eq!(get(&[("statusfilter", "ok,error")]), vec![first.clone()]);
    assert_eq!(get(&[("typefilter", "vzdump")]), Vec::<String>::new());
    assert_eq!(get(&[("userfilter", "ROOT@pam")]).len(), 2, "case-insensitive, as PVE");
    assert_eq!(get(&[("source", "active")]), Vec::<String>::new());
    assert_eq!(get(&[("vmid", "100")]), Vec::<String>::new());
    assert!(get(&[("errors", "1")]).is_empty());
    client.get("/api2/json/nodes/testnode/tasks", &[("statusfilter", "bogus")]).expect(400);
    client.get("/api2/json/nodes/testnode/tasks", &[("source", "elsewhere")]).expect(400);
    assert_eq!(ids(&client.get("/api2/json/cluster/tasks", &[]).ok()), [second.clone(), first.clone()]);

    // PDM's conventions: percent-encoded names and UPIDs, extjs envelopes.
    let http = reqwest::blocking::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let token = common::add_token(dir.path(), "root@pam", "pdm");
    let encoded: String = first.bytes().map(|b| format!("%{b:02X}")).collect();
    let reply: Value = http
        .get(format!("{}/api2/extjs/nodes/testnode/tasks/{encoded}/status", server.base))
        .header("Authorization", &token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(reply["success"], 1, "{reply}");
    assert_eq!(reply["data"]["exitstatus"], "OK");
    let reply: Value = http
        .get(format!("{}/api2/extjs/nodes/testnode/tasks?%6C%69%6D%69%74=1", server.base))
        .header("Authorization", &token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ids(&reply["data"]), vec![second.clone()], "{reply}");
    // A JSON body with real types, as PDM sends it.
    let reply: Value = http
        .post(format!("{}/api2/extjs/cluster/sdn/lock", server.base))
        .header("Authorization", &token)
        .json(&json!({"allow-pending": false, "ttl": 60}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(reply["success"], 1, "{reply}");

    // A user without Sys.Audit sees only its own tasks (here: none).
    let out = std::process::Command::new(common::SDND)
        .args(["user", "add", "bob@pve", "--data-dir"])
        .arg(dir.path())
        .args(common::store_args())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bob = Client::new(&server.base, Some(common::add_token(dir.path(), "bob@pve", "t1")));
    assert_eq!(bob.get("/api2/json/nodes/testnode/tasks", &[]).ok(), json!([]));
    assert_eq!(bob.get("/api2/json/cluster/tasks", &[]).ok(), json!([]));
}

#[test]
fn cluster_status_lists_the_cluster_and_its_nodes_as_pve_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client("ci");
    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple")]).ok();
    assert_eq!(client.wait_task(client.put(SDN, &[]).ok().as_str().unwrap()), "OK");
    let status = client.get("/api2/json/cluster/status", &[]).ok();
    assert_eq!(status[0]["type"], "cluster");
    assert_eq!(status[0]["nodes"], 1);
    assert_eq!(status[0]["quorate"], 1);
    assert_eq!(status[0]["version"], 1);
    let node = &status[1];
    assert_eq!((node["type"].as_str(), node["id"].as_str(), node["name"].as_str()), (Some("node"), Some("node/testnode"), Some("testnode")));
    assert_eq!((node["local"].as_u64(), node["online"].as_u64(), node["nodeid"].as_u64()), (Some(1), Some(1), Some(1)));
    assert_eq!(node["ip"], "192.168.0.1", "the node's address from its facts");
}
