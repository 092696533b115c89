//! DOCSIS cable-modem and PacketCable MTA/eUE configuration files: TLV
//! encoders with the DOCSIS CM and CMTS MICs (MULPI annex C, protocol-notes
//! section 6), the PacketCable eUE file of PKT-SP-EUE-PROV-I07 section 6.4.2
//! with its SHA-1 configuration hash (protocol-notes section 5), a decoder
//! for both, and a text printer.
//!
//! Hand-written, sans-IO, pure functions: no crate encodes DOCSIS or
//! PacketCable TLV files with their MICs, and plugins build this crate with
//! rustc 1.63 for wasm32, which rules out rasn for the BER part. Only the
//! RustCrypto digests (MD5, HMAC, SHA-1) are borrowed.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// The engine workspace's lints, repeated here because this manifest does not
// inherit them (see Cargo.toml).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod ber;
pub mod decode;
pub mod docsis;
pub mod mib;
pub mod packetcable;
pub mod text;
pub mod tlv;

pub use ber::{BerError, Oid, Value, VarBind};
pub use decode::{decode, Check, DecodeError, File, Node};
pub use docsis::{
    ClassOfService, CmConfig, CmError, Direction, NotificationReceiver, NotificationType, Padding,
    ServiceFlow, SnmpCoexistence, TransportAccess, ViewType,
};
pub use packetcable::{config_hash, HashObject, MtaConfig, MtaError, SipTransport};
pub use text::to_text;
pub use tlv::{FileKind, Tlv, TlvError};

/// Lower-case hex of octets.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Octets from hex (whitespace and `:` ignored); `None` on odd length or a non-hex digit.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b':')
        .collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    let val = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    digits
        .chunks(2)
        .map(|p| match p {
            [h, l] => Some(val(*h)? << 4 | val(*l)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(unhex("00:AB ff"), Some(vec![0x00, 0xab, 0xff]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
