//! The one place errors become HTTP responses, in the envelope of either API prefix.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::error::Error;

/// The HTTP status of a refusal: the one mapping of core errors to status codes.
pub fn status(err: &Error) -> StatusCode {
    match err {
        Error::BadParams(_) => StatusCode::BAD_REQUEST,
        Error::Unauthenticated(_) | Error::LoginFailed(_) => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::Locked(_) => StatusCode::LOCKED,
        Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
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
pub fn render(format: Format, outcome: Result<Value, Error>) -> Response<Body> {
    match (format, outcome) {
        (Format::Json, Ok(data)) => respond(StatusCode::OK, None, &json!({ "data": data })),
        (Format::Extjs, Ok(data)) => {
            respond(StatusCode::OK, None, &json!({ "success": 1, "data": data }))
        }
        (Format::Json, Err(err)) => {
            let body = match &err {
                Error::BadParams(errors) => json!({ "data": null, "errors": errors }),
                other => json!({ "data": null, "message": other.message() }),
            };
            let mut response = respond(status(&err), Some(&err.message()), &body);
            retry_after(&mut response, &err);
            response
        }
        (Format::Extjs, Err(err)) => {
            // As PVE's formatter: the HTTP status moves into the body (clients such as PDM's
            // read it there to tell a missing feature or a held lock from a bad request).
            let mut body =
                json!({ "success": 0, "data": null, "message": err.to_string(), "status": status(&err).as_u16() });
            if let Error::BadParams(errors) = &err {
                body["errors"] = json!(errors);
            }
            respond(StatusCode::OK, None, &body)
        }
    }
}

/// A rate-limited client learns when to come back.
fn retry_after(response: &mut Response<Body>, err: &Error) {
    if let Error::TooManyRequests { retry_after, .. } = err {
        if let Ok(value) = hyper::header::HeaderValue::from_str(&retry_after.to_string()) {
            response.headers_mut().insert(hyper::header::RETRY_AFTER, value);
        }
    }
}

/// A 200 answer of ready JSON (the OpenAPI document).
pub fn json(body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    response
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
        let response = render(Format::Json, Err(Error::param("tag", "value must be at least 1")));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let reason = response.extensions().get::<hyper::ext::ReasonPhrase>().unwrap();
        assert_eq!(reason.as_bytes(), b"Parameter verification failed.");
    }

    #[test]
    fn extjs_is_always_200() {
        let response = render(Format::Extjs, Err(Error::Locked("locked".into())));
        assert_eq!(response.status(), StatusCode::OK);
        let response = render(Format::Extjs, Err(Error::NotImplemented("Method 'GET /x' not implemented".into())));
        assert_eq!(response.status(), StatusCode::OK, "the status is in the body");
    }
}
