//! Apply and rollback, and the apply task: created in the same transaction as the new running
//! version, finished once every node has reported that version (or failed, or the timeout
//! passed).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use sdn_config::Config;
use sdn_store::{Op, Store, Txn};

use crate::app::App;
use crate::audit::{self, Actor};
use crate::clock::Clock;
use crate::error::Error;
use crate::history;
use crate::layout::{self, ConfirmWindow, NodeReport, TaskRecord, VersionMeta};
use crate::nodes::{self, Liveness, StoreSight};
use crate::sdn::lock::Intent;
use crate::sdn::{LockUpdate, Mutation};
use crate::tasks::Upid;

/// What `PUT /cluster/sdn` asks for besides applying.
#[derive(Debug, Default)]
pub struct ApplyRequest<'a> {
    pub token: Option<&'a str>,
    /// With a token: release the lock (after the confirmation, for a confirmed apply).
    pub release_lock: bool,
    /// Kept with the version and in the audit trail.
    pub comment: Option<String>,
    /// Seconds to wait for `POST /cluster/sdn/confirm` before reverting by itself.
    pub confirm_timeout: Option<u64>,
    /// For a confirmed apply: revert at once when a node reports a failed apply.
    pub revert_on_failure: bool,
}

/// `PUT /cluster/sdn`: promotes pending to a new running version (kept in the history) and
/// starts the task that waits for the nodes; with a lock token, releases the lock unless
/// `release_lock` is false (or, for a confirmed apply, once it is confirmed or reverted).
pub fn apply(app: &App, actor: &Actor, request: &ApplyRequest<'_>) -> Result<Upid, Error> {
    let started = Instant::now();
    let token = request.token;
    let (upid, version) = app.sdn.mutate(Intent::Change { token }, |snapshot, lock| {
        let (window, window_rev) = history::window(app.store.as_ref())?;
        if let Some(window) = &window {
            return Err(history::awaiting(window));
        }
        let version = snapshot.running_version + 1;
        let (text, running_parsed) = running_config(&snapshot.pending, version)?;
        let named = snapshot.pending.named_nodes().into_iter().collect();
        let (upid, mut record) = start_record(app, &actor.user, version, named);
        let now = app.clock.now_ms();
        let meta = VersionMeta {
            version,
            time: app.clock.now(),
            user: actor.user.clone(),
            upid: upid.to_string(),
            comment: request.comment.clone(),
            confirmed: request.confirm_timeout.is_none(),
        };
        let mut extra = history::keep_ops(app.store.as_ref(), app.keep_versions, &meta, &text)?;
        let mut detail = upid.to_string();
        let mut release = token.is_some() && request.release_lock;
        if let Some(timeout) = request.confirm_timeout {
            let previous = snapshot.running_version;
            if previous > 0 && app.store.get(&layout::version_config(previous))?.is_none() {
                // Applied before the history was kept: the revert needs its configuration.
                if let Some(text) = app.store.get(layout::RUNNING_CONFIG)? {
                    extra.push(Op::Put { key: layout::version_config(previous), value: text.value });
                }
            }
            let window = ConfirmWindow {
                version,
                previous,
                deadline_ms: now.saturating_add(i64::try_from(timeout).unwrap_or(i64::MAX).saturating_mul(1000)),
                upid: upid.to_string(),
                user: actor.user.clone(),
                lock_sha256: token.and(lock).map(|lock| lock.token_sha256.clone()),
                release_lock: release,
                revert_on_failure: request.revert_on_failure,
            };
            record.log.push(format!(
                "confirmed apply: reverts to version {previous} unless confirmed by {} (POST /cluster/sdn/confirm)",
                window.deadline()
            ));
            detail.push_str(&format!(", to be confirmed by {}", window.deadline()));
            extra.push(Op::Put { key: layout::CONFIRM.into(), value: serde_json::to_vec(&window).unwrap_or_default() });
            // The lock stays held until the confirm or the revert.
            release = false;
        }
        extra.push(Op::Put { key: layout::task(&upid.to_string()), value: encode(&record) });
        let entry = audit::Entry::new(now, "apply", actor).comment(request.comment.as_deref()).version(version);
        extra.push(entry.detail(detail).op());
        if release {
            extra.push(audit::Entry::new(now, "unlock", actor).version(version).detail("released by the apply").op());
        }
        let mutation = Mutation {
            running: Some((version, text)),
            running_parsed: Some(running_parsed),
            lock: release.then_some(LockUpdate::Remove),
            extra,
            guards: vec![crate::sdn::unchanged(layout::CONFIRM, window_rev)],
            ..Mutation::default()
        };
        Ok((mutation, (upid, version)))
    })?;
    app.metrics.apply(started.elapsed());
    tracing::info!("SDN configuration version {version} applied by {} ({upid})", actor.user);
    watch_task(app, upid.clone(), version);
    Ok(upid)
}

/// The running configuration `config` makes as `version`: its exact text, and the
/// configuration every node reads from that text (parsed from the JSON value the text is
/// written from, which is what reading the text gives back).
pub(crate) fn running_config(config: &Config, version: u64) -> Result<(Vec<u8>, Config), Error> {
    let running = config.to_running_config(version);
    let text = serde_json::to_vec(&running).map_err(|e| Error::Internal(e.to_string()))?;
    let (_, parsed) = Config::from_running_config(&running)
        .map_err(|err| Error::Internal(format!("the running configuration written is invalid: {err}")))?;
    Ok((text, parsed))
}

/// `POST /cluster/sdn/rollback`: throws away every pending change.
pub fn rollback(app: &App, actor: &Actor, token: Option<&str>, release_lock: bool) -> Result<(), Error> {
    app.sdn.mutate(Intent::Change { token }, |snapshot, _| {
        let now = app.clock.now_ms();
        let release = token.is_some() && release_lock;
        let mut extra = vec![audit::Entry::new(now, "rollback", actor).version(snapshot.running_version).op()];
        if release {
            extra.push(audit::Entry::new(now, "unlock", actor).detail("released by the rollback").op());
        }
        let restored = history::pending_restored_to(&snapshot.pending, &snapshot.running);
        // The IPAM follows the subnets the rollback brings back or removes.
        let (guards, ipam_ops) = app.ipam.plan_reconcile(&restored)?;
        extra.extend(ipam_ops);
        let mutation = Mutation {
            replace_pending: Some(restored),
            lock: release.then_some(LockUpdate::Remove),
            extra,
            guards,
            ..Mutation::default()
        };
        Ok((mutation, ()))
    })?;
    tracing::info!("pending SDN changes rolled back by {}", actor.user);
    Ok(())
}

/// Builds the UPID and the task record's store write for a new apply of `version` by `user`,
/// which waits for every registered node agent and for every node in `named` (the nodes the
/// configuration names).
pub(crate) fn start_task(app: &App, user: &str, version: u64, named: Vec<String>) -> (Upid, Op) {
    let (upid, record) = start_record(app, user, version, named);
    let op = Op::Put { key: layout::task(&upid.to_string()), value: encode(&record) };
    (upid, op)
}

fn start_record(app: &App, user: &str, version: u64, named: Vec<String>) -> (Upid, TaskRecord) {
    let upid = Upid {
        node: app.node.clone(),
        pid: std::process::id(),
        pstart: app.pstart,
        starttime: app.clock.now(),
        task_type: "reloadnetworkall".into(),
        id: version.to_string(),
        user: user.to_string(),
    };
    let mut record = TaskRecord::start(&upid, format!("applying SDN configuration version {version}"));
    record.nodes = named;
    (upid, record)
}

fn encode(record: &TaskRecord) -> Vec<u8> {
    serde_json::to_vec(record).unwrap_or_default()
}

/// Follows the apply task of `version` on a background thread until it can be finished.
pub(crate) fn watch_task(app: &App, upid: Upid, version: u64) {
    let store = app.store.clone();
    let timeout = app.apply_timeout;
    let clock = app.clock.clone();
    let sight = app.store_sight.clone();
    let metrics = app.metrics.clone();
    let spawned = std::thread::Builder::new()
        .name("apply-task".into())
        .spawn(move || finish_task(store.as_ref(), &clock, &sight, &metrics, upid, version, timeout));
    if let Err(err) = spawned {
        tracing::error!("could not start the apply task watcher: {err}");
    }
}

/// Restarts the watchers of this node's tasks that were still running when it stopped. If
/// the store can't be read now (no quorum at start), a background thread keeps trying, so
/// that such a task still ends (its timeout runs from its start).
pub fn resume_tasks(app: &std::sync::Arc<App>) {
    match app.store.list(layout::TASKS_PREFIX) {
        Ok((entries, _)) => resume_listed(app, entries),
        Err(err) => {
            tracing::warn!("could not look for unfinished apply tasks yet: {err}; retrying");
            let app = app.clone();
            let spawned = std::thread::Builder::new().name("task-resume".into()).spawn(move || {
                let mut pause = STORE_RETRY;
                loop {
                    std::thread::sleep(pause);
                    if let Ok((entries, _)) = app.store.list(layout::TASKS_PREFIX) {
                        return resume_listed(&app, entries);
                    }
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            });
            if let Err(err) = spawned {
                tracing::error!("could not start the task resumer: {err}");
            }
        }
    }
}

fn resume_listed(app: &App, entries: Vec<sdn_store::Entry>) {
    for entry in entries {
        let Ok(record) = serde_json::from_slice::<TaskRecord>(&entry.value) else { continue };
        let Ok(upid) = record.upid.parse::<Upid>() else { continue };
        if record.exitstatus.is_none() && upid.node == app.node {
            let version = upid.id.parse().unwrap_or(0);
            watch_task(app, upid, version);
        }
    }
}

/// How long after its timeout a task whose owner is offline is finished by another node.
const ORPHAN_GRACE: Duration = Duration::from_secs(10);
/// How often a server looks for such tasks.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Starts the thread that finishes other nodes' apply tasks whose owner died: a task must not
/// stay `running` past its timeout because the server following it is gone.
pub fn spawn_orphan_sweeper(app: &std::sync::Arc<App>) {
    let app = app.clone();
    let spawned = std::thread::Builder::new().name("task-sweeper".into()).spawn(move || {
        let mut finished = BTreeSet::new();
        loop {
            std::thread::sleep(SWEEP_INTERVAL);
            let swept = finish_orphans(&app, &mut finished);
            app.store_sight.saw(swept.is_ok(), app.clock.now_ms());
            if let Err(err) = swept {
                tracing::debug!("looking for orphaned tasks: {err}");
            }
        }
    });
    if let Err(err) = spawned {
        tracing::error!("could not start the orphaned task sweeper: {err}");
    }
}

/// Finishes every running apply task of another node whose owner is offline and whose
/// timeout (with a grace period) has passed, with what the nodes reported by then. The write
/// is guarded on the record being unchanged, so it never overwrites an end the owner (or
/// another sweeper) wrote first. It goes by the task keys (the UPID says whose and since when)
/// and reads only overdue records not yet seen finished (`finished`, kept between sweeps: a
/// task never runs again), so a sweep costs a keys-only listing.
fn finish_orphans(app: &App, finished: &mut BTreeSet<String>) -> Result<(), Error> {
    let now_ms = app.clock.now_ms();
    let overdue = (app.apply_timeout + ORPHAN_GRACE).as_millis() as i64;
    let keys = crate::tasks::keys(app.store.as_ref())?;
    finished.retain(|key| keys.iter().any(|(_, listed, _)| listed == key));
    let due: Vec<&str> = keys
        .iter()
        .filter(|(upid, key, _)| upid.node != app.node && now_ms >= upid.starttime * 1000 + overdue && !finished.contains(key))
        .map(|(_, key, _)| key.as_str())
        .collect();
    let mut beats = None;
    for chunk in due.chunks(sdn_store::TXN_BATCH) {
        for entry in app.store.get_many(chunk)?.into_iter().flatten() {
            orphan_finished(app, entry, now_ms, finished, &mut beats)?;
        }
    }
    Ok(())
}

/// Finishes the task of `entry` (overdue, of another node) if it still runs and its owner is
/// offline; see [`finish_orphans`].
fn orphan_finished(
    app: &App,
    entry: sdn_store::Entry,
    now_ms: i64,
    finished: &mut BTreeSet<String>,
    beats: &mut Option<BTreeMap<String, layout::Heartbeat>>,
) -> Result<(), Error> {
    let Ok(mut record) = serde_json::from_slice::<TaskRecord>(&entry.value) else { return Ok(()) };
    let Ok(upid) = record.upid.parse::<Upid>() else { return Ok(()) };
    if record.exitstatus.is_some() {
        finished.insert(entry.key);
        return Ok(());
    }
    if !app.store_sight.trusts_heartbeats(now_ms) {
        return Ok(());
    }
    let beats = match beats {
        Some(beats) => beats,
        None => beats.insert(nodes::heartbeats(app.store.as_ref())?),
    };
    if Liveness::of(beats.get(&upid.node), now_ms).is_online() {
        return Ok(());
    }
    let version = upid.id.parse().unwrap_or(0);
    let reports = outcomes(app.store.as_ref(), &record.nodes)?;
    let offline = offline_nodes(app.store.as_ref(), &reports, now_ms)?;
    record.log.push(format!("{}: finished by {}: the node following it is offline", upid.node, app.node));
    conclude(&mut record, &Ok(reports), &offline, version, app.apply_timeout);
    record.endtime = Some(app.clock.now());
    let key = layout::task(&record.upid);
    let txn = Txn::new().unchanged(key.clone(), entry.mod_revision).put(key, encode(&record));
    if let sdn_store::Commit::Committed(_) = app.store.commit(txn)? {
        record_task(&app.metrics, &record, &upid);
        tracing::warn!("finished task {upid} of offline node {}: {}", upid.node, record.exitstatus.as_deref().unwrap_or(""));
    }
    Ok(())
}

/// The outcome per node: every registered agent and every node the configuration names.
/// `None` for a named node that never registered.
fn outcomes(store: &dyn Store, named: &[String]) -> Result<BTreeMap<String, Option<NodeReport>>, Error> {
    let mut all: BTreeMap<String, Option<NodeReport>> = named.iter().map(|n| (n.clone(), None)).collect();
    for (node, report) in nodes::reports(store)? {
        all.insert(node, Some(report));
    }
    Ok(all)
}

/// The registered nodes (those with a report) whose agent is offline now.
fn offline_nodes(
    store: &dyn Store,
    nodes: &BTreeMap<String, Option<NodeReport>>,
    now_ms: i64,
) -> Result<BTreeMap<String, Liveness>, Error> {
    let beats = nodes::heartbeats(store)?;
    Ok(nodes
        .iter()
        .filter(|(_, report)| report.is_some())
        .map(|(node, _)| (node.clone(), Liveness::of(beats.get(node), now_ms)))
        .filter(|(_, liveness)| !liveness.is_online())
        .collect())
}

/// Writes the outcome into `record`: a log line per node (and per warning) and the exit
/// status, `OK` only when every node applied `version` completely.
fn conclude(
    record: &mut TaskRecord,
    last_read: &Result<BTreeMap<String, Option<NodeReport>>, Error>,
    offline: &BTreeMap<String, Liveness>,
    version: u64,
    timeout: Duration,
) {
    let mut failed = Vec::new();
    let mut warnings = 0;
    if last_read.as_ref().is_ok_and(BTreeMap::is_empty) {
        record.log.push("no node agent is registered; nodes render this version when their agent starts".into());
    }
    for (node, report) in last_read.iter().flatten() {
        let line = match report.as_ref().and_then(|r| r.outcome(version)) {
            Some(Ok(())) => {
                let skipped = report.as_ref().map_or(&[][..], |r| r.warnings.as_slice());
                if skipped.is_empty() {
                    format!("{node}: applied version {version}")
                } else {
                    // PVE's task logs show each warning and count them in the task's status.
                    warnings += skipped.len();
                    record.log.push(format!("{node}: applied version {version} with {} warning(s)", skipped.len()));
                    for warning in skipped {
                        record.log.push(format!("{node}: warning: {}", warning.message));
                    }
                    continue;
                }
            }
            Some(Err(error)) => {
                failed.push(node.clone());
                format!("{node}: failed to apply version {version}: {error}")
            }
            None if report.is_none() => {
                failed.push(node.clone());
                format!("{node}: named in the configuration, but no node agent has ever reported from it")
            }
            None if offline.contains_key(node) => {
                failed.push(format!("{node} (offline)"));
                let seen = offline[node].last_seen().map_or("never".to_string(), |t| format!("last seen at {t}"));
                format!(
                    "{node}: offline ({seen}), not waited for; it applies version {version} when its agent is back \
                     (if the node left the cluster for good: sdnd node remove {node})"
                )
            }
            None => {
                failed.push(node.clone());
                format!("{node}: did not report version {version} within {}s", timeout.as_secs())
            }
        };
        record.log.push(line);
    }
    record.exitstatus = Some(if let Err(err) = &last_read {
        format!("the node reports could not be read within {}s ({err}): the outcome on the nodes is unknown", timeout.as_secs())
    } else if failed.is_empty() && warnings > 0 {
        format!("WARNINGS: {warnings}")
    } else if failed.is_empty() {
        "OK".to_string()
    } else {
        format!("{} node(s) did not apply version {version}: {}", failed.len(), failed.join(", "))
    });
}

/// Pause between attempts while the store can't be read or written.
const STORE_RETRY: Duration = Duration::from_millis(200);

fn finish_task(
    store: &dyn Store,
    clock: &Clock,
    sight: &StoreSight,
    metrics: &crate::metrics::Metrics,
    upid: Upid,
    version: u64,
    timeout: Duration,
) {
    let key = layout::task(&upid.to_string());
    // The timeout runs from the task's start, also for a watcher restarted with its server.
    // (The start is in whole seconds: counted from its end, so the task never ends early.)
    let elapsed = Duration::from_millis(u64::try_from(clock.now_ms() - (upid.starttime + 1) * 1000).unwrap_or(0));
    let deadline = Instant::now() + timeout.saturating_sub(elapsed);
    // The record names the nodes to wait for: without it the outcome would be a guess, and
    // without the store its end can't be written either, so it is read until it can be.
    let mut pause = STORE_RETRY;
    let mut record = loop {
        match store.get(&key) {
            Ok(Some(entry)) => break serde_json::from_slice(&entry.value).unwrap_or_else(|_| TaskRecord::start(&upid, String::new())),
            Ok(None) => break TaskRecord::start(&upid, String::new()),
            Err(_) => {
                std::thread::sleep(pause);
                if Instant::now() >= deadline {
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    };
    let mut revision = 0;
    // The last successful reading of the reports; a failed read is retried, never taken for
    // "no nodes".
    let mut last_read: Result<BTreeMap<String, Option<NodeReport>>, Error> =
        Err(Error::Unavailable("the node reports were never read".into()));
    // Registered nodes whose agent stopped sending heartbeats: not waited for, once the store
    // has answered long enough for a live agent to have sent a fresh one.
    let mut offline: BTreeMap<String, Liveness> = BTreeMap::new();
    loop {
        let read = outcomes(store, &record.nodes);
        sight.saw(read.is_ok(), clock.now_ms());
        match read {
            Ok(nodes) => {
                if sight.trusts_heartbeats(clock.now_ms()) {
                    offline = offline_nodes(store, &nodes, clock.now_ms()).unwrap_or(offline);
                } else {
                    offline.clear();
                }
                let done = nodes.iter().all(|(node, report)| {
                    offline.contains_key(node) || report.as_ref().is_some_and(|r| r.outcome(version).is_some())
                });
                last_read = Ok(nodes);
                if done {
                    break;
                }
            }
            Err(err) => {
                if last_read.is_err() {
                    last_read = Err(err);
                }
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        match store.wait_for_change(layout::NODE_REPORTS_PREFIX, revision, remaining.min(Duration::from_secs(5))) {
            Ok(rev) => revision = rev,
            Err(_) => std::thread::sleep(STORE_RETRY),
        }
    }

    conclude(&mut record, &last_read, &offline, version, timeout);
    record.endtime = Some(clock.now());
    // Written until it sticks, on the record as last read: lines others added meanwhile (the
    // revert of a confirmed apply names its task) stay, and one added between that read and
    // this write fails the guard and is read again. A write that timed out but committed
    // after all fails its guard on the next try, and that read finds the task finished.
    let mut pause = STORE_RETRY;
    loop {
        let current = match store.get(&key) {
            Ok(current) => current,
            Err(err) => {
                tracing::warn!("could not record the end of task {upid} yet: {err}; retrying");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let stored = current.as_ref().and_then(|entry| serde_json::from_slice::<TaskRecord>(&entry.value).ok());
        if stored.as_ref().is_some_and(|stored| stored.exitstatus.is_some() && stored.upid == record.upid && stored.endtime.is_some() && stored.log.starts_with(&record.log)) {
            break;
        }
        if let Some(stored) = stored.filter(|stored| stored.log.len() > record.log.len() && stored.log.starts_with(&record.log)) {
            record.log = stored.log;
        }
        let revision = current.map_or(0, |entry| entry.mod_revision);
        let txn = Txn::new().unchanged(key.clone(), revision).put(key.clone(), encode(&record));
        match store.commit(txn) {
            Ok(sdn_store::Commit::Committed(_)) => break,
            Ok(sdn_store::Commit::GuardFailed) => {}
            Err(err) => {
                tracing::warn!("could not record the end of task {upid} yet: {err}; retrying");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
    record_task(metrics, &record, &upid);
    if let Err(err) = crate::tasks::prune(store, &upid.node, crate::tasks::RETENTION) {
        tracing::debug!("pruning the task list of {}: {err}", upid.node);
    }
}

/// Counts a finished task's duration (from its start time to its end) in the metrics.
fn record_task(metrics: &crate::metrics::Metrics, record: &TaskRecord, upid: &Upid) {
    if let (Some(status), Some(end)) = (&record.exitstatus, record.endtime) {
        let seconds = u64::try_from(end - upid.starttime).unwrap_or(0);
        metrics.task(status, Duration::from_secs(seconds));
    }
}
