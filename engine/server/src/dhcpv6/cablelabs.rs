//! The CableLabs side of a DHCPv6 exchange (CL-SP-CANN-DHCP-Reg option
//! 17 enterprise 4491, protocol-notes §2.2; seed 000 sections 6.3.2.2 and
//! 6.4.1): reading the device's vendor options and the relay-inserted
//! 1025/1026, and writing the sub-options a reply carries (TLVs with
//! two-octet code and length, CCC and CCCv6 sub-options likewise).

use std::net::{Ipv4Addr, Ipv6Addr};

use headend_model::v6::ProvisioningServer;
use headend_wire::dhcpv6::Options;

/// The CableLabs enterprise number.
pub const ENTERPRISE: u32 = 4491;

/// CableLabs 17/4491 sub-option codes.
pub mod cl {
    /// CL_OPTION_ORO.
    pub const ORO: u16 = 1;
    /// Device type.
    pub const DEVICE_TYPE: u16 = 2;
    /// Serial number.
    pub const SERIAL: u16 = 4;
    /// Vendor OUI.
    pub const OUI: u16 = 8;
    /// Model number.
    pub const MODEL: u16 = 9;
    /// Vendor name.
    pub const VENDOR_NAME: u16 = 10;
    /// TFTP servers.
    pub const TFTP_SERVERS: u16 = 32;
    /// Configuration file name.
    pub const CONFIG_FILE: u16 = 33;
    /// Syslog servers.
    pub const SYSLOG_SERVERS: u16 = 34;
    /// Modem / eUE capabilities (TLV 5).
    pub const CAPABILITIES: u16 = 35;
    /// Device identifier (MAC).
    pub const DEVICE_ID: u16 = 36;
    /// RFC 868 time servers.
    pub const TIME_SERVERS: u16 = 37;
    /// Time offset.
    pub const TIME_OFFSET: u16 = 38;
    /// CL_OPTION_IP_PREF.
    pub const IP_PREF: u16 = 39;
    /// CMTS capabilities (relay-inserted).
    pub const CMTS_CAP: u16 = 1025;
    /// CM MAC address (relay-inserted).
    pub const CM_MAC: u16 = 1026;
    /// CL_OPTION_CCC: eUE DHCPv4 servers.
    pub const CCC: u16 = 2170;
    /// CL_OPTION_CCCV6.
    pub const CCCV6: u16 = 2171;
    /// CL_OPTION_CORRELATION_ID.
    pub const CORRELATION_ID: u16 = 2172;
}

/// What the device said in option 16 and 17/4491.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientCl {
    /// Vendor-class items of enterprise 4491 (`docsis3.0`, `pktc2.0`), lossy UTF-8.
    pub vendor_class: Vec<String>,
    /// Whether the client sent option 17 with enterprise 4491.
    pub sent_vendor_opts: bool,
    /// CL ORO codes, in order.
    pub oro: Vec<u16>,
    /// 17.2.
    pub device_type: String,
    /// 17.4.
    pub serial: String,
    /// 17.8 (ASCII hex or 3 bytes shown as hex).
    pub oui: String,
    /// 17.9.
    pub model: String,
    /// 17.10.
    pub vendor_name: String,
    /// 17.35 TLVs.
    pub capabilities: Vec<(u8, Vec<u8>)>,
    /// 17.36.
    pub device_id: Option<Vec<u8>>,
    /// 17.39.
    pub ip_pref: Option<u8>,
    /// 17.2172.
    pub correlation_id: Option<u32>,
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// Reads option 16 / 17 of enterprise 4491 from a client message; bad
/// framing inside a vendor option is an error (the packet is dropped).
pub fn read_client(opts: &Options<'_>) -> Result<ClientCl, &'static str> {
    let mut out = ClientCl::default();
    for vc in opts.vendor_classes() {
        let vc = vc.map_err(|_| "bad_vendor_class")?;
        if vc.enterprise == ENTERPRISE {
            out.vendor_class.extend(vc.items().map(text));
        }
    }
    let vo = opts
        .vendor_opts(ENTERPRISE)
        .map_err(|_| "bad_vendor_opts")?;
    let Some(vo) = vo else { return Ok(out) };
    out.sent_vendor_opts = true;
    for (code, v) in vo.options.iter() {
        match code {
            cl::ORO => {
                if v.len() % 2 != 0 {
                    return Err("bad_cl_oro");
                }
                out.oro = v
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
            }
            cl::DEVICE_TYPE => out.device_type = text(v),
            cl::SERIAL => out.serial = text(v),
            cl::OUI => {
                out.oui = if v.len() == 3 {
                    v.iter().map(|b| format!("{b:02x}")).collect()
                } else {
                    text(v).to_ascii_lowercase()
                }
            }
            cl::MODEL => out.model = text(v),
            cl::VENDOR_NAME => out.vendor_name = text(v),
            cl::CAPABILITIES => {
                let mut rest = v;
                while let [t, l, tail @ ..] = rest {
                    let l = usize::from(*l);
                    let Some(val) = tail.get(..l) else {
                        return Err("bad_cl_capabilities");
                    };
                    out.capabilities.push((*t, val.to_vec()));
                    rest = tail.get(l..).unwrap_or(&[]);
                }
                if !rest.is_empty() {
                    return Err("bad_cl_capabilities");
                }
            }
            cl::DEVICE_ID => out.device_id = Some(v.to_vec()),
            cl::IP_PREF => out.ip_pref = v.first().copied(),
            cl::CORRELATION_ID => {
                let b: [u8; 4] = v.try_into().map_err(|_| "bad_cl_correlation_id")?;
                out.correlation_id = Some(u32::from_be_bytes(b));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The CM MAC a relay put in 17/4491/1026 (first relay that has one).
pub fn relay_cm_mac(opts: &Options<'_>) -> Option<Vec<u8>> {
    let vo = opts.vendor_opts(ENTERPRISE).ok()??;
    vo.options.get(cl::CM_MAC).map(<[u8]>::to_vec)
}

/// Appends one `code(2) len(2) value` TLV; values over 65535 bytes are skipped.
pub fn push(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    let Ok(len) = u16::try_from(value.len()) else {
        return;
    };
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
}

/// IPv6 addresses back to back.
pub fn addrs6(v: &[Ipv6Addr]) -> Vec<u8> {
    v.iter().flat_map(|a| a.octets()).collect()
}

/// CL_OPTION_CCC (2170): sub-option 1 primary, 2 secondary eUE DHCPv4 server.
pub fn ccc(servers: &[Ipv4Addr]) -> Vec<u8> {
    let mut out = Vec::new();
    for (code, a) in [1u16, 2].iter().zip(servers) {
        push(&mut out, *code, &a.octets());
    }
    out
}

/// CCCv6 sub-option 3 value: type 0 + FQDN in DNS wire format, or type 1 + IPv6 addresses.
pub fn prov_server(s: &ProvisioningServer) -> Option<Vec<u8>> {
    match s {
        ProvisioningServer::Fqdn(name) => {
            let mut v = vec![0u8];
            v.extend(headend_wire::dns::name_to_wire(name).ok()?);
            Some(v)
        }
        ProvisioningServer::Ipv6(a) if !a.is_empty() => {
            let mut v = vec![1u8];
            v.extend(addrs6(a));
            Some(v)
        }
        _ => None,
    }
}

/// The sub-option 3 value that prohibits provisioning: the seven ASCII
/// octets "0.0.0.0" (seed 000 eUE-3, section 6.3.4).
pub const PROV_SERVER_DISABLED: &[u8] = b"0.0.0.0";

/// CL_OPTION_CCCV6 (2171) sub-options in code order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CccV6 {
    /// Sub-option 1: primary DSS_ID (for an eUE: this server's).
    pub primary: Option<Vec<u8>>,
    /// Sub-option 2: secondary DSS_ID (never to an eUE).
    pub secondary: Option<Vec<u8>>,
    /// Sub-option 3 value.
    pub prov_server: Option<Vec<u8>>,
    /// Sub-option 6: Kerberos realm (DNS wire).
    pub realm: Option<String>,
}

impl CccV6 {
    /// Encodes the sub-options; DSS_IDs are cut to 32 bytes (seed 000 §6.4.1.4).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let cut = |v: &Vec<u8>| v.get(..v.len().min(32)).unwrap_or(&[]).to_vec();
        if let Some(p) = &self.primary {
            push(&mut out, 1, &cut(p));
        }
        if let Some(s) = &self.secondary {
            push(&mut out, 2, &cut(s));
        }
        if let Some(p) = &self.prov_server {
            push(&mut out, 3, p);
        }
        if let Some(r) = &self.realm {
            if let Ok(w) = headend_wire::dns::name_to_wire(r) {
                push(&mut out, 6, &w);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realm_sub_option_matches_protocol_notes_vector() {
        // protocol-notes §2.2 prints `00 06 00 0a 05 42 41 53 49 43 01 31 00`
        // for BASIC.1, but its length field (10) overruns the 9 octets that
        // follow; the consistent encoding of that name has length 9 (the
        // wire crate's CccV6 test reaches the same conclusion).
        let c = CccV6 {
            realm: Some("BASIC.1".into()),
            ..CccV6::default()
        };
        assert_eq!(
            c.encode(),
            vec![0x00, 0x06, 0x00, 0x09, 0x05, 0x42, 0x41, 0x53, 0x49, 0x43, 0x01, 0x31, 0x00]
        );
    }

    #[test]
    fn cccv6_order_dss_cut_and_prov_server_types() {
        let c = CccV6 {
            primary: Some(vec![b'a'; 40]),
            secondary: Some(vec![0xff; 4]),
            prov_server: prov_server(&ProvisioningServer::Ipv6(vec!["2001:db8::1"
                .parse()
                .unwrap()])),
            realm: None,
        };
        let e = c.encode();
        assert_eq!(&e[..4], &[0, 1, 0, 32]);
        assert_eq!(&e[36..44], &[0, 2, 0, 4, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(&e[44..49], &[0, 3, 0, 17, 1]);
        assert_eq!(e.len(), 44 + 4 + 17);
        assert_eq!(
            prov_server(&ProvisioningServer::Fqdn("p.lab".into())).unwrap(),
            vec![0, 1, b'p', 3, b'l', b'a', b'b', 0]
        );
    }

    #[test]
    fn ccc_carries_primary_then_secondary() {
        assert_eq!(
            ccc(&[Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)]),
            vec![0, 1, 0, 4, 10, 0, 0, 1, 0, 2, 0, 4, 10, 0, 0, 2]
        );
    }

    #[test]
    fn client_options_are_read_and_bad_framing_refused() {
        let mut vo = ENTERPRISE.to_be_bytes().to_vec();
        push(&mut vo, cl::ORO, &[0, 32, 0, 33, 0, 34, 0x08, 0x7b]);
        push(&mut vo, cl::DEVICE_TYPE, b"EDVA");
        push(&mut vo, cl::CAPABILITIES, &[1, 1, 2, 38, 1, 1]);
        push(&mut vo, cl::DEVICE_ID, &[0, 0x10, 0x18, 1, 2, 3]);
        push(&mut vo, cl::CORRELATION_ID, &[0, 0, 0, 9]);
        let mut buf = Vec::new();
        push(&mut buf, 17, &vo);
        let opts = Options::parse(&buf, 0).unwrap();
        let c = read_client(&opts).unwrap();
        assert_eq!(c.oro, vec![32, 33, 34, 2171]);
        assert_eq!(c.device_type, "EDVA");
        assert_eq!(c.capabilities, vec![(1, vec![2]), (38, vec![1])]);
        assert_eq!(c.device_id, Some(vec![0, 0x10, 0x18, 1, 2, 3]));
        assert_eq!(c.correlation_id, Some(9));

        let mut bad = ENTERPRISE.to_be_bytes().to_vec();
        push(&mut bad, cl::CAPABILITIES, &[1, 5, 2]);
        let mut buf = Vec::new();
        push(&mut buf, 17, &bad);
        let opts = Options::parse(&buf, 0).unwrap();
        assert_eq!(read_client(&opts), Err("bad_cl_capabilities"));
    }
}
