//! The HTTP requests the reference's plugin tests record (`src/test/{ipams,dns}/PLUGIN/expected.*`
//! in pve-network: dumps of Perl `HTTP::Request` objects, copied below this crate's `tests/`),
//! and their comparison with what a test's stand-in for the service received.

use serde_json::Value;

/// One request, as recorded or as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path after the service's url, with the query.
    pub path: String,
    pub body: String,
    /// The header carrying the credential (`Authorization`, `X-API-Key`, `token`).
    pub credential: String,
    pub content_type: String,
}

/// The request recorded in `file` (relative to this crate's `tests/`): its path taken after
/// `url`, its credential from the header `credential` (lower case, as the dumps have it).
pub fn expected(file: &str, url: &str, credential: &str) -> Request {
    let path = format!("{}/tests/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    let field = |key: &str| {
        let start = text.rfind(&format!("'{key}' => ")).unwrap_or_else(|| panic!("{key} in {path}")) + key.len() + 6;
        let rest = &text[start..];
        let rest = rest.strip_prefix('\'').unwrap_or(rest);
        rest[..rest.find('\'').unwrap()].to_string()
    };
    let uri_start = text.find("my $o = '").unwrap() + 9;
    let uri = &text[uri_start..];
    let uri = &uri[..uri.find('\'').unwrap()];
    Request {
        method: field("_method"),
        path: uri.strip_prefix(url).unwrap_or_else(|| panic!("{uri} is not below {url} in {path}")).to_string(),
        body: field("_content"),
        credential: field(credential),
        content_type: field("content-type"),
    }
}

/// `got` is `want`: method, path, the body as JSON, the credential and the content type.
#[track_caller]
pub fn assert_same(got: &Request, want: &Request) {
    assert_eq!((got.method.as_str(), got.path.as_str()), (want.method.as_str(), want.path.as_str()), "{got:?}");
    let body = |text: &str| if text.is_empty() { Value::Null } else { serde_json::from_str::<Value>(text).unwrap() };
    assert_eq!(body(&got.body), body(&want.body), "body of {} {}", got.method, got.path);
    assert_eq!(got.credential, want.credential);
    assert_eq!(got.content_type, want.content_type);
}
