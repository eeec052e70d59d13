//! Durable mutation latency: creating a vnet with a lock token over HTTPS on loopback, next to
//! 10 and to 10,000 existing vnets, beside the fsync latency of the same disk in the same run.
//! Then the same on the etcd backend (a single-member etcd on loopback), beside the latency of
//! a bare etcd put measured in the same run.
//!
//! Targets: median within 3x the fsync floor; 10,000 vnets no more than 1.5x slower than 10.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::Server;
use sdn_store::{EtcdOptions, EtcdStore, Store, Txn};

const SAMPLES: usize = 300;
const SDN: &str = "/api2/json/cluster/sdn";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn p90(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() * 9 / 10]
}

/// Median time of a 4 KiB write + fdatasync to a file in `dir`: the durability floor.
fn fsync_floor(dir: &Path) -> Duration {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new().create(true).write(true).truncate(true).open(&path).unwrap();
    let block = vec![0x5au8; 4096];
    let samples = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            file.write_all(&block).unwrap();
            file.sync_data().unwrap();
            start.elapsed()
        })
        .collect();
    let _ = std::fs::remove_file(&path);
    median(samples)
}

/// Writes `count` vnets in one simple zone as the reference's files and imports them into
/// the store `store` selects (empty: SQLite in `data_dir`).
fn populate(data_dir: &Path, count: usize, store: &[String]) {
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("zones.cfg"), "simple: bench\n\tipam pve\n\n").unwrap();
    let mut vnets = String::new();
    for i in 0..count {
        vnets.push_str(&format!("vnet: b{i}\n\tzone bench\n\n"));
    }
    std::fs::write(files.path().join("vnets.cfg"), vnets).unwrap();
    let out = std::process::Command::new(common::SDND)
        .args(["import", "--from"])
        .arg(files.path())
        .arg("--data-dir")
        .arg(data_dir)
        .args(store)
        .output()
        .unwrap();
    assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Median and p90 latency of a locked vnet create with `existing` vnets around.
fn measure(existing: usize, store: &[String]) -> (Duration, Duration) {
    let dir = tempfile::tempdir_in(".").unwrap();
    populate(dir.path(), existing, store);
    let server = Server::start_node(dir.path(), "testnode", store, &[]);
    let client = server.client("bench");
    let token = client.post(&format!("{SDN}/lock"), &[("allow-pending", "1")]).ok();
    let token = token.as_str().unwrap().to_string();
    // Warm up the connection and the server's cache.
    for i in 0..20 {
        client.post(&format!("{SDN}/vnets"), &[("vnet", &format!("w{i}")), ("zone", "bench"), ("lock-token", &token)]).ok();
    }
    let samples: Vec<Duration> = (0..SAMPLES)
        .map(|i| {
            let start = Instant::now();
            client
                .post(&format!("{SDN}/vnets"), &[("vnet", &format!("n{i}")), ("zone", "bench"), ("lock-token", &token)])
                .ok();
            start.elapsed()
        })
        .collect();
    (median(samples.clone()), p90(samples))
}

fn main() {
    // Benchmarks run with `cargo bench`; `cargo test --benches` only checks they build and start.
    if std::env::args().any(|a| a == "--test" || a == "--list") && !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let scratch = tempfile::tempdir_in(".").unwrap();
    let floor = fsync_floor(scratch.path());
    let (small, small_p90) = measure(10, &[]);
    let (large, large_p90) = measure(10_000, &[]);
    let floor_again = fsync_floor(scratch.path());
    let floor = floor.max(floor_again).max(Duration::from_micros(1));
    println!("durable mutation latency (create vnet with lock token, HTTPS, loopback), {SAMPLES} samples each");
    println!("  fsync floor (4 KiB write + fdatasync), median: {:>9.3} ms", floor.as_secs_f64() * 1e3);
    println!(
        "  10 vnets:     median {:>9.3} ms  p90 {:>9.3} ms  = {:.2}x fsync (target <= 3x)",
        small.as_secs_f64() * 1e3,
        small_p90.as_secs_f64() * 1e3,
        small.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "  10,000 vnets: median {:>9.3} ms  p90 {:>9.3} ms  = {:.2}x fsync (target <= 3x)",
        large.as_secs_f64() * 1e3,
        large_p90.as_secs_f64() * 1e3,
        large.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "  10,000 vs 10 vnets: {:.2}x (target <= 1.5x)",
        large.as_secs_f64() / small.as_secs_f64()
    );

    etcd_section();
}

/// Median latency of a single-key put through the etcd client: the floor the etcd backend's
/// mutations stand on (a Raft round and etcd's own fsync).
fn bare_etcd_put(cluster: &common::etcd::Cluster) -> Duration {
    let endpoints = cluster.members.iter().map(|m| m.endpoint()).collect();
    let store = EtcdStore::connect(EtcdOptions::new(endpoints, "/bench-put/")).unwrap();
    let samples = (0..SAMPLES)
        .map(|i| {
            let start = Instant::now();
            store.commit(Txn::new().put(format!("k{}", i % 16), vec![0x5au8; 512])).unwrap();
            start.elapsed()
        })
        .collect();
    median(samples)
}

fn etcd_section() {
    let cluster = common::etcd::Cluster::start(1);
    let store = |prefix: &str| vec!["--store".to_string(), cluster.url(), "--store-prefix".to_string(), prefix.to_string()];
    let put = bare_etcd_put(&cluster);
    let (small, small_p90) = measure(10, &store("/bench-10/"));
    let (large, large_p90) = measure(10_000, &store("/bench-10000/"));
    let put = put.max(bare_etcd_put(&cluster)).max(Duration::from_micros(1));
    println!("on etcd (single member, loopback), {SAMPLES} samples each");
    println!("  bare etcd put (one key, 512 bytes), median:  {:>9.3} ms", put.as_secs_f64() * 1e3);
    for (label, median, p90) in [("10 vnets:    ", small, small_p90), ("10,000 vnets:", large, large_p90)] {
        println!(
            "  {label} median {:>9.3} ms  p90 {:>9.3} ms  = {:.2}x bare put",
            median.as_secs_f64() * 1e3,
            p90.as_secs_f64() * 1e3,
            median.as_secs_f64() / put.as_secs_f64()
        );
    }
    println!("  10,000 vs 10 vnets: {:.2}x", large.as_secs_f64() / small.as_secs_f64());
}
