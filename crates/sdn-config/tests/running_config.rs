//! Running config: every corpus file parses, and writing then reading gives the same config.

mod common;

use std::path::PathBuf;

use common::*;
use sdn_config::{Config, ConfigError, Kind, Reading, RunningConfig, RunningConfigError};
use serde_json::{json, Value};

fn corpus_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // Resolve symlinks so the relative path works from any checkout layout.
    let manifest = std::fs::canonicalize(&manifest).unwrap_or(manifest);
    manifest.join("../../../shared/corpus/pve-zones")
}

fn corpus_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for ty in std::fs::read_dir(corpus_dir()).expect("corpus directory") {
        let ty = ty.unwrap().path();
        if !ty.is_dir() {
            continue;
        }
        for case in std::fs::read_dir(&ty).unwrap() {
            let p = case.unwrap().path().join("running-config.json");
            if p.exists() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_corpus_running_config_parses_and_round_trips() {
    let files = corpus_files();
    assert!(files.len() >= 40, "found only {} corpus files", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let json: Value = serde_json::from_str(&text).unwrap();
        let (version, cfg) =
            Config::from_running_config(&json).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(version, json["version"].as_u64().unwrap());
        for kind in Kind::ALL.into_iter().filter(|k| k.in_running_config()) {
            let n = json[kind.path_segment()]["ids"]
                .as_object()
                .map_or(0, |m| m.len());
            assert_eq!(cfg.len(kind), n, "{} {kind}", f.display());
        }
        let out = cfg.to_running_config(version);
        let (v2, cfg2) = Config::from_running_config(&out).unwrap();
        assert_eq!(v2, version);
        assert_eq!(cfg2, cfg, "{}", f.display());
        // Fabrics are carried through untouched.
        let no_fabrics = json!({"ids": {}});
        assert_eq!(
            out.get("fabrics"),
            Some(json.get("fabrics").unwrap_or(&no_fabrics)),
            "{}",
            f.display()
        );
        // Every original property is still there, with the same meaning.
        for kind in Kind::ALL.into_iter().filter(|k| k.in_running_config()) {
            let Some(ids) = json[kind.path_segment()]["ids"].as_object() else {
                continue;
            };
            for (id, obj) in ids {
                for (k, v) in obj.as_object().unwrap() {
                    let o = &out[kind.path_segment()]["ids"][id][k];
                    let same = o == v
                        || o.to_string().trim_matches('"') == v.to_string().trim_matches('"');
                    assert!(same, "{} {kind} {id} {k}: {v} became {o}", f.display());
                }
            }
        }
    }
}

#[test]
fn running_config_shape() {
    let mut c = base();
    create(
        &mut c,
        Kind::Vnets,
        json!({"vnet": "v1", "zone": "simple1"}),
    );
    create(
        &mut c,
        Kind::Subnets,
        json!({"subnet": "10.0.0.0/24", "vnet": "v1", "gateway": "10.0.0.1", "snat": "1"}),
    );
    update(
        &mut c,
        Kind::Zones,
        "evpn1",
        json!({"exitnodes": "pve1,pve2"}),
    );
    let rc = c.to_running_config(7);
    assert_eq!(rc["version"], json!(7));
    assert_eq!(
        rc["zones"]["ids"]["evpn1"]["exitnodes"],
        json!({"pve1": 1, "pve2": 1})
    );
    assert_eq!(rc["zones"]["ids"]["evpn1"]["vrf-vxlan"], json!(1000));
    assert_eq!(
        rc["zones"]["ids"]["vxlan1"]["peers"],
        json!("10.0.0.1,10.0.0.2")
    );
    assert_eq!(
        rc["subnets"]["ids"]["simple1-10.0.0.0-24"],
        json!({"type": "subnet", "gateway": "10.0.0.1", "snat": 1, "vnet": "v1"})
    );
    assert_eq!(rc["controllers"]["ids"]["evpnctl"]["asn"], json!(65000));
    assert!(rc.get("ipams").is_none() && rc.get("dns").is_none());
    assert_eq!(rc["fabrics"], json!({"ids": {}}));
    let (v, back) = Config::from_running_config(&rc).unwrap();
    assert_eq!(v, 7);
    assert!(back.get(Kind::Ipams, "pve").is_none());
    assert_eq!(back.get(Kind::Zones, "evpn1"), c.get(Kind::Zones, "evpn1"));
}

#[test]
fn running_config_value_forms_and_errors() {
    let (v, cfg) = Config::from_running_config(&json!({})).unwrap();
    assert_eq!((v, cfg.is_empty()), (0, true));
    let (v, cfg) = Config::from_running_config(&json!({"version": "3", "zones": {}, "vnets": {"ids": {"v1": {"zone": "z1", "tag": "5", "vlanaware": "1"}}}})).unwrap();
    assert_eq!(v, 3);
    let v1 = cfg.get(Kind::Vnets, "v1").unwrap();
    assert_eq!(
        (v1.get_int("tag"), v1.get_bool("vlanaware")),
        (Some(5), true)
    );
    let bad = Config::from_running_config(
        &json!({"zones": {"ids": {"z1": {"type": "vlan", "mtu": "x"}}}}),
    );
    match bad {
        Err(ConfigError::Invalid(e)) => {
            assert!(e.get("zones.z1.mtu").is_some(), "{e}");
            assert!(e.get("zones.z1.bridge").is_some(), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(Config::from_running_config(&json!([])).is_err());
    assert!(Config::from_running_config(&json!({"version": -1})).is_err());
    assert!(
        Config::from_running_config(&json!({"zones": {"ids": {"z1": {"bridge": "vmbr0"}}}}))
            .is_err()
    );
}

/// The typed model reads every corpus file leniently, and strictly what sdn-config writes of it.
#[test]
fn typed_model_reads_the_corpus_leniently_and_its_own_output_strictly() {
    for f in corpus_files() {
        let json: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let lenient = RunningConfig::from_json(&json, Reading::Lenient)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let (version, cfg) = Config::from_running_config(&json).unwrap();
        let written = cfg.to_running_config(version);
        let strict = RunningConfig::from_json(&written, Reading::Strict)
            .unwrap_or_else(|e| panic!("{} as written by sdn-config: {e}", f.display()));
        assert_eq!(strict.version, Some(version), "{}", f.display());
        let count = |c: &RunningConfig| {
            (
                c.zones.as_ref().map_or(0, |z| z.len()),
                c.vnets.as_ref().map_or(0, |v| v.len()),
                c.subnets().len(),
                c.controllers.as_ref().map_or(0, |c| c.len()),
                c.fabrics.len(),
            )
        };
        assert_eq!(count(&strict), count(&lenient), "{}", f.display());
    }
}

#[test]
fn strict_reading_refuses_the_lenient_forms() {
    let text = json!({"version": 2, "vnets": {"ids": {"v1": {"zone": "z1", "tag": "5"}}}});
    let lenient = RunningConfig::from_json(&text, Reading::Lenient).unwrap();
    assert_eq!(lenient.vnets.unwrap()["v1"].tag, Some(5));
    let err = RunningConfig::from_json(&text, Reading::Strict).unwrap_err();
    match &err {
        RunningConfigError::Field { object, field, .. } => {
            assert_eq!(
                (object.as_str(), field.as_str()),
                ("vnet 'v1'", "tag"),
                "{err}"
            )
        }
        other => panic!("{other:?}"),
    }
    let bytes = br#"{"version": "2"}"#;
    assert!(RunningConfig::from_slice(bytes, Reading::Lenient).is_ok());
    let err = RunningConfig::from_slice(bytes, Reading::Strict).unwrap_err();
    assert!(err.to_string().contains("'version'"), "{err}");
    let err = RunningConfig::from_slice(b"{", Reading::Lenient).unwrap_err();
    assert!(err.to_string().starts_with("running config: "), "{err}");
}

/// Found by fuzzing (fuzz/ running_config): a section that is not an object read as an empty
/// one, so a corrupt running config lost all objects of that kind instead of being refused.
#[test]
fn a_section_that_is_not_an_object_is_refused() {
    for section in [json!(11111111), json!("zones"), json!([1])] {
        let err = Config::from_running_config(&json!({"controllers": section})).unwrap_err();
        let fields = err.field_errors().expect("a field error");
        assert!(fields.get("controllers").is_some(), "{err}");
    }
    let (_, cfg) = Config::from_running_config(&json!({"controllers": {}, "zones": null})).unwrap();
    assert!(cfg.is_empty());
}

/// A list of secondary controllers in one string, blanks included, is read as the model reads
/// it (split like every list), not refused as one id with blanks (found by the running_config
/// fuzz target: the model accepted what the typed reading refused).
#[test]
fn secondary_controllers_in_one_string_are_split_like_every_list() {
    let text = json!({
        "version": 1,
        "zones": {"ids": {"myzone": {"type": "evpn", "controller": "cluster", "vrf-vxlan": 10000,
                                     "secondary-controllers": "    uplink, other"}}},
        "controllers": {"ids": {
            "cluster": {"type": "evpn", "asn": 65000, "peers": "192.168.0.1"},
            "uplink": {"type": "evpn", "asn": 65000, "peers": "198.51.100.1"},
            "other": {"type": "evpn", "asn": 65000, "peers": "198.51.100.2"}}}
    });
    let typed = RunningConfig::from_json(&text, Reading::Lenient).unwrap_or_else(|e| panic!("{e}"));
    let zone = &typed.zones.as_ref().unwrap()["myzone"];
    match &zone.kind {
        sdn_config::running::ZoneKind::Evpn(evpn) => assert_eq!(evpn.secondary_controllers, ["uplink", "other"]),
        other => panic!("not an evpn zone: {other:?}"),
    }
}
