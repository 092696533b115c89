//! Sans-IO DHCPv4 / BOOTP message codec: RFC 951 (BOOTP header), RFC 2131
//! §2 and §4.1 (message format, option overload processing order), RFC 2132
//! (options, pad, end, overload, maximum message size), RFC 3396 (long
//! options split into several instances and concatenated on receipt).
//!
//! [`Packet::parse`] borrows the datagram and records every option fragment
//! in wire order without allocating (up to 64 fragments inline); option 52
//! is consumed by the parser and reported as [`Packet::overload`].
//! [`Builder`] owns a reply, keeps options in the order they are pushed and
//! splits and overloads them on encode. [`leasequery`] reads the query of
//! an RFC 4388 DHCPLEASEQUERY and encodes options 91 and 92; [`bulk`] is
//! RFC 6926 bulk leasequery over TCP (framing, queries, options 151-157).

mod builder;
pub mod bulk;
pub mod code;
pub mod leasequery;
mod options;

use std::net::Ipv4Addr;

pub use builder::{Builder, EncodeError};
pub use options::{ClientFqdn, Iter, Options};

/// BOOTREQUEST, the `op` of client and relay messages (RFC 951).
pub const BOOTREQUEST: u8 = 1;
/// BOOTREPLY, the `op` of server messages (RFC 951).
pub const BOOTREPLY: u8 = 2;
/// The magic cookie 99.130.83.99 that starts the options field (RFC 2131 §3).
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Length of the fixed BOOTP header, `op` through `file` (RFC 951).
pub const HEADER_LEN: usize = 236;
/// Length of a BOOTP message with its 64-octet vendor area; replies are
/// padded to it because BOOTP relays and old clients drop shorter ones.
pub const BOOTP_MIN_LEN: usize = 300;
/// The maximum DHCP message size every client accepts when it sends no
/// option 57, as an IP datagram size (RFC 2131 §2: 576 octets).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 576;
/// IPv4 header (without options) plus UDP header, counted in option 57.
pub const IP_UDP_OVERHEAD: usize = 28;
/// The broadcast bit of `flags` (RFC 2131 §2, Figure 2).
pub const FLAG_BROADCAST: u16 = 0x8000;
/// Largest datagram `Packet::parse` accepts: offsets are kept in 16 bits,
/// and no UDP payload over IPv4 is longer.
pub const MAX_PACKET_LEN: usize = u16::MAX as usize;

const SNAME: std::ops::Range<usize> = 44..108;
const FILE: std::ops::Range<usize> = 108..236;
const OPTIONS_START: usize = HEADER_LEN + 4;

/// Why a datagram was dropped; each variant is one drop counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Shorter than the 236-octet fixed header.
    #[error("datagram of {0} octets is shorter than the 236-octet BOOTP header")]
    Truncated(usize),
    /// Longer than [`MAX_PACKET_LEN`].
    #[error("datagram of {0} octets is too large")]
    TooLarge(usize),
    /// `op` is neither BOOTREQUEST nor BOOTREPLY.
    #[error("bad op {0}")]
    BadOp(u8),
    /// `hlen` exceeds the 16-octet `chaddr` field.
    #[error("hlen {0} exceeds the 16-octet chaddr")]
    BadHlen(u8),
    /// An option's length runs past the end of its field, or the field ends
    /// between an option code and its length.
    #[error("option {code} runs past the end of its field")]
    OptionOverrun {
        /// Code of the offending option.
        code: u8,
    },
    /// Option 52 has a length other than 1, a value other than 1, 2 or 3, or
    /// appears twice with different values.
    #[error("bad option overload (option 52)")]
    BadOverload,
}

impl ParseError {
    /// Stable short label, used as the drop-counter key.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::Truncated(_) => "truncated",
            ParseError::TooLarge(_) => "too_large",
            ParseError::BadOp(_) => "bad_op",
            ParseError::BadHlen(_) => "bad_hlen",
            ParseError::OptionOverrun { .. } => "option_overrun",
            ParseError::BadOverload => "bad_overload",
        }
    }
}

/// Which header fields carry options (RFC 2132 §9.3, option 52).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Overload {
    /// Value 1: the `file` field holds options.
    File,
    /// Value 2: the `sname` field holds options.
    Sname,
    /// Value 3: both fields hold options.
    Both,
}

impl Overload {
    /// The option 52 value for this overload.
    pub fn value(self) -> u8 {
        match self {
            Overload::File => 1,
            Overload::Sname => 2,
            Overload::Both => 3,
        }
    }

    /// The overload for an option 52 value, if valid.
    pub fn from_value(v: u8) -> Option<Overload> {
        match v {
            1 => Some(Overload::File),
            2 => Some(Overload::Sname),
            3 => Some(Overload::Both),
            _ => None,
        }
    }

    /// Whether `file` carries options.
    pub fn file(self) -> bool {
        matches!(self, Overload::File | Overload::Both)
    }

    /// Whether `sname` carries options.
    pub fn sname(self) -> bool {
        matches!(self, Overload::Sname | Overload::Both)
    }
}

/// DHCP message type, option 53 (RFC 2132 §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// DHCPDISCOVER (1).
    Discover,
    /// DHCPOFFER (2).
    Offer,
    /// DHCPREQUEST (3).
    Request,
    /// DHCPDECLINE (4).
    Decline,
    /// DHCPACK (5).
    Ack,
    /// DHCPNAK (6).
    Nak,
    /// DHCPRELEASE (7).
    Release,
    /// DHCPINFORM (8).
    Inform,
    /// DHCPLEASEQUERY (10, RFC 4388).
    LeaseQuery,
    /// DHCPLEASEUNASSIGNED (11, RFC 4388).
    LeaseUnassigned,
    /// DHCPLEASEUNKNOWN (12, RFC 4388).
    LeaseUnknown,
    /// DHCPLEASEACTIVE (13, RFC 4388).
    LeaseActive,
    /// DHCPBULKLEASEQUERY (14, RFC 6926).
    BulkLeaseQuery,
    /// DHCPLEASEQUERYDONE (15, RFC 6926).
    LeaseQueryDone,
    /// Any other value (e.g. DHCPFORCERENEW 9, RFC 7724's 16 to 18).
    Unknown(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        match v {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            10 => MessageType::LeaseQuery,
            11 => MessageType::LeaseUnassigned,
            12 => MessageType::LeaseUnknown,
            13 => MessageType::LeaseActive,
            14 => MessageType::BulkLeaseQuery,
            15 => MessageType::LeaseQueryDone,
            other => MessageType::Unknown(other),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        match t {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
            MessageType::LeaseQuery => 10,
            MessageType::LeaseUnassigned => 11,
            MessageType::LeaseUnknown => 12,
            MessageType::LeaseActive => 13,
            MessageType::BulkLeaseQuery => 14,
            MessageType::LeaseQueryDone => 15,
            MessageType::Unknown(v) => v,
        }
    }
}

impl MessageType {
    /// The RFC 2131 / RFC 4388 / RFC 6926 name, e.g. `"DHCPDISCOVER"`; `"unknown"` otherwise.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Discover => "DHCPDISCOVER",
            MessageType::Offer => "DHCPOFFER",
            MessageType::Request => "DHCPREQUEST",
            MessageType::Decline => "DHCPDECLINE",
            MessageType::Ack => "DHCPACK",
            MessageType::Nak => "DHCPNAK",
            MessageType::Release => "DHCPRELEASE",
            MessageType::Inform => "DHCPINFORM",
            MessageType::LeaseQuery => "DHCPLEASEQUERY",
            MessageType::LeaseUnassigned => "DHCPLEASEUNASSIGNED",
            MessageType::LeaseUnknown => "DHCPLEASEUNKNOWN",
            MessageType::LeaseActive => "DHCPLEASEACTIVE",
            MessageType::BulkLeaseQuery => "DHCPBULKLEASEQUERY",
            MessageType::LeaseQueryDone => "DHCPLEASEQUERYDONE",
            MessageType::Unknown(_) => "unknown",
        }
    }
}

/// A DHCPv4 or BOOTP message borrowed from a received datagram.
#[derive(Debug, Clone)]
pub struct Packet<'a> {
    /// Message op code: 1 BOOTREQUEST, 2 BOOTREPLY.
    pub op: u8,
    /// Hardware address type (1 = Ethernet).
    pub htype: u8,
    /// Hardware address length, at most 16.
    pub hlen: u8,
    /// Relay hop count.
    pub hops: u8,
    /// Transaction ID.
    pub xid: u32,
    /// Seconds elapsed since the client began acquisition or renewal.
    pub secs: u16,
    /// Flags; bit 15 is broadcast.
    pub flags: u16,
    /// Client IP address (when the client can answer ARP for it).
    pub ciaddr: Ipv4Addr,
    /// "Your" (client) IP address.
    pub yiaddr: Ipv4Addr,
    /// Next server IP address.
    pub siaddr: Ipv4Addr,
    /// Relay agent IP address.
    pub giaddr: Ipv4Addr,
    /// Client hardware address field, `hlen` significant octets.
    pub chaddr: &'a [u8; 16],
    /// Server host name field (options when overloaded).
    pub sname: &'a [u8; 64],
    /// Boot file name field (options when overloaded).
    pub file: &'a [u8; 128],
    /// Whether the vendor area starts with the DHCP magic cookie.
    pub magic_cookie: bool,
    /// Option 52 as received; `sname`/`file` then hold options, not names.
    pub overload: Option<Overload>,
    /// Every option fragment, in RFC 2131 §4.1 order.
    pub options: Options<'a>,
}

impl<'a> Packet<'a> {
    /// Parses a UDP payload. A message without the magic cookie is plain
    /// BOOTP and parses with no options; a missing end option (255) is
    /// accepted, as many clients omit it.
    pub fn parse(buf: &'a [u8]) -> Result<Packet<'a>, ParseError> {
        if buf.len() < HEADER_LEN {
            return Err(ParseError::Truncated(buf.len()));
        }
        if buf.len() > MAX_PACKET_LEN {
            return Err(ParseError::TooLarge(buf.len()));
        }
        let (fixed, _) = buf.split_at(HEADER_LEN);
        let byte = |i: usize| fixed.get(i).copied().unwrap_or(0);
        let be16 = |i: usize| u16::from_be_bytes([byte(i), byte(i + 1)]);
        let be32 = |i: usize| u32::from_be_bytes([byte(i), byte(i + 1), byte(i + 2), byte(i + 3)]);
        let op = byte(0);
        if op != BOOTREQUEST && op != BOOTREPLY {
            return Err(ParseError::BadOp(op));
        }
        let hlen = byte(2);
        if hlen > 16 {
            return Err(ParseError::BadHlen(hlen));
        }
        let chaddr: &'a [u8; 16] = array_at(buf, 28).ok_or(ParseError::Truncated(buf.len()))?;
        let sname: &'a [u8; 64] =
            array_at(buf, SNAME.start).ok_or(ParseError::Truncated(buf.len()))?;
        let file: &'a [u8; 128] =
            array_at(buf, FILE.start).ok_or(ParseError::Truncated(buf.len()))?;

        let magic_cookie = buf.get(HEADER_LEN..OPTIONS_START) == Some(&MAGIC_COOKIE[..]);
        let mut options = Options::new(buf);
        let mut overload = None;
        if magic_cookie {
            walk(
                buf,
                OPTIONS_START,
                buf.len(),
                &mut options,
                Some(&mut overload),
            )?;
            // RFC 2131 §4.1: options field first, then file, then sname.
            if let Some(ov) = overload {
                if ov.file() {
                    walk(buf, FILE.start, FILE.end, &mut options, None)?;
                }
                if ov.sname() {
                    walk(buf, SNAME.start, SNAME.end, &mut options, None)?;
                }
            }
        }
        Ok(Packet {
            op,
            htype: byte(1),
            hlen,
            hops: byte(3),
            xid: be32(4),
            secs: be16(8),
            flags: be16(10),
            ciaddr: Ipv4Addr::from(be32(12)),
            yiaddr: Ipv4Addr::from(be32(16)),
            siaddr: Ipv4Addr::from(be32(20)),
            giaddr: Ipv4Addr::from(be32(24)),
            chaddr,
            sname,
            file,
            magic_cookie,
            overload,
            options,
        })
    }

    /// The client hardware address: the first `hlen` octets of `chaddr`.
    pub fn hwaddr(&self) -> &'a [u8] {
        let chaddr: &'a [u8] = self.chaddr;
        chaddr.get(..usize::from(self.hlen)).unwrap_or(chaddr)
    }

    /// Whether the client asked for broadcast replies (RFC 2131 §4.1).
    pub fn broadcast(&self) -> bool {
        self.flags & FLAG_BROADCAST != 0
    }

    /// Whether this is a BOOTP message: no magic cookie or no option 53.
    pub fn is_bootp(&self) -> bool {
        !self.magic_cookie || !self.options.contains(code::MESSAGE_TYPE)
    }

    /// The DHCP message type (option 53), if present and one octet long.
    pub fn message_type(&self) -> Option<MessageType> {
        self.options.message_type()
    }

    /// Whether the message came through a relay agent (`giaddr` set).
    pub fn is_relayed(&self) -> bool {
        !self.giaddr.is_unspecified()
    }

    /// The `sname` field as a name, or `None` when it is empty or carries
    /// options (overload). Trailing NULs are stripped.
    pub fn server_name(&self) -> Option<&'a [u8]> {
        if self.overload.is_some_and(Overload::sname) {
            return None;
        }
        non_empty_cstr(self.sname)
    }

    /// The `file` field as a name, or `None` when it is empty or carries
    /// options (overload). Trailing NULs are stripped.
    pub fn boot_file(&self) -> Option<&'a [u8]> {
        if self.overload.is_some_and(Overload::file) {
            return None;
        }
        non_empty_cstr(self.file)
    }
}

/// The reply size limit to pass to [`Builder::encode`]: the client's
/// option 57 raised to the 576-octet minimum every client must accept
/// (RFC 2132 §9.10), and capped by the server's own limit (e.g. the
/// interface MTU). Both are IP datagram sizes, as option 57 counts the IP
/// and UDP headers (RFC 2131 §2; ISC dhcpd subtracts 28 the same way).
pub fn reply_size_limit(max_message_size: Option<u16>, server_limit: usize) -> usize {
    let client = max_message_size
        .map(usize::from)
        .unwrap_or(DEFAULT_MAX_MESSAGE_SIZE)
        .max(DEFAULT_MAX_MESSAGE_SIZE);
    client.min(server_limit)
}

fn array_at<const N: usize>(buf: &[u8], at: usize) -> Option<&[u8; N]> {
    buf.get(at..at + N).and_then(|s| s.try_into().ok())
}

fn non_empty_cstr(field: &[u8]) -> Option<&[u8]> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    let s = field.get(..end)?;
    (!s.is_empty()).then_some(s)
}

/// Records the options of `buf[start..end]`. `overload` is `Some` only for
/// the options field, the one place option 52 may appear (RFC 2131 §4.1);
/// a stray option 52 in `file` or `sname` is skipped.
fn walk(
    buf: &[u8],
    start: usize,
    end: usize,
    options: &mut Options<'_>,
    mut overload: Option<&mut Option<Overload>>,
) -> Result<(), ParseError> {
    let mut pos = start;
    while pos < end {
        let Some(&code) = buf.get(pos) else { break };
        match code {
            code::PAD => pos += 1,
            code::END => break,
            _ => {
                let len = match buf.get(pos + 1) {
                    Some(&l) if pos + 1 < end => usize::from(l),
                    _ => return Err(ParseError::OptionOverrun { code }),
                };
                let vstart = pos + 2;
                let vend = vstart + len;
                if vend > end {
                    return Err(ParseError::OptionOverrun { code });
                }
                if code == code::OVERLOAD {
                    if let Some(slot) = overload.as_deref_mut() {
                        let value = match buf.get(vstart..vend) {
                            Some(&[v]) => Overload::from_value(v),
                            _ => None,
                        };
                        let value = value.ok_or(ParseError::BadOverload)?;
                        if slot.is_some_and(|prev| prev != value) {
                            return Err(ParseError::BadOverload);
                        }
                        *slot = Some(value);
                    }
                } else {
                    options.push(code, vstart, len);
                }
                pos = vend;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
