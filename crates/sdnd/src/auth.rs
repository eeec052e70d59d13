//! Authentication and privileges: the one place that decides who a request comes from and
//! whether it may do what its route needs.
//!
//! Today: API tokens (`Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`) and the built-in
//! superuser `root@pam`. Tokens are kept in the store as a SHA-256 of their secret, so every
//! node of a cluster (and `sdnd token add` run beside a serving process) sees the same set.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::HeaderMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::reply::ApiError;
use sdn_store::{Commit, Store, Txn};

/// The built-in superuser.
pub const SUPERUSER: &str = "root@pam";

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// Any authenticated caller (e.g. `/version`).
    Authenticated,
    /// `SDN.Audit` on `/sdn`: reading the configuration.
    SdnAudit,
    /// `SDN.Allocate` on `/sdn`: every change, the lock, apply and rollback.
    SdnAllocate,
}

impl Privilege {
    fn describe(self) -> &'static str {
        match self {
            Privilege::Authenticated => "authentication",
            Privilege::SdnAudit => "/sdn, SDN.Audit",
            Privilege::SdnAllocate => "/sdn, SDN.Allocate",
        }
    }
}

/// A PVE user id, `name@realm`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some((name, realm)) = text.rsplit_once('@') else {
            return Err(format!("invalid user id '{text}': expected NAME@REALM"));
        };
        let name_ok = !name.is_empty()
            && name.len() <= 60
            && !name.chars().any(|c| c.is_control() || matches!(c, ':' | '@' | '!' | '/' | ' '));
        let realm_ok = (2..=32).contains(&realm.len())
            && realm.starts_with(|c: char| c.is_ascii_alphabetic())
            && realm.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if name_ok && realm_ok {
            Ok(Self(text.to_string()))
        } else {
            Err(format!("invalid user id '{text}': expected NAME@REALM (realm: letters, digits, '.-_')"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An API token id (the part after `!`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(String);

impl TokenName {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = (2..=64).contains(&text.len())
            && text.starts_with(|c: char| c.is_ascii_alphabetic())
            && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(format!("invalid token id '{text}': 2-64 letters, digits, '.-_', starting with a letter"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Credentials as they arrived, not yet checked.
#[derive(Debug, Clone, Default)]
pub enum Credentials {
    #[default]
    None,
    ApiToken { user: String, token: String, secret: String },
    Malformed(String),
}

impl Credentials {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let Some(value) = headers.get(hyper::header::AUTHORIZATION) else { return Credentials::None };
        let Ok(value) = value.to_str() else {
            return Credentials::Malformed("Authorization header is not ASCII".into());
        };
        let Some(rest) = value.trim().strip_prefix("PVEAPIToken=") else {
            return Credentials::Malformed("unsupported Authorization scheme (expected PVEAPIToken=USER@REALM!TOKENID=SECRET)".into());
        };
        // USER@REALM!TOKENID=SECRET (older clients used ':' before the secret)
        let Some((full_id, secret)) = rest.split_once(['=', ':']) else {
            return Credentials::Malformed("API token without secret".into());
        };
        let Some((user, token)) = full_id.split_once('!') else {
            return Credentials::Malformed("API token id must be USER@REALM!TOKENID".into());
        };
        Credentials::ApiToken { user: user.to_string(), token: token.to_string(), secret: secret.to_string() }
    }
}

/// Who is calling, after authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: UserId,
    pub token: Option<String>,
}

impl Caller {
    /// The id PVE shows for this caller: `USER@REALM` or `USER@REALM!TOKENID`.
    pub fn auth_id(&self) -> String {
        match &self.token {
            Some(token) => format!("{}!{token}", self.user),
            None => self.user.to_string(),
        }
    }
}

/// A stored API token: only a hash of its secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenRecord {
    secret_sha256: String,
    created: i64,
}

fn token_key(user: &UserId, token: &TokenName) -> String {
    format!("access/tokens/{}!{}", user, token.as_str())
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Authentication and authorization against the store.
pub struct Auth {
    store: Arc<dyn Store>,
}

impl Auth {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Who sent this request; 401 if nobody we know.
    pub fn authenticate(&self, credentials: &Credentials, peer: SocketAddr) -> Result<Caller, ApiError> {
        const REFUSED: &str = "authentication failure";
        match credentials {
            Credentials::None => Err(ApiError::Unauthorized("No ticket or API token (send Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET)".into())),
            Credentials::Malformed(why) => Err(ApiError::Unauthorized(format!("{REFUSED}: {why}"))),
            Credentials::ApiToken { user, token, secret } => {
                let (Ok(user), Ok(token)) = (UserId::parse(user), TokenName::parse(token)) else {
                    return Err(ApiError::Unauthorized(format!("{REFUSED}: invalid API token")));
                };
                let entry = self.store.get(&token_key(&user, &token))?;
                let record: Option<TokenRecord> = entry.and_then(|e| serde_json::from_slice(&e.value).ok());
                // Compare even when the token is unknown, so timing tells nothing.
                let stored = record.as_ref().map(|r| r.secret_sha256.clone()).unwrap_or_else(|| "0".repeat(64));
                let presented = sha256_hex(secret.as_bytes());
                let equal: bool = stored.as_bytes().ct_eq(presented.as_bytes()).into();
                if record.is_some() && equal {
                    Ok(Caller { user, token: Some(token.as_str().to_string()) })
                } else {
                    tracing::warn!("authentication failure; rhost={peer} user={user}!{}", token.as_str());
                    Err(ApiError::Unauthorized(format!("{REFUSED}: invalid API token")))
                }
            }
        }
    }

    /// Whether `caller` holds `privilege`; 403 naming the missing privilege if not.
    pub fn authorize(&self, caller: &Caller, privilege: Privilege) -> Result<(), ApiError> {
        if privilege == Privilege::Authenticated || caller.user.as_str() == SUPERUSER {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!("Permission check failed ({})", privilege.describe())))
    }

    /// Creates a token for `user` and returns its secret (shown once, never stored).
    pub fn add_token(&self, user: &UserId, token: &TokenName) -> Result<String, String> {
        if user.as_str() != SUPERUSER {
            return Err(format!("user '{user}' does not exist (the only user is {SUPERUSER})"));
        }
        let secret = uuid::Uuid::new_v4().to_string();
        let record = TokenRecord { secret_sha256: sha256_hex(secret.as_bytes()), created: crate::now() };
        let value = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
        let key = token_key(user, token);
        let txn = Txn::new().unchanged(key.clone(), 0).put(key, value);
        match self.store.commit(txn).map_err(|e| e.to_string())? {
            Commit::Committed(_) => Ok(secret),
            Commit::GuardFailed => Err(format!("API token '{user}!{}' already exists", token.as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(hyper::header::AUTHORIZATION, value.parse().unwrap());
        map
    }

    #[test]
    fn parses_pve_token_header() {
        match Credentials::from_headers(&headers("PVEAPIToken=root@pam!ci=abc-def")) {
            Credentials::ApiToken { user, token, secret } => {
                assert_eq!((user.as_str(), token.as_str(), secret.as_str()), ("root@pam", "ci", "abc-def"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(Credentials::from_headers(&headers("Basic xyz")), Credentials::Malformed(_)));
        assert!(matches!(Credentials::from_headers(&HeaderMap::new()), Credentials::None));
    }

    #[test]
    fn validates_ids() {
        assert!(UserId::parse("root@pam").is_ok());
        assert!(UserId::parse("root").is_err());
        assert!(UserId::parse("a b@pve").is_err());
        assert!(TokenName::parse("ci-1").is_ok());
        assert!(TokenName::parse("1ci").is_err());
    }
}
