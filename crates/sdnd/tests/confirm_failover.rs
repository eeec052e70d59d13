//! A confirmed apply whose server dies during the confirm window: another node of the same
//! etcd-backed cluster reverts it on time, and only once.

mod common;

use std::time::{Duration, Instant};

use common::etcd::Cluster;
use common::{Client, Server};

const SDN: &str = "/api2/json/cluster/sdn";

fn zones(client: &Client, running: bool) -> Vec<String> {
    let params: &[(&str, &str)] = if running { &[("running", "1")] } else { &[] };
    let list = client.get(&format!("{SDN}/zones"), params).ok();
    list.as_array().unwrap().iter().map(|z| z["zone"].as_str().unwrap().to_string()).collect()
}

#[test]
fn another_node_reverts_when_the_node_holding_the_window_dies() {
    let cluster = Cluster::start(1);
    let store = vec!["--store".to_string(), cluster.url(), "--store-prefix".to_string(), "/failover/".to_string()];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Server::start_node(dir_a.path(), "node-a", &store, &[]);
    let b = Server::start_node(dir_b.path(), "node-b", &store, &[]);
    let (ca, cb) = (a.client("ta"), b.client("tb"));

    ca.post(&format!("{SDN}/zones"), &[("zone", "za"), ("type", "simple")]).ok();
    let upid = ca.put(SDN, &[]).ok();
    ca.wait_task(upid.as_str().unwrap());
    let token = ca.post(&format!("{SDN}/lock"), &[]).ok().as_str().unwrap().to_string();
    ca.post(&format!("{SDN}/zones"), &[("zone", "zb"), ("type", "simple"), ("lock-token", &token)]).ok();
    ca.put(SDN, &[("lock-token", &token), ("confirm-timeout", "4")]).ok();
    let applied = Instant::now();
    let deadline = cb.get(&format!("{SDN}/lock"), &[]).ok()["confirm-deadline"].as_i64();
    assert!(deadline.is_some(), "the other node sees the window");
    a.kill();

    while zones(&cb, true) != ["za"] {
        assert!(applied.elapsed() < Duration::from_secs(15), "node-b never reverted");
        std::thread::sleep(Duration::from_millis(100));
    }
    let late = applied.elapsed();
    assert!(late >= Duration::from_secs(3) && late < Duration::from_secs(7), "reverted after {late:?}");
    assert_eq!(zones(&cb, false), ["za"]);
    assert_eq!(cb.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 0, "the lock goes with the revert");
    let versions = cb.get(&format!("{SDN}/versions"), &[]).ok();
    assert_eq!(versions[0]["user"], "sdnd");
    assert!(versions[0]["upid"].as_str().unwrap().starts_with("UPID:node-b:"), "{versions}");
    let reverts = cb.get(&format!("{SDN}/audit"), &[("action", "revert")]).ok();
    assert_eq!(reverts.as_array().unwrap().len(), 1, "{reverts}");
}
