//! The state every request handler shares: the core's services, composed once.

use std::sync::Arc;
use std::time::Duration;

use sdn_store::Store;

use crate::auth::Auth;
use crate::clock::Clock;
use crate::sdn::Sdn;

/// Everything a handler may use. Built once by `serve` (or a CLI command) and shared.
pub struct App {
    /// For the core's modules (tasks, node reports); handlers go through them.
    pub(crate) store: Arc<dyn Store>,
    pub sdn: Sdn,
    /// The PVE IPAM's state.
    pub ipam: crate::ipam::Ipam,
    pub auth: Auth,
    pub clock: Clock,
    /// This node's name: the second field of the UPIDs it creates.
    pub node: String,
    /// How long an apply task waits for node agents to report.
    pub apply_timeout: Duration,
    /// This process's start time in clock ticks, for UPIDs.
    pub pstart: u64,
    /// Whether the store has answered long enough for stale heartbeats to mean dead agents.
    pub(crate) store_sight: Arc<crate::nodes::StoreSight>,
    /// What `GET /metrics` reports (the store above times its calls into it).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// How many applied versions the history keeps.
    pub keep_versions: usize,
    /// Parsed configurations of kept versions, for diffs.
    pub(crate) versions: crate::history::ConfigCache,
}

/// How an [`App`] is set up besides its store.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub node: String,
    pub apply_timeout: Duration,
    /// Seconds a login ticket stays valid.
    pub ticket_lifetime: i64,
    pub clock: Clock,
    /// How many applied versions the history keeps (at least 2: the running and the previous).
    pub keep_versions: usize,
}

impl App {
    pub fn new(store: Arc<dyn Store>, options: AppOptions) -> Arc<Self> {
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let store: Arc<dyn Store> = Arc::new(crate::metrics::TimedStore::new(store, metrics.clone()));
        // Commits of a write authenticated on cached access records are guarded on them.
        let store: Arc<dyn Store> = Arc::new(crate::auth::guard::GuardedStore::new(store));
        Arc::new(Self {
            sdn: Sdn::new(store.clone(), options.clock.clone()),
            ipam: crate::ipam::Ipam::new(store.clone()),
            auth: Auth::new(store.clone(), options.clock.clone(), options.ticket_lifetime),
            store,
            clock: options.clock,
            node: options.node,
            apply_timeout: options.apply_timeout,
            pstart: crate::tasks::process_start_ticks(),
            store_sight: Arc::default(),
            metrics,
            keep_versions: options.keep_versions.max(2),
            versions: Default::default(),
        })
    }
}

/// What the node agents report, for the handlers (which never read the store themselves).
impl App {
    pub fn node_report(&self, node: &str) -> Result<Option<crate::layout::NodeReport>, crate::Error> {
        crate::nodes::report(self.store.as_ref(), node)
    }

    pub fn node_reports(&self) -> Result<std::collections::BTreeMap<String, crate::layout::NodeReport>, crate::Error> {
        crate::nodes::reports(self.store.as_ref())
    }

    /// What failed in a node's last DHCP pass (see [`crate::nodes::with_dhcp`]).
    pub fn node_dhcp(&self, node: &str) -> Result<Option<crate::layout::DhcpReport>, crate::Error> {
        crate::nodes::dhcp(self.store.as_ref(), node)
    }

    pub fn node_dhcps(&self) -> Result<std::collections::BTreeMap<String, crate::layout::DhcpReport>, crate::Error> {
        crate::nodes::dhcps(self.store.as_ref())
    }

    pub fn node_files(&self, node: &str) -> Result<crate::layout::NodeFiles, crate::Error> {
        crate::nodes::files(self.store.as_ref(), node)
    }

    pub fn heartbeats(&self) -> Result<std::collections::BTreeMap<String, crate::layout::Heartbeat>, crate::Error> {
        crate::nodes::heartbeats(self.store.as_ref())
    }

    pub fn tasks(&self) -> Result<Vec<(crate::tasks::Upid, crate::layout::TaskRecord)>, crate::Error> {
        crate::tasks::list(self.store.as_ref())
    }

    pub fn task(&self, upid: &crate::tasks::Upid) -> Result<crate::layout::TaskRecord, crate::Error> {
        crate::tasks::read(self.store.as_ref(), upid)
    }
}

impl App {
    /// Builds the app for serving: loads the configuration (a store without quorum only
    /// warns: requests answer 503 until it is back), creates the built-in `pve` IPAM if
    /// missing, resumes this node's unfinished apply tasks, and watches the confirm window and
    /// the lock's expiry.
    pub fn start(store: Arc<dyn Store>, options: AppOptions) -> Result<Arc<Self>, String> {
        let app = App::new(store, options);
        match app.sdn.snapshot() {
            Ok(_) => {}
            Err(err @ crate::Error::Unavailable(_)) => tracing::warn!("loading the configuration: {err}"),
            Err(err) => return Err(format!("loading the configuration: {err}")),
        }
        if let Err(err) = app.sdn.ensure_builtin_ipam() {
            tracing::warn!("could not create the built-in 'pve' IPAM: {err}");
        }
        crate::apply::resume_tasks(&app);
        crate::apply::spawn_orphan_sweeper(&app);
        crate::history::spawn_confirm_watcher(&app);
        crate::sdn::watch::spawn_view_watcher(&app);
        crate::auth::watch::spawn_access_watcher(&app);
        crate::audit::spawn_sweeper(app.store.clone(), app.clock.clone());
        Ok(app)
    }
}

/// The history and the audit trail, for the handlers.
impl App {
    pub fn audit(&self, filter: &crate::audit::Filter) -> Result<Vec<crate::layout::AuditRecord>, crate::Error> {
        crate::audit::list(self.store.as_ref(), filter)
    }
}
