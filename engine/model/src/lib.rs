//! The provisioning model of headend, as data: configuration files, domains,
//! accounts, vendor classes, address pools, fixed bindings, policies, option
//! types and Rhai expressions (seed 004 sections 2, 3, 5).
//!
//! Everything here is pure: a configuration is parsed and validated into an
//! immutable [`Snapshot`](snapshot::Snapshot) that the servers read, and the
//! decisions of the DHCPv4 pipeline that do not touch sockets or leases
//! (classification, pool selection, option composition) live here so that
//! `headend explain` runs exactly the code the server runs.

pub mod compose;
pub mod config;
pub mod configsrv;
pub mod device;
pub mod expr;
pub mod literal;
pub mod options;
pub mod plugins;
pub mod select;
pub mod snapshot;
pub mod trace;
pub mod v6;
