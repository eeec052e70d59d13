//! Generated files must be accepted by the real parsers: FRR's `vtysh --dryrun` for frr.conf
//! and ifupdown2 (parse plus known attribute names) for the interfaces snippet.
//!
//! The parsers are extracted from Debian packages into `.tools/` by `scripts/fetch-frr.sh`.
//! Without them these tests fail (so CI cannot silently skip them) unless `SDN_SKIP_FRR=1`.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sdn_config::{Reading, RunningConfig};
use sdn_gen::{generate, GenInput, GenOutput, NodeFacts};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tool's path, or `None` when the checks are skipped on purpose.
fn tool(relative: &str) -> Option<PathBuf> {
    if std::env::var("SDN_SKIP_FRR").as_deref() == Ok("1") {
        eprintln!("SDN_SKIP_FRR=1: skipping the external parser checks");
        return None;
    }
    let path = repo_root().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-frr.sh first (or set SDN_SKIP_FRR=1 to skip)",
        path.display()
    );
    Some(path)
}

/// Generated commands that FRR 8.4 (the parser available from Debian 12) does not know yet:
/// `autort as` in `address-family l2vpn evpn`, and the `any` mode of `match extcommunity
/// LIST any` (the route target filtering of several EVPN controllers, FRR 10) are newer.
const NEWER_THAN_FRR_8_4: &[&str] = &["autort as ", "match extcommunity pve_controller_"];

/// A generated output with its origin and the frr.conf.local lines it was merged with.
struct Generated {
    name: String,
    out: GenOutput,
    local_lines: BTreeSet<String>,
}

fn generate_case(
    name: String,
    config: &RunningConfig,
    facts: &NodeFacts,
    interfaces: &str,
    local: Option<&str>,
) -> Generated {
    let out = generate(&GenInput {
        running_config: config,
        facts,
        interfaces,
        frr_local: local,
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    Generated {
        name,
        out,
        local_lines: local
            .unwrap_or("")
            .lines()
            .map(|l| l.trim().to_string())
            .collect(),
    }
}

/// Every corpus case, every extra reference case, and the benchmark configuration.
fn all_outputs() -> Vec<Generated> {
    let mut outputs = Vec::new();
    for root in [common::corpus_dir(), common::reference_cases_dir()] {
        for dir in common::case_dirs(&root) {
            let read = |f: &str| fs::read_to_string(dir.join(f)).ok();
            let json: serde_json::Value =
                serde_json::from_str(&read("running-config.json").unwrap_or_default())
                    .expect("json");
            let config = RunningConfig::from_json(&json, Reading::Lenient)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            let facts: NodeFacts =
                serde_json::from_str(&read("facts.json").unwrap_or_default()).expect("facts");
            let interfaces = read("interfaces").unwrap_or_default();
            let local = read("frr.conf.local");
            let name = dir
                .strip_prefix(&root)
                .unwrap_or(&dir)
                .display()
                .to_string();
            outputs.push(generate_case(
                name,
                &config,
                &facts,
                &interfaces,
                local.as_deref(),
            ));
        }
    }
    let bench = RunningConfig::from_json(&common::config(50, 2000, 2000), Reading::Strict)
        .expect("the bench config is written as sdn-config writes it");
    outputs.push(generate_case(
        "bench (50 evpn zones, 2000 evpn + 2000 vlan vnets)".into(),
        &bench,
        &common::facts(),
        common::INTERFACES,
        None,
    ));
    outputs
}

fn temp_file(name: &str, content: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .prefix(&format!("sdn-gen-{}-", name.replace(['/', ' '], "_")))
        .tempfile()
        .expect("temp file");
    std::io::Write::write_all(&mut file, content.as_bytes()).expect("write temp file");
    file
}

#[test]
fn frr_accepts_generated_configs() {
    let Some(vtysh) = tool(".tools/frr/vtysh-dryrun") else {
        return;
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for g in all_outputs() {
        let Some(frr) = &g.out.frr else { continue };
        checked += 1;
        let file = temp_file(&g.name, frr);
        let result = Command::new(&vtysh)
            .arg(file.path())
            .output()
            .expect("run vtysh");
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        let lines: Vec<&str> = frr.lines().collect();
        // Lines copied from frr.conf.local may be invalid, and the reference targets FRR 10.4
        // while Debian 12 ships 8.4; everything else must parse.
        let mut unexplained = Vec::new();
        for report in output.lines().filter(|l| l.starts_with("line ")) {
            let number: Option<usize> = report
                .strip_prefix("line ")
                .and_then(|r| r.split(':').next())
                .and_then(|n| n.parse().ok());
            let text = number
                .and_then(|n| n.checked_sub(1))
                .and_then(|n| lines.get(n))
                .map(|l| l.trim());
            let explained = text.is_some_and(|t| {
                g.local_lines.contains(t) || NEWER_THAN_FRR_8_4.iter().any(|c| t.starts_with(c))
            });
            if !explained {
                unexplained.push(format!("{report}  [{}]", text.unwrap_or("?")));
            }
        }
        let reported = output.lines().any(|l| l.starts_with("line "));
        if !unexplained.is_empty() || (!result.status.success() && !reported) {
            failures.push(format!(
                "{}: vtysh exit {:?}\n{}\n{output}",
                g.name,
                result.status.code(),
                unexplained.join("\n"),
            ));
        }
    }
    assert!(checked >= 20, "only {checked} FRR configs were checked");
    assert!(
        failures.is_empty(),
        "FRR rejected generated lines:\n{}",
        failures.join("\n")
    );
}

#[test]
fn ifupdown2_accepts_generated_interfaces() {
    let Some(ifquery) = tool(".tools/ifupdown2/ifquery-file") else {
        return;
    };
    let attributes: BTreeSet<String> =
        fs::read_to_string(repo_root().join(".tools/ifupdown2/attributes.txt"))
            .expect("attributes.txt")
            .lines()
            .map(str::to_string)
            .collect();
    let mut failures = Vec::new();
    for g in all_outputs() {
        for line in g.out.interfaces.lines().filter(|l| l.starts_with('\t')) {
            let key = line.split_whitespace().next().unwrap_or("");
            // ifupdown2 treats `_` and `-` in attribute names alike.
            if !attributes.contains(&key.replace('_', "-")) {
                failures.push(format!(
                    "{}: unknown attribute in \"{}\"",
                    g.name,
                    line.trim()
                ));
            }
        }
        if !g.out.interfaces.contains("\niface ") {
            // ifquery refuses a file without interfaces; there is nothing to parse.
            continue;
        }
        let file = temp_file(&g.name, &g.out.interfaces);
        // ifquery also starts ifupdown2's netlink listener (the host's links), whose socket
        // read can fail as ifquery shuts down ("recv() error", seen on a busy machine): that
        // says nothing of the file, so such a run is repeated after a pause (three tries in a
        // row failed so once, in a fresh clone's run with the build beside it); anything else
        // fails the case.
        const TRIES: u64 = 5;
        for attempt in 1..=TRIES {
            let result = Command::new(&ifquery)
                .arg(file.path())
                .output()
                .expect("run ifquery");
            let stderr = String::from_utf8_lossy(&result.stderr);
            if result.status.success() && !stderr.contains("error") && !stderr.contains("warning") {
                break;
            }
            let listener_noise_only = stderr.lines().filter(|l| !l.trim().is_empty()).all(|l| l.contains("recv() error"));
            if !listener_noise_only || attempt == TRIES {
                failures.push(format!("{}: ifquery failed: {stderr}", g.name));
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100 * attempt));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
