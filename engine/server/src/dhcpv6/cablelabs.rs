//! The CableLabs side of a DHCPv6 request (CL-SP-CANN-DHCP-Reg option
//! 17 enterprise 4491, protocol-notes §2.2; seed 000 sections 6.3.2.2 and
//! 6.4.1): reading the device's option 16 and 17/4491 and the
//! relay-inserted 1026. Replies are written with the wire crate's typed
//! `ClVendorOptionsV6` / `CccV6` (see `process`).
//!
//! Reading stays a lenient pass of its own rather than
//! `ClVendorOptionsV6::decode`: that decoder refuses a message for any
//! malformed sub-option it knows (a duplicate, a 5-octet device id, an
//! odd-length address list), while a server must keep answering a device
//! whose informational options (serial, OUI, …) are odd; only framing
//! errors and the options the server acts on (CL ORO, capabilities,
//! correlation id) drop the message here.

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
                    headend_store::hex(v)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn push(out: &mut Vec<u8>, code: u16, value: &[u8]) {
        out.extend_from_slice(&code.to_be_bytes());
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value);
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

    #[test]
    fn relay_cm_mac_is_read_from_1026() {
        let mut vo = ENTERPRISE.to_be_bytes().to_vec();
        push(&mut vo, cl::CM_MAC, &[0, 0x10, 0x18, 0xaa, 0, 1]);
        let mut buf = Vec::new();
        push(&mut buf, 17, &vo);
        let opts = Options::parse(&buf, 0).unwrap();
        assert_eq!(relay_cm_mac(&opts), Some(vec![0, 0x10, 0x18, 0xaa, 0, 1]));
        assert_eq!(relay_cm_mac(&Options::parse(&[], 0).unwrap()), None);
    }
}
