//! sdn-gen: the node files of an SDN configuration.
//!
//! Given the applied (running) SDN configuration, a few facts about one node, that node's own
//! `/etc/network/interfaces` and optionally its `frr.conf.local`, [`generate`] produces the text
//! of `/etc/network/interfaces.d/sdn` and of `/etc/frr/frr.conf`, byte for byte what the
//! Proxmox VE SDN stack (pve-network) writes for the same input.
//!
//! It is a pure function: no file, process or network access. Callers read the inputs and
//! write the outputs. The running config arrives typed ([`sdn_config::RunningConfig`], read
//! once by the caller); the zone types build the interface stanzas ([`zones`]); the controllers
//! and fabrics build an FRR config tree ([`frr`], [`fabrics`]) into which `frr.conf.local` is
//! merged; each output is rendered once at the end. [`dnsmasq`] renders the DHCP files of the
//! zones with `dhcp=dnsmasq`.

pub mod dnsmasq;
mod error;
mod fabrics;
mod frr;
mod host;
mod zones;

pub use error::GenError;
pub use host::{Mac, NodeFacts};

use sdn_config::RunningConfig;

use fabrics::Fabrics;
use host::HostInterfaces;

/// Everything one node's files are generated from.
#[derive(Debug, Clone, Copy)]
pub struct GenInput<'a> {
    /// `/etc/pve/sdn/.running-config`, read with [`RunningConfig::from_json`].
    pub running_config: &'a RunningConfig,
    /// What the reference would ask the kernel.
    pub facts: &'a NodeFacts,
    /// The node's `/etc/network/interfaces`.
    pub interfaces: &'a str,
    /// The node's `/etc/frr/frr.conf.local`, if it exists.
    pub frr_local: Option<&'a str>,
}

/// The generated files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOutput {
    /// The text of `/etc/network/interfaces.d/sdn`.
    pub interfaces: String,
    /// The text of `/etc/frr/frr.conf`; `None` when the node needs no FRR configuration (no
    /// controllers, no fabrics and no `frr.conf.local`).
    pub frr: Option<String>,
    /// Objects that were skipped and why (the reference logs these and carries on).
    pub warnings: Vec<Warning>,
}

/// Something the generator skipped on this node, and why: the reference logs these and
/// carries on, so the rest of the node's files is still written. `zone` and `vnet` name the
/// objects it concerns, so callers can tell which ones did not reach the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub zone: Option<String>,
    pub vnet: Option<String>,
    /// In the reference's words, naming the objects.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Generates one node's interfaces snippet and FRR configuration.
///
/// Fails only when the node facts cannot be interpreted (the field named), when what the config
/// asks of this node cannot be produced (the object and field named, e.g. no FRR router-id can
/// be derived); vnets the reference would skip are skipped and reported in
/// [`GenOutput::warnings`].
pub fn generate(input: &GenInput) -> Result<GenOutput, GenError> {
    input.facts.validate()?;
    let cfg = input.running_config;
    let fabrics = Fabrics::new(&cfg.fabrics);
    let host = HostInterfaces::parse(input.interfaces);
    let mut warnings = Vec::new();

    let mut interfaces =
        zones::generate(cfg, input.facts, &host, &fabrics, &mut warnings).unwrap_or_default();
    interfaces.push_str(&fabrics.interfaces(&input.facts.node)?);

    let has_controllers = cfg.controllers.as_ref().is_some_and(|c| !c.is_empty());
    let frr = if has_controllers || !fabrics.is_empty() || input.frr_local.is_some() {
        let mut tree = frr::FrrConfig::default();
        let mut ctx = frr::controllers::Ctx {
            cfg,
            facts: input.facts,
            host: &host,
            fabrics: &fabrics,
            warnings: &mut warnings,
        };
        frr::controllers::generate(&mut ctx, &mut tree)?;
        frr::local::merge(&mut tree, input.frr_local);
        frr::routing::add(cfg, &mut tree);
        fabrics.build_frr(&input.facts.node, &mut tree)?;
        Some(frr::render(&tree, &input.facts.node))
    } else {
        None
    };

    Ok(GenOutput {
        interfaces,
        frr,
        warnings,
    })
}
