//! The node agent: whenever the running version changes, render this node's files, put them
//! in place atomically, reload, and report the outcome to the store; and answer the status
//! queries addressed to this node (its FRR's routes and neighbors, its bridges).

pub mod dhcp;
pub mod facts;
pub mod load;
pub mod running;
pub mod status;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sdn_config::{Reading, RunningConfig};
use sdn_store::{Revision, Store, Txn};

use crate::clock::Clock;
use crate::layout::{self, NodeReport};
use running::{RunningSnapshot, SharedRunning};

/// Where the agent reads and writes, and how it reloads.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub node: String,
    /// The host's own `/etc/network/interfaces` (read, never written).
    pub host_interfaces: PathBuf,
    /// The generated ifupdown2 snippet.
    pub interfaces_out: PathBuf,
    /// The generated FRR configuration.
    pub frr_out: PathBuf,
    /// The operator's FRR snippet merged into the output, if the file exists.
    pub frr_local: PathBuf,
    /// Shell command run after writing the interfaces file (empty: none).
    pub reload_interfaces: String,
    /// Shell command run after writing the FRR file (empty: none).
    pub reload_frr: String,
    /// Facts to use instead of reading the kernel (a `facts.json`), for hosts the kernel
    /// reading gets wrong and for tests.
    pub facts_file: Option<PathBuf>,
    /// The fingerprint of the certificate this node's API serves, sent with the heartbeats.
    pub fingerprint: Option<String>,
    /// The commands that read the node's live status (FRR's `vtysh`, `ip`, `bridge`).
    pub status_commands: status::StatusCommands,
    /// The DHCP files of the zones with `dhcp=dnsmasq`; `None`: not written.
    pub dnsmasq: Option<dhcp::DnsmasqConfig>,
}

pub use crate::layout::NodeFiles;

fn read_optional(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// A running agent; [`Agent::stop`] ends it (dropping the handle lets it run on).
pub struct Agent {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
    queries: std::thread::JoinHandle<()>,
    dhcp: Option<std::thread::JoinHandle<()>>,
}

impl Agent {
    /// Ends the agent after its current pass and waits for it.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
        let _ = self.queries.join();
        if let Some(dhcp) = self.dhcp {
            let _ = dhcp.join();
        }
    }
}

/// How long the agent waits for a change before it looks again (and at its stop flag).
const WAKE_INTERVAL: Duration = Duration::from_secs(2);

/// Starts the agent on a background thread.
pub fn spawn(store: Arc<dyn Store>, config: AgentConfig, clock: Clock) -> std::io::Result<Agent> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let fabrics = FabricStatus::default();
    let running = SharedRunning::default();
    let queries = {
        let (store, config, stop, fabrics, running) = (store.clone(), config.clone(), stop.clone(), fabrics.clone(), running.clone());
        std::thread::Builder::new()
            .name("node-agent-queries".into())
            .spawn(move || serve_queries(store.as_ref(), &config, &stop, &fabrics, &running))?
    };
    let dhcp = match &config.dnsmasq {
        Some(dnsmasq) => Some(dhcp::spawn(store.clone(), config.node.clone(), dnsmasq.clone(), stop.clone(), running.clone())?),
        None => None,
    };
    let announced = Announced::announce(store.as_ref(), &config, &clock, &fabrics, running);
    let thread = std::thread::Builder::new()
        .name("node-agent".into())
        .spawn(move || run(store, config, clock, &flag, &fabrics, announced))?;
    Ok(Agent { stop, thread, queries, dhcp })
}

/// What the agent wrote before [`spawn`] returned: its first heartbeat, then its report and
/// its files, so that a server that says it listens already lists its node online (never
/// registered without a heartbeat, which would read as offline) and can dry-run for it.
struct Announced {
    load: load::LoadReader,
    report: NodeReport,
    published: Published,
    last_beat_ms: i64,
    running: SharedRunning,
    gathered: GatheredFiles,
}

impl Announced {
    fn announce(store: &dyn Store, config: &AgentConfig, clock: &Clock, fabrics: &FabricStatus, running: SharedRunning) -> Announced {
        let mut load = load::LoadReader::default();
        let last_beat_ms = if beat(store, config, clock, &mut load, fabrics) { clock.now_ms() } else { i64::MIN };
        let report = load_report(store, &config.node, clock);
        let mut published = Published::default();
        published.report(store, &config.node, &report);
        let mut gathered = GatheredFiles::default();
        // What fails here is tried again by the agent's first pass.
        match running.current(store).and_then(|snapshot| gathered.current(config, &snapshot.config)) {
            Ok((files, _)) => published.files(store, &config.node, files),
            Err(err) => tracing::warn!("node agent: {err}"),
        }
        Announced { load, report, published, last_beat_ms, running, gathered }
    }
}

/// The status of this node's fabrics, kept by the query thread (it runs FRR's commands, which
/// may be slow) and sent with the heartbeats.
type FabricStatus = Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>;

/// Answers the status queries addressed to this node, one at a time, until stopped. Each is
/// answered once; the asking server removes it with its answer (or the store expires both).
/// Between queries, it keeps the status of the node's fabrics current.
fn serve_queries(store: &dyn Store, config: &AgentConfig, stop: &AtomicBool, fabrics: &FabricStatus, running: &SharedRunning) {
    let mut answered: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut checked: Option<std::time::Instant> = None;
    let mut members: Membership = (None, Vec::new());
    let queries = layout::node_queries(&config.node);
    let mut follower = crate::follow::Follower::new(store, &queries);
    // Whether a query may have come since the last look, and when that was: the queries are
    // listed when the watch tells of one (or every `RECHECK`), not on every wake.
    let (mut moved, mut listed_at) = (true, std::time::Instant::now());
    while !stop.load(Ordering::SeqCst) {
        if checked.is_none_or(|at| at.elapsed() >= Duration::from_millis(crate::nodes::HEARTBEAT_INTERVAL_MS as u64)) {
            checked = Some(std::time::Instant::now());
            let status = check_fabrics(store, config, running, &mut members);
            *fabrics.lock().unwrap_or_else(|poison| poison.into_inner()) = status;
        }
        if !moved && listed_at.elapsed() < RECHECK {
            moved = follower.wait(WAKE_INTERVAL);
            continue;
        }
        listed_at = std::time::Instant::now();
        // A listing that failed is tried again on the next wake, whatever the watch says.
        let mut unread = false;
        match crate::node_query::waiting(store, &config.node) {
            Ok((queries, _)) => {
                answered.retain(|id| queries.iter().any(|(q, _)| q == id));
                for (id, record) in queries {
                    if stop.load(Ordering::SeqCst) || !answered.insert(id.clone()) {
                        continue;
                    }
                    let answer = match status::answer(&config.status_commands, &record.query) {
                        Ok(value) => layout::NodeAnswerRecord::Ok(value),
                        Err(err) => {
                            tracing::warn!("node agent: status query: {err}");
                            layout::NodeAnswerRecord::Error(err)
                        }
                    };
                    if let Err(err) = crate::node_query::answer(store, &config.node, &id, &answer) {
                        tracing::warn!("node agent: could not answer a status query: {err}");
                        answered.remove(&id);
                    }
                }
            }
            Err(err) => {
                tracing::warn!("node agent: reading status queries: {err}");
                unread = true;
            }
        }
        moved = follower.wait(WAKE_INTERVAL) || unread;
    }
}

/// What this agent last wrote to the store, so that it writes only what changed.
#[derive(Default)]
struct Published {
    report: Option<Vec<u8>>,
    files: Option<Vec<u8>>,
}

impl Published {
    /// Writes `value` under `key` unless it is what was last written there.
    fn update<T: Serialize>(slot: &mut Option<Vec<u8>>, store: &dyn Store, key: &str, value: &T) {
        let Ok(bytes) = serde_json::to_vec(value) else { return };
        if slot.as_deref() == Some(bytes.as_slice()) {
            return;
        }
        match store.commit(Txn::new().put(key, bytes.clone())) {
            Ok(_) => *slot = Some(bytes),
            Err(err) => {
                // Unknown now: written again on the next chance.
                *slot = None;
                tracing::warn!("node agent: could not publish {key}: {err}");
            }
        }
    }

    fn report(&mut self, store: &dyn Store, node: &str, report: &NodeReport) {
        Self::update(&mut self.report, store, &layout::node_report(node), report);
    }

    fn files(&mut self, store: &dyn Store, node: &str, files: &NodeFiles) {
        Self::update(&mut self.files, store, &layout::node_files(node), files);
    }
}

fn run(store: Arc<dyn Store>, config: AgentConfig, clock: Clock, stop: &AtomicBool, fabrics: &FabricStatus, announced: Announced) {
    let Announced { mut load, mut report, mut published, mut last_beat_ms, running, mut gathered } = announced;
    // Whether the running configuration may have moved since this thread last read it, and
    // when it last did: each pass looks at the node's files, but reads the store only when the
    // watch told of a change (or every `RECHECK`, should a watch ever miss one).
    let (mut moved, mut read_at) = (true, std::time::Instant::now());
    let mut follower = crate::follow::Follower::new(store.as_ref(), layout::RUNNING_PREFIX);
    while !stop.load(Ordering::SeqCst) {
        if clock.now_ms().saturating_sub(last_beat_ms) >= crate::nodes::HEARTBEAT_INTERVAL_MS
            && beat(store.as_ref(), &config, &clock, &mut load, fabrics)
        {
            last_beat_ms = clock.now_ms();
        }
        let fresh = moved || read_at.elapsed() >= RECHECK;
        if fresh {
            read_at = std::time::Instant::now();
        }
        // Not `fresh`: the running configuration last read stands (the watch told of no
        // change), and the pass costs the store nothing unless the node's files changed.
        let snapshot = if fresh { running.current(store.as_ref()) } else { running.latest(store.as_ref()) };
        // A read that failed is tried again on the next pass, whatever the watch says: the
        // change it told of would else wait for the recheck.
        let unread = snapshot.is_err();
        let stepped = snapshot.and_then(|snapshot| step(store.as_ref(), &config, &clock, &mut report, &mut published, &snapshot, &mut gathered));
        if let Err(err) = stepped {
            tracing::warn!("node agent: {err}");
        }
        moved = follower.wait(WAKE_INTERVAL) || unread;
    }
}

/// How often the agent's threads read the store though their watches told of no change: a
/// safety net, never the way a change is noticed.
const RECHECK: Duration = Duration::from_secs(30);

/// The fabrics this node is in (fabric, protocol, its interfaces here), as of the running
/// configuration of this revision (`None`: not read yet).
type Membership = (Option<Revision>, Vec<(String, String, Vec<String>)>);

/// PVE's status of each fabric this node is in (`members`: the fabrics, read again when the
/// running configuration changed).
fn check_fabrics(
    store: &dyn Store,
    config: &AgentConfig,
    running: &SharedRunning,
    members: &mut Membership,
) -> std::collections::BTreeMap<String, String> {
    // Unreadable for now: the fabrics last known are checked, and the agent's report says why.
    if let Ok(snapshot) = running.latest(store) {
        if members.0 != Some(snapshot.revision) {
            *members = (Some(snapshot.revision), load::member_fabrics(&snapshot.config, &config.node));
        }
    }
    if members.1.is_empty() {
        return Default::default();
    }
    let protocols: std::collections::BTreeSet<&str> = members.1.iter().map(|(_, p, _)| p.as_str()).collect();
    let routes = protocols
        .into_iter()
        .map(|protocol| (protocol.to_string(), status::route_tables(&config.status_commands, protocol)))
        .collect();
    load::fabric_status(&members.1, &routes)
}

/// Tells the cluster this agent is alive, with the node's load and fabric status; whether
/// the store took it.
fn beat(store: &dyn Store, config: &AgentConfig, clock: &Clock, load: &mut load::LoadReader, fabrics: &FabricStatus) -> bool {
    let heartbeat = layout::Heartbeat {
        node: config.node.clone(),
        time_ms: clock.now_ms(),
        fingerprint: config.fingerprint.clone(),
        stats: load.read(),
        fabrics: fabrics.lock().unwrap_or_else(|poison| poison.into_inner()).clone(),
    };
    let Ok(bytes) = serde_json::to_vec(&heartbeat) else { return false };
    match store.commit(Txn::new().put(layout::node_heartbeat(&config.node), bytes)) {
        Ok(_) => true,
        Err(err) => {
            tracing::warn!("node agent: could not send its heartbeat: {err}");
            false
        }
    }
}

/// This node's last report: from its own key, or from where an earlier version kept it
/// (that entry is then removed, with the files kept beside it).
fn load_report(store: &dyn Store, node: &str, clock: &Clock) -> NodeReport {
    let fresh = || NodeReport {
        node: node.to_string(),
        version: 0,
        attempted: 0,
        time: clock.now(),
        error: None,
        warnings: Vec::new(),
    };
    if let Ok(Some(report)) = crate::nodes::report(store, node) {
        return report;
    }
    let legacy = crate::nodes::legacy_prefix(node);
    let Ok(Some(entry)) = store.get(&format!("{legacy}sdn")) else { return fresh() };
    let report = serde_json::from_slice(&entry.value).unwrap_or_else(|_| fresh());
    if let Err(err) = store.commit(Txn::new().put(layout::node_report(node), entry.value).delete_prefix(legacy)) {
        tracing::warn!("node agent: could not move this node's report to its new key: {err}");
    }
    report
}

/// One pass on the running configuration `snapshot`: publish the node's files and facts (if
/// they changed); render if a newer version is running.
fn step(
    store: &dyn Store,
    config: &AgentConfig,
    clock: &Clock,
    report: &mut NodeReport,
    published: &mut Published,
    snapshot: &RunningSnapshot,
    gathered: &mut GatheredFiles,
) -> Result<(), String> {
    let running = snapshot.config.as_ref();
    let version = running.version.unwrap_or(0);
    let (files, changed) = gathered.current(config, running)?;
    if changed || published.files.is_none() {
        published.files(store, &config.node, files);
    }
    if version == 0 || version <= report.attempted {
        // A report whose write failed (the store out of reach) is written again: else this
        // node would look as if it never applied (nothing is written when it is in place).
        published.report(store, &config.node, report);
        return Ok(());
    }
    report.attempted = version;
    report.time = clock.now();
    match render(config, running, files) {
        Ok(warnings) => {
            report.version = version;
            report.error = None;
            report.warnings = warnings.iter().map(layout::NodeWarning::from).collect();
            match warnings.len() {
                0 => tracing::info!("node agent: applied SDN configuration version {version}"),
                n => tracing::warn!("node agent: applied SDN configuration version {version} with {n} warning(s)"),
            }
        }
        Err(err) => {
            tracing::warn!("node agent: version {version} failed: {err}");
            report.error = Some(err);
            report.warnings.clear();
        }
    }
    published.report(store, &config.node, report);
    // The files changed: publish them again for dry-runs.
    if let Ok((files, true)) = gathered.current(config, running) {
        published.files(store, &config.node, files);
    }
    Ok(())
}

/// What identifies a file's contents without reading them: size, inode, modification and
/// change times (`None`: absent or unreadable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    ino: u64,
    modified: std::time::SystemTime,
    changed: std::time::SystemTime,
}

/// How long after its last change a file's stamp is not trusted: file times are coarse (a
/// clock tick of a few milliseconds), so two writes of the same size within one tick leave
/// the same stamp, and only a change that old can't be followed by such a twin.
const SETTLE_TIME: Duration = Duration::from_secs(2);

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: meta.len(),
            ino: meta.ino(),
            modified: meta.modified().ok()?,
            changed: std::time::UNIX_EPOCH
                + Duration::new(u64::try_from(meta.ctime()).ok()?, u32::try_from(meta.ctime_nsec()).ok()?),
        })
    }

    fn settled(&self, now: std::time::SystemTime) -> bool {
        [self.modified, self.changed].iter().all(|at| now.duration_since(*at).is_ok_and(|age| age >= SETTLE_TIME))
    }
}

/// The node's files as last gathered, read again only when one of them (or the node's facts)
/// changed: at 100,000 vnets the generated interfaces file alone is megabytes, and the agent
/// looks every 2 s.
#[derive(Default)]
struct GatheredFiles {
    stamps: Vec<Option<FileStamp>>,
    files: Option<NodeFiles>,
}

impl GatheredFiles {
    /// The node's files now, and whether they differ from the previous answer.
    fn current(&mut self, config: &AgentConfig, running: &RunningConfig) -> Result<(&NodeFiles, bool), String> {
        // Stamped before reading: a file changed in between is read as the newer one and
        // read again on the next pass (its stamp moved), never missed.
        let paths = [&config.host_interfaces, &config.frr_local, &config.interfaces_out, &config.frr_out];
        let stamps: Vec<Option<FileStamp>> = paths.into_iter().map(|path| FileStamp::of(path)).collect();
        let now = std::time::SystemTime::now();
        let trusted = stamps == self.stamps && stamps.iter().flatten().all(|stamp| stamp.settled(now));
        let facts = node_facts(config, running)?;
        let reusable = trusted && self.files.as_ref().is_some_and(|files| facts == files.facts);
        let changed = if reusable {
            false
        } else {
            let files = gather(config, facts);
            let changed = self.files.as_ref() != Some(&files);
            self.files = Some(files);
            self.stamps = stamps;
            changed
        };
        Ok((self.files.as_ref().expect("gathered above"), changed))
    }
}

/// The node's facts: from its facts file if it has one, else from the kernel.
fn node_facts(config: &AgentConfig, running: &RunningConfig) -> Result<serde_json::Value, String> {
    match &config.facts_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
        }
        None => Ok(facts::from_kernel(&config.node, running)),
    }
}

/// The node's files as they are now, with its `facts`.
fn gather(config: &AgentConfig, facts: serde_json::Value) -> NodeFiles {
    NodeFiles {
        facts,
        host_interfaces: read_optional(&config.host_interfaces).unwrap_or_default(),
        frr_local: read_optional(&config.frr_local),
        current_interfaces: read_optional(&config.interfaces_out),
        current_frr: read_optional(&config.frr_out),
    }
}

/// What the configuration produces for a node with these files and facts.
pub fn generate(running: &RunningConfig, files: &NodeFiles) -> Result<sdn_gen::GenOutput, String> {
    let facts: sdn_gen::NodeFacts =
        serde_json::from_value(files.facts.clone()).map_err(|e| format!("node facts: {e}"))?;
    sdn_gen::generate(&sdn_gen::GenInput {
        running_config: running,
        facts: &facts,
        interfaces: &files.host_interfaces,
        frr_local: files.frr_local.as_deref(),
    })
    .map_err(|e| e.to_string())
}

/// Renders, replaces each file atomically, then reloads; a generation error writes nothing.
/// Returns what the generation skipped.
fn render(config: &AgentConfig, running: &RunningConfig, files: &NodeFiles) -> Result<Vec<sdn_gen::Warning>, String> {
    let output = generate(running, files)?;
    for warning in &output.warnings {
        tracing::warn!("node agent: {warning}");
    }
    let mut targets = vec![(&config.interfaces_out, output.interfaces.as_str(), &config.reload_interfaces)];
    if let Some(frr) = &output.frr {
        targets.push((&config.frr_out, frr.as_str(), &config.reload_frr));
    }
    for (path, text, _) in &targets {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        crate::fsutil::write_atomic(path, text.as_bytes(), 0o644).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    for (_, _, command) in &targets {
        run_reload(command)?;
    }
    Ok(output.warnings)
}

fn run_reload(command: &str) -> Result<(), String> {
    if command.trim().is_empty() {
        return Ok(());
    }
    let out = std::process::Command::new("sh")
        .args(["-c", command])
        .output()
        .map_err(|e| format!("running '{command}': {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!("'{command}' failed ({}): {}", out.status, stderr.trim()))
    }
}

/// `sdnd generate`: renders one node's files from files on disk into `out` (`sdn` and, when
/// the node needs one, `frr.conf`); returns the generator's warnings.
pub fn generate_files(
    running_config: &Path,
    facts: &Path,
    interfaces: &Path,
    frr_local: Option<&Path>,
    out: &Path,
) -> Result<Vec<sdn_gen::Warning>, String> {
    let read = |path: &Path| std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()));
    // Every file is read first, so that a missing one is what the error names.
    let running_text = read(running_config)?;
    let facts: sdn_gen::NodeFacts =
        serde_json::from_str(&read(facts)?).map_err(|e| format!("{}: {e}", facts.display()))?;
    let interfaces = read(interfaces)?;
    let frr_local = frr_local.map(read).transpose()?;
    // A `.running-config` from anywhere, the reference's included: read leniently.
    let running = RunningConfig::from_slice(running_text.as_bytes(), Reading::Lenient)
        .map_err(|e| format!("{}: {e}", running_config.display()))?;
    let output = sdn_gen::generate(&sdn_gen::GenInput {
        running_config: &running,
        facts: &facts,
        interfaces: &interfaces,
        frr_local: frr_local.as_deref(),
    })
    .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    crate::fsutil::write_atomic(&out.join("sdn"), output.interfaces.as_bytes(), 0o644).map_err(|e| e.to_string())?;
    if let Some(frr) = &output.frr {
        crate::fsutil::write_atomic(&out.join("frr.conf"), frr.as_bytes(), 0o644).map_err(|e| e.to_string())?;
    }
    Ok(output.warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A store with blips (etcd out of reach): the next `failing_reports` writes of a node
    /// report fail, and the next `failing_running_reads` reads of the running version (right
    /// as the agent's watch tells of an apply); `running_reads` counts those reads.
    struct FlakyStore {
        inner: sdn_store::SqliteStore,
        failing_reports: AtomicUsize,
        failing_running_reads: AtomicUsize,
        running_reads: AtomicUsize,
    }

    impl FlakyStore {
        fn open(dir: &Path) -> Self {
            let inner = sdn_store::SqliteStore::open(&dir.join("store.db")).unwrap();
            FlakyStore { inner, failing_reports: AtomicUsize::new(0), failing_running_reads: AtomicUsize::new(0), running_reads: AtomicUsize::new(0) }
        }
    }

    /// Takes one of `failing`'s faults, if any is left.
    fn blip(failing: &AtomicUsize) -> sdn_store::Result<()> {
        match failing.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
            Ok(_) => Err(sdn_store::StoreError::Unavailable("the test store is out of reach".into())),
            Err(_) => Ok(()),
        }
    }

    impl Store for FlakyStore {
        fn get(&self, key: &str) -> sdn_store::Result<Option<sdn_store::Entry>> {
            if key == layout::RUNNING_VERSION {
                self.running_reads.fetch_add(1, Ordering::SeqCst);
                blip(&self.failing_running_reads)?;
            }
            self.inner.get(key)
        }
        fn list(&self, prefix: &str) -> sdn_store::Result<(Vec<sdn_store::Entry>, sdn_store::Revision)> {
            self.inner.list(prefix)
        }
        fn revision(&self) -> sdn_store::Result<sdn_store::Revision> {
            self.inner.revision()
        }
        fn commit(&self, txn: Txn) -> sdn_store::Result<sdn_store::Commit> {
            if txn.ops.iter().any(|op| matches!(op, sdn_store::Op::Put { key, .. } if key.starts_with("node-reports/"))) {
                blip(&self.failing_reports)?;
            }
            self.inner.commit(txn)
        }
        fn wait_for_change(&self, prefix: &str, after: sdn_store::Revision, timeout: Duration) -> sdn_store::Result<sdn_store::Revision> {
            self.inner.wait_for_change(prefix, after, timeout)
        }
        fn watch_prefix<'a>(&'a self, prefix: &str) -> Box<dyn sdn_store::PrefixWatch + 'a> {
            self.inner.watch_prefix(prefix)
        }
    }

    /// A node agent's settings with its files in `dir` and facts for node n1.
    fn test_config(dir: &Path) -> AgentConfig {
        let facts = dir.join("facts.json");
        let facts_json = serde_json::json!({
            "node": "n1", "route-iface": "vmbr0", "route-ip": "192.168.0.1",
            "mac": "bc:24:11:1d:69:60", "bridge-ports": {"vmbr0": ["eth0"]},
        });
        std::fs::write(&facts, facts_json.to_string()).unwrap();
        AgentConfig {
            node: "n1".into(),
            host_interfaces: dir.join("interfaces"),
            interfaces_out: dir.join("sdn"),
            frr_out: dir.join("frr.conf"),
            frr_local: dir.join("frr.conf.local"),
            reload_interfaces: String::new(),
            reload_frr: String::new(),
            facts_file: Some(facts),
            fingerprint: Some("AA:BB".into()),
            status_commands: Default::default(),
            dnsmasq: None,
        }
    }

    /// The read the watch's news of an apply leads to fails: the agent reads again at its next
    /// pass, not only at the recheck half a minute later (no further change comes to wake it).
    #[test]
    fn an_apply_whose_first_read_failed_is_rendered_at_the_next_pass() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FlakyStore::open(dir.path()));
        let agent = spawn(store.clone(), test_config(dir.path()), Clock::system()).unwrap();
        // Its first passes read the running version; once they are done it waits on its watch
        // and reads nothing until that tells of a change.
        let mut reads = store.running_reads.load(Ordering::SeqCst);
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let now = store.running_reads.load(Ordering::SeqCst);
            if now == reads {
                break;
            }
            reads = now;
        }
        store.failing_running_reads.store(1, Ordering::SeqCst);
        let text = serde_json::to_vec(&sdn_config::Config::default().to_running_config(1)).unwrap();
        store.commit(Txn::new().put(layout::RUNNING_CONFIG, text).put(layout::RUNNING_VERSION, "1")).unwrap();
        let started = std::time::Instant::now();
        let rendered = loop {
            let version = crate::nodes::report(store.as_ref(), "n1").unwrap().map_or(0, |report| report.version);
            if version == 1 || started.elapsed() > RECHECK / 3 {
                break version == 1;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        agent.stop();
        assert_eq!(store.failing_running_reads.load(Ordering::SeqCst), 0, "the read failed once");
        assert!(rendered, "version 1 rendered within {:?} of the apply", RECHECK / 3);
    }

    #[test]
    fn a_spawned_agent_is_registered_online_and_has_its_files_published_before_spawn_returns() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(sdn_store::SqliteStore::open(&dir.path().join("store.db")).unwrap());
        let clock = Clock::system();
        let agent = spawn(store.clone(), test_config(dir.path()), clock.clone()).unwrap();
        // Read at once: a server prints that it listens right after spawn returns.
        let beat = crate::nodes::heartbeats(store.as_ref()).unwrap().remove("n1").expect("a heartbeat");
        assert_eq!(beat.fingerprint.as_deref(), Some("AA:BB"));
        assert!(crate::nodes::Liveness::of(Some(&beat), clock.now_ms()).is_online());
        assert!(crate::nodes::report(store.as_ref(), "n1").unwrap().is_some(), "registered");
        assert!(crate::nodes::files(store.as_ref(), "n1").is_ok(), "its files published, for dry-runs");
        agent.stop();
    }

    #[test]
    fn the_nodes_files_are_read_again_when_one_changed_and_not_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(dir.path());
        std::fs::write(&config.host_interfaces, "auto lo\n").unwrap();
        let running = RunningConfig::default();
        let mut gathered = GatheredFiles::default();
        let changed = |gathered: &mut GatheredFiles| gathered.current(&config, &running).unwrap().1;
        assert!(changed(&mut gathered), "the first pass reads them");
        assert!(!changed(&mut gathered), "nothing changed");
        std::fs::write(&config.frr_local, "! one\n").unwrap();
        assert!(changed(&mut gathered), "a file appeared");
        // The same size again, at once: the stamp may be the same, the contents are not.
        std::fs::write(&config.frr_local, "! two\n").unwrap();
        assert!(changed(&mut gathered), "a file rewritten within one clock tick");
        assert_eq!(gathered.current(&config, &running).unwrap().0.frr_local.as_deref(), Some("! two\n"));
        let facts = config.facts_file.as_ref().unwrap();
        let text = std::fs::read_to_string(facts).unwrap().replace("vmbr0", "vmbr1");
        std::fs::write(facts, text).unwrap();
        assert!(changed(&mut gathered), "the facts changed");
        assert!(!changed(&mut gathered));
        // Settled files are trusted by their stamps, without a read.
        let settled = FileStamp::of(&config.host_interfaces).unwrap();
        assert!(!settled.settled(std::time::SystemTime::now()));
        assert!(settled.settled(std::time::SystemTime::now() + SETTLE_TIME));
        std::fs::remove_file(&config.frr_local).unwrap();
        assert!(changed(&mut gathered), "a file went away");
    }

    #[test]
    fn a_report_whose_write_failed_is_written_by_the_next_step() {
        let dir = tempfile::tempdir().unwrap();
        let store = FlakyStore::open(dir.path());
        store.failing_reports.store(1, Ordering::SeqCst);
        let running = serde_json::to_vec(&sdn_config::Config::default().to_running_config(1)).unwrap();
        store.commit(Txn::new().put(layout::RUNNING_CONFIG, running)).unwrap();
        let config = test_config(dir.path());
        let clock = Clock::system();
        let mut report = load_report(&store, "n1", &clock);
        let mut published = Published::default();
        let running = SharedRunning::default();
        let mut gathered = GatheredFiles::default();
        step(&store, &config, &clock, &mut report, &mut published, &running.current(&store).unwrap(), &mut gathered).unwrap();
        assert_eq!(report.version, 1, "version 1 applied");
        assert!(crate::nodes::report(&store, "n1").unwrap().is_none(), "its report was not written");
        // A pass on the snapshot already read (no change told of) writes it too.
        step(&store, &config, &clock, &mut report, &mut published, &running.latest(&store).unwrap(), &mut gathered).unwrap();
        let written = crate::nodes::report(&store, "n1").unwrap().expect("written by the next step");
        assert_eq!((written.version, written.attempted), (1, 1));
    }
}
