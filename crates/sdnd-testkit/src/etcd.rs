//! etcd for the tests: a single member shared by a test process (SDND_TEST_STORE=etcd), and
//! three-member clusters whose members a test can kill and restart. Everything listens on
//! free loopback ports, lives in a temp dir and dies with the test process.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One etcd member; killed when dropped.
pub struct Member {
    pub name: String,
    pub client_port: u16,
    peer_port: u16,
    dir: PathBuf,
    initial_cluster: String,
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
            child: None,
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
        let client_url = format!("http://{}", self.endpoint());
        let mut command = Command::new("etcd");
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
            // sdnd writes an import or rollback of the whole configuration in one transaction.
            .arg("--max-txn-ops=100000")
            .arg("--max-request-bytes=33554432")
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .arg("--log-level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it makes etcd die with the thread that started it.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        self.child = Some(command.spawn().expect("start etcd (is it installed? run scripts/install-etcd.sh)"));
    }

    /// Kills this member at once (SIGKILL: a crash, not a shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether this member answers `/health` with a leader in its cluster.
    pub fn healthy(&self) -> bool {
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(1)).build().expect("http client");
        http.get(format!("http://{}/health", self.endpoint()))
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

/// An etcd cluster of `n` members on loopback.
pub struct Cluster {
    pub members: Vec<Member>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` members and waits until the cluster has a leader.
    pub fn start(n: usize) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut members: Vec<Member> =
            (0..n).map(|i| Member::new(&format!("m{i}"), dir.path().join(format!("m{i}")))).collect();
        let initial = members.iter().map(|m| format!("{}={}", m.name, m.peer_url())).collect::<Vec<_>>().join(",");
        for member in &mut members {
            member.initial_cluster = initial.clone();
            member.start();
        }
        let cluster = Cluster { members, _dir: dir };
        cluster.wait_healthy(Duration::from_secs(30));
        cluster
    }

    /// `etcd://HOST:PORT,...` of every member.
    pub fn url(&self) -> String {
        format!("etcd://{}", self.members.iter().map(Member::endpoint).collect::<Vec<_>>().join(","))
    }

    /// The index of the member that currently leads, if a running member knows one.
    pub fn leader(&self) -> Option<usize> {
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(1)).build().expect("http client");
        self.members.iter().enumerate().filter(|(_, m)| m.child.is_some()).find_map(|(index, member)| {
            let status: serde_json::Value =
                http.post(format!("http://{}/v3/maintenance/status", member.endpoint())).body("{}").send().ok()?.json().ok()?;
            let me = status["header"]["member_id"].as_str()?;
            (status["leader"].as_str()? == me).then_some(index)
        })
    }

    /// Waits until every running member reports a healthy cluster.
    pub fn wait_healthy(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.members.iter().filter(|m| m.child.is_some()).all(Member::healthy) {
            assert!(Instant::now() < deadline, "etcd cluster did not become healthy within {timeout:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
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
