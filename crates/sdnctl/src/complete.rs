//! Shell completion of what only a server knows: API paths (from its OpenAPI document, cached
//! under `$XDG_CACHE_HOME/sdnctl` or `~/.cache/sdnctl`), remote names (from the remotes file) and
//! the parameter names of a path.
//!
//! The binary hangs these on its arguments with clap_complete's `ArgValueCompleter`; a
//! completer only sees the word being completed, so the rest of the line (the verb, the path,
//! `--remote`, `--remotes-file`) is read from the words the shell passed after `--`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::apidoc::ApiDoc;
use crate::client::{ApiPath, Client, Method};
use crate::remotes::Remotes;

/// How long a cached OpenAPI document is used before it is fetched again.
pub const CACHE_MAX_AGE: Duration = Duration::from_secs(3600);

/// How long completion waits for a server, per request.
pub const COMPLETION_TIMEOUT: Duration = Duration::from_secs(2);

/// One completion: the word and a short description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub value: String,
    pub help: String,
}

impl Candidate {
    fn new(value: impl Into<String>, help: impl Into<String>) -> Self {
        Candidate {
            value: value.into(),
            help: help.into(),
        }
    }
}

/// The words of the command line being completed (binary name left out), as the shell
/// passed them after `--` in completion mode.
#[derive(Debug, Clone, Default)]
pub struct Line {
    pub words: Vec<String>,
}

impl Line {
    /// The line of the running completion request.
    pub fn current() -> Line {
        Line::from_args(std::env::args_os().collect())
    }

    pub fn from_args(args: Vec<OsString>) -> Line {
        let words: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let start = words
            .iter()
            .position(|w| w == "--")
            .map_or(words.len(), |i| i + 2);
        Line {
            words: words.into_iter().skip(start).collect(),
        }
    }

    /// The value of a global `--NAME VALUE` / `--NAME=VALUE` anywhere on the line.
    fn flag(&self, names: &[&str]) -> Option<String> {
        let mut iter = self.words.iter();
        while let Some(word) = iter.next() {
            for name in names {
                if let Some(value) = word.strip_prefix(&format!("--{name}=")) {
                    return Some(value.to_string());
                }
                if word == &format!("--{name}") {
                    return iter.next().cloned();
                }
            }
        }
        None
    }

    /// The pvesh verb and the API path after it (`get /cluster/sdn/vnets ...`).
    fn call(&self) -> Option<(Method, String)> {
        let at = self
            .words
            .iter()
            .position(|w| matches!(w.as_str(), "get" | "set" | "create" | "delete"))?;
        let method = match self.words[at].as_str() {
            "get" => Method::Get,
            "set" => Method::Set,
            "create" => Method::Create,
            _ => Method::Delete,
        };
        let path = self.words.get(at + 1).filter(|p| p.starts_with('/'))?;
        Some((method, path.clone()))
    }

    /// The parameters already given to the call.
    fn given(&self) -> Vec<String> {
        self.words
            .iter()
            .filter_map(|w| w.strip_prefix("--"))
            .map(|w| w.split('=').next().unwrap_or(w).to_string())
            .collect()
    }

    fn remotes(&self) -> Option<Remotes> {
        let path = self.flag(&["remotes-file"]).map(PathBuf::from).or_else(|| {
            // Before the subcommand, `--remotes FILE` names the file too.
            let first_command = self.words.iter().position(|w| !w.starts_with('-'));
            let remotes = self.words.iter().position(|w| w == "--remotes")?;
            (Some(remotes) < first_command)
                .then(|| self.words.get(remotes + 1).map(PathBuf::from))
                .flatten()
        });
        let path = path.or_else(Remotes::default_path)?;
        Remotes::load(&path).ok()
    }

    fn client(&self) -> Option<Client> {
        let remotes = self.remotes()?;
        let remote = remotes.pick(self.flag(&["remote"]).as_deref(), "").ok()?;
        // A hung server costs a TAB at most this long; the cached document still completes.
        Client::with_timeouts(remote, COMPLETION_TIMEOUT, COMPLETION_TIMEOUT).ok()
    }
}

/// The cache directory: `$XDG_CACHE_HOME/sdnctl`, else `~/.cache/sdnctl`.
pub fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("sdnctl"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The OpenAPI document of `client`'s remote: the cached one while it is fresh and for the same
/// url, else fetched (and cached); a stale cached one when the server can't be reached.
pub fn openapi(client: &Client, dir: Option<&Path>) -> Option<ApiDoc> {
    let cached = read_cache(client, dir);
    if let Some((fetched, doc)) = &cached {
        if now().saturating_sub(*fetched) < CACHE_MAX_AGE.as_secs() {
            return Some(ApiDoc::new(doc.clone()));
        }
    }
    match fetch_openapi(client, dir) {
        Ok(Some(doc)) => Some(ApiDoc::new(doc)),
        _ => cached.map(|(_, doc)| ApiDoc::new(doc)),
    }
}

/// The cached OpenAPI document of `client`'s remote if it is fresh and for the same url, without
/// asking the server.
pub fn fresh_openapi(client: &Client, dir: Option<&Path>) -> Option<ApiDoc> {
    let (fetched, doc) = read_cache(client, dir)?;
    (now().saturating_sub(fetched) < CACHE_MAX_AGE.as_secs()).then(|| ApiDoc::new(doc))
}

/// The server's OpenAPI document (`None`: it publishes none), fetched now and cached.
pub fn fetch_openapi(client: &Client, dir: Option<&Path>) -> Result<Option<Value>, crate::client::ClientError> {
    let doc = client.openapi()?;
    if let (Some(doc), Some(dir)) = (&doc, dir) {
        let file = cache_file(client, dir);
        let entry = json!({"url": client.remote().url.join(""), "fetched": now(), "doc": doc});
        // A name of this process's own: several sdnctl may refresh the same remote at once.
        let temp = file.with_extension(format!("tmp.{}", std::process::id()));
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&temp, entry.to_string()))
            .and_then(|()| std::fs::rename(&temp, &file));
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
    }
    Ok(doc)
}

fn cache_file(client: &Client, dir: &Path) -> PathBuf {
    dir.join(format!("openapi-{}.json", client.remote().name.as_str()))
}

/// The cached document for `client`'s remote and when it was fetched, if it is for its url.
fn read_cache(client: &Client, dir: Option<&Path>) -> Option<(u64, Value)> {
    let text = std::fs::read_to_string(cache_file(client, dir?)).ok()?;
    let mut cached: Value = serde_json::from_str(&text).ok()?;
    if cached["url"] != client.remote().url.join("").as_str() {
        return None;
    }
    Some((cached["fetched"].as_u64().unwrap_or(0), cached["doc"].take()))
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn placeholder(segment: &str) -> Option<&str> {
    segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
}

/// The API paths extending `current` by one segment: literal ones from the document, and for
/// a placeholder the objects `list` names (a GET of the parent path).
pub fn paths(doc: &ApiDoc, current: &str, list: &dyn Fn(&str) -> Vec<Value>) -> Vec<Candidate> {
    let current = if current.is_empty() { "/" } else { current };
    let (parent, partial) = current.rsplit_once('/').unwrap_or(("", current));
    let have = segments(parent);
    let mut literal = Vec::new();
    let mut keys = Vec::new();
    for template in doc.templates() {
        let t = segments(template);
        if t.len() <= have.len()
            || !t
                .iter()
                .zip(&have)
                .all(|(t, h)| placeholder(t).is_some() || t == h)
        {
            continue;
        }
        let next = t[have.len()];
        match placeholder(next) {
            Some(key) => keys.push(key.to_string()),
            None => literal.push(next.to_string()),
        }
    }
    literal.sort();
    literal.dedup();
    keys.sort();
    keys.dedup();
    let mut out: Vec<Candidate> = literal
        .into_iter()
        .map(|s| Candidate::new(format!("{parent}/{s}"), ""))
        .collect();
    if !keys.is_empty() {
        for item in list(if parent.is_empty() { "/" } else { parent }) {
            let id = keys
                .iter()
                .chain(["id".to_string()].iter())
                .find_map(|k| item.get(k).and_then(Value::as_str).map(str::to_string));
            if let Some(id) = id {
                out.push(Candidate::new(
                    format!("{parent}/{id}"),
                    item.get("type").and_then(Value::as_str).unwrap_or(""),
                ));
            }
        }
    }
    out.retain(|c| c.value[parent.len() + 1..].starts_with(partial));
    out.dedup_by(|a, b| a.value == b.value);
    out
}

/// The `--NAME` parameters `method` on `path` takes, those already given left out.
pub fn params(
    doc: &ApiDoc,
    method: Method,
    path: &str,
    given: &[String],
    current: &str,
) -> Vec<Candidate> {
    let Some(template) = doc.template(path) else {
        return Vec::new();
    };
    let partial = current.trim_start_matches('-');
    let mut found = doc
        .params(template, method)
        .into_iter()
        .filter(|p| p.name.starts_with(partial) && (!given.contains(&p.name) || p.name == partial))
        .map(|p| {
            Candidate::new(
                format!("--{}", p.name),
                p.description.lines().next().unwrap_or("").to_string(),
            )
        })
        .collect::<Vec<_>>();
    found.sort_by(|a, b| a.value.cmp(&b.value));
    found
}

/// The remote names of the remotes file, for `--remote` (and comma lists of them).
pub fn remote_names(line: &Line, current: &str) -> Vec<Candidate> {
    let Some(remotes) = line.remotes() else {
        return Vec::new();
    };
    remotes
        .remotes
        .values()
        .filter(|r| r.name.as_str().starts_with(current))
        .map(|r| Candidate::new(r.name.as_str(), r.url.join("")))
        .collect()
}

/// Completes an API path argument.
pub fn api_path(line: &Line, current: &str) -> Vec<Candidate> {
    let Some(client) = line.client() else {
        return Vec::new();
    };
    let Some(doc) = openapi(&client, cache_dir().as_deref()) else {
        return Vec::new();
    };
    let list = |path: &str| -> Vec<Value> {
        path.parse::<ApiPath>()
            .ok()
            .and_then(|p| client.call(Method::Get, &p, &[]).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    };
    paths(&doc, current, &list)
}

/// Completes a call's parameter: `--NAME` for the path on the line.
pub fn call_param(line: &Line, current: &str) -> Vec<Candidate> {
    if !(current.is_empty() || current.starts_with('-')) || current.contains('=') {
        return Vec::new();
    }
    let Some((method, path)) = line.call() else {
        return Vec::new();
    };
    let Some(client) = line.client() else {
        return Vec::new();
    };
    let Some(doc) = openapi(&client, cache_dir().as_deref()) else {
        return Vec::new();
    };
    params(&doc, method, &path, &line.given(), current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> ApiDoc {
        ApiDoc::new(json!({"paths": {
            "/cluster/sdn/vnets": {
                "get": {},
                "post": {"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                    "properties": {"vnet": {"type": "string", "description": "The vnet id."}, "zone": {"type": "string"}, "tag": {"type": "integer"}}}}}}}
            },
            "/cluster/sdn/vnets/{vnet}": {"get": {}},
            "/cluster/sdn/vnets/{vnet}/subnets": {"get": {}},
            "/cluster/sdn/zones": {"get": {}},
            "/nodes/{node}/sdn": {"get": {}}
        }}))
    }

    fn values(c: Vec<Candidate>) -> Vec<String> {
        c.into_iter().map(|c| c.value).collect()
    }

    #[test]
    fn paths_complete_segment_by_segment_with_the_objects_for_placeholders() {
        let doc = doc();
        let list = |path: &str| match path {
            "/cluster/sdn/vnets" => vec![json!({"vnet": "web"}), json!({"vnet": "db"})],
            _ => Vec::new(),
        };
        assert_eq!(values(paths(&doc, "/", &list)), ["/cluster", "/nodes"]);
        assert_eq!(values(paths(&doc, "/cl", &list)), ["/cluster"]);
        assert_eq!(
            values(paths(&doc, "/cluster/sdn/", &list)),
            ["/cluster/sdn/vnets", "/cluster/sdn/zones"]
        );
        assert_eq!(
            values(paths(&doc, "/cluster/sdn/vnets/", &list)),
            ["/cluster/sdn/vnets/web", "/cluster/sdn/vnets/db"]
        );
        assert_eq!(
            values(paths(&doc, "/cluster/sdn/vnets/w", &list)),
            ["/cluster/sdn/vnets/web"]
        );
        assert_eq!(
            values(paths(&doc, "/cluster/sdn/vnets/web/", &list)),
            ["/cluster/sdn/vnets/web/subnets"]
        );
        assert!(paths(&doc, "/nothing/", &list).is_empty());
    }

    #[test]
    fn params_are_the_paths_own_not_yet_given() {
        let doc = doc();
        let given = vec!["vnet".to_string()];
        assert_eq!(
            values(params(
                &doc,
                Method::Create,
                "/cluster/sdn/vnets",
                &given,
                "--"
            )),
            ["--tag", "--zone"]
        );
        assert_eq!(
            values(params(
                &doc,
                Method::Create,
                "/cluster/sdn/vnets",
                &[],
                "--v"
            )),
            ["--vnet"]
        );
        assert!(params(&doc, Method::Create, "/nothing", &[], "--").is_empty());
    }

    #[test]
    fn the_line_is_read_after_the_double_dash() {
        let args = [
            "sdnctl",
            "--",
            "sdnctl",
            "--remote",
            "b",
            "create",
            "/cluster/sdn/vnets",
            "--zone=z1",
            "--",
        ];
        let line = Line::from_args(args.iter().map(OsString::from).collect());
        assert_eq!(line.flag(&["remote"]).as_deref(), Some("b"));
        assert_eq!(
            line.call(),
            Some((Method::Create, "/cluster/sdn/vnets".to_string()))
        );
        assert!(line.given().contains(&"zone".to_string()));
    }
}
