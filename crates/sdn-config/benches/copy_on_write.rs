//! What one change to a shared configuration costs: the write path keeps its configuration
//! in an `Arc` that readers (a listing being rendered, a generator run) may hold while a
//! change is applied, and `Arc::make_mut` then copies the configuration before changing it.
//! Measured at 10, 10,000 and 100,000 vnets: one vnet created on a configuration nobody else
//! holds (in place), and the same with a reader holding it.
//!
//! Target: the change with a reader costs the same at every size (100,000 vnets within 2x of
//! 10; a copy of the whole configuration would be thousands of times that).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sdn_config::{Config, Kind, Params};

const SIZES: [usize; 3] = [10, 10_000, 100_000];
const SAMPLES: usize = 200;

fn config_with(vnets: usize) -> Config {
    let mut config = Config::new();
    for object in
        Config::parse_section_config(Kind::Zones, "simple: bench\n\tipam pve\n\n").unwrap()
    {
        config.insert(object);
    }
    let text: String = (0..vnets)
        .map(|i| format!("vnet: b{i}\n\tzone bench\n\n"))
        .collect();
    for object in Config::parse_section_config(Kind::Vnets, &text).unwrap() {
        config.insert(object);
    }
    config
}

fn params(name: &str) -> Params {
    serde_json::json!({"vnet": name, "zone": "bench"})
        .as_object()
        .unwrap()
        .clone()
}

/// The median of `SAMPLES` vnet creates on `config`, each with a reader holding the
/// configuration first if `shared`.
fn create_median(config: &mut Arc<Config>, shared: bool, tag: &str) -> Duration {
    let mut samples: Vec<Duration> = (0..SAMPLES)
        .map(|i| {
            let reader = shared.then(|| config.clone());
            let started = Instant::now();
            let change = config
                .plan_create(Kind::Vnets, &params(&format!("{tag}{i}")))
                .unwrap();
            Arc::make_mut(config).apply(change);
            let took = started.elapsed();
            drop(reader);
            took
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list")
        && !std::env::args().any(|a| a == "--bench")
    {
        return;
    }
    println!("one vnet create on a configuration in an Arc, {SAMPLES} samples each");
    let mut shared_at = Vec::new();
    for vnets in SIZES {
        let mut config = Arc::new(config_with(vnets));
        let alone = create_median(&mut config, false, "a");
        let shared = create_median(&mut config, true, "s");
        println!(
            "  {vnets:>7} vnets: nobody else holds it {:.2} us; a reader holds it {:.2} us = {:.2}x",
            alone.as_secs_f64() * 1e6,
            shared.as_secs_f64() * 1e6,
            shared.as_secs_f64() / alone.as_secs_f64()
        );
        shared_at.push(shared);
    }
    let growth = shared_at[2].as_secs_f64() / shared_at[0].as_secs_f64();
    println!(
        "  with a reader, 100,000 vs 10 vnets: {growth:.2}x (<= 2x: {})",
        if growth <= 2.0 { "met" } else { "MISSED" }
    );
}
