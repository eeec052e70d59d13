//! HTTPS front: TLS, the two API prefixes, parameter decoding, authentication and dispatch.

pub mod credentials;
pub mod params;
pub mod reply;
pub mod router;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::app::App;
use crate::auth::Permission;
use params::{Args, MAX_BODY_BYTES};
use crate::error::Error;
use reply::{render, Body, Format};
use router::{Lookup, Router};

/// Serves the API on `listener` until the process gets SIGINT (blocks; builds its own runtime).
pub fn run(listener: std::net::TcpListener, tls: Arc<rustls::ServerConfig>, app: Arc<App>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(async move {
        listener.set_nonblocking(true).map_err(|e| format!("listening: {e}"))?;
        let listener = TcpListener::from_std(listener).map_err(|e| format!("listening: {e}"))?;
        let router = Arc::new(Router::new(crate::api::routes()));
        tokio::select! {
            () = serve(listener, tls, app, router) => Ok(()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

/// Serves the API on `listener` until the runtime ends.
pub async fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, app: Arc<App>, router: Arc<Router>) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!("accept failed: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let tls_stream = match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(err)) => {
                    tracing::debug!("TLS handshake with {peer} failed: {err}");
                    return;
                }
                Err(_) => return,
            };
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                let router = router.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(app, router, peer, req).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(err) = builder.serve_connection(TokioIo::new(tls_stream), service).await {
                tracing::debug!("connection from {peer} ended: {err}");
            }
        });
    }
}

async fn handle(app: Arc<App>, router: Arc<Router>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    // A request answered before its body was read to the end leaves unread bytes on the
    // connection: tell the client not to reuse it, or its next request there fails.
    let has_body = !hyper::body::Body::is_end_stream(req.body());
    let mut body_read = false;
    let mut response = respond(app, router, peer, req, &mut body_read).await;
    if has_body && !body_read {
        response
            .headers_mut()
            .insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
    }
    response
}

async fn respond(
    app: Arc<App>,
    router: Arc<Router>,
    peer: SocketAddr,
    req: Request<Incoming>,
    body_read: &mut bool,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let (format, rest) = if let Some(rest) = path.strip_prefix("/api2/json") {
        (Format::Json, rest)
    } else if let Some(rest) = path.strip_prefix("/api2/extjs") {
        (Format::Extjs, rest)
    } else {
        return render(Format::Json, Err(Error::NotFound(format!("no such path '{path}' (the API lives under /api2/json)"))));
    };
    if !rest.is_empty() && !rest.starts_with('/') {
        return render(format, Err(Error::NotFound(format!("no such path '{path}'"))));
    }
    let outcome = dispatch(&app, &router, peer, req, rest.to_string(), body_read).await;
    render(format, outcome)
}

async fn dispatch(
    app: &Arc<App>,
    router: &Arc<Router>,
    peer: SocketAddr,
    req: Request<Incoming>,
    path: String,
    body_read: &mut bool,
) -> Result<Value, Error> {
    let method = req.method().clone();
    let decoded: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| decode_segment(s).ok_or_else(|| Error::NotFound(format!("malformed path '{path}' (not UTF-8 once decoded)"))))
        .collect::<Result<_, _>>()?;
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let (route, captured) = match router.lookup(&method, &segments) {
        Lookup::Found(route, captured) => (route, captured),
        // PVE answers both with 501, so a client can tell "this server lacks that" apart.
        Lookup::NotFound | Lookup::WrongMethod => {
            return Err(Error::NotImplemented(format!("Method '{method} {path}' not implemented")))
        }
    };

    let credentials = credentials::from_headers(req.headers());
    let safe_method = matches!(method, Method::GET | Method::HEAD);
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = read_body(req.into_body()).await?;
    *body_read = true;

    let mut values = Map::new();
    params::decode_form(query.as_bytes(), &mut values)?;
    if method == Method::POST || method == Method::PUT {
        if content_type.starts_with("application/json") {
            params::decode_json(&body, &mut values)?;
        } else {
            params::decode_form(&body, &mut values)?;
        }
    }
    for (name, value) in captured {
        match values.get(&name) {
            Some(given) if given != &value => {
                return Err(Error::param(&name, "the value in the path and the parameter differ"));
            }
            _ => {
                values.insert(name, value);
            }
        }
    }

    let app = app.clone();
    let handler = route.handler.clone();
    let permission = route.permission;
    tokio::task::spawn_blocking(move || {
        let caller = match permission {
            Permission::Public => app.auth.nobody(),
            _ => app.auth.authenticate(&credentials, safe_method, peer)?,
        };
        app.auth.authorize(&caller, permission, &values)?;
        let mut args = Args::new(values);
        args.set_peer(peer);
        handler(&app, &caller, args)
    })
    .await
    .map_err(|err| Error::Internal(format!("request handler failed: {err}")))?
}

async fn read_body(body: Incoming) -> Result<Bytes, Error> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
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
fn decode_segment(segment: &str) -> Option<String> {
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
