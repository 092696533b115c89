//! The options of a parsed DHCPv4 message: every fragment in wire order,
//! merged per code on lookup as RFC 3396 §5 requires (options field, then
//! `file`, then `sname`), plus typed accessors for the options the server
//! reads (RFC 2132 §9, RFC 3004, RFC 3011, RFC 3046, RFC 4702).

use std::borrow::Cow;
use std::net::Ipv4Addr;

use super::code;
use super::MessageType;
use crate::dns::NameError;
use crate::relay::RelayAgentInfo;

/// Fragments kept without heap allocation; a typical cable-modem DISCOVER
/// has 6 to 12, and the 64-octet `sname` plus 128-octet `file` of an
/// overloaded 576-octet message cannot push a sane one past this.
const INLINE: usize = 64;

/// One option instance: where its value lies in the datagram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Frag {
    start: u16,
    code: u8,
    len: u8,
}

/// The options of a [`super::Packet`], as fragments borrowed from the datagram.
#[derive(Clone)]
pub struct Options<'a> {
    buf: &'a [u8],
    inline: [Frag; INLINE],
    n_inline: usize,
    spill: Vec<Frag>,
    present: [u64; 4],
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.fragments()).finish()
    }
}

impl<'a> Options<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Options {
            buf,
            inline: [Frag::default(); INLINE],
            n_inline: 0,
            spill: Vec::new(),
            present: [0; 4],
        }
    }

    /// Records a fragment; the caller guarantees `start + len <= buf.len()
    /// <= 65535` and `len <= 255`.
    pub(crate) fn push(&mut self, code: u8, start: usize, len: usize) {
        let frag = Frag {
            start: u16::try_from(start).unwrap_or(u16::MAX),
            code,
            len: u8::try_from(len).unwrap_or(u8::MAX),
        };
        if let Some(slot) = self.inline.get_mut(self.n_inline) {
            *slot = frag;
            self.n_inline += 1;
        } else {
            self.spill.push(frag);
        }
        if let Some(word) = self.present.get_mut(usize::from(code >> 6)) {
            *word |= 1u64 << (code & 63);
        }
    }

    fn frag(&self, i: usize) -> Option<Frag> {
        if i < self.n_inline {
            self.inline.get(i).copied()
        } else {
            self.spill.get(i - self.n_inline).copied()
        }
    }

    fn value(&self, f: Frag) -> &'a [u8] {
        let start = usize::from(f.start);
        self.buf
            .get(start..start + usize::from(f.len))
            .unwrap_or(&[])
    }

    /// Number of option fragments (instances), counting split options once
    /// per instance.
    pub fn fragment_count(&self) -> usize {
        self.n_inline + self.spill.len()
    }

    /// Whether the message carries no options at all.
    pub fn is_empty(&self) -> bool {
        self.fragment_count() == 0
    }

    /// Whether parsing needed the heap (more than 64 fragments).
    pub fn spilled(&self) -> bool {
        !self.spill.is_empty()
    }

    /// Every fragment `(code, value)` in wire order, unmerged.
    pub fn fragments(&self) -> impl Iterator<Item = (u8, &'a [u8])> + '_ {
        (0..self.fragment_count())
            .filter_map(|i| self.frag(i))
            .map(|f| (f.code, self.value(f)))
    }

    /// Whether option `code` is present.
    pub fn contains(&self, code: u8) -> bool {
        self.present
            .get(usize::from(code >> 6))
            .is_some_and(|w| w & (1u64 << (code & 63)) != 0)
    }

    /// The value of option `code`, all instances concatenated in wire order
    /// (RFC 3396 §5). Borrowed when the option appears once.
    pub fn get(&self, code: u8) -> Option<Cow<'a, [u8]>> {
        if !self.contains(code) {
            return None;
        }
        self.get_from(0, code)
    }

    fn get_from(&self, first: usize, code: u8) -> Option<Cow<'a, [u8]>> {
        let mut out: Option<Cow<'a, [u8]>> = None;
        for i in first..self.fragment_count() {
            let Some(f) = self.frag(i) else { break };
            if f.code != code {
                continue;
            }
            let v = self.value(f);
            out = Some(match out {
                None => Cow::Borrowed(v),
                Some(prev) => {
                    let mut owned = prev.into_owned();
                    owned.extend_from_slice(v);
                    Cow::Owned(owned)
                }
            });
        }
        out
    }

    /// Each distinct option once, merged, in order of first appearance.
    pub fn iter(&self) -> Iter<'a, '_> {
        Iter {
            opts: self,
            next: 0,
            seen: [0; 4],
        }
    }

    fn fixed<const N: usize>(&self, code: u8) -> Option<[u8; N]> {
        let v = self.get(code)?;
        <[u8; N]>::try_from(&*v).ok()
    }

    fn ipv4(&self, code: u8) -> Option<Ipv4Addr> {
        self.fixed::<4>(code).map(Ipv4Addr::from)
    }

    /// Option 53, when exactly one octet long.
    pub fn message_type(&self) -> Option<MessageType> {
        self.fixed::<1>(code::MESSAGE_TYPE)
            .map(|[t]| MessageType::from(t))
    }

    /// Option 50, Requested IP Address.
    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        self.ipv4(code::REQUESTED_IP)
    }

    /// Option 54, Server Identifier.
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        self.ipv4(code::SERVER_ID)
    }

    /// Option 51, IP Address Lease Time in seconds.
    pub fn lease_time(&self) -> Option<u32> {
        self.fixed::<4>(code::LEASE_TIME).map(u32::from_be_bytes)
    }

    /// Option 55, Parameter Request List (option codes, client order).
    pub fn parameter_request_list(&self) -> Option<Cow<'a, [u8]>> {
        self.get(code::PARAMETER_REQUEST_LIST)
    }

    /// Option 57, Maximum DHCP Message Size, as sent (not clamped to 576).
    pub fn max_message_size(&self) -> Option<u16> {
        self.fixed::<2>(code::MAX_MESSAGE_SIZE)
            .map(u16::from_be_bytes)
    }

    /// Option 60, Vendor class identifier.
    pub fn vendor_class(&self) -> Option<Cow<'a, [u8]>> {
        self.get(code::VENDOR_CLASS)
    }

    /// Option 61, Client-identifier (type octet included).
    pub fn client_id(&self) -> Option<Cow<'a, [u8]>> {
        self.get(code::CLIENT_ID)
    }

    /// Option 12, Host Name.
    pub fn hostname(&self) -> Option<Cow<'a, [u8]>> {
        self.get(code::HOST_NAME)
    }

    /// Option 82, Relay Agent Information (RFC 3046).
    pub fn relay_agent_info(&self) -> Option<RelayAgentInfo<'a>> {
        self.get(code::RELAY_AGENT_INFO).map(RelayAgentInfo::new)
    }

    /// Option 118, Subnet Selection (RFC 3011).
    pub fn subnet_selection(&self) -> Option<Ipv4Addr> {
        self.ipv4(code::SUBNET_SELECTION)
    }

    /// Option 81, Client FQDN (RFC 4702), when at least the three fixed
    /// octets are present.
    pub fn client_fqdn(&self) -> Option<ClientFqdn<'a>> {
        ClientFqdn::parse(self.get(code::CLIENT_FQDN)?)
    }

    /// Option 77, User Class (RFC 3004), raw: RFC 3004 clients send
    /// length-prefixed instances, some others send plain text.
    pub fn user_class(&self) -> Option<Cow<'a, [u8]>> {
        self.get(code::USER_CLASS)
    }
}

/// Iterator over distinct options, see [`Options::iter`].
#[derive(Debug, Clone)]
pub struct Iter<'a, 'o> {
    opts: &'o Options<'a>,
    next: usize,
    seen: [u64; 4],
}

impl<'a> Iterator for Iter<'a, '_> {
    type Item = (u8, Cow<'a, [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        while self.next < self.opts.fragment_count() {
            let i = self.next;
            self.next += 1;
            let Some(f) = self.opts.frag(i) else { break };
            let Some(word) = self.seen.get_mut(usize::from(f.code >> 6)) else {
                continue;
            };
            let bit = 1u64 << (f.code & 63);
            if *word & bit != 0 {
                continue;
            }
            *word |= bit;
            if let Some(v) = self.opts.get_from(i, f.code) {
                return Some((f.code, v));
            }
        }
        None
    }
}

/// Option 81, Client FQDN (RFC 4702 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFqdn<'a> {
    /// Flags octet: S = 0x01, O = 0x02, E = 0x04, N = 0x08.
    pub flags: u8,
    /// RCODE1 (deprecated, 0 or 255).
    pub rcode1: u8,
    /// RCODE2 (deprecated, 0 or 255).
    pub rcode2: u8,
    /// Domain name, wire format when [`ClientFqdn::encoded`], else ASCII.
    pub name: Cow<'a, [u8]>,
}

impl<'a> ClientFqdn<'a> {
    /// S flag: the server should perform the A RR update.
    pub const FLAG_S: u8 = 0x01;
    /// O flag: the server overrode the client's S preference.
    pub const FLAG_O: u8 = 0x02;
    /// E flag: the name is in DNS wire format.
    pub const FLAG_E: u8 = 0x04;
    /// N flag: the server should perform no updates.
    pub const FLAG_N: u8 = 0x08;

    /// Splits an option 81 payload; `None` when shorter than 3 octets.
    pub fn parse(data: Cow<'a, [u8]>) -> Option<ClientFqdn<'a>> {
        let (flags, rcode1, rcode2) = match *data {
            [f, r1, r2, ..] => (f, r1, r2),
            _ => return None,
        };
        let name = match data {
            Cow::Borrowed(b) => Cow::Borrowed(b.get(3..).unwrap_or(&[])),
            Cow::Owned(mut v) => {
                v.drain(..3);
                Cow::Owned(v)
            }
        };
        Some(ClientFqdn {
            flags,
            rcode1,
            rcode2,
            name,
        })
    }

    /// Whether the S flag is set.
    pub fn server_update(&self) -> bool {
        self.flags & Self::FLAG_S != 0
    }

    /// Whether the E flag is set (canonical wire-format name).
    pub fn encoded(&self) -> bool {
        self.flags & Self::FLAG_E != 0
    }

    /// Whether the N flag is set.
    pub fn no_update(&self) -> bool {
        self.flags & Self::FLAG_N != 0
    }

    /// The name as dotted text and whether it is fully qualified. A
    /// wire-format name without the root label is a partial name (RFC 4702
    /// §2.3.1); an ASCII name is fully qualified when it ends with a dot.
    pub fn domain_name(&self) -> Result<(String, bool), NameError> {
        if !self.encoded() {
            let text = String::from_utf8_lossy(&self.name);
            return Ok(match text.strip_suffix('.') {
                Some(t) => (t.to_string(), true),
                None => (text.into_owned(), false),
            });
        }
        let mut out = String::new();
        let mut pos = 0;
        while let Some(&len) = self.name.get(pos) {
            if len == 0 {
                return Ok((out, true));
            }
            if len > 63 {
                return Err(NameError::BadLabelType(len));
            }
            let label = self
                .name
                .get(pos + 1..pos + 1 + usize::from(len))
                .ok_or(NameError::Truncated)?;
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&String::from_utf8_lossy(label));
            pos += 1 + usize::from(len);
        }
        Ok((out, false))
    }
}
