//! Regenerates etcd-client's gRPC code (what its build script did upstream with the system's
//! protoc) into `vendor/etcd-client/src/rpc/generated/`, so building sdnd needs no protoc.
//! Run through `scripts/regen-etcd-proto`; `--check` compares instead of writing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const PROTOS: &[&str] = &[
    "proto/etcd/api/authpb/auth.proto",
    "proto/etcd/api/etcdserverpb/rpc.proto",
    "proto/etcd/api/mvccpb/kv.proto",
    "proto/etcd/server/etcdserver/api/v3election/v3electionpb/v3election.proto",
    "proto/etcd/server/etcdserver/api/v3lock/v3lockpb/v3lock.proto",
];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let crate_dir = PathBuf::from(args.next().expect("usage: etcd-proto VENDORED_CRATE_DIR [--check]"));
    let check = args.next().as_deref() == Some("--check");
    match run(&crate_dir, check) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("etcd-proto: the checked-in generated code differs; run scripts/regen-etcd-proto");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("etcd-proto: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(crate_dir: &Path, check: bool) -> Result<bool, String> {
    let protoc = protoc_bin_vendored::protoc_bin_path().map_err(|e| format!("vendored protoc: {e}"))?;
    let include = protoc_bin_vendored::include_path().map_err(|e| format!("vendored includes: {e}"))?;
    // prost-build reads these two; setting them here keeps any system protoc out of the picture.
    std::env::set_var("PROTOC", &protoc);
    std::env::set_var("PROTOC_INCLUDE", &include);

    let scratch = std::env::temp_dir().join(format!("etcd-proto-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| crate_dir.join(p)).collect();
    tonic_prost_build::configure()
        .build_server(false)
        .out_dir(&scratch)
        .compile_protos(&protos, &[crate_dir.join("proto"), include])
        .map_err(|e| format!("compiling the protos: {e}"))?;

    let target = crate_dir.join("src/rpc/generated");
    std::fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
    let mut same = true;
    for package in ["authpb", "etcdserverpb", "mvccpb", "v3electionpb", "v3lockpb"] {
        let file = format!("{package}.rs");
        let fresh = std::fs::read(scratch.join(&file)).map_err(|e| format!("{file}: {e}"))?;
        let current = std::fs::read(target.join(&file)).ok();
        if current.as_deref() != Some(fresh.as_slice()) {
            same = false;
            if !check {
                std::fs::write(target.join(&file), &fresh).map_err(|e| format!("{file}: {e}"))?;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(!check || same)
}
