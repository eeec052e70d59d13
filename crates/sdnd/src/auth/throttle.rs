//! Failed logins, counted per client address and per user at that address, so that guessing
//! passwords is slow and then refused, while the real user logging in from elsewhere is not
//! locked out. Bounded in memory: at most [`MAX_TRACKED`] addresses and pairs are remembered.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Failures within [`WINDOW_MS`] after which one user at one address is refused.
const PER_USER_AT_ADDRESS: u32 = 5;
/// Failures within [`WINDOW_MS`] after which an address is refused, whatever user it tries.
const PER_ADDRESS: u32 = 20;
/// How long failures count.
const WINDOW_MS: i64 = 60_000;
/// The first refusal lasts this long; each further failure doubles it, up to [`MAX_BLOCK_MS`].
const FIRST_BLOCK_MS: i64 = 30_000;
const MAX_BLOCK_MS: i64 = 15 * 60_000;
/// Entries kept at most per table; the oldest go first when a flood of addresses fills it.
const MAX_TRACKED: usize = 10_000;

/// Failures of one key in the current window, and until when it is refused.
#[derive(Debug, Clone, Copy, Default)]
struct Record {
    window_start_ms: i64,
    failures: u32,
    blocked_until_ms: i64,
    last_ms: i64,
}

impl Record {
    fn fail(&mut self, now_ms: i64, threshold: u32) {
        if now_ms - self.window_start_ms >= WINDOW_MS {
            self.window_start_ms = now_ms;
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        self.last_ms = now_ms;
        if self.failures >= threshold {
            let doublings = (self.failures - threshold).min(16);
            let block = FIRST_BLOCK_MS.saturating_mul(1 << doublings).min(MAX_BLOCK_MS);
            self.blocked_until_ms = now_ms + block;
        }
    }
}

#[derive(Default)]
struct Tables {
    by_address: HashMap<IpAddr, Record>,
    by_user_at_address: HashMap<(String, IpAddr), Record>,
}

/// The failed-login bookkeeping of one server.
#[derive(Default)]
pub struct LoginThrottle {
    tables: Mutex<Tables>,
}

impl LoginThrottle {
    /// `Err(seconds to wait)` if a login of `user` from `address` is refused right now.
    pub fn check(&self, user: &str, address: IpAddr, now_ms: i64) -> Result<(), u64> {
        let tables = self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let until = [
            tables.by_address.get(&address).map(|r| r.blocked_until_ms),
            tables.by_user_at_address.get(&(user.to_string(), address)).map(|r| r.blocked_until_ms),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
        if until > now_ms {
            Err(u64::try_from((until - now_ms + 999) / 1000).unwrap_or(1))
        } else {
            Ok(())
        }
    }

    /// Counts a failed login of `user` from `address`.
    pub fn failed(&self, user: &str, address: IpAddr, now_ms: i64) {
        let mut tables = self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        bounded_entry(&mut tables.by_address, address, now_ms).fail(now_ms, PER_ADDRESS);
        bounded_entry(&mut tables.by_user_at_address, (user.to_string(), address), now_ms).fail(now_ms, PER_USER_AT_ADDRESS);
    }

    /// A successful login clears that user's failures at that address.
    pub fn succeeded(&self, user: &str, address: IpAddr) {
        let mut tables = self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tables.by_user_at_address.remove(&(user.to_string(), address));
    }
}

/// The record of `key`, making room first if the table is full: records no longer counting
/// go, and if that is not enough, the least recently failed one.
fn bounded_entry<K: std::hash::Hash + Eq + Clone>(table: &mut HashMap<K, Record>, key: K, now_ms: i64) -> &mut Record {
    if !table.contains_key(&key) && table.len() >= MAX_TRACKED {
        table.retain(|_, r| now_ms - r.last_ms < WINDOW_MS || r.blocked_until_ms > now_ms);
        if table.len() >= MAX_TRACKED {
            if let Some(oldest) = table.iter().min_by_key(|(_, r)| r.last_ms).map(|(k, _)| k.clone()) {
                table.remove(&oldest);
            }
        }
    }
    table.entry(key).or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_guesser_is_refused_but_the_user_elsewhere_is_not() {
        let throttle = LoginThrottle::default();
        for i in 0..PER_USER_AT_ADDRESS {
            assert!(throttle.check("alice@pve", A, 1000 + i64::from(i)).is_ok());
            throttle.failed("alice@pve", A, 1000 + i64::from(i));
        }
        let wait = throttle.check("alice@pve", A, 2000).unwrap_err();
        assert!((29..=30).contains(&wait), "{wait}");
        assert!(throttle.check("alice@pve", B, 2000).is_ok(), "alice from another address");
        assert!(throttle.check("bob@pve", A, 2000).is_ok(), "another user from the same address, for now");
        assert!(throttle.check("alice@pve", A, 1004 + FIRST_BLOCK_MS).is_ok(), "the refusal ends");
    }

    #[test]
    fn an_address_trying_many_users_is_refused_for_all() {
        let throttle = LoginThrottle::default();
        for i in 0..PER_ADDRESS {
            throttle.failed(&format!("user{i}@pve"), A, 1000);
        }
        assert!(throttle.check("anyone@pve", A, 1001).is_err());
        assert!(throttle.check("anyone@pve", B, 1001).is_ok());
    }

    #[test]
    fn refusals_grow_and_are_capped() {
        let throttle = LoginThrottle::default();
        for _ in 0..(PER_USER_AT_ADDRESS + 30) {
            throttle.failed("alice@pve", A, 1000);
        }
        let wait = throttle.check("alice@pve", A, 1000).unwrap_err();
        assert_eq!(wait, u64::try_from(MAX_BLOCK_MS / 1000).unwrap());
    }

    #[test]
    fn memory_is_bounded_under_a_flood_of_addresses() {
        let throttle = LoginThrottle::default();
        for i in 0..(MAX_TRACKED as u32 + 500) {
            let address = IpAddr::V6(std::net::Ipv6Addr::from(u128::from(i)));
            throttle.failed("x@pve", address, 1000);
        }
        let tables = throttle.tables.lock().unwrap();
        assert!(tables.by_address.len() <= MAX_TRACKED && tables.by_user_at_address.len() <= MAX_TRACKED);
    }

    #[test]
    fn success_clears_the_users_failures() {
        let throttle = LoginThrottle::default();
        for _ in 0..PER_USER_AT_ADDRESS - 1 {
            throttle.failed("alice@pve", A, 1000);
        }
        throttle.succeeded("alice@pve", A);
        throttle.failed("alice@pve", A, 1001);
        assert!(throttle.check("alice@pve", A, 1002).is_ok());
    }
}
