//! Every case of the generation corpus must come out byte for byte: the shared corpus
//! (`../shared/corpus/pve-zones/<type>/<case>/`, see its README.md), read in place, and the
//! reference's fixtures it leaves out (`tests/reference-cases/`, same layout).

mod common;

use std::fs;
use std::path::Path;

use common::{case_dirs, corpus_dir, reference_cases_dir};
use sdn_config::{Reading, RunningConfig};
use sdn_gen::{generate, GenInput, NodeFacts};
use similar::TextDiff;

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn read_opt(path: &Path) -> Option<String> {
    path.is_file().then(|| read(path))
}

/// Runs one case; returns a description of each mismatch.
fn run_case(dir: &Path) -> Vec<String> {
    let json: serde_json::Value =
        serde_json::from_str(&read(&dir.join("running-config.json"))).expect("running-config.json");
    let running = match RunningConfig::from_json(&json, Reading::Lenient) {
        Ok(running) => running,
        Err(e) => return vec![format!("reading the running config failed: {e}")],
    };
    let facts: NodeFacts =
        serde_json::from_str(&read(&dir.join("facts.json"))).expect("facts.json");
    let interfaces = read(&dir.join("interfaces"));
    let frr_local = read_opt(&dir.join("frr.conf.local"));
    let input = GenInput {
        running_config: &running,
        facts: &facts,
        interfaces: &interfaces,
        frr_local: frr_local.as_deref(),
    };
    let out = match generate(&input) {
        Ok(out) => out,
        Err(e) => return vec![format!("generate failed: {e}")],
    };
    let mut failures = Vec::new();
    let mut compare = |name: &str, expected: Option<String>, got: Option<&str>| {
        if expected.as_deref() == got {
            return;
        }
        let diff = TextDiff::from_lines(expected.as_deref().unwrap_or(""), got.unwrap_or(""))
            .unified_diff()
            .context_radius(3)
            .header(&format!("expected/{name}"), &format!("generated/{name}"))
            .to_string();
        failures.push(format!(
            "{name} differs (expected {}, generated {}):\n{diff}",
            if expected.is_some() {
                "a file"
            } else {
                "no file"
            },
            if got.is_some() { "a file" } else { "no file" },
        ));
    };
    compare(
        "sdn",
        read_opt(&dir.join("expected/sdn")),
        Some(out.interfaces.as_str()),
    );
    compare(
        "frr.conf",
        read_opt(&dir.join("expected/frr.conf")),
        out.frr.as_deref(),
    );
    failures
}

/// Runs every case under `root`; fails naming each case that differs.
fn check_all(root: &Path, at_least: usize) {
    let cases = case_dirs(root);
    assert!(
        cases.len() >= at_least,
        "cases not found or incomplete at {} ({} of at least {at_least})",
        root.display(),
        cases.len()
    );
    let mut failed = Vec::new();
    for dir in &cases {
        let name = dir.strip_prefix(root).unwrap_or(dir).display().to_string();
        let failures = run_case(dir);
        if !failures.is_empty() {
            eprintln!("=== FAIL {name}");
            for f in &failures {
                eprintln!("{f}");
            }
            failed.push(name);
        }
    }
    eprintln!(
        "{} of {} cases pass",
        cases.len() - failed.len(),
        cases.len()
    );
    assert!(failed.is_empty(), "failing cases: {failed:?}");
}

#[test]
fn corpus_cases_are_byte_identical() {
    check_all(&corpus_dir(), 42);
}

/// The reference's own fixtures that the shared corpus leaves out: other configurations, same rules.
#[test]
fn reference_cases_beyond_the_corpus_are_byte_identical() {
    check_all(&reference_cases_dir(), 17);
}
