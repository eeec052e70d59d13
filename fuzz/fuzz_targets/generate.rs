//! A whole generation: running-config JSON, facts JSON, `/etc/network/interfaces` and
//! optionally `frr.conf.local`, separated by NUL bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdn_gen::{GenInput, NodeFacts};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == 0);
    let (Some(running), Some(facts)) = (parts.next(), parts.next()) else { return };
    let Ok(running_config) = serde_json::from_slice::<serde_json::Value>(running) else { return };
    let Ok(facts) = serde_json::from_slice::<NodeFacts>(facts) else { return };
    let interfaces = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let frr_local = parts.next().map(String::from_utf8_lossy);
    let _ = sdn_gen::generate(&GenInput {
        running_config: &running_config,
        facts: &facts,
        interfaces: &interfaces,
        frr_local: frr_local.as_deref(),
    });
});
