//! A 40-step change set with confirmed apply over links with 25 ms of added one-way delay.
//!
//! Each remote is reached through a loopback TCP proxy of this bench's own that holds every
//! chunk 25 ms in each direction and counts request round trips (a client-to-server chunk after
//! a server-to-client one). Prints, for one remote, the round trips and wall time of the
//! all-or-nothing transaction (one `POST /cluster/sdn/changes`, confirmed apply, confirm) beside
//! the step-by-step one (one request per step, plain apply); then the all-or-nothing
//! transaction over 10 remotes against 1, alternated over a few rounds (target: <= 1.3x).
//! Needs the sdnd binary of the same profile: `cargo build --release -p sdnd` first.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use sdnctl::changeset::Syntax;
use sdnctl::txn::Quiet;
use sdnctl::{ChangeSet, Client, LockedClients, Remotes, TxnOptions};

const DELAY: Duration = Duration::from_millis(25);
const STEPS: usize = 40;

/// A delaying proxy in front of one server; counts round trips.
struct Proxy {
    port: u16,
    turns: Arc<AtomicU64>,
}

/// Copies `from` to `to`, each chunk `DELAY` later than it arrived; `client_side` chunks that
/// follow an answer count as a new round trip.
fn pipe(mut from: TcpStream, mut to: TcpStream, client_side: bool, answered: Arc<AtomicBool>, turns: Arc<AtomicU64>) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        for (due, chunk) in rx {
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if client_side {
                if answered.swap(false, Ordering::Relaxed) {
                    turns.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                answered.store(true, Ordering::Relaxed);
            }
            if tx.send((Instant::now() + DELAY, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
}

fn proxy(target: u16) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    let port = listener.local_addr().unwrap().port();
    let turns = Arc::new(AtomicU64::new(0));
    let counted = turns.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            // A new connection starts with the client speaking.
            let answered = Arc::new(AtomicBool::new(true));
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(client, server, true, answered.clone(), counted.clone());
            pipe(s2, c2, false, answered, counted.clone());
        }
    });
    Proxy { port, turns }
}

fn port_of(base: &str) -> u16 {
    base.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).expect("a port in the base URL")
}

/// Servers behind proxies, and clients that reach them through the proxies.
struct Setup {
    _root: tempfile::TempDir,
    _servers: Vec<common::Server>,
    proxies: Vec<Proxy>,
    clients: Vec<Client>,
}

fn setup(n: usize) -> Setup {
    let root = tempfile::tempdir().expect("temp dir");
    let servers = common::servers(root.path(), n);
    let proxies: Vec<Proxy> = servers.iter().map(|s| proxy(port_of(&s.base))).collect();
    let mut toml = String::new();
    for (server, proxy) in servers.iter().zip(&proxies) {
        let direct = server.remote_toml();
        toml.push_str(&direct.replace(&format!(":{}/", port_of(&server.base)), &format!(":{}/", proxy.port)));
    }
    let path = root.path().join("remotes.toml");
    std::fs::write(&path, toml).unwrap();
    let remotes = Remotes::load(&path).unwrap();
    let clients = servers.iter().map(|s| Client::new(remotes.pick(Some(&s.name), "bench").unwrap()).unwrap()).collect();
    Setup { _root: root, _servers: servers, proxies, clients }
}

/// A zone and `STEPS - 1` vnets in it, with names of their own per round.
fn change_set(round: usize) -> ChangeSet {
    let mut text = format!("- create: /cluster/sdn/zones\n  params: {{zone: z{round}, type: simple}}\n");
    for i in 0..STEPS - 1 {
        text.push_str(&format!("- create: /cluster/sdn/vnets\n  params: {{vnet: r{round}v{i}, zone: z{round}}}\n"));
    }
    ChangeSet::parse(&text, Syntax::Yaml, "bench").expect("change set")
}

/// One transaction; returns its wall time and the round trips per remote it cost.
fn transaction(setup: &Setup, changes: &ChangeSet, atomic: bool) -> (Duration, Vec<u64>) {
    let before: Vec<u64> = setup.proxies.iter().map(|p| p.turns.load(Ordering::Relaxed)).collect();
    let start = Instant::now();
    let mut txn = match LockedClients::lock_all(setup.clients.clone(), TxnOptions::default(), &Quiet) {
        Ok(txn) => txn,
        Err(report) => panic!("lock failed:\n{report}"),
    };
    if atomic {
        assert!(txn.run_atomic(changes), "{}", txn.report());
        assert!(txn.apply_confirmed_all(120), "{}", txn.report());
    } else {
        assert!(txn.run(changes), "{}", txn.report());
        assert!(txn.apply_all(true), "{}", txn.report());
    }
    let elapsed = start.elapsed();
    let turns = setup.proxies.iter().zip(before).map(|(p, b)| p.turns.load(Ordering::Relaxed) - b).collect();
    (elapsed, turns)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") && !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let one = setup(1);
    let ten = setup(10);
    let (stepwise, stepwise_turns) = transaction(&one, &change_set(0), false);
    let (atomic, atomic_turns) = transaction(&one, &change_set(1), true);
    println!("{STEPS}-step change set, {} ms added one-way delay, one remote:", DELAY.as_millis());
    println!("  step by step, plain apply:           {:>8.1} ms, {:>3} round trips", ms(stepwise), stepwise_turns[0]);
    println!("  change set, confirmed apply+confirm: {:>8.1} ms, {:>3} round trips", ms(atomic), atomic_turns[0]);
    let rounds = 3;
    let (mut ones, mut tens, mut most) = (Vec::new(), Vec::new(), 0);
    for round in 0..rounds {
        ones.push(transaction(&one, &change_set(10 + round), true).0);
        let (time, turns) = transaction(&ten, &change_set(10 + round), true);
        most = most.max(turns.iter().copied().max().unwrap_or(0));
        tens.push(time);
    }
    let (one_time, ten_time) = (median(ones), median(tens));
    let ratio = ten_time.as_secs_f64() / one_time.as_secs_f64();
    println!("all-or-nothing transaction, median of {rounds}:");
    println!("  1 remote:   {:>8.1} ms", ms(one_time));
    println!("  10 remotes: {:>8.1} ms (at most {most} round trips per remote)", ms(ten_time));
    println!("  ratio 10/1: {ratio:.2}x (target <= 1.3x) {}", if ratio <= 1.3 { "OK" } else { "OVER TARGET" });
}
