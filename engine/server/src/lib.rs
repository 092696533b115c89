//! The headend protocol servers: DHCPv4 and DHCPv6 with their in-memory
//! lease and binding tables, the TFTP/HTTP config server, RFC 868 Time, the
//! syslog management-event receiver, management events, counters, and the
//! runtime that loads state, starts the servers and rolls configuration
//! reloads in.
//!
//! Each protocol server is a [`component::Component`] built from the state
//! of [`shared`] (running snapshot, clock, accounts, counters, device
//! registry, the management-event sink); the protocol modules depend on `shared` and `component`,
//! never on each other (checked by `tests/module_graph.rs`), and the
//! runtime drives them as one list.

pub mod accounts;
pub mod bus;
pub mod cluster;
pub mod component;
pub mod configsrv;
pub mod control;
pub mod counters;
pub mod ddns;
pub mod dhcpv4;
pub mod dhcpv6;
pub mod events;
pub mod leases;
pub mod metrics;
pub mod runtime;
pub mod shared;
pub mod snmp;
pub mod syslog;
pub mod tod;
pub mod udp;
