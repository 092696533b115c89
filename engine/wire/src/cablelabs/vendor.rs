//! Option 125, enterprise 4491 (CL-SP-CANN-DHCP-Reg; protocol-notes §2.1):
//! CL_V4OPTION_ORO (1), TFTP servers (2), eRouter container (3), MIB
//! environment (4), modem capabilities (5), CL_V4OPTION_CCCV6 (123) and
//! CL_V4OPTION_IP_PREF (124), with the DSS_ID rules of PKT-SP-EUE-PROV
//! §6.3.2.2, §6.4.1.2 and §6.4.1.4 and the IP_PREF values of Tables 4, 5
//! and 8 and §6.7.

use super::{
    collect_tlv8, encode_sorted, exact, ipv4_list, set_once, CableLabsError, Capabilities,
    ENTERPRISE,
};
use crate::suboptions::{push_vendor, VendorIdentifying};
use std::net::Ipv4Addr;

/// Option 125 / enterprise 4491 sub-option codes.
pub mod sub {
    /// CL_V4OPTION_ORO: the sub-options the device requests.
    pub const ORO: u8 = 1;
    /// TFTP server addresses.
    pub const TFTP_SERVERS: u8 = 2;
    /// eRouter container option.
    pub const EROUTER: u8 = 3;
    /// MIB environment indicator.
    pub const MIB_ENV: u8 = 4;
    /// Modem capabilities, binary TLV-5 list.
    pub const MODEM_CAPABILITIES: u8 = 5;
    /// CL_V4OPTION_CCCV6: the eUE's DHCPv6 server DSS_IDs.
    pub const CCCV6: u8 = 123;
    /// CL_V4OPTION_IP_PREF: the eUE addressing mode.
    pub const IP_PREF: u8 = 124;
}

/// DHCPv6 Server Selector ID (PKT-SP-EUE-PROV §6.3.2.2): opaque, at most
/// 32 octets; a longer one is cut to its first 32 (§6.4.1.2, §6.4.1.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DssId {
    // Octets past `len` are always zero so that the derived traits see
    // only the value.
    bytes: [u8; 32],
    len: u8,
}

impl std::fmt::Debug for DssId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DssId(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

impl DssId {
    /// Longest DSS_ID a server may send and a device considers.
    pub const MAX_LEN: usize = 32;
    /// Exactly four zero octets: the eUE must not provision.
    pub const DISABLE: DssId = DssId::four(0x00);
    /// Exactly four all-ones octets: the eUE may accept any server.
    pub const ANY: DssId = DssId::four(0xff);

    const fn four(b: u8) -> DssId {
        let mut bytes = [0u8; 32];
        bytes[0] = b;
        bytes[1] = b;
        bytes[2] = b;
        bytes[3] = b;
        DssId { bytes, len: 4 }
    }

    /// A DSS_ID from its octets, keeping only the first 32.
    pub fn new(value: &[u8]) -> DssId {
        let kept = value.get(..Self::MAX_LEN).unwrap_or(value);
        let mut bytes = [0u8; 32];
        if let Some(dst) = bytes.get_mut(..kept.len()) {
            dst.copy_from_slice(kept);
        }
        DssId {
            bytes,
            len: u8::try_from(kept.len()).unwrap_or(32),
        }
    }

    /// The "must not provision" DSS_ID, `00 00 00 00`.
    pub fn disable() -> DssId {
        Self::DISABLE
    }

    /// The "any server" DSS_ID, `FF FF FF FF`.
    pub fn any() -> DssId {
        Self::ANY
    }

    /// The octets.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Whether this is exactly `00 00 00 00`.
    pub fn is_disable(&self) -> bool {
        *self == Self::DISABLE
    }

    /// Whether this is exactly `FF FF FF FF`.
    pub fn is_any_server(&self) -> bool {
        *self == Self::ANY
    }
}

/// CL_V4OPTION_IP_PREF / CL_OPTION_IP_PREF value, one octet
/// (PKT-SP-EUE-PROV Tables 4, 5 and 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpPref {
    /// b'001: IPv4-only.
    Ipv4Only,
    /// b'010: IPv6-only.
    Ipv6Only,
    /// b'101: dual stack, provisioning over IPv4.
    DualStackIpv4,
    /// b'110: dual stack, provisioning over IPv6.
    DualStackIpv6,
    /// b'111: sent by the device to announce dual-stack capability.
    DualStackCapable,
    /// Any other value.
    Other(u8),
}

impl From<u8> for IpPref {
    fn from(v: u8) -> Self {
        match v {
            0b001 => IpPref::Ipv4Only,
            0b010 => IpPref::Ipv6Only,
            0b101 => IpPref::DualStackIpv4,
            0b110 => IpPref::DualStackIpv6,
            0b111 => IpPref::DualStackCapable,
            other => IpPref::Other(other),
        }
    }
}

impl From<IpPref> for u8 {
    fn from(p: IpPref) -> u8 {
        match p {
            IpPref::Ipv4Only => 0b001,
            IpPref::Ipv6Only => 0b010,
            IpPref::DualStackIpv4 => 0b101,
            IpPref::DualStackIpv6 => 0b110,
            IpPref::DualStackCapable => 0b111,
            IpPref::Other(v) => v,
        }
    }
}

impl IpPref {
    /// Decodes a one-octet value.
    pub fn decode(v: &[u8]) -> Result<IpPref, CableLabsError> {
        exact::<1>(sub::IP_PREF, v, "1").map(|[b]| IpPref::from(b))
    }

    /// Whether the server may send this only to a device that announced
    /// b'111 (PKT-SP-EUE-PROV §6.7): the two dual-stack modes.
    pub fn requires_dual_stack_capability(self) -> bool {
        matches!(self, IpPref::DualStackIpv4 | IpPref::DualStackIpv6)
    }
}

/// CL_V4OPTION_CCCV6 (125 / 4491 / 123): sub-options with one-octet code
/// and length; 1 primary and 2 secondary DSS_ID. The DHCPv6 form
/// (17 / 4491 / 2171, two-octet code and length) is a separate type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CccV6Dhcpv4 {
    /// Sub-option 1: the primary DHCPv6 server's DSS_ID.
    pub primary: Option<DssId>,
    /// Sub-option 2: the secondary DHCPv6 server's DSS_ID.
    pub secondary: Option<DssId>,
    /// Any other sub-option, in wire order.
    pub other: Vec<(u8, Vec<u8>)>,
}

impl CccV6Dhcpv4 {
    /// Sub-option code of the primary DSS_ID.
    pub const PRIMARY_DSS_ID: u8 = 1;
    /// Sub-option code of the secondary DSS_ID.
    pub const SECONDARY_DSS_ID: u8 = 2;

    /// Decodes the sub-option 123 value; DSS_IDs over 32 octets are cut.
    pub fn decode(buf: &[u8]) -> Result<CccV6Dhcpv4, CableLabsError> {
        let mut out = CccV6Dhcpv4::default();
        for (code, v) in collect_tlv8(buf, false)? {
            match code {
                Self::PRIMARY_DSS_ID => set_once(&mut out.primary, code, DssId::new(v))?,
                Self::SECONDARY_DSS_ID => set_once(&mut out.secondary, code, DssId::new(v))?,
                _ => out.other.push((code, v.to_vec())),
            }
        }
        Ok(out)
    }

    /// Encodes the sub-option 123 value, in code order.
    pub fn encode(&self) -> Result<Vec<u8>, CableLabsError> {
        let mut subs = Vec::with_capacity(2 + self.other.len());
        if let Some(d) = &self.primary {
            subs.push((Self::PRIMARY_DSS_ID, d.as_bytes().to_vec()));
        }
        if let Some(d) = &self.secondary {
            subs.push((Self::SECONDARY_DSS_ID, d.as_bytes().to_vec()));
        }
        subs.extend(self.other.iter().cloned());
        encode_sorted(subs)
    }

    /// Whether the primary DSS_ID says the eUE must not provision.
    pub fn provisioning_disabled(&self) -> bool {
        self.primary.is_some_and(|d| d.is_disable())
    }
}

/// The CableLabs (enterprise 4491) data of option 125.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClVendorOptions {
    /// Sub-option 1, requested sub-option codes (empty when absent).
    pub oro: Vec<u8>,
    /// Sub-option 2, TFTP servers (empty when absent).
    pub tftp_servers: Vec<Ipv4Addr>,
    /// Sub-option 3, eRouter container, opaque.
    pub erouter: Option<Vec<u8>>,
    /// Sub-option 4, MIB environment: 1 CableLabs, 2 IETF, 3 EuroCableLabs.
    pub mib_env: Option<u8>,
    /// Sub-option 5, modem capabilities.
    pub modem_capabilities: Option<Capabilities>,
    /// Sub-option 123, CL_V4OPTION_CCCV6.
    pub cccv6: Option<CccV6Dhcpv4>,
    /// Sub-option 124, CL_V4OPTION_IP_PREF.
    pub ip_pref: Option<IpPref>,
    /// Any other sub-option, in wire order.
    pub other: Vec<(u8, Vec<u8>)>,
}

impl ClVendorOptions {
    /// Decodes the enterprise-4491 data (the sub-options).
    pub fn decode(buf: &[u8]) -> Result<ClVendorOptions, CableLabsError> {
        let mut out = ClVendorOptions::default();
        let mut oro_seen = false;
        let mut tftp_seen = false;
        for (code, v) in collect_tlv8(buf, false)? {
            match code {
                sub::ORO => {
                    if std::mem::replace(&mut oro_seen, true) {
                        return Err(CableLabsError::Duplicate(u16::from(code)));
                    }
                    out.oro = v.to_vec();
                }
                sub::TFTP_SERVERS => {
                    if std::mem::replace(&mut tftp_seen, true) {
                        return Err(CableLabsError::Duplicate(u16::from(code)));
                    }
                    out.tftp_servers = ipv4_list(code, v)?;
                }
                sub::EROUTER => set_once(&mut out.erouter, code, v.to_vec())?,
                sub::MIB_ENV => {
                    let [b] = exact::<1>(code, v, "1")?;
                    set_once(&mut out.mib_env, code, b)?
                }
                sub::MODEM_CAPABILITIES => {
                    set_once(&mut out.modem_capabilities, code, Capabilities::decode(v)?)?
                }
                sub::CCCV6 => set_once(&mut out.cccv6, code, CccV6Dhcpv4::decode(v)?)?,
                sub::IP_PREF => set_once(&mut out.ip_pref, code, IpPref::decode(v)?)?,
                _ => out.other.push((code, v.to_vec())),
            }
        }
        Ok(out)
    }

    /// Finds and decodes the enterprise-4491 data in an option 125 payload
    /// (all 4491 instances joined); `Ok(None)` when there is none.
    pub fn from_option125(payload: &[u8]) -> Result<Option<ClVendorOptions>, CableLabsError> {
        match VendorIdentifying::merged(payload, ENTERPRISE)? {
            Some(data) => Ok(Some(ClVendorOptions::decode(&data)?)),
            None => Ok(None),
        }
    }

    /// Encodes the sub-options, in code order.
    pub fn encode(&self) -> Result<Vec<u8>, CableLabsError> {
        let mut subs: Vec<(u8, Vec<u8>)> = Vec::new();
        if !self.oro.is_empty() {
            subs.push((sub::ORO, self.oro.clone()));
        }
        if !self.tftp_servers.is_empty() {
            let v = self.tftp_servers.iter().flat_map(|a| a.octets()).collect();
            subs.push((sub::TFTP_SERVERS, v));
        }
        if let Some(e) = &self.erouter {
            subs.push((sub::EROUTER, e.clone()));
        }
        if let Some(m) = self.mib_env {
            subs.push((sub::MIB_ENV, vec![m]));
        }
        if let Some(c) = &self.modem_capabilities {
            subs.push((sub::MODEM_CAPABILITIES, c.encode()?));
        }
        if let Some(c) = &self.cccv6 {
            subs.push((sub::CCCV6, c.encode()?));
        }
        if let Some(p) = self.ip_pref {
            subs.push((sub::IP_PREF, vec![u8::from(p)]));
        }
        subs.extend(self.other.iter().cloned());
        encode_sorted(subs)
    }

    /// Encodes a complete option 125 payload holding one enterprise-4491
    /// instance; errors when the data exceeds the 255-octet instance.
    pub fn encode_option125(&self) -> Result<Vec<u8>, CableLabsError> {
        let data = self.encode()?;
        let mut out = Vec::with_capacity(5 + data.len());
        push_vendor(&mut out, ENTERPRISE, &data)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cablelabs::hex;
    use crate::suboptions::TlvError;
    use proptest::prelude::*;

    #[test]
    fn dss_id_reserved_values_and_truncation() {
        assert!(DssId::new(&[0, 0, 0, 0]).is_disable());
        assert!(DssId::new(&[0xff; 4]).is_any_server());
        assert_eq!(DssId::disable(), DssId::DISABLE);
        assert_eq!(DssId::any().as_bytes(), &[0xff; 4]);
        // "exactly" four octets: five zeros or three ones are ordinary IDs.
        assert!(!DssId::new(&[0; 5]).is_disable());
        assert!(!DssId::new(&[0xff; 3]).is_any_server());
        assert!(!DssId::new(b"dss-1").is_disable());
        let long: Vec<u8> = (0u8..40).collect();
        let d = DssId::new(&long);
        assert_eq!(d.as_bytes(), &long[..32]);
        assert_eq!(d, DssId::new(&long[..32]));
        assert_eq!(DssId::new(&[]).as_bytes(), &[] as &[u8]);
        assert_eq!(format!("{:?}", DssId::new(&[0xab, 1])), "DssId(ab01)");
    }

    #[test]
    fn ip_pref_values() {
        for (v, p) in [
            (1u8, IpPref::Ipv4Only),
            (2, IpPref::Ipv6Only),
            (5, IpPref::DualStackIpv4),
            (6, IpPref::DualStackIpv6),
            (7, IpPref::DualStackCapable),
            (3, IpPref::Other(3)),
        ] {
            assert_eq!(IpPref::from(v), p);
            assert_eq!(u8::from(p), v);
            assert_eq!(IpPref::decode(&[v]).unwrap(), p);
        }
        assert!(IpPref::DualStackIpv4.requires_dual_stack_capability());
        assert!(IpPref::DualStackIpv6.requires_dual_stack_capability());
        assert!(!IpPref::DualStackCapable.requires_dual_stack_capability());
        assert!(!IpPref::Ipv4Only.requires_dual_stack_capability());
        assert!(!IpPref::Ipv6Only.requires_dual_stack_capability());
        assert!(matches!(
            IpPref::decode(&[1, 1]),
            Err(CableLabsError::BadLength {
                sub: 124,
                len: 2,
                ..
            })
        ));
    }

    #[test]
    fn cccv6_bytes() {
        let c = CccV6Dhcpv4 {
            primary: Some(DssId::new(b"dhcpv6-a")),
            secondary: Some(DssId::ANY),
            other: vec![],
        };
        let enc = c.encode().unwrap();
        assert_eq!(enc, hex("01 08 64 68 63 70 76 36 2d 61 02 04 ff ff ff ff"));
        assert_eq!(CccV6Dhcpv4::decode(&enc).unwrap(), c);
        let off = CccV6Dhcpv4::decode(&hex("01 04 00 00 00 00")).unwrap();
        assert!(off.provisioning_disabled());
        // A 40-octet DSS_ID is accepted and cut to 32 (seed 6.4.1.2).
        let mut long = vec![1u8, 40];
        long.extend(0u8..40);
        let cut = CccV6Dhcpv4::decode(&long).unwrap();
        assert_eq!(cut.primary.unwrap().as_bytes().len(), 32);
        assert_eq!(
            CccV6Dhcpv4::decode(&hex("02 01 aa 02 01 bb")),
            Err(CableLabsError::Duplicate(2))
        );
    }

    #[test]
    fn eue_offer_vendor_options_round_trip() {
        // What an eCM in IPv4 mode gets for a dual-stack eUE (seed Table 5):
        // CCCV6 with a primary DSS_ID and IP_PREF b'101.
        let v = ClVendorOptions {
            tftp_servers: vec![Ipv4Addr::new(10, 0, 0, 5)],
            cccv6: Some(CccV6Dhcpv4 {
                primary: Some(DssId::new(b"srv1")),
                secondary: None,
                other: vec![],
            }),
            ip_pref: Some(IpPref::DualStackIpv4),
            ..ClVendorOptions::default()
        };
        let opt125 = v.encode_option125().unwrap();
        assert_eq!(
            opt125,
            hex("0000118b 11 02040a000005 7b06 0104 73727631 7c0105")
        );
        assert_eq!(ClVendorOptions::from_option125(&opt125).unwrap(), Some(v));
    }

    #[test]
    fn device_request_from_peers_probe() {
        // peers.md scapy probe: 125 = ent 4491, sub-option 1 ORO [2, 3].
        let opt125 = hex("0000118b 04 0102 0203");
        let v = ClVendorOptions::from_option125(&opt125).unwrap().unwrap();
        assert_eq!(v.oro, vec![2, 3]);
        assert_eq!(v.encode().unwrap(), hex("01020203"));
        // eCM announcing dual-stack capability: IP_PREF b'111.
        let cap = ClVendorOptions::decode(&hex("0102 7b7c 7c01 07")).unwrap();
        assert_eq!(cap.oro, vec![123, 124]);
        assert_eq!(cap.ip_pref, Some(IpPref::DualStackCapable));
        // Another enterprise only.
        assert_eq!(
            ClVendorOptions::from_option125(&hex("00000009 02 0102")).unwrap(),
            None
        );
    }

    #[test]
    fn modem_capabilities_and_other_sub_options() {
        let buf = hex("04 01 01 05 06 01 01 01 02 01 03 c8 02 aa bb");
        let v = ClVendorOptions::decode(&buf).unwrap();
        assert_eq!(v.mib_env, Some(1));
        let caps = v.modem_capabilities.as_ref().unwrap();
        assert_eq!(caps.get(1), Some(&[1u8][..]));
        assert_eq!(caps.docsis_version(), Some(3));
        assert_eq!(v.other, vec![(200, vec![0xaa, 0xbb])]);
        assert_eq!(v.encode().unwrap(), buf);
    }

    #[test]
    fn malformed_vendor_data() {
        assert!(matches!(
            ClVendorOptions::decode(&hex("02 03 0a 00 00")),
            Err(CableLabsError::BadLength { sub: 2, .. })
        ));
        assert_eq!(
            ClVendorOptions::decode(&hex("01 01 02 01 01 03")),
            Err(CableLabsError::Duplicate(1))
        );
        assert_eq!(
            ClVendorOptions::decode(&hex("7c 02 05")),
            Err(CableLabsError::Tlv(TlvError::Overrun {
                code: 124,
                offset: 0
            }))
        );
        assert_eq!(
            ClVendorOptions::from_option125(&hex("0000118b 05 0102")),
            Err(CableLabsError::Tlv(TlvError::Overrun {
                code: 4491,
                offset: 0
            }))
        );
        let big = ClVendorOptions {
            erouter: Some(vec![0; 255]),
            ..ClVendorOptions::default()
        };
        assert!(big.encode().is_ok());
        assert!(matches!(
            big.encode_option125(),
            Err(CableLabsError::Tlv(TlvError::TooLong { code: 4491, .. }))
        ));
    }

    proptest! {
        #[test]
        fn decoders_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ClVendorOptions::decode(&buf);
            let _ = ClVendorOptions::from_option125(&buf);
            let _ = CccV6Dhcpv4::decode(&buf);
            let _ = IpPref::decode(&buf);
        }

        #[test]
        fn vendor_round_trip(
            oro in proptest::collection::vec(any::<u8>(), 0..8),
            tftp in proptest::collection::vec(any::<[u8; 4]>(), 0..3),
            mib in proptest::option::of(any::<u8>()),
            pref in proptest::option::of(any::<u8>()),
            p in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..32)),
        ) {
            let v = ClVendorOptions {
                oro,
                tftp_servers: tftp.into_iter().map(Ipv4Addr::from).collect(),
                mib_env: mib,
                ip_pref: pref.map(IpPref::from),
                cccv6: p.map(|p| CccV6Dhcpv4 { primary: Some(DssId::new(&p)), ..CccV6Dhcpv4::default() }),
                ..ClVendorOptions::default()
            };
            prop_assert_eq!(ClVendorOptions::decode(&v.encode().unwrap()).unwrap(), v);
        }
    }
}
