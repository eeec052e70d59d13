//! Embeds the web interface (`ui/dist`, built by `npm run build` in `ui/`) into the binary.
//! Without a built UI sdnd still builds: `/` then says how to build it.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let ui = manifest.join("../../ui");
    let dist = ui.join("dist");
    println!("cargo:rerun-if-env-changed=SDND_UI_DIST");
    let dist = std::env::var_os("SDND_UI_DIST").map(PathBuf::from).unwrap_or(dist);
    // Watch dist once it exists; before that the ui folder, which changes when dist appears.
    if dist.join("index.html").is_file() {
        println!("cargo:rerun-if-changed={}", dist.display());
    } else if ui.is_dir() {
        println!("cargo:rerun-if-changed={}", ui.display());
    }

    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &dist, &mut files);
    }
    files.sort();
    let mut code = String::from("/// The built UI: (path below the root, contents).\npub static ASSETS: &[(&str, &[u8])] = &[\n");
    for (rel, abs) in &files {
        code.push_str(&format!("    ({rel:?}, include_bytes!({:?})),\n", abs.display().to_string()));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("ui_assets.rs");
    std::fs::write(out, code).expect("write ui_assets.rs");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            files.push((rel, path.canonicalize().unwrap_or(path)));
        }
    }
}
