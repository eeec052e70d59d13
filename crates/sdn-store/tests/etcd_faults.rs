//! The etcd backend on a three-member cluster with one member hung (SIGSTOP) or its answers
//! lost: calls and watches move to another member, and a write whose answer was lost is
//! reported as what it was (committed, once), or as unknown, never as failed when it
//! committed. Needs the `etcd` binary (scripts/install-etcd.sh).

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use sdn_store::{Commit, EtcdOptions, EtcdStore, Store, StoreError, Txn};
use sdnd_testkit::etcd::{Cluster, LossyRelay};

fn store(endpoints: Vec<String>) -> EtcdStore {
    let mut options = EtcdOptions::new(endpoints, format!("/f-{}/", std::process::id()));
    options.request_timeout = Duration::from_secs(3);
    EtcdStore::connect(options).expect("connect to etcd")
}

fn committed(commit: Commit) -> u64 {
    match commit {
        Commit::Committed(revision) => revision,
        Commit::GuardFailed => panic!("a guard failed"),
    }
}

#[test]
fn a_commit_whose_answer_is_lost_is_reported_committed_and_applied_once() {
    let cluster = Cluster::start(3);
    let relay = LossyRelay::start(&cluster.members[0].endpoint());
    // Calls go to the first endpoint first: the relay.
    let endpoints = vec![
        relay.endpoint(),
        cluster.members[1].endpoint(),
        cluster.members[2].endpoint(),
    ];
    let store = store(endpoints);
    let before = store.revision().expect("revision");
    relay.lose_replies(true);
    // A guarded create: sent again after the lost answer, a blind retry would fail its guard
    // (the key exists now) and report a conflict for a write that did commit.
    let start = Instant::now();
    let outcome = store
        .commit(
            Txn::new()
                .unchanged("sdn/zones/z1", 0)
                .put("sdn/zones/z1", "v")
                .put("counter", "1"),
        )
        .expect("the commit is answered by another member");
    let revision = committed(outcome);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
    let entry = store.get("sdn/zones/z1").expect("get").expect("written");
    assert_eq!(
        entry.mod_revision, revision,
        "the revision of the write that committed"
    );
    // Exactly one commit happened: one revision for the transaction (its marker included).
    assert_eq!(revision, before + 1, "the transaction was applied once");
    // The write ids stay out of listings.
    let (listed, _) = store.list("").expect("list");
    let keys: Vec<&str> = listed.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, vec!["counter", "sdn/zones/z1"]);
    // A second, real conflict is still one.
    assert_eq!(
        store
            .commit(
                Txn::new()
                    .unchanged("sdn/zones/z1", 0)
                    .put("sdn/zones/z1", "w")
            )
            .expect("commit"),
        Commit::GuardFailed
    );
}

#[test]
fn a_commit_without_any_answer_is_reported_unknown_and_can_be_checked() {
    let cluster = Cluster::start(1);
    let relay = LossyRelay::start(&cluster.members[0].endpoint());
    let store = store(vec![relay.endpoint()]);
    committed(store.commit(Txn::new().put("warm", "up")).expect("commit"));
    relay.lose_replies(true);
    let start = Instant::now();
    let err = store
        .commit(Txn::new().unchanged("k", 0).put("k", "v"))
        .expect_err("no answer at all");
    let elapsed = start.elapsed();
    let StoreError::Unavailable(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("may or may not have been committed"),
        "{message}"
    );
    assert!(
        message.contains("read the changed objects back"),
        "{message}"
    );
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    // The write did reach etcd; the advice holds: reading it back tells.
    relay.lose_replies(false);
    let checker = store_on(&cluster);
    assert_eq!(
        checker.get("k").expect("get").expect("committed").value,
        b"v"
    );
}

fn store_on(cluster: &Cluster) -> EtcdStore {
    store(cluster.members.iter().map(|m| m.endpoint()).collect())
}

#[test]
fn a_hung_member_costs_latency_not_errors_for_calls_and_watches() {
    let mut cluster = Cluster::start(3);
    let store = Arc::new(store_on(&cluster));
    committed(
        store
            .commit(Txn::new().put("watched/a", "0"))
            .expect("commit"),
    );
    let revision = store.revision().expect("revision");
    // Calls go to member 0 first; it hangs, with the connection open, while a watch runs on it.
    let waiter = {
        let store = store.clone();
        thread::spawn(move || store.wait_for_change("watched/", revision, Duration::from_secs(20)))
    };
    thread::sleep(Duration::from_millis(300));
    cluster.members[0].stop();
    let start = Instant::now();
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        let call = Instant::now();
        committed(
            store
                .commit(Txn::new().put(format!("k{i}"), "v"))
                .expect("a write while a member hangs"),
        );
        store
            .get(&format!("k{i}"))
            .expect("a read while a member hangs")
            .expect("written");
        worst = worst.max(call.elapsed());
    }
    let written = committed(
        store
            .commit(Txn::new().put("watched/b", "1"))
            .expect("commit"),
    );
    let woke = waiter
        .join()
        .expect("waiter")
        .expect("the watch moved to another member");
    eprintln!(
        "hung member: 20 writes and reads in {:?}, slowest {worst:?}",
        start.elapsed()
    );
    assert!(
        woke >= written,
        "the watch saw the write at {written} (woke at {woke})"
    );
    assert!(worst < Duration::from_secs(3), "slowest call {worst:?}");
    cluster.members[0].resume();
}

/// A prefix watch (a journal's watch, shared with the changes asked under its prefix) whose
/// member hangs moves to another member from where it was: the write made meanwhile wakes it,
/// and the changes under the prefix are still told whole.
#[test]
fn a_prefix_watch_on_a_hung_member_moves_on_and_misses_nothing() {
    let mut cluster = Cluster::start(3);
    let store = store_on(&cluster);
    let mut watch = store.watch_prefix("pw/");
    let base = store.revision().expect("revision");
    let first = committed(store.commit(Txn::new().put("pw/pending/a", "1")).expect("commit"));
    assert!(watch.wait_for_change(base, Duration::from_secs(5)).expect("wait") >= first);
    // Asked once, so that the journal keeps `pw/pending/` from here on.
    store.changes_through("pw/pending/", base, first).expect("changes");
    cluster.members[0].stop();
    let written = committed(store.commit(Txn::new().put("pw/pending/b", "2")).expect("a write while a member hangs"));
    let started = Instant::now();
    let woke = loop {
        let woke = watch.wait_for_change(first, Duration::from_secs(10)).expect("the watch moved to another member");
        if woke >= written || started.elapsed() > Duration::from_secs(10) {
            break woke;
        }
    };
    assert!(woke >= written, "woke at {woke}, the write was at {written}");
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    let changes = store.changes_through("pw/pending/", first, written).expect("changes").expect("known");
    let keys: Vec<&str> = changes.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["pw/pending/b"]);
    cluster.members[0].resume();
}

/// The member a commit went to freezes right after it was sent (before, while or after
/// etcd commits it): the store answers with the truth, and the write never lands a second
/// time when the member resumes and delivers what it still held.
#[test]
fn a_commit_to_a_member_frozen_under_it_is_answered_truthfully_and_lands_once() {
    let mut cluster = Cluster::start(3);
    let follower = (cluster.leader().expect("a leader") + 1) % 3;
    let mut endpoints: Vec<String> = cluster.members.iter().map(|m| m.endpoint()).collect();
    endpoints.rotate_left(follower);
    for (round, delay_us) in [0u64, 300, 2_000].into_iter().enumerate() {
        let store = Arc::new(store(endpoints.clone()));
        committed(store.commit(Txn::new().put("warm", "up")).expect("commit"));
        let key = format!("once{round}");
        let committing = {
            let (store, key) = (store.clone(), key.clone());
            thread::spawn(move || store.commit(Txn::new().unchanged(key.clone(), 0).put(key, "v")))
        };
        thread::sleep(Duration::from_micros(delay_us));
        cluster.members[follower].stop();
        let outcome = committing.join().expect("commit thread");
        let checker = store_on(&cluster);
        let seen = checker.get(&key).expect("get");
        match &outcome {
            Ok(Commit::Committed(revision)) => {
                let entry = seen.as_ref().expect("acknowledged, so written");
                assert_eq!(entry.mod_revision, *revision, "round {round}");
            }
            Ok(Commit::GuardFailed) => {
                panic!("round {round}: a conflict for a key nobody else writes")
            }
            Err(e) => panic!("round {round}: two members were healthy: {e}"),
        }
        cluster.members[follower].resume();
        // Whatever the frozen member still held is delivered now; it must not apply again.
        thread::sleep(Duration::from_millis(1500));
        let after = checker.get(&key).expect("get").expect("still there");
        assert_eq!(
            Some(after.mod_revision),
            seen.map(|e| e.mod_revision),
            "round {round}: the write landed twice"
        );
        cluster.wait_healthy(Duration::from_secs(10));
    }
}

/// A commit held back on its way to etcd (a member that hangs with the request in hand) while
/// no other member answers: once another member is back, the store fences the write and says
/// it was not committed; when the held request arrives after all, it changes nothing.
#[test]
fn a_commit_held_back_past_its_budget_is_fenced_and_never_lands() {
    let cluster = Cluster::start(1);
    let held = LossyRelay::start(&cluster.members[0].endpoint());
    let other = LossyRelay::start(&cluster.members[0].endpoint());
    let store = store(vec![held.endpoint(), other.endpoint()]);
    committed(store.commit(Txn::new().put("warm", "up")).expect("commit"));
    other.refuse_connections(true);
    held.hold_requests(true);
    // The second way in opens once the commit's own budget (3 s) is spent.
    let opener = thread::spawn(move || {
        thread::sleep(Duration::from_millis(3300));
        other.refuse_connections(false);
        other
    });
    let err = store.commit(Txn::new().unchanged("late", 0).put("late", "v")).expect_err("no member answered in time");
    let _other = opener.join().expect("opener");
    let StoreError::Unavailable(message) = &err else { panic!("{err:?}") };
    assert!(message.contains("was not committed, nothing changed"), "{message}");
    // The held request (and its retries) now reach etcd: too late to commit.
    held.hold_requests(false);
    thread::sleep(Duration::from_millis(1500));
    let checker = store_on(&cluster);
    assert_eq!(checker.get("late").expect("get"), None, "a write reported as not committed landed");
}
