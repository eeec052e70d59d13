//! The node's own files: `/etc/network/interfaces`, then after a NUL byte `frr.conf.local`
//! (absent without one), fed to the fixed configuration, which reads both: bridges of vlan
//! and qinq zones, peer and loopback addresses of vxlan zones and controllers, uplink ids, and
//! the merge of the local FRR snippet.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sdn_gen::{GenInput, NodeFacts};
use sdn_config::{Reading, RunningConfig};

static RUNNING_CONFIG: LazyLock<RunningConfig> = LazyLock::new(|| {
    RunningConfig::from_json(&sdnd_fuzz::running_config(), Reading::Lenient).expect("fixed config is valid")
});
static FACTS: LazyLock<NodeFacts> =
    LazyLock::new(|| serde_json::from_value(sdnd_fuzz::facts()).expect("fixed facts are valid"));

fuzz_target!(|data: &[u8]| {
    let (interfaces, frr_local) = sdnd_fuzz::split_nul(data);
    let interfaces = String::from_utf8_lossy(interfaces);
    let frr_local = frr_local.map(String::from_utf8_lossy);
    let _ = sdn_gen::generate(&GenInput {
        running_config: &RUNNING_CONFIG,
        facts: &FACTS,
        interfaces: &interfaces,
        frr_local: frr_local.as_deref(),
    });
});
