//! A node's DHCP never fails silently: a zone's dnsmasq files that can't be written, or a
//! reload command that fails, make the node's status, the zone's and its vnets' status on the
//! node and the cluster's resources say `error`, naming the zone and the cause; a later pass
//! that succeeds clears it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Client, Server};
use serde_json::Value;

const SDN: &str = "/api2/json/cluster/sdn";
const NODE: &str = "/api2/json/nodes/testnode/sdn";

/// A zone with dnsmasq (and one without), applied.
fn setup(client: &Client) {
    client
        .post(
            &format!("{SDN}/zones"),
            &[
                ("zone", "z1"),
                ("type", "simple"),
                ("ipam", "pve"),
                ("dhcp", "dnsmasq"),
            ],
        )
        .ok();
    client
        .post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1")])
        .ok();
    client
        .post(
            &format!("{SDN}/vnets/v1/subnets"),
            &[
                ("subnet", "10.0.0.0/24"),
                ("type", "subnet"),
                ("gateway", "10.0.0.1"),
                (
                    "dhcp-range",
                    "start-address=10.0.0.10,end-address=10.0.0.20",
                ),
            ],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/zones"),
            &[("zone", "plain"), ("type", "simple")],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/vnets"),
            &[("vnet", "v2"), ("zone", "plain")],
        )
        .ok();
    let upid = client.put(SDN, &[]).ok().as_str().unwrap().to_string();
    assert_eq!(client.wait_task(&upid), "OK");
}

/// Polls `what` until `done` holds for it (at most 20 s); returns the last value.
fn until(what: impl Fn() -> Value, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let value = what();
        if done(&value) || started.elapsed() > Duration::from_secs(20) {
            return value;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn item<'a>(list: &'a Value, key: &str, id: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|i| i[key] == id)
        .unwrap_or_else(|| panic!("no {key} {id} in {list}"))
}

/// Every view of the node says zone z1 is in error because of `cause` (and only z1).
fn shows_the_failure(client: &Client, cause: &str) {
    let status = until(
        || client.get(&format!("{NODE}/status"), &[]).ok(),
        |s| s["status"] == "error",
    );
    assert_eq!(status["status"], "error", "{status}");
    assert!(
        status["error"].is_null(),
        "the apply itself succeeded: {status}"
    );
    let errors = status["dhcp-errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{status}");
    let error = errors[0].as_str().unwrap();
    assert!(
        error.starts_with("zone z1: ") && error.contains(cause),
        "{status}"
    );

    let zones = client.get(&format!("{NODE}/zones"), &[]).ok();
    let z1 = item(&zones, "zone", "z1");
    assert_eq!(z1["status"], "error", "{zones}");
    assert!(z1["statusmsg"].as_str().unwrap().contains(cause), "{zones}");
    assert_eq!(
        item(&zones, "zone", "plain")["status"],
        "available",
        "{zones}"
    );
    let content = client.get(&format!("{NODE}/zones/z1/content"), &[]).ok();
    assert_eq!(item(&content, "vnet", "v1")["status"], "error", "{content}");

    let resources = client.get("/api2/json/cluster/resources", &[]).ok();
    assert_eq!(
        item(&resources, "id", "network/testnode/zone/z1")["status"],
        "error",
        "{resources}"
    );
    assert_eq!(
        item(&resources, "id", "network/testnode/zone/plain")["status"],
        "available",
        "{resources}"
    );
    assert_eq!(metric_status(client), "error");
}

/// The node's `sdnd_node_status` in `/metrics`.
fn metric_status(client: &Client) -> String {
    let reply = client.get("/metrics", &[]);
    let text = reply.body.as_str().expect("metrics are text");
    let line = text
        .lines()
        .find(|l| l.starts_with("sdnd_node_status{node=\"testnode\""))
        .expect("the node's status metric");
    line.split("status=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

/// And once the cause is gone, every view is back to available.
fn shows_it_cleared(client: &Client) {
    let status = until(
        || client.get(&format!("{NODE}/status"), &[]).ok(),
        |s| s["status"] == "available",
    );
    assert_eq!(status["status"], "available", "{status}");
    assert_eq!(status["dhcp-errors"], serde_json::json!([]), "{status}");
    let zones = client.get(&format!("{NODE}/zones"), &[]).ok();
    assert_eq!(item(&zones, "zone", "z1")["status"], "available", "{zones}");
    let resources = client.get("/api2/json/cluster/resources", &[]).ok();
    assert_eq!(
        item(&resources, "id", "network/testnode/zone/z1")["status"],
        "available",
        "{resources}"
    );
    assert_eq!(metric_status(client), "available");
}

fn dnsmasq_flags<'a>(dir: &'a str, reload: &'a str) -> [&'a str; 8] {
    [
        "--dnsmasq-dir",
        dir,
        "--reload-dnsmasq",
        reload,
        "--dnsmasq-default-dir",
        "",
        "--dbus-policy-dir",
        "",
    ]
}

#[test]
fn a_failing_reload_is_the_zones_error_until_it_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let marker = files.path().join("refuse");
    std::fs::write(&marker, "").unwrap();
    let dnsmasq = files.path().join("dnsmasq.d");
    let reload = format!(
        "if [ -e '{}' ]; then echo 'dnsmasq@{{zone}} refused to start' >&2; exit 3; fi",
        marker.display()
    );
    let server = Server::start_in(
        dir.path(),
        &dnsmasq_flags(dnsmasq.to_str().unwrap(), &reload),
    );
    let client = server.client("ci");
    setup(&client);

    shows_the_failure(&client, "dnsmasq@z1 refused to start");
    // The files were written: only the reload failed.
    assert!(dnsmasq.join("z1/10-v1.conf").exists());

    std::fs::remove_file(&marker).unwrap();
    shows_it_cleared(&client);
}

#[test]
fn unwritable_dnsmasq_files_are_the_zones_error_until_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    // A file where the directory should be: not even root can write below it.
    let blocker = files.path().join("etc");
    std::fs::write(&blocker, "not a directory").unwrap();
    let dnsmasq = blocker.join("dnsmasq.d");
    let reloaded = files.path().join("reloaded");
    let reload = format!("echo {{zone}} >> '{}'", reloaded.display());
    let server = Server::start_in(
        dir.path(),
        &dnsmasq_flags(dnsmasq.to_str().unwrap(), &reload),
    );
    let client = server.client("ci");
    setup(&client);

    shows_the_failure(&client, "writing its dnsmasq files");
    assert!(
        !reloaded.exists(),
        "nothing to reload while nothing was written"
    );

    std::fs::remove_file(&blocker).unwrap();
    shows_it_cleared(&client);
    assert!(Path::new(&dnsmasq).join("z1/00-default.conf").exists());
    assert_eq!(
        std::fs::read_to_string(&reloaded).unwrap(),
        "z1\n",
        "reloaded once, once written"
    );
}
