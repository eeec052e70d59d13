//! sdnctl: a thin command line over the sdnctl library.

mod globals;
mod history_cmd;
mod progress;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use serde_json::{json, Value};

use sdnctl::apidoc::ApiDoc;
use sdnctl::render::{pending_diff, render, OutputFormat};
use sdnctl::{ApiPath, ChangeSet, Client, ClientError, LockOptions, LockToken, LockedClients, Method, Params, Remotes, TxnOptions};

const EXIT_CODES: &str = "\
Exit codes:
  0  success (txn: every remote applied and every node reported OK)
  1  the server refused the request; txn: it failed and every remote was rolled back or released
  2  bad usage, remotes file or change set (nothing was sent)
  3  a remote could not be reached (connection, TLS, certificate fingerprint); txn: one refused
     the connection before anything was sent, nothing changed anywhere
  4  the SDN lock refused (held by someone else, or a wrong lock token)
  5  an apply task finished with an error or warnings (a node did not apply everything);
     status: a node is in error, offline, behind the running version or skipped something
  6  txn: a remote was left locked, half-applied or unknown; the summary lists the commands to fix it
  7  --wait, task log: the task was still running when the wait ended (it goes on on the server)";

#[derive(Parser)]
#[command(
    name = "sdnctl",
    version,
    about = "Client for sdnd and the Proxmox VE SDN API, and SDN transactions across clusters",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Remotes file [default: $XDG_CONFIG_HOME/sdnctl/remotes.toml or ~/.config/sdnctl/remotes.toml]
    /// (before the subcommand, `--remotes FILE` is accepted too).
    #[arg(long = "remotes-file", value_name = "FILE", global = true)]
    remotes: Option<PathBuf>,
    /// Remote to talk to [default: the file's `default`, or its only remote].
    #[arg(long, value_name = "NAME", global = true, add = ArgValueCompleter::new(complete_remote))]
    remote: Option<String>,
    /// How answers are printed.
    #[arg(long, value_enum, default_value = "text", global = true)]
    output_format: OutputFormat,
    /// Keep the lock token for the shell: `lock` writes it there (mode 0600), `unlock`,
    /// `apply`, `rollback` and changes use it when no --lock-token is given, and it is removed
    /// once the lock is released [default: $SDNCTL_LOCK_TOKEN_FILE; $SDNCTL_LOCK_TOKEN holds a
    /// token directly].
    #[arg(long, value_name = "FILE", global = true)]
    lock_token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// GET an API path, like pvesh: sdnctl get /cluster/sdn/vnets --pending 1
    Get(CallArgs),
    /// PUT an API path: sdnctl set /cluster/sdn/vnets/v1 --alias web
    Set(CallArgs),
    /// POST an API path: sdnctl create /cluster/sdn/vnets --vnet v1 --zone z1 --tag 100
    Create(CallArgs),
    /// DELETE an API path: sdnctl delete /cluster/sdn/vnets/v1
    Delete(CallArgs),
    /// List what is below an API path, like pvesh ls (flags: d = has children, r = get,
    /// w = set, c = create, D = delete; from the server's OpenAPI document).
    Ls {
        /// API path below /api2/json.
        #[arg(add = ArgValueCompleter::new(complete_path))]
        path: String,
    },
    /// The methods of an API path and their parameters, like pvesh usage.
    Usage {
        /// API path below /api2/json.
        #[arg(add = ArgValueCompleter::new(complete_path))]
        path: String,
        /// Also each parameter's description.
        #[arg(long)]
        verbose: bool,
    },
    /// Take the global SDN lock; prints the lock token.
    Lock {
        /// Lock even if there are pending changes.
        #[arg(long)]
        allow_pending: bool,
        /// Seconds after which the lock expires by itself.
        #[arg(long, value_name = "S")]
        ttl: Option<u64>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Release the global SDN lock.
    Unlock {
        #[arg(long, value_name = "TOKEN")]
        lock_token: Option<String>,
        /// Release someone else's lock (their pending changes stay).
        #[arg(long)]
        force: bool,
    },
    /// What apply would change: the pending objects as a diff (and a node's file diffs).
    Pending {
        /// Also show the interfaces and FRR diffs for this node.
        #[arg(long)]
        node: Option<String>,
    },
    /// Apply the pending configuration (prints the task id, or follows it with --wait).
    Apply {
        /// Follow the apply task until every node reported.
        #[arg(long)]
        wait: bool,
        #[arg(long, value_name = "TOKEN")]
        lock_token: Option<String>,
        /// With --lock-token: keep the lock after applying.
        #[arg(long, requires = "lock_token")]
        keep_lock: bool,
        /// Seconds to follow the task with --wait.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Revert by itself to the version before unless `sdnctl confirm` follows within S seconds.
        #[arg(long, value_name = "S")]
        confirm_timeout: Option<u64>,
    },
    /// Discard every pending change.
    Rollback {
        #[arg(long, value_name = "TOKEN")]
        lock_token: Option<String>,
        /// With --lock-token: keep the lock after rolling back.
        #[arg(long, requires = "lock_token")]
        keep_lock: bool,
    },
    /// Lock holder, running version and each node's state (exit 5 if a node is in error,
    /// offline, behind or skipped something).
    Status {
        /// Nodes to report on (added to the remote's `nodes`).
        #[arg(long)]
        node: Vec<String>,
        /// Several remotes at once, comma separated (default: the one --remote picks).
        #[arg(long = "remotes", value_name = "A,B,...", value_delimiter = ',', add = ArgValueCompleter::new(complete_remote))]
        names: Vec<String>,
    },
    /// Follow or inspect a task (an apply's UPID).
    Task {
        #[command(subcommand)]
        command: TaskCommand,
    },
    /// The kept versions, newest first.
    History(history_cmd::HistoryArgs),
    /// What changed between two versions: sdnctl diff V [V2|pending] (default: the running version).
    Diff(history_cmd::DiffArgs),
    /// Make pending equal to version V (then apply makes it running as a new version).
    Restore(history_cmd::RestoreArgs),
    /// Confirm a confirmed apply (`apply --confirm-timeout`) before it reverts by itself.
    Confirm(history_cmd::ConfirmArgs),
    /// The audit trail: who locked, applied, rolled back, restored, confirmed or reverted what.
    Log(history_cmd::LogArgs),
    /// Transactions across several remotes.
    Txn {
        #[command(subcommand)]
        command: TxnCommand,
    },
    /// Print the shell's completion script (bash, zsh, fish, elvish, powershell): it completes
    /// API paths, remote names and a path's parameters by asking sdnctl (the OpenAPI document is
    /// cached in $XDG_CACHE_HOME/sdnctl or ~/.cache/sdnctl). For bash: source <(sdnctl completion bash)
    Completion { shell: clap_complete::Shell },
    /// Write the manual pages (sdnctl.1 and one per subcommand) into a directory (packaging).
    #[command(hide = true)]
    Manpages {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum TaskCommand {
    /// Print a task's log, following it until it stops (exit 5 if it ended with an error or
    /// warnings, 7 if still running at --timeout).
    Log {
        upid: String,
        /// Print what is there now without waiting for the end.
        #[arg(long)]
        no_follow: bool,
        /// Seconds to follow.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// A task's state: running, or stopped with its exit status (exit 5 if not OK).
    Status { upid: String },
}

#[derive(Subcommand)]
enum TxnCommand {
    /// Lock every remote, run the change set on each, then apply everywhere or roll back everywhere.
    Run {
        /// The change set (YAML, or JSON if it ends in .json).
        changeset: PathBuf,
        /// Remotes taking part, comma separated.
        #[arg(long = "remotes", value_name = "A,B,...", value_delimiter = ',', required = true, add = ArgValueCompleter::new(complete_remote))]
        names: Vec<String>,
        /// Lock even if a remote has pending changes (they are applied with the transaction).
        #[arg(long)]
        allow_pending: bool,
        /// Lock lifetime in seconds, so a crashed run doesn't block the clusters forever.
        #[arg(long, value_name = "S")]
        ttl: Option<u64>,
        /// Make the changes and release the locks without applying (changes stay pending).
        #[arg(long)]
        no_apply: bool,
        /// Seconds to follow each apply task.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Seconds every remote waits for the confirmation before reverting by itself (sdnd
        /// remotes apply with confirm-timeout and are confirmed only when all applied OK).
        #[arg(long, value_name = "S", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
        confirm_timeout: u64,
    },
    /// Check a change set without contacting any remote.
    Check { changeset: PathBuf },
}

#[derive(clap::Args)]
struct CallArgs {
    /// API path below /api2/json.
    #[arg(add = ArgValueCompleter::new(complete_path))]
    path: String,
    /// Parameters: --NAME VALUE or --NAME=VALUE (a bare --NAME means 1).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "--PARAM VALUE", add = ArgValueCompleter::new(complete_param))]
    params: Vec<String>,
}

/// A failure as one line plus the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure { code: 2, message: message.into() }
    }
}

impl From<ClientError> for Failure {
    fn from(err: ClientError) -> Self {
        let (code, hint) = match &err {
            ClientError::Unreachable { message, .. } if message.contains("fingerprint mismatch") => {
                (3, "check `fingerprint` in the remotes file: sdnd prints the right one at start")
            }
            ClientError::Unreachable { .. } => (3, "is the server running and the url in the remotes file right?"),
            ClientError::Refused { status: 401, .. } => (1, "check `token` in the remotes file"),
            ClientError::Refused { status: 403, .. } => (1, "the token lacks the privilege (SDN.Allocate on /sdn to change, SDN.Audit to read)"),
            ClientError::Refused { status: 423, message, .. } if message.contains("pending") => {
                (4, "to lock anyway and apply them with your changes: sdnctl lock --allow-pending; to drop them: sdnctl rollback")
            }
            ClientError::Refused { status: 423, .. } => {
                (4, "wait for the holder, or if the holder is gone: sdnctl unlock --force (their pending changes stay; lock with --allow-pending to take them over)")
            }
            ClientError::Refused { .. } | ClientError::Protocol { .. } => (1, ""),
            ClientError::StillRunning { .. } => (7, "it goes on on the server: follow it with sdnctl task log UPID"),
        };
        let message = if hint.is_empty() { err.to_string() } else { format!("{err} ({hint})") };
        Failure { code, message }
    }
}

/// Completion candidates as clap_complete takes them.
fn candidates(found: Vec<sdnctl::complete::Candidate>) -> Vec<CompletionCandidate> {
    found
        .into_iter()
        .map(|c| {
            let candidate = CompletionCandidate::new(c.value);
            if c.help.is_empty() { candidate } else { candidate.help(Some(c.help.into())) }
        })
        .collect()
}

fn complete_remote(current: &std::ffi::OsStr) -> Vec<CompletionCandidate> {
    candidates(sdnctl::complete::remote_names(&sdnctl::complete::Line::current(), &current.to_string_lossy()))
}

fn complete_path(current: &std::ffi::OsStr) -> Vec<CompletionCandidate> {
    candidates(sdnctl::complete::api_path(&sdnctl::complete::Line::current(), &current.to_string_lossy()))
}

fn complete_param(current: &std::ffi::OsStr) -> Vec<CompletionCandidate> {
    candidates(sdnctl::complete::call_param(&sdnctl::complete::Line::current(), &current.to_string_lossy()))
}

fn main() -> ExitCode {
    // A completion request from the shell (COMPLETE=SHELL sdnctl -- WORDS) is answered here.
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    let command = Cli::command();
    let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
    let cli = Cli::parse_from(globals::hoist(std::env::args_os().collect(), &names));
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("sdnctl: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// The remotes file and the name it is known by in fix commands.
fn load_remotes(cli: &Cli) -> Result<(Remotes, String, String), Failure> {
    let (path, prefix) = match &cli.remotes {
        Some(path) => (path.clone(), format!("sdnctl --remotes-file {}", path.display())),
        None => (
            Remotes::default_path().ok_or_else(|| Failure::usage("no remotes file: pass --remotes-file FILE (HOME is not set)"))?,
            "sdnctl".to_string(),
        ),
    };
    if !path.exists() {
        return Err(Failure::usage(format!(
            "{}: no such file: create it with [remotes.NAME] url, token and fingerprint (see sdnctl's README), or pass --remotes-file FILE",
            path.display()
        )));
    }
    let remotes = Remotes::load(&path).map_err(|e| Failure::usage(e.to_string()))?;
    Ok((remotes, path.display().to_string(), prefix))
}

fn client(cli: &Cli) -> Result<Client, Failure> {
    let (remotes, origin, _) = load_remotes(cli)?;
    let remote = remotes.pick(cli.remote.as_deref(), &origin).map_err(|e| Failure::usage(e.to_string()))?;
    Client::new(remote).map_err(|e| Failure { code: 3, message: e })
}

pub(crate) fn print(value: &Value, format: OutputFormat) {
    print!("{}", render(value, format));
}

fn run(cli: Cli) -> Result<u8, Failure> {
    let format = cli.output_format;
    match &cli.command {
        Command::Get(call) => pvesh(&cli, Method::Get, call),
        Command::Set(call) => pvesh(&cli, Method::Set, call),
        Command::Create(call) => pvesh(&cli, Method::Create, call),
        Command::Delete(call) => pvesh(&cli, Method::Delete, call),
        Command::Lock { allow_pending, ttl, comment } => {
            let options = LockOptions { allow_pending: *allow_pending, ttl: *ttl, comment: comment.clone() };
            let token = client(&cli)?.lock(&options)?;
            if let Some(file) = lock_token_file(&cli) {
                globals::keep_token(&file, token.as_str()).map_err(Failure::usage)?;
                eprintln!("lock token kept in {} for unlock, apply, rollback and changes", file.display());
            }
            print(&json!(token.as_str()), format);
            Ok(0)
        }
        Command::Unlock { lock_token, force } => {
            let token = given_or_kept(&cli, lock_token.as_ref())?;
            client(&cli)?.unlock(token.as_ref(), *force)?;
            globals::forget_token(lock_token_file(&cli).as_deref());
            Ok(0)
        }
        Command::Pending { node } => pending(&cli, node.as_deref()),
        Command::Apply { wait, lock_token, keep_lock, timeout, confirm_timeout } => {
            let client = client(&cli)?;
            let token = given_or_kept(&cli, lock_token.as_ref())?;
            let upid = match confirm_timeout {
                Some(seconds) => sdnctl::confirmed::apply_confirmed(&client, token.as_ref(), *seconds, false, None)?,
                None => client.apply(token.as_ref(), !keep_lock)?,
            };
            if let Some(seconds) = confirm_timeout {
                eprintln!("confirm within {seconds}s with `sdnctl confirm`, or it reverts by itself");
            } else if token.is_some() && !keep_lock {
                globals::forget_token(lock_token_file(&cli).as_deref());
            }
            if !wait {
                print(&json!(upid.to_string()), format);
                return Ok(0);
            }
            eprintln!("applying: task {upid}");
            let exit = client.wait_task(&upid, Duration::from_secs(*timeout), |line| eprintln!("  {line}"))?;
            if exit == "OK" {
                eprintln!("applied on every node");
                Ok(0)
            } else {
                Err(Failure {
                    code: 5,
                    message: format!("apply task failed: {exit} (see `sdnctl status`, fix the node, then `sdnctl apply --wait`)"),
                })
            }
        }
        Command::Rollback { lock_token, keep_lock } => {
            let token = given_or_kept(&cli, lock_token.as_ref())?;
            client(&cli)?.rollback(token.as_ref(), !keep_lock)?;
            if token.is_some() && !keep_lock {
                globals::forget_token(lock_token_file(&cli).as_deref());
            }
            Ok(0)
        }
        Command::Status { node, names } => status(&cli, node, names),
        Command::Task { command } => task(&cli, command),
        Command::Ls { path } => ls(&cli, path),
        Command::Usage { path, verbose } => usage(&cli, path, *verbose),
        Command::History(args) => history_cmd::history(&client(&cli)?, args, format),
        Command::Diff(args) => history_cmd::diff(&client(&cli)?, args, format),
        Command::Restore(args) => history_cmd::restore(&client(&cli)?, args),
        Command::Confirm(args) => history_cmd::confirm(&client(&cli)?, args),
        Command::Log(args) => history_cmd::log(&client(&cli)?, args, format),
        Command::Txn { command: TxnCommand::Check { changeset } } => {
            let changes = ChangeSet::load(changeset).map_err(|e| Failure::usage(e.to_string()))?;
            println!("{}: {} step(s)", changeset.display(), changes.steps.len());
            for step in &changes.steps {
                println!("  {step}");
            }
            Ok(0)
        }
        Command::Txn { command: TxnCommand::Run { changeset, names, allow_pending, ttl, no_apply, timeout, confirm_timeout } } => {
            txn_run(&cli, changeset, names, *allow_pending, *ttl, *no_apply, (*timeout, *confirm_timeout))
        }
        Command::Completion { shell } => {
            // The shell's hook calling back into sdnctl, as `COMPLETE=SHELL sdnctl` prints it.
            let shells = clap_complete::env::Shells::builtins();
            let name = shell.to_string();
            let completer = shells.completer(&name).ok_or_else(|| Failure::usage(format!("no completion for {name}")))?;
            let mut out = std::io::stdout().lock();
            completer
                .write_registration("COMPLETE", "sdnctl", "sdnctl", "sdnctl", &mut out)
                .map_err(|e| Failure::usage(format!("writing the completion script: {e}")))?;
            Ok(0)
        }
        Command::Manpages { out } => {
            let cmd = Cli::command().mut_subcommand("manpages", |c| c.hide(true));
            std::fs::create_dir_all(out).map_err(|e| Failure::usage(format!("{}: {e}", out.display())))?;
            clap_mangen::generate_to(cmd, out).map_err(|e| Failure::usage(format!("writing the manual pages to {}: {e}", out.display())))?;
            Ok(0)
        }
    }
}

/// Parses pvesh-style `--name value` pairs; `--output-format` among them is honoured too.
fn parse_params(raw: &[String]) -> Result<(Params, Option<OutputFormat>), Failure> {
    let mut params = Params::new();
    let mut format = None;
    let mut iter = raw.iter().peekable();
    while let Some(arg) = iter.next() {
        let Some(name) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(Failure::usage(format!("unexpected argument '{arg}': parameters are --NAME VALUE")));
        };
        let (name, value) = match name.split_once('=') {
            Some((name, value)) => (name.to_string(), value.to_string()),
            None => {
                let value = match iter.peek() {
                    Some(next) if !(next.starts_with("--") && next.len() > 2) => iter.next().cloned().unwrap_or_default(),
                    _ => "1".to_string(),
                };
                (name.to_string(), value)
            }
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(Failure::usage(format!("'{arg}' is not a parameter name")));
        }
        if name == "output-format" {
            let parsed = <OutputFormat as clap::ValueEnum>::from_str(&value, false)
                .map_err(|_| Failure::usage(format!("--output-format {value}: expected text, json, json-pretty or yaml")))?;
            format = Some(parsed);
            continue;
        }
        params.push((name, value));
    }
    Ok((params, format))
}

fn task(cli: &Cli, command: &TaskCommand) -> Result<u8, Failure> {
    let parse = |text: &str| text.parse::<sdnctl::Upid>().map_err(|e| Failure::usage(format!("'{text}' is not a UPID: {e}")));
    let client = client(cli)?;
    let outcome = |exit: &str| if exit == "OK" { Ok(0) } else { Ok(5) };
    match command {
        TaskCommand::Log { upid, no_follow, timeout } => {
            let upid = parse(upid)?;
            if *no_follow {
                for (_, line) in client.task_log(&upid, 0)? {
                    println!("{line}");
                }
                return Ok(0);
            }
            let exit = client.wait_task(&upid, Duration::from_secs(*timeout), |line| println!("{line}"))?;
            println!("TASK {}", if exit == "OK" { "OK".to_string() } else { exit.clone() });
            outcome(&exit)
        }
        TaskCommand::Status { upid } => {
            let upid = parse(upid)?;
            let (text, exit) = match client.task_state(&upid)? {
                sdnctl::client::TaskState::Running => (json!({"upid": upid.to_string(), "status": "running"}), None),
                sdnctl::client::TaskState::Stopped(exit) => {
                    (json!({"upid": upid.to_string(), "status": "stopped", "exitstatus": exit}), Some(exit))
                }
            };
            print(&text, cli.output_format);
            exit.map_or(Ok(0), |exit| outcome(&exit))
        }
    }
}

/// The lock token file, from the flag or `$SDNCTL_LOCK_TOKEN_FILE`.
fn lock_token_file(cli: &Cli) -> Option<PathBuf> {
    cli.lock_token_file
        .clone()
        .or_else(|| std::env::var_os(globals::LOCK_TOKEN_FILE_ENV).filter(|v| !v.is_empty()).map(PathBuf::from))
}

/// `--lock-token` if given, else the token the shell keeps.
fn given_or_kept(cli: &Cli, given: Option<&String>) -> Result<Option<LockToken>, Failure> {
    if let Some(token) = given {
        return Ok(Some(LockToken::new(token.clone())));
    }
    Ok(globals::kept_token(lock_token_file(cli).as_deref()).map_err(Failure::usage)?.map(LockToken::new))
}

fn pvesh(cli: &Cli, method: Method, call: &CallArgs) -> Result<u8, Failure> {
    let path: ApiPath = call.path.parse().map_err(Failure::usage)?;
    let (mut params, format) = parse_params(&call.params)?;
    let client = client(cli)?;
    // Checked against the server's own description before anything is sent (a server without
    // one, such as PVE, decides itself). A fresh cached copy spares fetching it for every call;
    // what that copy refuses is checked again on the current one (the server may be newer).
    let cache = sdnctl::complete::cache_dir();
    let cached_ok = sdnctl::complete::fresh_openapi(&client, cache.as_deref())
        .is_some_and(|doc| doc.check(method, path.as_str(), &params).is_ok());
    if !cached_ok {
        if let Some(doc) = sdnctl::complete::fetch_openapi(&client, cache.as_deref())? {
            ApiDoc::new(doc).check(method, path.as_str(), &params).map_err(Failure::usage)?;
        }
    }
    if method != Method::Get && !params.iter().any(|(name, _)| name == "lock-token") {
        if let Some(token) = given_or_kept(cli, None)? {
            params.push(("lock-token".to_string(), token.as_str().to_string()));
        }
    }
    let data = client.call(method, &path, &params).map_err(|err| {
        let hint = sdnctl::hints::digest_conflict(&client, method, &path, &params, &err)
            .or_else(|| sdnctl::hints::in_use(&err).map(str::to_string));
        let mut failure = Failure::from(err);
        if let Some(hint) = hint {
            failure.message = format!("{}\n  {hint}", failure.message);
        }
        failure
    })?;
    print(&data, format.unwrap_or(cli.output_format));
    Ok(0)
}

/// The server's OpenAPI document and the template `path` matches.
fn described(client: &Client, path: &str) -> Result<(ApiDoc, String), Failure> {
    let doc = client.openapi()?.ok_or_else(|| Failure { code: 1, message: format!("{}: the server publishes no API description (/api2/openapi.json)", client.remote().name) })?;
    let doc = ApiDoc::new(doc);
    let template = doc
        .template(path)
        .ok_or_else(|| Failure::usage(format!("no such API path '{path}' (sdnctl ls / lists the top)")))?
        .to_string();
    Ok((doc, template))
}

fn flags(doc: &ApiDoc, template: &str) -> String {
    let methods = doc.methods(template);
    let has = |m: Method, c: char| if methods.contains(&m) { c } else { '-' };
    let dir = if doc.children(template).is_empty() { '-' } else { 'd' };
    format!("{dir}{}{}{}{}", has(Method::Get, 'r'), has(Method::Set, 'w'), has(Method::Create, 'c'), has(Method::Delete, 'D'))
}

fn ls(cli: &Cli, path: &str) -> Result<u8, Failure> {
    let client = client(cli)?;
    let path = if path.is_empty() { "/" } else { path };
    let (doc, template) = if path == "/" {
        (ApiDoc::new(client.openapi()?.unwrap_or_default()), String::new())
    } else {
        described(&client, path)?
    };
    let mut rows = Vec::new();
    for child in doc.children(&template) {
        let child_template = format!("{template}/{child}");
        if child.starts_with('{') {
            // The objects themselves: what a GET of the path lists.
            let key = child.trim_matches(['{', '}']);
            let api: ApiPath = path.parse().map_err(Failure::usage)?;
            let listed = client.call(Method::Get, &api, &[])?;
            for item in listed.as_array().into_iter().flatten() {
                let name = item.get(key).or_else(|| item.get("id")).and_then(Value::as_str).unwrap_or_default();
                rows.push(json!({"flags": flags(&doc, &child_template), "name": name}));
            }
        } else {
            rows.push(json!({"flags": flags(&doc, &child_template), "name": child}));
        }
    }
    if cli.output_format == OutputFormat::Text {
        for row in &rows {
            println!("{}  {}", row["flags"].as_str().unwrap_or(""), row["name"].as_str().unwrap_or(""));
        }
    } else {
        print(&Value::Array(rows), cli.output_format);
    }
    Ok(0)
}

fn usage(cli: &Cli, path: &str, verbose: bool) -> Result<u8, Failure> {
    let client = client(cli)?;
    let (doc, template) = described(&client, path)?;
    let mut out = Vec::new();
    for method in doc.methods(&template) {
        let params = doc.params(&template, method);
        out.push(json!({
            "method": method.verb(),
            "path": template,
            "summary": doc.summary(&template, method),
            "params": params.iter().map(|p| json!({"name": p.name, "required": p.required, "type": p.kind, "description": p.description})).collect::<Vec<_>>(),
        }));
        if cli.output_format == OutputFormat::Text {
            let mut line = format!("USAGE: sdnctl {} {path}", method.verb());
            for param in &params {
                line.push_str(&if param.required { format!(" --{} <{}>", param.name, param.kind) } else { format!(" [--{} <{}>]", param.name, param.kind) });
            }
            println!("{line}");
            let summary = doc.summary(&template, method);
            if !summary.is_empty() {
                println!("  {summary}");
            }
            if verbose {
                for param in &params {
                    println!("    --{:<20} {}", param.name, param.description);
                }
            }
        }
    }
    if cli.output_format != OutputFormat::Text {
        print(&Value::Array(out), cli.output_format);
    }
    Ok(0)
}

/// The kinds with a pending view: list path, id parameter, label.
const PENDING_KINDS: [(&str, &str, &str); 3] = [
    ("/cluster/sdn/zones", "zone", "zone"),
    ("/cluster/sdn/vnets", "vnet", "vnet"),
    ("/cluster/sdn/controllers", "controller", "controller"),
];

fn pending(cli: &Cli, node: Option<&str>) -> Result<u8, Failure> {
    let client = client(cli)?;
    let pending = vec![("pending".to_string(), "1".to_string())];
    let list = |path: &str| -> Result<Vec<Value>, Failure> {
        let path: ApiPath = path.parse().map_err(Failure::usage)?;
        Ok(client.call(Method::Get, &path, &pending)?.as_array().cloned().unwrap_or_default())
    };
    let mut lines = Vec::new();
    let mut raw = serde_json::Map::new();
    for (path, id, label) in PENDING_KINDS {
        let items = list(path)?;
        lines.extend(pending_diff(label, id, &items));
        if label == "vnet" {
            let mut subnets = Vec::new();
            for vnet in items.iter().filter_map(|v| v.get("vnet").and_then(Value::as_str)) {
                subnets.extend(list(&format!("/cluster/sdn/vnets/{vnet}/subnets"))?);
            }
            lines.extend(pending_diff("subnet", "subnet", &subnets));
            raw.insert("subnets".into(), Value::Array(subnets.into_iter().filter(|s| s.get("state").is_some()).collect()));
        }
        raw.insert(format!("{label}s"), Value::Array(items.into_iter().filter(|s| s.get("state").is_some()).collect()));
    }
    let diffs = match node {
        Some(node) => {
            let params = vec![("node".to_string(), node.to_string())];
            let path: ApiPath = "/cluster/sdn/dry-run".parse().map_err(Failure::usage)?;
            Some(client.call(Method::Get, &path, &params)?)
        }
        None => None,
    };
    if cli.output_format != OutputFormat::Text {
        if let Some(diffs) = &diffs {
            raw.insert("dry-run".into(), diffs.clone());
        }
        print(&Value::Object(raw), cli.output_format);
        return Ok(0);
    }
    if lines.is_empty() {
        println!("no pending changes");
    }
    for line in lines {
        println!("{line}");
    }
    if let Some(diffs) = diffs {
        for key in ["interfaces-diff", "frr-diff"] {
            if let Some(diff) = diffs.get(key).and_then(Value::as_str) {
                print!("\n{diff}");
            }
        }
    }
    Ok(0)
}

fn status(cli: &Cli, extra_nodes: &[String], names: &[String]) -> Result<u8, Failure> {
    if names.is_empty() {
        return status_of(cli, &client(cli)?, extra_nodes);
    }
    let (remotes, origin, _) = load_remotes(cli)?;
    let mut worst = 0;
    let mut all = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let remote = remotes.pick(Some(name), &origin).map_err(|e| Failure::usage(e.to_string()))?;
        let client = Client::new(remote).map_err(|e| Failure { code: 3, message: e })?;
        if cli.output_format == OutputFormat::Text && i > 0 {
            println!();
        }
        // One remote that can't be reached doesn't hide the others' states.
        let code = match status_report(cli, &client, extra_nodes) {
            Ok((code, report)) => {
                all.push(report);
                code
            }
            Err(failure) => {
                all.push(json!({ "remote": name, "error": failure.message }));
                if cli.output_format == OutputFormat::Text {
                    println!("remote: {name}\n  error: {}", failure.message);
                }
                failure.code
            }
        };
        worst = worst.max(code);
    }
    if cli.output_format != OutputFormat::Text {
        print(&Value::Array(all), cli.output_format);
    }
    Ok(worst)
}

fn status_of(cli: &Cli, client: &Client, extra_nodes: &[String]) -> Result<u8, Failure> {
    let (code, report) = status_report(cli, client, extra_nodes)?;
    if cli.output_format != OutputFormat::Text {
        print(&report, cli.output_format);
    }
    Ok(code)
}

/// An epoch time as the local time, `YYYY-MM-DD HH:MM:SS TZ`.
fn local_time(epoch: i64) -> String {
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let time = epoch as libc::time_t;
    // SAFETY: localtime_r only writes into the struct it is given.
    if unsafe { libc::localtime_r(&time, &mut tm) }.is_null() {
        return epoch.to_string();
    }
    let zone = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: tm_zone points at a static NUL-terminated zone abbreviation.
        format!(" {}", unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }.to_string_lossy())
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{zone}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// One remote's status: printed as text (when that is the format), and as JSON for the caller.
fn status_report(cli: &Cli, client: &Client, extra_nodes: &[String]) -> Result<(u8, Value), Failure> {
    let lock = client.lock_status()?;
    let mut nodes: Vec<String> = client.remote().nodes.clone();
    nodes.extend(extra_nodes.iter().cloned());
    if nodes.is_empty() {
        // Ask the cluster which nodes run an agent (servers without GET /nodes answer 404).
        let index: ApiPath = "/nodes".parse().map_err(Failure::usage)?;
        if let Ok(Value::Array(listed)) = client.call(Method::Get, &index, &[]) {
            nodes.extend(listed.iter().filter_map(|n| n["node"].as_str().map(str::to_string)));
        }
    }
    let mut reports = Vec::new();
    for node in &nodes {
        // `/nodes/{node}/sdn/status`; servers before it had the summary at `/nodes/{node}/sdn`.
        let path: ApiPath = format!("/nodes/{node}/sdn/status").parse().map_err(Failure::usage)?;
        let older: ApiPath = format!("/nodes/{node}/sdn").parse().map_err(Failure::usage)?;
        let answer = match client.call(Method::Get, &path, &[]) {
            Err(ClientError::Refused { status: 501, .. }) => client.call(Method::Get, &older, &[]),
            other => other,
        };
        match answer {
            Ok(report) => reports.push(report),
            Err(ClientError::Refused { status: 404, message, .. }) => {
                reports.push(json!({ "node": node, "status": "unknown", "error": message }))
            }
            Err(err) => return Err(err.into()),
        }
    }
    let mut running = reports.iter().find_map(|r| r.get("running-version").and_then(Value::as_u64));
    if running.is_none() {
        // No agent has reported: the cluster's own entry says it.
        let path: ApiPath = "/cluster/status".parse().map_err(Failure::usage)?;
        if let Ok(Value::Array(entries)) = client.call(Method::Get, &path, &[]) {
            running = entries.iter().find(|e| e["type"] == "cluster").and_then(|e| e["version"].as_u64());
        }
    }
    // A node that is not fully where the running version says is not OK.
    let unhealthy = reports.iter().any(|r| {
        r["status"] != "available"
            || r.get("online").and_then(Value::as_u64) == Some(0)
            || r.get("warnings").and_then(Value::as_array).is_some_and(|w| !w.is_empty())
    });
    let code = if unhealthy { 5 } else { 0 };
    let yours = lock.holder.as_deref() == Some(client.remote().token.id());
    let lock_json = json!({
        "locked": u8::from(lock.locked), "holder": lock.holder, "since": lock.since,
        "expires": lock.expires, "comment": lock.comment, "yours": yours,
    });
    let report = json!({ "remote": client.remote().name.as_str(), "lock": lock_json, "running-version": running, "nodes": reports });
    if cli.output_format != OutputFormat::Text {
        return Ok((code, report));
    }
    println!("remote: {} ({})", client.remote().name, client.remote().url);
    if lock.locked {
        let you = if yours { " (you)" } else { "" };
        let mut line = format!("lock: held by {}{you}", lock.holder.as_deref().unwrap_or("unknown"));
        if let Some(since) = lock.since {
            line.push_str(&format!(" since {}", local_time(since)));
        }
        if let Some(expires) = lock.expires {
            line.push_str(&format!(", expires {}", local_time(expires)));
        }
        if let Some(comment) = &lock.comment {
            line.push_str(&format!(" ({comment})"));
        }
        println!("{line}");
    } else {
        println!("lock: free");
    }
    match running {
        Some(version) => println!("running version: {version}"),
        None => println!("running version: unknown"),
    }
    if reports.is_empty() {
        println!("nodes: none registered (no node agent has reported; or add nodes = [\"NAME\", ...] to the remote)");
    } else {
        print!("{}", render(&Value::Array(reports), OutputFormat::Text));
    }
    Ok((code, report))
}

fn txn_run(
    cli: &Cli,
    changeset: &Path,
    names: &[String],
    allow_pending: bool,
    ttl: Option<u64>,
    no_apply: bool,
    (timeout, confirm_timeout): (u64, u64),
) -> Result<u8, Failure> {
    let changes = ChangeSet::load(changeset).map_err(|e| Failure::usage(e.to_string()))?;
    let (remotes, origin, command) = load_remotes(cli)?;
    let mut clients = Vec::new();
    for name in names {
        if clients.iter().any(|c: &Client| c.remote().name.as_str() == name) {
            return Err(Failure::usage(format!("--remotes: '{name}' is listed twice")));
        }
        let remote = remotes.pick(Some(name), &origin).map_err(|e| Failure::usage(e.to_string()))?;
        clients.push(Client::new(remote).map_err(|e| Failure { code: 3, message: e })?);
    }
    let options = TxnOptions {
        lock: LockOptions {
            allow_pending,
            ttl,
            comment: Some(format!("sdnctl txn {}", changeset.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()))),
        },
        task_timeout: Duration::from_secs(timeout),
        command,
    };
    let view = progress::Progress::new(clients.iter().map(|c| c.remote().name.clone()).collect(), std::io::stderr().is_terminal());
    let report = match LockedClients::lock_all(clients, options, &view) {
        Err(report) => report,
        Ok(mut txn) => {
            if !txn.run_atomic(&changes) {
                txn.rollback_all();
            } else if no_apply {
                txn.release_all();
            } else {
                txn.apply_confirmed_all(confirm_timeout);
            }
            txn.report()
        }
    };
    view.finish();
    print!("\n{report}");
    let pending_ok = no_apply && report.remotes.iter().all(|r| r.state == sdnctl::RemoteState::ChangesPending);
    let not_reached = report.remotes.iter().any(|r| matches!(r.state, sdnctl::RemoteState::NotReached { .. }));
    Ok(if report.all_applied() || pending_ok {
        0
    } else if !report.clean() {
        6
    } else if not_reached {
        // Refused before anything was sent, and the others released: nothing changed.
        3
    } else if report.remotes.iter().all(|r| r.state.has_applied()) {
        5
    } else {
        1
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pvesh_params() {
        let (params, format) =
            parse_params(&strings(&["--vnet", "v1", "--tag=100", "--isolate-ports", "--output-format", "json", "-zone", "z"])).unwrap();
        let expect: Params = [("vnet", "v1"), ("tag", "100"), ("isolate-ports", "1"), ("zone", "z")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(params, expect);
        assert_eq!(format, Some(OutputFormat::Json));
        assert!(parse_params(&strings(&["v1"])).is_err());
        assert!(parse_params(&strings(&["--output-format", "xml"])).is_err());
        assert_eq!(parse_params(&strings(&["--alias", "-"])).unwrap().0[0].1, "-");
    }

    #[test]
    fn help_documents_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:") && help.contains("6  txn:"), "{help}");
    }
}
