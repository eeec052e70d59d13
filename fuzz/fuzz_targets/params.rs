//! Request parameters as sdnd's HTTP layer decodes them: the query string, a NUL byte, then
//! the body, form-encoded (first byte even) or JSON (odd); then the typed accessors the
//! handlers take them out with.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdnd::http::params::{decode_form, decode_json, Args, MAX_VALUE_BYTES};
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let (query, body) = sdnd_fuzz::split_nul(rest);
    let mut values = Map::new();
    if decode_form(query, &mut values).is_err() {
        return;
    }
    // A form gives strings, or arrays of strings for repeated keys, each within the limit.
    for value in values.values() {
        let strings = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        for s in strings {
            let s = s.as_str().expect("form values are strings");
            assert!(s.len() <= MAX_VALUE_BYTES);
        }
    }
    let body = body.unwrap_or_default();
    let decoded = if first % 2 == 1 { decode_json(body, &mut values) } else { decode_form(body, &mut values) };
    if decoded.is_err() {
        return;
    }
    let mut args = Args::new(values);
    args.take_string("lock-token");
    args.take_bool("release-lock", true);
    args.take_bool("allow-pending", false);
    args.take_u64("ttl", 1, 86_400);
    args.take_string("digest");
    if first & 2 == 0 {
        let _ = args.finish();
    } else {
        let _ = args.into_rest();
    }
});
