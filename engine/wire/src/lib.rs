//! Sans-IO wire formats of headend.
//!
//! Every protocol message headend speaks is encoded and decoded here, with no
//! sockets and no allocation on the parse path where it can be avoided:
//! parsers borrow the datagram and keep options in wire order, and unknown
//! options pass through intact.
//!
//! We write the DHCP codec ourselves rather than use `dhcproto` because
//! `dhcproto` 0.15 decodes DHCPv6 option 17 (enterprise 4491) sub-options as
//! if they were top-level DHCPv6 options and silently drops the rest of the
//! option, and it reorders DHCPv4 options by code when re-encoding; CableLabs
//! devices depend on both being right. The CableLabs sub-option formats
//! (options 122, 125/4491, 43, the option 60 capability TLVs) have no crate
//! at all.
//!
//! Syslog framing (RFC 3164/5424) is parsed by `syslog_loose`; only the
//! PacketCable/DOCSIS management-event layer above it is ours ([`syslog`]).

pub mod cablelabs;
pub mod dhcpv4;
pub mod dhcpv6;
pub mod dns;
pub mod relay;
pub mod suboptions;
pub mod syslog;
pub mod tftp;
