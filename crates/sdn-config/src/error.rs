//! Errors: what went wrong, in the shape the API needs (400 per parameter, 404, 409).

use std::collections::BTreeMap;
use std::fmt;

/// Messages per parameter name, as the API's `errors` object carries them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a message for `field`; the first message for a field wins, like the reference.
    pub fn add(&mut self, field: impl Into<String>, msg: impl Into<String>) {
        self.0.entry(field.into()).or_insert_with(|| msg.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    /// `Ok(())` when nothing was recorded, else the errors as [`ConfigError::Invalid`].
    pub fn into_result(self) -> Result<(), ConfigError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(self))
        }
    }

    pub(crate) fn single(field: impl Into<String>, msg: impl Into<String>) -> ConfigError {
        let mut e = FieldErrors::new();
        e.add(field, msg);
        ConfigError::Invalid(e)
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in &self.0 {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{k}: {v}")?;
        }
        Ok(())
    }
}

/// Why a mutation or a parse was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A bad, unknown or missing parameter (HTTP 400).
    Invalid(FieldErrors),
    /// The object the request names does not exist (HTTP 404).
    NotFound(String),
    /// The request conflicts with the current state (HTTP 409).
    Conflict(String),
}

impl ConfigError {
    /// The per-parameter errors, if this is [`ConfigError::Invalid`].
    pub fn field_errors(&self) -> Option<&FieldErrors> {
        match self {
            ConfigError::Invalid(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid(e) => write!(f, "parameter verification failed: {e}"),
            ConfigError::NotFound(m) | ConfigError::Conflict(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ConfigError {}
