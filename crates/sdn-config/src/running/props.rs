//! Reading property values of the running config, in the forms each [`Reading`] accepts.
//!
//! sdn-config writes integers as JSON numbers, booleans as `0`/`1`, node lists as maps
//! `{"node": 1}` and other lists as comma separated strings. The reference's files (and test
//! data written by hand) also carry numbers as strings (`"100"`), strings as numbers, booleans
//! as `"1"`/`true`/`"yes"` and lists as arrays; [`Reading::Lenient`] accepts all of these.

use serde_json::{Map, Value};

use super::{Reading, RunningConfigError};
use crate::net::{check_word, split_list};

/// The properties of one object (zone, vnet, ...) together with a label for error messages.
pub(crate) struct Props<'a> {
    object: String,
    map: &'a Map<String, Value>,
    reading: Reading,
}

impl<'a> Props<'a> {
    /// Wraps `value`, which must be a JSON object.
    pub(crate) fn new(
        object: String,
        value: &'a Value,
        reading: Reading,
    ) -> Result<Self, RunningConfigError> {
        match value {
            Value::Object(map) => Ok(Props {
                object,
                map,
                reading,
            }),
            other => Err(RunningConfigError::shape(
                object,
                format!("expected an object of properties, got {}", kind(other)),
            )),
        }
    }

    /// The label used in error messages, e.g. `zone 'myzone'`.
    pub(crate) fn object(&self) -> &str {
        &self.object
    }

    fn lenient(&self) -> bool {
        self.reading == Reading::Lenient
    }

    /// An error about `field` of this object.
    pub(crate) fn err(&self, field: &str, reason: String) -> RunningConfigError {
        RunningConfigError::field(self.object.clone(), field, reason)
    }

    /// A scalar as text; absent, `null` and `""` are `None` (the reference tests truthiness).
    pub(crate) fn string(&self, field: &str) -> Result<Option<String>, RunningConfigError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) if self.lenient() => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) if self.lenient() => {
                Ok(Some(if *b { "1" } else { "0" }.to_string()))
            }
            Some(other) if self.lenient() => Err(self.err(
                field,
                format!("expected a string or number, got {}", kind(other)),
            )),
            Some(other) => Err(self.err(field, format!("expected a string, got {}", kind(other)))),
        }
    }

    /// A text value that ends up in a generated file: it must be a single line.
    pub(crate) fn line(&self, field: &str) -> Result<Option<String>, RunningConfigError> {
        let value = self.string(field)?;
        if let Some(v) = &value {
            if v.chars().any(|c| c.is_control()) {
                return Err(self.err(field, "must not contain control characters".into()));
            }
        }
        Ok(value)
    }

    /// A text value that is used as a single word (interface or node name, MAC, protocol).
    pub(crate) fn word(&self, field: &str) -> Result<Option<String>, RunningConfigError> {
        let value = self.string(field)?;
        if let Some(v) = &value {
            check_word(v).map_err(|reason| self.err(field, reason))?;
        }
        Ok(value)
    }

    /// A non-negative integer; `0` counts as absent like in the reference's truthiness tests.
    pub(crate) fn uint(&self, field: &str, max: u64) -> Result<Option<u64>, RunningConfigError> {
        let value = match self.map.get(field) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) if self.lenient() && s.trim().is_empty() => return Ok(None),
            Some(Value::String(s)) if self.lenient() => s.trim().parse::<u64>().ok(),
            Some(_) => None,
        };
        match value {
            Some(0) => Ok(None),
            Some(v) if v <= max => Ok(Some(v)),
            Some(v) => Err(self.err(field, format!("{v} is out of range (at most {max})"))),
            None => Err(self.err(
                field,
                format!(
                    "expected an integer between 0 and {max}, got {}",
                    show(self.map.get(field))
                ),
            )),
        }
    }

    /// A boolean: `true`/`false` or `1`/`0`; read leniently also `"1"`/`"0"`, `yes`/`no`,
    /// `on`/`off`.
    pub(crate) fn flag(&self, field: &str) -> Result<bool, RunningConfigError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(false),
            Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(true),
            Some(Value::String(s)) if self.lenient() => match s.trim() {
                "" | "0" | "false" | "no" | "off" => Ok(false),
                "1" | "true" | "yes" | "on" => Ok(true),
                _ => Err(self.err(field, format!("expected a boolean (0 or 1), got \"{s}\""))),
            },
            Some(other) => Err(self.err(
                field,
                format!("expected a boolean (0 or 1), got {}", show(Some(other))),
            )),
        }
    }

    /// A list: a string split like the reference's `split_list`, or a map whose keys with a true
    /// value are the members; read leniently also an array of scalars.
    pub(crate) fn list(&self, field: &str) -> Result<Option<Vec<String>>, RunningConfigError> {
        let items: Vec<String> = match self.map.get(field) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => split_list(s).into_iter().map(str::to_string).collect(),
            Some(Value::Number(n)) if self.lenient() => vec![n.to_string()],
            Some(Value::Array(items)) if self.lenient() => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => {
                            out.extend(split_list(s).into_iter().map(str::to_string))
                        }
                        Value::Number(n) => out.push(n.to_string()),
                        other => {
                            return Err(self.err(
                                field,
                                format!("list items must be strings, got {}", kind(other)),
                            ))
                        }
                    }
                }
                out
            }
            Some(Value::Object(map)) => map
                .iter()
                .filter(|(_, v)| truthy(v))
                .map(|(k, _)| k.clone())
                .collect(),
            Some(other) => {
                return Err(self.err(field, format!("expected a list, got {}", kind(other))))
            }
        };
        for item in &items {
            check_word(item).map_err(|reason| self.err(field, reason))?;
        }
        Ok(Some(items))
    }

    /// A list of strings that may themselves contain commas (property strings): an array, or
    /// a single string as one item.
    pub(crate) fn list_raw(&self, field: &str) -> Result<Vec<String>, RunningConfigError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.err(
                        field,
                        format!("list items must be strings, got {}", kind(other)),
                    )),
                })
                .collect(),
            Some(other) => Err(self.err(
                field,
                format!("expected a list of strings, got {}", kind(other)),
            )),
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !(s.is_empty() || s == "0"),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => format!("\"{}\"", s.escape_debug()),
        Some(other @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => other.to_string(),
        Some(other) => kind(other).to_string(),
        None => "nothing".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: &Value, reading: Reading) -> Props<'_> {
        Props::new("zone 'z'".into(), v, reading).expect("object")
    }

    #[test]
    fn numbers_in_every_form() {
        let v = json!({"a": "100", "b": 100, "c": "x", "d": "0", "e": 70000});
        let p = props(&v, Reading::Lenient);
        assert_eq!(p.uint("a", 4094).unwrap(), Some(100));
        assert_eq!(p.uint("b", 4094).unwrap(), Some(100));
        assert_eq!(p.uint("d", 4094).unwrap(), None);
        assert_eq!(p.uint("missing", 4094).unwrap(), None);
        let err = p.uint("c", 4094).unwrap_err().to_string();
        assert!(err.contains("zone 'z'") && err.contains("'c'"), "{err}");
        assert!(p.uint("e", 4094).is_err());

        let p = props(&v, Reading::Strict);
        assert_eq!(p.uint("b", 4094).unwrap(), Some(100));
        let err = p.uint("a", 4094).unwrap_err().to_string();
        assert!(err.contains("'a'") && err.contains("\"100\""), "{err}");
    }

    #[test]
    fn lists_in_every_form() {
        let v = json!({"s": "a,b;c d", "a": ["x", "y"], "m": {"n1": 1, "n2": 0}, "bad": "a\nb,c"});
        let p = props(&v, Reading::Lenient);
        assert_eq!(p.list("s").unwrap().unwrap(), vec!["a", "b", "c", "d"]);
        assert_eq!(p.list("a").unwrap().unwrap(), vec!["x", "y"]);
        assert_eq!(p.list("m").unwrap().unwrap(), vec!["n1"]);
        assert_eq!(p.list("bad").unwrap().unwrap(), vec!["a", "b", "c"]);

        let p = props(&v, Reading::Strict);
        assert_eq!(p.list("s").unwrap().unwrap(), vec!["a", "b", "c", "d"]);
        assert_eq!(p.list("m").unwrap().unwrap(), vec!["n1"]);
        assert!(p.list("a").unwrap_err().to_string().contains("'a'"));
    }

    #[test]
    fn flags() {
        let v = json!({"a": "1", "b": 0, "c": true, "d": "maybe"});
        let p = props(&v, Reading::Lenient);
        assert!(p.flag("a").unwrap());
        assert!(!p.flag("b").unwrap());
        assert!(p.flag("c").unwrap());
        assert!(!p.flag("x").unwrap());
        assert!(p.flag("d").is_err());

        let p = props(&v, Reading::Strict);
        assert!(!p.flag("b").unwrap());
        assert!(p.flag("c").unwrap());
        assert!(p.flag("a").is_err());
    }

    #[test]
    fn strings_are_strings_when_strict() {
        let v = json!({"asn": 65000});
        assert_eq!(
            props(&v, Reading::Lenient)
                .string("asn")
                .unwrap()
                .as_deref(),
            Some("65000")
        );
        assert!(props(&v, Reading::Strict).string("asn").is_err());
    }

    #[test]
    fn words_reject_newlines() {
        let v = json!({"bridge": "vmbr0\nauto evil"});
        assert!(props(&v, Reading::Lenient).word("bridge").is_err());
    }
}
