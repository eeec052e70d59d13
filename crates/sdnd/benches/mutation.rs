//! Durable mutation latency: creating a vnet with a lock token over HTTPS on loopback, next to
//! 10, 10,000 and 100,000 existing vnets, beside the fdatasync latency of the same disk in the
//! same run. Then the same on the etcd backend (a single-member etcd on loopback), beside the
//! latency of a bare etcd put measured in the same run.
//!
//! Targets (issue 18), as ratios within one run: SQLite median within 2x the fdatasync floor;
//! etcd median within 1.3x a bare etcd put; 10,000 and 100,000 vnets within 1.1x of 10 on both
//! backends; p99 within 2x the median.
//!
//! `SDND_BENCH_SIZES=10,10000` measures other sizes (the first is the baseline of the size
//! ratios); `SDND_BENCH_BACKENDS=sqlite` or `etcd` measures one backend only;
//! `SDND_BENCH_SAMPLES` takes more samples; `SDND_BENCH_PID_FILE` names a file the server's
//! pid and size are written to while that size is measured (for a profiler).

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::Server;
use sdn_store::{EtcdOptions, EtcdStore, Store, Txn};

const DEFAULT_SAMPLES: usize = 300;
const SDN: &str = "/api2/json/cluster/sdn";
const SIZES: [usize; 3] = [10, 10_000, 100_000];

/// Median, p90 and p99 of one series of samples.
#[derive(Clone, Copy)]
struct Figures {
    median: Duration,
    p90: Duration,
    p99: Duration,
}

impl Figures {
    fn of(mut samples: Vec<Duration>) -> Figures {
        samples.sort();
        let at = |per_mille: usize| samples[(samples.len() * per_mille / 1000).min(samples.len() - 1)];
        Figures { median: at(500), p90: at(900), p99: at(990) }
    }
}

/// Samples per series: `SDND_BENCH_SAMPLES` (e.g. more, to profile a server), else 300.
fn samples() -> usize {
    std::env::var("SDND_BENCH_SAMPLES").ok().and_then(|n| n.parse().ok()).filter(|&n| n > 0).unwrap_or(DEFAULT_SAMPLES)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

fn verdict(value: f64, target: f64) -> &'static str {
    if value <= target {
        "met"
    } else {
        "MISSED"
    }
}

/// Median time of a 4 KiB write + fdatasync to a file in `dir`: the durability floor.
fn fsync_floor(dir: &Path) -> Duration {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new().create(true).write(true).truncate(true).open(&path).unwrap();
    let block = vec![0x5au8; 4096];
    let samples = (0..samples())
        .map(|_| {
            let start = Instant::now();
            file.write_all(&block).unwrap();
            file.sync_data().unwrap();
            start.elapsed()
        })
        .collect();
    let _ = std::fs::remove_file(&path);
    Figures::of(samples).median
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

/// Latency of a locked vnet create with `existing` vnets around, and of an authenticated
/// `GET /version` on the same server and connection (the request path without the change).
fn measure(existing: usize, store: &[String]) -> (Figures, Figures) {
    let dir = tempfile::tempdir_in(".").unwrap();
    populate(dir.path(), existing, store);
    let server = Server::start_node(dir.path(), "testnode", store, &[]);
    if let Ok(path) = std::env::var("SDND_BENCH_PID_FILE") {
        // For a profiler: the server's pid while this size is measured.
        std::fs::write(path, format!("{} {existing}\n", server.child.as_ref().unwrap().id())).unwrap();
    }
    let client = server.client("bench");
    let token = client.post(&format!("{SDN}/lock"), &[("allow-pending", "1")]).ok();
    let token = token.as_str().unwrap().to_string();
    // Warm up the connection and the server's cache.
    for i in 0..20 {
        client.post(&format!("{SDN}/vnets"), &[("vnet", &format!("w{i}")), ("zone", "bench"), ("lock-token", &token)]).ok();
    }
    let creates: Vec<Duration> = (0..samples())
        .map(|i| {
            let start = Instant::now();
            client
                .post(&format!("{SDN}/vnets"), &[("vnet", &format!("n{i}")), ("zone", "bench"), ("lock-token", &token)])
                .ok();
            start.elapsed()
        })
        .collect();
    let version = (0..samples())
        .map(|_| {
            let start = Instant::now();
            client.get("/api2/json/version", &[]).ok();
            start.elapsed()
        })
        .collect();
    (Figures::of(creates), Figures::of(version))
}

fn sizes() -> Vec<usize> {
    match std::env::var("SDND_BENCH_SIZES") {
        Ok(list) => list.split(',').map(|s| s.trim().parse().expect("SDND_BENCH_SIZES: comma-separated counts")).collect(),
        Err(_) => SIZES.to_vec(),
    }
}

fn backend_wanted(name: &str) -> bool {
    std::env::var("SDND_BENCH_BACKENDS").map_or(true, |list| list.split(',').any(|b| b.trim() == name))
}

/// Prints one backend's series beside its floor, with every target's verdict.
fn report(floor_name: &str, floor: Duration, floor_target: f64, series: &[(usize, (Figures, Figures))]) {
    let mut missed = 0;
    let mut check = |value: f64, target: f64| {
        let v = verdict(value, target);
        if v != "met" {
            missed += 1;
        }
        v
    };
    for (count, (f, version)) in series {
        println!(
            "  {count:>7} vnets: GET /version median {:>7.3} ms  p99 {:>7.3} ms (the request path: HTTPS, authentication, the blocking pool)",
            ms(version.median),
            ms(version.p99)
        );
        let floor_ratio = ratio(f.median, floor);
        let tail = ratio(f.p99, f.median);
        println!(
            "  {count:>7} vnets: median {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms  = {floor_ratio:.2}x {floor_name} (<= {floor_target}x: {})  p99/median {tail:.2} (<= 2: {})",
            ms(f.median),
            ms(f.p90),
            ms(f.p99),
            check(floor_ratio, floor_target),
            check(tail, 2.0),
        );
    }
    if let Some((base_count, base)) = series.first() {
        for (count, (f, _)) in &series[1..] {
            let r = ratio(f.median, base.0.median);
            println!("  {count} vs {base_count} vnets: {r:.2}x (<= 1.1x: {})", check(r, 1.1));
        }
    }
    println!("  targets missed: {missed}");
}

fn main() {
    // Benchmarks run with `cargo bench`; `cargo test --benches` only checks they build and start.
    if std::env::args().any(|a| a == "--test" || a == "--list") && !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let sizes = sizes();
    if backend_wanted("sqlite") {
        let scratch = tempfile::tempdir_in(".").unwrap();
        let floor = fsync_floor(scratch.path());
        let series: Vec<(usize, (Figures, Figures))> = sizes.iter().map(|&n| (n, measure(n, &[]))).collect();
        let floor = floor.max(fsync_floor(scratch.path())).max(Duration::from_micros(1));
        println!("durable mutation latency (create vnet with lock token, HTTPS, loopback), {} samples each", samples());
        println!("on SQLite; fdatasync floor (4 KiB write + fdatasync), median: {:.3} ms", ms(floor));
        report("fdatasync", floor, 2.0, &series);
    }
    if backend_wanted("etcd") {
        etcd_section(&sizes);
    }
}

/// Median latency of a single-key put through the etcd client: the floor the etcd backend's
/// mutations stand on (a Raft round and etcd's own fsync).
fn bare_etcd_put(cluster: &common::etcd::Cluster) -> Duration {
    let endpoints = cluster.members.iter().map(|m| m.endpoint()).collect();
    let store = EtcdStore::connect(EtcdOptions::new(endpoints, "/bench-put/")).unwrap();
    let samples = (0..samples())
        .map(|i| {
            let start = Instant::now();
            store.commit(Txn::new().put(format!("k{}", i % 16), vec![0x5au8; 512])).unwrap();
            start.elapsed()
        })
        .collect();
    Figures::of(samples).median
}

/// Median latency of a transaction shaped as a vnet create's (guards on five entries, the
/// object, the pending marker and an audit record), straight through the etcd client: what of
/// the gap to a bare put is etcd's own.
fn change_shaped_txn(cluster: &common::etcd::Cluster) -> Duration {
    let endpoints = cluster.members.iter().map(|m| m.endpoint()).collect();
    let store = EtcdStore::connect(EtcdOptions::new(endpoints, "/bench-txn/")).unwrap();
    let samples = (0..samples())
        .map(|i| {
            let mut txn = Txn::new();
            for guarded in ["lock", "lock-expiry", "running-version", "access-generation"] {
                txn.guards.push(sdn_store::Guard::ModRevision { key: format!("never-written/{guarded}"), revision: 0 });
            }
            let txn = txn
                .put(format!("pending/vnets/n{i}"), vec![0x5au8; 120])
                .put("pending/.mark", Vec::new())
                .put(format!("audit/{i:012}"), vec![0x5au8; 300]);
            let start = Instant::now();
            store.commit(txn).unwrap();
            start.elapsed()
        })
        .collect();
    Figures::of(samples).median
}

fn etcd_section(sizes: &[usize]) {
    let cluster = common::etcd::Cluster::start(1);
    let store = |prefix: &str| vec!["--store".to_string(), cluster.url(), "--store-prefix".to_string(), prefix.to_string()];
    let put = bare_etcd_put(&cluster);
    let series: Vec<(usize, (Figures, Figures))> =
        sizes.iter().enumerate().map(|(i, &n)| (n, measure(n, &store(&format!("/bench-{i}-{n}/"))))).collect();
    let put = put.max(bare_etcd_put(&cluster)).max(Duration::from_micros(1));
    println!("on etcd (single member, loopback), {} samples each; bare etcd put (one key, 512 bytes), median: {:.3} ms", samples(), ms(put));
    let shaped = change_shaped_txn(&cluster);
    println!(
        "  a transaction of a create's shape (4 guards, 3 puts) through the client alone: median {:.3} ms = {:.2}x bare put",
        ms(shaped),
        shaped.as_secs_f64() / put.as_secs_f64()
    );
    report("bare put", put, 1.3, &series);
}
