//! The one place errors become HTTP responses, in the envelope of either API prefix.

use std::collections::BTreeMap;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// Why a request was refused. Every variant but `Internal` is something the client caused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400: parameters that fail verification, param -> message.
    BadParams(BTreeMap<String, String>),
    /// 401: no or invalid credentials.
    Unauthorized(String),
    /// 403: authenticated, but the privilege is missing.
    Forbidden(String),
    /// 404: no such object or path.
    NotFound(String),
    /// 405: the path exists but not with this method.
    MethodNotAllowed(String),
    /// 409: conflicts with the current state (stale digest, pending changes, object in use).
    Conflict(String),
    /// 423: the global SDN lock refuses the request.
    Locked(String),
    /// 503: the configuration store can't be reached right now.
    Unavailable(String),
    /// 500: a fault of the server itself.
    Internal(String),
}

impl ApiError {
    /// A 400 for one parameter.
    pub fn param(name: &str, message: impl Into<String>) -> Self {
        ApiError::BadParams(BTreeMap::from([(name.to_string(), message.into())]))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParams(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Locked(_) => StatusCode::LOCKED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::BadParams(_) => "Parameter verification failed.".to_string(),
            ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::MethodNotAllowed(m)
            | ApiError::Conflict(m)
            | ApiError::Locked(m)
            | ApiError::Unavailable(m)
            | ApiError::Internal(m) => m.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::BadParams(errors) => {
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

impl std::error::Error for ApiError {}

impl From<sdn_store::StoreError> for ApiError {
    fn from(err: sdn_store::StoreError) -> Self {
        match err {
            sdn_store::StoreError::Unavailable(_) => ApiError::Unavailable(err.to_string()),
            sdn_store::StoreError::Backend(_) => ApiError::Internal(err.to_string()),
        }
    }
}

impl From<sdn_config::ConfigError> for ApiError {
    fn from(err: sdn_config::ConfigError) -> Self {
        match err {
            sdn_config::ConfigError::Invalid(errors) => ApiError::BadParams(errors.0),
            sdn_config::ConfigError::NotFound(m) => ApiError::NotFound(m),
            sdn_config::ConfigError::Conflict(m) => ApiError::Conflict(m),
        }
    }
}

/// The two envelopes PVE serves the same API in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `/api2/json`: HTTP status carries success or failure.
    Json,
    /// `/api2/extjs`: always HTTP 200, `success` says what happened.
    Extjs,
}

pub type Body = Full<Bytes>;

/// Renders a handler's outcome in `format`.
pub fn render(format: Format, outcome: Result<Value, ApiError>) -> Response<Body> {
    match (format, outcome) {
        (Format::Json, Ok(data)) => respond(StatusCode::OK, None, &json!({ "data": data })),
        (Format::Extjs, Ok(data)) => {
            respond(StatusCode::OK, None, &json!({ "success": 1, "data": data }))
        }
        (Format::Json, Err(err)) => {
            let body = match &err {
                ApiError::BadParams(errors) => json!({ "data": null, "errors": errors }),
                other => json!({ "data": null, "message": other.message() }),
            };
            respond(err.status(), Some(&err.message()), &body)
        }
        (Format::Extjs, Err(err)) => {
            let mut body = json!({ "success": 0, "data": null, "message": err.to_string() });
            if let ApiError::BadParams(errors) = &err {
                body["errors"] = json!(errors);
            }
            respond(StatusCode::OK, None, &body)
        }
    }
}

fn respond(status: StatusCode, reason: Option<&str>, body: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    if let Some(reason) = reason {
        // PVE clients show the reason phrase; it must be one printable line.
        let line: String = reason
            .chars()
            .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { ' ' })
            .take(512)
            .collect();
        if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(line.into_bytes()) {
            response.extensions_mut().insert(phrase);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_params_render_pve_shape() {
        let response = render(Format::Json, Err(ApiError::param("tag", "value must be at least 1")));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let reason = response.extensions().get::<hyper::ext::ReasonPhrase>().unwrap();
        assert_eq!(reason.as_bytes(), b"Parameter verification failed.");
    }

    #[test]
    fn extjs_is_always_200() {
        let response = render(Format::Extjs, Err(ApiError::Locked("locked".into())));
        assert_eq!(response.status(), StatusCode::OK);
    }
}
