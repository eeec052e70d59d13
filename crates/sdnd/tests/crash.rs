//! kill -9 at random moments during locked changes, apply and rollback: after a restart the
//! state is always the last acknowledged one or the one that was in flight, never a mix.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Client, Server};
use serde_json::Value;

const SDN: &str = "/api2/json/cluster/sdn";

/// What the test can observe of the whole state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct State {
    pending: BTreeSet<String>,
    running: BTreeSet<String>,
    locked: bool,
}

fn observe(client: &Client) -> State {
    let names = |list: Value| -> BTreeSet<String> {
        list.as_array().unwrap().iter().map(|o| o["vnet"].as_str().unwrap().to_string()).collect()
    };
    State {
        pending: names(client.get(&format!("{SDN}/vnets"), &[]).ok()),
        running: names(client.get(&format!("{SDN}/vnets"), &[("running", "1")]).ok()),
        locked: client.get(&format!("{SDN}/lock"), &[]).ok()["locked"] == 1,
    }
}

/// The acknowledged state, and the state of the request in flight (if any).
#[derive(Default)]
struct Journal {
    acked: State,
    in_flight: Option<State>,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs random operations until the server dies, journaling each. Vnet names carry the round
/// so that no round re-creates a name an earlier one left behind.
fn drive(client: Client, journal: Arc<Mutex<Journal>>, token: Arc<Mutex<Option<String>>>, round: u32, seed: u64) -> Result<(), String> {
    let mut rng = Rng(seed | 1);
    let mut counter = 0u64;
    loop {
        let state = journal.lock().unwrap().acked.clone();
        let mut next = state.clone();
        let held = token.lock().unwrap().clone();
        let choice = rng.next() % 10;
        let request: Box<dyn Fn() -> common::Reply> = match (held.clone(), choice) {
            (None, _) => {
                next.locked = true;
                let c = client.clone();
                Box::new(move || c.post(&format!("{SDN}/lock"), &[("allow-pending", "1")]))
            }
            (Some(t), 0..=4) => {
                counter += 1;
                let name = format!("v{round}x{counter}");
                next.pending.insert(name.clone());
                let c = client.clone();
                Box::new(move || c.post(&format!("{SDN}/vnets"), &[("vnet", &name), ("zone", "z1"), ("lock-token", &t)]))
            }
            (Some(t), 5..=6) if !state.pending.is_empty() => {
                let victim = state.pending.iter().nth((rng.next() as usize) % state.pending.len()).unwrap().clone();
                next.pending.remove(&victim);
                let c = client.clone();
                Box::new(move || c.delete(&format!("{SDN}/vnets/{victim}"), &[("lock-token", &t)]))
            }
            (Some(t), 7..=8) => {
                next.running = next.pending.clone();
                next.locked = false;
                let c = client.clone();
                Box::new(move || c.put(SDN, &[("lock-token", &t)]))
            }
            (Some(t), _) => {
                next.pending = next.running.clone();
                next.locked = false;
                let c = client.clone();
                Box::new(move || c.post(&format!("{SDN}/rollback"), &[("lock-token", &t)]))
            }
        };
        journal.lock().unwrap().in_flight = Some(next.clone());
        let reply = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(&request)) {
            Ok(reply) => reply,
            Err(_) => return Ok(()), // the server died under us
        };
        if reply.status != 200 {
            return Err(format!("operation refused unexpectedly: {reply:?}"));
        }
        if held.is_none() {
            *token.lock().unwrap() = Some(reply.data().as_str().unwrap().to_string());
        } else if !next.locked {
            *token.lock().unwrap() = None;
        }
        let mut j = journal.lock().unwrap();
        j.acked = next;
        j.in_flight = None;
    }
}

#[test]
fn kill_9_leaves_an_acknowledged_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let mut client = server.client("crash");
    client.post(&format!("{SDN}/zones"), &[("zone", "z1"), ("type", "simple")]).ok();
    let upid = client.put(SDN, &[]).ok();
    client.wait_task(upid.as_str().unwrap());

    let journal = Arc::new(Mutex::new(Journal::default()));
    let token = Arc::new(Mutex::new(None));
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut checked = 0;
    for round in 0..6 {
        let driver = {
            let (client, journal, token) = (client.clone(), journal.clone(), token.clone());
            let s = seed;
            std::thread::spawn(move || drive(client, journal, token, round, s))
        };
        seed = Rng(seed | 1).next();
        std::thread::sleep(Duration::from_millis(150 + seed % 500));
        server.kill();
        driver.join().expect("driver thread").expect("driver");

        server = Server::start(dir.path());
        client = server.client(&format!("after{round}"));
        let mut observed = observe(&client);
        let j = journal.lock().unwrap();
        let acceptable = observed == j.acked || j.in_flight.as_ref() == Some(&observed);
        assert!(
            acceptable,
            "round {round}: state after kill -9 is neither acknowledged nor in flight:\nobserved {observed:?}\nacked    {:?}\nflight   {:?}",
            j.acked, j.in_flight
        );
        checked += j.acked.pending.len();
        drop(j);
        // Continue from what the store holds; a lock whose token never reached us is forced open.
        let mut held = token.lock().unwrap();
        if observed.locked && held.is_none() {
            client.delete(&format!("{SDN}/lock"), &[("force", "1")]).ok();
            observed.locked = false;
        }
        if !observed.locked {
            *held = None;
        }
        drop(held);
        let mut j = journal.lock().unwrap();
        j.acked = observed;
        j.in_flight = None;
    }
    assert!(checked > 0, "the driver never got anything acknowledged");
}
