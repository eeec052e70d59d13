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
