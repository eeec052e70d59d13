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
