//! Several sdnd nodes on one etcd cluster on loopback, each with its own data dir and agent
//! files, and the mixed load the etcd fault tests and the hang bench run through them.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::etcd::Cluster;
use super::{Client, Server};

const SDN: &str = "/api2/json/cluster/sdn";

/// A request of the mixed load: method, path and parameters.
type Request<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);

/// Writes the agent's inputs for `node`, as the harness does for its single test node.
pub fn write_node_files(data_dir: &Path, node: &str) {
    let dir = data_dir.join("node");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("facts.json"),
        format!(
            r#"{{"node":"{node}","route-iface":"vmbr0","route-ip":"192.168.0.1","mac":"bc:24:11:1d:69:60","bridge-ports":{{"vmbr0":["eth0"]}}}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("interfaces"),
        "auto vmbr0\niface vmbr0 inet static\n\taddress 192.168.0.1/24\n\tbridge-ports eth0\n\tbridge-stp off\n\tbridge-fd 0\n",
    )
    .unwrap();
}

/// sdnd nodes on one etcd cluster.
pub struct Nodes {
    // Dropped in declaration order: servers before the etcd they use.
    pub servers: Vec<Server>,
    pub clients: Vec<Client>,
    pub dirs: Vec<tempfile::TempDir>,
    pub names: Vec<String>,
    pub cluster: Cluster,
}

impl Nodes {
    /// The nodes `names` under `prefix` on a new cluster of `members`, with the member `first`
    /// picks listed first in their `--store` (so that it is the one they talk to) and `extra`
    /// flags. Returns once every node's agent registered.
    pub fn start(
        members: usize,
        names: &[&str],
        prefix: &str,
        extra: &[&str],
        first: impl Fn(&Cluster) -> usize,
    ) -> Nodes {
        let cluster = Cluster::start(members);
        let mut endpoints: Vec<String> = cluster.members.iter().map(|m| m.endpoint()).collect();
        endpoints.rotate_left(first(&cluster));
        let store = vec![
            "--store".to_string(),
            format!("etcd://{}", endpoints.join(",")),
            "--store-prefix".to_string(),
            prefix.to_string(),
        ];
        let dirs: Vec<_> = names.iter().map(|_| tempfile::tempdir().unwrap()).collect();
        let servers: Vec<Server> = names
            .iter()
            .zip(&dirs)
            .map(|(node, dir)| {
                write_node_files(dir.path(), node);
                Server::start_node(dir.path(), node, &store, extra)
            })
            .collect();
        let clients = servers.iter().zip(names).map(|(s, node)| s.client(&format!("t-{node}"))).collect();
        let names = names.iter().map(|n| n.to_string()).collect();
        let nodes = Nodes { servers, clients, dirs, names, cluster };
        nodes.wait_agents();
        nodes
    }

    /// Waits until every node's agent registered, so that an apply waits for all of them.
    pub fn wait_agents(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for node in &self.names {
            while self.clients[0].get(&format!("/api2/json/nodes/{node}/sdn/status"), &[]).status != 200 {
                assert!(Instant::now() < deadline, "agent of {node} never registered");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// One request of the mixed load: when it started, how long it took, what it was, its answer.
pub struct Sample {
    pub at: Instant,
    pub took: Duration,
    pub what: String,
    pub status: u16,
    pub body: String,
}

/// The mixed load, running until `stop` is set: four threads send reads (zones, the lock, a
/// node's agent status) through the nodes in turn; the first also creates and deletes a zone
/// in each round. One writer: several would race for the configuration and sometimes be told
/// to retry (409), which is no fault of etcd's. Each round runs to its end, so the zone is
/// always deleted again. Join the threads before reading the samples.
pub fn mixed_load(nodes: &Nodes, stop: &Arc<AtomicBool>) -> (Vec<JoinHandle<()>>, Arc<Mutex<Vec<Sample>>>) {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let threads = (0..4)
        .map(|t| {
            let (clients, names) = (nodes.clients.clone(), nodes.names.clone());
            let (stop, samples) = (stop.clone(), samples.clone());
            std::thread::spawn(move || {
                let zone = format!("h{t}");
                let mut round = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let node = &names[round % names.len()];
                    let client = &clients[(t + round) % clients.len()];
                    let mut requests: Vec<Request> = vec![
                        ("GET", format!("{SDN}/zones"), vec![]),
                        ("GET", format!("{SDN}/lock"), vec![]),
                        ("GET", format!("/api2/json/nodes/{node}/sdn"), vec![]),
                    ];
                    if t == 0 {
                        requests.insert(0, ("POST", format!("{SDN}/zones"), vec![("zone", &zone), ("type", "simple")]));
                        requests.push(("DELETE", format!("{SDN}/zones/{zone}"), vec![]));
                    }
                    for (method, path, params) in requests {
                        let at = Instant::now();
                        let reply = client.request(method, &path, &params);
                        let sample = Sample {
                            at,
                            took: at.elapsed(),
                            what: format!("{method} {path}"),
                            status: reply.status,
                            body: reply.body.to_string(),
                        };
                        samples.lock().unwrap().push(sample);
                    }
                    round += 1;
                }
            })
        })
        .collect();
    (threads, samples)
}

/// The `p` quantile (0..=1) of sorted durations; zero for none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
