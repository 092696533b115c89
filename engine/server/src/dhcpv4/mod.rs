//! The DHCPv4 server (RFC 2131, RFC 2132, RFC 951/1542 BOOTP, RFC 3046 relay
//! agent information, seed 000 Table 2 for CableLabs devices).
//!
//! The pipeline, packet in to reply out:
//! [`socket`] receives a datagram → [`process::Dhcpv4::handle`] parses it
//! (`headend_wire::dhcpv4`), builds the device view ([`context`]), resolves
//! its account and domains (auto-provisioning on first contact), selects a
//! pool (`headend_model::select`), allocates from the in-memory lease table
//! (`crate::leases`), composes options (`headend_model::compose`) and
//! builds the reply ([`reply`]) → the socket loop sends it, after the
//! group committer has made the lease durable when the reply is an ACK.
//! A DHCPLEASEQUERY (RFC 4388) takes its own, read-only path: [`leasequery`];
//! bulk leasequery over TCP (RFC 6926) is [`bulk`] behind [`bulk_tcp`].

pub mod bulk;
pub mod bulk_tcp;
pub mod component;
pub mod context;
pub mod ddns;
pub mod leasequery;
pub mod offers;
pub mod process;
pub mod reply;
pub mod resolver;
pub mod socket;

pub use process::{Dhcpv4, Inbound, Outcome};
