//! Choosing and opening the configuration store backend from the command line.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use sdn_store::{EtcdOptions, EtcdStore, SqliteStore, Store};

/// Where the configuration lives; every command that touches it takes these.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// Directory holding the embedded store (sdnd.db) and the TLS certificate.
    #[arg(long, default_value = "/var/lib/sdnd")]
    pub data_dir: PathBuf,
    /// Keep the configuration in an etcd cluster shared by several nodes,
    /// etcd://HOST:PORT[,HOST:PORT...] (default: $SDND_STORE, else the SQLite file in the
    /// data dir).
    #[arg(long, value_name = "etcd://HOST:PORT[,...]")]
    pub store: Option<StoreUrl>,
    /// Prefix of every etcd key, one per cluster sharing an etcd (default:
    /// $SDND_STORE_PREFIX, else /sdnd/).
    #[arg(long, value_parser = parse_prefix)]
    pub store_prefix: Option<String>,
}

/// Environment defaults of `--store` and `--store-prefix`, so that the admin commands of a
/// node (`sdnd token add`, ...) reach the cluster's store without repeating them.
const STORE_ENV: &str = "SDND_STORE";
const PREFIX_ENV: &str = "SDND_STORE_PREFIX";
const DEFAULT_PREFIX: &str = "/sdnd/";

/// A `--store` value: the members of an etcd cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    pub endpoints: Vec<Endpoint>,
}

/// One etcd member's client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("'{text}' has no port; expected HOST:PORT"))?;
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let valid_host = !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
        if !valid_host {
            return Err(format!("'{text}': '{host}' is not a host name or IP address"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("'{text}': '{port}' is not a port (1-65535)"))?;
        Ok(Endpoint { host: host.to_string(), port })
    }
}

impl FromStr for StoreUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let members = text
            .strip_prefix("etcd://")
            .ok_or_else(|| format!("'{text}': expected etcd://HOST:PORT[,HOST:PORT...]"))?;
        let endpoints = members
            .trim_end_matches('/')
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<Endpoint>, String>>()?;
        Ok(StoreUrl { endpoints })
    }
}

/// An etcd key prefix: not empty (it would share the whole etcd), and printable.
fn parse_prefix(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("the store prefix must not be empty (default: /sdnd/)".into());
    }
    if text.chars().any(char::is_control) {
        return Err("the store prefix must not contain control characters".into());
    }
    Ok(text.to_string())
}

/// Opens the store `args` select; fails at once when it can't be reached (admin commands).
pub fn open_store(args: &StoreArgs) -> Result<Arc<dyn Store>, String> {
    open(args, false)
}

/// Opens the store `args` select, waiting for a remote store that can't be reached yet
/// (`serve`: a node that boots before its etcd quorum comes up by itself once it is there).
pub fn open_store_waiting(args: &StoreArgs) -> Result<Arc<dyn Store>, String> {
    open(args, true)
}

fn open(args: &StoreArgs, wait: bool) -> Result<Arc<dyn Store>, String> {
    let url = match &args.store {
        Some(url) => Some(url.clone()),
        None => env_var(STORE_ENV)?
            .map(|text| text.parse::<StoreUrl>().map_err(|e| format!("{STORE_ENV}: {e}")))
            .transpose()?,
    };
    let prefix = match &args.store_prefix {
        Some(prefix) => Some(prefix.clone()),
        None => env_var(PREFIX_ENV)?
            .map(|text| parse_prefix(&text).map_err(|e| format!("{PREFIX_ENV}: {e}")))
            .transpose()?,
    };
    if let Some(url) = url {
        let endpoints: Vec<String> = url.endpoints.iter().map(Endpoint::to_string).collect();
        let prefix = prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_string());
        let mut pause = std::time::Duration::from_secs(1);
        loop {
            match EtcdStore::connect(EtcdOptions::new(endpoints.clone(), prefix.clone())) {
                Ok(store) => return Ok(Arc::new(store)),
                Err(err @ sdn_store::StoreError::Unavailable(_)) if wait => {
                    tracing::warn!("waiting for the configuration store: {err}; retrying in {}s", pause.as_secs());
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_secs(10));
                }
                Err(err) => return Err(format!("opening the store: {err}")),
            }
        }
    }
    if args.store_prefix.is_some() {
        return Err("--store-prefix only applies to an etcd store; give --store etcd://HOST:PORT too".into());
    }
    let data_dir = &args.data_dir;
    std::fs::create_dir_all(data_dir).map_err(|e| format!("creating {}: {e}", data_dir.display()))?;
    let path = data_dir.join("sdnd.db");
    let store = SqliteStore::open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    Ok(Arc::new(store))
}

/// An environment variable; unset and empty both mean "not given".
fn env_var(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(value) if value.is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_etcd_urls() {
        let url: StoreUrl = "etcd://127.0.0.1:2379,node-b.example:2379,[::1]:23790/".parse().expect("valid");
        let shown: Vec<String> = url.endpoints.iter().map(Endpoint::to_string).collect();
        assert_eq!(shown, ["127.0.0.1:2379", "node-b.example:2379", "[::1]:23790"]);
    }

    #[test]
    fn refuses_bad_urls_naming_the_problem() {
        for (text, needle) in [
            ("http://h:1", "expected etcd://"),
            ("etcd://", "has no port"),
            ("etcd://h", "has no port"),
            ("etcd://h:0", "not a port"),
            ("etcd://h:99999", "not a port"),
            ("etcd://:2379", "not a host"),
            ("etcd://a b:2379", "not a host"),
            ("etcd://h:1,", "has no port"),
        ] {
            let err = text.parse::<StoreUrl>().expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn refuses_empty_prefix() {
        assert!(parse_prefix("").is_err());
        assert!(parse_prefix("/a\n/").is_err());
        assert_eq!(parse_prefix("/sdnd/").as_deref(), Ok("/sdnd/"));
    }
}
