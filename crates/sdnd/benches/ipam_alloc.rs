//! PVE IPAM allocation cost: 10,000 addresses allocated one by one from a dhcp-range of a /16,
//! each a durable transaction, beside the store's own durable write latency (a bare one-entry
//! commit on the same store) measured in the same run. SQLite, then etcd (a single-member etcd
//! on loopback).
//!
//! Targets: the last 1,000 allocations cost no more than 1.2x the first 1,000 (medians, each
//! window against the bare commits made during it: the disk drifts with the machine); the
//! median allocation stays under 2x the store's durable write.

use std::sync::Arc;
use std::time::{Duration, Instant};


use sdn_store::{EtcdOptions, EtcdStore, SqliteStore, Store, Txn};
use sdnd::ipam::state::IpamDb;
use sdnd::ipam::{Ipam, Owner, SubnetRef};

const ALLOCATIONS: usize = 10_000;
/// Bare commits before the run, so that neither side pays the store's warm-up.
const BASELINE_WARMUP: usize = 200;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn run(name: &str, store: Arc<dyn Store>) -> bool {
    // The store's durable write: one small entry per commit, as an allocation's own key is,
    // measured between the allocations (one every tenth) so that both see the same machine.
    let baseline_commit = |i: usize| {
        let start = Instant::now();
        store.commit(Txn::new().put(format!("bench/baseline/{i}"), b"{\"mac\":\"bc:24:11:00:00:00\"}".to_vec())).unwrap();
        start.elapsed()
    };
    for i in 0..BASELINE_WARMUP {
        baseline_commit(i);
    }
    let mut baseline_samples = Vec::with_capacity(ALLOCATIONS / 10);
    let text = br#"{"zones":{"bench":{"subnets":{"10.1.0.0/16":{"ips":{"10.1.0.1":{"gateway":1}}}}}}}"#;
    let db = IpamDb::parse(text).unwrap();
    let mut txn = Txn::new();
    txn.ops = Ipam::import_ops(&db).unwrap();
    store.commit(txn).unwrap();
    let ipam = Ipam::new(store.clone());
    let cidr: sdn_config::Cidr = "10.1.0.0/16".parse().unwrap();
    let range = sdn_config::DhcpRange { start: "10.1.0.10".parse().unwrap(), end: "10.1.255.250".parse().unwrap() };
    let subnets = vec![(SubnetRef { zone: "bench".into(), cidr }, vec![range])];
    let mut samples = Vec::with_capacity(ALLOCATIONS);
    for n in 0..ALLOCATIONS {
        let owner = Owner { mac: format!("bc:24:11:00:{:02x}:{:02x}", n / 256, n % 256), hostname: None, vmid: Some((100 + n).to_string()), dnszoneprefixes: Vec::new() };
        let start = Instant::now();
        let ips = ipam.allocate(&subnets, &owner).unwrap();
        samples.push(start.elapsed());
        assert_eq!(ips.len(), 1);
        if n % 10 == 0 {
            baseline_samples.push(baseline_commit(BASELINE_WARMUP + n));
        }
    }
    let baseline = median(baseline_samples.clone());
    let first = median(samples[..1000].to_vec());
    let last = median(samples[ALLOCATIONS - 1000..].to_vec());
    let all = median(samples);
    // The disk's latency drifts with whatever else the machine does: each window's
    // allocations are compared with the bare commits made in the same window.
    let first_base = median(baseline_samples[..100].to_vec());
    let last_base = median(baseline_samples[baseline_samples.len() - 100..].to_vec());
    let raw = last.as_secs_f64() / first.as_secs_f64();
    let flat = (last.as_secs_f64() / last_base.as_secs_f64()) / (first.as_secs_f64() / first_base.as_secs_f64());
    let versus = all.as_secs_f64() / baseline.as_secs_f64();
    println!("{name}: durable one-entry write (baseline, median of {} between the allocations): {baseline:?}", ALLOCATIONS / 10);
    println!("{name}: allocation median of all {ALLOCATIONS}: {all:?} = {versus:.2}x the baseline (target <= 2x)");
    println!(
        "{name}: first 1,000 median {first:?} (bare commit {first_base:?}), last 1,000 median {last:?} (bare commit {last_base:?}): \
         {raw:.2} raw, {flat:.2} against the bare commits of the same window (target <= 1.2)"
    );
    let ok = flat <= 1.2 && versus <= 2.0;
    println!("{name}: {}", if ok { "within targets" } else { "OUTSIDE TARGETS" });
    ok
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).unwrap());
    let mut ok = run("sqlite", sqlite);
    let cluster = sdnd_testkit::etcd::Cluster::start(1);
    let endpoints = cluster.members.iter().map(|m| m.endpoint()).collect();
    let etcd = EtcdStore::connect(EtcdOptions::new(endpoints, "/bench-ipam/")).unwrap();
    ok &= run("etcd", Arc::new(etcd));
    if !ok {
        std::process::exit(1);
    }
}
