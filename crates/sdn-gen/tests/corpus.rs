//! Every case of the generation corpus must come out byte for byte.
//!
//! The corpus lives in the shared directory next to the repository
//! (`shared/corpus/pve-zones/<type>/<case>/`), see its README.md.

use std::fs;
use std::path::{Path, PathBuf};

use sdn_gen::{generate, GenInput, NodeFacts};
use similar::TextDiff;

/// The corpus; `SDN_GEN_CORPUS` points elsewhere (e.g. at a modified copy to see the test fail).
fn corpus_dir() -> PathBuf {
    match std::env::var_os("SDN_GEN_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/pve-zones"),
    }
}

fn cases() -> Vec<PathBuf> {
    let mut cases = Vec::new();
    let root = corpus_dir();
    let types = fs::read_dir(&root).unwrap_or_else(|e| panic!("reading {}: {e}", root.display()));
    for ty in types.flatten() {
        if !ty.path().is_dir() {
            continue;
        }
        for case in fs::read_dir(ty.path()).into_iter().flatten().flatten() {
            if case.path().join("running-config.json").is_file() {
                cases.push(case.path());
            }
        }
    }
    cases.sort();
    cases
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn read_opt(path: &Path) -> Option<String> {
    path.is_file().then(|| read(path))
}

/// Runs one case; returns a description of each mismatch.
fn run_case(dir: &Path) -> Vec<String> {
    let running: serde_json::Value =
        serde_json::from_str(&read(&dir.join("running-config.json"))).expect("running-config.json");
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

#[test]
fn corpus_cases_are_byte_identical() {
    let cases = cases();
    assert!(
        cases.len() >= 40,
        "corpus not found or incomplete at {}",
        corpus_dir().display()
    );
    let mut failed = Vec::new();
    for dir in &cases {
        let name = dir
            .strip_prefix(corpus_dir())
            .unwrap_or(dir)
            .display()
            .to_string();
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
        "{} of {} corpus cases pass",
        cases.len() - failed.len(),
        cases.len()
    );
    assert!(failed.is_empty(), "failing cases: {failed:?}");
}
