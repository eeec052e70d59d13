//! A node never looks OK when it is not: what its generation skipped reaches the apply task,
//! the dry-run and its zone and vnet status; a node whose agent died is shown offline and does
//! not hold up an apply.

mod common;

use std::time::Duration;

use common::{InProcess, Server};

const SDN: &str = "/api2/json/cluster/sdn";

#[test]
fn a_vnet_skipped_on_a_node_is_a_warning_everywhere_not_ok() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client("ci");
    // The test node has vmbr0 but no vmbr9.
    client.post(&format!("{SDN}/zones"), &[("zone", "vl1"), ("type", "vlan"), ("bridge", "vmbr9")]).ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "vl10"), ("zone", "vl1"), ("tag", "10")]).ok();
    client.post(&format!("{SDN}/zones"), &[("zone", "ok1"), ("type", "simple")]).ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "fine"), ("zone", "ok1")]).ok();

    let dry = client.get(&format!("{SDN}/dry-run"), &[("node", "testnode")]).ok();
    let warnings = dry["warnings"].as_array().expect("the dry-run lists what would be skipped");
    assert!(warnings.iter().any(|w| w.as_str().unwrap().contains("vmbr9")), "{dry}");

    let upid = client.put(SDN, &[]).ok().as_str().unwrap().to_string();
    assert_eq!(client.wait_task(&upid), "WARNINGS: 1", "a skipped vnet is not TASK OK");
    let log = client.get(&format!("/api2/json/nodes/testnode/tasks/{upid}/log"), &[]).ok().to_string();
    assert!(log.contains("testnode: warning:") && log.contains("vmbr9"), "{log}");
    assert!(log.contains("TASK WARNINGS: 1"), "{log}");

    let content = client.get("/api2/json/nodes/testnode/sdn/zones/vl1/content", &[]).ok();
    assert_eq!(content[0]["vnet"], "vl10");
    assert_eq!(content[0]["status"], "error", "{content}");
    assert!(content[0]["statusmsg"].as_str().unwrap().contains("vmbr9"), "{content}");
    let zones = client.get("/api2/json/nodes/testnode/sdn/zones", &[]).ok();
    let status_of = |zone: &str| zones.as_array().unwrap().iter().find(|z| z["zone"] == zone).unwrap()["status"].clone();
    assert_eq!(status_of("vl1"), "error", "{zones}");
    assert_eq!(status_of("ok1"), "available", "{zones}");
    let fine = client.get("/api2/json/nodes/testnode/sdn/zones/ok1/content", &[]).ok();
    assert_eq!(fine[0]["status"], "available");
    let node = client.get("/api2/json/nodes/testnode/sdn/status", &[]).ok();
    assert!(node["warnings"].to_string().contains("vmbr9"), "{node}");
}

#[test]
fn an_offline_node_is_shown_and_does_not_hold_up_an_apply() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let client = server.client("ci");
    let other = server.start_agent("n2");
    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple")]).ok();
    let upid = client.put(SDN, &[]).ok().as_str().unwrap().to_string();
    assert_eq!(client.wait_task(&upid), "OK", "both agents apply");
    let nodes = client.get("/api2/json/nodes", &[]).ok();
    assert_eq!(nodes.as_array().unwrap().len(), 2, "{nodes}");
    assert!(nodes.as_array().unwrap().iter().all(|n| n["status"] == "online"), "{nodes}");

    // n2's agent dies; half a minute later (on the server's clock) it counts as offline,
    // while testnode's agent keeps beating.
    other.stop();
    server.clock.advance(Duration::from_secs(30));
    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        status = client.get("/api2/json/nodes", &[]).ok();
        let of = |node: &str| status.as_array().unwrap().iter().find(|n| n["node"] == node).unwrap()["status"].clone();
        if of("testnode") == "online" && of("n2") == "offline" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let n2 = status.as_array().unwrap().iter().find(|n| n["node"] == "n2").unwrap().clone();
    assert_eq!(n2["status"], "offline", "{status}");
    let summary = client.get("/api2/json/nodes/n2/sdn/status", &[]).ok();
    assert_eq!(summary["online"], 0, "{summary}");
    assert!(summary["last-seen"].as_i64().is_some(), "{summary}");

    // The apply timeout is ten minutes: finishing at all shows the offline node was not awaited.
    client.post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1")]).ok();
    let upid = client.put(SDN, &[]).ok().as_str().unwrap().to_string();
    let exit = client.wait_task(&upid);
    assert!(exit.contains("n2 (offline)"), "{exit}");
    let log = client.get(&format!("/api2/json/nodes/testnode/tasks/{upid}/log"), &[]).ok().to_string();
    assert!(log.contains("testnode: applied version 2"), "{log}");
    assert!(log.contains("sdnd node remove n2"), "the way to forget a node that left: {log}");
}

#[test]
fn a_task_whose_server_died_is_finished_by_another_node() {
    let dir = tempfile::tempdir().unwrap();
    // Two servers on one store; the first one's apply waits for a node that never reports.
    let mut owner = Server::start_in(dir.path(), &["--apply-timeout", "2"]);
    let other = Server::start_node(dir.path(), "n2", &common::store_args(), &["--apply-timeout", "2"]);
    let client = owner.client("ci");
    let watcher = other.client("watcher");
    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple"), ("nodes", "testnode,ghost")]).ok();
    let upid = client.put(SDN, &[]).ok().as_str().unwrap().to_string();
    owner.kill();

    // Once the owner counts as offline and the timeout has passed, n2 finishes the task.
    let status = format!("/api2/json/nodes/testnode/tasks/{upid}/status");
    let mut answer = serde_json::Value::Null;
    for _ in 0..600 {
        answer = watcher.get(&status, &[]).ok();
        if answer["status"] == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(answer["status"], "stopped", "the task stayed running after its server died: {answer}");
    let exit = answer["exitstatus"].as_str().unwrap();
    assert!(exit.contains("ghost"), "the outcome names the node that never reported: {exit}");
    let log = watcher.get(&format!("/api2/json/nodes/testnode/tasks/{upid}/log"), &[]).ok().to_string();
    assert!(log.contains("finished by n2"), "{log}");
}
