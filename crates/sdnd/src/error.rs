//! The core's error: why an operation was refused, in the domain's words. The HTTP layer
//! maps each variant to a status code and envelope in one place (`http::reply`); nothing
//! here knows about HTTP.

use std::collections::BTreeMap;

/// Why an operation was refused. Every variant but `Internal` is something the caller caused
/// (or, for `Unavailable`, something that passes by itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Parameters that fail verification, param -> message.
    BadParams(BTreeMap<String, String>),
    /// No or invalid credentials.
    Unauthenticated(String),
    /// Authenticated, but the privilege is missing.
    Forbidden(String),
    /// No such object or path.
    NotFound(String),
    /// This server does not offer the path or method (PVE answers these with 501).
    NotImplemented(String),
    /// Conflicts with the current state (stale digest, pending changes, object in use).
    Conflict(String),
    /// The global SDN lock refuses the operation.
    Locked(String),
    /// Too many attempts; retry after this many seconds.
    TooManyRequests { message: String, retry_after: u64 },
    /// The configuration store can't be reached right now.
    Unavailable(String),
    /// A fault of the server itself.
    Internal(String),
}

impl Error {
    /// A parameter error for one parameter.
    pub fn param(name: &str, message: impl Into<String>) -> Self {
        Error::BadParams(BTreeMap::from([(name.to_string(), message.into())]))
    }

    /// The one-line message (for parameter errors, PVE's fixed summary).
    pub fn message(&self) -> String {
        match self {
            Error::BadParams(_) => "Parameter verification failed.".to_string(),
            Error::TooManyRequests { message, .. } => message.clone(),
            Error::Unauthenticated(m)
            | Error::Forbidden(m)
            | Error::NotFound(m)
            | Error::NotImplemented(m)
            | Error::Conflict(m)
            | Error::Locked(m)
            | Error::Unavailable(m)
            | Error::Internal(m) => m.clone(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::BadParams(errors) => {
                write!(f, "Parameter verification failed.")?;
                for (param, message) in errors {
                    write!(f, " {param}: {message}")?;
                }
                Ok(())
            }
            other => f.write_str(&other.message()),
        }
    }
}

impl std::error::Error for Error {}

impl From<sdn_store::StoreError> for Error {
    fn from(err: sdn_store::StoreError) -> Self {
        match err {
            sdn_store::StoreError::Unavailable(_) => Error::Unavailable(err.to_string()),
            sdn_store::StoreError::Backend(_) => Error::Internal(err.to_string()),
        }
    }
}

impl From<sdn_config::ConfigError> for Error {
    fn from(err: sdn_config::ConfigError) -> Self {
        match err {
            sdn_config::ConfigError::Invalid(errors) => Error::BadParams(errors.0),
            sdn_config::ConfigError::NotFound(m) => Error::NotFound(m),
            sdn_config::ConfigError::Conflict(m) => Error::Conflict(m),
        }
    }
}
