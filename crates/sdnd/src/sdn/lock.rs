//! The global SDN lock rule. Every mutating request is admitted (or refused) here and
//! nowhere else; [`super::Sdn::mutate`] then commits the change guarded on the lock entry being
//! exactly the one this rule looked at, so there is no window between check and write.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Error;
pub use crate::layout::LockRecord;

impl LockRecord {
    /// A new lock for `holder`; returns the record and the secret token to hand out.
    /// A random (version 4) UUID: 122 random bits, in the shape clients know.
    pub fn acquire(holder: String, now_ms: i64, ttl: Option<u64>, comment: Option<String>) -> (Self, String) {
        let token = sdn_wire::LockToken::generate().as_str().to_string();
        let record = LockRecord {
            token_sha256: hash(&token),
            holder,
            since_ms: now_ms,
            expires_ms: ttl.map(|ttl| now_ms.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX).saturating_mul(1000))),
            comment,
        };
        (record, token)
    }

    /// Whether the lock has run out at `now_ms` (epoch milliseconds).
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_ms.is_some_and(|expires| now_ms >= expires)
    }

    /// When it was taken, in epoch seconds.
    pub fn since(&self) -> i64 {
        self.since_ms.div_euclid(1000)
    }

    /// When it runs out, in epoch seconds rounded up: never earlier than it really does.
    pub fn expires(&self) -> Option<i64> {
        self.expires_ms.map(|ms| ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) != 0))
    }

    /// Milliseconds left at `now_ms` (at least 1 while it is live); `None` without a ttl.
    pub fn remaining_ms(&self, now_ms: i64) -> Option<i64> {
        self.expires_ms.map(|expires| expires.saturating_sub(now_ms).max(1))
    }

    fn token_matches(&self, token: &str) -> bool {
        self.token_sha256.as_bytes().ct_eq(hash(token).as_bytes()).into()
    }

    /// "locked by X since T (until U; 'comment')" for refusal messages.
    fn describe(&self) -> String {
        let mut text = format!("the SDN configuration is locked by {} since {}", self.holder, self.since());
        if let Some(expires) = self.expires() {
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
    /// The server's own revert of an unconfirmed apply: it acts for the lock's holder (who
    /// made the apply under the lock), so the lock admits it.
    Revert,
}

const WAY_OUT: &str = "use its lock-token, or release it with 'DELETE /cluster/sdn/lock --force 1'";

/// The lock rule. `lock` is the stored lock entry (expired or not), `now_ms` the current time
/// in epoch milliseconds.
pub fn admit(intent: Intent<'_>, lock: Option<&LockRecord>, now_ms: i64) -> Result<(), Error> {
    let live = lock.filter(|lock| !lock.is_expired(now_ms));
    match (intent, live) {
        (Intent::Change { token: None }, None) => Ok(()),
        (Intent::Change { token: Some(_) }, None) | (Intent::Release { token: Some(_), force: false }, None) => {
            Err(Error::Locked(
                "invalid lock token: the SDN configuration is not locked (the lock was released or expired)".into(),
            ))
        }
        (Intent::Change { token: None }, Some(lock)) | (Intent::Release { token: None, force: false }, Some(lock)) => {
            Err(Error::Locked(format!("{}; {WAY_OUT}", lock.describe())))
        }
        (Intent::Change { token: Some(token) }, Some(lock))
        | (Intent::Release { token: Some(token), force: false }, Some(lock)) => {
            if lock.token_matches(token) {
                Ok(())
            } else {
                Err(Error::Locked(format!("invalid lock token: {}; {WAY_OUT}", lock.describe())))
            }
        }
        (Intent::Release { token: None, force: false }, None) => {
            Err(Error::Conflict("the SDN configuration is not locked".into()))
        }
        (Intent::Release { force: true, .. }, _) | (Intent::Revert, _) => Ok(()),
        (Intent::Acquire, None) => Ok(()),
        (Intent::Acquire, Some(lock)) => Err(Error::Locked(format!("{}; {WAY_OUT}", lock.describe()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(ttl: Option<u64>) -> (LockRecord, String) {
        LockRecord::acquire("root@pam!dcm".into(), 1_000_990, ttl, Some("migration".into()))
    }

    #[test]
    fn unlocked_accepts_only_tokenless_changes() {
        assert!(admit(Intent::Change { token: None }, None, 0).is_ok());
        assert!(matches!(admit(Intent::Change { token: Some("x") }, None, 0), Err(Error::Locked(_))));
        assert!(admit(Intent::Acquire, None, 0).is_ok());
    }

    #[test]
    fn locked_accepts_only_its_token() {
        let (lock, token) = locked(None);
        assert!(admit(Intent::Change { token: Some(&token) }, Some(&lock), 2_000_000).is_ok());
        let refused = admit(Intent::Change { token: None }, Some(&lock), 2_000_000).unwrap_err();
        assert!(refused.message().contains("root@pam!dcm") && refused.message().contains("--force 1"));
        assert!(admit(Intent::Change { token: Some("wrong") }, Some(&lock), 2_000_000).is_err());
        assert!(admit(Intent::Acquire, Some(&lock), 2_000_000).is_err());
        assert!(admit(Intent::Release { token: None, force: true }, Some(&lock), 2_000_000).is_ok());
        assert!(admit(Intent::Release { token: Some(&token), force: false }, Some(&lock), 2_000_000).is_ok());
        assert!(admit(Intent::Release { token: Some("wrong"), force: false }, Some(&lock), 2_000_000).is_err());
    }

    #[test]
    fn expired_lock_is_no_lock() {
        let (lock, token) = locked(Some(60));
        assert!(admit(Intent::Change { token: Some(&token) }, Some(&lock), 1_060_989).is_ok());
        assert!(admit(Intent::Change { token: Some(&token) }, Some(&lock), 1_060_990).is_err());
        assert!(admit(Intent::Change { token: None }, Some(&lock), 1_060_990).is_ok());
        assert!(admit(Intent::Acquire, Some(&lock), 1_060_990).is_ok());
    }

    #[test]
    fn a_one_second_lock_lasts_a_second_whenever_it_was_taken() {
        // Taken at x.99 s: still held 10 ms later (whole seconds said "expired" here).
        let (lock, token) = LockRecord::acquire("a@pve".into(), 1_000_990, Some(1), None);
        assert!(admit(Intent::Change { token: Some(&token) }, Some(&lock), 1_001_000).is_ok());
        assert!(admit(Intent::Change { token: Some(&token) }, Some(&lock), 1_001_989).is_ok());
        assert!(admit(Intent::Change { token: Some(&token) }, Some(&lock), 1_001_990).is_err());
        // Reported in epoch seconds, rounded up.
        assert_eq!((lock.since(), lock.expires()), (1000, Some(1002)));
    }

    #[test]
    fn tokens_are_random_uuids() {
        let (_, token) = locked(None);
        let parsed = uuid::Uuid::parse_str(&token).unwrap();
        assert_eq!(parsed.get_version(), Some(uuid::Version::Random));
    }

    #[test]
    fn tokens_are_unique_and_not_stored() {
        let (a, ta) = locked(None);
        let (_, tb) = locked(None);
        assert_ne!(ta, tb);
        assert!(!serde_json::to_string(&a).unwrap().contains(&ta));
    }
}
