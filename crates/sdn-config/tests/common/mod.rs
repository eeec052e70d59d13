//! Helpers shared by the integration tests.
#![allow(dead_code)]

use sdn_config::{Change, Config, ConfigError, Kind, Params};
use serde_json::Value;

pub fn params(v: Value) -> Params {
    match v {
        Value::Object(m) => m,
        other => panic!("test params must be an object, got {other}"),
    }
}

/// Plans and applies a create; panics with the error if refused.
pub fn create(cfg: &mut Config, kind: Kind, v: Value) -> Change {
    let change = cfg
        .plan_create(kind, &params(v))
        .unwrap_or_else(|e| panic!("create {kind} refused: {e}"));
    cfg.apply(change.clone());
    change
}

pub fn update(cfg: &mut Config, kind: Kind, id: &str, v: Value) {
    let change = cfg
        .plan_update(kind, id, &params(v))
        .unwrap_or_else(|e| panic!("update {kind} {id} refused: {e}"));
    cfg.apply(change);
}

/// The message for `field` of an Invalid error; panics on anything else.
pub fn field_err(r: Result<Change, ConfigError>, field: &str) -> String {
    match r {
        Err(ConfigError::Invalid(e)) => match e.get(field) {
            Some(m) => m.to_string(),
            None => panic!("no error for '{field}' in: {e}"),
        },
        Err(other) => panic!("expected Invalid for '{field}', got {other:?}"),
        Ok(c) => panic!("expected Invalid for '{field}', got success: {c:?}"),
    }
}

pub fn conflict(r: Result<Change, ConfigError>) -> String {
    match r {
        Err(ConfigError::Conflict(m)) => m,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

/// A config with the usual building blocks: ipam pve, dns powerdns, evpn controller, and one
/// zone of every type.
pub fn base() -> Config {
    let mut c = Config::new();
    create(
        &mut c,
        Kind::Ipams,
        serde_json::json!({"ipam": "pve", "type": "pve"}),
    );
    create(
        &mut c,
        Kind::Dns,
        serde_json::json!({"dns": "pdns", "type": "powerdns", "url": "https://dns.example/api/v1/servers/localhost", "key": "secret"}),
    );
    create(
        &mut c,
        Kind::Controllers,
        serde_json::json!({"controller": "evpnctl", "type": "evpn", "asn": "65000", "peers": "10.0.0.1,10.0.0.2"}),
    );
    create(
        &mut c,
        Kind::Zones,
        serde_json::json!({"zone": "simple1", "type": "simple", "ipam": "pve"}),
    );
    create(
        &mut c,
        Kind::Zones,
        serde_json::json!({"zone": "vlan1", "type": "vlan", "bridge": "vmbr0"}),
    );
    create(
        &mut c,
        Kind::Zones,
        serde_json::json!({"zone": "qinq1", "type": "qinq", "bridge": "vmbr0", "tag": 10}),
    );
    create(
        &mut c,
        Kind::Zones,
        serde_json::json!({"zone": "vxlan1", "type": "vxlan", "peers": ["10.0.0.1", "10.0.0.2"]}),
    );
    create(
        &mut c,
        Kind::Zones,
        serde_json::json!({"zone": "evpn1", "type": "evpn", "controller": "evpnctl", "vrf-vxlan": 1000}),
    );
    c
}
