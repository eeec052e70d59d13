//! What sdnctl's global flags need beyond clap: accepted in any position (a pvesh-style call's
//! parameters would otherwise swallow them), the old spelling of the remotes file flag, and
//! the lock token kept for the shell (`--lock-token-file`, `$SDNCTL_LOCK_TOKEN`).

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The global flags that take a value, by their long name.
pub const WITH_VALUE: [&str; 4] = [
    "--remote",
    "--remotes-file",
    "--output-format",
    "--lock-token-file",
];
/// The environment variable holding a lock token.
pub const LOCK_TOKEN_ENV: &str = "SDNCTL_LOCK_TOKEN";
/// The environment variable naming the lock token file.
pub const LOCK_TOKEN_FILE_ENV: &str = "SDNCTL_LOCK_TOKEN_FILE";

/// `argv` with every global flag (and its value) moved right after the program name, where
/// clap reads them; `--remotes FILE` before the subcommand (the remotes file's old flag, now
/// `--remotes-file`) renamed. Nothing after a `--` moves.
pub fn hoist(argv: Vec<OsString>, subcommands: &[&str]) -> Vec<OsString> {
    let mut globals: Vec<OsString> = Vec::new();
    let mut rest: Vec<OsString> = Vec::new();
    let mut seen_subcommand = false;
    let mut iter = argv.into_iter();
    let program = iter.next();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy().into_owned();
        if text == "--" {
            rest.push(arg);
            rest.extend(iter.by_ref());
            break;
        }
        let text = if text == "--remotes" && !seen_subcommand {
            "--remotes-file".to_string()
        } else {
            text
        };
        let text = match text.strip_prefix("--remotes=") {
            Some(value) if !seen_subcommand => format!("--remotes-file={value}"),
            _ => text,
        };
        if WITH_VALUE.contains(&text.as_str()) {
            globals.push(text.into());
            if let Some(value) = iter.next() {
                globals.push(value);
            }
            continue;
        }
        if WITH_VALUE
            .iter()
            .any(|flag| text.starts_with(&format!("{flag}=")))
        {
            globals.push(text.into());
            continue;
        }
        if !seen_subcommand && subcommands.contains(&text.as_str()) {
            seen_subcommand = true;
        }
        rest.push(text.into());
    }
    program.into_iter().chain(globals).chain(rest).collect()
}

/// The lock token the shell keeps, if any: `$SDNCTL_LOCK_TOKEN`, else the lock token file's.
pub fn kept_token(file: Option<&Path>) -> Result<Option<String>, String> {
    if let Some(token) = std::env::var(LOCK_TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok(Some(token.trim().to_string()));
    }
    let Some(file) = file else { return Ok(None) };
    match std::fs::read_to_string(file) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("--lock-token-file {}: {err}", file.display())),
    }
}

/// Keeps `token` in `file`, readable by its owner only (replacing an earlier one).
pub fn keep_token(file: &Path, token: &str) -> Result<(), String> {
    let temp = file.with_extension("tmp");
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| format!("--lock-token-file {}: {e}", temp.display()))?;
    writeln!(out, "{token}")
        .and_then(|()| out.sync_all())
        .map_err(|e| format!("--lock-token-file {}: {e}", temp.display()))?;
    std::fs::rename(&temp, file).map_err(|e| format!("--lock-token-file {}: {e}", file.display()))
}

/// Forgets the kept token once the lock it opened is released.
pub fn forget_token(file: Option<&Path>) {
    if let Some(file) = file {
        let _ = std::fs::remove_file(file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hoisted(args: &[&str]) -> Vec<String> {
        let argv = std::iter::once("sdnctl")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        hoist(argv, &["get", "txn", "status"])
            .into_iter()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn globals_move_to_the_front_from_anywhere() {
        assert_eq!(
            hoisted(&[
                "get",
                "/cluster/sdn/vnets",
                "--pending",
                "1",
                "--remote",
                "b",
                "--output-format=json"
            ]),
            [
                "--remote",
                "b",
                "--output-format=json",
                "get",
                "/cluster/sdn/vnets",
                "--pending",
                "1"
            ]
        );
        // The remotes file's old flag before the subcommand; txn run's list of names after it.
        assert_eq!(
            hoisted(&[
                "--remotes",
                "r.toml",
                "txn",
                "run",
                "cs.yaml",
                "--remotes",
                "a,b"
            ]),
            [
                "--remotes-file",
                "r.toml",
                "txn",
                "run",
                "cs.yaml",
                "--remotes",
                "a,b"
            ]
        );
        assert_eq!(
            hoisted(&["status", "--", "--remote", "x"]),
            ["status", "--", "--remote", "x"]
        );
    }
}
