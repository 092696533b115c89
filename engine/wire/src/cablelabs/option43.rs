//! Option 43 as sent by CableLabs devices (eCM, eMTA, E-UE): device
//! information sub-options `code(1) len(1) value`, 0 pad, 255 end
//! (protocol-notes §3.1, after Wireshark's CableLabs decoder and the
//! Broadcom device code; PKT-SP-EUE-PROV Table 7 for the 6-character OUI).

use super::{collect_tlv8, decode_hex, encode_sorted, exact, set_once, CableLabsError};

/// Option 43 CableLabs sub-option codes.
pub mod sub {
    /// Sub-option request list.
    pub const REQUEST_LIST: u8 = 1;
    /// Device type, e.g. `ECM`, `EMTA`, `EDVA`.
    pub const DEVICE_TYPE: u8 = 2;
    /// eSAFE types / embedded components.
    pub const ESAFE_TYPES: u8 = 3;
    /// Serial number.
    pub const SERIAL_NUMBER: u8 = 4;
    /// Hardware version.
    pub const HARDWARE_VERSION: u8 = 5;
    /// Software version.
    pub const SOFTWARE_VERSION: u8 = 6;
    /// Boot ROM version.
    pub const BOOT_ROM_VERSION: u8 = 7;
    /// Vendor OUI.
    pub const OUI: u8 = 8;
    /// Model number.
    pub const MODEL_NUMBER: u8 = 9;
    /// Vendor name.
    pub const VENDOR_NAME: u8 = 10;
    /// MTA MAC address.
    pub const MTA_MAC: u8 = 31;
    /// Correlation ID (pktcMtaDevCorrelationId).
    pub const CORRELATION_ID: u8 = 32;
}

/// A vendor OUI, sent either as 3 octets or as 6 ASCII hex characters
/// (both are in use; the E-UE config file form is ASCII).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Oui {
    /// The three OUI octets.
    pub bytes: [u8; 3],
    /// Whether it travels as 6 ASCII hex characters (written upper case).
    pub ascii: bool,
}

impl Oui {
    /// Decodes either form.
    pub fn decode(v: &[u8]) -> Result<Oui, CableLabsError> {
        if let Ok(bytes) = <[u8; 3]>::try_from(v) {
            return Ok(Oui {
                bytes,
                ascii: false,
            });
        }
        if v.len() != 6 {
            return Err(CableLabsError::BadOui);
        }
        let decoded = decode_hex(v).ok_or(CableLabsError::BadOui)?;
        let bytes = <[u8; 3]>::try_from(decoded.as_slice()).map_err(|_| CableLabsError::BadOui)?;
        Ok(Oui { bytes, ascii: true })
    }

    /// Encodes in the form it was decoded in.
    pub fn encode(&self) -> Vec<u8> {
        if self.ascii {
            self.bytes
                .iter()
                .flat_map(|b| format!("{b:02X}").into_bytes())
                .collect()
        } else {
            self.bytes.to_vec()
        }
    }
}

/// Option 43 from a CableLabs device, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Option43 {
    /// Sub-option 1, request list.
    pub request_list: Option<Vec<u8>>,
    /// Sub-option 2, device type.
    pub device_type: Option<String>,
    /// Sub-option 3, eSAFE types.
    pub esafe_types: Option<String>,
    /// Sub-option 4, serial number.
    pub serial_number: Option<String>,
    /// Sub-option 5, hardware version.
    pub hardware_version: Option<String>,
    /// Sub-option 6, software version.
    pub software_version: Option<String>,
    /// Sub-option 7, boot ROM version.
    pub boot_rom_version: Option<String>,
    /// Sub-option 8, vendor OUI.
    pub oui: Option<Oui>,
    /// Sub-option 9, model number.
    pub model_number: Option<String>,
    /// Sub-option 10, vendor name.
    pub vendor_name: Option<String>,
    /// Sub-option 31, MTA MAC address.
    pub mta_mac: Option<[u8; 6]>,
    /// Sub-option 32, correlation ID.
    pub correlation_id: Option<u32>,
    /// Any other sub-option, in wire order.
    pub other: Vec<(u8, Vec<u8>)>,
}

impl Option43 {
    /// Decodes an option 43 payload. Text is taken as UTF-8, invalid
    /// sequences replaced, so an odd serial number never drops a packet.
    pub fn decode(buf: &[u8]) -> Result<Option43, CableLabsError> {
        let mut o = Option43::default();
        for (code, v) in collect_tlv8(buf, true)? {
            let text = || String::from_utf8_lossy(v).into_owned();
            match code {
                sub::REQUEST_LIST => set_once(&mut o.request_list, code, v.to_vec())?,
                sub::DEVICE_TYPE => set_once(&mut o.device_type, code, text())?,
                sub::ESAFE_TYPES => set_once(&mut o.esafe_types, code, text())?,
                sub::SERIAL_NUMBER => set_once(&mut o.serial_number, code, text())?,
                sub::HARDWARE_VERSION => set_once(&mut o.hardware_version, code, text())?,
                sub::SOFTWARE_VERSION => set_once(&mut o.software_version, code, text())?,
                sub::BOOT_ROM_VERSION => set_once(&mut o.boot_rom_version, code, text())?,
                sub::OUI => set_once(&mut o.oui, code, Oui::decode(v)?)?,
                sub::MODEL_NUMBER => set_once(&mut o.model_number, code, text())?,
                sub::VENDOR_NAME => set_once(&mut o.vendor_name, code, text())?,
                sub::MTA_MAC => set_once(&mut o.mta_mac, code, exact::<6>(code, v, "6")?)?,
                sub::CORRELATION_ID => {
                    let b = exact::<4>(code, v, "4")?;
                    set_once(&mut o.correlation_id, code, u32::from_be_bytes(b))?
                }
                _ => o.other.push((code, v.to_vec())),
            }
        }
        Ok(o)
    }

    /// Encodes the sub-options in code order, without pad or end.
    pub fn encode(&self) -> Result<Vec<u8>, CableLabsError> {
        let mut subs: Vec<(u8, Vec<u8>)> = Vec::new();
        let texts = [
            (sub::DEVICE_TYPE, &self.device_type),
            (sub::ESAFE_TYPES, &self.esafe_types),
            (sub::SERIAL_NUMBER, &self.serial_number),
            (sub::HARDWARE_VERSION, &self.hardware_version),
            (sub::SOFTWARE_VERSION, &self.software_version),
            (sub::BOOT_ROM_VERSION, &self.boot_rom_version),
            (sub::MODEL_NUMBER, &self.model_number),
            (sub::VENDOR_NAME, &self.vendor_name),
        ];
        if let Some(r) = &self.request_list {
            subs.push((sub::REQUEST_LIST, r.clone()));
        }
        for (code, t) in texts {
            if let Some(t) = t {
                subs.push((code, t.as_bytes().to_vec()));
            }
        }
        if let Some(oui) = &self.oui {
            subs.push((sub::OUI, oui.encode()));
        }
        if let Some(mac) = self.mta_mac {
            subs.push((sub::MTA_MAC, mac.to_vec()));
        }
        if let Some(c) = self.correlation_id {
            subs.push((sub::CORRELATION_ID, c.to_be_bytes().to_vec()));
        }
        subs.extend(self.other.iter().cloned());
        encode_sorted(subs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cablelabs::hex;
    use crate::suboptions::TlvError;
    use proptest::prelude::*;

    #[test]
    fn edva_device_info_as_broadcom_sends_it() {
        // Device type EDVA, serial, HW/SW versions, OUI as 6 lowercase
        // ASCII hex (BRCM sends `001018`), model, vendor, MTA MAC and the
        // correlation id 1DA82FF9 as 4 binary octets (protocol-notes §3.1),
        // with a pad octet and the end option.
        let mut buf = Vec::new();
        for (c, v) in [
            (2u8, &b"EDVA"[..]),
            (4, b"SN123"),
            (5, b"1.0"),
            (6, b"2.3.4"),
            (8, b"001018"),
            (9, b"TM1602"),
            (10, b"Broadcom"),
            (31, &[0x00, 0x10, 0x18, 0xaa, 0xbb, 0xcc]),
            (32, &[0x1d, 0xa8, 0x2f, 0xf9]),
        ] {
            buf.push(c);
            buf.push(v.len() as u8);
            buf.extend_from_slice(v);
        }
        buf.push(0);
        buf.push(255);
        let o = Option43::decode(&buf).unwrap();
        assert_eq!(o.device_type.as_deref(), Some("EDVA"));
        assert_eq!(o.serial_number.as_deref(), Some("SN123"));
        assert_eq!(o.hardware_version.as_deref(), Some("1.0"));
        assert_eq!(o.software_version.as_deref(), Some("2.3.4"));
        assert_eq!(
            o.oui,
            Some(Oui {
                bytes: [0x00, 0x10, 0x18],
                ascii: true
            })
        );
        assert_eq!(o.model_number.as_deref(), Some("TM1602"));
        assert_eq!(o.vendor_name.as_deref(), Some("Broadcom"));
        assert_eq!(o.mta_mac, Some([0x00, 0x10, 0x18, 0xaa, 0xbb, 0xcc]));
        assert_eq!(o.correlation_id, Some(0x1da8_2ff9));
        assert!(o.other.is_empty());
        // Re-encoding writes the OUI in upper case and drops pad/end.
        let enc = o.encode().unwrap();
        assert_eq!(Option43::decode(&enc).unwrap(), o);
        assert!(enc.windows(8).any(|w| w == b"\x08\x06001018"));
    }

    #[test]
    fn binary_oui_and_unknown_sub_options() {
        let o = Option43::decode(&hex("08 03 00 10 18 c8 01 05 ff 99")).unwrap();
        assert_eq!(
            o.oui,
            Some(Oui {
                bytes: [0x00, 0x10, 0x18],
                ascii: false
            })
        );
        assert_eq!(o.other, vec![(200, vec![5])]);
        assert_eq!(o.encode().unwrap(), hex("08 03 00 10 18 c8 01 05"));
    }

    #[test]
    fn malformed_option43() {
        assert_eq!(
            Option43::decode(&hex("08 04 00 10 18 00")),
            Err(CableLabsError::BadOui)
        );
        assert_eq!(
            Option43::decode(&hex("08 06 30 30 31 30 31 5a")),
            Err(CableLabsError::BadOui)
        );
        // `from_str_radix` would take "+1" as a number; an OUI must not.
        assert_eq!(
            Option43::decode(&hex("08 06 2b 31 31 30 31 38")),
            Err(CableLabsError::BadOui)
        );
        assert!(matches!(
            Option43::decode(&hex("1f 05 00 10 18 aa bb")),
            Err(CableLabsError::BadLength {
                sub: 31,
                len: 5,
                ..
            })
        ));
        assert_eq!(
            Option43::decode(&hex("02 04 45 43 4d")),
            Err(CableLabsError::Tlv(TlvError::Overrun {
                code: 2,
                offset: 0
            }))
        );
        assert_eq!(
            Option43::decode(&hex("02 01 41 02 01 42")),
            Err(CableLabsError::Duplicate(2))
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Option43::decode(&buf);
        }

        #[test]
        fn round_trip(
            dt in proptest::option::of("[A-Z]{2,6}"),
            sn in proptest::option::of("[A-Za-z0-9]{0,20}"),
            oui in proptest::option::of((any::<[u8; 3]>(), any::<bool>())),
            mac in proptest::option::of(any::<[u8; 6]>()),
            cid in proptest::option::of(any::<u32>()),
        ) {
            let o = Option43 {
                device_type: dt,
                serial_number: sn,
                oui: oui.map(|(bytes, ascii)| Oui { bytes, ascii }),
                mta_mac: mac,
                correlation_id: cid,
                ..Option43::default()
            };
            prop_assert_eq!(Option43::decode(&o.encode().unwrap()).unwrap(), o);
        }
    }
}
