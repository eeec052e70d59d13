//! The access records kept confirmed in the background on a remote store (etcd): a thread
//! reads their generation
//! every [`CONFIRM_INTERVAL`], and at once when a watch says it changed, so that reads are
//! authenticated on records found current a moment ago (see [`Auth::authenticate_recent`])
//! instead of each reading the generation itself (a round trip to etcd per GET before).

use std::sync::Arc;
use std::time::Duration;

#[cfg(doc)]
use super::Auth;
use super::CONFIRM_INTERVAL;
use crate::app::App;
use crate::layout;

/// Starts the watcher on a remote store (on SQLite every read reads the generation itself).
pub fn spawn_access_watcher(app: &Arc<App>) {
    if !app.store.remote() {
        return;
    }
    let app = app.clone();
    let spawned = std::thread::Builder::new()
        .name("access-watch".into())
        .spawn(move || {
            let mut watch = app.store.watch_prefix(layout::ACCESS_GENERATION);
            loop {
                let seen = match app.auth.confirm() {
                    Ok(generation) => generation.unwrap_or(0),
                    Err(err) => {
                        tracing::debug!("confirming the access records: {err}");
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                };
                if let Err(err) = watch.wait_for_change(seen, CONFIRM_INTERVAL) {
                    tracing::debug!("watching the access records: {err}");
                    std::thread::sleep(CONFIRM_INTERVAL);
                }
            }
        });
    if let Err(err) = spawned {
        tracing::error!("could not start the access watcher: {err}");
    }
}
