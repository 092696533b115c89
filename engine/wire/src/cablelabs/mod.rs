//! CableLabs DHCPv4 payload formats for DOCSIS cable modems and PacketCable
//! eMTA/E-UE devices:
//!
//! * [`Ccc`]: option 122, CableLabs Client Configuration (RFC 3495, RFC 3594,
//!   RFC 3634; protocol-notes §1), with the 0.0.0.0 / 255.255.255.255
//!   server-selection values of PKT-SP-EUE-PROV §6.3.2.2.
//! * [`ClVendorOptions`]: the enterprise-4491 data of option 125
//!   (CL-SP-CANN-DHCP-Reg; protocol-notes §2.1), including
//!   CL_V4OPTION_CCCV6 ([`CccV6Dhcpv4`], [`DssId`]; PKT-SP-EUE-PROV §6.4.1.2)
//!   and CL_V4OPTION_IP_PREF ([`IpPref`]; §6.4.1.5, Tables 4, 5, 8).
//! * [`Option43`]: device information sub-options (protocol-notes §3.1).
//! * [`VendorClass`] and [`Capabilities`]: the option 60 string and its
//!   hex-encoded TLV-5 tail (protocol-notes §3.2-§3.4; PKT-SP-EUE-PROV
//!   Annex A).
//! * [`v6`]: DHCPv6 option 17 enterprise 4491 ([`ClVendorOptionsV6`],
//!   CL_OPTION_CCCV6 [`CccV6`], CL_OPTION_CCC via [`Ccc::decode_v6`];
//!   protocol-notes §2.2, PKT-SP-EUE-PROV §6.4.1).
//!
//! Every decoder returns `Result<_, CableLabsError>` and never panics;
//! encoders write sub-options in code order.

mod ccc;
mod option43;
pub mod v6;
mod vendor;
mod vendor_class;

pub use ccc::sub as ccc_sub;
pub use ccc::{Backoff, Ccc, ProvisioningFlow, ProvisioningServer};
pub use option43::sub as option43_sub;
pub use option43::{Option43, Oui};
pub use v6::{CccV6, ClVendorOptionsV6, CmtsCapabilities, ProvisioningServerV6};
pub use vendor::sub as vendor_sub;
pub use vendor::{CccV6Dhcpv4, ClVendorOptions, DssId, IpPref};
pub use vendor_class::{Capabilities, DeviceFamily, SupportedFlows, VendorClass};

use crate::dns::NameError;
use crate::suboptions::TlvError;

/// The IANA enterprise number of Cable Television Laboratories.
pub const ENTERPRISE: u32 = 4491;

/// Errors of the CableLabs decoders and encoders.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CableLabsError {
    /// The sub-option framing is broken, or a value is too long to encode.
    #[error("malformed CableLabs sub-options: {0}")]
    Tlv(#[from] TlvError),
    /// A sub-option has a length its type does not allow.
    #[error("sub-option {sub} has length {len}, expected {expected}")]
    BadLength {
        /// Sub-option code (16 bits wide for the DHCPv6 forms).
        sub: u16,
        /// Length found.
        len: usize,
        /// What the type requires.
        expected: &'static str,
    },
    /// A single-valued sub-option appears more than once.
    #[error("sub-option {0} appears more than once")]
    Duplicate(u16),
    /// A DNS-name sub-option (realm, provisioning server FQDN) is invalid.
    #[error("sub-option {sub}: {err}")]
    Name {
        /// Sub-option code.
        sub: u16,
        /// The name error.
        err: NameError,
    },
    /// Option 122 sub-option 3 has a type octet other than 0 or 1.
    #[error("provisioning server type {0} is neither 0 (FQDN) nor 1 (IPv4)")]
    BadServerType(u8),
    /// An OUI is neither 3 binary octets nor 6 hexadecimal characters.
    #[error("OUI is neither 3 octets nor 6 hex characters")]
    BadOui,
}

/// Parses `code(1) len(1) value` sub-options into `(code, value)` pairs,
/// with `pad_end` treating 0 as pad and 255 as end.
fn collect_tlv8(buf: &[u8], pad_end: bool) -> Result<Vec<(u8, &[u8])>, CableLabsError> {
    let it = if pad_end {
        crate::suboptions::Tlv8::with_pad_end(buf)
    } else {
        crate::suboptions::Tlv8::new(buf)
    };
    it.map(|r| r.map_err(CableLabsError::from)).collect()
}

/// Stores a single-valued sub-option, rejecting a second instance.
fn set_once<T>(slot: &mut Option<T>, sub: u8, value: T) -> Result<(), CableLabsError> {
    if slot.is_some() {
        return Err(CableLabsError::Duplicate(u16::from(sub)));
    }
    *slot = Some(value);
    Ok(())
}

/// The value as `[u8; N]`, or a `BadLength` error naming `expected`.
fn exact<const N: usize>(
    sub: u8,
    v: &[u8],
    expected: &'static str,
) -> Result<[u8; N], CableLabsError> {
    <[u8; N]>::try_from(v).map_err(|_| CableLabsError::BadLength {
        sub: u16::from(sub),
        len: v.len(),
        expected,
    })
}

/// A non-empty list of IPv4 addresses (n × 4 octets).
fn ipv4_list(sub: u8, v: &[u8]) -> Result<Vec<std::net::Ipv4Addr>, CableLabsError> {
    if v.is_empty() || v.len() % 4 != 0 {
        return Err(CableLabsError::BadLength {
            sub: u16::from(sub),
            len: v.len(),
            expected: "a non-zero multiple of 4",
        });
    }
    Ok(v.chunks_exact(4)
        .filter_map(|c| <[u8; 4]>::try_from(c).ok())
        .map(std::net::Ipv4Addr::from)
        .collect())
}

/// Writes `subs` in code order (stable for equal codes) as `code len value`.
fn encode_sorted(mut subs: Vec<(u8, Vec<u8>)>) -> Result<Vec<u8>, CableLabsError> {
    subs.sort_by_key(|(c, _)| *c);
    let mut out = Vec::with_capacity(subs.iter().map(|(_, v)| 2 + v.len()).sum());
    for (c, v) in &subs {
        crate::suboptions::push_tlv8(&mut out, *c, v)?;
    }
    Ok(out)
}

/// Decodes an even-length string of hex digits (either case).
fn decode_hex(text: &[u8]) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if text.len() % 2 != 0 {
        return None;
    }
    text.chunks_exact(2)
        .map(|p| match p {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
