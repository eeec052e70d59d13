//! Test harness: real sdnd servers (each its own data dir and port) and a remotes file for them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use sdnctl::{ApiPath, Client, Method, Remotes};
use serde_json::Value;

/// The sdnd binary of the same build (target/<profile>/sdnd, next to deps/ holding this test).
pub fn sdnd() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile> directory");
    let sdnd = dir.join(format!("sdnd{}", std::env::consts::EXE_SUFFIX));
    assert!(sdnd.exists(), "{} is missing: build it first with `cargo build -p sdnd` (same profile and target dir)", sdnd.display());
    sdnd
}

/// A running sdnd with its node agent; killed when dropped.
pub struct Server {
    pub name: String,
    pub child: Option<Child>,
    pub url: String,
    pub data_dir: PathBuf,
    pub fingerprint: String,
    pub token: String,
}

fn node_dir(data_dir: &Path) -> PathBuf {
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

impl Server {
    /// Starts a server on a fresh (or existing) data dir and creates an API token for it.
    pub fn start(name: &str, data_dir: &Path) -> Server {
        let mut server = Server {
            name: name.to_string(),
            child: None,
            url: String::new(),
            data_dir: data_dir.to_path_buf(),
            fingerprint: String::new(),
            token: String::new(),
        };
        server.spawn();
        let out = Command::new(sdnd())
            .args(["token", "add", "root@pam", "ctl", "--data-dir"])
            .arg(data_dir)
            .env("SDND_LOG", "warn")
            .output()
            .expect("run sdnd token add");
        assert!(out.status.success(), "token add failed: {}", String::from_utf8_lossy(&out.stderr));
        server.token = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
        server
    }

    /// (Re)starts the process on the same data dir.
    pub fn spawn(&mut self) {
        let node_dir = node_dir(&self.data_dir);
        let mut child = Command::new(sdnd())
            .args(["serve", "--data-dir"])
            .arg(&self.data_dir)
            .args(["--listen", "127.0.0.1:0", "--node", "testnode"])
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
            .args(["--reload-frr", "", "--reload-interfaces", ""])
            .env("SDND_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sdnd");
        let stdout = child.stdout.take().expect("sdnd stdout");
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line.expect("read sdnd output");
            if let Some(rest) = line.strip_prefix("sdnd listening on ") {
                self.url = rest.split_whitespace().next().unwrap_or_default().to_string();
            }
            if let Some(rest) = line.strip_prefix("certificate SHA-256 fingerprint: ") {
                self.fingerprint = rest.to_string();
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        assert!(!self.url.is_empty(), "sdnd did not report its address");
        self.child = Some(child);
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// This server's entry in a remotes file.
    pub fn remote_toml(&self) -> String {
        format!(
            "[remotes.{}]\nurl = \"{}\"\ntoken = \"{}\"\nfingerprint = \"{}\"\nnodes = [\"testnode\"]\n\n",
            self.name, self.url, self.token, self.fingerprint
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `n` servers named a, b, c, ... in their own data dirs below `root`.
pub fn servers(root: &Path, n: usize) -> Vec<Server> {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let name = ((b'a' + i as u8) as char).to_string();
            let dir = root.join(&name);
            std::thread::spawn(move || Server::start(&name, &dir))
        })
        .collect();
    handles.into_iter().map(|h| h.join().expect("server start")).collect()
}

/// Writes the remotes file for `servers` and returns its path.
pub fn remotes_file(root: &Path, servers: &[Server]) -> PathBuf {
    let path = root.join("remotes.toml");
    std::fs::write(&path, servers.iter().map(Server::remote_toml).collect::<String>()).unwrap();
    path
}

pub fn clients(remotes_path: &Path, names: &[&str]) -> Vec<Client> {
    let remotes = Remotes::load(remotes_path).unwrap();
    names.iter().map(|n| Client::new(remotes.pick(Some(n), "remotes").unwrap()).unwrap()).collect()
}

pub fn get(client: &Client, path: &str, params: &[(&str, &str)]) -> Value {
    let path: ApiPath = path.parse().unwrap();
    let params: Vec<(String, String)> = params.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    client.call(Method::Get, &path, &params).unwrap()
}

/// Whether anything is pending (zones or vnets with a state) on this remote.
pub fn has_pending(client: &Client) -> bool {
    ["/cluster/sdn/zones", "/cluster/sdn/vnets"].iter().any(|path| {
        get(client, path, &[("pending", "1")]).as_array().unwrap().iter().any(|o| o.get("state").is_some())
    })
}

/// The ids of the running objects at `path`.
pub fn running_ids(client: &Client, path: &str, id: &str) -> Vec<String> {
    let list = get(client, path, &[("running", "1")]);
    list.as_array().unwrap().iter().filter_map(|o| o[id].as_str().map(str::to_string)).collect()
}

/// A change set: one simple zone and `vnets` vnets in it.
pub fn zone_and_vnets(zone: &str, vnets: usize) -> String {
    let mut text = format!("- create: /cluster/sdn/zones\n  params: {{zone: {zone}, type: simple}}\n");
    for i in 0..vnets {
        text.push_str(&format!("- create: /cluster/sdn/vnets\n  params: {{vnet: v{i}, zone: {zone}, alias: vnet {i}}}\n"));
    }
    text
}
