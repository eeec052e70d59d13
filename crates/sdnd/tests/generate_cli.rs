//! `sdnd generate` over the shared corpus, byte for byte, and its refusals.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/pve-zones")
}

fn cases() -> Vec<PathBuf> {
    let mut cases = Vec::new();
    for kind in std::fs::read_dir(corpus()).expect("../shared/corpus/pve-zones beside the checkout") {
        let kind = kind.unwrap().path();
        if kind.is_dir() {
            for case in std::fs::read_dir(&kind).unwrap() {
                cases.push(case.unwrap().path());
            }
        }
    }
    cases.sort();
    cases
}

fn generate(case: &Path, out: &Path) -> std::process::Output {
    let mut cmd = Command::new(common::SDND);
    cmd.arg("generate")
        .arg("--running-config")
        .arg(case.join("running-config.json"))
        .arg("--facts")
        .arg(case.join("facts.json"))
        .arg("--interfaces")
        .arg(case.join("interfaces"))
        .arg("--out")
        .arg(out);
    if case.join("frr.conf.local").exists() {
        cmd.arg("--frr-local").arg(case.join("frr.conf.local"));
    }
    cmd.output().unwrap()
}

#[test]
fn every_corpus_case_byte_for_byte() {
    let cases = cases();
    assert_eq!(cases.len(), 42, "the corpus has 42 cases");
    let mut failed = Vec::new();
    for case in &cases {
        let out = tempfile::tempdir().unwrap();
        let result = generate(case, out.path());
        assert!(result.status.success(), "{}: {}", case.display(), String::from_utf8_lossy(&result.stderr));
        for file in ["sdn", "frr.conf"] {
            let expected = std::fs::read(case.join("expected").join(file)).ok();
            let produced = std::fs::read(out.path().join(file)).ok();
            if expected != produced {
                failed.push(format!("{} {file}", case.display()));
            }
        }
    }
    assert!(failed.is_empty(), "differences:\n{}", failed.join("\n"));
}

#[test]
fn invalid_input_fails_with_a_message() {
    let case = cases().into_iter().next().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let broken = scratch.path().join("case");
    std::fs::create_dir(&broken).unwrap();
    for file in ["facts.json", "interfaces"] {
        std::fs::copy(case.join(file), broken.join(file)).unwrap();
    }
    std::fs::write(broken.join("running-config.json"), "{ not json").unwrap();
    let result = generate(&broken, &scratch.path().join("out"));
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("running-config.json"));
    assert!(!scratch.path().join("out/sdn").exists(), "nothing is written on invalid input");

    std::fs::write(broken.join("running-config.json"), r#"{"version":1,"zones":{"ids":{"z1":{"type":"vlan","bridge":"vmbr0"}}},"vnets":{"ids":{"v1":{"zone":"z1","tag":"abc"}}}}"#).unwrap();
    let result = generate(&broken, &scratch.path().join("out"));
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("tag"), "{}", String::from_utf8_lossy(&result.stderr));

    std::fs::remove_file(broken.join("facts.json")).unwrap();
    let result = generate(&broken, &scratch.path().join("out"));
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("facts.json"));
}
