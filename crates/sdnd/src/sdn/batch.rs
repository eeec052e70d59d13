//! Change sets: many changes in one transaction, all or nothing.
//!
//! A change set runs every step through the very handler that serves it alone; while it runs,
//! [`super::Sdn::mutate_authorized`] on this thread does not commit but *stages*: it checks
//! the step's privilege and the lock rule, plans the step against the pending configuration as
//! the earlier steps left it, and adds the step's changes to the stage. [`super::Sdn::change_set`]
//! then commits the staged configuration in one transaction, guarded like any single change.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use sdn_store::{Guard, Op};

use super::lock::{self, Intent, LockRecord};
use super::{Mutation, Sdn, Snapshot};
use crate::error::Error;

/// The configuration as the steps so far left it.
struct Stage {
    snapshot: Snapshot,
    /// The live lock the change set was admitted under.
    lock: Option<LockRecord>,
    now_ms: i64,
    changed: bool,
    /// The entries the steps' changes bring along (the IPAM's), and what they were planned on.
    extra: Vec<Op>,
    guards: Vec<Guard>,
}

/// Whether a change set is being staged on this thread: a step's write is then committed
/// with the whole set, or not at all.
pub fn in_change_set() -> bool {
    STAGING.with(Cell::get) || STAGE.with(|cell| cell.borrow().is_some())
}

thread_local! {
    static STAGE: RefCell<Option<Stage>> = const { RefCell::new(None) };
    /// Set while a step is planned, when its stage is out of `STAGE`: the step's plan still
    /// knows it is in a change set.
    static STAGING: Cell<bool> = const { Cell::new(false) };
}

/// The staged answer to a write, if a change set is running on this thread.
pub(super) fn stage_step<T>(
    intent: Intent<'_>,
    authorize: &impl Fn(&Snapshot) -> Result<(), Error>,
    plan: &mut impl FnMut(&Snapshot, Option<&LockRecord>) -> Result<(Mutation, T), Error>,
) -> Option<Result<T, Error>> {
    let mut stage = STAGE.with(|cell| cell.borrow_mut().take())?;
    STAGING.with(|flag| flag.set(true));
    let outcome = stage_into(&mut stage, intent, authorize, plan);
    STAGING.with(|flag| flag.set(false));
    STAGE.with(|cell| *cell.borrow_mut() = Some(stage));
    Some(outcome)
}

fn stage_into<T>(
    stage: &mut Stage,
    intent: Intent<'_>,
    authorize: &impl Fn(&Snapshot) -> Result<(), Error>,
    plan: &mut impl FnMut(&Snapshot, Option<&LockRecord>) -> Result<(Mutation, T), Error>,
) -> Result<T, Error> {
    authorize(&stage.snapshot)?;
    lock::admit(intent, stage.lock.as_ref(), stage.now_ms)?;
    let (mutation, result) = plan(&stage.snapshot, stage.lock.as_ref())?;
    if !mutation.only_changes() {
        return Err(Error::Conflict(
            "this request can't be part of a change set: only creating, changing and deleting objects can".into(),
        ));
    }
    stage.extra.extend(mutation.extra);
    for guard in mutation.guards {
        if !stage.guards.contains(&guard) {
            stage.guards.push(guard);
        }
    }
    if !mutation.changes.is_empty() {
        let pending = Arc::make_mut(&mut stage.snapshot.pending);
        for change in mutation.changes {
            pending.apply(change);
        }
        stage.changed = true;
    }
    Ok(result)
}

/// Clears this thread's stage when dropped, also when a step panics: a thread serving later
/// requests must never find a stage left behind.
struct Staging;

impl Drop for Staging {
    fn drop(&mut self) {
        STAGE.with(|cell| cell.borrow_mut().take());
        STAGING.with(|flag| flag.set(false));
    }
}

impl Sdn {
    /// Runs `steps` (which make their changes through [`Sdn::mutate_authorized`], as the
    /// handlers do) against one snapshot and commits everything they changed in one
    /// transaction, with the writes `extra` makes from their result (audit records); nothing
    /// if any step fails. `intent` is the change set's own admission under the lock rule.
    pub fn change_set<T>(
        &self,
        intent: Intent<'_>,
        mut steps: impl FnMut() -> Result<T, Error>,
        extra: impl Fn(&T) -> Vec<Op>,
    ) -> Result<T, Error> {
        if in_change_set() {
            return Err(Error::Conflict("a change set can't contain another change set".into()));
        }
        self.mutate(intent, |snapshot, lock| {
            let stage = Stage {
                snapshot: snapshot.clone(),
                lock: lock.cloned(),
                now_ms: self.clock.now_ms(),
                changed: false,
                extra: Vec::new(),
                guards: Vec::new(),
            };
            STAGE.with(|cell| *cell.borrow_mut() = Some(stage));
            let staging = Staging;
            let outcome = steps();
            let stage = STAGE.with(|cell| cell.borrow_mut().take());
            drop(staging);
            let result = outcome?;
            let stage = stage.ok_or_else(|| Error::Internal("the change set's stage vanished".into()))?;
            let replace_pending =
                stage.changed.then(|| Arc::try_unwrap(stage.snapshot.pending).unwrap_or_else(|shared| (*shared).clone()));
            let mut writes = stage.extra;
            writes.extend(extra(&result));
            let mutation = Mutation { replace_pending, extra: writes, guards: stage.guards, ..Mutation::default() };
            Ok((mutation, result))
        })
    }
}
