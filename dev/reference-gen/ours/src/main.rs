//! `sdn-gen-run CASE_DIR OUT_DIR`: writes OUT_DIR/sdn and OUT_DIR/frr.conf (when generated) for
//! a case in the corpus layout; on failure OUT_DIR/error holds the message and the exit status is 2.

use std::path::Path;

use sdn_config::{Reading, RunningConfig};

fn run(case: &Path, out: &Path) -> Result<(), String> {
    let read = |name: &str| {
        std::fs::read_to_string(case.join(name)).map_err(|e| format!("{name}: {e}"))
    };
    let running =
        RunningConfig::from_slice(read("running-config.json")?.as_bytes(), Reading::Lenient)
            .map_err(|e| e.to_string())?;
    let facts: sdn_gen::NodeFacts =
        serde_json::from_str(&read("facts.json")?).map_err(|e| e.to_string())?;
    let interfaces = read("interfaces")?;
    let frr_local = case
        .join("frr.conf.local")
        .exists()
        .then(|| read("frr.conf.local"))
        .transpose()?;
    let output = sdn_gen::generate(&sdn_gen::GenInput {
        running_config: &running,
        facts: &facts,
        interfaces: &interfaces,
        frr_local: frr_local.as_deref(),
    })
    .map_err(|e| e.to_string())?;
    std::fs::write(out.join("sdn"), output.interfaces).map_err(|e| e.to_string())?;
    if let Some(frr) = output.frr {
        std::fs::write(out.join("frr.conf"), frr).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: sdn-gen-run CASE_DIR OUT_DIR");
        std::process::exit(1);
    }
    let out = Path::new(&args[2]);
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("{}: {e}", out.display());
        std::process::exit(1);
    }
    if let Err(e) = run(Path::new(&args[1]), out) {
        let _ = std::fs::write(out.join("error"), format!("{e}\n"));
        eprintln!("{e}");
        std::process::exit(2);
    }
}
