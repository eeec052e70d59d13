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

// Parsed once per process: the size of the serve variant costs nothing.
#[allow(clippy::large_enum_variant)]
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
        /// How many applied versions the history keeps (the running and the previous one
        /// always).
        #[arg(long, default_value_t = sdnd::history::DEFAULT_KEEP_VERSIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..=100_000))]
        keep_versions: usize,
        /// Seconds a client has to send a request's headers (also the longest idle time of a
        /// kept-alive connection).
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
        header_timeout: u64,
        /// Seconds a client has to send a request's body.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        body_timeout: u64,
        /// Connections served at once (default: the open-file limit less a reserve).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        max_connections: Option<u64>,
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
    /// Print the API's OpenAPI 3.1 document (the one served at /api2/openapi.json).
    Openapi,
}

fn main() -> ExitCode {
    sdnd::process::private_umask();
    sdnd::process::return_large_blocks();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SDND_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in journald or a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
        Command::Serve {
            store,
            listen,
            node,
            agent,
            cert,
            key,
            apply_timeout,
            keep_versions,
            header_timeout,
            body_timeout,
            max_connections,
            ticket_lifetime,
        } => {
            // The TLS key lives there even when the store is etcd.
            sdnd::data_dir::prepare(&store.data_dir)?;
            let store_handle = open_store_waiting(&store)?;
            let identity = http::tls::load_or_create(&store.data_dir, cert.as_deref(), key.as_deref())?;
            let agent = node.map(|node| AgentConfig {
                node,
                host_interfaces: agent.host_interfaces,
                interfaces_out: agent.interfaces_out,
                frr_out: agent.frr_out,
                frr_local: agent.frr_local,
                reload_interfaces: agent.reload_interfaces,
                reload_frr: agent.reload_frr,
                facts_file: agent.node_facts,
                fingerprint: Some(identity.fingerprint.clone()),
            });
            let options = AppOptions {
                node: agent.as_ref().map_or_else(sdnd::clock::hostname, |a| a.node.clone()),
                apply_timeout: Duration::from_secs(apply_timeout),
                ticket_lifetime,
                clock: Clock::system(),
                keep_versions,
            };
            let app = App::start(store_handle.clone(), options)?;
            if let Some(agent) = agent {
                // Runs as long as the server does.
                let _agent = agent::spawn(store_handle, agent, Clock::system()).map_err(|e| format!("starting the node agent: {e}"))?;
            }
            let listener = std::net::TcpListener::bind(listen).map_err(|e| format!("listening on {listen}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            println!("sdnd listening on https://{local}/api2/json (node {})", app.node);
            println!("certificate SHA-256 fingerprint: {}", identity.fingerprint);
            println!("create an API token with: sdnd token add root@pam NAME --data-dir {}", store.data_dir.display());
            let defaults = http::Limits::default();
            let limits = http::Limits {
                header_timeout: Duration::from_secs(header_timeout),
                body_timeout: Duration::from_secs(body_timeout),
                max_connections: max_connections.map_or(defaults.max_connections, |n| n as usize),
                ..defaults
            };
            http::run(listener, identity.config, app, limits)
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
        Command::Openapi => {
            println!("{}", http::openapi::api_document());
            Ok(())
        }
    }
}
