//! The etcd backend against a real single-member etcd on loopback, and the behaviour both
//! backends must share (guards, ordered prefix deletes, expiring entries, watches), run on
//! each. Needs the `etcd` binary (scripts/install-etcd.sh).

use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use sdn_store::{Commit, CommitOrRead, EtcdOptions, EtcdStore, Guard, SqliteStore, Store, StoreError, Txn};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The client port of this test process's shared etcd (the test harness's: one member,
/// started on first use, killed and its data dir removed when the process is gone).
fn shared_port() -> u16 {
    let url = sdnd_testkit::etcd::shared();
    url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("etcd://127.0.0.1:PORT")
}

static PREFIX: AtomicU32 = AtomicU32::new(0);

fn options(port: u16) -> EtcdOptions {
    let n = PREFIX.fetch_add(1, Ordering::SeqCst);
    let mut options = EtcdOptions::new(
        vec![format!("127.0.0.1:{port}")],
        format!("/t-{}-{n}/", std::process::id()),
    );
    options.request_timeout = Duration::from_secs(2);
    options
}

/// A store on a fresh prefix of the shared etcd, waiting for it to come up.
fn etcd_store() -> EtcdStore {
    let port = shared_port();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match EtcdStore::connect(options(port)) {
            Ok(store) => return store,
            Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("etcd did not come up: {e}"),
        }
    }
}

fn sqlite_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("s.db")).expect("open");
    (dir, store)
}

/// Runs `check` on both backends.
fn on_both(check: impl Fn(&dyn Store)) {
    let (_dir, sqlite) = sqlite_store();
    check(&sqlite);
    check(&etcd_store());
}

fn committed(c: Commit) -> u64 {
    match c {
        Commit::Committed(rev) => rev,
        Commit::GuardFailed => panic!("expected a commit, the guards failed"),
    }
}

#[test]
fn put_get_list_and_revisions() {
    on_both(|store| {
        let r1 = committed(
            store
                .commit(Txn::new().put("a/1", "x").put("a/2", "y").put("b", "z"))
                .expect("commit"),
        );
        assert!(r1 > 0);
        let e = store.get("a/1").expect("get").expect("present");
        assert_eq!(
            (e.key.as_str(), e.value.as_slice(), e.mod_revision),
            ("a/1", &b"x"[..], r1)
        );
        let (entries, rev) = store.list("a/").expect("list");
        assert_eq!(
            entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
            ["a/1", "a/2"]
        );
        // Revisions are global: on a shared etcd other prefixes may have moved them on.
        assert!(rev >= r1);
        assert!(store.revision().expect("revision") >= rev);
        let r2 = committed(store.commit(Txn::new().delete("a/1")).expect("commit"));
        assert!(r2 > r1);
        assert_eq!(store.get("a/1").expect("get"), None);
    });
}

#[test]
fn guards_are_checked_atomically() {
    on_both(|store| {
        // Absence, by revision 0 and by value None.
        let r1 = committed(
            store
                .commit(
                    Txn::new()
                        .unchanged("k", 0)
                        .guard(Guard::Value {
                            key: "v".into(),
                            value: None,
                        })
                        .put("k", "1")
                        .put("v", "a"),
                )
                .expect("commit"),
        );
        assert_eq!(
            store
                .commit(Txn::new().unchanged("k", 0).put("k", "2"))
                .expect("commit"),
            Commit::GuardFailed
        );
        assert_eq!(store.get("k").expect("get").expect("k").value, b"1");
        committed(
            store
                .commit(Txn::new().unchanged("k", r1).put("k", "2"))
                .expect("commit"),
        );
        // A failing guard among holding ones writes nothing.
        let failed = store
            .commit(
                Txn::new()
                    .guard(Guard::Value {
                        key: "v".into(),
                        value: Some(b"a".to_vec()),
                    })
                    .unchanged("k", r1)
                    .put("other", "x"),
            )
            .expect("commit");
        assert_eq!(failed, Commit::GuardFailed);
        assert_eq!(store.get("other").expect("get"), None);
        committed(
            store
                .commit(
                    Txn::new()
                        .guard(Guard::Value {
                            key: "v".into(),
                            value: Some(b"a".to_vec()),
                        })
                        .put("other", "x"),
                )
                .expect("commit"),
        );
    });
}

/// A rollback deletes a prefix and writes its new contents in the same transaction; etcd
/// refuses that shape natively, the backend must still produce the ordered result.
#[test]
fn delete_prefix_then_put_under_it_applies_in_order() {
    on_both(|store| {
        committed(
            store
                .commit(
                    Txn::new()
                        .put("p/a", "1")
                        .put("p/b", "1")
                        .put("p/c", "1")
                        .put("pz", "keep"),
                )
                .expect("commit"),
        );
        committed(
            store
                .commit(
                    Txn::new()
                        .put("p/x", "lost")
                        .delete_prefix("p/")
                        .put("p/b", "2")
                        .put("p/d", "2")
                        .put("p/d", "3")
                        .delete("p/zz"),
                )
                .expect("commit"),
        );
        let (entries, _) = store.list("p").expect("list");
        let got: Vec<(&str, &[u8])> = entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_slice()))
            .collect();
        assert_eq!(
            got,
            [("p/b", &b"2"[..]), ("p/d", &b"3"[..]), ("pz", &b"keep"[..])]
        );
    });
}

#[test]
fn expiring_entries_vanish_for_reads_and_guards() {
    on_both(|store| {
        let rev = committed(
            store
                .commit(
                    Txn::new()
                        .put_expiring("lock", "held", Duration::from_secs(1))
                        .put("plain", "stays"),
                )
                .expect("commit"),
        );
        let entry = store
            .get("lock")
            .expect("get")
            .expect("present before expiry");
        assert_eq!(entry.mod_revision, rev);
        // Taking an unexpired entry as absent fails.
        assert_eq!(
            store
                .commit(Txn::new().unchanged("lock", 0).put("lock", "mine"))
                .expect("commit"),
            Commit::GuardFailed
        );
        // etcd may round a lease up to its minimum ttl and expires it on the leader's tick.
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.get("lock").expect("get").is_some() {
            assert!(
                Instant::now() < deadline,
                "the expiring entry never expired"
            );
            thread::sleep(Duration::from_millis(100));
        }
        assert!(store
            .list("")
            .expect("list")
            .0
            .iter()
            .all(|e| e.key != "lock"));
        assert_eq!(
            store
                .commit(Txn::new().guard(Guard::Value {
                    key: "lock".into(),
                    value: Some(b"held".to_vec())
                }))
                .expect("commit"),
            Commit::GuardFailed
        );
        committed(
            store
                .commit(Txn::new().unchanged("lock", 0).put("lock", "mine"))
                .expect("commit"),
        );
        // A plain put over an expiring entry does not expire.
        assert_eq!(
            store.get("lock").expect("get").expect("lock").value,
            b"mine"
        );
        assert_eq!(
            store.get("plain").expect("get").expect("plain").value,
            b"stays"
        );
    });
}

#[test]
fn overwriting_an_expiring_entry_with_a_plain_put_keeps_it() {
    on_both(|store| {
        committed(
            store
                .commit(Txn::new().put_expiring("k", "a", Duration::from_secs(1)))
                .expect("commit"),
        );
        committed(store.commit(Txn::new().put("k", "b")).expect("commit"));
        thread::sleep(Duration::from_millis(3500));
        assert_eq!(store.get("k").expect("get").expect("kept").value, b"b");
    });
}

#[test]
fn wait_for_change_sees_past_and_future_writes() {
    on_both(|store| {
        let before = committed(store.commit(Txn::new().put("w/a", "1")).expect("commit"));
        let after = committed(store.commit(Txn::new().put("w/b", "1")).expect("commit"));
        // A change already made after `before` wakes at once.
        let start = Instant::now();
        assert!(
            store
                .wait_for_change("w/", before, Duration::from_secs(5))
                .expect("wait")
                >= after
        );
        assert!(start.elapsed() < Duration::from_secs(2));
        // Nothing under x/: the wait times out and reports the current revision (on a
        // shared etcd, other tests' prefixes may have moved it on).
        let start = Instant::now();
        assert!(
            store
                .wait_for_change("x/", before, Duration::from_millis(500))
                .expect("wait")
                >= after
        );
        assert!(start.elapsed() >= Duration::from_millis(450));
    });
}

/// Keys without their values: in order, the first `limit`, the count beyond it, nothing of
/// other prefixes, and no write id counted as an entry (the whole store's keys are what a
/// listing has).
#[test]
fn keys_are_listed_and_counted_without_their_values() {
    on_both(|store| {
        let written = committed(
            store
                .commit(Txn::new().put("ks/c", "3").put("ks/a", "1").put("ks/b", "2").put("kt/a", "x"))
                .expect("commit"),
        );
        let deleted = committed(store.commit(Txn::new().delete("ks/b").put("ks/d", "4")).expect("commit"));
        let all = store.keys("ks/", None).expect("keys");
        assert_eq!(
            all.keys,
            [("ks/a".to_string(), written), ("ks/c".to_string(), written), ("ks/d".to_string(), deleted)]
        );
        assert_eq!(all.total, 3);
        let first = store.keys("ks/", Some(2)).expect("keys");
        assert_eq!(first.keys.iter().map(|(key, _)| key.as_str()).collect::<Vec<_>>(), ["ks/a", "ks/c"]);
        assert_eq!(first.total, 3, "the count goes beyond the limit");
        let counted = store.keys("ks/", Some(0)).expect("count");
        assert!(counted.keys.is_empty());
        assert_eq!(counted.total, 3);
        assert_eq!(store.keys("none/", None).expect("keys"), sdn_store::KeyList::default());
        let (everything, _) = store.list("").expect("list");
        let whole = store.keys("", Some(0)).expect("count");
        assert_eq!(whole.total, everything.len());
        assert_eq!(store.keys("", None).expect("keys").keys.len(), everything.len());
    });
}

/// What changed under a prefix between two revisions: each key once, with its last state
/// (deleted: `None`), nothing from before or from other prefixes.
#[test]
fn changes_through_tells_what_changed_under_a_prefix() {
    on_both(|store| {
        let base = committed(
            store
                .commit(Txn::new().put("cp/a", "1").put("cp/b", "1").put("cp/c", "1"))
                .expect("commit"),
        );
        committed(store.commit(Txn::new().put("cp/a", "2").put("other/x", "1")).expect("commit"));
        committed(store.commit(Txn::new().delete("cp/b").put("cp/d", "1")).expect("commit"));
        let mark = committed(store.commit(Txn::new().put("cp/a", "3").put("cp/~mark", "")).expect("commit"));
        // Written after `through`: not asked for (SQLite may report a later state of a key it
        // lists, never a key changed only afterwards).
        committed(store.commit(Txn::new().put("cp/e", "1")).expect("commit"));
        let changes = store.changes_through("cp/", base, mark).expect("read").expect("history kept");
        let summary: Vec<(String, Option<Vec<u8>>)> =
            changes.into_iter().map(|(key, entry)| (key, entry.map(|e| e.value))).collect();
        assert_eq!(
            summary,
            vec![
                ("cp/a".to_string(), Some(b"3".to_vec())),
                ("cp/b".to_string(), None),
                ("cp/d".to_string(), Some(b"1".to_vec())),
                ("cp/~mark".to_string(), Some(Vec::new())),
            ]
        );
        assert_eq!(store.changes_through("cp/", mark, mark).expect("read"), Some(Vec::new()));
    });
}

/// Catch-up after catch-up (answered from the journal a watch keeps, after the first), and
/// across an etcd restart (its watch ends; the next call starts another from where it
/// stopped): every answer is what changed, as if read from etcd's history.
#[test]
fn changes_through_answers_call_after_call_and_across_a_restart() {
    let (mut cluster, store) = own_etcd(Duration::from_secs(2));
    let values = |changes: Option<sdn_store::KeyChanges>| -> Vec<(String, Option<Vec<u8>>)> {
        let changes = changes.expect("history kept");
        changes.into_iter().map(|(key, entry)| (key, entry.map(|e| e.value))).collect()
    };
    let base = committed(store.commit(Txn::new().put("jr/a", "1")).expect("commit"));
    let mut last = base;
    for round in 0..5 {
        let value = round.to_string();
        let next = committed(store.commit(Txn::new().put("jr/a", value.as_str()).put("jr/~mark", "")).expect("commit"));
        let changes = store.changes_through("jr/", last, next).expect("read");
        assert_eq!(
            values(changes),
            vec![("jr/a".to_string(), Some(value.clone().into_bytes())), ("jr/~mark".to_string(), Some(Vec::new()))]
        );
        last = next;
    }
    cluster.members[0].kill();
    cluster.members[0].start();
    let after_restart = commit_once_back(&store, || Txn::new().delete("jr/a").put("jr/b", "1").put("jr/~mark", ""));
    let changes = store.changes_through("jr/", last, after_restart).expect("read");
    assert_eq!(
        values(changes),
        vec![("jr/a".to_string(), None), ("jr/b".to_string(), Some(b"1".to_vec())), ("jr/~mark".to_string(), Some(Vec::new()))]
    );
    // From the first write on: everything since, each key once.
    let changes = store.changes_through("jr/", base, after_restart).expect("read");
    assert_eq!(
        values(changes),
        vec![("jr/a".to_string(), None), ("jr/b".to_string(), Some(b"1".to_vec())), ("jr/~mark".to_string(), Some(Vec::new()))]
    );
}

/// How many watchers the member on `port` feeds now (its own count, from its `/metrics`).
fn watchers(port: u16) -> u64 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to etcd");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("ask for metrics");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read metrics");
    text.lines()
        .find_map(|line| line.strip_prefix("etcd_debugging_mvcc_watcher_total "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|value| value as u64)
        .expect("etcd reports etcd_debugging_mvcc_watcher_total")
}

/// A prefix watch and the changes asked for under it share one etcd watch: each change is
/// sent to the process once (the write path's view watcher waits on `sdn/` and reads what
/// changed in `sdn/pending/`), and both still answer right.
#[test]
fn a_prefix_watch_and_the_changes_under_it_share_one_watch() {
    let (cluster, store) = own_etcd(Duration::from_secs(2));
    let port = cluster.members[0].client_port;
    let mut watch = store.watch_prefix("sw/");
    let base = store.revision().expect("revision");
    let first = committed(store.commit(Txn::new().put("sw/pending/a", "1").put("sw/lock", "x")).expect("commit"));
    assert!(watch.wait_for_change(base, Duration::from_secs(5)).expect("wait") >= first);
    let changes = store.changes_through("sw/pending/", base, first).expect("read").expect("journaled");
    let keys: Vec<String> = changes.into_iter().map(|(key, _)| key).collect();
    assert_eq!(keys, ["sw/pending/a"], "only the keys under the prefix asked for");
    let second = committed(store.commit(Txn::new().put("sw/pending/b", "1")).expect("commit"));
    assert!(watch.wait_for_change(first, Duration::from_secs(5)).expect("wait") >= second);
    let changes = store.changes_through("sw/pending/", first, second).expect("read").expect("journaled");
    assert_eq!(changes.len(), 1);
    // The first ask of `sw/pending/` was answered by a replay, whose watch etcd drops soon.
    let deadline = Instant::now() + Duration::from_secs(3);
    while watchers(port) > 1 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(watchers(port), 1, "one watch for the prefix watch and the changes under it");
}

/// A one-member etcd of the test's own (to stop and start), and a store on it whose requests
/// give up after `request_timeout`.
fn own_etcd(request_timeout: Duration) -> (sdnd_testkit::etcd::Cluster, EtcdStore) {
    let cluster = sdnd_testkit::etcd::Cluster::start(1);
    let mut o = options(cluster.members[0].client_port);
    o.request_timeout = request_timeout;
    let store = EtcdStore::connect(o).expect("connect");
    (cluster, store)
}

/// Commits `txn()` once etcd answers again (within 20 s): its revision.
fn commit_once_back(store: &EtcdStore, txn: impl Fn() -> Txn) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match store.commit(txn()) {
            Ok(commit) => return committed(commit),
            Err(e) => {
                assert!(Instant::now() < deadline, "never recovered: {e}");
                thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// History compacted away: the store says it doesn't know (the caller reads the prefix whole).
#[test]
fn changes_through_compacted_history_is_unknown() {
    let store = etcd_store();
    let (old, now) = three_writes_compacted(&store, "ch/a");
    assert_eq!(store.changes_through("ch/", old, now).expect("read"), None);
}

/// Writes `key` three times and compacts the shared etcd's history up to the last write:
/// the revisions of the first and the last.
fn three_writes_compacted(store: &EtcdStore, key: &str) -> (u64, u64) {
    let old = committed(store.commit(Txn::new().put(key, "1")).expect("commit"));
    committed(store.commit(Txn::new().put(key, "2")).expect("commit"));
    let now = committed(store.commit(Txn::new().put(key, "3")).expect("commit"));
    let compacted = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints=127.0.0.1:{}", shared_port()))
        .args(["compact", &now.to_string()])
        .output()
        .expect("run etcdctl (scripts/install-etcd.sh installs it)");
    assert!(compacted.status.success(), "{}", String::from_utf8_lossy(&compacted.stderr));
    (old, now)
}

/// A prefix watch answers as `wait_for_change` does, wait after wait: a change under its
/// prefix (also one made while nobody waited), nothing for other prefixes, and the same
/// change again when asked from before it.
#[test]
fn a_prefix_watch_answers_wait_after_wait() {
    on_both(|store| {
        let mut watch = store.watch_prefix("pw/");
        let start = store.revision().expect("revision");
        let first = committed(store.commit(Txn::new().put("pw/a", "1")).expect("commit"));
        assert!(watch.wait_for_change(start, Duration::from_secs(5)).expect("wait") >= first);
        // Made while nobody waits: kept for the next wait.
        let second = committed(store.commit(Txn::new().put("pw/b", "1")).expect("commit"));
        let elsewhere = committed(store.commit(Txn::new().put("px/a", "1")).expect("commit"));
        let woke = watch.wait_for_change(first, Duration::from_secs(5)).expect("wait");
        assert!(woke >= second, "woke at {woke}, the change was at {second}");
        // Nothing more under pw/: the wait times out at the current revision.
        let started = Instant::now();
        let now = watch
            .wait_for_change(woke.max(elsewhere), Duration::from_millis(500))
            .expect("wait");
        assert!(started.elapsed() >= Duration::from_millis(450), "woken early");
        assert!(now >= elsewhere);
        // What others wrote elsewhere does not count: a quiet wait answers where it started,
        // also from before those commits.
        assert_eq!(watch.wait_for_change(woke, Duration::from_millis(300)).expect("wait"), woke);
        assert_eq!(watch.wait_for_change(woke, Duration::from_millis(300)).expect("wait"), woke);
        // Asked from before the second change again: it is reported at once.
        let started = Instant::now();
        assert!(watch.wait_for_change(first, Duration::from_secs(5)).expect("wait") >= second);
        assert!(started.elapsed() < Duration::from_secs(2));
        // And a change after all that wakes the waiting watch.
        let now = store.revision().expect("revision");
        let third = committed(store.commit(Txn::new().delete("pw/a")).expect("commit"));
        assert!(watch.wait_for_change(now, Duration::from_secs(5)).expect("wait") >= third);
    });
}

/// A prefix watch whose member went away watches again, from where it was, once etcd is
/// back: the change made meanwhile is not missed.
#[test]
fn a_prefix_watch_survives_an_etcd_restart() {
    let (mut cluster, store) = own_etcd(Duration::from_secs(1));
    let mut watch = store.watch_prefix("r/");
    let first = committed(store.commit(Txn::new().put("r/a", "1")).expect("commit"));
    assert!(watch.wait_for_change(0, Duration::from_secs(5)).expect("wait") >= first);
    cluster.members[0].kill();
    assert!(watch.wait_for_change(first, Duration::from_secs(3)).is_err(), "etcd is down");
    cluster.members[0].start();
    let deadline = Instant::now() + Duration::from_secs(20);
    let second = commit_once_back(&store, || Txn::new().put("r/b", "1"));
    let woke = loop {
        match watch.wait_for_change(first, Duration::from_secs(5)) {
            Ok(revision) => break revision,
            Err(e) => {
                assert!(Instant::now() < deadline, "the watch never recovered: {e}");
                thread::sleep(Duration::from_millis(200));
            }
        }
    };
    assert!(woke >= second, "woke at {woke}, the change was at {second}");
}

#[test]
fn wait_for_change_wakes_on_a_write_from_another_handle() {
    let store = Arc::new(etcd_store());
    let other = {
        let mut o = options(shared_port());
        o.prefix = store.prefix().to_string();
        EtcdStore::connect(o).expect("second handle")
    };
    let now = store.revision().expect("revision");
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        committed(other.commit(Txn::new().put("n/x", "1")).expect("commit"))
    });
    let start = Instant::now();
    let woke = store
        .wait_for_change("n/", now, Duration::from_secs(10))
        .expect("wait");
    let written = writer.join().expect("writer");
    assert!(woke >= written, "woke at {woke}, written at {written}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "a watch, not a poll or the timeout"
    );
}

#[test]
fn prefixes_keep_stores_apart() {
    let a = etcd_store();
    let b = etcd_store();
    committed(a.commit(Txn::new().put("k", "a")).expect("commit"));
    assert_eq!(b.get("k").expect("get"), None);
    assert!(b.list("").expect("list").0.is_empty());
    committed(b.commit(Txn::new().delete_prefix("")).expect("commit"));
    assert_eq!(a.get("k").expect("get").expect("kept").value, b"a");
}

#[test]
fn concurrent_compare_and_swap_loses_no_increment() {
    let store = Arc::new(etcd_store());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            thread::spawn(move || {
                for _ in 0..25 {
                    loop {
                        let current = store.get("counter").expect("get");
                        let (value, rev) = current.map_or((0u64, 0), |e| {
                            (
                                String::from_utf8_lossy(&e.value).parse().expect("number"),
                                e.mod_revision,
                            )
                        });
                        let txn = Txn::new()
                            .unchanged("counter", rev)
                            .put("counter", (value + 1).to_string());
                        if let Commit::Committed(_) = store.commit(txn).expect("commit") {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(
        store.get("counter").expect("get").expect("counter").value,
        b"100"
    );
}

#[test]
fn unreachable_etcd_is_unavailable_fast_and_named() {
    let port = free_port();
    let mut o = options(port);
    o.request_timeout = Duration::from_millis(800);
    let start = Instant::now();
    let err = EtcdStore::connect(o).expect_err("nothing listens there");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("etcd at 127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn empty_endpoints_and_prefix_are_refused() {
    let err = EtcdStore::connect(EtcdOptions::new(vec![], "/x/")).expect_err("no endpoints");
    assert!(err.to_string().contains("no endpoints"), "{err}");
    let err = EtcdStore::connect(EtcdOptions::new(vec!["127.0.0.1:1".into()], ""))
        .expect_err("empty prefix");
    assert!(
        err.to_string().contains("prefix must not be empty"),
        "{err}"
    );
}

/// A member that goes away makes requests fail as unavailable; when it returns, the same
/// handle works again without being reopened.
#[test]
fn service_resumes_after_etcd_restarts() {
    let mut cluster = sdnd_testkit::etcd::Cluster::start(1);
    let port = cluster.members[0].client_port;
    let mut o = options(port);
    o.request_timeout = Duration::from_secs(1);
    let store = EtcdStore::connect(o).expect("connect");
    committed(store.commit(Txn::new().put("k", "1")).expect("commit"));
    cluster.members[0].kill();
    let start = Instant::now();
    let err = store.get("k").expect_err("etcd is down");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
    // Restart on the same ports and data.
    cluster.members[0].start();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match store.get("k") {
            Ok(entry) => {
                assert_eq!(entry.expect("k survived").value, b"1");
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "never recovered: {e}");
                thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// A waiter whose history was compacted away can't be told whether it missed a change, so
/// it is woken at once (like the SQLite changelog's pruning).
#[test]
fn compacted_history_wakes_waiters_at_once() {
    let store = etcd_store();
    let (old, now) = three_writes_compacted(&store, "c/a");
    let start = Instant::now();
    let woke = store
        .wait_for_change("quiet/", old, Duration::from_secs(10))
        .expect("wait");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
    assert!(woke >= now);
}

/// A long wait on a quiet prefix ends at its timeout, not with a connection error (etcd
/// drops clients whose keep-alive pings come too often).
#[test]
fn long_waits_survive_etcds_keepalive_policy() {
    let store = etcd_store();
    let now = store.revision().expect("revision");
    let start = Instant::now();
    let woke = store
        .wait_for_change("silent/", now, Duration::from_secs(12))
        .expect("a quiet wait is not an error");
    assert!(start.elapsed() >= Duration::from_secs(11));
    assert!(woke >= now);
}

#[test]
fn get_many_reads_every_slot_in_order() {
    on_both(|store| {
        let revision = committed(store.commit(Txn::new().put("m/a", "1").put("m/b", "2")).expect("commit"));
        let entries = store.get_many(&["m/b", "m/missing", "m/a"]).expect("get_many");
        let summary: Vec<Option<(Vec<u8>, u64)>> =
            entries.into_iter().map(|e| e.map(|e| (e.value, e.mod_revision))).collect();
        assert_eq!(summary, vec![Some((b"2".to_vec(), revision)), None, Some((b"1".to_vec(), revision))]);
        assert_eq!(store.get_many(&[]).expect("empty read"), vec![]);
    });
}

#[test]
fn a_failed_commit_answers_with_the_entries_asked_for() {
    on_both(|store| {
        let first = committed(store.commit(Txn::new().put("f/mark", "1").put("f/other", "x")).expect("commit"));
        // Committed: nothing is read.
        let txn = Txn::new().unchanged("f/mark", first).put("f/mark", "2");
        let second = match store.commit_or_read(txn, &["f/mark", "f/missing"]).expect("commit") {
            CommitOrRead::Committed(revision) => revision,
            failed => panic!("the guard held, yet: {failed:?}"),
        };
        // A stale guard: nothing written, and the entries as they are now, in order.
        let stale = Txn::new().unchanged("f/mark", first).put("f/mark", "3").put("f/other", "y");
        let CommitOrRead::GuardFailed(entries) = store.commit_or_read(stale, &["f/missing", "f/mark"]).expect("commit") else {
            panic!("a stale guard committed");
        };
        let summary: Vec<Option<(Vec<u8>, u64)>> = entries.into_iter().map(|e| e.map(|e| (e.value, e.mod_revision))).collect();
        assert_eq!(summary, vec![None, Some((b"2".to_vec(), second))]);
        assert_eq!(store.get("f/other").expect("get").map(|e| e.value), Some(b"x".to_vec()), "the failed commit wrote something");
        // Nothing asked for: an empty answer.
        let stale = Txn::new().unchanged("f/mark", first).put("f/mark", "4");
        assert_eq!(store.commit_or_read(stale, &[]).expect("commit"), CommitOrRead::GuardFailed(vec![]));
    });
}
