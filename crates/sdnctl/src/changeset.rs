//! Change sets: the ordered API calls a transaction makes on every remote, read from YAML or JSON.
//!
//! ```yaml
//! - create: /cluster/sdn/zones
//!   params: {zone: evpn1, type: evpn, controller: ctl, vrf-vxlan: 10000}
//! - create: /cluster/sdn/vnets
//!   params: {vnet: v100, zone: evpn1, tag: 100}
//! - set: /cluster/sdn/vnets/v100
//!   params: {alias: "web tier", delete: [isolate-ports]}
//! - delete: /cluster/sdn/vnets/v99
//! ```
//!
//! Each step has exactly one of `create`, `set`, `delete`. Parameter values are scalars
//! (booleans become 0/1), lists (sent as the same parameter repeated, which PVE and sdnd read
//! as a list) or, inside lists, flat maps written as `key=value,...` (e.g. `dhcp-range`).

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::client::{ApiPath, Method, Params};

/// One API call of a change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub method: Method,
    pub path: ApiPath,
    pub params: Params,
}

impl fmt::Display for Step {
    /// `create /cluster/sdn/vnets vnet=v100 zone=evpn1`, for progress lines and summaries.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        for (name, value) in &self.params {
            write!(f, " {name}={value}")?;
        }
        Ok(())
    }
}

/// The steps every remote runs, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeSet {
    pub steps: Vec<Step>,
}

/// The syntax of a change-set file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Yaml,
    Json,
}

/// Why a change set can't be used. Messages name the file, the step and, where the parser
/// knows it, the line.
#[derive(Debug, thiserror::Error)]
pub enum ChangeSetError {
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    create: Option<String>,
    set: Option<String>,
    delete: Option<String>,
    params: Option<Map<String, Value>>,
}

impl TryFrom<RawStep> for Step {
    type Error = String;

    fn try_from(raw: RawStep) -> Result<Step, String> {
        let (method, path) = match (raw.create, raw.set, raw.delete) {
            (Some(path), None, None) => (Method::Create, path),
            (None, Some(path), None) => (Method::Set, path),
            (None, None, Some(path)) => (Method::Delete, path),
            (None, None, None) => return Err("a step needs one of create, set or delete naming an API path".into()),
            _ => return Err("a step has exactly one of create, set or delete; split it into several steps".into()),
        };
        let path: ApiPath = path.parse()?;
        check_path(method, &path)?;
        let mut params = Params::new();
        for (name, value) in raw.params.unwrap_or_default() {
            push_param(&mut params, &name, &value)?;
        }
        Ok(Step { method, path, params })
    }
}

/// The transaction itself locks, applies and rolls back: a step must not do that on its own.
fn check_path(method: Method, path: &ApiPath) -> Result<(), String> {
    let p = path.as_str();
    if p == "/cluster/sdn/lock" || p == "/cluster/sdn/rollback" || (p == "/cluster/sdn" && method == Method::Set) {
        return Err(format!(
            "'{method} {p}' can't be a step: the transaction takes the lock, applies and rolls back by itself"
        ));
    }
    Ok(())
}

fn scalar(name: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(if *b { "1" } else { "0" }.to_string()),
        Value::Null => Err(format!("params.{name}: no value; to remove a property use delete: [{name}] in a set step")),
        Value::Array(_) | Value::Object(_) => Err(format!("params.{name}: expected a string, number or boolean")),
    }
}

fn push_param(params: &mut Params, name: &str, value: &Value) -> Result<(), String> {
    if name == "lock-token" || name == "release-lock" {
        return Err(format!("params.{name}: set by the transaction, leave it out"));
    }
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("params: '{name}' is not a parameter name"));
    }
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(format!("params.{name}: empty list"));
            }
            for item in items {
                let text = match item {
                    Value::Object(map) => map
                        .iter()
                        .map(|(k, v)| Ok(format!("{k}={}", scalar(&format!("{name}.{k}"), v)?)))
                        .collect::<Result<Vec<_>, String>>()?
                        .join(","),
                    other => scalar(name, other)?,
                };
                params.push((name.to_string(), text));
            }
        }
        Value::Object(_) => {
            return Err(format!("params.{name}: a map is only allowed as a list item (e.g. dhcp-range: [{{start-address: ..., end-address: ...}}])"))
        }
        other => params.push((name.to_string(), scalar(name, other)?)),
    }
    Ok(())
}

/// JSON reports positions for the step's own checks too, so JSON steps are checked while parsing.
#[derive(Deserialize)]
#[serde(try_from = "RawStep")]
struct CheckedStep(Step);

impl TryFrom<RawStep> for CheckedStep {
    type Error = String;

    fn try_from(raw: RawStep) -> Result<Self, String> {
        Step::try_from(raw).map(CheckedStep)
    }
}

/// The line where the `index`-th item of a top-level block sequence starts, if the text is
/// written that way (serde_yaml only knows positions of syntax errors).
fn yaml_item_line(text: &str, index: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| *line == "-" || line.starts_with("- "))
        .nth(index)
        .map(|(number, _)| number + 1)
}

impl ChangeSet {
    /// Reads a change-set file; `.json` files are JSON, everything else YAML.
    pub fn load(path: &Path) -> Result<ChangeSet, ChangeSetError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ChangeSetError::Read { path: origin.clone(), source })?;
        let syntax = match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Syntax::Json,
            _ => Syntax::Yaml,
        };
        ChangeSet::parse(&text, syntax, &origin)
    }

    /// Parses change-set text; `origin` names it in messages.
    pub fn parse(text: &str, syntax: Syntax, origin: &str) -> Result<ChangeSet, ChangeSetError> {
        let invalid = |message: String| ChangeSetError::Invalid { origin: origin.to_string(), message };
        let steps: Vec<Step> = match syntax {
            Syntax::Json => {
                let steps: Vec<CheckedStep> = serde_json::from_str(text).map_err(|e| invalid(json_message(&e)))?;
                steps.into_iter().map(|s| s.0).collect()
            }
            Syntax::Yaml => {
                let raw: Vec<RawStep> = serde_yaml::from_str(text).map_err(|e| invalid(yaml_message(&e)))?;
                raw.into_iter()
                    .enumerate()
                    .map(|(index, raw)| {
                        Step::try_from(raw).map_err(|message| {
                            let line = yaml_item_line(text, index).map(|l| format!("line {l}: ")).unwrap_or_default();
                            invalid(format!("{line}step {}: {message}", index + 1))
                        })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        if steps.is_empty() {
            return Err(invalid("the change set has no steps: expected a list like '- create: /cluster/sdn/vnets'".into()));
        }
        Ok(ChangeSet { steps })
    }
}

/// serde_yaml puts the step index first (`[2]: ...`) and the position last; say it as
/// `line L: step 3: ...` so the first thing read is where to look.
fn yaml_message(err: &serde_yaml::Error) -> String {
    let text = err.to_string();
    let (text, _) = text.rsplit_once(" at line ").map_or((text.as_str(), ""), |(t, _)| (t, ""));
    let (step, message) = match text.trim_start_matches('.').strip_prefix('[').and_then(|t| t.split_once("]: ")) {
        Some((index, rest)) => (index.parse::<usize>().ok().map(|i| format!("step {}: ", i + 1)), rest.to_string()),
        None => (None, text.to_string()),
    };
    let line = err.location().map(|l| format!("line {}: ", l.line())).unwrap_or_default();
    let message = message.replace("invalid type: map, expected a sequence", "expected a list of steps (each '- create: PATH', '- set: PATH' or '- delete: PATH')");
    format!("{line}{}{message}", step.unwrap_or_default())
}

/// serde_json reports the line; the message goes after it, like the YAML ones.
fn json_message(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let message = message.rsplit_once(" at line ").map_or(message.as_str(), |(m, _)| m);
    format!("line {}: {message}", err.line())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<ChangeSet, String> {
        ChangeSet::parse(text, Syntax::Yaml, "cs.yaml").map_err(|e| e.to_string())
    }

    #[test]
    fn parses_steps_in_order_with_params() {
        let cs = yaml(
            "- create: /cluster/sdn/vnets\n  params: {vnet: v100, zone: evpn1, tag: 100, isolate-ports: true}\n\
             - set: /cluster/sdn/vnets/v100\n  params:\n    alias: web\n    delete: [tag, isolate-ports]\n\
             - delete: /cluster/sdn/vnets/v99\n\
             - create: /cluster/sdn/vnets/v100/subnets\n  params:\n    subnet: 10.0.0.0/24\n    dhcp-range:\n      - {start-address: 10.0.0.10, end-address: 10.0.0.20}\n",
        )
        .unwrap();
        assert_eq!(cs.steps.len(), 4);
        assert_eq!(cs.steps[0].method, Method::Create);
        let p = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Params>();
        assert_eq!(cs.steps[0].params, p(&[("vnet", "v100"), ("zone", "evpn1"), ("tag", "100"), ("isolate-ports", "1")]));
        assert_eq!(cs.steps[1].method, Method::Set);
        assert_eq!(cs.steps[1].params, p(&[("alias", "web"), ("delete", "tag"), ("delete", "isolate-ports")]));
        assert_eq!(cs.steps[2].method, Method::Delete);
        assert_eq!(cs.steps[2].path.as_str(), "/cluster/sdn/vnets/v99");
        assert!(cs.steps[2].params.is_empty());
        assert_eq!(
            cs.steps[3].params,
            p(&[("subnet", "10.0.0.0/24"), ("dhcp-range", "start-address=10.0.0.10,end-address=10.0.0.20")])
        );
        assert_eq!(cs.steps[0].to_string(), "create /cluster/sdn/vnets vnet=v100 zone=evpn1 tag=100 isolate-ports=1");
    }

    #[test]
    fn json_is_the_same_format() {
        let cs = ChangeSet::parse(
            r#"[{"create": "/cluster/sdn/zones", "params": {"zone": "z1", "type": "simple"}}, {"delete": "/cluster/sdn/zones/z2"}]"#,
            Syntax::Json,
            "cs.json",
        )
        .unwrap();
        assert_eq!(cs.steps.len(), 2);
        assert_eq!(cs.steps[1].method, Method::Delete);
    }

    #[test]
    fn each_step_has_exactly_one_verb() {
        let err = yaml("- create: /cluster/sdn/vnets\n- create: /cluster/sdn/vnets\n  set: /cluster/sdn/vnets/a\n").unwrap_err();
        assert!(err.contains("step 2") && err.contains("exactly one of create, set or delete"), "{err}");
        let err = yaml("- params: {vnet: a}\n").unwrap_err();
        assert!(err.contains("step 1") && err.contains("needs one of create, set or delete"), "{err}");
    }

    #[test]
    fn bad_files_name_line_and_field() {
        let err = yaml("- create: /cluster/sdn/vnets\n  params: {vnet: a}\n- crate: /cluster/sdn/vnets\n").unwrap_err();
        assert!(err.contains("cs.yaml: line 3: step 2") && err.contains("crate"), "{err}");
        let err = yaml("- create: cluster/sdn/vnets\n").unwrap_err();
        assert!(err.contains("step 1") && err.contains("must start with '/'"), "{err}");
        let err = yaml("- create: /cluster/sdn/vnets\n  params: {vnet: [a, {b: [1]}]}\n").unwrap_err();
        assert!(err.contains("params.vnet.b"), "{err}");
        let err = yaml("- create: /cluster/sdn/vnets\n  params: {lock-token: x}\n").unwrap_err();
        assert!(err.contains("params.lock-token"), "{err}");
        let err = yaml("- set: /cluster/sdn\n").unwrap_err();
        assert!(err.contains("can't be a step"), "{err}");
        let err = yaml("create: /cluster/sdn/vnets\n").unwrap_err();
        assert!(err.contains("line 1") && err.contains("list of steps"), "{err}");
        let err = yaml("[]").unwrap_err();
        assert!(err.contains("no steps"), "{err}");
        let err = yaml("- create: /x\n  params: {a: 1\n").unwrap_err();
        assert!(err.contains("line "), "{err}");
        let err = ChangeSet::parse("[{\"create\": \"/x\",\n \"set\": \"/y\"}]", Syntax::Json, "cs.json").unwrap_err().to_string();
        assert!(err.starts_with("cs.json: line 2: ") && err.contains("exactly one"), "{err}");
    }
}
