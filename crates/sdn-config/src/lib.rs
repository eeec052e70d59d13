//! sdn-config: the SDN configuration model of sdnd, compatible with the Proxmox VE SDN API.
//!
//! It knows every object type the reference (pve-network) has — zones (simple, vlan, qinq,
//! vxlan, evpn), vnets, subnets, controllers (evpn, bgp, isis), IPAMs (pve, netbox, phpipam) and
//! DNS servers (powerdns) — with their properties, id formats and limits, and the rules between
//! objects, and PVE 9's fabrics (OpenFabric and OSPF underlays, `fabrics.cfg`) with their nodes.
//! A [`Config`] holds one configuration (pending or running); the `plan_*` methods
//! validate one API mutation against it without changing it and return a [`Change`] the caller
//! commits to its store and then [`Config::apply`]s. The crate also reads and writes the
//! reference's formats: the section-config files (`zones.cfg`, ...), the running-config JSON, and
//! the pending view the API shows with `pending=1`.
//!
//! [`RunningConfig`] is the one typed model of the running config that the generator (sdn-gen)
//! and the node agent consume, read strictly (as sdn-config writes it) or leniently (the
//! reference's files); [`net`] holds the network types (`Cidr`, `IpLiteral`, `split_list`).
//!
//! No I/O happens here: callers pass text and JSON in and get text and JSON out.
//!
//! Parameters arrive as [`Params`] (a JSON map): form values as strings (`"100"`, `"1"`,
//! `"a,b"`), JSON bodies as numbers, booleans and arrays; both are accepted everywhere. Path
//! placeholders are parameters too (`vnet` for subnets). Subnets are created with `subnet` set to
//! a CIDR (`10.0.0.0/24`, normalized to its network address); their id becomes
//! `ZONE-ADDRESS-PREFIXLEN`.

mod config;
mod error;
mod fabric;
mod kind;
pub mod net;
mod object;
mod pending;
pub mod routing;
mod routing_config;
pub mod running;
pub mod schema;
mod section;
mod value;

pub use config::{Change, Config, Params, Positions, DIGEST_MISMATCH};
pub use error::{ConfigError, FieldErrors};
pub use fabric::protocol_of;
pub use kind::Kind;
pub use net::{Cidr, IpLiteral};
pub use object::{SdnObject, SubnetId};
pub use pending::{count_pending_changes, fabric_pending_view, has_pending_changes, pending_entry, pending_view};
pub use running::{Reading, RunningConfig, RunningConfigError};
pub use value::{DhcpRange, Value};
