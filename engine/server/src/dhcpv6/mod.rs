//! The DHCPv6 server (RFC 8415; RFC 4704 client FQDN; CableLabs
//! CL-SP-CANN-DHCP-Reg option 17/4491; seed 000 Tables 3 and 6).
//!
//! The pipeline, datagram in to reply out: [`crate::udp`] receives on the
//! [`socket`] → [`process::Dhcpv6::handle`] unwraps the Relay-Forward chain
//! (`headend_wire::dhcpv6`), reads the device ([`cablelabs`]), resolves
//! its account (shared with DHCPv4), picks addresses and prefixes from the
//! in-memory binding table ([`leases`]), composes the reply and wraps it
//! back through the same relays → the UDP loop sends it, after the
//! group committer made the bindings durable when the reply commits them.
//! A LEASEQUERY (RFC 5007) takes its own, read-only path: [`leasequery`];
//! Bulk Leasequery (RFC 5460) is served over TCP by [`bulk`].

pub mod bulk;
pub mod cablelabs;
pub mod component;
pub mod ddns;
pub mod leasequery;
pub mod leases;
pub mod process;
pub mod resolver;
pub mod socket;

pub use process::{server_duid, Dhcpv6, Outcome6};
