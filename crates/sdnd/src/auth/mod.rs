//! Authentication and privileges: the one place that decides who a request comes from and
//! whether it may do what its route needs.
//!
//! Callers authenticate with an API token (`Authorization: PVEAPIToken=USER@REALM!ID=SECRET`)
//! or a ticket (`Cookie: PVEAuthCookie=...`, plus a `CSRFPreventionToken` header on every
//! non-GET request). Users, tokens, ACLs, roles and the ticket key live in the store, so every
//! node of a cluster and the admin commands (run beside a serving process) share them.

pub mod acl;
pub mod guard;
pub mod ids;
pub mod records;
pub mod throttle;
pub mod ticket;
pub mod watch;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::clock::Clock;
use crate::error::Error;
use records::{AccessData, TokenRecord};
use sdn_store::Store;

pub use ids::{TokenName, UserId};

pub const SDN_AUDIT: &str = "SDN.Audit";
pub const SDN_ALLOCATE: &str = "SDN.Allocate";
pub const SYS_AUDIT: &str = "Sys.Audit";
pub const SYS_MODIFY: &str = "Sys.Modify";

/// What a route requires of its caller: data in the route table, checked by the dispatcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// No authentication (the login itself).
    Public,
    /// Any authenticated caller (e.g. `/version`).
    Authenticated,
    /// Any one of the privileges on the path; `{name}` segments are filled from the parameters.
    Path(&'static str, &'static [&'static str]),
    /// The handler checks each object it touches against its own ACL path, and lists show only
    /// what the caller may see.
    PerObject,
}

/// Credentials as they arrived, not yet checked.
#[derive(Debug, Clone, Default)]
pub enum Credentials {
    #[default]
    None,
    ApiToken { user: String, token: String, secret: String },
    Ticket { ticket: String, csrf: Option<String> },
    Malformed(String),
}

#[derive(Debug, Clone)]
enum Principal {
    /// A request to a public route.
    Nobody,
    User { user: UserId, token: Option<(String, TokenRecord)> },
}

/// Who is calling, after authentication, with what they may do.
#[derive(Debug, Clone)]
pub struct Caller {
    principal: Principal,
    access: Arc<AccessData>,
}

impl Caller {
    /// The access records the caller was authenticated against.
    pub fn access(&self) -> &AccessData {
        &self.access
    }

    /// The user behind the caller, and whether it calls with a token.
    pub fn user(&self) -> Option<(&UserId, bool)> {
        match &self.principal {
            Principal::Nobody => None,
            Principal::User { user, token } => Some((user, token.is_some())),
        }
    }

    /// The id PVE shows for this caller: `USER@REALM` or `USER@REALM!TOKENID`.
    pub fn auth_id(&self) -> String {
        match &self.principal {
            Principal::Nobody => "nobody".to_string(),
            Principal::User { user, token: Some((name, _)) } => format!("{user}!{name}"),
            Principal::User { user, token: None } => user.to_string(),
        }
    }

    pub fn privileges(&self, path: &str) -> BTreeSet<String> {
        match &self.principal {
            Principal::Nobody => BTreeSet::new(),
            Principal::User { user, token } => {
                let token_id = token.as_ref().map(|(name, _)| format!("{user}!{name}"));
                self.access.privileges(user, token.as_ref().map(|(_, r)| r), token_id.as_deref(), path)
            }
        }
    }

    /// The paths of the ACL entries for this caller (its user, and its token if it is one).
    pub fn acl_paths(&self) -> Vec<String> {
        let subjects: Vec<acl::Subject> = match &self.principal {
            Principal::Nobody => Vec::new(),
            Principal::User { user, token } => std::iter::once(acl::Subject::User(user.to_string()))
                .chain(token.as_ref().map(|(name, _)| acl::Subject::Token(format!("{user}!{name}"))))
                .collect(),
        };
        self.access.acl.paths_of(&subjects).map(str::to_string).collect()
    }

    /// Whether the caller holds any one of `privs` on `path`.
    pub fn has_any(&self, path: &str, privs: &[&str]) -> bool {
        // The superuser (and its tokens without privilege separation) holds everything:
        // answer without building the full privilege set on every check.
        if let Principal::User { user, token } = &self.principal {
            let separated = token.as_ref().is_some_and(|(_, record)| record.privsep);
            if user.as_str() == records::SUPERUSER && !separated {
                return true;
            }
        }
        let held = self.privileges(path);
        privs.iter().any(|p| held.contains(*p))
    }

    /// 403 naming the path and privilege unless the caller holds one of `privs` on `path`.
    pub fn require(&self, path: &str, privs: &[&str]) -> Result<(), Error> {
        if self.has_any(path, privs) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("Permission check failed ({path}, {})", privs.join(" | "))))
        }
    }
}

/// Fills `{name}` segments of an ACL path template from the request parameters.
fn fill_path(template: &str, params: &Map<String, Value>) -> String {
    template
        .split('/')
        .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => params.get(name).and_then(Value::as_str).unwrap_or("").to_string(),
            None => segment.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Authentication and authorization against the store.
pub struct Auth {
    store: Arc<dyn Store>,
    clock: Clock,
    ticket_lifetime: i64,
    /// The cluster's ticket key never changes once created: read it once.
    ticket_key: std::sync::OnceLock<Vec<u8>>,
    /// The parsed access records and the generation they were read at: a request then costs
    /// one point read, not a parse of every user, token and ACL.
    cached: std::sync::Mutex<Option<(sdn_store::Revision, Arc<AccessData>)>>,
    /// When the cached records were last found current (see [`Auth::authenticate_recent`]).
    confirmed: std::sync::Mutex<Option<Confirmed>>,
    /// When a read last asked for that (see [`Auth::confirmation_in_use`]).
    confirmation_asked: std::sync::Mutex<Option<std::time::Instant>>,
    throttle: throttle::LoginThrottle,
    password_checks: Gate,
}

/// A read of the access generation that found the cached records current.
#[derive(Clone, Copy)]
struct Confirmed {
    generation: sdn_store::Revision,
    /// [`records::local_writes`] before the read.
    local_writes: u64,
    /// When the read began.
    at: std::time::Instant,
}

/// On a remote store (etcd), a read (GET, HEAD) may be authenticated on the access records as
/// last found current if that was at most this long ago: a token revoked on another node, or
/// by the admin command beside the server, may go on reading this long at most (its writes
/// are refused at once, see [`guard`]); one revoked through this process is refused at once.
/// The access watcher confirms them several times within it, so a datacenter manager's
/// polling costs no round trip to etcd per request. On SQLite the generation is read for
/// every request, as its read is local: there, every revocation holds at once.
pub const READ_CONFIRMED_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);
/// How often the access watcher confirms the records when nothing changes.
const CONFIRM_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// Password checks (argon2, 19 MiB each) run at most this many at once, so that a flood of
/// logins costs bounded memory and leaves the other requests their threads.
const PASSWORD_CHECKS_AT_ONCE: usize = 2;
/// How long a login waits for its turn before it is refused as "busy".
const PASSWORD_CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A counting gate: at most `limit` holders at once.
struct Gate {
    held: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
    limit: usize,
}

impl Gate {
    fn new(limit: usize) -> Self {
        Gate { held: std::sync::Mutex::new(0), freed: std::sync::Condvar::new(), limit }
    }

    /// Runs `work` once a place is free, or `None` if none was within `wait`.
    fn run<T>(&self, wait: std::time::Duration, work: impl FnOnce() -> T) -> Option<T> {
        let held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (mut held, timeout) = self
            .freed
            .wait_timeout_while(held, wait, |held| *held >= self.limit)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if timeout.timed_out() && *held >= self.limit {
            return None;
        }
        *held += 1;
        drop(held);
        let result = work();
        *self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner) -= 1;
        self.freed.notify_one();
        Some(result)
    }
}

const AUTH_FAILURE: &str = "authentication failure";

impl Auth {
    pub fn new(store: Arc<dyn Store>, clock: Clock, ticket_lifetime: i64) -> Self {
        Self {
            store,
            clock,
            ticket_lifetime,
            ticket_key: std::sync::OnceLock::new(),
            cached: Default::default(),
            confirmed: Default::default(),
            confirmation_asked: Default::default(),
            throttle: throttle::LoginThrottle::default(),
            password_checks: Gate::new(PASSWORD_CHECKS_AT_ONCE),
        }
    }

    fn ticket_key(&self) -> Result<&[u8], Error> {
        if let Some(key) = self.ticket_key.get() {
            return Ok(key);
        }
        let key = records::ticket_key(self.store.as_ref())?;
        Ok(self.ticket_key.get_or_init(|| key))
    }

    /// The access records as of now. The generation is read before the records, so a change
    /// landing in between only makes the next request read them again.
    fn load(&self) -> Result<Arc<AccessData>, Error> {
        let (local_writes, at) = (records::local_writes(), std::time::Instant::now());
        let generation = records::generation(self.store.as_ref())?;
        let current = {
            let cached = self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match cached.as_ref() {
                Some((seen, data)) if generation == *seen => Some(data.clone()),
                _ => None,
            }
        };
        let data = match current {
            Some(data) => data,
            None => {
                // Read without the cache's lock: requests take it on the runtime's workers
                // (`authenticate_cached`), and a store read may wait seconds.
                let data = Arc::new(AccessData::load(self.store.as_ref())?);
                let mut cached = self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // Two loads may race: the records of the newer generation stay.
                let newer_cached = matches!(cached.as_ref(), Some((seen, _)) if *seen > generation);
                if !newer_cached {
                    *cached = Some((generation, data.clone()));
                }
                data
            }
        };
        *self.confirmed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(Confirmed { generation, local_writes, at });
        Ok(data)
    }

    /// Reads the access generation, and the records if they changed: for the access watcher.
    pub fn confirm(&self) -> Result<sdn_store::Revision, Error> {
        self.load()?;
        Ok(self.confirmed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).map_or(0, |c| c.generation))
    }

    /// For a read (GET, HEAD): the caller, if the cached access records admit it and were
    /// found current within [`READ_CONFIRMED_WITHIN`] with no access change through this
    /// process since, with their generation; no store read. `None`: ask
    /// [`Auth::authenticate`] (which alone answers refusals). The request runs armed with the
    /// generation, so that nothing it writes or sends elsewhere gets past a revocation.
    pub fn authenticate_recent(&self, credentials: &Credentials, peer: SocketAddr) -> Option<(Caller, sdn_store::Revision)> {
        if !self.store.remote() {
            return None;
        }
        *self.confirmation_asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(std::time::Instant::now());
        let confirmed = (*self.confirmed.lock().unwrap_or_else(std::sync::PoisonError::into_inner))?;
        if confirmed.at.elapsed() > READ_CONFIRMED_WITHIN || confirmed.local_writes != records::local_writes() {
            return None;
        }
        let (caller, generation) = self.authenticate_cached(credentials, true, peer)?;
        (generation == confirmed.generation).then_some((caller, generation))
    }

    /// Whether reads asked for recently confirmed records within the last
    /// [`READ_CONFIRMED_WITHIN`] twice over: while they do, the access watcher confirms the
    /// records every [`CONFIRM_INTERVAL`] so that they find them so; an idle server leaves
    /// etcd alone (its next read confirms them itself, one round trip, as every read did
    /// before the watcher), and a change of the records is still read at once.
    pub fn confirmation_in_use(&self) -> bool {
        let asked = *self.confirmation_asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        asked.is_some_and(|at| at.elapsed() <= 2 * READ_CONFIRMED_WITHIN)
    }

    /// The caller of a public route.
    pub fn nobody(&self) -> Caller {
        Caller { principal: Principal::Nobody, access: Arc::new(AccessData::default()) }
    }

    /// Who sent this request; 401 if nobody we know.
    /// `safe_method`: a GET or HEAD, which needs no CSRF token with a ticket.
    pub fn authenticate(&self, credentials: &Credentials, safe_method: bool, peer: SocketAddr) -> Result<Caller, Error> {
        let access = self.load()?;
        self.verify(credentials, safe_method, peer, access, true)
    }

    /// The caller, if the access records as last read here admit it, with their generation;
    /// no store read. `None`: nothing cached, or refused by the cache (which only a fresh
    /// [`Auth::authenticate`] may answer). A write authenticated so must run armed with the
    /// generation (see [`guard`]).
    pub fn authenticate_cached(&self, credentials: &Credentials, safe_method: bool, peer: SocketAddr) -> Option<(Caller, sdn_store::Revision)> {
        let (generation, access) = self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()?;
        if matches!(credentials, Credentials::Ticket { .. }) && self.ticket_key.get().is_none() {
            return None;
        }
        let caller = self.verify(credentials, safe_method, peer, access, false).ok()?;
        Some((caller, generation))
    }

    /// Checks `credentials` against `access`; `log_refusal`: a refusal is final (and logged).
    fn verify(&self, credentials: &Credentials, safe_method: bool, peer: SocketAddr, access: Arc<AccessData>, log_refusal: bool) -> Result<Caller, Error> {
        match credentials {
            Credentials::None => Err(Error::Unauthenticated(
                "No ticket or API token (send Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET)".into(),
            )),
            Credentials::Malformed(why) => Err(Error::Unauthenticated(format!("{AUTH_FAILURE}: {why}"))),
            Credentials::ApiToken { user, token, secret } => {
                let refused = || {
                    if log_refusal {
                        tracing::warn!("{AUTH_FAILURE}; rhost={peer} tokenid={user}!{token}");
                    }
                    Error::Unauthenticated(format!("{AUTH_FAILURE}: invalid API token"))
                };
                let (Ok(user_id), Ok(token_name)) = (UserId::parse(user), TokenName::parse(token)) else {
                    return Err(refused());
                };
                let record = access.active_token(&user_id, &token_name, self.clock.now());
                // Compare even when the token is unknown, so timing tells nothing.
                let stored = record.as_ref().map_or_else(|| "0".repeat(64), |r| r.secret_sha256.clone());
                let presented = records::sha256_hex(secret.as_bytes());
                let equal: bool = stored.as_bytes().ct_eq(presented.as_bytes()).into();
                match record {
                    Some(record) if equal => Ok(Caller {
                        principal: Principal::User { user: user_id, token: Some((token_name.as_str().to_string(), record)) },
                        access,
                    }),
                    _ => Err(refused()),
                }
            }
            Credentials::Ticket { ticket, csrf } => {
                let key = self.ticket_key()?;
                let now = self.clock.now();
                let user = ticket::verify_ticket(key, ticket, now, self.ticket_lifetime)
                    .and_then(|u| UserId::parse(&u).ok())
                    .ok_or_else(|| Error::Unauthenticated(format!("{AUTH_FAILURE}: invalid or expired ticket")))?;
                if access.active_user(&user, now).is_none() {
                    return Err(Error::Unauthenticated(format!("{AUTH_FAILURE}: account disabled or expired")));
                }
                let csrf_ok = csrf
                    .as_deref()
                    .is_some_and(|c| ticket::verify_csrf(key, user.as_str(), c, now, self.ticket_lifetime));
                if !safe_method && !csrf_ok {
                    return Err(Error::Unauthenticated("Permission denied - invalid csrf token".into()));
                }
                Ok(Caller { principal: Principal::User { user, token: None }, access })
            }
        }
    }

    /// Checks the route's permission for `caller` with the request's parameters.
    pub fn authorize(&self, caller: &Caller, permission: Permission, params: &Map<String, Value>) -> Result<(), Error> {
        match permission {
            Permission::Public | Permission::Authenticated | Permission::PerObject => Ok(()),
            Permission::Path(template, privs) => caller.require(&fill_path(template, params), privs),
        }
    }

    /// `POST /access/ticket`: a new ticket for a password, or for a still-valid ticket (renewal).
    /// Failures are counted per address and per user there: past the limits, 429.
    pub fn login(&self, username: &str, password: &str, peer: SocketAddr) -> Result<(UserId, String, String, Caller), Error> {
        let now = self.clock.now();
        let now_ms = self.clock.now_ms();
        let address = peer.ip();
        if let Err(wait) = self.throttle.check(username, address, now_ms) {
            tracing::debug!("{AUTH_FAILURE}; rhost={peer} user={username} msg=too many failed logins, refused for {wait}s");
            return Err(Error::TooManyRequests {
                message: format!("too many failed logins from {address}; try again in {wait} s"),
                retry_after: wait,
            });
        }
        let refused = |why: &str| {
            tracing::warn!("{AUTH_FAILURE}; rhost={peer} user={username} msg={why}");
            self.throttle.failed(username, address, now_ms);
            Error::LoginFailed(AUTH_FAILURE.to_string())
        };
        let key = self.ticket_key()?;
        let access = self.load()?;
        let user = UserId::parse(username).ok();
        let record = user.as_ref().and_then(|user| access.active_user(user, now));
        let genuine = match (&user, password.starts_with("PVE:")) {
            (Some(user), true) => ticket::verify_ticket(key, password, now, self.ticket_lifetime).as_deref() == Some(user.as_str()),
            // An unknown user costs the same argon2 run as a known one: timing tells nothing.
            _ => self
                .password_checks
                .run(PASSWORD_CHECK_WAIT, || records::verify_password(record.as_ref(), password))
                .ok_or_else(|| Error::Unavailable("too many logins at once; try again in a moment".into()))?,
        };
        let (Some(user), true, Some(_)) = (user, genuine, record) else {
            return Err(refused("invalid credentials"));
        };
        self.throttle.succeeded(username, address);
        let caller = Caller { principal: Principal::User { user: user.clone(), token: None }, access };
        Ok((user.clone(), ticket::issue_ticket(key, user.as_str(), now), ticket::issue_csrf(key, user.as_str(), now), caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_templates_fill_from_parameters() {
        let params: Map<String, Value> = [("node".to_string(), Value::from("n1"))].into_iter().collect();
        assert_eq!(fill_path("/nodes/{node}", &params), "/nodes/n1");
        assert_eq!(fill_path("/sdn", &params), "/sdn");
    }

    /// The parsed records are kept between requests, yet a change made by another process
    /// (the admin CLI on the same store) counts from the very next request.
    #[test]
    fn cached_access_records_follow_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(sdn_store::SqliteStore::open(&dir.path().join("store.db")).unwrap());
        let cli = sdn_store::SqliteStore::open(&dir.path().join("store.db")).unwrap();
        let auth = Auth::new(store, Clock::system(), 7200);
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let alice = UserId::parse("alice@pve").unwrap();
        let token = TokenName::parse("ci").unwrap();
        let with = |secret: &str| Credentials::ApiToken { user: "alice@pve".into(), token: "ci".into(), secret: secret.into() };

        records::add_user(&cli, &alice, None, 0, None).unwrap();
        let secret = records::add_token(&cli, &alice, &token, false, 0, None, 1_700_000_000).unwrap();
        let first = auth.authenticate(&with(&secret), true, peer).expect("new token works at once");
        let second = auth.authenticate(&with(&secret), true, peer).expect("token still works");
        assert!(Arc::ptr_eq(&first.access, &second.access), "unchanged records are not read again");

        records::delete_user(&cli, &alice).unwrap();
        assert!(auth.authenticate(&with(&secret), true, peer).is_err(), "a deleted user's token is refused at once");
        records::add_user(&cli, &alice, None, 0, None).unwrap();
        let renewed = records::add_token(&cli, &alice, &token, false, 0, None, 1_700_000_000).unwrap();
        assert!(auth.authenticate(&with(&secret), true, peer).is_err(), "the old secret stays refused");
        auth.authenticate(&with(&renewed), true, peer).expect("the new secret works");
    }

    /// A store whose listing of the access records waits until the test lets it go (a
    /// store out of reach), after saying it started; it counts the listings.
    struct StuckListing {
        inner: sdn_store::SqliteStore,
        stuck: std::sync::Mutex<Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>>,
        listings: std::sync::atomic::AtomicUsize,
    }

    impl StuckListing {
        fn open(path: &std::path::Path) -> Arc<StuckListing> {
            let inner = sdn_store::SqliteStore::open(path).unwrap();
            Arc::new(StuckListing { inner, stuck: Default::default(), listings: Default::default() })
        }
    }

    /// The store at `path` (the admin CLI's handle on it) where alice@pve has the token `ci`,
    /// and that token's credentials.
    fn alice_with_a_token(path: &std::path::Path) -> (sdn_store::SqliteStore, Credentials) {
        let cli = sdn_store::SqliteStore::open(path).unwrap();
        let alice = UserId::parse("alice@pve").unwrap();
        records::add_user(&cli, &alice, None, 0, None).unwrap();
        let secret = records::add_token(&cli, &alice, &TokenName::parse("ci").unwrap(), false, 0, None, 1_700_000_000).unwrap();
        (cli, Credentials::ApiToken { user: "alice@pve".into(), token: "ci".into(), secret })
    }

    impl Store for StuckListing {
        fn get(&self, key: &str) -> sdn_store::Result<Option<sdn_store::Entry>> {
            self.inner.get(key)
        }
        fn get_many(&self, keys: &[&str]) -> sdn_store::Result<Vec<Option<sdn_store::Entry>>> {
            self.inner.get_many(keys)
        }
        fn list(&self, prefix: &str) -> sdn_store::Result<(Vec<sdn_store::Entry>, sdn_store::Revision)> {
            self.listings.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if let Some((started, release)) = self.stuck.lock().unwrap().take() {
                started.send(()).unwrap();
                release.recv().unwrap();
            }
            self.inner.list(prefix)
        }
        fn revision(&self) -> sdn_store::Result<sdn_store::Revision> {
            self.inner.revision()
        }
        fn commit(&self, txn: sdn_store::Txn) -> sdn_store::Result<sdn_store::Commit> {
            self.inner.commit(txn)
        }
        fn wait_for_change(&self, prefix: &str, after: sdn_store::Revision, timeout: std::time::Duration) -> sdn_store::Result<sdn_store::Revision> {
            self.inner.wait_for_change(prefix, after, timeout)
        }
    }

    /// Requests authenticate on the cached records right on the runtime's workers: a reload
    /// that waits on the store must not make them wait with it.
    #[test]
    fn a_reload_stuck_in_the_store_does_not_hold_up_cached_authentication() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let (cli, credentials) = alice_with_a_token(&path);
        let store = StuckListing::open(&path);
        let auth = Arc::new(Auth::new(store.clone(), Clock::system(), 7200));
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        auth.authenticate(&credentials, false, peer).expect("the token works");

        // The records change, and the next reload gets stuck reading them.
        records::add_user(&cli, &UserId::parse("bob@pve").unwrap(), None, 0, None).unwrap();
        let (started_tx, started) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel();
        *store.stuck.lock().unwrap() = Some((started_tx, release_rx));
        let reload = {
            let (auth, credentials) = (auth.clone(), credentials.clone());
            std::thread::spawn(move || auth.authenticate(&credentials, false, peer).map(|_| ()))
        };
        started.recv().unwrap();
        // Answered from the cache while the reload waits.
        let (answer_tx, answer) = std::sync::mpsc::channel();
        std::thread::spawn(move || answer_tx.send(auth.authenticate_cached(&credentials, false, peer).is_some()));
        let cached = answer.recv_timeout(std::time::Duration::from_secs(20));
        release.send(()).unwrap();
        assert_eq!(cached, Ok(true), "a cached authentication waited for the stuck reload");
        reload.join().unwrap().expect("the reload ends once the store answers");
    }

    /// Records no change ever marked (a store an sdnd that kept no marker wrote, or one
    /// nobody changed yet) are read once, not once per request (and, on etcd, four times a
    /// second by the access watcher); the first change moves the marker and is seen at once.
    #[test]
    fn records_without_a_generation_are_read_once_and_a_change_still_counts_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let (cli, credentials) = alice_with_a_token(&path);
        cli.commit(sdn_store::Txn::new().delete(crate::layout::ACCESS_GENERATION)).unwrap();
        let store = StuckListing::open(&path);
        let auth = Auth::new(store.clone(), Clock::system(), 7200);
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        for _ in 0..3 {
            auth.authenticate(&credentials, true, peer).expect("the token works");
        }
        assert_eq!(auth.confirm().unwrap(), 0, "no change marked yet");
        let listings = || store.listings.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(listings(), 1, "the unmarked records were read again");

        records::delete_user(&cli, &UserId::parse("alice@pve").unwrap()).unwrap();
        assert!(auth.authenticate(&credentials, true, peer).is_err(), "the deleted user's token is refused at once");
        assert_eq!(listings(), 2);
    }
}
