//! The write path's view kept current by a watch: when another node (or an admin command)
//! changes the configuration or the lock, this process re-reads the markers in the
//! background, so that its next change is usually planned on the current view and commits
//! at the first attempt (one round trip) instead of failing its guards and re-reading first.
//! The guards stay what make a write right: a view this misses, or gets late, still only
//! costs a retry.

use std::sync::Arc;
use std::time::Duration;

use crate::app::App;

/// Everything the write path's guards read lives under this prefix.
const WATCHED: &str = "sdn/";
/// How long one wait lasts before it is renewed.
const WAIT: Duration = Duration::from_secs(30);

pub fn spawn_view_watcher(app: &Arc<App>) {
    let app = app.clone();
    let spawned = std::thread::Builder::new()
        .name("sdn-view".into())
        .spawn(move || {
            let mut seen = app.store.revision().unwrap_or(0);
            loop {
                match app.store.wait_for_change(WATCHED, seen, WAIT) {
                    Ok(revision) if revision > seen => {
                        seen = revision;
                        // Our own commit: the view already holds it.
                        if app.sdn.is_own_commit(revision) {
                            continue;
                        }
                        if let Err(err) = app.sdn.read_current() {
                            tracing::debug!(
                                "refreshing the SDN view after a change elsewhere: {err}"
                            );
                        }
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::debug!("watching the SDN configuration: {err}");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        });
    if let Err(err) = spawned {
        tracing::error!("could not start the SDN view watcher: {err}");
    }
}
