//! The section-config text format of `/etc/pve/sdn/*.cfg`, byte-exact with the reference's
//! writer (`PVE::SectionConfig::write_config`).
//!
//! ```text
//! evpn: myzone
//! <TAB>controller evpnctl      <- required properties first, sorted by name
//! <TAB>vrf-vxlan 1000
//! <TAB>exitnodes pve1,pve2     <- then optional ones, sorted by name
//!                              <- a blank line after every section
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json};

use crate::error::{ConfigError, FieldErrors};
use crate::kind::Kind;
use crate::object::SdnObject;
use crate::schema::{self, PropType};
use crate::value::Value;

/// Writes objects (already in file order) as the reference would.
pub(crate) fn write<'a>(objects: impl Iterator<Item = &'a SdnObject>) -> String {
    let mut out = String::new();
    for obj in objects {
        out.push_str(obj.type_name());
        out.push_str(": ");
        out.push_str(obj.id());
        out.push('\n');
        for required in [true, false] {
            for (name, value) in obj.props() {
                let is_required = obj.type_def().prop(name).is_some_and(|p| p.required);
                if is_required != required {
                    continue;
                }
                write_prop(&mut out, name, value);
            }
        }
        out.push('\n');
    }
    out
}

/// Writes fabrics and their nodes as PVE 9's `fabrics.cfg` writer (proxmox-section-config,
/// in Rust) does: each fabric (by id) followed by its nodes (by node name), properties sorted
/// by name, repeated lines for the interfaces, a blank line between sections (not after the
/// last). `objects` must be the whole set of fabric objects.
pub(crate) fn write_fabrics<'a>(objects: impl Iterator<Item = &'a SdnObject>) -> String {
    let mut fabrics: BTreeMap<&str, (Option<&SdnObject>, BTreeMap<&str, &SdnObject>)> =
        BTreeMap::new();
    for obj in objects {
        match obj.id().split_once('_') {
            Some((fabric, node)) => {
                fabrics.entry(fabric).or_default().1.insert(node, obj);
            }
            None => fabrics.entry(obj.id()).or_default().0 = Some(obj),
        }
    }
    let mut out = String::new();
    let sections = fabrics
        .into_values()
        .flat_map(|(fabric, nodes)| fabric.into_iter().chain(nodes.into_values()));
    for obj in sections {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(obj.type_name());
        out.push_str(": ");
        out.push_str(obj.id());
        out.push('\n');
        for (name, value) in obj.props() {
            write_prop(&mut out, name, value);
        }
    }
    out
}

/// Writes route map entries or prefix lists as PVE 9.1's writers (proxmox-section-config)
/// do: properties sorted by name, repeated lines for lists of property strings, a blank line
/// between sections (not after the last). Sections come sorted by id (route map entries by
/// map name, then by order): the reference keeps them in a hash map, in no stable order.
pub(crate) fn write_rust_sections<'a>(objects: impl Iterator<Item = &'a SdnObject>) -> String {
    let mut objects: Vec<&SdnObject> = objects.collect();
    objects.sort_by_cached_key(|o| match crate::routing::split_entry_id(o.id()) {
        Ok((name, order)) if o.kind() == Kind::RouteMaps => (name.to_string(), order),
        _ => (o.id().to_string(), 0),
    });
    let mut out = String::new();
    for obj in objects {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(obj.type_name());
        out.push_str(": ");
        out.push_str(obj.id());
        out.push('\n');
        for (name, value) in obj.props() {
            write_prop(&mut out, name, value);
        }
    }
    out
}

fn write_prop(out: &mut String, name: &str, value: &Value) {
    let mut line = |text: &str| {
        if !text.is_empty() {
            out.push('\t');
            out.push_str(name);
            out.push(' ');
            out.push_str(text);
            out.push('\n');
        }
    };
    match value {
        Value::Ranges(ranges) => ranges.iter().for_each(|r| line(&r.to_string())),
        // Lists of property strings: one line each.
        Value::List(items) if is_repeated(name) => items.iter().for_each(|i| line(i)),
        other => line(&other.to_text()),
    }
}

/// Whether a property is written one line per item: fabric node `interfaces`, route map
/// entries' `match` and `set`, prefix lists' `entries`, EVPN zones' `secondary-controllers`
/// (an array: PVE's section writer writes one line per item; no other kind has properties of
/// these names).
fn is_repeated(name: &str) -> bool {
    matches!(
        name,
        "interfaces" | "match" | "set" | "entries" | "secondary-controllers"
    )
}

/// Parses a whole file; every error names the section (and property) it was found in.
pub(crate) fn parse(kind: Kind, text: &str) -> Result<Vec<SdnObject>, ConfigError> {
    let mut errors = FieldErrors::new();
    let mut objects = Vec::new();
    let mut seen = BTreeSet::new();
    // Like the reference: lines are split on '\n' and comment lines are skipped everywhere.
    // Whitespace-only lines are dropped too: the reference ignores them (with a warning).
    let mut lines = text
        .split('\n')
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with('#'))
        .filter(|(_, l)| l.is_empty() || !l.trim().is_empty())
        .peekable();
    while let Some((lineno, line)) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let Some((type_name, id)) = parse_header(line) else {
            errors.add(
                format!("line {}", lineno + 1),
                "expected a section header 'TYPE: ID'",
            );
            // Skip the rest of this block: it has no header to belong to.
            while lines.next_if(|(_, l)| !l.is_empty()).is_some() {}
            continue;
        };
        let mut raw: BTreeMap<String, Vec<(usize, Option<String>)>> = BTreeMap::new();
        while let Some((n, l)) = lines.next_if(|(_, l)| !l.is_empty()) {
            match parse_prop_line(l) {
                Some((k, v)) => raw
                    .entry(k.to_string())
                    .or_default()
                    .push((n, v.map(str::to_string))),
                None => errors.add(
                    id.clone(),
                    format!(
                        "line {}: expected '<TAB>key value', got '{}'",
                        n + 1,
                        crate::net::shorten(l)
                    ),
                ),
            }
        }
        if !seen.insert(id.clone()) {
            errors.add(id.clone(), "duplicate section id");
            continue;
        }
        match build(kind, &type_name, &id, raw) {
            Ok(mut obj) => {
                obj.seq = objects.len() as u64 + 1;
                objects.push(obj);
            }
            Err(e) => {
                for (k, v) in e.0 {
                    errors.add(format!("{id}.{k}"), v);
                }
            }
        }
    }
    errors.into_result()?;
    Ok(objects)
}

fn parse_header(line: &str) -> Option<(String, String)> {
    let (ty, rest) = line.split_once(':')?;
    if ty.is_empty() || ty.chars().any(char::is_whitespace) {
        return None;
    }
    let id = rest.trim();
    if id.is_empty() || id.chars().any(char::is_whitespace) {
        return None;
    }
    Some((ty.to_ascii_lowercase(), id.to_string()))
}

/// `^\s+(\S+)(\s+(.*\S))?\s*$`
fn parse_prop_line(line: &str) -> Option<(&str, Option<&str>)> {
    if !line.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = line.trim();
    if rest.is_empty() {
        return None;
    }
    match rest.split_once(char::is_whitespace) {
        Some((k, v)) => Some((k, Some(v.trim_start()))),
        None => Some((rest, None)),
    }
}

fn build(
    kind: Kind,
    type_name: &str,
    id: &str,
    raw: BTreeMap<String, Vec<(usize, Option<String>)>>,
) -> Result<SdnObject, FieldErrors> {
    let mut errors = FieldErrors::new();
    let tdef = schema::type_def(kind, type_name);
    let mut values = Map::new();
    for (key, entries) in raw {
        let ty = tdef.and_then(|t| t.prop(&key)).map(|p| p.ty);
        let repeated = matches!(
            ty,
            Some(
                PropType::DhcpRanges
                    | PropType::FabricInterfaces { .. }
                    | PropType::PropStrings(_)
                    | PropType::ControllerList
            )
        );
        if !repeated && entries.len() > 1 {
            errors.add(
                key.as_str(),
                format!("line {}: duplicate attribute", entries[1].0 + 1),
            );
            continue;
        }
        let texts: Vec<String> = entries
            .into_iter()
            // A bare boolean key means true, as in the reference.
            .map(|(_, v)| {
                v.unwrap_or_else(|| {
                    if ty == Some(PropType::Bool) {
                        "1".into()
                    } else {
                        String::new()
                    }
                })
            })
            .collect();
        if texts.iter().any(String::is_empty) {
            errors.add(key.as_str(), "got undefined value");
            continue;
        }
        let v = if repeated {
            Json::Array(texts.into_iter().map(Json::String).collect())
        } else {
            Json::String(texts.into_iter().next().unwrap_or_default())
        };
        values.insert(key, v);
    }
    match SdnObject::from_values(kind, id, type_name, &values) {
        Ok(obj) if errors.is_empty() => Ok(obj),
        Ok(_) => Err(errors),
        Err(ConfigError::Invalid(e)) => {
            for (k, v) in e.0 {
                errors.add(k, v);
            }
            Err(errors)
        }
        Err(other) => {
            errors.add("section", other.to_string());
            Err(errors)
        }
    }
}
