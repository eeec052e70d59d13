//! sdnd's command line: parses the arguments and calls the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sdnd::agent::{self, AgentConfig};
use sdnd::app::{App, AppOptions};
use sdnd::store_args::{open_store, open_store_waiting, StoreArgs};
use sdnd::{admin, auth, backup, http, sdn, transfer, Clock};

#[derive(Parser)]
#[command(name = "sdnd", version, about = "SDN control plane for virtualization clusters, PVE SDN API compatible")]
struct Cli {
    /// The configuration file: every `serve` flag as a key of the same name, plus `log-level`
    /// (default: $SDND_CONFIG, else /etc/sdnd/sdnd.toml if it exists). Flags and environment
    /// variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// What to log: error, warn, info, debug or trace, or tracing directives such as
    /// `info,sdnd::access=warn` (default: $SDND_LOG, else the configuration file's
    /// `log-level`, else info).
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
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
    /// FRR's shell, for the node's live status (run as `CMD -c 'show ... json'`).
    #[arg(long, default_value = "vtysh")]
    vtysh: String,
    /// iproute2's `ip`, for the node's bridges (run as `CMD -details -json link show`).
    #[arg(long, default_value = "ip")]
    ip_command: String,
    /// iproute2's `bridge`, for the bridges' VLANs (run as `CMD -json vlan show`).
    #[arg(long, default_value = "bridge")]
    bridge_command: String,
    /// Where the dnsmasq files of the zones with dhcp=dnsmasq go, one directory per zone.
    #[arg(long, default_value = "/etc/dnsmasq.d")]
    dnsmasq_dir: PathBuf,
    /// Command run for a zone whose dnsmasq files changed, `{zone}` replaced by the zone
    /// (empty: none). Default: what the reference runs (systemctl restart dnsmasq@ZONE, or
    /// reload when only ethers changed).
    #[arg(long)]
    reload_dnsmasq: Option<String>,
    /// Where each zone's dnsmasq.ZONE defaults file goes (empty: not written).
    #[arg(long, default_value = "/etc/default")]
    dnsmasq_default_dir: String,
    /// Where each zone's dnsmasq D-Bus policy goes (empty: not written).
    #[arg(long, default_value = "/etc/dbus-1/system.d")]
    dbus_policy_dir: String,
}

// Parsed once per process: the size of the serve variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve the API over HTTPS.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// Address and port to listen on: `127.0.0.1:8006`, `[::]:8006` (every address),
        /// `localhost:8006` (a name is resolved; the first address that binds is used).
        #[arg(long, default_value = "127.0.0.1:8006", value_parser = parse_listen)]
        listen: String,
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
        /// Seconds one call to an external IPAM (NetBox, phpIPAM) or DNS server may take,
        /// connecting included: 1 to 600, fractions allowed (default: $SDND_IPAM_TIMEOUT, else
        /// 30 as the reference).
        #[arg(long, value_name = "SECONDS", value_parser = sdnd::ipam::http::parse_timeout)]
        ipam_timeout: Option<Duration>,
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
        /// File holding the bearer token a Prometheus scraper on another host sends to read
        /// `/metrics` (`Authorization: Bearer TOKEN`); loopback clients need none.
        #[arg(long, value_name = "FILE")]
        metrics_token_file: Option<PathBuf>,
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
        /// Directory with zones.cfg, vnets.cfg, ..., .running-config and the PVE IPAM state
        /// (pve-ipam-state.json, or the former priv/ipam.db beside or below it).
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
        /// Also render the dnsmasq files of the zones with dhcp=dnsmasq into this directory
        /// (DIR/<zone>/..., DIR/default/dnsmasq.<zone>, DIR/dbus/dnsmasq.<zone>.conf).
        #[arg(long)]
        dnsmasq_out: Option<PathBuf>,
        /// The directory the dnsmasq files name as their own (where the node keeps them).
        #[arg(long, default_value = "/etc/dnsmasq.d")]
        dnsmasq_dir: String,
        /// The PVE IPAM's state (pve-ipam-state.json or priv/ipam.db): the `ethers` reservations.
        #[arg(long)]
        ipam_state: Option<PathBuf>,
    },
    /// Write one consistent snapshot of everything in the store to a file (while serving).
    Backup {
        #[command(flatten)]
        store: StoreArgs,
        /// The backup file to write (created with mode 0600; an existing file is refused).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Include the secrets (password hashes, token hashes, the ticket signing key, IPAM
        /// and DNS credentials); without it they are left out and must be set again after a
        /// restore.
        #[arg(long)]
        with_secrets: bool,
    },
    /// Load a backup into an empty store.
    Restore {
        #[command(flatten)]
        store: StoreArgs,
        /// The backup file written by `sdnd backup`.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Print a configuration file with every `serve` flag, commented out at its default
    /// (packaging: /etc/sdnd/sdnd.toml).
    #[command(hide = true)]
    DefaultConfig,
    /// Write the manual pages (sdnd.1 and one per subcommand) into a directory (packaging).
    #[command(hide = true)]
    Manpages {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Print the API's OpenAPI 3.1 document (the one served at /api2/openapi.json).
    Openapi,
}

/// A `--listen` value: an address and port, a bracketed IPv6 address and port, or a host name
/// and port that resolves.
fn parse_listen(text: &str) -> Result<String, String> {
    use std::net::ToSocketAddrs;
    if text.parse::<SocketAddr>().is_ok() {
        return Ok(text.to_string());
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("'{text}' has no port; expected ADDRESS:PORT, [IPV6]:PORT or NAME:PORT"));
    };
    port.parse::<u16>().map_err(|_| format!("'{port}' is not a port (0-65535)"))?;
    match text.to_socket_addrs() {
        Ok(addrs) if addrs.len() > 0 => Ok(text.to_string()),
        Ok(_) => Err(format!("'{host}' resolves to no address")),
        Err(err) => Err(format!("'{host}' does not resolve: {err}")),
    }
}

/// A log filter: a level, or tracing directives (`info,sdnd::access=warn`). A bare word that
/// is no level is refused (tracing would take it for a module name and log nearly nothing).
fn log_filter(text: &str) -> Result<tracing_subscriber::EnvFilter, String> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    for directive in text.split(',').map(str::trim) {
        let bare = !directive.contains(['=', ':', '[']);
        if bare && !LEVELS.contains(&directive.to_ascii_lowercase().as_str()) {
            return Err(format!("'{directive}' is not a level"));
        }
    }
    tracing_subscriber::EnvFilter::try_new(text).map_err(|e| e.to_string())
}

/// The environment variable of a `serve` flag, if it has one (the file's key yields to it).
fn env_of(flag: &str) -> Option<&'static str> {
    match flag {
        "ipam-timeout" => Some(sdnd::ipam::http::TIMEOUT_ENV),
        other => sdnd::store_args::env_of(other),
    }
}

fn main() -> ExitCode {
    sdnd::process::private_umask();
    sdnd::process::return_large_blocks();
    let applied = match sdnd::config_file::apply(&<Cli as clap::CommandFactory>::command(), std::env::args_os().collect(), &env_of) {
        Ok(applied) => applied,
        Err(message) => {
            eprintln!("sdnd: {message}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(applied.argv);
    let filter = cli
        .log_level
        .clone()
        .or_else(|| std::env::var("SDND_LOG").ok().filter(|v| !v.is_empty()))
        .or(applied.log_level)
        .unwrap_or_else(|| "info".into());
    let filter = match log_filter(&filter) {
        Ok(filter) => filter,
        Err(err) => {
            eprintln!("sdnd: log level '{filter}': {err} (expected error, warn, info, debug, trace or tracing directives)");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in journald or a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Some(path) = &applied.path {
        tracing::debug!("read the configuration file {}", path.display());
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sdnd: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let Cli { command, .. } = cli;
    match command {
        Command::Serve {
            store,
            listen,
            node,
            agent,
            cert,
            key,
            apply_timeout,
            ipam_timeout,
            keep_versions,
            header_timeout,
            body_timeout,
            max_connections,
            metrics_token_file,
            ticket_lifetime,
        } => {
            // The flag, else its environment variable (the file's key became the flag unless
            // the variable is set: flags > environment > file).
            let ipam_timeout = match ipam_timeout {
                Some(timeout) => timeout,
                None => match std::env::var(sdnd::ipam::http::TIMEOUT_ENV).ok().filter(|v| !v.trim().is_empty()) {
                    Some(text) => sdnd::ipam::http::parse_timeout(&text)
                        .map_err(|err| format!("{} (for --ipam-timeout): {err}", sdnd::ipam::http::TIMEOUT_ENV))?,
                    None => sdnd::ipam::http::DEFAULT_TIMEOUT,
                },
            };
            sdnd::ipam::http::set_timeout(ipam_timeout);
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
                status_commands: agent::status::StatusCommands {
                    vtysh: agent.vtysh,
                    ip: agent.ip_command,
                    bridge: agent.bridge_command,
                },
                dnsmasq: Some(agent::dhcp::DnsmasqConfig {
                    dir: agent.dnsmasq_dir,
                    default_dir: (!agent.dnsmasq_default_dir.is_empty()).then(|| PathBuf::from(&agent.dnsmasq_default_dir)),
                    dbus_dir: (!agent.dbus_policy_dir.is_empty()).then(|| PathBuf::from(&agent.dbus_policy_dir)),
                    reload: agent.reload_dnsmasq,
                }),
            });
            let options = AppOptions {
                node: agent.as_ref().map_or_else(sdnd::clock::hostname, |a| a.node.clone()),
                apply_timeout: Duration::from_secs(apply_timeout),
                ticket_lifetime,
                clock: Clock::system(),
                keep_versions,
            };
            let app = App::start(store_handle.clone(), options)?;
            if let Some(file) = metrics_token_file {
                let token = std::fs::read_to_string(&file).map_err(|e| format!("--metrics-token-file {}: {e}", file.display()))?;
                let token = token.trim();
                if token.is_empty() {
                    return Err(format!("--metrics-token-file {}: the file is empty", file.display()));
                }
                app.metrics.set_token(token.to_string());
            }
            if let Some(agent) = agent {
                // Runs as long as the server does.
                let _agent = agent::spawn(store_handle, agent, Clock::system()).map_err(|e| format!("starting the node agent: {e}"))?;
            }
            let listener = std::net::TcpListener::bind(listen.as_str()).map_err(|e| format!("listening on {listen}: {e}"))?;
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
            let store = open_store(&store)?;
            let ipam = sdnd::ipam::Ipam::new(store.clone());
            let sdn = sdn::Sdn::new(store, Clock::system());
            println!("{}", transfer::export(&sdn, &ipam, &to)?);
            Ok(())
        }
        Command::Generate { running_config, facts, interfaces, frr_local, out, dnsmasq_out, dnsmasq_dir, ipam_state } => {
            for warning in agent::generate_files(&running_config, &facts, &interfaces, frr_local.as_deref(), &out)? {
                eprintln!("sdnd: warning: {warning}");
            }
            if let Some(dnsmasq_out) = dnsmasq_out {
                let read = |path: &PathBuf| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
                let json: serde_json::Value = serde_json::from_slice(&read(&running_config)?)
                    .map_err(|e| format!("{}: {e}", running_config.display()))?;
                let (_, running) = sdn_config::Config::from_running_config(&json)
                    .map_err(|e| format!("{}: {e}", running_config.display()))?;
                let node_facts: serde_json::Value =
                    serde_json::from_slice(&read(&facts)?).map_err(|e| format!("{}: {e}", facts.display()))?;
                let node = node_facts["node"].as_str().unwrap_or_default().to_string();
                let db = ipam_state
                    .as_ref()
                    .map(|path| sdnd::ipam::state::IpamDb::parse(&read(path)?).map_err(|e| format!("{}: {e}", path.display())))
                    .transpose()?;
                for warning in agent::dhcp::generate_files(&running, &node, &dnsmasq_dir, db.as_ref(), &dnsmasq_out)? {
                    eprintln!("sdnd: warning: {warning}");
                }
            }
            Ok(())
        }
        Command::Backup { store, to, with_secrets } => {
            let store = open_store(&store)?;
            let summary = backup::write(store.as_ref(), &to, with_secrets)?;
            println!("{summary}");
            Ok(())
        }
        Command::Restore { store, from } => {
            let store = open_store(&store)?;
            let summary = backup::restore(store.as_ref(), &from)?;
            println!("{summary}");
            Ok(())
        }
        Command::DefaultConfig => {
            print!("{}", sdnd::config_file::template(&<Cli as clap::CommandFactory>::command())?);
            Ok(())
        }
        Command::Manpages { out } => {
            std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), &out)
                .map_err(|e| format!("writing the manual pages to {}: {e}", out.display()))
        }
        Command::Openapi => {
            println!("{}", http::openapi::api_document());
            Ok(())
        }
    }
}
