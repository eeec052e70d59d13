//! sdnctl's remotes file (TOML).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdnctl::Remotes;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(remotes) = Remotes::parse(text, "fuzz") {
        let _ = remotes.pick(None, "fuzz");
    }
});
