//! etcd for the tests: a single member shared by a test process (SDND_TEST_STORE=etcd), and
//! three-member clusters whose members a test can kill and restart; optionally with TLS and
//! client certificates ([`Pki`]) or with authentication. Everything listens on free loopback
//! ports, lives in a temp dir and dies with the test process.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Test certificates as PEM files: a CA, a server certificate for 127.0.0.1 signed by it,
/// and a client certificate signed by it.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Pki {
    /// Creates a fresh CA and its two certificates in `dir`.
    pub fn create(dir: &Path) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
        std::fs::create_dir_all(dir).expect("pki dir");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "sdnd test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key")).expect("ca");
        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("write pem");
            path
        };
        let issue = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, common_name: &str| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(names).expect("params");
            params.distinguished_name.push(DnType::CommonName, common_name);
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &ca).expect("sign");
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) =
            issue(vec!["127.0.0.1".into(), "localhost".into()], ExtendedKeyUsagePurpose::ServerAuth, "etcd");
        let (client_cert, client_key) = issue(Vec::new(), ExtendedKeyUsagePurpose::ClientAuth, "sdnd");
        Pki {
            ca: write("ca.pem", ca.pem()),
            server_cert: write("server.pem", server_cert),
            server_key: write("server-key.pem", server_key),
            client_cert: write("client.pem", client_cert),
            client_key: write("client-key.pem", client_key),
        }
    }

    /// An HTTP client that trusts the CA and presents the client certificate.
    fn http(&self) -> reqwest::blocking::Client {
        let read = |path: &Path| std::fs::read(path).expect("read pem");
        let mut identity = read(&self.client_cert);
        identity.extend(read(&self.client_key));
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(1))
            .add_root_certificate(reqwest::Certificate::from_pem(&read(&self.ca)).expect("ca certificate"))
            .identity(reqwest::Identity::from_pem(&identity).expect("client identity"))
            .build()
            .expect("http client")
    }
}

/// One etcd member; killed when dropped.
pub struct Member {
    pub name: String,
    pub client_port: u16,
    peer_port: u16,
    dir: PathBuf,
    initial_cluster: String,
    /// Serve clients over TLS with these certificates, demanding client certificates.
    tls: Option<Pki>,
    /// Keep etcd's stock request limits instead of the raised ones sdnd's README asks for.
    stock_limits: bool,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

impl Member {
    fn new(name: &str, dir: PathBuf) -> Member {
        Member {
            name: name.to_string(),
            client_port: free_port(),
            peer_port: free_port(),
            dir,
            initial_cluster: String::new(),
            tls: None,
            stock_limits: false,
            child: None,
        }
    }

    /// The client URL (`http://` or, with TLS, `https://`).
    fn client_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.endpoint())
    }

    /// A client for the member's HTTP gateway.
    fn http(&self) -> reqwest::blocking::Client {
        match &self.tls {
            Some(pki) => pki.http(),
            None => reqwest::blocking::Client::builder().timeout(Duration::from_secs(1)).build().expect("http client"),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    /// Starts (or restarts, on the same data dir and ports) this member.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "member {} already runs", self.name);
        let client_url = self.client_url();
        let mut command = Command::new("etcd");
        if !self.stock_limits {
            // sdnd writes an import of a whole configuration in one transaction.
            command.arg("--max-txn-ops=200000").arg("--max-request-bytes=33554432");
        }
        if let Some(pki) = &self.tls {
            command
                .arg(format!("--cert-file={}", pki.server_cert.display()))
                .arg(format!("--key-file={}", pki.server_key.display()))
                .arg(format!("--trusted-ca-file={}", pki.ca.display()))
                .arg("--client-cert-auth");
        }
        command
            .arg(format!("--name={}", self.name))
            .arg(format!("--data-dir={}", self.dir.display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={}", self.peer_url()))
            .arg(format!("--initial-advertise-peer-urls={}", self.peer_url()))
            .arg(format!("--initial-cluster={}", self.initial_cluster))
            .arg("--initial-cluster-state=new")
            .arg(format!("--initial-cluster-token=t{}", std::process::id()))
            // Quick elections on loopback keep the fault tests short.
            .arg("--heartbeat-interval=50")
            .arg("--election-timeout=500")
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .arg("--log-level=error")
            .stdout(Stdio::null())
            .stderr(self.log_file());
        self.child = Some(
            crate::spawn_tied_to_this_process(command).expect("start etcd (is it installed? run scripts/install-etcd.sh)"),
        );
    }

    /// etcd's own log (errors only), beside its data dir, kept across restarts.
    fn log_path(&self) -> PathBuf {
        self.dir.with_extension("log")
    }

    fn log_file(&self) -> Stdio {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_or_else(|_| Stdio::null(), Stdio::from)
    }

    /// The end of etcd's log, for a failure message.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Kills this member at once (SIGKILL: a crash, not a shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes this member (SIGSTOP): it keeps its connections open and answers nothing, as
    /// a hung process or a host dropping packets would. [`Member::resume`] undoes it; a
    /// stopped member is still killed when dropped.
    pub fn stop(&mut self) {
        self.signal(libc::SIGSTOP);
    }

    /// The process id of the running member (to read its CPU time from `/proc`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Lets a member stopped with [`Member::stop`] run again (SIGCONT).
    pub fn resume(&mut self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: libc::c_int) {
        let child = self
            .child
            .as_ref()
            .unwrap_or_else(|| panic!("member {} does not run", self.name));
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        // SAFETY: kill(2) on the pid of our own child, which has not been waited for.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "signal {signal} to etcd member {}", self.name);
    }

    /// Whether this member answers `/health` with a leader in its cluster.
    pub fn healthy(&self) -> bool {
        self.http()
            .get(format!("{}/health", self.client_url()))
            .send()
            .and_then(|r| r.text())
            .is_ok_and(|body| body.contains("\"health\":\"true\""))
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Names the data dirs of test etcd members, `sdnd-etcd-<pid>-...` in the temp dir.
const DIR_PREFIX: &str = "sdnd-etcd-";

/// A fresh temp dir for a cluster's members, named after this process. Members preallocate
/// 64 MiB write-ahead logs, and the shared member's dir is never dropped (statics aren't), so
/// first the dirs of test processes that no longer run are swept away.
fn data_dir() -> tempfile::TempDir {
    sweep_dead_dirs(&std::env::temp_dir());
    tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
        .tempdir()
        .expect("tempdir")
}

/// Removes `sdnd-etcd-<pid>-*` dirs in `parent` whose process is gone.
fn sweep_dead_dirs(parent: &Path) {
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)).and_then(|rest| rest.split('-').next()) else {
            continue;
        };
        let alive = pid.parse::<u32>().map_or(true, |pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// An etcd cluster of `n` members on loopback.
pub struct Cluster {
    pub members: Vec<Member>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` members and waits until the cluster has a leader.
    pub fn start(n: usize) -> Cluster {
        Cluster::start_with(n, None)
    }

    /// Like [`Cluster::start`], with etcd's stock limits (128 operations per transaction,
    /// 1.5 MiB per request).
    pub fn start_stock(n: usize) -> Cluster {
        Cluster::start_members(n, None, true)
    }

    /// Like [`Cluster::start`], the members serving clients over TLS with `tls`'s
    /// certificates and demanding a client certificate signed by its CA.
    pub fn start_with(n: usize, tls: Option<&Pki>) -> Cluster {
        Cluster::start_members(n, tls, false)
    }

    /// Starts the members and waits for a leader. A member that can't start (a port taken
    /// between choosing it and etcd binding it, under a loaded machine) costs an attempt with
    /// fresh ports, not the test.
    fn start_members(n: usize, tls: Option<&Pki>, stock_limits: bool) -> Cluster {
        const ATTEMPTS: usize = 3;
        let mut dir = data_dir();
        for attempt in 1..=ATTEMPTS {
            let attempt_dir = dir.path().join(format!("attempt{attempt}"));
            let mut members: Vec<Member> =
                (0..n).map(|i| Member::new(&format!("m{i}"), attempt_dir.join(format!("m{i}")))).collect();
            std::fs::create_dir_all(&attempt_dir).expect("etcd attempt dir");
            let initial = members.iter().map(|m| format!("{}={}", m.name, m.peer_url())).collect::<Vec<_>>().join(",");
            for member in &mut members {
                member.tls = tls.cloned();
                member.stock_limits = stock_limits;
                member.initial_cluster = initial.clone();
                member.start();
            }
            let cluster = Cluster { members, _dir: dir };
            if cluster.healthy_within(Duration::from_secs(20)) {
                return cluster;
            }
            let logs: Vec<String> =
                cluster.members.iter().map(|m| format!("--- {} ---\n{}", m.name, m.log_tail())).collect();
            assert!(attempt < ATTEMPTS, "etcd cluster did not become healthy in {ATTEMPTS} attempts:\n{}", logs.join("\n"));
            eprintln!("etcd cluster not healthy after 20s (attempt {attempt}), retrying with new ports:\n{}", logs.join("\n"));
            let Cluster { members, _dir: kept } = cluster;
            drop(members); // kills them
            dir = kept;
        }
        unreachable!("the last attempt returns or fails")
    }

    /// `etcd://HOST:PORT,...` of every member.
    pub fn url(&self) -> String {
        format!("etcd://{}", self.members.iter().map(Member::endpoint).collect::<Vec<_>>().join(","))
    }

    /// Turns on etcd's authentication: a `root` user (password `root_password`) and `user`
    /// (password `password`), who may read and write only the keys under `prefix`.
    pub fn enable_auth(&self, root_password: &str, user: &str, password: &str, prefix: &str) {
        let member = &self.members[0];
        let call = |path: &str, body: serde_json::Value| {
            let response = member
                .http()
                .post(format!("{}/v3/{path}", member.client_url()))
                .json(&body)
                .send()
                .unwrap_or_else(|e| panic!("etcd {path}: {e}"));
            assert!(response.status().is_success(), "etcd {path}: {}", response.text().unwrap_or_default());
        };
        let mut range_end = prefix.as_bytes().to_vec();
        *range_end.last_mut().expect("non-empty prefix") += 1;
        call("auth/role/add", serde_json::json!({"name": "root"}));
        call("auth/user/add", serde_json::json!({"name": "root", "password": root_password}));
        call("auth/user/grant", serde_json::json!({"user": "root", "role": "root"}));
        call("auth/role/add", serde_json::json!({"name": user}));
        call(
            "auth/role/grant",
            serde_json::json!({"name": user, "perm": {"permType": "READWRITE", "key": base64(prefix.as_bytes()), "range_end": base64(&range_end)}}),
        );
        call("auth/user/add", serde_json::json!({"name": user, "password": password}));
        call("auth/user/grant", serde_json::json!({"user": user, "role": user}));
        call("auth/enable", serde_json::json!({}));
    }

    /// The index of the member that currently leads, if a running member knows one.
    pub fn leader(&self) -> Option<usize> {
        self.members.iter().enumerate().filter(|(_, m)| m.child.is_some()).find_map(|(index, member)| {
            let status: serde_json::Value = member
                .http()
                .post(format!("{}/v3/maintenance/status", member.client_url()))
                .body("{}")
                .send()
                .ok()?
                .json()
                .ok()?;
            let me = status["header"]["member_id"].as_str()?;
            (status["leader"].as_str()? == me).then_some(index)
        })
    }

    /// Waits until every running member reports a healthy cluster.
    pub fn wait_healthy(&self, timeout: Duration) {
        if !self.healthy_within(timeout) {
            let logs: Vec<String> = self.members.iter().map(|m| format!("--- {} ---\n{}", m.name, m.log_tail())).collect();
            panic!("etcd cluster did not become healthy within {timeout:?}:\n{}", logs.join("\n"));
        }
    }

    /// Whether every running member reports a healthy cluster before `timeout`.
    fn healthy_within(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.members.iter().filter(|m| m.child.is_some()).all(Member::healthy) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    }
}

/// The single-member etcd of this test process, started on first use, as an `etcd://` URL.
///
/// It is started from a thread that never ends, so that the death signal set on it fires
/// only when the whole test process goes away.
pub fn shared() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let cluster = Cluster::start(1);
            tx.send(cluster.url()).expect("send the etcd URL");
            // Keep the member (and its temp dir) for the life of the process.
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("the shared etcd did not start")
    })
}

/// Standard base64 with padding, as etcd's JSON gateway wants keys.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A TCP relay in front of one member that can be told to swallow everything the member
/// sends back (requests still arrive and are carried out, their answers are lost), to hold
/// the requests back (delivered, late, once released) or to refuse connections. Runs until
/// the process ends.
pub struct LossyRelay {
    pub port: u16,
    drop_replies: std::sync::Arc<std::sync::atomic::AtomicBool>,
    hold_requests: std::sync::Arc<std::sync::atomic::AtomicBool>,
    refuse: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl LossyRelay {
    /// Relays `127.0.0.1:<port>` to `upstream` (`HOST:PORT`).
    pub fn start(upstream: &str) -> LossyRelay {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay listener");
        let port = listener.local_addr().expect("relay address").port();
        let relay = LossyRelay {
            port,
            drop_replies: Arc::new(AtomicBool::new(false)),
            hold_requests: Arc::new(AtomicBool::new(false)),
            refuse: Arc::new(AtomicBool::new(false)),
        };
        let upstream = upstream.to_string();
        let (drop_replies, hold, refuse) =
            (relay.drop_replies.clone(), relay.hold_requests.clone(), relay.refuse.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if refuse.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                let (mut client_in, mut server_out) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                let hold = hold.clone();
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 16 * 1024];
                    loop {
                        let n = match client_in.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        while hold.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        if server_out.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = server_out.shutdown(std::net::Shutdown::Write);
                });
                let (mut server_in, mut client_out, flag) = (server, client, drop_replies.clone());
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 16 * 1024];
                    loop {
                        let n = match server_in.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if !flag.load(Ordering::SeqCst) && client_out.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = client_out.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        relay
    }

    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// From now on (`true`) the member's answers are thrown away, or passed on again.
    pub fn lose_replies(&self, lose: bool) {
        self.drop_replies.store(lose, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on (`true`) what clients send is held back, or (`false`) delivered, late.
    pub fn hold_requests(&self, hold: bool) {
        self.hold_requests.store(hold, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on (`true`) new connections are closed at once, or relayed again.
    pub fn refuse_connections(&self, refuse: bool) {
        self.refuse.store(refuse, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sweeps_only_dirs_of_processes_that_are_gone() {
        let parent = tempfile::tempdir().unwrap();
        let mine = parent.path().join(format!("{}{}-abc", super::DIR_PREFIX, std::process::id()));
        // Pids are below 2^22 on Linux: this one can't run.
        let dead = parent.path().join(format!("{}{}-abc", super::DIR_PREFIX, 1u32 << 30));
        let other = parent.path().join("unrelated-123");
        for dir in [&mine, &dead, &other] {
            std::fs::create_dir_all(dir.join("m0")).unwrap();
        }
        super::sweep_dead_dirs(parent.path());
        assert!(mine.exists() && other.exists());
        assert!(!dead.exists());
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"/sdnd/"), "L3NkbmQv");
    }
}
