//! A blocking client for one PVE-compatible API endpoint: pvesh-style calls plus typed helpers
//! for the SDN lock, apply, rollback and tasks.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::remotes::Remote;

/// The four pvesh verbs and the HTTP methods they map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `get` → GET
    Get,
    /// `create` → POST
    Create,
    /// `set` → PUT
    Set,
    /// `delete` → DELETE
    Delete,
}

impl Method {
    pub(crate) fn http(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Create => reqwest::Method::POST,
            Method::Set => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        }
    }

    /// The pvesh verb, as typed on the command line and in change sets.
    pub fn verb(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Create => "create",
            Method::Set => "set",
            Method::Delete => "delete",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.verb())
    }
}

/// An API path below `/api2/json`, e.g. `/cluster/sdn/vnets/v100`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiPath(String);

impl ApiPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ApiPath {
    type Err = String;

    /// Accepts `/a/b` (a leading `/api2/json` is dropped, a trailing `/` too).
    fn from_str(text: &str) -> Result<Self, String> {
        let path = text.strip_prefix("/api2/json").unwrap_or(text);
        let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
        if !path.starts_with('/') {
            return Err(format!("'{text}' is not an API path: it must start with '/', like /cluster/sdn/vnets"));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '%' | '\\')) {
            return Err(format!("'{text}' is not an API path: no spaces, '?', '#', '%' or '\\'; pass parameters as --NAME VALUE"));
        }
        if path.split('/').any(|segment| segment == "." || segment == "..") {
            return Err(format!("'{text}' is not an API path: no '.' or '..' segments"));
        }
        Ok(ApiPath(path.to_string()))
    }
}

impl fmt::Display for ApiPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Request parameters in order; a name may repeat (e.g. `dhcp-range`).
pub type Params = Vec<(String, String)>;

pub use sdn_wire::{LockStatus, LockToken, Upid};

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// No answer: connection refused, timeout, TLS or fingerprint failure. Whether the server
    /// acted on the request is unknown.
    #[error("{remote}: cannot reach {url}: {message}")]
    Unreachable {
        remote: String,
        url: String,
        message: String,
        /// The connection (or its TLS handshake) failed: the request was never sent.
        nothing_sent: bool,
    },
    /// The server answered with an error status.
    #[error("{remote}: {}", refused_text(*.status, .message, .errors))]
    Refused { remote: String, status: u16, message: String, errors: BTreeMap<String, String> },
    /// The server answered with something that is not the PVE API.
    #[error("{remote}: unexpected answer: {message}")]
    Protocol { remote: String, message: String },
    /// A followed task had not stopped when the wait ended (it goes on on the server).
    #[error("{remote}: task still running after {seconds} s: {upid}")]
    StillRunning { remote: String, upid: String, seconds: u64 },
}

fn refused_text(status: u16, message: &str, errors: &BTreeMap<String, String>) -> String {
    let mut text = format!("{status} {message}");
    for (param, why) in errors {
        text.push_str(&format!(" {param}: {why};"));
    }
    text.trim_end_matches(';').to_string()
}

impl ClientError {
    /// HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the request never left: the connection or its TLS handshake failed.
    pub fn nothing_sent(&self) -> bool {
        matches!(self, ClientError::Unreachable { nothing_sent: true, .. })
    }

    /// Whether the outcome is unknown: no answer, or a task that had not finished yet.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. } | ClientError::StillRunning { .. })
    }
}

/// What `POST /cluster/sdn/lock` is asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockOptions {
    /// Lock even if pending changes exist (they become part of what this holder applies).
    pub allow_pending: bool,
    /// Seconds after which the server drops the lock by itself.
    pub ttl: Option<u64>,
    pub comment: Option<String>,
}

/// A task's state as `/nodes/{node}/tasks/{upid}/status` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Running,
    /// `OK` or the error text.
    Stopped(String),
}

/// A client for one remote. Cheap to clone; connections are reused.
#[derive(Clone)]
pub struct Client {
    http: reqwest::blocking::Client,
    remote: Remote,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("remote", &self.remote.name).field("url", &self.remote.url).finish()
    }
}

/// Renders an error with its causes: TLS failures hide the useful part in the source chain.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl Client {
    /// A client for `remote`, trusting its certificate as the remote says.
    pub fn new(remote: &Remote) -> Result<Client, String> {
        Client::with_timeouts(remote, Duration::from_secs(10), Duration::from_secs(60))
    }

    /// A client for `remote` that gives up connecting after `connect` and on any call after
    /// `call` (shell completion must not stall a TAB on a hung server).
    pub fn with_timeouts(remote: &Remote, connect: Duration, call: Duration) -> Result<Client, String> {
        let tls = crate::tls::client_config(remote.trust)?;
        let http = reqwest::blocking::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(connect)
            .timeout(call)
            .build()
            .map_err(|e| format!("{}: HTTP client setup: {}", remote.name, chain(&e)))?;
        Ok(Client { http, remote: remote.clone() })
    }

    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// One API call; returns the `data` of the answer.
    pub fn call(&self, method: Method, path: &ApiPath, params: &[(String, String)]) -> Result<Value, ClientError> {
        let url = self.remote.url.join(path.as_str());
        let request = self.http.request(method.http(), &url).header("Authorization", self.remote.token.header());
        let request = match method {
            Method::Get | Method::Delete => request.query(params),
            Method::Create | Method::Set => request.form(params),
        };
        let remote = self.remote.name.to_string();
        let response = request
            .send()
            .map_err(|e| ClientError::Unreachable { remote: remote.clone(), url: url.clone(), message: chain(&e), nothing_sent: e.is_connect() })?;
        let status = response.status();
        let text = response
            .text()
            .map_err(|e| ClientError::Unreachable { remote: remote.clone(), url: url.clone(), message: chain(&e), nothing_sent: false })?;
        let body: Option<Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            return match body {
                Some(mut body) => Ok(body.get_mut("data").map(Value::take).unwrap_or(Value::Null)),
                None => Err(ClientError::Protocol { remote, message: format!("{url} answered {status} without a JSON body") }),
            };
        }
        let message = body
            .as_ref()
            .and_then(|b| b.get("message"))
            .and_then(Value::as_str)
            .map(|m| m.trim().to_string())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        let errors = body
            .as_ref()
            .and_then(|b| b.get("errors"))
            .and_then(Value::as_object)
            .map(|errors| {
                errors
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), |s| s.trim().to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let message = if status.as_u16() == 400 && message == "Bad Request" { "Parameter verification failed.".into() } else { message };
        Err(ClientError::Refused { remote, status: status.as_u16(), message, errors })
    }

    /// The server's OpenAPI document (`GET /api2/openapi.json`, beside the API root); `None`
    /// when the server has none (PVE itself).
    pub fn openapi(&self) -> Result<Option<Value>, ClientError> {
        let root = self.remote.url.join("");
        let base = root.trim_end_matches('/').trim_end_matches("/api2/json");
        let url = format!("{base}/api2/openapi.json");
        let remote = self.remote.name.to_string();
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            remote: remote.clone(),
            url: url.clone(),
            message: chain(&e),
            nothing_sent: e.is_connect(),
        };
        let response = self.http.get(&url).header("Authorization", self.remote.token.header()).send().map_err(unreachable)?;
        if !response.status().is_success() {
            return Ok(None);
        }
        let text = response.text().map_err(unreachable)?;
        Ok(serde_json::from_str(&text).ok())
    }

    fn fixed(&self, method: Method, path: &str, params: &[(String, String)]) -> Result<Value, ClientError> {
        let path: ApiPath = path.parse().map_err(|message| ClientError::Protocol { remote: self.remote.name.to_string(), message })?;
        self.call(method, &path, params)
    }

    /// `POST /cluster/sdn/lock`.
    pub fn lock(&self, options: &LockOptions) -> Result<LockToken, ClientError> {
        let mut params = vec![("allow-pending".to_string(), bool01(options.allow_pending))];
        if let Some(ttl) = options.ttl {
            params.push(("ttl".into(), ttl.to_string()));
        }
        if let Some(comment) = &options.comment {
            params.push(("comment".into(), comment.clone()));
        }
        match self.fixed(Method::Create, "/cluster/sdn/lock", &params)? {
            Value::String(token) if !token.is_empty() => Ok(LockToken::new(token)),
            other => Err(ClientError::Protocol {
                remote: self.remote.name.to_string(),
                message: format!("the lock call returned {other} instead of a lock token"),
            }),
        }
    }

    /// `DELETE /cluster/sdn/lock`, with the token or forced.
    pub fn unlock(&self, token: Option<&LockToken>, force: bool) -> Result<(), ClientError> {
        let mut params = token_param(token);
        if force {
            params.push(("force".into(), "1".into()));
        }
        self.fixed(Method::Delete, "/cluster/sdn/lock", &params).map(drop)
    }

    /// `GET /cluster/sdn/lock`.
    pub fn lock_status(&self) -> Result<LockStatus, ClientError> {
        let data = self.fixed(Method::Get, "/cluster/sdn/lock", &[])?;
        serde_json::from_value(data).map_err(|err| ClientError::Protocol {
            remote: self.remote.name.to_string(),
            message: format!("lock status: {err}"),
        })
    }

    /// `PUT /cluster/sdn`: apply pending; `release` drops the lock in the same step.
    pub fn apply(&self, token: Option<&LockToken>, release: bool) -> Result<Upid, ClientError> {
        let mut params = token_param(token);
        if token.is_some() {
            params.push(("release-lock".into(), bool01(release)));
        }
        let data = self.fixed(Method::Set, "/cluster/sdn", &params)?;
        let text = data.as_str().unwrap_or_default();
        text.parse().map_err(|message| ClientError::Protocol { remote: self.remote.name.to_string(), message })
    }

    /// `POST /cluster/sdn/rollback`: discard pending; `release` drops the lock in the same step.
    pub fn rollback(&self, token: Option<&LockToken>, release: bool) -> Result<(), ClientError> {
        let mut params = token_param(token);
        if token.is_some() {
            params.push(("release-lock".into(), bool01(release)));
        }
        self.fixed(Method::Create, "/cluster/sdn/rollback", &params).map(drop)
    }

    /// `GET /nodes/{node}/tasks/{upid}/status`.
    pub fn task_state(&self, upid: &Upid) -> Result<TaskState, ClientError> {
        let data = self.fixed(Method::Get, &format!("/nodes/{}/tasks/{}/status", upid.node, upid), &[])?;
        match data.get("status").and_then(Value::as_str) {
            Some("stopped") => {
                Ok(TaskState::Stopped(data.get("exitstatus").and_then(Value::as_str).unwrap_or("unknown").to_string()))
            }
            Some(_) => Ok(TaskState::Running),
            None => Err(ClientError::Protocol {
                remote: self.remote.name.to_string(),
                message: format!("task status without 'status': {data}"),
            }),
        }
    }

    /// `GET /nodes/{node}/tasks/{upid}/log` from line `start` (0-based): `(n, text)` pairs.
    pub fn task_log(&self, upid: &Upid, start: u64) -> Result<Vec<(u64, String)>, ClientError> {
        let params = vec![("start".to_string(), start.to_string()), ("limit".to_string(), "500".to_string())];
        let data = self.fixed(Method::Get, &format!("/nodes/{}/tasks/{}/log", upid.node, upid), &params)?;
        Ok(data
            .as_array()
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| Some((l.get("n")?.as_u64()?, l.get("t")?.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Polls a task until it stops or `timeout` passes, handing each new log line to `on_line`;
    /// returns the exit status (`OK` or the error).
    pub fn wait_task(
        &self,
        upid: &Upid,
        timeout: Duration,
        mut on_line: impl FnMut(&str),
    ) -> Result<String, ClientError> {
        let deadline = Instant::now() + timeout;
        let mut seen = 0u64;
        let mut delay = Duration::from_millis(20);
        loop {
            let state = self.task_state(upid)?;
            for (n, line) in self.task_log(upid, seen)? {
                seen = seen.max(n);
                if !line.starts_with("TASK ") {
                    on_line(&line);
                }
            }
            if let TaskState::Stopped(exit) = state {
                return Ok(exit);
            }
            if Instant::now() >= deadline {
                return Err(ClientError::StillRunning {
                    remote: self.remote.name.to_string(),
                    upid: upid.to_string(),
                    seconds: timeout.as_secs(),
                });
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }
}

fn token_param(token: Option<&LockToken>) -> Params {
    token.map(|t| vec![("lock-token".to_string(), t.as_str().to_string())]).unwrap_or_default()
}

fn bool01(value: bool) -> String {
    if value { "1" } else { "0" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths() {
        assert_eq!("/cluster/sdn/vnets/".parse::<ApiPath>().unwrap().as_str(), "/cluster/sdn/vnets");
        assert_eq!("/api2/json/cluster/sdn".parse::<ApiPath>().unwrap().as_str(), "/cluster/sdn");
        assert_eq!("/".parse::<ApiPath>().unwrap().as_str(), "/");
        for bad in ["cluster/sdn", "/a b", "/a?x=1", "/a/../b", ""] {
            assert!(bad.parse::<ApiPath>().is_err(), "{bad}");
        }
    }

    #[test]
    fn refusal_text_names_params() {
        let err = ClientError::Refused {
            remote: "a".into(),
            status: 400,
            message: "Parameter verification failed.".into(),
            errors: BTreeMap::from([("tag".to_string(), "value must be at least 1".to_string())]),
        };
        assert_eq!(err.to_string(), "a: 400 Parameter verification failed. tag: value must be at least 1");
        assert_eq!(err.status(), Some(400));
    }
}
