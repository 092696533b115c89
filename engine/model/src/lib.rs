//! The provisioning model of headend, as data: configuration files, domains,
//! accounts, vendor classes, address pools, fixed bindings, policies, option
//! types and Rhai expressions (seed 004 sections 2, 3, 5).
//!
//! Everything here is pure: a configuration is parsed and validated into an
//! immutable [`Snapshot`](snapshot::Snapshot) that the servers read, and the
//! decisions of the DHCPv4 pipeline that do not touch sockets or leases
//! (classification, pool selection, option composition) live here so that
//! `headend explain` runs exactly the code the server runs.
//!
//! Module layers, no circle (checked by `tests/module_graph.rs`):
//! [`source`] and [`build`] (located errors, shared validation state) are
//! below the section modules ([`v4`], [`provisioning`], [`v6`],
//! [`configsrv`], [`plugins`]), each owning its raw section, its
//! validation and its settings; [`config`] aggregates the raw sections
//! into the file and [`snapshot`] their results into the running
//! configuration.

pub mod build;
pub mod cluster;
pub mod compose;
pub mod config;
pub mod configsrv;
pub mod ddns;
pub mod device;
pub mod expr;
pub mod hash;
pub mod literal;
pub mod management;
pub mod options;
pub mod plugins;
pub mod provisioning;
pub mod select;
pub mod snapshot;
pub mod snmp;
pub mod source;
pub mod syslog;
pub mod tod;
pub mod trace;
pub mod v4;
pub mod v6;
