//! Choosing and opening the configuration store backend from the command line.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use sdn_store::{EtcdOptions, EtcdStore, EtcdTls, SqliteStore, Store};

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
    /// Speak TLS to etcd, trusting this CA certificate (PEM) for the members' certificates
    /// (default: $SDND_STORE_CA; without it, plain HTTP/2).
    #[arg(long, value_name = "FILE")]
    pub store_ca: Option<PathBuf>,
    /// This node's client certificate (PEM), for etcd members started with
    /// --client-cert-auth (default: $SDND_STORE_CERT). Needs --store-key and --store-ca.
    #[arg(long, value_name = "FILE")]
    pub store_cert: Option<PathBuf>,
    /// The private key (PEM) of --store-cert (default: $SDND_STORE_KEY).
    #[arg(long, value_name = "FILE")]
    pub store_key: Option<PathBuf>,
    /// etcd user, for an etcd with authentication enabled (default: $SDND_STORE_USER). The
    /// password is read from $SDND_STORE_PASSWORD or --store-password-file, never from the
    /// command line.
    #[arg(long, value_name = "USER")]
    pub store_user: Option<String>,
    /// File holding the etcd user's password (default: $SDND_STORE_PASSWORD_FILE).
    #[arg(long, value_name = "FILE")]
    pub store_password_file: Option<PathBuf>,
}

/// Environment defaults of `--store` and `--store-prefix`, so that the admin commands of a
/// node (`sdnd token add`, ...) reach the cluster's store without repeating them.
const STORE_ENV: &str = "SDND_STORE";
const PREFIX_ENV: &str = "SDND_STORE_PREFIX";
const CA_ENV: &str = "SDND_STORE_CA";
const CERT_ENV: &str = "SDND_STORE_CERT";
const KEY_ENV: &str = "SDND_STORE_KEY";
const USER_ENV: &str = "SDND_STORE_USER";
const PASSWORD_ENV: &str = "SDND_STORE_PASSWORD";
const PASSWORD_FILE_ENV: &str = "SDND_STORE_PASSWORD_FILE";
const DEFAULT_PREFIX: &str = "/sdnd/";

/// The environment variable a store flag (by its long name) defaults to, if it has one: the
/// configuration file's value for the flag counts only when that variable is unset.
pub fn env_of(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "store" => STORE_ENV,
        "store-prefix" => PREFIX_ENV,
        "store-ca" => CA_ENV,
        "store-cert" => CERT_ENV,
        "store-key" => KEY_ENV,
        "store-user" => USER_ENV,
        "store-password-file" => PASSWORD_FILE_ENV,
        _ => return None,
    })
}

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
    if let Some(options) = etcd_options(args)? {
        let mut pause = std::time::Duration::from_secs(1);
        loop {
            match EtcdStore::connect(options.clone()) {
                Ok(store) => {
                    if !wait {
                        note_if_new(&store, &format!("prefix {} of etcd {}", options.prefix, options.endpoints.join(",")));
                    }
                    return Ok(Arc::new(store));
                }
                Err(err @ sdn_store::StoreError::Unavailable(_)) if wait => {
                    tracing::warn!("waiting for the configuration store: {err}; retrying in {}s", pause.as_secs());
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_secs(10));
                }
                Err(err) => return Err(format!("opening the store: {err}")),
            }
        }
    }
    let data_dir = &args.data_dir;
    crate::data_dir::prepare(data_dir)?;
    let path = data_dir.join("sdnd.db");
    if !wait && !path.exists() {
        // A typo in --data-dir must not silently mint tokens for a store nobody serves.
        eprintln!("sdnd: note: no store at {} yet: creating a new, empty one", path.display());
    }
    let store = SqliteStore::open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    Ok(Arc::new(store))
}

/// Says on stderr that `store` holds nothing sdnd wrote (no configuration, no access
/// records), naming `what`: a typo in `--store-prefix` must not silently mint tokens for a store
/// nobody serves.
fn note_if_new(store: &dyn Store, what: &str) {
    let marks = store.get_many(&[crate::layout::PENDING_MARK, crate::layout::ACCESS_GENERATION]);
    if marks.is_ok_and(|marks| marks.iter().all(Option::is_none)) {
        eprintln!("sdnd: note: no sdnd data under {what} yet: this is a new, empty store");
    }
}

/// How to reach etcd, from the flags and their environment defaults; `None` for the
/// embedded store (then no etcd-only flag may be given).
fn etcd_options(args: &StoreArgs) -> Result<Option<EtcdOptions>, String> {
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
    let path_or_env = |given: &Option<PathBuf>, env: &str| -> Result<Option<PathBuf>, String> {
        Ok(given.clone().or(env_var(env)?.map(PathBuf::from)))
    };
    let ca = path_or_env(&args.store_ca, CA_ENV)?;
    let cert = path_or_env(&args.store_cert, CERT_ENV)?;
    let key = path_or_env(&args.store_key, KEY_ENV)?;
    let user = args.store_user.clone().map(Some).unwrap_or(env_var(USER_ENV)?);
    let password_file = path_or_env(&args.store_password_file, PASSWORD_FILE_ENV)?;

    let Some(url) = url else {
        let etcd_only = [
            ("--store-prefix", args.store_prefix.is_some()),
            ("--store-ca", args.store_ca.is_some()),
            ("--store-cert", args.store_cert.is_some()),
            ("--store-key", args.store_key.is_some()),
            ("--store-user", args.store_user.is_some()),
            ("--store-password-file", args.store_password_file.is_some()),
        ];
        if let Some((flag, _)) = etcd_only.iter().find(|(_, given)| *given) {
            return Err(format!("{flag} only applies to an etcd store; give --store etcd://HOST:PORT too"));
        }
        return Ok(None);
    };

    let mut options = EtcdOptions::new(
        url.endpoints.iter().map(Endpoint::to_string).collect(),
        prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_string()),
    );
    options.tls = match (ca, cert, key) {
        (None, None, None) => None,
        (None, _, _) => return Err("--store-cert and --store-key need --store-ca (the CA the etcd members' certificates chain to)".into()),
        (Some(_), Some(_), None) | (Some(_), None, Some(_)) => {
            return Err("--store-cert and --store-key go together: give both, or neither".into())
        }
        (Some(ca), cert, key) => Some(EtcdTls {
            ca_pem: read_pem(&ca, "--store-ca", Pem::Certificate)?,
            identity: match (cert, key) {
                (Some(cert), Some(key)) => Some((
                    read_pem(&cert, "--store-cert", Pem::Certificate)?,
                    read_pem(&key, "--store-key", Pem::PrivateKey)?,
                )),
                _ => None,
            },
        }),
    };
    options.credentials = match (user, password_file) {
        (None, None) if env_var(PASSWORD_ENV)?.is_none() => None,
        (None, _) => return Err("an etcd password is set but no --store-user (or SDND_STORE_USER) to go with it".into()),
        (Some(user), file) => {
            let password = match file {
                Some(file) => std::fs::read_to_string(&file)
                    .map_err(|e| format!("--store-password-file {}: {e}", file.display()))?
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
                None => env_var(PASSWORD_ENV)?.ok_or_else(|| {
                    format!("etcd user '{user}' needs a password: set {PASSWORD_ENV} or give --store-password-file")
                })?,
            };
            Some((user, password))
        }
    };
    Ok(Some(options))
}

/// What a PEM file given to a flag must hold.
#[derive(Clone, Copy)]
enum Pem {
    Certificate,
    PrivateKey,
}

/// A PEM file's bytes; refuses a file without the expected PEM block, naming the flag.
fn read_pem(path: &std::path::Path, flag: &str, expected: Pem) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let found = text.lines().any(|line| {
        let Some(label) = line.trim().strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) else {
            return false;
        };
        match expected {
            Pem::Certificate => label == "CERTIFICATE",
            Pem::PrivateKey => label.ends_with("PRIVATE KEY"),
        }
    });
    if !found {
        let what = match expected {
            Pem::Certificate => "a PEM certificate (-----BEGIN CERTIFICATE-----)",
            Pem::PrivateKey => "a PEM private key (-----BEGIN ... PRIVATE KEY-----)",
        };
        return Err(format!("{flag} {}: expected {what}", path.display()));
    }
    Ok(bytes)
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
