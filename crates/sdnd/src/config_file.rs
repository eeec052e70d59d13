//! The configuration file, `/etc/sdnd/sdnd.toml` (another with `--config FILE` or
//! `$SDND_CONFIG`): every `serve` flag as a key of the same name (`listen = "[::]:8006"`,
//! `data-dir = "/var/lib/sdnd"`, `apply-timeout = 60`, ...) plus `log-level`.
//!
//! A flag on the command line wins over its environment variable, which wins over the file,
//! which wins over the built-in default. The file's values become the flags they name, added
//! to the command line of whichever command is run where that command has the flag (so that
//! `sdnd token add` reaches the store `serve` uses); a key no `serve` flag has is refused.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;

/// Where the file is read from when neither `--config` nor `$SDND_CONFIG` names one (a missing
/// file there is no error: every setting has a default).
pub const DEFAULT_PATH: &str = "/etc/sdnd/sdnd.toml";
/// The environment variable naming the file.
pub const ENV: &str = "SDND_CONFIG";
/// The key (and global flag) of the log filter.
pub const LOG_LEVEL: &str = "log-level";

/// What the file adds to a command line.
#[derive(Debug, Default)]
pub struct Applied {
    /// The command line with the file's settings added.
    pub argv: Vec<OsString>,
    /// The file's `log-level`, if it has one.
    pub log_level: Option<String>,
    /// The file read, if one was.
    pub path: Option<PathBuf>,
}

/// The file `argv` (or the environment) names: explicitly named, or the default.
fn chosen_path(argv: &[OsString]) -> Result<(PathBuf, bool), String> {
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        if text == "--config" {
            let value = args.next().ok_or("--config needs a file")?;
            return Ok((PathBuf::from(value), true));
        }
        if let Some(value) = text.strip_prefix("--config=") {
            return Ok((PathBuf::from(value), true));
        }
    }
    match std::env::var_os(ENV) {
        Some(value) if !value.is_empty() => Ok((PathBuf::from(value), true)),
        _ => Ok((PathBuf::from(DEFAULT_PATH), false)),
    }
}

/// Reads the file `argv` selects and adds its settings to `argv` as flags of the command
/// `argv` runs, for every flag given neither on the command line nor by its environment
/// variable. `env_of` names the environment variables the commands read themselves (beside
/// clap's own `env`). An `argv` clap refuses comes back unchanged (clap then says why).
pub fn apply(
    command: &clap::Command,
    argv: Vec<OsString>,
    env_of: &dyn Fn(&str) -> Option<&'static str>,
) -> Result<Applied, String> {
    let (path, explicit) = chosen_path(&argv)?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(Applied {
                argv,
                ..Applied::default()
            })
        }
        Err(err) => {
            return Err(format!(
                "reading the configuration file {}: {err}",
                path.display()
            ))
        }
    };
    let settings = parse(&text, &path, command)?;
    let mut applied = Applied {
        path: Some(path.clone()),
        ..Applied::default()
    };
    let Ok(matches) = command.clone().try_get_matches_from(&argv) else {
        applied.argv = argv;
        return Ok(applied);
    };

    // The command run: its chain of subcommand names, and its own flags.
    let mut names = Vec::new();
    let mut leaf_command = command.clone();
    let mut leaf_matches = &matches;
    while let Some((name, sub)) = leaf_matches.subcommand() {
        names.push(name.to_string());
        leaf_command = leaf_command
            .find_subcommand(name)
            .cloned()
            .ok_or("clap lost a subcommand")?;
        leaf_matches = sub;
    }

    let mut added: Vec<OsString> = Vec::new();
    for (key, value) in settings {
        if key == LOG_LEVEL {
            applied.log_level = Some(value_text(&value));
            continue;
        }
        let Some(arg) = leaf_command
            .get_arguments()
            .find(|arg| arg.get_long() == Some(key.as_str()))
        else {
            continue;
        };
        let given = matches!(
            leaf_matches.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        let env_set =
            |name: &std::ffi::OsStr| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if given || env_of(&key).is_some_and(|name| env_set(name.as_ref())) {
            continue;
        }
        if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
            match value {
                toml::Value::Boolean(true) => added.push(format!("--{key}").into()),
                toml::Value::Boolean(false) => {}
                _ => return Err(format!("{}: '{key}' is true or false", path.display())),
            }
        } else {
            added.push(format!("--{key}={}", value_text(&value)).into());
        }
    }

    // After the last subcommand's name, where its flags go.
    let mut at = 1;
    for name in &names {
        let found = argv[at..]
            .iter()
            .position(|arg| arg.to_str() == Some(name.as_str()));
        at += found.map_or(0, |i| i + 1);
    }
    let mut out = argv;
    let tail = out.split_off(at.min(out.len()));
    out.extend(added);
    out.extend(tail);
    applied.argv = out;
    Ok(applied)
}

/// A configuration file listing every `serve` flag as a commented-out key with its help text
/// and default, and `log-level`: what the package installs as /etc/sdnd/sdnd.toml.
pub fn template(command: &clap::Command) -> Result<String, String> {
    let serve = command.find_subcommand("serve").ok_or("no serve command")?;
    let mut out = String::from(
        "# sdnd's configuration: every `sdnd serve` flag may be set here as a key of the same\n\
         # name. A flag on the command line wins over its environment variable (SDND_STORE, ...),\n\
         # which wins over this file, which wins over the default shown.\n\
         # The admin commands (sdnd token add, sdnd backup, ...) read this file too, so that they\n\
         # reach the store the service uses.\n\n",
    );
    out.push_str("# What to log: error, warn, info, debug or trace, or tracing directives\n# (e.g. \"info,sdnd::access=warn\" hides the per-request lines). SDND_LOG overrides it.\n#log-level = \"info\"\n\n");
    for arg in serve.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "version" | "config" | "log-level") || arg.is_hide_set() {
            continue;
        }
        if let Some(help) = arg.get_long_help().or(arg.get_help()) {
            let mut line = String::from("#");
            for word in help.to_string().split_whitespace() {
                if line.len() + 1 + word.len() > 92 {
                    out.push_str(&line);
                    out.push('\n');
                    line = String::from("#");
                }
                line.push(' ');
                line.push_str(word);
            }
            out.push_str(&line);
            out.push('\n');
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let example = match (defaults.first(), arg.get_action()) {
            (_, clap::ArgAction::SetTrue) => "false".to_string(),
            (Some(value), _) if value.parse::<i64>().is_ok() => value.clone(),
            (Some(value), _) => toml::Value::String(value.clone()).to_string(),
            (None, _) => "\"\"".to_string(),
        };
        let unset = if defaults.is_empty() && !matches!(arg.get_action(), clap::ArgAction::SetTrue)
        {
            "  # not set by default"
        } else {
            ""
        };
        out.push_str(&format!("#{long} = {example}{unset}\n\n"));
    }
    Ok(out)
}

fn value_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The file's settings, each a key `serve` has as a flag (or `log-level`) with a plain value.
fn parse(
    text: &str,
    path: &Path,
    command: &clap::Command,
) -> Result<Vec<(String, toml::Value)>, String> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?;
    let serve = command.find_subcommand("serve").ok_or("no serve command")?;
    let known: Vec<&str> = serve
        .get_arguments()
        .filter_map(|arg| arg.get_long())
        .filter(|long| !matches!(*long, "help" | "version" | "config"))
        .chain([LOG_LEVEL])
        .collect();
    let mut settings = Vec::new();
    for (key, value) in table {
        if !known.contains(&key.as_str()) {
            let mut sorted = known.clone();
            sorted.sort_unstable();
            return Err(format!(
                "{}: unknown key '{key}' (known: {})",
                path.display(),
                sorted.join(", ")
            ));
        }
        match &value {
            toml::Value::String(_)
            | toml::Value::Integer(_)
            | toml::Value::Boolean(_)
            | toml::Value::Float(_) => {}
            _ => {
                return Err(format!(
                    "{}: '{key}' must be a string, number or boolean",
                    path.display()
                ))
            }
        }
        settings.push((key, value));
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction, Command};

    fn cli() -> Command {
        Command::new("sdnd")
            .arg(Arg::new("config").long("config").global(true))
            .subcommand(
                Command::new("serve")
                    .arg(
                        Arg::new("listen")
                            .long("listen")
                            .default_value("127.0.0.1:8006"),
                    )
                    .arg(
                        Arg::new("data_dir")
                            .long("data-dir")
                            .default_value("/var/lib/sdnd"),
                    )
                    .arg(Arg::new("quiet").long("quiet").action(ArgAction::SetTrue)),
            )
            .subcommand(
                Command::new("token").subcommand(
                    Command::new("add").arg(Arg::new("userid")).arg(
                        Arg::new("data_dir")
                            .long("data-dir")
                            .default_value("/var/lib/sdnd"),
                    ),
                ),
            )
    }

    fn run(file: &str, argv: &[&str]) -> Result<Applied, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sdnd.toml");
        std::fs::write(&path, file).unwrap();
        let mut full: Vec<OsString> = vec!["sdnd".into(), "--config".into(), path.clone().into()];
        full.extend(argv.iter().map(OsString::from));
        apply(&cli(), full, &|_| None)
    }

    fn tail(applied: &Applied) -> Vec<String> {
        applied
            .argv
            .iter()
            .skip(3)
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_file_fills_in_what_the_command_line_leaves_out() {
        let applied = run(
            "listen = \"[::]:9000\"\ndata-dir = \"/srv\"\nquiet = true\nlog-level = \"debug\"\n",
            &["serve", "--data-dir", "/x"],
        )
        .unwrap();
        assert_eq!(
            tail(&applied),
            ["serve", "--listen=[::]:9000", "--quiet", "--data-dir", "/x"]
        );
        assert_eq!(applied.log_level.as_deref(), Some("debug"));
        // Another command takes the keys it has as flags, after its own name.
        let applied = run(
            "listen = \"[::]:9000\"\ndata-dir = \"/srv\"\n",
            &["token", "add", "root@pam"],
        )
        .unwrap();
        assert_eq!(
            tail(&applied),
            ["token", "add", "--data-dir=/srv", "root@pam"]
        );
    }

    #[test]
    fn unknown_keys_and_odd_values_are_refused_naming_them() {
        let err = run("lisen = \"x\"\n", &["serve"]).unwrap_err();
        assert!(
            err.contains("unknown key 'lisen'") && err.contains("listen"),
            "{err}"
        );
        let err = run("listen = [1]\n", &["serve"]).unwrap_err();
        assert!(err.contains("'listen' must be"), "{err}");
        let err = run("quiet = \"yes\"\n", &["serve"]).unwrap_err();
        assert!(err.contains("'quiet' is true or false"), "{err}");
        let err = run("listen = \n", &["serve"]).unwrap_err();
        assert!(err.contains("sdnd.toml"), "{err}");
    }

    #[test]
    fn the_template_names_every_flag_and_reads_back_uncommented() {
        let text = template(&cli()).unwrap();
        assert!(
            text.contains("#listen = \"127.0.0.1:8006\"") && text.contains("#quiet = false"),
            "{text}"
        );
        let uncommented: String = text
            .lines()
            .filter_map(|l| l.strip_prefix('#').filter(|l| l.contains(" = ")))
            .map(|l| format!("{l}\n"))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.toml"), &uncommented).unwrap();
        parse(&uncommented, &dir.path().join("t.toml"), &cli()).unwrap();
    }

    #[test]
    fn a_named_file_must_exist_the_default_need_not() {
        let argv: Vec<OsString> = ["sdnd", "--config", "/nonexistent/sdnd.toml", "serve"]
            .iter()
            .map(OsString::from)
            .collect();
        let err = apply(&cli(), argv, &|_| None).unwrap_err();
        assert!(err.contains("/nonexistent/sdnd.toml"), "{err}");
    }
}
