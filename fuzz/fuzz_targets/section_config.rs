//! Section-config files (`zones.cfg`, `vnets.cfg`, ...): the first byte picks the kind, the
//! rest is the file. A file that parses must survive write → parse unchanged, and writing it
//! again must give the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdn_config::{Config, Kind};

fuzz_target!(|data: &[u8]| {
    let Some((&first, text)) = data.split_first() else { return };
    let kind = Kind::ALL[first as usize % Kind::ALL.len()];
    let text = String::from_utf8_lossy(text);
    let Ok(objects) = Config::parse_section_config(kind, &text) else { return };

    let mut cfg = Config::new();
    for obj in objects.iter().cloned() {
        cfg.insert(obj);
    }
    let written = cfg.to_section_config(kind);
    let again = Config::parse_section_config(kind, &written)
        .unwrap_or_else(|e| panic!("written {kind} file does not parse: {e}\n{written}"));
    assert_eq!(objects, again, "{kind}: write → parse changed the objects\n{written}");

    let mut cfg2 = Config::new();
    for obj in again {
        cfg2.insert(obj);
    }
    assert_eq!(written, cfg2.to_section_config(kind), "{kind}: writing is not stable");
});
