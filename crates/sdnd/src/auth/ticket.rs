//! Login tickets and CSRF tokens, signed with a cluster-wide key from the store so that every
//! node accepts what any node issued.
//!
//! Ticket: `PVE:{userid}:{issued:08X}::{hmac}`; CSRF token: `{issued:08X}:{hmac}`.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How long a ticket (and its CSRF token) is valid, as in PVE.
pub const DEFAULT_LIFETIME: i64 = 2 * 3600;
/// How far in the future an issue time may lie (clock skew between nodes).
const MAX_SKEW: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

fn sign(key: &[u8], data: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn fresh(issued: i64, now: i64, lifetime: i64) -> bool {
    issued <= now + MAX_SKEW && now - issued < lifetime
}

pub fn issue_ticket(key: &[u8], userid: &str, now: i64) -> String {
    let plain = format!("PVE:{userid}:{now:08X}");
    let signature = sign(key, &plain);
    format!("{plain}::{signature}")
}

/// The user a ticket was issued to, if it is genuine and not expired.
pub fn verify_ticket(key: &[u8], ticket: &str, now: i64, lifetime: i64) -> Option<String> {
    let (plain, signature) = ticket.split_once("::")?;
    let mut fields = plain.split(':');
    let (Some("PVE"), Some(userid), Some(issued), None) = (fields.next(), fields.next(), fields.next(), fields.next()) else {
        return None;
    };
    let issued = i64::from_str_radix(issued, 16).ok()?;
    (equal(&sign(key, plain), signature) && fresh(issued, now, lifetime)).then(|| userid.to_string())
}

pub fn issue_csrf(key: &[u8], userid: &str, now: i64) -> String {
    let signature = sign(key, &format!("CSRF:{now:08X}:{userid}"));
    format!("{now:08X}:{signature}")
}

pub fn verify_csrf(key: &[u8], userid: &str, token: &str, now: i64, lifetime: i64) -> bool {
    let Some((issued_hex, signature)) = token.split_once(':') else { return false };
    let Ok(issued) = i64::from_str_radix(issued_hex, 16) else { return false };
    equal(&sign(key, &format!("CSRF:{issued_hex}:{userid}")), signature) && fresh(issued, now, lifetime)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn tickets_verify_expire_and_resist_forgery() {
        let ticket = issue_ticket(KEY, "alice@pve", 1_000_000);
        assert!(ticket.starts_with("PVE:alice@pve:000F4240::"));
        assert_eq!(verify_ticket(KEY, &ticket, 1_000_100, DEFAULT_LIFETIME).as_deref(), Some("alice@pve"));
        assert_eq!(verify_ticket(KEY, &ticket, 1_000_000 + DEFAULT_LIFETIME, DEFAULT_LIFETIME), None);
        assert_eq!(verify_ticket(b"other key", &ticket, 1_000_100, DEFAULT_LIFETIME), None);
        let forged = ticket.replace("alice@pve", "root@pam");
        assert_eq!(verify_ticket(KEY, &forged, 1_000_100, DEFAULT_LIFETIME), None);
        assert_eq!(verify_ticket(KEY, "garbage", 1_000_100, DEFAULT_LIFETIME), None);
    }

    #[test]
    fn csrf_tokens_bind_the_user() {
        let csrf = issue_csrf(KEY, "alice@pve", 1_000_000);
        assert!(verify_csrf(KEY, "alice@pve", &csrf, 1_000_010, DEFAULT_LIFETIME));
        assert!(!verify_csrf(KEY, "bob@pve", &csrf, 1_000_010, DEFAULT_LIFETIME));
        assert!(!verify_csrf(KEY, "alice@pve", &csrf, 1_000_000 + DEFAULT_LIFETIME, DEFAULT_LIFETIME));
        assert!(!verify_csrf(KEY, "alice@pve", "zz:zz", 1_000_010, DEFAULT_LIFETIME));
    }
}
