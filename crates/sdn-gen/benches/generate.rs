//! Generation time for large configurations, and how it grows with the number of vnets.
//!
//! Run with `cargo bench -p sdn-gen`. For each size it prints the median time of one
//! generation (one node's interfaces snippet and frr.conf) and the cost per vnet; the per-vnet
//! cost staying flat from 500 to 2,000 vnets shows the generation is linear.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use sdn_config::{Reading, RunningConfig};
use sdn_gen::{generate, GenInput};

/// Target for one generation of the largest configuration.
const BUDGET: Duration = Duration::from_millis(20);
/// Largest per-vnet cost at 2,000 vnets relative to 500 that still counts as flat.
const MAX_RATIO: f64 = 1.1;

fn median_time(config: &RunningConfig) -> Duration {
    let facts = common::facts();
    let input = GenInput {
        running_config: config,
        facts: &facts,
        interfaces: common::INTERFACES,
        frr_local: None,
    };
    let run = || {
        let start = Instant::now();
        let out = generate(black_box(&input)).expect("bench config generates");
        black_box(out);
        start.elapsed()
    };
    for _ in 0..3 {
        run();
    }
    let mut samples: Vec<Duration> = Vec::new();
    let started = Instant::now();
    while samples.len() < 15 || (started.elapsed() < Duration::from_secs(2) && samples.len() < 201)
    {
        samples.push(run());
    }
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    type Builder = fn(usize) -> serde_json::Value;
    let scenarios: [(&str, Builder); 4] = [
        (
            "evpn: 1 controller, 50 zones, N vnets with IPv4 subnet+gateway",
            |n| common::config(50, n, 0),
        ),
        (
            "evpn on a 50-node OpenFabric fabric: 50 zones, N vnets with IPv4 subnet+gateway",
            |n| common::fabric_config(50, 50, n),
        ),
        ("vlan: 1 zone, N vnets", |n| common::config(0, 0, n)),
        (
            "both: the evpn and the vlan vnets together (2N vnets)",
            |n| common::config(50, n, n),
        ),
    ];
    let mut over_budget = Vec::new();
    let mut not_flat = Vec::new();
    for (name, build) in scenarios {
        println!("{name}");
        let mut per_vnet_at = Vec::new();
        for n in [500usize, 1000, 2000] {
            let config = RunningConfig::from_json(&build(n), Reading::Strict)
                .expect("the bench config is written as sdn-config writes it");
            let vnets = config.vnets.as_ref().map_or(0, |v| v.len());
            let median = median_time(&config);
            let per_vnet = median.as_secs_f64() * 1e6 / vnets as f64;
            per_vnet_at.push(per_vnet);
            println!(
                "  N={n:>5}  vnets={vnets:>5}  median {:>8.3} ms  per vnet {per_vnet:>6.2} µs",
                median.as_secs_f64() * 1e3
            );
            if n == 2000 && median > BUDGET {
                over_budget.push(format!("{name} at N=2000: {median:?}"));
            }
        }
        if let (Some(first), Some(last)) = (per_vnet_at.first(), per_vnet_at.last()) {
            let ratio = last / first;
            println!("  per-vnet cost ratio N=2000 / N=500: {ratio:.2}");
            if ratio > MAX_RATIO {
                not_flat.push(format!("{name}: {ratio:.2}"));
            }
        }
    }
    if not_flat.is_empty() {
        println!("per-vnet cost flat (<= {MAX_RATIO}x from 500 to 2,000 vnets) in every scenario");
    } else {
        println!("per-vnet cost grows more than {MAX_RATIO}x: {}", not_flat.join("; "));
    }
    if over_budget.is_empty() {
        println!("all scenarios within {BUDGET:?} per generation");
    } else {
        println!("over the {BUDGET:?} budget: {}", over_budget.join("; "));
    }
}
