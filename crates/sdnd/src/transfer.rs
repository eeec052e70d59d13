//! `sdnd import` / `sdnd export`: the reference's section-config files and `.running-config`,
//! byte for byte, and the PVE IPAM's state (`pve-ipam-state.json`; imported also from the
//! file's former place, `priv/ipam.db`, as the reference's package upgrade copies it).

use std::path::Path;

use sdn_config::{Config, Kind};

use crate::sdn::lock::Intent;
use crate::sdn::{parse_running, Mutation, Sdn};

const RUNNING_FILE: &str = ".running-config";
/// The PVE IPAM's state, beside the section-config files (`/etc/pve/sdn/pve-ipam-state.json`).
const IPAM_FILE: &str = "pve-ipam-state.json";

/// Where the state may be found in an import directory, newest first: beside the files, or
/// where the reference kept it before (`/etc/pve/priv/ipam.db`, beside `/etc/pve/sdn`; or in
/// the directory itself).
fn ipam_candidates(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut candidates = vec![dir.join(IPAM_FILE), dir.join("ipam.db"), dir.join("priv/ipam.db")];
    if let Some(parent) = dir.parent() {
        candidates.push(parent.join("priv/ipam.db"));
    }
    candidates
}

fn read_ipam(dir: &Path) -> Result<Option<(std::path::PathBuf, crate::ipam::state::IpamDb)>, String> {
    for path in ipam_candidates(dir) {
        match std::fs::read(&path) {
            Ok(text) => {
                let db = crate::ipam::state::IpamDb::parse(&text).map_err(|err| format!("{}: {err}", path.display()))?;
                return Ok(Some((path, db)));
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(format!("{}: {err}", path.display())),
        }
    }
    Ok(None)
}

/// Replaces the stored configuration with the files in `dir` (missing files mean "no objects of
/// that kind"), in one transaction. Refused while the SDN lock is held.
pub fn import(sdn: &Sdn, dir: &Path) -> Result<String, String> {
    let mut config = Config::default();
    let mut files = 0;
    for kind in Kind::ALL {
        let path = dir.join(kind.file_name());
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(format!("{}: {err}", path.display())),
        };
        files += 1;
        let objects = Config::parse_section_config(kind, &text).map_err(|err| format!("{}: {err}", path.display()))?;
        for object in objects {
            config.insert(object);
        }
    }
    // The reference always has its built-in IPAM, whether ipams.cfg names it or not.
    if config.get(Kind::Ipams, "pve").is_none() {
        let builtin = sdn_config::SdnObject::from_values(Kind::Ipams, "pve", "pve", &Default::default())
            .map_err(|err| err.to_string())?;
        config.insert(builtin);
    }
    config.validate().map_err(|err| format!("{}: the files don't form a valid configuration: {err}", dir.display()))?;
    let running_path = dir.join(RUNNING_FILE);
    let running = match std::fs::read(&running_path) {
        Ok(text) => {
            let (version, _) = parse_running(&text).map_err(|err| format!("{}: {err}", running_path.display()))?;
            Some((version, text))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(format!("{}: {err}", running_path.display())),
    };
    let ipam_db = read_ipam(dir)?;
    if files == 0 && running.is_none() && ipam_db.is_none() {
        return Err(format!("{} holds none of the SDN configuration files", dir.display()));
    }
    let summary = format!(
        "imported {} objects from {} file(s){}",
        Kind::ALL.iter().map(|k| config.list(*k).count()).sum::<usize>(),
        files,
        running.as_ref().map(|(v, _)| format!(" and running version {v}")).unwrap_or_default()
    );
    // The IPAM's state (if the directory has it) in the same transaction as the configuration.
    let (summary, extra) = match &ipam_db {
        Some((path, db)) => {
            let count: usize = db.zones.values().flat_map(|s| s.values()).map(|ips| ips.len()).sum();
            let ops = crate::ipam::Ipam::import_ops(db).map_err(|err| format!("{}: {err}", path.display()))?;
            (format!("{summary}; IPAM state with {count} address(es) from {}", path.display()), ops)
        }
        None => (summary, Vec::new()),
    };
    sdn.mutate(Intent::Change { token: None }, |_, _| {
        Ok((Mutation { replace_pending: Some(config.clone()), running: running.clone(), extra: extra.clone(), ..Mutation::default() }, ()))
    })
    .map_err(|err| err.to_string())?;
    Ok(summary)
}

/// Writes every non-empty kind's file and `.running-config` to `dir`.
pub fn export(sdn: &Sdn, ipam: &crate::ipam::Ipam, dir: &Path) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let snapshot = sdn.snapshot().map_err(|err| err.to_string())?;
    let mut written = Vec::new();
    for kind in Kind::ALL {
        if snapshot.pending.list(kind).next().is_none() {
            continue;
        }
        let text = snapshot.pending.to_section_config(kind);
        let path = dir.join(kind.file_name());
        crate::fsutil::write_atomic(&path, text.as_bytes(), 0o640).map_err(|err| format!("{}: {err}", path.display()))?;
        written.push(kind.file_name());
    }
    if let Some(text) = sdn.running_config_text().map_err(|err| err.to_string())? {
        let path = dir.join(RUNNING_FILE);
        crate::fsutil::write_atomic(&path, &text, 0o640).map_err(|err| format!("{}: {err}", path.display()))?;
        written.push(RUNNING_FILE);
    }
    // Always: an empty IPAM is a state too, and importing the export must reproduce it.
    let db = ipam.export().map_err(|err| err.to_string())?;
    let path = dir.join(IPAM_FILE);
    let text = serde_json::to_vec(&db.to_json()).map_err(|err| err.to_string())?;
    crate::fsutil::write_atomic(&path, &text, 0o640).map_err(|err| format!("{}: {err}", path.display()))?;
    written.push(IPAM_FILE);
    Ok(format!("exported {} to {}", written.join(", "), dir.display()))
}
