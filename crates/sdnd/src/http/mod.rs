//! HTTPS front: TLS, the two API prefixes, parameter decoding, authentication and dispatch.

pub mod credentials;
pub mod openapi;
pub mod params;
pub mod reply;
pub mod router;
pub mod shape;
pub mod tls;
pub mod ui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::app::App;
use crate::auth::{Caller, Permission};
use params::{Args, MAX_BODY_BYTES};
use crate::error::Error;
use reply::{render, Body, Format};
use router::{Lookup, Route, Router};

/// What one connection may cost before and while it is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time for a request's headers to arrive (also the longest idle wait between requests).
    pub header_timeout: Duration,
    /// Time for a request's body to arrive.
    pub body_timeout: Duration,
    /// Connections served at once; more are closed as they arrive.
    pub max_connections: usize,
}

impl Default for Limits {
    /// Generous for a slow client over a WAN; bounded for one that never finishes.
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(),
        }
    }
}

/// Well below the open-file limit, so that the store, the agent and the log keep their files.
fn default_max_connections() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes into the struct it is given.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    let files = if known { usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX) } else { 1024 };
    files.saturating_sub(64).clamp(16, 4096)
}

/// How long the answer to a failed login is held back.
const FAILED_LOGIN_DELAY: Duration = Duration::from_millis(400);

/// The router and the limits every connection is served with.
struct Frontend {
    router: Router,
    /// The OpenAPI document of `router`, rendered once.
    openapi: Bytes,
    limits: Limits,
    app: Arc<App>,
}

/// Serves the API on `listener` until the process gets SIGINT (blocks; builds its own runtime).
pub fn run(listener: std::net::TcpListener, tls: Arc<rustls::ServerConfig>, app: Arc<App>, limits: Limits) -> Result<(), String> {
    run_until(listener, tls, app, limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Serves the API on `listener` until `stop` completes (blocks; builds its own runtime).
pub fn run_until(
    listener: std::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Arc<App>,
    limits: Limits,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    // One worker per CPU, and at least two (a request's work steps off its worker for the
    // time it runs: see `crate::blocking`).
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(async move {
        listener.set_nonblocking(true).map_err(|e| format!("listening: {e}"))?;
        let listener = TcpListener::from_std(listener).map_err(|e| format!("listening: {e}"))?;
        let router = Router::new(crate::api::routes());
        let openapi = Bytes::from(openapi::document(router.routes()).to_string());
        let front = Arc::new(Frontend { router, openapi, limits, app });
        tokio::select! {
            () = serve(listener, tls, front) => Ok(()),
            () = stop => Ok(()),
        }
    })
}

/// At most one line per this interval about refused connections or failed accepts.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Says `what` at most once per [`LOG_INTERVAL`], with how often it happened since.
struct RateLimitedLog {
    last: Option<tokio::time::Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    fn new() -> Self {
        RateLimitedLog { last: None, suppressed: 0 }
    }

    fn warn(&mut self, what: impl FnOnce() -> String) {
        let now = tokio::time::Instant::now();
        if self.last.is_some_and(|last| now.duration_since(last) < LOG_INTERVAL) {
            self.suppressed += 1;
            return;
        }
        let again = std::mem::take(&mut self.suppressed);
        let message = what();
        if again > 0 {
            tracing::warn!("{message} ({again} more times in the last {}s)", LOG_INTERVAL.as_secs());
        } else {
            tracing::warn!("{message}");
        }
        self.last = Some(now);
    }
}

async fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, front: Arc<Frontend>) {
    let acceptor = TlsAcceptor::from(tls);
    let slots = Arc::new(tokio::sync::Semaphore::new(front.limits.max_connections));
    let mut refused_log = RateLimitedLog::new();
    let mut accept_log = RateLimitedLog::new();
    let mut backoff = Duration::from_millis(10);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => {
                backoff = Duration::from_millis(10);
                conn
            }
            Err(err) => {
                // Out of file descriptors, most likely: wait longer each time instead of
                // spinning, and say so once in a while.
                accept_log.warn(|| format!("accept failed: {err}; retrying in {} ms", backoff.as_millis()));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused_log.warn(|| {
                format!(
                    "connection limit reached ({} open): closing new connections (latest from {peer}) until some end",
                    front.limits.max_connections
                )
            });
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let front = front.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let handshake = tokio::time::timeout(front.limits.handshake_timeout, acceptor.accept(stream)).await;
            let tls_stream = match handshake {
                Ok(Ok(s)) => s,
                Ok(Err(err)) => {
                    tracing::debug!("TLS handshake with {peer} failed: {err}");
                    return;
                }
                Err(_) => return,
            };
            let service_front = front.clone();
            let service = hyper::service::service_fn(move |req| {
                let front = service_front.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&front, peer, req).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(front.limits.header_timeout);
            if let Err(err) = builder.serve_connection(TokioIo::new(tls_stream), service).await {
                tracing::debug!("connection from {peer} ended: {err}");
            }
        });
    }
}

/// What the access log and the metrics learn about a request while it is served.
struct RequestInfo {
    /// The route's path template (bounded, unlike the path itself).
    template: &'static str,
    /// Who asked, once authenticated.
    user: Option<String>,
}

async fn handle(front: &Frontend, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    // The path only: a query may carry parameters that are nobody's business in a log.
    let path = req.uri().path().to_string();
    // A request answered before its body was read to the end leaves unread bytes on the
    // connection: tell the client not to reuse it, or its next request there fails.
    let has_body = !hyper::body::Body::is_end_stream(req.body());
    let mut body_read = false;
    let mut info = RequestInfo { template: crate::metrics::UNMATCHED, user: None };
    let mut response = respond(front, peer, req, &mut body_read, &mut info).await;
    if has_body && !body_read {
        response
            .headers_mut()
            .insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
    }
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    front.app.metrics.request(method.as_str(), info.template, status, elapsed);
    tracing::info!(
        target: "sdnd::access",
        user = %info.user.as_deref().unwrap_or("-"),
        method = %method,
        path = %path.escape_debug(),
        status,
        duration_ms = format_args!("{:.3}", elapsed.as_secs_f64() * 1000.0),
        peer = %peer,
        "request"
    );
    response
}

async fn respond(
    front: &Frontend,
    peer: SocketAddr,
    req: Request<Incoming>,
    body_read: &mut bool,
    info: &mut RequestInfo,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    if path == crate::metrics::PATH {
        info.template = crate::metrics::PATH;
        return metrics(front, peer, &req).await;
    }
    if path == openapi::PATH {
        info.template = openapi::PATH;
        // The API's description is public, like the API's paths themselves.
        return match *req.method() {
            Method::GET => reply::json(front.openapi.clone()),
            ref method => render(Format::Json, Err(Error::NotImplemented(format!("Method '{method} {path}' not implemented")))),
        };
    }
    let (format, rest) = if let Some(rest) = path.strip_prefix("/api2/json") {
        (Format::Json, rest)
    } else if let Some(rest) = path.strip_prefix("/api2/extjs") {
        (Format::Extjs, rest)
    } else {
        if matches!(*req.method(), Method::GET | Method::HEAD) {
            if let Some(page) = ui::serve(&path, req.method() == Method::HEAD) {
                info.template = "ui";
                return page;
            }
        }
        return render(Format::Json, Err(Error::NotFound(format!("no such path '{path}' (the API lives under /api2/json)"))));
    };
    if !rest.is_empty() && !rest.starts_with('/') {
        return render(format, Err(Error::NotFound(format!("no such path '{path}'"))));
    }
    let outcome = dispatch(front, peer, req, rest.to_string(), body_read, info).await;
    if matches!(outcome, Err(Error::LoginFailed(_))) {
        // Slows guessing down; an async timer, so no thread waits with it.
        tokio::time::sleep(FAILED_LOGIN_DELAY).await;
    }
    render(format, outcome)
}

async fn dispatch(
    front: &Frontend,
    peer: SocketAddr,
    req: Request<Incoming>,
    path: String,
    body_read: &mut bool,
    info: &mut RequestInfo,
) -> Result<Value, Error> {
    let app = &front.app;
    let method = req.method().clone();
    let decoded: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| decode_segment(s).ok_or_else(|| Error::NotFound(format!("malformed path '{path}' (not UTF-8 once decoded)"))))
        .collect::<Result<_, _>>()?;
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let (route, captured) = match front.router.lookup(&method, &segments) {
        Lookup::Found(route, captured) => {
            info.template = route.pattern;
            (route, captured)
        }
        // PVE answers both with 501, so a client can tell "this server lacks that" apart.
        Lookup::NotFound | Lookup::WrongMethod => {
            return Err(Error::NotImplemented(format!("Method '{method} {path}' not implemented")))
        }
    };

    // Who is asking comes first, from the headers alone: a caller we don't know costs no body
    // read and learns nothing from the parameters' details.
    let credentials = credentials::from_headers(req.headers());
    let safe_method = matches!(method, Method::GET | Method::HEAD);
    let permission = route.permission;
    // A write may be authenticated on the access records as last read, a read on them as
    // found current a moment ago (no store read): the request then runs armed with their
    // generation (see `auth::guard`).
    let cached = match permission {
        Permission::Public => None,
        _ if safe_method => app.auth.authenticate_recent(&credentials, peer),
        _ => app.auth.authenticate_cached(&credentials, safe_method, peer),
    };
    let (caller, armed) = match (permission, cached) {
        (Permission::Public, _) => (app.auth.nobody(), None),
        (_, Some((caller, generation))) => (caller, Some(generation)),
        (_, None) => (crate::blocking::off_worker(|| app.auth.authenticate(&credentials, safe_method, peer))?, None),
    };
    let auth_id = caller.auth_id();
    info.user = Some(auth_id.clone());

    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = read_body(req.into_body(), front.limits.body_timeout).await?;
    *body_read = true;
    let (values, malformed) = decode_params(&method, &query, &content_type, &body, captured);

    // Then the privilege (on what could be decoded: a template naming a missing parameter
    // resolves to a path nobody but the superuser holds), and only then the details.
    let handler = &route.handler;
    let route_params = Declared::of(route);
    // Whatever the handler logs (every change is logged at info) names who asked.
    let span = tracing::info_span!("request", user = %auth_id);
    crate::blocking::off_worker(move || {
        let _span = span.enter();
        if let Some(generation) = armed.filter(|_| malformed.is_none()) {
            let store = app.store.clone();
            let work = || checked(app, &caller, permission, &route_params, handler, values.clone(), None, peer);
            let answer = if safe_method {
                crate::auth::guard::run_armed_read(store, generation, work)
            } else {
                crate::auth::guard::run_armed(store, generation, work)
            };
            if let Some(answer) = answer {
                return answer;
            }
            // The access records changed under the request, and nothing of it was written:
            // it runs again, authenticated on a fresh read.
            let caller = app.auth.authenticate(&credentials, safe_method, peer)?;
            return checked(app, &caller, permission, &route_params, handler, values, None, peer);
        }
        if armed.is_some() {
            // Malformed parameters: answered on a fresh authentication, as without the cache.
            let caller = app.auth.authenticate(&credentials, safe_method, peer)?;
            return checked(app, &caller, permission, &route_params, handler, values, malformed, peer);
        }
        checked(app, &caller, permission, &route_params, handler, values, malformed, peer)
    })
}

/// Runs `route`'s handler for `caller` on decoded parameters, with the same checks as a
/// request to it: a change set's steps go through here.
pub fn run_route(app: &App, caller: &Caller, route: &Route, values: Map<String, Value>, peer: SocketAddr) -> Result<Value, Error> {
    let route_params = Declared::of(route);
    checked(app, caller, route.permission, &route_params, &route.handler, values, None, peer)
}

/// The privilege (on what could be decoded), then the parameters' shape, then the handler.
#[allow(clippy::too_many_arguments)]
fn checked(
    app: &App,
    caller: &Caller,
    permission: Permission,
    route_params: &Declared,
    handler: &router::Handler,
    values: Map<String, Value>,
    malformed: Option<Error>,
    peer: SocketAddr,
) -> Result<Value, Error> {
    app.auth.authorize(caller, permission, &values)?;
    if let Some(err) = malformed {
        return Err(err);
    }
    undeclared(route_params, &values)?;
    let mut args = Args::new(values);
    args.set_peer(peer);
    handler(app, caller, args)
}

/// `GET /metrics`: for a scraper on this host (loopback) or one that sends the configured
/// bearer token; anyone else is refused without learning anything.
async fn metrics(front: &Frontend, peer: SocketAddr, req: &Request<Incoming>) -> Response<Body> {
    let text_response = |status: hyper::StatusCode, body: String| {
        let mut response = Response::new(Body::new(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        response
    };
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return text_response(hyper::StatusCode::METHOD_NOT_ALLOWED, "only GET is served at /metrics\n".into());
    }
    let authorization = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if !peer.ip().to_canonical().is_loopback() && !front.app.metrics.token_matches(authorization) {
        return text_response(
            hyper::StatusCode::UNAUTHORIZED,
            "the metrics are served to loopback clients and to clients sending 'Authorization: Bearer TOKEN' \
             with the token of --metrics-token-file\n"
                .into(),
        );
    }
    let app = front.app.clone();
    match tokio::task::spawn_blocking(move || crate::metrics::render(&app)).await {
        Ok(text) if req.method() == Method::HEAD => {
            let mut response = text_response(hyper::StatusCode::OK, String::new());
            response.headers_mut().insert(hyper::header::CONTENT_LENGTH, text.len().into());
            response
        }
        Ok(text) => text_response(hyper::StatusCode::OK, text),
        Err(err) => text_response(hyper::StatusCode::INTERNAL_SERVER_ERROR, format!("rendering the metrics failed: {err}\n")),
    }
}

/// Refuses every parameter the route does not declare, as PVE's schema check does, before
/// the handler runs: a handler can only read what the document describes.
/// A route's parameter names, and the longest value each string parameter may have (as its
/// schema declares it to clients).
struct Declared {
    names: Vec<&'static str>,
    max_lengths: Vec<(&'static str, usize)>,
}

impl Declared {
    fn of(route: &Route) -> Self {
        let names = route.params.iter().map(|p| p.name).collect();
        let max_lengths = route
            .params
            .iter()
            .filter_map(|p| match p.schema {
                shape::Schema::String { max_length: Some(max), .. } => Some((p.name, max)),
                _ => None,
            })
            .collect();
        Self { names, max_lengths }
    }
}

/// Refuses parameters the route does not declare, and string values longer than declared.
fn undeclared(declared: &Declared, values: &Map<String, Value>) -> Result<(), Error> {
    let mut unknown: std::collections::BTreeMap<String, String> = values
        .keys()
        .filter(|name| !declared.names.contains(&name.as_str()))
        .map(|name| (name.clone(), params::NOT_IN_SCHEMA.to_string()))
        .collect();
    for &(name, max) in &declared.max_lengths {
        let too_long = match values.get(name) {
            Some(Value::String(text)) => text.chars().count() > max,
            Some(Value::Array(items)) => items.iter().any(|v| v.as_str().is_some_and(|t| t.chars().count() > max)),
            _ => false,
        };
        if too_long {
            unknown.insert(name.to_string(), format!("value may not be longer than {max} characters"));
        }
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Error::BadParams(unknown))
    }
}

/// The request's parameters from the query, the body and the path, and the first reason they
/// are malformed (kept, not returned, so that it is told only to a caller who may know).
fn decode_params(
    method: &Method,
    query: &str,
    content_type: &str,
    body: &[u8],
    captured: Map<String, Value>,
) -> (Map<String, Value>, Option<Error>) {
    let mut values = Map::new();
    let mut decoded = params::decode_form(query.as_bytes(), &mut values);
    if decoded.is_ok() && (method == Method::POST || method == Method::PUT) {
        decoded = if content_type.starts_with("application/json") {
            params::decode_json(body, &mut values)
        } else {
            params::decode_form(body, &mut values)
        };
    }
    let mut malformed = decoded.err();
    for (name, value) in captured {
        match values.get(&name) {
            Some(given) if given != &value => {
                malformed.get_or_insert_with(|| Error::param(&name, "the value in the path and the parameter differ"));
            }
            _ => {}
        }
        // The path's value is the one that counts, also for the privilege check.
        values.insert(name, value);
    }
    (values, malformed)
}

/// The whole body, at most [`MAX_BODY_BYTES`] within `timeout`.
async fn read_body(body: Incoming, timeout: std::time::Duration) -> Result<Bytes, Error> {
    let collected = tokio::time::timeout(timeout, Limited::new(body, MAX_BODY_BYTES).collect()).await;
    let Ok(collected) = collected else {
        return Err(Error::param("body", format!("the request body did not arrive within {}s", timeout.as_secs())));
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(Error::param(
            "body",
            format!("request body too large (at most {MAX_BODY_BYTES} bytes)"),
        )),
        Err(err) => Err(Error::param("body", format!("could not read the request body: {err}"))),
    }
}

/// One path segment with its `%XX` escapes decoded (clients like PDM encode every byte
/// outside the unreserved set); `None` if the result is not UTF-8.
pub(crate) fn decode_segment(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment).decode_utf8().ok().map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::decode_segment as decode;

    #[test]
    fn path_segments_decode_like_pve_clients_encode_them() {
        assert_eq!(decode("10.0.0.0%2F24").as_deref(), Some("10.0.0.0/24"));
        assert_eq!(decode("UPID%3An1%3A0").as_deref(), Some("UPID:n1:0"));
        assert_eq!(decode("lock%2Dtoken").as_deref(), Some("lock-token"));
        assert_eq!(decode("%ff"), None);
        assert_eq!(decode("trailing%2").as_deref(), Some("trailing%2"));
    }
}
