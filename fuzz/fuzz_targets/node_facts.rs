//! A node's facts (`facts.json` in the corpus; what the agent gathers from the kernel).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdn_gen::NodeFacts;

fuzz_target!(|data: &[u8]| {
    if let Ok(facts) = serde_json::from_slice::<NodeFacts>(data) {
        let _ = facts.validate();
    }
});
