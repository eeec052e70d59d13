//! A whole generation: running-config JSON, facts JSON, `/etc/network/interfaces` and
//! optionally `frr.conf.local`, separated by NUL bytes.
//!
//! Values of the running config end up in line-structured files, so none may bring a control
//! character (a line break would start a stanza of its own) into the output; the node's own
//! files are trusted and copied through, so that is only checked when they have none.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdn_gen::{GenInput, NodeFacts};

fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == 0);
    let (Some(running), Some(facts)) = (parts.next(), parts.next()) else { return };
    // The reference's files are read leniently, as `sdnd generate` reads them.
    let Ok(running_config) = sdn_config::RunningConfig::from_slice(running, sdn_config::Reading::Lenient) else { return };
    let Ok(facts) = serde_json::from_slice::<NodeFacts>(facts) else { return };
    let interfaces = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let frr_local = parts.next().map(String::from_utf8_lossy);
    let Ok(out) = sdn_gen::generate(&GenInput {
        running_config: &running_config,
        facts: &facts,
        interfaces: &interfaces,
        frr_local: frr_local.as_deref(),
    }) else {
        return;
    };
    if !has_control(&interfaces) && !frr_local.as_deref().is_some_and(has_control) {
        assert!(!has_control(&out.interfaces), "control character in the interfaces:\n{:?}", out.interfaces);
        let frr = out.frr.unwrap_or_default();
        assert!(!has_control(&frr), "control character in frr.conf:\n{frr:?}");
    }
});
