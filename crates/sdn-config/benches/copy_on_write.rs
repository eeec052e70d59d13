//! What one change to a shared configuration costs: the write path keeps its configuration
//! in an `Arc` that readers (a listing being rendered, a generator run) may hold while a
//! change is applied, and `Arc::make_mut` then copies the configuration before changing it.
//! Measured at 10, 10,000 and 100,000 vnets: one vnet created on a configuration nobody else
//! holds (in place), and the same with a reader holding it.
//!
//! Target: the change with a reader costs the same at every size (100,000 vnets within 2x of
//! 10; a copy of the whole configuration would be thousands of times that).
//!
//! Then what taking the lock and a rollback compare: whether the pending configuration (one
//! vnet changed) differs from the running one read from its JSON, on the running
//! configuration as read and on it rebased on the pending one (as the server keeps it), and
//! the pending configuration a rollback restores. Target: rebased, what differs and not the
//! configuration's size: at 100,000 vnets under 1% of the walk over the configuration as read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sdn_config::{has_pending_changes, Change, Config, Kind, Params, Positions};

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

/// The median of `SAMPLES` runs of `f`.
fn median_of<T>(mut f: impl FnMut() -> T) -> Duration {
    let mut samples: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(f());
            started.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

/// Comparing a pending configuration with one changed vnet against the running one, and
/// restoring it (what a rollback plans), on running as read and rebased: the medians (as
/// read, rebased) of each.
fn compare_medians(vnets: usize) -> (Duration, Duration, Duration, Duration) {
    let running_json = config_with(vnets).to_running_config(1);
    let mut pending = Arc::new(config_with(vnets));
    let change = pending
        .plan_update(
            Kind::Vnets,
            &format!("b{}", vnets / 2),
            &serde_json::json!({"alias": "pending"})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap();
    Arc::make_mut(&mut pending).apply(change);
    let as_read = Config::from_running_config(&running_json).unwrap().1;
    let rebased_in = Instant::now();
    let rebased = as_read.rebased_on(&pending, Positions::Base);
    let rebasing = rebased_in.elapsed();
    let restore = |running: &Config| {
        let mut restored = pending.as_ref().clone();
        for (mine, theirs) in pending.differences(running, Kind::Vnets) {
            match (mine, theirs) {
                (_, Some(object)) => restored.insert(object.clone()),
                (Some(gone), None) => restored.apply(Change {
                    kind: Kind::Vnets,
                    id: gone.id().to_string(),
                    object: None,
                }),
                (None, None) => {}
            }
        }
        restored
    };
    let walk = median_of(|| has_pending_changes(&pending, &as_read));
    let shared = median_of(|| has_pending_changes(&pending, &rebased));
    let restore_walk = median_of(|| restore(&as_read));
    let restore_shared = median_of(|| restore(&rebased));
    println!(
        "  {vnets:>7} vnets: anything pending: {:.2} us as read, {:.2} us rebased; restoring: {:.2} us as read, {:.2} us rebased (rebasing once: {:.1} ms)",
        walk.as_secs_f64() * 1e6,
        shared.as_secs_f64() * 1e6,
        restore_walk.as_secs_f64() * 1e6,
        restore_shared.as_secs_f64() * 1e6,
        rebasing.as_secs_f64() * 1e3,
    );
    (walk, shared, restore_walk, restore_shared)
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

    println!("comparing pending (one vnet changed) with running, {SAMPLES} samples each");
    let medians: Vec<_> = SIZES.iter().map(|&vnets| compare_medians(vnets)).collect();
    let (walk, shared, restore_walk, restore_shared) = medians[2];
    let share = |part: Duration, whole: Duration| part.as_secs_f64() / whole.as_secs_f64() * 100.0;
    let verdict = |pct: f64| if pct < 1.0 { "met" } else { "MISSED" };
    let (pending_pct, restore_pct) = (share(shared, walk), share(restore_shared, restore_walk));
    println!(
        "  rebased at 100,000 vnets: anything pending {pending_pct:.3}% of the walk, restoring {restore_pct:.3}% (< 1%: {}, {})",
        verdict(pending_pct),
        verdict(restore_pct)
    );
}
