//! The node agent's DHCP side: for every zone with `dhcp=dnsmasq` in the running
//! configuration, the reference's dnsmasq files (rendered by `sdn_gen::dnsmasq`, with the
//! MAC-to-address reservations of the PVE IPAM) written atomically into `DIR/<zone>/`, and the
//! zone's dnsmasq reloaded when they changed. It follows the IPAM without an apply, as the
//! reference's `add_ip_mapping` does: a new mapping reaches `ethers` within about a second.
//!
//! What fails (a zone's files that can't be written, a reload command that fails) is
//! published as the node's [`layout::DhcpReport`], so that the node's and the zone's status
//! show it, and cleared by the next pass that succeeds; a failed reload is tried again every
//! few seconds until it works.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sdn_config::{Config, Kind};
use sdn_gen::dnsmasq::{DnsmasqZone, Reservation};
use sdn_store::{Store, Txn};

use crate::ipam::state::MacRecord;
use super::running::SharedRunning;
use crate::layout;

/// Where the dnsmasq files go and how the instances are reloaded.
#[derive(Debug, Clone)]
pub struct DnsmasqConfig {
    /// The directory of the zones' directories (`/etc/dnsmasq.d`, as the reference).
    pub dir: PathBuf,
    /// Where `dnsmasq.<zone>` goes (`/etc/default`); `None`: not written.
    pub default_dir: Option<PathBuf>,
    /// Where the instance's D-Bus policy goes (`/etc/dbus-1/system.d`); `None`: not written.
    pub dbus_dir: Option<PathBuf>,
    /// The command run for a zone whose files changed, `{zone}` replaced by the zone (empty:
    /// none). `None`: what the reference runs (`systemctl reload dbus`, `enable` and `restart`
    /// of `dnsmasq@ZONE` when its configuration changed; `reload` when only `ethers` did).
    pub reload: Option<String>,
}

/// How long the DHCP side waits for an IPAM change before it looks at the running
/// configuration again.
const WAKE_INTERVAL: Duration = Duration::from_millis(1000);

/// How long a zone whose reload failed waits before it is tried again (its files unchanged).
const RELOAD_RETRY: Duration = Duration::from_secs(3);

pub fn spawn(
    store: Arc<dyn Store>,
    node: String,
    config: DnsmasqConfig,
    stop: Arc<AtomicBool>,
    running: SharedRunning,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("node-agent-dhcp".into()).spawn(move || {
        let mut state = State::default();
        let mut follower = crate::follow::Follower::new(store.as_ref(), layout::IPAM_MACS_PREFIX);
        while !stop.load(Ordering::SeqCst) {
            match pass(store.as_ref(), &node, &config, &running, &mut state) {
                Ok(errors) => state.publish(store.as_ref(), &node, errors),
                // The store itself failed: nothing can be reported through it either.
                Err(err) => tracing::warn!("node agent (dhcp): {err}"),
            }
            follower.wait(WAKE_INTERVAL);
        }
    })
}

/// Every zone's reservations, from the IPAM's MAC index.
pub fn reservations(store: &dyn Store) -> Result<BTreeMap<String, Vec<Reservation>>, String> {
    let (entries, _) = store.list(layout::IPAM_MACS_PREFIX).map_err(|e| e.to_string())?;
    let mut out: BTreeMap<String, Vec<Reservation>> = BTreeMap::new();
    for entry in entries {
        let Some((zone, mac)) = entry.key[layout::IPAM_MACS_PREFIX.len()..].split_once('/') else { continue };
        let record: MacRecord = serde_json::from_slice(&entry.value).map_err(|e| format!("{}: {e}", entry.key))?;
        out.entry(zone.to_string()).or_default().push(Reservation {
            mac: mac.to_string(),
            ip4: record.ip4.and_then(|ip| ip.parse().ok()),
            ip6: record.ip6.and_then(|ip| ip.parse().ok()),
        });
    }
    Ok(out)
}

/// The running configuration as the model reads it (what the dnsmasq files are rendered
/// from), as of the agent's [`SharedRunning`] revision it was read at; read only while a zone
/// has DHCP.
#[derive(Default)]
struct Running {
    revision: u64,
    config: Option<Config>,
}

/// A zone whose files changed but whose dnsmasq has not been reloaded since.
struct Unreloaded {
    /// Whether only `ethers` changed (the reference then only reloads).
    only_ethers: bool,
    /// The last failed reload: when, and why.
    failed: Option<(Instant, String)>,
}

/// What the DHCP side keeps between passes.
#[derive(Default)]
struct State {
    running: Running,
    /// What is on disk, as last written or read.
    written: BTreeMap<PathBuf, String>,
    /// By zone.
    unreloaded: BTreeMap<String, Unreloaded>,
    /// The [`layout::DhcpReport`] last published, so that it is written only when it changes.
    published: Option<Vec<layout::NodeWarning>>,
}

impl State {
    /// Publishes what failed (nothing: the node's DHCP is fine) where the node's state is read
    /// ([`crate::nodes::dhcp`]), when it differs from what was published last.
    fn publish(&mut self, store: &dyn Store, node: &str, errors: Vec<layout::NodeWarning>) {
        if self.published.as_ref() == Some(&errors) {
            return;
        }
        let mut txn = Txn::new();
        if errors.is_empty() {
            txn = txn.delete(layout::node_dhcp(node));
        } else {
            let report = layout::DhcpReport { node: node.to_string(), errors: errors.clone() };
            let Ok(bytes) = serde_json::to_vec(&report) else { return };
            txn = txn.put(layout::node_dhcp(node), bytes);
        }
        match store.commit(txn) {
            Ok(_) => {
                let before = self.published.as_deref().unwrap_or_default();
                for error in errors.iter().filter(|e| !before.contains(e)) {
                    tracing::warn!("node agent (dhcp): zone {}: {}", error.zone.as_deref().unwrap_or("?"), error.message);
                }
                if errors.is_empty() && !before.is_empty() {
                    tracing::info!("node agent (dhcp): every zone's dnsmasq files written and reloaded again");
                }
                self.published = Some(errors);
            }
            Err(err) => tracing::warn!("node agent (dhcp): could not publish its status: {err}"),
        }
    }
}

fn zone_error(zone: &str, message: String) -> layout::NodeWarning {
    layout::NodeWarning { zone: Some(zone.to_string()), vnet: None, message }
}

/// One pass: every DHCP zone's files written and, where they changed (or a reload failed
/// before), its dnsmasq reloaded. Answers what failed, per zone; an error only when the store
/// could not be read.
fn pass(
    store: &dyn Store,
    node: &str,
    config: &DnsmasqConfig,
    shared: &SharedRunning,
    state: &mut State,
) -> Result<Vec<layout::NodeWarning>, String> {
    // As the agent's main thread last read it (it reads it again when its watch tells of a
    // change): no store read a second here. Unreadable: the agent's own apply says so (its
    // report's error).
    let snapshot = shared.latest(store)?;
    let cached = &mut state.running;
    if snapshot.config.zones.iter().flatten().all(|(_, zone)| zone.dhcp.is_none()) {
        // Most clusters: the configuration is not parsed a second time, as the model.
        *cached = Running::default();
        state.unreloaded.clear();
        return Ok(Vec::new());
    }
    if snapshot.revision != cached.revision || cached.config.is_none() {
        let Some(entry) = store.get(layout::RUNNING_CONFIG).map_err(|e| e.to_string())? else { return Ok(Vec::new()) };
        let (_, parsed) = crate::sdn::parse_running(&entry.value).map_err(|e| e.to_string())?;
        *cached = Running { revision: snapshot.revision, config: Some(parsed) };
    }
    let Some(running) = &cached.config else { return Ok(Vec::new()) };
    let dhcp_zones: Vec<String> = running
        .list(Kind::Zones)
        .filter(|z| z.get_str("dhcp").is_some() && Config::zone_spans_node(z, node))
        .map(|z| z.id().to_string())
        .collect();
    state.unreloaded.retain(|zone, _| dhcp_zones.contains(zone));
    if dhcp_zones.is_empty() {
        return Ok(Vec::new());
    }
    let reservations = match reservations(store) {
        Ok(reservations) => reservations,
        Err(err) => {
            let message = format!("reading the IPAM's reservations: {err}");
            return Ok(dhcp_zones.iter().map(|zone| zone_error(zone, message.clone())).collect());
        }
    };
    let mut warnings = Vec::new();
    let zones = sdn_gen::dnsmasq::generate(running, node, &config.dir.to_string_lossy(), &reservations, &mut warnings);
    for warning in &warnings {
        tracing::warn!("node agent (dhcp): {warning}");
    }
    let mut errors = Vec::new();
    for zone in &zones {
        let changed = match write_zone(config, zone, &mut state.written) {
            Ok(changed) => changed,
            Err(err) => {
                // Some of its files may be new already: once written, the zone is restarted.
                let entry = state.unreloaded.entry(zone.zone.clone()).or_insert(Unreloaded { only_ethers: false, failed: None });
                entry.only_ethers = false;
                errors.push(zone_error(&zone.zone, format!("writing its dnsmasq files: {err}")));
                continue;
            }
        };
        if !changed.is_empty() {
            let only_ethers = changed.iter().all(|name| name == "ethers");
            let entry = state.unreloaded.entry(zone.zone.clone()).or_insert(Unreloaded { only_ethers, failed: None });
            entry.only_ethers &= only_ethers;
            // Changed files are reloaded at once, whatever failed before.
            entry.failed = None;
        }
        let Some(unreloaded) = state.unreloaded.get_mut(&zone.zone) else { continue };
        if let Some((at, why)) = &unreloaded.failed {
            if at.elapsed() < RELOAD_RETRY {
                errors.push(zone_error(&zone.zone, why.clone()));
                continue;
            }
        }
        let failed = reload_commands(config, &zone.zone, unreloaded.only_ethers)
            .iter()
            .find_map(|command| super::run_reload(command).err());
        match failed {
            None => {
                state.unreloaded.remove(&zone.zone);
            }
            Some(err) => {
                let why = format!("reloading dnsmasq: {err}");
                unreloaded.failed = Some((Instant::now(), why.clone()));
                errors.push(zone_error(&zone.zone, why));
            }
        }
    }
    Ok(errors)
}

fn reload_commands(config: &DnsmasqConfig, zone: &str, only_ethers: bool) -> Vec<String> {
    match &config.reload {
        Some(command) => vec![command.replace("{zone}", zone)],
        None if only_ethers => vec![format!("systemctl reload dnsmasq@{zone}")],
        None => vec![
            "systemctl reload dbus".to_string(),
            format!("systemctl enable dnsmasq@{zone}"),
            format!("systemctl restart dnsmasq@{zone}"),
        ],
    }
}

/// Writes the zone's files that differ from what is on disk; removes `10-*.conf` files of
/// vnets that are gone (the reference deletes them before writing). Answers the names of the
/// zone-directory files that changed (`default` and `dbus` for the two outside it).
pub fn write_zone(config: &DnsmasqConfig, zone: &DnsmasqZone, written: &mut BTreeMap<PathBuf, String>) -> Result<Vec<String>, String> {
    let dir = config.dir.join(&zone.zone);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut changed = Vec::new();
    let mut put = |path: PathBuf, name: &str, text: &str| -> Result<(), String> {
        if written.get(&path).map(String::as_str) == Some(text) || std::fs::read_to_string(&path).ok().as_deref() == Some(text) {
            written.insert(path, text.to_string());
            return Ok(());
        }
        crate::fsutil::write_atomic(&path, text.as_bytes(), 0o644).map_err(|e| format!("writing {}: {e}", path.display()))?;
        written.insert(path, text.to_string());
        changed.push(name.to_string());
        Ok(())
    };
    for (name, text) in &zone.files {
        put(dir.join(name), name, text)?;
    }
    if let Some(default_dir) = &config.default_dir {
        put(default_dir.join(format!("dnsmasq.{}", zone.zone)), "default", &zone.default_file)?;
    }
    if let Some(dbus_dir) = &config.dbus_dir {
        put(dbus_dir.join(format!("dnsmasq.{}.conf", zone.zone)), "dbus", &zone.dbus_policy)?;
    }
    for stale in stale_vnet_files(&dir, zone) {
        std::fs::remove_file(&stale).map_err(|e| format!("removing {}: {e}", stale.display()))?;
        written.remove(&stale);
        changed.push(stale.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    }
    Ok(changed)
}

fn stale_vnet_files(dir: &Path, zone: &DnsmasqZone) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("10-") && name.ends_with(".conf") && !zone.files.contains_key(name))
        .map(|name| dir.join(name))
        .collect()
}

/// `sdnd generate --dnsmasq-out`: every DHCP zone's files of `running` into `out/<zone>/`
/// (and `out/default/`, `out/dbus/`), naming `dir` inside them; `ipam_state` (the reference's
/// `pve-ipam-state.json`) gives the reservations.
pub fn generate_files(running: &Config, node: &str, dir: &str, ipam_state: Option<&crate::ipam::state::IpamDb>, out: &Path) -> Result<Vec<sdn_gen::Warning>, String> {
    let mut reservations: BTreeMap<String, BTreeMap<String, MacRecord>> = BTreeMap::new();
    if let Some(db) = ipam_state {
        for (zone, subnets) in &db.zones {
            for ips in subnets.values() {
                for (ip, record) in ips {
                    let (Some(mac), Ok(addr)) = (&record.mac, ip.parse::<std::net::IpAddr>()) else { continue };
                    reservations.entry(zone.clone()).or_default().entry(mac.clone()).or_default().set(addr.is_ipv6(), Some(addr.to_string()));
                }
            }
        }
    }
    let reservations = reservations
        .into_iter()
        .map(|(zone, macs)| {
            let list = macs
                .into_iter()
                .map(|(mac, r)| Reservation { mac, ip4: r.ip4.and_then(|i| i.parse().ok()), ip6: r.ip6.and_then(|i| i.parse().ok()) })
                .collect();
            (zone, list)
        })
        .collect();
    let mut warnings = Vec::new();
    let zones = sdn_gen::dnsmasq::generate(running, node, dir, &reservations, &mut warnings);
    let config = DnsmasqConfig { dir: out.to_path_buf(), default_dir: Some(out.join("default")), dbus_dir: Some(out.join("dbus")), reload: Some(String::new()) };
    for path in [out.join("default"), out.join("dbus")] {
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let mut written = BTreeMap::new();
    for zone in &zones {
        write_zone(&config, zone, &mut written)?;
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_is_parsed_only_while_a_zone_has_dhcp() {
        let dir = tempfile::tempdir().unwrap();
        let store = sdn_store::SqliteStore::open(&dir.path().join("store.db")).unwrap();
        let config = DnsmasqConfig { dir: dir.path().join("dnsmasq.d"), default_dir: None, dbus_dir: None, reload: Some(String::new()) };
        let (shared, mut state) = (SharedRunning::default(), State::default());
        let apply = |version: u64, zone: serde_json::Value| {
            let running = serde_json::json!({"version": version, "zones": {"ids": {"z1": zone}}, "vnets": {"ids": {}}, "subnets": {"ids": {}}});
            let txn = Txn::new().put(layout::RUNNING_CONFIG, running.to_string()).put(layout::RUNNING_VERSION, version.to_string());
            store.commit(txn).unwrap();
            // What the agent's main thread does when its watch tells of the change; the DHCP
            // side takes the snapshot it read.
            shared.current(&store).unwrap();
        };

        apply(1, serde_json::json!({"type": "simple"}));
        assert_eq!(pass(&store, "n1", &config, &shared, &mut state).unwrap(), Vec::new());
        assert!(state.running.config.is_none(), "no zone has DHCP: read once, by the agent, not as the model too");

        apply(2, serde_json::json!({"type": "simple", "dhcp": "dnsmasq"}));
        assert_eq!(pass(&store, "n1", &config, &shared, &mut state).unwrap(), Vec::new());
        assert!(state.running.config.is_some());
        assert!(config.dir.join("z1/00-default.conf").exists(), "the zone's files are written");

        apply(3, serde_json::json!({"type": "simple"}));
        pass(&store, "n1", &config, &shared, &mut state).unwrap();
        assert!(state.running.config.is_none(), "the model is let go with the last DHCP zone");
    }
}
