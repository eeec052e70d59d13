//! Throughput while one etcd member hangs, beside the throughput of the same cluster with
//! every member healthy, measured in the same run: two sdnd nodes on a three-member etcd on
//! loopback, four client threads (reads of zones, the lock and the node status through both
//! nodes; one of them also creating and deleting a zone), first undisturbed, then with the
//! member the nodes talk to frozen with SIGSTOP. Once with a follower frozen, once with the
//! leader.
//!
//! Target: throughput during the hang at least half of normal.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::etcd::Cluster;
use common::{Client, Server};

const SDN: &str = "/api2/json/cluster/sdn";
const NODES: [&str; 2] = ["node-a", "node-b"];

/// A request of the load: method, path and parameters.
type Request<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);
const WINDOW: Duration = Duration::from_secs(8);

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
        "auto vmbr0\niface vmbr0 inet manual\n\tbridge-ports eth0\n",
    )
    .unwrap();
}

/// Requests answered 200 and requests answered otherwise, and the latencies of the former.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    failed: AtomicUsize,
    latencies: Mutex<Vec<Duration>>,
    /// The first few failures, to be shown.
    failures: Mutex<Vec<String>>,
}

/// Runs the load on `clients` for `window`, calling `during` once it is going; returns the
/// tally of the requests started within the window.
fn load(clients: &[Client], window: Duration, during: impl FnOnce()) -> Tally {
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (clients, tally, stop) = (clients.to_vec(), tally.clone(), stop.clone());
            std::thread::spawn(move || {
                let zone = format!("b{t}");
                let mut round = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let client = &clients[(t + round) % 2];
                    let node = NODES[round % 2];
                    let mut requests: Vec<Request> = vec![
                        ("GET", format!("{SDN}/zones"), vec![]),
                        ("GET", format!("{SDN}/lock"), vec![]),
                        ("GET", format!("/api2/json/nodes/{node}/sdn"), vec![]),
                    ];
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
                    // Each round runs to its end, so the zone is always deleted again.
                    for (method, path, params) in requests {
                        let start = Instant::now();
                        let reply = client.request(method, &path, &params);
                        if reply.status == 200 {
                            tally.ok.fetch_add(1, Ordering::SeqCst);
                            tally.latencies.lock().unwrap().push(start.elapsed());
                        } else {
                            tally.failed.fetch_add(1, Ordering::SeqCst);
                            let mut failures = tally.failures.lock().unwrap();
                            if failures.len() < 5 {
                                failures.push(format!(
                                    "{method} {path} -> {} {}",
                                    reply.status, reply.body
                                ));
                            }
                        }
                    }
                    round += 1;
                }
            })
        })
        .collect();
    during();
    std::thread::sleep(window);
    stop.store(true, Ordering::SeqCst);
    for thread in threads {
        thread.join().unwrap();
    }
    Arc::try_unwrap(tally).unwrap_or_else(|_| unreachable!("the threads are joined"))
}

fn report(label: &str, tally: &Tally, window: Duration) -> f64 {
    let mut latencies = tally.latencies.lock().unwrap().clone();
    latencies.sort();
    let at = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let rate = tally.ok.load(Ordering::SeqCst) as f64 / window.as_secs_f64();
    println!(
        "  {label:<22} {rate:>7.0} answers/s  failed {:>3}  p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
        tally.failed.load(Ordering::SeqCst),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    for failure in tally.failures.lock().unwrap().iter() {
        println!("    failed: {failure}");
    }
    rate
}

/// Normal throughput, then throughput with the member `pick` chooses hung (it is listed first
/// in the nodes' `--store`, so it is the one they talk to). Returns the ratio.
fn scenario(label: &str, pick: impl Fn(&Cluster) -> usize) -> f64 {
    let mut cluster = Cluster::start(3);
    let victim = pick(&cluster);
    let mut endpoints: Vec<String> = cluster.members.iter().map(|m| m.endpoint()).collect();
    endpoints.rotate_left(victim);
    let store = vec![
        "--store".to_string(),
        format!("etcd://{}", endpoints.join(",")),
        "--store-prefix".to_string(),
        "/bench/".to_string(),
    ];
    let dirs: Vec<_> = NODES.iter().map(|_| tempfile::tempdir().unwrap()).collect();
    let servers: Vec<Server> = NODES
        .iter()
        .zip(&dirs)
        .map(|(node, dir)| {
            write_node_files(dir.path(), node);
            Server::start_node(dir.path(), node, &store, &[])
        })
        .collect();
    let clients: Vec<Client> = servers
        .iter()
        .zip(NODES)
        .map(|(s, n)| s.client(&format!("b-{n}")))
        .collect();
    // Warm up: connections, the agents' first reports.
    load(&clients, Duration::from_secs(2), || {});
    println!("{label} hung (member {victim}, the one the nodes talk to), {WINDOW:?} windows");
    let normal = report(
        "all members healthy:",
        &load(&clients, WINDOW, || {}),
        WINDOW,
    );
    let member = &mut cluster.members[victim];
    let hung = load(&clients, WINDOW, || member.stop());
    cluster.members[victim].resume();
    let during = report(&format!("{label} hung:"), &hung, WINDOW);
    let ratio = during / normal.max(1.0);
    println!("  ratio hung / normal: {ratio:.2} (target >= 0.5)");
    drop(servers);
    ratio
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter this bench ignores.
    let follower = scenario("follower", |cluster| {
        (cluster.leader().expect("a leader") + 1) % 3
    });
    let leader = scenario("leader", |cluster| cluster.leader().expect("a leader"));
    let worst = follower.min(leader);
    println!(
        "etcd member hang: worst ratio {worst:.2} (target >= 0.5): {}",
        if worst >= 0.5 { "met" } else { "MISSED" }
    );
}
