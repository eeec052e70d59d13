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

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::etcd::Cluster;
use common::etcd_nodes::{mixed_load, percentile, Nodes, Sample};

const NODES: [&str; 2] = ["node-a", "node-b"];
const WINDOW: Duration = Duration::from_secs(8);

/// Runs the mixed load on `nodes` for `window`, calling `during` on the cluster once it is
/// going; returns its samples.
fn load(nodes: &mut Nodes, window: Duration, during: impl FnOnce(&mut Cluster)) -> Vec<Sample> {
    let stop = Arc::new(AtomicBool::new(false));
    let (threads, samples) = mixed_load(nodes, &stop);
    during(&mut nodes.cluster);
    std::thread::sleep(window);
    stop.store(true, Ordering::SeqCst);
    for thread in threads {
        thread.join().unwrap();
    }
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    samples
}

/// Prints the answers per second, failures and latencies of `samples`; returns the rate.
fn report(label: &str, samples: &[Sample], window: Duration) -> f64 {
    let ok: Vec<&Sample> = samples.iter().filter(|s| s.status == 200).collect();
    let failed: Vec<&Sample> = samples.iter().filter(|s| s.status != 200).collect();
    let mut latencies: Vec<Duration> = ok.iter().map(|s| s.took).collect();
    latencies.sort();
    let rate = ok.len() as f64 / window.as_secs_f64();
    println!(
        "  {label:<22} {rate:>7.0} answers/s  failed {:>3}  p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
        failed.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    for failure in failed.iter().take(5) {
        println!("    failed: {} -> {} {}", failure.what, failure.status, failure.body);
    }
    rate
}

/// Normal throughput, then throughput with the member `pick` chooses hung (it is listed first
/// in the nodes' `--store`, so it is the one they talk to). Returns the ratio.
fn scenario(label: &str, pick: impl Fn(&Cluster) -> usize) -> f64 {
    let victim = Cell::new(0);
    let mut nodes = Nodes::start(3, &NODES, "/bench/", &[], |cluster| {
        victim.set(pick(cluster));
        victim.get()
    });
    let victim = victim.get();
    // Warm up: connections, the agents' first reports.
    load(&mut nodes, Duration::from_secs(2), |_| {});
    println!("{label} hung (member {victim}, the one the nodes talk to), {WINDOW:?} windows");
    let normal = report("all members healthy:", &load(&mut nodes, WINDOW, |_| {}), WINDOW);
    let hung = load(&mut nodes, WINDOW, |cluster| cluster.members[victim].stop());
    nodes.cluster.members[victim].resume();
    let during = report(&format!("{label} hung:"), &hung, WINDOW);
    let ratio = during / normal.max(1.0);
    println!("  ratio hung / normal: {ratio:.2} (target >= 0.5)");
    ratio
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter this bench ignores.
    let follower = scenario("follower", |cluster| (cluster.leader().expect("a leader") + 1) % 3);
    let leader = scenario("leader", |cluster| cluster.leader().expect("a leader"));
    let worst = follower.min(leader);
    println!("etcd member hang: worst ratio {worst:.2} (target >= 0.5): {}", if worst >= 0.5 { "met" } else { "MISSED" });
}
