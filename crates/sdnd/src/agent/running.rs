//! The running configuration as this node's agent last read it, one parse per applied
//! version shared by the agent's threads: the renderer, the status queries (which fabrics the
//! node is in) and the DHCP side. At 100,000 vnets a parse is a few hundred milliseconds of
//! CPU, paid once by whichever thread asks first after an apply, while the others wait for it
//! instead of parsing the same bytes again beside it.

use std::sync::{Arc, Mutex};

use sdn_config::{Reading, RunningConfig};
use sdn_store::{Revision, Store};

use crate::layout;

/// The mod revision of the running version entry, which is rewritten with every write of the
/// running configuration (0: nothing applied yet): what tells whether the configuration
/// changed without reading it (megabytes of JSON at 100,000 vnets).
fn running_revision(store: &dyn Store) -> Result<Revision, String> {
    Ok(store.get(layout::RUNNING_VERSION).map_err(|e| e.to_string())?.map_or(0, |e| e.mod_revision))
}

/// The running configuration at the revision of its version entry when it was read.
#[derive(Clone, Default)]
pub struct RunningSnapshot {
    /// [`running_revision`] just before the configuration was read: the configuration is that
    /// version or a newer one, never an older one.
    pub revision: Revision,
    pub config: Arc<RunningConfig>,
}

/// The snapshot the agent's threads share; cloning shares it.
#[derive(Clone, Default)]
pub struct SharedRunning(Arc<Mutex<Option<RunningSnapshot>>>);

impl SharedRunning {
    /// The running configuration now: one small read when it has not moved since the last
    /// call of any thread, else read and parsed once for all of them.
    pub fn current(&self, store: &dyn Store) -> Result<RunningSnapshot, String> {
        let revision = running_revision(store)?;
        // Held across the read and the parse: a thread asking meanwhile waits for this parse
        // rather than doing its own. Only the agent's threads take it, never a request.
        let mut shared = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some(snapshot) = shared.as_ref().filter(|snapshot| snapshot.revision == revision) {
            return Ok(snapshot.clone());
        }
        // Read after the revision: it can only be as new or newer, which costs one more read
        // on the next pass, never a stale configuration.
        let stored = store.get(layout::RUNNING_CONFIG).map_err(|e| e.to_string())?;
        // sdnd wrote it (`Config::to_running_config`), so it is read strictly.
        let config = match &stored {
            Some(entry) => RunningConfig::from_slice(&entry.value, Reading::Strict)
                .map_err(|e| format!("running config unreadable: {e}"))?,
            None => RunningConfig::default(),
        };
        let snapshot = RunningSnapshot { revision, config: Arc::new(config) };
        *shared = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// The snapshot last read by any of the threads, without a store read ([`Self::current`]
    /// if none was read yet): for the threads that follow the agent's main thread, which reads
    /// it again whenever its watch tells of a change of the running configuration.
    pub fn latest(&self, store: &dyn Store) -> Result<RunningSnapshot, String> {
        let last = self.0.lock().unwrap_or_else(|poison| poison.into_inner()).clone();
        match last {
            Some(snapshot) => Ok(snapshot),
            None => self.current(store),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdn_store::Txn;

    #[test]
    fn one_parse_per_version_whichever_thread_asks() {
        let dir = tempfile::tempdir().unwrap();
        let store = sdn_store::SqliteStore::open(&dir.path().join("store.db")).unwrap();
        let shared = SharedRunning::default();
        let empty = shared.current(&store).unwrap();
        assert_eq!((empty.revision, empty.config.version), (0, None), "nothing applied yet");

        let write = |version: u64| {
            let running = serde_json::to_vec(&sdn_config::Config::default().to_running_config(version)).unwrap();
            store
                .commit(Txn::new().put(layout::RUNNING_CONFIG, running).put(layout::RUNNING_VERSION, version.to_string()))
                .unwrap();
        };
        write(1);
        let other_thread = shared.clone();
        let first = std::thread::scope(|s| s.spawn(|| other_thread.current(&store).unwrap()).join().unwrap());
        assert_eq!(first.config.version, Some(1));
        let again = shared.current(&store).unwrap();
        assert!(Arc::ptr_eq(&first.config, &again.config), "parsed once, shared");

        write(2);
        let next = shared.current(&store).unwrap();
        assert_eq!(next.config.version, Some(2));
        assert!(next.revision > first.revision);
    }
}
