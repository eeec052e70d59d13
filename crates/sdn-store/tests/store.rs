//! Behaviour of `SqliteStore` through the `Store` trait: guards, atomicity, prefixes,
//! revisions, durability, several handles on one file, watches and concurrent CAS.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use sdn_store::{Commit, Entry, Guard, SqliteStore, Store, StoreError, Txn};

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    (dir, path)
}

fn committed(c: Commit) -> u64 {
    match c {
        Commit::Committed(rev) => rev,
        Commit::GuardFailed => panic!("expected a commit, the guards failed"),
    }
}

fn keys(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.key.as_str()).collect()
}

#[test]
fn new_store_is_empty_at_revision_zero() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).expect("open");
    assert_eq!(store.revision().expect("revision"), 0);
    assert_eq!(store.get("a").expect("get"), None);
    assert_eq!(store.list("").expect("list"), (vec![], 0));
}

#[test]
fn put_get_delete_and_mod_revision() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).expect("open");
    let r1 = committed(
        store
            .commit(Txn::new().put("a", "1").put("b", "2"))
            .expect("commit"),
    );
    assert_eq!(r1, 1);
    let r2 = committed(store.commit(Txn::new().put("a", "3")).expect("commit"));
    assert_eq!(r2, 2);
    let a = store.get("a").expect("get").expect("a present");
    assert_eq!((a.value.as_slice(), a.mod_revision), (&b"3"[..], 2));
    let b = store.get("b").expect("get").expect("b present");
    assert_eq!(b.mod_revision, 1);
    committed(store.commit(Txn::new().delete("a")).expect("commit"));
    assert_eq!(store.get("a").expect("get"), None);
    assert_eq!(store.revision().expect("revision"), 3);
}

#[test]
fn mod_revision_guard() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).expect("open");
    // 0 means absent: create-if-absent succeeds once.
    let r1 = committed(
        store
            .commit(Txn::new().unchanged("lock", 0).put("lock", "t1"))
            .expect("commit"),
    );
    assert_eq!(
        store
            .commit(Txn::new().unchanged("lock", 0).put("lock", "t2"))
            .expect("commit"),
        Commit::GuardFailed
    );
    // Stale revision fails, current one passes.
    let r2 = committed(
        store
            .commit(Txn::new().unchanged("lock", r1).put("lock", "t3"))
            .expect("commit"),
    );
    assert_eq!(
        store
            .commit(Txn::new().unchanged("lock", r1).put("lock", "t4"))
            .expect("commit"),
        Commit::GuardFailed
    );
    assert_eq!(
        store.get("lock").expect("get").expect("present").value,
        b"t3"
    );
    // A guard on another key's revision: `other` is absent, so its revision 0 holds.
    committed(
        store
            .commit(
                Txn::new()
                    .unchanged("other", 0)
                    .unchanged("lock", r2)
                    .delete("lock"),
            )
            .expect("commit"),
    );
    assert_eq!(
        store
            .commit(Txn::new().unchanged("lock", r2).put("x", "y"))
            .expect("commit"),
        Commit::GuardFailed
    );
}

#[test]
fn value_guard() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).expect("open");
    let absent = Guard::Value {
        key: "k".into(),
        value: None,
    };
    committed(
        store
            .commit(Txn::new().guard(absent.clone()).put("k", "v1"))
            .expect("commit"),
    );
    assert_eq!(
        store
            .commit(Txn::new().guard(absent).put("k", "v2"))
            .expect("commit"),
        Commit::GuardFailed
    );
    let wrong = Guard::Value {
        key: "k".into(),
        value: Some(b"nope".to_vec()),
    };
    assert_eq!(
        store
            .commit(Txn::new().guard(wrong).put("k", "v2"))
            .expect("commit"),
        Commit::GuardFailed
    );
    let right = Guard::Value {
        key: "k".into(),
        value: Some(b"v1".to_vec()),
    };
    committed(
        store
            .commit(Txn::new().guard(right).put("k", "v2"))
            .expect("commit"),
    );
    assert_eq!(store.get("k").expect("get").expect("present").value, b"v2");
    // The empty value is a value, not absence.
    committed(store.commit(Txn::new().put("e", "")).expect("commit"));
    let empty = Guard::Value {
        key: "e".into(),
        value: Some(Vec::new()),
    };
    committed(
        store
            .commit(Txn::new().guard(empty).delete("e"))
            .expect("commit"),
    );
    let absent_now = Guard::Value {
        key: "e".into(),
        value: None,
    };
    committed(store.commit(Txn::new().guard(absent_now)).expect("commit"));
}

#[test]
fn failing_guard_writes_nothing() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).expect("open");
    committed(
        store
            .commit(Txn::new().put("keep", "1").put("p/a", "1"))
            .expect("commit"),
    );
    let before = store.list("").expect("list");
    // The failing guard comes last, after guards that hold; no op may be applied.
    let txn = Txn::new()
        .unchanged("keep", 1)
        .unchanged("missing", 7)
        .put("new", "x")
        .put("keep", "2")
        .delete("keep")
        .delete_prefix("p/");
    assert_eq!(store.commit(txn).expect("commit"), Commit::GuardFailed);
    assert_eq!(store.list("").expect("list"), before);
    assert_eq!(store.revision().expect("revision"), 1);
}

#[test]
fn ops_apply_in_order_within_one_revision() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).expect("open");
    let rev = committed(
        store
            .commit(
                Txn::new()
                    .put("a", "1")
                    .delete("a")
                    .put("b", "1")
                    .put("b", "2")
                    .delete_prefix("c")
                    .put("c/x", "3"),
            )
            .expect("commit"),
    );
    let (entries, at) = store.list("").expect("list");
    assert_eq!(at, rev);
    assert_eq!(keys(&entries), ["b", "c/x"]);
    assert!(entries.iter().all(|e| e.mod_revision == rev));
    assert_eq!(entries[0].value, b"2");
}

#[test]
fn prefix_list_and_delete_treat_like_wildcards_literally() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).expect("open");
    let all = [
        "a%b/1",
        "a%b/2",
        "axb/1",
        "a_c/1",
        "abc/1",
        "a\\b/1",
        "a",
        "b",
        "a%",
        "\u{10FFFF}x",
        "",
    ];
    let mut txn = Txn::new();
    for k in all {
        txn = txn.put(k, k);
    }
    committed(store.commit(txn).expect("commit"));

    assert_eq!(
        keys(&store.list("a%b/").expect("list").0),
        ["a%b/1", "a%b/2"]
    );
    assert_eq!(keys(&store.list("a_").expect("list").0), ["a_c/1"]);
    assert_eq!(
        keys(&store.list("a%").expect("list").0),
        ["a%", "a%b/1", "a%b/2"]
    );
    assert_eq!(keys(&store.list("a\\").expect("list").0), ["a\\b/1"]);
    assert_eq!(
        keys(&store.list("\u{10FFFF}").expect("list").0),
        ["\u{10FFFF}x"]
    );
    assert_eq!(store.list("").expect("list").0.len(), all.len());
    assert_eq!(
        keys(&store.list("zzz").expect("list").0),
        Vec::<&str>::new()
    );

    committed(
        store
            .commit(Txn::new().delete_prefix("a_"))
            .expect("commit"),
    );
    committed(
        store
            .commit(Txn::new().delete_prefix("a%b"))
            .expect("commit"),
    );
    let (left, _) = store.list("").expect("list");
    assert_eq!(
        keys(&left),
        [
            "",
            "a",
            "a%",
            "a\\b/1",
            "abc/1",
            "axb/1",
            "b",
            "\u{10FFFF}x"
        ]
    );

    committed(store.commit(Txn::new().delete_prefix("")).expect("commit"));
    assert!(store.list("").expect("list").0.is_empty());
}

#[test]
fn revision_is_monotonic_and_counts_commits_only() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).expect("open");
    let mut last = 0;
    for i in 0..20 {
        let txn = if i % 3 == 0 {
            Txn::new().unchanged("k", 999).put("k", "x")
        } else {
            Txn::new().put("k", i.to_string())
        };
        match store.commit(txn).expect("commit") {
            Commit::Committed(rev) => {
                assert_eq!(rev, last + 1);
                last = rev;
            }
            Commit::GuardFailed => assert_eq!(i % 3, 0),
        }
        assert_eq!(store.revision().expect("revision"), last);
    }
    assert_eq!(last, 13);
}

#[test]
fn committed_data_survives_reopen() {
    let (_dir, path) = temp_db();
    {
        let store = SqliteStore::open(&path).expect("open");
        committed(
            store
                .commit(Txn::new().put("a", "1").put("b", "2"))
                .expect("commit"),
        );
        committed(
            store
                .commit(Txn::new().delete("b").put("c", vec![0u8, 255]))
                .expect("commit"),
        );
    }
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(store.revision().expect("revision"), 2);
    let (entries, rev) = store.list("").expect("list");
    assert_eq!(rev, 2);
    assert_eq!(
        entries,
        vec![
            Entry {
                key: "a".into(),
                value: b"1".to_vec(),
                mod_revision: 1
            },
            Entry {
                key: "c".into(),
                value: vec![0, 255],
                mod_revision: 2
            },
        ]
    );
    assert_eq!(
        committed(store.commit(Txn::new().put("d", "")).expect("commit")),
        3
    );
}

#[test]
fn refuses_a_foreign_sqlite_file() {
    let (_dir, path) = temp_db();
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
        .expect("create");
    drop(conn);
    match SqliteStore::open(&path) {
        Err(StoreError::Backend(msg)) => assert!(msg.contains("not an sdnd store"), "{msg}"),
        other => panic!("expected a Backend error, got {other:?}"),
    }
}

#[test]
fn refuses_a_newer_schema() {
    let (_dir, path) = temp_db();
    drop(SqliteStore::open(&path).expect("open"));
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute_batch("PRAGMA user_version = 99")
        .expect("bump");
    drop(conn);
    match SqliteStore::open(&path) {
        Err(StoreError::Backend(msg)) => assert!(msg.contains("schema version 99"), "{msg}"),
        other => panic!("expected a Backend error, got {other:?}"),
    }
}

#[test]
fn two_handles_see_each_others_commits_and_guards() {
    let (_dir, path) = temp_db();
    let a = SqliteStore::open(&path).expect("open a");
    let b = SqliteStore::open(&path).expect("open b");
    let r1 = committed(a.commit(Txn::new().put("lock", "a")).expect("commit"));
    let seen = b.get("lock").expect("get").expect("b sees a's write");
    assert_eq!((seen.value.as_slice(), seen.mod_revision), (&b"a"[..], r1));
    let r2 = committed(
        b.commit(Txn::new().unchanged("lock", r1).put("lock", "b"))
            .expect("commit"),
    );
    assert_eq!(r2, r1 + 1);
    // a's view is stale now: its guard must fail.
    assert_eq!(
        a.commit(Txn::new().unchanged("lock", r1).put("lock", "a2"))
            .expect("commit"),
        Commit::GuardFailed
    );
    assert_eq!(a.revision().expect("revision"), r2);
    assert_eq!(a.get("lock").expect("get").expect("present").value, b"b");
}

#[test]
fn wait_for_change_times_out_without_a_change() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).expect("open");
    let rev = committed(
        store
            .commit(Txn::new().put("other/x", "1"))
            .expect("commit"),
    );
    let start = Instant::now();
    let at = store
        .wait_for_change("watched/", 0, Duration::from_millis(300))
        .expect("wait");
    let waited = start.elapsed();
    assert_eq!(at, rev);
    assert!(
        waited >= Duration::from_millis(300),
        "returned after {waited:?}"
    );
    assert!(waited < Duration::from_secs(2), "returned after {waited:?}");
}

#[test]
fn wait_for_change_returns_at_once_for_a_past_change() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).expect("open");
    let rev = committed(store.commit(Txn::new().put("w/a", "1")).expect("commit"));
    committed(store.commit(Txn::new().put("other", "1")).expect("commit"));
    assert_eq!(
        store
            .wait_for_change("w/", rev - 1, Duration::from_secs(10))
            .expect("wait"),
        rev + 1
    );
    // Nothing under w/ after `rev`: times out.
    let start = Instant::now();
    store
        .wait_for_change("w/", rev, Duration::from_millis(150))
        .expect("wait");
    assert!(start.elapsed() >= Duration::from_millis(150));
}

/// Spawns a waiter, gives it a moment to block, commits through `writer`, and returns the
/// revision the waiter returned (`None` if it did not return within `bound`) and the
/// committed revision.
fn woken_by(waiter: Arc<SqliteStore>, writer: &SqliteStore, txn: Txn, prefix: &'static str, bound: Duration) -> (Option<u64>, u64) {
    let after = writer.revision().expect("revision");
    let (woke, returned) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let r = waiter.wait_for_change(prefix, after, Duration::from_secs(3600)).expect("wait");
        let _ = woke.send(r);
    });
    // Only a hint: a waiter that starts after the commit returns at once all the same.
    thread::sleep(Duration::from_millis(50));
    let rev = committed(writer.commit(txn).expect("commit"));
    (returned.recv_timeout(bound).ok(), rev)
}

#[test]
fn wait_for_change_is_woken_by_a_local_commit() {
    let (_dir, path) = temp_db();
    // It would look again only after an hour: only the local wake-up can end the wait.
    let store = Arc::new(SqliteStore::open(&path).expect("open").with_poll_interval(Duration::from_secs(3600)));
    let (returned, rev) = woken_by(store.clone(), &store, Txn::new().put("w/a", "1"), "w/", Duration::from_secs(60));
    assert_eq!(returned, Some(rev), "a local commit must wake the waiter without polling");
}

#[test]
fn wait_for_change_sees_a_commit_through_another_handle() {
    let (_dir, path) = temp_db();
    let waiter = Arc::new(SqliteStore::open(&path).expect("open"));
    let writer = SqliteStore::open(&path).expect("open");
    let (returned, rev) = woken_by(waiter, &writer, Txn::new().put("w/a", "1"), "w/", Duration::from_secs(60));
    assert_eq!(returned, Some(rev), "polling must find another handle's commit");
}

#[test]
fn wait_for_change_sees_deletes_and_ignores_other_prefixes() {
    let (_dir, path) = temp_db();
    let waiter = Arc::new(SqliteStore::open(&path).expect("open"));
    let writer = SqliteStore::open(&path).expect("open");
    committed(
        writer
            .commit(Txn::new().put("w/a", "1").put("w/b", "1"))
            .expect("commit"),
    );

    // A commit elsewhere (and a delete of an absent key under w/) must not wake a w/ waiter.
    let after = writer.revision().expect("revision");
    let w = waiter.clone();
    let handle = thread::spawn(move || {
        let start = Instant::now();
        w.wait_for_change("w/", after, Duration::from_millis(500))
            .expect("wait");
        start.elapsed()
    });
    thread::sleep(Duration::from_millis(50));
    committed(
        writer
            .commit(
                Txn::new()
                    .put("x/a", "1")
                    .put("w", "1")
                    .put("w0", "1")
                    .delete("w/zzz"),
            )
            .expect("commit"),
    );
    let waited = handle.join().expect("waiter thread");
    assert!(
        waited >= Duration::from_millis(500),
        "woken early after {waited:?}"
    );

    let bound = Duration::from_secs(60);
    let (returned, rev) = woken_by(waiter.clone(), &writer, Txn::new().delete("w/a"), "w/", bound);
    assert_eq!(returned, Some(rev));
    let (returned, rev) = woken_by(waiter, &writer, Txn::new().delete_prefix("w/"), "w/", bound);
    assert_eq!(returned, Some(rev));
}

#[test]
fn busy_writer_gives_unavailable_after_the_timeout() {
    let (_dir, path) = temp_db();
    let store =
        SqliteStore::open_with_busy_timeout(&path, Duration::from_millis(200)).expect("open");
    committed(store.commit(Txn::new().put("a", "1")).expect("commit"));
    // Another process holding the write lock: a raw connection in BEGIN IMMEDIATE.
    let blocker = rusqlite::Connection::open(&path).expect("open blocker");
    blocker.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let start = Instant::now();
    match store.commit(Txn::new().put("a", "2")) {
        Err(StoreError::Unavailable(msg)) => assert!(msg.contains("locked"), "{msg}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(start.elapsed() >= Duration::from_millis(200));
    // Readers are not blocked by the writer (WAL).
    assert_eq!(store.get("a").expect("get").expect("present").value, b"1");
    blocker.execute_batch("ROLLBACK").expect("unlock");
    committed(store.commit(Txn::new().put("a", "2")).expect("commit"));
}

#[test]
fn concurrent_compare_and_swap_increments() {
    let (_dir, path) = temp_db();
    let stores = [
        Arc::new(SqliteStore::open(&path).expect("open")),
        Arc::new(SqliteStore::open(&path).expect("open")),
    ];
    const THREADS: usize = 6;
    const ATTEMPTS: usize = 30;
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let store = stores[i % 2].clone();
            thread::spawn(move || {
                let mut successes = 0u64;
                for _ in 0..ATTEMPTS {
                    let (value, rev) = match store.get("counter").expect("get") {
                        Some(e) => (
                            String::from_utf8(e.value)
                                .expect("utf8")
                                .parse::<u64>()
                                .expect("number"),
                            e.mod_revision,
                        ),
                        None => (0, 0),
                    };
                    let txn = Txn::new()
                        .unchanged("counter", rev)
                        .put("counter", (value + 1).to_string());
                    if let Commit::Committed(_) = store.commit(txn).expect("commit") {
                        successes += 1;
                    }
                }
                successes
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    assert!(total > 0);
    let final_value: u64 = String::from_utf8(
        stores[0]
            .get("counter")
            .expect("get")
            .expect("present")
            .value,
    )
    .expect("utf8")
    .parse()
    .expect("number");
    assert_eq!(final_value, total);
    // Every successful CAS was one commit; failed ones bumped nothing.
    assert_eq!(stores[1].revision().expect("revision"), total);
}
