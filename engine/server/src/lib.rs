//! The headend protocol servers: the DHCPv4 server with its in-memory lease
//! and account tables, counters, and the runtime that loads state, binds
//! sockets and rolls configuration reloads in.

pub mod accounts;
pub mod configsrv;
pub mod counters;
pub mod dhcpv4;
pub mod dhcpv6;
pub mod events;
pub mod leases;
pub mod runtime;
pub mod shared;
pub mod udp;
