//! The server's integration tests as one test binary: one link of the
//! engine instead of sixteen (CI builds every test binary; each links the
//! whole server with wasmtime). Each file is a module; run one with
//! `cargo test -p headend-server --test integration dhcpv4::`.
//! `firmware_storm.rs` stays a binary of its own: it measures the
//! process's resident memory, which other tests would disturb.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/eue6.rs"]
mod eue6;

mod components;
mod configsrv;
#[path = "core.rs"]
mod core_engine;
mod dhcpv4;
mod dhcpv6;
mod events;
mod flow_select;
mod hardening;
mod leasequery;
mod leasequery6;
mod module_graph;
mod reasons;
mod snmp_peers;
mod syslog;
mod tod;
mod udp;
