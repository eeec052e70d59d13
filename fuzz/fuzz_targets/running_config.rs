//! The running-config JSON (`/etc/pve/sdn/.running-config`, or what the store holds). What
//! parses must come back equal from `to_running_config`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdn_config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok((version, cfg)) = Config::from_running_config(&json) else { return };
    let written = cfg.to_running_config(version);
    let (version2, cfg2) = Config::from_running_config(&written)
        .unwrap_or_else(|e| panic!("written running config does not parse: {e}\n{written}"));
    assert_eq!(version, version2);
    assert!(cfg == cfg2, "running config changed in write → parse\n{written}");
});
