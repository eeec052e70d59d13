//! History reads on a 2,000-vnet configuration with 30 kept versions, over HTTPS on loopback:
//! `GET /cluster/sdn/versions` and the diff between two versions, beside `GET /version` (the
//! request floor) measured in the same run.
//!
//! Target: both under 10 ms median.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Server;

const SAMPLES: usize = 200;
const VNETS: usize = 2_000;
const VERSIONS: usize = 30;
const SDN: &str = "/api2/json/cluster/sdn";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Imports `count` vnets in one simple zone into the SQLite store in `data_dir`.
fn populate(data_dir: &Path, count: usize) {
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("zones.cfg"), "simple: bench\n\tipam pve\n\n").unwrap();
    let vnets: String = (0..count).map(|i| format!("vnet: b{i}\n\tzone bench\n\n")).collect();
    std::fs::write(files.path().join("vnets.cfg"), vnets).unwrap();
    let out = std::process::Command::new(common::SDND)
        .args(["import", "--from"])
        .arg(files.path())
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn sample(client: &common::Client, path: &str, params: &[(&str, &str)]) -> Duration {
    for _ in 0..10 {
        client.get(path, params).ok();
    }
    median(
        (0..SAMPLES)
            .map(|_| {
                let start = Instant::now();
                client.get(path, params).ok();
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") && !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir_in(".").unwrap();
    populate(dir.path(), VNETS);
    let server = Server::start_in(dir.path(), &["--apply-timeout", "5"]);
    let client = server.client("bench");
    for i in 0..VERSIONS {
        client.put(&format!("{SDN}/vnets/b{i}"), &[("alias", &format!("changed in version {}", i + 1))]).ok();
        let upid = client.put(SDN, &[]).ok();
        client.wait_task(upid.as_str().unwrap());
    }
    let floor = sample(&client, "/api2/json/version", &[]);
    let list = sample(&client, &format!("{SDN}/versions"), &[]);
    let diff = sample(&client, &format!("{SDN}/versions/1/diff"), &[("to", &VERSIONS.to_string())]);
    let changes = client.get(&format!("{SDN}/versions/1/diff"), &[("to", &VERSIONS.to_string())]).ok();
    assert_eq!(changes.as_array().unwrap().len(), VERSIONS - 1);
    println!("history reads, {VNETS} vnets, {VERSIONS} versions kept, {SAMPLES} samples each (HTTPS, loopback)");
    println!("  GET /version (floor):        median {:>8.3} ms", floor.as_secs_f64() * 1e3);
    for (label, value) in [("GET /cluster/sdn/versions:  ", list), ("diff version 1 .. 30:       ", diff)] {
        println!(
            "  {label} median {:>8.3} ms  = {:.1}x the floor (target < 10 ms)",
            value.as_secs_f64() * 1e3,
            value.as_secs_f64() / floor.as_secs_f64().max(1e-6)
        );
    }
}
