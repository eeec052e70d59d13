//! `GET /cluster/resources` (what PDM polls for every remote) on a cluster of 3 nodes with
//! 2,000 vnets in 20 zones and a fabric, over HTTPS on loopback, beside `GET /version` (an
//! authenticated round trip that reads nothing) measured in the same run.
//!
//! Target: median under 5 ms.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{store_args, Client, Server};

const SAMPLES: usize = 500;
const ZONES: usize = 20;
const VNETS: usize = 2_000;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn p90(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() * 9 / 10]
}

/// The zones and vnets as the reference's files, imported into the store of `data_dir`.
fn populate(data_dir: &Path) {
    let files = tempfile::tempdir().unwrap();
    let zones: String = (0..ZONES).map(|z| format!("simple: z{z}\n\tipam pve\n\n")).collect();
    std::fs::write(files.path().join("zones.cfg"), zones).unwrap();
    let vnets: String = (0..VNETS).map(|i| format!("vnet: v{i}\n\tzone z{}\n\n", i % ZONES)).collect();
    std::fs::write(files.path().join("vnets.cfg"), vnets).unwrap();
    let out = std::process::Command::new(common::SDND)
        .args(["import", "--from"])
        .arg(files.path())
        .arg("--data-dir")
        .arg(data_dir)
        .args(store_args())
        .output()
        .unwrap();
    assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn sample(client: &Client, path: &str) -> Vec<Duration> {
    for _ in 0..50 {
        client.get(path, &[]).ok();
    }
    (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            client.get(path, &[]).ok();
            start.elapsed()
        })
        .collect()
}

fn main() {
    // Benchmarks run with `cargo bench`; `cargo test --benches` only checks they build and start.
    if std::env::args().any(|a| a == "--test" || a == "--list") && !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir_in(".").unwrap();
    populate(dir.path());
    let server = Server::start_node(dir.path(), "n1", &store_args(), &[]);
    let others: Vec<Server> =
        ["n2", "n3"].iter().map(|node| Server::start_node(dir.path(), node, &store_args(), &[])).collect();
    let client = server.client("bench");
    let sdn = "/api2/json/cluster/sdn";
    client
        .post(
            &format!("{sdn}/fabrics/fabric"),
            &[("id", "fab"), ("protocol", "openfabric"), ("ip_prefix", "10.9.0.0/24")],
        )
        .ok();
    for (i, node) in ["n1", "n2", "n3"].iter().enumerate() {
        let ip = format!("10.9.0.{}", i + 1);
        client
            .post(
                &format!("{sdn}/fabrics/node/fab"),
                &[("node_id", node), ("protocol", "openfabric"), ("ip", &ip), ("interfaces", "name=ens19")],
            )
            .ok();
    }
    let upid = client.put(sdn, &[]).ok();
    client.wait_task(upid.as_str().unwrap());

    let resources = client.get("/api2/json/cluster/resources", &[]).ok();
    let entries = resources.as_array().unwrap();
    let nodes = entries.iter().filter(|e| e["type"] == "node").count();
    assert_eq!(nodes, 3, "three nodes: {resources}");
    assert_eq!(entries.len(), 3 + 3 * (ZONES + 2), "per node: its zones, localnetwork and the fabric");

    let baseline = median(sample(&client, "/api2/json/version"));
    let samples = sample(&client, "/api2/json/cluster/resources");
    let (med, p90) = (median(samples.clone()), p90(samples));
    let baseline = baseline.max(median(sample(&client, "/api2/json/version"))).max(Duration::from_micros(1));
    println!("GET /cluster/resources, 3 nodes, {VNETS} vnets in {ZONES} zones, a fabric ({} entries), HTTPS, loopback, {SAMPLES} samples", entries.len());
    println!("  GET /version (baseline), median:  {:>8.3} ms", baseline.as_secs_f64() * 1e3);
    println!(
        "  GET /cluster/resources: median {:>8.3} ms  p90 {:>8.3} ms  = {:.2}x baseline  (target: median < 5 ms: {})",
        med.as_secs_f64() * 1e3,
        p90.as_secs_f64() * 1e3,
        med.as_secs_f64() / baseline.as_secs_f64(),
        if med < Duration::from_millis(5) { "met" } else { "MISSED" }
    );
    drop(others);
}
