//! The global SDN lock rule. Every mutating request is admitted (or refused) here and
//! nowhere else; [`super::Sdn::mutate`] then commits the change guarded on the lock entry being
//! exactly the one this rule looked at, so there is no window between check and write.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::reply::ApiError;

/// The stored lock: who holds it and a hash of its secret token (the token itself is only
/// ever in the response that created it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    pub token_sha256: String,
    pub holder: String,
    pub since: i64,
    pub expires: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl LockRecord {
    /// A new lock for `holder`; returns the record and the secret token to hand out.
    pub fn acquire(holder: String, now: i64, ttl: Option<u64>, comment: Option<String>) -> (Self, String) {
        let token = uuid::Uuid::now_v7().to_string();
        let record = LockRecord {
            token_sha256: hash(&token),
            holder,
            since: now,
            expires: ttl.map(|ttl| now.saturating_add(ttl as i64)),
            comment,
        };
        (record, token)
    }

    pub fn is_expired(&self, now: i64) -> bool {
        self.expires.is_some_and(|expires| now >= expires)
    }

    fn token_matches(&self, token: &str) -> bool {
        self.token_sha256.as_bytes().ct_eq(hash(token).as_bytes()).into()
    }

    /// "locked by X since T (until U; 'comment')" for refusal messages.
    fn describe(&self) -> String {
        let mut text = format!("the SDN configuration is locked by {} since {}", self.holder, self.since);
        if let Some(expires) = self.expires {
            text.push_str(&format!(" until {expires}"));
        }
        if let Some(comment) = &self.comment {
            text.push_str(&format!(" ({comment})"));
        }
        text
    }
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What a request wants to do with respect to the lock.
#[derive(Debug, Clone, Copy)]
pub enum Intent<'a> {
    /// Change the configuration (objects, apply, rollback), presenting `lock-token` if given.
    Change { token: Option<&'a str> },
    /// Take the lock.
    Acquire,
    /// Give the lock back with its token, or without it when forced.
    Release { token: Option<&'a str>, force: bool },
}

const WAY_OUT: &str = "use its lock-token, or release it with 'DELETE /cluster/sdn/lock --force 1'";

/// The lock rule. `lock` is the stored lock entry (expired or not), `now` the current time.
pub fn admit(intent: Intent<'_>, lock: Option<&LockRecord>, now: i64) -> Result<(), ApiError> {
    let live = lock.filter(|lock| !lock.is_expired(now));
    match (intent, live) {
        (Intent::Change { token: None }, None) => Ok(()),
        (Intent::Change { token: Some(_) }, None) | (Intent::Release { token: Some(_), force: false }, None) => {
            Err(ApiError::Locked(
                "invalid lock token: the SDN configuration is not locked (the lock was released or expired)".into(),
            ))
        }
        (Intent::Change { token: None }, Some(lock)) | (Intent::Release { token: None, force: false }, Some(lock)) => {
            Err(ApiError::Locked(format!("{}; {WAY_OUT}", lock.describe())))
        }
        (Intent::Change { token: Some(token) }, Some(lock))
        | (Intent::Release { token: Some(token), force: false }, Some(lock)) => {
            if lock.token_matches(token) {
                Ok(())
            } else {
                Err(ApiError::Locked(format!("invalid lock token: {}; {WAY_OUT}", lock.describe())))
            }
        }
        (Intent::Release { token: None, force: false }, None) => {
            Err(ApiError::Conflict("the SDN configuration is not locked".into()))
        }
        (Intent::Release { force: true, .. }, _) => Ok(()),
        (Intent::Acquire, None) => Ok(()),
        (Intent::Acquire, Some(lock)) => Err(ApiError::Locked(format!("{}; {WAY_OUT}", lock.describe()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(ttl: Option<u64>) -> (LockRecord, String) {
        LockRecord::acquire("root@pam!dcm".into(), 1000, ttl, Some("migration".into()))
    }

    #[test]
    fn unlocked_accepts_only_tokenless_changes() {
        assert!(admit(Intent::Change { token: None }, None, 0).is_ok());
        assert!(matches!(admit(Intent::Change { token: Some("x") }, None, 0), Err(ApiError::Locked(_))));
        assert!(admit(Intent::Acquire, None, 0).is_ok());
    }

    #[test]
    fn locked_accepts_only_its_token() {
        let (lock, token) = locked(None);
        assert!(admit(Intent::Change { token: Some(&token) }, Some(&lock), 2000).is_ok());
        let refused = admit(Intent::Change { token: None }, Some(&lock), 2000).unwrap_err();
        assert!(refused.message().contains("root@pam!dcm") && refused.message().contains("--force 1"));
        assert!(admit(Intent::Change { token: Some("wrong") }, Some(&lock), 2000).is_err());
        assert!(admit(Intent::Acquire, Some(&lock), 2000).is_err());
        assert!(admit(Intent::Release { token: None, force: true }, Some(&lock), 2000).is_ok());
        assert!(admit(Intent::Release { token: Some(&token), force: false }, Some(&lock), 2000).is_ok());
        assert!(admit(Intent::Release { token: Some("wrong"), force: false }, Some(&lock), 2000).is_err());
    }

    #[test]
    fn expired_lock_is_no_lock() {
        let (lock, token) = locked(Some(60));
        assert!(admit(Intent::Change { token: Some(&token) }, Some(&lock), 1059).is_ok());
        assert!(admit(Intent::Change { token: Some(&token) }, Some(&lock), 1060).is_err());
        assert!(admit(Intent::Change { token: None }, Some(&lock), 1060).is_ok());
        assert!(admit(Intent::Acquire, Some(&lock), 1060).is_ok());
    }

    #[test]
    fn tokens_are_unique_and_not_stored() {
        let (a, ta) = locked(None);
        let (_, tb) = locked(None);
        assert_ne!(ta, tb);
        assert!(!serde_json::to_string(&a).unwrap().contains(&ta));
    }
}
