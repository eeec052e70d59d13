//! The HTTP calls of the external IPAMs (and DNS servers), as the reference's
//! `PVE::Network::SDN::api_request`: JSON in and out, bounded by [`timeout`] (`sdnd serve
//! --ipam-timeout`), and every
//! failure an error naming the service and carrying its message, never its credentials.
//! With `fingerprint`, the server must show exactly that certificate (see [`super::pin`]);
//! without, the usual trust (the Mozilla roots reqwest's rustls carries).

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::error::Error;

/// The most of an answer read (a list of a few addresses is a few KiB).
const MAX_ANSWER: u64 = 4 << 20;

/// The environment variable `sdnd serve` reads the timeout from when `--ipam-timeout` isn't
/// given.
pub const TIMEOUT_ENV: &str = "SDND_IPAM_TIMEOUT";
/// The timeout's default, 30 seconds as the reference's user agent.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest timeout allowed, in seconds.
pub const MAX_TIMEOUT_SECS: f64 = 600.0;

/// The timeout in milliseconds, set once by `sdnd serve` (`--ipam-timeout`, see
/// [`set_timeout`]); read, not parsed, on every call.
static TIMEOUT_MS: AtomicU64 = AtomicU64::new(DEFAULT_TIMEOUT.as_millis() as u64);

/// `text` as a timeout: a number of seconds from 1 to 600 (fractions allowed: `2.5`).
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let allowed = || format!("'{text}' is not a number of seconds from 1 to {MAX_TIMEOUT_SECS}");
    let secs: f64 = text.trim().parse().map_err(|_| allowed())?;
    if !(1.0..=MAX_TIMEOUT_SECS).contains(&secs) {
        return Err(allowed());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Sets how long one call to an external IPAM (or DNS server) may take, for the whole process.
pub fn set_timeout(timeout: Duration) {
    TIMEOUT_MS.store(timeout.as_millis().max(1) as u64, Ordering::Relaxed);
}

/// How long one call to an external IPAM may take (connecting included).
pub fn timeout() -> Duration {
    Duration::from_millis(TIMEOUT_MS.load(Ordering::Relaxed))
}

pub struct Api {
    /// "NetBox IPAM 'nb'", for messages.
    pub name: String,
    url: String,
    /// The header carrying the credential, and its value.
    auth: (&'static str, String),
    client: reqwest::blocking::Client,
}

impl Api {
    /// `kind` names the service in messages ("NetBox IPAM").
    pub fn new(kind: &str, object: &sdn_config::SdnObject, auth: (&'static str, &dyn Fn(&str) -> String)) -> Result<Api, Error> {
        let name = format!("{kind} '{}'", object.id());
        let url = object.get_str("url").unwrap_or("").trim_end_matches('/').to_string();
        let secret = object.get_str("token").or_else(|| object.get_str("key")).unwrap_or("");
        if url.is_empty() || secret.is_empty() {
            return Err(Error::Conflict(format!("{name} has no url or credential")));
        }
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(timeout())
            .connect_timeout(timeout())
            .redirect(reqwest::redirect::Policy::none());
        if let Some(fingerprint) = object.get_str("fingerprint") {
            // Exactly the certificate with that SHA-256, as the reference's `fingerprint`.
            let expected = super::pin::parse(fingerprint).map_err(|err| Error::param("fingerprint", err))?;
            let tls = super::pin::client_config(expected).map_err(|err| Error::Internal(format!("{name}: {err}")))?;
            builder = builder.use_preconfigured_tls(tls);
        }
        let client = crate::blocking::off_worker(|| builder.build()).map_err(|err| Error::Internal(format!("{name}: HTTP client: {err}")))?;
        Ok(Api { name, url, auth: (auth.0, (auth.1)(secret)), client })
    }

    /// [`Api::request`] for a lookup: `None` when the service answers 404.
    pub fn lookup(&self, path: &str) -> Result<Option<Value>, Error> {
        match self.request(reqwest::Method::GET, path, None) {
            Err(Error::Conflict(m)) if m.contains(": 404 ") => Ok(None),
            other => other.map(Some),
        }
    }

    /// One call: the answer's JSON (`Null` when empty). Unreachable, timed out, a 5xx or an
    /// unreadable answer: `Unavailable` (503); a 4xx: `Conflict` (409).
    pub fn request(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value, Error> {
        self.call(method, path, body).map_err(|failure| failure.error)
    }

    /// The reference's `on_update_hook`: a GET of `path` that must succeed, for a new or
    /// changed IPAM or DNS object before it is written. Refused, the error says which of
    /// the object's settings to fix: `fingerprint` when the certificate is not the pinned
    /// one, `credential` (the object's `token` or `key`) when the service answers 401 or
    /// 403, else `url` (unreachable, timed out, anything else than a success).
    pub fn verify(&self, path: &str, credential: &str) -> Result<(), Error> {
        let Err(Failure { status, error }) = self.call(reqwest::Method::GET, path, None) else { return Ok(()) };
        let message = error.message();
        let field = match status {
            Some(401 | 403) => credential,
            // Not the pinned certificate, or, without a pin, one the usual trust refuses.
            _ if message.contains(super::pin::MISMATCH) || message.contains("certificate") => "fingerprint",
            _ => "url",
        };
        Err(Error::param(field, format!("can't connect to {} API at {}: {message}", self.service(), self.url)))
    }

    /// "NetBox" of "NetBox IPAM 'nb'".
    fn service(&self) -> &str {
        self.name.split(" '").next().unwrap_or(&self.name).trim_end_matches(" IPAM")
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
        // A request authenticated on cached access records confirms them first: what this
        // call changes can't be taken back by the guarded commit that would refuse it.
        crate::auth::guard::before_outside_call().map_err(|error| Failure { status: None, error })?;
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.url))
            .header("Content-Type", "application/json; charset=UTF-8")
            .header(self.auth.0, &self.auth.1);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let name = &self.name;
        let unreachable = |err: reqwest::Error| {
            let text = chain(&err);
            let what = match text.find(super::pin::MISMATCH) {
                // The pinned certificate is not the server's: said first, without the layers.
                Some(at) => text[at..].to_string(),
                None if err.is_timeout() => format!("timed out after {:?}", timeout()),
                None => text,
            };
            Failure::new(None, Error::Unavailable(format!("{name} ({method} {path}): {what}")))
        };
        // Seconds, at worst: not on the runtime's worker (where reqwest's runtime can't run).
        let (status, raw) = crate::blocking::off_worker(|| {
            let response = request.send().map_err(unreachable)?;
            let status = response.status();
            let mut raw = Vec::new();
            response
                .take(MAX_ANSWER)
                .read_to_end(&mut raw)
                .map_err(|err| Failure::new(None, Error::Unavailable(format!("{name} ({method} {path}): reading the answer: {err}"))))?;
            Ok((status, raw))
        })?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<Value>(&raw)
                .ok()
                .map(|v| {
                    ["detail", "message", "error"]
                        .iter()
                        .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&raw[..raw.len().min(500)]).into_owned());
            let message = format!("{name} ({method} {path}): invalid response from server: {status}: {detail}");
            let error = if status.is_server_error() { Error::Unavailable(message) } else { Error::Conflict(message) };
            return Err(Failure::new(Some(status.as_u16()), error));
        }
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&raw).map_err(|err| {
            Failure::new(None, Error::Unavailable(format!("{name} ({method} {path}): unreadable answer: {err}")))
        })
    }
}

/// A failed call: the error, and the status the service answered, if it answered.
struct Failure {
    status: Option<u16>,
    error: Error,
}

impl Failure {
    fn new(status: Option<u16>, error: Error) -> Failure {
        Failure { status, error }
    }
}

/// An error's text with its causes.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

/// `err` with what was being done in front of its message, its status kept.
pub fn context(err: Error, what: &str) -> Error {
    match err {
        Error::Unavailable(m) => Error::Unavailable(format!("{what}: {m}")),
        Error::Conflict(m) => Error::Conflict(format!("{what}: {m}")),
        Error::NotFound(m) => Error::NotFound(format!("{what}: {m}")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_is_seconds_from_1_to_600() {
        assert_eq!(parse_timeout("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_timeout(" 2.5 "), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_timeout("600"), Ok(Duration::from_secs(600)));
        for bad in ["0", "0.5", "601", "-3", "ten", "", "NaN", "inf"] {
            let err = parse_timeout(bad).unwrap_err();
            assert!(err.contains("from 1 to 600"), "{bad}: {err}");
        }
    }
}
