//! The access-control data in the store: users, API tokens, ACL entries, custom roles and the
//! ticket signing key, and the administrative changes to them.

use std::collections::{BTreeMap, BTreeSet};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sdn_store::{Commit, Store, Txn};

use super::acl::{self, AclEntry, AclTree, Subject};
use super::ids::{TokenName, UserId};

/// The built-in superuser: always exists, always has every privilege.
pub const SUPERUSER: &str = "root@pam";

use crate::layout::{
    ACCESS_GENERATION as GENERATION, ACLS_PREFIX as ACLS, ROLES_PREFIX as ROLES, TICKET_KEY, TOKENS_PREFIX as TOKENS,
    USERS_PREFIX as USERS,
};
pub use crate::layout::{RoleRecord, TokenRecord, UserRecord};

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn expired(expire: i64, now: i64) -> bool {
    expire != 0 && now >= expire
}

/// Everything needed to authenticate and authorize one request: one consistent read.
#[derive(Debug, Clone, Default)]
pub struct AccessData {
    users: BTreeMap<String, UserRecord>,
    tokens: BTreeMap<String, TokenRecord>,
    pub acl: AclTree,
}

/// The revision of the last change to the access records; 0 before the first one (a store
/// whose records an sdnd that kept no marker wrote: the first change made since moves it).
/// Never written is a generation like any other: the records are read once and cached at 0,
/// not read again for every request until somebody changes them.
pub fn generation(store: &dyn Store) -> Result<sdn_store::Revision, sdn_store::StoreError> {
    Ok(store.get(GENERATION)?.map_or(0, |entry| entry.mod_revision))
}

impl AccessData {
    pub fn load(store: &dyn Store) -> Result<Self, sdn_store::StoreError> {
        let (entries, _) = store.list("access/")?;
        let mut data = AccessData::default();
        let mut acl_entries = Vec::new();
        let mut roles = BTreeMap::new();
        for entry in entries {
            // A record that doesn't parse is treated as absent: it can only deny, never grant.
            if let Some(id) = entry.key.strip_prefix(USERS) {
                if let Ok(user) = serde_json::from_slice(&entry.value) {
                    data.users.insert(id.to_string(), user);
                }
            } else if let Some(id) = entry.key.strip_prefix(TOKENS) {
                if let Ok(token) = serde_json::from_slice(&entry.value) {
                    data.tokens.insert(id.to_string(), token);
                }
            } else if entry.key.starts_with(ACLS) {
                if let Ok(acl) = serde_json::from_slice::<AclEntry>(&entry.value) {
                    acl_entries.push(acl);
                }
            } else if let Some(name) = entry.key.strip_prefix(ROLES) {
                if let Ok(role) = serde_json::from_slice::<RoleRecord>(&entry.value) {
                    roles.insert(name.to_string(), role.privs);
                }
            }
        }
        data.acl = AclTree::new(acl_entries, roles);
        Ok(data)
    }

    /// The user's record if the account may log in now (`root@pam` always may).
    pub fn active_user(&self, user: &UserId, now: i64) -> Option<UserRecord> {
        match self.users.get(user.as_str()) {
            Some(record) if record.enable && !expired(record.expire, now) => Some(record.clone()),
            Some(_) => None,
            None if user.as_str() == SUPERUSER => Some(UserRecord { enable: true, ..UserRecord::default() }),
            None => None,
        }
    }

    /// Every user's record, `root@pam` (built in) included.
    pub fn users(&self) -> BTreeMap<String, UserRecord> {
        let mut users = self.users.clone();
        users.entry(SUPERUSER.to_string()).or_insert_with(|| UserRecord { enable: true, ..UserRecord::default() });
        users
    }

    /// The tokens of `user`, by token name.
    pub fn tokens_of(&self, user: &UserId) -> BTreeMap<String, TokenRecord> {
        let prefix = format!("{user}!");
        self.tokens
            .iter()
            .filter_map(|(id, record)| Some((id.strip_prefix(&prefix)?.to_string(), record.clone())))
            .collect()
    }

    /// The token's record if it and its user are usable now.
    pub fn active_token(&self, user: &UserId, token: &TokenName, now: i64) -> Option<TokenRecord> {
        self.active_user(user, now)?;
        let record = self.tokens.get(&format!("{user}!{}", token.as_str()))?;
        (!expired(record.expire, now)).then(|| record.clone())
    }

    /// The privileges of a user, or of one of its tokens, on `path`.
    pub fn privileges(&self, user: &UserId, token: Option<&TokenRecord>, token_id: Option<&str>, path: &str) -> BTreeSet<String> {
        let user_privs = if user.as_str() == SUPERUSER {
            acl::builtin_role("Administrator").unwrap_or_default()
        } else {
            self.acl.privileges(&Subject::User(user.to_string()), path)
        };
        match (token, token_id) {
            (Some(record), Some(id)) if record.privsep => {
                let token_privs = self.acl.privileges(&Subject::Token(id.to_string()), path);
                user_privs.intersection(&token_privs).cloned().collect()
            }
            _ => user_privs,
        }
    }
}

/// A password check whose cost doesn't reveal whether the user exists.
pub fn verify_password(record: Option<&UserRecord>, password: &str) -> bool {
    // Verify against a throwaway hash when there is none, so both paths cost the same.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("dummy password").unwrap_or_default());
    let stored = record.and_then(|r| r.password_hash.as_deref());
    let hash = stored.unwrap_or(dummy);
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    // Tens of milliseconds of CPU: not on the runtime's worker.
    crate::blocking::off_worker(|| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()) && stored.is_some()
}

pub fn hash_password(password: &str) -> Result<String, String> {
    let mut raw_salt = [0u8; 16];
    getrandom::fill(&mut raw_salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
    let salt = SaltString::encode_b64(&raw_salt).map_err(|e| format!("encoding the salt: {e}"))?;
    crate::blocking::off_worker(|| Argon2::default().hash_password(password.as_bytes(), &salt).map(|hash| hash.to_string()))
        .map_err(|e| format!("hashing the password: {e}"))
}

/// The cluster's ticket signing key, created on first use.
pub fn ticket_key(store: &dyn Store) -> Result<Vec<u8>, sdn_store::StoreError> {
    loop {
        if let Some(entry) = store.get(TICKET_KEY)? {
            return Ok(entry.value);
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| sdn_store::StoreError::Backend(format!("no randomness: {e}")))?;
        let key = hex::encode(key).into_bytes();
        if let Commit::Committed(_) = store.commit(Txn::new().unchanged(TICKET_KEY, 0).put(TICKET_KEY, key.clone()))? {
            return Ok(key);
        }
    }
}

/// Changes to the access records this process began: a read authenticated on records
/// confirmed before one of them is not taken (see [`super::Auth::authenticate_recent`]), so a
/// revocation through this process holds for its very next request.
static LOCAL_WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub(crate) fn local_writes() -> u64 {
    LOCAL_WRITES.load(std::sync::atomic::Ordering::SeqCst)
}

/// Every change to the access records goes through here, and moves the generation with it.
fn commit(store: &dyn Store, txn: Txn, conflict: impl FnOnce() -> String) -> Result<(), String> {
    // Before the commit: a confirmation read from here on may already miss it.
    LOCAL_WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    match store.commit(txn.put(GENERATION, Vec::new())).map_err(|e| e.to_string())? {
        Commit::Committed(_) => Ok(()),
        Commit::GuardFailed => Err(conflict()),
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn user_exists(store: &dyn Store, user: &UserId) -> Result<bool, String> {
    Ok(user.as_str() == SUPERUSER || store.get(&format!("{USERS}{user}")).map_err(|e| e.to_string())?.is_some())
}

/// `sdnd user add`.
pub fn add_user(store: &dyn Store, user: &UserId, password: Option<&str>, expire: i64, comment: Option<String>) -> Result<(), String> {
    if user.as_str() == SUPERUSER {
        return Err(format!("{SUPERUSER} is built in; set its password with 'sdnd user passwd {SUPERUSER}'"));
    }
    if user.realm() != "pve" {
        return Err(format!("user '{user}': only the 'pve' realm holds users here (e.g. alice@pve)"));
    }
    let password_hash = password.map(hash_password).transpose()?;
    let record = UserRecord { enable: true, expire, password_hash, comment };
    let key = format!("{USERS}{user}");
    commit(store, Txn::new().unchanged(key.clone(), 0).put(key, encode(&record)), || format!("user '{user}' already exists"))
}

/// Reads a user's record, changes it with `edit`, and writes it back guarded on it being unchanged.
fn update_user(store: &dyn Store, user: &UserId, edit: impl FnOnce(&mut UserRecord)) -> Result<(), String> {
    let key = format!("{USERS}{user}");
    let entry = store.get(&key).map_err(|e| e.to_string())?;
    let (mut record, revision) = match entry {
        Some(entry) => (serde_json::from_slice::<UserRecord>(&entry.value).map_err(|e| e.to_string())?, entry.mod_revision),
        None if user.as_str() == SUPERUSER => (UserRecord { enable: true, ..UserRecord::default() }, 0),
        None => return Err(format!("user '{user}' does not exist")),
    };
    edit(&mut record);
    commit(store, Txn::new().unchanged(key.clone(), revision).put(key, encode(&record)), || {
        format!("user '{user}' changed concurrently; retry")
    })
}

/// `sdnd user passwd`.
pub fn set_password(store: &dyn Store, user: &UserId, password: &str) -> Result<(), String> {
    let hash = hash_password(password)?;
    update_user(store, user, |record| record.password_hash = Some(hash))
}

/// `sdnd user modify`: enable/disable, expiry. The superuser can't be locked out.
pub fn modify_user(store: &dyn Store, user: &UserId, enable: Option<bool>, expire: Option<i64>) -> Result<(), String> {
    if user.as_str() == SUPERUSER {
        return Err(format!("{SUPERUSER} is built in and always enabled"));
    }
    update_user(store, user, |record| {
        if let Some(enable) = enable {
            record.enable = enable;
        }
        if let Some(expire) = expire {
            record.expire = expire;
        }
    })
}

/// `sdnd user delete`: the user, its tokens and every ACL entry naming either, at once.
pub fn delete_user(store: &dyn Store, user: &UserId) -> Result<(), String> {
    if user.as_str() == SUPERUSER {
        return Err(format!("{SUPERUSER} is built in and can't be deleted"));
    }
    let key = format!("{USERS}{user}");
    let entry = store.get(&key).map_err(|e| e.to_string())?.ok_or_else(|| format!("user '{user}' does not exist"))?;
    let mut txn = Txn::new().unchanged(key.clone(), entry.mod_revision).delete(key).delete_prefix(format!("{TOKENS}{user}!"));
    let (acls, _) = store.list(ACLS).map_err(|e| e.to_string())?;
    for acl in acls {
        if let Ok(parsed) = serde_json::from_slice::<AclEntry>(&acl.value) {
            let names_user = match &parsed.subject {
                Subject::User(u) => u == user.as_str(),
                Subject::Token(t) => t.starts_with(&format!("{user}!")),
            };
            if names_user {
                txn = txn.delete(acl.key);
            }
        }
    }
    commit(store, txn, || format!("user '{user}' changed concurrently; retry"))
}

/// `sdnd token add` and `POST /access/users/{userid}/token/{tokenid}`: returns the secret,
/// shown once and never stored. `now`: its creation time.
pub fn add_token(
    store: &dyn Store,
    user: &UserId,
    token: &TokenName,
    privsep: bool,
    expire: i64,
    comment: Option<String>,
    now: i64,
) -> Result<String, String> {
    if !user_exists(store, user)? {
        return Err(format!("user '{user}' does not exist"));
    }
    let secret = uuid::Uuid::new_v4().to_string();
    let record = TokenRecord { secret_sha256: sha256_hex(secret.as_bytes()), privsep, expire, created: now, comment };
    let key = format!("{TOKENS}{user}!{}", token.as_str());
    let user_key = format!("{USERS}{user}");
    let mut txn = Txn::new().unchanged(key.clone(), 0).put(key, encode(&record));
    if user.as_str() != SUPERUSER {
        // The user must still exist when the token lands.
        let revision = store.get(&user_key).map_err(|e| e.to_string())?.map_or(0, |e| e.mod_revision);
        txn = txn.unchanged(user_key, revision);
    }
    commit(store, txn, || format!("API token '{user}!{}' already exists (or the user changed)", token.as_str()))?;
    Ok(secret)
}

/// What an update of a token changes (`None`: leave as it is; `comment: Some(None)`: remove).
#[derive(Debug, Default)]
pub struct TokenUpdate {
    pub privsep: Option<bool>,
    pub expire: Option<i64>,
    pub comment: Option<Option<String>>,
}

/// `PUT /access/users/{userid}/token/{tokenid}`: returns the token as it is now.
pub fn update_token(store: &dyn Store, user: &UserId, token: &TokenName, update: TokenUpdate) -> Result<TokenRecord, String> {
    let key = format!("{TOKENS}{user}!{}", token.as_str());
    let entry = store.get(&key).map_err(|e| e.to_string())?.ok_or_else(|| format!("no such token '{user}!{}'", token.as_str()))?;
    let mut record: TokenRecord = serde_json::from_slice(&entry.value).map_err(|e| e.to_string())?;
    if let Some(privsep) = update.privsep {
        record.privsep = privsep;
    }
    if let Some(expire) = update.expire {
        record.expire = expire;
    }
    if let Some(comment) = update.comment {
        record.comment = comment;
    }
    let txn = Txn::new().unchanged(key.clone(), entry.mod_revision).put(key, encode(&record));
    commit(store, txn, || format!("token '{user}!{}' changed concurrently; retry", token.as_str()))?;
    Ok(record)
}

/// `DELETE /access/users/{userid}/token/{tokenid}`: the token and its ACL entries.
pub fn delete_token(store: &dyn Store, user: &UserId, token: &TokenName) -> Result<(), String> {
    let full = format!("{user}!{}", token.as_str());
    let key = format!("{TOKENS}{full}");
    let entry = store.get(&key).map_err(|e| e.to_string())?.ok_or_else(|| format!("no such token '{full}'"))?;
    let mut txn = Txn::new().unchanged(key.clone(), entry.mod_revision).delete(key);
    let (acls, _) = store.list(ACLS).map_err(|e| e.to_string())?;
    for acl in acls {
        if serde_json::from_slice::<AclEntry>(&acl.value).is_ok_and(|a| a.subject == Subject::Token(full.clone())) {
            txn = txn.delete(acl.key);
        }
    }
    commit(store, txn, || format!("token '{full}' changed concurrently; retry"))
}

/// `sdnd acl modify`: grants (or with `delete`, revokes) `roles` on `path` to `subject`.
pub fn modify_acl(store: &dyn Store, path: &str, subject: Subject, roles: &[String], propagate: bool, delete: bool) -> Result<(), String> {
    acl::check_path(path)?;
    let custom: BTreeSet<String> = store
        .list(ROLES)
        .map_err(|e| e.to_string())?
        .0
        .iter()
        .filter_map(|e| e.key.strip_prefix(ROLES).map(str::to_string))
        .collect();
    for role in roles {
        if acl::builtin_role(role).is_none() && !custom.contains(role) {
            return Err(format!("role '{role}' does not exist"));
        }
    }
    match &subject {
        Subject::User(u) => {
            let user = UserId::parse(u)?;
            if !user_exists(store, &user)? {
                return Err(format!("user '{user}' does not exist"));
            }
        }
        Subject::Token(t) => {
            if store.get(&format!("{TOKENS}{t}")).map_err(|e| e.to_string())?.is_none() {
                return Err(format!("API token '{t}' does not exist"));
            }
        }
    }
    let subject_key = match &subject {
        Subject::User(u) => format!("user:{u}"),
        Subject::Token(t) => format!("token:{t}"),
    };
    let key = format!("{ACLS}{path}|{subject_key}");
    let current = store.get(&key).map_err(|e| e.to_string())?;
    let revision = current.as_ref().map_or(0, |e| e.mod_revision);
    let mut entry = current
        .and_then(|e| serde_json::from_slice::<AclEntry>(&e.value).ok())
        .unwrap_or(AclEntry { path: path.to_string(), subject, roles: BTreeMap::new() });
    for role in roles {
        if delete {
            entry.roles.remove(role);
        } else {
            entry.roles.insert(role.clone(), propagate);
        }
    }
    let txn = Txn::new().unchanged(key.clone(), revision);
    let txn = if entry.roles.is_empty() { txn.delete(key) } else { txn.put(key, encode(&entry)) };
    commit(store, txn, || "the ACL changed concurrently; retry".to_string())
}

/// `sdnd role add`.
pub fn add_role(store: &dyn Store, name: &str, privs: &[String]) -> Result<(), String> {
    let name_ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(format!("invalid role name '{name}': letters, digits, '-_.', starting with a letter"));
    }
    if acl::builtin_role(name).is_some() {
        return Err(format!("role '{name}' is built in"));
    }
    let mut set = BTreeSet::new();
    for privilege in privs {
        if !acl::PRIVILEGES.contains(&privilege.as_str()) {
            return Err(format!("invalid privilege '{privilege}' (known: {})", acl::PRIVILEGES.join(", ")));
        }
        set.insert(privilege.clone());
    }
    let key = format!("{ROLES}{name}");
    commit(store, Txn::new().unchanged(key.clone(), 0).put(key, encode(&RoleRecord { privs: set })), || {
        format!("role '{name}' already exists")
    })
}
