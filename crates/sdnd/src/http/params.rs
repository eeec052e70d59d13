//! Request parameters: decoded once from the query string, a form body or a JSON body into one
//! map, then taken out field by field with typed accessors that collect every error.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::Error;

/// Largest request body accepted; SDN objects are small.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Longest single parameter value accepted (longer ones are refused, not truncated).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// PVE's message for a parameter the schema does not have.
pub const NOT_IN_SCHEMA: &str = "property is not defined in schema and the schema does not allow additional properties";

/// Decodes `application/x-www-form-urlencoded` text (a query string or a form body).
/// A key given more than once becomes an array of its values.
pub fn decode_form(text: &[u8], into: &mut Map<String, Value>) -> Result<(), Error> {
    for (key, value) in form_urlencoded::parse(text) {
        if value.len() > MAX_VALUE_BYTES {
            return Err(Error::param(&key, format!("value too long (at most {MAX_VALUE_BYTES} bytes)")));
        }
        let value = Value::String(value.into_owned());
        match into.get_mut(key.as_ref()) {
            None => {
                into.insert(key.into_owned(), value);
            }
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    Ok(())
}

/// Decodes a JSON object body.
pub fn decode_json(body: &[u8], into: &mut Map<String, Value>) -> Result<(), Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => {
            into.extend(map);
            Ok(())
        }
        Ok(_) => Err(Error::param("body", "a JSON body must be an object of parameters")),
        Err(err) => Err(Error::param("body", format!("invalid JSON: {err}"))),
    }
}

/// The parameters of one request, consumed by the handler.
///
/// Every `take_*` removes its parameter and records a message if it is malformed;
/// [`Args::finish`] then refuses unknown leftovers and reports all problems at once.
#[derive(Debug, Default)]
pub struct Args {
    values: Map<String, Value>,
    errors: BTreeMap<String, String>,
    peer: Option<std::net::SocketAddr>,
}

impl Args {
    pub fn new(values: Map<String, Value>) -> Self {
        Self { values, errors: BTreeMap::new(), peer: None }
    }

    /// Records the client's address (for the login's failure log).
    pub fn set_peer(&mut self, peer: std::net::SocketAddr) {
        self.peer = Some(peer);
    }

    pub fn peer(&self) -> std::net::SocketAddr {
        self.peer.unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    fn fail(&mut self, name: &str, message: impl Into<String>) {
        self.errors.entry(name.to_string()).or_insert_with(|| message.into());
    }

    /// A string parameter.
    pub fn take_string(&mut self, name: &str) -> Option<String> {
        match self.values.remove(name)? {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => {
                self.fail(name, "type check ('string') failed");
                None
            }
        }
    }

    /// A parameter as given (any JSON value), for a handler that checks its shape itself.
    pub fn take_value(&mut self, name: &str) -> Option<Value> {
        self.values.remove(name)
    }

    /// A boolean parameter that may be absent.
    pub fn take_optional_bool(&mut self, name: &str) -> Option<bool> {
        self.values.contains_key(name).then(|| self.take_bool(name, false))
    }

    /// A list parameter: repeated, a JSON array of strings, or one comma-separated string.
    pub fn take_list(&mut self, name: &str) -> Option<Vec<String>> {
        let items = match self.values.remove(name)? {
            Value::String(s) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
            Value::Array(items) => {
                let strings: Option<Vec<String>> = items.into_iter().map(|v| v.as_str().map(str::to_string)).collect();
                let Some(strings) = strings else {
                    self.fail(name, "type check ('array of strings') failed");
                    return None;
                };
                strings
            }
            _ => {
                self.fail(name, "type check ('string or array of strings') failed");
                return None;
            }
        };
        Some(items)
    }

    /// A boolean parameter: `0`/`1`, `true`/`false` (as PVE's schema accepts them).
    pub fn take_bool(&mut self, name: &str, default: bool) -> bool {
        let Some(value) = self.values.remove(name) else { return default };
        let parsed = match &value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_u64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(true),
                "0" | "false" | "no" | "off" => Some(false),
                _ => None,
            },
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            self.fail(name, "type check ('boolean') failed - got a value that is not 0 or 1");
            default
        })
    }

    /// An integer parameter within `min..=max`.
    pub fn take_u64(&mut self, name: &str, min: u64, max: u64) -> Option<u64> {
        let value = self.values.remove(name)?;
        let parsed = match &value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match parsed {
            None => {
                self.fail(name, "type check ('integer') failed");
                None
            }
            Some(n) if n < min => {
                self.fail(name, format!("value must have a minimum value of {min}"));
                None
            }
            Some(n) if n > max => {
                self.fail(name, format!("value may have a maximum value of {max}"));
                None
            }
            Some(n) => Some(n),
        }
    }

    /// Records an error for `name` found by the handler's own checks.
    pub fn reject(&mut self, name: &str, message: impl Into<String>) {
        self.fail(name, message);
    }

    /// Hands the remaining parameters to a schema that validates them itself (the config model),
    /// after reporting any error found so far.
    pub fn into_rest(self) -> Result<Map<String, Value>, Error> {
        if self.errors.is_empty() {
            Ok(self.values)
        } else {
            Err(Error::BadParams(self.errors))
        }
    }

    /// Refuses parameters nobody took and reports every error collected.
    pub fn finish(mut self) -> Result<(), Error> {
        let unknown: Vec<String> = self.values.keys().cloned().collect();
        for name in unknown {
            self.fail(&name, NOT_IN_SCHEMA);
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::BadParams(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_form_keys_become_arrays() {
        let mut map = Map::new();
        decode_form(b"a=1&b=x&a=2&a=3", &mut map).unwrap();
        assert_eq!(map["a"], json!(["1", "2", "3"]));
        assert_eq!(map["b"], json!("x"));
    }

    #[test]
    fn args_collect_all_errors_and_unknowns() {
        let mut map = Map::new();
        decode_form(b"force=2&ttl=abc&bogus=1", &mut map).unwrap();
        let mut args = Args::new(map);
        assert!(!args.take_bool("force", false));
        assert_eq!(args.take_u64("ttl", 1, 10), None);
        let Err(Error::BadParams(errors)) = args.finish() else { panic!("must fail") };
        assert_eq!(errors.len(), 3);
        assert!(errors["bogus"].contains("not defined in schema"));
    }

    #[test]
    fn json_bodies_keep_types() {
        let mut map = Map::new();
        decode_json(br#"{"allow-pending":true,"ttl":30}"#, &mut map).unwrap();
        let mut args = Args::new(map);
        assert!(args.take_bool("allow-pending", false));
        assert_eq!(args.take_u64("ttl", 1, 100), Some(30));
        args.finish().unwrap();
        assert!(decode_json(b"[1]", &mut Map::new()).is_err());
    }
}
