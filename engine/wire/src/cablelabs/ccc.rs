//! Option 122, CableLabs Client Configuration: RFC 3495 §3 sub-options
//! 1-8, RFC 3594 sub-option 9 (ticket control), RFC 3634 sub-option 10
//! (KDC servers); encodings in protocol-notes §1. Sub-option 1 values
//! 0.0.0.0 ("do not provision") and 255.255.255.255 ("accept any server")
//! are PKT-SP-EUE-PROV §6.3.2.2.

use std::net::Ipv4Addr;

use super::{collect_tlv8, encode_sorted, exact, ipv4_list, set_once, CableLabsError};
use crate::dns::{decode_name, name_to_wire};

/// Option 122 sub-option codes.
pub mod sub {
    /// TSP's Primary DHCP Server Address.
    pub const PRIMARY_DHCP: u8 = 1;
    /// TSP's Secondary DHCP Server Address.
    pub const SECONDARY_DHCP: u8 = 2;
    /// TSP's Provisioning Server Address.
    pub const PROVISIONING_SERVER: u8 = 3;
    /// TSP's AS-REQ/AS-REP Backoff and Retry.
    pub const AS_REQ_BACKOFF: u8 = 4;
    /// TSP's AP-REQ/AP-REP Backoff and Retry.
    pub const AP_REQ_BACKOFF: u8 = 5;
    /// TSP's Kerberos Realm Name.
    pub const REALM: u8 = 6;
    /// TSP's Ticket Granting Server Utilization.
    pub const TGT: u8 = 7;
    /// TSP's Provisioning Timer Value.
    pub const PROVISIONING_TIMER: u8 = 8;
    /// PacketCable Security Ticket Control (RFC 3594).
    pub const TICKET_CONTROL: u8 = 9;
    /// KDC Server Address (RFC 3634).
    pub const KDC_SERVERS: u8 = 10;
}

/// Sub-option 3: where the device finds its provisioning server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisioningServer {
    /// Type 0: a DNS name, carried in wire format.
    Fqdn(String),
    /// Type 1: an IPv4 address.
    Ipv4(Ipv4Addr),
}

/// Sub-options 4 and 5: Kerberos backoff and retry, three big-endian u32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Nominal timeout.
    pub nominal_timeout: u32,
    /// Maximum timeout.
    pub max_timeout: u32,
    /// Maximum retry count.
    pub max_retries: u32,
}

/// The PacketCable provisioning flow a realm name selects (PKT-SP-EUE-PROV
/// Table 6 eUE-3: `BASIC.1`/`BASIC.2` Basic, `HYBRID.1`/`HYBRID.2`
/// Hybrid, any other realm Secure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisioningFlow {
    /// A real Kerberos realm.
    Secure,
    /// `HYBRID.n`, with n = 1 or 2.
    Hybrid(u8),
    /// `BASIC.n`, with n = 1 or 2.
    Basic(u8),
}

/// Option 122, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ccc {
    /// Sub-option 1, primary DHCP server for the eMTA/eUE.
    pub primary_dhcp: Option<Ipv4Addr>,
    /// Sub-option 2, secondary DHCP server.
    pub secondary_dhcp: Option<Ipv4Addr>,
    /// Sub-option 3, provisioning server.
    pub provisioning_server: Option<ProvisioningServer>,
    /// Sub-option 4, AS-REQ/AS-REP backoff and retry.
    pub as_req_backoff: Option<Backoff>,
    /// Sub-option 5, AP-REQ/AP-REP backoff and retry.
    pub ap_req_backoff: Option<Backoff>,
    /// Sub-option 6, Kerberos realm (case preserved, e.g. `BASIC.1`).
    pub realm: Option<String>,
    /// Sub-option 7, ticket granting server utilization (non-zero: use TGT).
    pub tgt: Option<u8>,
    /// Sub-option 8, provisioning timer in minutes.
    pub provisioning_timer: Option<u8>,
    /// Sub-option 9, ticket control bitmask (RFC 3594).
    pub ticket_control: Option<u16>,
    /// Sub-option 10, KDC server addresses (RFC 3634).
    pub kdc_servers: Vec<Ipv4Addr>,
    /// Any other sub-option, in wire order.
    pub unknown: Vec<(u8, Vec<u8>)>,
}

impl Ccc {
    /// Sub-option 1 value telling the eMTA/eUE not to provision.
    pub const DISABLE_ADDR: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
    /// Sub-option 1 value letting the eMTA/eUE accept an OFFER from any server.
    pub const ANY_SERVER_ADDR: Ipv4Addr = Ipv4Addr::BROADCAST;
    /// Ticket control bit: invalidate the Provisioning Server ticket.
    pub const TICKET_INVALIDATE_PROVISIONING: u16 = 0x0001;
    /// Ticket control bit: invalidate all Call Management Server tickets.
    pub const TICKET_INVALIDATE_ALL_CMS: u16 = 0x0002;

    /// Decodes an option 122 payload.
    pub fn decode(buf: &[u8]) -> Result<Ccc, CableLabsError> {
        let mut ccc = Ccc::default();
        let mut kdc_seen = false;
        for (code, v) in collect_tlv8(buf, false)? {
            match code {
                sub::PRIMARY_DHCP => set_once(&mut ccc.primary_dhcp, code, ipv4(code, v)?)?,
                sub::SECONDARY_DHCP => set_once(&mut ccc.secondary_dhcp, code, ipv4(code, v)?)?,
                sub::PROVISIONING_SERVER => {
                    set_once(&mut ccc.provisioning_server, code, prov_server(v)?)?
                }
                sub::AS_REQ_BACKOFF => set_once(&mut ccc.as_req_backoff, code, backoff(code, v)?)?,
                sub::AP_REQ_BACKOFF => set_once(&mut ccc.ap_req_backoff, code, backoff(code, v)?)?,
                sub::REALM => set_once(&mut ccc.realm, code, whole_name(code, v)?)?,
                sub::TGT => {
                    let [b] = exact::<1>(code, v, "1")?;
                    set_once(&mut ccc.tgt, code, b)?
                }
                sub::PROVISIONING_TIMER => {
                    let [b] = exact::<1>(code, v, "1")?;
                    set_once(&mut ccc.provisioning_timer, code, b)?
                }
                sub::TICKET_CONTROL => {
                    let b = exact::<2>(code, v, "2")?;
                    set_once(&mut ccc.ticket_control, code, u16::from_be_bytes(b))?
                }
                sub::KDC_SERVERS => {
                    if kdc_seen {
                        return Err(CableLabsError::Duplicate(u16::from(code)));
                    }
                    kdc_seen = true;
                    ccc.kdc_servers = ipv4_list(code, v)?;
                }
                _ => ccc.unknown.push((code, v.to_vec())),
            }
        }
        Ok(ccc)
    }

    /// Encodes the option 122 payload, sub-options in code order.
    pub fn encode(&self) -> Result<Vec<u8>, CableLabsError> {
        let mut subs: Vec<(u8, Vec<u8>)> = Vec::new();
        if let Some(a) = self.primary_dhcp {
            subs.push((sub::PRIMARY_DHCP, a.octets().to_vec()));
        }
        if let Some(a) = self.secondary_dhcp {
            subs.push((sub::SECONDARY_DHCP, a.octets().to_vec()));
        }
        if let Some(ps) = &self.provisioning_server {
            let v = match ps {
                ProvisioningServer::Fqdn(name) => {
                    let mut v = vec![0u8];
                    v.extend(wire_name(sub::PROVISIONING_SERVER, name)?);
                    v
                }
                ProvisioningServer::Ipv4(a) => {
                    let mut v = vec![1u8];
                    v.extend_from_slice(&a.octets());
                    v
                }
            };
            subs.push((sub::PROVISIONING_SERVER, v));
        }
        for (code, b) in [
            (sub::AS_REQ_BACKOFF, self.as_req_backoff),
            (sub::AP_REQ_BACKOFF, self.ap_req_backoff),
        ] {
            if let Some(b) = b {
                let mut v = Vec::with_capacity(12);
                for x in [b.nominal_timeout, b.max_timeout, b.max_retries] {
                    v.extend_from_slice(&x.to_be_bytes());
                }
                subs.push((code, v));
            }
        }
        if let Some(realm) = &self.realm {
            subs.push((sub::REALM, wire_name(sub::REALM, realm)?));
        }
        if let Some(t) = self.tgt {
            subs.push((sub::TGT, vec![t]));
        }
        if let Some(t) = self.provisioning_timer {
            subs.push((sub::PROVISIONING_TIMER, vec![t]));
        }
        if let Some(t) = self.ticket_control {
            subs.push((sub::TICKET_CONTROL, t.to_be_bytes().to_vec()));
        }
        if !self.kdc_servers.is_empty() {
            let v = self.kdc_servers.iter().flat_map(|a| a.octets()).collect();
            subs.push((sub::KDC_SERVERS, v));
        }
        subs.extend(self.unknown.iter().cloned());
        encode_sorted(subs)
    }

    /// Whether sub-option 1 is 0.0.0.0: the device must not provision.
    pub fn provisioning_disabled(&self) -> bool {
        self.primary_dhcp == Some(Self::DISABLE_ADDR)
    }

    /// Whether sub-option 1 is 255.255.255.255: any server may answer.
    pub fn accepts_any_server(&self) -> bool {
        self.primary_dhcp == Some(Self::ANY_SERVER_ADDR)
    }

    /// The provisioning flow the realm selects, if a realm is present.
    pub fn flow(&self) -> Option<ProvisioningFlow> {
        let realm = self.realm.as_deref()?;
        Some(match realm {
            "BASIC.1" => ProvisioningFlow::Basic(1),
            "BASIC.2" => ProvisioningFlow::Basic(2),
            "HYBRID.1" => ProvisioningFlow::Hybrid(1),
            "HYBRID.2" => ProvisioningFlow::Hybrid(2),
            _ => ProvisioningFlow::Secure,
        })
    }
}

fn ipv4(code: u8, v: &[u8]) -> Result<Ipv4Addr, CableLabsError> {
    exact::<4>(code, v, "4").map(Ipv4Addr::from)
}

fn backoff(code: u8, v: &[u8]) -> Result<Backoff, CableLabsError> {
    let b = exact::<12>(code, v, "12")?;
    let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    Ok(Backoff {
        nominal_timeout: word(0),
        max_timeout: word(4),
        max_retries: word(8),
    })
}

fn prov_server(v: &[u8]) -> Result<ProvisioningServer, CableLabsError> {
    let code = sub::PROVISIONING_SERVER;
    match v.split_first() {
        Some((0, name)) => Ok(ProvisioningServer::Fqdn(whole_name(code, name)?)),
        Some((1, addr)) => Ok(ProvisioningServer::Ipv4(
            exact::<4>(code, addr, "5 for an IPv4 address").map(Ipv4Addr::from)?,
        )),
        Some((&t, _)) => Err(CableLabsError::BadServerType(t)),
        None => Err(CableLabsError::BadLength {
            sub: u16::from(code),
            len: 0,
            expected: "at least 1",
        }),
    }
}

/// One uncompressed DNS name filling the whole value.
fn whole_name(code: u8, v: &[u8]) -> Result<String, CableLabsError> {
    let (name, used) = decode_name(v).map_err(|err| CableLabsError::Name {
        sub: u16::from(code),
        err,
    })?;
    if used != v.len() {
        return Err(CableLabsError::BadLength {
            sub: u16::from(code),
            len: v.len(),
            expected: "exactly one DNS name",
        });
    }
    Ok(name)
}

fn wire_name(code: u8, name: &str) -> Result<Vec<u8>, CableLabsError> {
    name_to_wire(name).map_err(|err| CableLabsError::Name {
        sub: u16::from(code),
        err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cablelabs::hex;
    use crate::suboptions::TlvError;
    use proptest::prelude::*;

    #[test]
    fn kea_example_primary_and_secondary() {
        // Kea docs example value of option 122 (protocol-notes §1).
        let buf = hex("01040a0000010204c0000201");
        let ccc = Ccc::decode(&buf).unwrap();
        assert_eq!(ccc.primary_dhcp, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(ccc.secondary_dhcp, Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(ccc.realm, None);
        assert!(!ccc.provisioning_disabled());
        assert_eq!(ccc.encode().unwrap(), buf);
    }

    #[test]
    fn realm_vectors_from_protocol_notes() {
        for (text, bytes, flow) in [
            (
                "BASIC.1",
                "06 09 05 42 41 53 49 43 01 31 00",
                ProvisioningFlow::Basic(1),
            ),
            (
                "BASIC.2",
                "06 09 05 42 41 53 49 43 01 32 00",
                ProvisioningFlow::Basic(2),
            ),
            (
                "HYBRID.1",
                "06 0a 06 48 59 42 52 49 44 01 31 00",
                ProvisioningFlow::Hybrid(1),
            ),
            (
                "HYBRID.2",
                "06 0a 06 48 59 42 52 49 44 01 32 00",
                ProvisioningFlow::Hybrid(2),
            ),
        ] {
            let ccc = Ccc::decode(&hex(bytes)).unwrap();
            assert_eq!(ccc.realm.as_deref(), Some(text));
            assert_eq!(ccc.flow(), Some(flow));
            let enc = Ccc {
                realm: Some(text.into()),
                ..Ccc::default()
            }
            .encode()
            .unwrap();
            assert_eq!(enc, hex(bytes));
        }
        let secure = Ccc {
            realm: Some("TSP.EXAMPLE.COM".into()),
            ..Ccc::default()
        };
        assert_eq!(secure.flow(), Some(ProvisioningFlow::Secure));
        // Realms are case-sensitive Kerberos names: basic.1 is a real realm.
        let lower = Ccc::decode(&hex("06 09 05 62 61 73 69 63 01 31 00")).unwrap();
        assert_eq!(lower.flow(), Some(ProvisioningFlow::Secure));
    }

    #[test]
    fn provisioning_server_fqdn_and_ipv4_vectors() {
        let fqdn = hex("03 13 00 04 70 72 6f 76 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00");
        let ccc = Ccc::decode(&fqdn).unwrap();
        assert_eq!(
            ccc.provisioning_server,
            Some(ProvisioningServer::Fqdn("prov.example.com".into()))
        );
        assert_eq!(ccc.encode().unwrap(), fqdn);

        let v4 = hex("03 05 01 0a 00 00 01");
        let ccc = Ccc::decode(&v4).unwrap();
        assert_eq!(
            ccc.provisioning_server,
            Some(ProvisioningServer::Ipv4(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert_eq!(ccc.encode().unwrap(), v4);

        // BOARDFARM template value `0 08:54:43:4F:4D:4C:41:42:53:03:43:4F:4D:00`.
        let tcom = hex("03 0f 00 08 54 43 4F 4D 4C 41 42 53 03 43 4F 4D 00");
        assert_eq!(
            Ccc::decode(&tcom).unwrap().provisioning_server,
            Some(ProvisioningServer::Fqdn("TCOMLABS.COM".into()))
        );
    }

    #[test]
    fn full_option_round_trips_in_code_order() {
        let ccc = Ccc {
            primary_dhcp: Some(Ipv4Addr::new(10, 0, 0, 1)),
            secondary_dhcp: Some(Ipv4Addr::new(10, 0, 0, 2)),
            provisioning_server: Some(ProvisioningServer::Fqdn("prov.example.com".into())),
            as_req_backoff: Some(Backoff {
                nominal_timeout: 10_000,
                max_timeout: 30,
                max_retries: 5,
            }),
            ap_req_backoff: Some(Backoff {
                nominal_timeout: 30,
                max_timeout: 600,
                max_retries: 8,
            }),
            realm: Some("BASIC.1".into()),
            tgt: Some(1),
            provisioning_timer: Some(10),
            ticket_control: Some(Ccc::TICKET_INVALIDATE_PROVISIONING),
            kdc_servers: vec![Ipv4Addr::new(10, 0, 0, 9), Ipv4Addr::new(10, 0, 0, 10)],
            unknown: vec![(200, vec![1, 2]), (11, vec![])],
        };
        let enc = ccc.encode().unwrap();
        let codes: Vec<u8> = crate::suboptions::Tlv8::new(&enc)
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(codes, vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 200]);
        // Sub-option 4 bytes: 3 × u32 big-endian (protocol-notes §1).
        assert!(enc
            .windows(14)
            .any(|w| w == hex("04 0c 00 00 27 10 00 00 00 1e 00 00 00 05")));
        let back = Ccc::decode(&enc).unwrap();
        assert_eq!(back.unknown, vec![(11, vec![]), (200, vec![1, 2])]);
        assert_eq!(
            Ccc {
                unknown: vec![],
                ..back
            },
            Ccc {
                unknown: vec![],
                ..ccc
            }
        );
    }

    #[test]
    fn special_server_addresses() {
        let off = Ccc::decode(&hex("01 04 00 00 00 00")).unwrap();
        assert!(off.provisioning_disabled());
        assert!(!off.accepts_any_server());
        let any = Ccc::decode(&hex("01 04 ff ff ff ff")).unwrap();
        assert!(any.accepts_any_server());
        assert!(!any.provisioning_disabled());
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let bad_len = |sub, len| CableLabsError::BadLength {
            sub,
            len,
            expected: "4",
        };
        assert_eq!(Ccc::decode(&hex("01 03 0a 00 00")), Err(bad_len(1, 3)));
        assert_eq!(
            Ccc::decode(&hex("01 04 0a 00 00 01 01 04 0a 00 00 02")),
            Err(CableLabsError::Duplicate(1))
        );
        assert_eq!(
            Ccc::decode(&hex("03 02 02 00")),
            Err(CableLabsError::BadServerType(2))
        );
        assert!(matches!(
            Ccc::decode(&hex("03 06 01 0a 00 00 01 00")),
            Err(CableLabsError::BadLength { sub: 3, len: 5, .. })
        ));
        assert!(matches!(
            Ccc::decode(&hex("06 03 05 42 41")),
            Err(CableLabsError::Name { sub: 6, .. })
        ));
        assert!(matches!(
            Ccc::decode(&hex("06 04 01 41 00 00")),
            Err(CableLabsError::BadLength { sub: 6, .. })
        ));
        assert!(matches!(
            Ccc::decode(&hex("0a 06 0a 00 00 01 0a 00")),
            Err(CableLabsError::BadLength { sub: 10, .. })
        ));
        assert_eq!(
            Ccc::decode(&hex("04 0c 00")),
            Err(CableLabsError::Tlv(TlvError::Overrun {
                code: 4,
                offset: 0
            }))
        );
        assert!(matches!(
            Ccc {
                realm: Some("a..b".into()),
                ..Ccc::default()
            }
            .encode(),
            Err(CableLabsError::Name { sub: 6, .. })
        ));
    }

    proptest! {
        #[test]
        fn decode_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Ccc::decode(&buf);
        }

        #[test]
        fn encode_decode_round_trip(
            p in proptest::option::of(any::<[u8; 4]>()),
            s in proptest::option::of(any::<[u8; 4]>()),
            realm in proptest::option::of("[A-Z]{1,10}(\\.[A-Z0-9]{1,5}){0,3}"),
            timer in proptest::option::of(any::<u8>()),
            tc in proptest::option::of(any::<u16>()),
            kdc in proptest::collection::vec(any::<[u8; 4]>(), 0..4),
        ) {
            let ccc = Ccc {
                primary_dhcp: p.map(Ipv4Addr::from),
                secondary_dhcp: s.map(Ipv4Addr::from),
                realm,
                provisioning_timer: timer,
                ticket_control: tc,
                kdc_servers: kdc.into_iter().map(Ipv4Addr::from).collect(),
                ..Ccc::default()
            };
            prop_assert_eq!(Ccc::decode(&ccc.encode().unwrap()).unwrap(), ccc);
        }
    }
}
