//! DHCPv6 option 17 (OPTION_VENDOR_OPTS), enterprise 4491: the CableLabs
//! vendor options of CL-SP-CANN-DHCP-Reg as summarised in protocol-notes
//! §2.2 and PKT-SP-EUE-PROV Tables 3 and 6 and §6.4.1: device options
//! 1-10, server options 32-39 and 61, relay-inserted 1025/1026,
//! CL_OPTION_CCC (2170), CL_OPTION_CCCV6 (2171) and
//! CL_OPTION_CORRELATION_ID (2172). Every level uses `code(2) len(2)`.
//!
//! CL_OPTION_CCCV6 sub-option 6 (realm) and sub-option 3 type 0 carry DNS
//! wire names without compression, as Wireshark's `dhcpv6_domain` reads
//! them: `BASIC.1` is `00 06 00 09 05 42 41 53 49 43 01 31 00`.
//!
//! "Disabled" (PKT-SP-EUE-PROV Table 6 eUE-2/eUE-3): a server that must stop
//! an eUE answers with CL_OPTION_CCCV6 whose sub-option 1 is its own DSS_ID
//! (so the ADVERTISE passes the eUE's validity test and is counted), whose
//! sub-option 3 is exactly the seven ASCII octets `0.0.0.0` (no type
//! octet: eUE-3 compares "the opaque value of the seven-byte ASCII
//! string"), and whose sub-option 6 is a realm; an eUE that receives only
//! such ADVERTISEs disables itself. See [`CccV6::disabled`]. The reserved
//! DSS_ID `00 00 00 00` is what the eCM is given (§6.3.2.2), not what an
//! ADVERTISE to the eUE carries: an ADVERTISE whose sub-option 1 does not
//! match the eCM-provided DSS_IDs is ignored, which would not disable it.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{
    Backoff, CableLabsError, Capabilities, Ccc, DssId, IpPref, Oui, ProvisioningFlow, ENTERPRISE,
};
use crate::dns::{decode_name, name_to_wire};
use crate::suboptions::{push_tlv16, Tlv16};

/// Option 17 / enterprise 4491 option codes (CL_OPTION_*).
pub mod sub {
    /// CL_OPTION_ORO: requested CableLabs option codes (u16 each).
    pub const ORO: u16 = 1;
    /// CL_OPTION_DEVICE_TYPE (`ECM`, `EDVA`, …).
    pub const DEVICE_TYPE: u16 = 2;
    /// CL_OPTION_EMBEDDED_COMPONENT_LIST.
    pub const EMBEDDED_COMPONENTS: u16 = 3;
    /// CL_OPTION_DEVICE_SERIAL_NUMBER.
    pub const SERIAL_NUMBER: u16 = 4;
    /// CL_OPTION_HARDWARE_VERSION_NUMBER.
    pub const HARDWARE_VERSION: u16 = 5;
    /// CL_OPTION_SOFTWARE_VERSION_NUMBER.
    pub const SOFTWARE_VERSION: u16 = 6;
    /// CL_OPTION_BOOT_ROM_VERSION.
    pub const BOOT_ROM_VERSION: u16 = 7;
    /// CL_OPTION_VENDOR_OUI (3 octets or 6 ASCII hex characters).
    pub const VENDOR_OUI: u16 = 8;
    /// CL_OPTION_MODEL_NUMBER.
    pub const MODEL_NUMBER: u16 = 9;
    /// CL_OPTION_VENDOR_NAME.
    pub const VENDOR_NAME: u16 = 10;
    /// CL_OPTION_TFTP_SERVERS (n × IPv6).
    pub const TFTP_SERVERS: u16 = 32;
    /// CL_OPTION_CONFIG_FILE_NAME.
    pub const CONFIG_FILE_NAME: u16 = 33;
    /// CL_OPTION_SYSLOG_SERVERS (n × IPv6; the eUE uses the first).
    pub const SYSLOG_SERVERS: u16 = 34;
    /// CL_OPTION_MODEM_CAPABILITIES (binary TLV-5 list).
    pub const MODEM_CAPABILITIES: u16 = 35;
    /// CL_OPTION_DEVICE_ID (6-octet MAC).
    pub const DEVICE_ID: u16 = 36;
    /// CL_OPTION_RFC868_SERVERS (n × IPv6).
    pub const TIME_SERVERS: u16 = 37;
    /// CL_OPTION_TIME_OFFSET (signed seconds).
    pub const TIME_OFFSET: u16 = 38;
    /// CL_OPTION_IP_PREF (1 octet).
    pub const IP_PREF: u16 = 39;
    /// CL_OPTION_CCAP_CORES (n × IPv6).
    pub const CCAP_CORES: u16 = 61;
    /// CL_OPTION_DOCS_CMTS_CAP, relay-inserted CMTS capabilities.
    pub const CMTS_CAPABILITIES: u16 = 1025;
    /// CL_CM_MAC_ADDR, relay-inserted cable modem MAC.
    pub const CM_MAC_ADDR: u16 = 1026;
    /// CL_OPTION_CCC: the eUE's DHCPv4 servers.
    pub const CCC: u16 = 2170;
    /// CL_OPTION_CCCV6: the eUE's DHCPv6 servers and provisioning data.
    pub const CCCV6: u16 = 2171;
    /// CL_OPTION_CORRELATION_ID (u32).
    pub const CORRELATION_ID: u16 = 2172;
}

/// CL_OPTION_CCCV6 sub-option codes.
pub mod cccv6_sub {
    /// TSP's primary DHCPv6 server selector ID.
    pub const PRIMARY_DSS_ID: u16 = 1;
    /// TSP's secondary DHCPv6 server selector ID.
    pub const SECONDARY_DSS_ID: u16 = 2;
    /// TSP's provisioning server (type 0 FQDN / type 1 IPv6).
    pub const PROVISIONING_SERVER: u16 = 3;
    /// AS-REQ/AS-REP backoff and retry.
    pub const AS_REQ_BACKOFF: u16 = 4;
    /// AP-REQ/AP-REP backoff and retry.
    pub const AP_REQ_BACKOFF: u16 = 5;
    /// Kerberos realm name.
    pub const REALM: u16 = 6;
    /// TGT flag.
    pub const TGT: u16 = 7;
    /// Provisioning timer, minutes.
    pub const PROVISIONING_TIMER: u16 = 8;
    /// Security ticket control.
    pub const TICKET_CONTROL: u16 = 9;
}

/// The seven ASCII octets that, as the whole of CCCV6 sub-option 3, tell
/// the eUE not to provision (PKT-SP-EUE-PROV Table 6 eUE-3).
pub const DISABLED_SERVER: &[u8; 7] = b"0.0.0.0";

/// CL_OPTION_CCCV6 sub-option 3: where the eUE finds its provisioning server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisioningServerV6 {
    /// Type 0: a DNS name (wire format on the wire).
    Fqdn(String),
    /// Type 1: one or more IPv6 addresses.
    Ipv6(Vec<Ipv6Addr>),
    /// The seven-octet ASCII value `0.0.0.0`: do not provision.
    Disabled,
}

/// CL_OPTION_CCCV6 (17 / 4491 / 2171), decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CccV6 {
    /// Sub-option 1: primary DSS_ID (to an eUE: the responding server's).
    pub primary: Option<DssId>,
    /// Sub-option 2: secondary DSS_ID (never sent to an eUE).
    pub secondary: Option<DssId>,
    /// Sub-option 3: provisioning server.
    pub provisioning_server: Option<ProvisioningServerV6>,
    /// Sub-option 4: AS-REQ/AS-REP backoff and retry.
    pub as_req_backoff: Option<Backoff>,
    /// Sub-option 5: AP-REQ/AP-REP backoff and retry.
    pub ap_req_backoff: Option<Backoff>,
    /// Sub-option 6: Kerberos realm (case preserved, e.g. `BASIC.1`).
    pub realm: Option<String>,
    /// Sub-option 7: TGT flag.
    pub tgt: Option<u8>,
    /// Sub-option 8: provisioning timer in minutes.
    pub provisioning_timer: Option<u8>,
    /// Sub-option 9: ticket control bitmask (as option 122.9).
    pub ticket_control: Option<u16>,
    /// Any other sub-option, in wire order.
    pub other: Vec<(u16, Vec<u8>)>,
}

impl CccV6 {
    /// Decodes the CL_OPTION_CCCV6 value. A DSS_ID over 32 octets is cut
    /// to its first 32 (§6.4.1.4).
    pub fn decode(buf: &[u8]) -> Result<CccV6, CableLabsError> {
        use cccv6_sub as s;
        let mut c = CccV6::default();
        for (code, v) in collect_tlv16(buf)? {
            match code {
                s::PRIMARY_DSS_ID => set_once(&mut c.primary, code, DssId::new(v))?,
                s::SECONDARY_DSS_ID => set_once(&mut c.secondary, code, DssId::new(v))?,
                s::PROVISIONING_SERVER => {
                    set_once(&mut c.provisioning_server, code, prov_server_v6(v)?)?
                }
                s::AS_REQ_BACKOFF => set_once(&mut c.as_req_backoff, code, backoff(code, v)?)?,
                s::AP_REQ_BACKOFF => set_once(&mut c.ap_req_backoff, code, backoff(code, v)?)?,
                s::REALM => set_once(&mut c.realm, code, realm(code, v)?)?,
                s::TGT => set_once(&mut c.tgt, code, byte(code, v)?)?,
                s::PROVISIONING_TIMER => set_once(&mut c.provisioning_timer, code, byte(code, v)?)?,
                s::TICKET_CONTROL => {
                    let b = exact::<2>(code, v, "2")?;
                    set_once(&mut c.ticket_control, code, u16::from_be_bytes(b))?
                }
                _ => c.other.push((code, v.to_vec())),
            }
        }
        Ok(c)
    }

    /// Encodes the value, sub-options in code order.
    pub fn encode(&self) -> Result<Vec<u8>, CableLabsError> {
        use cccv6_sub as s;
        let mut subs: Vec<(u16, Vec<u8>)> = Vec::new();
        if let Some(d) = &self.primary {
            subs.push((s::PRIMARY_DSS_ID, d.as_bytes().to_vec()));
        }
        if let Some(d) = &self.secondary {
            subs.push((s::SECONDARY_DSS_ID, d.as_bytes().to_vec()));
        }
        if let Some(ps) = &self.provisioning_server {
            let v = match ps {
                ProvisioningServerV6::Fqdn(name) => {
                    let mut v = vec![0u8];
                    v.extend(wire_name(s::PROVISIONING_SERVER, name)?);
                    v
                }
                ProvisioningServerV6::Ipv6(addrs) => {
                    if addrs.is_empty() {
                        return Err(CableLabsError::BadLength {
                            sub: s::PROVISIONING_SERVER,
                            len: 1,
                            expected: "at least one IPv6 address",
                        });
                    }
                    let mut v = vec![1u8];
                    v.extend(addrs.iter().flat_map(|a| a.octets()));
                    v
                }
                ProvisioningServerV6::Disabled => DISABLED_SERVER.to_vec(),
            };
            subs.push((s::PROVISIONING_SERVER, v));
        }
        for (code, b) in [
            (s::AS_REQ_BACKOFF, self.as_req_backoff),
            (s::AP_REQ_BACKOFF, self.ap_req_backoff),
        ] {
            if let Some(b) = b {
                subs.push((code, backoff_bytes(&b)));
            }
        }
        if let Some(r) = &self.realm {
            subs.push((s::REALM, wire_name(s::REALM, r)?));
        }
        if let Some(t) = self.tgt {
            subs.push((s::TGT, vec![t]));
        }
        if let Some(t) = self.provisioning_timer {
            subs.push((s::PROVISIONING_TIMER, vec![t]));
        }
        if let Some(t) = self.ticket_control {
            subs.push((s::TICKET_CONTROL, t.to_be_bytes().to_vec()));
        }
        subs.extend(self.other.iter().cloned());
        encode_sorted16(subs)
    }

    /// What an eUE ADVERTISE/REPLY carries (Table 6 eUE-2, §6.4.1.4): the
    /// responding server's DSS_ID in sub-option 1 (never sub-option 2),
    /// sub-option 3 and the realm in sub-option 6.
    pub fn for_eue(server: DssId, provisioning_server: ProvisioningServerV6, realm: &str) -> CccV6 {
        CccV6 {
            primary: Some(server),
            provisioning_server: Some(provisioning_server),
            realm: Some(realm.to_string()),
            ..CccV6::default()
        }
    }

    /// The CCCv6 of a server configured to disable the eUE (eUE-2): its
    /// own DSS_ID, sub-option 3 = `0.0.0.0`, and a realm (module docs).
    pub fn disabled(server: DssId, realm: &str) -> CccV6 {
        CccV6::for_eue(server, ProvisioningServerV6::Disabled, realm)
    }

    /// Whether this tells the device not to provision: primary DSS_ID
    /// `00 00 00 00` (§6.3.2.2), or sub-option 3 `0.0.0.0` (eUE-3), also
    /// when a sender wrote it as the DNS name `0.0.0.0`.
    pub fn provisioning_disabled(&self) -> bool {
        self.primary.is_some_and(|d| d.is_disable())
            || match &self.provisioning_server {
                Some(ProvisioningServerV6::Disabled) => true,
                Some(ProvisioningServerV6::Fqdn(n)) => n == "0.0.0.0",
                _ => false,
            }
    }

    /// Whether the primary DSS_ID is `FF FF FF FF` (accept any server).
    pub fn accepts_any_server(&self) -> bool {
        self.primary.is_some_and(|d| d.is_any_server())
    }

    /// The provisioning flow the realm selects (eUE-3 ranking).
    pub fn flow(&self) -> Option<ProvisioningFlow> {
        Some(match self.realm.as_deref()? {
            "BASIC.1" => ProvisioningFlow::Basic(1),
            "BASIC.2" => ProvisioningFlow::Basic(2),
            "HYBRID.1" => ProvisioningFlow::Hybrid(1),
            "HYBRID.2" => ProvisioningFlow::Hybrid(2),
            _ => ProvisioningFlow::Secure,
        })
    }

    /// Whether an eUE would count this as valid (Table 6 eUE-3): sub-options
    /// 1, 3 and 6 present.
    pub fn valid_for_eue(&self) -> bool {
        self.primary.is_some() && self.provisioning_server.is_some() && self.realm.is_some()
    }
}

impl Ccc {
    /// Decodes CL_OPTION_CCC (17 / 4491 / 2170): the option 122
    /// sub-options with two-octet code and length (protocol-notes §2.2),
    /// the same value encodings (IPv4 DHCP servers, provisioning server
    /// type 0 FQDN / 1 IPv4, backoffs, realm, …).
    pub fn decode_v6(buf: &[u8]) -> Result<Ccc, CableLabsError> {
        // Re-frame as option 122 and reuse its decoder, which checks every
        // value; codes over 255 cannot be option 122 sub-options.
        let mut v4 = Vec::with_capacity(buf.len());
        let mut high = Vec::new();
        for (code, v) in collect_tlv16(buf)? {
            match (u8::try_from(code), u8::try_from(v.len())) {
                (Ok(c), Ok(_)) => crate::suboptions::push_tlv8(&mut v4, c, v)?,
                (Ok(_), Err(_)) => {
                    return Err(CableLabsError::BadLength {
                        sub: code,
                        len: v.len(),
                        expected: "at most 255",
                    })
                }
                (Err(_), _) => high.push((code, v.to_vec())),
            }
        }
        let ccc = Ccc::decode(&v4)?;
        if !high.is_empty() {
            // Codes over 255 have no option 122 meaning and no slot in
            // `Ccc`; refusing them keeps encode_v6 faithful.
            return Err(CableLabsError::BadLength {
                sub: high.first().map(|(c, _)| *c).unwrap_or(0),
                len: high.first().map(|(_, v)| v.len()).unwrap_or(0),
                expected: "a sub-option code of at most 255",
            });
        }
        Ok(ccc)
    }

    /// Encodes CL_OPTION_CCC, sub-options in code order.
    pub fn encode_v6(&self) -> Result<Vec<u8>, CableLabsError> {
        let v4 = self.encode()?;
        let mut out = Vec::with_capacity(v4.len() * 2);
        for (code, v) in super::collect_tlv8(&v4, false)? {
            push_tlv16(&mut out, u16::from(code), v)?;
        }
        Ok(out)
    }

    /// A CL_OPTION_CCC naming the eUE's primary and optional secondary
    /// DHCPv4 servers (§6.3.2.2; 0.0.0.0 disables, 255.255.255.255 = any).
    pub fn dhcpv4_servers(primary: Ipv4Addr, secondary: Option<Ipv4Addr>) -> Ccc {
        Ccc {
            primary_dhcp: Some(primary),
            secondary_dhcp: secondary,
            ..Ccc::default()
        }
    }
}

/// CL_OPTION_DOCS_CMTS_CAP (1025), relay-inserted: `type(1) len(1) value`
/// TLVs; type 1 is the CMTS DOCSIS version, major then minor octet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CmtsCapabilities(pub Vec<(u8, Vec<u8>)>);

impl CmtsCapabilities {
    /// TLV type of the DOCSIS version.
    pub const DOCSIS_VERSION: u8 = 1;

    /// Decodes the TLV list.
    pub fn decode(buf: &[u8]) -> Result<CmtsCapabilities, CableLabsError> {
        Ok(CmtsCapabilities(
            super::collect_tlv8(buf, false)?
                .into_iter()
                .map(|(t, v)| (t, v.to_vec()))
                .collect(),
        ))
    }

    /// Encodes the TLV list in stored order.
    pub fn encode(&self) -> Result<Vec<u8>, CableLabsError> {
        let mut out = Vec::new();
        for (t, v) in &self.0 {
            crate::suboptions::push_tlv8(&mut out, *t, v)?;
        }
        Ok(out)
    }

    /// The CMTS DOCSIS version `(major, minor)`, when type 1 is 2 octets.
    pub fn docsis_version(&self) -> Option<(u8, u8)> {
        self.0.iter().find_map(|(t, v)| match (t, v.as_slice()) {
            (&Self::DOCSIS_VERSION, [major, minor]) => Some((*major, *minor)),
            _ => None,
        })
    }
}

/// The CableLabs (enterprise 4491) options of a DHCPv6 option 17.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClVendorOptionsV6 {
    /// 1, CL_OPTION_ORO: requested codes (empty when absent).
    pub oro: Vec<u16>,
    /// 2, device type.
    pub device_type: Option<String>,
    /// 3, embedded components list.
    pub embedded_components: Option<String>,
    /// 4, serial number.
    pub serial_number: Option<String>,
    /// 5, hardware version.
    pub hardware_version: Option<String>,
    /// 6, software version.
    pub software_version: Option<String>,
    /// 7, boot ROM version.
    pub boot_rom_version: Option<String>,
    /// 8, vendor OUI (either form, kept for re-encoding).
    pub vendor_oui: Option<Oui>,
    /// 9, model number.
    pub model_number: Option<String>,
    /// 10, vendor name.
    pub vendor_name: Option<String>,
    /// 32, TFTP servers (empty when absent).
    pub tftp_servers: Vec<Ipv6Addr>,
    /// 33, configuration file name.
    pub config_file_name: Option<String>,
    /// 34, syslog servers (empty when absent); the eUE uses the first.
    pub syslog_servers: Vec<Ipv6Addr>,
    /// 35, modem / eUE capabilities (TLV-5 list).
    pub capabilities: Option<Capabilities>,
    /// 36, device identifier (the eUE's MAC).
    pub device_id: Option<[u8; 6]>,
    /// 37, RFC 868 time servers (empty when absent).
    pub time_servers: Vec<Ipv6Addr>,
    /// 38, time offset in seconds.
    pub time_offset: Option<i32>,
    /// 39, CL_OPTION_IP_PREF.
    pub ip_pref: Option<IpPref>,
    /// 61, CCAP cores (empty when absent).
    pub ccap_cores: Vec<Ipv6Addr>,
    /// 1025, CMTS capabilities (relay-inserted).
    pub cmts_capabilities: Option<CmtsCapabilities>,
    /// 1026, the cable modem's MAC (relay-inserted).
    pub cm_mac: Option<[u8; 6]>,
    /// 2170, CL_OPTION_CCC.
    pub ccc: Option<Ccc>,
    /// 2171, CL_OPTION_CCCV6.
    pub cccv6: Option<CccV6>,
    /// 2172, CL_OPTION_CORRELATION_ID.
    pub correlation_id: Option<u32>,
    /// Any other option, in wire order.
    pub other: Vec<(u16, Vec<u8>)>,
}

impl ClVendorOptionsV6 {
    /// Decodes the options after the enterprise number.
    pub fn decode(buf: &[u8]) -> Result<ClVendorOptionsV6, CableLabsError> {
        let mut o = ClVendorOptionsV6::default();
        let mut seen_lists = [false; 6];
        for (code, v) in collect_tlv16(buf)? {
            let text = || String::from_utf8_lossy(v).into_owned();
            let mut list_once = |slot: usize| {
                if seen_lists.get(slot).copied().unwrap_or(false) {
                    return Err(CableLabsError::Duplicate(code));
                }
                if let Some(s) = seen_lists.get_mut(slot) {
                    *s = true;
                }
                Ok(())
            };
            match code {
                sub::ORO => {
                    list_once(0)?;
                    if v.len() % 2 != 0 {
                        return Err(bad_len(code, v, "even"));
                    }
                    o.oro = v
                        .chunks_exact(2)
                        .filter_map(|c| <[u8; 2]>::try_from(c).ok())
                        .map(u16::from_be_bytes)
                        .collect();
                }
                sub::DEVICE_TYPE => set_once(&mut o.device_type, code, text())?,
                sub::EMBEDDED_COMPONENTS => set_once(&mut o.embedded_components, code, text())?,
                sub::SERIAL_NUMBER => set_once(&mut o.serial_number, code, text())?,
                sub::HARDWARE_VERSION => set_once(&mut o.hardware_version, code, text())?,
                sub::SOFTWARE_VERSION => set_once(&mut o.software_version, code, text())?,
                sub::BOOT_ROM_VERSION => set_once(&mut o.boot_rom_version, code, text())?,
                sub::VENDOR_OUI => set_once(&mut o.vendor_oui, code, Oui::decode(v)?)?,
                sub::MODEL_NUMBER => set_once(&mut o.model_number, code, text())?,
                sub::VENDOR_NAME => set_once(&mut o.vendor_name, code, text())?,
                sub::TFTP_SERVERS => {
                    list_once(1)?;
                    o.tftp_servers = ipv6_list(code, v)?;
                }
                sub::CONFIG_FILE_NAME => set_once(&mut o.config_file_name, code, text())?,
                sub::SYSLOG_SERVERS => {
                    list_once(2)?;
                    o.syslog_servers = ipv6_list(code, v)?;
                }
                sub::MODEM_CAPABILITIES => {
                    set_once(&mut o.capabilities, code, Capabilities::decode(v)?)?
                }
                sub::DEVICE_ID => set_once(&mut o.device_id, code, exact::<6>(code, v, "6")?)?,
                sub::TIME_SERVERS => {
                    list_once(3)?;
                    o.time_servers = ipv6_list(code, v)?;
                }
                sub::TIME_OFFSET => {
                    let b = exact::<4>(code, v, "4")?;
                    set_once(&mut o.time_offset, code, i32::from_be_bytes(b))?
                }
                sub::IP_PREF => set_once(&mut o.ip_pref, code, IpPref::from(byte(code, v)?))?,
                sub::CCAP_CORES => {
                    list_once(4)?;
                    o.ccap_cores = ipv6_list(code, v)?;
                }
                sub::CMTS_CAPABILITIES => {
                    set_once(&mut o.cmts_capabilities, code, CmtsCapabilities::decode(v)?)?
                }
                sub::CM_MAC_ADDR => set_once(&mut o.cm_mac, code, exact::<6>(code, v, "6")?)?,
                sub::CCC => set_once(&mut o.ccc, code, Ccc::decode_v6(v)?)?,
                sub::CCCV6 => set_once(&mut o.cccv6, code, CccV6::decode(v)?)?,
                sub::CORRELATION_ID => {
                    let b = exact::<4>(code, v, "4")?;
                    set_once(&mut o.correlation_id, code, u32::from_be_bytes(b))?
                }
                _ => o.other.push((code, v.to_vec())),
            }
        }
        Ok(o)
    }

    /// Decodes an option 17 value when its enterprise is 4491; `Ok(None)`
    /// for another enterprise.
    pub fn from_option17(value: &[u8]) -> Result<Option<ClVendorOptionsV6>, CableLabsError> {
        let Some((ent, rest)) = value.split_first_chunk::<4>() else {
            return Err(CableLabsError::BadLength {
                sub: crate::dhcpv6::code::VENDOR_OPTS,
                len: value.len(),
                expected: "at least 4",
            });
        };
        if u32::from_be_bytes(*ent) != ENTERPRISE {
            return Ok(None);
        }
        ClVendorOptionsV6::decode(rest).map(Some)
    }

    /// Encodes the options in code order (without the enterprise number).
    pub fn encode(&self) -> Result<Vec<u8>, CableLabsError> {
        let mut subs: Vec<(u16, Vec<u8>)> = Vec::new();
        if !self.oro.is_empty() {
            subs.push((
                sub::ORO,
                self.oro.iter().flat_map(|c| c.to_be_bytes()).collect(),
            ));
        }
        for (code, s) in [
            (sub::DEVICE_TYPE, &self.device_type),
            (sub::EMBEDDED_COMPONENTS, &self.embedded_components),
            (sub::SERIAL_NUMBER, &self.serial_number),
            (sub::HARDWARE_VERSION, &self.hardware_version),
            (sub::SOFTWARE_VERSION, &self.software_version),
            (sub::BOOT_ROM_VERSION, &self.boot_rom_version),
            (sub::MODEL_NUMBER, &self.model_number),
            (sub::VENDOR_NAME, &self.vendor_name),
            (sub::CONFIG_FILE_NAME, &self.config_file_name),
        ] {
            if let Some(s) = s {
                subs.push((code, s.as_bytes().to_vec()));
            }
        }
        if let Some(oui) = &self.vendor_oui {
            subs.push((sub::VENDOR_OUI, oui.encode()));
        }
        for (code, list) in [
            (sub::TFTP_SERVERS, &self.tftp_servers),
            (sub::SYSLOG_SERVERS, &self.syslog_servers),
            (sub::TIME_SERVERS, &self.time_servers),
            (sub::CCAP_CORES, &self.ccap_cores),
        ] {
            if !list.is_empty() {
                subs.push((code, list.iter().flat_map(|a| a.octets()).collect()));
            }
        }
        if let Some(c) = &self.capabilities {
            subs.push((sub::MODEM_CAPABILITIES, c.encode()?));
        }
        if let Some(m) = self.device_id {
            subs.push((sub::DEVICE_ID, m.to_vec()));
        }
        if let Some(t) = self.time_offset {
            subs.push((sub::TIME_OFFSET, t.to_be_bytes().to_vec()));
        }
        if let Some(p) = self.ip_pref {
            subs.push((sub::IP_PREF, vec![u8::from(p)]));
        }
        if let Some(c) = &self.cmts_capabilities {
            subs.push((sub::CMTS_CAPABILITIES, c.encode()?));
        }
        if let Some(m) = self.cm_mac {
            subs.push((sub::CM_MAC_ADDR, m.to_vec()));
        }
        if let Some(c) = &self.ccc {
            subs.push((sub::CCC, c.encode_v6()?));
        }
        if let Some(c) = &self.cccv6 {
            subs.push((sub::CCCV6, c.encode()?));
        }
        if let Some(c) = self.correlation_id {
            subs.push((sub::CORRELATION_ID, c.to_be_bytes().to_vec()));
        }
        subs.extend(self.other.iter().cloned());
        encode_sorted16(subs)
    }

    /// Encodes a whole option 17 value: enterprise 4491 then the options.
    pub fn encode_option17(&self) -> Result<Vec<u8>, CableLabsError> {
        let mut out = ENTERPRISE.to_be_bytes().to_vec();
        out.extend(self.encode()?);
        Ok(out)
    }

    /// Whether CL_OPTION_ORO asks for `code`.
    pub fn requests(&self, code: u16) -> bool {
        self.oro.contains(&code)
    }
}

fn collect_tlv16(buf: &[u8]) -> Result<Vec<(u16, &[u8])>, CableLabsError> {
    Tlv16::new(buf)
        .map(|r| r.map_err(CableLabsError::from))
        .collect()
}

fn encode_sorted16(mut subs: Vec<(u16, Vec<u8>)>) -> Result<Vec<u8>, CableLabsError> {
    subs.sort_by_key(|(c, _)| *c);
    let mut out = Vec::with_capacity(subs.iter().map(|(_, v)| 4 + v.len()).sum());
    for (c, v) in &subs {
        push_tlv16(&mut out, *c, v)?;
    }
    Ok(out)
}

fn set_once<T>(slot: &mut Option<T>, sub: u16, value: T) -> Result<(), CableLabsError> {
    if slot.is_some() {
        return Err(CableLabsError::Duplicate(sub));
    }
    *slot = Some(value);
    Ok(())
}

fn bad_len(sub: u16, v: &[u8], expected: &'static str) -> CableLabsError {
    CableLabsError::BadLength {
        sub,
        len: v.len(),
        expected,
    }
}

fn exact<const N: usize>(
    sub: u16,
    v: &[u8],
    expected: &'static str,
) -> Result<[u8; N], CableLabsError> {
    <[u8; N]>::try_from(v).map_err(|_| bad_len(sub, v, expected))
}

fn byte(sub: u16, v: &[u8]) -> Result<u8, CableLabsError> {
    exact::<1>(sub, v, "1").map(|[b]| b)
}

fn ipv6_list(sub: u16, v: &[u8]) -> Result<Vec<Ipv6Addr>, CableLabsError> {
    if v.is_empty() || v.len() % 16 != 0 {
        return Err(bad_len(sub, v, "a non-zero multiple of 16"));
    }
    Ok(v.chunks_exact(16)
        .filter_map(|c| <[u8; 16]>::try_from(c).ok())
        .map(Ipv6Addr::from)
        .collect())
}

fn backoff(sub: u16, v: &[u8]) -> Result<Backoff, CableLabsError> {
    let b = exact::<12>(sub, v, "12")?;
    let (a, rest) = b.split_at(4);
    let (m, r) = rest.split_at(4);
    let w = |s: &[u8]| <[u8; 4]>::try_from(s).map(u32::from_be_bytes).unwrap_or(0);
    Ok(Backoff {
        nominal_timeout: w(a),
        max_timeout: w(m),
        max_retries: w(r),
    })
}

fn backoff_bytes(b: &Backoff) -> Vec<u8> {
    [b.nominal_timeout, b.max_timeout, b.max_retries]
        .iter()
        .flat_map(|x| x.to_be_bytes())
        .collect()
}

/// Exactly one DNS name filling `v`.
fn whole_name(sub: u16, v: &[u8]) -> Result<String, CableLabsError> {
    let (name, used) = decode_name(v).map_err(|err| CableLabsError::Name { sub, err })?;
    if used != v.len() {
        return Err(bad_len(sub, v, "exactly one DNS name"));
    }
    Ok(name)
}

/// Sub-option 6. Besides the plain DNS name, the form with a leading zero
/// octet that the Xyna encoder writes (`00 05 BASIC 01 1 00`, protocol-notes
/// source XYNA) is accepted; it is re-encoded in the plain form.
fn realm(sub: u16, v: &[u8]) -> Result<String, CableLabsError> {
    match whole_name(sub, v) {
        Ok(name) => Ok(name),
        Err(e) => match v.split_first() {
            Some((0, rest)) if !rest.is_empty() => whole_name(sub, rest).map_err(|_| e),
            _ => Err(e),
        },
    }
}

fn wire_name(sub: u16, name: &str) -> Result<Vec<u8>, CableLabsError> {
    name_to_wire(name).map_err(|err| CableLabsError::Name { sub, err })
}

fn prov_server_v6(v: &[u8]) -> Result<ProvisioningServerV6, CableLabsError> {
    let code = cccv6_sub::PROVISIONING_SERVER;
    if v == DISABLED_SERVER {
        return Ok(ProvisioningServerV6::Disabled);
    }
    match v.split_first() {
        Some((0, name)) => Ok(ProvisioningServerV6::Fqdn(whole_name(code, name)?)),
        Some((1, addrs)) => Ok(ProvisioningServerV6::Ipv6(ipv6_list(code, addrs)?)),
        Some((t, _)) => Err(CableLabsError::BadServerType(*t)),
        None => Err(bad_len(code, v, "at least 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cablelabs::hex;
    use crate::suboptions::TlvError;
    use proptest::prelude::*;

    #[test]
    fn realm_basic_1_round_trips_byte_for_byte() {
        // DNS wire form, as Wireshark's dhcpv6_domain reads sub-option 6.
        let buf = hex("00 06 00 09 05 42 41 53 49 43 01 31 00");
        let c = CccV6::decode(&buf).unwrap();
        assert_eq!(c.realm.as_deref(), Some("BASIC.1"));
        assert_eq!(c.flow(), Some(ProvisioningFlow::Basic(1)));
        assert_eq!(c.encode().unwrap(), buf);
        // HYBRID.2 (protocol-notes §1 value, suboptions.rs Tlv16 vector).
        let buf = hex("00 06 00 0a 06 48 59 42 52 49 44 01 32 00");
        let c = CccV6::decode(&buf).unwrap();
        assert_eq!(c.flow(), Some(ProvisioningFlow::Hybrid(2)));
        assert_eq!(c.encode().unwrap(), buf);
    }

    #[test]
    fn realm_vector_of_the_notes_and_the_xyna_form() {
        // protocol-notes §2.2 prints `00 06 00 0a` followed by only 9
        // octets: as a whole value it overruns, so it is an error.
        assert_eq!(
            CccV6::decode(&hex("00 06 00 0a 05 42 41 53 49 43 01 31 00")),
            Err(CableLabsError::Tlv(TlvError::Overrun {
                code: 6,
                offset: 0
            }))
        );
        // The Xyna encoder's bytes (the notes' source): a zero octet, then
        // the name; read as BASIC.1, written back in the plain form.
        let xyna = hex("00 06 00 0a 00 05 42 41 53 49 43 01 31 00");
        let c = CccV6::decode(&xyna).unwrap();
        assert_eq!(c.realm.as_deref(), Some("BASIC.1"));
        assert_eq!(
            c.encode().unwrap(),
            hex("00 06 00 09 05 42 41 53 49 43 01 31 00")
        );
        assert!(matches!(
            CccV6::decode(&hex("00 06 00 03 05 42 41")),
            Err(CableLabsError::Name { sub: 6, .. })
        ));
    }

    #[test]
    fn dss_id_sub_options_and_reserved_values() {
        let buf = hex("0001 0004 64737331 0002 0004 64737332");
        let c = CccV6::decode(&buf).unwrap();
        assert_eq!(c.primary, Some(DssId::new(b"dss1")));
        assert_eq!(c.secondary, Some(DssId::new(b"dss2")));
        assert!(!c.provisioning_disabled() && !c.accepts_any_server());
        assert_eq!(c.encode().unwrap(), buf);
        let off = CccV6::decode(&hex("0001 0004 00000000")).unwrap();
        assert!(off.provisioning_disabled());
        let any = CccV6::decode(&hex("0001 0004 ffffffff")).unwrap();
        assert!(any.accepts_any_server() && !any.provisioning_disabled());
        // Over 32 octets: only the first 32 count (§6.4.1.4).
        let mut long = hex("0001 0028");
        long.extend(0u8..40);
        let c = CccV6::decode(&long).unwrap();
        assert_eq!(
            c.primary.unwrap().as_bytes(),
            &(0u8..32).collect::<Vec<_>>()[..]
        );
        assert_eq!(&c.encode().unwrap()[..4], &hex("0001 0020")[..]);
    }

    #[test]
    fn provisioning_server_forms() {
        let fqdn = hex("0003 0013 00 04 70726f76 07 6578616d706c65 03 636f6d 00");
        let c = CccV6::decode(&fqdn).unwrap();
        assert_eq!(
            c.provisioning_server,
            Some(ProvisioningServerV6::Fqdn("prov.example.com".into()))
        );
        assert_eq!(c.encode().unwrap(), fqdn);

        let v6 =
            hex("0003 0021 01 20010db8000000000000000000000005 20010db8000000000000000000000006");
        let c = CccV6::decode(&v6).unwrap();
        assert_eq!(
            c.provisioning_server,
            Some(ProvisioningServerV6::Ipv6(vec![
                "2001:db8::5".parse().unwrap(),
                "2001:db8::6".parse().unwrap()
            ]))
        );
        assert_eq!(c.encode().unwrap(), v6);

        let off = hex("0003 0007 302e302e302e30");
        let c = CccV6::decode(&off).unwrap();
        assert_eq!(c.provisioning_server, Some(ProvisioningServerV6::Disabled));
        assert!(c.provisioning_disabled());
        assert_eq!(c.encode().unwrap(), off);
        // The same text sent as a DNS name is recognised as well.
        let as_name = CccV6::decode(&hex("0003 000a 00 0130 0130 0130 0130 00")).unwrap();
        assert!(as_name.provisioning_disabled());

        assert_eq!(
            CccV6::decode(&hex("0003 0002 02 00")),
            Err(CableLabsError::BadServerType(2))
        );
        assert!(matches!(
            CccV6::decode(&hex("0003 0005 01 20010db8")),
            Err(CableLabsError::BadLength { sub: 3, .. })
        ));
        assert!(matches!(
            CccV6::decode(&hex("0003 0000")),
            Err(CableLabsError::BadLength { sub: 3, .. })
        ));
        assert!(CccV6 {
            provisioning_server: Some(ProvisioningServerV6::Ipv6(vec![])),
            ..CccV6::default()
        }
        .encode()
        .is_err());
    }

    #[test]
    fn kerberos_sub_options() {
        let buf = hex("0004 000c 00002710 0000001e 00000005
             0005 000c 0000001e 00000258 00000008
             0007 0001 01 0008 0001 0a 0009 0002 0001");
        let c = CccV6::decode(&buf).unwrap();
        assert_eq!(
            c.as_req_backoff,
            Some(Backoff {
                nominal_timeout: 10_000,
                max_timeout: 30,
                max_retries: 5
            })
        );
        assert_eq!(
            c.ap_req_backoff,
            Some(Backoff {
                nominal_timeout: 30,
                max_timeout: 600,
                max_retries: 8
            })
        );
        assert_eq!(
            (c.tgt, c.provisioning_timer, c.ticket_control),
            (Some(1), Some(10), Some(1))
        );
        assert_eq!(c.encode().unwrap(), buf);
        for bad in [
            "0004 000b 00002710 0000001e 000000",
            "0007 0002 0101",
            "0008 0000",
            "0009 0001 01",
        ] {
            assert!(
                matches!(
                    CccV6::decode(&hex(bad)),
                    Err(CableLabsError::BadLength { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            CccV6::decode(&hex("0007 0001 01 0007 0001 00")),
            Err(CableLabsError::Duplicate(7))
        );
    }

    #[test]
    fn eue_advertise_cccv6_carries_1_3_6_only() {
        let c = CccV6::for_eue(
            DssId::new(b"headend-1"),
            ProvisioningServerV6::Fqdn("prov.lab".into()),
            "BASIC.1",
        );
        assert!(c.valid_for_eue() && !c.provisioning_disabled());
        let enc = c.encode().unwrap();
        assert_eq!(
            enc,
            hex("0001 0009 68656164656e642d31
                 0003 000b 00 0470726f76 036c6162 00
                 0006 0009 05 4241534943 01 31 00")
        );
        let codes: Vec<u16> = Tlv16::new(&enc).map(|r| r.unwrap().0).collect();
        assert_eq!(codes, vec![1, 3, 6]);
        let off = CccV6::disabled(DssId::new(b"headend-1"), "BASIC.1");
        assert!(off.valid_for_eue() && off.provisioning_disabled());
        let back = CccV6::decode(&off.encode().unwrap()).unwrap();
        assert_eq!(back, off);
        assert!(back.secondary.is_none());
    }

    /// The 4491 options of an eUE-1 SOLICIT (Table 6) as a Broadcom eDVA
    /// builds them (protocol-notes §2.2 BRCM: ORO 32 33 34 2171 40, OUI as
    /// six lower-case ASCII hex digits).
    const EUE_DEVICE_OPTIONS: &str = "0001 000a 0020 0021 0022 087b 0028
        0002 0004 45445641
        0003 0008 4543 4d3a 4544 5641
        0004 0003 313233
        0005 0002 7631
        0006 0004 322e3031
        0007 0002 6231
        0008 0006 303031303138
        0009 0003 4d3130
        000a 0004 4163 6d65
        0023 0006 010102 260101
        0024 0006 001122334466
        087c 0004 1da82ff9";

    #[test]
    fn eue_device_options() {
        let buf = hex(EUE_DEVICE_OPTIONS);
        let o = ClVendorOptionsV6::decode(&buf).unwrap();
        assert_eq!(o.oro, vec![32, 33, 34, 2171, 40]);
        assert!(o.requests(sub::CCCV6) && !o.requests(sub::CCC));
        assert_eq!(o.device_type.as_deref(), Some("EDVA"));
        assert_eq!(o.embedded_components.as_deref(), Some("ECM:EDVA"));
        assert_eq!(o.serial_number.as_deref(), Some("123"));
        assert_eq!(o.hardware_version.as_deref(), Some("v1"));
        assert_eq!(o.software_version.as_deref(), Some("2.01"));
        assert_eq!(o.boot_rom_version.as_deref(), Some("b1"));
        assert_eq!(
            o.vendor_oui,
            Some(Oui {
                bytes: [0x00, 0x10, 0x18],
                ascii: true
            })
        );
        assert_eq!(o.model_number.as_deref(), Some("M10"));
        assert_eq!(o.vendor_name.as_deref(), Some("Acme"));
        let caps = o.capabilities.as_ref().unwrap();
        assert_eq!(caps.pktc_version(), Some(2));
        assert_eq!(caps.dual_stack_support(), Some(1));
        assert_eq!(o.device_id, Some([0x00, 0x11, 0x22, 0x33, 0x44, 0x66]));
        assert_eq!(o.correlation_id, Some(0x1da8_2ff9));
        assert_eq!(o.encode().unwrap(), buf);
        // Binary OUI form.
        let bin = ClVendorOptionsV6::decode(&hex("0008 0003 001018")).unwrap();
        assert_eq!(
            bin.vendor_oui.map(|o| (o.bytes, o.ascii)),
            Some(([0, 0x10, 0x18], false))
        );
        assert_eq!(bin.encode().unwrap(), hex("0008 0003 001018"));
        assert_eq!(
            ClVendorOptionsV6::decode(&hex("0008 0004 00101800")),
            Err(CableLabsError::BadOui)
        );
    }

    #[test]
    fn server_options_round_trip() {
        let buf = hex("0020 0010 20010db8000000000000000000000045
             0021 0007 6575652e636667
             0022 0020 20010db8000000000000000000000514 20010db8000000000000000000000515
             0025 0010 20010db8000000000000000000000025
             0026 0004 ffffb9b0
             0027 0001 06
             003d 0010 20010db8000000000000000000000061");
        let o = ClVendorOptionsV6::decode(&buf).unwrap();
        assert_eq!(
            o.tftp_servers,
            vec!["2001:db8::45".parse::<Ipv6Addr>().unwrap()]
        );
        assert_eq!(o.config_file_name.as_deref(), Some("eue.cfg"));
        assert_eq!(o.syslog_servers.len(), 2);
        assert_eq!(
            o.syslog_servers[0],
            "2001:db8::514".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            o.time_servers,
            vec!["2001:db8::25".parse::<Ipv6Addr>().unwrap()]
        );
        assert_eq!(o.time_offset, Some(-18_000));
        assert_eq!(o.ip_pref, Some(IpPref::DualStackIpv6));
        assert_eq!(
            o.ccap_cores,
            vec!["2001:db8::61".parse::<Ipv6Addr>().unwrap()]
        );
        assert_eq!(o.encode().unwrap(), buf);
        let mut opt17 = hex("0000118b");
        opt17.extend(&buf);
        assert_eq!(o.encode_option17().unwrap(), opt17);
        assert_eq!(ClVendorOptionsV6::from_option17(&opt17).unwrap(), Some(o));
        assert_eq!(
            ClVendorOptionsV6::from_option17(&hex("00000009 0001 0000")).unwrap(),
            None
        );
        assert!(ClVendorOptionsV6::from_option17(&hex("0000")).is_err());
    }

    #[test]
    fn relay_inserted_cmts_capabilities_and_cm_mac() {
        // Relay-Forward option 17: 1025 DOCSIS 3.1, 1026 CM MAC.
        let buf = hex("0401 0004 01 02 03 01 0402 0006 001122334455");
        let o = ClVendorOptionsV6::decode(&buf).unwrap();
        assert_eq!(
            o.cmts_capabilities.as_ref().unwrap().docsis_version(),
            Some((3, 1))
        );
        assert_eq!(o.cm_mac, Some([0x00, 0x11, 0x22, 0x33, 0x44, 0x55]));
        assert_eq!(o.encode().unwrap(), buf);
        assert!(matches!(
            ClVendorOptionsV6::decode(&hex("0402 0005 0011223344")),
            Err(CableLabsError::BadLength { sub: 1026, .. })
        ));
        assert!(ClVendorOptionsV6::decode(&hex("0401 0003 01 05 03")).is_err());
    }

    #[test]
    fn cl_option_ccc_dhcpv4_servers() {
        let buf = hex("087a 0010 0001 0004 0a000001 0002 0004 0a000002");
        let o = ClVendorOptionsV6::decode(&buf).unwrap();
        let ccc = o.ccc.as_ref().unwrap();
        assert_eq!(
            *ccc,
            Ccc::dhcpv4_servers(Ipv4Addr::new(10, 0, 0, 1), Some(Ipv4Addr::new(10, 0, 0, 2)))
        );
        assert_eq!(o.encode().unwrap(), buf);
        let off = Ccc::decode_v6(&hex("0001 0004 00000000")).unwrap();
        assert!(off.provisioning_disabled());
        assert_eq!(off.encode_v6().unwrap(), hex("0001 0004 00000000"));
        assert!(matches!(
            Ccc::decode_v6(&hex("0001 0003 0a0000")),
            Err(CableLabsError::BadLength { sub: 1, .. })
        ));
        assert!(Ccc::decode_v6(&hex("0100 0000")).is_err());
    }

    #[test]
    fn eue_reply_options_with_cccv6_round_trip() {
        // A full eUE REPLY payload: server options plus CCCv6 nested 3 deep.
        let o = ClVendorOptionsV6 {
            tftp_servers: vec!["2001:db8::45".parse().unwrap()],
            config_file_name: Some("eue.cfg".into()),
            syslog_servers: vec!["2001:db8::514".parse().unwrap()],
            cccv6: Some(CccV6::for_eue(
                DssId::new(b"dss1"),
                ProvisioningServerV6::Fqdn("prov.lab".into()),
                "BASIC.1",
            )),
            ..ClVendorOptionsV6::default()
        };
        let enc = o.encode().unwrap();
        let codes: Vec<u16> = Tlv16::new(&enc).map(|r| r.unwrap().0).collect();
        assert_eq!(codes, vec![32, 33, 34, 2171]);
        assert!(enc
            .windows(13)
            .any(|w| w == hex("0006 0009 05 4241534943 01 31 00")));
        assert_eq!(ClVendorOptionsV6::decode(&enc).unwrap(), o);
    }

    #[test]
    fn malformed_vendor_options() {
        for (bad, sub) in [
            ("0001 0003 002000", 1u16),
            ("0020 000f 20010db80000000000000000000000", 32),
            ("0022 0000", 34),
            ("0024 0005 0011223344", 36),
            ("0026 0002 0000", 38),
            ("0027 0002 0606", 39),
            ("087c 0003 000001", 2172),
        ] {
            assert!(
                matches!(
                    ClVendorOptionsV6::decode(&hex(bad)),
                    Err(CableLabsError::BadLength { sub: s, .. }) if s == sub
                ),
                "{bad}"
            );
        }
        assert_eq!(
            ClVendorOptionsV6::decode(&hex("0002 0001 41 0002 0001 42")),
            Err(CableLabsError::Duplicate(2))
        );
        assert_eq!(
            ClVendorOptionsV6::decode(&hex("0020 0010 20010db8000000000000000000000045 0020 0010 20010db8000000000000000000000045")),
            Err(CableLabsError::Duplicate(32))
        );
        assert_eq!(
            ClVendorOptionsV6::decode(&hex("087b 0008 0001 0004 00")),
            Err(CableLabsError::Tlv(TlvError::Overrun {
                code: 2171,
                offset: 0
            }))
        );
        assert_eq!(
            ClVendorOptionsV6::decode(&hex("087b 0005 0001 0004 00")),
            Err(CableLabsError::Tlv(TlvError::Overrun {
                code: 1,
                offset: 0
            }))
        );
        assert_eq!(
            ClVendorOptionsV6::decode(&hex("00")),
            Err(CableLabsError::Tlv(TlvError::Truncated { offset: 0 }))
        );
        let other = ClVendorOptionsV6::decode(&hex("0028 0001 07")).unwrap();
        assert_eq!(other.other, vec![(40, vec![7])]);
    }

    proptest! {
        #[test]
        fn decoders_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
            // Encoding is a fixed point, as the dhcpv6_cablelabs fuzz target asserts.
            if let Ok(o) = ClVendorOptionsV6::decode(&buf) {
                if let Ok(enc) = o.encode() {
                    let again = ClVendorOptionsV6::decode(&enc).map(|o| o.encode());
                    prop_assert_eq!(again, Ok(Ok(enc)));
                }
            }
            if let Ok(Some(o)) = ClVendorOptionsV6::from_option17(&buf) {
                let _ = o.encode_option17();
            }
            if let Ok(c) = CccV6::decode(&buf) {
                let _ = (c.flow(), c.provisioning_disabled());
                if let Ok(enc) = c.encode() {
                    prop_assert_eq!(CccV6::decode(&enc).map(|c| c.encode()), Ok(Ok(enc)));
                }
            }
            if let Ok(c) = Ccc::decode_v6(&buf) {
                let _ = c.encode_v6();
            }
            if let Ok(c) = CmtsCapabilities::decode(&buf) {
                let _ = (c.encode(), c.docsis_version());
            }
        }

        #[test]
        fn cccv6_round_trip(
            p in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..32)),
            s in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..32)),
            server in proptest::option::of(prop_oneof![
                "[a-z]{1,10}(\\.[a-z0-9]{1,6}){0,3}".prop_map(ProvisioningServerV6::Fqdn),
                proptest::collection::vec(any::<[u8; 16]>(), 1..3)
                    .prop_map(|v| ProvisioningServerV6::Ipv6(v.into_iter().map(Ipv6Addr::from).collect())),
                Just(ProvisioningServerV6::Disabled),
            ]),
            realm in proptest::option::of("[A-Z]{1,10}(\\.[A-Z0-9]{1,5}){0,3}"),
            tgt in proptest::option::of(any::<u8>()),
            tc in proptest::option::of(any::<u16>()),
            corr in proptest::option::of(any::<u32>()),
        ) {
            let c = CccV6 {
                primary: p.map(|p| DssId::new(&p)),
                secondary: s.map(|s| DssId::new(&s)),
                provisioning_server: server,
                realm,
                tgt,
                ticket_control: tc,
                ..CccV6::default()
            };
            prop_assert_eq!(CccV6::decode(&c.encode().unwrap()).unwrap(), c.clone());
            let o = ClVendorOptionsV6 { cccv6: Some(c), correlation_id: corr, ..ClVendorOptionsV6::default() };
            prop_assert_eq!(ClVendorOptionsV6::decode(&o.encode().unwrap()).unwrap(), o);
        }
    }
}
