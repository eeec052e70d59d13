//! Version history, compare, restore and confirmed apply.
//!
//! Every apply keeps the version it made (its metadata and its running-config text) in the
//! same transaction as the new running version; a confirmed apply also writes its confirm
//! window there, so that its deadline survives a restart and is seen by every node. Each
//! server watches the window and the first to see it run out (or, if asked, a node fail)
//! reverts: a new version with the configuration that was running before, in one transaction
//! guarded on the window, so exactly one server does it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use sdn_config::{Config, Kind};
use sdn_store::{Op, Revision, Store};

use crate::app::App;
use crate::audit::{self, Actor};
use crate::error::Error;
use crate::layout::{self, ConfirmWindow, TaskRecord, VersionMeta};
use crate::sdn::lock::Intent;
use crate::sdn::{parse_running, LockUpdate, Mutation};
use crate::tasks::Upid;

/// How many versions are kept when the server is not told otherwise.
pub const DEFAULT_KEEP_VERSIONS: usize = 100;
/// At most this many old versions are pruned per apply (two deletes each; etcd's default
/// --max-txn-ops is 128): after lowering the retention a lot, a few applies catch up.
const PRUNE_PER_APPLY: usize = 40;

/// Every kept version, newest first.
pub fn list(store: &dyn Store) -> Result<Vec<VersionMeta>, Error> {
    let (entries, _) = store.list(layout::VERSIONS_META_PREFIX)?;
    Ok(entries.iter().rev().filter_map(|entry| serde_json::from_slice(&entry.value).ok()).collect())
}

/// One version's metadata; 404 if it is not kept.
pub fn meta(store: &dyn Store, version: u64) -> Result<(VersionMeta, Revision), Error> {
    let entry = store.get(&layout::version_meta(version))?.ok_or_else(|| unknown(version))?;
    let meta = serde_json::from_slice(&entry.value)
        .map_err(|err| Error::Internal(format!("the record of version {version} is unreadable: {err}")))?;
    Ok((meta, entry.mod_revision))
}

/// One version's running-config text; 404 if it is not kept.
pub fn config_text(store: &dyn Store, version: u64) -> Result<Vec<u8>, Error> {
    Ok(store.get(&layout::version_config(version))?.ok_or_else(|| unknown(version))?.value)
}

/// One version's configuration; 404 if it is not kept. Version 0 is the empty configuration
/// that was "running" before the first apply.
pub fn config(store: &dyn Store, version: u64) -> Result<Config, Error> {
    if version == 0 {
        return Ok(Config::default());
    }
    Ok(parse_running(&config_text(store, version)?)?.1)
}

/// Parsed configurations of kept versions, by version and the revision of its entry (a
/// version's entry never changes, but an import may start the numbering again): a diff of a
/// large configuration then costs the comparison, not two parses.
#[derive(Default)]
pub struct ConfigCache {
    entries: std::sync::Mutex<std::collections::VecDeque<(u64, Revision, Arc<Config>)>>,
}

/// How many parsed versions a server keeps.
const CACHED_VERSIONS: usize = 8;

impl ConfigCache {
    /// One version's configuration (404 if it is not kept), parsed at most once.
    pub fn get(&self, store: &dyn Store, version: u64) -> Result<Arc<Config>, Error> {
        if version == 0 {
            return Ok(Arc::new(Config::default()));
        }
        let entry = store.get(&layout::version_config(version))?.ok_or_else(|| unknown(version))?;
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, _, config)) = entries.iter().find(|(v, rev, _)| *v == version && *rev == entry.mod_revision) {
            return Ok(config.clone());
        }
        drop(entries);
        let config = Arc::new(parse_running(&entry.value)?.1);
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.push_front((version, entry.mod_revision, config.clone()));
        entries.truncate(CACHED_VERSIONS);
        Ok(config)
    }
}

fn unknown(version: u64) -> Error {
    Error::NotFound(format!("no such SDN version {version} (see GET /cluster/sdn/versions for the kept ones)"))
}

/// The writes that keep `meta` with its running-config `text`, and prune what falls out of
/// the last `keep` versions (never the new one nor the one before it).
pub fn keep_ops(store: &dyn Store, keep: usize, meta: &VersionMeta, text: &[u8]) -> Result<Vec<Op>, Error> {
    let value = serde_json::to_vec(meta).map_err(|e| Error::Internal(e.to_string()))?;
    let mut ops = vec![
        Op::Put { key: layout::version_meta(meta.version), value },
        Op::Put { key: layout::version_config(meta.version), value: text.to_vec() },
    ];
    let (entries, _) = store.list(layout::VERSIONS_META_PREFIX)?;
    // The new version is not listed yet: the listing keeps `keep - 1` besides it, and at least
    // the previous one.
    let kept = keep.max(2) - 1;
    let mut older: Vec<u64> = entries
        .iter()
        .filter_map(|entry| entry.key.strip_prefix(layout::VERSIONS_META_PREFIX)?.parse().ok())
        .filter(|version| *version < meta.version)
        .collect();
    older.sort_unstable_by(|a, b| b.cmp(a));
    for version in older.into_iter().skip(kept).take(PRUNE_PER_APPLY) {
        ops.push(Op::Delete { key: layout::version_meta(version) });
        ops.push(Op::Delete { key: layout::version_config(version) });
    }
    Ok(ops)
}

/// The pending configuration that makes the running-config part of pending equal to `target`:
/// objects unchanged keep their place in the pending files, ipams and dns (not part of the
/// running configuration) stay as they are.
pub fn pending_restored_to(pending: &Config, target: &Config) -> Config {
    // From a copy of `pending` (it shares what stays), changing only what differs.
    let mut restored = pending.clone();
    for kind in Kind::ALL.into_iter().filter(|kind| kind.in_running_config()) {
        for pair in pending.differences(target, kind) {
            match pair {
                (Some(kept), Some(object)) if kept == object => {}
                (_, Some(object)) => restored.insert(object.clone()),
                (Some(gone), None) => restored.apply(sdn_config::Change { kind, id: gone.id().to_string(), object: None }),
                (None, None) => {}
            }
        }
    }
    restored
}

/// The object-level changes from `from` to `to` (running-config kinds only): one entry per
/// object that is new, changed or deleted, with its API form before and after.
pub fn object_diff(from: &Config, to: &Config) -> Vec<Value> {
    let mut changes = Vec::new();
    for kind in Kind::ALL.into_iter().filter(|kind| kind.in_running_config()) {
        let before: BTreeMap<&str, _> = from.list(kind).map(|o| (o.id(), o)).collect();
        let after: BTreeMap<&str, _> = to.list(kind).map(|o| (o.id(), o)).collect();
        let ids: std::collections::BTreeSet<&str> = before.keys().chain(after.keys()).copied().collect();
        for id in ids {
            let (old, new) = (before.get(id), after.get(id));
            let state = match (old, new) {
                (None, Some(_)) => "new",
                (Some(_), None) => "deleted",
                (Some(old), Some(new)) if old != new => "changed",
                _ => continue,
            };
            changes.push(json!({
                "kind": kind.path_segment(),
                "id": id,
                "state": state,
                "before": old.map(|o| o.to_api_json()),
                "after": new.map(|o| o.to_api_json()),
            }));
        }
    }
    changes
}

/// The outstanding confirm window and its entry's revision (`0` and `None`: there is none).
pub fn window(store: &dyn Store) -> Result<(Option<ConfirmWindow>, Revision), Error> {
    match store.get(layout::CONFIRM)? {
        None => Ok((None, 0)),
        Some(entry) => {
            let window = serde_json::from_slice(&entry.value)
                .map_err(|err| Error::Internal(format!("the confirm window entry is unreadable: {err}")))?;
            Ok((Some(window), entry.mod_revision))
        }
    }
}

/// The refusal of a change that needs the confirm window closed.
pub fn awaiting(window: &ConfirmWindow) -> Error {
    Error::Conflict(format!(
        "version {} awaits confirmation until {}: confirm it (POST /cluster/sdn/confirm) or wait for the revert",
        window.version,
        window.deadline()
    ))
}

/// `POST /cluster/sdn/versions/{version}/restore`: pending becomes that version's configuration.
pub fn restore(
    app: &App,
    actor: &Actor,
    token: Option<&str>,
    version: u64,
    allow_pending: bool,
    comment: Option<&str>,
) -> Result<(), Error> {
    let target = config(app.store.as_ref(), version)?;
    app.sdn.mutate(Intent::Change { token }, |snapshot, _| {
        if !allow_pending && sdn_config::has_pending_changes(&snapshot.pending, &snapshot.running) {
            return Err(Error::Conflict(
                "there are pending changes: apply or roll them back first, or restore with allow-pending=1".into(),
            ));
        }
        // Read again inside the transaction's plan: pruning may have removed it meanwhile.
        let (_, meta_rev) = meta(app.store.as_ref(), version)?;
        let record = audit::Entry::new(app.clock.now_ms(), "restore", actor).comment(comment).version(version);
        let restored = pending_restored_to(&snapshot.pending, &target);
        // The IPAM follows the subnets the restore brings back or removes, as for a rollback.
        let (mut guards, ipam_ops) = app.ipam.plan_reconcile(&restored)?;
        guards.push(crate::sdn::unchanged(layout::version_meta(version), meta_rev));
        let mut extra = vec![record.detail(format!("pending is version {version} again")).op()];
        extra.extend(ipam_ops);
        let mutation = Mutation {
            replace_pending: Some(restored),
            extra,
            guards,
            ..Mutation::default()
        };
        Ok((mutation, ()))
    })?;
    tracing::info!("SDN version {version} restored into pending by {}", actor.user);
    Ok(())
}

/// `POST /cluster/sdn/confirm`: keeps the version a confirmed apply made; returns it.
pub fn confirm(app: &App, actor: &Actor, token: Option<&str>) -> Result<u64, Error> {
    let version = app.sdn.mutate(Intent::Change { token }, |_, lock| {
        let (window, window_rev) = window(app.store.as_ref())?;
        let Some(window) = window else {
            return Err(Error::Conflict("no confirmed apply awaits confirmation".into()));
        };
        let now = app.clock.now_ms();
        if now >= window.deadline_ms {
            return Err(Error::Conflict(format!(
                "the confirmation of version {} was due by {}: it is being reverted",
                window.version,
                window.deadline()
            )));
        }
        let (mut meta, _) = meta(app.store.as_ref(), window.version)?;
        meta.confirmed = true;
        let value = serde_json::to_vec(&meta).map_err(|e| Error::Internal(e.to_string()))?;
        let mut extra = vec![
            Op::Delete { key: layout::CONFIRM.into() },
            Op::Put { key: layout::version_meta(window.version), value },
            audit::Entry::new(now, "confirm", actor).version(window.version).op(),
        ];
        let held = held_lock(&window, lock);
        let release = held && window.release_lock;
        if release {
            extra.push(audit::Entry::new(now, "unlock", actor).version(window.version).detail("released on confirm").op());
        }
        let mutation = Mutation {
            lock: release.then_some(LockUpdate::Remove),
            extra,
            guards: vec![crate::sdn::unchanged(layout::CONFIRM, window_rev)],
            ..Mutation::default()
        };
        Ok((mutation, window.version))
    })?;
    tracing::info!("SDN version {version} confirmed by {}", actor.user);
    Ok(version)
}

/// Whether `lock` (the live lock) is the one the window's apply was made under.
fn held_lock(window: &ConfirmWindow, lock: Option<&crate::layout::LockRecord>) -> bool {
    matches!((&window.lock_sha256, lock), (Some(hash), Some(lock)) if *hash == lock.token_sha256)
}

/// Reverts the window's apply: the configuration of the version before becomes running (and
/// pending) again as a new version, in one transaction guarded on the window. Returns the
/// revert task's UPID, or `None` if another server got there first (or it was confirmed).
pub fn revert(app: &App, reason: &str) -> Result<Option<Upid>, Error> {
    let (Some(window), _) = window(app.store.as_ref())? else { return Ok(None) };
    let previous = config(app.store.as_ref(), window.previous)?;
    let outcome = app.sdn.mutate(Intent::Revert, |snapshot, lock| {
        let (current, window_rev) = self::window(app.store.as_ref())?;
        if current.as_ref() != Some(&window) {
            return Err(Error::NotFound("the confirm window was closed meanwhile".into()));
        }
        let version = snapshot.running_version + 1;
        let (text, running_parsed) = crate::apply::running_config(&previous, version)?;
        let named = previous.named_nodes().into_iter().collect();
        let (upid, task) = crate::apply::start_task(app, audit::SERVER, version, named);
        let now = app.clock.now_ms();
        let comment = format!("revert of version {}: {reason}", window.version);
        let meta = VersionMeta {
            version,
            time: app.clock.now(),
            user: audit::SERVER.into(),
            upid: upid.to_string(),
            comment: Some(comment.clone()),
            confirmed: true,
        };
        let mut extra = keep_ops(app.store.as_ref(), app.keep_versions, &meta, &text)?;
        extra.push(task);
        extra.push(Op::Delete { key: layout::CONFIRM.into() });
        let detail = format!(
            "version {} reverted to the configuration of version {} as version {version} ({upid})",
            window.version, window.previous
        );
        extra.push(audit::Entry::new(now, "revert", &Actor::server()).comment(Some(&comment)).version(version).detail(detail).op());
        let mut guards = vec![crate::sdn::unchanged(layout::CONFIRM, window_rev)];
        if let Some((line, guard)) = first_task_line(app, &window, version, &upid, reason)? {
            extra.push(line);
            guards.push(guard);
        }
        let release = held_lock(&window, lock);
        if release {
            let holder = lock.map(|l| l.holder.clone()).unwrap_or_default();
            let entry = audit::Entry::new(now, "unlock", &Actor::server()).version(version);
            extra.push(entry.detail(format!("lock of {holder} released after the revert")).op());
        }
        let mutation = Mutation {
            replace_pending: Some(pending_restored_to(&snapshot.pending, &previous)),
            running: Some((version, text)),
            running_parsed: Some(running_parsed),
            lock: release.then_some(LockUpdate::Remove),
            extra,
            guards,
            ..Mutation::default()
        };
        Ok((mutation, (upid, version)))
    });
    match outcome {
        Ok((upid, version)) => {
            tracing::warn!("SDN version {} reverted ({reason}): version {version} ({upid})", window.version);
            crate::apply::watch_task(app, upid.clone(), version);
            Ok(Some(upid))
        }
        Err(Error::NotFound(_)) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The first task's record with a line naming the revert task, as a write, and the guard
/// that the record is still the one read: its watcher may finish the task meanwhile, and
/// writing the record read before would turn the finished task back to running for good.
fn first_task_line(app: &App, window: &ConfirmWindow, version: u64, upid: &Upid, reason: &str) -> Result<Option<(Op, sdn_store::Guard)>, Error> {
    let key = layout::task(&window.upid);
    let Some(entry) = app.store.get(&key)? else { return Ok(None) };
    let Ok(mut record) = serde_json::from_slice::<TaskRecord>(&entry.value) else { return Ok(None) };
    record.log.push(format!("reverted ({reason}): version {version} runs version {}'s configuration, task {upid}", window.previous));
    let guard = crate::sdn::unchanged(key.clone(), entry.mod_revision);
    Ok(Some((Op::Put { key, value: serde_json::to_vec(&record).unwrap_or_default() }, guard)))
}

/// The first node that reported a failed apply of `version`, with its error.
fn failed_node(app: &App, version: u64) -> Result<Option<(String, String)>, Error> {
    Ok(app
        .node_reports()?
        .into_iter()
        .find_map(|(node, report)| match report.outcome(version) {
            Some(Err(error)) => Some((node, error.to_string())),
            _ => None,
        }))
}

/// How often an outstanding window is looked at (its deadline is kept to this precision).
const WATCH_INTERVAL: Duration = Duration::from_millis(200);
/// How often the window is looked at while none is open and the watch tells of no change (a
/// window opened on any server wakes the watch at once).
const IDLE_LOOK: Duration = Duration::from_secs(10);

/// Starts the thread that reverts a confirmed apply whose window ran out (or, if asked, whose
/// apply failed on a node). Every server runs one; the window's guard lets one revert.
pub fn spawn_confirm_watcher(app: &Arc<App>) {
    let app = app.clone();
    let spawned = std::thread::Builder::new().name("confirm-watcher".into()).spawn(move || {
        // A server with no window open costs the store nothing but this watch.
        let mut follower = crate::follow::Follower::new(app.store.as_ref(), layout::CONFIRM);
        loop {
            match watch_once(&app) {
                Ok(true) => std::thread::sleep(WATCH_INTERVAL),
                Ok(false) => {
                    follower.wait(IDLE_LOOK);
                }
                Err(err) => {
                    tracing::debug!("watching the confirm window: {err}");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    });
    if let Err(err) = spawned {
        tracing::error!("could not start the confirm watcher: {err}");
    }
}

/// Looks at the window once, reverting if it is due; whether one is (still) outstanding.
fn watch_once(app: &App) -> Result<bool, Error> {
    let (Some(window), _) = window(app.store.as_ref())? else { return Ok(false) };
    let now = app.clock.now_ms();
    let reason = if now >= window.deadline_ms {
        Some(format!("not confirmed by {}", window.deadline()))
    } else if window.revert_on_failure {
        failed_node(app, window.version)?.map(|(node, error)| format!("node {node} failed to apply it: {error}"))
    } else {
        None
    };
    if let Some(reason) = reason {
        revert(app, &reason)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(zones: &[(&str, &str)]) -> Config {
        let mut config = Config::default();
        for (zone, mtu) in zones {
            let params =
                [("zone", *zone), ("type", "simple"), ("mtu", *mtu)].into_iter().map(|(k, v)| (k.to_string(), v.into())).collect();
            let change = config.plan_create(Kind::Zones, &params).unwrap();
            config.apply(change);
        }
        config
    }

    #[test]
    fn diff_names_new_changed_and_deleted_objects() {
        let from = config(&[("za", "1500"), ("zb", "1500")]);
        let to = config(&[("zb", "1400"), ("zc", "1500")]);
        let diff = object_diff(&from, &to);
        let states: Vec<(&str, &str)> =
            diff.iter().map(|c| (c["id"].as_str().unwrap(), c["state"].as_str().unwrap())).collect();
        assert_eq!(states, [("za", "deleted"), ("zb", "changed"), ("zc", "new")]);
        assert_eq!(diff[1]["before"]["mtu"], 1500);
        assert_eq!(diff[1]["after"]["mtu"], 1400);
        assert!(diff[0]["after"].is_null() && diff[2]["before"].is_null());
        assert!(object_diff(&to, &to).is_empty());
    }
}
