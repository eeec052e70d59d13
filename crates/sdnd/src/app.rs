//! The state every request handler shares.

use std::sync::Arc;
use std::time::Duration;

use sdn_store::Store;

use crate::auth::Auth;
use crate::sdn::Sdn;

/// Everything a handler may use. Built once by `serve` (or a CLI command) and shared.
pub struct App {
    pub store: Arc<dyn Store>,
    pub sdn: Sdn,
    pub auth: Auth,
    /// This node's name: the second field of the UPIDs it creates.
    pub node: String,
    /// How long an apply task waits for node agents to report.
    pub apply_timeout: Duration,
    /// This process's start time in clock ticks, for UPIDs.
    pub pstart: u64,
}

impl App {
    pub fn new(store: Arc<dyn Store>, node: String, apply_timeout: Duration, ticket_lifetime: i64) -> Arc<Self> {
        Arc::new(Self {
            sdn: Sdn::new(store.clone()),
            auth: Auth::new(store.clone(), ticket_lifetime),
            store,
            node,
            apply_timeout,
            pstart: crate::tasks::process_start_ticks(),
        })
    }
}
