//! Version history, compare, restore, confirmed apply, change sets and the audit trail, over
//! HTTP (on SQLite, or on etcd with SDND_TEST_STORE=etcd).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, InProcess, Server, SDND};
use serde_json::{json, Value};

const SDN: &str = "/api2/json/cluster/sdn";

fn zone(client: &Client, name: &str) {
    client.post(&format!("{SDN}/zones"), &[("zone", name), ("type", "simple")]).ok();
}

fn apply(client: &Client, params: &[(&str, &str)]) -> String {
    let upid = client.put(SDN, params).ok().as_str().unwrap().to_string();
    assert_eq!(client.wait_task(&upid), "OK");
    upid
}

fn zones(client: &Client, running: bool) -> Vec<String> {
    let params: &[(&str, &str)] = if running { &[("running", "1")] } else { &[] };
    let list = client.get(&format!("{SDN}/zones"), params).ok();
    list.as_array().unwrap().iter().map(|z| z["zone"].as_str().unwrap().to_string()).collect()
}

fn audit(client: &Client, params: &[(&str, &str)]) -> Vec<Value> {
    client.get(&format!("{SDN}/audit"), params).ok().as_array().unwrap().clone()
}

fn actions(records: &[Value]) -> Vec<String> {
    records.iter().map(|r| r["action"].as_str().unwrap().to_string()).collect()
}

/// Waits (in real time, bounded) until `check` holds.
fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn versions_are_kept_compared_and_restored() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let root = server.client("root");

    zone(&root, "za");
    let first = apply(&root, &[("comment", "first zone")]);
    zone(&root, "zb");
    root.put(&format!("{SDN}/zones/za"), &[("mtu", "1400")]).ok();
    apply(&root, &[]);

    let versions = root.get(&format!("{SDN}/versions"), &[]).ok();
    let numbers: Vec<u64> = versions.as_array().unwrap().iter().map(|v| v["version"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [2, 1], "newest first: {versions}");
    assert_eq!(versions[1]["comment"], "first zone");
    assert_eq!(versions[1]["upid"], first.as_str());
    assert_eq!(versions[1]["user"], "root@pam!root");
    assert_eq!(versions[0]["confirmed"], 1);

    let one = root.get(&format!("{SDN}/versions/1"), &[]).ok();
    assert_eq!(one["version"], 1);
    assert_eq!(one["config"]["version"], 1);
    assert!(one["config"]["zones"]["ids"]["za"].is_object() && one["config"]["zones"]["ids"]["zb"].is_null(), "{one}");
    root.get(&format!("{SDN}/versions/99"), &[]).expect(404);
    root.get(&format!("{SDN}/versions/abc"), &[]).expect(400);

    // 1 -> running (2): zb is new, za changed.
    let diff = root.get(&format!("{SDN}/versions/1/diff"), &[]).ok();
    let states: Vec<(String, String)> = diff
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["state"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(states, [("za".to_string(), "changed".to_string()), ("zb".into(), "new".into())], "{diff}");
    assert_eq!(diff[0]["kind"], "zones");
    assert_eq!(diff[0]["after"]["mtu"], 1400);
    // Against pending, after deleting zb there.
    root.delete(&format!("{SDN}/zones/zb"), &[]).ok();
    let diff = root.get(&format!("{SDN}/versions/2/diff"), &[("to", "pending")]).ok();
    assert_eq!(diff.as_array().unwrap().len(), 1);
    assert_eq!((diff[0]["id"].as_str(), diff[0]["state"].as_str()), (Some("zb"), Some("deleted")));
    assert!(root.get(&format!("{SDN}/versions/2/diff"), &[("to", "1")]).ok().as_array().unwrap().len() == 2);
    let bad = root.get(&format!("{SDN}/versions/2/diff"), &[("to", "yesterday")]).expect(400);
    assert!(bad.body["errors"]["to"].is_string(), "{}", bad.body);
    root.get(&format!("{SDN}/versions/2/diff"), &[("to", "77")]).expect(404);
    // With a node: the files that node renders differ too.
    let with_files = root.get(&format!("{SDN}/versions/1/diff"), &[("node", "testnode")]).ok();
    let files: Vec<&Value> = with_files.as_array().unwrap().iter().filter(|c| c["kind"] == "file").collect();
    assert!(!files.is_empty(), "{with_files}");
    assert!(files.iter().all(|f| f["node"] == "testnode" && f["diff"].as_str().unwrap().starts_with("--- ")));

    // Restore: refused over pending changes, then allowed; pending is version 1 again.
    let refused = root.post(&format!("{SDN}/versions/1/restore"), &[]).expect(409);
    assert!(refused.message().contains("allow-pending"), "{}", refused.message());
    root.post(&format!("{SDN}/versions/99/restore"), &[("allow-pending", "1")]).expect(404);
    root.post(&format!("{SDN}/versions/1/restore"), &[("allow-pending", "1"), ("comment", "back to one")]).ok();
    assert_eq!(zones(&root, false), ["za"]);
    let za = root.get(&format!("{SDN}/zones/za"), &[]).ok();
    assert!(za["mtu"].is_null(), "{za}");
    apply(&root, &[]);
    assert_eq!(zones(&root, true), ["za"]);
    let latest = &root.get(&format!("{SDN}/versions"), &[]).ok()[0];
    assert_eq!(latest["version"], 3);
    assert!(root.get(&format!("{SDN}/versions/1/diff"), &[("to", "3")]).ok().as_array().unwrap().is_empty());

    let records = audit(&root, &[]);
    assert_eq!(actions(&records), ["apply", "restore", "apply", "apply"], "{records:?}");
    assert_eq!(records[1]["comment"], "back to one");
    assert_eq!(records[1]["version"], 1);
    assert_eq!(records[1]["client"], "127.0.0.1");
}

#[test]
fn retention_prunes_old_versions_but_keeps_running_and_previous() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--keep-versions", "2"]);
    let root = server.client("root");
    for name in ["za", "zb", "zc", "zd"] {
        zone(&root, name);
        apply(&root, &[]);
    }
    let versions = root.get(&format!("{SDN}/versions"), &[]).ok();
    let numbers: Vec<u64> = versions.as_array().unwrap().iter().map(|v| v["version"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [4, 3]);
    root.get(&format!("{SDN}/versions/1"), &[]).expect(404);
}

#[test]
fn the_audit_trail_records_the_lock_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let root = server.client("root");

    let token = root.post(&format!("{SDN}/lock"), &[("comment", "maintenance")]).ok();
    let token = token.as_str().unwrap().to_string();
    root.delete(&format!("{SDN}/lock"), &[("lock-token", &token)]).ok();
    let other = root.post(&format!("{SDN}/lock"), &[]).ok().as_str().unwrap().to_string();
    root.delete(&format!("{SDN}/lock"), &[("force", "1")]).ok();
    let locked = root.post(&format!("{SDN}/lock"), &[]).ok().as_str().unwrap().to_string();
    root.post(&format!("{SDN}/zones"), &[("zone", "zb"), ("type", "simple"), ("lock-token", &locked)]).ok();
    root.post(&format!("{SDN}/rollback"), &[("lock-token", &locked), ("release-lock", "0")]).ok();
    let upid = root.put(SDN, &[("lock-token", &locked)]).ok();
    root.wait_task(upid.as_str().unwrap());
    // A lock with a ttl that runs out while nobody writes.
    root.post(&format!("{SDN}/lock"), &[("ttl", "5")]).ok();
    server.clock.advance(Duration::from_secs(6));
    eventually("the expiry record", Duration::from_secs(10), || audit(&root, &[("action", "expire")]).len() == 1);

    let records = audit(&root, &[]);
    assert_eq!(
        actions(&records),
        ["expire", "lock", "unlock", "apply", "rollback", "lock", "force-unlock", "lock", "unlock", "lock"],
        "{records:?}"
    );
    assert_eq!(records.last().unwrap()["comment"], "maintenance");
    let text = serde_json::to_string(&records).unwrap();
    for secret in [&token, &other, &locked] {
        assert!(!text.contains(secret.as_str()), "a lock token in the audit trail");
    }
    assert_eq!(audit(&root, &[("limit", "2")]).len(), 2);
    assert_eq!(actions(&audit(&root, &[("action", "lock")])), ["lock", "lock", "lock", "lock"]);
    assert!(audit(&root, &[("user", "nobody@pve")]).is_empty());
    assert_eq!(audit(&root, &[("user", "root@pam!root")]).len(), 10);
    assert!(audit(&root, &[("since", &(server.clock.now() + 100).to_string())]).is_empty());
    root.get(&format!("{SDN}/audit"), &[("action", "dance")]).expect(400);
    root.get(&format!("{SDN}/audit"), &[("limit", "0")]).expect(400);

    // Readable with SDN.Audit on /sdn only.
    admin(dir.path(), &["user", "add", "bob@pve"]);
    admin(dir.path(), &["acl", "modify", "/sdn/zones/za", "--users", "bob@pve", "--roles", "PVESDNAdmin"]);
    admin(dir.path(), &["user", "add", "carol@pve"]);
    admin(dir.path(), &["acl", "modify", "/sdn", "--users", "carol@pve", "--roles", "PVEAuditor"]);
    let bob = Client::new(&server.base, Some(common::add_token(dir.path(), "bob@pve", "tk1")));
    let carol = Client::new(&server.base, Some(common::add_token(dir.path(), "carol@pve", "tk1")));
    bob.get(&format!("{SDN}/audit"), &[]).expect(403);
    assert!(!audit(&carol, &[]).is_empty());
}

fn admin(data_dir: &std::path::Path, args: &[&str]) {
    let out = Command::new(SDND)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .args(common::store_args())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_confirmed_apply_reverts_unless_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let root = server.client("root");
    zone(&root, "za");
    apply(&root, &[]);

    for bad in ["0", "3601", "soon"] {
        let refused = root.put(SDN, &[("confirm-timeout", bad)]).expect(400);
        assert!(refused.body["errors"]["confirm-timeout"].is_string());
    }
    root.post(&format!("{SDN}/confirm"), &[]).expect(409);

    // Confirmed in time: the version stays, the lock goes with the confirm.
    let token = root.post(&format!("{SDN}/lock"), &[]).ok().as_str().unwrap().to_string();
    root.post(&format!("{SDN}/zones"), &[("zone", "zb"), ("type", "simple"), ("lock-token", &token)]).ok();
    let upid = root.put(SDN, &[("lock-token", &token), ("confirm-timeout", "30")]).ok();
    assert_eq!(root.wait_task(upid.as_str().unwrap()), "OK");
    let lock = root.get(&format!("{SDN}/lock"), &[]).ok();
    assert_eq!(lock["locked"], 1, "the lock stays held until the confirm: {lock}");
    let deadline = lock["confirm-deadline"].as_i64().unwrap();
    assert!((deadline - server.clock.now() - 30).abs() <= 1, "{lock}");
    assert_eq!(root.get(&format!("{SDN}/confirm"), &[]).ok()["confirm-deadline"], deadline);
    let index = root.get(SDN, &[]).ok();
    let entry = index.as_array().unwrap().iter().find(|e| e["id"] == "confirm").unwrap().clone();
    assert_eq!(entry["confirm-deadline"], deadline, "{index}");
    assert_eq!(root.get(&format!("{SDN}/versions"), &[]).ok()[0]["confirmed"], 0);
    root.delete(&format!("{SDN}/lock"), &[("lock-token", &token)]).expect(409);
    root.put(SDN, &[("lock-token", &token)]).expect(409);
    root.post(&format!("{SDN}/confirm"), &[]).expect(423);
    assert_eq!(root.post(&format!("{SDN}/confirm"), &[("lock-token", &token)]).ok(), 2);
    assert_eq!(root.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 0);
    assert_eq!(root.get(&format!("{SDN}/versions"), &[]).ok()[0]["confirmed"], 1);
    root.post(&format!("{SDN}/confirm"), &[]).expect(409);
    assert!(root.get(&format!("{SDN}/confirm"), &[]).ok().is_null());
    assert!(root.get(SDN, &[]).ok().as_array().unwrap().iter().all(|e| e.get("confirm-deadline").is_none()));

    // Not confirmed: the version before comes back by itself, as a new version.
    let token = root.post(&format!("{SDN}/lock"), &[]).ok().as_str().unwrap().to_string();
    root.post(&format!("{SDN}/zones"), &[("zone", "zc"), ("type", "simple"), ("lock-token", &token)]).ok();
    let upid = root.put(SDN, &[("lock-token", &token), ("confirm-timeout", "10"), ("comment", "try zc")]).ok();
    let upid = upid.as_str().unwrap().to_string();
    assert_eq!(root.wait_task(&upid), "OK");
    assert_eq!(zones(&root, true), ["za", "zb", "zc"]);
    server.clock.advance(Duration::from_secs(9));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(zones(&root, true), ["za", "zb", "zc"], "reverted before the deadline");
    server.clock.advance(Duration::from_secs(1));
    eventually("the revert", Duration::from_secs(10), || zones(&root, true) == ["za", "zb"]);
    assert_eq!(zones(&root, false), ["za", "zb"]);
    let versions = root.get(&format!("{SDN}/versions"), &[]).ok();
    assert_eq!(versions[0]["version"], 4);
    assert_eq!(versions[0]["user"], "sdnd");
    assert_eq!(versions[1]["confirmed"], 0);
    let revert_upid = versions[0]["upid"].as_str().unwrap().to_string();
    assert_ne!(revert_upid, upid);
    assert_eq!(root.wait_task(&revert_upid), "OK");
    assert_eq!(root.get(&format!("{SDN}/lock"), &[]).ok()["locked"], 0);
    let log = root.get(&format!("/api2/json/nodes/testnode/tasks/{upid}/log"), &[]).ok();
    assert!(log.to_string().contains(&revert_upid), "the first task names the revert: {log}");
    let records = audit(&root, &[]);
    assert_eq!(actions(&records)[..3], ["unlock", "revert", "apply"], "{records:?}");
    assert_eq!(records[1]["user"], "sdnd");
}

#[test]
fn a_confirmed_apply_reverts_at_once_when_a_node_fails() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let root = server.client("root");
    zone(&root, "za");
    apply(&root, &[]);
    // The node can't write its interfaces file (a non-empty directory is in its place): its
    // apply of the next version fails.
    let target = common::node_dir(dir.path()).join("sdn");
    let _ = std::fs::remove_file(&target);
    std::fs::create_dir_all(target.join("blocker")).unwrap();
    zone(&root, "zb");
    let upid = root.put(SDN, &[("confirm-timeout", "600"), ("revert-on-failure", "1")]).ok();
    let status = root.wait_task(upid.as_str().unwrap());
    assert_ne!(status, "OK");
    eventually("the revert", Duration::from_secs(10), || zones(&root, true) == ["za"]);
    let versions = root.get(&format!("{SDN}/versions"), &[]).ok();
    assert_eq!(versions[0]["user"], "sdnd", "{versions} (apply: {status})");
    assert!(versions[0]["comment"].as_str().unwrap().contains("failed"), "{versions}");
    root.put(SDN, &[("revert-on-failure", "1")]).expect(400);
}

#[test]
fn change_sets_are_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let root = server.client("root");
    let token = root.post(&format!("{SDN}/lock"), &[]).ok().as_str().unwrap().to_string();

    let steps = json!([
        {"method": "POST", "path": "/cluster/sdn/zones", "params": {"zone": "za", "type": "simple"}},
        {"method": "POST", "path": "/cluster/sdn/vnets", "params": {"vnet": "va", "zone": "za"}},
        {"method": "POST", "path": "/cluster/sdn/vnets/va/subnets", "params": {"subnet": "10.0.0.0/24", "type": "subnet"}},
        {"method": "PUT", "path": "/cluster/sdn/zones/za", "params": {"mtu": 1400}},
    ]);
    let changes = format!("{SDN}/changes");
    assert_eq!(root.json("POST", &changes, &json!({"steps": steps, "lock-token": token})).ok(), 4);
    assert_eq!(zones(&root, false), ["za"]);
    assert_eq!(root.get(&format!("{SDN}/vnets/va/subnets"), &[]).ok().as_array().unwrap().len(), 1);

    // A failing step: nothing of the set is made, and the error names the step and field.
    let steps = json!([
        {"method": "POST", "path": "/cluster/sdn/zones", "params": {"zone": "zb", "type": "simple"}},
        {"method": "PUT", "path": "/cluster/sdn/vnets/va", "params": {"alias": "first"}},
        {"method": "POST", "path": "/cluster/sdn/vnets", "params": {"vnet": "vb", "zone": "zb", "tag": "many"}},
    ]);
    let refused = root.post(&changes, &[("steps", &steps.to_string()), ("lock-token", &token)]).expect(400);
    let errors = refused.body["errors"].as_object().unwrap();
    assert!(errors.keys().any(|k| k == "steps[2].params.tag"), "{}", refused.body);
    assert!(errors["steps[2].params.tag"].as_str().unwrap().contains("/cluster/sdn/vnets"), "{}", refused.body);
    assert_eq!(zones(&root, false), ["za"]);
    assert!(root.get(&format!("{SDN}/vnets/va"), &[]).ok()["alias"].is_null());

    // Conflicts inside the set count against the set so far: deleting a zone a step emptied.
    let steps = json!([
        {"method": "DELETE", "path": "/cluster/sdn/vnets/va/subnets/10.0.0.0%2F24"},
        {"method": "DELETE", "path": "/cluster/sdn/vnets/va"},
        {"method": "DELETE", "path": "/cluster/sdn/zones/za"},
    ]);
    assert_eq!(root.json("POST", &changes, &json!({"steps": steps, "lock-token": token})).ok(), 3);
    assert!(zones(&root, false).is_empty());

    // The lock rule: without the token, nothing.
    let steps = json!([{"method": "POST", "path": "/cluster/sdn/zones", "params": {"zone": "zc", "type": "simple"}}]);
    root.json("POST", &changes, &json!({"steps": steps})).expect(423);
    // Bad sets.
    for (body, field) in [
        (json!({"steps": {"method": "POST"}, "lock-token": token}), "steps"),
        (json!({"steps": "not json", "lock-token": token}), "steps"),
        (json!({"steps": [{"method": "POST", "path": "/access/users", "params": {}}], "lock-token": token}), "steps[0].path"),
        (json!({"steps": [{"method": "GET", "path": "/cluster/sdn/zones"}], "lock-token": token}), "steps[0].method"),
        (json!({"steps": [{"method": "POST", "path": "/cluster/sdn/nothing"}], "lock-token": token}), "steps[0].path"),
        (json!({"steps": [{"method": "PUT", "path": "/cluster/sdn/changes"}], "lock-token": token}), "steps[0].path"),
        (json!({"lock-token": token}), "steps"),
    ] {
        let refused = root.json("POST", &changes, &body).expect(400);
        assert!(refused.body["errors"][field].is_string(), "{body}: {}", refused.body);
    }
    let many: Vec<Value> = (0..10_001).map(|_| json!({})).collect();
    let refused = root.json("POST", &changes, &json!({"steps": many, "lock-token": token})).expect(400);
    assert!(refused.body["errors"]["steps"].as_str().unwrap().contains("10000"), "{}", refused.body);
    // An apply is no step.
    let steps = json!([{"method": "PUT", "path": "/cluster/sdn/zones/none", "params": {}}]);
    root.json("POST", &changes, &json!({"steps": steps, "lock-token": token})).expect(404);
    let records = audit(&root, &[("action", "changes")]);
    assert_eq!(records.len(), 2, "one record per change set made: {records:?}");
    assert!(records[1]["detail"].as_str().unwrap().starts_with("4 step(s)"));
}

#[test]
fn change_set_steps_get_their_own_privilege_checks() {
    let dir = tempfile::tempdir().unwrap();
    let server = InProcess::start(dir.path());
    let root = server.client("root");
    zone(&root, "za");
    zone(&root, "zb");
    admin(dir.path(), &["user", "add", "bob@pve"]);
    admin(dir.path(), &["acl", "modify", "/sdn/zones/za", "--users", "bob@pve", "--roles", "PVESDNAdmin"]);
    let bob = Client::new(&server.base, Some(common::add_token(dir.path(), "bob@pve", "tk1")));
    let changes = format!("{SDN}/changes");
    let steps = json!([
        {"method": "POST", "path": "/cluster/sdn/vnets", "params": {"vnet": "va", "zone": "za"}},
        {"method": "POST", "path": "/cluster/sdn/vnets", "params": {"vnet": "vb", "zone": "zb"}},
    ]);
    let refused = bob.json("POST", &changes, &json!({ "steps": steps })).expect(403);
    assert!(refused.message().contains("steps[1]"), "{}", refused.message());
    assert!(root.get(&format!("{SDN}/vnets"), &[]).ok().as_array().unwrap().is_empty());
    let steps = json!([{"method": "POST", "path": "/cluster/sdn/vnets", "params": {"vnet": "va", "zone": "za"}}]);
    assert_eq!(bob.json("POST", &changes, &json!({ "steps": steps })).ok(), 1);
}

#[test]
fn the_confirm_deadline_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let root = server.client("root");
    zone(&root, "za");
    apply(&root, &[]);
    zone(&root, "zb");
    root.put(SDN, &[("confirm-timeout", "4")]).ok();
    let applied = Instant::now();
    server.kill();
    std::thread::sleep(Duration::from_millis(500));
    server.restart();
    let root = server.client("again");
    assert!(root.get(&format!("{SDN}/confirm"), &[]).ok()["confirm-deadline"].is_i64());
    eventually("the revert after the restart", Duration::from_secs(15), || zones(&root, true) == ["za"]);
    let late = applied.elapsed();
    assert!(late >= Duration::from_secs(3) && late < Duration::from_secs(8), "reverted after {late:?}");
    assert_eq!(root.get(&format!("{SDN}/versions"), &[]).ok()[0]["user"], "sdnd");
}
