//! Turning API answers into what people read: pvesh-like tables, JSON, and the pending diff.

use std::fmt::Write as _;

use serde_json::Value;

/// `--output-format`, as pvesh names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    #[value(name = "json-pretty")]
    JsonPretty,
    /// YAML, as pvesh has it.
    Yaml,
}

/// A value as text: scalars bare, lists and nested objects as compact JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Renders an answer in `format`; text mode makes lists of objects into a table.
pub fn render(value: &Value, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => format!("{value}\n"),
        OutputFormat::Yaml => serde_yaml::to_string(value).unwrap_or_else(|_| format!("{value}\n")),
        OutputFormat::JsonPretty => {
            format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()))
        }
        OutputFormat::Text => match value {
            Value::Null => String::new(),
            Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => table(items),
            Value::Array(items) => items.iter().map(|v| format!("{}\n", cell(v))).collect(),
            Value::Object(map) => {
                let rows: Vec<Vec<String>> = map.iter().map(|(k, v)| vec![k.clone(), cell(v)]).collect();
                grid(&["key".into(), "value".into()], &rows)
            }
            scalar => format!("{}\n", cell(scalar)),
        },
    }
}

/// A table of objects: columns in order of first appearance, `digest` left out (noise to
/// people), ids first because the API puts them first.
fn table(items: &[Value]) -> String {
    let mut columns: Vec<String> = Vec::new();
    for item in items {
        if let Value::Object(map) = item {
            for key in map.keys() {
                if key != "digest" && !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| columns.iter().map(|c| item.get(c).map(cell).unwrap_or_default()).collect())
        .collect();
    grid(&columns, &rows)
}

fn grid(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, value) in row.iter().enumerate() {
            widths[i] = widths[i].max(value.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, values: &[String]| {
        let text: Vec<String> = values.iter().zip(&widths).map(|(v, w)| format!("{v:w$}")).collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(&mut out, header);
    line(&mut out, &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
    for row in rows {
        line(&mut out, row);
    }
    out
}

/// The pending diff of one kind's `?pending=1` list: `+` new, `-` deleted, `~` changed with
/// `old -> new` per property. Objects without a state are left out.
pub fn pending_diff(kind: &str, id_param: &str, items: &[Value]) -> Vec<String> {
    let mut lines = Vec::new();
    for item in items {
        let Some(state) = item.get("state").and_then(Value::as_str) else { continue };
        let id = item.get(id_param).map(cell).unwrap_or_default();
        let pending = item.get("pending").and_then(Value::as_object);
        let props = |map: Option<&serde_json::Map<String, Value>>| -> String {
            map.map(|m| m.iter().map(|(k, v)| format!("{k}={}", cell(v))).collect::<Vec<_>>().join(" ")).unwrap_or_default()
        };
        match state {
            "new" => lines.push(format!("+ {kind} {id} {}", props(pending)).trim_end().to_string()),
            "deleted" => lines.push(format!("- {kind} {id}")),
            _ => {
                lines.push(format!("~ {kind} {id}"));
                for (key, new) in pending.into_iter().flatten() {
                    let old = item.get(key).map(cell).unwrap_or_else(|| "(unset)".into());
                    let new = if new == "deleted" { "(unset)".to_string() } else { cell(new) };
                    lines.push(format!("    {key}: {old} -> {new}"));
                }
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_of_objects_become_tables() {
        let value = json!([{"vnet": "v1", "zone": "z", "tag": 100, "digest": "abc"}, {"vnet": "v22", "zone": "z", "alias": "x"}]);
        let text = render(&value, OutputFormat::Text);
        assert_eq!(text, "vnet  zone  tag  alias\n----  ----  ---  -----\nv1    z     100\nv22   z          x\n");
        assert_eq!(render(&json!("UPID:x"), OutputFormat::Text), "UPID:x\n");
        assert_eq!(render(&Value::Null, OutputFormat::Text), "");
        assert_eq!(render(&json!({"a": 1}), OutputFormat::Json), "{\"a\":1}\n");
    }

    #[test]
    fn pending_diff_shows_new_changed_deleted() {
        let items = json!([
            {"vnet": "v1", "type": "vnet", "state": "new", "pending": {"zone": "z", "tag": 5}},
            {"vnet": "v2", "type": "vnet", "zone": "z", "tag": 6, "state": "changed", "pending": {"tag": 7, "alias": "deleted"}},
            {"vnet": "v3", "type": "vnet", "zone": "z", "state": "deleted"},
            {"vnet": "v4", "type": "vnet", "zone": "z"}
        ]);
        let lines = pending_diff("vnet", "vnet", items.as_array().unwrap());
        assert_eq!(lines, ["+ vnet v1 zone=z tag=5", "~ vnet v2", "    tag: 6 -> 7", "    alias: (unset) -> (unset)", "- vnet v3"]);
    }
}
