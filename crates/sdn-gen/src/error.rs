//! The one error type of the generator.

use sdn_config::RunningConfigError;
use thiserror::Error;

/// Why a generation failed.
///
/// Problems that the reference treats as "skip this vnet and warn" are not errors: they end up
/// in [`crate::GenOutput::warnings`]. A `GenError` means the input cannot be interpreted at all
/// (a value of the wrong shape) or a file cannot be produced (no router-id can be derived).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GenError {
    /// A property of an object has a value the generator cannot interpret.
    #[error("{object}: invalid value for '{field}': {reason}")]
    Field {
        /// The object, e.g. `zone 'myzone'` or `node facts`.
        object: String,
        /// The property name as it appears in the input.
        field: String,
        /// What was found and what is allowed.
        reason: String,
    },
    /// A part of the input does not have the required shape.
    #[error("{object}: {reason}")]
    Shape {
        /// The object or section, e.g. `running config section 'zones'`.
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// The running config could not be read: callers that read it and generate in one go
    /// report both kinds of failure as a `GenError`.
    #[error(transparent)]
    Config(#[from] RunningConfigError),
}

impl GenError {
    pub(crate) fn field(object: impl Into<String>, field: &str, reason: impl Into<String>) -> Self {
        GenError::Field {
            object: object.into(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn shape(object: impl Into<String>, reason: impl Into<String>) -> Self {
        GenError::Shape {
            object: object.into(),
            reason: reason.into(),
        }
    }
}
