//! Test harness: real sdnd servers (each its own data dir, port and store; from `sdnd-testkit`,
//! shared with sdnd's tests) and a remotes file for them.
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

use sdnctl::{ApiPath, Client, Method, Remotes};
use serde_json::Value;

pub use sdnd_testkit::sdnd_beside_current_exe as sdnd;

/// A running sdnd ([`sdnd_testkit::Server`]) with a name and an API token; killed when dropped.
pub struct Server {
    inner: sdnd_testkit::Server,
    pub name: String,
    pub token: String,
}

impl Deref for Server {
    type Target = sdnd_testkit::Server;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl Server {
    /// Starts a server on a fresh (or existing) data dir, on a store of its own (with
    /// SDND_TEST_STORE=etcd: its own key prefix), and creates an API token for it.
    pub fn start(name: &str, data_dir: &Path) -> Server {
        let store = sdnd_testkit::store_args_for(name);
        let inner = sdnd_testkit::Server::start(&sdnd(), data_dir, sdnd_testkit::NODE, &store, &[]);
        let token = inner.add_token("root@pam", "ctl");
        Server { inner, name: name.to_string(), token }
    }

    /// (Re)starts the process on the same data dir and store.
    pub fn spawn(&mut self) {
        self.inner.restart();
    }

    /// This server's entry in a remotes file.
    pub fn remote_toml(&self) -> String {
        format!(
            "[remotes.{}]\nurl = \"{}\"\ntoken = \"{}\"\nfingerprint = \"{}\"\nnodes = [\"{}\"]\n\n",
            self.name,
            self.url(),
            self.token,
            self.fingerprint,
            sdnd_testkit::NODE
        )
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
