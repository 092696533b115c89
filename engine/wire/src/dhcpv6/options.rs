//! DHCPv6 options borrowed from a message, in wire order (RFC 8415 §21.1:
//! `option-code(2) option-len(2) option-data`), and the typed views of the
//! options a server reads: DUIDs (§11, RFC 6355), IA_NA / IA_TA / IAADDR
//! (§21.4-§21.6), ORO (§21.7), status code (§21.13), vendor class and vendor
//! options (§21.16, §21.17), IA_PD / IAPREFIX (§21.21, §21.22), DNS servers
//! and domain list (RFC 3646), remote-ID (RFC 4649 §3), client FQDN
//! (RFC 4704 §4), client link-layer address (RFC 6939).
//!
//! Unlike DHCPv4 there is no concatenation of split options: an option that
//! repeats (IA_NA, VENDOR_OPTS, …) is several independent instances.
//! Accessors return `Ok(None)` when an option is absent and `Err` when it is
//! present but malformed, so the caller can drop and count the message.

use std::net::Ipv6Addr;

use super::code;
use crate::dns::{decode_name, NameError};
use crate::suboptions::{Tlv16, TlvError};

/// Why an option value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// The options of a container (message, IA, IAADDR…) do not frame.
    #[error("options inside option {container} do not frame: {err}")]
    Framing {
        /// Code of the enclosing option; 0 for a message's own options.
        container: u16,
        /// The framing error.
        err: TlvError,
    },
    /// An option has a length its type does not allow.
    #[error("option {code} has length {len}, expected {expected}")]
    BadLength {
        /// Option code.
        code: u16,
        /// Length found.
        len: usize,
        /// What the type requires.
        expected: &'static str,
    },
    /// A domain name inside an option is invalid.
    #[error("option {code}: {err}")]
    Name {
        /// Option code.
        code: u16,
        /// The name error.
        err: NameError,
    },
}

/// The options of a message or of an option that contains options, as a
/// validated slice: every `code len value` frames exactly.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Options<'a> {
    buf: &'a [u8],
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> Options<'a> {
    /// Validates the framing of `buf` (`container` names the enclosing
    /// option in errors, 0 for a message).
    pub fn parse(buf: &'a [u8], container: u16) -> Result<Options<'a>, OptionError> {
        for item in Tlv16::new(buf) {
            item.map_err(|err| OptionError::Framing { container, err })?;
        }
        Ok(Options { buf })
    }

    /// No options.
    pub fn empty() -> Options<'static> {
        Options { buf: &[] }
    }

    /// The encoded options, exactly as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Whether there are no options.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Every option `(code, value)` in wire order.
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            inner: Tlv16::new(self.buf),
        }
    }

    /// Number of option instances.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether option `code` is present.
    pub fn contains(&self, code: u16) -> bool {
        self.get(code).is_some()
    }

    /// The value of the first instance of option `code`.
    pub fn get(&self, code: u16) -> Option<&'a [u8]> {
        self.iter().find(|(c, _)| *c == code).map(|(_, v)| v)
    }

    /// The values of every instance of option `code`, in wire order.
    pub fn get_all(&self, code: u16) -> impl Iterator<Item = &'a [u8]> {
        self.iter().filter(move |(c, _)| *c == code).map(|(_, v)| v)
    }

    fn fixed<const N: usize>(
        &self,
        code: u16,
        expected: &'static str,
    ) -> Result<Option<[u8; N]>, OptionError> {
        self.get(code).map(|v| fixed(code, v, expected)).transpose()
    }

    fn flag(&self, code: u16) -> Result<bool, OptionError> {
        match self.get(code) {
            None => Ok(false),
            Some([]) => Ok(true),
            Some(v) => Err(bad_len(code, v, "0")),
        }
    }

    /// Option 1, Client Identifier.
    pub fn client_id(&self) -> Result<Option<Duid<'a>>, OptionError> {
        self.get(code::CLIENTID)
            .map(|v| Duid::parse(code::CLIENTID, v))
            .transpose()
    }

    /// Option 2, Server Identifier.
    pub fn server_id(&self) -> Result<Option<Duid<'a>>, OptionError> {
        self.get(code::SERVERID)
            .map(|v| Duid::parse(code::SERVERID, v))
            .transpose()
    }

    /// Every option 3, IA_NA, in wire order.
    pub fn ia_nas(&self) -> impl Iterator<Item = Result<Ia<'a>, OptionError>> {
        self.get_all(code::IA_NA).map(|v| Ia::parse(code::IA_NA, v))
    }

    /// Every option 4, IA_TA, in wire order (T1 and T2 are 0).
    pub fn ia_tas(&self) -> impl Iterator<Item = Result<Ia<'a>, OptionError>> {
        self.get_all(code::IA_TA).map(|v| Ia::parse(code::IA_TA, v))
    }

    /// Every option 25, IA_PD, in wire order.
    pub fn ia_pds(&self) -> impl Iterator<Item = Result<Ia<'a>, OptionError>> {
        self.get_all(code::IA_PD).map(|v| Ia::parse(code::IA_PD, v))
    }

    /// Every option 5, IAADDR (inside an IA_NA or IA_TA), in wire order.
    pub fn ia_addrs(&self) -> impl Iterator<Item = Result<IaAddr<'a>, OptionError>> {
        self.get_all(code::IAADDR).map(IaAddr::parse)
    }

    /// Every option 26, IAPREFIX (inside an IA_PD), in wire order.
    pub fn ia_prefixes(&self) -> impl Iterator<Item = Result<IaPrefix<'a>, OptionError>> {
        self.get_all(code::IAPREFIX).map(IaPrefix::parse)
    }

    /// Option 6, Option Request.
    pub fn oro(&self) -> Result<Option<Oro<'a>>, OptionError> {
        self.get(code::ORO).map(Oro::parse).transpose()
    }

    /// Option 7, Preference.
    pub fn preference(&self) -> Result<Option<u8>, OptionError> {
        Ok(self.fixed::<1>(code::PREFERENCE, "1")?.map(|[p]| p))
    }

    /// Option 8, Elapsed Time, in hundredths of a second.
    pub fn elapsed_time(&self) -> Result<Option<u16>, OptionError> {
        Ok(self
            .fixed::<2>(code::ELAPSED_TIME, "2")?
            .map(u16::from_be_bytes))
    }

    /// Option 9, Relay Message: the encapsulated message, unparsed.
    pub fn relay_msg(&self) -> Option<&'a [u8]> {
        self.get(code::RELAY_MSG)
    }

    /// Option 13, Status Code.
    pub fn status_code(&self) -> Result<Option<StatusCode<'a>>, OptionError> {
        self.get(code::STATUS_CODE)
            .map(StatusCode::parse)
            .transpose()
    }

    /// Option 14, Rapid Commit (an empty option).
    pub fn rapid_commit(&self) -> Result<bool, OptionError> {
        self.flag(code::RAPID_COMMIT)
    }

    /// Every option 16, Vendor Class, in wire order.
    pub fn vendor_classes(&self) -> impl Iterator<Item = Result<VendorClass<'a>, OptionError>> {
        self.get_all(code::VENDOR_CLASS).map(VendorClass::parse)
    }

    /// Every option 17, Vendor-specific Information, in wire order.
    pub fn vendor_opts_all(&self) -> impl Iterator<Item = Result<VendorOpts<'a>, OptionError>> {
        self.get_all(code::VENDOR_OPTS).map(VendorOpts::parse)
    }

    /// The first option 17 instance of `enterprise` (RFC 8415 §21.17: a
    /// sender sends at most one per enterprise). A malformed instance of
    /// another enterprise is skipped, since this reader cannot judge it.
    pub fn vendor_opts(&self, enterprise: u32) -> Result<Option<VendorOpts<'a>>, OptionError> {
        for v in self.get_all(code::VENDOR_OPTS) {
            match v.get(..4) {
                Some(e) if e == enterprise.to_be_bytes() => {
                    return VendorOpts::parse(v).map(Some);
                }
                Some(_) => continue,
                None => return Err(bad_len(code::VENDOR_OPTS, v, "at least 4")),
            }
        }
        Ok(None)
    }

    /// Option 18, Interface-Id, opaque.
    pub fn interface_id(&self) -> Option<&'a [u8]> {
        self.get(code::INTERFACE_ID)
    }

    /// Option 20, Reconfigure Accept (an empty option).
    pub fn reconf_accept(&self) -> Result<bool, OptionError> {
        self.flag(code::RECONF_ACCEPT)
    }

    /// Option 23, DNS recursive name servers (RFC 3646 §3).
    pub fn dns_servers(&self) -> Result<Option<Vec<Ipv6Addr>>, OptionError> {
        self.get(code::DNS_SERVERS)
            .map(|v| ipv6_list(code::DNS_SERVERS, v))
            .transpose()
    }

    /// Option 24, domain search list (RFC 3646 §4), uncompressed names.
    pub fn domain_list(&self) -> Result<Option<Vec<String>>, OptionError> {
        self.get(code::DOMAIN_LIST)
            .map(|v| name_list(code::DOMAIN_LIST, v))
            .transpose()
    }

    /// Option 31, SNTP servers (RFC 4075).
    pub fn sntp_servers(&self) -> Result<Option<Vec<Ipv6Addr>>, OptionError> {
        self.get(code::SNTP_SERVERS)
            .map(|v| ipv6_list(code::SNTP_SERVERS, v))
            .transpose()
    }

    /// Option 56, NTP server (RFC 5908): its sub-options, unparsed.
    pub fn ntp_server(&self) -> Option<&'a [u8]> {
        self.get(code::NTP_SERVER)
    }

    /// Option 37, Relay Agent Remote-ID (RFC 4649 §3).
    pub fn remote_id(&self) -> Result<Option<RemoteId<'a>>, OptionError> {
        self.get(code::REMOTE_ID).map(RemoteId::parse).transpose()
    }

    /// Option 38, Subscriber-ID (RFC 4580), opaque.
    pub fn subscriber_id(&self) -> Option<&'a [u8]> {
        self.get(code::SUBSCRIBER_ID)
    }

    /// Option 39, Client FQDN (RFC 4704 §4).
    pub fn client_fqdn(&self) -> Result<Option<ClientFqdn<'a>>, OptionError> {
        self.get(code::CLIENT_FQDN)
            .map(ClientFqdn::parse)
            .transpose()
    }

    /// Option 79, Client Link-Layer Address (RFC 6939): hardware type and
    /// address, as a relay inserts it.
    pub fn client_linklayer_addr(&self) -> Result<Option<(u16, &'a [u8])>, OptionError> {
        let Some(v) = self.get(code::CLIENT_LINKLAYER_ADDR) else {
            return Ok(None);
        };
        match v {
            [a, b, rest @ ..] => Ok(Some((u16::from_be_bytes([*a, *b]), rest))),
            _ => Err(bad_len(code::CLIENT_LINKLAYER_ADDR, v, "at least 2")),
        }
    }

    /// Option 82, SOL_MAX_RT, in seconds.
    pub fn sol_max_rt(&self) -> Result<Option<u32>, OptionError> {
        Ok(self
            .fixed::<4>(code::SOL_MAX_RT, "4")?
            .map(u32::from_be_bytes))
    }

    /// Option 83, INF_MAX_RT, in seconds.
    pub fn inf_max_rt(&self) -> Result<Option<u32>, OptionError> {
        Ok(self
            .fixed::<4>(code::INF_MAX_RT, "4")?
            .map(u32::from_be_bytes))
    }
}

impl<'a> IntoIterator for Options<'a> {
    type Item = (u16, &'a [u8]);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over validated options, see [`Options::iter`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    inner: Tlv16<'a>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // The framing was validated by `Options::parse`, so no `Err` occurs;
        // stopping on one keeps this total anyway.
        self.inner.next().and_then(Result::ok)
    }
}

impl std::iter::FusedIterator for Iter<'_> {}

/// A DHCP Unique Identifier (RFC 8415 §11), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Duid<'a> {
    /// Type 1, DUID-LLT.
    Llt {
        /// IANA hardware type (1 = Ethernet).
        hardware_type: u16,
        /// Seconds since 2000-01-01 UTC, modulo 2^32.
        time: u32,
        /// Link-layer address.
        link_layer_address: &'a [u8],
    },
    /// Type 2, DUID-EN.
    En {
        /// Vendor enterprise number.
        enterprise: u32,
        /// Vendor-assigned identifier.
        identifier: &'a [u8],
    },
    /// Type 3, DUID-LL.
    Ll {
        /// IANA hardware type (1 = Ethernet).
        hardware_type: u16,
        /// Link-layer address.
        link_layer_address: &'a [u8],
    },
    /// Type 4, DUID-UUID (RFC 6355).
    Uuid([u8; 16]),
    /// Any other type, kept opaque.
    Other {
        /// DUID type.
        duid_type: u16,
        /// Everything after the type.
        data: &'a [u8],
    },
}

impl<'a> Duid<'a> {
    /// Longest DUID: a 2-octet type plus at most 128 octets (RFC 8415 §11.1).
    pub const MAX_LEN: usize = 130;

    /// Parses the value of option 1 or 2 (`code` names it in errors).
    pub fn parse(code: u16, v: &'a [u8]) -> Result<Duid<'a>, OptionError> {
        if v.len() > Self::MAX_LEN {
            return Err(bad_len(code, v, "at most 130"));
        }
        let Some((ty, rest)) = v.split_first_chunk::<2>() else {
            return Err(bad_len(code, v, "at least 2"));
        };
        let hw = |r: &'a [u8], expected| {
            r.split_first_chunk::<2>()
                .map(|(h, tail)| (u16::from_be_bytes(*h), tail))
                .ok_or_else(|| bad_len(code, v, expected))
        };
        Ok(match u16::from_be_bytes(*ty) {
            code::DUID_LLT => {
                let (hardware_type, tail) = hw(rest, "at least 8 for DUID-LLT")?;
                let (time, lla) = tail
                    .split_first_chunk::<4>()
                    .ok_or_else(|| bad_len(code, v, "at least 8 for DUID-LLT"))?;
                Duid::Llt {
                    hardware_type,
                    time: u32::from_be_bytes(*time),
                    link_layer_address: lla,
                }
            }
            code::DUID_EN => {
                let (ent, identifier) = rest
                    .split_first_chunk::<4>()
                    .ok_or_else(|| bad_len(code, v, "at least 6 for DUID-EN"))?;
                Duid::En {
                    enterprise: u32::from_be_bytes(*ent),
                    identifier,
                }
            }
            code::DUID_LL => {
                let (hardware_type, lla) = hw(rest, "at least 4 for DUID-LL")?;
                Duid::Ll {
                    hardware_type,
                    link_layer_address: lla,
                }
            }
            code::DUID_UUID => Duid::Uuid(
                fixed(code, rest, "18 for DUID-UUID")
                    .map_err(|_| bad_len(code, v, "18 for DUID-UUID"))?,
            ),
            duid_type => Duid::Other {
                duid_type,
                data: rest,
            },
        })
    }

    /// The DUID type.
    pub fn duid_type(&self) -> u16 {
        match self {
            Duid::Llt { .. } => code::DUID_LLT,
            Duid::En { .. } => code::DUID_EN,
            Duid::Ll { .. } => code::DUID_LL,
            Duid::Uuid(_) => code::DUID_UUID,
            Duid::Other { duid_type, .. } => *duid_type,
        }
    }

    /// The link-layer address of a DUID-LLT or DUID-LL.
    pub fn link_layer_address(&self) -> Option<(u16, &'a [u8])> {
        match *self {
            Duid::Llt {
                hardware_type,
                link_layer_address,
                ..
            }
            | Duid::Ll {
                hardware_type,
                link_layer_address,
            } => Some((hardware_type, link_layer_address)),
            _ => None,
        }
    }

    /// Appends the wire form to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.duid_type().to_be_bytes());
        match self {
            Duid::Llt {
                hardware_type,
                time,
                link_layer_address,
            } => {
                out.extend_from_slice(&hardware_type.to_be_bytes());
                out.extend_from_slice(&time.to_be_bytes());
                out.extend_from_slice(link_layer_address);
            }
            Duid::En {
                enterprise,
                identifier,
            } => {
                out.extend_from_slice(&enterprise.to_be_bytes());
                out.extend_from_slice(identifier);
            }
            Duid::Ll {
                hardware_type,
                link_layer_address,
            } => {
                out.extend_from_slice(&hardware_type.to_be_bytes());
                out.extend_from_slice(link_layer_address);
            }
            Duid::Uuid(u) => out.extend_from_slice(u),
            Duid::Other { data, .. } => out.extend_from_slice(data),
        }
    }

    /// The wire form as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }
}

/// An identity association: IA_NA (§21.4), IA_TA (§21.5) or IA_PD (§21.21).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ia<'a> {
    /// Option code: 3 IA_NA, 4 IA_TA or 25 IA_PD.
    pub code: u16,
    /// IAID.
    pub iaid: u32,
    /// T1 in seconds (0 for IA_TA, which has none).
    pub t1: u32,
    /// T2 in seconds (0 for IA_TA).
    pub t2: u32,
    /// The IA's options: IAADDR or IAPREFIX, STATUS_CODE, others.
    pub options: Options<'a>,
}

impl<'a> Ia<'a> {
    /// Parses the value of option `code` (3, 4 or 25).
    pub fn parse(code: u16, v: &'a [u8]) -> Result<Ia<'a>, OptionError> {
        let (iaid, t1, t2, rest) = if code == code::IA_TA {
            let (id, rest) = v
                .split_first_chunk::<4>()
                .ok_or_else(|| bad_len(code, v, "at least 4"))?;
            (u32::from_be_bytes(*id), 0, 0, rest)
        } else {
            let (hdr, rest) = v
                .split_first_chunk::<12>()
                .ok_or_else(|| bad_len(code, v, "at least 12"))?;
            let [a, b, c] = words(hdr);
            (a, b, c, rest)
        };
        Ok(Ia {
            code,
            iaid,
            t1,
            t2,
            options: Options::parse(rest, code)?,
        })
    }

    /// The IAADDR options (IA_NA, IA_TA).
    pub fn addresses(&self) -> impl Iterator<Item = Result<IaAddr<'a>, OptionError>> {
        self.options.ia_addrs()
    }

    /// The IAPREFIX options (IA_PD).
    pub fn prefixes(&self) -> impl Iterator<Item = Result<IaPrefix<'a>, OptionError>> {
        self.options.ia_prefixes()
    }

    /// The IA's status code, if any.
    pub fn status_code(&self) -> Result<Option<StatusCode<'a>>, OptionError> {
        self.options.status_code()
    }
}

/// Option 5, IA Address (RFC 8415 §21.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IaAddr<'a> {
    /// The address.
    pub addr: Ipv6Addr,
    /// Preferred lifetime in seconds.
    pub preferred_lifetime: u32,
    /// Valid lifetime in seconds.
    pub valid_lifetime: u32,
    /// Options inside the IAADDR (a status code).
    pub options: Options<'a>,
}

impl<'a> IaAddr<'a> {
    /// Parses an IAADDR value.
    pub fn parse(v: &'a [u8]) -> Result<IaAddr<'a>, OptionError> {
        let (addr, rest) = v
            .split_first_chunk::<16>()
            .ok_or_else(|| bad_len(code::IAADDR, v, "at least 24"))?;
        let (life, rest) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| bad_len(code::IAADDR, v, "at least 24"))?;
        let (p, l) = life.split_at(4);
        Ok(IaAddr {
            addr: Ipv6Addr::from(*addr),
            preferred_lifetime: be32(p),
            valid_lifetime: be32(l),
            options: Options::parse(rest, code::IAADDR)?,
        })
    }
}

/// Option 26, IA Prefix (RFC 8415 §21.22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IaPrefix<'a> {
    /// Preferred lifetime in seconds.
    pub preferred_lifetime: u32,
    /// Valid lifetime in seconds.
    pub valid_lifetime: u32,
    /// Prefix length in bits (0 to 128).
    pub prefix_len: u8,
    /// The prefix.
    pub prefix: Ipv6Addr,
    /// Options inside the IAPREFIX (a status code).
    pub options: Options<'a>,
}

impl<'a> IaPrefix<'a> {
    /// Parses an IAPREFIX value; a prefix length over 128 is an error.
    pub fn parse(v: &'a [u8]) -> Result<IaPrefix<'a>, OptionError> {
        let (hdr, rest) = v
            .split_first_chunk::<25>()
            .ok_or_else(|| bad_len(code::IAPREFIX, v, "at least 25"))?;
        let (life, tail) = hdr.split_at(8);
        let (len, prefix) = tail.split_at(1);
        let prefix_len = len.first().copied().unwrap_or(0);
        if prefix_len > 128 {
            return Err(OptionError::BadLength {
                code: code::IAPREFIX,
                len: usize::from(prefix_len),
                expected: "a prefix length of at most 128",
            });
        }
        let prefix: [u8; 16] = fixed(code::IAPREFIX, prefix, "25")?;
        let (p, l) = life.split_at(4);
        Ok(IaPrefix {
            preferred_lifetime: be32(p),
            valid_lifetime: be32(l),
            prefix_len,
            prefix: Ipv6Addr::from(prefix),
            options: Options::parse(rest, code::IAPREFIX)?,
        })
    }
}

/// Option 6, the requested option codes (RFC 8415 §21.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oro<'a> {
    buf: &'a [u8],
}

impl<'a> Oro<'a> {
    /// Parses an ORO value; an odd length is an error.
    pub fn parse(v: &'a [u8]) -> Result<Oro<'a>, OptionError> {
        if v.len() % 2 != 0 {
            return Err(bad_len(code::ORO, v, "even"));
        }
        Ok(Oro { buf: v })
    }

    /// The requested codes, in client order.
    pub fn codes(&self) -> impl Iterator<Item = u16> + 'a {
        self.buf.chunks_exact(2).map(|c| {
            u16::from_be_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
    }

    /// Whether `code` is requested.
    pub fn contains(&self, code: u16) -> bool {
        self.codes().any(|c| c == code)
    }
}

/// Option 13, Status Code (RFC 8415 §21.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCode<'a> {
    /// The status.
    pub status: code::Status,
    /// The UTF-8 status message, as received.
    pub message: &'a [u8],
}

impl<'a> StatusCode<'a> {
    /// Parses a status code value.
    pub fn parse(v: &'a [u8]) -> Result<StatusCode<'a>, OptionError> {
        let (c, message) = v
            .split_first_chunk::<2>()
            .ok_or_else(|| bad_len(code::STATUS_CODE, v, "at least 2"))?;
        Ok(StatusCode {
            status: code::Status::from(u16::from_be_bytes(*c)),
            message,
        })
    }

    /// The message as text, invalid UTF-8 replaced.
    pub fn message_lossy(&self) -> std::borrow::Cow<'a, str> {
        String::from_utf8_lossy(self.message)
    }
}

/// Option 16, Vendor Class (RFC 8415 §21.16): an enterprise number and a
/// list of opaque `len(2) data` items, e.g. 4491 + `"pktc2.0"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorClass<'a> {
    /// Vendor enterprise number.
    pub enterprise: u32,
    data: &'a [u8],
}

impl<'a> VendorClass<'a> {
    /// Parses a vendor class value, checking that the items frame.
    pub fn parse(v: &'a [u8]) -> Result<VendorClass<'a>, OptionError> {
        let (ent, data) = v
            .split_first_chunk::<4>()
            .ok_or_else(|| bad_len(code::VENDOR_CLASS, v, "at least 4"))?;
        let mut rest = data;
        while !rest.is_empty() {
            let (len, tail) = rest
                .split_first_chunk::<2>()
                .ok_or_else(|| bad_len(code::VENDOR_CLASS, v, "framed vendor-class-data"))?;
            rest = tail
                .get(usize::from(u16::from_be_bytes(*len))..)
                .ok_or_else(|| bad_len(code::VENDOR_CLASS, v, "framed vendor-class-data"))?;
        }
        Ok(VendorClass {
            enterprise: u32::from_be_bytes(*ent),
            data,
        })
    }

    /// The vendor-class-data items, in order.
    pub fn items(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut rest = self.data;
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<2>()?;
            let n = usize::from(u16::from_be_bytes(*len));
            let item = tail.get(..n)?;
            rest = tail.get(n..)?;
            Some(item)
        })
    }

    /// Whether any item equals `s`, ASCII case-insensitively (`pktc2.0`).
    pub fn has_item(&self, s: &[u8]) -> bool {
        self.items().any(|i| i.eq_ignore_ascii_case(s))
    }
}

/// Option 17, Vendor-specific Information (RFC 8415 §21.17): an enterprise
/// number and options in the vendor's space, `code(2) len(2) data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorOpts<'a> {
    /// Vendor enterprise number.
    pub enterprise: u32,
    /// The vendor's options (framing validated).
    pub options: Options<'a>,
}

impl<'a> VendorOpts<'a> {
    /// Parses a vendor options value.
    pub fn parse(v: &'a [u8]) -> Result<VendorOpts<'a>, OptionError> {
        let (ent, data) = v
            .split_first_chunk::<4>()
            .ok_or_else(|| bad_len(code::VENDOR_OPTS, v, "at least 4"))?;
        Ok(VendorOpts {
            enterprise: u32::from_be_bytes(*ent),
            options: Options::parse(data, code::VENDOR_OPTS)?,
        })
    }
}

/// Option 37, Relay Agent Remote-ID (RFC 4649 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteId<'a> {
    /// Vendor enterprise number.
    pub enterprise: u32,
    /// The opaque remote-id.
    pub remote_id: &'a [u8],
}

impl<'a> RemoteId<'a> {
    /// Parses a remote-ID value.
    pub fn parse(v: &'a [u8]) -> Result<RemoteId<'a>, OptionError> {
        let (ent, remote_id) = v
            .split_first_chunk::<4>()
            .ok_or_else(|| bad_len(code::REMOTE_ID, v, "at least 4"))?;
        Ok(RemoteId {
            enterprise: u32::from_be_bytes(*ent),
            remote_id,
        })
    }
}

/// Option 39, Client FQDN (RFC 4704 §4): flags and a DNS wire-format name
/// that is fully qualified when it ends with the root label, partial
/// otherwise (the eUE of PKT-SP-EUE-PROV Table 6 sends an empty name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientFqdn<'a> {
    /// Flags octet: S = 0x01, O = 0x02, N = 0x04; the other bits MBZ.
    pub flags: u8,
    /// The domain name in DNS wire format, uncompressed, as received.
    pub name: &'a [u8],
}

impl<'a> ClientFqdn<'a> {
    /// S: the server should perform the AAAA RR update.
    pub const FLAG_S: u8 = 0x01;
    /// O: the server has overridden the client's S preference.
    pub const FLAG_O: u8 = 0x02;
    /// N: the server should perform no DNS updates.
    pub const FLAG_N: u8 = 0x04;

    /// Parses an option 39 value (at least the flags octet).
    pub fn parse(v: &'a [u8]) -> Result<ClientFqdn<'a>, OptionError> {
        let (flags, name) = v
            .split_first()
            .ok_or_else(|| bad_len(code::CLIENT_FQDN, v, "at least 1"))?;
        Ok(ClientFqdn {
            flags: *flags,
            name,
        })
    }

    /// Whether S is set.
    pub fn server_update(&self) -> bool {
        self.flags & Self::FLAG_S != 0
    }

    /// Whether O is set.
    pub fn override_flag(&self) -> bool {
        self.flags & Self::FLAG_O != 0
    }

    /// Whether N is set.
    pub fn no_update(&self) -> bool {
        self.flags & Self::FLAG_N != 0
    }

    /// The name as dotted text and whether it is fully qualified; an empty
    /// name is `("", false)`. RFC 4704 §4.2 forbids compression.
    pub fn domain_name(&self) -> Result<(String, bool), OptionError> {
        let name_err = |err| OptionError::Name {
            code: code::CLIENT_FQDN,
            err,
        };
        let mut out = String::new();
        let mut pos = 0usize;
        while let Some(&len) = self.name.get(pos) {
            if len == 0 {
                if pos + 1 != self.name.len() {
                    return Err(bad_len(code::CLIENT_FQDN, self.name, "one name"));
                }
                return Ok((out, true));
            }
            if len > 63 {
                return Err(name_err(NameError::BadLabelType(len)));
            }
            let label = self
                .name
                .get(pos + 1..pos + 1 + usize::from(len))
                .ok_or(name_err(NameError::Truncated))?;
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&String::from_utf8_lossy(label));
            pos += 1 + usize::from(len);
            if pos > 255 {
                return Err(name_err(NameError::TooLong));
            }
        }
        Ok((out, false))
    }
}

pub(crate) fn bad_len(code: u16, v: &[u8], expected: &'static str) -> OptionError {
    OptionError::BadLength {
        code,
        len: v.len(),
        expected,
    }
}

pub(crate) fn fixed<const N: usize>(
    code: u16,
    v: &[u8],
    expected: &'static str,
) -> Result<[u8; N], OptionError> {
    <[u8; N]>::try_from(v).map_err(|_| bad_len(code, v, expected))
}

fn be32(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    for (d, s) in w.iter_mut().zip(b) {
        *d = *s;
    }
    u32::from_be_bytes(w)
}

fn words(b: &[u8; 12]) -> [u32; 3] {
    let (a, rest) = b.split_at(4);
    let (c, d) = rest.split_at(4);
    [be32(a), be32(c), be32(d)]
}

/// A list of IPv6 addresses, n × 16 octets (n ≥ 0).
pub(crate) fn ipv6_list(code: u16, v: &[u8]) -> Result<Vec<Ipv6Addr>, OptionError> {
    if v.len() % 16 != 0 {
        return Err(bad_len(code, v, "a multiple of 16"));
    }
    Ok(v.chunks_exact(16)
        .filter_map(|c| <[u8; 16]>::try_from(c).ok())
        .map(Ipv6Addr::from)
        .collect())
}

/// A sequence of uncompressed DNS names filling `v` exactly.
fn name_list(code: u16, v: &[u8]) -> Result<Vec<String>, OptionError> {
    let mut out = Vec::new();
    let mut rest = v;
    while !rest.is_empty() {
        let (name, used) = decode_name(rest).map_err(|err| OptionError::Name { code, err })?;
        out.push(name);
        rest = rest.get(used..).unwrap_or(&[]);
    }
    Ok(out)
}
