//! An API mutation as sdnd runs it: the request decoded like `params` (first byte bit 0: JSON
//! body), then `plan_create`, `plan_update` or `plan_delete` (bits 1-2) of one kind (the rest
//! of the first byte) on the fixed configuration. A change that is accepted must leave a
//! configuration whose files and running config read back to the same objects.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sdn_config::{Config, Kind, SdnObject};
use sdnd::http::params::{decode_form, decode_json, Args};
use serde_json::Map;

static CONFIG: LazyLock<Config> = LazyLock::new(|| {
    let (_, mut cfg) = Config::from_running_config(&sdnd_fuzz::running_config()).expect("fixed config is valid");
    for (kind, text) in [(Kind::Ipams, sdnd_fuzz::IPAMS_CFG), (Kind::Dns, sdnd_fuzz::DNS_CFG)] {
        for obj in Config::parse_section_config(kind, text).expect("fixed files are valid") {
            cfg.insert(obj);
        }
    }
    cfg
});

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let kind = Kind::ALL[(first >> 3) as usize % Kind::ALL.len()];
    let (query, body) = sdnd_fuzz::split_nul(rest);
    let mut values = Map::new();
    if decode_form(query, &mut values).is_err() {
        return;
    }
    let body = body.unwrap_or_default();
    let decoded = if first % 2 == 1 { decode_json(body, &mut values) } else { decode_form(body, &mut values) };
    if decoded.is_err() {
        return;
    }
    let mut args = Args::new(values);
    args.take_string("lock-token");
    let config = &*CONFIG;
    let planned = match (first >> 1) & 3 {
        0 | 1 => args.into_rest().ok().map(|params| config.plan_create(kind, &params)),
        op => {
            // As the handlers do: the id (and a subnet's vnet) come off the parameters first.
            let id = args.take_string(kind.id_param()).unwrap_or_default();
            let vnet = (kind == Kind::Subnets).then(|| args.take_string("vnet")).flatten();
            let id = match vnet {
                Some(vnet) => config.resolve_subnet_id(&vnet, &id).unwrap_or(id),
                None => id,
            };
            if op == 2 {
                args.into_rest().ok().map(|params| config.plan_update(kind, &id, &params))
            } else {
                args.finish().ok().map(|()| config.plan_delete(kind, &id))
            }
        }
    };
    let Some(Ok(change)) = planned else { return };

    let mut after = config.clone();
    let object = change.object.clone();
    after.apply(change);
    check_files(&after, kind, object.as_ref());
});

/// The kind's section-config file and (for running kinds) the running config read back to
/// exactly the objects the configuration holds.
fn check_files(cfg: &Config, kind: Kind, changed: Option<&SdnObject>) {
    let text = cfg.to_section_config(kind);
    let parsed = Config::parse_section_config(kind, &text)
        .unwrap_or_else(|e| panic!("{kind} file written after a change does not parse: {e}\n{text}"));
    let held: Vec<&SdnObject> = cfg.list(kind).collect();
    let mut read: Vec<&SdnObject> = parsed.iter().collect();
    read.sort_by(|a, b| a.id().cmp(b.id()));
    assert_eq!(held, read, "{kind} file does not read back to the objects\n{text}");
    if let Some(obj) = changed {
        let stored = SdnObject::from_store_bytes(kind, &obj.to_store_bytes())
            .unwrap_or_else(|e| panic!("stored {kind} object does not read back: {e}"));
        assert_eq!(&stored, obj);
    }
    if kind.in_running_config() {
        let json = cfg.to_running_config(2);
        let (_, back) = Config::from_running_config(&json)
            .unwrap_or_else(|e| panic!("running config after a change does not parse: {e}\n{json}"));
        // IPAMs and DNS servers are not part of the running config.
        for k in Kind::ALL.into_iter().filter(|k| k.in_running_config()) {
            assert!(back.list(k).eq(cfg.list(k)), "running config does not read back {k}\n{json}");
        }
    }
}
