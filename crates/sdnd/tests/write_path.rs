//! The write path plans a change on the view its server last saw and guards the commit on it
//! (one round trip on etcd): a stale view must only ever cost a retry, never admit a write
//! the lock would refuse, nor refuse one it would admit. Two servers on one store (SQLite, or
//! etcd with SDND_TEST_STORE=etcd).

mod common;

use common::Server;

const SDN: &str = "/api2/json/cluster/sdn";

fn zone(client: &common::Client, name: &str, token: Option<&str>) -> common::Reply {
    let mut params = vec![("zone", name), ("type", "simple")];
    if let Some(token) = token {
        params.push(("lock-token", token));
    }
    client.post(&format!("{SDN}/zones"), &params)
}

#[test]
fn a_stale_view_never_admits_a_write_the_lock_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start_in(dir.path(), &[]);
    let b = Server::start_node(dir.path(), "n2", &common::store_args(), &[]);
    let (a, b) = (a.client("ta"), b.client("tb"));
    // b's last view: unlocked.
    zone(&b, "warm", None).ok();
    zone(&b, "warm2", None).ok();

    // a takes the lock; b has not seen it.
    let token = a
        .post(&format!("{SDN}/lock"), &[("allow-pending", "1")])
        .ok();
    let token = token.as_str().unwrap().to_string();
    let refused = zone(&b, "stale", None).expect(423);
    assert!(refused.message().contains("locked"), "{refused:?}");
    zone(&b, "forged", Some("0190b5a4-0000-7000-8000-000000000000")).expect(423);
    // Nor does b's view of the configuration stay behind: a change a made is seen.
    zone(&a, "froma", Some(&token)).ok();
    let dup = zone(&b, "froma", Some(&token)).expect(409);
    assert!(dup.message().contains("already defined"), "{dup:?}");
    zone(&b, "fromb", Some(&token)).ok();

    // a releases the lock; b's last view says locked, which must not refuse the next write.
    a.delete(&format!("{SDN}/lock"), &[("lock-token", &token)])
        .ok();
    zone(&b, "after", None).ok();
    // And the released token is refused by both, stale views or not.
    b.post(&format!("{SDN}/lock"), &[("allow-pending", "1")])
        .ok();
    zone(&a, "old", Some(&token)).expect(423);

    let zones = a.get(&format!("{SDN}/zones"), &[]).ok();
    let names: Vec<&str> = zones
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["zone"].as_str().unwrap())
        .collect();
    for name in ["warm", "warm2", "froma", "fromb", "after"] {
        assert!(names.contains(&name), "{name} missing: {names:?}");
    }
    for name in ["stale", "forged", "old"] {
        assert!(!names.contains(&name), "{name} was written: {names:?}");
    }
}

/// What every kind lists, with the pending state of each object and as running.
fn listings(client: &common::Client) -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    for path in ["zones", "vnets", "controllers", "vnets/v1/subnets"] {
        all.push(client.get(&format!("{SDN}/{path}"), &[("pending", "1")]).ok());
        all.push(client.get(&format!("{SDN}/{path}"), &[("running", "1")]).ok());
    }
    all
}

/// The server that applied keeps the running configuration it wrote (parsed from the same
/// JSON, not read back): it must be exactly what a server reading the store afresh sees.
#[test]
fn the_view_an_apply_leaves_is_the_one_a_fresh_read_gives() {
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start_in(dir.path(), &[]);
    let a = a.client("ta");
    for (path, params) in [
        ("controllers", vec![("controller", "evpnctl"), ("type", "evpn"), ("asn", "65000"), ("peers", "10.0.0.2, 10.0.0.1")]),
        ("zones", vec![("zone", "evpn1"), ("type", "evpn"), ("controller", "evpnctl"), ("vrf-vxlan", "1000"), ("mtu", "1450")]),
        ("zones", vec![("zone", "vlan1"), ("type", "vlan"), ("bridge", "vmbr0"), ("mtu", "1400")]),
        ("vnets", vec![("vnet", "v1"), ("zone", "evpn1"), ("tag", "100"), ("alias", "first one")]),
        ("vnets", vec![("vnet", "v2"), ("zone", "vlan1"), ("tag", "20"), ("vlanaware", "1")]),
        ("vnets/v1/subnets", vec![("subnet", "10.1.0.0/24"), ("type", "subnet"), ("gateway", "10.1.0.1"), ("snat", "1")]),
    ] {
        a.post(&format!("{SDN}/{path}"), &params).ok();
    }
    let upid = a.put(SDN, &[]).ok();
    assert_eq!(a.wait_task(upid.as_str().unwrap()), "OK");
    // Then a change, so that the pending states have something to show beside the running.
    a.put(&format!("{SDN}/vnets/v2"), &[("alias", "changed")]).ok();
    let applied = listings(&a);
    let b = Server::start_node(dir.path(), "n2", &common::store_args(), &[]);
    let b = b.client("tb");
    assert_eq!(listings(&b), applied);
    // Rolled back on the server that applied, nothing is pending on either.
    a.post(&format!("{SDN}/rollback"), &[]).ok();
    for client in [&a, &b] {
        let token = client.post(&format!("{SDN}/lock"), &[]).ok();
        client.delete(&format!("{SDN}/lock"), &[("lock-token", token.as_str().unwrap())]).ok();
    }
}

/// The app (no HTTP server) of a node on the test store of `data_dir`.
fn app_on(data_dir: &std::path::Path) -> std::sync::Arc<sdnd::App> {
    common::start_app(data_dir, sdnd::Clock::system()).1
}

/// A node that only follows another node's burst of changes refreshes its view a few times a
/// second, not fifty (each refresh reads the markers: a round trip to etcd, from every node
/// of the cluster), and its view still ends current.
#[test]
fn a_node_following_a_burst_elsewhere_backs_off_its_refreshes_and_ends_current() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let follower = app_on(dir.path());
    let writer = app_on(dir.path());
    // Both are settled: their start (the built-in IPAM) is behind them.
    std::thread::sleep(Duration::from_millis(700));
    let before = follower.sdn.view_refreshes();
    let burst = Instant::now();
    let mut last = String::new();
    let mut made = 0;
    while burst.elapsed() < Duration::from_secs(3) {
        last = format!("b{made}");
        let params: sdn_config::Params =
            [("zone", last.as_str()), ("type", "simple")].into_iter().map(|(k, v)| (k.to_string(), v.into())).collect();
        writer
            .sdn
            .mutate(sdnd::sdn::lock::Intent::Change { token: None }, |snapshot, _| {
                let change = snapshot.pending.plan_create(sdn_config::Kind::Zones, &params)?;
                Ok((sdnd::sdn::Mutation { changes: vec![change], ..Default::default() }, ()))
            })
            .expect("a zone of the burst");
        made += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let refreshes = follower.sdn.view_refreshes() - before;
    // With a fixed 20 ms pause: 117 on etcd, 27 on SQLite (which polls for other processes'
    // commits); backing off to 500 ms: 8-9 on both.
    assert!(refreshes <= 16, "{refreshes} refreshes of the follower's view during {made} changes in 3 s");
    assert!(refreshes >= 2, "the follower's view was refreshed {refreshes} times during the burst");
    let deadline = Instant::now() + Duration::from_secs(5);
    while follower.sdn.snapshot_cached().pending.get(sdn_config::Kind::Zones, &last).is_none() {
        assert!(Instant::now() < deadline, "the follower's view never caught up with the burst's last zone {last}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
