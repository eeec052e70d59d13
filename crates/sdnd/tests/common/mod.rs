//! Test harness: a real sdnd process on an ephemeral loopback port, and a small PVE-style client.
#![allow(dead_code)]

pub mod etcd;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const SDND: &str = env!("CARGO_BIN_EXE_sdnd");

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub fingerprint: String,
    /// The `--store ...` arguments it was started with (empty: SQLite in the data dir).
    pub store: Vec<String>,
}

/// The store the tests run on: SQLite in each data dir, or with SDND_TEST_STORE=etcd an etcd
/// started per test process, on a key prefix of its own per process (nextest runs each test
/// in its own process). The prefix and address are also put in the environment
/// (SDND_STORE, SDND_STORE_PREFIX), so sdnd commands a test runs itself use the same store.
pub fn store_args() -> Vec<String> {
    static ARGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    ARGS.get_or_init(|| match std::env::var("SDND_TEST_STORE").as_deref() {
        Ok("etcd") => {
            let url = etcd::shared().to_string();
            let prefix = format!("/t-{}/", std::process::id());
            std::env::set_var("SDND_STORE", &url);
            std::env::set_var("SDND_STORE_PREFIX", &prefix);
            vec!["--store".into(), url, "--store-prefix".into(), prefix]
        }
        Ok("sqlite") | Ok("") | Err(_) => Vec::new(),
        Ok(other) => panic!("SDND_TEST_STORE={other}: expected etcd or sqlite"),
    })
    .clone()
}

impl Server {
    /// Starts `sdnd serve` on `data_dir` with extra arguments.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_node(data_dir, "testnode", &store_args(), extra)
    }

    /// Starts `sdnd serve` as node `node` on the given store (several nodes may share one).
    pub fn start_node(data_dir: &Path, node: &str, store: &[String], extra: &[&str]) -> Server {
        let node_dir = node_dir(data_dir);
        let mut child = Command::new(SDND)
            .args(["serve", "--data-dir"])
            .arg(data_dir)
            .args(store)
            .args(["--listen", "127.0.0.1:0", "--node", node])
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
            .args(if extra.contains(&"--reload-interfaces") { &[][..] } else { &["--reload-interfaces", ""][..] })
            .args(extra)
            .env("SDND_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sdnd");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut base = None;
        let mut fingerprint = String::new();
        for line in lines.by_ref() {
            let line = line.expect("read sdnd output");
            if let Some(rest) = line.strip_prefix("sdnd listening on ") {
                let url = rest.split_whitespace().next().unwrap();
                base = Some(url.trim_end_matches("/api2/json").to_string());
            }
            if let Some(rest) = line.strip_prefix("certificate SHA-256 fingerprint: ") {
                fingerprint = rest.to_string();
                break;
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let base = base.expect("sdnd did not report its address");
        Server { child, base, data_dir: data_dir.to_path_buf(), fingerprint, store: store.to_vec() }
    }

    pub fn start(data_dir: &Path) -> Server {
        Server::start_in(data_dir, &[])
    }

    /// Creates an API token with `sdnd token add` (while the server runs) and returns a client.
    pub fn client(&self, tokenid: &str) -> Client {
        let header = add_token_in(&self.data_dir, &self.store, "root@pam", tokenid);
        Client::new(&self.base, Some(header))
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The node agent's files of a test server: facts and host interfaces are written here once,
/// the agent renders `sdn` and `frr.conf` here instead of /etc.
pub fn node_dir(data_dir: &Path) -> PathBuf {
    let dir = data_dir.join("node");
    if !dir.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("facts.json"),
            r#"{"node":"testnode","route-iface":"vmbr0","route-ip":"192.168.0.1","mac":"bc:24:11:1d:69:60","bridge-ports":{"vmbr0":["eth0"]}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("interfaces"),
            "auto vmbr0\niface vmbr0 inet static\n\taddress 192.168.0.1/24\n\tbridge-ports eth0\n\tbridge-stp off\n\tbridge-fd 0\n",
        )
        .unwrap();
    }
    dir
}

/// Runs `sdnd token add` and returns the `Authorization` header value.
pub fn add_token(data_dir: &Path, user: &str, tokenid: &str) -> String {
    add_token_in(data_dir, &store_args(), user, tokenid)
}

/// Like [`add_token`], on the given store.
pub fn add_token_in(data_dir: &Path, store: &[String], user: &str, tokenid: &str) -> String {
    let out = Command::new(SDND)
        .args(["token", "add", user, tokenid, "--data-dir"])
        .arg(data_dir)
        .args(store)
        .env("SDND_LOG", "warn")
        .output()
        .expect("run sdnd token add");
    assert!(out.status.success(), "token add failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap().to_string();
    format!("PVEAPIToken={last}")
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
