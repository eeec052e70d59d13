//! What the node agents' heartbeats cost: 100 simulated agents on one etcd member, each with
//! its own store connection (as 100 nodes have), each sending the agent's heartbeat record
//! (its load read from /proc, its certificate fingerprint) every `nodes::HEARTBEAT_INTERVAL_MS`,
//! spread over the interval. The CPU time of the agents' side (this process, getrusage) and of
//! the etcd process (/proc/PID/stat) over a window of heartbeats, beside an idle baseline of the
//! same etcd and the same 100 connected clients sending nothing, measured in the same run.
//!
//! Target: the heartbeats cost under 5% of one core (beating minus idle, both sides).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sdn_store::{EtcdOptions, EtcdStore, Store, Txn};
use sdnd::agent::load::LoadReader;
use sdnd::layout;
use sdnd::nodes::HEARTBEAT_INTERVAL_MS;
use sdnd_testkit::etcd::Cluster;

const AGENTS: usize = 100;
const WINDOW: Duration = Duration::from_secs(20);
const TARGET: f64 = 0.05;
const PREFIX: &str = "bench-heartbeats/";

/// CPU seconds (user + system) of this process.
fn own_cpu() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// CPU seconds (user + system) of process `pid`, from /proc/PID/stat.
fn cpu_of(pid: u32) -> f64 {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat of etcd");
    // The fields after the command name (which may hold spaces) in parentheses: state is the
    // first, utime the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')').expect("stat format") + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let utime: f64 = fields[11].parse().expect("utime");
    let stime: f64 = fields[12].parse().expect("stime");
    (utime + stime) / ticks
}

/// CPU used per wall second over `window`: (this process, etcd).
fn measure(etcd: u32, window: Duration) -> (f64, f64) {
    let (self0, etcd0, start) = (own_cpu(), cpu_of(etcd), Instant::now());
    std::thread::sleep(window);
    let wall = start.elapsed().as_secs_f64();
    ((own_cpu() - self0) / wall, (cpu_of(etcd) - etcd0) / wall)
}

fn percent(fraction: f64) -> String {
    format!("{:.4} of one core ({:.2}%)", fraction, fraction * 100.0)
}

fn main() {
    let cluster = Cluster::start(1);
    let member = &cluster.members[0];
    let etcd = member.pid().expect("etcd runs");
    let endpoint = member.endpoint();
    let stores: Vec<Arc<EtcdStore>> = (0..AGENTS)
        .map(|_| {
            Arc::new(
                EtcdStore::connect(EtcdOptions::new(vec![endpoint.clone()], PREFIX))
                    .expect("connect to etcd"),
            )
        })
        .collect();
    // Every connection used once, so the baseline has them all open and warm.
    for store in &stores {
        store.revision().expect("etcd answers");
    }
    std::thread::sleep(Duration::from_secs(2));

    println!(
        "heartbeats: {AGENTS} agents on one etcd, every {HEARTBEAT_INTERVAL_MS} ms, {}s windows",
        WINDOW.as_secs()
    );
    let (idle_self, idle_etcd) = measure(etcd, WINDOW);
    println!(
        "  idle (connected, no heartbeats): agents {}, etcd {}",
        percent(idle_self),
        percent(idle_etcd)
    );

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let interval = Duration::from_millis(HEARTBEAT_INTERVAL_MS as u64);
    let origin = Instant::now();
    let agents: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(i, store)| {
            let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
            std::thread::spawn(move || {
                let node = format!("node{i:03}");
                let fingerprint = Some(format!("{:02X}", i).repeat(32));
                let mut load = LoadReader::default();
                // Spread over the interval, as agents started at different times are.
                let mut next = origin + interval * i as u32 / AGENTS as u32;
                loop {
                    while Instant::now() < next {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::park_timeout(next - Instant::now());
                    }
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let heartbeat = layout::Heartbeat {
                        node: node.clone(),
                        time_ms: std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis() as i64),
                        fingerprint: fingerprint.clone(),
                        stats: load.read(),
                        fabrics: Default::default(),
                    };
                    let bytes = serde_json::to_vec(&heartbeat).expect("heartbeat as JSON");
                    match store.commit(Txn::new().put(layout::node_heartbeat(&node), bytes)) {
                        Ok(_) => sent.fetch_add(1, Ordering::SeqCst),
                        Err(_) => failed.fetch_add(1, Ordering::SeqCst),
                    };
                    next += interval;
                }
            })
        })
        .collect();
    // One full interval first, so every agent is beating when the window opens.
    std::thread::sleep(interval);
    let before = sent.load(Ordering::SeqCst);
    let (busy_self, busy_etcd) = measure(etcd, WINDOW);
    let in_window = sent.load(Ordering::SeqCst) - before;
    stop.store(true, Ordering::SeqCst);
    for agent in &agents {
        agent.thread().unpark();
    }
    for agent in agents {
        agent.join().expect("agent thread");
    }
    println!(
        "  beating: agents {}, etcd {} ({in_window} heartbeats in the window, {} failed in all)",
        percent(busy_self),
        percent(busy_etcd),
        failed.load(Ordering::SeqCst)
    );

    // Every agent's heartbeat is in the store, as the servers read them.
    let check =
        EtcdStore::connect(EtcdOptions::new(vec![endpoint], PREFIX)).expect("connect to etcd");
    let beats = sdnd::nodes::heartbeats(&check).expect("read the heartbeats");
    assert_eq!(beats.len(), AGENTS, "one heartbeat per agent in the store");
    let expected = (WINDOW.as_millis() as usize * AGENTS) / HEARTBEAT_INTERVAL_MS as usize;
    assert!(
        in_window * 10 >= expected * 9,
        "only {in_window} heartbeats in the window, expected about {expected}: the figures would flatter"
    );

    let cost = (busy_self - idle_self).max(0.0) + (busy_etcd - idle_etcd).max(0.0);
    let verdict = if cost < TARGET { "ok" } else { "MISSED" };
    println!(
        "  cost of the heartbeats (beating - idle, agents + etcd): {} (target < {:.0}%: {verdict}); ratio beating/idle {:.2}",
        percent(cost),
        TARGET * 100.0,
        (busy_self + busy_etcd) / (idle_self + idle_etcd).max(1e-9)
    );
}
