//! Stands in for the PVE::RS functions (proxmox-perl-rs, `pve-rs/src/bindings/sdn`) that the
//! reference generator calls, so the Perl harness can run without building all of pve-rs.
//!
//! `pve-rs-shim METHOD < request.json > response.json`; the request is
//! `{"fabrics": {<running-config fabrics.ids>}, "args": [...], "frr": {...}}`; on error the
//! message goes to stderr and the exit status is 1 (the Perl side dies with it, as perlmod does).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::net::IpAddr;

use anyhow::{bail, format_err, Context, Error};
use proxmox_frr::ser::{serializer::to_raw_config, FrrConfig};
use proxmox_network_types::ip_address::Cidr;
use proxmox_section_config::typed::SectionConfigData;
use proxmox_ve_config::common::valid::Validatable;
use proxmox_ve_config::sdn::fabric::section_config::fabric::FabricId;
use proxmox_ve_config::sdn::fabric::section_config::node::{api::Node, Node as ConfigNode, NodeId};
use proxmox_ve_config::sdn::fabric::section_config::Section;
use proxmox_ve_config::sdn::fabric::FabricConfig;
use serde::Deserialize;
use serde_json::Value;

mod lenient;

#[derive(serde::Deserialize)]
struct Request {
    #[serde(default)]
    fabrics: BTreeMap<String, Section>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    frr: Option<Value>,
}

fn arg(req: &Request, i: usize) -> Result<&str, Error> {
    req.args.get(i).map(String::as_str).ok_or_else(|| format_err!("missing argument {i}"))
}

fn render_interface(name: &str, cidr: Cidr, is_dummy: bool) -> Result<String, Error> {
    let mut interface = String::new();
    writeln!(interface, "auto {name}")?;
    match cidr {
        Cidr::Ipv4(_) => writeln!(interface, "iface {name} inet static")?,
        Cidr::Ipv6(_) => writeln!(interface, "iface {name} inet6 static")?,
    }
    writeln!(interface, "\taddress {cidr}")?;
    if is_dummy {
        writeln!(interface, "\tlink-type dummy")?;
    }
    writeln!(interface, "\tip-forward 1")?;
    Ok(interface)
}

/// `get_interfaces_etc_network_config` of pve-rs, unchanged in behaviour.
fn interfaces(config: &FabricConfig, node_id: &NodeId) -> Result<String, Error> {
    let mut interfaces = String::new();
    let node_fabrics = config
        .values()
        .filter_map(|entry| entry.get_node(node_id).map(|node| (entry.fabric(), node)).ok());
    for (fabric, node) in node_fabrics {
        if let Some(ip) = node.ip() {
            let i = render_interface(&format!("dummy_{}", fabric.id()), Cidr::new_v4(ip, 32)?, true)?;
            writeln!(interfaces)?;
            write!(interfaces, "{i}")?;
        }
        if let Some(ip6) = node.ip6() {
            let i = render_interface(&format!("dummy_{}", fabric.id()), Cidr::new_v6(ip6, 128)?, true)?;
            writeln!(interfaces)?;
            write!(interfaces, "{i}")?;
        }
        match node {
            ConfigNode::Openfabric(node_section) => {
                for interface in node_section.properties().interfaces() {
                    if let Some(ip) = interface.ip() {
                        let i = render_interface(interface.name(), Cidr::from(ip), false)?;
                        writeln!(interfaces)?;
                        write!(interfaces, "{i}")?;
                    }
                    if let Some(ip) = interface.ip6() {
                        let i = render_interface(interface.name(), Cidr::from(ip), false)?;
                        writeln!(interfaces)?;
                        write!(interfaces, "{i}")?;
                    }
                    if let (None, None) = (interface.ip(), interface.ip6()) {
                        let cidr = Cidr::from(if let Some(ip) = node.ip() {
                            IpAddr::from(ip)
                        } else if let Some(ip) = node.ip6() {
                            IpAddr::from(ip)
                        } else {
                            bail!("there has to be a ipv4 or ipv6 node address");
                        });
                        let i = render_interface(interface.name(), cidr, false)?;
                        writeln!(interfaces)?;
                        write!(interfaces, "{i}")?;
                    }
                }
            }
            ConfigNode::Ospf(node_section) => {
                for interface in node_section.properties().interfaces() {
                    let cidr = match interface.ip() {
                        Some(ip) => Cidr::from(ip),
                        None => Cidr::from(IpAddr::from(
                            node.ip().ok_or_else(|| format_err!("there has to be a ipv4 address"))?,
                        )),
                    };
                    let i = render_interface(interface.name(), cidr, false)?;
                    writeln!(interfaces)?;
                    write!(interfaces, "{i}")?;
                }
            }
        }
    }
    Ok(interfaces)
}

fn run(method: &str, req: Request) -> Result<Value, Error> {
    let config = FabricConfig::from_section_config(SectionConfigData::from_iter(req.fabrics.clone()))?
        .into_inner();
    Ok(match method {
        "get_frr_raw_config" => {
            let frr_value = lenient::Lenient(req.frr.clone().unwrap_or(Value::Null));
            let mut frr = FrrConfig::deserialize(frr_value)
                .context("deserializing the frr config")?;
            let node_id = NodeId::from_string(arg(&req, 0)?.to_string())?;
            let valid = config.into_valid()?;
            proxmox_ve_config::sdn::fabric::frr::build_fabric(node_id, valid, &mut frr)?;
            serde_json::to_value(to_raw_config(&frr)?)?
        }
        "get_interfaces_etc_network_config" => {
            let node_id = NodeId::from_string(arg(&req, 0)?.to_string())?;
            Value::String(interfaces(&config, &node_id)?)
        }
        "get_fabric" => {
            let id = FabricId::from_string(arg(&req, 0)?.to_string())?;
            serde_json::to_value(config.get_fabric(&id)?.fabric().clone())?
        }
        "list_nodes_fabric" => {
            let id = FabricId::from_string(arg(&req, 0)?.to_string())?;
            let nodes: BTreeMap<String, Node> = config
                .get_fabric(&id)?
                .nodes()
                .map(|(id, node)| (id.to_string(), node.clone().into()))
                .collect();
            serde_json::to_value(nodes)?
        }
        "get_node" => {
            let id = FabricId::from_string(arg(&req, 0)?.to_string())?;
            let node_id = NodeId::from_string(arg(&req, 1)?.to_string())?;
            let node: Node = config.get_fabric(&id)?.get_node(&node_id)?.clone().into();
            serde_json::to_value(node)?
        }
        other => bail!("pve-rs-shim: unknown method {other}"),
    })
}

fn main() {
    let method = std::env::args().nth(1).unwrap_or_default();
    let mut input = String::new();
    let result = std::io::stdin()
        .read_to_string(&mut input)
        .map_err(Error::from)
        .and_then(|_| serde_json::from_str::<Request>(&input).map_err(Error::from))
        .and_then(|req| run(&method, req));
    match result {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("{e:#}");
            std::process::exit(1);
        }
    }
}
