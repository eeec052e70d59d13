//! The write path's view is kept current by a watch: after another node changes the
//! configuration, this node's next change is planned on the current view and commits at its
//! first attempt, without reading the markers again first (one round trip on etcd), and the
//! view catches up with what changed without reading the whole configuration again. Two apps
//! in this process, each on its own handle of the test store (SQLite, or etcd with
//! SDND_TEST_STORE=etcd), counting their store calls.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sdn_config::Kind;
use sdn_store::{Commit, CommitOrRead, Entry, Op, Revision, Store, Txn};
use sdnd::sdn::lock::Intent;
use sdnd::sdn::{Mutation, Sdn};

const MARK: &str = "sdn/pending/~rev";

/// A store counting the write path's reads of its markers, its commits of the pending
/// configuration and its reads of it whole.
struct Counting {
    inner: Arc<dyn Store>,
    /// Reads of the markers by the writers (not by the view watcher's own thread).
    marker_reads: AtomicUsize,
    pending_commits: AtomicUsize,
    pending_lists: AtomicUsize,
    /// This many reads of the markers fail (as with a store briefly out of reach).
    failing_marker_reads: AtomicUsize,
    /// Runs once at the next read of what changed (another node's write landing meanwhile).
    before_changes: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Store for Counting {
    fn get(&self, key: &str) -> sdn_store::Result<Option<Entry>> {
        self.inner.get(key)
    }
    fn get_many(&self, keys: &[&str]) -> sdn_store::Result<Vec<Option<Entry>>> {
        if keys.contains(&MARK) && keys.contains(&"sdn/lock") {
            if std::thread::current().name() != Some("sdn-view") {
                self.marker_reads.fetch_add(1, Ordering::SeqCst);
            }
            let failing = self.failing_marker_reads.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if failing.is_ok() {
                return Err(sdn_store::StoreError::Unavailable("the test store is out of reach".into()));
            }
        }
        self.inner.get_many(keys)
    }
    fn list(&self, prefix: &str) -> sdn_store::Result<(Vec<Entry>, Revision)> {
        if prefix == "sdn/pending/" {
            self.pending_lists.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.list(prefix)
    }
    fn changes_through(
        &self,
        prefix: &str,
        after: Revision,
        through: Revision,
    ) -> sdn_store::Result<Option<sdn_store::KeyChanges>> {
        let hook = self.before_changes.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        self.inner.changes_through(prefix, after, through)
    }
    fn watch_prefix<'a>(&'a self, prefix: &str) -> Box<dyn sdn_store::PrefixWatch + 'a> {
        self.inner.watch_prefix(prefix)
    }
    fn revision(&self) -> sdn_store::Result<Revision> {
        self.inner.revision()
    }
    fn commit(&self, txn: Txn) -> sdn_store::Result<Commit> {
        self.count_commit(&txn);
        self.inner.commit(txn)
    }
    fn commit_or_read(&self, txn: Txn, keys: &[&str]) -> sdn_store::Result<CommitOrRead> {
        self.count_commit(&txn);
        self.inner.commit_or_read(txn, keys)
    }
    fn wait_for_change(
        &self,
        prefix: &str,
        after: Revision,
        timeout: Duration,
    ) -> sdn_store::Result<Revision> {
        self.inner.wait_for_change(prefix, after, timeout)
    }
}

impl Counting {
    fn count_commit(&self, txn: &Txn) {
        if txn.ops.iter().any(|op| matches!(op, Op::Put { key, .. } if key == MARK)) {
            self.pending_commits.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The writers' round trips so far: marker reads and commits of the configuration.
    fn round_trips(&self) -> usize {
        self.marker_reads.load(Ordering::SeqCst) + self.pending_commits.load(Ordering::SeqCst)
    }
}

fn open(data_dir: &std::path::Path) -> Arc<Counting> {
    #[derive(clap::Parser)]
    struct Args {
        #[command(flatten)]
        store: sdnd::store_args::StoreArgs,
    }
    let mut argv = vec![
        "sdnd".to_string(),
        "--data-dir".into(),
        data_dir.display().to_string(),
    ];
    argv.extend(common::store_args());
    let args = <Args as clap::Parser>::parse_from(argv);
    let inner = sdnd::store_args::open_store(&args.store).expect("open the test store");
    Arc::new(Counting {
        inner,
        marker_reads: AtomicUsize::new(0),
        pending_commits: AtomicUsize::new(0),
        pending_lists: AtomicUsize::new(0),
        failing_marker_reads: AtomicUsize::new(0),
        before_changes: std::sync::Mutex::new(None),
    })
}

fn start(store: Arc<Counting>, node: &str) -> Arc<sdnd::App> {
    let options = sdnd::app::AppOptions {
        node: node.to_string(),
        apply_timeout: Duration::from_secs(600),
        ticket_lifetime: 7200,
        clock: sdnd::Clock::system(),
        keep_versions: sdnd::history::DEFAULT_KEEP_VERSIONS,
    };
    sdnd::App::start(store, options).expect("start the app")
}

fn create_zone(app: &sdnd::App, name: &str) {
    create_zone_in(&app.sdn, name);
}

fn create_zone_in(sdn: &Sdn, name: &str) {
    let params: sdn_config::Params = [("zone", name), ("type", "simple")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    change(sdn, |pending| pending.plan_create(Kind::Zones, &params));
}

fn delete_zone(app: &sdnd::App, name: &str) {
    change(&app.sdn, |pending| pending.plan_delete(Kind::Zones, name));
}

fn update_zone_mtu(app: &sdnd::App, name: &str, mtu: &str) {
    let params: sdn_config::Params = [("mtu".to_string(), mtu.into())].into_iter().collect();
    change(&app.sdn, |pending| {
        pending.plan_update(Kind::Zones, name, &params)
    });
}

fn zones(app: &sdnd::App) -> Vec<String> {
    let snapshot = app.sdn.snapshot().unwrap();
    snapshot
        .pending
        .list(Kind::Zones)
        .map(|z| z.id().to_string())
        .collect()
}

fn change(
    sdn: &Sdn,
    plan: impl Fn(&sdn_config::Config) -> Result<sdn_config::Change, sdn_config::ConfigError>,
) {
    sdn
        .mutate(Intent::Change { token: None }, |snapshot, _| {
            let change = plan(&snapshot.pending)?;
            Ok((
                Mutation {
                    changes: vec![change],
                    ..Mutation::default()
                },
                (),
            ))
        })
        .expect("change the configuration");
}

#[test]
fn a_change_after_another_nodes_commits_at_its_first_attempt() {
    let dir = tempfile::tempdir().unwrap();
    // b's watch sees a's commit and re-reads the markers by itself.
    let (a, b, store_b) = two_current_nodes(dir.path());
    let (reads, commits) = (
        store_b.marker_reads.load(Ordering::SeqCst),
        store_b.pending_commits.load(Ordering::SeqCst),
    );
    create_zone(&b, "fromb");
    assert_eq!(
        store_b.pending_commits.load(Ordering::SeqCst),
        commits + 1,
        "b's change took more than one commit"
    );
    assert_eq!(
        store_b.marker_reads.load(Ordering::SeqCst),
        reads,
        "b read its markers again before committing"
    );
    let zones: Vec<String> = a
        .sdn
        .snapshot()
        .unwrap()
        .pending
        .list(Kind::Zones)
        .map(|z| z.id().to_string())
        .collect();
    assert_eq!(zones, ["fromb", "warma", "warmb"]);
}

/// Nodes a and b on the store in `data_dir`; b's store, counting.
fn two_nodes(data_dir: &std::path::Path) -> (Arc<sdnd::App>, Arc<sdnd::App>, Arc<Counting>) {
    let (store_a, store_b) = (open(data_dir), open(data_dir));
    (start(store_a, "a"), start(store_b.clone(), "b"), store_b)
}

/// Nodes a and b on the store in `data_dir`, each with a change made, and b's view current
/// with a's (by its watcher); b's store, counting.
fn two_current_nodes(data_dir: &std::path::Path) -> (Arc<sdnd::App>, Arc<sdnd::App>, Arc<Counting>) {
    let (a, b, store_b) = two_nodes(data_dir);
    create_zone(&b, "warmb");
    create_zone(&a, "warma");
    wait_for_zone_in_view(&b, &store_b, "warma");
    (a, b, store_b)
}

/// Waits until `app`'s cached view has zone `name` by itself (its watcher), for at most 10 s.
fn wait_for_zone_in_view(app: &sdnd::App, store: &Counting, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.sdn.snapshot_cached().pending.get(Kind::Zones, name).is_none() {
        assert!(
            Instant::now() < deadline,
            "the view never caught up with zone {name} (the store's marker at {:?}, a fresh read has it: {})",
            store.get(MARK).ok().flatten().map(|e| e.mod_revision),
            app.sdn.snapshot().unwrap().pending.get(Kind::Zones, name).is_some()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_view_whose_refresh_failed_catches_up_without_another_change() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, store_b) = two_nodes(dir.path());
    create_zone(&a, "first");
    wait_for_zone_in_view(&b, &store_b, "first");
    // b's watcher sees the next change, but its refresh finds the store out of reach.
    store_b.failing_marker_reads.store(1, Ordering::SeqCst);
    create_zone(&a, "second");
    wait_for_zone_in_view(&b, &store_b, "second");
    assert_eq!(store_b.failing_marker_reads.load(Ordering::SeqCst), 0, "the refresh never failed");
}

#[test]
fn a_view_catches_up_with_another_nodes_changes_without_reading_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, store_b) = two_nodes(dir.path());
    for name in ["z1", "z2", "z3"] {
        create_zone(&a, name);
    }
    assert_eq!(zones(&b), ["z1", "z2", "z3"]);
    let lists = store_b.pending_lists.load(Ordering::SeqCst);

    // Created, deleted, changed on a: b's view follows all three, by what changed.
    create_zone(&a, "z4");
    delete_zone(&a, "z2");
    update_zone_mtu(&a, "z1", "1400");
    assert_eq!(zones(&b), ["z1", "z3", "z4"]);
    let z1 = b
        .sdn
        .snapshot()
        .unwrap()
        .pending
        .get(Kind::Zones, "z1")
        .cloned()
        .unwrap();
    assert_eq!(z1.get_int("mtu"), Some(1400), "{z1:?}");
    // A change on b is planned on that view and written once.
    create_zone(&b, "z5");
    assert_eq!(zones(&a), ["z1", "z3", "z4", "z5"]);
    assert_eq!(
        store_b.pending_lists.load(Ordering::SeqCst),
        lists,
        "b read the whole pending configuration again"
    );
}

/// Another node writes again between this node's read of the markers and its read of what
/// changed up to them (a burst elsewhere): the changes then tell the marker's later state,
/// and the view still catches up by them, not by reading everything (at 100,000 objects a
/// whole read costs a follower about 0.1 s of CPU per catch-up).
#[test]
fn a_catch_up_overtaken_by_another_write_still_goes_by_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, store_b) = two_current_nodes(dir.path());
    let lists = store_b.pending_lists.load(Ordering::SeqCst);
    let whole_reads = b.sdn.view_counts().whole_pending_reads;
    let writer = a.clone();
    *store_b.before_changes.lock().unwrap() = Some(Box::new(move || create_zone(&writer, "late")));
    create_zone(&a, "first");
    wait_for_zone_in_view(&b, &store_b, "first");
    wait_for_zone_in_view(&b, &store_b, "late");
    assert!(store_b.before_changes.lock().unwrap().is_none(), "the write landed mid-catch-up");
    assert_eq!(store_b.pending_lists.load(Ordering::SeqCst), lists, "b read the whole pending configuration again");
    assert_eq!(b.sdn.view_counts().whole_pending_reads, whole_reads, "what the metric shows of it");
    assert_eq!(zones(&b), zones(&a));
}

/// Two nodes changing the configuration by turns, in a fixed pseudo-random order: each one's
/// view, caught up change by change, equals what a node reading everything afresh sees.
#[test]
fn views_caught_up_change_by_change_equal_a_fresh_read() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(open(dir.path()), "a");
    let b = start(open(dir.path()), "b");
    let mut state: u64 = 0x5eed;
    let mut next = |bound: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % bound
    };
    for step in 0..60 {
        let node = if next(2) == 0 { &a } else { &b };
        let existing = zones(node);
        match next(3) {
            0 if !existing.is_empty() => {
                delete_zone(node, &existing[next(existing.len() as u64) as usize])
            }
            1 if !existing.is_empty() => {
                let mtu = (1280 + next(200)).to_string();
                update_zone_mtu(node, &existing[next(existing.len() as u64) as usize], &mtu);
            }
            _ => create_zone(node, &format!("z{step}")),
        }
    }
    let bytes = |app: &sdnd::App| -> Vec<Vec<u8>> {
        let snapshot = app.sdn.snapshot().unwrap();
        snapshot
            .pending
            .list(Kind::Zones)
            .map(|z| z.to_store_bytes())
            .collect()
    };
    let fresh = start(open(dir.path()), "c");
    assert_eq!(bytes(&a), bytes(&fresh), "a's view");
    assert_eq!(bytes(&b), bytes(&fresh), "b's view");
    assert!(!zones(&fresh).is_empty());
}

/// A change right after another node's, once this node's watch told of it but before the
/// view was refreshed, reads the markers first rather than failing its guards on the stale
/// view: one commit either way.
#[test]
fn a_change_right_after_another_nodes_is_not_tried_on_a_view_known_stale() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, store_b) = two_current_nodes(dir.path());

    create_zone(&a, "froma");
    let revision = store_b.get(MARK).unwrap().expect("the marker").mod_revision;
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.sdn.newest_seen() < revision {
        assert!(Instant::now() < deadline, "b's watch never told of a's change");
        std::thread::sleep(Duration::from_millis(1));
    }
    let commits = store_b.pending_commits.load(Ordering::SeqCst);
    create_zone(&b, "fromb");
    assert_eq!(
        store_b.pending_commits.load(Ordering::SeqCst),
        commits + 1,
        "b tried its change on a view it knew to be stale"
    );
    assert_eq!(zones(&a), ["froma", "fromb", "warma", "warmb"]);
}

/// A change on a view gone stale costs two round trips at most: a commit whose guards fail
/// brings back what they cover, so the retry needs no read of its own (or, once the watch told
/// of the change, the markers are read first and the commit holds).
#[test]
fn a_change_on_a_stale_view_costs_two_round_trips_at_most() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, store_b) = two_current_nodes(dir.path());
    let lists = store_b.pending_lists.load(Ordering::SeqCst);
    for i in 0..5 {
        create_zone(&a, &format!("a{i}"));
        let before = store_b.round_trips();
        create_zone(&b, &format!("b{i}"));
        assert!(store_b.round_trips() - before <= 2, "b's change {i} took {} round trips", store_b.round_trips() - before);
    }
    assert_eq!(store_b.pending_lists.load(Ordering::SeqCst), lists, "b read the configuration whole");
    assert_eq!(zones(&b).len(), 12);
}

/// A view gone stale catches up in place: the write whose commit found it stale applies what
/// changed to the cached configuration itself, not to a copy of it (a copy costs what reading
/// it whole does). Two bare write paths on one store, without watchers, so that nothing else
/// holds the configuration meanwhile.
#[test]
fn a_stale_view_catches_up_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let clock = sdnd::Clock::system();
    let (a, b) = (Sdn::new(open(dir.path()), clock.clone()), Sdn::new(open(dir.path()), clock));
    create_zone_in(&b, "warmb");
    for i in 0..5 {
        create_zone_in(&a, &format!("a{i}"));
        let config = Arc::as_ptr(&b.snapshot_cached().pending);
        create_zone_in(&b, &format!("b{i}"));
        assert_eq!(Arc::as_ptr(&b.snapshot_cached().pending), config, "b's change {i} copied the configuration");
    }
    assert_eq!(b.snapshot().unwrap().pending.list(Kind::Zones).count(), 11);
}
