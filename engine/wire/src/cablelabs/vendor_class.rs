//! Option 60 vendor class strings of CableLabs devices and the TLV-5
//! capability list they may carry (protocol-notes §3.2-§3.4; PKT-SP-EUE-PROV
//! Annex A and §6.6.1 for the `pktc2.0:` prefix and 5.1, 5.26, 5.38).
//!
//! The string is `<family><major>.<minor>` optionally followed by `:` and
//! an ASCII-hex tail `05 LL TT LL VV…` (TLV type 5, total length, then the
//! sub-TLVs). The tail is parsed leniently: anything malformed leaves
//! `capabilities` empty and never fails the packet. The same sub-TLV list
//! travels in binary in option 125 sub-option 5 and DHCPv6 17.35.

use super::{collect_tlv8, decode_hex, CableLabsError};
use crate::suboptions::push_tlv8;

/// The device class an option 60 string names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceFamily {
    /// `docsisM.m` (cable modem).
    Docsis {
        /// Major version.
        major: u8,
        /// Minor version.
        minor: u8,
    },
    /// `pktcM.m` (eMTA / E-UE).
    PacketCable {
        /// Major version.
        major: u8,
        /// Minor version.
        minor: u8,
    },
    /// `eRouterM.m`.
    ERouter {
        /// Major version.
        major: u8,
        /// Minor version.
        minor: u8,
    },
    /// `OpenCable…` (set-top boxes).
    OpenCable,
    /// `CableHome…`.
    CableHome,
    /// Anything else.
    Other,
}

/// Option 60, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorClass {
    /// The whole string (invalid UTF-8 replaced).
    pub raw: String,
    /// The device family and version from the prefix.
    pub family: DeviceFamily,
    /// The hex-encoded capabilities after the colon, when well formed.
    pub capabilities: Option<Capabilities>,
}

impl VendorClass {
    /// Parses an option 60 value; never fails.
    pub fn parse(value: &[u8]) -> VendorClass {
        let raw = String::from_utf8_lossy(value).into_owned();
        let (family, tail) = classify(value);
        VendorClass {
            raw,
            family,
            capabilities: tail.and_then(parse_tail),
        }
    }
}

fn strip_prefix_ci<'v>(v: &'v [u8], prefix: &[u8]) -> Option<&'v [u8]> {
    let head = v.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| v.get(prefix.len()..).unwrap_or(&[]))
}

/// `M.m` at the start of `v`, then the rest.
fn version(v: &[u8]) -> Option<(u8, u8, &[u8])> {
    let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
    let n = digits(v);
    let major: u8 = std::str::from_utf8(v.get(..n)?).ok()?.parse().ok()?;
    let rest = v.get(n..)?.strip_prefix(b".")?;
    let m = digits(rest);
    let minor: u8 = std::str::from_utf8(rest.get(..m)?).ok()?.parse().ok()?;
    Some((major, minor, rest.get(m..)?))
}

fn classify(v: &[u8]) -> (DeviceFamily, Option<&[u8]>) {
    type Make = fn(u8, u8) -> DeviceFamily;
    let versioned: [(&[u8], Make); 3] = [
        (b"docsis", |major, minor| DeviceFamily::Docsis {
            major,
            minor,
        }),
        (b"pktc", |major, minor| DeviceFamily::PacketCable {
            major,
            minor,
        }),
        (b"eRouter", |major, minor| DeviceFamily::ERouter {
            major,
            minor,
        }),
    ];
    for (prefix, make) in versioned {
        let Some(rest) = strip_prefix_ci(v, prefix) else {
            continue;
        };
        return match version(rest) {
            Some((major, minor, [])) => (make(major, minor), None),
            Some((major, minor, [b':', tail @ ..])) => (make(major, minor), Some(tail)),
            _ => (DeviceFamily::Other, None),
        };
    }
    if strip_prefix_ci(v, b"OpenCable").is_some() {
        (DeviceFamily::OpenCable, None)
    } else if strip_prefix_ci(v, b"CableHome").is_some() {
        (DeviceFamily::CableHome, None)
    } else {
        (DeviceFamily::Other, None)
    }
}

/// `05 LL` + sub-TLVs, all in ASCII hex. Octets after the declared length
/// are ignored; a declared length past the end, bad hex or a broken
/// sub-TLV list gives `None`.
fn parse_tail(tail: &[u8]) -> Option<Capabilities> {
    let bytes = decode_hex(tail)?;
    let (&t, rest) = bytes.split_first()?;
    let (&len, rest) = rest.split_first()?;
    if t != 5 {
        return None;
    }
    Capabilities::decode(rest.get(..usize::from(len))?).ok()
}

/// TLV 5 sub-TLVs (modem or MTA capabilities), in wire order. Type codes
/// overlap between families (5.1 is the PacketCable version for an MTA but
/// concatenation support for a CM), so pick getters by [`DeviceFamily`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(pub Vec<(u8, Vec<u8>)>);

impl Capabilities {
    /// PacketCable 5.1: PacketCable version (0 = 1.0, 1 = 1.5, 2 = 2.0).
    pub const PKTC_VERSION: u8 = 1;
    /// DOCSIS 5.2: DOCSIS version; PacketCable 5.2: number of endpoints.
    pub const DOCSIS_VERSION: u8 = 2;
    /// PacketCable 5.4: HTTP download file access method support.
    pub const HTTP_DOWNLOAD: u8 = 4;
    /// PacketCable 5.18: supported provisioning flows.
    pub const SUPPORTED_FLOWS: u8 = 18;
    /// PacketCable 5.26: certificate bootstrapping support.
    pub const CERTIFICATE_BOOTSTRAPPING: u8 = 26;
    /// PacketCable 5.38: dual-stack (IP address provisioning) support.
    pub const DUAL_STACK_SUPPORT: u8 = 38;

    /// Decodes a binary sub-TLV list (option 125.5 or an option 60 tail).
    pub fn decode(buf: &[u8]) -> Result<Capabilities, CableLabsError> {
        Ok(Capabilities(
            collect_tlv8(buf, false)?
                .into_iter()
                .map(|(t, v)| (t, v.to_vec()))
                .collect(),
        ))
    }

    /// Encodes the sub-TLV list in stored order.
    pub fn encode(&self) -> Result<Vec<u8>, CableLabsError> {
        let mut out = Vec::with_capacity(self.0.iter().map(|(_, v)| 2 + v.len()).sum());
        for (t, v) in &self.0 {
            push_tlv8(&mut out, *t, v)?;
        }
        Ok(out)
    }

    /// The option 60 tail: `05`, the length and the sub-TLVs, in lower-case
    /// hex (the device side, used to build test clients).
    pub fn to_vendor_class_tail(&self) -> Result<String, CableLabsError> {
        let body = self.encode()?;
        let mut wrapped = Vec::with_capacity(body.len() + 2);
        push_tlv8(&mut wrapped, 5, &body)?;
        Ok(wrapped.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The first value of sub-TLV `t`.
    pub fn get(&self, t: u8) -> Option<&[u8]> {
        self.0
            .iter()
            .find_map(|(c, v)| (*c == t).then_some(v.as_slice()))
    }

    fn byte(&self, t: u8) -> Option<u8> {
        match self.get(t)? {
            [b] => Some(*b),
            _ => None,
        }
    }

    /// 5.1 of an MTA / E-UE: PacketCable version (2 = PacketCable 2.0).
    pub fn pktc_version(&self) -> Option<u8> {
        self.byte(Self::PKTC_VERSION)
    }

    /// 5.2 of a cable modem: DOCSIS version (0 = 1.0 … 3 = 3.0).
    pub fn docsis_version(&self) -> Option<u8> {
        self.byte(Self::DOCSIS_VERSION)
    }

    /// 5.2 of an MTA / E-UE: number of telephony endpoints.
    pub fn telephony_endpoints(&self) -> Option<u8> {
        self.byte(Self::DOCSIS_VERSION)
    }

    /// 5.4 of an MTA / E-UE: HTTP download support.
    pub fn http_download(&self) -> Option<bool> {
        self.byte(Self::HTTP_DOWNLOAD).map(|b| b != 0)
    }

    /// 5.18 of an MTA / E-UE: supported provisioning flows.
    pub fn supported_flows(&self) -> Option<SupportedFlows> {
        match self.get(Self::SUPPORTED_FLOWS)? {
            [hi, lo] => Some(SupportedFlows(u16::from_be_bytes([*hi, *lo]))),
            _ => None,
        }
    }

    /// 5.26 of an E-UE: certificate bootstrapping support.
    pub fn certificate_bootstrapping(&self) -> Option<bool> {
        self.byte(Self::CERTIFICATE_BOOTSTRAPPING).map(|b| b != 0)
    }

    /// 5.38 of an E-UE: dual-stack support, raw (1 for a dual-stack E-UE).
    pub fn dual_stack_support(&self) -> Option<u8> {
        self.byte(Self::DUAL_STACK_SUPPORT)
    }
}

/// 5.18 bitmask of supported provisioning flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SupportedFlows(pub u16);

impl SupportedFlows {
    /// Secure flow bit.
    pub const SECURE: u16 = 0x0001;
    /// Hybrid flow bit.
    pub const HYBRID: u16 = 0x0002;
    /// Basic flow bit.
    pub const BASIC: u16 = 0x0004;

    /// The raw bitmask.
    pub fn bits(self) -> u16 {
        self.0
    }

    /// Whether the Secure flow is supported.
    pub fn secure(self) -> bool {
        self.0 & Self::SECURE != 0
    }

    /// Whether the Hybrid flow is supported.
    pub fn hybrid(self) -> bool {
        self.0 & Self::HYBRID != 0
    }

    /// Whether the Basic flow is supported.
    pub fn basic(self) -> bool {
        self.0 & Self::BASIC != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cablelabs::hex;
    use proptest::prelude::*;

    /// protocol-notes §3.2 worked example (Broadcom default eMTA table).
    const BRCM_PKTC20: &str = "pktc2.0:05410101020201020301000401000901010b0306090f0c01010d01010f010110010912020007130101140101150101160101170302003f1801001901001a0100260101";

    #[test]
    fn broadcom_pktc20_string_parses_to_its_tlv_list() {
        let vc = VendorClass::parse(BRCM_PKTC20.as_bytes());
        assert_eq!(vc.raw, BRCM_PKTC20);
        assert_eq!(vc.family, DeviceFamily::PacketCable { major: 2, minor: 0 });
        let caps = vc.capabilities.unwrap();
        let types: Vec<u8> = caps.0.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            types,
            vec![1, 2, 3, 4, 9, 11, 12, 13, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 38]
        );
        assert_eq!(caps.pktc_version(), Some(2));
        assert_eq!(caps.telephony_endpoints(), Some(2));
        assert_eq!(caps.http_download(), Some(false));
        assert_eq!(
            caps.get(11),
            Some(&[6u8, 9, 15][..]),
            "codecs PCMU, PCMA, telephone-event"
        );
        assert_eq!(caps.get(23), Some(&[2u8, 0, 0x3f][..]));
        let flows = caps.supported_flows().unwrap();
        assert_eq!(flows.bits(), 7);
        assert!(flows.secure() && flows.hybrid() && flows.basic());
        assert_eq!(caps.certificate_bootstrapping(), Some(false));
        assert_eq!(caps.dual_stack_support(), Some(1));
        // Rebuilding the tail gives back the same string.
        assert_eq!(
            format!("pktc2.0:{}", caps.to_vendor_class_tail().unwrap()),
            BRCM_PKTC20
        );
    }

    #[test]
    fn families_and_versions() {
        for (s, fam) in [
            ("docsis1.0:", DeviceFamily::Docsis { major: 1, minor: 0 }),
            ("docsis1.1:", DeviceFamily::Docsis { major: 1, minor: 1 }),
            ("docsis2.0:", DeviceFamily::Docsis { major: 2, minor: 0 }),
            ("docsis3.0:", DeviceFamily::Docsis { major: 3, minor: 0 }),
            ("docsis3.1:", DeviceFamily::Docsis { major: 3, minor: 1 }),
            ("docsis3.1", DeviceFamily::Docsis { major: 3, minor: 1 }),
            ("DOCSIS3.0:", DeviceFamily::Docsis { major: 3, minor: 0 }),
            ("pktc1.0:", DeviceFamily::PacketCable { major: 1, minor: 0 }),
            ("pktc1.5:", DeviceFamily::PacketCable { major: 1, minor: 5 }),
            ("pktc2.0", DeviceFamily::PacketCable { major: 2, minor: 0 }),
            ("eRouter1.0", DeviceFamily::ERouter { major: 1, minor: 0 }),
            ("OpenCable2.0", DeviceFamily::OpenCable),
            ("CableHome1.1", DeviceFamily::CableHome),
            ("MSFT 5.0", DeviceFamily::Other),
            ("docsis", DeviceFamily::Other),
            ("docsis3", DeviceFamily::Other),
            ("docsis3.0x", DeviceFamily::Other),
            ("docsis300.0:", DeviceFamily::Other),
            ("", DeviceFamily::Other),
        ] {
            let vc = VendorClass::parse(s.as_bytes());
            assert_eq!(vc.family, fam, "{s}");
            assert_eq!(vc.capabilities, None, "{s}");
        }
    }

    #[test]
    fn docsis11_hex_tail() {
        // docsis1.1 with concatenation 1, DOCSIS version 1 (1.1), BPI+ 1.
        let vc = VendorClass::parse(b"docsis1.1:0509010101020101060101");
        let caps = vc.capabilities.unwrap();
        assert_eq!(caps.docsis_version(), Some(1));
        assert_eq!(caps.get(6), Some(&[1u8][..]));
        // Upper-case hex is hex too.
        let up = VendorClass::parse(
            b"docsis1.1:0509010101020101060101"
                .to_ascii_uppercase()
                .as_slice(),
        );
        assert_eq!(up.capabilities, Some(caps));
    }

    #[test]
    fn malformed_tails_are_ignored_not_errors() {
        for s in [
            "pktc2.0:054",          // odd length
            "pktc2.0:05zz0101",     // not hex
            "pktc2.0:0603010102",   // not TLV 5
            "pktc2.0:05080101",     // declared length past the end
            "pktc2.0:0503010502",   // sub-TLV overruns the declared length
            "docsis3.0:0501010601", // peers.md probe string: length 1, body 01
            "pktc2.0:05",
            "pktc2.0:",
        ] {
            let vc = VendorClass::parse(s.as_bytes());
            assert!(
                matches!(
                    vc.family,
                    DeviceFamily::PacketCable { .. } | DeviceFamily::Docsis { .. }
                ),
                "{s}"
            );
            assert_eq!(vc.capabilities, None, "{s}");
        }
        // Octets past the declared length are ignored.
        let vc = VendorClass::parse(b"pktc1.5:0503010101ffff");
        assert_eq!(vc.capabilities.unwrap().pktc_version(), Some(1));
        // Non-UTF-8 input still parses.
        let vc = VendorClass::parse(b"docsis3.0:\xff");
        assert_eq!(vc.family, DeviceFamily::Docsis { major: 3, minor: 0 });
        assert!(vc.raw.starts_with("docsis3.0:"));
    }

    #[test]
    fn binary_capabilities_round_trip_and_errors() {
        let buf = hex("0101 02 1202 0007 2601 01");
        let caps = Capabilities::decode(&buf).unwrap();
        assert_eq!(caps.pktc_version(), Some(2));
        assert_eq!(caps.supported_flows(), Some(SupportedFlows(7)));
        assert_eq!(caps.encode().unwrap(), buf);
        assert!(Capabilities::decode(&hex("1202 00")).is_err());
        // Wrong widths read as absent rather than as a wrong value.
        let odd = Capabilities::decode(&hex("0102 0202 1201 07")).unwrap();
        assert_eq!(odd.pktc_version(), None);
        assert_eq!(odd.supported_flows(), None);
        let huge = Capabilities(vec![(1, vec![0; 200]), (2, vec![0; 100])]);
        assert!(huge.encode().is_ok());
        assert!(huge.to_vendor_class_tail().is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = VendorClass::parse(&buf);
            let _ = Capabilities::decode(&buf);
        }

        #[test]
        fn tail_round_trips(items in proptest::collection::vec((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..6)), 0..20)) {
            let caps = Capabilities(items);
            let tail = caps.to_vendor_class_tail().unwrap();
            let vc = VendorClass::parse(format!("pktc2.0:{tail}").as_bytes());
            prop_assert_eq!(vc.capabilities, Some(caps));
        }
    }
}
