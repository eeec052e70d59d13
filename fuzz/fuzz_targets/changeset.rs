//! sdnctl change sets: the first byte picks JSON (odd) or YAML (even), the rest is the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdnctl::changeset::{ChangeSet, Syntax};

fuzz_target!(|data: &[u8]| {
    let Some((&first, text)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let syntax = if first % 2 == 1 { Syntax::Json } else { Syntax::Yaml };
    if let Ok(cs) = ChangeSet::parse(text, syntax, "fuzz") {
        // Progress lines print every step.
        for step in &cs.steps {
            let _ = step.to_string();
        }
    }
});
