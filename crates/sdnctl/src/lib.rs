//! sdnctl: a client for sdnd and the Proxmox VE SDN API.
//!
//! The library holds everything the `sdnctl` binary does, so other Rust programs (a
//! datacenter manager, a test harness) can do the same: [`client::Client`] speaks the PVE API
//! to one remote with a pinned certificate; [`remotes`] reads the remotes file;
//! [`changeset`] reads change sets; [`txn::LockedClients`] runs one change set on many
//! clusters as a transaction (lock all, change all, apply all or roll back all), and
//! [`confirmed`] makes it all-or-nothing on sdnd (change sets, confirmed apply); [`render`]
//! turns API answers into the text people read.

pub mod changeset;
pub mod apidoc;
pub mod client;
pub mod complete;
pub mod confirmed;
pub mod hints;
pub mod remotes;
pub mod render;
pub mod tls;
pub mod txn;

pub use changeset::{ChangeSet, Step};
pub use client::{ApiPath, Client, ClientError, LockOptions, LockToken, Method, Params, Upid};
pub use remotes::{ApiToken, Remote, RemoteName, Remotes};
pub use tls::{Fingerprint, Trust};
pub use txn::{Event, LockedClients, Observer, Phase, RemoteState, Report, TxnOptions};
