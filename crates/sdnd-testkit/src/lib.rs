//! Test harness shared by the sdnd and sdnctl tests and benches: a real `sdnd serve` on an
//! ephemeral loopback port with its node agent writing below the data dir, API tokens made
//! with `sdnd token add`, and the store the tests run on (SQLite, or etcd with
//! `SDND_TEST_STORE=etcd`).
//!
//! Callers say which sdnd binary to run: sdnd's own tests pass `env!("CARGO_BIN_EXE_sdnd")`,
//! other crates use [`sdnd_beside_current_exe`]. Everything here panics with a message on
//! failure, as a test harness should.

pub mod etcd;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// Starts `command` so that the child is killed when this process ends, however it ends: a
/// test or bench killed with SIGKILL runs no `Drop`, and the servers it left would go on (on
/// an etcd that is gone, spinning in retries) and skew every later measurement. The kernel's
/// parent-death signal fires when the *thread* that forked ends, so every child is forked by
/// one thread that lives as long as the process (tests start servers on threads of their
/// own, which end first).
pub fn spawn_tied_to_this_process(mut command: Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    use std::sync::mpsc;
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<std::sync::Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("testkit-spawner".into())
            .spawn(move || {
                for (mut command, answer) in incoming {
                    let _ = answer.send(command.spawn());
                }
            })
            .expect("start the testkit's spawner thread");
        std::sync::Mutex::new(requests)
    });
    let parent = std::process::id();
    // SAFETY: prctl, getppid and _exit are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // The parent may have died before the signal was asked for.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let (answer, result) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send((command, answer))
        .expect("the testkit's spawner thread is gone");
    result.recv().expect("the testkit's spawner thread is gone")
}

/// The node name test servers run as unless told otherwise.
pub const NODE: &str = "testnode";

/// The sdnd binary of the same build (`target/<profile>/sdnd`, next to the `deps/` directory
/// holding the running test or bench), for crates that cannot use `CARGO_BIN_EXE_sdnd`.
pub fn sdnd_beside_current_exe() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile> directory");
    let sdnd = dir.join(format!("sdnd{}", std::env::consts::EXE_SUFFIX));
    assert!(
        sdnd.exists(),
        "{} is missing: build it first with `cargo build -p sdnd` (same profile and target dir)",
        sdnd.display()
    );
    sdnd
}

/// The etcd URL the tests of this process run on, if `SDND_TEST_STORE` selects etcd.
fn test_etcd() -> Option<&'static str> {
    static SELECTED: OnceLock<bool> = OnceLock::new();
    let etcd = *SELECTED.get_or_init(|| match std::env::var("SDND_TEST_STORE").as_deref() {
        Ok("etcd") => true,
        Ok("sqlite") | Ok("") | Err(_) => false,
        Ok(other) => panic!("SDND_TEST_STORE={other}: expected etcd or sqlite"),
    });
    etcd.then(etcd::shared)
}

/// The store the tests run on: SQLite in each data dir, or with SDND_TEST_STORE=etcd an etcd
/// started per test process, on a key prefix of its own per process (nextest runs each test
/// in its own process). The prefix and address are also put in the environment
/// (SDND_STORE, SDND_STORE_PREFIX), so sdnd commands a test runs itself use the same store.
pub fn store_args() -> Vec<String> {
    static ARGS: OnceLock<Vec<String>> = OnceLock::new();
    ARGS.get_or_init(|| match test_etcd() {
        Some(url) => {
            let prefix = format!("/t-{}/", std::process::id());
            std::env::set_var("SDND_STORE", url);
            std::env::set_var("SDND_STORE_PREFIX", &prefix);
            vec!["--store".into(), url.into(), "--store-prefix".into(), prefix]
        }
        None => Vec::new(),
    })
    .clone()
}

/// Like [`store_args`], for a store of its own named `name`: on etcd a key prefix no other
/// name (nor [`store_args`]) shares, so several independent servers can run in one test.
/// Nothing is put in the environment.
pub fn store_args_for(name: &str) -> Vec<String> {
    match test_etcd() {
        Some(url) => {
            let prefix = format!("/t-{}-{name}/", std::process::id());
            vec!["--store".into(), url.into(), "--store-prefix".into(), prefix]
        }
        None => Vec::new(),
    }
}

/// The node agent's files of a test server below its data dir: facts (for node `node`) and
/// host interfaces are written once, the agent renders `sdn` and `frr.conf` here instead of
/// /etc. Files already there are kept, so a test may write its own first.
pub fn node_dir(data_dir: &Path, node: &str) -> PathBuf {
    // One folder per node, so that several agents can share a data dir.
    let dir = if node == NODE { data_dir.join("node") } else { data_dir.join(format!("node-{node}")) };
    std::fs::create_dir_all(&dir).expect("create the node dir");
    let facts = dir.join("facts.json");
    if !facts.exists() {
        let json = serde_json::json!({
            "node": node,
            "route-iface": "vmbr0",
            "route-ip": "192.168.0.1",
            "mac": "bc:24:11:1d:69:60",
            "bridge-ports": {"vmbr0": ["eth0"]},
        });
        std::fs::write(&facts, json.to_string()).expect("write facts.json");
    }
    let interfaces = dir.join("interfaces");
    if !interfaces.exists() {
        std::fs::write(
            &interfaces,
            "auto vmbr0\niface vmbr0 inet static\n\taddress 192.168.0.1/24\n\tbridge-ports eth0\n\tbridge-stp off\n\tbridge-fd 0\n",
        )
        .expect("write interfaces");
    }
    dir
}

/// The configuration file test servers and commands read: none (an empty file), so that an
/// sdnd installed on the test machine (/etc/sdnd/sdnd.toml) can't change what they do.
pub const NO_CONFIG: &str = "/dev/null";

/// Runs `sdnd token add` on `data_dir` and `store` and returns the token as sdnd prints it
/// (`user!tokenid=secret`); the caller decides how to send it.
pub fn add_token(sdnd: &Path, data_dir: &Path, store: &[String], user: &str, tokenid: &str) -> String {
    let out = Command::new(sdnd)
        .args(["token", "add", user, tokenid, "--data-dir"])
        .arg(data_dir)
        .args(store)
        .env("SDND_LOG", "warn")
        .env("SDND_CONFIG", NO_CONFIG)
        .output()
        .expect("run sdnd token add");
    assert!(out.status.success(), "token add failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout.lines().last().expect("sdnd token add printed no token").to_string()
}

/// A running `sdnd serve` with its node agent; killed when dropped.
pub struct Server {
    /// The process; `None` once killed (a test may also take it to kill it itself).
    pub child: Option<Child>,
    /// `https://127.0.0.1:PORT`, without the `/api2/json` of [`Server::url`].
    pub base: String,
    pub data_dir: PathBuf,
    pub fingerprint: String,
    /// The `--store ...` arguments it was started with (empty: SQLite in the data dir).
    pub store: Vec<String>,
    sdnd: PathBuf,
    node: String,
    extra: Vec<String>,
}

impl Server {
    /// Starts `sdnd serve` on `data_dir` as node `node` on the given store (several nodes may
    /// share one), with extra arguments. Frr and interface reloads are off unless `extra`
    /// sets `--reload-interfaces`.
    pub fn start(sdnd: &Path, data_dir: &Path, node: &str, store: &[String], extra: &[&str]) -> Server {
        let mut server = Server {
            child: None,
            base: String::new(),
            data_dir: data_dir.to_path_buf(),
            fingerprint: String::new(),
            store: store.to_vec(),
            sdnd: sdnd.to_path_buf(),
            node: node.to_string(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        server.spawn();
        server
    }

    /// Stops the process if it runs and starts it again with the same arguments and data dir
    /// (on a new port: [`Server::base`] and [`Server::url`] change).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let node_dir = node_dir(&self.data_dir, &self.node);
        let reload_interfaces: &[&str] =
            if self.extra.iter().any(|a| a == "--reload-interfaces") { &[] } else { &["--reload-interfaces", ""] };
        // The DHCP files in the node's folder, never /etc, and no reloads, unless asked for.
        let dnsmasq_dir = node_dir.join("dnsmasq.d").display().to_string();
        let dnsmasq: Vec<&str> = if self.extra.iter().any(|a| a == "--dnsmasq-dir") {
            Vec::new()
        } else {
            vec!["--dnsmasq-dir", &dnsmasq_dir, "--reload-dnsmasq", "", "--dnsmasq-default-dir", "", "--dbus-policy-dir", ""]
        };
        let mut command = Command::new(&self.sdnd);
        command
            .args(["serve", "--data-dir"])
            .arg(&self.data_dir)
            .args(&self.store)
            .args(["--listen", "127.0.0.1:0", "--node", &self.node])
            .arg("--host-interfaces")
            .arg(node_dir.join("interfaces"))
            .arg("--interfaces-out")
            .arg(node_dir.join("sdn"))
            .arg("--frr-out")
            .arg(node_dir.join("frr.conf"))
            .arg("--frr-local")
            .arg(node_dir.join("frr.conf.local"))
            .arg("--node-facts")
            .arg(node_dir.join("facts.json"))
            .args(["--reload-frr", ""])
            .args(reload_interfaces)
            .args(dnsmasq)
            .args(&self.extra)
            // Quiet unless asked: `SDND_TEST_LOG=info` shows a test server's access log.
            .env("SDND_LOG", std::env::var("SDND_TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .env("SDND_CONFIG", NO_CONFIG)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = spawn_tied_to_this_process(command).expect("start sdnd");
        let stdout = child.stdout.take().expect("sdnd stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut base = None;
        let mut fingerprint = None;
        for line in lines.by_ref() {
            let line = line.expect("read sdnd output");
            if let Some(rest) = line.strip_prefix("sdnd listening on ") {
                let url = rest.split_whitespace().next().unwrap_or_default();
                base = Some(url.trim_end_matches("/api2/json").to_string());
            }
            if let Some(rest) = line.strip_prefix("certificate SHA-256 fingerprint: ") {
                fingerprint = Some(rest.to_string());
                break;
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
        self.base = base.expect("sdnd did not report its address");
        self.fingerprint = fingerprint.expect("sdnd did not report its certificate fingerprint");
    }

    /// The API root, `https://127.0.0.1:PORT/api2/json`.
    pub fn url(&self) -> String {
        format!("{}/api2/json", self.base)
    }

    /// Creates an API token on this server's data dir and store; see [`add_token`].
    pub fn add_token(&self, user: &str, tokenid: &str) -> String {
        add_token(&self.sdnd, &self.data_dir, &self.store, user, tokenid)
    }

    /// Kills the process at once (SIGKILL: a crash, not a shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_dir_writes_facts_for_the_node_and_keeps_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let nodes = node_dir(dir.path(), "n2");
        let facts: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(nodes.join("facts.json")).unwrap()).unwrap();
        assert_eq!(facts["node"], "n2");
        assert!(std::fs::read_to_string(nodes.join("interfaces")).unwrap().contains("iface vmbr0"));

        std::fs::write(nodes.join("facts.json"), "{}").unwrap();
        node_dir(dir.path(), "other");
        assert_eq!(std::fs::read_to_string(nodes.join("facts.json")).unwrap(), "{}");
    }

    /// Run by [`children_end_with_the_process_not_with_the_thread_that_started_them`] in a
    /// process of its own: starts `sleep` from a thread that ends at once, prints its pid and
    /// waits to be killed.
    #[test]
    #[ignore = "a helper process of the test below"]
    fn helper_starts_a_child_from_a_short_lived_thread() {
        let mut child = std::thread::spawn(|| {
            let mut sleep = Command::new("sleep");
            sleep.arg("60");
            spawn_tied_to_this_process(sleep).unwrap()
        })
        .join()
        .unwrap();
        println!("child pid {}", child.id());
        std::thread::sleep(std::time::Duration::from_secs(60));
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn children_end_with_the_process_not_with_the_thread_that_started_them() {
        let alive = |pid: u32| {
            // A zombie is dead, whoever reaps it.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
        };
        let mut helper = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "tests::helper_starts_a_child_from_a_short_lived_thread", "--nocapture"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(helper.stdout.take().unwrap()).lines();
        let pid: u32 = lines
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("child pid ").map(|pid| pid.parse().unwrap()))
            .expect("the helper printed its child's pid");
        assert!(alive(pid), "the child outlived the thread that started it");
        helper.kill().unwrap();
        helper.wait().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!alive(pid), "the child ended with its killed parent");
    }

    #[test]
    fn named_stores_never_share_a_prefix() {
        let a = store_args_for("a");
        let b = store_args_for("b");
        if test_etcd().is_some() {
            assert_ne!(a, b);
            assert_ne!(a, store_args());
        } else {
            assert!(a.is_empty() && b.is_empty() && store_args().is_empty());
        }
    }
}
