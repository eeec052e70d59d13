//! Truly all-or-nothing transactions, where the remotes are sdnd: each remote's change set
//! goes as one `POST /cluster/sdn/changes` (all steps or none), and the apply is a confirmed
//! apply on every remote, confirmed only once every remote's apply task ended OK. If any
//! remote fails, the others are not confirmed and revert by themselves. Stock PVE remotes
//! (which answer 501 to both) get the step-by-step change set and a plain apply.
//!
//! Also the client side of the history: versions, diffs, restore, confirm and the audit trail.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::changeset::ChangeSet;
use crate::client::{ApiPath, Client, ClientError, LockToken, Method, Upid};
use crate::txn::{run_step, Event, LockedClients, Phase, RemoteState, StepError};

fn path(text: &str) -> ApiPath {
    text.parse().expect("a fixed API path")
}

/// Whether an answer says the server does not have the path (stock PVE: 501).
fn lacks(err: &ClientError) -> bool {
    err.status() == Some(501)
}

/// The change set as the `steps` of `POST /cluster/sdn/changes`: repeated parameters become
/// lists, as the server reads a repeated parameter.
pub fn steps_json(changes: &ChangeSet) -> Value {
    let steps: Vec<Value> = changes
        .steps
        .iter()
        .map(|step| {
            let mut params = Map::new();
            for (name, value) in &step.params {
                match params.get_mut(name) {
                    None => {
                        params.insert(name.clone(), Value::String(value.clone()));
                    }
                    Some(Value::Array(items)) => items.push(Value::String(value.clone())),
                    Some(existing) => {
                        let first = existing.take();
                        *existing = Value::Array(vec![first, Value::String(value.clone())]);
                    }
                }
            }
            let method = match step.method {
                Method::Create => "POST",
                Method::Set => "PUT",
                Method::Delete => "DELETE",
                Method::Get => "GET",
            };
            json!({ "method": method, "path": step.path.as_str(), "params": params })
        })
        .collect();
    Value::Array(steps)
}

/// `POST /cluster/sdn/changes`; `Ok(false)` when the remote does not have it (stock PVE).
pub fn send_change_set(client: &Client, token: Option<&LockToken>, changes: &ChangeSet) -> Result<bool, ClientError> {
    let mut params = vec![("steps".to_string(), steps_json(changes).to_string())];
    if let Some(token) = token {
        params.push(("lock-token".into(), token.as_str().into()));
    }
    match client.call(Method::Create, &path("/cluster/sdn/changes"), &params) {
        Ok(_) => Ok(true),
        Err(err) if lacks(&err) => Ok(false),
        Err(err) => Err(err),
    }
}

/// `PUT /cluster/sdn` with `confirm-timeout` (and `revert-on-failure`); the lock stays held
/// until the confirm or the revert.
pub fn apply_confirmed(
    client: &Client,
    token: Option<&LockToken>,
    timeout: u64,
    revert_on_failure: bool,
    comment: Option<&str>,
) -> Result<Upid, ClientError> {
    let mut params = vec![("confirm-timeout".to_string(), timeout.to_string())];
    if revert_on_failure {
        params.push(("revert-on-failure".into(), "1".into()));
    }
    if let Some(token) = token {
        params.push(("lock-token".into(), token.as_str().into()));
    }
    if let Some(comment) = comment {
        params.push(("comment".into(), comment.into()));
    }
    let data = client.call(Method::Set, &path("/cluster/sdn"), &params)?;
    data.as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|message| ClientError::Protocol { remote: client.remote().name.to_string(), message })
}

/// `POST /cluster/sdn/confirm`: returns the confirmed version.
pub fn confirm(client: &Client, token: Option<&LockToken>) -> Result<Value, ClientError> {
    let params: Vec<(String, String)> =
        token.map(|t| vec![("lock-token".to_string(), t.as_str().to_string())]).unwrap_or_default();
    client.call(Method::Create, &path("/cluster/sdn/confirm"), &params)
}

/// `GET /cluster/sdn/confirm`: the outstanding confirm window (`None`: none); an error with
/// status 501 on a server without confirmed apply.
pub fn window(client: &Client) -> Result<Option<Value>, ClientError> {
    let data = client.call(Method::Get, &path("/cluster/sdn/confirm"), &[])?;
    Ok((!data.is_null()).then_some(data))
}

/// Waits until the window of the apply `upid` is closed (confirmed elsewhere or reverted),
/// for at most `timeout`; whether it closed.
fn wait_window_closed(client: &Client, upid: &Upid, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    let upid = upid.to_string();
    while Instant::now() < end {
        match window(client) {
            Ok(None) => return true,
            Ok(Some(window)) if window["upid"].as_str() != Some(upid.as_str()) => return true,
            _ => std::thread::sleep(Duration::from_millis(250)),
        }
    }
    false
}

impl LockedClients<'_> {
    /// Runs the change set on every remote: as one `POST /cluster/sdn/changes` where the remote
    /// has it (all steps or none), step by step where it answers 501.
    pub fn run_atomic(&mut self, changes: &ChangeSet) -> bool {
        let total = changes.steps.len();
        self.for_each(|locked| {
            let phase = Phase::Step { index: 0, total, step: format!("change set of {total} step(s)") };
            locked.progress(phase.clone());
            match send_change_set(locked.client(), Some(locked.token()), changes) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(error) => return Err(StepError { phase, error }),
            }
            for (index, step) in changes.steps.iter().enumerate() {
                let phase = Phase::Step { index, total, step: step.to_string() };
                locked.progress(phase.clone());
                run_step(locked, step).map_err(|error| StepError { phase, error })?;
            }
            Ok(())
        })
    }

    /// Applies on every remote with `confirm_timeout` (and revert-on-failure), follows every
    /// apply task, and confirms each remote only when every remote's task ended OK. Otherwise
    /// confirms none: the remotes that applied revert by themselves (this waits for that, at
    /// most the timeout and a margin), the others are rolled back. Stock PVE remotes get a
    /// plain apply. Refuses (false, nothing changed) unless every remote is `Changed` or
    /// `Locked`. Returns whether every remote ended applied and confirmed.
    pub fn apply_confirmed_all(&mut self, confirm_timeout: u64) -> bool {
        if !self.remotes.iter().all(|r| matches!(r.state, RemoteState::Changed | RemoteState::Locked)) {
            return false;
        }
        let task_timeout = self.options.task_timeout;
        let comment = self.options.lock.comment.clone();
        self.parallel(|remote, observer| {
            let Some(token) = remote.token.clone() else { return };
            observer.event(remote.name(), &Event::Started(Phase::Apply));
            let stock = matches!(window(&remote.client), Err(err) if lacks(&err));
            let applied = if stock {
                remote.client.apply(Some(&token), true)
            } else {
                apply_confirmed(&remote.client, Some(&token), confirm_timeout, true, comment.as_deref())
            };
            let upid = match applied {
                Ok(upid) => upid,
                Err(err) => return remote.fail(Phase::Apply, &err, observer),
            };
            if stock {
                remote.token = None;
            }
            remote.set(RemoteState::Applying { upid: upid.clone() }, observer);
            observer.event(remote.name(), &Event::Started(Phase::Wait));
            let name = remote.name().clone();
            let waited =
                remote.client.wait_task(&upid, task_timeout, |line| observer.event(&name, &Event::TaskLine(line.to_string())));
            let state = match waited {
                Ok(exit) if stock => RemoteState::Applied { upid, exit },
                Ok(exit) => RemoteState::Unconfirmed { upid, exit },
                Err(err) => RemoteState::Unreachable { phase: Phase::Wait, error: err.to_string(), holds_lock: !stock },
            };
            remote.set(state, observer);
        });
        let all_ok = self.remotes.iter().all(|r| match &r.state {
            RemoteState::Unconfirmed { exit, .. } | RemoteState::Applied { exit, .. } => exit == "OK",
            _ => false,
        });
        let grace = Duration::from_secs(confirm_timeout + 30);
        self.parallel(|remote, observer| {
            let state = remote.state.clone();
            match state {
                RemoteState::Unconfirmed { upid, exit } if all_ok => {
                    observer.event(remote.name(), &Event::Started(Phase::Confirm));
                    match confirm(&remote.client, remote.token.as_ref()) {
                        Ok(_) => {
                            remote.token = None;
                            remote.set(RemoteState::Applied { upid, exit }, observer);
                        }
                        Err(err) => remote.fail(Phase::Confirm, &err, observer),
                    }
                }
                RemoteState::Unconfirmed { upid, exit } => {
                    observer.event(remote.name(), &Event::Started(Phase::Wait));
                    if wait_window_closed(&remote.client, &upid, grace) {
                        remote.token = None;
                        let reason = if exit == "OK" { "another remote failed".to_string() } else { exit };
                        remote.set(RemoteState::Reverted { upid, reason }, observer);
                    }
                }
                RemoteState::Changed | RemoteState::Locked | RemoteState::Failed { .. } if !all_ok => {
                    let Some(token) = remote.token.clone() else { return };
                    observer.event(remote.name(), &Event::Started(Phase::Rollback));
                    match remote.client.rollback(Some(&token), true) {
                        Ok(()) => {
                            remote.token = None;
                            remote.set(RemoteState::RolledBack, observer);
                        }
                        Err(err) => remote.fail(Phase::Rollback, &err, observer),
                    }
                }
                _ => {}
            }
        });
        self.remotes.iter().all(|r| r.state.is_applied_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_become_lists() {
        let changes = ChangeSet::parse(
            "- create: /cluster/sdn/zones\n  params: {zone: z1, type: simple, nodes: [a, b]}\n- delete: /cluster/sdn/vnets/v1\n",
            crate::changeset::Syntax::Yaml,
            "t.yaml",
        )
        .unwrap();
        let steps = steps_json(&changes);
        assert_eq!(steps[0]["method"], "POST");
        assert_eq!(steps[0]["path"], "/cluster/sdn/zones");
        assert_eq!(steps[0]["params"]["nodes"], json!(["a", "b"]));
        assert_eq!(steps[1], json!({"method": "DELETE", "path": "/cluster/sdn/vnets/v1", "params": {}}));
    }
}
