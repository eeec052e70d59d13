//! `GET /access/permissions`: what a client learns about its own privileges, in PVE's shape.

mod common;

use std::process::Command;

use common::{add_token, Client, Server, SDND};
use serde_json::json;

fn admin(data_dir: &std::path::Path, args: &[&str]) {
    let out = Command::new(SDND).args(args).arg("--data-dir").arg(data_dir).args(common::store_args()).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn permissions_report_each_path_with_its_propagation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d);
    admin(d, &["user", "add", "aud@pve"]);
    admin(d, &["acl", "modify", "/", "--users", "aud@pve", "--roles", "PVEAuditor"]);
    admin(d, &["user", "add", "bob@pve"]);
    admin(d, &["acl", "modify", "/sdn/zones/zb", "--users", "bob@pve", "--roles", "PVESDNAdmin"]);
    admin(d, &["acl", "modify", "/sdn", "--users", "bob@pve", "--roles", "PVEAuditor"]);
    admin(d, &["acl", "modify", "/sdn/zones/za", "--users", "bob@pve", "--roles", "NoAccess"]);
    admin(d, &["acl", "modify", "/sdn/zones/zz", "--users", "aud@pve", "--roles", "PVEAuditor"]);
    admin(d, &["acl", "modify", "/sdn/zones/zc", "--users", "bob@pve", "--roles", "PVESDNUser", "--propagate", "0"]);
    let as_user = |user: &str| Client::new(&server.base, Some(add_token(d, user, "ui")));
    let path = "/api2/json/access/permissions";
    let (aud, bob_client) = (as_user("aud@pve"), as_user("bob@pve"));

    let root = server.client("root").get(path, &[]).ok();
    assert_eq!(root["/"]["SDN.Allocate"], 1, "{root}");
    assert_eq!(root["/"]["Sys.Audit"], 1, "{root}");

    let auditor = aud.get(path, &[]).ok();
    assert_eq!(auditor["/"]["SDN.Audit"], 1, "{auditor}");
    assert_eq!(auditor["/sdn"]["SDN.Audit"], 1, "{auditor}");
    assert!(auditor["/"].get("SDN.Allocate").is_none() && auditor["/sdn"].get("SDN.Allocate").is_none(), "{auditor}");

    let bob = bob_client.get(path, &[]).ok();
    assert!(bob.get("/").is_none(), "nothing held there: not listed: {bob}");
    assert_eq!(bob["/sdn"]["SDN.Audit"], 1, "{bob}");
    assert_eq!(bob["/sdn/zones/za"], json!({}), "an own ACL path granting nothing is listed, empty: {bob}");
    assert!(bob.get("/sdn/zones/zz").is_none(), "someone else's ACL path is not shown: {bob}");
    assert_eq!(bob["/sdn/zones/zb"], json!({"SDN.Allocate": 1, "SDN.Audit": 1}));
    assert_eq!(bob["/sdn/zones/zc"], json!({"SDN.Audit": 1, "SDN.Use": 0}), "what reaches children is 1 (Audit from /sdn), the rest 0");

    let one = bob_client.get(path, &[("path", "/sdn/zones/zb/v1")]).ok();
    assert_eq!(one, json!({"/sdn/zones/zb/v1": {"SDN.Allocate": 1, "SDN.Audit": 1}}), "inherited on a path without entry");
    bob_client.get(path, &[("userid", "aud@pve")]).expect(403);
    bob_client.get(path, &[("userid", "bob@pve!ui")]).ok();
    bob_client.get(path, &[("path", "no-slash")]).expect(400);
    Client::new(&server.base, None).get(path, &[]).expect(401);
}
