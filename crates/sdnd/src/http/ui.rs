//! The web interface's files (embedded at build time from `ui/dist`), served for GET and HEAD
//! outside `/api2/`. The UI is a client of the public API like any other: nothing here knows
//! about sessions or privileges.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

use super::reply::Body;

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// No outside origin anywhere: scripts, styles, fonts, images and API calls come from sdnd.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>sdnd</title></head>\
<body><h1>sdnd</h1><p>The web interface was not built into this binary. Build it with \
<code>npm ci &amp;&amp; npm run build</code> in <code>ui/</code>, then rebuild sdnd \
(<code>scripts/serve</code> does both). The API is at <code>/api2/json</code>.</p></body></html>\n";

/// The response for `path` if it is a UI path, `None` to let the caller answer 404.
pub fn serve(path: &str, head: bool) -> Option<Response<Body>> {
    let rel = path.strip_prefix('/')?;
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let (contents, immutable) = match ASSETS.iter().find(|(name, _)| *name == rel) {
        Some((_, contents)) => (Bytes::from_static(contents), rel.starts_with("assets/")),
        None if rel == "index.html" => (Bytes::from_static(NOT_BUILT.as_bytes()), false),
        None => return None,
    };
    let length = contents.len();
    let mut response = Response::new(Full::new(if head { Bytes::new() } else { contents }));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(hyper::header::CONTENT_TYPE, content_type(rel));
    // Vite names every asset by its content hash: cache forever. index.html names the
    // current ones, so it is checked on every load.
    set(hyper::header::CACHE_CONTROL, if immutable { "public, max-age=31536000, immutable" } else { "no-cache" });
    set(hyper::header::CONTENT_SECURITY_POLICY, CSP);
    set(hyper::header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(hyper::header::X_FRAME_OPTIONS, "DENY");
    set(hyper::header::REFERRER_POLICY, "no-referrer");
    set(HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    if head {
        headers.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    Some(response)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json" | "map") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_always_answered_with_security_headers() {
        let response = serve("/", false).expect("the root is a UI path, built or not");
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("http"), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["cache-control"], "no-cache");
    }

    #[test]
    fn unknown_paths_are_left_to_the_caller() {
        assert!(serve("/no/such/file.js", false).is_none());
        assert!(serve("", false).is_none());
    }

    #[test]
    fn hashed_assets_are_immutable() {
        if !ASSETS.is_empty() {
            assert!(ASSETS.iter().any(|(name, _)| *name == "index.html"), "a built UI has its index.html");
            assert!(ASSETS.iter().any(|(name, _)| name.starts_with("assets/")), "a built UI has hashed assets");
        }
        for (name, contents) in ASSETS.iter().filter(|(name, _)| name.starts_with("assets/")) {
            let response = serve(&format!("/{name}"), true).unwrap();
            assert!(response.headers()["cache-control"].to_str().unwrap().contains("immutable"));
            assert_eq!(response.headers()["content-length"], contents.len().to_string().as_str());
        }
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("assets/index-abc.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("assets/index-abc.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
    }
}
