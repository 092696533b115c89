//! DHCPv4 Relay Agent Information, option 82 (RFC 3046 §2.0), and the
//! sub-options the server reads: circuit and remote ID (RFC 3046 §3),
//! DOCSIS device class (RFC 3256), link selection (RFC 3527), subscriber ID
//! (RFC 3993), vendor-specific information (RFC 4243), flags (RFC 5010),
//! server identifier override (RFC 5107), relay agent identifier
//! (RFC 6925) and relay source port (RFC 8357 §5.2).
//!
//! A reader over the (RFC 3396-merged) payload; lookups return the first
//! instance of a sub-option and `None` when the list is malformed before it.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use crate::suboptions::{push_tlv8, Tlv8, TlvError, VendorIdentifying};

/// Option 82 sub-option codes.
pub mod sub {
    /// Agent Circuit ID (RFC 3046).
    pub const CIRCUIT_ID: u8 = 1;
    /// Agent Remote ID (RFC 3046); CMTSes put the cable modem MAC here.
    pub const REMOTE_ID: u8 = 2;
    /// DOCSIS Device Class, a 32-bit field (RFC 3256).
    pub const DOCSIS_DEVICE_CLASS: u8 = 4;
    /// Link Selection, an IPv4 subnet address (RFC 3527).
    pub const LINK_SELECTION: u8 = 5;
    /// Subscriber-ID (RFC 3993).
    pub const SUBSCRIBER_ID: u8 = 6;
    /// RADIUS Attributes (RFC 4014).
    pub const RADIUS_ATTRIBUTES: u8 = 7;
    /// Authentication (RFC 4030).
    pub const AUTHENTICATION: u8 = 8;
    /// Vendor-Specific Information (RFC 4243).
    pub const VENDOR_SPECIFIC: u8 = 9;
    /// Relay agent flags (RFC 5010).
    pub const FLAGS: u8 = 10;
    /// Server Identifier Override (RFC 5107).
    pub const SERVER_ID_OVERRIDE: u8 = 11;
    /// Relay Agent Identifier (RFC 6925).
    pub const RELAY_ID: u8 = 12;
    /// Relay Source Port (RFC 8357).
    pub const RELAY_SOURCE_PORT: u8 = 19;
}

/// Errors of option 82 decoding and encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// The sub-option list is not a valid `code len value` sequence, or a
    /// sub-option is too long to encode.
    #[error("malformed relay agent information: {0}")]
    Tlv(#[from] TlvError),
}

/// The payload of option 82.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayAgentInfo<'a> {
    data: Cow<'a, [u8]>,
}

impl<'a> RelayAgentInfo<'a> {
    /// Wraps an option 82 payload (sub-options, without code and length).
    pub fn new(data: impl Into<Cow<'a, [u8]>>) -> Self {
        RelayAgentInfo { data: data.into() }
    }

    /// The raw payload, as the server echoes it back (RFC 3046 §2.2).
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Detaches from the datagram.
    pub fn into_owned(self) -> RelayAgentInfo<'static> {
        RelayAgentInfo {
            data: Cow::Owned(self.data.into_owned()),
        }
    }

    /// The sub-options in wire order.
    pub fn sub_options(&self) -> Tlv8<'_> {
        Tlv8::new(&self.data)
    }

    /// Checks that the whole payload is a well-formed sub-option list.
    pub fn validate(&self) -> Result<(), RelayError> {
        for item in self.sub_options() {
            item?;
        }
        Ok(())
    }

    /// The first instance of sub-option `code`.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.sub_options()
            .map_while(Result::ok)
            .find_map(|(c, v)| (c == code).then_some(v))
    }

    fn fixed<const N: usize>(&self, code: u8) -> Option<[u8; N]> {
        self.get(code).and_then(|v| <[u8; N]>::try_from(v).ok())
    }

    /// Sub-option 1, Agent Circuit ID.
    pub fn circuit_id(&self) -> Option<&[u8]> {
        self.get(sub::CIRCUIT_ID)
    }

    /// Sub-option 2, Agent Remote ID.
    pub fn remote_id(&self) -> Option<&[u8]> {
        self.get(sub::REMOTE_ID)
    }

    /// Sub-option 4, DOCSIS Device Class, when exactly 4 octets.
    pub fn docsis_device_class(&self) -> Option<u32> {
        self.fixed::<4>(sub::DOCSIS_DEVICE_CLASS)
            .map(u32::from_be_bytes)
    }

    /// Sub-option 5, Link Selection, when exactly 4 octets.
    pub fn link_selection(&self) -> Option<Ipv4Addr> {
        self.fixed::<4>(sub::LINK_SELECTION).map(Ipv4Addr::from)
    }

    /// Sub-option 6, Subscriber-ID.
    pub fn subscriber_id(&self) -> Option<&[u8]> {
        self.get(sub::SUBSCRIBER_ID)
    }

    /// Sub-option 9, Vendor-Specific Information: RFC 4243 uses the RFC 3925
    /// `enterprise(4) data-len(1) data` framing.
    pub fn vendor_specific(&self) -> Option<VendorIdentifying<'_>> {
        self.get(sub::VENDOR_SPECIFIC).map(VendorIdentifying::new)
    }

    /// Sub-option 10, flags octet, when exactly 1 octet.
    pub fn flags(&self) -> Option<u8> {
        self.fixed::<1>(sub::FLAGS).map(|[f]| f)
    }

    /// Whether the relay received the client message by unicast: the U bit,
    /// the most significant bit of the flags octet (RFC 5010 §3).
    pub fn received_unicast(&self) -> Option<bool> {
        self.flags().map(|f| f & 0x80 != 0)
    }

    /// Sub-option 11, Server Identifier Override, when exactly 4 octets.
    pub fn server_id_override(&self) -> Option<Ipv4Addr> {
        self.fixed::<4>(sub::SERVER_ID_OVERRIDE).map(Ipv4Addr::from)
    }

    /// Sub-option 12, Relay Agent Identifier.
    pub fn relay_id(&self) -> Option<&[u8]> {
        self.get(sub::RELAY_ID)
    }

    /// Sub-option 19, Relay Source Port: its presence asks the server to
    /// reply to the relay's UDP source port instead of 67. RFC 8357 §5.2
    /// gives it length 0; Kea's option table types it as a 16-bit value,
    /// so any length counts as present.
    pub fn relay_source_port(&self) -> bool {
        self.get(sub::RELAY_SOURCE_PORT).is_some()
    }

    /// Encodes sub-options, in the given order, into an option 82 payload.
    pub fn encode(subs: &[(u8, &[u8])]) -> Result<Vec<u8>, RelayError> {
        let mut out = Vec::with_capacity(subs.iter().map(|(_, d)| 2 + d.len()).sum());
        for (code, data) in subs {
            push_tlv8(&mut out, *code, data)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suboptions::push_vendor;

    #[test]
    fn docsis_cmts_relay_info_is_read_field_by_field() {
        // circuit-id "cm-1", remote-id = CM MAC 00:11:22:33:44:55, device
        // class 1, link selection 10.1.0.0, subscriber "sub-7", flags U=1,
        // server id override 192.0.2.1, relay id, relay source port (len 0).
        let bytes: Vec<u8> = [
            &b"\x01\x04cm-1"[..],
            b"\x02\x06\x00\x11\x22\x33\x44\x55",
            b"\x04\x04\x00\x00\x00\x01",
            b"\x05\x04\x0a\x01\x00\x00",
            b"\x06\x05sub-7",
            b"\x0a\x01\x80",
            b"\x0b\x04\xc0\x00\x02\x01",
            b"\x0c\x03rid",
            b"\x13\x00",
        ]
        .concat();
        let rai = RelayAgentInfo::new(&bytes[..]);
        rai.validate().unwrap();
        assert_eq!(rai.circuit_id(), Some(&b"cm-1"[..]));
        assert_eq!(
            rai.remote_id(),
            Some(&[0x00, 0x11, 0x22, 0x33, 0x44, 0x55][..])
        );
        assert_eq!(rai.docsis_device_class(), Some(1));
        assert_eq!(rai.link_selection(), Some(Ipv4Addr::new(10, 1, 0, 0)));
        assert_eq!(rai.subscriber_id(), Some(&b"sub-7"[..]));
        assert_eq!(rai.flags(), Some(0x80));
        assert_eq!(rai.received_unicast(), Some(true));
        assert_eq!(rai.server_id_override(), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(rai.relay_id(), Some(&b"rid"[..]));
        assert!(rai.relay_source_port());
        assert!(rai.vendor_specific().is_none());
        assert_eq!(rai.as_bytes(), &bytes[..]);
    }

    #[test]
    fn vendor_specific_carries_cablelabs_cmts_capabilities() {
        // 82.9, enterprise 4491, sub 1 len 4 = tag 1 len 2 DOCSIS 3.1
        // (protocol-notes §4.1).
        let mut v = Vec::new();
        push_vendor(&mut v, 4491, &[1, 4, 1, 2, 3, 1]).unwrap();
        let payload = RelayAgentInfo::encode(&[(sub::VENDOR_SPECIFIC, &v)]).unwrap();
        assert_eq!(payload, [9, 11, 0, 0, 0x11, 0x8b, 6, 1, 4, 1, 2, 3, 1]);
        let rai = RelayAgentInfo::new(payload);
        let items: Vec<_> = rai
            .vendor_specific()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(items, vec![(4491u32, &[1u8, 4, 1, 2, 3, 1][..])]);
    }

    #[test]
    fn wrong_lengths_and_malformed_lists_read_as_absent() {
        let rai = RelayAgentInfo::new(&b"\x05\x03\x0a\x01\x00\x04\x02\x00\x01"[..]);
        assert_eq!(
            rai.link_selection(),
            None,
            "link selection must be 4 octets"
        );
        assert_eq!(rai.docsis_device_class(), None);
        assert!(rai.get(sub::LINK_SELECTION).is_some());
        // A truncated second sub-option hides everything after the first.
        let rai = RelayAgentInfo::new(&b"\x01\x01x\x02\x09ab"[..]);
        assert_eq!(rai.circuit_id(), Some(&b"x"[..]));
        assert_eq!(rai.remote_id(), None);
        assert_eq!(
            rai.validate(),
            Err(RelayError::Tlv(TlvError::Overrun { code: 2, offset: 3 }))
        );
        assert!(!rai.relay_source_port());
    }

    #[test]
    fn first_instance_wins_and_encoder_keeps_order() {
        let payload = RelayAgentInfo::encode(&[(2, b"second"), (1, b"a"), (1, b"b")]).unwrap();
        assert_eq!(payload, b"\x02\x06second\x01\x01a\x01\x01b");
        let rai = RelayAgentInfo::new(payload).into_owned();
        assert_eq!(rai.circuit_id(), Some(&b"a"[..]));
        let codes: Vec<u8> = rai.sub_options().map(|r| r.unwrap().0).collect();
        assert_eq!(codes, vec![2, 1, 1]);
        assert_eq!(
            RelayAgentInfo::encode(&[(1, &[0u8; 256])]),
            Err(RelayError::Tlv(TlvError::TooLong { code: 1, len: 256 }))
        );
    }
}
