//! sdnd's command line: parses the arguments and calls the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sdnd::agent::{self, AgentConfig};
use sdnd::app::{App, AppOptions};
use sdnd::store_args::{open_store, open_store_waiting, StoreArgs};
use sdnd::{admin, auth, http, sdn, transfer, Clock};

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
            let agent = node.map(|node| AgentConfig {
                node,
                host_interfaces: agent.host_interfaces,
                interfaces_out: agent.interfaces_out,
                frr_out: agent.frr_out,
                frr_local: agent.frr_local,
                reload_interfaces: agent.reload_interfaces,
                reload_frr: agent.reload_frr,
                facts_file: agent.node_facts,
            });
            let store_handle = open_store_waiting(&store)?;
            let identity = http::tls::load_or_create(&store.data_dir, cert.as_deref(), key.as_deref())?;
            let options = AppOptions {
                node: agent.as_ref().map_or_else(sdnd::clock::hostname, |a| a.node.clone()),
                apply_timeout: Duration::from_secs(apply_timeout),
                ticket_lifetime,
                clock: Clock::system(),
            };
            let app = App::start(store_handle.clone(), options)?;
            if let Some(agent) = agent {
                agent::spawn(store_handle, agent, Clock::system()).map_err(|e| format!("starting the node agent: {e}"))?;
            }
            let listener = std::net::TcpListener::bind(listen).map_err(|e| format!("listening on {listen}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            println!("sdnd listening on https://{local}/api2/json (node {})", app.node);
            println!("certificate SHA-256 fingerprint: {}", identity.fingerprint);
            println!("create an API token with: sdnd token add root@pam NAME --data-dir {}", store.data_dir.display());
            http::run(listener, identity.config, app)
        }
        Command::User { command } => admin::user(command),
        Command::Token { command } => admin::token(command),
        Command::Acl { command } => admin::acl(command),
        Command::Role { command } => admin::role(command),
        Command::Node { command } => admin::node(command),
        Command::Import { store, from } => {
            let sdn = sdn::Sdn::new(open_store(&store)?, Clock::system());
            println!("{}", transfer::import(&sdn, &from)?);
            Ok(())
        }
        Command::Export { store, to } => {
            let sdn = sdn::Sdn::new(open_store(&store)?, Clock::system());
            println!("{}", transfer::export(&sdn, &to)?);
            Ok(())
        }
        Command::Generate { running_config, facts, interfaces, frr_local, out } => {
            for warning in agent::generate_files(&running_config, &facts, &interfaces, frr_local.as_deref(), &out)? {
                eprintln!("sdnd: warning: {warning}");
            }
            Ok(())
        }
    }
}
