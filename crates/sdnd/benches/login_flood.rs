//! A flood of wrong-password logins: 7 clients for 10 s, while another client sends
//! authenticated `GET /version` requests. Prints that request's median and p90 during the
//! flood beside the same without a flood (measured in the same run), and the server's peak
//! and final resident memory.
//!
//! Targets: median during the flood under 100 ms; memory under 256 MB.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, Server};

const FLOOD: Duration = Duration::from_secs(10);
const FLOODERS: usize = 7;

fn percentile(samples: &mut [Duration], per_cent: usize) -> Duration {
    samples.sort();
    samples[(samples.len() * per_cent / 100).min(samples.len() - 1)]
}

fn resident_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Sends `GET /version` for `duration`, one after another; returns each latency.
fn probe(client: &Client, duration: Duration) -> Vec<Duration> {
    let end = Instant::now() + duration;
    let mut samples = Vec::new();
    while Instant::now() < end {
        let start = Instant::now();
        client.get("/api2/json/version", &[]).ok();
        samples.push(start.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    samples
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client("bench");
    let pid = server.child.as_ref().unwrap().id();
    let (idle_rss, _) = resident_kib(pid);

    let mut quiet = probe(&client, Duration::from_secs(3));
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicU64::new(0));
    let flooders: Vec<_> = (0..FLOODERS)
        .map(|i| {
            let (base, stop, attempts) = (server.base.clone(), stop.clone(), attempts.clone());
            std::thread::spawn(move || {
                let anonymous = Client::new(&base, None);
                while !stop.load(Ordering::SeqCst) {
                    // Different users, so the per-user limit alone doesn't stop them.
                    let user = format!("guess{}@pve", attempts.fetch_add(1, Ordering::SeqCst) % 50 + i as u64);
                    anonymous.post("/api2/json/access/ticket", &[("username", &user), ("password", "wrong")]);
                }
            })
        })
        .collect();
    let mut flooded = probe(&client, FLOOD);
    stop.store(true, Ordering::SeqCst);
    for flooder in flooders {
        flooder.join().unwrap();
    }
    std::thread::sleep(Duration::from_secs(2));
    let (after_rss, peak_rss) = resident_kib(pid);

    let quiet_median = percentile(&mut quiet, 50);
    let flood_median = percentile(&mut flooded, 50);
    println!("login flood: {FLOODERS} clients, {} attempts in {}s", attempts.load(Ordering::SeqCst), FLOOD.as_secs());
    println!(
        "authenticated GET /version: median {:.2} ms, p90 {:.2} ms during the flood; median {:.2} ms without ({:.1}x)",
        flood_median.as_secs_f64() * 1e3,
        percentile(&mut flooded, 90).as_secs_f64() * 1e3,
        quiet_median.as_secs_f64() * 1e3,
        flood_median.as_secs_f64() / quiet_median.as_secs_f64(),
    );
    println!(
        "server memory: {} MiB idle, {} MiB peak, {} MiB after the flood",
        idle_rss / 1024,
        peak_rss / 1024,
        after_rss / 1024
    );
    let met = flood_median < Duration::from_millis(100) && peak_rss < 256 * 1024;
    println!("targets (median < 100 ms, memory < 256 MiB): {}", if met { "met" } else { "MISSED" });
}
