//! The access records kept confirmed in the background on a remote store (etcd): a thread
//! reads their generation every [`CONFIRM_INTERVAL`] while reads are being served (see
//! [`Auth::confirmation_in_use`]), and at once when a watch says it changed, so that reads
//! are authenticated on records found current a moment ago (see [`Auth::authenticate_recent`])
//! instead of each reading the generation itself (a round trip to etcd per GET before).

use std::sync::Arc;
use std::time::Duration;

#[cfg(doc)]
use super::Auth;
use super::CONFIRM_INTERVAL;
use crate::app::App;
use crate::follow::Follower;
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
            let mut follower = Follower::new(app.store.as_ref(), layout::ACCESS_GENERATION);
            let mut confirm = true;
            loop {
                if confirm {
                    if let Err(err) = app.auth.confirm() {
                        tracing::debug!("confirming the access records: {err}");
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                }
                // A wait that times out costs no round trip: then the records are confirmed
                // only while reads lean on it.
                confirm = follower.wait(CONFIRM_INTERVAL) || app.auth.confirmation_in_use();
            }
        });
    if let Err(err) = spawned {
        tracing::error!("could not start the access watcher: {err}");
    }
}
