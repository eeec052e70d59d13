//! Test harness: a real sdnd process on an ephemeral loopback port (from `sdnd-testkit`, shared
//! with sdnctl's tests) and a small PVE-style client.
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

#[allow(unused_imports)] // not every test binary uses etcd
pub use sdnd_testkit::{etcd, store_args};

pub mod etcd_nodes;
pub mod http_stub;
pub mod recorded;
pub mod services;

pub const SDND: &str = env!("CARGO_BIN_EXE_sdnd");

/// A running server ([`sdnd_testkit::Server`] of this build's sdnd); killed when dropped.
pub struct Server(sdnd_testkit::Server);

impl Deref for Server {
    type Target = sdnd_testkit::Server;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        Server::start_in(data_dir, &[])
    }

    /// Starts `sdnd serve` on `data_dir` with extra arguments, on the test store.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_node(data_dir, sdnd_testkit::NODE, &store_args(), extra)
    }

    /// Starts `sdnd serve` as node `node` on the given store (several nodes may share one).
    pub fn start_node(data_dir: &Path, node: &str, store: &[String], extra: &[&str]) -> Server {
        Server(sdnd_testkit::Server::start(Path::new(SDND), data_dir, node, store, extra))
    }

    /// Creates an API token with `sdnd token add` (while the server runs) and returns a client.
    pub fn client(&self, tokenid: &str) -> Client {
        Client::new(&self.base, Some(format!("PVEAPIToken={}", self.add_token("root@pam", tokenid))))
    }
}

/// The test store of `data_dir` (SQLite there, or the test etcd) and an app (no HTTP server)
/// on it, as a node of the test cluster.
pub fn start_app(data_dir: &Path, clock: sdnd::Clock) -> (std::sync::Arc<dyn sdn_store::Store>, std::sync::Arc<sdnd::App>) {
    #[derive(clap::Parser)]
    struct Args {
        #[command(flatten)]
        store: sdnd::store_args::StoreArgs,
    }
    let mut argv = vec!["sdnd".to_string(), "--data-dir".into(), data_dir.display().to_string()];
    argv.extend(store_args());
    let args = <Args as clap::Parser>::parse_from(argv);
    let store = sdnd::store_args::open_store(&args.store).expect("open the test store");
    let options = sdnd::app::AppOptions {
        node: sdnd_testkit::NODE.to_string(),
        // Long: a test that waits for a task would notice it waiting this out.
        apply_timeout: Duration::from_secs(600),
        ticket_lifetime: 7200,
        clock,
        keep_versions: sdnd::history::DEFAULT_KEEP_VERSIONS,
    };
    let app = sdnd::App::start(store.clone(), options).expect("start the app");
    (store, app)
}

/// An sdnd server inside the test process, on the test store, whose clock the test moves:
/// for what depends on time (lock expiry, tickets) without sleeping. Stopped when dropped.
pub struct InProcess {
    pub base: String,
    pub clock: sdnd::Clock,
    data_dir: PathBuf,
    store: std::sync::Arc<dyn sdn_store::Store>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    agent: Option<sdnd::agent::Agent>,
}

impl InProcess {
    pub fn start(data_dir: &Path) -> InProcess {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let clock = sdnd::Clock::manual(now.as_millis() as i64);
        let (store, app) = start_app(data_dir, clock.clone());
        let store_handle = store.clone();
        // The node agent, as the test servers run it: files in the data dir, no reloads.
        let agent_config = test_agent_config(data_dir, sdnd_testkit::NODE);
        let agent = sdnd::agent::spawn(store, agent_config, clock.clone()).expect("start the node agent");
        let identity = sdnd::http::tls::load_or_create(data_dir, None, None).expect("certificate");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            sdnd::http::run_until(listener, identity.config, app, sdnd::http::Limits::default(), async {
                let _ = stopped.await;
            })
            .expect("serve");
        });
        InProcess {
            base,
            clock,
            data_dir: data_dir.to_path_buf(),
            store: store_handle,
            stop: Some(stop),
            thread: Some(thread),
            agent: Some(agent),
        }
    }

    /// Creates an API token with `sdnd token add` and returns a client using it.
    pub fn client(&self, tokenid: &str) -> Client {
        Client::new(&self.base, Some(add_token(&self.data_dir, "root@pam", tokenid)))
    }

    /// Starts another node's agent on this server's store and clock (files in the data dir's
    /// `node-NODE`, facts for that node, no reloads).
    pub fn start_agent(&self, node: &str) -> sdnd::agent::Agent {
        let config = test_agent_config(&self.data_dir, node);
        sdnd::agent::spawn(self.store.clone(), config, self.clock.clone()).expect("start the node agent")
    }
}

/// A node agent's settings for tests: its files in the data dir's node folder, no reloads.
fn test_agent_config(data_dir: &Path, node: &str) -> sdnd::agent::AgentConfig {
    let node_dir = sdnd_testkit::node_dir(data_dir, node);
    sdnd::agent::AgentConfig {
        node: node.to_string(),
        host_interfaces: node_dir.join("interfaces"),
        interfaces_out: node_dir.join("sdn"),
        frr_out: node_dir.join("frr.conf"),
        frr_local: node_dir.join("frr.conf.local"),
        reload_interfaces: String::new(),
        reload_frr: String::new(),
        facts_file: Some(node_dir.join("facts.json")),
        fingerprint: None,
        status_commands: sdnd::agent::status::StatusCommands::default(),
        dnsmasq: Some(sdnd::agent::dhcp::DnsmasqConfig {
            dir: node_dir.join("dnsmasq.d"),
            default_dir: None,
            dbus_dir: None,
            reload: Some(String::new()),
        }),
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(agent) = self.agent.take() {
            agent.stop();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The node agent's files of a test server (node `testnode`).
pub fn node_dir(data_dir: &Path) -> PathBuf {
    sdnd_testkit::node_dir(data_dir, sdnd_testkit::NODE)
}

/// Runs `sdnd token add` on the test store and returns the `Authorization` header value.
pub fn add_token(data_dir: &Path, user: &str, tokenid: &str) -> String {
    add_token_in(data_dir, &store_args(), user, tokenid)
}

/// Like [`add_token`], on the given store.
pub fn add_token_in(data_dir: &Path, store: &[String], user: &str, tokenid: &str) -> String {
    format!("PVEAPIToken={}", sdnd_testkit::add_token(Path::new(SDND), data_dir, store, user, tokenid))
}

/// The answer to one request.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub reason: String,
    pub body: Value,
}

impl Reply {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "expected success, got {} {} {}", self.status, self.reason, self.body);
        self.body["data"].clone()
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "expected {status}, got {} {} {}", self.status, self.reason, self.body);
        self
    }

    #[track_caller]
    pub fn expect_not(self, status: u16) -> Self {
        assert_ne!(self.status, status, "did not expect {status}: {} {}", self.reason, self.body);
        self
    }

    /// The message of a refusal (reason phrase and body message agree).
    pub fn message(&self) -> String {
        self.body["message"].as_str().map(str::to_string).unwrap_or_else(|| self.reason.clone())
    }
}

/// A minimal PVE API client (form-encoded parameters, like pvesh and proxmoxer).
#[derive(Clone)]
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    auth: Option<String>,
}

impl Client {
    pub fn new(base: &str, auth: Option<String>) -> Client {
        let http = reqwest::blocking::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Client { http, base: base.to_string(), auth }
    }

    /// The `Authorization` header value it sends, if any.
    pub fn auth(&self) -> Option<&str> {
        self.auth.as_deref()
    }

    pub fn with_auth(&self, auth: Option<String>) -> Client {
        Client { auth, ..self.clone() }
    }

    pub fn request(&self, method: &str, path: &str, params: &[(&str, &str)]) -> Reply {
        let url = format!("{}{}", self.base, path);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = match method {
            reqwest::Method::GET | reqwest::Method::DELETE => self.http.request(method, url).query(params),
            _ => self.http.request(method, url).form(params),
        };
        if let Some(auth) = &self.auth {
            req = req.header("Authorization", auth);
        }
        let response = req.send().expect("request failed");
        Self::reply(response)
    }

    /// Sends a JSON body (as Rust clients such as the datacenter manager do).
    pub fn json(&self, method: &str, path: &str, body: &Value) -> Reply {
        let url = format!("{}{}", self.base, path);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, url).json(body);
        if let Some(auth) = &self.auth {
            req = req.header("Authorization", auth);
        }
        Self::reply(req.send().expect("request failed"))
    }

    pub fn raw(&self, method: &str, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let url = format!("{}{}", self.base, path);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, url).header("Content-Type", content_type).body(body);
        if let Some(auth) = &self.auth {
            req = req.header("Authorization", auth);
        }
        Self::reply(req.send().expect("request failed"))
    }

    fn reply(response: reqwest::blocking::Response) -> Reply {
        let status = response.status().as_u16();
        let reason = response.status().canonical_reason().unwrap_or("").to_string();
        let text = response.text().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, reason, body }
    }

    pub fn get(&self, path: &str, params: &[(&str, &str)]) -> Reply {
        self.request("GET", path, params)
    }
    pub fn post(&self, path: &str, params: &[(&str, &str)]) -> Reply {
        self.request("POST", path, params)
    }
    pub fn put(&self, path: &str, params: &[(&str, &str)]) -> Reply {
        self.request("PUT", path, params)
    }
    pub fn delete(&self, path: &str, params: &[(&str, &str)]) -> Reply {
        self.request("DELETE", path, params)
    }

    /// Polls a task until it stops; returns its exit status.
    pub fn wait_task(&self, upid: &str) -> String {
        let node = upid.split(':').nth(1).unwrap();
        for _ in 0..600 {
            let status = self.get(&format!("/api2/json/nodes/{node}/tasks/{upid}/status"), &[]).ok();
            if status["status"] == "stopped" {
                return status["exitstatus"].as_str().unwrap().to_string();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("task {upid} did not finish");
    }
}
