//! The node agent: whenever the running version changes, render this node's files, put them
//! in place atomically, reload, and report the outcome to the store.

pub mod facts;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sdn_config::{Reading, RunningConfig};
use sdn_store::{Store, Txn};

use crate::apply::NodeReport;
use crate::sdn::keys;

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
}

/// What a node publishes so that any API node can compute its dry-run diff.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeFiles {
    pub facts: Value,
    pub host_interfaces: String,
    pub frr_local: Option<String>,
    pub current_interfaces: Option<String>,
    pub current_frr: Option<String>,
}

pub fn node_files_key(node: &str) -> String {
    format!("{}{node}/files", keys::NODES_PREFIX)
}

/// The store key of this node's report.
fn report_key(node: &str) -> String {
    keys::node_status(node)
}

fn read_optional(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Starts the agent on a background thread.
pub fn spawn(store: Arc<dyn Store>, config: AgentConfig) -> std::io::Result<()> {
    std::thread::Builder::new().name("node-agent".into()).spawn(move || run(store, config))?;
    Ok(())
}

fn run(store: Arc<dyn Store>, config: AgentConfig) {
    let mut report = load_report(store.as_ref(), &config.node);
    publish(store.as_ref(), &report_key(&config.node), &report);
    let mut seen = 0;
    loop {
        match store.revision() {
            Ok(revision) => {
                if let Err(err) = step(store.as_ref(), &config, &mut report) {
                    tracing::warn!("node agent: {err}");
                }
                seen = revision;
            }
            Err(err) => tracing::warn!("node agent: store unavailable: {err}"),
        }
        if store.wait_for_change(keys::RUNNING_PREFIX, seen, Duration::from_secs(30)).is_err() {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

fn load_report(store: &dyn Store, node: &str) -> NodeReport {
    store
        .get(&report_key(node))
        .ok()
        .flatten()
        .and_then(|e| serde_json::from_slice(&e.value).ok())
        .unwrap_or(NodeReport { node: node.to_string(), version: 0, attempted: 0, time: crate::now(), error: None })
}

fn publish<T: Serialize>(store: &dyn Store, key: &str, value: &T) {
    let Ok(bytes) = serde_json::to_vec(value) else { return };
    if let Err(err) = store.commit(Txn::new().put(key, bytes)) {
        tracing::warn!("node agent: could not publish {key}: {err}");
    }
}

/// One pass: publish the node's files and facts; render if a newer version is running.
fn step(store: &dyn Store, config: &AgentConfig, report: &mut NodeReport) -> Result<(), String> {
    let stored = store.get(keys::RUNNING_CONFIG).map_err(|e| e.to_string())?;
    // sdnd wrote it (`Config::to_running_config`), so it is read strictly.
    let running = match &stored {
        Some(entry) => RunningConfig::from_slice(&entry.value, Reading::Strict)
            .map_err(|e| format!("running config unreadable: {e}"))?,
        None => RunningConfig::default(),
    };
    let version = running.version.unwrap_or(0);
    let files = gather(config, &running)?;
    publish(store, &node_files_key(&config.node), &files);
    if version == 0 || version <= report.attempted {
        return Ok(());
    }
    report.attempted = version;
    report.time = crate::now();
    match render(config, &running, &files) {
        Ok(()) => {
            report.version = version;
            report.error = None;
            tracing::info!("node agent: applied SDN configuration version {version}");
        }
        Err(err) => {
            tracing::warn!("node agent: version {version} failed: {err}");
            report.error = Some(err);
        }
    }
    publish(store, &report_key(&config.node), report);
    // The files changed: publish them again for dry-runs.
    if let Ok(files) = gather(config, &running) {
        publish(store, &node_files_key(&config.node), &files);
    }
    Ok(())
}

fn gather(config: &AgentConfig, running: &RunningConfig) -> Result<NodeFiles, String> {
    let facts = match &config.facts_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => facts::from_kernel(&config.node, running),
    };
    Ok(NodeFiles {
        facts,
        host_interfaces: read_optional(&config.host_interfaces).unwrap_or_default(),
        frr_local: read_optional(&config.frr_local),
        current_interfaces: read_optional(&config.interfaces_out),
        current_frr: read_optional(&config.frr_out),
    })
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
fn render(config: &AgentConfig, running: &RunningConfig, files: &NodeFiles) -> Result<(), String> {
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
    Ok(())
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
