//! Route maps and prefix lists (issue 11): PVE 9.1's `/cluster/sdn/route-maps/...` and
//! `/cluster/sdn/prefix-lists/...`, `route-maps.cfg` and `prefix-lists.cfg` import and export,
//! the controllers' `route-map-in`/`route-map-out`, and the node agent's `frr.conf` for the
//! reference case `evpn/bgp_evpn_routemap_prefix_list` built through the API.

mod common;

use std::path::{Path, PathBuf};

use common::{store_args, Server, SDND};
use serde_json::{json, Value};

const SDN: &str = "/api2/json/cluster/sdn";
const NODE: &str = "localhost";

fn case() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sdn-gen/tests/reference-cases/evpn/bgp_evpn_routemap_prefix_list")
}

/// The case's prefix list and route maps as sdnd writes the files (PVE 9.1's writer:
/// properties sorted by name, repeated lines for lists, a blank line between sections).
const PREFIX_LISTS_CFG: &str = "prefix-list: some_list
\tentries action=deny,prefix=192.0.2.0/24,le=25,seq=5
\tentries action=deny,prefix=198.51.100.0/25,le=26,ge=25,seq=10
\tentries action=permit,prefix=203.0.113.0/24,seq=22
";

const ROUTE_MAPS_CFG: &str = "route-map-entry: map-in_9
\taction permit
\tmatch key=ip-next-hop-prefix-list,value=some_list

route-map-entry: map-in_99
\taction permit
\tmatch key=ip-next-hop-prefix-list,value=some_list
\tset key=src,value=192.0.2.1
\tset key=ip-next-hop,value=192.0.2.100

route-map-entry: map-out_999
\taction permit
\tmatch key=ip-next-hop-prefix-list,value=some_list
";

fn sdnd(args: &[&str], data: &Path) -> std::process::Output {
    std::process::Command::new(SDND)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .args(store_args())
        .env("SDND_LOG", "warn")
        .output()
        .unwrap()
}

#[track_caller]
fn sdnd_ok(args: &[&str], data: &Path) {
    let out = sdnd(args, data);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn case_node_dir(data: &Path) -> PathBuf {
    let dir = data.join(format!("node-{NODE}"));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["facts.json", "interfaces"] {
        std::fs::copy(case().join(file), dir.join(file)).unwrap();
    }
    dir
}

#[track_caller]
fn field_error(reply: common::Reply, field: &str) -> String {
    let reply = reply.expect(400);
    reply.body["errors"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no error for {field}: {}", reply.body))
        .to_string()
}

/// Creates the case's objects through the API: the prefix list entries one by one (the first
/// two without `seq`, numbered 5 and 10 as FRR numbers them), the route map entries as form
/// parameters and as JSON.
fn create_case_objects(client: &common::Client) {
    client
        .post(&format!("{SDN}/prefix-lists"), &[("id", "some_list")])
        .ok();
    let entries = format!("{SDN}/prefix-lists/some_list/entries");
    client
        .post(
            &entries,
            &[("action", "deny"), ("prefix", "192.0.2.0/24"), ("le", "25")],
        )
        .ok();
    client
        .json(
            "POST",
            &entries,
            &json!({"action": "deny", "prefix": "198.51.100.0/25", "ge": 25, "le": 26}),
        )
        .ok();
    client
        .post(
            &entries,
            &[
                ("action", "permit"),
                ("prefix", "203.0.113.0/24"),
                ("seq", "22"),
            ],
        )
        .ok();
    let rm = format!("{SDN}/route-maps/entries");
    client
        .post(
            &rm,
            &[
                ("route-map-id", "map-in"),
                ("order", "9"),
                ("action", "permit"),
                ("match", "key=ip-next-hop-prefix-list,value=some_list"),
            ],
        )
        .ok();
    client
        .json(
            "POST",
            &rm,
            &json!({"route-map-id": "map-in", "order": 99, "action": "permit",
                "match": ["key=ip-next-hop-prefix-list,value=some_list"],
                "set": ["key=src,value=192.0.2.1", "key=ip-next-hop,value=192.0.2.100"]}),
        )
        .ok();
    client
        .post(
            &rm,
            &[
                ("route-map-id", "map-out"),
                ("order", "999"),
                ("action", "permit"),
                ("match", "key=ip-next-hop-prefix-list,value=some_list"),
            ],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/controllers"),
            &[
                ("controller", "evpnctl"),
                ("type", "evpn"),
                ("asn", "65000"),
                ("peers", "192.168.0.1,192.168.0.2,192.168.0.3"),
                ("route-map-out", "map-out"),
            ],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/controllers"),
            &[
                ("controller", "localhost"),
                ("type", "bgp"),
                ("asn", "65002"),
                ("ebgp", "1"),
                ("node", "localhost"),
                ("peers", "192.168.0.252,192.168.0.253"),
                ("route-map-in", "map-in"),
            ],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/zones"),
            &[
                ("zone", "myzone"),
                ("type", "evpn"),
                ("controller", "evpnctl"),
                ("vrf-vxlan", "1000"),
                ("ipam", "pve"),
            ],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/vnets"),
            &[("vnet", "myvnet"), ("zone", "myzone"), ("tag", "100")],
        )
        .ok();
    client
        .post(
            &format!("{SDN}/vnets/myvnet/subnets"),
            &[
                ("subnet", "10.0.0.0/24"),
                ("type", "subnet"),
                ("gateway", "10.0.0.1"),
            ],
        )
        .ok();
}

/// The reference case built through the API: the agent writes exactly its `frr.conf`, and the
/// export has the two files as PVE 9.1 writes them.
#[test]
fn the_reference_case_built_through_the_api() {
    let data = tempfile::tempdir().unwrap();
    let node_dir = case_node_dir(data.path());
    let server = Server::start_node(data.path(), NODE, &store_args(), &[]);
    let client = server.client("routing");
    create_case_objects(&client);
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
    // The reference case's entries have no `seq` (hand-written test data); entries created
    // through the API always get one, in PVE 9.1 as here.
    let expected = std::fs::read_to_string(case().join("expected/frr.conf"))
        .unwrap()
        .replace(
            "some_list deny 192.0.2.0/24",
            "some_list seq 5 deny 192.0.2.0/24",
        )
        .replace(
            "some_list deny 198.51.100.0/25",
            "some_list seq 10 deny 198.51.100.0/25",
        );
    let frr = std::fs::read_to_string(node_dir.join("frr.conf")).unwrap();
    assert_eq!(frr, expected);
    drop(server);

    let export = tempfile::tempdir().unwrap();
    sdnd_ok(
        &["export", "--to", export.path().to_str().unwrap()],
        data.path(),
    );
    assert_eq!(
        std::fs::read_to_string(export.path().join("prefix-lists.cfg")).unwrap(),
        PREFIX_LISTS_CFG
    );
    assert_eq!(
        std::fs::read_to_string(export.path().join("route-maps.cfg")).unwrap(),
        ROUTE_MAPS_CFG
    );
    let running: Value =
        serde_json::from_slice(&std::fs::read(export.path().join(".running-config")).unwrap())
            .unwrap();
    assert_eq!(
        running["route-maps"]["ids"]["map-in_99"]["set"],
        json!([
            "key=src,value=192.0.2.1",
            "key=ip-next-hop,value=192.0.2.100"
        ])
    );
    assert_eq!(
        running["route-maps"]["ids"]["map-in_99"]["id"], "map-in_99",
        "the id inside, as the reference writes it"
    );
    assert_eq!(
        running["prefix-lists"]["ids"]["some_list"]["entries"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Imported again into an empty store, the files come back byte for byte.
    let again = tempfile::tempdir().unwrap();
    sdnd_ok(
        &["import", "--from", export.path().to_str().unwrap()],
        again.path(),
    );
    let second = tempfile::tempdir().unwrap();
    sdnd_ok(
        &["export", "--to", second.path().to_str().unwrap()],
        again.path(),
    );
    for file in ["prefix-lists.cfg", "route-maps.cfg", "controllers.cfg"] {
        assert_eq!(
            std::fs::read_to_string(second.path().join(file)).unwrap(),
            std::fs::read_to_string(export.path().join(file)).unwrap(),
            "{file}"
        );
    }
}

/// A route map entry calling a route map that the imported files do not have: the import is
/// refused naming both, and nothing is imported.
#[test]
fn import_refuses_dangling_references() {
    let import = tempfile::tempdir().unwrap();
    std::fs::write(import.path().join("route-maps.cfg"), ROUTE_MAPS_CFG).unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = sdnd(
        &["import", "--from", import.path().to_str().unwrap()],
        data.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("some_list") && stderr.contains("map-in_9"),
        "{stderr}"
    );
    std::fs::write(
        import.path().join("route-maps.cfg"),
        ROUTE_MAPS_CFG.replace("key=src", "key=source"),
    )
    .unwrap();
    std::fs::write(import.path().join("prefix-lists.cfg"), PREFIX_LISTS_CFG).unwrap();
    let out = sdnd(
        &["import", "--from", import.path().to_str().unwrap()],
        data.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("map-in_99.set") && stderr.contains("unknown set key 'source'"),
        "{stderr}"
    );
    let export = tempfile::tempdir().unwrap();
    sdnd_ok(
        &["export", "--to", export.path().to_str().unwrap()],
        data.path(),
    );
    assert!(
        !export.path().join("route-maps.cfg").exists(),
        "nothing was imported"
    );
}

#[test]
fn the_route_map_and_prefix_list_api() {
    let data = tempfile::tempdir().unwrap();
    let _ = case_node_dir(data.path());
    let server = Server::start_node(data.path(), NODE, &store_args(), &[]);
    let client = server.client("routing");
    let sdn_index = client.get(SDN, &[]).ok();
    for child in ["route-maps", "prefix-lists"] {
        assert!(
            sdn_index
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["id"] == child),
            "{sdn_index}"
        );
    }
    create_case_objects(&client);

    // Reads, in PVE 9.1's shapes.
    assert_eq!(
        client.get(&format!("{SDN}/route-maps"), &[]).ok(),
        json!([{"id": "map-in"}, {"id": "map-out"}])
    );
    let entries = client.get(&format!("{SDN}/route-maps/entries"), &[]).ok();
    assert_eq!(entries.as_array().unwrap().len(), 3);
    let map_in = client
        .get(&format!("{SDN}/route-maps/entries/map-in"), &[])
        .ok();
    assert_eq!(
        map_in
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["order"].clone())
            .collect::<Vec<_>>(),
        [json!(9), json!(99)]
    );
    let entry = client
        .get(&format!("{SDN}/route-maps/entries/map-in/9"), &[])
        .ok();
    assert_eq!(entry["route-map-id"], "map-in");
    assert_eq!(entry["order"], 9);
    assert_eq!(entry["action"], "permit");
    assert_eq!(
        entry["match"],
        json!(["key=ip-next-hop-prefix-list,value=some_list"])
    );
    assert_eq!(entry["set"], json!([]));
    assert!(entry.get("type").is_none());
    let digest = entry["digest"].as_str().unwrap().to_string();
    client
        .get(&format!("{SDN}/route-maps/entries/map-in/10"), &[])
        .expect(404);
    let list = client
        .get(&format!("{SDN}/prefix-lists/some_list"), &[])
        .ok();
    assert_eq!(list["id"], "some_list");
    assert_eq!(
        list["entries"][0],
        "action=deny,prefix=192.0.2.0/24,le=25,seq=5"
    );
    let listed = client
        .get(&format!("{SDN}/prefix-lists/some_list/entries"), &[])
        .ok();
    assert_eq!(
        listed[1],
        json!({"action": "deny", "prefix": "198.51.100.0/25", "le": 26, "ge": 25, "seq": 10})
    );
    assert_eq!(
        client
            .get(&format!("{SDN}/prefix-lists/some_list/entries/22"), &[])
            .ok()["action"],
        "permit"
    );
    client
        .get(&format!("{SDN}/prefix-lists/some_list/entries/23"), &[])
        .expect(404);
    client
        .get(&format!("{SDN}/prefix-lists/nope"), &[])
        .expect(404);

    // Pending until applied.
    let pending = client
        .get(&format!("{SDN}/route-maps/entries"), &[("pending", "1")])
        .ok();
    assert_eq!(pending[0]["state"], "new", "{pending}");
    assert_eq!(
        client
            .get(&format!("{SDN}/prefix-lists"), &[("running", "1")])
            .ok(),
        json!([])
    );
    assert_eq!(
        client
            .get(&format!("{SDN}/route-maps"), &[("running", "1")])
            .ok(),
        json!([])
    );
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK");
    assert_eq!(
        client
            .get(&format!("{SDN}/route-maps"), &[("running", "1")])
            .ok()
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Updates: set and delete, digest, exit-action and call.
    client
        .put(
            &format!("{SDN}/route-maps/entries/map-in/9"),
            &[
                ("exit-action", "key=on-match-goto,value=99"),
                ("set", "key=metric,value=+rtt"),
                ("digest", &digest),
            ],
        )
        .ok();
    let entry = client
        .get(&format!("{SDN}/route-maps/entries/map-in/9"), &[])
        .ok();
    assert_eq!(entry["exit-action"], "key=on-match-goto,value=99");
    assert_eq!(entry["set"], json!(["key=metric,value=+rtt"]));
    let pending = client
        .get(
            &format!("{SDN}/route-maps/entries/map-in"),
            &[("pending", "1")],
        )
        .ok();
    assert_eq!(pending[0]["state"], "changed", "{pending}");
    client
        .put(
            &format!("{SDN}/route-maps/entries/map-in/9"),
            &[("action", "deny"), ("digest", &digest)],
        )
        .expect(409);
    client
        .put(
            &format!("{SDN}/route-maps/entries/map-in/9"),
            &[("delete", "set,exit-action")],
        )
        .ok();
    let entry = client
        .get(&format!("{SDN}/route-maps/entries/map-in/9"), &[])
        .ok();
    assert!(entry.get("exit-action").is_none());
    assert_eq!(entry["set"], json!([]));
    client
        .put(
            &format!("{SDN}/route-maps/entries/map-out/999"),
            &[("call", "map-in")],
        )
        .ok();
    client
        .put(
            &format!("{SDN}/prefix-lists/some_list/entries/22"),
            &[("seq", "30"), ("ge", "25")],
        )
        .ok();
    let moved = client
        .get(&format!("{SDN}/prefix-lists/some_list/entries/30"), &[])
        .ok();
    assert_eq!(
        moved,
        json!({"action": "permit", "prefix": "203.0.113.0/24", "ge": 25, "seq": 30})
    );
    client
        .put(
            &format!("{SDN}/prefix-lists/some_list/entries/30"),
            &[("delete", "ge")],
        )
        .ok();
    assert!(client
        .get(&format!("{SDN}/prefix-lists/some_list/entries/30"), &[])
        .ok()
        .get("ge")
        .is_none());
    client
        .post(
            &format!("{SDN}/prefix-lists/some_list/entries"),
            &[
                ("action", "permit"),
                ("prefix", "2001:db8::/32"),
                ("le", "64"),
            ],
        )
        .ok();
    assert_eq!(
        client
            .get(&format!("{SDN}/prefix-lists/some_list/entries/35"), &[])
            .ok()["prefix"],
        "2001:db8::/32",
        "highest + 5"
    );
    client
        .delete(&format!("{SDN}/prefix-lists/some_list/entries/35"), &[])
        .ok();
    client
        .delete(&format!("{SDN}/prefix-lists/some_list/entries/35"), &[])
        .expect(404);

    // Every refusal names the field; nothing is written.
    let before = (
        client.get(&format!("{SDN}/route-maps/entries"), &[]).ok(),
        client.get(&format!("{SDN}/prefix-lists"), &[]).ok(),
        client.get(&format!("{SDN}/controllers"), &[]).ok(),
    );
    let rm = format!("{SDN}/route-maps/entries");
    let new_entry = |extra: &[(&str, &str)]| {
        let mut params = vec![
            ("route-map-id", "m2"),
            ("order", "10"),
            ("action", "permit"),
        ];
        params.extend_from_slice(extra);
        client.post(&rm, &params)
    };
    let msg = field_error(new_entry(&[("match", "key=community,value=x")]), "match");
    assert!(
        msg.contains("unknown match key 'community'") && msg.contains("ip-next-hop-prefix-list"),
        "{msg}"
    );
    let msg = field_error(new_entry(&[("set", "key=as-path,value=1")]), "set");
    assert!(
        msg.contains("unknown set key 'as-path'") && msg.contains("local-preference"),
        "{msg}"
    );
    field_error(
        new_entry(&[("set", "key=ip-next-hop,value=2001:db8::1")]),
        "set",
    );
    field_error(
        new_entry(&[("exit-action", "key=goto,value=1")]),
        "exit-action",
    );
    let msg = field_error(
        new_entry(&[("match", "key=ip-address-prefix-list,value=nolist")]),
        "match",
    );
    assert!(msg.contains("nolist"), "{msg}");
    field_error(new_entry(&[("call", "nomap")]), "call");
    field_error(new_entry(&[("color", "red")]), "color");
    field_error(
        client.post(
            &rm,
            &[
                ("route-map-id", "MAP_VTEP_IN"),
                ("order", "1"),
                ("action", "permit"),
            ],
        ),
        "route-map-id",
    );
    field_error(
        client.post(
            &rm,
            &[("route-map-id", "m2"), ("order", "0"), ("action", "permit")],
        ),
        "order",
    );
    field_error(
        client.post(
            &rm,
            &[("route-map-id", "m2"), ("order", "10"), ("action", "allow")],
        ),
        "action",
    );
    field_error(
        client.post(&rm, &[("route-map-id", "m2"), ("order", "10")]),
        "action",
    );
    client
        .post(
            &rm,
            &[
                ("route-map-id", "map-in"),
                ("order", "9"),
                ("action", "permit"),
            ],
        )
        .expect(409);
    let pl = format!("{SDN}/prefix-lists/some_list/entries");
    let msg = field_error(
        client.post(
            &pl,
            &[
                ("action", "permit"),
                ("prefix", "192.0.2.0/24"),
                ("le", "23"),
            ],
        ),
        "le",
    );
    assert!(msg.contains("less than the prefix length 24"), "{msg}");
    field_error(
        client.post(
            &pl,
            &[
                ("action", "permit"),
                ("prefix", "192.0.2.0/24"),
                ("ge", "28"),
                ("le", "26"),
            ],
        ),
        "ge",
    );
    field_error(
        client.post(
            &pl,
            &[
                ("action", "permit"),
                ("prefix", "192.0.2.0/24"),
                ("seq", "30"),
            ],
        ),
        "seq",
    );
    field_error(client.post(&pl, &[("action", "permit")]), "prefix");
    field_error(
        client.post(
            &pl,
            &[
                ("action", "permit"),
                ("prefix", "192.0.2.0/24"),
                ("cost", "1"),
            ],
        ),
        "cost",
    );
    field_error(
        client.post(&format!("{SDN}/prefix-lists"), &[("id", "only_default")]),
        "id",
    );
    field_error(
        client.post(
            &format!("{SDN}/prefix-lists"),
            &[
                ("id", "l2"),
                ("entries", "action=permit,prefix=10.0.0.0/8,eq=9"),
            ],
        ),
        "entries",
    );
    client
        .post(&format!("{SDN}/prefix-lists"), &[("id", "some_list")])
        .expect(409);
    let msg = field_error(
        client.put(
            &format!("{SDN}/controllers/evpnctl"),
            &[("route-map-in", "nomap")],
        ),
        "route-map-in",
    );
    assert!(msg.contains("nomap"), "{msg}");
    field_error(
        client.put(
            &format!("{SDN}/controllers/evpnctl"),
            &[("bgp-mode", "both")],
        ),
        "bgp-mode",
    );
    field_error(
        client.put(
            &format!("{SDN}/controllers/evpnctl"),
            &[("peer-group-name", "a b")],
        ),
        "peer-group-name",
    );
    let after = (
        client.get(&format!("{SDN}/route-maps/entries"), &[]).ok(),
        client.get(&format!("{SDN}/prefix-lists"), &[]).ok(),
        client.get(&format!("{SDN}/controllers"), &[]).ok(),
    );
    assert_eq!(after, before, "nothing half-written");

    // Objects in use can't go: the prefix list while a route map matches on it, the last
    // entry of a route map while a controller (or another route map) uses it.
    let reply = client
        .delete(&format!("{SDN}/prefix-lists/some_list"), &[])
        .expect(409);
    assert!(
        reply.message().contains("route map entry map-in_9"),
        "{}",
        reply.body
    );
    let reply = client
        .delete(&format!("{SDN}/route-maps/entries/map-out/999"), &[])
        .expect(409);
    assert!(
        reply.message().contains("controller evpnctl"),
        "{}",
        reply.body
    );
    client
        .delete(&format!("{SDN}/route-maps/entries/map-in/99"), &[])
        .ok();
    let reply = client
        .delete(&format!("{SDN}/route-maps/entries/map-in/9"), &[])
        .expect(409);
    assert!(
        reply.message().contains("controller localhost") && reply.message().contains("map-out_999"),
        "{}",
        reply.body
    );
    client
        .put(
            &format!("{SDN}/controllers/evpnctl"),
            &[("delete", "route-map-out")],
        )
        .ok();
    client
        .delete(&format!("{SDN}/route-maps/entries/map-out/999"), &[])
        .ok();
    client
        .put(
            &format!("{SDN}/controllers/localhost"),
            &[("delete", "route-map-in")],
        )
        .ok();
    client
        .delete(&format!("{SDN}/route-maps/entries/map-in/9"), &[])
        .ok();
    client
        .delete(&format!("{SDN}/prefix-lists/some_list"), &[])
        .ok();
    assert_eq!(
        client.get(&format!("{SDN}/route-maps"), &[]).ok(),
        json!([])
    );
    let pending = client
        .get(&format!("{SDN}/prefix-lists"), &[("pending", "1")])
        .ok();
    assert_eq!(pending[0]["state"], "deleted", "{pending}");
}

/// Route map and prefix list changes go through the lock rule, privileges first.
#[test]
fn routing_changes_obey_the_lock_and_the_acl() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let client = server.client("routing");
    let token = client.post(&format!("{SDN}/lock"), &[]).ok();
    let token = token.as_str().unwrap();
    let rm = format!("{SDN}/route-maps/entries");
    let create = [
        ("route-map-id", "m1"),
        ("order", "10"),
        ("action", "permit"),
    ];
    client.post(&rm, &create).expect(423);
    client
        .post(&format!("{SDN}/prefix-lists"), &[("id", "l1")])
        .expect(423);
    let mut with_token = create.to_vec();
    with_token.push(("lock-token", token));
    client.post(&rm, &with_token).ok();
    client
        .post(
            &format!("{SDN}/prefix-lists"),
            &[("id", "l1"), ("lock-token", token)],
        )
        .ok();
    client
        .put(
            &format!("{SDN}/route-maps/entries/m1/10"),
            &[("action", "deny")],
        )
        .expect(423);
    client
        .post(
            &format!("{SDN}/prefix-lists/l1/entries"),
            &[("action", "permit"), ("prefix", "10.0.0.0/8")],
        )
        .expect(423);
    client
        .post(
            &format!("{SDN}/prefix-lists/l1/entries"),
            &[
                ("action", "permit"),
                ("prefix", "10.0.0.0/8"),
                ("lock-token", token),
            ],
        )
        .ok();
    client
        .put(&format!("{SDN}/prefix-lists/l1/entries/5"), &[("le", "16")])
        .expect(423);
    client
        .delete(&format!("{SDN}/prefix-lists/l1/entries/5"), &[])
        .expect(423);
    client
        .delete(&format!("{SDN}/route-maps/entries/m1/10"), &[])
        .expect(423);
    client
        .delete(&format!("{SDN}/prefix-lists/l1"), &[])
        .expect(423);
    client
        .delete(&format!("{SDN}/lock"), &[("lock-token", token)])
        .ok();

    let mut add = std::process::Command::new(SDND)
        .args([
            "user",
            "add",
            "nobody@pve",
            "--password-stdin",
            "--data-dir",
        ])
        .arg(data.path())
        .args(store_args())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut add.stdin.take().unwrap(), b"a long enough password\n").unwrap();
    assert!(add.wait().unwrap().success());
    let user = common::add_token(data.path(), "nobody@pve", "tok");
    let stranger = client.with_auth(Some(user));
    stranger
        .post(&rm, &[("route-map-id", "m2"), ("order", "x")])
        .expect(403);
    stranger
        .put(
            &format!("{SDN}/route-maps/entries/m1/10"),
            &[("action", "deny")],
        )
        .expect(403);
    stranger
        .delete(&format!("{SDN}/route-maps/entries/m1/10"), &[])
        .expect(403);
    stranger
        .get(&format!("{SDN}/route-maps/entries/m1"), &[])
        .expect(403);
    stranger
        .get(&format!("{SDN}/route-maps/entries/m1/10"), &[])
        .expect(403);
    stranger
        .post(&format!("{SDN}/prefix-lists"), &[("id", "l2")])
        .expect(403);
    stranger
        .get(&format!("{SDN}/prefix-lists/l1"), &[])
        .expect(403);
    stranger
        .get(&format!("{SDN}/prefix-lists/l1/entries"), &[])
        .expect(403);
    stranger
        .put(&format!("{SDN}/prefix-lists/l1/entries/5"), &[("le", "16")])
        .expect(403);
    stranger
        .delete(&format!("{SDN}/prefix-lists/l1"), &[])
        .expect(403);
    assert_eq!(
        stranger.get(&format!("{SDN}/route-maps"), &[]).ok(),
        json!([])
    );
    assert_eq!(
        stranger.get(&format!("{SDN}/route-maps/entries"), &[]).ok(),
        json!([])
    );
    assert_eq!(
        stranger.get(&format!("{SDN}/prefix-lists"), &[]).ok(),
        json!([])
    );
    // Nothing changed for them.
    assert_eq!(
        client
            .get(&format!("{SDN}/route-maps/entries/m1/10"), &[])
            .ok()["action"],
        "permit"
    );
}

/// PVE 9.1's BGP and WireGuard fabrics are not implemented: refused by name, on the API and
/// in an imported `fabrics.cfg`, never accepted silently.
#[test]
fn unimplemented_fabric_protocols_are_refused_by_name() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let client = server.client("routing");
    for protocol in ["bgp", "wireguard"] {
        let msg = field_error(
            client.post(
                &format!("{SDN}/fabrics/fabric"),
                &[("id", "f1"), ("protocol", protocol)],
            ),
            "protocol",
        );
        assert!(
            msg.contains(&format!("'{protocol}' is not supported"))
                && msg.contains("openfabric, ospf"),
            "{msg}"
        );
    }
    assert_eq!(
        client.get(&format!("{SDN}/fabrics/all"), &[]).ok(),
        json!({"fabrics": [], "nodes": []})
    );
    drop(server);

    let import = tempfile::tempdir().unwrap();
    std::fs::write(import.path().join("fabrics.cfg"), "wireguard_fabric: wg\n").unwrap();
    let out = sdnd(
        &["import", "--from", import.path().to_str().unwrap()],
        data.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'wireguard' is not supported"), "{stderr}");
}

/// Several EVPN controllers (PVE 9.1): each needs its own peer group and, on the nodes it
/// shares with another, the same ASN; a zone's `secondary-controllers` must be other EVPN
/// controllers, which can't be deleted while a zone uses them.
#[test]
fn several_evpn_controllers_and_secondary_controllers() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let client = server.client("routing");
    let ctl = format!("{SDN}/controllers");
    client
        .post(
            &ctl,
            &[
                ("controller", "cluster"),
                ("type", "evpn"),
                ("asn", "65000"),
                ("peers", "192.168.0.1,192.168.0.2"),
                ("bgp-mode", "internal"),
            ],
        )
        .ok();
    let msg = field_error(
        client.post(
            &ctl,
            &[
                ("controller", "uplink"),
                ("type", "evpn"),
                ("asn", "65000"),
                ("peers", "198.51.100.1"),
            ],
        ),
        "peer-group-name",
    );
    assert!(msg.contains("VTEP") && msg.contains("cluster"), "{msg}");
    let msg = field_error(
        client.post(
            &ctl,
            &[
                ("controller", "uplink"),
                ("type", "evpn"),
                ("asn", "65001"),
                ("peers", "198.51.100.1"),
                ("peer-group-name", "uplink"),
            ],
        ),
        "asn",
    );
    assert!(msg.contains("same ASN") && msg.contains("cluster"), "{msg}");
    client
        .post(
            &ctl,
            &[
                ("controller", "uplink"),
                ("type", "evpn"),
                ("asn", "65000"),
                ("peers", "198.51.100.1"),
                ("peer-group-name", "uplink"),
                ("nodes", "localhost"),
                ("bgp-mode", "external"),
            ],
        )
        .ok();
    let zones = format!("{SDN}/zones");
    let zone = |secondary: &str| {
        client.post(
            &zones,
            &[
                ("zone", "myzone"),
                ("type", "evpn"),
                ("controller", "cluster"),
                ("vrf-vxlan", "1000"),
                ("secondary-controllers", secondary),
            ],
        )
    };
    assert!(field_error(zone("nope"), "secondary-controllers").contains("nope"));
    assert!(field_error(zone("cluster"), "secondary-controllers").contains("already"));
    client.json("POST", &zones, &json!({"zone": "myzone", "type": "evpn", "controller": "cluster", "vrf-vxlan": 1000, "secondary-controllers": ["uplink"]})).ok();
    assert_eq!(
        client.get(&format!("{zones}/myzone"), &[]).ok()["secondary-controllers"],
        json!(["uplink"])
    );
    let reply = client.delete(&format!("{ctl}/uplink"), &[]).expect(409);
    assert!(reply.message().contains("zone myzone"), "{}", reply.body);
    drop(server);
    let export = tempfile::tempdir().unwrap();
    sdnd_ok(
        &["export", "--to", export.path().to_str().unwrap()],
        data.path(),
    );
    let zones_cfg = std::fs::read_to_string(export.path().join("zones.cfg")).unwrap();
    assert!(
        zones_cfg.contains("\tsecondary-controllers uplink\n"),
        "{zones_cfg}"
    );
}
