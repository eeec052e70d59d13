//! Hostile input never makes the server fail: every property of every object type, on create
//! and update, with values of every wrong shape, gets a 2xx or a 4xx naming what was wrong,
//! never a 5xx, and the server keeps serving.

mod common;

use common::{Client, Reply, Server};
use sdn_config::{schema, Kind};
use serde_json::{json, Value};

const SDN: &str = "/api2/json/cluster/sdn";

fn collection(kind: Kind) -> String {
    match kind {
        Kind::Subnets => format!("{SDN}/vnets/vh/subnets"),
        other => format!("{SDN}/{}", other.path_segment()),
    }
}

/// Values of every shape a careless or malicious client might send.
fn nasty_values() -> Vec<Value> {
    vec![
        json!(""),
        json!(" "),
        json!("-1"),
        json!("99999999999999999999999"),
        json!(-5),
        json!(1.5),
        json!(u64::MAX),
        json!(true),
        json!(null),
        json!([]),
        json!(["a", 1, null]),
        json!({"nested": {"deep": [1, 2, 3]}}),
        json!("x".repeat(5000)),
        json!("a,b,,c,"),
        json!("10.0.0.0/33"),
        json!("fe80::1%eth0"),
        json!("line\nbreak"),
        json!("tab\there"),
        json!("nul\u{0}byte"),
        json!("ünïcödé-名前"),
        json!("start-address=10.0.0.9,end-address=10.0.0.1"),
        json!("../../etc/passwd"),
        json!("%ff%00"),
    ]
}

fn acceptable(reply: &Reply, what: &str) {
    assert!(reply.status < 500, "{what}: server error {} {}", reply.status, reply.body);
    if reply.status == 400 {
        let errors = reply.body["errors"].as_object();
        assert!(errors.is_some_and(|e| !e.is_empty()), "{what}: a 400 without named fields: {}", reply.body);
    }
}

#[test]
fn every_property_with_every_wrong_shape() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client: Client = server.client("hostile");
    client.post(&format!("{SDN}/zones"), &[("zone", "zh"), ("type", "simple")]).ok();
    client.post(&format!("{SDN}/vnets"), &[("vnet", "vh"), ("zone", "zh")]).ok();
    for (id, protocol, extra) in [("hfo", "openfabric", ("ip_prefix", "10.98.0.0/24")), ("hfs", "ospf", ("area", "0"))] {
        client.post(&format!("{SDN}/fabrics/fabric"), &[("id", id), ("protocol", protocol), extra]).ok();
    }
    client.post(&format!("{SDN}/route-maps/entries"), &[("route-map-id", "hrm"), ("order", "10"), ("action", "permit")]).ok();
    client.post(&format!("{SDN}/prefix-lists"), &[("id", "hpl"), ("entries", "action=permit,prefix=10.0.0.0/8")]).ok();
    let mut sent = 0;
    for kind in Kind::ALL {
        for type_def in schema::types(kind) {
            for prop in type_def.props {
                for value in nasty_values() {
                    let mut body = json!({ "type": type_def.name });
                    body[kind.id_param()] = match kind {
                        Kind::Subnets => json!("10.99.0.0/24"),
                        Kind::Zones | Kind::Vnets => json!("hz"),
                        _ => json!("hostile"),
                    };
                    let mut path = collection(kind);
                    if kind == Kind::Fabrics {
                        // The fabrics API: `protocol`, and nodes below their fabric.
                        let (protocol, what) = type_def.name.split_once('_').unwrap();
                        body = json!({ "protocol": protocol });
                        if what == "node" {
                            body["node_id"] = json!("hostile");
                            path = format!("{SDN}/fabrics/node/{}", if protocol == "ospf" { "hfs" } else { "hfo" });
                        } else {
                            body["id"] = json!("hostile");
                            path = format!("{SDN}/fabrics/fabric");
                        }
                    }
                    if kind == Kind::RouteMaps {
                        // Route map entries: `route-map-id` and `order` name them.
                        body = json!({ "route-map-id": "hostile", "order": 10, "action": "permit" });
                        path = format!("{SDN}/route-maps/entries");
                    }
                    if kind == Kind::PrefixLists {
                        body = json!({ "id": "hostile" });
                    }
                    body[prop.name] = value.clone();
                    let what = format!("create {} {} {}={value}", kind.path_segment(), type_def.name, prop.name);
                    acceptable(&client.json("POST", &path, &body), &what);
                    sent += 1;
                }
            }
        }
    }
    // Updates of existing objects with the same values.
    for (path, props) in [
        (format!("{SDN}/zones/zh"), ["mtu", "nodes", "ipam", "dns", "dhcp"].as_slice()),
        (format!("{SDN}/vnets/vh"), ["alias", "tag", "zone", "vlanaware", "isolate-ports"].as_slice()),
        (format!("{SDN}/fabrics/fabric/hfo"), ["protocol", "ip_prefix", "ip6_prefix", "hello_interval", "csnp_interval"].as_slice()),
        (format!("{SDN}/route-maps/entries/hrm/10"), ["action", "match", "set", "call", "exit-action"].as_slice()),
        (format!("{SDN}/prefix-lists/hpl"), ["entries"].as_slice()),
        (format!("{SDN}/prefix-lists/hpl/entries/5"), ["action", "prefix", "le", "ge", "seq"].as_slice()),
    ] {
        let protocol = path.ends_with("/hfo").then_some("openfabric");
        for prop in props {
            for value in nasty_values() {
                let what = format!("update {path} {prop}={value}");
                let mut body = json!({ *prop: value });
                let mut delete = json!({ "delete": value });
                if let (Some(protocol), false) = (protocol, *prop == "protocol") {
                    body["protocol"] = json!(protocol);
                    delete["protocol"] = json!(protocol);
                }
                acceptable(&client.json("PUT", &path, &body), &what);
                acceptable(&client.json("PUT", &path, &delete), &what);
                sent += 2;
            }
        }
    }
    // Lock and apply parameters.
    for value in nasty_values() {
        for (method, path, name) in [
            ("POST", format!("{SDN}/lock"), "ttl"),
            ("POST", format!("{SDN}/lock"), "comment"),
            ("POST", format!("{SDN}/lock"), "allow-pending"),
            ("DELETE", format!("{SDN}/lock"), "force"),
            ("PUT", SDN.to_string(), "release-lock"),
            ("PUT", SDN.to_string(), "lock-token"),
            ("POST", format!("{SDN}/rollback"), "lock-token"),
        ] {
            let reply = client.json(method, &path, &json!({ name: value }));
            acceptable(&reply, &format!("{method} {path} {name}={value}"));
            if reply.status == 200 && path.ends_with("/lock") && method == "POST" {
                client.delete(&path, &[("force", "1")]).ok();
            }
            sent += 1;
        }
    }
    assert!(sent > 1000, "only {sent} requests sent");
    // Still serving, and still consistent.
    let zones = client.get(&format!("{SDN}/zones"), &[]).ok();
    assert!(zones.as_array().unwrap().iter().any(|z| z["zone"] == "zh"));
}
