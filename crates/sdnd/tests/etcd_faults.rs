//! sdnd under etcd faults, on a three-member cluster on loopback with two sdnd nodes: a hung
//! member (SIGSTOP, not a crash: its connections stay open and silent) costs latency, never
//! a failed request; an apply task ends with the truth after two members were stopped under
//! it, and a task whose owner died is finished by the other node.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::etcd::Cluster;
use common::{Client, Server};

const SDN: &str = "/api2/json/cluster/sdn";
const PREFIX: &str = "/cluster/";
const NODES: [&str; 2] = ["node-a", "node-b"];

/// A request of the load: method, path and parameters.
type Request<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);

/// Two sdnd nodes on one three-member etcd cluster.
struct Nodes {
    // Dropped in declaration order: servers before the etcd they use.
    servers: Vec<Server>,
    clients: Vec<Client>,
    _dirs: Vec<tempfile::TempDir>,
    cluster: Cluster,
}

fn write_node_files(data_dir: &Path, node: &str) {
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

impl Nodes {
    fn start(extra: &[&str]) -> Nodes {
        Nodes::start_first(extra, |_| 0)
    }

    /// Like [`Nodes::start`], the member `first` picks listed first in the nodes' `--store`,
    /// so that it is the one they talk to.
    fn start_first(extra: &[&str], first: impl Fn(&Cluster) -> usize) -> Nodes {
        let cluster = Cluster::start(3);
        let first = first(&cluster);
        let mut endpoints: Vec<String> = cluster.members.iter().map(|m| m.endpoint()).collect();
        endpoints.rotate_left(first);
        let url = format!("etcd://{}", endpoints.join(","));
        let store = vec![
            "--store".to_string(),
            url,
            "--store-prefix".to_string(),
            PREFIX.to_string(),
        ];
        let mut servers = Vec::new();
        let mut dirs = Vec::new();
        for node in NODES {
            let dir = tempfile::tempdir().unwrap();
            write_node_files(dir.path(), node);
            servers.push(Server::start_node(dir.path(), node, &store, extra));
            dirs.push(dir);
        }
        let clients = servers
            .iter()
            .zip(NODES)
            .map(|(s, node)| s.client(&format!("t-{node}")))
            .collect();
        let nodes = Nodes {
            servers,
            clients,
            _dirs: dirs,
            cluster,
        };
        nodes.wait_agents();
        nodes
    }

    fn wait_agents(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for node in NODES {
            while self.clients[0]
                .get(&format!("/api2/json/nodes/{node}/sdn"), &[])
                .status
                != 200
            {
                assert!(
                    Instant::now() < deadline,
                    "agent of {node} never registered"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// One request of the load: what it was, how long it took, and its status.
struct Sample {
    at: Instant,
    took: Duration,
    what: String,
    status: u16,
    body: String,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Runs writes (a zone created and deleted) and reads (zones, the lock, each node's agent
/// status) through both nodes from four threads, freezes member `victim` for `hang`
/// from one second in, and checks that every request succeeded. Prints the latencies.
fn hang_under_load(nodes: &mut Nodes, victim: usize, label: &str) {
    let hang = Duration::from_secs(10);
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let clients = nodes.clients.clone();
            let (stop, samples) = (stop.clone(), samples.clone());
            std::thread::spawn(move || {
                let zone = format!("h{t}");
                let mut round = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let node = NODES[round % 2];
                    let client = &clients[(t + round) % 2];
                    let mut requests: Vec<Request> = vec![
                        ("GET", format!("{SDN}/zones"), vec![]),
                        ("GET", format!("{SDN}/lock"), vec![]),
                        ("GET", format!("/api2/json/nodes/{node}/sdn"), vec![]),
                    ];
                    // One writer: several would race for the configuration and sometimes be
                    // told to retry (409), which is no fault of etcd's.
                    if t == 0 {
                        requests.insert(
                            0,
                            (
                                "POST",
                                format!("{SDN}/zones"),
                                vec![("zone", zone.as_str()), ("type", "simple")],
                            ),
                        );
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
    std::thread::sleep(Duration::from_secs(1));
    let stopped_at = Instant::now();
    nodes.cluster.members[victim].stop();
    std::thread::sleep(hang);
    nodes.cluster.members[victim].resume();
    let resumed_at = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    for thread in threads {
        thread.join().expect("a load thread failed");
    }
    let samples = samples.lock().unwrap();
    let failed: Vec<String> = samples
        .iter()
        .filter(|s| s.status != 200)
        .map(|s| format!("{} -> {} {}", s.what, s.status, s.body))
        .collect();
    let mut during: Vec<Duration> = samples
        .iter()
        .filter(|s| s.at >= stopped_at && s.at < resumed_at)
        .map(|s| s.took)
        .collect();
    let mut all: Vec<Duration> = samples.iter().map(|s| s.took).collect();
    during.sort();
    all.sort();
    let rate = during.len() as f64 / hang.as_secs_f64();
    let writes = samples
        .iter()
        .filter(|s| s.at >= stopped_at && s.at < resumed_at && !s.what.starts_with("GET"))
        .count();
    eprintln!(
        "{label} hung for {hang:?}: {} requests ({rate:.0}/s, {writes} writes), p50 {:?}, p99 {:?}, max {:?}; \
         whole run: {} requests, p50 {:?}, p99 {:?}, max {:?}",
        during.len(),
        percentile(&during, 0.5),
        percentile(&during, 0.99),
        during.last().copied().unwrap_or_default(),
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or_default(),
    );
    assert!(
        failed.is_empty(),
        "{} of {} requests failed while the {label} hung: {failed:?}",
        failed.len(),
        samples.len()
    );
    assert!(
        during.len() >= 20,
        "only {} requests were answered while the {label} hung",
        during.len()
    );
    // The agents kept publishing: both nodes are online and report the running version.
    let status = nodes.clients[1].get("/api2/json/nodes", &[]).ok();
    assert!(
        status
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["status"] == "online"),
        "{status}"
    );
}

/// The member the sdnd nodes talk to (listed first) is the leader, and it hangs.
#[test]
fn a_hung_etcd_leader_costs_latency_not_errors() {
    let mut nodes = Nodes::start_first(&[], |cluster| cluster.leader().expect("a leader"));
    let leader = nodes.cluster.leader().expect("a leader");
    hang_under_load(&mut nodes, leader, "leader");
}

/// The member the sdnd nodes talk to (listed first) is a follower, and it hangs.
#[test]
fn a_hung_etcd_follower_costs_latency_not_errors() {
    let mut nodes =
        Nodes::start_first(&[], |cluster| (cluster.leader().expect("a leader") + 1) % 3);
    let leader = nodes.cluster.leader().expect("a leader");
    hang_under_load(&mut nodes, (leader + 1) % 3, "follower");
}

#[test]
fn an_apply_under_which_two_members_stop_ends_with_the_truth() {
    let timeout = 60;
    let mut nodes = Nodes::start(&["--apply-timeout", "60"]);
    nodes.clients[0]
        .post(
            &format!("{SDN}/zones"),
            &[("zone", "z1"), ("type", "simple")],
        )
        .ok();
    let started = Instant::now();
    let upid = nodes.clients[0]
        .put(SDN, &[])
        .ok()
        .as_str()
        .unwrap()
        .to_string();
    // No quorum for 8 s, right after the apply started.
    nodes.cluster.members[1].stop();
    nodes.cluster.members[2].stop();
    std::thread::sleep(Duration::from_secs(8));
    nodes.cluster.members[1].resume();
    nodes.cluster.members[2].resume();
    let status = format!("/api2/json/nodes/{}/tasks/{upid}/status", NODES[0]);
    let mut answer = serde_json::Value::Null;
    while started.elapsed() < Duration::from_secs(timeout + 10) {
        let reply = nodes.clients[1].get(&status, &[]);
        if reply.status == 200 {
            answer = reply.ok();
            if answer["status"] == "stopped" {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        answer["status"],
        "stopped",
        "the task still runs {:?} after it started: {answer}",
        started.elapsed()
    );
    assert_eq!(
        answer["exitstatus"], "OK",
        "both agents applied once the members were back: {answer}"
    );
    let log = nodes.clients[1]
        .get(
            &format!("/api2/json/nodes/{}/tasks/{upid}/log", NODES[0]),
            &[],
        )
        .ok()
        .to_string();
    for node in NODES {
        assert!(
            log.contains(&format!("{node}: applied version 1")),
            "{node} missing in {log}"
        );
    }
    eprintln!(
        "apply under a quorum loss of 8 s ended OK after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "ended only after {:?}",
        started.elapsed()
    );
}

#[test]
fn a_task_whose_owner_died_is_finished_by_the_other_node_on_etcd() {
    let mut nodes = Nodes::start(&["--apply-timeout", "2"]);
    let client = nodes.clients[0].clone();
    // The apply waits for a node that never reports; its owner dies while it runs.
    client
        .post(
            &format!("{SDN}/zones"),
            &[
                ("zone", "z1"),
                ("type", "simple"),
                ("nodes", "node-a,ghost"),
            ],
        )
        .ok();
    let started = Instant::now();
    let upid = client.put(SDN, &[]).ok().as_str().unwrap().to_string();
    nodes.servers[0].kill();
    let status = format!("/api2/json/nodes/{}/tasks/{upid}/status", NODES[0]);
    let mut answer = serde_json::Value::Null;
    while started.elapsed() < Duration::from_secs(45) {
        answer = nodes.clients[1].get(&status, &[]).ok();
        if answer["status"] == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        answer["status"], "stopped",
        "the task stayed running after its owner died: {answer}"
    );
    let exit = answer["exitstatus"].as_str().unwrap();
    assert!(
        exit.contains("ghost"),
        "the outcome names the node that never reported: {exit}"
    );
    let log = nodes.clients[1]
        .get(
            &format!("/api2/json/nodes/{}/tasks/{upid}/log", NODES[0]),
            &[],
        )
        .ok()
        .to_string();
    assert!(log.contains("finished by node-b"), "{log}");
}

#[test]
fn a_task_of_a_restarted_server_still_ends_at_its_timeout() {
    let mut nodes = Nodes::start(&["--apply-timeout", "8"]);
    let client = nodes.clients[0].clone();
    // The apply waits for a node that never reports, so only its timeout ends it.
    client
        .post(
            &format!("{SDN}/zones"),
            &[
                ("zone", "z1"),
                ("type", "simple"),
                ("nodes", "node-a,ghost"),
            ],
        )
        .ok();
    let started = Instant::now();
    let upid = client.put(SDN, &[]).ok().as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_secs(4));
    // The owner crashes and comes back: it resumes following the task, whose timeout runs
    // from the task's start, not from the restart.
    nodes.servers[0].restart();
    let status = format!("/api2/json/nodes/{}/tasks/{upid}/status", NODES[0]);
    let mut answer = serde_json::Value::Null;
    while started.elapsed() < Duration::from_secs(30) {
        answer = nodes.clients[1].get(&status, &[]).ok();
        if answer["status"] == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ended = started.elapsed();
    assert_eq!(answer["status"], "stopped", "{answer}");
    assert!(
        answer["exitstatus"].as_str().unwrap().contains("ghost"),
        "{answer}"
    );
    eprintln!("an 8 s apply task whose server restarted 4 s in ended after {ended:?}");
    assert!(
        ended < Duration::from_secs(11),
        "the timeout started over at the restart: ended after {ended:?}"
    );
}
