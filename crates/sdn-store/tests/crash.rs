//! Crash safety: a writer process is killed with SIGKILL at random moments; after reopening,
//! every commit it acknowledged is there and no commit is there in part.
//!
//! The writer is this test binary re-executed with [`CHILD_ENV`] set, running `crash_child`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sdn_store::{Commit, Guard, SqliteStore, Store, Txn};

const CHILD_ENV: &str = "SDN_STORE_CRASH_CHILD_DB";
const ROUNDS: usize = 6;

fn counter_key() -> &'static str {
    "crash/counter"
}

/// A payload spanning several pages, so a torn commit would be visible.
fn payload(n: u64) -> Vec<u8> {
    (0..10_000u64)
        .map(|i| (n.wrapping_mul(31).wrapping_add(i) % 251) as u8)
        .collect()
}

/// Commits txn number `n`: guarded on the counter being `n - 1`, it writes two entries,
/// moves the `tmp` marker from `n - 1` to `n` and bumps the counter.
fn numbered_txn(n: u64) -> Txn {
    let prev = n - 1;
    let expect = if prev == 0 {
        None
    } else {
        Some(prev.to_string().into_bytes())
    };
    Txn::new()
        .guard(Guard::Value {
            key: counter_key().into(),
            value: expect,
        })
        .put(format!("crash/{n:08}/a"), n.to_string())
        .put(format!("crash/{n:08}/b"), payload(n))
        .delete(format!("crash/{prev:08}/tmp"))
        .put(format!("crash/{n:08}/tmp"), "t")
        .put(counter_key(), n.to_string())
}

fn read_counter(store: &SqliteStore) -> u64 {
    match store.get(counter_key()).expect("get counter") {
        Some(e) => String::from_utf8(e.value)
            .expect("utf8")
            .parse()
            .expect("counter is a number"),
        None => 0,
    }
}

/// The writer half; does nothing unless started by `killed_writer_loses_no_acknowledged_commit`.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = SqliteStore::open(Path::new(&path)).expect("child: open");
    let mut n = read_counter(&store) + 1;
    loop {
        match store.commit(numbered_txn(n)).expect("child: commit") {
            Commit::Committed(_) => println!("ACK {n}"),
            Commit::GuardFailed => panic!("child: guard failed at {n}: another writer?"),
        }
        n += 1;
    }
}

/// Checks the invariants after a crash; returns the number of the last commit present.
fn verify(path: &Path, acked: u64, seed: u64) -> u64 {
    let store = SqliteStore::open(path).expect("reopen after kill");
    let c = read_counter(&store);
    assert!(
        c >= acked,
        "seed {seed}: acknowledged txn {acked} lost, counter is {c}"
    );
    let (entries, rev) = store.list("crash/").expect("list");
    assert_eq!(rev, c, "seed {seed}: one revision per numbered txn");
    let expected_len = if c == 0 { 0 } else { 2 * c as usize + 2 };
    assert_eq!(
        entries.len(),
        expected_len,
        "seed {seed}: entries of a partial txn present (counter {c})"
    );
    for j in 1..=c {
        let a = store
            .get(&format!("crash/{j:08}/a"))
            .expect("get")
            .unwrap_or_else(|| panic!("seed {seed}: {j}/a missing"));
        let b = store
            .get(&format!("crash/{j:08}/b"))
            .expect("get")
            .unwrap_or_else(|| panic!("seed {seed}: {j}/b missing"));
        assert_eq!(a.value, j.to_string().into_bytes());
        assert_eq!(b.value, payload(j), "seed {seed}: {j}/b corrupt");
        assert_eq!((a.mod_revision, b.mod_revision), (j, j));
    }
    if c > 0 {
        assert!(
            store
                .get(&format!("crash/{c:08}/tmp"))
                .expect("get")
                .is_some(),
            "seed {seed}: tmp marker of {c} missing"
        );
    }
    c
}

/// xorshift64: enough randomness for kill timings without a dependency.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn killed_writer_loses_no_acknowledged_commit() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.db");
    let exe = std::env::current_exe().expect("test binary path");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let mut rng = seed;
    let mut acked_max = 0u64;
    let mut acks_total = 0usize;
    let mut last_present = 0u64;
    for _ in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn writer");
        let stdout = child.stdout.take().expect("child stdout");
        let reader = thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                // The harness may print "test crash_child ... " on the same line as the first ack.
                .filter_map(|line| {
                    line.split_once("ACK ")
                        .and_then(|(_, n)| n.trim().parse::<u64>().ok())
                })
                .collect::<Vec<u64>>()
        });
        thread::sleep(Duration::from_millis(150 + next_random(&mut rng) % 500));
        child.kill().expect("kill -9 writer");
        child.wait().expect("reap writer");
        let acks = reader.join().expect("reader thread");
        // Acks of one run are consecutive and continue where the file was.
        if let Some(&first) = acks.first() {
            assert_eq!(
                first,
                last_present + 1,
                "seed {seed}: writer resumed at the wrong number"
            );
        }
        acks_total += acks.len();
        acked_max = acked_max.max(acks.last().copied().unwrap_or(0));
        last_present = verify(&path, acked_max, seed);
    }
    eprintln!("{acks_total} acknowledged commits over {ROUNDS} kills, {last_present} present (seed {seed})");
    assert!(
        acks_total > 0,
        "the writer never acknowledged a commit; the test proved nothing"
    );
}
