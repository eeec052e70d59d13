//! sdnd: the SDN control plane daemon and its administration commands.

mod admin;
mod agent;
mod api;
mod app;
mod apply;
mod auth;
mod fsutil;
mod http;
mod sdn;
mod store;
mod tasks;
mod tls;
mod transfer;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sdn_config::{Reading, RunningConfig};
use store::{open_store, open_store_waiting, StoreArgs};

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// This machine's host name (the default node name).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[derive(Parser)]
#[command(name = "sdnd", version, about = "SDN control plane for virtualization clusters, PVE SDN API compatible")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct AgentArgs {
    /// The host's own interfaces file (read only).
    #[arg(long, default_value = "/etc/network/interfaces")]
    host_interfaces: PathBuf,
    /// Where the node agent writes the generated ifupdown2 snippet.
    #[arg(long, default_value = "/etc/network/interfaces.d/sdn")]
    interfaces_out: PathBuf,
    /// Where the node agent writes the generated FRR configuration.
    #[arg(long, default_value = "/etc/frr/frr.conf")]
    frr_out: PathBuf,
    /// The operator's FRR snippet merged into the generated configuration, if present.
    #[arg(long, default_value = "/etc/frr/frr.conf.local")]
    frr_local: PathBuf,
    /// Command run after the interfaces file changed (empty: none).
    #[arg(long, default_value = "ifreload -a")]
    reload_interfaces: String,
    /// Command run after the FRR file changed (empty: none).
    #[arg(long, default_value = "/usr/lib/frr/frr-reload.py --reload /etc/frr/frr.conf")]
    reload_frr: String,
    /// Use these node facts (facts.json shape) instead of reading the kernel.
    #[arg(long)]
    node_facts: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API over HTTPS.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// Address and port to listen on.
        #[arg(long, default_value = "127.0.0.1:8006")]
        listen: SocketAddr,
        /// Run the node agent for this node: render and reload its files whenever the
        /// running version changes (without it: API only, UPIDs name the host).
        #[arg(long)]
        node: Option<String>,
        #[command(flatten)]
        agent: AgentArgs,
        /// PEM certificate chain (default: a self-signed one in the data dir).
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// PEM private key for --cert.
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// Seconds an apply task waits for node agents to report.
        #[arg(long, default_value_t = 120)]
        apply_timeout: u64,
        /// Seconds a login ticket stays valid (PVE: 7200).
        #[arg(long, default_value_t = auth::ticket::DEFAULT_LIFETIME, hide = true)]
        ticket_lifetime: i64,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: admin::UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: admin::TokenCommand,
    },
    /// Manage access control lists.
    Acl {
        #[command(subcommand)]
        command: admin::AclCommand,
    },
    /// Manage roles.
    Role {
        #[command(subcommand)]
        command: admin::RoleCommand,
    },
    /// Manage the nodes whose agents report to this cluster.
    Node {
        #[command(subcommand)]
        command: admin::NodeCommand,
    },
    /// Replace the configuration with the reference's files from a directory.
    Import {
        #[command(flatten)]
        store: StoreArgs,
        /// Directory with zones.cfg, vnets.cfg, ... and .running-config.
        #[arg(long)]
        from: PathBuf,
    },
    /// Write the configuration as the reference's files into a directory.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        to: PathBuf,
    },
    /// Render one node's interfaces and FRR files from a running configuration.
    Generate {
        #[arg(long)]
        running_config: PathBuf,
        #[arg(long)]
        facts: PathBuf,
        #[arg(long)]
        interfaces: PathBuf,
        #[arg(long)]
        frr_local: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SDND_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sdnd: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve { store, listen, node, agent, cert, key, apply_timeout, ticket_lifetime } => {
            let agent = node.map(|node| agent::AgentConfig {
                node,
                host_interfaces: agent.host_interfaces,
                interfaces_out: agent.interfaces_out,
                frr_out: agent.frr_out,
                frr_local: agent.frr_local,
                reload_interfaces: agent.reload_interfaces,
                reload_frr: agent.reload_frr,
                facts_file: agent.node_facts,
            });
            serve(&store, listen, agent, cert.as_deref(), key.as_deref(), Duration::from_secs(apply_timeout), ticket_lifetime)
        }
        Command::User { command } => admin::user(command),
        Command::Token { command } => admin::token(command),
        Command::Acl { command } => admin::acl(command),
        Command::Role { command } => admin::role(command),
        Command::Node { command } => admin::node(command),
        Command::Import { store, from } => {
            let sdn = sdn::Sdn::new(open_store(&store)?);
            println!("{}", transfer::import(&sdn, &from)?);
            Ok(())
        }
        Command::Export { store, to } => {
            let sdn = sdn::Sdn::new(open_store(&store)?);
            println!("{}", transfer::export(&sdn, &to)?);
            Ok(())
        }
        Command::Generate { running_config, facts, interfaces, frr_local, out } => {
            generate(&running_config, &facts, &interfaces, frr_local.as_deref(), &out)
        }
    }
}

fn serve(
    store_args: &StoreArgs,
    listen: SocketAddr,
    agent: Option<agent::AgentConfig>,
    cert: Option<&Path>,
    key: Option<&Path>,
    apply_timeout: Duration,
    ticket_lifetime: i64,
) -> Result<(), String> {
    let store = open_store_waiting(store_args)?;
    let data_dir = &store_args.data_dir;
    let identity = tls::load_or_create(data_dir, cert, key)?;
    let node = agent.as_ref().map_or_else(hostname, |a| a.node.clone());
    let app = app::App::new(store.clone(), node, apply_timeout, ticket_lifetime);
    match app.sdn.snapshot() {
        Ok(_) => {}
        // Lost quorum between connecting and loading: requests answer 503 until it is back.
        Err(err @ http::reply::ApiError::Unavailable(_)) => tracing::warn!("loading the configuration: {err}"),
        Err(err) => return Err(format!("loading the configuration: {err}")),
    }
    if let Err(err) = app.sdn.ensure_builtin_ipam() {
        tracing::warn!("could not create the built-in 'pve' IPAM: {err}");
    }
    apply::resume_tasks(&app);
    if let Some(agent) = agent {
        agent::spawn(store, agent).map_err(|e| format!("starting the node agent: {e}"))?;
    }
    let router = Arc::new(http::router::Router::new(api::routes()));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("listening on {listen}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        println!("sdnd listening on https://{local}/api2/json (node {})", app.node);
        println!("certificate SHA-256 fingerprint: {}", identity.fingerprint);
        println!(
            "create an API token with: sdnd token add root@pam NAME --data-dir {}",
            data_dir.display()
        );
        tokio::select! {
            () = http::serve(listener, identity.config, app, router) => Ok(()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

fn generate(
    running_config: &Path,
    facts: &Path,
    interfaces: &Path,
    frr_local: Option<&Path>,
    out: &Path,
) -> Result<(), String> {
    let read = |path: &Path| std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()));
    let running_text = read(running_config)?;
    let facts: sdn_gen::NodeFacts =
        serde_json::from_str(&read(facts)?).map_err(|e| format!("{}: {e}", facts.display()))?;
    let interfaces = read(interfaces)?;
    let frr_local = frr_local.map(read).transpose()?;
    // A `.running-config` from anywhere, the reference's included: read leniently.
    let running = RunningConfig::from_slice(running_text.as_bytes(), Reading::Lenient)
        .map_err(|e| format!("{}: {e}", running_config.display()))?;
    let output = sdn_gen::generate(&sdn_gen::GenInput {
        running_config: &running,
        facts: &facts,
        interfaces: &interfaces,
        frr_local: frr_local.as_deref(),
    })
    .map_err(|e| e.to_string())?;
    for warning in &output.warnings {
        eprintln!("sdnd: warning: {warning}");
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    fsutil::write_atomic(&out.join("sdn"), output.interfaces.as_bytes(), 0o644).map_err(|e| e.to_string())?;
    if let Some(frr) = output.frr {
        fsutil::write_atomic(&out.join("frr.conf"), frr.as_bytes(), 0o644).map_err(|e| e.to_string())?;
    }
    Ok(())
}
