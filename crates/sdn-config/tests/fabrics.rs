//! Fabrics as objects: `fabrics.cfg` in PVE 9's format, the running config's fabrics section,
//! and the API mutations' field errors.

mod common;

use common::{field_err, params};
use sdn_config::{Config, Kind};
use serde_json::json;

const FABRICS_CFG: &str = "openfabric_fabric: f1\n\thello_interval 4\n\tip6_prefix fd00::/64\n\tip_prefix 10.0.0.0/24\n\nopenfabric_node: f1_pve1\n\tinterfaces name=ens20,hello_multiplier=50\n\tinterfaces name=ens19\n\tip 10.0.0.1\n\tip6 fd00::1\n\nospf_fabric: f1-b\n\tarea 0\n\tip_prefix 10.1.0.0/24\n\nospf_node: f1-b_pve1\n\tinterfaces name=ens21,ip=10.2.0.1/31\n\tip 10.1.0.1\n";

#[test]
fn fabrics_cfg_round_trips_byte_for_byte() {
    let objects = Config::parse_section_config(Kind::Fabrics, FABRICS_CFG).unwrap();
    let mut config = Config::new();
    for object in objects {
        config.insert(object);
    }
    config.validate().unwrap();
    assert_eq!(config.to_section_config(Kind::Fabrics), FABRICS_CFG);
    let running = config.to_running_config(3);
    let ids = &running["fabrics"]["ids"];
    assert_eq!(
        ids["f1_pve1"]["interfaces"],
        json!(["name=ens20,hello_multiplier=50", "name=ens19"])
    );
    assert_eq!(ids["f1"]["hello_interval"], 4);
    assert_eq!(ids["f1"]["id"], "f1");
    let (_, back) = Config::from_running_config(&running).unwrap();
    assert_eq!(back.to_section_config(Kind::Fabrics), FABRICS_CFG);
    // The generator's reading accepts what sdn-config writes.
    let typed =
        sdn_config::RunningConfig::from_json(&running, sdn_config::Reading::Strict).unwrap();
    assert_eq!(typed.fabrics["f1"].nodes["pve1"].interfaces.len(), 2);
}

#[test]
fn fabrics_cfg_errors_name_section_and_field() {
    let bad = FABRICS_CFG.replace("interfaces name=ens19", "interfaces name=ens19,cost=3");
    let err = Config::parse_section_config(Kind::Fabrics, &bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("f1_pve1.interfaces") && err.contains("cost"),
        "{err}"
    );
    let bad = FABRICS_CFG.replace("ospf_node: f1-b_pve1", "ospf_node: f9");
    let err = Config::parse_section_config(Kind::Fabrics, &bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("FABRIC_NODE"), "{err}");
}

#[test]
fn api_mutations_name_the_api_fields() {
    let mut c = Config::new();
    let change = c
        .plan_fabric_create(&params(
            json!({"id": "f1", "protocol": "ospf", "area": "0", "ip_prefix": "10.0.0.0/24"}),
        ))
        .unwrap();
    c.apply(change);
    let r = c.plan_node_create(
        "f1",
        &params(json!({"node_id": "-x", "protocol": "ospf", "ip": "10.0.0.1"})),
    );
    field_err(r, "node_id");
    let r = c.plan_node_create(
        "f1",
        &params(json!({"node_id": "n1", "protocol": "ospf", "ip": "10.0.0.1", "ip6": "fd00::1"})),
    );
    field_err(r, "ip6");
    let r = c.plan_node_create("f1", &params(json!({"node_id": "n1", "protocol": "ospf"})));
    assert!(field_err(r, "ip").contains("missing"));
    let r = c.plan_fabric_create(&params(json!({"id": "f2", "protocol": "wireguard"})));
    assert!(field_err(r, "protocol").contains("wireguard"));
    let r = c.plan_fabric_update("f1", &params(json!({"protocol": "ospf", "delete": "area"})));
    field_err(r, "delete");
    let r = c.plan_fabric_update("f1", &params(json!({"protocol": "ospf", "area": "nope"})));
    field_err(r, "area");
}
