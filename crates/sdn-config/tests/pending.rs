//! The pending view and the "pending changes exist" check.

mod common;

use common::*;
use sdn_config::{has_pending_changes, pending_entry, pending_view, Config, Kind};
use serde_json::json;

fn applied(c: &Config) -> Config {
    Config::from_running_config(&c.to_running_config(1))
        .unwrap()
        .1
}

#[test]
fn states_new_changed_deleted() {
    let mut cur = base();
    create(
        &mut cur,
        Kind::Vnets,
        json!({"vnet": "v1", "zone": "vlan1", "tag": 10, "alias": "old"}),
    );
    create(
        &mut cur,
        Kind::Vnets,
        json!({"vnet": "v2", "zone": "vlan1", "tag": 20}),
    );
    create(
        &mut cur,
        Kind::Vnets,
        json!({"vnet": "v3", "zone": "simple1"}),
    );
    create(
        &mut cur,
        Kind::Subnets,
        json!({"subnet": "10.0.0.0/24", "vnet": "v3", "dhcp-range": "start-address=10.0.0.5,end-address=10.0.0.9"}),
    );
    let running = applied(&cur);
    assert!(!has_pending_changes(&cur, &running));
    // No difference: no state, no pending.
    for kind in Kind::ALL {
        for e in pending_view(kind, &cur, &running) {
            assert!(
                e.get("state").is_none() && e.get("pending").is_none(),
                "{e}"
            );
        }
    }

    update(
        &mut cur,
        Kind::Vnets,
        "v1",
        json!({"tag": 11, "delete": "alias", "isolate-ports": 1}),
    );
    let ch = cur.plan_delete(Kind::Vnets, "v2").unwrap();
    cur.apply(ch);
    create(
        &mut cur,
        Kind::Vnets,
        json!({"vnet": "v4", "zone": "vlan1", "tag": 40}),
    );
    assert!(has_pending_changes(&cur, &running));

    let view = pending_view(Kind::Vnets, &cur, &running);
    let ids: Vec<&str> = view.iter().map(|e| e["vnet"].as_str().unwrap()).collect();
    assert_eq!(ids, ["v1", "v2", "v3", "v4"]);
    assert_eq!(
        view[0],
        json!({"vnet": "v1", "type": "vnet", "alias": "old", "tag": 10, "zone": "vlan1", "state": "changed",
               "pending": {"alias": "deleted", "isolate-ports": 1, "tag": 11}})
    );
    assert_eq!(
        view[1],
        json!({"vnet": "v2", "type": "vnet", "tag": 20, "zone": "vlan1", "state": "deleted", "pending": {}})
    );
    assert_eq!(
        view[2],
        json!({"vnet": "v3", "type": "vnet", "zone": "simple1"})
    );
    assert_eq!(
        view[3],
        json!({"vnet": "v4", "type": "vnet", "state": "new", "pending": {"tag": 40, "zone": "vlan1"}})
    );

    // Subnets: id-derived fields and parsed dhcp-range at top level, vnet never under pending.
    create(
        &mut cur,
        Kind::Subnets,
        json!({"subnet": "10.1.0.0/24", "vnet": "v3", "gateway": "10.1.0.1"}),
    );
    let view = pending_view(Kind::Subnets, &cur, &running);
    assert_eq!(view.len(), 2);
    assert_eq!(
        view[0]["dhcp-range"],
        json!([{"start-address": "10.0.0.5", "end-address": "10.0.0.9"}])
    );
    assert!(view[0].get("state").is_none());
    assert_eq!(
        view[1],
        json!({"subnet": "simple1-10.1.0.0-24", "type": "subnet", "vnet": "v3", "state": "new", "pending": {"gateway": "10.1.0.1"},
               "id": "simple1-10.1.0.0-24", "cidr": "10.1.0.0/24", "zone": "simple1", "network": "10.1.0.0", "mask": "24", "dhcp-range": []})
    );

    // One object's entry, built alone, is the view's entry for it.
    let mut compared = 0;
    for kind in Kind::ALL {
        for e in pending_view(kind, &cur, &running) {
            let id = e[kind.id_param()].as_str().unwrap();
            assert_eq!(pending_entry(kind, id, &cur, &running).as_ref(), Some(&e), "{kind} {id}");
            compared += 1;
        }
        assert_eq!(pending_entry(kind, "absent", &cur, &running), None, "{kind}");
    }
    assert!(compared > 10, "{compared} entries compared");
}

#[test]
fn node_lists_compare_as_sets() {
    let mut cur = base();
    update(
        &mut cur,
        Kind::Zones,
        "vlan1",
        json!({"nodes": "pve2,pve1"}),
    );
    let running = applied(&cur);
    update(
        &mut cur,
        Kind::Zones,
        "vlan1",
        json!({"nodes": ["pve1", "pve2"]}),
    );
    assert!(
        !has_pending_changes(&cur, &running),
        "same set of nodes, other order"
    );
    let view = pending_view(Kind::Zones, &cur, &running);
    let vlan1 = view.iter().find(|e| e["zone"] == "vlan1").unwrap();
    assert_eq!(vlan1["nodes"], json!("pve1,pve2"));
    assert!(vlan1.get("state").is_none());
    update(
        &mut cur,
        Kind::Zones,
        "vlan1",
        json!({"nodes": "pve1,pve3"}),
    );
    let view = pending_view(Kind::Zones, &cur, &running);
    let vlan1 = view.iter().find(|e| e["zone"] == "vlan1").unwrap();
    assert_eq!(vlan1["state"], "changed");
    assert_eq!(vlan1["pending"], json!({"nodes": "pve1,pve3"}));
}

#[test]
fn only_running_kinds_count() {
    let cur = base();
    let mut running = applied(&cur);
    assert!(!has_pending_changes(&cur, &running));
    // IPAMs and DNS are not part of the running config: they never make changes pending.
    assert!(running.get(Kind::Ipams, "pve").is_none());
    assert_eq!(pending_view(Kind::Ipams, &cur, &running).len(), 1);
    assert!(pending_view(Kind::Ipams, &cur, &running)[0]
        .get("state")
        .is_none());
    // A controller only in running is a pending deletion.
    let extra = Config::from_running_config(&json!({"controllers": {"ids": {"bgp1": {"type": "bgp", "node": "pve1", "asn": 1, "peers": "10.0.0.1"}}}}))
        .unwrap()
        .1;
    running.insert(extra.get(Kind::Controllers, "bgp1").unwrap().clone());
    assert!(has_pending_changes(&cur, &running));
    let v = pending_view(Kind::Controllers, &cur, &running);
    assert_eq!(
        v.iter().find(|e| e["controller"] == "bgp1").unwrap()["state"],
        "deleted"
    );
}
