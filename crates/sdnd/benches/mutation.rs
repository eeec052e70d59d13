//! Durable mutation latency: creating a vnet with a lock token over HTTPS on loopback, next to
//! 10, 10,000 and 100,000 existing vnets, beside the fdatasync latency of the same disk. Then
//! the same on the etcd backend (a single-member etcd on loopback), beside the latency of a
//! bare etcd put.
//!
//! Targets (issue 18), as ratios within one run: SQLite median within 2x the fdatasync floor;
//! etcd median within 1.3x a bare etcd put; 10,000 and 100,000 vnets within 1.1x of 10 on both
//! backends; p99 within 2x the median.
//!
//! This machine is shared and its disk and CPU speed drift by 2x within minutes, so the floor
//! is not measured once beside the whole series but interleaved with it: rounds of creates,
//! floor samples, a create-shaped transaction straight to the store and `GET /version`, each
//! size's ratios against the floor measured in its own rounds. The size ratios compare the
//! sizes' floor ratios (the raw medians are printed beside them: they carry the drift between
//! sizes measured minutes apart).
//!
//! Each size also times a create made right after a create on a second node on the same
//! store: the first node's view must catch up with the other's change, by what changed.
//!
//! Beside the latencies it prints what a create costs the processes: the server's CPU (and
//! the kernel's part of it) and thread switches, the other node's CPU, and on etcd the
//! member's CPU beside what a bare put costs it. On a machine with few cores the processes
//! share them, so CPU burnt anywhere shows in the latency.
//!
//! Requests go through a synchronous HTTPS client (`support/lean_https.rs`), so that what is
//! measured is the server; `GET /version` through reqwest's blocking client is printed beside
//! it, for what a client runtime adds.
//!
//! `SDND_BENCH_SIZES=10,10000` measures other sizes (the first is the baseline of the size
//! ratios); `SDND_BENCH_BACKENDS=sqlite` or `etcd` measures one backend only;
//! `SDND_BENCH_SAMPLES` takes more samples; `SDND_BENCH_PID_FILE` names a file the server's
//! pid, the size and the other node's pid are written to while that size is measured (for a
//! profiler).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/lean_https.rs"]
mod lean_https;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Client, Server};
use lean_https::LeanClient;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use sdn_store::{EtcdOptions, EtcdStore, SqliteStore, Store, Txn};

const DEFAULT_SAMPLES: usize = 300;
/// Rounds the samples of a size are spread over (see the module doc).
const ROUNDS: usize = 10;
const SDN: &str = "/api2/json/cluster/sdn";
const SIZES: [usize; 3] = [10, 10_000, 100_000];

/// Median, p90, p99 and the slowest of one series of samples, and how many there were.
#[derive(Clone, Copy)]
struct Figures {
    median: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    count: usize,
}

impl Figures {
    fn of(mut samples: Vec<Duration>) -> Figures {
        samples.sort();
        let at = |per_mille: usize| samples[(samples.len() * per_mille / 1000).min(samples.len() - 1)];
        Figures { median: at(500), p90: at(900), p99: at(990), max: samples[samples.len() - 1], count: samples.len() }
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

fn timed(work: impl FnOnce()) -> Duration {
    let start = Instant::now();
    work();
    start.elapsed()
}

/// What a backend's creates are measured against: one sample of its floor, and one commit of
/// a transaction shaped as a create's straight to the store (sample number given).
struct Baselines<'a> {
    floor: Box<dyn FnMut() -> Duration + 'a>,
    shaped: Box<dyn FnMut(usize) -> Duration + 'a>,
    /// The store's own process (the etcd member), whose CPU is counted beside the server's;
    /// `None` for SQLite, which works inside the server.
    store_pid: Option<u32>,
}

/// A 4 KiB write + fdatasync to a file in `dir`, one sample per call: SQLite's floor.
fn fsync_probe(dir: &Path) -> impl FnMut() -> Duration {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new().create(true).write(true).truncate(true).open(path).unwrap();
    let block = vec![0x5au8; 4096];
    move || {
        timed(|| {
            file.write_all(&block).unwrap();
            file.sync_data().unwrap();
        })
    }
}

/// A single-key put through the etcd client, one sample per call: the floor the etcd
/// backend's mutations stand on (a Raft round and etcd's own fsync).
fn bare_put(store: &EtcdStore) -> impl FnMut() -> Duration + '_ {
    let mut i = 0usize;
    move || {
        i += 1;
        let txn = Txn::new().put(format!("bare-put/k{}", i % 16), vec![0x5au8; 512]);
        timed(|| {
            store.commit(txn).unwrap();
        })
    }
}

/// One commit of a transaction shaped as a vnet create's (guards on four entries, the object,
/// the pending marker and an audit record) straight to `store`: what of the gap to the floor
/// is the store's own.
fn change_shaped_txn(store: &dyn Store, i: usize) -> Duration {
    let mut txn = Txn::new();
    for guarded in ["lock", "lock-expiry", "running-version", "access-generation"] {
        txn.guards.push(sdn_store::Guard::ModRevision { key: format!("shaped/never-written/{guarded}"), revision: 0 });
    }
    let txn = txn
        .put(format!("shaped/pending/vnets/n{i}"), vec![0x5au8; 120])
        .put("shaped/pending/.mark", Vec::new())
        .put(format!("shaped/audit/{i:012}"), vec![0x5au8; 300]);
    timed(|| {
        store.commit(txn).unwrap();
    })
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

/// The CPU time (user and system) process `pid` has used so far, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let (user, system) = cpu_times(pid);
    user + system
}

/// The CPU time process `pid` has used so far in user space and in the kernel (thread
/// switches, system calls, a disk sync's own work), from `/proc/PID/stat`.
fn cpu_times(pid: u32) -> (Duration, Duration) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    // Linux reports these in USER_HZ, 100 per second on every architecture it runs on.
    let field = |i: usize| Duration::from_millis(fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0) * 10);
    (field(11), field(12))
}

/// The thread switches (voluntary and not) of process `pid`'s threads so far, from
/// `/proc/PID/task/*/status` (a thread that ended meanwhile takes its count with it).
fn thread_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|line| line.starts_with("voluntary_ctxt_switches") || line.starts_with("nonvoluntary_ctxt_switches"))
                .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// What a series of operations cost the processes involved: the CPU of the server that
/// served them, of the other node and of the store's own process (etcd), and the server's
/// thread switches; summed over the series' rounds.
#[derive(Clone, Copy, Default)]
struct Cost {
    server_cpu: Duration,
    /// The part of `server_cpu` spent in the kernel.
    server_kernel: Duration,
    other_cpu: Duration,
    store_cpu: Duration,
    server_switches: u64,
    operations: usize,
}

/// The counters `Cost` is the difference of, read before and after a round.
#[derive(Clone, Copy)]
struct Counters {
    server_cpu: Duration,
    server_kernel: Duration,
    other_cpu: Duration,
    store_cpu: Duration,
    server_switches: u64,
}

impl Counters {
    fn read(server: u32, other: Option<u32>, store: Option<u32>) -> Counters {
        let (user, kernel) = cpu_times(server);
        Counters {
            server_cpu: user + kernel,
            server_kernel: kernel,
            other_cpu: other.map_or(Duration::ZERO, cpu_time),
            store_cpu: store.map_or(Duration::ZERO, cpu_time),
            server_switches: thread_switches(server),
        }
    }
}

impl Cost {
    /// Adds what happened between `before` and `after`, over `operations` operations.
    fn add(&mut self, before: Counters, after: Counters, operations: usize) {
        self.server_cpu += after.server_cpu.saturating_sub(before.server_cpu);
        self.server_kernel += after.server_kernel.saturating_sub(before.server_kernel);
        self.other_cpu += after.other_cpu.saturating_sub(before.other_cpu);
        self.store_cpu += after.store_cpu.saturating_sub(before.store_cpu);
        self.server_switches += after.server_switches.saturating_sub(before.server_switches);
        self.operations += operations;
    }

    /// Per operation, in ms.
    fn per_op(&self, total: Duration) -> f64 {
        ms(total) / self.operations.max(1) as f64
    }
}

/// Waits until the processes `pids` are quiet: under 20 ms of CPU between them in each 500 ms
/// window for 6 s (longer than the agents' 5 s status pass, which reads the running
/// configuration when it changed), or 60 s at most. Answers how long after the call the last
/// busy window ended, and the CPU they used until then.
fn settle(pids: &[u32]) -> (Duration, Duration) {
    const WINDOW: Duration = Duration::from_millis(500);
    const QUIET_WINDOWS: u32 = 12;
    let total = || pids.iter().map(|&pid| cpu_time(pid)).sum::<Duration>();
    let (start, first) = (Instant::now(), total());
    let (mut last, mut busy_until, mut busy_cpu, mut quiet) = (first, Duration::ZERO, Duration::ZERO, 0);
    while quiet < QUIET_WINDOWS && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(WINDOW);
        let now = total();
        if now.saturating_sub(last) < Duration::from_millis(20) {
            quiet += 1;
        } else {
            (quiet, busy_until, busy_cpu) = (0, start.elapsed(), now.saturating_sub(first));
        }
        last = now;
    }
    (busy_until, busy_cpu)
}

/// One size's figures.
struct Series {
    creates: Figures,
    /// What the creates cost the processes (CPU, thread switches).
    create_cost: Cost,
    floor: Figures,
    /// What the floor's samples cost the store's own process (etcd's CPU per bare put).
    floor_cost: Cost,
    shaped: Figures,
    /// An authenticated `GET /version`: the request path without a change.
    version: Figures,
    version_reqwest: Figures,
    /// Creates made right after another node's create: the view catches up first.
    after_other: Figures,
    /// `GET` of one vnet (its answer carries the digest of all vnets).
    read_one: Figures,
    /// An update of one vnet carrying the digest just read, as the reference's clients send it.
    update_with_digest: Figures,
    /// Taking the lock with no pending changes (it checks that there are none), and a
    /// rollback of one create that releases the lock: both compare the pending
    /// configuration with the running one.
    lock: Figures,
    rollback: Figures,
    /// The first lock after the apply: the first request to use the running configuration
    /// that apply wrote.
    first_lock: Duration,
    /// After the first apply's task ended: how long until both nodes were quiet, and the CPU
    /// they used meanwhile.
    settle: (Duration, Duration),
    /// Creates made while another client lists every vnet over and over (each listing holds
    /// the configuration it renders), and how many listings were answered meanwhile.
    during_listing: Figures,
    listings: usize,
}

/// Locked vnet creates with `existing` vnets around, interleaved with the baselines and with
/// `GET /version` on the same server and connection.
fn measure(existing: usize, store: &[String], baselines: &mut Baselines<'_>) -> Series {
    let dir = tempfile::tempdir_in(".").unwrap();
    populate(dir.path(), existing, store);
    let server = Server::start_node(dir.path(), "testnode", store, &[]);
    let client = server.client("bench");
    // A second node on the same store, whose changes the first one's view must catch up with.
    // Started before the apply, so that the apply's task waits for its agent too (a node
    // that starts later renders the whole configuration then: seconds at 100,000 vnets).
    let other = Server::start_node(dir.path(), "n2", store, &[]);
    if let Ok(path) = std::env::var("SDND_BENCH_PID_FILE") {
        // For a profiler: the server's pid, the size, the other node's pid.
        let pid = |server: &Server| server.child.as_ref().unwrap().id();
        std::fs::write(path, format!("{} {existing} {}\n", pid(&server), pid(&other))).unwrap();
    }
    // Applied once first, as on any cluster in use: the running configuration and the
    // nodes' generated files are then in the store beside what a change touches.
    let upid = client.put(SDN, &[]).ok();
    assert_eq!(client.wait_task(upid.as_str().unwrap()), "OK", "the first apply");
    // The task ends with the nodes' reports; the agents go on after that (publishing their
    // files and status, a DHCP side with a DHCP zone reading the configuration as the model;
    // before they shared one parse, three threads each parsed it). What a change costs is
    // timed once they are done (else the first creates share the CPU with them), and how
    // long they took is printed.
    let pids = [&server, &other].map(|s| s.child.as_ref().unwrap().id());
    let settle = settle(&pids);
    let token = client.post(&format!("{SDN}/lock"), &[("allow-pending", "1")]).ok();
    let token = utf8_percent_encode(token.as_str().unwrap(), NON_ALPHANUMERIC).to_string();
    let mut lean = LeanClient::connect(&server.base, &server.fingerprint, client.auth().unwrap());
    let other_auth = other.client("bench2").auth().unwrap().to_string();
    let mut other_lean = LeanClient::connect(&other.base, &other.fingerprint, &other_auth);
    let create = |lean: &mut LeanClient, name: String| {
        let form = format!("vnet={name}&zone=bench&lock-token={token}");
        let (status, body) = lean.request("POST", &format!("{SDN}/vnets"), Some(&form));
        assert_eq!(status, 200, "create {name}: {}", String::from_utf8_lossy(&body));
    };
    // Warm up the connection and the server's cache.
    for i in 0..20 {
        create(&mut lean, format!("w{i}"));
    }
    let per_round = samples().div_ceil(ROUNDS);
    let (mut creates, mut floor, mut shaped, mut version, mut version_reqwest, mut after_other) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut read_one, mut update_with_digest) = (vec![], vec![]);
    let one = format!("{SDN}/vnets/w0");
    let (server_pid, other_pid, store_pid) = (pids[0], Some(pids[1]), baselines.store_pid);
    let counters = || Counters::read(server_pid, other_pid, store_pid);
    let (mut create_cost, mut floor_cost) = (Cost::default(), Cost::default());
    for round in 0..ROUNDS {
        let before = counters();
        for i in round * per_round..(round + 1) * per_round {
            creates.push(timed(|| create(&mut lean, format!("n{i}"))));
        }
        create_cost.add(before, counters(), per_round);
        let before = counters();
        for _ in 0..per_round {
            floor.push((baselines.floor)());
        }
        floor_cost.add(before, counters(), per_round);
        for i in round * per_round..(round + 1) * per_round {
            shaped.push((baselines.shaped)(existing * 10 + i));
        }
        for i in round * per_round..(round + 1) * per_round {
            create(&mut other_lean, format!("o{i}"));
            after_other.push(timed(|| create(&mut lean, format!("a{i}"))));
        }
        for _ in 0..per_round {
            version.push(timed(|| {
                let (status, _) = lean.request("GET", "/api2/json/version", None);
                assert_eq!(status, 200);
            }));
            version_reqwest.push(timed(|| {
                client.get("/api2/json/version", &[]).ok();
            }));
        }
        for i in round * per_round..(round + 1) * per_round {
            let mut body = Vec::new();
            read_one.push(timed(|| {
                let (status, answer) = lean.request("GET", &one, None);
                assert_eq!(status, 200);
                body = answer;
            }));
            let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let digest = answer["data"]["digest"].as_str().unwrap().to_string();
            let form = format!("alias=a{i}&digest={digest}&lock-token={token}");
            update_with_digest.push(timed(|| {
                let (status, body) = lean.request("PUT", &one, Some(&form));
                assert_eq!(status, 200, "update with digest: {}", String::from_utf8_lossy(&body));
            }));
        }
    }
    let (during_listing, listings) = during_listing(&server, &mut lean, create, samples() / 3);
    let (first_lock, lock, rollback) = lock_and_rollback(&mut lean, &client, &token);
    Series {
        lock,
        rollback,
        first_lock,
        read_one: Figures::of(read_one),
        update_with_digest: Figures::of(update_with_digest),
        during_listing,
        listings,
        settle,
        creates: Figures::of(creates),
        create_cost,
        floor: Figures::of(floor),
        floor_cost,
        shaped: Figures::of(shaped),
        version: Figures::of(version),
        version_reqwest: Figures::of(version_reqwest),
        after_other: Figures::of(after_other),
    }
}

/// Applies what the bench made (releasing its lock, `token`) and waits for the apply to end
/// (the node agent regenerating its files would otherwise share the CPU with what is timed),
/// then times rounds of: take the lock, create one vnet, roll back (which releases the lock).
fn lock_and_rollback(lean: &mut LeanClient, client: &Client, token: &str) -> (Duration, Figures, Figures) {
    const ROUNDS: usize = 20;
    let (status, body) = lean.request("PUT", SDN, Some(&format!("lock-token={token}&release-lock=1")));
    assert_eq!(status, 200, "apply: {}", String::from_utf8_lossy(&body));
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(client.wait_task(answer["data"].as_str().unwrap()), "OK", "the apply");
    let (mut locks, mut rollbacks) = (vec![], vec![]);
    for i in 0..ROUNDS {
        let mut body = Vec::new();
        locks.push(timed(|| {
            let (status, answer) = lean.request("POST", &format!("{SDN}/lock"), None);
            assert_eq!(status, 200, "lock: {}", String::from_utf8_lossy(&answer));
            body = answer;
        }));
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let token = utf8_percent_encode(answer["data"].as_str().unwrap(), NON_ALPHANUMERIC).to_string();
        let (status, body) = lean.request("POST", &format!("{SDN}/vnets"), Some(&format!("vnet=r{i}&zone=bench&lock-token={token}")));
        assert_eq!(status, 200, "create: {}", String::from_utf8_lossy(&body));
        rollbacks.push(timed(|| {
            let (status, body) = lean.request("POST", &format!("{SDN}/rollback"), Some(&format!("lock-token={token}")));
            assert_eq!(status, 200, "rollback: {}", String::from_utf8_lossy(&body));
        }));
    }
    let first = locks[0];
    (first, Figures::of(locks), Figures::of(rollbacks))
}

/// Creates made while a second connection lists every vnet, back to back, until at least
/// `count` are made and three listings are answered (or `MAX_LISTING_CREATES` are made): a
/// listing holds the configuration while it renders it, and a write meanwhile must not copy
/// it whole.
fn during_listing(
    server: &Server,
    lean: &mut LeanClient,
    create: impl Fn(&mut LeanClient, String),
    count: usize,
) -> (Figures, usize) {
    const MAX_LISTING_CREATES: usize = 20_000;
    let listings = std::sync::atomic::AtomicUsize::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let auth = server.client("lister").auth().unwrap().to_string();
    let mut lister = LeanClient::connect(&server.base, &server.fingerprint, &auth);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, _) = lister.request("GET", &format!("{SDN}/vnets"), None);
                assert_eq!(status, 200);
                listings.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let mut samples = Vec::new();
        while samples.len() < MAX_LISTING_CREATES
            && (samples.len() < count || listings.load(std::sync::atomic::Ordering::Relaxed) < 3)
        {
            let name = format!("l{}", samples.len());
            samples.push(timed(|| create(lean, name)));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (Figures::of(samples), listings.load(std::sync::atomic::Ordering::Relaxed))
    })
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
fn report(floor_name: &str, floor_target: f64, reads_round_trip: bool, series: &[(usize, Series)]) {
    let mut missed = 0;
    let mut check = |value: f64, target: f64| {
        let v = verdict(value, target);
        if v != "met" {
            missed += 1;
        }
        v
    };
    for (count, f) in series {
        println!(
            "  {count:>7} vnets: {floor_name} median {:.3} ms (p99/median {:.2}); a create-shaped transaction straight to the store {:.3} ms = {:.2}x",
            ms(f.floor.median),
            ratio(f.floor.p99, f.floor.median),
            ms(f.shaped.median),
            ratio(f.shaped.median, f.floor.median),
        );
        println!(
            "  {count:>7} vnets: GET /version median {:.3} ms  p99 {:.3} ms (the request path: HTTPS, authentication); through reqwest's blocking client {:.3} ms",
            ms(f.version.median),
            ms(f.version.p99),
            ms(f.version_reqwest.median),
        );
        let floor_ratio = ratio(f.creates.median, f.floor.median);
        let tail = ratio(f.creates.p99, f.creates.median);
        println!(
            "  {count:>7} vnets: create median {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  = {floor_ratio:.2}x {floor_name} (<= {floor_target}x: {})  p99/median {tail:.2} (<= 2: {})",
            ms(f.creates.median),
            ms(f.creates.p90),
            ms(f.creates.p99),
            check(floor_ratio, floor_target),
            check(tail, 2.0),
        );
        let cost = &f.create_cost;
        let store_cpu = if cost.store_cpu.is_zero() {
            String::new()
        } else {
            format!(", the store {:.3} ms (a bare put: {:.3} ms)", cost.per_op(cost.store_cpu), f.floor_cost.per_op(f.floor_cost.store_cpu))
        };
        println!(
            "  {count:>7} vnets: CPU per create: the server {:.3} ms ({:.3} in the kernel) in {:.1} thread switches, the other node {:.3} ms{store_cpu}; {} CPUs",
            cost.per_op(cost.server_cpu),
            cost.per_op(cost.server_kernel),
            cost.server_switches as f64 / cost.operations.max(1) as f64,
            cost.per_op(cost.other_cpu),
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        );
        println!(
            "  {count:>7} vnets: create right after another node's create: median {:.3} ms  p99 {:.3} ms (the view catches up with it first)",
            ms(f.after_other.median),
            ms(f.after_other.p99),
        );
        println!(
            "  {count:>7} vnets: GET of one vnet median {:.3} ms; an update of it with the digest read median {:.3} ms  p99 {:.3} ms",
            ms(f.read_one.median),
            ms(f.update_with_digest.median),
            ms(f.update_with_digest.p99),
        );
        println!(
            "  {count:>7} vnets: taking the lock median {:.3} ms (the first after an apply {:.3} ms); rolling back one create median {:.3} ms (both compare pending with running)",
            ms(f.lock.median),
            ms(f.first_lock),
            ms(f.rollback.median),
        );
        println!(
            "  {count:>7} vnets: after the first apply's task ended, the two nodes worked on for {:.1} s ({:.2} s of CPU); timed after that",
            f.settle.0.as_secs_f64(),
            f.settle.1.as_secs_f64(),
        );
        println!(
            "  {count:>7} vnets: {} creates while another client lists every vnet ({} listings): median {:.3} ms  p99 {:.3} ms  slowest {:.3} ms",
            f.during_listing.count,
            f.listings,
            ms(f.during_listing.median),
            ms(f.during_listing.p99),
            ms(f.during_listing.max),
        );
    }
    if let Some((base_count, base)) = series.first() {
        let base_ratio = ratio(base.creates.median, base.floor.median);
        for (count, f) in &series[1..] {
            let r = ratio(f.creates.median, f.floor.median) / base_ratio;
            let raw = ratio(f.creates.median, base.creates.median);
            println!("  {count} vs {base_count} vnets: {r:.2}x in floor ratios (<= 1.1x: {}); raw medians {raw:.2}x", check(r, 1.1));
            // A read against the request path alone (`GET /version`) where it is served from
            // memory (SQLite), against the floor where it costs a store round trip (etcd); an
            // update against the floor.
            let read_against = if reads_round_trip { (floor_name, (f.floor, base.floor)) } else { ("GET /version", (f.version, base.version)) };
            for (what, now, then, against_name, against) in [
                ("GET of one vnet", f.read_one, base.read_one, read_against.0, read_against.1),
                ("an update with the digest", f.update_with_digest, base.update_with_digest, floor_name, (f.floor, base.floor)),
            ] {
                let r = ratio(now.median, against.0.median) / ratio(then.median, against.1.median);
                let raw = ratio(now.median, then.median);
                println!("  {count} vs {base_count} vnets, {what}: {r:.2}x in ratios to {against_name} (<= 1.1x: {}); raw medians {raw:.2}x", check(r, 1.1));
            }
            let r = ratio(f.after_other.median, f.floor.median) / ratio(base.after_other.median, base.floor.median);
            let raw = ratio(f.after_other.median, base.after_other.median);
            println!(
                "  {count} vs {base_count} vnets, right after another node's create: {r:.2}x in floor ratios (<= 1.1x: {}); raw medians {raw:.2}x",
                check(r, 1.1)
            );
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
    println!(
        "durable mutation latency (create vnet with lock token, HTTPS, loopback), {} samples each in {ROUNDS} rounds",
        samples()
    );
    if backend_wanted("sqlite") {
        let scratch = tempfile::tempdir_in(".").unwrap();
        let shaped_store = SqliteStore::open(&scratch.path().join("shaped.db")).unwrap();
        let mut baselines = Baselines {
            floor: Box::new(fsync_probe(scratch.path())),
            shaped: Box::new(|i| change_shaped_txn(&shaped_store, i)),
            store_pid: None,
        };
        let series: Vec<(usize, Series)> = sizes.iter().map(|&n| (n, measure(n, &[], &mut baselines))).collect();
        println!("on SQLite; floor: a 4 KiB write + fdatasync on the same disk");
        report("fdatasync", 2.0, false, &series);
    }
    if backend_wanted("etcd") {
        let cluster = common::etcd::Cluster::start(1);
        let endpoints: Vec<String> = cluster.members.iter().map(|m| m.endpoint()).collect();
        let direct = EtcdStore::connect(EtcdOptions::new(endpoints, "/bench-direct/")).unwrap();
        let mut baselines = Baselines {
            floor: Box::new(bare_put(&direct)),
            shaped: Box::new(|i| change_shaped_txn(&direct, i)),
            store_pid: cluster.members[0].pid(),
        };
        let store = |prefix: &str| vec!["--store".to_string(), cluster.url(), "--store-prefix".to_string(), prefix.to_string()];
        let series: Vec<(usize, Series)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (n, measure(n, &store(&format!("/bench-{i}-{n}/")), &mut baselines)))
            .collect();
        println!("on etcd (single member, loopback); floor: a bare put of one 512-byte key through the client");
        report("bare put", 1.3, true, &series);
    }
}
