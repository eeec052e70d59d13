//! SDN transactions across clusters: lock every remote, make the same changes on each, then
//! apply everywhere or roll back everywhere.
//!
//! [`LockedClients`] holds one [`RemoteTxn`] per remote, each with an explicit
//! [`RemoteState`]. Every operation runs on all remotes in parallel (one thread per remote)
//! and moves each remote to a new state; nothing is hidden in flags. What could not be finished
//! is visible in the states, and [`RemoteReport::fix`] gives the command that finishes it.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::changeset::{ChangeSet, Step};
use crate::client::{ApiPath, Client, ClientError, LockOptions, LockToken, Method, Upid};
use crate::remotes::RemoteName;

/// What a remote was doing when something happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Lock,
    /// Step `index` (0-based) of `total`, with its description.
    Step { index: usize, total: usize, step: String },
    Rollback,
    Release,
    Apply,
    /// Following the apply task.
    Wait,
    /// Confirming a confirmed apply.
    Confirm,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Lock => f.write_str("lock"),
            Phase::Step { index, total, step } => write!(f, "step {}/{total} ({step})", index + 1),
            Phase::Rollback => f.write_str("rollback"),
            Phase::Release => f.write_str("release"),
            Phase::Apply => f.write_str("apply"),
            Phase::Wait => f.write_str("waiting for the apply task"),
            Phase::Confirm => f.write_str("confirm"),
        }
    }
}

/// Where one remote stands in the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteState {
    /// Not locked yet.
    Idle,
    /// Locking was refused (held by someone else, pending changes, no permission): nothing
    /// was changed there and this transaction holds no lock.
    NotLocked { error: String },
    /// The lock request never reached the remote (connection or TLS refused): nothing changed.
    NotReached { error: String },
    /// This transaction holds the lock; nothing changed yet.
    Locked,
    /// Every change succeeded; the lock is still held, the changes are pending.
    Changed,
    /// A call was refused; the lock is still held and earlier changes may be pending.
    Failed { phase: Phase, error: String },
    /// No answer: whether the call happened is unknown. `holds_lock` says whether this
    /// transaction may still hold the lock there.
    Unreachable { phase: Phase, error: String, holds_lock: bool },
    /// Lock released, nothing changed.
    Released,
    /// Lock released, the changes are left pending (not applied).
    ChangesPending,
    /// Every pending change was discarded and the lock released.
    RolledBack,
    /// Applied and released; the apply task was started (not waited for).
    Applying { upid: Upid },
    /// Applied and released; `exit` is the apply task's result (`OK` when every node applied).
    Applied { upid: Upid, exit: String },
    /// Applied with a confirm timeout; `exit` is the apply task's result. The lock stays held
    /// and the remote reverts by itself unless confirmed in time.
    Unconfirmed { upid: Upid, exit: String },
    /// Applied but not confirmed: the remote reverted by itself to the version before and
    /// released the lock.
    Reverted { upid: Upid, reason: String },
}

impl RemoteState {
    /// Whether this remote ended in the state a successful transaction leaves.
    pub fn is_applied_ok(&self) -> bool {
        matches!(self, RemoteState::Applied { exit, .. } if exit == "OK")
    }

    /// Whether the new configuration is running there (the transaction can't undo that).
    pub fn has_applied(&self) -> bool {
        matches!(self, RemoteState::Applied { .. } | RemoteState::Applying { .. } | RemoteState::Unconfirmed { .. })
    }
}

impl fmt::Display for RemoteState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteState::Idle => f.write_str("not locked yet"),
            RemoteState::NotLocked { error } => write!(f, "not locked, nothing changed: {error}"),
            RemoteState::NotReached { error } => write!(f, "not reached, nothing changed: {error}"),
            RemoteState::Locked => f.write_str("locked, nothing changed"),
            RemoteState::Changed => f.write_str("changed, lock held, not applied"),
            RemoteState::Failed { phase, error } => write!(f, "FAILED at {phase}, lock still held: {error}"),
            RemoteState::Unreachable { phase, error, holds_lock } => write!(
                f,
                "UNREACHABLE at {phase}, state unknown{}: {error}",
                if *holds_lock { ", may still be locked by this transaction" } else { "" }
            ),
            RemoteState::Released => f.write_str("released, nothing changed"),
            RemoteState::ChangesPending => f.write_str("changed, lock released, changes pending (not applied)"),
            RemoteState::RolledBack => f.write_str("rolled back, lock released"),
            RemoteState::Applying { upid } => write!(f, "applied, lock released, task {upid} running"),
            RemoteState::Applied { exit, .. } if exit == "OK" => f.write_str("applied on every node, lock released"),
            RemoteState::Applied { exit, .. } => write!(f, "applied, lock released, but the task failed: {exit}"),
            RemoteState::Unconfirmed { exit, .. } => {
                write!(f, "applied ({exit}), not confirmed: lock held, reverts by itself unless confirmed")
            }
            RemoteState::Reverted { reason, .. } => {
                write!(f, "applied, not confirmed ({reason}): reverted by itself to the version before, lock released")
            }
        }
    }
}

/// What a transaction reports while it runs, for progress views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A remote starts a phase.
    Started(Phase),
    /// A remote reached a new state.
    State(RemoteState),
    /// A line of a remote's apply task log.
    TaskLine(String),
}

/// Receives progress from every remote's thread.
pub trait Observer: Sync {
    fn event(&self, remote: &RemoteName, event: &Event);
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _: &RemoteName, _: &Event) {}
}

/// One remote of a transaction.
#[derive(Debug)]
pub struct RemoteTxn {
    pub(crate) client: Client,
    pub(crate) token: Option<LockToken>,
    pub(crate) state: RemoteState,
}

impl RemoteTxn {
    pub fn name(&self) -> &RemoteName {
        &self.client.remote().name
    }

    pub fn state(&self) -> &RemoteState {
        &self.state
    }

    /// The lock token while this transaction may hold the remote's lock.
    pub fn token(&self) -> Option<&LockToken> {
        self.token.as_ref()
    }

    pub(crate) fn set(&mut self, state: RemoteState, observer: &dyn Observer) {
        observer.event(self.name(), &Event::State(state.clone()));
        self.state = state;
    }

    /// Records a failed call: refused calls leave the lock held, lost ones leave it unknown.
    pub(crate) fn fail(&mut self, phase: Phase, error: &ClientError, observer: &dyn Observer) {
        let error_text = error.to_string();
        let state = if error.is_unreachable() {
            RemoteState::Unreachable { phase, error: error_text, holds_lock: self.token.is_some() }
        } else {
            RemoteState::Failed { phase, error: error_text }
        };
        self.set(state, observer);
    }
}

/// A remote's access under the transaction's lock, handed to [`LockedClients::for_each`].
pub struct Locked<'a> {
    client: &'a Client,
    token: &'a LockToken,
    observer: &'a dyn Observer,
}

impl Locked<'_> {
    pub fn name(&self) -> &RemoteName {
        &self.client.remote().name
    }

    pub fn client(&self) -> &Client {
        self.client
    }

    /// This remote's lock token.
    pub fn token(&self) -> &LockToken {
        self.token
    }

    /// A call that carries this remote's lock token.
    pub fn call(&self, method: Method, path: &ApiPath, params: &[(String, String)]) -> Result<Value, ClientError> {
        let mut params = params.to_vec();
        if method != Method::Get {
            params.push(("lock-token".to_string(), self.token.as_str().to_string()));
        }
        self.client.call(method, path, &params)
    }

    /// Tells the observer what this remote does next.
    pub fn progress(&self, phase: Phase) {
        self.observer.event(self.name(), &Event::Started(phase));
    }
}

/// A failed call inside [`LockedClients::for_each`]: where, and why.
#[derive(Debug, Clone)]
pub struct StepError {
    pub phase: Phase,
    pub error: ClientError,
}

/// Options of a transaction.
#[derive(Debug, Clone)]
pub struct TxnOptions {
    pub lock: LockOptions,
    /// How long to follow each apply task.
    pub task_timeout: Duration,
    /// The command prefix the fix commands start with (e.g. `sdnctl --remotes FILE`).
    pub command: String,
}

impl Default for TxnOptions {
    fn default() -> Self {
        TxnOptions { lock: LockOptions::default(), task_timeout: Duration::from_secs(300), command: "sdnctl".into() }
    }
}

/// A set of remotes whose SDN locks this transaction holds.
pub struct LockedClients<'o> {
    pub(crate) remotes: Vec<RemoteTxn>,
    pub(crate) options: TxnOptions,
    observer: &'o dyn Observer,
}

/// The outcome for one remote, with the commands that repair what the transaction left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteReport {
    pub name: RemoteName,
    pub state: RemoteState,
    /// Commands to run, in order, to leave the remote consistent; empty when nothing is left.
    pub fix: Vec<String>,
}

/// The end of a transaction: every remote's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub remotes: Vec<RemoteReport>,
}

impl Report {
    /// Every remote applied and every node of each reported success.
    pub fn all_applied(&self) -> bool {
        !self.remotes.is_empty() && self.remotes.iter().all(|r| r.state.is_applied_ok())
    }

    /// Nothing is left to repair.
    pub fn clean(&self) -> bool {
        self.remotes.iter().all(|r| r.fix.is_empty())
    }

    /// Every remote is as it was before (nothing applied, nothing left locked or pending).
    pub fn unchanged(&self) -> bool {
        self.remotes
            .iter()
            .all(|r| matches!(r.state, RemoteState::NotLocked { .. } | RemoteState::NotReached { .. } | RemoteState::Released | RemoteState::RolledBack | RemoteState::Idle))
    }
}

impl fmt::Display for Report {
    /// A per-remote table, then plain sentences about what can't be undone and how to repair.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.remotes.iter().map(|r| r.name.as_str().len()).max().unwrap_or(6).max(6);
        writeln!(f, "{:width$}  state", "remote")?;
        for remote in &self.remotes {
            writeln!(f, "{:width$}  {}", remote.name.as_str(), remote.state)?;
        }
        let applied: Vec<&str> =
            self.remotes.iter().filter(|r| r.state.has_applied()).map(|r| r.name.as_str()).collect();
        if !applied.is_empty() && applied.len() < self.remotes.len() {
            writeln!(
                f,
                "\n{} applied the change: it is running there and this transaction can no longer roll it back. \
                 The other remotes did not apply it.",
                applied.join(", ")
            )?;
        }
        let reverted: Vec<&str> =
            self.remotes.iter().filter(|r| matches!(r.state, RemoteState::Reverted { .. })).map(|r| r.name.as_str()).collect();
        if !reverted.is_empty() {
            writeln!(
                f,
                "\n{} applied the change but did not get the confirmation: {} back at the version before.",
                reverted.join(", "),
                if reverted.len() == 1 { "it reverted by itself and is" } else { "they reverted by themselves and are" }
            )?;
        }
        let broken: Vec<&RemoteReport> = self.remotes.iter().filter(|r| !r.fix.is_empty()).collect();
        if !broken.is_empty() {
            writeln!(f, "\nTo fix:")?;
            for remote in broken {
                for command in &remote.fix {
                    writeln!(f, "  {command}")?;
                }
            }
        }
        Ok(())
    }
}

impl<'o> LockedClients<'o> {
    /// Locks every remote in parallel. If any lock fails, releases the locks that were taken
    /// and returns the report: nothing was changed anywhere.
    pub fn lock_all(clients: Vec<Client>, options: TxnOptions, observer: &'o dyn Observer) -> Result<Self, Report> {
        let mut this = LockedClients {
            remotes: clients.into_iter().map(|client| RemoteTxn { client, token: None, state: RemoteState::Idle }).collect(),
            options,
            observer,
        };
        let lock = this.options.lock.clone();
        this.parallel(|remote, observer| {
            observer.event(remote.name(), &Event::Started(Phase::Lock));
            match remote.client.lock(&lock) {
                Ok(token) => {
                    remote.token = Some(token);
                    remote.set(RemoteState::Locked, observer);
                }
                Err(err) if err.nothing_sent() => remote.set(RemoteState::NotReached { error: err.to_string() }, observer),
                Err(err) if err.is_unreachable() => remote.fail(Phase::Lock, &err, observer),
                Err(err) => remote.set(RemoteState::NotLocked { error: err.to_string() }, observer),
            }
        });
        if this.remotes.iter().all(|r| r.state == RemoteState::Locked) {
            Ok(this)
        } else {
            this.release_all();
            Err(this.report())
        }
    }

    /// The remotes and their states.
    pub fn remotes(&self) -> &[RemoteTxn] {
        &self.remotes
    }

    /// Runs `f` on every remote that is locked and not failed, in parallel. A remote becomes
    /// `Changed` when `f` succeeds, `Failed`/`Unreachable` when it doesn't. Returns whether
    /// every remote is `Changed`.
    pub fn for_each<F>(&mut self, f: F) -> bool
    where
        F: Fn(&Locked<'_>) -> Result<(), StepError> + Sync,
    {
        self.parallel(|remote, observer| {
            if !matches!(remote.state, RemoteState::Locked | RemoteState::Changed) {
                return;
            }
            let Some(token) = remote.token.clone() else { return };
            let outcome = f(&Locked { client: &remote.client, token: &token, observer });
            match outcome {
                Ok(()) => remote.set(RemoteState::Changed, observer),
                Err(StepError { phase, error }) => remote.fail(phase, &error, observer),
            }
        });
        self.remotes.iter().all(|r| r.state == RemoteState::Changed)
    }

    /// Runs the change set's steps in order on every remote (in parallel across remotes);
    /// a remote stops at its first failed step.
    pub fn run(&mut self, changes: &ChangeSet) -> bool {
        let total = changes.steps.len();
        self.for_each(|locked| {
            for (index, step) in changes.steps.iter().enumerate() {
                let phase = Phase::Step { index, total, step: step.to_string() };
                locked.progress(phase.clone());
                run_step(locked, step).map_err(|error| StepError { phase, error })?;
            }
            Ok(())
        })
    }

    /// Discards the pending changes and releases the lock on every remote this transaction
    /// may still hold (also retrying those that were unreachable).
    pub fn rollback_all(&mut self) {
        self.parallel(|remote, observer| {
            let Some(token) = remote.token.clone() else { return };
            if remote.state.has_applied() {
                return;
            }
            observer.event(remote.name(), &Event::Started(Phase::Rollback));
            match remote.client.rollback(Some(&token), true) {
                Ok(()) => {
                    remote.token = None;
                    remote.set(RemoteState::RolledBack, observer);
                }
                Err(err) => remote.fail(Phase::Rollback, &err, observer),
            }
        });
    }

    /// Releases the locks without applying: remotes with changes keep them pending.
    pub fn release_all(&mut self) {
        self.parallel(|remote, observer| {
            let Some(token) = remote.token.clone() else { return };
            let next = match remote.state {
                RemoteState::Locked => RemoteState::Released,
                RemoteState::Changed => RemoteState::ChangesPending,
                _ => return,
            };
            observer.event(remote.name(), &Event::Started(Phase::Release));
            match remote.client.unlock(Some(&token), false) {
                Ok(()) => {
                    remote.token = None;
                    remote.set(next, observer);
                }
                Err(err) => remote.fail(Phase::Release, &err, observer),
            }
        });
    }

    /// Applies and releases every remote in parallel, then (with `wait`) follows each apply
    /// task until every node reported. Refuses (returns false, changes nothing) unless every
    /// remote is `Changed` or `Locked`, because applying part of a transaction can't be undone.
    pub fn apply_all(&mut self, wait: bool) -> bool {
        if !self.remotes.iter().all(|r| matches!(r.state, RemoteState::Changed | RemoteState::Locked)) {
            return false;
        }
        let timeout = self.options.task_timeout;
        self.parallel(|remote, observer| {
            let Some(token) = remote.token.clone() else { return };
            observer.event(remote.name(), &Event::Started(Phase::Apply));
            let upid = match remote.client.apply(Some(&token), true) {
                Ok(upid) => upid,
                Err(err) => return remote.fail(Phase::Apply, &err, observer),
            };
            remote.token = None;
            remote.set(RemoteState::Applying { upid: upid.clone() }, observer);
            if !wait {
                return;
            }
            observer.event(remote.name(), &Event::Started(Phase::Wait));
            let name = remote.name().clone();
            let waited = remote
                .client
                .wait_task(&upid, timeout, |line| observer.event(&name, &Event::TaskLine(line.to_string())));
            match waited {
                Ok(exit) => remote.set(RemoteState::Applied { upid, exit }, observer),
                Err(err) => remote.set(
                    RemoteState::Unreachable { phase: Phase::Wait, error: err.to_string(), holds_lock: false },
                    observer,
                ),
            }
        });
        self.remotes.iter().all(|r| r.state.is_applied_ok() || (!wait && r.state.has_applied()))
    }

    /// Every remote's state, with the commands that repair what is left.
    pub fn report(&self) -> Report {
        let any_applied = self.remotes.iter().any(|r| r.state.has_applied());
        let remotes = self
            .remotes
            .iter()
            .map(|remote| RemoteReport {
                name: remote.name().clone(),
                state: remote.state.clone(),
                fix: fix_commands(&self.options.command, remote, any_applied),
            })
            .collect();
        Report { remotes }
    }

    /// Runs `f` for every remote on its own thread.
    pub(crate) fn parallel<F>(&mut self, f: F)
    where
        F: Fn(&mut RemoteTxn, &dyn Observer) + Sync,
    {
        let observer = self.observer;
        let f = &f;
        std::thread::scope(|scope| {
            for remote in &mut self.remotes {
                scope.spawn(move || f(remote, observer));
            }
        });
    }
}

pub(crate) fn run_step(locked: &Locked<'_>, step: &Step) -> Result<Value, ClientError> {
    locked.call(step.method, &step.path, &step.params)
}

/// The commands that bring one remote to a consistent state; `any_applied` says whether
/// other remotes already run the new configuration (then finishing the apply is the way).
fn fix_commands(command: &str, remote: &RemoteTxn, any_applied: bool) -> Vec<String> {
    let name = remote.name();
    let base = format!("{command} --remote {name}");
    let token = remote.token.as_ref().map(LockToken::as_str);
    let finish = |token: &str| {
        if any_applied {
            vec![
                format!("{base} apply --lock-token {token} --wait    # finish the transaction like the remotes that applied"),
                format!("{base} rollback --lock-token {token}        # or: discard it here"),
            ]
        } else {
            vec![format!("{base} rollback --lock-token {token}")]
        }
    };
    match (&remote.state, token) {
        (RemoteState::Locked, Some(token)) => vec![format!("{base} unlock --lock-token {token}")],
        (RemoteState::Changed | RemoteState::Failed { .. }, Some(token)) => finish(token),
        (RemoteState::Unconfirmed { .. }, Some(token)) => vec![
            format!("{base} confirm --lock-token {token}    # keep it (before the deadline), or let it revert by itself"),
        ],
        (RemoteState::Unreachable { holds_lock: true, .. }, Some(token)) => {
            let mut commands = vec![format!("{base} status    # once it answers; if it is still locked by this transaction:")];
            commands.extend(finish(token));
            commands
        }
        (RemoteState::Unreachable { phase: Phase::Lock, .. }, _) => vec![
            format!("{base} status    # the lock request got no answer; if it shows a lock held by this token's user:"),
            format!("{base} unlock --force"),
        ],
        (RemoteState::Unreachable { phase: Phase::Wait, .. }, _) => {
            vec![format!("{base} status    # the apply was started; check that every node reports the new version")]
        }
        (RemoteState::Applied { exit, .. }, _) if exit != "OK" => vec![
            format!("{base} status    # see which node failed, fix it, then:"),
            format!("{base} apply --wait"),
        ],
        (RemoteState::ChangesPending, _) if any_applied => vec![format!("{base} apply --wait")],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remotes::Remotes;

    fn remote_txn(state: RemoteState, token: Option<&str>) -> RemoteTxn {
        let remotes = Remotes::parse(
            "[remotes.b]\nurl = \"https://127.0.0.1:1\"\ntoken = \"root@pam!t=s\"\ninsecure = true\n",
            "t",
        )
        .unwrap();
        let client = Client::new(remotes.pick(Some("b"), "t").unwrap()).unwrap();
        RemoteTxn { client, token: token.map(LockToken::new), state }
    }

    #[test]
    fn fix_commands_name_the_remote_and_the_way_out() {
        let failed = RemoteState::Failed { phase: Phase::Lock, error: "x".into() };
        let fix = fix_commands("sdnctl", &remote_txn(failed.clone(), Some("T1")), false);
        assert_eq!(fix, ["sdnctl --remote b rollback --lock-token T1"]);
        let fix = fix_commands("sdnctl", &remote_txn(failed, Some("T1")), true);
        assert!(fix[0].starts_with("sdnctl --remote b apply --lock-token T1 --wait"), "{fix:?}");
        let fix = fix_commands("sdnctl", &remote_txn(RemoteState::Locked, Some("T1")), false);
        assert_eq!(fix, ["sdnctl --remote b unlock --lock-token T1"]);
        let lost = RemoteState::Unreachable { phase: Phase::Lock, error: "x".into(), holds_lock: false };
        let fix = fix_commands("sdnctl", &remote_txn(lost, None), false);
        assert_eq!(fix[1], "sdnctl --remote b unlock --force");
        assert!(fix_commands("sdnctl", &remote_txn(RemoteState::RolledBack, None), false).is_empty());
    }

    #[test]
    fn report_says_what_cannot_be_undone() {
        let upid: Upid = "UPID:n:00000001:00000002:00000003:reloadnetworkall:2:root@pam!t:".parse().unwrap();
        let report = Report {
            remotes: vec![
                RemoteReport {
                    name: "a".parse().unwrap(),
                    state: RemoteState::Applied { upid, exit: "OK".into() },
                    fix: vec![],
                },
                RemoteReport {
                    name: "b".parse().unwrap(),
                    state: RemoteState::Failed { phase: Phase::Apply, error: "boom".into() },
                    fix: vec!["sdnctl --remote b rollback --lock-token T".into()],
                },
            ],
        };
        let text = report.to_string();
        assert!(text.contains("a applied the change") && text.contains("can no longer roll it back"), "{text}");
        assert!(text.contains("To fix:\n  sdnctl --remote b rollback --lock-token T"), "{text}");
        assert!(!report.all_applied() && !report.clean() && !report.unchanged());
    }
}
