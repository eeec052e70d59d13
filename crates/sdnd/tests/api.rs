//! The API over HTTPS against a real server: every endpoint, the envelope, and the whole
//! lock / apply / rollback flow with its refusals.

mod common;

use common::{Client, InProcess, Server};
use serde_json::{json, Value};

const SDN: &str = "/api2/json/cluster/sdn";

fn setup() -> (tempfile::TempDir, Server, Client) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client("ci");
    (dir, server, client)
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list.as_array().unwrap().iter().map(|o| o[key].as_str().unwrap().to_string()).collect()
}

#[test]
fn version_and_authentication() {
    let (_dir, server, client) = setup();
    let version = client.get("/api2/json/version", &[]).ok();
    assert!(version["version"].is_string() && version["release"].is_string() && version["repoid"].is_string());

    let anonymous = client.with_auth(None);
    anonymous.get("/api2/json/version", &[]).expect(401);
    anonymous.get(SDN, &[]).expect(401);
    let forged = client.with_auth(Some("PVEAPIToken=root@pam!ci=00000000-0000-0000-0000-000000000000".into()));
    forged.get(SDN, &[]).expect(401);
    client.with_auth(Some("PVEAPIToken=root@pam!nosuch=x".into())).get(SDN, &[]).expect(401);
    client.with_auth(Some("Bearer abc".into())).get(SDN, &[]).expect(401);

    let index = client.get(SDN, &[]).ok();
    // Derived from the routes below it: only paths that answer a GET.
    assert_eq!(
        ids(&index, "id"),
        ["vnets", "zones", "controllers", "ipams", "dns", "fabrics", "route-maps", "prefix-lists", "lock", "dry-run", "versions", "confirm", "audit"]
    );
    for child in ids(&index, "id") {
        client.get(&format!("{SDN}/{child}"), &[]).expect_not(501);
    }
    // PVE answers unknown paths and methods with 501, naming them.
    let unknown = client.get("/api2/json/cluster/nosuch", &[]).expect(501);
    assert_eq!(unknown.message(), "Method 'GET /cluster/nosuch' not implemented");
    client.request("PATCH", SDN, &[]).expect(501);
    client.get("/api2/extjs/cluster/nosuch", &[]).expect(200);
    drop(server);
}

#[test]
fn token_add_refuses_unknown_users_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(common::SDND).args(args).arg("--data-dir").arg(dir.path()).output().unwrap()
    };
    let out = run(&["token", "add", "root@pam", "one"]);
    assert!(out.status.success());
    let last = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_string();
    assert!(last.starts_with("root@pam!one="), "{last}");
    assert!(!run(&["token", "add", "root@pam", "one"]).status.success(), "duplicate token accepted");
    let unknown = run(&["token", "add", "nobody@pve", "x1"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("does not exist"));
    assert!(!run(&["token", "add", "root", "x1"]).status.success());
}

#[test]
fn objects_crud_with_validation() {
    let (_dir, _server, client) = setup();
    client.post(&format!("{SDN}/zones"), &[("zone", "zvlan"), ("type", "vlan"), ("bridge", "vmbr0")]).ok();
    client.post(&format!("{SDN}/zones"), &[("zone", "zsimple"), ("type", "simple")]).ok();

    // Bad input: named field, nothing changes.
    let bad = client.post(&format!("{SDN}/zones"), &[("zone", "x"), ("type", "simple")]).expect(400);
    assert!(bad.body["errors"]["zone"].is_string(), "{}", bad.body);
    assert_eq!(bad.reason, "Bad Request");
    let bad = client.post(&format!("{SDN}/zones"), &[("zone", "zz1"), ("type", "nosuch")]).expect(400);
    assert!(bad.body["errors"]["type"].is_string(), "{}", bad.body);
    let bad = client.post(&format!("{SDN}/zones"), &[("zone", "zz1"), ("type", "simple"), ("bogus", "1")]).expect(400);
    assert!(bad.body["errors"]["bogus"].is_string(), "{}", bad.body);
    let bad = client.post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "zvlan"), ("tag", "notanumber")]).expect(400);
    assert!(bad.body["errors"]["tag"].is_string(), "{}", bad.body);
    client.post(&format!("{SDN}/zones"), &[("zone", "zvlan"), ("type", "simple")]).expect(409);

    client.post(&format!("{SDN}/vnets"), &[("vnet", "vnet1"), ("zone", "zvlan"), ("tag", "100")]).ok();
    // Tag required in a vlan zone, forbidden in a simple one, unique in its zone.
    let refused = client.post(&format!("{SDN}/vnets"), &[("vnet", "vnet2"), ("zone", "zvlan")]);
    assert_eq!(refused.status / 100, 4, "{:?}", refused);
    let refused = client.post(&format!("{SDN}/vnets"), &[("vnet", "vnet2"), ("zone", "zsimple"), ("tag", "5")]);
    assert_eq!(refused.status / 100, 4, "{:?}", refused);
    let refused = client.post(&format!("{SDN}/vnets"), &[("vnet", "vnet2"), ("zone", "zvlan"), ("tag", "100")]);
    assert_eq!(refused.status / 100, 4, "{:?}", refused);
    let refused = client.post(&format!("{SDN}/vnets"), &[("vnet", "vnet2"), ("zone", "nozone")]);
    assert_eq!(refused.status / 100, 4, "{:?}", refused);

    client.post(&format!("{SDN}/vnets"), &[("vnet", "vnet2"), ("zone", "zsimple"), ("alias", "two")]).ok();
    let zones = client.get(&format!("{SDN}/zones"), &[]).ok();
    assert_eq!(ids(&zones, "zone"), ["zsimple", "zvlan"]);
    assert!(zones[0]["digest"].is_string());
    let vlan_only = client.get(&format!("{SDN}/zones"), &[("type", "vlan")]).ok();
    assert_eq!(ids(&vlan_only, "zone"), ["zvlan"]);
    let vnet = client.get(&format!("{SDN}/vnets/vnet1"), &[]).ok();
    assert_eq!(vnet["zone"], "zvlan");
    assert_eq!(vnet["tag"], json!(100), "integers are JSON numbers");
    client.get(&format!("{SDN}/vnets/nosuch"), &[]).expect(404);

    // Subnets: gateway inside the CIDR; id ZONE-ADDR-PREFIX.
    let bad = client
        .post(&format!("{SDN}/vnets/vnet2/subnets"), &[("subnet", "10.0.0.0/24"), ("gateway", "10.9.9.1"), ("type", "subnet")])
        .expect(400);
    assert!(bad.body["errors"]["gateway"].is_string(), "{}", bad.body);
    client
        .post(&format!("{SDN}/vnets/vnet2/subnets"), &[("subnet", "10.0.0.0/24"), ("gateway", "10.0.0.1"), ("type", "subnet")])
        .ok();
    let subnets = client.get(&format!("{SDN}/vnets/vnet2/subnets"), &[]).ok();
    assert_eq!(ids(&subnets, "subnet"), ["zsimple-10.0.0.0-24"]);
    let subnet = client.get(&format!("{SDN}/vnets/vnet2/subnets/zsimple-10.0.0.0-24"), &[]).ok();
    assert_eq!(subnet["gateway"], "10.0.0.1");
    client.get(&format!("{SDN}/vnets/vnet1/subnets/zsimple-10.0.0.0-24"), &[]).expect(404);

    // Deleting what is still used is a conflict.
    client.delete(&format!("{SDN}/zones/zsimple"), &[]).expect(409);
    client.delete(&format!("{SDN}/vnets/vnet2"), &[]).expect(409);

    // Update with digest and delete.
    let digest = client.get(&format!("{SDN}/vnets/vnet2"), &[]).ok()["digest"].as_str().unwrap().to_string();
    client.put(&format!("{SDN}/vnets/vnet2"), &[("alias", "renamed"), ("digest", "0000")]).expect(409);
    client.put(&format!("{SDN}/vnets/vnet2"), &[("alias", "renamed"), ("digest", &digest)]).ok();
    assert_eq!(client.get(&format!("{SDN}/vnets/vnet2"), &[]).ok()["alias"], "renamed");
    client.put(&format!("{SDN}/vnets/vnet2"), &[("delete", "alias")]).ok();
    assert!(client.get(&format!("{SDN}/vnets/vnet2"), &[]).ok().get("alias").is_none());

    client.delete(&format!("{SDN}/vnets/vnet2/subnets/zsimple-10.0.0.0-24"), &[]).ok();
    client.delete(&format!("{SDN}/vnets/vnet2"), &[]).ok();
    client.delete(&format!("{SDN}/zones/zsimple"), &[]).ok();
    client.delete(&format!("{SDN}/zones/zsimple"), &[]).expect(404);
}

#[test]
fn every_kind_and_json_bodies() {
    let (_dir, _server, client) = setup();
    client
        .json("POST", &format!("{SDN}/controllers"), &json!({"controller": "evpnctl", "type": "evpn", "asn": 65000, "peers": ["192.168.0.1", "192.168.0.2"]}))
        .ok();
    client
        .post(&format!("{SDN}/zones"), &[("zone", "evpn1"), ("type", "evpn"), ("controller", "evpnctl"), ("vrf-vxlan", "1000"), ("exitnodes", "n1,n2")])
        .ok();
    client
        .post(&format!("{SDN}/zones"), &[("zone", "vx1"), ("type", "vxlan"), ("peers", "10.0.0.1,10.0.0.2")])
        .ok();
    client
        .post(&format!("{SDN}/zones"), &[("zone", "qq1"), ("type", "qinq"), ("bridge", "vmbr0"), ("tag", "20")])
        .ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "ev1"), ("zone", "evpn1"), ("tag", "10000")]).ok();
    // A VNI is unique across vxlan and evpn zones.
    let dup = client.post(&format!("{SDN}/vnets"), &[("vnet", "vx1a"), ("zone", "vx1"), ("tag", "10000")]);
    assert_eq!(dup.status / 100, 4, "{:?}", dup);
    client.delete(&format!("{SDN}/controllers/evpnctl"), &[]).expect(409);

    // Each is checked against its service before it is written: a loopback one.
    let services = common::services::Services::start();
    client.post(&format!("{SDN}/ipams"), &[("ipam", "nb"), ("type", "netbox"), ("url", &services.netbox("nb")), ("token", "abc")]).ok();
    client
        .post(&format!("{SDN}/dns"), &[("dns", "pdns"), ("type", "powerdns"), ("url", &services.powerdns("pdns")), ("key", "k"), ("ttl", "300")])
        .ok();
    let ipams = client.get(&format!("{SDN}/ipams"), &[]).ok();
    assert_eq!(ids(&ipams, "ipam"), ["nb", "pve"], "the built-in pve ipam always exists");
    let dns = client.get(&format!("{SDN}/dns/pdns"), &[]).ok();
    assert_eq!(dns["ttl"], json!(300));
    // ipams and dns have no running/pending views.
    client.get(&format!("{SDN}/ipams"), &[("pending", "1")]).expect(400);

    // The extjs envelope.
    let extjs = client.get("/api2/extjs/cluster/sdn/zones/evpn1", &[]).ok();
    assert_eq!(extjs["controller"], "evpnctl");
    let failed = client.get("/api2/extjs/cluster/sdn/zones/nosuch", &[]).expect(200);
    assert_eq!(failed.body["success"], 0);
    let failed = client.post("/api2/extjs/cluster/sdn/zones", &[("zone", "x")]).expect(200);
    assert_eq!(failed.body["success"], 0);
    assert!(failed.body["errors"]["zone"].is_string());
}

#[test]
fn bad_bodies_are_refused_cleanly() {
    let (_dir, _server, client) = setup();
    let r = client.raw("POST", &format!("{SDN}/zones"), "application/json", b"{not json".to_vec()).expect(400);
    assert!(r.body["errors"]["body"].is_string());
    client.raw("POST", &format!("{SDN}/zones"), "application/json", b"[1,2]".to_vec()).expect(400);
    let huge = vec![b'a'; 300 * 1024];
    client.raw("POST", &format!("{SDN}/zones"), "application/x-www-form-urlencoded", huge).expect(400);
    let long_id = "z".repeat(10_000);
    client.post(&format!("{SDN}/zones"), &[("zone", &long_id), ("type", "simple")]).expect(400);
    client.raw("POST", &format!("{SDN}/zones"), "application/x-www-form-urlencoded", b"zone=%ff%fe&type=simple".to_vec());
    client.get(&format!("{SDN}/zones/%ff"), &[]);
    client.get("/api2/json/nodes/testnode/tasks/UPID:bogus/status", &[]).expect(400);
    // Still serving, nothing created.
    assert_eq!(client.get(&format!("{SDN}/zones"), &[]).ok(), json!([]));
}

#[test]
fn lock_apply_rollback_flow() {
    let (_dir, server, client) = setup();
    let other = server.client("other");

    // Nothing locked.
    assert_eq!(client.get(&format!("{SDN}/lock"), &[]).ok(), json!({"locked": 0}));

    // Lock, then change with the token only.
    let token = client.post(&format!("{SDN}/lock"), &[("ttl", "600"), ("comment", "dcm run 42")]).ok();
    let token = token.as_str().unwrap().to_string();
    let status = client.get(&format!("{SDN}/lock"), &[]).ok();
    assert_eq!(status["locked"], 1);
    assert_eq!(status["holder"], "root@pam!ci");
    assert_eq!(status["comment"], "dcm run 42");
    assert!(status["expires"].as_i64().unwrap() >= status["since"].as_i64().unwrap() + 600);
    assert!(!status.to_string().contains(&token), "the token must never be returned again");

    let refused = other.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple")]).expect(423);
    assert!(refused.message().contains("root@pam!ci"), "{}", refused.message());
    assert!(refused.message().contains("--force 1"), "{}", refused.message());
    other.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple"), ("lock-token", "wrong")]).expect(423);
    other.post(&format!("{SDN}/lock"), &[]).expect(423);
    other.put(SDN, &[]).expect(423);
    other.post(&format!("{SDN}/rollback"), &[]).expect(423);
    other.delete(&format!("{SDN}/lock"), &[]).expect(423);
    other.delete(&format!("{SDN}/lock"), &[("lock-token", "wrong")]).expect(423);

    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple"), ("lock-token", &token)]).ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1"), ("lock-token", &token)]).ok();

    // Pending view marks new objects.
    let pending = client.get(&format!("{SDN}/zones"), &[("pending", "1")]).ok();
    assert_eq!(pending[0]["state"], "new");
    assert_eq!(client.get(&format!("{SDN}/zones"), &[("running", "1")]).ok(), json!([]));

    // Apply with the token releases the lock and runs a task.
    let upid = client.put(SDN, &[("lock-token", &token)]).ok();
    let upid = upid.as_str().unwrap().to_string();
    assert_eq!(upid.split(':').count(), 9, "{upid}");
    assert!(upid.starts_with("UPID:testnode:"));
    assert_eq!(client.wait_task(&upid), "OK");
    let log = client.get(&format!("/api2/json/nodes/testnode/tasks/{upid}/log"), &[]).ok();
    assert!(log.as_array().unwrap().len() >= 2);
    assert_eq!(client.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 0);
    let running = client.get(&format!("{SDN}/zones"), &[("running", "1")]).ok();
    assert_eq!(ids(&running, "zone"), ["z1"]);
    let pending = client.get(&format!("{SDN}/zones"), &[("pending", "1")]).ok();
    assert!(pending[0].get("state").is_none(), "{pending}");

    // The stale token is refused now that no lock is held.
    client.post(&format!("{SDN}/zones"), &[("zone", "z2"), ("type", "simple"), ("lock-token", &token)]).expect(423);

    // Pending changes block a lock unless allow-pending; rollback discards them.
    other.post(&format!("{SDN}/zones"), &[("zone", "z2"), ("type", "simple")]).ok();
    other.put(&format!("{SDN}/vnets/v1"), &[("alias", "changed")]).ok();
    other.delete(&format!("{SDN}/zones/z1"), &[]).expect(409);
    client.post(&format!("{SDN}/lock"), &[]).expect(409);
    let token = client.post(&format!("{SDN}/lock"), &[("allow-pending", "1")]).ok().as_str().unwrap().to_string();
    let vnets = client.get(&format!("{SDN}/vnets"), &[("pending", "1")]).ok();
    assert_eq!(vnets[0]["state"], "changed");
    assert_eq!(vnets[0]["pending"]["alias"], "changed");
    client.post(&format!("{SDN}/rollback"), &[("lock-token", &token), ("release-lock", "0")]).ok();
    assert_eq!(ids(&client.get(&format!("{SDN}/zones"), &[]).ok(), "zone"), ["z1"]);
    assert!(client.get(&format!("{SDN}/vnets/v1"), &[]).ok().get("alias").is_none());
    assert_eq!(client.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 1, "release-lock=0 keeps the lock");

    // A human forces the lock open.
    other.delete(&format!("{SDN}/lock"), &[("force", "1")]).ok();
    assert_eq!(client.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 0);
    client.post(&format!("{SDN}/rollback"), &[("lock-token", &token)]).expect(423);
    client.delete(&format!("{SDN}/lock"), &[]).expect(409);

    // Release with the token.
    let token = client.post(&format!("{SDN}/lock"), &[]).ok().as_str().unwrap().to_string();
    client.delete(&format!("{SDN}/lock"), &[("lock-token", &token)]).ok();
    assert_eq!(client.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 0);
}

#[test]
fn lock_expires_after_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let client = server.client("ci");
    let token = client.post(&format!("{SDN}/lock"), &[("ttl", "1")]).ok().as_str().unwrap().to_string();
    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple")]).expect(423);
    // Held for the whole second, whenever within a second it was taken.
    server.clock.advance(std::time::Duration::from_millis(999));
    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple")]).expect(423);
    let status = client.get(&format!("{SDN}/lock"), &[]).ok();
    assert_eq!(status["locked"], 1);
    assert!(status["expires"].as_i64().unwrap() > status["since"].as_i64().unwrap(), "{status}");
    server.clock.advance(std::time::Duration::from_millis(1));
    assert_eq!(client.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 0);
    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple"), ("lock-token", &token)]).expect(423);
    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple")]).ok();
    client.post(&format!("{SDN}/lock"), &[("ttl", "0")]).expect(400);
}

#[test]
fn state_survives_restart_and_import_export_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let client = server.client("ci");
    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "vlan"), ("bridge", "vmbr0"), ("nodes", "testnode")]).ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "v1"), ("zone", "z1"), ("tag", "10")]).ok();
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
    client.post(&format!("{SDN}/vnets"), &[("vnet", "v2"), ("zone", "z1"), ("tag", "11")]).ok();
    let token = client.post(&format!("{SDN}/lock"), &[("allow-pending", "1")]).ok();
    server.kill();

    let server = Server::start(dir.path());
    let client = server.client("ci2");
    assert_eq!(ids(&client.get(&format!("{SDN}/vnets"), &[]).ok(), "vnet"), ["v1", "v2"]);
    assert_eq!(ids(&client.get(&format!("{SDN}/vnets"), &[("running", "1")]).ok(), "vnet"), ["v1"]);
    assert_eq!(client.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 1);
    client.delete(&format!("{SDN}/lock"), &[("lock-token", token.as_str().unwrap())]).ok();
    drop(server);

    // export -> import into a fresh store -> export again: identical files.
    let out1 = tempfile::tempdir().unwrap();
    let run = |args: &[&str], data: &std::path::Path| {
        let out = std::process::Command::new(common::SDND).args(args).arg("--data-dir").arg(data).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["export", "--to", out1.path().to_str().unwrap()], dir.path());
    let fresh = tempfile::tempdir().unwrap();
    run(&["import", "--from", out1.path().to_str().unwrap()], fresh.path());
    let out2 = tempfile::tempdir().unwrap();
    run(&["export", "--to", out2.path().to_str().unwrap()], fresh.path());
    for name in ["zones.cfg", "vnets.cfg", ".running-config"] {
        let a = std::fs::read(out1.path().join(name)).unwrap();
        let b = std::fs::read(out2.path().join(name)).unwrap();
        assert_eq!(a, b, "{name} differs after a round trip");
    }
    let zones = std::fs::read_to_string(out1.path().join("zones.cfg")).unwrap();
    assert!(zones.starts_with("vlan: z1\n"), "{zones}");
}
