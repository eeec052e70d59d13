//! The configuration's own route maps and prefix lists (PVE 9.1's `route-maps.cfg` and
//! `prefix-lists.cfg`), added to the FRR tree as proxmox-ve-config's `build_frr_route_maps`
//! and `build_frr_prefix_lists` do: after the generated ones and the merge of `frr.conf.local`,
//! with their own sequence numbers, replacing a generated map or list of the same name.

use sdn_config::running::RunningConfig;

use super::{Action, FrrConfig, KeyValue, PrefixListRule, RouteMapEntry};

pub(crate) fn add(cfg: &RunningConfig, frr: &mut FrrConfig) {
    for (name, entries) in &cfg.route_maps {
        let entries = entries
            .iter()
            .map(|e| RouteMapEntry {
                seq: e.order,
                action: if e.action == "deny" {
                    Action::Deny
                } else {
                    Action::Permit
                },
                matches: e.matches.iter().map(KeyValue::from).collect(),
                sets: e.sets.iter().map(KeyValue::from).collect(),
                call: e.call.clone(),
                exit_action: e.exit_action.as_ref().map(KeyValue::from),
            })
            .collect();
        frr.routemaps.insert(name.clone(), entries);
    }
    for (name, entries) in &cfg.prefix_lists {
        let rules = entries
            .iter()
            .map(|e| PrefixListRule {
                seq: e.seq,
                action: if e.action == "deny" {
                    Action::Deny
                } else {
                    Action::Permit
                },
                network: e.prefix.to_string(),
                le: e.le,
                ge: e.ge,
                is_ipv6: e.prefix.addr().is_ipv6(),
            })
            .collect();
        frr.prefix_lists.insert(name.clone(), rules);
    }
}
