//! The write path's view kept current by a watch: when another node (or an admin command)
//! changes the configuration or the lock, this process re-reads the markers in the
//! background, so that its next change is usually planned on the current view and commits
//! at the first attempt (one round trip) instead of failing its guards and re-reading first.
//! A change the watch tells of also marks the view stale at once, so that a write in the
//! pause before the refresh reads the markers first instead of failing its guards first.
//! The guards stay what make a write right: a view this misses, or gets late, still only
//! costs a retry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::app::App;

/// Everything the write path's guards read lives under this prefix.
const WATCHED: &str = "sdn/";
/// How long one wait lasts before it is renewed.
const WAIT: Duration = Duration::from_secs(30);
/// After a wake, how long changes are let gather before they are taken all at once: a
/// process making a change after another (an orchestrator's burst, on this node or another)
/// wakes this thread a few dozen times a second, not once per change, and a change made
/// elsewhere is seen this much later (which at worst costs a write a retry).
const GATHER: Duration = Duration::from_millis(20);
/// The longest pause a process that only follows another's changes lets them gather (see
/// [`next_gather`]).
const MAX_GATHER: Duration = Duration::from_millis(500);
/// The pause before trying again after the watch or a refresh failed.
const RETRY: Duration = Duration::from_secs(1);

pub fn spawn_view_watcher(app: &Arc<App>) {
    let app = app.clone();
    let spawned = std::thread::Builder::new()
        .name("sdn-view".into())
        .spawn(move || {
            let mut seen = app.store.revision().unwrap_or(0);
            // One watch for all the waits: this thread is woken by every change.
            let mut watch = app.store.watch_prefix(WATCHED);
            // The view was loaded before `seen` was read, and a change in between is in no
            // wait's answer: so it is refreshed once first. A refresh that failed is tried
            // again after `RETRY`, or the view would miss the change until the next one.
            let mut stale = true;
            let mut gather = GATHER;
            // This process's last commit at the previous wake, and when that wake's pause ended.
            let mut own_before = app.sdn.last_own_commit();
            let mut gathered = Instant::now();
            loop {
                if stale {
                    match app.sdn.refresh_view() {
                        Ok(()) => stale = false,
                        Err(err) => tracing::debug!("refreshing the SDN view: {err}"),
                    }
                }
                let wait = if stale { RETRY } else { WAIT };
                match watch.wait_for_change(seen, wait) {
                    Ok(revision) if revision > seen => {
                        seen = revision;
                        // The write path hears of it now, the view is refreshed after the pause.
                        app.sdn.saw_change(seen);
                        let own_now = app.sdn.last_own_commit();
                        gather = next_gather(gather, own_now != own_before, gathered.elapsed());
                        own_before = own_now;
                        std::thread::sleep(gather);
                        gathered = Instant::now();
                        if let Ok(revision) = watch.wait_for_change(seen, Duration::ZERO) {
                            seen = seen.max(revision);
                            app.sdn.saw_change(seen);
                        }
                        // Only the newest change counts: if it is this process's own commit,
                        // its guards held the markers at this view's revisions, so the view
                        // is current through it (a change elsewhere before it that moved a
                        // marker would have failed them, and the writer re-read it).
                        stale |= !app.sdn.is_own_commit(seen);
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::debug!("watching the SDN configuration: {err}");
                        std::thread::sleep(RETRY);
                    }
                }
            }
        });
    if let Err(err) = spawned {
        tracing::error!("could not start the SDN view watcher: {err}");
    }
}

/// The pause before the next refresh, after `current`: [`GATHER`] when this process committed
/// since the last wake (its next change should find the view current) or the changes paused
/// for longer than [`MAX_GATHER`] (`quiet`: since the last pause ended); else twice `current`,
/// up to [`MAX_GATHER`]. So a node that only follows another's burst reads the markers a few
/// times a second instead of fifty (every node of a cluster does, and each read is a round
/// trip to etcd); its own first write after the burst reads them first, as any write does
/// after a change the watch told of.
fn next_gather(current: Duration, committed_here: bool, quiet: Duration) -> Duration {
    if committed_here || quiet > MAX_GATHER {
        GATHER
    } else {
        (current * 2).min(MAX_GATHER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_backs_off_while_changes_keep_coming_and_starts_over_after_its_own_commit_or_a_pause() {
        let busy = Duration::from_millis(1);
        let mut gather = GATHER;
        let mut seen = vec![];
        for _ in 0..7 {
            gather = next_gather(gather, false, busy);
            seen.push(gather.as_millis());
        }
        assert_eq!(seen, [40, 80, 160, 320, 500, 500, 500]);
        assert_eq!(next_gather(MAX_GATHER, true, busy), GATHER);
        assert_eq!(next_gather(MAX_GATHER, false, MAX_GATHER + busy), GATHER);
    }
}
