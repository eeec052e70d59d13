//! Many concurrent clients race for the lock and for changes: there are never two holders, and
//! no change is accepted without the valid token while the lock is held.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::Server;

const SDN: &str = "/api2/json/cluster/sdn";
const THREADS: usize = 12;
const ROUNDS: usize = 25;

/// Who the test believes holds the lock (0: nobody), and a counter bumped on every change of it.
struct Holder {
    id: AtomicUsize,
    generation: AtomicU64,
}

#[test]
fn never_two_holders_never_an_unauthorized_change() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let holder = Arc::new(Holder { id: AtomicUsize::new(0), generation: AtomicU64::new(0) });
    let accepted_while_locked = Arc::new(Mutex::new(Vec::<String>::new()));
    let acquisitions = Arc::new(AtomicUsize::new(0));

    let clients: Vec<_> = (1..=THREADS).map(|i| server.client(&format!("racer{i}"))).collect();
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, client)| {
            let me = index + 1;
            let holder = holder.clone();
            let violations = accepted_while_locked.clone();
            let acquisitions = acquisitions.clone();
            std::thread::spawn(move || {
                let mut stale_tokens: Vec<String> = Vec::new();
                for round in 0..ROUNDS {
                    let zone = format!("t{me}x{round}");
                    let lock = client.post(&format!("{SDN}/lock"), &[("allow-pending", "1")]);
                    if lock.status == 200 {
                        let token = lock.data().as_str().unwrap().to_string();
                        let previous = holder.id.compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst);
                        assert!(previous.is_ok(), "two lock holders: {me} and {:?}", previous);
                        holder.generation.fetch_add(1, Ordering::SeqCst);
                        acquisitions.fetch_add(1, Ordering::SeqCst);

                        client
                            .post(&format!("{SDN}/zones"), &[("zone", &zone), ("type", "simple"), ("lock-token", &token)])
                            .expect(200);
                        // Let the others hammer the locked configuration for a moment.
                        std::thread::sleep(std::time::Duration::from_millis(5));

                        // Mark "nobody" before the release is sent: once the server has released,
                        // someone else may take it before we could clear the marker.
                        holder.id.store(0, Ordering::SeqCst);
                        holder.generation.fetch_add(1, Ordering::SeqCst);
                        let release = match round % 3 {
                            0 => client.put(SDN, &[("lock-token", &token)]),
                            1 => client.post(&format!("{SDN}/rollback"), &[("lock-token", &token)]),
                            _ => client.delete(&format!("{SDN}/lock"), &[("lock-token", &token)]),
                        };
                        assert_eq!(release.status, 200, "release failed: {release:?}");
                        stale_tokens.push(token);
                    } else {
                        assert_eq!(lock.status, 423, "unexpected lock answer {lock:?}");
                        // Stale and forged tokens are always refused.
                        let token = stale_tokens.last().cloned().unwrap_or_else(|| "0190b5a4-0000-7000-8000-000000000000".into());
                        let r = client.post(&format!("{SDN}/zones"), &[("zone", &zone), ("type", "simple"), ("lock-token", &token)]);
                        assert_eq!(r.status, 423, "a change with a stale token was not refused: {r:?}");
                        // A change without a token must be refused if the lock was held the whole time.
                        let generation = holder.generation.load(Ordering::SeqCst);
                        let held_before = holder.id.load(Ordering::SeqCst) != 0;
                        let r = client.post(&format!("{SDN}/zones"), &[("zone", &zone), ("type", "simple")]);
                        let held_throughout = held_before
                            && holder.id.load(Ordering::SeqCst) != 0
                            && holder.generation.load(Ordering::SeqCst) == generation;
                        if r.status == 200 && held_throughout {
                            violations.lock().unwrap().push(zone.clone());
                        }
                        assert!(matches!(r.status, 200 | 423), "unexpected answer {r:?}");
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("racer failed");
    }
    let violations = accepted_while_locked.lock().unwrap();
    assert!(violations.is_empty(), "changes accepted without token while locked: {violations:?}");
    assert!(acquisitions.load(Ordering::SeqCst) >= THREADS, "too few lock acquisitions to mean anything");
    drop(server);
}
