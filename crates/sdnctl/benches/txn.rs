//! Wall time of one transaction (lock, 1 zone + 100 vnets, apply and wait) over 10 local
//! sdnd servers against the same transaction over 1 server. Target: ratio <= 1.5.
//! Needs the sdnd binary of the same profile: `cargo build --release -p sdnd` first.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use sdnctl::changeset::Syntax;
use sdnctl::txn::Quiet;
use sdnctl::{ChangeSet, LockedClients, TxnOptions};

/// CPU time of this (client) process so far, from /proc (0 where unavailable).
fn client_cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the command name.
    (ticks(11) + ticks(12)) * 10.0
}

fn transaction(servers: usize, vnets: usize) -> std::time::Duration {
    let root = tempfile::tempdir().expect("temp dir");
    let running = common::servers(root.path(), servers);
    let file = common::remotes_file(root.path(), &running);
    let names: Vec<String> = running.iter().map(|s| s.name.clone()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let clients = common::clients(&file, &names);
    let changes = ChangeSet::parse(&common::zone_and_vnets("z1", vnets), Syntax::Yaml, "bench").expect("change set");
    let cpu = client_cpu_ms();
    let start = Instant::now();
    let mut txn = match LockedClients::lock_all(clients, TxnOptions::default(), &Quiet) {
        Ok(txn) => txn,
        Err(report) => panic!("lock failed:\n{report}"),
    };
    let locked = start.elapsed();
    assert!(txn.run(&changes), "{}", txn.report());
    let changed = start.elapsed();
    assert!(txn.apply_all(true), "{}", txn.report());
    let total = start.elapsed();
    println!(
        "  {servers:>2} server(s): lock {:.1} ms, {} steps {:.1} ms, apply+wait {:.1} ms; client CPU {:.0} ms",
        locked.as_secs_f64() * 1e3,
        changes.steps.len(),
        (changed - locked).as_secs_f64() * 1e3,
        (total - changed).as_secs_f64() * 1e3,
        client_cpu_ms() - cpu
    );
    total
}

/// Median of a few durations.
fn median(mut times: Vec<std::time::Duration>) -> std::time::Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let vnets = 100;
    // Alternate the two cases and compare medians: a shared machine's noise (another
    // process's burst, a slow disk flush) then hits both sides alike.
    let rounds = 5;
    let (mut ones, mut tens) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        println!("round {round} of {rounds}");
        ones.push(transaction(1, vnets));
        tens.push(transaction(10, vnets));
    }
    let (one, ten) = (median(ones), median(tens));
    let ratio = ten.as_secs_f64() / one.as_secs_f64();
    println!("transaction, 1 server  x {vnets} vnets, median of {rounds}: {:>8.1} ms", one.as_secs_f64() * 1000.0);
    println!("transaction, 10 servers x {vnets} vnets, median of {rounds}: {:>8.1} ms", ten.as_secs_f64() * 1000.0);
    println!("ratio 10/1: {ratio:.2}x (target <= 1.5x) {}", if ratio <= 1.5 { "OK" } else { "OVER TARGET" });
}
