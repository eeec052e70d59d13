//! `sdnd import` / `sdnd export`: the reference's section-config files and `.running-config`,
//! byte for byte.

use std::path::Path;

use sdn_config::{Config, Kind};

use crate::sdn::lock::Intent;
use crate::sdn::{parse_running, Mutation, Sdn};

const RUNNING_FILE: &str = ".running-config";

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
    if files == 0 && running.is_none() {
        return Err(format!("{} holds none of the SDN configuration files", dir.display()));
    }
    let summary = format!(
        "imported {} objects from {} file(s){}",
        Kind::ALL.iter().map(|k| config.list(*k).count()).sum::<usize>(),
        files,
        running.as_ref().map(|(v, _)| format!(" and running version {v}")).unwrap_or_default()
    );
    sdn.mutate(Intent::Change { token: None }, |_, _| {
        Ok((Mutation { replace_pending: Some(config.clone()), running: running.clone(), ..Mutation::default() }, ()))
    })
    .map_err(|err| err.to_string())?;
    Ok(summary)
}

/// Writes every non-empty kind's file and `.running-config` to `dir`.
pub fn export(sdn: &Sdn, dir: &Path) -> Result<String, String> {
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
    Ok(format!("exported {} to {}", written.join(", "), dir.display()))
}
