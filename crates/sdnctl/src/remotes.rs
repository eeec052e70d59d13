//! The remotes file: which clusters sdnctl talks to, how it authenticates, and which
//! certificate it trusts.
//!
//! ```toml
//! default = "pve-a"            # optional: used when --remote is not given
//! [remotes.pve-a]
//! url = "https://10.0.0.1:8006"
//! token = "root@pam!sdnctl=5f0c...-..."
//! fingerprint = "AB:CD:..."    # SHA-256 of the server certificate, or: system-ca = true
//!                               # (a CA the system trusts, e.g. ACME), or: insecure = true
//! nodes = ["pve1", "pve2"]     # optional: nodes `sdnctl status` reports on
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use toml::Spanned;

use crate::tls::Trust;

/// A remote's name as used with `--remote` and in summaries.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemoteName(String);

impl RemoteName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RemoteName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut chars = text.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if first_ok && rest_ok && text.len() <= 64 {
            Ok(RemoteName(text.to_string()))
        } else {
            Err(format!(
                "'{text}' is not a remote name: use letters, digits, '-', '_' or '.', starting with a letter or digit, at most 64 characters"
            ))
        }
    }
}

impl fmt::Display for RemoteName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A PVE API token, `USER@REALM!TOKENID=SECRET`. `Debug` and `Display` hide the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// `USER@REALM!TOKENID`
    id: String,
    secret: String,
}

impl ApiToken {
    /// `USER@REALM!TOKENID`, the identity the server records as lock holder.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The value of the `Authorization` header.
    pub fn header(&self) -> String {
        format!("PVEAPIToken={}={}", self.id, self.secret)
    }
}

impl FromStr for ApiToken {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("not an API token ({why}): expected USER@REALM!TOKENID=SECRET, as `pveum user token add` or `sdnd token add` print it");
        let text = text.strip_prefix("PVEAPIToken=").unwrap_or(text);
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains white space"));
        }
        let (id, secret) = text.split_once('=').ok_or_else(|| bad("no '=SECRET'"))?;
        let (userid, tokenid) = id.split_once('!').ok_or_else(|| bad("no '!TOKENID'"))?;
        let (user, realm) = userid.rsplit_once('@').ok_or_else(|| bad("no '@REALM' in the user"))?;
        if user.is_empty() || realm.is_empty() {
            return Err(bad("empty user or realm"));
        }
        let mut chars = tokenid.chars();
        let tokenid_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !tokenid_ok {
            return Err(bad("the token id must start with a letter and hold only letters, digits, '-', '_', '.'"));
        }
        if secret.is_empty() {
            return Err(bad("empty secret"));
        }
        Ok(ApiToken { id: id.to_string(), secret: secret.to_string() })
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiToken({}=***)", self.id)
    }
}

impl fmt::Display for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=***", self.id)
    }
}

/// The API base of a server, always `https://HOST[:PORT]/api2/json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl(url::Url);

impl ApiUrl {
    /// The full URL of an API path such as `/cluster/sdn/vnets`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.0.as_str().trim_end_matches('/'), path)
    }
}

impl FromStr for ApiUrl {
    type Err = String;

    /// Accepts `https://host[:port]` with or without the `/api2/json` suffix.
    fn from_str(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("'{text}' is not a URL: {e}"))?;
        if url.scheme() != "https" {
            return Err(format!("'{text}': the PVE API is served over https only"));
        }
        if url.host_str().is_none_or(str::is_empty) || url.query().is_some() || url.fragment().is_some() {
            return Err(format!("'{text}': expected https://HOST[:PORT] (optionally ending in /api2/json)"));
        }
        let path = url.path().trim_end_matches('/');
        let mut base = url.clone();
        match path {
            "" => base.set_path("/api2/json"),
            "/api2/json" => base.set_path("/api2/json"),
            other => return Err(format!("'{text}': unexpected path '{other}', expected none or /api2/json")),
        }
        Ok(ApiUrl(base))
    }
}

impl fmt::Display for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// One cluster sdnctl can talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub name: RemoteName,
    pub url: ApiUrl,
    pub token: ApiToken,
    pub trust: Trust,
    /// Nodes whose SDN state `status` reports (the API has no node list of its own in sdnd).
    pub nodes: Vec<String>,
}

/// The parsed remotes file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Remotes {
    pub default: Option<RemoteName>,
    pub remotes: BTreeMap<RemoteName, Remote>,
}

/// Why a remotes file can't be used; the message names the file, the line and the field.
#[derive(Debug, thiserror::Error)]
pub enum RemotesError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
    #[error("no remote named '{name}' in {path} (known: {known})")]
    Unknown { name: String, path: String, known: String },
    #[error("{path} defines several remotes and no default: pick one with --remote NAME (known: {known})")]
    Ambiguous { path: String, known: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    default: Option<Spanned<String>>,
    #[serde(default)]
    remotes: BTreeMap<String, Spanned<RawRemote>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemote {
    url: Spanned<String>,
    token: Spanned<String>,
    fingerprint: Option<Spanned<String>>,
    insecure: Option<Spanned<bool>>,
    /// Trust the certificate authorities of the system's store (ACME certificates).
    #[serde(rename = "system-ca")]
    system_ca: Option<Spanned<bool>>,
    #[serde(default)]
    nodes: Vec<String>,
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(1, |before| before.matches('\n').count() + 1)
}

impl Remotes {
    /// Where the remotes file lives unless `--remotes` says otherwise:
    /// `$XDG_CONFIG_HOME/sdnctl/remotes.toml`, else `~/.config/sdnctl/remotes.toml`.
    pub fn default_path() -> Option<PathBuf> {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".config")))?;
        Some(config.join("sdnctl").join("remotes.toml"))
    }

    /// Reads and parses a remotes file.
    pub fn load(path: &Path) -> Result<Remotes, RemotesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RemotesError::Read { path: path.to_path_buf(), source })?;
        Remotes::parse(&text, &path.display().to_string())
    }

    /// Parses the text of a remotes file; `origin` names it in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Remotes, RemotesError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| format!(" line {}:", line_of(text, span.start))).unwrap_or_default();
            RemotesError::Invalid(format!("{origin}:{line} {}", e.message()))
        })?;
        let at = |span: std::ops::Range<usize>, field: &str, message: String| {
            RemotesError::Invalid(format!("{origin}: line {}: {field}: {message}", line_of(text, span.start)))
        };
        let mut remotes = BTreeMap::new();
        for (name, spanned) in raw.remotes {
            let span = spanned.span();
            let remote = spanned.into_inner();
            let field = |f: &str| format!("remotes.{name}.{f}");
            let parsed_name: RemoteName = name.parse().map_err(|e| at(span.clone(), &format!("remotes.{name}"), e))?;
            let url = remote.url.get_ref().parse().map_err(|e| at(remote.url.span(), &field("url"), e))?;
            let token = remote.token.get_ref().parse().map_err(|e| at(remote.token.span(), &field("token"), e))?;
            let system_ca = remote.system_ca.as_ref().map(|s| (*s.get_ref(), s.span()));
            if let Some((true, sspan)) = system_ca.clone() {
                if remote.fingerprint.is_some() || remote.insecure.as_ref().is_some_and(|i| *i.get_ref()) {
                    return Err(at(sspan, &field("system-ca"), "give one of fingerprint, insecure = true and system-ca = true".into()));
                }
            }
            let trust = match (&remote.fingerprint, remote.insecure.as_ref().map(|i| (*i.get_ref(), i.span()))) {
                _ if system_ca.as_ref().is_some_and(|(on, _)| *on) => Trust::SystemCa,
                (Some(fp), None | Some((false, _))) => {
                    Trust::Pinned(fp.get_ref().parse().map_err(|e| at(fp.span(), &field("fingerprint"), e))?)
                }
                (None, Some((true, _))) => Trust::Insecure,
                (Some(_), Some((true, ispan))) => {
                    return Err(at(ispan, &field("insecure"), "give either fingerprint or insecure = true, not both".into()))
                }
                (None, _) => {
                    return Err(at(
                        span,
                        &format!("remotes.{name}"),
                        "no fingerprint: add fingerprint = \"AA:BB:...\" (the SHA-256 of the server certificate), system-ca = true (a certificate from a CA the system trusts, e.g. ACME) or insecure = true".into(),
                    ))
                }
            };
            for node in &remote.nodes {
                if node.is_empty() || !node.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
                    return Err(at(span, &field("nodes"), format!("'{node}' is not a node name")));
                }
            }
            remotes.insert(parsed_name.clone(), Remote { name: parsed_name, url, token, trust, nodes: remote.nodes });
        }
        let default = match raw.default {
            None => None,
            Some(d) => {
                let name: RemoteName = d.get_ref().parse().map_err(|e| at(d.span(), "default", e))?;
                if !remotes.contains_key(&name) {
                    return Err(at(d.span(), "default", format!("no remote named '{name}' is defined")));
                }
                Some(name)
            }
        };
        Ok(Remotes { default, remotes })
    }

    fn known(&self) -> String {
        if self.remotes.is_empty() {
            return "none".into();
        }
        self.remotes.keys().map(RemoteName::as_str).collect::<Vec<_>>().join(", ")
    }

    /// The remote called `name`; without a name the file's default or its only remote.
    pub fn pick(&self, name: Option<&str>, origin: &str) -> Result<&Remote, RemotesError> {
        match name {
            Some(name) => self.remotes.iter().find(|(k, _)| k.as_str() == name).map(|(_, r)| r).ok_or_else(|| {
                RemotesError::Unknown { name: name.to_string(), path: origin.to_string(), known: self.known() }
            }),
            None => {
                if let Some(default) = &self.default {
                    return self.pick(Some(default.as_str()), origin);
                }
                let mut all = self.remotes.values();
                match (all.next(), all.next()) {
                    (Some(only), None) => Ok(only),
                    _ => Err(RemotesError::Ambiguous { path: origin.to_string(), known: self.known() }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

    fn good() -> String {
        format!(
            "default = \"a\"\n[remotes.a]\nurl = \"https://10.0.0.1:8006\"\ntoken = \"root@pam!ci=s3cret\"\nfingerprint = \"{FP}\"\n\n[remotes.b]\nurl = \"https://pve-b.example/api2/json\"\ntoken = \"admin@pve!t1=x-y\"\ninsecure = true\nnodes = [\"n1\", \"n2\"]\n"
        )
    }

    #[test]
    fn parses_pinned_and_insecure_remotes() {
        let remotes = Remotes::parse(&good(), "r.toml").unwrap();
        let a = remotes.pick(None, "r.toml").unwrap();
        assert_eq!(a.name.as_str(), "a");
        assert_eq!(a.url.join("/version"), "https://10.0.0.1:8006/api2/json/version");
        assert_eq!(a.token.header(), "PVEAPIToken=root@pam!ci=s3cret");
        assert_eq!(a.trust, Trust::Pinned(FP.parse().unwrap()));
        let b = remotes.pick(Some("b"), "r.toml").unwrap();
        assert_eq!(b.trust, Trust::Insecure);
        assert_eq!(b.url.join("/x"), "https://pve-b.example/api2/json/x");
        assert_eq!(b.nodes, ["n1", "n2"]);
        assert!(!format!("{:?}", b.token).contains("x-y"), "Debug must hide the secret");
        let err = remotes.pick(Some("c"), "r.toml").unwrap_err().to_string();
        assert!(err.contains("no remote named 'c'") && err.contains("a, b"), "{err}");
    }

    fn error_of(text: &str) -> String {
        Remotes::parse(text, "r.toml").unwrap_err().to_string()
    }

    #[test]
    fn bad_files_name_line_and_field() {
        let text = good().replace("https://10.0.0.1:8006", "http://10.0.0.1");
        let err = error_of(&text);
        assert!(err.contains("line 3") && err.contains("remotes.a.url") && err.contains("https"), "{err}");

        let err = error_of(&good().replace("root@pam!ci=s3cret", "root@pam:s3cret"));
        assert!(err.contains("line 4") && err.contains("remotes.a.token"), "{err}");

        let err = error_of(&good().replace(FP, "AB:CD"));
        assert!(err.contains("line 5") && err.contains("remotes.a.fingerprint"), "{err}");

        let err = error_of(&good().replace("insecure = true\n", ""));
        assert!(err.contains("remotes.b") && err.contains("no fingerprint"), "{err}");

        let err = error_of(&good().replace("nodes =", "node ="));
        assert!(err.contains("line 11") && err.contains("node"), "{err}");

        let err = error_of(&good().replace("default = \"a\"", "default = \"zz\""));
        assert!(err.contains("line 1") && err.contains("default"), "{err}");

        let err = error_of("[remotes.a\nurl=1");
        assert!(err.contains("r.toml: line 1"), "{err}");
    }

    #[test]
    fn several_remotes_without_default_need_a_name() {
        let text = good().replace("default = \"a\"\n", "");
        let remotes = Remotes::parse(&text, "r.toml").unwrap();
        let err = remotes.pick(None, "r.toml").unwrap_err().to_string();
        assert!(err.contains("--remote NAME"), "{err}");
    }

    #[test]
    fn token_shapes() {
        assert!("root@pam!ci=abc".parse::<ApiToken>().is_ok());
        assert!("PVEAPIToken=root@pam!ci=abc".parse::<ApiToken>().is_ok());
        for bad in ["root@pam=abc", "root!ci=abc", "@pam!ci=abc", "root@pam!ci=", "root@pam!9x=a", "root@pam!ci=a b"] {
            assert!(bad.parse::<ApiToken>().is_err(), "{bad}");
        }
    }
}
