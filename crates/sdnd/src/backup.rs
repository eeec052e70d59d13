//! Backup and restore of the whole store: every entry, whatever it holds, read in one
//! consistent snapshot (one read at one revision, on SQLite as on etcd) while servers keep
//! serving; and loading such a snapshot into an empty store.
//!
//! The backup is generic on purpose: records added later (versions, audit, IPAM state, ...)
//! are in it without this module knowing them. Only the secrets are known here, so that they
//! stay out of a backup unless asked for: password hashes, API token hashes, the ticket signing
//! key, the lock token's hash, and the IPAM tokens and DNS keys of the configuration.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use sdn_store::{Commit, Store, Txn};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::layout;

/// The `format` field of a backup file.
pub const FORMAT: &str = "sdnd-backup";
/// The version of the file layout this build writes and reads.
pub const VERSION: u32 = 1;

/// A backup file.
#[derive(Debug, Serialize, Deserialize)]
pub struct Backup {
    pub format: String,
    pub version: u32,
    /// The sdnd version that wrote it.
    pub sdnd: String,
    /// When it was written, epoch seconds.
    pub created: i64,
    /// The store revision the snapshot reflects.
    pub revision: u64,
    /// Whether the secrets are in it.
    pub with_secrets: bool,
    pub entries: Vec<BackupEntry>,
}

/// One store entry: its value as text when it is UTF-8, else as hex.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackupEntry {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
}

impl BackupEntry {
    fn new(key: String, value: Vec<u8>) -> Self {
        match String::from_utf8(value) {
            Ok(text) => BackupEntry {
                key,
                text: Some(text),
                hex: None,
            },
            Err(err) => BackupEntry {
                key,
                text: None,
                hex: Some(hex::encode(err.into_bytes())),
            },
        }
    }

    fn value(&self) -> Result<Vec<u8>, String> {
        match (&self.text, &self.hex) {
            (Some(text), None) => Ok(text.clone().into_bytes()),
            (None, Some(hex)) => hex::decode(hex)
                .map_err(|e| format!("entry '{}': its hex value is malformed: {e}", self.key)),
            _ => Err(format!(
                "entry '{}' needs exactly one of 'text' and 'hex'",
                self.key
            )),
        }
    }
}

/// Which secret an entry holds, by its key: dropped whole, or JSON fields blanked.
enum Secret {
    /// The entry is a secret (the ticket signing key): left out.
    Whole,
    /// These top-level fields of the JSON record are secrets: set to `replacement`.
    Fields(&'static [&'static str], Value),
    /// These fields of the record's `props` are secrets: replaced by [`LEFT_OUT`] (they are
    /// required, so they stay, with a value that authenticates nowhere).
    Props(&'static [&'static str]),
}

/// What an IPAM token or DNS key reads in a store restored from a backup without secrets.
pub const LEFT_OUT: &str = "left-out-of-the-backup";

fn secret(key: &str) -> Option<Secret> {
    let ipams = layout::object(sdn_config::Kind::Ipams, "");
    let dns = layout::object(sdn_config::Kind::Dns, "");
    if key == layout::TICKET_KEY {
        Some(Secret::Whole)
    } else if key.starts_with(layout::USERS_PREFIX) {
        Some(Secret::Fields(&["password_hash"], Value::Null))
    } else if key.starts_with(layout::TOKENS_PREFIX) {
        // An empty hash matches no secret: the token is listed but can't authenticate.
        Some(Secret::Fields(
            &["secret_sha256"],
            Value::String(String::new()),
        ))
    } else if key == layout::LOCK {
        // The lock stays held (as the original's is); only `--force` releases it.
        Some(Secret::Fields(
            &["token_sha256"],
            Value::String(String::new()),
        ))
    } else if key.starts_with(&ipams) {
        Some(Secret::Props(&["token"]))
    } else if key.starts_with(&dns) {
        Some(Secret::Props(&["key"]))
    } else {
        None
    }
}

/// `value` with its secrets removed; `None` if the whole entry is one.
fn without_secrets(key: &str, value: Vec<u8>) -> Result<Option<Vec<u8>>, String> {
    let Some(secret) = secret(key) else {
        return Ok(Some(value));
    };
    let (fields, replacement, in_props) = match secret {
        Secret::Whole => return Ok(None),
        Secret::Fields(fields, replacement) => (fields, replacement, false),
        Secret::Props(fields) => (fields, Value::String(LEFT_OUT.into()), true),
    };
    // A record that isn't the JSON expected may hold the secret anywhere: left out, not guessed.
    let Ok(mut record) = serde_json::from_slice::<Value>(&value) else {
        return Ok(None);
    };
    let Some(mut object) = record.as_object_mut() else {
        return Ok(None);
    };
    if in_props {
        match object.get_mut("props").and_then(Value::as_object_mut) {
            Some(props) => object = props,
            None => return Ok(Some(value)),
        }
    }
    for field in fields {
        if object.contains_key(*field) {
            object.insert((*field).to_string(), replacement.clone());
        }
    }
    serde_json::to_vec(&record)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Reads everything in `store` at one revision and writes it to `to` (mode 0600, never over
/// an existing file). Returns a one-line summary.
pub fn write(store: &dyn Store, to: &Path, with_secrets: bool) -> Result<String, String> {
    let (entries, revision) = store
        .list("")
        .map_err(|e| format!("reading the store: {e}"))?;
    let mut kept = Vec::with_capacity(entries.len());
    let mut left_out = 0;
    for entry in entries {
        let value = if with_secrets {
            Some(entry.value)
        } else {
            without_secrets(&entry.key, entry.value)?
        };
        match value {
            Some(value) => kept.push(BackupEntry::new(entry.key, value)),
            None => left_out += 1,
        }
    }
    let count = kept.len();
    let backup = Backup {
        format: FORMAT.into(),
        version: VERSION,
        sdnd: env!("CARGO_PKG_VERSION").into(),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
        revision,
        with_secrets,
        entries: kept,
    };
    let mut text = serde_json::to_vec_pretty(&backup).map_err(|e| e.to_string())?;
    text.push(b'\n');
    write_private(to, &text)?;
    let secrets = if with_secrets {
        "secrets included".to_string()
    } else {
        format!("secrets left out ({left_out} entries dropped, password and token hashes blanked; --with-secrets keeps them)")
    };
    Ok(format!(
        "wrote {count} entries at store revision {revision} to {} ({secrets})",
        to.display()
    ))
}

/// Writes `bytes` to `path` with mode 0600, durably, refusing to replace an existing file: a
/// temporary file beside it, linked into place once complete.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if path.exists() {
        return Err(format!("{} exists; give a new file name", path.display()));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| format!("{} names no file", path.display()))?;
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|e| format!("creating {}: {e}", temp.display()))?;
        file.write_all(bytes)
            .map_err(|e| format!("writing {}: {e}", temp.display()))?;
        file.sync_all()
            .map_err(|e| format!("writing {}: {e}", temp.display()))?;
        std::fs::hard_link(&temp, path).map_err(|e| format!("creating {}: {e}", path.display()))
    })();
    let _ = std::fs::remove_file(&temp);
    result?;
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// At most this many entries, and about this many bytes, per restore transaction (etcd's
/// defaults: 128 operations, 1.5 MiB per request).
const BATCH_ENTRIES: usize = 100;
const BATCH_BYTES: usize = 1024 * 1024;

/// Loads the backup `from` into `store`, which must be empty. Returns a one-line summary.
pub fn restore(store: &dyn Store, from: &Path) -> Result<String, String> {
    let text = std::fs::read(from).map_err(|e| format!("reading {}: {e}", from.display()))?;
    let backup: Backup = serde_json::from_slice(&text)
        .map_err(|e| format!("{} is not an sdnd backup: {e}", from.display()))?;
    if backup.format != FORMAT {
        return Err(format!(
            "{} is not an sdnd backup (format '{}')",
            from.display(),
            backup.format
        ));
    }
    if backup.version != VERSION {
        return Err(format!(
            "{}: backup layout version {} is not {VERSION}, the one this sdnd reads",
            from.display(),
            backup.version
        ));
    }
    let mut values = Vec::with_capacity(backup.entries.len());
    let mut seen = std::collections::BTreeSet::new();
    for entry in &backup.entries {
        if entry.key.is_empty() || !seen.insert(entry.key.as_str()) {
            return Err(format!(
                "{}: entry key '{}' is empty or repeated",
                from.display(),
                entry.key
            ));
        }
        values.push((entry.key.clone(), entry.value()?));
    }
    let (existing, _) = store
        .list("")
        .map_err(|e| format!("reading the store: {e}"))?;
    if !existing.is_empty() {
        return Err(format!(
            "the store is not empty ({} entries, e.g. '{}'): restore only into an empty store",
            existing.len(),
            existing[0].key
        ));
    }

    // In batches (a large store exceeds what etcd takes in one transaction), each guarded on
    // its keys being absent, so that nothing written meanwhile is overwritten.
    let mut written = 0;
    let mut batch = Txn::new();
    let mut batch_bytes = 0;
    let commit = |batch: Txn, written: &mut usize| -> Result<(), String> {
        let count = batch.ops.len();
        match store.commit(batch) {
            Ok(Commit::Committed(_)) => {
                *written += count;
                Ok(())
            }
            Ok(Commit::GuardFailed) => Err(format!(
                "restore stopped after {written} of {} entries: something else is writing to the store; empty it and restore again",
                backup.entries.len()
            )),
            Err(err) => Err(format!(
                "restore stopped after {written} of {} entries: {err}; empty the store and restore again",
                backup.entries.len()
            )),
        }
    };
    for (key, value) in values {
        if batch.ops.len() >= BATCH_ENTRIES
            || (batch_bytes + key.len() + value.len() > BATCH_BYTES && !batch.ops.is_empty())
        {
            commit(std::mem::take(&mut batch), &mut written)?;
            batch_bytes = 0;
        }
        batch_bytes += key.len() + value.len();
        batch = batch.unchanged(key.clone(), 0).put(key, value);
    }
    if !batch.ops.is_empty() {
        commit(batch, &mut written)?;
    }
    let secrets = if backup.with_secrets {
        "with secrets"
    } else {
        "without secrets: set passwords again (sdnd user passwd), create new API tokens, and re-enter IPAM tokens and DNS keys"
    };
    Ok(format!(
        "restored {written} entries from {} (store revision {} of the original, {secrets})",
        from.display(),
        backup.revision
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_blanked_or_left_out_by_key() {
        let user = br#"{"enable":true,"expire":0,"password_hash":"$argon2id$x"}"#.to_vec();
        let out: Value = serde_json::from_slice(
            &without_secrets("access/users/a@pve", user)
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(out["password_hash"], Value::Null);
        assert_eq!(out["enable"], true);
        assert_eq!(
            without_secrets(layout::TICKET_KEY, vec![1, 2, 3]).unwrap(),
            None
        );
        let ipam = br#"{"type":"netbox","props":{"token":"t0ps3cret","url":"https://x"}}"#.to_vec();
        let key = layout::object(sdn_config::Kind::Ipams, "nb");
        let out = String::from_utf8(without_secrets(&key, ipam).unwrap().unwrap()).unwrap();
        assert!(
            !out.contains("t0ps3cret") && out.contains("https://x"),
            "{out}"
        );
        // Not JSON where JSON is expected: left out rather than kept with a secret inside.
        assert_eq!(
            without_secrets("access/tokens/a@pve!t", b"garbage".to_vec()).unwrap(),
            None
        );
        assert_eq!(
            without_secrets("sdn/running/version", b"3".to_vec()).unwrap(),
            Some(b"3".to_vec())
        );
    }

    #[test]
    fn a_store_larger_than_one_transaction_round_trips_entry_for_entry() {
        let dir = tempfile::tempdir().unwrap();
        let original = sdn_store::SqliteStore::open(&dir.path().join("a.db")).unwrap();
        for chunk in 0..5 {
            let mut txn = Txn::new();
            for i in 0..60 {
                txn = txn.put(format!("x/{chunk}/{i}"), format!("value {chunk} {i}"));
            }
            original.commit(txn).unwrap();
        }
        original
            .commit(Txn::new().put("raw", vec![0u8, 0xff, 7]))
            .unwrap();
        let file = dir.path().join("backup.json");
        write(&original, &file, false).unwrap();
        let copy = sdn_store::SqliteStore::open(&dir.path().join("b.db")).unwrap();
        let said = restore(&copy, &file).unwrap();
        assert!(said.starts_with("restored 301 entries"), "{said}");
        let pairs = |store: &dyn Store| -> Vec<(String, Vec<u8>)> {
            store
                .list("")
                .unwrap()
                .0
                .into_iter()
                .map(|e| (e.key, e.value))
                .collect()
        };
        assert_eq!(pairs(&copy), pairs(&original));
        // A second restore finds the store no longer empty.
        assert!(restore(&copy, &file).unwrap_err().contains("not empty"));
        // Not a backup: refused, naming the file.
        std::fs::write(dir.path().join("other.json"), "{}").unwrap();
        assert!(restore(&copy, &dir.path().join("other.json"))
            .unwrap_err()
            .contains("other.json"));
    }

    #[test]
    fn values_round_trip_as_text_or_hex() {
        for value in [b"plain".to_vec(), vec![0xff, 0x00, 0x80]] {
            let entry = BackupEntry::new("k".into(), value.clone());
            assert_eq!(entry.value().unwrap(), value);
        }
        let both = BackupEntry {
            key: "k".into(),
            text: Some("a".into()),
            hex: Some("61".into()),
        };
        assert!(both.value().is_err());
    }
}
