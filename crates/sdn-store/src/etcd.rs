//! The multi-node [`Store`] backend: an etcd cluster, reached with the `etcd-client` crate.
//!
//! The mapping is direct, since the store's model is etcd's: revisions are etcd revisions,
//! an entry's `mod_revision` is etcd's, guards are the compares of one etcd `Txn`
//! (absence is `mod_revision == 0` / `create_revision == 0`), [`Op::DeletePrefix`] is a
//! range delete and [`Op::PutExpiring`] attaches a lease granted just before the commit.
//! `wait_for_change` is an etcd watch starting right after the caller's revision, so it
//! also reports changes made while the caller was not waiting.
//!
//! A transaction that replaces a whole configuration (import, rollback) carries one operation
//! per object, so etcd must run with `--max-txn-ops` and `--max-request-bytes` above the
//! largest configuration (etcd's defaults, 128 operations and 1.5 MiB, fit about a hundred
//! objects); the error names the flag when they don't.
//!
//! Every key is stored under a prefix (`/sdnd/` by default), so several clusters, or test
//! runs, can share one etcd.
//!
//! The client is async; the store owns a small private tokio runtime and blocks on it, so
//! it must be called from plain threads (or `spawn_blocking`), never from async code. Each
//! request is bounded by a timeout, and the client asks etcd to refuse requests while the
//! member it talks to has no leader, so a cluster without quorum is reported as
//! [`StoreError::Unavailable`] within seconds. The underlying gRPC channels reconnect by
//! themselves, so service resumes when quorum returns without any action here.
//!
//! # Failover
//!
//! The store keeps one channel per member and sends each call to the member that answered
//! last. A member that stops answering without closing its connection (a hung process,
//! dropped packets) is noticed by a per-attempt deadline well below the request's budget
//! ([`EtcdStore::attempt_timeout`]) and by HTTP/2 keepalive pings on open streams; the call
//! then goes to the next member, and so do the calls after it. A watch asks its member for
//! a progress report whenever it has been quiet for an attempt's deadline, and starts over
//! on the next member (from the same revision, so nothing is missed) when none comes.
//!
//! # Writes whose outcome is unknown
//!
//! A commit that timed out or lost its connection may still have committed, or may commit
//! later (a hung member can forward the proposal when it resumes). So every transaction
//! carries a write id: it commits only if the id's marker key (`~txn/<id>` under the prefix)
//! does not exist yet, and then writes that marker; when it fails, it reads the marker back.
//! Sending the same transaction again is therefore harmless and tells whether an earlier
//! try committed. When the budget runs out with the outcome open, the store fences the
//! write: it writes the marker as aborted if it is still absent, which a late arrival of
//! the transaction can never pass; reading the marker then tells the truth either way. Only
//! if even the fence gets no answer is the write reported as unknown ([`StoreError::Unavailable`]
//! with a message saying so and how to check). Commit markers expire after a few minutes
//! with a lease shared by all of them; abort markers last an hour.

mod journal;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, Identity,
    KvClient, LeaseClient, PutOptions, TlsOptions, Txn as EtcdTxn, TxnOp, TxnOpResponse,
    WatchClient, WatchOptions, WatchStream,
};
use tokio::runtime::Runtime;

use crate::{Commit, CommitOrRead, Entry, Guard, KeyList, Op, PrefixWatch, Result, Revision, Store, StoreError, Txn};

/// How long a single request may take before the store is reported unavailable.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// The pause before sending a refused request again, after a round over all members.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// HTTP/2 ping interval on open streams, above etcd's 5 s minimum (a client pinging more
/// often is disconnected).
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(6);
/// How long a ping may go unanswered before the connection is taken for dead.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long establishing a connection to one member may take.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The shortest deadline of one attempt on one member (see [`EtcdStore::attempt_timeout`]).
const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(300);
/// The longest deadline of one attempt: an answer later than this means a hung member, not a
/// slow one (a commit of a whole configuration takes well under it).
const MAX_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
/// The reserved key space of write ids, below the prefix; never listed.
const MARKER_SPACE: &str = "~txn/";
/// A commit marker's value, and an abort marker's.
const COMMITTED: &[u8] = b"committed";
const ABORTED: &[u8] = b"aborted";
/// The life of the lease all commit markers share, and its age when a new one is taken (so a
/// marker lives at least `MARKER_TTL - MARKER_LEASE_RENEW`, far longer than any retry).
const MARKER_TTL: Duration = Duration::from_secs(180);
const MARKER_LEASE_RENEW: Duration = Duration::from_secs(90);
/// The life of an abort marker: it must outlast any late arrival of its transaction.
const ABORT_MARKER_TTL: Duration = Duration::from_secs(3600);

/// Where the etcd cluster is and how to talk to it.
#[derive(Clone, PartialEq, Eq)]
pub struct EtcdOptions {
    /// Client URLs or `HOST:PORT` of the members; any one of them can serve a request.
    pub endpoints: Vec<String>,
    /// Prepended to every key; keeps one cluster's entries apart from anything else in etcd.
    pub prefix: String,
    /// Upper bound of one request; past it the store is reported unavailable.
    pub request_timeout: Duration,
    /// Upper bound of connecting to one member.
    pub connect_timeout: Duration,
    /// TLS to the members; `None` talks plain HTTP/2.
    pub tls: Option<EtcdTls>,
    /// User name and password, for an etcd with authentication enabled.
    pub credentials: Option<(String, String)>,
}

/// TLS towards the etcd members: the CA their certificates must chain to, and this client's
/// own certificate for members that demand one (`--client-cert-auth`).
#[derive(Clone, PartialEq, Eq)]
pub struct EtcdTls {
    /// PEM of the CA certificate(s) that sign the members' certificates.
    pub ca_pem: Vec<u8>,
    /// PEM of the client certificate and of its private key.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for EtcdOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password stays out of logs and panics.
        f.debug_struct("EtcdOptions")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        f.debug_struct("EtcdTls")
            .field("client_identity", &self.identity.is_some())
            .finish_non_exhaustive()
    }
}

impl EtcdOptions {
    /// Options with the default timeouts.
    pub fn new(endpoints: Vec<String>, prefix: impl Into<String>) -> Self {
        Self {
            endpoints,
            prefix: prefix.into(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            tls: None,
            credentials: None,
        }
    }
}

/// A [`Store`] kept in etcd. Cheap to share behind an `Arc`; call it from plain threads.
pub struct EtcdStore {
    /// `Option` only so that `Drop` can shut it down without blocking (see there).
    runtime: Option<Runtime>,
    /// One client per member, in the order of the endpoints.
    members: Vec<Member>,
    /// The member calls go to first: the one that answered last (shared with the journals'
    /// tasks, which move it too when their member fails).
    preferred: Arc<AtomicUsize>,
    connect: ConnectOptions,
    prefix: String,
    /// The endpoints, comma-separated, for error messages.
    endpoints: String,
    request_timeout: Duration,
    attempt_timeout: Duration,
    /// The lease the commit markers share, and when it was granted.
    marker_lease: Mutex<Option<(i64, Instant)>>,
    /// The journals of the prefixes `watch_prefix` and `changes_through` were asked about, by
    /// full prefix (see [`journal`]).
    journals: Mutex<HashMap<Vec<u8>, Arc<journal::Journal>>>,
}

/// The clients of one member. Connected lazily: with authentication, connecting asks the
/// member for a token, which a member that is down at start cannot give.
struct Member {
    endpoint: String,
    handles: tokio::sync::Mutex<Option<Handles>>,
}

#[derive(Clone)]
struct Handles {
    kv: KvClient,
    watch: WatchClient,
    lease: LeaseClient,
}

impl fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Why a call gave up.
enum CallFailure {
    /// etcd refused it for a reason that sending it again won't cure.
    Refused(etcd_client::Error),
    /// No member answered within the budget; the last failure, and whether some attempt may
    /// have reached etcd (so that a write may have been carried out).
    Exhausted { last: String, maybe_applied: bool },
}

impl EtcdStore {
    /// Connects to the cluster and checks that it answers (so a wrong address is reported
    /// at start, not at the first request).
    pub fn connect(options: EtcdOptions) -> Result<EtcdStore> {
        if options.endpoints.is_empty() {
            return Err(StoreError::Backend(
                "etcd: no endpoints given (expected HOST:PORT[,HOST:PORT...])".into(),
            ));
        }
        let endpoints = options.endpoints.join(",");
        if options.prefix.is_empty() {
            return Err(StoreError::Backend(format!(
                "etcd at {endpoints}: the key prefix must not be empty (default: /sdnd/)"
            )));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("etcd-client")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("etcd: starting the client runtime: {e}")))?;
        let connect = ConnectOptions::new()
            .with_timeout(options.request_timeout)
            .with_connect_timeout(options.connect_timeout)
            // Notice a member that hangs without closing the connection. etcd closes the
            // connection of a client that pings more often than every 5 s, or at all while
            // no request or watch is open (--grpc-keepalive-min-time), so stay above that.
            .with_keep_alive(KEEP_ALIVE_INTERVAL, KEEP_ALIVE_TIMEOUT)
            .with_keep_alive_while_idle(false)
            // A member cut off from the leader refuses at once instead of hanging, so the
            // request can be sent again, to a member that has one.
            .with_require_leader(true);
        let connect = match &options.tls {
            Some(tls) => {
                let mut config =
                    TlsOptions::new().ca_certificate(Certificate::from_pem(&tls.ca_pem));
                if let Some((cert, key)) = &tls.identity {
                    config = config.identity(Identity::from_pem(cert, key));
                }
                connect.with_tls(config)
            }
            None => connect,
        };
        let connect = match &options.credentials {
            Some((user, password)) => connect.with_user(user.clone(), password.clone()),
            None => connect,
        };
        let members = options
            .endpoints
            .iter()
            .map(|endpoint| Member {
                endpoint: endpoint.clone(),
                handles: tokio::sync::Mutex::new(None),
            })
            .collect();
        let store = EtcdStore {
            members,
            preferred: Arc::new(AtomicUsize::new(0)),
            connect,
            runtime: Some(runtime),
            prefix: options.prefix,
            endpoints,
            request_timeout: options.request_timeout,
            attempt_timeout: Self::attempt_timeout(options.request_timeout),
            marker_lease: Mutex::new(None),
            journals: Mutex::new(HashMap::new()),
        };
        // Configuration errors (a bad address, TLS, credentials) show at the first call.
        store.revision()?;
        Ok(store)
    }

    /// The deadline of one attempt on one member: a third of the request's budget, so that a
    /// call can give up on a hung member and still be served by two others, within
    /// [`MIN_ATTEMPT_TIMEOUT`] and [`MAX_ATTEMPT_TIMEOUT`].
    fn attempt_timeout(request_timeout: Duration) -> Duration {
        (request_timeout / 3)
            .clamp(MIN_ATTEMPT_TIMEOUT, MAX_ATTEMPT_TIMEOUT)
            .min(request_timeout)
    }

    /// The key prefix every entry is stored under.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn runtime(&self) -> &Runtime {
        // Only `Drop` takes the runtime out, and nothing runs after it.
        self.runtime
            .as_ref()
            .unwrap_or_else(|| unreachable!("the runtime lives as long as the store"))
    }

    /// Runs `future` to completion on the calling thread, its timers and I/O on the private
    /// runtime (whose threads drive them). Unlike `Runtime::block_on`, it may also be called
    /// on a worker of another runtime: sdnd runs a short request's store work right there
    /// (see `sdnd::blocking`), and holding that thread can't stall this runtime. The caller's
    /// cooperative budget is lifted: a spent one would make the future spin.
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
            fn wake_by_ref(self: &Arc<Self>) {
                self.0.unpark();
            }
        }
        let _context = self.runtime().enter();
        let mut future = std::pin::pin!(tokio::task::unconstrained(future));
        let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = std::task::Context::from_waker(&waker);
        loop {
            if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            // A stray unpark only costs one more poll.
            std::thread::park();
        }
    }

    /// The clients of member `index`, connecting them first if needed.
    async fn handles(&self, index: usize) -> Result<Handles, etcd_client::Error> {
        let member = &self.members[index];
        let mut slot = member.handles.lock().await;
        if let Some(handles) = slot.as_ref() {
            return Ok(handles.clone());
        }
        let client =
            Client::connect([member.endpoint.as_str()], Some(self.connect.clone())).await?;
        let handles = Handles {
            kv: client.kv_client().max_decoding_message_size(usize::MAX),
            watch: client.watch_client().max_decoding_message_size(usize::MAX),
            lease: client.lease_client(),
        };
        *slot = Some(handles.clone());
        Ok(handles)
    }

    /// Moves calls off member `index` (unless another call already did).
    fn fail_over(&self, index: usize) {
        fail_over(&self.preferred, self.members.len(), index);
    }

    /// Runs one request on the private runtime, bounded by the request timeout; see
    /// [`EtcdStore::attempts`].
    fn call<T, F>(&self, what: &str, request: impl FnMut(Handles) -> F) -> Result<T>
    where
        F: Future<Output = Result<T, etcd_client::Error>>,
    {
        let deadline = Instant::now() + self.request_timeout;
        self.block_on(self.attempts(deadline, request))
            .map_err(|failure| self.failure(what, failure))
    }

    /// The store error for a call that gave up.
    fn failure(&self, what: &str, failure: CallFailure) -> StoreError {
        match failure {
            CallFailure::Refused(e) => classify(&self.endpoints, what, e),
            CallFailure::Exhausted { last, .. } => StoreError::Unavailable(format!(
                "etcd at {}: {what}: no answer within {:?} (no quorum, or no member reachable; last: {last})",
                self.endpoints, self.request_timeout
            )),
        }
    }

    /// Sends `request` until it is answered or `deadline` passes: to the preferred member,
    /// and whenever a member refuses for a reason that passes by itself (it died, it has no
    /// leader, the connection broke) or doesn't answer within an attempt's deadline, to the
    /// next one, pausing briefly after each round over all members. So losing or hanging a
    /// minority of the members costs latency, not errors. `request` must be safe to send
    /// twice.
    async fn attempts<T, F>(
        &self,
        deadline: Instant,
        mut request: impl FnMut(Handles) -> F,
    ) -> Result<T, CallFailure>
    where
        F: Future<Output = Result<T, etcd_client::Error>>,
    {
        let deadline = tokio::time::Instant::from_std(deadline);
        let mut tries = 0usize;
        let mut maybe_applied = false;
        let mut last = String::from("not sent");
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(CallFailure::Exhausted {
                    last,
                    maybe_applied,
                });
            }
            let index = self.preferred.load(Ordering::SeqCst) % self.members.len();
            let attempt_deadline = deadline.min(now + self.attempt_timeout);
            let outcome = tokio::time::timeout_at(attempt_deadline, async {
                let handles = self.handles(index).await.map_err(|e| (e, false))?;
                request(handles).await.map_err(|e| (e, true))
            })
            .await;
            let endpoint = &self.members[index].endpoint;
            match outcome {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err((e, sent))) if is_retryable(&e) => {
                    maybe_applied |= sent && !is_refused_before_sending(&e);
                    last = format!(
                        "{endpoint}: {}",
                        with_causes(&e.to_string(), std::error::Error::source(&e))
                    );
                }
                Ok(Err((e, _))) => return Err(CallFailure::Refused(e)),
                Err(_) => {
                    maybe_applied = true;
                    last = format!("{endpoint}: no answer within {:?}", self.attempt_timeout);
                }
            }
            self.fail_over(index);
            tries += 1;
            if tries.is_multiple_of(self.members.len()) {
                let pause = (tokio::time::Instant::now() + RETRY_PAUSE).min(deadline);
                tokio::time::sleep_until(pause).await;
            }
        }
    }

    /// The lease the commit markers are written with, granted anew when the last one is old.
    fn marker_lease(&self) -> Result<i64> {
        if let Some((id, granted)) = *self.marker_lease.lock().unwrap_or_else(|e| e.into_inner()) {
            if granted.elapsed() < MARKER_LEASE_RENEW {
                return Ok(id);
            }
        }
        let granted = Instant::now();
        let id = self.grant(MARKER_TTL)?;
        *self.marker_lease.lock().unwrap_or_else(|e| e.into_inner()) = Some((id, granted));
        Ok(id)
    }

    /// The entry a transaction's read of one key answered (`None`: absent).
    fn read_entry(&self, read: &TxnOpResponse) -> Result<Option<Entry>> {
        match read {
            TxnOpResponse::Get(get) => get.kvs().first().map(|kv| self.entry(kv)).transpose(),
            _ => Err(StoreError::Backend("etcd answered a read with something else".into())),
        }
    }

    /// The value and revision of a write-id marker, from the read in a failed transaction.
    fn marker_state(&self, read: Option<&TxnOpResponse>) -> Result<Option<(Vec<u8>, Revision)>> {
        match read {
            Some(TxnOpResponse::Get(get)) => Ok(get
                .kvs()
                .first()
                .map(|kv| (kv.value().to_vec(), to_revision(kv.mod_revision())))),
            _ => Err(StoreError::Backend(format!(
                "etcd at {}: a failed transaction did not answer with its read",
                self.endpoints
            ))),
        }
    }

    /// Settles the outcome of a transaction whose answer never came: writes its marker as
    /// aborted unless it exists, so that the transaction can never commit later, and reads
    /// it. `Some(revision)`: it had committed, at `revision`; `None`: it did not and never
    /// will; `Err`: no answer either (the outcome is unknown).
    fn fence(&self, marker: &[u8]) -> Result<Option<Revision>, String> {
        let deadline = Instant::now() + self.request_timeout;
        let seconds = i64::try_from(ABORT_MARKER_TTL.as_secs()).unwrap_or(i64::MAX);
        let explain = |failure: CallFailure| match failure {
            CallFailure::Refused(e) => e.to_string(),
            CallFailure::Exhausted { last, .. } => last,
        };
        let lease = self
            .block_on(self.attempts(deadline, |h| {
                let mut lease = h.lease;
                async move { lease.grant(seconds, None).await }
            }))
            .map_err(explain)?
            .id();
        let request = etcd_client::Txn::new()
            .when(vec![Compare::create_revision(
                marker.to_vec(),
                CompareOp::Equal,
                0,
            )])
            .and_then(vec![TxnOp::put(
                marker.to_vec(),
                ABORTED,
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else(vec![TxnOp::get(marker.to_vec(), None)]);
        let response = self
            .block_on(self.attempts(deadline, |h| {
                let (mut kv, request) = (h.kv, request.clone());
                async move { kv.txn(request).await }
            }))
            .map_err(explain)?;
        if response.succeeded() {
            return Ok(None);
        }
        match self
            .marker_state(response.op_responses().first())
            .map_err(|e| e.to_string())?
        {
            Some((value, revision)) if value == COMMITTED => Ok(Some(revision)),
            Some(_) => Ok(None),
            None => Err("the write id vanished while it was fenced".into()),
        }
    }

    fn full_key(&self, key: &str) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.prefix.len() + key.len());
        full.extend_from_slice(self.prefix.as_bytes());
        full.extend_from_slice(key.as_bytes());
        full
    }

    /// An etcd key with the store prefix removed.
    fn short_key(&self, key: &[u8]) -> Result<String> {
        key.strip_prefix(self.prefix.as_bytes())
            .and_then(|rest| std::str::from_utf8(rest).ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                StoreError::Backend(format!(
                    "etcd at {}: key {:?} is not valid UTF-8 under the prefix {:?}",
                    self.endpoints,
                    String::from_utf8_lossy(key),
                    self.prefix
                ))
            })
    }

    /// Turns an etcd key-value back into an entry with the store prefix removed.
    fn entry(&self, kv: &etcd_client::KeyValue) -> Result<Entry> {
        let key = self.short_key(kv.key())?;
        Ok(Entry {
            key,
            value: kv.value().to_vec(),
            mod_revision: to_revision(kv.mod_revision()),
        })
    }

    fn compare(&self, guard: &Guard) -> Compare {
        match guard {
            Guard::ModRevision { key, revision } => Compare::mod_revision(
                self.full_key(key),
                CompareOp::Equal,
                i64::try_from(*revision).unwrap_or(i64::MAX),
            ),
            Guard::Value {
                key,
                value: Some(value),
            } => Compare::value(self.full_key(key), CompareOp::Equal, value.clone()),
            Guard::Value { key, value: None } => {
                Compare::create_revision(self.full_key(key), CompareOp::Equal, 0)
            }
        }
    }

    /// Grants a lease that ends `ttl` from now (whole seconds, rounded up; etcd may raise
    /// very short ones to its minimum).
    fn grant(&self, ttl: Duration) -> Result<i64> {
        let seconds = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        let seconds = i64::try_from(seconds.max(1)).unwrap_or(i64::MAX);
        let granted = self.call("granting a lease", |h| {
            let mut lease = h.lease;
            async move { lease.grant(seconds, None).await }
        })?;
        Ok(granted.id())
    }

    /// Revokes leases of a transaction that did not commit. Best effort and not waited for:
    /// an orphaned lease only ends by itself at its ttl, attached to nothing.
    fn revoke_later(&self, leases: Vec<i64>) {
        let index = self.preferred.load(Ordering::SeqCst) % self.members.len();
        let Ok(Some(handles)) = self.members[index]
            .handles
            .try_lock()
            .map(|slot| slot.clone())
        else {
            return;
        };
        for id in leases {
            let mut lease = handles.lease.clone();
            let timeout = self.request_timeout;
            self.runtime().spawn(async move {
                let _ = tokio::time::timeout(timeout, lease.revoke(id)).await;
            });
        }
    }

    /// Translates the store's ordered operations into etcd's operation list, which must
    /// not name a key twice nor put a key inside a deleted range. See [`normalize`].
    fn txn_ops(&self, ops: &[Op]) -> Result<(Vec<TxnOp>, Vec<i64>)> {
        let mut leases = Vec::new();
        let mut etcd_ops = Vec::new();
        let plan = normalize(ops.iter().map(|op| self.full_op(op)));
        // A prefix delete never removes write ids: an abort marker must outlive its write.
        let markers = self.full_key(MARKER_SPACE);
        let markers_end = prefix_end(&markers);
        for (start, end) in without(plan.ranges, &markers, &markers_end) {
            etcd_ops.push(TxnOp::delete(
                start,
                Some(DeleteOptions::new().with_range(end)),
            ));
        }
        for (key, write) in plan.points {
            let op = match write {
                PointWrite::Put(value) => TxnOp::put(key, value, None),
                PointWrite::PutExpiring(value, ttl) => {
                    let lease = match self.grant(ttl) {
                        Ok(lease) => lease,
                        Err(e) => {
                            self.revoke_later(leases);
                            return Err(e);
                        }
                    };
                    leases.push(lease);
                    TxnOp::put(key, value, Some(PutOptions::new().with_lease(lease)))
                }
                PointWrite::Delete => TxnOp::delete(key, None),
            };
            etcd_ops.push(op);
        }
        Ok((etcd_ops, leases))
    }

    fn full_op(&self, op: &Op) -> FullOp {
        match op {
            Op::Put { key, value } => {
                FullOp::Point(self.full_key(key), PointWrite::Put(value.clone()))
            }
            Op::PutExpiring { key, value, ttl } => FullOp::Point(
                self.full_key(key),
                PointWrite::PutExpiring(value.clone(), *ttl),
            ),
            Op::Delete { key } => FullOp::Point(self.full_key(key), PointWrite::Delete),
            Op::DeletePrefix { prefix } => {
                let start = self.full_key(prefix);
                let end = prefix_end(&start);
                FullOp::Range(start, end)
            }
        }
    }

    /// Waits on member `index` for the first event of a watch on `[start, end)` after
    /// `after` and returns its revision; see [`EtcdStore::next_change`].
    async fn watch_once(
        &self,
        index: usize,
        start: Vec<u8>,
        end: Vec<u8>,
        after: Revision,
    ) -> Result<Option<Revision>, WatchFailure> {
        let mut stream = self.open_watch(index, start, end, after).await?;
        self.next_change(index, &mut stream, after).await
    }

    /// Opens a watch on member `index` for the events on `[start, end)` after `after`.
    async fn open_watch(
        &self,
        index: usize,
        start: Vec<u8>,
        end: Vec<u8>,
        after: Revision,
    ) -> Result<WatchStream, WatchFailure> {
        let from = i64::try_from(after.saturating_add(1)).unwrap_or(i64::MAX);
        let options = WatchOptions::new()
            .with_range(end)
            .with_start_revision(from);
        tokio::time::timeout(self.attempt_timeout, async {
            let mut watch = self.handles(index).await?.watch;
            watch.watch(start, Some(options)).await
        })
        .await
        .map_err(|_| self.hung(index))?
        .map_err(WatchFailure::Client)
    }

    fn hung(&self, index: usize) -> WatchFailure {
        WatchFailure::Ended(format!(
            "{} did not answer within {:?}",
            self.members[index].endpoint, self.attempt_timeout
        ))
    }

    /// Reads `stream` (a watch on member `index`) up to its first event after `after`, and
    /// then the events that have arrived already, and returns the revision of the last;
    /// `Ok(None)` when the history since `after` is gone, so a change must be assumed. So a
    /// burst of changes costs a waiter one wake, not one per change. Whenever the watch has
    /// been quiet for an attempt's deadline it asks the member for a progress report; a
    /// member that sends none within another one is taken for hung ([`WatchFailure::Ended`]).
    /// Cancel-safe between messages: what was not read stays in the stream.
    async fn next_change(
        &self,
        index: usize,
        stream: &mut WatchStream,
        after: Revision,
    ) -> Result<Option<Revision>, WatchFailure> {
        let mut found: Option<Revision> = None;
        loop {
            let message = match found {
                Some(latest) => match ready_now(stream.message()) {
                    Some(message) => message.map_err(WatchFailure::Client)?,
                    None => return Ok(Some(latest)),
                },
                None => next_message(stream, self.attempt_timeout, || self.hung(index)).await?,
            };
            let Some(response) = message else {
                return Err(WatchFailure::Ended("the watch stream closed".into()));
            };
            if response.compact_revision() > 0 {
                // History after `after` was compacted away: report a change, conservatively,
                // at the current revision (the caller re-reads and waits from there).
                return Ok(None);
            }
            let changed = response
                .events()
                .iter()
                .filter_map(|e| e.kv())
                .map(|kv| to_revision(kv.mod_revision()))
                .filter(|&revision| revision > after)
                .max();
            if let Some(revision) = changed {
                let header = to_revision(response.header().map_or(0, |h| h.revision()));
                found = Some(found.unwrap_or(0).max(header).max(revision));
                continue;
            }
            if response.canceled() {
                return Err(WatchFailure::Ended(format!(
                    "the watch was canceled: {}",
                    response.cancel_reason()
                )));
            }
        }
    }

    /// The store error for a wait's outcome (`None`: the history is gone or the wait timed
    /// out: the current revision).
    fn waited(&self, waited: Result<Option<Revision>, WatchFailure>) -> Result<Revision> {
        match waited {
            Ok(Some(revision)) => Ok(revision),
            Ok(None) => self.revision(),
            Err(failure) => Err(self.watch_error("watching", failure)),
        }
    }

    /// The history of `[start, end)` after `after` up to the write at `through`, replayed
    /// by a watch on member `index`: each key's last event (a put's entry, or `None` for a
    /// delete). `Ok(None)`: compacted away. Events of one revision come in one response, so
    /// the response that holds `through` completes it; later events in it are left out.
    async fn replay(
        &self,
        index: usize,
        start: Vec<u8>,
        end: Vec<u8>,
        after: Revision,
        through: Revision,
    ) -> Result<Option<BTreeMap<Vec<u8>, Option<etcd_client::KeyValue>>>, WatchFailure> {
        let mut stream = self.open_watch(index, start, end, after).await?;
        let mut changes = BTreeMap::new();
        loop {
            let message = tokio::time::timeout(self.attempt_timeout, stream.message())
                .await
                .map_err(|_| self.hung(index))?
                .map_err(WatchFailure::Client)?;
            let Some(response) = message else {
                return Err(WatchFailure::Ended("the watch stream closed".into()));
            };
            if response.compact_revision() > 0 {
                return Ok(None);
            }
            if response.canceled() {
                return Err(WatchFailure::Ended(format!(
                    "the watch was canceled: {}",
                    response.cancel_reason()
                )));
            }
            let mut complete = false;
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                let revision = to_revision(kv.mod_revision());
                if revision > through {
                    complete = true;
                    continue;
                }
                complete |= revision == through;
                let state = match event.event_type() {
                    etcd_client::EventType::Put => Some(kv.clone()),
                    etcd_client::EventType::Delete => None,
                };
                changes.insert(kv.key().to_vec(), state);
            }
            if complete {
                return Ok(Some(changes));
            }
        }
    }

    /// The journal of exactly the keys starting with `start`, created (complete up to
    /// `after`, keeping its events if `keep`) if there is none.
    fn journal(&self, start: &[u8], after: Revision, keep: bool) -> Arc<journal::Journal> {
        self.journals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(start.to_vec())
            .or_insert_with(|| Arc::new(journal::Journal::new(start.to_vec(), prefix_end(start), after, keep)))
            .clone()
    }

    /// The journal to read the changes under `start` from: the widest followed journal whose
    /// prefix covers it (the view watcher's `sdn/` one covers `sdn/pending/`), else its own.
    fn covering_journal(&self, start: &[u8], after: Revision) -> Arc<journal::Journal> {
        let covering = self
            .journals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(prefix, journal)| start.starts_with(prefix) && journal.followed())
            .min_by_key(|(prefix, _)| prefix.len())
            .map(|(_, journal)| journal.clone());
        covering.unwrap_or_else(|| self.journal(start, after, true))
    }

    /// Starts a task reading a watch into `journal` unless one does, on the preferred member;
    /// `false` if that member could not be reached (calls move on to the next). A task whose
    /// watch fails moves them on too.
    fn follow(&self, journal: &Arc<journal::Journal>) -> bool {
        let Some(from) = journal.start_following() else {
            return true;
        };
        let index = self.preferred.load(Ordering::SeqCst) % self.members.len();
        let handles = self.block_on(async {
            tokio::time::timeout(self.attempt_timeout, self.handles(index)).await
        });
        let Ok(Ok(handles)) = handles else {
            self.fail_over(index);
            journal.stopped(None);
            return false;
        };
        let following = journal::follow(
            journal.clone(),
            handles.watch,
            from,
            self.attempt_timeout,
            journal::IDLE_STOP,
        );
        let (preferred, members) = (self.preferred.clone(), self.members.len());
        self.runtime().spawn(async move {
            if following.await == journal::Ended::Failed {
                fail_over(&preferred, members, index);
            }
        });
        true
    }

    /// The changes on `[start, end)` after `after` up to `through` from a journal (see
    /// [`journal`]), started by the first call for the prefix if none covers it; `None` when
    /// the journal can't tell within an attempt's deadline.
    fn journaled_changes(
        &self,
        start: &[u8],
        after: Revision,
        through: Revision,
    ) -> Option<journal::Changes> {
        let journal = self.covering_journal(start, after);
        let deadline = Instant::now() + self.attempt_timeout;
        // One task started per call: a watch that keeps failing at once (its member is down)
        // leaves the answer to the replay, which fails over.
        let mut started = false;
        loop {
            match journal.changes(start, after, through, deadline) {
                journal::Answer::Changes(changes) => return Some(changes),
                journal::Answer::Unknown => return None,
                journal::Answer::NotFollowed if started || Instant::now() >= deadline => return None,
                journal::Answer::NotFollowed => {
                    started = true;
                    if !self.follow(&journal) {
                        return None;
                    }
                }
            }
        }
    }

    /// Runs `watch` on the preferred member until it answers, moving to the next member
    /// after each failure that passes by itself (see [`EtcdStore::after_watch_failure`]);
    /// `Ok(None)` once `deadline` passes.
    async fn watch_on_members<T, F>(
        &self,
        deadline: tokio::time::Instant,
        mut watch: impl FnMut(usize) -> F,
    ) -> Result<Option<T>, WatchFailure>
    where
        F: Future<Output = Result<T, WatchFailure>>,
    {
        let mut tries = 0usize;
        loop {
            let index = self.preferred.load(Ordering::SeqCst) % self.members.len();
            match tokio::time::timeout_at(deadline, watch(index)).await {
                Err(_) => return Ok(None),
                Ok(Ok(answer)) => return Ok(Some(answer)),
                Ok(Err(failure)) => {
                    self.after_watch_failure(index, failure, &mut tries, deadline)
                        .await?
                }
            }
        }
    }

    /// The store error for a watch that gave up while `what`.
    fn watch_error(&self, what: &str, failure: WatchFailure) -> StoreError {
        match failure {
            WatchFailure::Client(e) => classify(&self.endpoints, what, e),
            WatchFailure::Ended(why) => {
                StoreError::Unavailable(format!("etcd at {}: {what}: {why}", self.endpoints))
            }
        }
    }

    /// After a failed watch on member `index`: whether to give up (an error no other member
    /// would answer differently), else moves on to the next member, pausing after a round.
    async fn after_watch_failure(
        &self,
        index: usize,
        failure: WatchFailure,
        tries: &mut usize,
        deadline: tokio::time::Instant,
    ) -> Result<(), WatchFailure> {
        if let WatchFailure::Client(e) = &failure {
            if !is_retryable(e) {
                return Err(failure);
            }
        }
        // The member hung, died or lost its leader: watch on the next one, from the same
        // revision, so no change in between is missed.
        self.fail_over(index);
        *tries += 1;
        if tries.is_multiple_of(self.members.len()) {
            tokio::time::sleep_until((tokio::time::Instant::now() + RETRY_PAUSE).min(deadline))
                .await;
        }
        Ok(())
    }
}

/// A waiter on one prefix's journal (see [`Store::watch_prefix`] and [`journal`]): a thread
/// woken by every change (the write path's view watcher) costs etcd one event per change on
/// the journal's watch, which the changes the thread then asks for are read from too.
struct JournalWatch<'a> {
    store: &'a EtcdStore,
    start: Vec<u8>,
}

impl PrefixWatch for JournalWatch<'_> {
    fn wait_for_change(&mut self, after: Revision, timeout: Duration) -> Result<Revision> {
        let store = self.store;
        let deadline = Instant::now() + timeout;
        // Every waiter on the prefix shares its journal; a journal that went idle stopped
        // following and is started again below, from where it stopped.
        let journal = store.journal(&self.start, after, false);
        let mut failures = 0usize;
        loop {
            match journal.wait_past(after, deadline) {
                journal::Wait::Changed(revision) => return Ok(revision),
                // Nothing changed after `after`, and the member answered lately: no round trip
                // to say more.
                journal::Wait::TimedOut { heard } if heard.is_some_and(|at| at.elapsed() <= 3 * store.attempt_timeout) => {
                    return Ok(after)
                }
                // Its watch is not (or no longer) heard from: the current revision, or the
                // error that says why etcd can't be reached.
                journal::Wait::TimedOut { .. } => return store.revision(),
                journal::Wait::NotFollowed if Instant::now() >= deadline => return store.revision(),
                journal::Wait::NotFollowed => {
                    if failures > 0 && failures.is_multiple_of(store.members.len()) {
                        let pause = RETRY_PAUSE.min(deadline.saturating_duration_since(Instant::now()));
                        std::thread::sleep(pause);
                    }
                    // A task that fails at once (its member went away) is counted here too: it
                    // moved the calls on to the next member.
                    failures += 1;
                    store.follow(&journal);
                }
            }
        }
    }
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        // The last handle may be dropped on an async thread, where a blocking shutdown panics.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

enum WatchFailure {
    Client(etcd_client::Error),
    Ended(String),
}

impl Store for EtcdStore {
    fn get(&self, key: &str) -> Result<Option<Entry>> {
        let full = self.full_key(key);
        let response = self.call("reading an entry", |h| {
            let (mut kv, full) = (h.kv, full.clone());
            async move { kv.get(full, None).await }
        })?;
        response.kvs().first().map(|kv| self.entry(kv)).transpose()
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        let fulls: Vec<Vec<u8>> = keys.iter().map(|key| self.full_key(key)).collect();
        let response = self.call("reading entries", |h| {
            let mut kv = h.kv;
            let gets: Vec<TxnOp> = fulls
                .iter()
                .map(|full| TxnOp::get(full.clone(), None))
                .collect();
            async move { kv.txn(EtcdTxn::new().and_then(gets)).await }
        })?;
        response.op_responses().iter().map(|op| self.read_entry(op)).collect()
    }

    fn list(&self, prefix: &str) -> Result<(Vec<Entry>, Revision)> {
        let start = self.full_key(prefix);
        let end = prefix_end(&start);
        let response = self.call("listing entries", |h| {
            let (mut kv, start, end) = (h.kv, start.clone(), end.clone());
            async move { kv.get(start, Some(GetOptions::new().with_range(end))).await }
        })?;
        let markers = self.full_key(MARKER_SPACE);
        let entries = response
            .kvs()
            .iter()
            .filter(|kv| !kv.key().starts_with(&markers))
            .map(|kv| self.entry(kv))
            .collect::<Result<Vec<_>>>()?;
        Ok((entries, header_revision(response.header())))
    }

    fn keys(&self, prefix: &str, limit: Option<usize>) -> Result<KeyList> {
        let start = self.full_key(prefix);
        let markers = self.full_key(MARKER_SPACE);
        if markers.starts_with(&start) {
            // The write ids lie in the range, and are no entries: what a listing (which leaves
            // them out) has.
            return Ok(KeyList::of(self.list(prefix)?.0, limit));
        }
        let end = prefix_end(&start);
        let options = match limit {
            Some(0) => GetOptions::new().with_range(end).with_count_only(),
            Some(limit) => GetOptions::new()
                .with_range(end)
                .with_keys_only()
                .with_limit(i64::try_from(limit).unwrap_or(i64::MAX)),
            None => GetOptions::new().with_range(end).with_keys_only(),
        };
        let response = self.call("listing keys", |h| {
            let (mut kv, start, options) = (h.kv, start.clone(), options.clone());
            async move { kv.get(start, Some(options)).await }
        })?;
        let keys = response
            .kvs()
            .iter()
            .map(|kv| Ok((self.short_key(kv.key())?, to_revision(kv.mod_revision()))))
            .collect::<Result<Vec<_>>>()?;
        Ok(KeyList { keys, total: usize::try_from(response.count()).unwrap_or(0) })
    }

    fn revision(&self) -> Result<Revision> {
        let key = self.full_key("");
        let response = self.call("reading the revision", |h| {
            let (mut kv, key) = (h.kv, key.clone());
            async move { kv.get(key, Some(GetOptions::new().with_count_only())).await }
        })?;
        Ok(header_revision(response.header()))
    }

    fn commit(&self, txn: Txn) -> Result<Commit> {
        self.commit_or_read(txn, &[]).map(Commit::from)
    }

    /// The entries are read in the transaction's failure branch: no second round trip.
    fn commit_or_read(&self, txn: Txn, keys: &[&str]) -> Result<CommitOrRead> {
        const WHAT: &str = "committing a transaction";
        let mut compares: Vec<Compare> = txn.guards.iter().map(|g| self.compare(g)).collect();
        let marker_lease = self.marker_lease()?;
        let (mut ops, leases) = self.txn_ops(&txn.ops)?;
        // The write id (see the module doc): the transaction commits at most once, and a
        // failed one says whether an earlier try of it committed.
        let marker = self.full_key(&format!("{MARKER_SPACE}{}", uuid::Uuid::new_v4().simple()));
        compares.push(Compare::create_revision(
            marker.clone(),
            CompareOp::Equal,
            0,
        ));
        ops.push(TxnOp::put(
            marker.clone(),
            COMMITTED,
            Some(PutOptions::new().with_lease(marker_lease)),
        ));
        let request = etcd_client::Txn::new()
            .when(compares)
            .and_then(ops)
            .or_else(
                std::iter::once(TxnOp::get(marker.clone(), None))
                    .chain(keys.iter().map(|key| TxnOp::get(self.full_key(key), None)))
                    .collect::<Vec<_>>(),
            );
        let deadline = Instant::now() + self.request_timeout;
        let outcome = self.block_on(self.attempts(deadline, |h| {
            let (mut kv, request) = (h.kv, request.clone());
            async move { kv.txn(request).await }
        }));
        let response = match outcome {
            Ok(response) => response,
            Err(CallFailure::Exhausted {
                last,
                maybe_applied: true,
            }) => {
                return match self.fence(&marker) {
                    Ok(Some(revision)) => Ok(CommitOrRead::Committed(revision)),
                    Ok(None) => {
                        self.revoke_later(leases);
                        Err(StoreError::Unavailable(format!(
                            "etcd at {}: {WHAT}: no answer within {:?} ({last}); the write was not committed, nothing changed: try again",
                            self.endpoints, self.request_timeout
                        )))
                    }
                    Err(why) => Err(StoreError::Unavailable(format!(
                        "etcd at {}: {WHAT}: no answer within {:?} ({last}), and its outcome could not be found out ({why}): \
                         the write may or may not have been committed; read the changed objects back before repeating it",
                        self.endpoints, self.request_timeout
                    ))),
                };
            }
            Err(failure) => {
                if let CallFailure::Refused(e) = &failure {
                    if e.to_string().contains("lease not found") {
                        // The markers' lease is gone (etcd restored from a backup?): take a new one.
                        *self.marker_lease.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    }
                }
                self.revoke_later(leases);
                return Err(self.failure(WHAT, failure));
            }
        };
        if response.succeeded() {
            return Ok(CommitOrRead::Committed(header_revision(response.header())));
        }
        let reads = response.op_responses();
        match self.marker_state(reads.first())? {
            // An earlier try of this very transaction committed; its answer was lost.
            Some((value, revision)) if value == COMMITTED => Ok(CommitOrRead::Committed(revision)),
            Some(_) => Err(StoreError::Backend(format!(
                "etcd at {}: {WHAT}: the write id was fenced off before the write was sent",
                self.endpoints
            ))),
            None => {
                self.revoke_later(leases);
                let entries: Vec<Option<Entry>> = reads[1..].iter().map(|read| self.read_entry(read)).collect::<Result<_>>()?;
                if entries.len() != keys.len() {
                    return Err(StoreError::Backend(format!(
                        "etcd at {}: a failed transaction answered {} reads for {} keys",
                        self.endpoints,
                        entries.len(),
                        keys.len()
                    )));
                }
                Ok(CommitOrRead::GuardFailed(entries))
            }
        }
    }

    fn wait_for_change(
        &self,
        prefix: &str,
        after: Revision,
        timeout: Duration,
    ) -> Result<Revision> {
        let start = self.full_key(prefix);
        let end = prefix_end(&start);
        let deadline = tokio::time::Instant::now() + timeout;
        let waited = self.block_on(self.watch_on_members(deadline, |index| {
            self.watch_once(index, start.clone(), end.clone(), after)
        }));
        // A timeout, or compacted history: the current revision.
        self.waited(waited.map(Option::flatten))
    }

    fn changes_through(
        &self,
        prefix: &str,
        after: Revision,
        through: Revision,
    ) -> Result<Option<crate::KeyChanges>> {
        if through <= after {
            return Ok(Some(Vec::new()));
        }
        let start = self.full_key(prefix);
        let end = prefix_end(&start);
        let changes = match self.journaled_changes(&start, after, through) {
            Some(changes) => Some(changes),
            None => {
                let deadline = tokio::time::Instant::now() + self.request_timeout;
                // No event at `through` within the budget, or compacted history: the caller
                // reads the prefix whole.
                self.block_on(self.watch_on_members(deadline, |index| {
                    self.replay(index, start.clone(), end.clone(), after, through)
                }))
                .map_err(|failure| self.watch_error("reading changes", failure))?
                .flatten()
            }
        };
        changes
            .map(|changes| {
                changes
                    .into_iter()
                    .map(|(key, kv)| {
                        let key = self.short_key(&key)?;
                        let entry = kv.map(|kv| self.entry(&kv)).transpose()?;
                        Ok((key, entry))
                    })
                    .collect()
            })
            .transpose()
    }

    fn remote(&self) -> bool {
        true
    }

    fn watch_prefix<'a>(&'a self, prefix: &str) -> Box<dyn PrefixWatch + 'a> {
        Box::new(JournalWatch {
            store: self,
            start: self.full_key(prefix),
        })
    }
}

/// Moves calls off member `index` of `members` (unless another call already did).
fn fail_over(preferred: &AtomicUsize, members: usize, index: usize) {
    let next = (index + 1) % members;
    let _ = preferred.compare_exchange(index, next, Ordering::SeqCst, Ordering::SeqCst);
}

/// The next message of a watch's `stream`. When the stream has been quiet for `quiet`, it asks
/// the member for a progress report (any answer says the member is still there); `hung()`
/// when that gets no answer within another `quiet` either.
async fn next_message(
    stream: &mut WatchStream,
    quiet: Duration,
    hung: impl FnOnce() -> WatchFailure,
) -> Result<Option<etcd_client::WatchResponse>, WatchFailure> {
    if let Ok(message) = tokio::time::timeout(quiet, stream.message()).await {
        return message.map_err(WatchFailure::Client);
    }
    stream.request_progress().await.map_err(WatchFailure::Client)?;
    match tokio::time::timeout(quiet, stream.message()).await {
        Ok(message) => message.map_err(WatchFailure::Client),
        Err(_) => Err(hung()),
    }
}

/// The output of `future` if it is ready at its first poll (the waker is dropped with it).
fn ready_now<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

/// Maps a client error to the store's error kinds: anything that a later retry can cure
/// (unreachable members, no leader, timeouts) is `Unavailable`, the rest `Backend`.
/// Whether a transport failure is about certificates or the TLS handshake (a configuration
/// problem) rather than an unreachable member.
fn is_tls_failure(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    ["certificate", "handshake", "unknownissuer", "tls:", "alert"]
        .iter()
        .any(|needle| message.contains(needle))
}

fn classify(endpoints: &str, what: &str, error: etcd_client::Error) -> StoreError {
    use etcd_client::Error as E;
    use tonic::Code;
    match error {
        E::GRpcStatus(status) => {
            let message = with_causes(status.message(), std::error::Error::source(&status));
            if is_tls_failure(&message) {
                return StoreError::Backend(format!(
                    "etcd at {endpoints}: {what}: {message} (TLS to etcd failed: check the CA, client certificate and key)"
                ));
            }
            let transient = matches!(
                status.code(),
                Code::Unavailable
                    | Code::DeadlineExceeded
                    | Code::Cancelled
                    | Code::Aborted
                    | Code::Unknown
            ) && !message.contains("too many operations")
                || message.contains("no leader")
                || message.contains("timed out")
                || message.contains("leader changed");
            if message.contains("too many operations") {
                StoreError::Backend(format!(
                    "etcd at {endpoints}: {what}: {message} (start etcd with a larger --max-txn-ops)"
                ))
            } else if message.contains("request is too large") {
                StoreError::Backend(format!(
                    "etcd at {endpoints}: {what}: {message} (start etcd with a larger --max-request-bytes)"
                ))
            } else if message.contains("user name is empty") {
                StoreError::Backend(format!(
                    "etcd at {endpoints}: {what}: {message} (authentication is enabled there: give a user and password)"
                ))
            } else if message.contains("permission denied") {
                StoreError::Backend(format!(
                    "etcd at {endpoints}: {what}: {message} (the etcd user may not read and write the keys under the store prefix)"
                ))
            } else if transient {
                StoreError::Unavailable(format!(
                    "etcd at {endpoints}: {what}: {message} (no quorum, or no member reachable)"
                ))
            } else {
                StoreError::Backend(format!("etcd at {endpoints}: {what}: {message}"))
            }
        }
        E::TransportError(e) => {
            let message = with_causes(&e.to_string(), std::error::Error::source(&e));
            if is_tls_failure(&message) {
                // Waiting won't fix a certificate: report it as the misconfiguration it is.
                StoreError::Backend(format!(
                    "etcd at {endpoints}: {what}: {message} (TLS to etcd failed: check the CA, client certificate and key)"
                ))
            } else {
                StoreError::Unavailable(format!(
                    "etcd at {endpoints}: {what}: {message} (no member reachable)"
                ))
            }
        }
        E::IoError(e) => StoreError::Unavailable(format!("etcd at {endpoints}: {what}: {e}")),
        E::InvalidArgs(e) | E::EndpointError(e) => {
            StoreError::Backend(format!("etcd at {endpoints}: {what}: {e}"))
        }
        E::InvalidUri(e) => StoreError::Backend(format!(
            "etcd at {endpoints}: {what}: invalid endpoint address: {e}"
        )),
        other => StoreError::Backend(format!("etcd at {endpoints}: {what}: {other}")),
    }
}

/// Whether a retryable failure happened before the request could reach etcd's log (no
/// connection, or a member without a leader refusing it), so that it certainly changed nothing.
fn is_refused_before_sending(error: &etcd_client::Error) -> bool {
    let message = match error {
        etcd_client::Error::GRpcStatus(status) => {
            with_causes(status.message(), std::error::Error::source(status))
        }
        other => with_causes(&other.to_string(), std::error::Error::source(other)),
    };
    [
        "no leader",
        "tcp connect error",
        "Connection refused",
        "error trying to connect",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// Whether a failed request may be sent again (to another member): the member was
/// unreachable, had no leader, timed out or its connection broke. Anything else (bad request,
/// too large, ...) would fail again the same way. Commits are safe to send again
/// (the write ids, see the module doc).
fn is_retryable(error: &etcd_client::Error) -> bool {
    match error {
        etcd_client::Error::GRpcStatus(status) => match status.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => true,
            // A connection that broke under the call (hyper's errors arrive as these).
            tonic::Code::Unknown | tonic::Code::Cancelled => {
                let message = with_causes(status.message(), std::error::Error::source(status)).to_ascii_lowercase();
                ["transport", "connection", "broken pipe", "h2 protocol"].iter().any(|m| message.contains(m))
            }
            _ => false,
        },
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        _ => false,
    }
}

/// `message` followed by the distinct messages of its causes ("tcp connect error: Connection
/// refused"), which the gRPC layer keeps out of its own message.
fn with_causes(message: &str, mut cause: Option<&(dyn std::error::Error + 'static)>) -> String {
    let mut text = message.to_owned();
    while let Some(error) = cause {
        let part = error.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = error.source();
    }
    text
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Revision {
    header.map_or(0, |h| to_revision(h.revision()))
}

/// etcd revisions are positive `i64`s; a negative one can't occur and reads as "never".
fn to_revision(revision: i64) -> Revision {
    Revision::try_from(revision).unwrap_or(0)
}

/// The exclusive end of the key range starting with `prefix`: etcd's convention is the
/// prefix with its last byte below 0xff incremented, or `\0` (no end) if there is none.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The smallest key after `key`.
fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = key.to_vec();
    next.push(0);
    next
}

/// Whether `key` lies in the range `[start, end)` (`end == "\0"`: unbounded).
fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    key >= start && (end == [0] || key < end)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PointWrite {
    Put(Vec<u8>),
    PutExpiring(Vec<u8>, Duration),
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FullOp {
    Point(Vec<u8>, PointWrite),
    /// Delete `[start, end)`.
    Range(Vec<u8>, Vec<u8>),
}

/// The effect of an ordered operation list as etcd accepts it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    /// Disjoint ranges to delete, none containing a key of `points`.
    ranges: Vec<(Vec<u8>, Vec<u8>)>,
    /// The last write of each key.
    points: BTreeMap<Vec<u8>, PointWrite>,
}

/// etcd refuses a transaction that writes one key twice or puts a key inside a range it
/// deletes, but the store's operations apply in order (a rollback deletes a prefix and
/// puts its new contents back). This computes the same end state in etcd's form: later
/// writes of a key replace earlier ones, a range delete drops earlier point writes inside
/// it, and each range is split around the keys written after it.
fn normalize(ops: impl IntoIterator<Item = FullOp>) -> Plan {
    let mut ranges: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut points: BTreeMap<Vec<u8>, PointWrite> = BTreeMap::new();
    for op in ops {
        match op {
            FullOp::Point(key, write) => {
                points.insert(key, write);
            }
            FullOp::Range(start, end) => {
                points.retain(|key, _| !in_range(key, &start, &end));
                ranges.push((start, end));
            }
        }
    }
    // A point delete inside a deleted range is redundant; drop it so the range needn't split.
    points.retain(|key, write| {
        !(matches!(write, PointWrite::Delete) && ranges.iter().any(|(s, e)| in_range(key, s, e)))
    });
    let mut split = Vec::new();
    for (start, end) in ranges {
        let mut from = start;
        let inside: Vec<&Vec<u8>> = points
            .keys()
            .filter(|key| in_range(key, &from, &end))
            .collect();
        for key in inside {
            if from < *key {
                split.push((from, key.clone()));
            }
            from = successor(key);
        }
        if end == [0] || from < end {
            split.push((from, end));
        }
    }
    Plan {
        ranges: merge(split),
        points,
    }
}

/// Disjoint `ranges` minus the range `[hole_start, hole_end)` (bounded).
fn without(
    ranges: Vec<(Vec<u8>, Vec<u8>)>,
    hole_start: &[u8],
    hole_end: &[u8],
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut kept = Vec::new();
    for (start, end) in ranges {
        let unbounded = end == [0];
        let overlaps = start.as_slice() < hole_end && (unbounded || end.as_slice() > hole_start);
        if !overlaps {
            kept.push((start, end));
            continue;
        }
        if start.as_slice() < hole_start {
            kept.push((start, hole_start.to_vec()));
        }
        if unbounded || end.as_slice() > hole_end {
            kept.push((hole_end.to_vec(), end));
        }
    }
    kept
}

/// Sorts ranges and merges overlapping ones, so that no key is deleted by two of them.
fn merge(mut ranges: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    ranges.sort();
    let mut merged: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (start, end) in ranges {
        if let Some(last) = merged.last_mut() {
            let last_unbounded = last.1 == [0];
            if last_unbounded || start <= last.1 {
                if !last_unbounded && (end == [0] || end > last.1) {
                    last.1 = end;
                }
                continue;
            }
        }
        merged.push((start, end));
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> FullOp {
        FullOp::Point(key.into(), PointWrite::Put(value.into()))
    }
    fn del(key: &str) -> FullOp {
        FullOp::Point(key.into(), PointWrite::Delete)
    }
    fn range(prefix: &str) -> FullOp {
        FullOp::Range(prefix.into(), prefix_end(prefix.as_bytes()))
    }
    fn r(start: &str, end: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (start.as_bytes().to_vec(), end.to_vec())
    }

    #[test]
    fn prefix_end_follows_etcd() {
        assert_eq!(prefix_end(b"/sdnd/"), b"/sdnd0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b""), vec![0]);
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn later_writes_of_a_key_win() {
        let plan = normalize([put("a", "1"), del("a"), put("b", "1"), put("b", "2")]);
        assert!(plan.ranges.is_empty());
        assert_eq!(
            plan.points.into_iter().collect::<Vec<_>>(),
            vec![
                (b"a".to_vec(), PointWrite::Delete),
                (b"b".to_vec(), PointWrite::Put(b"2".to_vec()))
            ]
        );
    }

    #[test]
    fn a_range_delete_is_split_around_later_puts() {
        let plan = normalize([
            put("p/x", "old"),
            range("p/"),
            put("p/b", "1"),
            put("p/d", "2"),
            put("q", "3"),
        ]);
        assert_eq!(
            plan.ranges,
            vec![
                r("p/", b"p/b"),
                (b"p/b\0".to_vec(), b"p/d".to_vec()),
                (b"p/d\0".to_vec(), b"p0".to_vec())
            ]
        );
        let keys: Vec<_> = plan.points.keys().cloned().collect();
        assert_eq!(keys, vec![b"p/b".to_vec(), b"p/d".to_vec(), b"q".to_vec()]);
    }

    #[test]
    fn point_deletes_inside_a_range_fold_into_it() {
        let plan = normalize([range("p/"), del("p/a"), range("p/sub/")]);
        assert_eq!(plan.ranges, vec![r("p/", b"p0")]);
        assert!(plan.points.is_empty());
    }

    #[test]
    fn a_put_at_the_range_start_leaves_no_empty_range() {
        let plan = normalize([range("p/"), put("p/", "x")]);
        assert_eq!(plan.ranges, vec![(b"p/\0".to_vec(), b"p0".to_vec())]);
    }

    #[test]
    fn prefix_deletes_spare_the_write_ids() {
        let hole = (b"/p/~txn/".to_vec(), prefix_end(b"/p/~txn/"));
        assert_eq!(
            without(vec![r("/p/", b"/p0")], &hole.0, &hole.1),
            vec![r("/p/", b"/p/~txn/"), (hole.1.clone(), b"/p0".to_vec())]
        );
        assert_eq!(
            without(vec![r("/p/a", b"/p/b")], &hole.0, &hole.1),
            vec![r("/p/a", b"/p/b")]
        );
        assert_eq!(
            without(vec![(Vec::new(), vec![0])], &hole.0, &hole.1),
            vec![(Vec::new(), hole.0.clone()), (hole.1.clone(), vec![0])]
        );
        assert!(without(vec![r("/p/~txn/a", b"/p/~txn/b")], &hole.0, &hole.1).is_empty());
    }

    #[test]
    fn unbounded_ranges_merge() {
        let plan = normalize([range(""), range("a"), put("k", "v")]);
        assert_eq!(
            plan.ranges,
            vec![(Vec::new(), b"k".to_vec()), (b"k\0".to_vec(), vec![0])]
        );
    }
}
