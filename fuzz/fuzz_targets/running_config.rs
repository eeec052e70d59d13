//! The running-config JSON (`/etc/pve/sdn/.running-config`, or what the store holds). What
//! parses must come back equal from `to_running_config`, and the generator, which reads the
//! same file, must be able to read everything the config model accepts.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sdn_config::{Config, Reading, RunningConfig};
use sdn_gen::{GenError, GenInput, NodeFacts};

static FACTS: LazyLock<NodeFacts> =
    LazyLock::new(|| serde_json::from_value(sdnd_fuzz::facts()).expect("fixed facts are valid"));

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok((version, cfg)) = Config::from_running_config(&json) else { return };
    let written = cfg.to_running_config(version);
    let (version2, cfg2) = Config::from_running_config(&written)
        .unwrap_or_else(|e| panic!("written running config does not parse: {e}\n{written}"));
    assert_eq!(version, version2);
    assert!(cfg == cfg2, "running config changed in write → parse\n{written}");

    // Fabrics are carried through by the config model, not checked; a router-id or a loopback
    // address depends on the node, not on the config.
    if cfg.fabrics().next().is_some() {
        return;
    }
    // The generator reads the same file leniently, as the agent reads the reference's.
    let typed = match RunningConfig::from_json(&json, Reading::Lenient) {
        Ok(typed) => typed,
        Err(e) => panic!("the config model accepts what the typed reading refuses: {e}\n{json}"),
    };
    let generated = sdn_gen::generate(&GenInput {
        running_config: &typed,
        facts: &FACTS,
        interfaces: "",
        frr_local: None,
    });
    match generated {
        Ok(_) => {}
        Err(GenError::Field { field, .. }) if field == "router-id" || field == "loopback" => {}
        Err(e) => panic!("the config model accepts what the generator refuses: {e}\n{json}"),
    }
});
