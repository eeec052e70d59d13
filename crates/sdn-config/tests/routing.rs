//! Route maps, prefix lists and the newer EVPN options through the config model: the reference's
//! running configs (sdn-gen's reference cases) read into a `Config`, checked as a whole, written
//! back as sdn-config writes them, and read again strictly with the same meaning.

use std::path::Path;

use sdn_config::{Config, Kind, Reading, RunningConfig};

const CASES: [&str; 3] = [
    "bgp_evpn_routemap_prefix_list",
    "peer_group_external",
    "evpn_cluster_ibgp_uplink_ebgp",
];

fn case(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sdn-gen/tests/reference-cases/evpn")
        .join(name)
        .join("running-config.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn reference_running_configs_round_trip_strictly() {
    for name in CASES {
        let mut json = case(name);
        // IPAMs are not part of the running config: the zones' `ipam` can't be checked here.
        for zone in json["zones"]["ids"].as_object_mut().unwrap().values_mut() {
            zone.as_object_mut().unwrap().remove("ipam");
        }
        let lenient = RunningConfig::from_json(&json, Reading::Lenient)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (version, config) =
            Config::from_running_config(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
        config.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        let written = config.to_running_config(version);
        let strict = RunningConfig::from_json(&written, Reading::Strict)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            format!("{:?}", strict.route_maps),
            format!("{:?}", lenient.route_maps),
            "{name}"
        );
        assert_eq!(
            format!("{:?}", strict.prefix_lists),
            format!("{:?}", lenient.prefix_lists),
            "{name}"
        );
        assert_eq!(
            format!("{:?}", strict.zones),
            format!("{:?}", lenient.zones),
            "{name}"
        );
        assert_eq!(
            format!("{:?}", strict.controllers),
            format!("{:?}", lenient.controllers),
            "{name}"
        );
        // The section files parse back into the same objects.
        for kind in [
            Kind::RouteMaps,
            Kind::PrefixLists,
            Kind::Zones,
            Kind::Controllers,
        ] {
            let text = config.to_section_config(kind);
            let parsed = Config::parse_section_config(kind, &text)
                .unwrap_or_else(|e| panic!("{name} {kind}: {e}"));
            assert_eq!(parsed.len(), config.len(kind), "{name} {kind}");
            for object in parsed {
                assert_eq!(
                    Some(&object),
                    config.get(kind, object.id()),
                    "{name} {kind}"
                );
            }
        }
    }
}

#[test]
fn secondary_controllers_are_one_line_each_and_an_array_in_the_running_config() {
    let json = case("evpn_cluster_ibgp_uplink_ebgp");
    let (version, config) = Config::from_running_config(&json).unwrap();
    assert!(config
        .to_section_config(Kind::Zones)
        .contains("\tsecondary-controllers uplink\n"));
    let written = config.to_running_config(version);
    assert_eq!(
        written["zones"]["ids"]["myzone"]["secondary-controllers"],
        serde_json::json!(["uplink"])
    );
}
