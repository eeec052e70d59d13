//! sdnd: the SDN control plane of a virtualization cluster, as a library; `main.rs` only
//! parses arguments and calls it.
//!
//! Layers, top to bottom (nothing imports upward; only `http` and `api` know about HTTP):
//! - [`http`]: TLS, the `/api2/json` and `/api2/extjs` envelopes, parameter decoding, the
//!   router, and the one mapping of core errors to status codes. [`api`]: the handlers, in a
//!   module tree that mirrors the URL tree; thin, they call the core.
//! - The core: [`sdn`] (the cached configuration and the single write path; [`sdn::lock`] is
//!   the lock rule), [`auth`] (authentication and privileges), [`apply`] and [`tasks`] (apply
//!   tasks and their records), [`history`] (kept versions, compare, restore, confirmed
//!   apply), [`audit`] (the audit trail), [`ipam`] (the PVE IPAM's allocations), [`dns`] (the addresses' DNS records), [`nodes`]
//!   (what the node agents report), [`transfer`] (import and export of the reference's
//!   files), [`node_query`] (asking a node's agent about its live state through the store),
//!   [`layout`] (every store key and stored record),
//!   [`error`] (the core's error type), [`clock`] (the time everything reads).
//! - [`blocking`]: where the synchronous work of requests runs beside the async runtime.
//!   [`follow`]: how background threads follow the store (a watch, not a read a second).
//! - [`metrics`]: what `GET /metrics` reports. [`data_dir`]: the private data directory; [`process`]: process-wide settings.
//! - [`config_file`]: `/etc/sdnd/sdnd.toml`. [`backup`]: backup and restore of the whole store.
//! - [`agent`]: a node's agent (facts, render through `sdn-gen`, atomic writes, reloads,
//!   reports). [`admin`]: the administration commands. [`store_args`]: choosing the store.

pub mod admin;
pub mod agent;
pub mod api;
pub mod app;
pub mod apply;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod blocking;
pub mod clock;
pub mod config_file;
pub mod data_dir;
pub mod dns;
pub mod error;
pub mod follow;
pub mod fsutil;
pub mod history;
pub mod http;
pub mod ipam;
pub mod layout;
pub mod metrics;
pub mod node_query;
pub mod nodes;
pub mod process;
pub mod sdn;
pub mod store_args;
pub mod tasks;
pub mod transfer;

pub use app::App;
pub use clock::Clock;
pub use error::Error;
